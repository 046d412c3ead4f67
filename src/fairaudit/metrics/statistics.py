"""Every number of one attribute set's groups, with its uncertainty, from the group counts.

Given the confusion counts of the groups of one attribute set (e.g. every region, or every
region × sex) and the index of their reference group, :func:`grouping_statistics` computes:

- each metric per group, with a Wilson interval (Kish's effective size under weights);
- each group's difference and ratio to the reference, with Newcombe's and Katz's intervals;
- fairlearn's between-groups difference (max − min) and ratio (min / max);
- an exact multinomial bootstrap of all of the above: resampling rows with replacement
  gives group × confusion-cell counts ~ Multinomial(n, p̂), so each replicate costs
  O(cells), not O(rows). Percentile intervals, seeded. With weights, each replicate keeps
  the mean weight of every group × confusion cell and rescales its weighted total by the
  resampled count — it captures the sampling of rows, not the dispersion of weights
  within a cell (the Kish-adjusted Wilson interval accounts for that);
- a test of each group against the reference for each metric (Fisher's exact test or
  chi-square, see :mod:`fairaudit.metrics.significance`), adjusted later across the audit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fairaudit.metrics.counts import CONFUSION
from fairaudit.metrics.rates import METRICS, metric_table
from fairaudit.metrics.significance import two_proportion_tests
from fairaudit.metrics.uncertainty import (
    effective_n,
    katz_interval,
    multinomial_bootstrap,
    newcombe_interval,
    percentile_interval,
)

__all__ = ["GroupingStats", "grouping_statistics"]

_IDX = {c: i for i, c in enumerate(CONFUSION)}

Pair = tuple[np.ndarray, np.ndarray]


@dataclass
class GroupingStats:
    """Statistics of the groups of one attribute set (arrays indexed by group)."""

    n: np.ndarray
    ref: int
    value: dict[str, np.ndarray]
    denominator: dict[str, np.ndarray]
    ci: dict[str, Pair]
    difference: dict[str, np.ndarray]
    ratio: dict[str, np.ndarray]
    difference_ci: dict[str, Pair]
    ratio_ci: dict[str, Pair]
    tests: dict[str, list[tuple[str, float] | None]]
    between: dict[str, tuple[float | None, float | None]]
    boot_ci: dict[str, Pair] = field(default_factory=dict)
    boot_difference_ci: dict[str, Pair] = field(default_factory=dict)
    boot_ratio_ci: dict[str, Pair] = field(default_factory=dict)
    boot_between_ci: dict[str, tuple[Pair, Pair]] = field(default_factory=dict)


def _sum_cells(arr: np.ndarray, cells: Sequence[str]) -> np.ndarray:
    return np.sum(arr[..., [_IDX[c] for c in cells]], axis=-1)


def _rates(
    counts: np.ndarray, weights: np.ndarray | None, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Metric values for counts of shape (..., groups, 4); NaN where undefined."""
    basis = counts if weights is None else weights
    # Metrics share numerators and denominators: sum each set of cells once.
    sums: dict[tuple[bool, tuple[str, ...]], np.ndarray] = {}

    def summed(weighted: bool, cells: tuple[str, ...]) -> np.ndarray:
        key = (weighted and weights is not None, cells)
        if key not in sums:
            sums[key] = _sum_cells(basis if key[0] else counts, cells)
        return sums[key]

    out = {}
    for name in names if names is not None else METRICS:
        m = METRICS[name]
        num = summed(True, m.numerator)
        den = summed(True, m.denominator)
        rows = summed(False, m.denominator)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where((rows > 0) & (den > 0), num / np.where(den > 0, den, 1), np.nan)
    return out


