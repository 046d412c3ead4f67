"""Tests of each group against its reference, and corrections for multiple comparisons.

For a rate metric, a group and its reference form a 2×2 table (numerator, rest of the
denominator) × (group, reference). Fisher's exact test is used when any expected cell is
below 5, otherwise Pearson's chi-square test without continuity correction (the same
p-value as the two-proportion z-test). Tests use the unweighted counts.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import chdtrc
from scipy.stats import chi2_contingency, false_discovery_control, fisher_exact

__all__ = ["adjust_p_values", "two_proportion_test", "two_proportion_tests"]

Correction = Literal["holm", "bh", "none"]


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> tuple[str, float] | None:
    """``(method, p_value)`` comparing ``x1/n1`` with ``x2/n2``; None if a rate is undefined."""
    if n1 <= 0 or n2 <= 0:
        return None
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]], dtype="float64")
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    total = table.sum()
    if np.any(cols == 0):
        return "none", 1.0  # both groups all successes or all failures: no difference
    expected = np.outer(rows, cols) / total
    if expected.min() < 5:
        res = fisher_exact(table.astype("int64"), alternative="two-sided")
        return "fisher_exact", float(res.pvalue)
    res = chi2_contingency(table, correction=False)
    return "chi_square", float(res.pvalue)


def two_proportion_tests(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray
) -> list[tuple[str, float] | None]:
    """:func:`two_proportion_test` for arrays of groups at once (the same p-values).

    The chi-square statistic and its p-value are computed for all groups together, with
    the very operations ``scipy.stats.chi2_contingency`` applies to one table, so the
    p-values are identical; the few tables that need Fisher's exact test are tested one by
    one.
    """
    x1, n1, x2, n2 = (np.asarray(a, dtype="float64") for a in (x1, n1, x2, n2))
    table = np.stack([np.stack([x1, n1 - x1], -1), np.stack([x2, n2 - x2], -1)], -2)
    rows = table.sum(axis=-1)  # (G, 2)
    cols = table.sum(axis=-2)  # (G, 2)
    total = table.reshape(-1, 4).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = rows[:, :, None] * cols[:, None, :] / total[:, None, None]
        stat = ((table - expected) ** 2 / expected).reshape(-1, 4).sum(axis=-1)
    p_chi = chdtrc(1.0, stat)
    defined = (n1 > 0) & (n2 > 0)
    degenerate = (cols == 0).any(axis=-1)
    small = expected.reshape(-1, 4).min(axis=-1) < 5
    out: list[tuple[str, float] | None] = []
    for i in range(len(x1)):
        if not defined[i]:
            out.append(None)
        elif degenerate[i]:
            out.append(("none", 1.0))
        elif small[i]:
            res = fisher_exact(table[i].astype("int64"), alternative="two-sided")
            out.append(("fisher_exact", float(res.pvalue)))
        else:
            out.append(("chi_square", float(p_chi[i])))
    return out


def adjust_p_values(p: np.ndarray, method: Correction = "holm") -> np.ndarray:
    """Adjusted p-values: Holm's step-down (FWER) or Benjamini–Hochberg (FDR).

    NaN entries (no test) are left NaN and do not count towards the family size.
    """
    p = np.asarray(p, dtype="float64")
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    vals = p[ok]
    m = len(vals)
    if m == 0 or method == "none":
        out[ok] = vals
        return out
    if method == "bh":
        out[ok] = false_discovery_control(vals, method="bh")
        return out
    order = np.argsort(vals, kind="stable")
    stepped = (m - np.arange(m)) * vals[order]
    adj = np.minimum(np.maximum.accumulate(stepped), 1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out
