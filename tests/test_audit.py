"""run_audit on its own: groups, bins, labels, unknowns, drops, batches, formats, gates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairaudit.audit import run_audit
from fairaudit.spec import spec_from_dict
from tests.conftest import base_spec, make_frame


def _audit(
    tmp_path: Path, df: pd.DataFrame, name: str = "data.csv", batch_rows: int = 10**6, **over
):
    if name.endswith(".parquet"):
        df.to_parquet(tmp_path / name, index=False)
    else:
        df.to_csv(tmp_path / name, index=False)
    spec_dict = base_spec(data=name)
    spec_dict.update(over)
    spec = spec_from_dict(spec_dict, base_dir=tmp_path)
    return run_audit(spec, batch_rows=batch_rows)


def _group(result, **attrs):
    return next(g for g in result.groups if g.attributes == attrs)


def test_batches_and_formats_give_identical_results(tmp_path: Path) -> None:
    df = make_frame(n=1000, seed=3)
    whole = _audit(tmp_path, df, intersections=True)
    small = _audit(tmp_path, df, batch_rows=37, intersections=True)
    parquet = _audit(tmp_path, df, name="data.parquet", batch_rows=100, intersections=True)
    strip = lambda r: r.model_dump(exclude={"provenance"})  # noqa: E731
    assert strip(whole) == strip(small) == strip(parquet)


def test_groups_counts_add_up_and_intersections_are_sums(tmp_path: Path) -> None:
    df = make_frame(n=800, seed=1)
    r = _audit(tmp_path, df, intersections=True)
    for attr in ("sex", "area"):
        members = [g for g in r.groups if list(g.attributes) == [attr]]
        assert sum(g.n for g in members) == len(df)
        for g in members:
            sub = df[df[attr] == g.attributes[attr]]
            assert g.counts.tp == int(((sub.eligible == 1) & (sub.granted == 1)).sum())
            assert g.counts.fn == int(((sub.eligible == 1) & (sub.granted == 0)).sum())
    inter = [g for g in r.groups if list(g.attributes) == ["sex", "area"]]
    assert len(inter) == 6
    for g in inter:
        sub = df[(df.sex == g.attributes["sex"]) & (df.area == g.attributes["area"])]
        assert g.n == len(sub)


def test_missing_values_unknown_group_and_drops(tmp_path: Path) -> None:
    df = make_frame(n=300, seed=2)
    df["eligible"] = df["eligible"].astype("float")
    df.loc[[0, 1, 2], "eligible"] = np.nan
    df["granted"] = df["granted"].astype("float")
    df.loc[[3, 4], "granted"] = np.nan
    df.loc[[5, 6, 7, 8], "sex"] = np.nan
    r = _audit(tmp_path, df)
    assert r.n_rows == 300 and r.n_audited == 295
    assert r.dropped == {"missing_label": 3, "missing_weight": 0, "missing_decision": 2}
    assert r.unknown["sex"] == 4
    unknown = _group(r, sex="unknown")
    assert unknown.n == 4
    assert r.groups[[g.attributes for g in r.groups].index({"sex": "unknown"})] is unknown
    # unknown is never chosen as reference and sorts last
    sex_groups = [g.attributes["sex"] for g in r.groups if list(g.attributes) == ["sex"]]
    assert sex_groups[-1] == "unknown"
    assert not unknown.is_reference
    assert any("no recorded sex" in line for line in r.summary)


def test_bins_and_labels(tmp_path: Path) -> None:
    df = make_frame(n=500, seed=4)
    rng = np.random.default_rng(0)
    df["age"] = rng.integers(18, 90, size=len(df))
    df.loc[0, "age"] = np.nan
    df["sex_code"] = df["sex"].map({"female": "F", "male": "M"})
    protected = [
        {"name": "age", "bins": [30, 63]},
        {
            "name": "sex",
            "column": "sex_code",
            "labels": {"F": "female", "M": "male"},
            "reference": "male",
        },
        {
            "name": "band",
            "column": "score",
            "bins": [0.25, 0.5],
            "bin_labels": ["low", "mid", "high"],
        },
    ]
    r = _audit(tmp_path, df, protected=protected)
    ages = [g.attributes["age"] for g in r.groups if list(g.attributes) == ["age"]]
    assert ages == ["<30", "30–62", "63+", "unknown"]
    assert _group(r, age="<30").n == int((df.age < 30).sum())
    assert _group(r, age="30–62").n == int(((df.age >= 30) & (df.age < 63)).sum())
    assert _group(r, age="63+").n == int((df.age >= 63).sum())
    assert _group(r, sex="male").is_reference
    assert _group(r, band="mid").n == int(((df.score >= 0.25) & (df.score < 0.5)).sum())


def test_string_labels_with_positive_label(tmp_path: Path) -> None:
    df = make_frame(n=200, seed=5)
    df["eligible"] = np.where(df["eligible"] == 1, "eligible", "not eligible")
    over = {"data": {"path": "data.csv", "label": "eligible", "positive_label": "eligible"}}
    r = _audit(tmp_path, df, **over)
    assert r.overall.counts.tp + r.overall.counts.fn == int((df.eligible == "eligible").sum())


def test_named_intersection_reference_and_between_groups_gate(tmp_path: Path) -> None:
    df = make_frame(n=1500, seed=6)
    gates = [
        {"id": "bg", "metric": "selection_rate", "measure": "between_groups_ratio", "min": 0.0},
        {"id": "val", "metric": "fnr", "measure": "value", "max": 1.0, "attributes": ["area"]},
    ]
    protected = [{"name": "sex", "reference": "female"}, {"name": "area", "reference": "urban"}]
    r = _audit(tmp_path, df, protected=protected, intersections=[["area", "sex"]], gates=gates)
    ref = next(x for x in r.references if x.attributes == ["sex", "area"])
    assert ref.group == {"sex": "female", "area": "urban"} and ref.policy == "named"
    bg = [c for c in r.checks if c.id == "bg"]
    assert {tuple(c.attributes) for c in bg} == {("sex",), ("area",), ("sex", "area")}
    assert all(c.verdict == "pass" for c in bg)
    sel = [g.metrics["selection_rate"].value for g in r.groups if list(g.attributes) == ["area"]]
    area_bg = next(c for c in bg if list(c.attributes) == ["area"])
    assert area_bg.value == pytest.approx(min(sel) / max(sel))
    val = [c for c in r.checks if c.id == "val"]
    assert len(val) == 3 and all(list(c.attributes) == ["area"] for c in val)
    assert all(c.metric == "fnr" for c in val)


def test_small_groups_get_insufficient_evidence(tmp_path: Path) -> None:
    df = make_frame(n=400, seed=7)
    df.loc[:4, "area"] = "island"  # 5 people
    r = _audit(tmp_path, df)
    island = [c for c in r.checks if c.attributes == {"area": "island"}]
    assert island and all(c.verdict == "insufficient_evidence" for c in island)
    assert "fewer than the minimum group size 30" in island[0].reason
    assert r.status in ("fail", "insufficient_evidence")


def test_weighted_metrics_use_weights(tmp_path: Path) -> None:
    df = make_frame(n=600, seed=8)
    over = {"data": {"path": "data.csv", "label": "eligible", "weight": "weight"}}
    r = _audit(tmp_path, df, **over)
    assert r.weighted
    sub = df[df.area == "rural"]
    pos = sub[sub.eligible == 1]
    expected = pos.weight[pos.granted == 0].sum() / pos.weight.sum()
    g = _group(r, area="rural")
    assert g.metrics["false_negative_rate"].value == pytest.approx(expected)
    assert g.weighted_counts is not None
    assert g.weighted_counts.fn == pytest.approx(pos.weight[pos.granted == 0].sum())


def test_punitive_reference_is_least_flagged(tmp_path: Path) -> None:
    df = make_frame(n=900, seed=9)
    protected = [{"name": "area"}]
    r = _audit(tmp_path, df, protected=protected, intervention="punitive", gates=[])
    sel = {g.attributes["area"]: g.metrics["selection_rate"].value for g in r.groups}
    assert r.references[0].group == {"area": min(sel, key=sel.get)}
    assert r.headline_metric == "false_positive_rate"
    assert "exclusion_error" not in r.overall.metrics
