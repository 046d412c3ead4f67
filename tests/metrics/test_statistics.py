"""Intervals, bootstrap, tests and tri-state gates, each against an independent computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_negative_rate, selection_rate
from scipy.stats import chi2_contingency, fisher_exact
from scipy.stats.contingency import relative_risk
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from fairaudit.gate import decide
from fairaudit.metrics.counts import count_cells
from fairaudit.metrics.significance import adjust_p_values, two_proportion_test
from fairaudit.metrics.statistics import grouping_statistics
from fairaudit.metrics.uncertainty import (
    katz_interval,
    multinomial_bootstrap,
    newcombe_interval,
    wilson_interval,
)
from fairaudit.spec import GateSpec

CASES = [(400, 929, 123, 414), (3, 20, 9, 25), (0, 15, 4, 30), (50, 50, 30, 60), (1, 7, 1, 9)]


@pytest.mark.parametrize("x1,n1,x2,n2", CASES)
def test_newcombe_equals_statsmodels(x1, n1, x2, n2) -> None:
    lo, hi = newcombe_interval(
        np.array([x1 / n1]), np.array([n1]), np.array([x2 / n2]), np.array([n2])
    )
    ref = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    assert (lo[0], hi[0]) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("x1,n1,x2,n2", [c for c in CASES if 0 < c[0] < c[1] and 0 < c[2] < c[3]])
def test_katz_equals_scipy_relative_risk(x1, n1, x2, n2) -> None:
    lo, hi = katz_interval(np.array([x1]), np.array([n1]), np.array([x2]), np.array([n2]))
    ci = relative_risk(x1, n1, x2, n2).confidence_interval(0.95)
    assert (lo[0], hi[0]) == pytest.approx((ci.low, ci.high), rel=1e-12)


def test_ratio_interval_at_a_boundary_uses_mover_r() -> None:
    # everyone in the group is excluded (rate 1): Katz would ignore the group's uncertainty
    small = katz_interval(np.array([565]), np.array([565]), np.array([1]), np.array([3]))
    big = katz_interval(np.array([2264]), np.array([2264]), np.array([1]), np.array([3]))
    assert small[0][0] < big[0][0] < 3.0 < big[1][0] <= small[1][0]
    # MOVER-R from the Wilson limits (Donner & Zou 2012), computed by hand
    p1, p2 = 565 / 565, 1 / 3
    l1, u1 = (x[0] for x in wilson_interval(np.array([p1]), np.array([565])))
    l2, u2 = (x[0] for x in wilson_interval(np.array([p2]), np.array([3])))
    lo = (p1 * p2 - np.sqrt((p1 * p2) ** 2 - l1 * u2 * (2 * p1 - l1) * (2 * p2 - u2))) / (
        u2 * (2 * p2 - u2)
    )
    assert small[0][0] == pytest.approx(lo)
    # zero numerator: lower bound 0; zero reference rate: undefined
    zero = katz_interval(np.array([0]), np.array([15]), np.array([4]), np.array([30]))
    assert zero[0][0] == 0.0 and np.isfinite(zero[1][0])
    undefined = katz_interval(np.array([3]), np.array([15]), np.array([0]), np.array([30]))
    assert np.isnan(undefined[0][0]) and np.isnan(undefined[1][0])


def test_ratio_interval_covers_at_boundaries() -> None:
    rng = np.random.default_rng(11)
    reps, n1, n2, p1, p2 = 2000, 40, 60, 0.95, 0.5
    x1, x2 = rng.binomial(n1, p1, reps), rng.binomial(n2, p2, reps)
    lo, hi = katz_interval(x1, np.full(reps, n1), x2, np.full(reps, n2))
    assert 0.90 <= np.mean((lo <= p1 / p2) & (p1 / p2 <= hi)) <= 0.99


def test_p_value_corrections_equal_statsmodels() -> None:
    p = np.random.default_rng(0).uniform(0, 0.2, size=25)
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        assert adjust_p_values(p, ours) == pytest.approx(multipletests(p, method=theirs)[1])
    with_nan = np.array([0.01, np.nan, 0.04])
    out = adjust_p_values(with_nan, "holm")
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.04)


def test_two_proportion_test_chooses_fisher_for_small_counts() -> None:
    method, p = two_proportion_test(1, 5, 3, 6)
    assert method == "fisher_exact"
    assert p == pytest.approx(fisher_exact([[1, 4], [3, 3]]).pvalue)
    method, p = two_proportion_test(400, 929, 123, 414)
    assert method == "chi_square"
    assert p == pytest.approx(chi2_contingency([[400, 529], [123, 291]], correction=False).pvalue)
    assert two_proportion_test(0, 0, 3, 4) is None
    assert two_proportion_test(5, 5, 4, 4) == ("none", 1.0)


def test_multinomial_bootstrap_has_the_row_bootstrap_moments() -> None:
    counts = np.array([[50, 10, 5, 35], [5, 2, 1, 2]])
    draws = multinomial_bootstrap(counts, 20000, np.random.default_rng(1))
    assert draws.shape == (20000, 2, 4)
    assert (draws.sum(axis=(1, 2)) == counts.sum()).all()
    p = counts.ravel() / counts.sum()
    flat = draws.reshape(20000, -1)
    assert flat.mean(axis=0) == pytest.approx(counts.sum() * p, rel=0.02, abs=0.05)
    cov = np.cov(flat, rowvar=False)
    expected = counts.sum() * (np.diag(p) - np.outer(p, p))
    assert np.abs(cov - expected).max() < 0.05 * np.abs(expected).max() + 0.05
    # resampling rows directly gives the same distribution (a small check of the claim)
    rows = np.repeat(np.arange(8), counts.ravel())
    rng = np.random.default_rng(2)
    row_boot = np.stack(
        [np.bincount(rng.choice(rows, size=len(rows)), minlength=8) for _ in range(4000)]
    )
    assert row_boot.mean(axis=0) == pytest.approx(flat.mean(axis=0), rel=0.05, abs=0.1)
    assert row_boot.std(axis=0) == pytest.approx(flat.std(axis=0), rel=0.06, abs=0.05)


def test_bootstrap_agrees_with_fairlearn_row_bootstrap() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    g = rng.choice(["a", "b", "c"], n)
    y = (rng.random(n) < 0.4).astype(int)
    d = np.where(rng.random(n) < 0.7, y, 1 - y)
    mf = MetricFrame(
        metrics={"selection_rate": selection_rate, "false_negative_rate": false_negative_rate},
        y_true=y,
        y_pred=d,
        sensitive_features=g,
        n_boot=400,
        ci_quantiles=[0.025, 0.975],
        random_state=1,
    )
    frame = count_cells({"g": g}, y, d).frame.sort_index()
    keys = [k[0] for k in frame.index]
    stats = grouping_statistics(
        frame,
        ref=0,
        weighted=False,
        confidence=0.95,
        replicates=4000,
        rng=np.random.default_rng(5),
        metrics=["selection_rate", "false_negative_rate"],
    )
    lo_fl, hi_fl = mf.by_group_ci
    for name in ("selection_rate", "false_negative_rate"):
        lo, hi = stats.boot_ci[name]
        sd = (hi - lo) / (2 * 1.96)
        for i, k in enumerate(keys):
            assert abs(lo[i] - lo_fl.loc[k, name]) < 0.5 * sd[i], (name, k)
            assert abs(hi[i] - hi_fl.loc[k, name]) < 0.5 * sd[i], (name, k)
        # between-groups difference
        (dlo, dhi), _ = stats.boot_between_ci[name]
        dlo_fl, dhi_fl = (x[name] for x in mf.difference_ci())
        width = dhi[0] - dlo[0]
        assert abs(dlo[0] - dlo_fl) < 0.25 * width and abs(dhi[0] - dhi_fl) < 0.25 * width


def test_intervals_cover_the_truth() -> None:
    """Seeded simulation: 95% Wilson, Newcombe and Katz intervals cover 90–99% of the time."""
    rng = np.random.default_rng(42)
    reps = 2000
    p1, p2, n1, n2 = 0.3, 0.2, 120, 200
    x1 = rng.binomial(n1, p1, reps)
    x2 = rng.binomial(n2, p2, reps)
    lo, hi = wilson_interval(x1 / n1, np.full(reps, n1))
    wilson = np.mean((lo <= p1) & (p1 <= hi))
    lo, hi = newcombe_interval(x1 / n1, np.full(reps, n1), x2 / n2, np.full(reps, n2))
    newcombe = np.mean((lo <= p1 - p2) & (p1 - p2 <= hi))
    lo, hi = katz_interval(x1, np.full(reps, n1), x2, np.full(reps, n2))
    katz = np.mean((lo <= p1 / p2) & (p1 / p2 <= hi))
    for coverage in (wilson, newcombe, katz):
        assert 0.90 <= coverage <= 0.99


def test_bootstrap_intervals_cover_the_truth() -> None:
    rng = np.random.default_rng(7)
    truth = 0.25
    hits = 0
    reps = 300
    for r in range(reps):
        n = 150
        y = np.ones(n, dtype=int)
        d = (rng.random(n) < 1 - truth).astype(int)  # FNR = truth
        frame = count_cells({"g": np.array(["a"] * n)}, y, d).frame
        s = grouping_statistics(
            frame,
            ref=0,
            weighted=False,
            confidence=0.95,
            replicates=500,
            rng=np.random.default_rng(r),
            metrics=["false_negative_rate"],
        )
        lo, hi = s.boot_ci["false_negative_rate"]
        hits += lo[0] <= truth <= hi[0]
    assert 0.90 <= hits / reps <= 0.99


def _gate(**kw) -> GateSpec:
    return GateSpec(id="g", metric="exclusion_error", measure="ratio", **kw)


@pytest.mark.parametrize(
    "value,ci,kw,verdict",
    [
        (1.1, (1.0, 1.2), {"max": 1.25}, "pass"),
        (1.4, (1.3, 1.5), {"max": 1.25}, "fail"),
        (1.4, (1.2, 1.6), {"max": 1.25}, "insufficient_evidence"),
        (1.4, (1.2, 1.6), {"max": 1.25, "decide_on": "point"}, "fail"),
        (1.1, (0.9, 1.3), {"max": 1.25, "decide_on": "point"}, "insufficient_evidence"),
        (0.7, (0.6, 0.75), {"min": 0.8}, "fail"),
        (0.9, (0.85, 0.95), {"min": 0.8, "max": 1.25}, "pass"),
        (0.9, (0.7, 0.95), {"min": 0.8, "max": 1.25}, "insufficient_evidence"),
        (1.0, None, {"max": 1.25}, "pass"),
        (1.3, None, {"max": 1.25}, "fail"),
    ],
)
def test_tri_state_verdicts(value, ci, kw, verdict) -> None:
    got, why = decide(value, ci, _gate(**kw), 0.95)
    assert got == verdict
    assert why  # every verdict is explained


def test_reference_excludes_groups_under_two_percent(tmp_path) -> None:
    from fairaudit.audit import run_audit
    from fairaudit.spec import spec_from_dict

    rng = np.random.default_rng(3)
    n = 5000
    region = np.where(np.arange(n) < 60, "tiny", rng.choice(["north", "south"], n))
    y = (rng.random(n) < 0.5).astype(int)
    d = np.where(region == "tiny", 1, (rng.random(n) < 0.4).astype(int))
    pd.DataFrame({"region": region, "y": y, "d": d}).to_csv(tmp_path / "d.csv", index=False)
    spec = spec_from_dict(
        {
            "name": "x",
            "intervention": "assistive",
            "data": {"path": "d.csv", "label": "y"},
            "model": {"loader": "column", "decision": "d"},
            "protected": [{"name": "region"}],
            "bootstrap": 0,
        },
        base_dir=tmp_path,
    )
    result = run_audit(spec)
    # 'tiny' (1.2% of rows) has the highest selection rate but is not the comparator
    assert result.references[0].group["region"] != "tiny"
    assert "2% of the rows" in result.references[0].reason
    tiny = next(g for g in result.groups if g.attributes == {"region": "tiny"})
    assert tiny.n == 60 and tiny.metrics["selection_rate"].value == 1.0
    assert result.statistics.bootstrap_replicates == 0
    assert tiny.metrics["selection_rate"].bootstrap_ci is None
