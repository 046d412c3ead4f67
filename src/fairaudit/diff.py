"""Compare two audits (e.g. a new model version against the one in production).

Each side is a results.json file or an MLflow run (``runs:/RUN_ID``, whose ``results.json``
artifact is read). :func:`diff_results` lines up every gate check and every group's
headline harm metric; an optional gate fails when any group's harm metric worsens by more
than a given amount.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fairaudit.errors import InputError
from fairaudit.results import AuditResult

__all__ = ["AuditDiff", "diff_results", "load_results"]


def load_results(ref: str, *, tracking_uri: str | None = None) -> AuditResult:
    """Read results from a file path or from an MLflow run (``runs:/RUN_ID``)."""
    if ref.startswith("runs:/"):
        from fairaudit.tracking import TrackingError, _import_mlflow, _quiet, _resolve_uri

        _import_mlflow()
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        uri = _resolve_uri(tracking_uri)
        run_id = ref[len("runs:/") :].strip("/").split("/")[0]
        try:
            with _quiet(), tempfile.TemporaryDirectory() as tmp:
                local = MlflowClient(tracking_uri=uri).download_artifacts(
                    run_id, "results.json", tmp
                )
                text = Path(local).read_text(encoding="utf-8")
        except (MlflowException, OSError) as exc:
            raise TrackingError(
                f"cannot read results.json of run {run_id}: {exc}",
                uri=uri,
                fix="check the run id and --mlflow-uri",
            ) from None
        return _parse(text, ref)
    path = Path(ref)
    if not path.is_file():
        raise InputError(
            "results file not found",
            file=path,
            fix="give a results.json written by fairaudit check, or runs:/RUN_ID",
        )
    return _parse(path.read_text(encoding="utf-8"), ref)


def _parse(text: str, source: str) -> AuditResult:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc}", file=source) from None
    if data.get("schema") != "fairaudit.results/1":
        raise InputError(
            f"not fairaudit results (schema {data.get('schema')!r})",
            file=source,
            fix="give a results.json written by fairaudit check",
        )
    return AuditResult.model_validate(data)


@dataclass
class AuditDiff:
    """How two audits differ."""

    status: tuple[str, str]
    headline_metric: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    worsened: list[dict[str, Any]] = field(default_factory=list)
    max_worsening: float | None = None

    @property
    def gate_failed(self) -> bool:
        return bool(self.worsened)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": list(self.status),
            "headline_metric": self.headline_metric,
            "max_worsening": self.max_worsening,
            "gate_failed": self.gate_failed,
            "checks": self.checks,
            "groups": self.groups,
            "worsened": self.worsened,
        }


def _key(attrs: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(attrs.items())


def diff_results(
    a: AuditResult, b: AuditResult, *, max_worsening: float | None = None
) -> AuditDiff:
    """Line up checks and headline metrics of audit ``a`` (before) and ``b`` (after).

    Parameters
    ----------
    max_worsening
        If given, every group whose headline harm metric rises by more than this
        (absolute, e.g. 0.02 = two percentage points) is listed in ``worsened``.
    """
    if a.headline_metric != b.headline_metric:
        raise InputError(
            f"the audits have different headline metrics ({a.headline_metric} vs "
            f"{b.headline_metric}): one is assistive, the other punitive",
            fix="compare audits of the same intervention",
        )
    head = a.headline_metric
    out = AuditDiff(status=(a.status, b.status), headline_metric=head, max_worsening=max_worsening)
    before = {(c.id, _key(c.attributes)): c for c in a.checks}
    after = {(c.id, _key(c.attributes)): c for c in b.checks}
    for key in list(before) + [k for k in after if k not in before]:
        ca, cb = before.get(key), after.get(key)
        out.checks.append(
            {
                "id": key[0],
                "attributes": dict(key[1]),
                "before": ca.verdict if ca else None,
                "after": cb.verdict if cb else None,
                "value_before": ca.value if ca else None,
                "value_after": cb.value if cb else None,
            }
        )
    ga = {_key(g.attributes): g for g in a.groups}
    gb = {_key(g.attributes): g for g in b.groups}
    for gk in list(ga) + [k for k in gb if k not in ga]:
        va = ga[gk].metrics[head].value if gk in ga else None
        vb = gb[gk].metrics[head].value if gk in gb else None
        delta = vb - va if va is not None and vb is not None else None
        row = {
            "attributes": dict(gk),
            "before": va,
            "after": vb,
            "change": delta,
            "n_before": ga[gk].n if gk in ga else None,
            "n_after": gb[gk].n if gk in gb else None,
        }
        out.groups.append(row)
        if max_worsening is not None and delta is not None and delta > max_worsening:
            out.worsened.append(row)
    return out
