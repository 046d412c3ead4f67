"""The rate metrics, each a ratio of sums of confusion counts (DESIGN.md §5).

Every metric is ``numerator / denominator`` where both are sums of some of the four
confusion cells. That makes every metric computable from the additive per-cell counts, and
makes a Wilson interval available for each (the denominator is the number of trials).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ALIASES",
    "METRICS",
    "RateMetric",
    "canonical_metric",
    "harm_metrics",
    "headline_metric",
    "rate",
]

_CELLS = ("tp", "fp", "fn", "tn")


@dataclass(frozen=True)
class RateMetric:
    """A rate: the share of ``denominator`` rows that are in ``numerator``.

    Attributes
    ----------
    name
        The name used in results.
    numerator, denominator
        Confusion cells summed on each side.
    higher_is_better
        Whether a higher value is better for the people concerned *when selection helps*
        (assistive). For punitive interventions selection harms, so selection_rate flips.
    description
        One line for documentation and cards.
    """

    name: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    higher_is_better: bool
    description: str


METRICS: dict[str, RateMetric] = {
    m.name: m
    for m in (
        RateMetric(
            "selection_rate",
            ("tp", "fp"),
            _CELLS,
            True,
            "share of people the model selects, (tp+fp)/n",
        ),
        RateMetric(
            "prevalence",
            ("tp", "fn"),
            _CELLS,
            True,
            "share of people who are truly positive (eligible), (tp+fn)/n",
        ),
        RateMetric(
            "true_positive_rate",
            ("tp",),
            ("tp", "fn"),
            True,
            "share of the truly positive who are selected, tp/(tp+fn)",
        ),
        RateMetric(
            "false_negative_rate",
            ("fn",),
            ("tp", "fn"),
            False,
            "share of the truly positive who are not selected, fn/(tp+fn)",
        ),
        RateMetric(
            "false_positive_rate",
            ("fp",),
            ("fp", "tn"),
            False,
            "share of the truly negative who are selected, fp/(fp+tn)",
        ),
        RateMetric(
            "true_negative_rate",
            ("tn",),
            ("fp", "tn"),
            True,
            "share of the truly negative who are not selected, tn/(fp+tn)",
        ),
        RateMetric(
            "precision",
            ("tp",),
            ("tp", "fp"),
            True,
            "share of the selected who are truly positive, tp/(tp+fp)",
        ),
        RateMetric(
            "negative_predictive_value",
            ("tn",),
            ("fn", "tn"),
            True,
            "share of the not selected who are truly negative, tn/(fn+tn)",
        ),
        RateMetric(
            "false_discovery_rate",
            ("fp",),
            ("tp", "fp"),
            False,
            "share of the selected who are truly negative, fp/(tp+fp)",
        ),
        RateMetric(
            "false_omission_rate",
            ("fn",),
            ("fn", "tn"),
            False,
            "share of the not selected who are truly positive, fn/(fn+tn)",
        ),
        RateMetric(
            "accuracy",
            ("tp", "tn"),
            _CELLS,
            True,
            "share of decisions that match the truth, (tp+tn)/n",
        ),
    )
}

#: Other names users may write in a spec, and the targeting names of assistive audits.
ALIASES: dict[str, str] = {
    "exclusion_error": "false_negative_rate",
    "inclusion_error": "false_discovery_rate",
    "inclusion_error_fpr": "false_positive_rate",
    "pprev": "selection_rate",
    "predicted_prevalence": "selection_rate",
    "base_rate": "prevalence",
    "recall": "true_positive_rate",
    "coverage": "true_positive_rate",
    "sensitivity": "true_positive_rate",
    "specificity": "true_negative_rate",
    "fnr": "false_negative_rate",
    "fpr": "false_positive_rate",
    "tpr": "true_positive_rate",
    "tnr": "true_negative_rate",
    "fdr": "false_discovery_rate",
    "npv": "negative_predictive_value",
    "for": "false_omission_rate",
    "ppv": "precision",
}

#: Names added to results for assistive interventions (targeting vocabulary).
TARGETING_NAMES: dict[str, str] = {
    "exclusion_error": "false_negative_rate",
    "inclusion_error": "false_discovery_rate",
}


def canonical_metric(name: str) -> str | None:
    """The canonical metric name for ``name`` (an alias or a canonical name), else None."""
    key = name.strip().lower()
    if key in METRICS:
        return key
    return ALIASES.get(key)


def headline_metric(intervention: str) -> str:
    """The headline harm metric: exclusion error (FNR) if selection helps, else FPR."""
    return "false_negative_rate" if intervention == "assistive" else "false_positive_rate"


def harm_metrics(intervention: str) -> tuple[str, ...]:
    """The metrics whose increase harms people, for this intervention (Aequitas' tree)."""
    if intervention == "assistive":
        return ("false_negative_rate", "false_omission_rate")
    return ("false_positive_rate", "false_discovery_rate")


def favourable_is_higher(metric: str, intervention: str) -> bool:
    """Whether a higher value of ``metric`` is better for the people in the group."""
    m = METRICS[metric]
    if metric == "selection_rate":
        return intervention == "assistive"
    return m.higher_is_better


def rate(metric: RateMetric, counts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of ``metric`` for arrays of confusion counts.

    Parameters
    ----------
    counts
        ``{"tp": array, "fp": array, "fn": array, "tn": array}`` (weighted or not).
    """
    num = sum(
        (np.asarray(counts[c], dtype="float64") for c in metric.numerator),
        np.zeros_like(np.asarray(counts["tp"], dtype="float64")),
    )
    den = sum(
        (np.asarray(counts[c], dtype="float64") for c in metric.denominator),
        np.zeros_like(np.asarray(counts["tp"], dtype="float64")),
    )
    return num, den


def metric_table(
    frame: pd.DataFrame, *, weighted: bool, confidence: float = 0.95
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every rate metric with its Wilson interval, for each row of a counts table.

    Parameters
    ----------
    frame
        A :class:`~fairaudit.metrics.counts.CellCounts` frame (or any frame with ``tp, fp,
        fn, tn`` and, if ``weighted``, ``w_*`` and ``w2_*`` columns).
    weighted
        Use the weighted sums for the rate and Kish's effective size for the interval.

    Returns
    -------
    dict
        metric name -> ``(value, ci_low, ci_high)`` arrays; NaN where the denominator is 0.
    """
    from fairaudit.metrics.uncertainty import effective_n, wilson_interval

    plain = {c: frame[c].to_numpy(dtype="float64") for c in _CELLS}
    w = {c: frame[f"w_{c}"].to_numpy(dtype="float64") for c in _CELLS} if weighted else plain
    w2 = {c: frame[f"w2_{c}"].to_numpy(dtype="float64") for c in _CELLS} if weighted else None
    out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for name, m in METRICS.items():
        num, den = rate(m, w)
        _, n_plain = rate(m, plain)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(n_plain > 0, num / np.where(den > 0, den, 1.0), np.nan)
        value = np.where(den > 0, value, np.nan)
        if w2 is not None:
            _, den2 = rate(m, w2)
            n_eff = effective_n(den, den2)
        else:
            n_eff = n_plain
        lo, hi = wilson_interval(value, n_eff, confidence)
        out[name] = (value, lo, hi)
    return out
