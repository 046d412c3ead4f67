"""Global and per-group importance, the gap decomposition, proxies, the results summary
and charts — each checked against numbers computed independently of the explainer."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from fairaudit.errors import InputError
from fairaudit.explain import (
    explain,
    explanation_summary,
    gap_decomposition,
    global_importance,
    group_importance,
    proxy_scores,
    stratified_sample,
)
from fairaudit.explain.charts import (
    OKABE_ITO,
    gap_waterfall_svg,
    global_importance_svg,
    group_heatmap_svg,
)
from tests.explain.conftest import FEATURES


@pytest.fixture(scope="module")
def sampled(population: pd.DataFrame, hgb):
    s = stratified_sample(population[["group"]], size=900, seed=0)
    rows = population.iloc[s.positions].reset_index(drop=True)
    return rows, explain(hgb, rows, weights=s.weights), s


def test_gap_decomposition_sums_to_the_observed_mean_difference(sampled, hgb) -> None:
    rows, expl, _ = sampled
    # the observed output, from the estimator itself (not from the explanation)
    output = hgb.estimator.decision_function(rows[FEATURES])
    for group in ("b", "c"):
        g = (rows["group"] == group).to_numpy()
        r = (rows["group"] == "a").to_numpy()
        d = gap_decomposition(expl, g, r, top=2)
        observed = output[g].mean() - output[r].mean()
        assert d.gap == pytest.approx(observed, abs=1e-9)
        assert d.contributions.sum() == pytest.approx(observed, abs=1e-9)
        assert list(d.top.index) == list(d.contributions.index[:2])
        assert d.n_group == g.sum() and d.n_reference == r.sum()
        # the planted proxy drives the gap of the groups it encodes
        assert d.top.index[0] == "proxy" and d.top.iloc[0] < 0
    with pytest.raises(InputError):
        gap_decomposition(expl, np.zeros(len(rows), bool), np.ones(len(rows), bool))


def test_marginal_gaps_are_weighted_across_strata(population: pd.DataFrame, hgb) -> None:
    # strata = group × band: band "hi" of group a is oversampled, so unweighted means of
    # group a would be biased; the weighted decomposition still sums to the weighted gap
    band = np.where(population["income"] > 1.5, "hi", "lo")
    groups = pd.DataFrame({"group": population["group"], "band": band})
    s = stratified_sample(groups, size=600, seed=2)
    rows = population.iloc[s.positions].reset_index(drop=True)
    expl = explain(hgb, rows, weights=s.weights)
    output = hgb.estimator.decision_function(rows[FEATURES])
    g = (rows["group"] == "c").to_numpy()
    r = (rows["group"] == "a").to_numpy()
    d = gap_decomposition(expl, g, r)
    observed = np.average(output[g], weights=s.weights[g]) - np.average(
        output[r], weights=s.weights[r]
    )
    assert d.gap == pytest.approx(observed, abs=1e-9)
    assert d.contributions.sum() == pytest.approx(observed, abs=1e-9)
    # the weighted mean of group a is the population's (exact: every row's weight is its
    # stratum size over rows drawn, so this is an unbiased estimate; check against truth)
    truth = hgb.estimator.decision_function(population[FEATURES])[population["group"] == "a"]
    assert d.reference_mean == pytest.approx(truth.mean(), abs=0.1)
    unweighted = output[r].mean()
    assert abs(d.reference_mean - truth.mean()) < abs(unweighted - truth.mean())


def test_global_and_group_importance(sampled) -> None:
    rows, expl, s = sampled
    imp = global_importance(expl)
    manual = (np.abs(expl.values) * s.weights[:, None]).sum(axis=0) / s.weights.sum()
    assert np.allclose(imp[FEATURES].to_numpy(), manual)
    assert imp.index[0] == "proxy" and imp.index[-1] == "noise"
    gi = group_importance(expl, rows[["group"]])
    for group in ("a", "b", "c"):
        m = (rows["group"] == group).to_numpy()
        row = gi.loc[("group", group)]
        assert row["n"] == m.sum()
        assert np.allclose(row[FEATURES].to_numpy(dtype=float), expl.values[m].mean(axis=0))
        assert row["mean_output"] == pytest.approx(expl.model_output[m].mean())


def test_group_importance_of_intersections_is_the_weighted_mean_of_their_rows(
    population: pd.DataFrame, hgb
) -> None:
    # strata = group × band, sampled at different rates: the intersections' means are the
    # weighted means of their own rows, and the summary names each group by its attributes
    band = np.where(population["income"] > 1.5, "hi", "lo")
    groups = pd.DataFrame({"group": population["group"], "band": band})
    s = stratified_sample(groups, size=600, seed=2)
    rows = groups.iloc[s.positions].reset_index(drop=True)
    expl = explain(hgb, population.iloc[s.positions].reset_index(drop=True), weights=s.weights)
    cells = [["group"], ["band"], ["group", "band"]]
    gi = group_importance(expl, rows, cells=cells)
    assert len(gi) == 3 + 2 + 6
    summary = explanation_summary(expl, groups=rows, cells=cells, min_rows=1)
    published = {tuple(sorted(r["attributes"].items())): r for r in summary["group_importance"]}
    assert len(published) == len(gi)
    for g in ("a", "b", "c"):
        for b in ("hi", "lo"):
            m = ((rows["group"] == g) & (rows["band"] == b)).to_numpy()
            want = np.average(expl.values[m], axis=0, weights=s.weights[m])
            row = gi.loc[("group × band", f"{g} × {b}")]
            assert row["n"] == m.sum()
            assert np.allclose(row[FEATURES].to_numpy(dtype=float), want)
            pub = published[(("band", b), ("group", g))]
            assert pub["n"] == m.sum()
            assert np.allclose([pub["mean_shap"][f] for f in FEATURES], want)
            out = np.average(expl.model_output[m], weights=s.weights[m])
            assert pub["mean_output"] == pytest.approx(out)
    # without cells: each attribute alone, as before
    assert set(group_importance(expl, rows).index.get_level_values(0)) == {"group", "band"}
    # a gap carries which group and reference it compares
    g = ((rows["group"] == "c") & (rows["band"] == "lo")).to_numpy()
    r = ((rows["group"] == "a") & (rows["band"] == "lo")).to_numpy()
    gap = gap_decomposition(
        expl, g, r, attributes={"group": "c", "band": "lo"}, reference={"group": "a", "band": "lo"}
    )
    entry = explanation_summary(expl, gaps={"group=c × band=lo": gap}, min_rows=1)["gaps"][0]
    assert entry["attributes"] == {"group": "c", "band": "lo"}
    assert entry["reference"] == {"group": "a", "band": "lo"}
    assert entry["gap"] == pytest.approx(
        np.average(expl.model_output[g], weights=s.weights[g])
        - np.average(expl.model_output[r], weights=s.weights[r])
    )


def test_planted_proxy_ranks_first_and_irrelevant_feature_last(sampled) -> None:
    rows, expl, _ = sampled
    table = proxy_scores(
        rows,
        FEATURES,
        {"group": rows["group"]},
        global_importance(expl),
    )
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert table.iloc[0]["feature"] == "proxy"
    assert table.iloc[0]["measure"] == "roc_auc" and table.iloc[0]["association"] > 0.9
    assert table.iloc[-1]["feature"] == "noise"
    assert table["reliance"].sum() == pytest.approx(1.0)
    assert (table["proxy_score"] == table["strength"] * table["reliance"]).all()


def test_categorical_proxy_uses_normalised_mutual_information() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    attr = pd.Series(rng.choice(["x", "y"], n))
    same = attr.map({"x": "p", "y": "q"})  # a relabelling: NMI exactly 1
    indep = pd.Series(rng.choice(["u", "v", "w"], n))
    frame = pd.DataFrame({"same": same, "indep": indep})
    t = proxy_scores(frame, ["same", "indep"], {"attr": attr}, {"same": 1.0, "indep": 1.0})
    by = t.set_index("feature")
    assert by.loc["same", "measure"] == "normalized_mutual_information"
    assert by.loc["same", "association"] == pytest.approx(1.0)
    assert by.loc["indep", "association"] < 0.01
    assert list(t["feature"]) == ["same", "indep"]


def test_summary_is_json_safe_and_has_no_rows(sampled) -> None:
    rows, expl, _ = sampled
    g = (rows["group"] == "c").to_numpy()
    r = (rows["group"] == "a").to_numpy()
    gaps = {"group=c": gap_decomposition(expl, g, r, top=3)}
    proxies = proxy_scores(rows, FEATURES, {"group": rows["group"]}, global_importance(expl))
    *_, sample = sampled
    out = explanation_summary(
        expl, groups=rows[["group"]], gaps=gaps, proxies=proxies, sample=sample
    )
    assert out["strata"] == 3 and out["population"] == 3000
    assert not any(x["suppressed"] for x in out["group_importance"])
    tiny = explanation_summary(expl, groups=rows[["group"]], gaps=gaps, min_rows=10_000)
    assert all(x["suppressed"] and x["mean_shap"] is None for x in tiny["group_importance"])
    assert tiny["gaps"][0]["gap"] is None and tiny["gaps"][0]["top"] is None
    text = json.dumps(out, allow_nan=False)
    assert out["explainer"] == "tree" and out["output"] == "log-odds"
    assert out["sample_size"] == len(rows) and out["weighted"] is True
    assert out["global_importance"][0]["feature"] == "proxy"
    assert {tuple(x["attributes"].items()) for x in out["group_importance"]} == {
        (("group", "a"),),
        (("group", "b"),),
        (("group", "c"),),
    }
    assert out["gaps"][0]["group"] == "group=c" and len(out["gaps"][0]["top"]) == 3
    assert out["proxies"][0]["feature"] == "proxy"
    assert str(rows["income"].iloc[0]) not in text  # aggregates only


def test_charts_are_deterministic_svg(sampled) -> None:
    rows, expl, _ = sampled
    imp = global_importance(expl)
    a = global_importance_svg(imp, output=expl.output)
    assert a.lstrip().startswith("<?xml") and "<svg" in a and "proxy" in a
    assert a == global_importance_svg(imp, output=expl.output)
    heat = group_heatmap_svg(group_importance(expl, rows[["group"]]))
    assert "group=c" in heat and "income" in heat
    d = gap_decomposition(
        expl, (rows["group"] == "c").to_numpy(), (rows["group"] == "a").to_numpy(), top=2
    )
    w = gap_waterfall_svg(d, label="group=c", top=2)
    assert "other features" in w and "reference" in w and "group=c" in w
    # every fill is from the colour-blind-safe palette (or black/white/the diverging ramp)
    allowed = {c.lower() for c in OKABE_ITO} | {"#000000", "#ffffff"}
    for svg in (a, w):
        assert set(re.findall(r"#[0-9a-f]{6}", svg.lower())) <= allowed
    assert "#d55e00" in w.lower()  # the proxy pushes group c away from selection


def test_charts_need_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from fairaudit.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"fairaudit\[shap\]"):
        global_importance_svg(pd.Series({"a": 1.0}))
