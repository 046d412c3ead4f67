"""The ``sklearn`` loader: a scikit-learn estimator or pipeline saved with skops, joblib or pickle.

skops files are loaded after checking every type they hold against the types skops trusts
and the ones the spec lists in ``trusted_types``. joblib and pickle files run arbitrary code
when loaded, so they are refused unless the spec says ``trusted: true``.

It imports nothing heavy at module level, so importing it is instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from fairaudit.errors import InputError, MissingExtraError, UntrustedModelError
from fairaudit.models._common import (
    PredictorModel,
    PredictorOptions,
    _decisions,
    _empty_prediction,
    _labels_to_decision,
    _missing_file,
    _plain,
    _positive_index,
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

__all__ = ["SklearnLoader", "SklearnModel", "SklearnOptions"]

_SUFFIX_FORMATS = {".skops": "skops", ".joblib": "joblib", ".pkl": "pickle", ".pickle": "pickle"}


# --------------------------------------------------------------------------------------
# The sklearn loader.
# --------------------------------------------------------------------------------------


class SklearnOptions(PredictorOptions):
    """Options of the ``sklearn`` loader."""

    path: str = Field(description="The model file (.skops, .joblib, .pkl or .pickle).")
    format: Literal["skops", "joblib", "pickle"] | None = Field(
        None, description="How the file was saved. Default: from its suffix."
    )
    trusted: bool = Field(
        False,
        description="Load a joblib/pickle file, which runs arbitrary code while loading. Set "
        "it only if you trust who produced the file. It does not cover skops files: their "
        "unknown types must be listed in trusted_types one by one.",
    )
    trusted_types: list[str] = Field(
        default_factory=list,
        description="skops only: types you have reviewed and trust, as reported by "
        "skops.io.get_untrusted_types (e.g. "
        "'sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor').",
    )


class SklearnModel(PredictorModel):
    """A fitted scikit-learn estimator (or pipeline) deciding for rows of a DataFrame.

    Parameters
    ----------
    estimator
        The fitted estimator; it must have ``predict``.
    columns
        The columns fed to it, in order.
    by_name
        Whether the estimator was fitted on a DataFrame (then it is fed one), or on an
        array (then it is fed ``frame[columns].to_numpy()``).
    positive
        The class meaning "selected" (``None`` when the estimator has no ``classes_``).
    positive_index
        Its position in ``classes_``.
    threshold
        Decide by ``score >= threshold`` instead of ``predict``.
    provenance
        What identifies the model file.
    """

    def __init__(
        self,
        estimator: Any,
        *,
        columns: Sequence[str],
        by_name: bool,
        positive: Any,
        positive_index: int | None,
        threshold: float | None,
        provenance: dict[str, Any],
    ) -> None:
        super().__init__(
            columns=columns,
            positive=positive,
            positive_index=positive_index,
            threshold=threshold,
            provenance=provenance,
        )
        self.estimator = estimator
        self.by_name = by_name
        self._path = provenance["path"]
        classes = getattr(estimator, "classes_", None)
        self._n_classes = None if classes is None else len(classes)
        if positive_index is not None and hasattr(estimator, "predict_proba"):
            self.score_method: str | None = "predict_proba"
        elif positive_index is not None and hasattr(estimator, "decision_function"):
            self.score_method = "decision_function"
        elif classes is None and threshold is not None:
            # A regressor: its prediction is the score.
            self.score_method = "predict"
        else:
            self.score_method = None

    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Decide for every row of ``frame``: see :class:`SklearnOptions` for the rules."""
        X: Any = _take(frame, self.columns, "sklearn")
        if len(X) == 0:
            return _empty_prediction(self.score_method is not None)
        if not self.by_name:
            X = X.to_numpy()
        try:
            score = self._score(X)
            if self.threshold is not None:
                assert score is not None  # load() refuses a threshold without a score
                decision = decision_from_score(score, self.threshold)
            else:
                labels = self.estimator.predict(X)
                if self.positive_index is None:
                    decision = _decisions(
                        labels,
                        what="the model's prediction",
                        positive=self.positive,
                        file=self._path,
                    )
                else:
                    decision = _labels_to_decision(labels, self.positive)
        except InputError:
            raise
        except Exception as exc:  # the estimator's own complaint about the data
            raise InputError(
                f"the model could not predict: {type(exc).__name__}: {exc}",
                file=self._path,
                fix="check the data's columns and types match what the model was trained on",
            ) from exc
        return Prediction(decision=decision, score=score)

    def _score(self, X: Any) -> np.ndarray | None:
        if self.score_method is None:
            return None
        out = np.asarray(getattr(self.estimator, self.score_method)(X), dtype="float64")
        if self.score_method == "predict":
            return _scores(out, what="the model's prediction", file=self._path)
        if out.ndim == 2:
            return np.ascontiguousarray(out[:, self.positive_index])
        # Binary decision_function: positive means classes_[1].
        return out if self.positive_index == 1 else -out


