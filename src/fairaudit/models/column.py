"""The ``column`` loader: decisions (or scores) that are already in the data."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from fairaudit.errors import InputError
from fairaudit.models.base import (
    LoadContext,
    LoaderOptions,
    Model,
    ModelLoader,
    Prediction,
    binary_decision,
)

__all__ = ["ColumnLoader"]


class ColumnOptions(LoaderOptions):
    """Options of the ``column`` loader: name a decision column, or a score and threshold."""

    decision: str | None = Field(
        None, description="Column holding the decision (0/1, true/false, yes/no)."
    )
    positive: str | int | bool | None = Field(
        None, description="Decision value meaning 'selected', when not 0/1-like."
    )
    score: str | None = Field(None, description="Column holding a score.")
    threshold: float | None = Field(
        None, description="With `score`: selected when score >= threshold (see `selects`)."
    )
    selects: Literal["above", "below"] = Field(
        "above",
        description="above: score >= threshold selects; below: score < threshold selects "
        "(e.g. predicted consumption under a poverty line).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ColumnOptions:
        if self.decision is None and self.score is None:
            raise ValueError("give `decision` (a column of decisions) or `score` + `threshold`")
        if self.decision is None and self.threshold is None:
            raise ValueError("`score` needs a `threshold` to turn scores into decisions")
        if self.decision is not None and self.threshold is not None:
            raise ValueError("give either `decision` or `threshold` (with `score`), not both")
        return self


class _ColumnModel(Model):
    def __init__(self, options: ColumnOptions, source: str) -> None:
        self.options = options
        self.source = source
        self.columns = tuple(c for c in (options.decision, options.score) if c)

    def predict(self, frame: pd.DataFrame) -> Prediction:
        o = self.options
        score = None
        if o.score is not None:
            raw = pd.to_numeric(frame[o.score], errors="coerce")
            bad = raw.isna() & frame[o.score].notna()
            if bad.any():
                example = frame[o.score][bad].iloc[0]
                raise InputError(
                    f"score column has a non-numeric value {example!r}",
                    column=o.score,
                    fix="scores must be numbers; clean the column or use `decision`",
                )
            value = raw.to_numpy(dtype="float64", na_value=np.nan)
            score = value if o.selects == "above" else -value
        if o.decision is not None:
            col = frame[o.decision]
            missing = col.isna().to_numpy()
            decision = np.full(len(col), np.nan)
            if (~missing).any():
                decision[~missing] = binary_decision(
                    col[~missing], what="the decision", positive=o.positive, column=o.decision
                )
            return Prediction(decision=decision, score=score)
        assert score is not None and o.threshold is not None  # checked by ColumnOptions
        if o.selects == "above":
            decision = np.where(np.isnan(score), np.nan, (score >= o.threshold).astype(float))
        else:
            decision = np.where(np.isnan(score), np.nan, (-score < o.threshold).astype(float))
        return Prediction(decision=decision, score=score)

    def provenance(self) -> dict[str, Any]:
        return {"loader": "column", **self.options.model_dump(exclude_none=True)}


class ColumnLoader(ModelLoader):
    """Decisions or scores already in the data (no model file)."""

    name = "column"
    description = "decisions or scores already in the data"
    Options = ColumnOptions

    def load(self, options: ColumnOptions, context: LoadContext) -> Model:
        return _ColumnModel(options, context.source)
