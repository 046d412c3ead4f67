"""The explanation sample: stratified, seeded, and drawn from aggregates and row hashes.

The design lets any engine draw exactly the same sample without holding every row:

1. **Plan, from aggregates.** Rows are counted per *finest cell* (one combination of every
   protected attribute's value). From those counts alone, every cell ``c`` gets an
   inclusion probability ``π_c`` and a whole number of rows to take, ``take_c``
   (:func:`sample_plan`).
2. **Draw, row by row.** Every row gets a pseudo-random key: a hash of its identity (the
   data's row id, else its position in the file) and the seed (:func:`row_keys`). A cell's
   sample is its ``take_c`` rows with the smallest keys (:func:`bottom_k`) — a simple
   random sample of the cell. Keeping the smallest keys is associative: batches, or Spark
   partitions, each keep their own smallest ``take_c`` per cell, and the smallest of
   those are the smallest overall. So the local engine (batch by batch) and the Spark
   engine (partition by partition, merged by Spark) pick the same rows, and the driver
   only ever holds the cell counts and the sample.

With ``cells`` (the audit's groupings: each attribute and every intersection), each group
``g`` of each grouping is guaranteed ``m = max(1, size // (2 * groups))`` expected rows (all
its rows when it has fewer): ``π_c = min(1, max(base, m_g / n_g))`` over the groups ``g``
cell ``c`` belongs to, ``base`` set (by bisection) so the expected size is ``size``.
``take_c`` is ``n_c π_c`` rounded by systematic sampling over the cells in sorted order with
one seeded uniform start: each ``take_c`` is ``⌊n_c π_c⌋`` or ``⌈n_c π_c⌉`` with mean
``n_c π_c``, the total is ``size`` (±1), and neighbouring cells (same first attributes) are
balanced against each other. Every row's inclusion probability is exactly ``π_c``, so
:attr:`Sample.weights` ``= 1 / π_c`` are Horvitz–Thompson weights: weighted means over the
sample estimate population means.

Without ``cells`` the strata are the finest cells: each first gets
``min(its rows, max(1, size // (2 * strata)))`` rows and the rest of ``size`` is shared in
proportion to the rows each has left (largest remainders); weights are ``n_c / take_c``.
When there are more strata than ``size``, one row per stratum is drawn.

This replaced systematic πps over all rows in one seeded random permutation, which needs
every row's position in one array (impossible without holding all rows on one machine);
the inclusion probabilities, weights and sample size are the same as that design's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.errors import InputError

__all__ = [
    "Sample",
    "SamplePlan",
    "bottom_k",
    "row_keys",
    "sample_plan",
    "stratified_sample",
]

DEFAULT_SAMPLE_SIZE = 2000
#: Stands for a missing value in :func:`stratified_sample`'s strata.
_MISSING = "\x00missing"
_U64 = np.uint64


@dataclass(frozen=True)
class Sample:
    """Rows chosen for explanation.

    Attributes
    ----------
    positions
        0-based row positions in the population, in the order of :attr:`ids` (sorted
        positions when the rows have no ids of their own).
    weights
        Rows of the population each sampled row stands for (``1 / π``): weighted means over
        the sample estimate population means.
    strata
        Number of strata (finest cells of the protected attributes) or, when the sample
        was drawn with ``cells``, the number of groups it represents.
    population
        Rows in the population.
    ids
        The sampled rows' identities (row ids, or positions), ascending: the sample's order.
    """

    positions: np.ndarray
    weights: np.ndarray
    strata: int
    population: int
    ids: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.weights)


@dataclass(frozen=True)
class SamplePlan:
    """How many rows to take from every finest cell (see the module docstring).

    Attributes
    ----------
    attributes
        The protected attributes, in the order of the cells' label columns.
    cells
        One row per finest cell, sorted by its labels: the label columns, ``n`` (rows),
        ``pi`` (inclusion probability) and ``take`` (rows to draw).
    strata, population, seed
        As in :class:`Sample`; ``seed`` seeds the row keys.
    """

    attributes: list[str]
    cells: pd.DataFrame
    strata: int
    population: int
    seed: int

    @property
    def take(self) -> np.ndarray:
        return self.cells["take"].to_numpy(dtype="int64")

    @property
    def weights(self) -> np.ndarray:
        """``1 / π`` per cell (0 for cells nothing is drawn from)."""
        pi = self.cells["pi"].to_numpy(dtype="float64")
        with np.errstate(divide="ignore"):
            return np.where(pi > 0, 1.0 / pi, 0.0)

    @property
    def size(self) -> int:
        return int(self.take.sum())

    def cell_of(self, labels: Mapping[str, Any]) -> np.ndarray:
        """The index (into :attr:`cells`) of every row's cell.

        ``labels`` maps each attribute to the rows' labels (an array or a Categorical, as
        :func:`fairaudit.engines.local._protected_values` gives). A combination absent from
        the plan (a row that was not counted) raises :class:`InputError`.
        """
        levels = self._levels()
        n = len(next(iter(labels.values()))) if labels else 0
        key = np.zeros(n, dtype="int64")
        for a in self.attributes:
            lv = levels[a]
            values = labels[a]
            if isinstance(values, pd.Categorical):
                m = lv.get_indexer(values.categories.astype(object))
                code = np.where(values.codes >= 0, m[values.codes], -1)
            else:
                code = lv.get_indexer(pd.Index(np.asarray(values, dtype=object)))
            if (code < 0).any():
                raise InputError(
                    f"a row's {a!r} value was not counted when the sample was planned",
                    fix="the data changed while the audit ran: rerun it",
                )
            key = key * len(lv) + code
        ref = self._keys()
        pos = np.searchsorted(ref, key)
        pos = np.minimum(pos, len(ref) - 1)
        if len(ref) == 0 or (ref[pos] != key).any():
            raise InputError(
                "a row's combination of protected values was not counted when the sample "
                "was planned",
                fix="the data changed while the audit ran: rerun it",
            )
        return pos.astype("int64")

    def _levels(self) -> dict[str, pd.Index]:
        cached = self.__dict__.get("_levels_cache")
        if cached is None:
            cached = {
                a: pd.Index(sorted(self.cells[a].astype(object).unique()), dtype=object)
                for a in self.attributes
            }
            object.__setattr__(self, "_levels_cache", cached)
        return cached

    def _keys(self) -> np.ndarray:
        cached = self.__dict__.get("_keys_cache")
        if cached is None:
            levels = self._levels()
            width = 1
            for a in self.attributes:
                width *= len(levels[a])
            if width >= 1 << 62:
                raise InputError(
                    "too many combinations of protected values to draw a stratified sample",
                    fix="audit fewer attributes at once, or group rare values with `labels`",
                )
            cached = np.zeros(len(self.cells), dtype="int64")
            for a in self.attributes:
                code = levels[a].get_indexer(pd.Index(self.cells[a].astype(object)))
                cached = cached * len(levels[a]) + code
            if np.any(np.diff(cached) <= 0):  # pragma: no cover - cells are sorted and unique
                raise AssertionError("sample plan cells are not sorted")
            object.__setattr__(self, "_keys_cache", cached)
        return cached


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 that scrambles every bit."""
    z = z ^ (z >> _U64(30))
    z = z * _U64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> _U64(27))
    z = z * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def row_keys(ids: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two seeded pseudo-random ``uint64`` keys per row, from the rows' identities alone.

    ``ids`` are the rows' ids (numbers or text) or positions. The keys do not depend on
    the rows' order, on batches or on partitions; the second key breaks ties of the first.
    """
    values = ids.to_numpy() if isinstance(ids, pd.Series | pd.Index) else np.asarray(ids)
    if values.dtype.kind not in "iufb":
        values = np.asarray(values, dtype=object)
    h = pd.util.hash_array(values, categorize=False).astype(_U64)
    s = np.uint64(seed % (1 << 64))
    one = np.array([s * _U64(2) + _U64(1), s * _U64(2) + _U64(2)], dtype=_U64)
    salt = _mix(one)
    return _mix(h ^ salt[0]), _mix(h ^ salt[1])


def bottom_k(cell: np.ndarray, keys: tuple[np.ndarray, np.ndarray], take: np.ndarray) -> np.ndarray:
    """Which rows are among the ``take[cell]`` smallest keys of their cell (a bool mask)."""
    n = len(cell)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    cell = np.asarray(cell, dtype="int64")
    order = np.lexsort((keys[1], keys[0], cell))
    c = cell[order]
    first = np.searchsorted(c, c, side="left")
    rank = np.arange(n) - first
    mask[order[rank < np.asarray(take, dtype="int64")[c]]] = True
    return mask


def _finest(counts: pd.DataFrame, attributes: list[str]) -> pd.DataFrame:
    """Cell counts summed per distinct combination, sorted by the labels."""
    frame = counts.loc[:, [*attributes, "n"]].copy()
    for a in attributes:
        frame[a] = frame[a].astype(object)
    if attributes:
        frame = frame.groupby(attributes, sort=True, dropna=False)["n"].sum().reset_index()
    frame["n"] = frame["n"].astype("int64")
    return frame[frame["n"] > 0].reset_index(drop=True)


def sample_plan(
    counts: pd.DataFrame,
    size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
    *,
    cells: Sequence[Sequence[str]] | None = None,
    attributes: Sequence[str] | None = None,
) -> SamplePlan:
    """The sample's plan from the rows per finest cell (see the module docstring).

    Parameters
    ----------
    counts
        One row per combination of the attributes' labels (text, no missing values) with
        its number of rows in ``n``; the same combination may appear several times (partial
        counts of batches or partitions): they are added.
    size
        Rows wanted; all rows when the population is not larger.
    seed
        Seeds the rounding of the cells' takes (and, through :func:`row_keys`, the rows).
    cells
        Attribute sets whose every group must be represented (the audit's groupings).
    attributes
        The label columns (default: every column of ``counts`` but ``n``).
    """
    if size < 1:
        raise InputError(f"the explanation sample size must be at least 1, got {size}")
    attrs = [str(a) for a in (attributes if attributes is not None else counts.columns)]
    attrs = [a for a in attrs if a != "n"]
    table = _finest(counts, attrs)
    n_c = table["n"].to_numpy(dtype="int64")
    n = int(n_c.sum())
    if n == 0:
        table["pi"] = np.zeros(0)
        table["take"] = np.zeros(0, dtype="int64")
        return SamplePlan(attrs, table, 0, 0, seed)
    if cells is not None and size < n:
        pi, take, strata = _group_takes(table, n_c, [list(c) for c in cells], size, seed)
    else:
        take = _stratum_takes(n_c, size)
        pi = take / n_c
        strata = len(n_c)
    table["pi"] = pi
    table["take"] = take.astype("int64")
    return SamplePlan(attrs, table, strata, n, seed)


def _stratum_takes(counts: np.ndarray, size: int) -> np.ndarray:
    """Rows per finest cell: a floor each, the rest in proportion (largest remainders)."""
    n, k = int(counts.sum()), len(counts)
    if size >= n:
        return counts.copy()
    floor = np.minimum(counts, max(1, size // (2 * k)))
    left = max(size - int(floor.sum()), 0)
    spare = counts - floor
    if not (left and spare.sum()):
        return floor
    share = spare / spare.sum() * left
    extra = np.floor(share).astype("int64")
    rest = left - int(extra.sum())
    order = np.argsort(-(share - extra), kind="stable")
    extra[order[:rest]] += 1
    return floor + np.minimum(extra, spare)


def _group_takes(
    table: pd.DataFrame, n_c: np.ndarray, cells: list[list[str]], size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """πps with a floor for every group of every grouping, from the cell counts."""
    groups = [table.groupby(c, sort=False, dropna=False)["n"].transform("sum") for c in cells]
    k = int(sum(table.groupby(c, dropna=False).ngroups for c in cells))
    m = max(1, size // (2 * k))
    need = np.zeros(len(n_c))
    for n_g in groups:
        g = n_g.to_numpy(dtype="float64")
        need = np.maximum(need, np.minimum(g, m) / g)

    def total(base: float) -> float:
        return float(np.sum(n_c * np.minimum(1.0, np.maximum(base, need))))

    # the floors alone may already exceed `size` (base 0); else bisect for the base
    base = 0.0
    if total(0.0) < size:
        lo, base = 0.0, 1.0
        for _ in range(100):
            mid = (lo + base) / 2
            lo, base = (mid, base) if total(mid) < size else (lo, mid)
    pi = np.minimum(1.0, np.maximum(base, need))
    expected = n_c * pi
    take = np.where(pi >= 1.0, n_c, 0).astype("int64")
    partial = np.flatnonzero(pi < 1.0)
    if len(partial):
        u = float(np.random.default_rng(seed).random())
        cum = np.cumsum(expected[partial])
        prev = np.concatenate([[0.0], cum[:-1]])
        got = np.floor(cum + u) - np.floor(prev + u)
        take[partial] = np.clip(got.astype("int64"), 0, n_c[partial])
    return pi, take, k


def stratified_sample(
    groups: pd.DataFrame,
    size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
    *,
    cells: Sequence[Sequence[str]] | None = None,
    ids: Any = None,
) -> Sample:
    """A seeded sample of a population in memory in which every group is represented.

    The same plan and draw as the audit's (see the module docstring), on a frame of the
    protected attributes (one row per population row; missing values form their own
    stratum).

    Parameters
    ----------
    groups
        One row per population row, one column per protected attribute.
    size
        Rows wanted; all rows when the population is not larger.
    seed
        Seed of the draw: same groups, size, ids and seed = same sample.
    cells
        Column sets whose every group must be represented (see the module docstring).
    ids
        The rows' identities (default: their positions); the draw depends on them, not on
        the rows' order.
    """
    if size < 1:
        raise InputError(f"the explanation sample size must be at least 1, got {size}")
    n = len(groups)
    if n == 0:
        return Sample(np.zeros(0, dtype="int64"), np.zeros(0), 0, 0, np.zeros(0, dtype="int64"))
    attrs = [str(c) for c in groups.columns]
    labels = pd.DataFrame(
        {
            str(c): groups[c].astype(object).where(groups[c].notna(), _MISSING).astype(str)
            for c in groups.columns
        }
    )
    counts = labels.value_counts(sort=False).rename("n").reset_index()
    plan = sample_plan(counts, size, seed, cells=cells, attributes=attrs)
    cell = plan.cell_of({a: labels[a].to_numpy(dtype=object) for a in attrs})
    row_ids = np.arange(n, dtype="int64") if ids is None else np.asarray(ids)
    chosen = np.flatnonzero(bottom_k(cell, row_keys(row_ids, seed), plan.take))
    order = pd.Series(row_ids[chosen]).sort_values(kind="stable").index.to_numpy()
    pos = chosen[order]
    return Sample(pos.astype("int64"), plan.weights[cell[pos]], plan.strata, n, row_ids[pos])
