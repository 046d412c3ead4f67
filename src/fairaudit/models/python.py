"""The ``python`` loader: any Python function that decides for a DataFrame of rows.

The function is named ``package.module:function`` (importable, optionally from the folder
``path``) or ``path/to/file.py:function``. It receives a DataFrame of the feature columns
(all columns when ``features`` is not given) and returns one of:

* decisions, one per row (0/1 or booleans; ``positive_class`` names another label);
* scores, one float per row, with the ``threshold`` option (decision = score >= threshold);
* a tuple ``(decisions, scores)``;
* a DataFrame or dict with a ``decision`` and/or a ``score`` entry.

Loading runs the module's code, as importing any Python module does: the spec names code the
auditor has chosen to run, so no trust flag is asked for.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from fairaudit.errors import InputError
from fairaudit.models._common import (
    PredictorModel,
    PredictorOptions,
    _check_length,
    _decisions,
    _empty_prediction,
    _scores,
    _take,
)
from fairaudit.models.base import (
    LoadContext,
    Model,
    ModelLoader,
    Prediction,
    decision_from_score,
    file_sha256,
)

__all__ = ["PythonLoader", "PythonModel", "PythonOptions"]

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_PANDAS_COW = int(pd.__version__.split(".")[0]) >= 3


class PythonOptions(PredictorOptions):
    """Options of the ``python`` loader."""

    callable: str = Field(
        description="The function: 'package.module:function' or 'path/to/file.py:function'."
    )
    path: str | None = Field(
        None,
        description="A folder put on the import path before importing (relative to the "
        "spec's folder), e.g. where your package lives.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the function."
    )

    @field_validator("callable")
    @classmethod
    def _module_and_name(cls, value: str) -> str:
        target, sep, name = value.rpartition(":")
        if not sep or not target or not _DOTTED.match(name):
            raise ValueError(
                f"{value!r} is not 'package.module:function' or 'path/to/file.py:function'"
            )
        return value


class PythonModel(PredictorModel):
    """A Python function deciding for a DataFrame of rows.

    Parameters
    ----------
    function
        The callable.
    spec
        How the spec named it (for messages).
    columns
        The columns passed to it; empty = every column of the data.
    kwargs
        Extra keyword arguments.
    threshold, positive
        As in :class:`PythonOptions`.
    provenance
        What identifies the code.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        spec: str,
        columns: list[str] | None,
        kwargs: dict[str, Any],
        threshold: float | None,
        positive: Any,
        provenance: dict[str, Any],
    ) -> None:
        super().__init__(
            columns=columns or (),
            positive=positive,
            positive_index=None,
            threshold=threshold,
            provenance=provenance,
        )
        self.function = function
        self.spec = spec
        self.kwargs = dict(kwargs)
        self._file = provenance.get("path")

    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Call the function on the rows and check what it returns."""
        if self.columns:
            X = _take(frame, self.columns, "python")
        else:
            # Under copy-on-write a shallow copy already protects the caller's frame.
            X = frame.copy(deep=not _PANDAS_COW)
        if len(X) == 0:
            return _empty_prediction(self.threshold is not None)
        try:
            out = self.function(X, **self.kwargs)
        except Exception as exc:
            raise InputError(
                f"the model function {self.spec!r} raised {type(exc).__name__}: {exc}",
                file=self._file,
                fix="fix the function; call it on a few rows of the data to reproduce this "
                "(fairaudit --debug shows the traceback)",
            ) from exc
        decisions, scores = self._split(out, X.index)
        what = f"the output of {self.spec!r}"
        score = None
        if scores is not None:
            score = _scores(scores, what=f"the score from {self.spec!r}", file=self._file)
            _check_length(len(score), len(X), f"the score from {self.spec!r}", self._file)
        if self.threshold is not None:
            if score is None:
                raise InputError(
                    f"a threshold was given, but {self.spec!r} returned decisions, not scores",
                    file=self._file,
                    fix="return scores (or a (decisions, scores) tuple), or remove model.threshold",
                )
            return Prediction(decision=decision_from_score(score, self.threshold), score=score)
        if decisions is None:
            raise InputError(
                f"{self.spec!r} returned scores but no decisions",
                file=self._file,
                fix="set model.threshold (decision = score >= threshold), or return decisions",
            )
        arr = decisions.to_numpy() if isinstance(decisions, pd.Series) else np.asarray(decisions)
        if arr.ndim == 0:
            raise InputError(
                f"{what} is a single value {arr.item()!r}, not one decision per row",
                file=self._file,
                fix="return an array or Series with one decision per input row",
            )
        _check_length(len(arr), len(X), what, self._file)
        decision = _decisions(arr, what=what, positive=self.positive, file=self._file)
        return Prediction(decision=decision, score=score)

    def _split(self, out: Any, index: pd.Index) -> tuple[Any, Any]:
        """``(decisions, scores)`` from whatever shape the function returned."""
        if isinstance(out, tuple):
            if len(out) != 2:
                raise InputError(
                    f"{self.spec!r} returned a tuple of {len(out)} items",
                    file=self._file,
                    fix="return (decisions, scores), or decisions alone",
                )
            return _align(out[0], index), _align(out[1], index)
        if isinstance(out, pd.DataFrame | Mapping):
            keys = [str(k) for k in (out.columns if isinstance(out, pd.DataFrame) else out)]
            if "decision" in keys or "score" in keys:
                dec = out["decision"] if "decision" in keys else None
                sco = out["score"] if "score" in keys else None
                return _align(dec, index), _align(sco, index)
            if isinstance(out, pd.DataFrame) and out.shape[1] == 1:
                out = out.iloc[:, 0]
            else:
                raise InputError(
                    f"{self.spec!r} returned a {type(out).__name__} with keys {keys}, but "
                    "without 'decision' or 'score'",
                    file=self._file,
                    fix="name the entries 'decision' and/or 'score'",
                )
        out = _align(out, index)
        return (None, out) if self.threshold is not None else (out, None)


def _align(values: Any, index: pd.Index) -> Any:
    """A Series in another row order but with the same labels is put back in row order."""
    if (
        isinstance(values, pd.Series)
        and len(values) == len(index)
        and not values.index.equals(index)
        and values.index.is_unique
        and index.is_unique
        and values.index.isin(index).all()
    ):
        return values.reindex(index)
    return values


class PythonLoader(ModelLoader):
    """Import a Python function and use it as the model.

    See :mod:`fairaudit.models.python` for what the function may return.
    """

    name = "python"
    description = "a Python function 'package.module:function' or 'file.py:function'"
    Options = PythonOptions

    def load(self, options: PythonOptions, context: LoadContext) -> Model:
        """Import the function and wrap it in a :class:`PythonModel`."""
        target, _, attr = options.callable.rpartition(":")
        folder = None
        if options.path is not None:
            folder = context.resolve(options.path)
            if not folder.is_dir():
                raise InputError(
                    "model.path is not a folder",
                    file=folder,
                    fix="point model.path at the folder holding your module (relative to "
                    f"the spec's folder, {context.base_dir})",
                )
            if str(folder) not in sys.path:
                # Kept for the run: the function may import its siblings when called.
                sys.path.insert(0, str(folder))
        if target.endswith(".py") or "/" in target or "\\" in target:
            module = _import_file(context.resolve(target), context)
        else:
            module = _import_module(target, folder)
        function = _lookup(module, attr, options.callable)
        source = _source_file(function, module)
        provenance: dict[str, Any] = {
            "loader": self.name,
            "callable": options.callable,
            "path": str(source) if source else None,
            "sha256": file_sha256(source) if source else None,
        }
        if options.kwargs:
            provenance["kwargs"] = dict(options.kwargs)
        return PythonModel(
            function,
            spec=options.callable,
            columns=options.features,
            kwargs=options.kwargs,
            threshold=options.threshold,
            positive=options.positive_class,
            provenance=provenance,
        )


def _import_file(file: Path, context: LoadContext) -> ModuleType:
    if not file.is_file():
        raise InputError(
            "the model's Python file was not found",
            file=file,
            fix="check model.callable (a relative path is resolved against the spec's "
            f"folder, {context.base_dir})",
        )
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", file.stem)
    name = f"_fairaudit_model_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise InputError(
            "cannot import the file as a Python module",
            file=file,
            fix="name a .py file in model.callable",
        )
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs so dataclasses, pickling and typing inside it work.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise InputError(
            f"importing the file raised {type(exc).__name__}: {exc}",
            file=file,
            fix="fix the error in the file (fairaudit --debug shows the traceback)",
        ) from exc
    return module


def _import_module(target: str, folder: Path | None) -> ModuleType:
    where = f"{folder} and " if folder else ""
    if not _DOTTED.match(target):
        raise InputError(
            f"{target!r} is not a module name",
            fix="write model.callable as 'package.module:function' or 'path/to/file.py:function'",
        )
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and (target == exc.name or target.startswith(exc.name + ".")):
            raise InputError(
                f"cannot import module {target!r}: no module named {exc.name!r} "
                f"(searched {where}the Python path)",
                fix="set model.path to the folder holding the module (relative to the spec), "
                "or install its package",
            ) from exc
        raise InputError(
            f"module {target!r} imports {exc.name!r}, which is not installed",
            fix=f"install the package that provides {exc.name!r}",
        ) from exc
    except Exception as exc:
        raise InputError(
            f"importing module {target!r} raised {type(exc).__name__}: {exc}",
            fix="fix the error in the module (fairaudit --debug shows the traceback)",
        ) from exc


def _lookup(module: ModuleType, attr: str, spec: str) -> Callable[..., Any]:
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(
                n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
            )
            raise InputError(
                f"{module.__name__!r} has no {attr!r} (model.callable is {spec!r})",
                file=getattr(module, "__file__", None),
                fix=f"name one of its functions: {public[:10]}",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(
            f"{attr!r} in {module.__name__!r} is a {type(obj).__name__}, not a function",
            file=getattr(module, "__file__", None),
            fix="name a function that takes a DataFrame",
        )
    return obj


def _source_file(function: Any, module: ModuleType) -> Path | None:
    """The file defining ``function`` (or else the module's), for provenance."""
    for obj in (function, module):
        try:
            src = inspect.getsourcefile(obj)
        except TypeError:  # builtins, partials, instances of C classes
            continue
        if src and Path(src).is_file():
            return Path(src)
    return None
