"""Redress: who a failed gate harms, how many, what decided their cases, who to re-review."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.engines.rows import POSITION
from fairaudit.models.base import Model, Prediction, binary_decision
from fairaudit.results import (
    AuditResult,
    Channel,
    GroupResult,
    Redress,
    RedressGroup,
    RedressReason,
)
from fairaudit.spec import AuditSpec

__all__ = [
    "HARM",
    "RereviewRecorder",
    "failed_groups",
    "group_label",
    "listed_counts",
    "redress",
]

#: intervention -> (harm metric, the harmed in words, adverse decision)
HARM = {
    "assistive": ("false_negative_rate", "wrongly excluded", 0),
    "punitive": ("false_positive_rate", "wrongly flagged", 1),
}

GroupKey = tuple[tuple[str, str], ...]


def _key(attributes: dict[str, str]) -> GroupKey:
    return tuple(sorted(attributes.items()))


def group_label(attributes: dict[str, str]) -> str:
    """``sex=female × settlement=rural``."""
    return " × ".join(f"{k}={v}" for k, v in attributes.items())


def failed_groups(result: AuditResult) -> dict[GroupKey, tuple[dict[str, str], list[str]]]:
    """Every group a gate failed for -> (its attributes, the ids of the failed gates)."""
    out: dict[GroupKey, tuple[dict[str, str], list[str]]] = {}
    for c in result.checks:
        if c.verdict != "fail" or not c.attributes or "*" in c.attributes.values():
            continue  # between-groups gates are about an attribute, not a group
        _, ids = out.setdefault(_key(c.attributes), (dict(c.attributes), []))
        if c.id not in ids:
            ids.append(c.id)
    return out


class RereviewRecorder(Model):
    """Wraps a model; while the audit counts, it notes the rows to re-review.

    Priority 1: an adverse decision for someone the audit's truth says should not have had
    it (wrongly excluded / wrongly flagged). Priority 2: other adverse decisions in the
    same groups that a data correction would reverse (a counterfactual flip of a rules
    model) or whose score is within ``margin`` of the threshold. Only rows of the groups a
    gate failed for are listed.

    On the local engine the rows stay in memory (:meth:`frame`). On Spark each executor's
    copy writes its rows to ``folder/<part>.parquet`` (:meth:`partial`) and the driver's
    copy only adds up how many rows each group has on the list (:meth:`absorb`,
    :attr:`listed`). Rows are keyed by the data's row id, else by the position in the data
    (the engine's ``__fairaudit_row__`` column when it gives one).
    """

    def __init__(
        self,
        inner: Model,
        spec: AuditSpec,
        groups: dict[GroupKey, tuple[dict[str, str], list[str]]],
        data_path: Path,
        *,
        margin: float | None = None,
        folder: Path | None = None,
    ) -> None:
        self.inner = inner
        self.folder = folder
        self.columns = inner.columns
        self.needs_population = inner.needs_population
        self.spec = spec
        self.groups = groups
        self.data_path = data_path
        self.margin = margin
        self.adverse = HARM[spec.intervention][2]
        self.parts: list[pd.DataFrame] = []
        self.offset = 0
        #: Spark: rows on the list per group label, in all, and the files the executors wrote
        self.listed: dict[str, int] = {}
        self.total = 0
        self.files: list[str] = []

    def prepare(self, batches: Iterable[pd.DataFrame]) -> None:
        self.inner.prepare(batches)

    def provenance(self) -> dict[str, Any]:
        return self.inner.provenance()

    def population_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.inner.population_frame(frame)

    def predict(self, frame: pd.DataFrame) -> Prediction:
        pred = self.inner.predict(frame)
        self._record(frame.reset_index(drop=True), pred)
        return pred

    def partial(self, part: str) -> Any:
        """Write this copy's rows to ``folder/<part>.parquet``; return their counts."""
        from fairaudit.results import atomic_write_parquet

        rows = self.frame()
        name = None
        if len(rows) and self.folder is not None:
            name = f"{part}.parquet"
            atomic_write_parquet(self.folder / name, rows)
        self.parts = []
        return listed_counts(rows), len(rows), name

    def absorb(self, partials: Sequence[Any]) -> None:
        for listed, total, name in partials:
            for label, n in listed.items():
                self.listed[label] = self.listed.get(label, 0) + n
            self.total += total
            if name is not None:
                self.files.append(name)

    def _record(self, frame: pd.DataFrame, pred: Prediction) -> None:
        from fairaudit.engines.local import _protected_values

        spec, n = self.spec, len(frame)
        if spec.data.row_id:
            ids = frame[spec.data.row_id].to_numpy()
        elif POSITION in frame.columns:
            ids = frame[POSITION].to_numpy()
        else:
            ids = np.arange(self.offset, self.offset + n)
        self.offset += n
        decision = np.asarray(pred.decision, dtype="float64")
        lab = frame[spec.data.label]
        known = lab.notna().to_numpy() & ~np.isnan(decision)
        adverse = known & (decision == self.adverse)
        if not adverse.any() or not self.groups:
            return
        y = np.full(n, -1, dtype="int8")
        y[known] = binary_decision(lab[known], what="the label", positive=spec.data.positive_label)
        wrong = adverse & (y == (1 if self.adverse == 0 else 0))
        second = np.zeros(n, dtype=bool)
        why2 = np.full(n, "", dtype=object)
        reasons = pred.reasons
        if reasons is not None:
            flip = 1 if self.adverse == 0 else -1
            for c in reasons.columns:
                if str(c).startswith("cf_"):
                    hit = reasons[c].to_numpy() == flip
                    why2 = np.where(
                        hit & (why2 == ""), f"correcting {str(c)[3:]} reverses it", why2
                    )
                    second |= hit
        threshold = getattr(self.inner, "threshold", None)
        if self.margin is not None and threshold is not None and pred.score is not None:
            near = np.abs(np.asarray(pred.score, dtype="float64") - threshold) <= self.margin
            why2 = np.where(
                near & (why2 == ""), f"score within {self.margin} of the threshold", why2
            )
            second |= near
        listed = adverse & (wrong | second)
        if not listed.any():
            return
        values = {
            p.name: np.asarray(
                _protected_values(frame[p.source_column], p, i, spec, self.data_path)[0],
                dtype=object,
            )
            for i, p in enumerate(spec.protected)
        }
        member = np.zeros(n, dtype=bool)
        labels = np.full(n, "", dtype=object)
        for attrs, _ in self.groups.values():
            m = np.logical_and.reduce([values[k] == v for k, v in attrs.items()])
            labels = np.where(
                m, np.where(labels == "", "", labels + "; ") + group_label(attrs), labels
            )
            member |= m
        keep = listed & member
        if not keep.any():
            return
        stage = (
            reasons["stage"].astype("object").to_numpy()
            if reasons is not None and "stage" in reasons.columns
            else np.full(n, None, dtype=object)
        )
        harm = HARM[spec.intervention][1]
        self.parts.append(
            pd.DataFrame(
                {
                    "row_id": ids[keep],
                    "groups": labels[keep].astype(str),
                    "priority": np.where(wrong[keep], 1, 2).astype("int8"),
                    "why": np.where(wrong[keep], f"{harm} (the audit's truth)", why2[keep]),
                    "decided_by": pd.Series(stage[keep], dtype="object").astype("string"),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        """The re-review list: priority 1 first, then by row id."""
        if not self.parts:
            return pd.DataFrame(
                {
                    "row_id": pd.Series([], dtype="object"),
                    "groups": pd.Series([], dtype="object"),
                    "priority": pd.Series([], dtype="int8"),
                    "why": pd.Series([], dtype="object"),
                    "decided_by": pd.Series([], dtype="string"),
                }
            )
        out = pd.concat(self.parts, ignore_index=True)
        return out.sort_values(["priority", "row_id"], kind="stable").reset_index(drop=True)


def listed_counts(rereview: pd.DataFrame | None) -> dict[str, int]:
    """How many rows of a re-review list each group label has (a row may be in several)."""
    on_list: dict[str, int] = {}
    if rereview is not None and len(rereview):
        for labels in rereview["groups"]:
            for lab in str(labels).split("; "):
                on_list[lab] = on_list.get(lab, 0) + 1
    return on_list


def _find(result: AuditResult, attributes: dict[str, str]) -> GroupResult | None:
    key = _key(attributes)
    return next((g for g in result.groups if _key(g.attributes) == key), None)


def redress(
    spec: AuditSpec,
    result: AuditResult,
    *,
    rereview: pd.DataFrame | None = None,
    rereview_artifact: str | None = None,
    listed: dict[str, int] | None = None,
    listed_total: int | None = None,
) -> Redress:
    """Per failed group: the wrongly harmed, the excess over the reference, the value at
    stake, what decided their cases and how many are on the re-review list."""
    metric, harm, _ = HARM[spec.intervention]
    rec = spec.recommend
    refs = {tuple(r.attributes): r.group for r in result.references}
    on_list = listed if listed is not None else listed_counts(rereview)
    reason_groups = {
        _key(rg.attributes): rg for rg in (result.reasons.groups if result.reasons else [])
    }
    out = []
    for attrs, ids in failed_groups(result).values():
        g = _find(result, attrs)
        if g is None:
            continue
        c, wc = g.counts, g.weighted_counts
        wrongly = c.fn if metric == "false_negative_rate" else c.fp
        base = (c.tp + c.fn) if metric == "false_negative_rate" else (c.fp + c.tn)
        w_wrongly = w_base = None
        if wc is not None:
            w_wrongly = wc.fn if metric == "false_negative_rate" else wc.fp
            w_base = (wc.tp + wc.fn) if metric == "false_negative_rate" else (wc.fp + wc.tn)
        people = w_base if w_base is not None else base
        ref_attrs = refs.get(tuple(attrs), {})
        ref = _find(result, ref_attrs) if ref_attrs else None
        rate = g.metrics[metric].value if metric in g.metrics else None
        ref_rate = ref.metrics[metric].value if ref is not None and metric in ref.metrics else None
        excess = excess_ci = None
        d = g.disparities.get(metric)
        if rate is not None and ref_rate is not None and not g.is_reference:
            excess = (rate - ref_rate) * people
            if d is not None and d.difference_ci is not None:
                excess_ci = (d.difference_ci[0] * people, d.difference_ci[1] * people)
        harmed = w_wrongly if w_wrongly is not None else wrongly
        value = unit = None
        if rec is not None and rec.benefit is not None and spec.intervention == "assistive":
            value, unit = harmed * rec.benefit.amount, rec.benefit.unit
        reasons: list[RedressReason] = []
        rg = reason_groups.get(_key(attrs))
        if rg is not None:
            top = sorted(rg.reasons, key=lambda r: -r.wrongly)[:3]
            reasons = [
                RedressReason(reason=r.reason, wrongly=r.wrongly, share=r.share)
                for r in top
                if r.wrongly
            ]
        out.append(
            RedressGroup(
                attributes=attrs,
                checks=ids,
                metric=metric,
                wrongly=int(wrongly),
                wrongly_weighted=w_wrongly,
                rate=rate,
                reference=ref_attrs,
                reference_rate=ref_rate,
                excess=excess,
                excess_ci=excess_ci,
                value_at_stake=value,
                value_unit=unit,
                reasons=reasons,
                rereview=on_list.get(group_label(attrs), 0),
            )
        )
    margin = rec.margin if rec is not None else None
    rule = (
        f"Priority 1: {harm} by the audit's truth. Priority 2: other adverse decisions in "
        "the same groups that correcting a registry field would reverse"
        + (f", or whose score is within {margin} of the threshold" if margin is not None else "")
        + "."
    )
    return Redress(
        harm=harm,
        groups=out,
        channels=[
            Channel(name=ch.name, how=ch.how, deadline=ch.deadline)
            for ch in (rec.channels if rec is not None else [])
        ],
        rereview_rule=rule,
        rereview_artifact=rereview_artifact,
        rereview_total=(
            listed_total if listed_total is not None else 0 if rereview is None else len(rereview)
        ),
    )
