"""Score metrics from histograms and regression metrics from sums, against direct computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fairaudit.audit import run_audit
from fairaudit.metrics.scores import ScoreBins
from fairaudit.spec import spec_from_dict


def _frame(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < 0.4).astype(int)
    shift = np.where(region == "east", -0.1, 0.0)
    score = np.clip(0.35 + 0.3 * y + shift + rng.normal(0, 0.2, n), 0, 1)
    score[:20] = np.round(score[:20], 1)  # scores exactly on bin edges
    actual = rng.gamma(4.0, 1500.0, n).round(2)
    predicted = (actual * np.where(region == "east", 1.2, 1.0) + rng.normal(0, 600, n)).round(2)
    predicted[:5] = np.nan
    return pd.DataFrame(
        {"region": region, "y": y, "score": score, "actual": actual, "predicted": predicted}
    )


def _audit(tmp_path: Path, df: pd.DataFrame, batch_rows: int = 10**6, **over):
    df.to_csv(tmp_path / "d.csv", index=False)
    spec = {
        "name": "s",
        "intervention": "assistive",
        "data": {"path": "d.csv", "label": "y"},
        "model": {"loader": "column", "score": "score", "threshold": 0.5},
        "protected": [{"name": "region"}],
        "bootstrap": 0,
        "regression": {"predicted": "predicted", "actual": "actual"},
    }
    spec.update(over)
    return run_audit(spec_from_dict(spec, base_dir=tmp_path), batch_rows=batch_rows)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scores")
    df = _frame()
    return df, _audit(tmp, df)


def _group(result, region):
    grouping = next(g for g in result.scores.groupings if g.attributes == ["region"])
    return next(g for g in grouping.groups if g.attributes == {"region": region})


def test_auc_equals_sklearn_on_binned_scores(data) -> None:
    df, result = data
    bins = ScoreBins(0.0, 1.0, 1000)
    for region in ("north", "south", "east"):
        sub = df[df.region == region]
        g = _group(result, region)
        binned = bins.index(sub.score.to_numpy())
        assert g.auc == pytest.approx(roc_auc_score(sub.y, binned), abs=1e-12)
        assert g.auc == pytest.approx(roc_auc_score(sub.y, sub.score), abs=2e-3)
        assert g.auc_ci[0] < g.auc < g.auc_ci[1]
        assert g.n_positive == int(sub.y.sum()) and g.n == len(sub)


def test_threshold_sweep_equals_direct_rates(data) -> None:
    df, result = data
    th = np.array(result.scores.sweep_thresholds)
    assert len(th) == 101 and th[0] == 0.0 and th[-1] == 1.0
    for region in ("north", "east"):
        sub = df[df.region == region]
        g = _group(result, region)
        for j in (0, 10, 30, 50, 51, 77, 100):
            sel = sub.score.to_numpy() >= th[j]
            pos = sub.y.to_numpy() == 1
            assert g.sweep["selection_rate"][j] == pytest.approx(sel.mean(), abs=1e-12)
            assert g.sweep["false_negative_rate"][j] == pytest.approx(
                (~sel & pos).sum() / pos.sum(), abs=1e-12
            )
            assert g.sweep["false_positive_rate"][j] == pytest.approx(
                (sel & ~pos).sum() / (~pos).sum(), abs=1e-12
            )
    # at the audit's own threshold the sweep equals the decision metrics
    j = int(np.flatnonzero(np.isclose(th, 0.5))[0])
    east = next(x for x in result.groups if x.attributes == {"region": "east"})
    assert _group(result, "east").sweep["false_negative_rate"][j] == pytest.approx(
        east.metrics["false_negative_rate"].value
    )


def test_scoring_rate_and_impact_ratio(data) -> None:
    df, result = data
    bins = ScoreBins(0.0, 1.0, 1000)
    edges = bins.edges()
    med = result.scores.median_score
    assert med <= float(np.median(df.score)) < med + bins.width + 1e-12
    upper = edges[round(med / bins.width) + 1]
    rates = {}
    for region in ("north", "south", "east"):
        sub = df[df.region == region]
        rates[region] = _group(result, region).scoring_rate
        assert rates[region] == pytest.approx((sub.score >= upper).mean(), abs=1e-12)
    top = max(rates.values())
    for region, rate in rates.items():
        assert _group(result, region).scoring_impact_ratio == pytest.approx(rate / top)


def test_calibration_bins(data) -> None:
    df, result = data
    cal = result.scores.overall.calibration
    assert len(cal) == 10 and sum(c.n for c in cal) == len(df)
    b = cal[4]
    sub = df[(df.score >= b.low) & (df.score < b.high)]
    assert b.n == len(sub)
    assert b.mean_score == pytest.approx(sub.score.mean())
    assert b.observed == pytest.approx(sub.y.mean())


def test_batches_give_identical_score_and_regression_results(tmp_path, data) -> None:
    df, result = data
    again = _audit(tmp_path, df, batch_rows=333)
    # counts are identical; float sums may differ in the last bits (summation order)
    a, b = again.model_dump(), result.model_dump()
    assert _close(a["scores"], b["scores"])
    assert _close(a["regression"], b["regression"])


def _close(x, y) -> bool:
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_close(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple):
        return len(x) == len(y) and all(_close(u, v) for u, v in zip(x, y, strict=True))
    if isinstance(x, float) and isinstance(y, float):
        return x == pytest.approx(y, rel=1e-9, abs=1e-9)
    return x == y


def test_regression_metrics_equal_direct(data) -> None:
    df, result = data
    for g in result.regression.groups:
        sub = df[(df.region == g.attributes["region"])].dropna(subset=["predicted"])
        e = sub.predicted - sub.actual
        assert g.n == len(sub)
        assert g.mean_error == pytest.approx(e.mean())
        assert g.mean_absolute_error == pytest.approx(e.abs().mean())
        assert g.root_mean_squared_error == pytest.approx(np.sqrt((e**2).mean()))
        assert g.over_prediction_rate == pytest.approx((e > 0).mean())
        half = 1.959963984540054 * e.std(ddof=1) / np.sqrt(len(e))
        assert g.mean_error_ci == pytest.approx((e.mean() - half, e.mean() + half))
    assert result.regression.overall.n == len(df) - 5
    east = next(g for g in result.regression.groups if g.attributes == {"region": "east"})
    assert east.mean_error_ci[0] > 0  # the planted 20% over-prediction is detected


def test_scores_outside_the_range_are_counted(tmp_path) -> None:
    df = _frame(500, seed=1)
    df.loc[:9, "score"] = 1.5
    result = _audit(tmp_path, df, scores={"range": [0, 1], "bins": 100, "sweep_points": 11})
    assert result.scores.outside_range == 10
    assert result.scores.bins == 100 and len(result.scores.sweep_thresholds) == 11
