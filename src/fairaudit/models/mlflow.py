"""The ``mlflow`` loader: an MLflow model (``runs:/``, ``models:/`` or a local folder) as pyfunc.

MLflow is imported only when a model is loaded (``import mlflow`` takes seconds).

``runs:/`` and ``models:/`` URIs need a tracking server: the ``tracking_uri`` option, or
else the ``MLFLOW_TRACKING_URI`` environment variable. The option is used for this load only
(through an :class:`mlflow.MlflowClient` and ``mlflow.artifacts.download_artifacts``), so it
never changes the process's global MLflow settings. ``models:/`` URIs are resolved here
rather than by MLflow because ``download_artifacts`` ignores its ``registry_uri`` argument
for them (MLflow 3.17) and would read the global registry instead.

A remote model is downloaded to a temporary folder, which is deleted when the model object
is garbage-collected; provenance records the sha256 of the downloaded folder.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse, urlunparse
from urllib.request import url2pathname

import numpy as np
import pandas as pd
from pydantic import Field

from fairaudit.errors import InputError, MissingExtraError
from fairaudit.models._common import (
    PredictorModel,
    PredictorOptions,
    _check_length,
    _class_index,
    _decisions,
    _empty_prediction,
    _labels_to_decision,
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

__all__ = ["MlflowLoader", "MlflowModel", "MlflowOptions"]


class MlflowOptions(PredictorOptions):
    """Options of the ``mlflow`` loader."""

    uri: str = Field(
        description="The model: 'runs:/<run_id>/<name>', 'models:/<name>/<version>', "
        "'models:/<name>@<alias>', 'models:/<model_id>', or a local model folder."
    )
    tracking_uri: str | None = Field(
        None,
        description="The tracking server for runs:/ and models:/ URIs (e.g. "
        "'http://mlflow:5000' or 'sqlite:///mlflow.db', relative to the spec's folder). "
        "Default: the MLFLOW_TRACKING_URI environment variable.",
    )
    output_column: str | None = Field(
        None,
        description="When the model returns a DataFrame of several columns, the one "
        "holding the decision (or, with threshold, the score).",
    )


class MlflowModel(PredictorModel):
    """An MLflow pyfunc model deciding for rows of a DataFrame.

    Parameters
    ----------
    pyfunc
        The loaded ``mlflow.pyfunc.PyFuncModel``.
    columns
        The feature columns, in order.
    classes
        The underlying classifier's ``classes_``, when it has them.
    positive, positive_index
        The class meaning "selected" and its position in ``classes``.
    threshold, output_column
        As in :class:`MlflowOptions`.
    provenance
        What identifies the model.
    """

    def __init__(
        self,
        pyfunc: Any,
        *,
        columns: Sequence[str],
        classes: list[Any] | None,
        positive: Any,
        positive_index: int | None,
        threshold: float | None,
        output_column: str | None,
        provenance: dict[str, Any],
    ) -> None:
        super().__init__(
            columns=columns,
            positive=positive,
            positive_index=positive_index,
            threshold=threshold,
            provenance=provenance,
        )
        self.pyfunc = pyfunc
        self.classes = classes
        self.output_column = output_column
        self._uri = provenance["uri"]
        self._path: str | None = None

    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Call the pyfunc's ``predict`` and read decisions (and scores) from its output."""
        X = _take(frame, self.columns, "mlflow")
        if len(X) == 0:
            return _empty_prediction(self.threshold is not None)
        try:
            with _quiet_mlflow():
                out = self.pyfunc.predict(X)
        except Exception as exc:
            raise InputError(
                f"the MLflow model {self._uri!r} could not predict: {type(exc).__name__}: {exc}",
                fix="check the data's columns and types match the model's signature",
            ) from exc
        return self.decide(out, len(X))

    def decide(self, out: Any, n: int) -> Prediction:
        """Decisions (and scores) from the pyfunc's output for ``n`` rows.

        :meth:`predict` calls the pyfunc here; the Spark engine calls it with what
        ``mlflow.pyfunc.spark_udf`` computed on the executors.
        """
        values = self._one_output(out)
        what = f"the output of MLflow model {self._uri!r}"
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        _check_length(len(values), n, what, None)
        if values.ndim == 2:
            return self._from_probabilities(values, what)
        if values.ndim != 1:
            raise InputError(
                f"{what} has shape {values.shape}; expected one value per row",
                fix="log a model that returns one decision or score per row",
            )
        if self.threshold is not None:
            if values.dtype.kind in "biuOUS" or (
                self.classes is not None and values.dtype.kind != "f"
            ):
                raise InputError(
                    f"model.threshold is set, but {what} is class labels, not scores "
                    f"(dtype {values.dtype})",
                    fix="log the model with pyfunc_predict_fn='predict_proba' to audit "
                    "a threshold on its probabilities, or remove model.threshold",
                )
            score = _scores(values, what=what, file=None)
            return Prediction(decision=decision_from_score(score, self.threshold), score=score)
        if self.classes is not None and _all_classes(values, self.classes):
            return Prediction(decision=_labels_to_decision(values, self.positive))
        if values.dtype.kind == "f":
            finite = values[~np.isnan(values)]
            if not np.isin(finite, (0.0, 1.0)).all():
                example = finite[~np.isin(finite, (0.0, 1.0))][0]
                raise InputError(
                    f"{what} holds numbers that are not 0/1 (e.g. {example:g}), which look "
                    "like scores",
                    fix="set model.threshold: decision = score >= threshold",
                )
        return Prediction(decision=_decisions(values, what=what, positive=self.positive, file=None))

    def without_pyfunc(self) -> MlflowModel:
        """A copy that can only :meth:`decide` (shipped to Spark executors, which get the
        pyfunc's output from ``spark_udf``)."""
        clone = copy.copy(self)
        clone.pyfunc = None
        return clone

    @property
    def model_path(self) -> str | None:
        """The local folder the pyfunc was loaded from (downloaded for remote URIs)."""
        return self._path

    def _one_output(self, out: Any) -> np.ndarray:
        if isinstance(out, pd.DataFrame | Mapping):
            frame = pd.DataFrame(out) if isinstance(out, Mapping) else out
            names = [str(c) for c in frame.columns]
            if self.output_column is not None:
                if self.output_column not in frame.columns:
                    raise InputError(
                        f"the MLflow model's output has no column {self.output_column!r} "
                        f"(it has {names})",
                        fix="set model.output_column to one of them",
                    )
                return np.asarray(frame[self.output_column].to_numpy())
            if frame.shape[1] == 1:
                return np.asarray(frame.iloc[:, 0].to_numpy())
            raise InputError(
                f"the MLflow model returns {frame.shape[1]} columns {names}; which one decides?",
                fix="set model.output_column",
            )
        if self.output_column is not None:
            raise InputError(
                f"model.output_column is set, but the MLflow model returns a "
                f"{type(out).__name__}, not a DataFrame",
                fix="remove model.output_column",
            )
        if isinstance(out, pd.Series):
            return np.asarray(out.to_numpy())
        return np.asarray(out)

    def _from_probabilities(self, proba: np.ndarray, what: str) -> Prediction:
        k = proba.shape[1]
        if self.classes is not None and len(self.classes) == k:
            idx = self.positive_index
        elif k == 2 and self.positive is None:
            idx = 1  # scikit-learn orders classes [0, 1]
        else:
            raise InputError(
                f"{what} has {k} columns and the model does not say which class each is",
                fix="log a model returning one score per row, or set model.output_column",
            )
        score = _scores(proba[:, idx], what=what, file=None)
        if self.threshold is not None:
            decision = decision_from_score(score, self.threshold)
        else:
            decision = (np.argmax(proba, axis=1) == idx).astype("int8")
        return Prediction(decision=decision, score=score)


