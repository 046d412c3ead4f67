"""Helpers the built-in model loaders share: common options, column selection, and
matching the class that means "selected". Imports nothing heavy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from fairaudit.errors import InputError
from fairaudit.models.base import LoadContext, LoaderOptions, Model, Prediction, binary_decision


class PredictorOptions(LoaderOptions):
    """Options every built-in model loader takes: which columns, which class, which cut-off."""

    features: list[str] | None = Field(
        None,
        min_length=1,
        description="Columns fed to the model, in order. Default: the names the model was "
        "trained with (scikit-learn's feature_names_in_, the ONNX inputs, the MLflow "
        "signature).",
    )
    threshold: float | None = Field(
        None,
        allow_inf_nan=False,
        description="When given, decision = score >= threshold, where the score is the "
        "model's probability (or score) of the positive class. Default: the model's own "
        "predicted class.",
    )
    positive_class: bool | int | str | None = Field(
        None,
        description="The predicted class or label that means 'selected' (benefit granted, "
        "or case flagged). Default: 1 (or true). Must be one of the model's classes.",
    )

    @field_validator("features")
    @classmethod
    def _unique_features(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            dupes = sorted({c for c in value if value.count(c) > 1})
            if dupes:
                raise ValueError(f"features are listed twice: {dupes}")
        return value


def _missing_file(path: Path, option: str, context: LoadContext) -> InputError:
    return InputError(
        "model file not found",
        file=path,
        fix=f"check model.{option} (a relative path is resolved against the spec's folder, "
        f"{context.base_dir})",
    )


def _take(frame: pd.DataFrame, columns: Sequence[str], model: str) -> pd.DataFrame:
    """``frame[columns]``, or an InputError naming every missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"the data lacks {len(missing)} column(s) the {model} model reads: {missing}",
            column=missing[0] if len(missing) == 1 else None,
            fix="add the columns to the data, or set model.features to the data's names for "
            "the columns the model was trained on",
        )
    return frame.loc[:, list(columns)]


_TRUE_WORDS = {"1", "true", "yes", "y", "t"}
_FALSE_WORDS = {"0", "false", "no", "n", "f"}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _class_index(classes: Sequence[Any], positive: Any) -> int | None:
    """Position of ``positive`` among ``classes``: equal, equal as text, or a yes/no word.

    The last rule exists because YAML 1.1 reads ``positive_class: yes`` as ``true``.
    """
    plain = [_plain(c) for c in classes]
    for i, c in enumerate(plain):
        if c == positive and isinstance(c, bool) == isinstance(positive, bool | np.bool_):
            return i
    for i, c in enumerate(plain):
        if c == positive:
            return i
    for i, c in enumerate(plain):
        if str(c) == str(positive):
            return i
    if isinstance(positive, bool):
        words = _TRUE_WORDS if positive else _FALSE_WORDS
        for i, c in enumerate(plain):
            if str(c).strip().lower() in words:
                return i
    return None


def _positive_index(classes: Sequence[Any], positive: Any, *, file: Path | str | None) -> int:
    """Index of the class meaning 'selected', validating ``positive_class``."""
    shown = [_plain(c) for c in classes]
    if positive is None:
        if len(classes) > 2:
            raise InputError(
                f"the model predicts {len(classes)} classes {shown}; which one means selected?",
                file=file,
                fix="set model.positive_class to one of them",
            )
        idx = _class_index(classes, 1)
        if idx is None:
            raise InputError(
                f"the model's classes {shown} do not include 1 or true; which one means selected?",
                file=file,
                fix="set model.positive_class to one of them",
            )
        return idx
    idx = _class_index(classes, positive)
    if idx is None:
        raise InputError(
            f"positive_class {positive!r} is not one of the model's classes {shown}",
            file=file,
            fix=f"set model.positive_class to one of {shown}",
        )
    return idx


def _labels_to_decision(labels: Any, positive: Any) -> np.ndarray:
    """Labels equal to ``positive`` -> 1, others 0 (``labels`` come from a known class set)."""
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    uniq = pd.unique(pd.Series(arr, dtype="object"))
    hits = {i for i, v in enumerate(uniq) if _class_index([v], positive) == 0}
    if not hits:
        return np.zeros(len(arr), dtype="int8")
    selected = {uniq[i] for i in hits}
    return np.fromiter((v in selected for v in arr), dtype="int8", count=len(arr))


def _decisions(values: Any, *, what: str, positive: Any, file: Path | str | None) -> np.ndarray:
    """0/1 decisions from model output, refusing missing or non-binary values."""
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.ndim == 0:
        raise InputError(
            f"{what} is a single value, not one decision per row",
            file=file,
            fix="return one decision per input row",
        )
    missing = int(pd.isna(pd.Series(arr.reshape(len(arr), -1)[:, 0], dtype="object")).sum())
    if missing:
        # binary_decision would read a missing text value as 0 ("not selected"): refuse.
        raise InputError(
            f"{what} has {missing} missing value(s)",
            file=file,
            fix="the model must decide for every row",
        )
    return binary_decision(
        arr,
        what=what,
        positive=positive,
        file=str(file) if file else None,
        fix="for scores, set model.threshold (decision = score >= threshold); for labels, "
        "set model.positive_class to the one meaning selected",
    )


def _scores(values: Any, *, what: str, file: Path | str | None) -> np.ndarray:
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(
            f"{what} must be one number per row, got shape {arr.shape}",
            file=file,
            fix="return one score per input row",
        )
    try:
        return np.asarray(arr, dtype="float64")
    except (TypeError, ValueError):
        raise InputError(
            f"{what} is not numeric (dtype {arr.dtype})", file=file, fix="scores must be numbers"
        ) from None


def _check_length(n_out: int, n_in: int, what: str, file: Path | str | None) -> None:
    if n_out != n_in:
        raise InputError(
            f"{what} has {n_out} values for {n_in} rows",
            file=file,
            fix="the model must return exactly one value per input row, in the same order",
        )


def _empty_prediction(with_score: bool) -> Prediction:
    return Prediction(
        decision=np.zeros(0, dtype="int8"),
        score=np.zeros(0, dtype="float64") if with_score else None,
    )


class PredictorModel(Model):
    """What every built-in predictor keeps: its feature columns, the class that means
    "selected", the score cut-off, and its provenance."""

    def __init__(
        self,
        *,
        columns: Sequence[str],
        positive: Any,
        positive_index: int | None,
        threshold: float | None,
        provenance: dict[str, Any],
    ) -> None:
        self.columns = tuple(columns)
        self.positive = positive
        self.positive_index = positive_index
        self.threshold = threshold
        self._provenance = provenance

    def provenance(self) -> dict[str, Any]:
        """What identifies the model (loader, file or URI, sha256, library versions)."""
        return dict(self._provenance)
