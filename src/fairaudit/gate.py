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

    def __call__(self, value: float | None, verdict: str, reason: str) -> Check:
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
        )


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
        wanted = tuple(gate.attributes) if gate.attributes else None
        if gate.measure.startswith("between_groups"):
            by_attrs: dict[tuple[str, ...], list[GroupResult]] = {}
            for g in groups:
                by_attrs.setdefault(tuple(g.attributes), []).append(g)
            for attrs, members in by_attrs.items():
                if wanted is None or attrs == wanted:
                    checks.append(
                        _between(gate, attrs, members, threshold, operator, min_group_size)
                    )
            continue
        for g in groups:
            attrs = tuple(g.attributes)
            if wanted is not None and attrs != wanted:
                continue
            ref = ref_by_attrs.get(attrs)
            if gate.measure != "value" and ref is not None and ref.group == g.attributes:
                continue  # a reference compared with itself says nothing
            make = _Maker(gate, g.attributes, threshold, operator, g.n)
            who = _label(g.attributes)
            if gate.metric == "n":
                verdict, why = _verdict(float(g.n), gate)
                checks.append(make(float(g.n), verdict, f"{who} has {g.n} people: {why}"))
                continue
            if g.n < min_group_size:
                checks.append(
                    make(
                        None,
                        "insufficient_evidence",
                        f"{who} has {g.n} people, fewer than the minimum group "
                        f"size {min_group_size}",
                    )
                )
                continue
            name = gate.canonical
            value: float | None
            if gate.measure == "value":
                value = g.metrics[name].value
                what = gate.metric
            else:
                ref_n = n_by_key.get((attrs, tuple(ref.group.values()))) if ref else None
                if ref is None or ref_n is None or ref_n < min_group_size:
                    checks.append(
                        make(
                            None,
                            "insufficient_evidence",
                            f"the reference group of {who} has fewer than {min_group_size} people",
                        )
                    )
                    continue
                d = g.disparities[name]
                value = d.difference if gate.measure == "difference" else d.ratio
                what = f"{gate.metric} {gate.measure} to {_label(ref.group)}"
            if value is None or not np.isfinite(value):
                checks.append(
                    make(
                        None,
                        "insufficient_evidence",
                        f"{what} is undefined for {who} (no one in its "
                        "denominator, or a reference rate of 0)",
                    )
                )
                continue
            verdict, why = _verdict(float(value), gate)
            checks.append(
                make(float(value), verdict, f"{what} for {who} is {_fmt(float(value))}: {why}")
            )
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
    make = _Maker(gate, dict.fromkeys(attrs, "*"), threshold, operator, sum(g.n for g in big))
    label = " × ".join(attrs)
    if len(big) < 2:
        return make(
            None,
            "insufficient_evidence",
            f"fewer than two {label} groups have {min_group_size} people",
        )
    values = np.array(
        [np.nan if (v := g.metrics[gate.canonical].value) is None else v for g in big],
        dtype="float64",
    )
    diff, ratio = between_groups(values)
    value = diff if gate.measure == "between_groups_difference" else ratio
    if value is None:
        return make(
            None, "insufficient_evidence", f"{gate.metric} is undefined across the {label} groups"
        )
    verdict, why = _verdict(value, gate)
    return make(
        value,
        verdict,
        f"{gate.metric} {gate.measure.replace('_', ' ')} over {len(big)} {label} "
        f"groups with at least {min_group_size} people is {_fmt(value)}: {why}",
    )


def overall_status(checks: Sequence[Check]) -> str:
    """``fail`` if any check failed, else ``insufficient_evidence`` if any, else ``pass``."""
    verdicts = {c.verdict for c in checks}
    if "fail" in verdicts:
        return "fail"
    if "insufficient_evidence" in verdicts:
        return "insufficient_evidence"
    return "pass"
