"""Additive per-group arrays for every attribute set, built one batch at a time.

Score histograms and regression sums are, like confusion counts, sums over rows; so they
are summed per group in the same single pass, batch by batch, and batches (or engines)
combine by addition. Each attribute set (``("region",)``, ``("region", "sex")``, and ``()``
for everyone) maps each group's values to an array of a fixed ``shape``.

With ``exact=True`` the weighted sums are kept exactly (:class:`~fairaudit.metrics.exact.
ExactSums`) and rounded once when read, so any split of the rows into batches, processes or
Spark partitions gives identical sums; counts (no weights) are exact anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fairaudit.metrics.counts import factorize_values
from fairaudit.metrics.exact import ExactSums, split

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
    exact
        Keep weighted sums exactly (order-independent) in ``sums``; :meth:`get` rounds a
        group's sums once when read (``data`` is then only a cache).
    """

    shape: tuple[int, ...]
    groupings: tuple[Key, ...]
    data: dict[Key, dict[Key, np.ndarray]] = field(default_factory=dict)
    exact: bool = False
    sums: dict[Key, dict[Key, ExactSums]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for g in self.groupings:
            self.data.setdefault(g, {})
            self.sums.setdefault(g, {})

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
        exact = self.exact and weights is not None
        terms = split(weights) if exact and weights is not None else None
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
            occupied = np.flatnonzero(np.bincount(gid, minlength=n_groups) > 0)
            if terms is not None:
                self._add_exact(grouping, flat, terms, n_groups, occupied, radix, codes)
                continue
            sums = np.bincount(flat, weights=weights, minlength=n_groups * self.size)
            sums = sums.reshape((n_groups, *self.shape))
            target = self.data[grouping]
            for g in occupied:
                key = _decode(int(g), grouping, radix, codes)
                if key in target:
                    target[key] = target[key] + sums[g]
                else:
                    target[key] = sums[g].copy()

    def _add_exact(
        self,
        grouping: Key,
        flat: np.ndarray,
        terms: object,
        n_groups: int,
        occupied: np.ndarray,
        radix: list[int],
        codes: dict[str, tuple[np.ndarray, np.ndarray]],
    ) -> None:
        batch = ExactSums(n_groups * self.size)
        batch.add(flat, terms)  # type: ignore[arg-type]
        exact, data = self.sums[grouping], self.data[grouping]
        for g in occupied:
            key = _decode(int(g), grouping, radix, codes)
            lo, hi = int(g) * self.size, (int(g) + 1) * self.size
            part = ExactSums(self.size, {j: v[lo:hi] for j, v in batch.limbs.items()})
            exact[key] = exact[key] + part if key in exact else part
            data.pop(key, None)  # rounded again when read (get)

    def __add__(self, other: GroupedSums) -> GroupedSums:
        if other.shape != self.shape or other.groupings != self.groupings:
            raise ValueError("cannot add sums of different shapes or attribute sets")
        if other.exact != self.exact:
            raise ValueError("cannot add exact and inexact sums")
        out = GroupedSums(self.shape, self.groupings, exact=self.exact)
        if self.exact:
            for grouping in self.groupings:
                mine, theirs = self.sums[grouping], other.sums[grouping]
                merged_exact = dict(mine)
                for key, part in theirs.items():
                    merged_exact[key] = merged_exact[key] + part if key in merged_exact else part
                out.sums[grouping] = merged_exact
            return out
        for grouping in self.groupings:
            merged = {k: v.copy() for k, v in self.data[grouping].items()}
            for k, v in other.data[grouping].items():
                merged[k] = merged[k] + v if k in merged else v.copy()
            out.data[grouping] = merged
        return out

    def get(self, grouping: Sequence[str], key: Sequence[str]) -> np.ndarray:
        """The array of one group (zeros if the group never occurred)."""
        g, k = tuple(grouping), tuple(key)
        if self.exact and k in self.sums[g] and k not in self.data[g]:
            self.data[g][k] = self.sums[g][k].to_float().reshape(self.shape)
        return self.data[tuple(grouping)].get(tuple(key), np.zeros(self.shape))


def _decode(
    g: int, grouping: Key, radix: list[int], codes: dict[str, tuple[np.ndarray, np.ndarray]]
) -> Key:
    parts: list[str] = []
    for a, r in zip(reversed(grouping), reversed(radix), strict=True):
        parts.append(str(codes[a][1][g % r]))
        g //= r
    return tuple(reversed(parts))
