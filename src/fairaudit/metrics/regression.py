"""Regression outputs (e.g. a predicted benefit amount, predicted consumption) by group.

Per group, additive sums of the error ``e = predicted − actual`` give: mean error (bias)
and mean absolute error with normal-approximation intervals, root mean squared error, and
the shares over- and under-predicted (Wilson intervals).
"""

from __future__ import annotations

import math

import numpy as np

from fairaudit.metrics.uncertainty import wilson_interval, z_value

__all__ = ["SUMS", "regression_metrics", "regression_sums"]

#: The additive sums kept per group, in order.
SUMS = (
    "n",
    "sum_error",
    "sum_abs_error",
    "sum_sq_error",
    "n_over",
    "n_under",
    "sum_predicted",
    "sum_actual",
)


def regression_sums(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Per-row contributions, shape (rows, len(SUMS)); rows with a missing value give 0."""
    p = np.asarray(predicted, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    ok = np.isfinite(p) & np.isfinite(a)
    e = np.where(ok, p - a, 0.0)
    cols = [
        ok.astype("float64"),
        e,
        np.abs(e),
        e * e,
        (ok & (e > 0)).astype("float64"),
        (ok & (e < 0)).astype("float64"),
        np.where(ok, p, 0.0),
        np.where(ok, a, 0.0),
    ]
    return np.stack(cols, axis=1)


def _mean_ci(
    total: float, total_sq: float, n: float, z: float
) -> tuple[float | None, tuple[float, float] | None]:
    if n <= 0:
        return None, None
    mean = total / n
    if n < 2:
        return mean, None
    var = max(total_sq / n - mean * mean, 0.0) * n / (n - 1)
    half = z * math.sqrt(var / n)
    return mean, (mean - half, mean + half)


def regression_metrics(sums: np.ndarray, confidence: float = 0.95) -> dict[str, object]:
    """Mean error, MAE, RMSE, over/under-prediction rates (with intervals) from sums."""
    s = dict(zip(SUMS, (float(x) for x in sums), strict=True))
    n = s["n"]
    z = z_value(confidence)
    me, me_ci = _mean_ci(s["sum_error"], s["sum_sq_error"], n, z)
    # E|e|^2 = E e^2, so the same sums give the spread of the absolute error
    mae, mae_ci = _mean_ci(s["sum_abs_error"], s["sum_sq_error"], n, z)
    out: dict[str, object] = {
        "n": int(n),
        "mean_error": me,
        "mean_error_ci": me_ci,
        "mean_absolute_error": mae,
        "mean_absolute_error_ci": mae_ci,
        "root_mean_squared_error": math.sqrt(s["sum_sq_error"] / n) if n else None,
        "mean_predicted": s["sum_predicted"] / n if n else None,
        "mean_actual": s["sum_actual"] / n if n else None,
    }
    for name, k in (("over_prediction_rate", "n_over"), ("under_prediction_rate", "n_under")):
        rate = s[k] / n if n else None
        lo, hi = wilson_interval(
            np.array([rate if rate is not None else np.nan]), np.array([n]), confidence
        )
        out[name] = rate
        out[f"{name}_ci"] = (float(lo[0]), float(hi[0])) if rate is not None else None
    return out
