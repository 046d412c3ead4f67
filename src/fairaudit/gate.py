"""Gates: thresholds from the spec become verdicts, one check per gate and group.

A verdict is ``pass``, ``fail`` or ``insufficient_evidence``. Evidence is insufficient when
the group (or its reference) has fewer than ``min_group_size`` people, or when the measure
is undefined (e.g. a false negative rate in a group with no truly eligible person). A
failed gate is a result, not an exception: every gate is checked for every group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fairaudit.metrics.disparity import between_groups
from fairaudit.results import Check, GroupResult, Reference
from fairaudit.spec import GateSpec

__all__ = ["evaluate_gates", "overall_status"]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _bounds(gate: GateSpec) -> tuple[float | tuple[float, float], str]:
    if gate.min is not None and gate.max is not None:
        return (gate.min, gate.max), "between"
    if gate.min is not None:
        return gate.min, ">="
    assert gate.max is not None  # guaranteed by GateSpec validation
    return gate.max, "<="


def _verdict(value: float, gate: GateSpec) -> tuple[str, str]:
    ok_min = gate.min is None or value >= gate.min
    ok_max = gate.max is None or value <= gate.max
    if ok_min and ok_max:
        return "pass", "within the threshold"
    if not ok_min:
        return "fail", f"below the minimum {_fmt(gate.min)}"  # type: ignore[arg-type]
    return "fail", f"above the maximum {_fmt(gate.max)}"  # type: ignore[arg-type]


def _label(attrs: dict[str, str]) -> str:
    return " × ".join(f"{k}={v}" for k, v in attrs.items()) or "all groups"


def evaluate_gates(
    gates: Sequence[GateSpec],
    groups: Sequence[GroupResult],
    references: Sequence[Reference],
    *,
    min_group_size: int,
) -> list[Check]:
    """Apply every gate to every group it covers.

    Parameters
    ----------
    gates
        From the spec.
    groups
        Every group and intersection with metrics and disparities.
    references
        The reference group of each attribute set (reference groups are not checked
        against themselves).
    min_group_size
        Groups (and references) smaller than this get ``insufficient_evidence``.
    """
    ref_by_attrs = {tuple(r.attributes): r for r in references}
    n_by_key = {(tuple(g.attributes), tuple(g.attributes.values())): g.n for g in groups}
    checks: list[Check] = []
    for gate in gates:
        threshold, operator = _bounds(gate)
        metric_key = gate.metric
        wanted = tuple(gate.attributes) if gate.attributes else None
        if gate.measure.startswith("between_groups"):
            by_attrs: dict[tuple[str, ...], list[GroupResult]] = {}
            for g in groups:
                by_attrs.setdefault(tuple(g.attributes), []).append(g)
            for attrs, members in by_attrs.items():
                if wanted is not None and attrs != wanted:
                    continue
                checks.append(_between(gate, attrs, members, threshold, operator, min_group_size))
            continue
        for g in groups:
            attrs = tuple(g.attributes)
            if wanted is not None and attrs != wanted:
                continue
            ref = ref_by_attrs.get(attrs)
            if gate.measure != "value" and ref is not None and ref.group == g.attributes:
                continue  # a reference compared with itself says nothing
            base = dict(id=gate.id, metric=metric_key, measure=gate.measure,
                        attributes=g.attributes, threshold=threshold, operator=operator, n=g.n)
            who = _label(g.attributes)
            if gate.metric == "n":
                verdict, why = _verdict(float(g.n), gate)
                checks.append(Check(**base, value=float(g.n), verdict=verdict,  # type: ignore[arg-type]
                                    reason=f"{who} has {g.n} people: {why}"))
                continue
            name = gate.canonical
            if g.n < min_group_size:
                checks.append(Check(**base, value=None, verdict="insufficient_evidence",  # type: ignore[arg-type]
                                    reason=f"{who} has {g.n} people, fewer than the minimum "
                                    f"group size {min_group_size}"))
                continue
            if gate.measure == "value":
                value = g.metrics[name].value
                what = gate.metric
            else:
                ref_n = n_by_key.get((attrs, tuple(ref.group.values()))) if ref else None
                if ref is None or ref_n is None or ref_n < min_group_size:
                    checks.append(Check(**base, value=None, verdict="insufficient_evidence",  # type: ignore[arg-type]
                                        reason=f"the reference group of {who} has fewer than "
                                        f"{min_group_size} people"))
                    continue
                d = g.disparities[name]
                value = d.difference if gate.measure == "difference" else d.ratio
                what = f"{gate.metric} {gate.measure} to {_label(ref.group)}"
            if value is None or not np.isfinite(value):
                checks.append(Check(**base, value=None, verdict="insufficient_evidence",  # type: ignore[arg-type]
                                    reason=f"{what} is undefined for {who} (no one in its "
                                    "denominator, or a reference rate of 0)"))
                continue
            verdict, why = _verdict(float(value), gate)
            checks.append(Check(**base, value=float(value), verdict=verdict,  # type: ignore[arg-type]
                                reason=f"{what} for {who} is {_fmt(float(value))}: {why}"))
    return checks


def _between(
    gate: GateSpec,
    attrs: tuple[str, ...],
    members: Sequence[GroupResult],
    threshold: float | tuple[float, float],
    operator: str,
    min_group_size: int,
) -> Check:
    big = [g for g in members if g.n >= min_group_size]
    base = dict(id=gate.id, metric=gate.metric, measure=gate.measure,
                attributes={a: "*" for a in attrs}, threshold=threshold, operator=operator,
                n=sum(g.n for g in big))
    label = " × ".join(attrs)
    if len(big) < 2:
        return Check(**base, value=None, verdict="insufficient_evidence",  # type: ignore[arg-type]
                     reason=f"fewer than two {label} groups have {min_group_size} people")
    values = np.array(
        [np.nan if (v := g.metrics[gate.canonical].value) is None else v for g in big],
        dtype="float64",
    )
    diff, ratio = between_groups(values)
    value = diff if gate.measure == "between_groups_difference" else ratio
    if value is None:
        return Check(**base, value=None, verdict="insufficient_evidence",  # type: ignore[arg-type]
                     reason=f"{gate.metric} is undefined across the {label} groups")
    verdict, why = _verdict(value, gate)
    return Check(**base, value=value, verdict=verdict,  # type: ignore[arg-type]
                 reason=f"{gate.metric} {gate.measure.replace('_', ' ')} over {len(big)} "
                 f"{label} groups with at least {min_group_size} people is {_fmt(value)}: {why}")


def overall_status(checks: Sequence[Check]) -> str:
    """``fail`` if any check failed, else ``insufficient_evidence`` if any, else ``pass``."""
    verdicts = {c.verdict for c in checks}
    if "fail" in verdicts:
        return "fail"
    if "insufficient_evidence" in verdicts:
        return "insufficient_evidence"
    return "pass"
