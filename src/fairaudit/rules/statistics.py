"""Population statistics of rules parameters — ``mean``, ``median``, ``quantile`` — exactly.

A parameter such as ``median(income_pc, household_size)`` summarises every row of the
population. The local engine computes it from all rows in memory; the Spark engine from
summaries that executors compute partition by partition. Both give the same bits because
both follow the same exact definitions, free of floating-point summation order:

* ``mean(x, w)`` is ``Σ x·w / Σ w`` with both sums exact (:mod:`fairaudit.metrics.exact`)
  and rounded once (the products ``x·w`` are rounded per row, identically everywhere);
* the weighted quantile ``q`` is the smallest value ``v`` of ``x`` whose exact cumulative
  weight ``Σ_{x ≤ v} w`` reaches ``T = q · W`` (``W`` the exact total weight rounded to
  float64, ``T`` rounded once). It is always one of the values (no interpolation);
  ``median`` is ``q = 0.5``.

:class:`Summary` is what a batch or partition contributes (additive); :func:`quantile_in`
finishes a quantile from the rows of the bracket known to hold it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fairaudit.metrics.exact import ExactSums, exact_int, to_float

__all__ = ["Summary", "mean", "quantile_in", "weighted_quantile"]

# float64 cumulative sums of n non-negative terms err by at most ~n·2**-53 of the total
_EPS = 2.0**-52


def _exact_total(w: np.ndarray) -> int:
    sums = ExactSums(1)
    sums.add(np.zeros(len(w), dtype="int64"), w)
    return sums.to_ints()[0]


@dataclass
class Summary:
    """Additive summary of ``(x, w)`` pairs (known values, positive weights).

    Attributes
    ----------
    n
        Pairs.
    weight
        ``Σ w``, exact.
    product
        ``Σ x·w`` of the finite products, exact.
    pos_inf, neg_inf, nan
        Products that are ``+inf``, ``-inf`` or ``nan`` (infinite ``x`` times a weight).
    low, high
        Smallest and largest ``x``.
    """

    n: int = 0
    weight: ExactSums = field(default_factory=lambda: ExactSums(1))
    product: ExactSums = field(default_factory=lambda: ExactSums(1))
    pos_inf: int = 0
    neg_inf: int = 0
    nan: int = 0
    low: float = float("inf")
    high: float = float("-inf")

    @classmethod
    def of(cls, x: np.ndarray, w: np.ndarray) -> Summary:
        out = cls(n=len(x))
        if not len(x):
            return out
        zero = np.zeros(len(x), dtype="int64")
        out.weight.add(zero, w)
        p = x * w
        finite = np.isfinite(p)
        out.product.add(zero[finite], p[finite])
        out.pos_inf = int(np.sum(p == np.inf))
        out.neg_inf = int(np.sum(p == -np.inf))
        out.nan = int(np.sum(np.isnan(p)))
        out.low, out.high = float(np.min(x)), float(np.max(x))
        return out

    def __add__(self, other: Summary) -> Summary:
        return Summary(
            n=self.n + other.n,
            weight=self.weight + other.weight,
            product=self.product + other.product,
            pos_inf=self.pos_inf + other.pos_inf,
            neg_inf=self.neg_inf + other.neg_inf,
            nan=self.nan + other.nan,
            low=min(self.low, other.low),
            high=max(self.high, other.high),
        )

    @property
    def total_weight(self) -> float:
        """``W``: the exact total weight, rounded once."""
        return float(self.weight.to_float()[0])

    def mean(self) -> float:
        """``Σ x·w / Σ w`` (see the module docstring)."""
        if self.nan or (self.pos_inf and self.neg_inf):
            return float("nan")
        if self.pos_inf or self.neg_inf:
            return float("inf") if self.pos_inf else float("-inf")
        return float(self.product.to_float()[0]) / self.total_weight

    def target(self, q: float) -> int:
        """``T = q · W`` in the exact units of :meth:`ExactSums.to_ints`."""
        return exact_int(q * self.total_weight)


def mean(x: np.ndarray, w: np.ndarray) -> float:
    """The exact weighted mean of known values (see the module docstring)."""
    return Summary.of(x, w).mean()


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The smallest ``x`` whose exact cumulative weight reaches ``q · W`` (see above)."""
    summary = Summary.of(x, w)
    return quantile_in(x, w, summary.target(q), below=0)


def quantile_in(x: np.ndarray, w: np.ndarray, target: int, *, below: int) -> float:
    """The quantile from the rows of a bracket of values known to hold it.

    Parameters
    ----------
    x, w
        Every row whose value lies in the bracket (any order).
    target
        ``T`` (:meth:`Summary.target`).
    below
        The exact weight of all rows below the bracket (same units).

    Returns the largest value when the cumulative weight never reaches ``T`` (only
    possible when ``T`` was rounded up past the total).
    """
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    n = len(xs)
    if n == 0:
        raise ValueError("no rows to take a quantile of")
    # float cumulative sums find the spot; exact sums decide it
    cw = np.cumsum(ws)
    t = to_float(target - below)
    slack = (n + 2) * _EPS * float(cw[-1]) + abs(t) * _EPS
    # rows before `lo` cannot reach T even with the float sums' largest error
    lo = int(np.searchsorted(cw, t - slack, side="left"))
    acc = below + (_exact_total(ws[:lo]) if lo else 0)
    for i in range(lo, n):
        acc += exact_int(float(ws[i]))
        if acc >= target:
            return float(xs[i])
    return float(xs[-1])
