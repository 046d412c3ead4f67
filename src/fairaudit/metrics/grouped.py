"""Additive per-group arrays for every attribute set, built one batch at a time.

Score histograms and regression sums are, like confusion counts, sums over rows; so they
are summed per group in the same single pass, batch by batch, and batches (or engines)
combine by addition. Each attribute set (``("region",)``, ``("region", "sex")``, and ``()``
for everyone) maps each group's values to an array of a fixed ``shape``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fairaudit.metrics.counts import factorize_values

__all__ = ["GroupedSums"]

Key = tuple[str, ...]


@dataclass
class GroupedSums:
    """``{attribute set: {group values: array of shape}}``, additive.

    Attributes
    ----------
    shape
        Shape of each group's array (e.g. ``(2, bins)`` for score histograms by label).
    groupings
        The attribute sets summed (``()`` = all rows).
    """

    shape: tuple[int, ...]
    groupings: tuple[Key, ...]
    data: dict[Key, dict[Key, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for g in self.groupings:
            self.data.setdefault(g, {})

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def add_batch(
        self,
        protected: Mapping[str, np.ndarray | pd.Categorical],
        index: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> None:
        """Add one batch.

        Parameters
        ----------
        protected
            Attribute -> value per row (strings, no missing values).
        index
            Flat index into ``shape`` per row (where the row's contribution goes).
        weights
            What each row adds (default 1: counting).
        """
        n = len(index)
        codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for grouping in self.groupings:
            for a in grouping:
                if a not in codes:
                    c, u = factorize_values(protected[a])  # categoricals: their codes
                    codes[a] = (c.astype("int64"), u)
            gid = np.zeros(n, dtype="int64")
            radix = []
            for a in grouping:
                c, u = codes[a]
                r = max(len(u), 1)
                gid = gid * r + c
                radix.append(r)
            n_groups = int(np.prod(radix, dtype="int64")) if grouping else 1
            flat = gid * self.size + np.asarray(index, dtype="int64")
            sums = np.bincount(flat, weights=weights, minlength=n_groups * self.size)
            sums = sums.reshape((n_groups, *self.shape))
            target = self.data[grouping]
            occupied = np.flatnonzero(np.bincount(gid, minlength=n_groups) > 0)
            for g in occupied:
                key = _decode(int(g), grouping, radix, codes)
                if key in target:
                    target[key] = target[key] + sums[g]
                else:
                    target[key] = sums[g].copy()

    def __add__(self, other: GroupedSums) -> GroupedSums:
        if other.shape != self.shape or other.groupings != self.groupings:
            raise ValueError("cannot add sums of different shapes or attribute sets")
        out = GroupedSums(self.shape, self.groupings)
        for grouping in self.groupings:
            merged = {k: v.copy() for k, v in self.data[grouping].items()}
            for k, v in other.data[grouping].items():
                merged[k] = merged[k] + v if k in merged else v.copy()
            out.data[grouping] = merged
        return out

    def get(self, grouping: Sequence[str], key: Sequence[str]) -> np.ndarray:
        """The array of one group (zeros if the group never occurred)."""
        return self.data[tuple(grouping)].get(tuple(key), np.zeros(self.shape))


def _decode(
    g: int, grouping: Key, radix: list[int], codes: dict[str, tuple[np.ndarray, np.ndarray]]
) -> Key:
    parts: list[str] = []
    for a, r in zip(reversed(grouping), reversed(radix), strict=True):
        parts.append(str(codes[a][1][g % r]))
        g //= r
    return tuple(reversed(parts))
