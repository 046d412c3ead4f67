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
from typing import Any, cast

import numpy as np
import pandas as pd

__all__ = ["CONFUSION", "CellCounts", "count_cells", "factorize_values"]

#: Confusion cells in the order used by :func:`count_cells`: index = 2*label + decision.
CONFUSION = ("tn", "fp", "fn", "tp")
_WEIGHTED = tuple(f"w_{c}" for c in CONFUSION) + tuple(f"w2_{c}" for c in CONFUSION)
# Above this many possible cells, find the occurring ones by sorting instead of a dense
# bincount (keeps memory bounded for high-cardinality attributes).
_DENSE_LIMIT = 1 << 22
# Rows counted per block by the dense path (a block's key stays in the CPU cache).
_BLOCK_ROWS = 1 << 16


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
    protected: Mapping[str, np.ndarray | pd.Series | pd.Categorical],
    label: np.ndarray,
    decision: np.ndarray,
    weight: np.ndarray | None = None,
) -> CellCounts:
    """Count one chunk of rows into a :class:`CellCounts` table.

    Parameters
    ----------
    protected
        Attribute name -> the attribute's value per row (already cleaned: no missing values,
        every value a string). A :class:`pandas.Categorical` (or a ``category`` Series) is
        counted from its integer codes directly, which is much faster than strings; its
        cells come in the order of its categories, those of other arrays in the order in
        which their values first occur.
    label, decision
        0/1 arrays (int8 or bool), one per row.
    weight
        Optional non-negative sample weights, one per row.

    Raises
    ------
    ValueError
        If the arrays differ in length, an attribute has missing values, or a label or
        decision is not 0/1.
    """
    attrs = tuple(protected)
    n_rows = len(label)
    codes_list: list[np.ndarray] = []
    uniques_list: list[np.ndarray] = []
    for a in attrs:
        codes, uniques = factorize_values(protected[a])
        if len(codes) != n_rows:
            raise ValueError(f"attribute {a!r} has {len(codes)} values for {n_rows} rows")
        if n_rows and int(codes.min()) < 0:
            raise ValueError(f"attribute {a!r} has missing values")
        codes_list.append(codes)
        uniques_list.append(uniques)
    y = _binary(label, "label", n_rows)
    d = _binary(decision, "decision", n_rows)
    w = None
    if weight is not None:
        w = np.ascontiguousarray(weight, dtype="float64")
        if len(w) != n_rows:
            raise ValueError(f"weight has {len(w)} values for {n_rows} rows")
    radix = [max(len(u), 1) for u in uniques_list]
    n_possible = int(np.prod(radix, dtype="float64"))
    if n_possible <= _DENSE_LIMIT:
        cell_ids = np.arange(n_possible, dtype="int64")
        table, wt, w2 = _dense_counts(codes_list, radix, y, d, w, n_possible)
    else:
        cell_ids, table, wt, w2 = _sparse_counts(codes_list, radix, y, d, w)
    data: dict[str, np.ndarray] = {c: table[:, i] for i, c in enumerate(CONFUSION)}
    if wt is not None and w2 is not None:
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


