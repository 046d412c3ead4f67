"""Counts are additive and exact; Wilson intervals equal scipy's; hand-computed tables."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from fairaudit.metrics.counts import CellCounts, count_cells
from fairaudit.metrics.disparity import between_groups, choose_reference, compare
from fairaudit.metrics.rates import metric_table
from fairaudit.metrics.uncertainty import effective_n, wilson_interval


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from("xyz"), st.sampled_from("pq"), st.integers(0, 1), st.integers(0, 1)
        ),
        min_size=1,
        max_size=200,
    ),
    st.integers(1, 199),
)
def test_chunks_add_up_to_the_whole(rows, cut) -> None:
    df = pd.DataFrame(rows, columns=["a", "b", "y", "d"])
    whole = count_cells(
        {"a": df.a.to_numpy(), "b": df.b.to_numpy()}, df.y.to_numpy(), df.d.to_numpy()
    )
    parts = CellCounts.empty(["a", "b"])
    for chunk in (df.iloc[:cut], df.iloc[cut:]):
        parts = parts + count_cells(
            {"a": chunk.a.to_numpy(), "b": chunk.b.to_numpy()},
            chunk.y.to_numpy(),
            chunk.d.to_numpy(),
        )
    left = whole.frame.sort_index()
    right = parts.frame.sort_index()
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    # marginals are sums over cells, equal to counting the attribute alone
    direct = count_cells({"a": df.a.to_numpy()}, df.y.to_numpy(), df.d.to_numpy())
    pd.testing.assert_frame_equal(
        parts.marginal(["a"]).frame.sort_index(), direct.frame.sort_index(), check_dtype=False
    )
    assert int(parts.n.sum()) == len(df)


def test_hand_computed_confusion_table() -> None:
    # group g1: tp=2 fp=1 fn=1 tn=1; group g2: tp=1 fp=0 fn=2 tn=2
    g = ["g1"] * 5 + ["g2"] * 5
    y = [1, 1, 0, 1, 0, 1, 1, 1, 0, 0]
    d = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    c = count_cells({"g": np.array(g)}, np.array(y), np.array(d))
    f = c.frame.sort_index()
    f.index = f.index.get_level_values(0)
    assert f.loc["g1", ["tp", "fp", "fn", "tn"]].tolist() == [2, 1, 1, 1]
    assert f.loc["g2", ["tp", "fp", "fn", "tn"]].tolist() == [1, 0, 2, 2]
    t = metric_table(f, weighted=False)
    expect = {
        "selection_rate": (Fraction(3, 5), Fraction(1, 5)),
        "prevalence": (Fraction(3, 5), Fraction(3, 5)),
        "true_positive_rate": (Fraction(2, 3), Fraction(1, 3)),
        "false_negative_rate": (Fraction(1, 3), Fraction(2, 3)),
        "false_positive_rate": (Fraction(1, 2), Fraction(0, 2)),
        "true_negative_rate": (Fraction(1, 2), Fraction(2, 2)),
        "precision": (Fraction(2, 3), Fraction(1, 1)),
        "negative_predictive_value": (Fraction(1, 2), Fraction(2, 4)),
        "false_discovery_rate": (Fraction(1, 3), Fraction(0, 1)),
        "false_omission_rate": (Fraction(1, 2), Fraction(2, 4)),
        "accuracy": (Fraction(3, 5), Fraction(3, 5)),
    }
    for name, (a, b) in expect.items():
        assert t[name][0].tolist() == pytest.approx([float(a), float(b)], abs=1e-15), name
    # disparities of g2 against g1
    d_fnr, r_fnr = compare(t["false_negative_rate"][0][1], t["false_negative_rate"][0][0])
    assert d_fnr == pytest.approx(1 / 3) and r_fnr == pytest.approx(2.0)
    assert compare(0.2, 0.0) == (0.2, None)
    assert between_groups(t["selection_rate"][0]) == pytest.approx((0.4, 1 / 3))


def test_undefined_rates_are_nan_not_zero() -> None:
    c = count_cells({"g": np.array(["a", "a", "b"])}, np.array([0, 0, 1]), np.array([0, 1, 1]))
    t = metric_table(c.frame.sort_index(), weighted=False)
    fnr = t["false_negative_rate"]
    assert np.isnan(fnr[0][0]) and np.isnan(fnr[1][0])  # group a has no positives
    assert fnr[0][1] == 0.0


@pytest.mark.parametrize(
    "k,n", [(0, 1), (0, 10), (1, 10), (5, 10), (10, 10), (3, 97), (412, 1117), (999, 1000)]
)
def test_wilson_equals_scipy(k: int, n: int) -> None:
    lo, hi = wilson_interval(np.array([k / n]), np.array([n]))
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert lo[0] == pytest.approx(ref.low, abs=1e-12)
    assert hi[0] == pytest.approx(ref.high, abs=1e-12)


def test_wilson_undefined_without_trials() -> None:
    lo, hi = wilson_interval(np.array([np.nan]), np.array([0]))
    assert np.isnan(lo[0]) and np.isnan(hi[0])


def test_effective_n_is_n_for_equal_weights() -> None:
    assert effective_n(np.array([10.0 * 2.5]), np.array([10 * 2.5**2]))[0] == pytest.approx(10)
    assert effective_n(np.array([0.0]), np.array([0.0]))[0] == 0.0


def test_reference_choice_policies() -> None:
    keys = [("a",), ("b",), ("c",), ("unknown",)]
    n = np.array([100, 50, 10, 500])
    sel = np.array([0.3, 0.5, 0.9, 0.95])
    common = dict(attributes=["g"], named={}, min_group_size=30)
    assistive = choose_reference(
        keys, n, sel, policy="most_favoured", intervention="assistive", **common
    )
    # c is too small and unknown is never a reference: b has the highest selection rate
    assert assistive.key == ("b",)
    punitive = choose_reference(
        keys, n, sel, policy="most_favoured", intervention="punitive", **common
    )
    assert punitive.key == ("a",)
    largest = choose_reference(keys, n, sel, policy="largest", intervention="assistive", **common)
    assert largest.key == ("a",)
    named = choose_reference(
        keys,
        n,
        sel,
        policy="largest",
        intervention="assistive",
        attributes=["g"],
        named={"g": "c"},
        min_group_size=30,
    )
    assert named.key == ("c",) and named.policy == "named"
