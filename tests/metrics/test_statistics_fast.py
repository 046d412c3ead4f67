"""The vectorised percentile intervals and tests equal the per-column originals, bit for bit.

``percentile_interval`` computes numpy's linear quantile of each column's defined
replicates without ``np.nanquantile``'s Python loop; ``two_proportion_tests`` computes the
chi-square p-values of all groups at once. Published numbers must not move: each is
compared with the straightforward computation with ``==``, not a tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fairaudit.metrics.significance import two_proportion_test, two_proportion_tests
from fairaudit.metrics.uncertainty import _quantile_of_sorted, percentile_interval


def nanquantile_interval(samples, confidence=0.95, axis=0):
    """The straightforward computation: np.nanquantile per column, as before."""
    a = np.asarray(samples, dtype="float64")
    alpha = (1.0 - confidence) / 2.0
    defined = np.isfinite(a).sum(axis=axis)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanquantile(np.where(np.isfinite(a), a, np.nan), alpha, axis=axis)
        hi = np.nanquantile(np.where(np.isfinite(a), a, np.nan), 1 - alpha, axis=axis)
    enough = defined >= a.shape[axis] / 2
    return np.where(enough, lo, np.nan), np.where(enough, hi, np.nan)


@pytest.mark.parametrize("seed", range(24))
def test_percentile_interval_equals_nanquantile(seed) -> None:
    rng = np.random.default_rng(seed)
    b, g = int(rng.integers(1, 2001)), int(rng.integers(1, 10))
    a = rng.random((b, g))
    if seed % 3 == 0:  # ties, as rates of small groups have
        a = np.round(a * 7) / 7
    a[rng.random((b, g)) < rng.random(g) * 0.7] = np.nan  # some columns mostly undefined
    if seed % 4 == 0:
        a[rng.random((b, g)) < 0.05] = np.inf
    if seed % 5 == 0:
        a[:, 0] = np.nan
    for confidence in (0.8, 0.9, 0.95, 0.99):
        for axis in (0, 1):
            got = percentile_interval(a, confidence, axis=axis)
            want = nanquantile_interval(a, confidence, axis=axis)
            for x, y in zip(got, want, strict=True):
                assert np.array_equal(x, y, equal_nan=True)


@pytest.mark.parametrize("q", [0.0, 0.005, 0.025, 0.05, 0.5, 0.95, 0.975, 0.995, 1.0])
def test_quantile_of_sorted_equals_nanquantile_for_every_count(q) -> None:
    rng = np.random.default_rng(7)
    rows = np.round(rng.random((300, 64)) * 9) / 9
    k = np.arange(300) % 65  # 0 (all undefined) to 64 defined values
    rows[np.arange(64)[None, :] >= k[:, None]] = np.nan
    rows = rng.permuted(rows, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanquantile(rows, q, axis=1)
    got = _quantile_of_sorted(np.sort(rows, axis=1), k, q)
    assert np.array_equal(got, want, equal_nan=True)


def test_two_proportion_tests_equal_one_by_one() -> None:
    rng = np.random.default_rng(3)
    methods = set()
    for scale in (5, 30, 1_000, 10**6, 10**8):
        n1 = rng.integers(0, scale + 1, 200)
        n2 = rng.integers(0, scale + 1, 200)
        x1 = (rng.random(200) * (n1 + 1)).astype(int).clip(0, n1)
        x2 = (rng.random(200) * (n2 + 1)).astype(int).clip(0, n2)
        x1[:5], x2[5:10] = 0, n2[5:10]  # all failures, all successes
        got = two_proportion_tests(x1, n1, x2, n2)
        want = [
            two_proportion_test(int(a), int(b), int(c), int(d))
            for a, b, c, d in zip(x1, n1, x2, n2, strict=True)
        ]
        assert got == want
        methods |= {t[0] for t in got if t}
    assert methods == {"chi_square", "fisher_exact", "none"}
