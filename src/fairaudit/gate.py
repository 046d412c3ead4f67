"""Gates: thresholds from the spec become verdicts, one check per gate and group.

A verdict is decided on the interval, not only the point estimate:

- ``pass`` when the whole interval lies on the right side of the threshold(s);
- ``fail`` when the whole interval lies on the wrong side — or, with ``decide_on: point``,
  when the point estimate does;
- ``insufficient_evidence`` when the interval straddles the threshold, when the group (or
  its reference) has fewer than ``min_group_size`` people, or fewer than ``min_positives``
  truly positive / ``min_negatives`` truly negative people for a rate over those, or when
  the measure is undefined.

A failed gate is a result, not an exception: every gate is checked for every group, and
each check says in words why it got its verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fairaudit.metrics.rates import METRICS
from fairaudit.results import BetweenGroups, Check, GroupResult, Interval, Reference
from fairaudit.spec import GateSpec

__all__ = ["evaluate_gates", "overall_status"]

_POSITIVES = ("tp", "fn")
_NEGATIVES = ("fp", "tn")


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _bounds(gate: GateSpec) -> tuple[float | tuple[float, float], str]:
    if gate.min is not None and gate.max is not None:
        return (gate.min, gate.max), "between"
    if gate.min is not None:
        return gate.min, ">="
    assert gate.max is not None  # guaranteed by GateSpec validation
    return gate.max, "<="


def _side(x: float, gate: GateSpec) -> str:
    """``ok``, ``low`` (below min) or ``high`` (above max)."""
    if gate.min is not None and x < gate.min:
        return "low"
    if gate.max is not None and x > gate.max:
        return "high"
    return "ok"


def _threshold_words(gate: GateSpec) -> str:
    if gate.min is not None and gate.max is not None:
        return f"the band [{_fmt(gate.min)}, {_fmt(gate.max)}]"
    if gate.min is not None:
        return f"the minimum {_fmt(gate.min)}"
    return f"the maximum {_fmt(gate.max)}"  # type: ignore[arg-type]


def decide(value: float, ci: Interval | None, gate: GateSpec, confidence: float) -> tuple[str, str]:
    """The tri-state verdict of one measure, and why, in words."""
    level = f"{100 * confidence:g}%"
    point_side = _side(value, gate)
    if ci is None:
        # No interval exists for this measure: the point estimate decides.
        if point_side == "ok":
            return "pass", f"within {_threshold_words(gate)} (no interval available)"
        where = "below" if point_side == "low" else "above"
        return "fail", f"{where} {_threshold_words(gate)} (no interval available)"
    lo, hi = ci
    ci_txt = f"{level} interval [{_fmt(lo)}, {_fmt(hi)}]"
    if _side(lo, gate) == "ok" and _side(hi, gate) == "ok":
        return "pass", f"the whole {ci_txt} is within {_threshold_words(gate)}"
    if gate.max is not None and lo > gate.max:
        return "fail", f"the whole {ci_txt} is above {_threshold_words(gate)}"
    if gate.min is not None and hi < gate.min:
        return "fail", f"the whole {ci_txt} is below {_threshold_words(gate)}"
    if gate.decide_on == "point" and point_side != "ok":
        where = "below" if point_side == "low" else "above"
        return "fail", (
            f"the point estimate is {where} {_threshold_words(gate)} (decide_on: point), "
            f"though the {ci_txt} reaches it"
        )
    return "insufficient_evidence", (
        f"the {ci_txt} straddles {_threshold_words(gate)}: the data cannot tell at this confidence"
    )


class _Maker:
    """Builds the checks of one gate for one group (shared fields filled once)."""

    def __init__(
        self,
        gate: GateSpec,
        attributes: dict[str, str],
        threshold: float | tuple[float, float],
        operator: str,
        n: int,
    ) -> None:
        self.gate, self.attributes, self.threshold = gate, attributes, threshold
        self.operator, self.n = operator, n

    def __call__(
        self,
        value: float | None,
        verdict: str,
        reason: str,
        ci: Interval | None = None,
        interval: str | None = None,
    ) -> Check:
        return Check(
            id=self.gate.id,
            metric=self.gate.metric,
            measure=self.gate.measure,
            attributes=self.attributes,
            value=value,
            threshold=self.threshold,
            operator=self.operator,
            verdict=verdict,
            reason=reason,
            n=self.n,
            ci=ci,
            interval=interval,
            decided_on=self.gate.decide_on,
        )


def _label(attrs: dict[str, str]) -> str:
    return " × ".join(f"{k}={v}" for k, v in attrs.items()) or "all groups"


def _too_few(g: GroupResult, metric: str, min_pos: int, min_neg: int) -> str | None:
    den = METRICS[metric].denominator
    c = g.counts
    if den == _POSITIVES and c.tp + c.fn < min_pos:
        return f"{c.tp + c.fn} truly positive people (minimum {min_pos})"
    if den == _NEGATIVES and c.fp + c.tn < min_neg:
        return f"{c.fp + c.tn} truly negative people (minimum {min_neg})"
    return None


def evaluate_gates(
    gates: Sequence[GateSpec],
    groups: Sequence[GroupResult],
    references: Sequence[Reference],
    between: Sequence[BetweenGroups] = (),
    *,
    min_group_size: int,
    min_positives: int = 0,
    min_negatives: int = 0,
    confidence: float = 0.95,
) -> list[Check]:
    """Apply every gate to every group (or attribute set) it covers.

    Parameters
    ----------
    gates
        From the spec.
    groups
        Every group and intersection with metrics, intervals and disparities.
    references
        The reference group of each attribute set (not checked against itself).
    between
        Between-groups values per attribute set (for ``between_groups_*`` gates).
    min_group_size, min_positives, min_negatives
        Below these, a group (or its reference) gets ``insufficient_evidence``.
    confidence
        The level of the intervals, for the words of each verdict.
    """
    ref_by_attrs = {tuple(r.attributes): r for r in references}
    group_by_key = {(tuple(g.attributes), tuple(g.attributes.values())): g for g in groups}
    checks: list[Check] = []
    for gate in gates:
        threshold, operator = _bounds(gate)
        wanted = tuple(gate.attributes) if gate.attributes else None
        if gate.measure.startswith("between_groups"):
            for bg in between:
                attrs = tuple(bg.attributes)
                if wanted is None or attrs == wanted:
                    members = [g for g in groups if tuple(g.attributes) == attrs]
                    checks.append(
                        _between(
                            gate,
                            attrs,
                            bg,
                            members,
                            threshold,
                            operator,
                            min_group_size,
                            confidence,
                        )
                    )
            continue
        for g in groups:
            attrs = tuple(g.attributes)
            if wanted is not None and attrs != wanted:
                continue
            ref = ref_by_attrs.get(attrs)
            if gate.measure != "value" and ref is not None and ref.group == g.attributes:
                continue  # a reference compared with itself says nothing
            checks.append(
                _group_check(
                    gate,
                    g,
                    ref,
                    group_by_key,
                    threshold,
                    operator,
                    min_group_size,
                    min_positives,
                    min_negatives,
                    confidence,
                )
            )
    return checks


def _group_check(
    gate: GateSpec,
    g: GroupResult,
    ref: Reference | None,
    group_by_key: dict[tuple[tuple[str, ...], tuple[str, ...]], GroupResult],
    threshold: float | tuple[float, float],
    operator: str,
    min_group_size: int,
    min_positives: int,
    min_negatives: int,
    confidence: float,
) -> Check:
    make = _Maker(gate, g.attributes, threshold, operator, g.n)
    who = _label(g.attributes)
    if gate.metric == "n":
        ok = _side(float(g.n), gate) == "ok"
        return make(
            float(g.n),
            "pass" if ok else "fail",
            f"{who} has {g.n} people: {'within' if ok else 'outside'} {_threshold_words(gate)}",
        )
    if g.n < min_group_size:
        return make(
            None,
            "insufficient_evidence",
            f"{who} has {g.n} people, fewer than the minimum group size {min_group_size}",
        )
    name = gate.canonical
    few = _too_few(g, name, min_positives, min_negatives)
    if few:
        return make(None, "insufficient_evidence", f"{who} has only {few}")
    value: float | None
    ci: Interval | None
    if gate.measure == "value":
        mv = g.metrics[name]
        value = mv.value
        ci, kind = (
            (mv.bootstrap_ci, "bootstrap") if gate.interval == "bootstrap" else (mv.ci, "wilson")
        )
        what = gate.metric
    else:
        rg = group_by_key.get((tuple(g.attributes), tuple(ref.group.values()))) if ref else None
        if ref is None or rg is None or rg.n < min_group_size:
            return make(
                None,
                "insufficient_evidence",
                f"the reference group of {who} has fewer than {min_group_size} people",
            )
        few_ref = _too_few(rg, name, min_positives, min_negatives)
        if few_ref:
            return make(
                None,
                "insufficient_evidence",
                f"the reference group {_label(ref.group)} has only {few_ref}",
            )
        d = g.disparities[name]
        if gate.measure == "difference":
            value = d.difference
            ci, kind = (
                (d.difference_bootstrap_ci, "bootstrap")
                if gate.interval == "bootstrap"
                else (d.difference_ci, "newcombe")
            )
        else:
            value = d.ratio
            ci, kind = (
                (d.ratio_bootstrap_ci, "bootstrap")
                if gate.interval == "bootstrap"
                else (d.ratio_ci, "katz")
            )
        what = f"{gate.metric} {gate.measure} to {_label(ref.group)}"
    if value is None or not math.isfinite(value):
        return make(
            None,
            "insufficient_evidence",
            f"{what} is undefined for {who} (no one in its denominator, or a reference rate of 0)",
        )
    verdict, why = decide(float(value), ci, gate, confidence)
    return make(
        float(value),
        verdict,
        f"{what} for {who} is {_fmt(float(value))}: {why}",
        ci=ci,
        interval=kind if ci is not None else None,
    )


def _between(
    gate: GateSpec,
    attrs: tuple[str, ...],
    bg: BetweenGroups,
    members: Sequence[GroupResult],
    threshold: float | tuple[float, float],
    operator: str,
    min_group_size: int,
    confidence: float,
) -> Check:
    label = " × ".join(attrs)
    make = _Maker(gate, dict.fromkeys(attrs, "*"), threshold, operator, sum(g.n for g in members))
    small = [g for g in members if g.n < min_group_size]
    if small:
        names = ", ".join(_label(g.attributes) for g in small[:3])
        return make(
            None,
            "insufficient_evidence",
            f"{len(small)} {label} group(s) have fewer than {min_group_size} people "
            f"({names}{', …' if len(small) > 3 else ''}); max and min over groups "
            "would rest on them",
        )
    bv = bg.metrics.get(gate.canonical)
    value = (
        None
        if bv is None
        else (bv.difference if gate.measure == "between_groups_difference" else bv.ratio)
    )
    if bv is None or value is None:
        return make(
            None, "insufficient_evidence", f"{gate.metric} is undefined across the {label} groups"
        )
    ci = (
        bv.difference_bootstrap_ci
        if gate.measure == "between_groups_difference"
        else bv.ratio_bootstrap_ci
    )
    verdict, why = decide(value, ci, gate, confidence)
    return make(
        value,
        verdict,
        f"{gate.metric} {gate.measure.replace('_', ' ')} over {len(members)} {label} "
        f"groups is {_fmt(value)}: {why}",
        ci=ci,
        interval="bootstrap" if ci is not None else None,
    )


def overall_status(checks: Sequence[Check]) -> str:
    """``fail`` if any check failed, else ``insufficient_evidence`` if any, else ``pass``."""
    verdicts = {c.verdict for c in checks}
    if "fail" in verdicts:
        return "fail"
    if "insufficient_evidence" in verdicts:
        return "insufficient_evidence"
    return "pass"