class SklearnLoader(ModelLoader):
    """Load a scikit-learn estimator or pipeline from a skops, joblib or pickle file.

    Decision: ``predict(X) == positive_class``, or ``score >= threshold`` when a threshold
    is given. Score: ``predict_proba`` of the positive class, else ``decision_function``
    (else none; for a regressor, its prediction when a threshold is given).

    Trust: pickle and joblib files are refused unless ``trusted: true``. skops files are
    checked with ``skops.io.get_untrusted_types``; every type it reports must be listed in
    ``trusted_types`` — ``trusted: true`` deliberately does not bypass that check, since
    skops tells exactly which types to review and a blanket switch would defeat it.
    """

    name = "sklearn"
    description = "scikit-learn estimator or pipeline (skops; joblib/pickle if trusted)"
    Options = SklearnOptions

    def load(self, options: SklearnOptions, context: LoadContext) -> Model:
        """Load the estimator, check it and its options, and wrap it in a :class:`SklearnModel`."""
        path = context.resolve(options.path)
        if not path.is_file():
            raise _missing_file(path, "path", context)
        fmt = options.format or _SUFFIX_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise InputError(
                f"cannot tell how the model was saved from the suffix {path.suffix!r}",
                file=path,
                fix="set model.format to skops, joblib or pickle",
            )
        estimator = (
            _read_skops(path, options) if fmt == "skops" else _read_pickle(path, fmt, options)
        )
        if not callable(getattr(estimator, "predict", None)):
            raise InputError(
                f"the file holds a {type(estimator).__name__}, which has no predict()",
                file=path,
                fix="save the fitted estimator or pipeline itself",
            )

        names_in = getattr(estimator, "feature_names_in_", None)
        if names_in is not None:
            names = [str(c) for c in names_in]
            if options.features is not None and set(options.features) != set(names):
                raise InputError(
                    f"model.features {options.features} differ from the columns the model "
                    f"was trained on {names}",
                    file=path,
                    fix="leave model.features out (the trained names are used), or rename the "
                    "data's columns",
                )
            columns, by_name = names, True
        elif options.features is not None:
            columns, by_name = list(options.features), False
        else:
            raise InputError(
                "the model was trained without column names, so which columns does it read?",
                file=path,
                fix="list them, in training order, under model.features",
            )

        classes = getattr(estimator, "classes_", None)
        positive_index: int | None = None
        positive: Any = None
        if classes is not None:
            if np.asarray(classes).ndim != 1:
                raise InputError(
                    "the model predicts several outputs at once (multi-output)",
                    file=path,
                    fix="audit a model with one output",
                )
            positive_index = _positive_index(list(classes), options.positive_class, file=path)
            positive = _plain(classes[positive_index])
        else:
            # No classes_ (a regressor, or a custom estimator): predict() output is compared
            # with positive_class, or must be 0/1-like.
            positive = options.positive_class

        model = SklearnModel(
            estimator,
            columns=columns,
            by_name=by_name,
            positive=positive,
            positive_index=positive_index,
            threshold=options.threshold,
            provenance=_provenance(path, fmt, estimator),
        )
        if options.threshold is not None and model.score_method is None:
            raise InputError(
                f"a threshold was given, but the {type(estimator).__name__} gives no score "
                "(no predict_proba or decision_function)",
                file=path,
                fix="remove model.threshold to use the model's own predicted class",
            )
        return model


def _read_skops(path: Path, options: SklearnOptions) -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise MissingExtraError("skops", "skops", plugin=SklearnLoader.name) from None
    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise InputError(
            f"cannot read the file as a skops file: {type(exc).__name__}: {exc}",
            file=path,
            fix="check the file was written by skops.io.dump, or set model.format",
        ) from exc
    unreviewed = [t for t in found if t not in set(options.trusted_types)]
    if unreviewed:
        raise UntrustedModelError(
            f"the skops file holds {len(unreviewed)} type(s) that nobody has declared "
            f"trusted: {unreviewed}",
            file=path,
            fix="review each type (skops.io.load's error explains the risk of each), then "
            "list those you trust under model.trusted_types",
        )
    try:
        return sio.load(path, trusted=found)
    except Exception as exc:
        raise InputError(
            f"skops could not load the model: {type(exc).__name__}: {exc}",
            file=path,
            fix="check the file and the installed scikit-learn/skops versions",
        ) from exc


def _read_pickle(path: Path, fmt: str, options: SklearnOptions) -> Any:
    if not options.trusted:
        raise UntrustedModelError(
            f"refusing to load a {fmt} file: unpickling runs arbitrary code from the file",
            file=path,
            fix="re-save the model with skops (skops.io.dump), or set model.trusted: true "
            "only if you trust who produced the file",
        )
    try:
        if fmt == "joblib":
            import joblib

            return joblib.load(path)
        import pickle

        with path.open("rb") as fh:
            return pickle.load(fh)
    except Exception as exc:
        raise InputError(
            f"cannot load the {fmt} file: {type(exc).__name__}: {exc}",
            file=path,
            fix="check the file and that the libraries it was saved with are installed",
        ) from exc


def _provenance(path: Path, fmt: str, estimator: Any) -> dict[str, Any]:
    import sklearn

    cls = type(estimator)
    return {
        "loader": SklearnLoader.name,
        "path": str(path),
        "format": fmt,
        "sha256": file_sha256(path),
        "estimator": f"{cls.__module__}.{cls.__qualname__}",
        "sklearn_version": sklearn.__version__,
    }
