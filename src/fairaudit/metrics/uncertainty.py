"""Confidence intervals computed from counts.

Wilson score intervals for rates. With sample weights the rate is the weighted share and
the interval uses Kish's effective sample size ``n_eff = (Σw)² / Σw²`` of the
denominator's rows in place of ``n`` — exact for equal weights, and the standard
design-effect correction otherwise.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

__all__ = ["effective_n", "wilson_interval", "z_value"]


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