def _between(values: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    v = np.where(np.isfinite(values), values, np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # groups all undefined -> NaN
        hi, lo = np.nanmax(v, axis=axis), np.nanmin(v, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return hi - lo, np.where(hi != 0, lo / hi, np.nan)


def grouping_statistics(
    frame: pd.DataFrame,
    *,
    ref: int,
    weighted: bool,
    confidence: float,
    replicates: int,
    rng: np.random.Generator | None,
    metrics: Sequence[str] | None = None,
) -> GroupingStats:
    """Compute every statistic for the groups in ``frame`` (one row per group).

    Parameters
    ----------
    frame
        Group counts: ``tn, fp, fn, tp`` and, if ``weighted``, ``w_*`` and ``w2_*``.
    ref
        Row index of the reference group.
    replicates
        Bootstrap replicates (0 = no bootstrap).
    rng
        Random generator for the bootstrap (seeded by the caller).
    metrics
        Metrics to compute (default: all).
    """
    names = list(metrics) if metrics is not None else list(METRICS)
    counts = frame[list(CONFUSION)].to_numpy(dtype="int64")
    wsum = frame[[f"w_{c}" for c in CONFUSION]].to_numpy("float64") if weighted else None
    table = metric_table(frame, weighted=weighted, confidence=confidence)
    n = counts.sum(axis=1)
    value: dict[str, np.ndarray] = {}
    denominator: dict[str, np.ndarray] = {}
    ci: dict[str, Pair] = {}
    difference: dict[str, np.ndarray] = {}
    ratio: dict[str, np.ndarray] = {}
    difference_ci: dict[str, Pair] = {}
    ratio_ci: dict[str, Pair] = {}
    tests: dict[str, list[tuple[str, float] | None]] = {}
    between: dict[str, tuple[float | None, float | None]] = {}
    for name in names:
        m = METRICS[name]
        v, lo, hi = table[name]
        value[name], ci[name] = v, (lo, hi)
        rows_den = _sum_cells(counts, m.denominator).astype("float64")
        rows_num = _sum_cells(counts, m.numerator).astype("float64")
        denominator[name] = rows_den
        if weighted:
            assert wsum is not None
            w2 = frame[[f"w2_{c}" for c in CONFUSION]].to_numpy("float64")
            eff = effective_n(_sum_cells(wsum, m.denominator), _sum_cells(w2, m.denominator))
        else:
            eff = rows_den
        x_eff = np.where(np.isfinite(v), v * eff, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            difference[name] = v - v[ref]
            ratio[name] = np.where(v[ref] != 0, v / v[ref], np.nan)
        difference_ci[name] = newcombe_interval(
            v, eff, np.full_like(v, v[ref]), np.full_like(eff, eff[ref]), confidence
        )
        ratio_ci[name] = katz_interval(
            x_eff,
            eff,
            np.full_like(x_eff, x_eff[ref]),
            np.full_like(eff, eff[ref]),
            confidence,
        )
        tests[name] = two_proportion_tests(
            rows_num,
            rows_den,
            np.full_like(rows_num, rows_num[ref]),
            np.full_like(rows_den, rows_den[ref]),
        )
        tests[name][ref] = None
        d, r = _between(v)
        between[name] = (
            None if not np.isfinite(d) else float(d),
            None if not np.isfinite(r) else float(r),
        )
    stats = GroupingStats(
        n=n,
        ref=ref,
        value=value,
        denominator=denominator,
        ci=ci,
        difference=difference,
        ratio=ratio,
        difference_ci=difference_ci,
        ratio_ci=ratio_ci,
        tests=tests,
        between=between,
    )
    if replicates > 0 and rng is not None:
        _bootstrap(stats, counts, wsum, names, replicates, rng, confidence)
    return stats


def _bootstrap(
    stats: GroupingStats,
    counts: np.ndarray,
    wsum: np.ndarray | None,
    names: Sequence[str],
    replicates: int,
    rng: np.random.Generator,
    confidence: float,
) -> None:
    draws = multinomial_bootstrap(counts, replicates, rng)  # (B, G, 4)
    wdraws = None
    if wsum is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_w = np.where(counts > 0, wsum / np.where(counts > 0, counts, 1), 0.0)
        wdraws = draws * mean_w[None, :, :]
    rates = _rates(draws, wdraws, names)
    ref = stats.ref
    for name in names:
        v = rates[name]  # (B, G)
        stats.boot_ci[name] = percentile_interval(v, confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = v - v[:, [ref]]
            rat = np.where(v[:, [ref]] != 0, v / v[:, [ref]], np.nan)
        stats.boot_difference_ci[name] = percentile_interval(diff, confidence)
        stats.boot_ratio_ci[name] = percentile_interval(rat, confidence)
        bd, br = _between(v, axis=1)
        stats.boot_between_ci[name] = (
            percentile_interval(bd[:, None], confidence),
            percentile_interval(br[:, None], confidence),
        )
