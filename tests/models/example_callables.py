"""Model functions for the ``python`` loader tests (named as 'path/to/this/file.py:name')."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

CUTOFF = 900.0

not_a_function = 42


def low_income(df: pd.DataFrame) -> pd.Series:
    """Booleans: selected when income is under the cut-off."""
    return df["income"] < CUTOFF


def income_score(df: pd.DataFrame) -> np.ndarray:
    """A score in (0, 1), higher for lower income."""
    return 1.0 / (1.0 + np.exp((df["income"].to_numpy() - CUTOFF) / 100.0))


def decision_and_score(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    score = income_score(df)
    return (score >= 0.5).astype(int), score


def as_frame(df: pd.DataFrame) -> pd.DataFrame:
    score = income_score(df)
    return pd.DataFrame({"decision": score >= 0.5, "score": score}, index=df.index)


def as_dict(df: pd.DataFrame) -> dict[str, Any]:
    score = income_score(df)
    return {"decision": (score >= 0.5).astype("int64"), "score": score}


def decision_only(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"decision": low_income(df)})


def score_only_dict(df: pd.DataFrame) -> dict[str, Any]:
    return {"score": income_score(df)}


def reversed_series(df: pd.DataFrame) -> pd.Series:
    """The right decisions, but in reverse row order (labels still match the rows)."""
    return low_income(df).iloc[::-1]


def with_cutoff(df: pd.DataFrame, cutoff: float = CUTOFF) -> np.ndarray:
    return (df["income"] < cutoff).to_numpy()


def yes_no(df: pd.DataFrame) -> np.ndarray:
    return np.where(df["income"] < CUTOFF, "yes", "no")


def grant_deny(df: pd.DataFrame) -> list[str]:
    return ["grant" if v < CUTOFF else "deny" for v in df["income"]]


def only_income(df: pd.DataFrame) -> pd.Series:
    if list(df.columns) != ["income"]:
        raise ValueError(f"expected only the income column, got {list(df.columns)}")
    return low_income(df)


def mutating(df: pd.DataFrame) -> np.ndarray:
    df["income"] = 0.0
    df["new_column"] = 1
    return np.zeros(len(df), dtype=int)


def wrong_length(df: pd.DataFrame) -> np.ndarray:
    return np.ones(len(df) - 1, dtype=int)


def three_values(df: pd.DataFrame) -> np.ndarray:
    return np.arange(len(df)) % 3


def scalar(df: pd.DataFrame) -> int:
    return 1


def with_missing(df: pd.DataFrame) -> list[Any]:
    return [None, *(["yes"] * (len(df) - 1))]


def broken(df: pd.DataFrame) -> np.ndarray:
    raise ValueError("boom: the model's own bug")


class PredictOnly:
    """A classifier-like object with predict() but no score, for the sklearn loader tests."""

    classes_ = np.array([0, 1])

    def __init__(self, columns: list[str]) -> None:
        self.feature_names_in_ = np.array(columns, dtype=object)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (X["income"] < CUTOFF).to_numpy().astype(int)