def factorize_values(
    values: np.ndarray | pd.Series | pd.Categorical,
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes per row (-1 = missing) and the distinct values they stand for.

    Categoricals give their codes and categories as they are (no pass over the rows).
    Object arrays and pandas arrays (e.g. Arrow-backed strings) are factorised as they are,
    other numpy arrays (fixed-width strings, numbers) as Python objects, so that their
    values keep their Python types. Values come in the order in which they first occur
    (categories: in their order).

    Returns
    -------
    codes, values
        An integer array (any width) and an object array.
    """
    arr = values.array if isinstance(values, pd.Series | pd.Index) else values
    if isinstance(arr, pd.Categorical):
        return arr.codes, arr.categories.to_numpy(dtype=object)
    if isinstance(arr, np.ndarray) and arr.dtype != object:
        arr = arr.astype(object)
    elif not isinstance(arr, np.ndarray | pd.api.extensions.ExtensionArray):
        arr = np.asarray(arr, dtype=object)
    codes, uniques = pd.factorize(cast(Any, arr), sort=False)
    return codes, np.asarray(uniques, dtype=object)


def _binary(values: np.ndarray, what: str, n_rows: int) -> np.ndarray:
    """``values`` as a 0/1 integer array (bool and integer arrays are not copied)."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "biu":
        arr = arr.astype("int64")
    if len(arr) != n_rows:
        raise ValueError(f"{what} has {len(arr)} values for {n_rows} rows")
    if arr.dtype.kind != "b" and n_rows and (int(arr.min()) < 0 or int(arr.max()) > 1):
        raise ValueError(f"every {what} must be 0 or 1")
    return arr


def _dense_counts(
    codes_list: list[np.ndarray],
    radix: list[int],
    y: np.ndarray,
    d: np.ndarray,
    w: np.ndarray | None,
    n_cells: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Confusion counts of every possible cell (``n_cells`` × 4), and weighted sums.

    The key ``4 * cell + 2 * label + decision`` is built and counted one block of rows at a
    time in the narrowest integer type that holds it, so the block stays in the CPU cache:
    this is faster than building the whole key (several passes over memory) and counting
    it once, which is what a single ``numpy.bincount`` needs.
    """
    n_rows = len(y)
    size = 4 * n_cells
    key_dtype = np.int16 if size <= 1 << 15 else np.int32 if size <= 1 << 31 else np.int64
    # Per-block tables cost O(size); blocks of >= 4 × size rows keep that below a quarter.
    block = max(_BLOCK_ROWS, 4 * size)
    table = np.zeros(size, dtype="int64")
    wt = np.zeros(size, dtype="float64") if w is not None else None
    w2 = np.zeros(size, dtype="float64") if w is not None else None
    buf = np.empty(min(block, n_rows), dtype=key_dtype)
    wbuf = np.empty(min(block, n_rows), dtype="float64") if w is not None else None
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        key = buf[: stop - start]
        np.copyto(key, codes_list[0][start:stop] if codes_list else 0, casting="unsafe")
        # Every value is checked to fit (codes < radix, 0/1 label and decision): unsafe
        # casts into the narrow key are exact.
        for codes, r in zip(codes_list[1:], radix[1:], strict=True):
            np.multiply(key, r, out=key)
            np.add(key, codes[start:stop], out=key, casting="unsafe")
        np.multiply(key, 2, out=key)
        np.add(key, y[start:stop], out=key, casting="unsafe")
        np.multiply(key, 2, out=key)
        np.add(key, d[start:stop], out=key, casting="unsafe")
        table += np.bincount(key, minlength=size)
        if w is not None and wt is not None and w2 is not None and wbuf is not None:
            wb = w[start:stop]
            wt += np.bincount(key, weights=wb, minlength=size)
            sq = np.multiply(wb, wb, out=wbuf[: stop - start])
            w2 += np.bincount(key, weights=sq, minlength=size)
    return (
        table.reshape(n_cells, 4),
        None if wt is None else wt.reshape(n_cells, 4),
        None if w2 is None else w2.reshape(n_cells, 4),
    )


def _sparse_counts(
    codes_list: list[np.ndarray],
    radix: list[int],
    y: np.ndarray,
    d: np.ndarray,
    w: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Occurring cell ids and their counts, when too many cells are possible to be dense."""
    if float(np.prod(radix, dtype="float64")) >= 2.0**62:
        raise ValueError("too many combinations of attribute values to count (over 2**62)")
    combined = np.zeros(len(y), dtype="int64")
    for codes, r in zip(codes_list, radix, strict=True):
        combined *= r
        combined += codes
    cell_ids, inverse = np.unique(combined, return_inverse=True)
    n_cells = len(cell_ids)
    flat = inverse.reshape(-1) * 4 + 2 * y.astype("int64") + d
    table = np.bincount(flat, minlength=n_cells * 4).reshape(n_cells, 4)
    if w is None:
        return cell_ids, table, None, None
    wt = np.bincount(flat, weights=w, minlength=n_cells * 4).reshape(n_cells, 4)
    w2 = np.bincount(flat, weights=w * w, minlength=n_cells * 4).reshape(n_cells, 4)
    return cell_ids, table, wt, w2