def _all_classes(values: np.ndarray, classes: list[Any]) -> bool:
    """Whether every value is one of ``classes`` (labels, not e.g. decision_function scores)."""
    for value in pd.unique(pd.Series(values, dtype="object")):
        if _class_index(classes, value) is None:
            return False
    return True


class MlflowLoader(ModelLoader):
    """Load an MLflow model with ``mlflow.pyfunc.load_model``.

    Decision: the pyfunc's output when it is 0/1 (or equals ``positive_class`` for a
    classifier); ``score >= threshold`` when the output is a score and ``threshold`` is
    given (a float output that is not 0/1 needs a threshold). A model logged with
    ``pyfunc_predict_fn="predict_proba"`` gives class probabilities: the score is the
    positive class's column.
    """

    name = "mlflow"
    description = "MLflow model (runs:/, models:/ or a local folder) loaded as pyfunc"
    Options = MlflowOptions

    def load(self, options: MlflowOptions, context: LoadContext) -> Model:
        """Resolve and download the model, load it as pyfunc, and find its columns."""
        uri = options.uri
        scheme = urlparse(uri).scheme
        local: Path | None = None
        if scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt"):
            local = context.resolve(
                url2pathname(unquote(urlparse(uri).path)) if scheme == "file" else uri
            )
            if not local.exists():
                raise InputError(
                    "MLflow model folder not found",
                    file=local,
                    fix="check model.uri (a relative path is resolved against the spec's "
                    f"folder, {context.base_dir}), or give a runs:/ or models:/ URI",
                )
        tracking = _tracking_uri(options.tracking_uri, context)
        if local is None and scheme in ("runs", "models") and not tracking:
            raise InputError(
                f"{uri!r} needs an MLflow tracking server, but none is configured",
                fix="set model.tracking_uri (e.g. http://host:5000 or sqlite:///mlflow.db) "
                "or the MLFLOW_TRACKING_URI environment variable",
            )
        try:
            with _quiet_mlflow():
                import mlflow
                import mlflow.artifacts
                import mlflow.pyfunc
        except ImportError:
            raise MissingExtraError("mlflow", "mlflow", plugin=self.name) from None

        tmpdir: str | None = None
        with _quiet_mlflow():
            if local is None:
                tmpdir = tempfile.mkdtemp(prefix="fairaudit-mlflow-")
                try:
                    local = _download(uri, scheme, tracking, tmpdir)
                except Exception as exc:
                    shutil.rmtree(tmpdir, ignore_errors=True)
                    if isinstance(exc, InputError):
                        raise
                    source = f" from {_safe(tracking)}" if tracking else ""
                    raise InputError(
                        f"cannot fetch MLflow model {uri!r}{source}: "
                        f"{type(exc).__name__}: {_redact(_first_line(exc), tracking)}",
                        fix="check the URI (run id, model name and version) and that the "
                        "tracking server is reachable",
                    ) from exc
            try:
                pyfunc = mlflow.pyfunc.load_model(str(local))
            except Exception as exc:
                if tmpdir:
                    shutil.rmtree(tmpdir, ignore_errors=True)
                raise InputError(
                    f"MLflow cannot load {uri!r} as a pyfunc model: {type(exc).__name__}: "
                    f"{_first_line(exc)}",
                    file=local,
                    fix="check it is an MLflow model folder (with an MLmodel file) and that "
                    "its flavor's library is installed",
                ) from exc

        raw = _raw_model(pyfunc)
        columns = _columns(pyfunc, raw, options, uri)
        classes = getattr(raw, "classes_", None)
        positive: Any = options.positive_class
        positive_index: int | None = None
        class_list: list[Any] | None = None
        if classes is not None and np.asarray(classes).ndim == 1:
            class_list = [_plain(c) for c in classes]
            positive_index = _positive_index(class_list, options.positive_class, file=None)
            positive = class_list[positive_index]

        meta = pyfunc.metadata
        provenance: dict[str, Any] = {
            "loader": self.name,
            "uri": uri,
            "tracking_uri": _safe(tracking) if tmpdir else None,
            "path": None if tmpdir else str(local),
            "sha256": file_sha256(local),
            "flavors": sorted(meta.flavors),
            "run_id": meta.run_id,
            "model_uuid": meta.model_uuid,
            "mlflow_version": mlflow.__version__,
        }
        model = MlflowModel(
            pyfunc,
            columns=columns,
            classes=class_list,
            positive=positive,
            positive_index=positive_index,
            threshold=options.threshold,
            output_column=options.output_column,
            provenance=provenance,
        )
        model._path = str(local)
        if tmpdir:
            weakref.finalize(model, shutil.rmtree, tmpdir, True)
        return model


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    with warnings.catch_warnings():
        # Warned by MLflow's own imports, once per process; nothing a fairaudit user can
        # act on. SQLAlchemy 2.1 deprecates a loader option MLflow's SQL store still uses:
        warnings.filterwarnings(
            "ignore",
            message=r".*``noload`` loader strategy is deprecated",
            category=DeprecationWarning,
        )
        # and mlflow.pyfunc infers a schema from its own `Any` type hints on import:
        warnings.filterwarnings(
            "ignore", message=r".*Any type hint is inferred as AnyType", category=UserWarning
        )
        yield


