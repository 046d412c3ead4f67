"""A third-party fairaudit plugin, as another package would ship it.

It provides a model loader for systems that record *denials* instead of grants: the
decision (1 = selected) is ``1 - denied``. Registered through the ``fairaudit`` entry-point
group by the test that installs it (tests/test_plugins.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairaudit.models import LoadContext, LoaderOptions, Model, ModelLoader, Prediction
from fairaudit.plugins import hookimpl


class DenialOptions(LoaderOptions):
    denied: str


class _DenialModel(Model):
    def __init__(self, column: str) -> None:
        self.column = column
        self.columns = (column,)

    def predict(self, frame: pd.DataFrame) -> Prediction:
        return Prediction(decision=1 - frame[self.column].to_numpy(dtype="int8"))


class DenialColumnLoader(ModelLoader):
    """Decisions recorded as denials (1 = denied) in a column."""

    name = "denial_column"
    description = "decisions recorded as denials (example third-party plugin)"
    Options = DenialOptions

    def load(self, options: DenialOptions, context: LoadContext) -> Model:
        return _DenialModel(options.denied)


@hookimpl
def fairaudit_model_loaders() -> list[type]:
    return [DenialColumnLoader]


__all__ = ["DenialColumnLoader", "np"]
