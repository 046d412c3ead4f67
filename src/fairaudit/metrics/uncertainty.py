"""Confidence intervals computed from counts.

Wilson score intervals for rates. With sample weights the rate is the weighted share and
the interval uses Kish's effective sample size ``n_eff = (Σw)² / Σw²`` of the
denominator's rows in place of ``n`` — exact for equal weights, and the standard
design-effect correction otherwise.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

__all__ = [
    "effective_n",
    "katz_interval",
    "multinomial_bootstrap",
    "newcombe_interval",
    "percentile_interval",
    "wilson_interval",
    "z_value",
]


def z_value(confidence: float = 0.95) -> float:
    """Two-sided normal quantile for ``confidence`` (1.959963984540054 for 0.95)."""
    return float(norm.ppf(0.5 + confidence / 2.0))


def effective_n(sum_w: np.ndarray, sum_w2: np.ndarray) -> np.ndarray:
    """Kish's effective sample size ``(Σw)² / Σw²`` (0 where there are no rows)."""
    sum_w = np.asarray(sum_w, dtype="float64")
    sum_w2 = np.asarray(sum_w2, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sum_w2 > 0, sum_w * sum_w / np.where(sum_w2 > 0, sum_w2, 1.0), 0.0)


def wilson_interval(
    p: np.ndarray, n: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for proportions ``p`` observed on ``n`` trials.

    Returns NaN bounds where ``n`` is 0 (the rate is undefined).
    """
    p = np.asarray(p, dtype="float64")
    n = np.asarray(n, dtype="float64")
    z = z_value(confidence)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
        lo = np.clip(centre - half, 0.0, 1.0)
        hi = np.clip(centre + half, 0.0, 1.0)
    bad = ~(n > 0) | ~np.isfinite(p)
    lo = np.where(bad, np.nan, lo)
    hi = np.where(bad, np.nan, hi)
    # Exact endpoints at the boundaries (avoid 1e-17 rounding noise in published numbers).
    lo = np.where(~bad & (p <= 0.0), 0.0, lo)
    hi = np.where(~bad & (p >= 1.0), 1.0, hi)
    return lo, hi


def newcombe_interval(
    p1: np.ndarray,
    n1: np.ndarray,
    p2: np.ndarray,
    n2: np.ndarray,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``p1 - p2`` (Newcombe 1998, method 10).

    Built from the two Wilson intervals; NaN where either rate is undefined.
    """
    p1, n1, p2, n2 = (np.asarray(a, dtype="float64") for a in (p1, n1, p2, n2))
    l1, u1 = wilson_interval(p1, n1, confidence)
    l2, u2 = wilson_interval(p2, n2, confidence)
    d = p1 - p2
    with np.errstate(invalid="ignore"):
        lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lo, hi


def katz_interval(
    x1: np.ndarray,
    n1: np.ndarray,
    x2: np.ndarray,
    n2: np.ndarray,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval for the ratio of proportions ``(x1/n1) / (x2/n2)``.

    Katz's log interval, ``exp(log RR ± z·sqrt(1/x1 − 1/n1 + 1/x2 − 1/n2))``, where the
    2×2 table has no empty cell. Where it has one (a rate of 0 or 1), Katz's variance
    degenerates (a rate of 1 contributes no uncertainty at all), so the MOVER-R interval of
    Donner & Zou (2012), built from the two Wilson intervals, is used instead; a ratio over
    a reference rate of 0 stays undefined (NaN). NaN where a denominator is 0.
    """
    x1, n1, x2, n2 = (np.asarray(a, dtype="float64") for a in (x1, n1, x2, n2))
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rr = np.log((x1 / n1) / (x2 / n2))
        se = np.sqrt(1.0 / x1 - 1.0 / n1 + 1.0 / x2 - 1.0 / n2)
        lo, hi = np.exp(log_rr - z * se), np.exp(log_rr + z * se)
        edge = (x1 <= 0) | (x2 <= 0) | (x1 >= n1) | (x2 >= n2)
        p1, p2 = x1 / n1, x2 / n2
        l1, u1 = wilson_interval(p1, n1, confidence)
        l2, u2 = wilson_interval(p2, n2, confidence)
        pp = p1 * p2
        m_lo = (pp - np.sqrt(np.maximum(pp * pp - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2), 0))) / (
            u2 * (2 * p2 - u2)
        )
        m_hi = (pp + np.sqrt(np.maximum(pp * pp - u1 * l2 * (2 * p1 - u1) * (2 * p2 - l2), 0))) / (
            l2 * (2 * p2 - l2)
        )
        m_hi = np.where(l2 > 0, m_hi, np.inf)
    lo = np.where(edge, np.maximum(m_lo, 0.0), lo)
    hi = np.where(edge, m_hi, hi)
    bad = ~((n1 > 0) & (n2 > 0)) | (x2 <= 0) | ~np.isfinite(hi)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def multinomial_bootstrap(
    counts: np.ndarray, replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """Resampled cell counts: ``replicates`` draws of Multinomial(n, counts / n).

    Resampling ``n`` rows with replacement and counting them into cells gives exactly this
    distribution, so the bootstrap costs O(replicates × cells) whatever the number of rows.

    Parameters
    ----------
    counts
        Non-negative integer counts, any shape; flattened for the draw.
    replicates
        Number of bootstrap replicates ``B``.

    Returns
    -------
    numpy.ndarray
        Shape ``(replicates, *counts.shape)``, int64.
    """
    flat = np.asarray(counts, dtype="int64").ravel()
    n = int(flat.sum())
    if n == 0:
        return np.zeros((replicates, *np.shape(counts)), dtype="int64")
    draws = rng.multinomial(n, flat / n, size=replicates)
    return draws.reshape((replicates, *np.shape(counts)))


def percentile_interval(
    samples: np.ndarray, confidence: float = 0.95, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over ``axis``, ignoring undefined (NaN) replicates.

    NaN where fewer than half the replicates are defined (the statistic is too often
    undefined for its bootstrap distribution to mean anything).
    """
    a = np.asarray(samples, dtype="float64")
    alpha = (1.0 - confidence) / 2.0
    finite = np.isfinite(a)
    defined = finite.sum(axis=axis)
    # Replicates last and sorted, undefined ones (NaN) at the end of each row.
    ordered = np.sort(np.moveaxis(np.where(finite, a, np.nan), axis, -1), axis=-1)
    lo = _quantile_of_sorted(ordered, defined, alpha)
    hi = _quantile_of_sorted(ordered, defined, 1 - alpha)
    enough = defined >= a.shape[axis] / 2
    return np.where(enough, lo, np.nan), np.where(enough, hi, np.nan)


def _quantile_of_sorted(ordered: np.ndarray, k: np.ndarray, q: float) -> np.ndarray:
    """``np.nanquantile(row, q)`` of every row whose first ``k`` values are sorted numbers.

    numpy's default (linear) method, step for step — the virtual index ``(k - 1) q``, its
    floor and the two-sided interpolation of ``numpy.lib._function_base_impl._lerp`` — so
    the numbers are numpy's, bit for bit (a test checks), without ``np.nanquantile``'s
    Python loop over rows. NaN where ``k`` is 0.
    """
    virtual = (k - 1) * q
    top = virtual >= k - 1  # at or past the largest value: take it
    prev = np.where(top, k - 1, np.floor(virtual))
    nxt = np.where(top, k - 1, prev + 1)
    gamma = virtual - np.where(top, -1, prev)  # as numpy computes it (irrelevant if top)
    idx = np.maximum(prev, 0).astype(np.intp)[..., None]
    left = np.take_along_axis(ordered, idx, axis=-1)[..., 0]
    idx = np.maximum(nxt, 0).astype(np.intp)[..., None]
    right = np.take_along_axis(ordered, idx, axis=-1)[..., 0]
    diff = right - left
    with np.errstate(invalid="ignore"):
        return np.where(gamma >= 0.5, right - diff * (1 - gamma), left + diff * gamma)