def _tracking_uri(option: str | None, context: LoadContext) -> str | None:
    """The option (a relative sqlite path resolved against the spec's folder), or the env."""
    if option is None:
        return os.environ.get("MLFLOW_TRACKING_URI") or None
    prefix = "sqlite:///"
    if option.startswith(prefix) and not option.startswith(prefix + "/"):
        rest = option[len(prefix) :]
        if rest and not rest.startswith(":memory:") and not Path(rest).is_absolute():
            return prefix + str(context.resolve(rest))
    return option


def _download(uri: str, scheme: str, tracking: str | None, dst: str) -> Path:
    import mlflow
    import mlflow.artifacts

    registry = os.environ.get("MLFLOW_REGISTRY_URI") or tracking
    client = mlflow.MlflowClient(tracking_uri=tracking, registry_uri=registry)
    location = uri
    # models:/ and runs:/ URIs are resolved with this client: MLflow's own resolvers fall
    # back to the global tracking URI (models:/ always; runs:/ for MLflow 3 logged models).
    for _ in range(3):
        if location.startswith("models:"):
            location = _resolve_models_uri(client, location)
        elif location.startswith("runs:"):
            location = _resolve_runs_uri(client, location)
        else:
            break
    path = mlflow.artifacts.download_artifacts(
        artifact_uri=location, dst_path=dst, tracking_uri=tracking, registry_uri=registry
    )
    return Path(path)


