"""Tracking: every audit an MLflow run; the audited model version stamped with its verdict.

With ``tracking: {mlflow: {...}}`` in the spec, or ``--mlflow`` on the command line, an audit
is logged as one run in an experiment (default ``fairaudit``):

- params: the spec, flattened (``model.loader``, ``protected.0.name``, ...), and the seed;
- metrics: every overall metric (``overall.exclusion_error``) and every group's
  (``exclusion_error.region.Turkestan``), with interval bounds as their own metrics
  (``….ci_low`` / ``….ci_high``); names keep only the characters MLflow accepts;
- tags: status, intervention, spec hash, fairaudit version, failed gate ids;
- artifacts: the files the audit wrote (results.json, summary, JUnit, ...).

When the model was loaded from ``models:/name/version`` (or the spec names a registered
version), that version gets the tags ``fairaudit.status``, ``fairaudit.run_id`` and
``fairaudit.card``, and on a pass the alias the spec asks for.

Tracking comes after the local outputs are written: an unreachable server, a bad URI or a
rejected artifact raises :class:`TrackingError` naming the URI, and nothing local is lost.
MLflow is imported only here, lazily (extra ``mlflow``).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairaudit._version import __version__
from fairaudit.errors import FairauditError, MissingExtraError

__all__ = ["TrackingError", "TrackingInfo", "metric_key", "track"]

_BAD = re.compile(r"[^\w\-. /]")


class TrackingError(FairauditError):
    """The audit ran and its local outputs are written, but MLflow could not record it."""

    def __init__(self, problem: str, *, uri: str, fix: str | None = None) -> None:
        super().__init__(problem, fix=fix)
        self.uri = uri

    def where(self) -> str:
        return f"MLflow at {self.uri}"


@dataclass(frozen=True)
class TrackingInfo:
    """Where the audit was recorded."""

    tracking_uri: str
    experiment_id: str
    run_id: str
    model_version: str | None = None


def _clean(text: str) -> str:
    return _BAD.sub("_", text).strip() or "_"


def metric_key(metric: str, attributes: dict[str, str] | None = None, suffix: str = "") -> str:
    """An MLflow-safe metric name: ``metric.attr.value[.attr.value][.suffix]``.

    MLflow accepts letters, digits, ``_ - . /`` and spaces; anything else becomes ``_``.
    """
    parts = [_clean(metric)]
    for k, v in (attributes or {}).items():
        parts += [_clean(k), _clean(str(v)).replace(".", "_")]
    if suffix:
        parts.append(suffix)
    return ".".join(parts)[:250]


def _flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _flatten(v, f"{prefix}.{i}")
    else:
        yield prefix, json.dumps(obj) if not isinstance(obj, str) else obj


@contextmanager
def _quiet() -> Iterator[None]:
    from fairaudit.models.mlflow import _quiet_mlflow

    with _quiet_mlflow():
        yield


def _import_mlflow() -> Any:
    try:
        with _quiet():
            import mlflow
            from mlflow.tracking import MlflowClient  # noqa: F401
    except ImportError:
        raise MissingExtraError("mlflow", "mlflow") from None
    return mlflow


def _resolve_uri(uri: str | None) -> str:
    """The spec's URI, else MLFLOW_TRACKING_URI, else MLflow's default local store."""
    if uri:
        return uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    mlflow = _import_mlflow()
    with _quiet():
        return str(mlflow.get_tracking_uri())


def _check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast on an HTTP server that does not answer (MLflow would retry for minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as resp:
            if resp.status >= 500:
                raise TrackingError(f"the tracking server answered {resp.status}", uri=uri)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TrackingError(
            f"the tracking server does not answer ({getattr(exc, 'reason', exc)})",
            uri=uri,
            fix="start it, fix tracking.mlflow.tracking_uri / --mlflow-uri, or run with "
            "--no-tracking; the local results are written",
        ) from None


def track(
    result: Any,
    spec: Any,
    files: dict[str, Path],
    *,
    tracking_uri: str | None = None,
    experiment: str = "fairaudit",
    run_name: str | None = None,
    registered_model: str | None = None,
    alias_on_pass: str | None = None,
    log_restricted: bool = False,
) -> TrackingInfo:
    """Record an audit as an MLflow run, and stamp the audited model version.

    Parameters
    ----------
    result
        The :class:`~fairaudit.results.AuditResult`.
    spec
        The :class:`~fairaudit.spec.AuditSpec` (flattened into params).
    files
        Artifact name -> local file already written (results.json, summary, JUnit, ...).
    tracking_uri
        Where to log; default ``MLFLOW_TRACKING_URI`` or MLflow's local default store.
    registered_model
        ``models:/name/version`` to stamp (default: the model's own URI when it is one).
    alias_on_pass
        Set this alias on that model version when the audit passes.
    log_restricted
        Also log row-level artifacts (names starting ``restricted/``); off by default.

    Raises
    ------
    TrackingError
        When MLflow cannot record the run (the URI is named; local outputs are kept).
    """
    mlflow = _import_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = _resolve_uri(tracking_uri)
    _check_reachable(uri)
    try:
        with _quiet():
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            exp = client.get_experiment_by_name(experiment)
            exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
            failed = sorted({c.id for c in result.checks if c.verdict == "fail"})
            tags = {
                "fairaudit.status": result.status,
                "fairaudit.intervention": result.intervention,
                "fairaudit.spec_sha256": result.provenance.spec_sha256,
                "fairaudit.data_sha256": result.provenance.data_sha256,
                "fairaudit.version": __version__,
                "fairaudit.failed_gates": ",".join(failed)[:5000],
                "fairaudit.audit": result.name,
            }
            run = client.create_run(exp_id, run_name=run_name or result.name, tags=tags)
            run_id = run.info.run_id
            _log(client, run_id, result, spec)
            for name, path in files.items():
                if name.startswith("restricted/") and not log_restricted:
                    continue  # row-level: only when the spec allows it
                if Path(path).is_dir():  # a Parquet folder (restricted/reasons)
                    client.log_artifacts(run_id, str(path), artifact_path=name)
                else:
                    client.log_artifact(run_id, str(path), artifact_path=_artifact_dir(name))
            client.set_terminated(run_id, "FINISHED")
            version = _stamp_model(client, result, spec, run_id, registered_model, alias_on_pass)
    except TrackingError:
        raise
    except MlflowException as exc:
        raise TrackingError(
            f"MLflow refused the run: {exc.message}",
            uri=uri,
            fix="check the tracking URI and the server's artifact store; the local results "
            "are written",
        ) from None
    except (OSError, ConnectionError) as exc:
        raise TrackingError(
            f"MLflow could not be reached or written: {exc}",
            uri=uri,
            fix="check the tracking URI, or run with --no-tracking; the local results are written",
        ) from None
    del mlflow
    return TrackingInfo(
        tracking_uri=uri, experiment_id=str(exp_id), run_id=run_id, model_version=version
    )


def _artifact_dir(name: str) -> str | None:
    """The artifact folder of a file named ``folder/file`` (``None`` for a bare name)."""
    return name.rsplit("/", 1)[0] if "/" in name else None


def _log(client: Any, run_id: str, result: Any, spec: Any) -> None:
    from mlflow.entities import Param

    params = [Param(k[:250], v[:6000]) for k, v in _flatten(spec.model_dump(mode="json"))]
    params.append(Param("fairaudit.seed", str(spec.seed)))
    metrics = _flat_metrics(result)
    # MLflow limits one batch to 1000 metrics and 100 params
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i : i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])


def _flat_metrics(result: Any) -> list[Any]:
    """Every overall and group metric (and interval bound) as MLflow metrics."""
    from mlflow.entities import Metric

    metrics: list[Metric] = []

    def add(key: str, value: float | None) -> None:
        if value is not None:
            metrics.append(Metric(key, float(value), 0, 0))

    for name, mv in result.overall.metrics.items():
        add(metric_key("overall", {}, name), mv.value)
        if mv.ci:
            add(metric_key("overall", {}, f"{name}.ci_low"), mv.ci[0])
            add(metric_key("overall", {}, f"{name}.ci_high"), mv.ci[1])
    for g in result.groups:
        add(metric_key("n", g.attributes), g.n)
        for name, mv in g.metrics.items():
            add(metric_key(name, g.attributes), mv.value)
            if mv.ci:
                add(metric_key(name, g.attributes, "ci_low"), mv.ci[0])
                add(metric_key(name, g.attributes, "ci_high"), mv.ci[1])
        head = result.headline_metric
        d = g.disparities.get(head)
        if d is not None and not g.is_reference:
            add(metric_key(head, g.attributes, "ratio"), d.ratio)
            add(metric_key(head, g.attributes, "difference"), d.difference)
    add("checks.failed", sum(c.verdict == "fail" for c in result.checks))
    add(
        "checks.insufficient_evidence",
        sum(c.verdict == "insufficient_evidence" for c in result.checks),
    )
    add("checks.passed", sum(c.verdict == "pass" for c in result.checks))
    return metrics


def _stamp_model(
    client: Any,
    result: Any,
    spec: Any,
    run_id: str,
    registered_model: str | None,
    alias_on_pass: str | None,
) -> str | None:
    uri = registered_model
    if uri is None and spec.model.loader == "mlflow":
        uri = str(spec.model.options.get("uri", ""))
    m = re.fullmatch(r"models:/([^/@]+)/(\d+)", uri or "")
    if m is None:
        return None
    name, version = m.group(1), m.group(2)
    client.set_model_version_tag(name, version, "fairaudit.status", result.status)
    client.set_model_version_tag(name, version, "fairaudit.run_id", run_id)
    client.set_model_version_tag(name, version, "fairaudit.card", f"runs:/{run_id}/results.json")
    if alias_on_pass and result.status == "pass":
        client.set_registered_model_alias(name, alias_on_pass, version)
    return f"{name}/{version}"
