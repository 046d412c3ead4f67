"""Disparities: each group against a reference group, and fairlearn's between-groups view.

For a metric ``m`` and a group ``g`` with reference ``r``: ``difference = m(g) - m(r)`` and
``ratio = m(g) / m(r)``. ``between_groups`` gives, over all groups of one attribute set,
``max - min`` and ``min / max`` — what fairlearn's ``MetricFrame.difference()`` and
``ratio()`` return with ``method="between_groups"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fairaudit.metrics.rates import favourable_is_higher

__all__ = [
    "UNKNOWN",
    "ReferenceChoice",
    "between_groups",
    "choose_reference",
    "compare",
]

#: The group of rows whose protected value is missing.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ReferenceChoice:
    """The reference group of one attribute set and why it was chosen."""

    key: tuple[str, ...]
    policy: str
    """``named`` (from the spec/CLI), ``most_favoured`` or ``largest``."""
    reason: str


def choose_reference(
    keys: Sequence[tuple[str, ...]],
    n: np.ndarray,
    selection_rate: np.ndarray,
    *,
    attributes: Sequence[str],
    named: dict[str, str],
    policy: str,
    intervention: str,
    min_group_size: int,
    min_share: float = 0.0,
) -> ReferenceChoice:
    """Pick the reference group among ``keys``.

    A group named for every attribute wins. Otherwise the policy applies among groups
    with at least ``min_group_size`` people and at least ``min_share`` of all rows (NYC
    Local Law 144's 2% rule) whose values are all known (all groups if none qualifies):
    ``most_favoured`` takes the highest selection rate when selection helps (assistive)
    and the lowest when it harms (punitive); ``largest`` the largest group. Ties go to the
    larger group, then the first in order.
    """
    if all(a in named for a in attributes):
        key = tuple(named[a] for a in attributes)
        return ReferenceChoice(key, "named", "named in the spec")
    total = float(np.sum(n)) or 1.0
    candidates = [
        i
        for i, k in enumerate(keys)
        if n[i] >= min_group_size
        and n[i] / total >= min_share
        and UNKNOWN not in k
        and np.isfinite(selection_rate[i])
    ]
    note = f"among groups with at least {min_group_size} people"
    if min_share > 0:
        note += f" and {100 * min_share:g}% of the rows"
    if not candidates:
        candidates = [i for i, k in enumerate(keys) if np.isfinite(selection_rate[i])]
        note = f"no group has {min_group_size} people; chosen among all groups"
    if not candidates:
        candidates = list(range(len(keys)))
    if policy == "largest":
        best = max(candidates, key=lambda i: (n[i], -i))
        return ReferenceChoice(tuple(keys[best]), "largest", f"largest group ({note})")
    sign = 1.0 if favourable_is_higher("selection_rate", intervention) else -1.0
    best = max(candidates, key=lambda i: (sign * selection_rate[i], n[i], -i))
    which = "highest" if sign > 0 else "lowest"
    return ReferenceChoice(tuple(keys[best]), "most_favoured", f"{which} selection rate ({note})")


def compare(value: float, reference: float) -> tuple[float | None, float | None]:
    """``(difference, ratio)`` of a group's value against its reference's.

    ``None`` where undefined: either value missing, or a ratio over a reference of 0.
    """
    if not (_finite(value) and _finite(reference)):
        return None, None
    diff = value - reference
    ratio = value / reference if reference != 0 else None
    return diff, ratio


def between_groups(values: np.ndarray) -> tuple[float | None, float | None]:
    """``(max - min, min / max)`` over the defined values (fairlearn's between_groups)."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return None, None
    lo, hi = float(v.min()), float(v.max())
    return hi - lo, (lo / hi if hi != 0 else None)


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