def _resolve_runs_uri(client: Any, uri: str) -> str:
    """``runs:/<run_id>/<name>[/path]`` -> the logged model's location, or the run's files."""
    rest = uri[len("runs:") :].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not run_id:
        raise InputError(f"{uri!r} names no run", fix="write runs:/<run_id>/<model name>")
    run = client.get_run(run_id)
    name, _, inner = path.partition("/")
    if name:
        escaped = name.replace("'", "\\'")
        models = [
            m
            for m in client.search_logged_models(
                experiment_ids=[run.info.experiment_id], filter_string=f"name = '{escaped}'"
            )
            if m.source_run_id == run_id
        ]
        if models:
            latest = max(models, key=lambda m: m.creation_timestamp or 0)
            base = str(latest.artifact_location).rstrip("/")
            return f"{base}/{inner}" if inner else base
    base = str(run.info.artifact_uri).rstrip("/")
    return f"{base}/{path}" if path else base


def _resolve_models_uri(client: Any, uri: str) -> str:
    """``models:/name/version[/path]``, ``models:/name@alias``, ``models:/<id>`` -> location."""
    rest = uri[len("models:") :].lstrip("/")
    head, _, tail = rest.partition("/")
    if not head:
        raise InputError(f"{uri!r} names no model", fix="write models:/<name>/<version>")
    if "@" in head:
        name, alias = head.split("@", 1)
        version = client.get_model_version_by_alias(name, alias).version
        artifact = tail
    elif not tail:
        # models:/<model_id>, an MLflow 3 logged model.
        return str(client.get_logged_model(head).artifact_location)
    else:
        name = head
        ref, _, artifact = tail.partition("/")
        if ref.isdigit():
            version = ref
        elif ref.lower() == "latest":
            escaped = name.replace("'", "\\'")
            versions = client.search_model_versions(f"name = '{escaped}'")
            if not versions:
                raise InputError(f"{uri!r}: model {name!r} has no versions")
            version = str(max(int(v.version) for v in versions))
        else:
            raise InputError(
                f"{uri!r} names the stage {ref!r}; model stages are deprecated in MLflow",
                fix="use a version number (models:/name/3) or an alias (models:/name@champion)",
            )
    location = str(client.get_model_version_download_uri(name, version)).rstrip("/")
    return f"{location}/{artifact}" if artifact else location


def _raw_model(pyfunc: Any) -> Any:
    try:
        return pyfunc.get_raw_model()
    except Exception:  # not every flavor exposes the underlying model
        return None


def _columns(pyfunc: Any, raw: Any, options: MlflowOptions, uri: str) -> list[str]:
    if options.features is not None:
        return list(options.features)
    schema = pyfunc.metadata.get_input_schema()
    if schema is not None and schema.has_input_names():
        return [str(c) for c in schema.input_names()]
    names = getattr(raw, "feature_names_in_", None)
    if names is not None:
        return [str(c) for c in names]
    raise InputError(
        f"the MLflow model {uri!r} has no signature naming its input columns",
        fix="list the columns it reads under model.features, or log it with a signature",
    )


def _safe(uri: str | None) -> str | None:
    """``uri`` without a password, for messages and provenance."""
    if not uri:
        return uri
    parsed = urlparse(uri)
    if parsed.password is None:
        return uri
    host = parsed.hostname or ""
    netloc = f"{parsed.username}:***@{host}" + (f":{parsed.port}" if parsed.port else "")
    return urlunparse(parsed._replace(netloc=netloc))


def _redact(text: str, uri: str | None) -> str:
    """``text`` with the password of ``uri`` (if any) masked: errors quote whole URLs."""
    password = urlparse(uri).password if uri else None
    return text.replace(password, "***") if password else text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
