"""The model-loader contract every loader plugin implements.

A loader is a class with a ``name`` (the key the spec uses: ``model: {loader: sklearn}``),
an ``Options`` pydantic model (the rest of the spec's ``model:`` mapping, validated with
``extra="forbid"``) and one verb, :meth:`ModelLoader.load`, which returns a :class:`Model`.
A model turns a pandas DataFrame of rows into a :class:`Prediction`: a 0/1 decision per
row (1 = the model *selects*: grants the benefit, or flags the case) and optionally a score.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from fairaudit.errors import InputError

__all__ = [
    "LoadContext",
    "LoaderOptions",
    "Model",
    "ModelLoader",
    "Prediction",
    "binary_decision",
    "decision_from_score",
    "file_sha256",
]


class LoaderOptions(BaseModel):
    """Base of every loader's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class LoadContext:
    """What a loader may know about the audit it serves.

    Attributes
    ----------
    base_dir
        Relative paths in the spec are resolved against this folder (the spec's folder).
    source
        A human name for where the options came from (the spec file), for messages.
    """

    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "<command line>"

    def resolve(self, path: str | Path) -> Path:
        """Resolve ``path`` against :attr:`base_dir` unless it is absolute."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)


@dataclass(frozen=True)
class Prediction:
    """What a model says about each row.

    Attributes
    ----------
    decision
        One per row: 1 = selected (granted, or flagged), 0 = not. An ``int8``/``bool``
        array, or ``float64`` with NaN where the model gives no decision (e.g. a missing
        score); the audit counts such rows under ``dropped["missing_decision"]``.
    score
        Optional ``float64`` array, one per row; higher = more likely to be selected.
    category
        Optional array of a category per row (e.g. a well-being level ``A``..``E``).
    reasons
        Optional DataFrame, one row per input row (same order), saying what decided each
        row (e.g. the rule or indicator). Row-level: it only ever goes to the restricted
        artifact, never into results or cards.
    """

    decision: np.ndarray
    score: np.ndarray | None = None
    category: np.ndarray | None = None
    reasons: pd.DataFrame | None = None


class Model(ABC):
    """A loaded model, ready to decide."""

    #: Columns of the data the model reads (checked before predicting).
    columns: Sequence[str] = ()

    #: Whether the model must see every row once before predicting (e.g. rules whose
    #: parameters are population statistics such as a median income). The audit then
    #: calls :meth:`prepare` with the model's columns of the whole file, batch by batch,
    #: so that scoring in batches gives the same decisions as scoring all rows at once.
    needs_population: bool = False

    def prepare(self, batches: Iterable[pd.DataFrame]) -> None:  # noqa: B027 - optional hook
        """See the whole population once (the model's columns) before any :meth:`predict`."""

    @abstractmethod
    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Decide for every row of ``frame`` (same length and order)."""

    def provenance(self) -> dict[str, Any]:
        """What identifies the model: at least ``sha256`` of its file when it has one."""
        return {}

    def population_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows as :meth:`prepare` sees them (a wrapper may change them first)."""
        return frame

    # A model that gathers something while it predicts (a wrapper noting the rows to
    # re-review, or tallying the benefit paid) runs on many processes at once on Spark.
    # The engine asks each process's copy for what it gathered (``partial``, after its last
    # batch) and hands the driver's model every partial, in partition order (``absorb``).

    def partial(self, part: str) -> Any:
        """What this copy gathered while predicting (``part`` names its share of rows)."""
        return None

    def absorb(self, partials: Sequence[Any]) -> None:  # noqa: B027 - optional hook
        """Take in what the copies on the executors gathered (see :meth:`partial`)."""


class ModelLoader(ABC):
    """A model-loader plugin. Subclasses set ``name``, ``description`` and ``Options``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type[LoaderOptions]] = LoaderOptions

    @abstractmethod
    def load(self, options: Any, context: LoadContext) -> Model:
        """Load the model described by ``options`` (an instance of :attr:`Options`)."""


def file_sha256(path: Path, *, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes; for a folder, of every file's POSIX relative path and bytes.

    In a folder, files are taken in sorted path order and each part is prefixed with its
    length, so the hash is the same on every OS and no two layouts can collide.
    """
    if not path.is_dir():
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
        return h.hexdigest()
    h = hashlib.sha256(b"fairaudit-dir-v1\0")
    for f in sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.as_posix()):
        name = f.relative_to(path).as_posix().encode()
        h.update(len(name).to_bytes(8, "big") + name)
        h.update(f.stat().st_size.to_bytes(8, "big"))
        with f.open("rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def decision_from_score(score: np.ndarray, threshold: float) -> np.ndarray:
    """Decision = ``score >= threshold``: int8, or float64 with NaN where a score is NaN.

    A missing score is no decision: the audit drops and counts such rows
    (``dropped["missing_decision"]``) rather than treating them as "not selected".
    """
    s = np.asarray(score, dtype="float64")
    missing = np.isnan(s)
    if not missing.any():
        return (s >= threshold).astype("int8")
    out = (s >= threshold).astype("float64")
    out[missing] = np.nan
    return out


_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def binary_decision(
    values: Any,
    *,
    what: str,
    positive: Any = None,
    file: str | None = None,
    column: str | None = None,
    fix: str | None = None,
) -> np.ndarray:
    """Turn model or data output into a 0/1 ``int8`` array, refusing anything non-binary.

    Accepted without ``positive``: booleans, the numbers 0 and 1, and the strings
    ``0/1``, ``true/false``, ``yes/no``. With ``positive``, that value is 1 and every
    other value 0 — but only if there are at most two distinct values.

    ``fix`` replaces the generic advice in the error message.

    Raises
    ------
    InputError
        When the values are not binary (naming the values seen and the fix).
    """
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        arr = arr.reshape(len(arr), -1)
        if arr.shape[1] != 1:
            raise InputError(
                f"{what} must be one value per row, got {arr.shape[1]} columns",
                file=file,
                column=column,
                fix="give a loader option selecting one output (e.g. 'threshold' for scores)",
            )
        arr = arr[:, 0]
    if positive is None and arr.dtype.kind in "biuf" and not np.isnan(arr).any():
        # Numbers and booleans without gaps: the checks below, without boxing every value.
        if arr.dtype == bool:
            return arr.astype("int8")
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            raise InputError(
                f"{what} must be 0/1 but has values {_show(pd.unique(arr[bad]))}",
                file=file,
                column=column,
                fix=fix or "map it to 0/1, or, for a score, give a threshold",
            )
        return arr.astype("int8")
    as_obj = pd.Series(arr, dtype="object")
    n_missing = int(as_obj.isna().sum())
    if n_missing:
        raise InputError(
            f"{what} has {n_missing} missing value(s)",
            file=file,
            column=column,
            fix=fix or "fill them; a missing value is neither selected nor not selected",
        )
    uniq = pd.unique(as_obj)
    if positive is not None:
        if len(uniq) > 2:
            raise InputError(
                f"{what} has {len(uniq)} distinct values {_show(uniq)}; expected two",
                file=file,
                column=column,
                fix=fix or "a decision/label must be binary: map it to 0/1 before the audit",
            )
        return np.fromiter((_same(v, positive) for v in arr), dtype="int8", count=len(arr))
    if arr.dtype == bool:
        return arr.astype("int8")
    if np.issubdtype(arr.dtype, np.number):
        bad = ~np.isin(arr, (0, 1))
        if bad.any():
            raise InputError(
                f"{what} must be 0/1 but has values {_show(pd.unique(arr[bad]))}",
                file=file,
                column=column,
                fix=fix or "map it to 0/1, or, for a score, give a threshold",
            )
        return arr.astype("int8")
    lowered = {str(v).strip().lower() for v in uniq}
    if lowered <= (_TRUE | _FALSE):
        return np.fromiter(
            (str(v).strip().lower() in _TRUE for v in arr), dtype="int8", count=len(arr)
        )
    raise InputError(
        f"{what} is not binary: values {_show(uniq)}",
        file=file,
        column=column,
        fix=fix or "say which value means 'selected'/'positive' (e.g. positive: 'yes')",
    )


def _same(value: Any, positive: Any) -> bool:
    """Whether a data value equals the configured positive value (``"1"`` matches ``1.0``)."""
    if value == positive:
        return True
    a, b = str(value).strip(), str(positive).strip()
    if a.lower() == b.lower():
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def _show(values: Any, limit: int = 5) -> str:
    vals = [repr(v.item() if hasattr(v, "item") else v) for v in list(values)[:limit]]
    more = "" if len(values) <= limit else f", … ({len(values)} in all)"
    return "[" + ", ".join(vals) + more + "]"
