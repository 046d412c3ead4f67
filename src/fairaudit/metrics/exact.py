"""Exact, order-independent sums of floating-point values per slot.

A floating-point sum depends on the order of its terms: summing the same scores batch by
batch, or partition by partition on a Spark cluster, gives results that differ in the last
bits. Audits promise that every engine and every batch size gives *identical* results, so
the additive float sums (score sums per histogram bin, regression sums) are kept exactly:
every float64 is an integer times a power of two, so it is split into 32-bit limbs on one
fixed binary grid (bit 0 = 2**-1126, below the smallest subnormal's lowest bit), limbs are
summed as integers per slot, and only the final total is rounded, once and correctly, to
float64. Integer sums are associative, so any split of the rows gives the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ExactSums", "Terms", "exact_int", "split", "to_float"]

_LIMB = 32
_MASK = (1 << _LIMB) - 1
# frexp gives x = m * 2**e with 0.5 <= |m| < 1 and e >= -1073; M = m * 2**53 is an integer
# and x = M * 2**(e - 53), whose lowest bit is >= 2**-1126.
_BIAS = 1126
# Rows summed per bincount call: each limb term is below 2**32, so 2**20 of them sum
# exactly in float64 (below 2**53).
_BLOCK = 1 << 20


@dataclass
class ExactSums:
    """Exact sums of float64 values into ``size`` slots; additive, order-independent.

    Attributes
    ----------
    size
        Number of slots.
    limbs
        Limb index -> int64 array of ``size`` (slot sums of that limb, carries normalised
        so every limb but the top one stays in ``[0, 2**32)``).
    """

    size: int
    limbs: dict[int, np.ndarray] = field(default_factory=dict)

    def add(self, index: np.ndarray, values: np.ndarray | Terms) -> None:
        """Add ``values[i]`` to slot ``index[i]`` for every i (values finite).

        ``values`` may be :func:`split` already (to add the same values to several tables).
        """
        terms = values if isinstance(values, Terms) else split(values)
        index = np.asarray(index, dtype="int64")[terms.nonzero]
        if len(index) != len(terms.limb):
            raise ValueError("index and values differ in length")
        for start in range(0, len(index), _BLOCK):
            stop = start + _BLOCK
            self._add_block(index[start:stop], terms, start, stop)

    def _add_block(self, index: np.ndarray, terms: Terms, start: int, stop: int) -> None:
        if len(index) == 0:
            return
        rel = terms.limb[start:stop]
        width = terms.width
        total = np.zeros(self.size * width, dtype="float64")
        for c, chunk in enumerate(terms.chunks):
            total += np.bincount(
                index * width + rel + c, weights=chunk[start:stop], minlength=self.size * width
            )
        table = total.reshape(self.size, width).astype("int64")
        for k in range(width):
            col = table[:, k]
            if col.any():
                self._add_limb(terms.first + k, col)
        self._normalise()

    def _add_limb(self, j: int, col: np.ndarray) -> None:
        if j in self.limbs:
            self.limbs[j] = self.limbs[j] + col
        else:
            self.limbs[j] = col.copy()

    def _normalise(self) -> None:
        """Propagate carries so limbs stay small (no int64 overflow, ever)."""
        j = min(self.limbs) if self.limbs else 0
        while self.limbs and j <= max(self.limbs):
            col = self.limbs.get(j)
            if col is not None:
                # truncated toward zero: limbs keep their sign, |limb| < 2**32, and a
                # negative total needs no infinite chain of -1 carries
                carry = np.sign(col) * (np.abs(col) >> _LIMB)
                if carry.any():
                    self.limbs[j] = col - (carry << _LIMB)
                    self._add_limb(j + 1, carry)
            j += 1

    def __add__(self, other: ExactSums) -> ExactSums:
        if other.size != self.size:
            raise ValueError("cannot add exact sums of different sizes")
        out = ExactSums(self.size, {j: v.copy() for j, v in self.limbs.items()})
        for j, v in other.limbs.items():
            out._add_limb(j, v)
        out._normalise()
        return out

    def to_ints(self) -> list[int]:
        """The exact sums, in units of ``2**-1126`` (Python integers: compare them exactly)."""
        out = [0] * self.size
        for j, v in self.limbs.items():
            for slot in np.flatnonzero(v):
                out[slot] += int(v[slot]) << (_LIMB * j)
        return out

    def to_float(self) -> np.ndarray:
        """The sums, each correctly rounded to float64."""
        out = np.zeros(self.size, dtype="float64")
        if not self.limbs:
            return out
        order = sorted(self.limbs)
        stacked = np.stack([self.limbs[j] for j in order])
        for slot in np.flatnonzero(stacked.any(axis=0)):
            total = 0
            for j, v in zip(order, stacked[:, slot], strict=True):
                total += int(v) << (_LIMB * j)
            out[slot] = _scaled(total)
        return out


@dataclass(frozen=True)
class Terms:
    """Values split into signed 32-bit limb terms on the fixed grid (see :func:`split`)."""

    nonzero: np.ndarray  # which values are not zero (zeros add nothing)
    limb: np.ndarray  # per nonzero value: its lowest limb, relative to ``first``
    first: int
    width: int  # limbs spanned by the batch (+2 for a value's upper chunks)
    chunks: tuple[np.ndarray, np.ndarray, np.ndarray]  # signed terms, as float64


def split(values: np.ndarray) -> Terms:
    """Split finite float64 values into exact limb terms (once per batch)."""
    values = np.asarray(values, dtype="float64")
    nz = values != 0
    v = values[nz]
    if not np.isfinite(v).all():
        raise ValueError("exact sums need finite values")
    if len(v) == 0:
        empty = np.zeros(0)
        return Terms(nz, np.zeros(0, dtype="int64"), 0, 1, (empty, empty, empty))
    m, e = np.frexp(v)
    mant = np.ldexp(np.abs(m), 53).astype("int64")  # exact: 53 significant bits
    sign = np.where(v < 0, -1.0, 1.0)
    pos = e.astype("int64") - 53 + _BIAS
    j = pos >> 5
    s = pos & 31
    chunks = (
        sign * ((mant & ((np.int64(1) << (32 - s)) - 1)) << s).astype("float64"),
        sign * ((mant >> (32 - s)) & _MASK).astype("float64"),
        sign * ((mant >> 32) >> (32 - s)).astype("float64"),
    )
    first = int(j.min())
    return Terms(nz, j - first, first, int(j.max()) - first + 3, chunks)


def exact_int(value: float) -> int:
    """A finite float64 in the units of :meth:`ExactSums.to_ints` (exactly)."""
    num, den = float(value).as_integer_ratio()  # den is a power of two, at most 2**1074
    return num * ((1 << _BIAS) // den)


def to_float(total: int) -> float:
    """An exact sum in units of ``2**-1126``, correctly rounded to float64."""
    return _scaled(total)


def _scaled(total: int) -> float:
    """``total * 2**-_BIAS`` correctly rounded (Python's int/int division rounds once)."""
    try:
        return total / (1 << _BIAS)
    except OverflowError:
        return float("inf") if total > 0 else float("-inf")
