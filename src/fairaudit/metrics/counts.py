"""Sufficient statistics: confusion counts per finest cell of the protected attributes.

One pass over the rows builds a :class:`CellCounts` table: for every combination of
protected-attribute values that occurs (a *cell*), the confusion counts ``tp, fp, fn, tn``
and, with sample weights, their weighted sums ``w_*`` and sums of squared weights ``w2_*``
(for effective sample sizes). Tables are **additive**: the table of a file equals the sum
of the tables of its chunks, whichever engine produced them. Every marginal or
intersectional group is a sum over cells (:meth:`CellCounts.marginal`), never a second
pass over rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["CONFUSION", "CellCounts", "count_cells"]

#: Confusion cells in the order used by :func:`count_cells`: index = 2*label + decision.
CONFUSION = ("tn", "fp", "fn", "tp")
_WEIGHTED = tuple(f"w_{c}" for c in CONFUSION) + tuple(f"w2_{c}" for c in CONFUSION)
# Above this many possible cells, find the occurring ones by sorting instead of a dense
# bincount (keeps memory bounded for high-cardinality attributes).
_DENSE_LIMIT = 1 << 22


@dataclass(frozen=True)
class CellCounts:
    """Per-cell confusion counts (the additive sufficient statistics of an audit).

    Attributes
    ----------
    attributes
        Names of the protected attributes, one index level each.
    frame
        One row per occurring cell, indexed by the attribute values (strings); columns
        ``tn, fp, fn, tp`` (int64) and, when :attr:`weighted`, ``w_*`` and ``w2_*``
        (float64).
    weighted
        Whether weighted sums are present.
    """

    attributes: tuple[str, ...]
    frame: pd.DataFrame
    weighted: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return CONFUSION + (_WEIGHTED if self.weighted else ())

    @classmethod
    def empty(cls, attributes: Sequence[str], *, weighted: bool = False) -> CellCounts:
        """A table with no cells (the neutral element of ``+``)."""
        cols = CONFUSION + (_WEIGHTED if weighted else ())
        index = pd.MultiIndex.from_arrays([[] for _ in attributes], names=list(attributes))
        frame = pd.DataFrame({c: pd.Series([], dtype=_dtype(c)) for c in cols}, index=index)
        return cls(tuple(attributes), frame, weighted)

    def __add__(self, other: CellCounts) -> CellCounts:
        if other.attributes != self.attributes or other.weighted != self.weighted:
            raise ValueError("cannot add counts over different attributes or weighting")
        if len(other.frame) == 0:
            return self
        if len(self.frame) == 0:
            return other
        both = pd.concat([self.frame, other.frame])
        summed = both.groupby(level=list(range(len(self.attributes))), sort=False).sum()
        return CellCounts(
            self.attributes, _ensure_multiindex(summed, self.attributes), self.weighted
        )

    def marginal(self, attributes: Sequence[str]) -> CellCounts:
        """Counts summed over every attribute not in ``attributes`` (a group table)."""
        attrs = tuple(attributes)
        missing = [a for a in attrs if a not in self.attributes]
        if missing:
            raise KeyError(f"unknown attributes {missing}")
        if attrs == self.attributes:
            return self
        summed = self.frame.groupby(level=list(attrs), sort=False).sum()
        return CellCounts(attrs, _ensure_multiindex(summed, attrs), self.weighted)

    def total(self) -> pd.Series:
        """Counts over all rows."""
        sums = self.frame.sum(axis=0)
        return pd.Series({c: sums[c] for c in self.columns}, dtype="float64")

    def cell_keys(self) -> list[tuple[str, ...]]:
        """The cells' attribute values, in table order."""
        return [tuple(k) if isinstance(k, tuple) else (k,) for k in self.frame.index]

    @property
    def n(self) -> np.ndarray:
        """Rows per cell."""
        return self.frame[list(CONFUSION)].to_numpy().sum(axis=1)


def _dtype(col: str) -> str:
    return "float64" if col.startswith("w") else "int64"


def _ensure_multiindex(frame: pd.DataFrame, attributes: Sequence[str]) -> pd.DataFrame:
    if not isinstance(frame.index, pd.MultiIndex):
        frame.index = pd.MultiIndex.from_arrays([frame.index], names=list(attributes))
    return frame


def count_cells(
    protected: Mapping[str, np.ndarray | pd.Series],
    label: np.ndarray,
    decision: np.ndarray,
    weight: np.ndarray | None = None,
) -> CellCounts:
    """Count one chunk of rows into a :class:`CellCounts` table.

    Parameters
    ----------
    protected
        Attribute name -> the attribute's value per row (already cleaned: no missing values,
        every value a string).
    label, decision
        0/1 arrays (int8 or bool), one per row.
    weight
        Optional non-negative sample weights, one per row.
    """
    attrs = tuple(protected)
    n_rows = len(label)
    codes_list: list[np.ndarray] = []
    uniques_list: list[np.ndarray] = []
    for a in attrs:
        codes, uniques = pd.factorize(np.asarray(protected[a], dtype=object), sort=False)
        codes_list.append(codes.astype("int64"))
        uniques_list.append(np.asarray(uniques, dtype=object))
    radix = [max(len(u), 1) for u in uniques_list]
    combined = np.zeros(n_rows, dtype="int64")
    for codes, r in zip(codes_list, radix, strict=True):
        combined = combined * r + codes
    n_possible = int(np.prod(radix, dtype="float64"))
    if n_possible <= _DENSE_LIMIT:
        cell_ids = np.arange(n_possible, dtype="int64")
        inverse = combined
    else:
        cell_ids, inverse = np.unique(combined, return_inverse=True)
    n_cells = len(cell_ids)
    conf = 2 * np.asarray(label, dtype="int64") + np.asarray(decision, dtype="int64")
    flat = inverse * 4 + conf
    table = np.bincount(flat, minlength=n_cells * 4).reshape(n_cells, 4)
    data: dict[str, np.ndarray] = {c: table[:, i].astype("int64") for i, c in enumerate(CONFUSION)}
    if weight is not None:
        w = np.asarray(weight, dtype="float64")
        wt = np.bincount(flat, weights=w, minlength=n_cells * 4).reshape(n_cells, 4)
        w2 = np.bincount(flat, weights=w * w, minlength=n_cells * 4).reshape(n_cells, 4)
        for i, c in enumerate(CONFUSION):
            data[f"w_{c}"] = wt[:, i]
        for i, c in enumerate(CONFUSION):
            data[f"w2_{c}"] = w2[:, i]
    occupied = table.sum(axis=1) > 0
    ids = cell_ids[occupied]
    # Decode mixed-radix cell ids back to attribute values.
    levels: list[np.ndarray] = []
    rem = ids.copy()
    for uniques, r in zip(reversed(uniques_list), reversed(radix), strict=True):
        levels.append(uniques[rem % r] if len(uniques) else np.array([], dtype=object))
        rem //= r
    levels.reverse()
    index = pd.MultiIndex.from_arrays([lv.astype(object) for lv in levels], names=list(attrs))
    frame = pd.DataFrame({c: v[occupied] for c, v in data.items()}, index=index)
    return CellCounts(attrs, frame, weight is not None)
