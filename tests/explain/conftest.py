"""Small models and data for the explain tests, built in memory (no files, no downloads)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from fairaudit.errors import MissingExtraError
from fairaudit.explain.shap_explain import _import_shap
from fairaudit.models.base import Model, Prediction
from fairaudit.models.sklearn import SklearnModel

try:  # the explain tests need the `shap` extra
    _import_shap()
except MissingExtraError:
    pytest.skip("needs the shap extra", allow_module_level=True)


def sklearn_model(estimator: Any, columns: list[str], *, by_name: bool = True) -> SklearnModel:
    """Wrap a fitted binary classifier as the sklearn loader would (class 1 = selected)."""
    classes = list(estimator.classes_)
    return SklearnModel(
        estimator,
        columns=columns,
        by_name=by_name,
        positive=1,
        positive_index=classes.index(1),
        threshold=None,
        provenance={"path": "<memory>"},
    )


class ScoreFunctionModel(Model):
    """A model only reachable through predict (like an ONNX graph or a python callable)."""

    def __init__(self, columns: list[str], fn: Any, *, with_score: bool = True) -> None:
        self.columns = columns
        self.fn = fn
        self.with_score = with_score

    def predict(self, frame: pd.DataFrame) -> Prediction:
        s = np.asarray(self.fn(frame.loc[:, self.columns]), dtype="float64")
        d = (s >= 0.5).astype("int8")
        return Prediction(decision=d, score=s if self.with_score else None)


@pytest.fixture(scope="session")
def population() -> pd.DataFrame:
    """3,000 rows: a protected attribute ``group``, a planted proxy of it (the group plus
    noise, used by the model), real drivers mildly associated with the group, an
    irrelevant feature ``noise`` (neither associated nor in the outcome), and an outcome
    the model learns."""
    rng = np.random.default_rng(7)
    n = 3000
    group = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1])
    g_num = pd.Series(group).map({"a": 0.0, "b": 1.0, "c": 2.0}).to_numpy()
    frame = pd.DataFrame(
        {
            "proxy": g_num + rng.normal(0, 0.3, n),
            # mildly associated with the group, as real drivers often are
            "income": rng.normal(0, 1, n) - 0.4 * g_num,
            "size": rng.integers(1, 8, n) + np.where(group == "c", 2.0, 0.0),
            "noise": rng.normal(0, 1, n),
            "group": group,
        }
    )
    logit = -1.5 * frame["proxy"] + 1.0 * frame["income"] - 0.2 * frame["size"] + 1.5
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


FEATURES = ["proxy", "income", "size", "noise"]


@pytest.fixture(scope="session")
def hgb(population: pd.DataFrame) -> SklearnModel:
    from sklearn.ensemble import HistGradientBoostingClassifier

    est = HistGradientBoostingClassifier(max_iter=60, max_depth=3, random_state=0)
    est.fit(population[FEATURES], population["y"])
    return sklearn_model(est, FEATURES)
