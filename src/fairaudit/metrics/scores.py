"""Score metrics from additive per-group histograms of scores by label.

Scores (higher = more likely to be selected) are binned into ``bins`` equal bins over
``[low, high]`` plus one bin below and one above the range. From each group's histogram by
label come, exactly for the binned scores:

- ROC AUC (ties within a bin count one half) with a Hanley–McNeil interval;
- calibration: mean score against the observed share of positives in coarse bins;
- a **single-threshold sweep**: every group's rates as one threshold moves over the bin
  edges (group-specific thresholds are often unlawful in public programmes; one threshold
  is not);
- NYC Local Law 144's *scoring rate*: the share of a group scoring above the median of
  everyone's scores, and its impact ratio (scoring rate / the highest group's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairaudit.metrics.uncertainty import wilson_interval, z_value

__all__ = [
    "SWEEP_METRICS",
    "ScoreBins",
    "auc_from_histogram",
    "calibration",
    "median_bin",
    "scoring_rate",
    "sweep",
]

SWEEP_METRICS = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "precision",
)


@dataclass(frozen=True)
class ScoreBins:
    """Fixed bins: ``bins`` equal bins over ``[low, high)``, one slot below ``low`` and one
    for ``high`` and above."""

    low: float = 0.0
    high: float = 1.0
    bins: int = 1000

    @property
    def width(self) -> float:
        return (self.high - self.low) / self.bins

    @property
    def n_slots(self) -> int:
        return self.bins + 2

    def index(self, score: np.ndarray) -> np.ndarray:
        """Slot per score: 0 below ``low``, 1..bins for ``[edge_k, edge_k+1)``, and bins+1
        for ``high`` and above.

        Placed by comparison with :meth:`edges` (not by division), so a score equal to an
        edge — and so to a sweep threshold — is always on the selected side of it.
        """
        s = np.asarray(score, dtype="float64")
        # searchsorted gives edges[k-1] <= s < edges[k] as k, i.e. the slot directly
        return np.searchsorted(self.edges(), s, side="right").astype("int64")

    def edges(self) -> np.ndarray:
        """The ``bins + 1`` bin edges (the last is exactly ``high``)."""
        e = self.low + self.width * np.arange(self.bins + 1)
        e[-1] = self.high
        return e


def auc_from_histogram(
    pos: np.ndarray, neg: np.ndarray, confidence: float = 0.95
) -> tuple[float | None, tuple[float, float] | None]:
    """ROC AUC of binned scores, and its Hanley–McNeil interval (None if undefined)."""
    p_tot, n_tot = float(pos.sum()), float(neg.sum())
    if p_tot == 0 or n_tot == 0:
        return None, None
    below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    auc = float(np.sum(pos * (below + 0.5 * neg)) / (p_tot * n_tot))
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (p_tot - 1) * (q1 - auc * auc) + (n_tot - 1) * (q2 - auc * auc)) / (
        p_tot * n_tot
    )
    half = z_value(confidence) * float(np.sqrt(max(var, 0.0)))
    return auc, (max(0.0, auc - half), min(1.0, auc + half))


def sweep(
    pos: np.ndarray, neg: np.ndarray, bins: ScoreBins, points: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Rates as one threshold moves over ``points`` evenly spaced bin edges.

    Decision = score >= threshold; exact, because every threshold is a bin edge.
    """
    if bins.bins % (points - 1):
        raise ValueError("points - 1 must divide the number of bins")
    step = bins.bins // (points - 1)
    edge_idx = np.arange(points) * step  # edge e starts slot e + 1
    # selected = slots e+1 .. bins+1 (overflow included)
    tail_pos = np.cumsum(pos[::-1])[::-1]
    tail_neg = np.cumsum(neg[::-1])[::-1]
    tp = tail_pos[edge_idx + 1]
    fp = tail_neg[edge_idx + 1]
    p_tot, n_tot = pos.sum(), neg.sum()
    fn = p_tot - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = {
            "selection_rate": (tp + fp) / (p_tot + n_tot),
            "true_positive_rate": tp / p_tot,
            "false_positive_rate": fp / n_tot,
            "false_negative_rate": fn / p_tot,
            "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
        }
    thresholds = bins.edges()[edge_idx]
    return thresholds, rates


def calibration(
    pos: np.ndarray,
    neg: np.ndarray,
    pos_sum: np.ndarray,
    neg_sum: np.ndarray,
    bins: ScoreBins,
    coarse: int,
) -> list[dict[str, float | int | None]]:
    """Mean score vs observed share of positives in ``coarse`` equal bins of the range."""
    if bins.bins % coarse:
        raise ValueError("coarse must divide the number of bins")
    per = bins.bins // coarse
    out: list[dict[str, float | int | None]] = []
    edges = bins.edges()
    for c in range(coarse):
        lo_slot, hi_slot = 1 + c * per, 1 + (c + 1) * per
        if c == 0:
            lo_slot = 0  # underflow joins the first bin
        if c == coarse - 1:
            hi_slot = bins.bins + 2  # overflow joins the last
        n_pos = float(pos[lo_slot:hi_slot].sum())
        n = n_pos + float(neg[lo_slot:hi_slot].sum())
        s = float(pos_sum[lo_slot:hi_slot].sum() + neg_sum[lo_slot:hi_slot].sum())
        observed = n_pos / n if n else None
        ci = wilson_interval(np.array([n_pos / n if n else np.nan]), np.array([n]))
        out.append(
            {
                "low": float(edges[c * per]),
                "high": float(edges[(c + 1) * per]),
                "n": int(n),
                "mean_score": s / n if n else None,
                "observed": observed,
                "observed_ci_low": float(ci[0][0]) if n else None,
                "observed_ci_high": float(ci[1][0]) if n else None,
            }
        )
    return out


def median_bin(total: np.ndarray) -> int:
    """Slot holding the median of all scores (the first slot reaching half the rows)."""
    cum = np.cumsum(total)
    return int(np.searchsorted(cum, cum[-1] / 2.0, side="left"))


def scoring_rate(total: np.ndarray, median_slot: int) -> tuple[float | None, int, int]:
    """Share of a group's scores in slots above the median slot, with its counts."""
    n = int(total.sum())
    above = int(total[median_slot + 1 :].sum())
    return (above / n if n else None), above, n
