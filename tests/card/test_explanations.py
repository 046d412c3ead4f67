"""'What drives the decisions': the SHAP results of results.json in the card.

The numbers must be results.json's (rounded as shown), the gap sentences must add up, a
group whose means the audit or the card suppresses must not show them anywhere, and the
reason counts must be protected like every other count of the card.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from fairaudit.card import build_card, card_json_schema, render_html, render_json, render_markdown
from fairaudit.card.model import SUPPRESSED
from fairaudit.card.render import gap_chart_key, render_charts
from fairaudit.cli import main
from fairaudit.results import AuditResult
from tests.card.conftest import example_card, example_result, example_spec
from tests.models.conftest import (  # noqa: F401 - fixtures used below
    LABEL,
    PROTECTED,
    audit_frame,
    sklearn_estimator,
    sklearn_skops_model,
)

DFC = "digital_family_card"


def _raw(name: str = DFC) -> dict[str, Any]:
    ex = example_result(name).explanations
    assert ex is not None
    return ex


def _f3(x: float) -> str:
    return f"{x:.3f}" if abs(x) >= 0.0005 else "0.000"


def test_dfc_card_has_the_section_in_every_format() -> None:
    card = example_card(DFC)
    dr = card.explanations.drivers
    assert dr is not None
    assert dr.explainer == "rules" and dr.exact and dr.output == "score"
    assert "deprivation score" in dr.output_name
    assert any("SHAP (Shapley additive explanations)" in line for line in dr.what)
    assert dr.sample_size == _raw()["sample_size"] and dr.population == _raw()["population"]
    md, html = render_markdown(card), render_html(card)
    for text in (md, html):
        assert "What drives the decisions" in text
        assert "Likely proxies" in text
        assert "legal and ethical review" in text
    assert not any("not part of this result" in s for s in card.explanations.not_computed)


def test_numbers_are_those_of_results_json() -> None:
    ex, dr = _raw(), example_card(DFC).explanations.drivers
    assert dr is not None
    assert [(w.feature, w.value) for w in dr.overall] == [
        (g["feature"], round(g["mean_abs_shap"], 4)) for g in ex["global_importance"]
    ]
    by_label = {
        " × ".join(f"{k}={v}" for k, v in g["attributes"].items()): g
        for g in ex["group_importance"]
    }
    assert [g.group for g in dr.groups] == list(by_label)
    for g in dr.groups:
        raw = by_label[g.group]
        assert g.shown
        assert g.mean_output == round(raw["mean_output"], 4)
        assert g.mean_contributions == {f: round(v, 4) for f, v in raw["mean_shap"].items()}
        # the listed ones are the largest by size, with their sign
        sizes = sorted((abs(v) for v in raw["mean_shap"].values()), reverse=True)
        assert [abs(w.value) for w in g.top] == [round(s, 4) for s in sizes[:3]]
    assert dr.proxies is not None
    assert [(p.rank, p.feature, p.attribute, p.association, p.reliance) for p in dr.proxies] == [
        (
            p["rank"],
            p["feature"],
            p["attribute"],
            round(p["association"], 4),
            round(p["reliance"], 4),
        )
        for p in ex["proxies"]
    ]


def test_gap_sentences_add_up_from_results_json() -> None:
    ex, dr = _raw(), example_card(DFC).explanations.drivers
    assert dr is not None and len(dr.gaps) == len(ex["gaps"]) > 0
    md = render_markdown(example_card(DFC))
    for g, raw in zip(dr.gaps, ex["gaps"], strict=True):
        assert g.group == raw["group"] and g.shown
        # recomputed here from the two means, not taken from the gap field
        gap = raw["group_mean"] - raw["reference_mean"]
        assert gap == pytest.approx(raw["gap"], abs=1e-12)
        listed = [t["contribution"] for t in raw["top"]]
        other = gap - sum(listed)
        word = "higher" if gap >= 0 else "lower"
        assert g.sentence.startswith(f"Of the {_f3(abs(gap))} {word} mean deprivation score of ")
        assert f"({_f3(raw['group_mean'])} against {_f3(raw['reference_mean'])};" in g.sentence
        pos = 0
        for t in raw["top"]:  # every listed contribution, in order
            pos = g.sentence.index(f"{_f3(t['contribution'])} ", pos) + 1
            assert g.sentence.index(t["feature"], pos) > 0
        assert g.sentence.endswith(f"the other features together add {_f3(other)}.")
        assert g.other == round(other, 4) and g.gap == round(gap, 4)
        assert g.sentence in md
    # the reference is the one the audit compared the group with
    single = next(g for g in dr.gaps if g.group == "single_parent=single parent")
    assert single.reference == "single_parent=other"
    assert "0.047 comes from single_parent_registry" in single.sentence
    # at most six waterfalls: the largest gaps; the note says how many are left out
    charted = [g for g in dr.gaps if g.charted]
    assert len(charted) == min(6, len(dr.gaps))
    smallest_charted = min(abs(g.gap or 0) for g in charted)
    assert all(abs(g.gap or 0) <= smallest_charted for g in dr.gaps if not g.charted)
    assert f"{len(dr.gaps) - len(charted)} more are described in words only" in dr.gaps_note


def test_charts_are_accessible_deterministic_and_one_per_charted_gap() -> None:
    card = example_card(DFC)
    dr = card.explanations.drivers
    assert dr is not None
    charts = render_charts(card)
    keys = ["drivers-overall", "drivers-groups"] + [
        gap_chart_key(i, g.group) for i, g in enumerate(dr.gaps) if g.charted
    ]
    assert [k for k in charts if k.startswith("drivers-")] == keys
    for key in keys:
        svg = charts[key]
        assert svg.startswith('<svg role="img" aria-labelledby="chart-drivers-')
        assert "<title id=" in svg and "<desc id=" in svg
        assert "http" not in svg
    # the text alternative carries the data
    top = dr.overall[0]
    assert f"{top.feature} {top.value:.3f}" in charts["drivers-overall"]
    first = next(g for g in dr.gaps if g.charted)
    assert first.contributions[0].feature in charts[gap_chart_key(0, first.group)]
    # colour-blind-safe palette (Okabe-Ito blue and vermillion), same bytes every time
    assert "#0072b2" in charts["drivers-overall"].lower()
    assert render_charts(build_card(example_result(DFC), example_spec(DFC))) == charts
    html = render_html(card)
    for key in keys:
        assert charts[key] in html


def _with_small_group(n: int) -> AuditResult:
    """The DFC result with region=Abai's sampled size set to ``n`` and distinctive means."""
    result = example_result(DFC).model_copy(deep=True)
    ex = result.explanations
    assert ex is not None
    row = next(g for g in ex["group_importance"] if g["attributes"] == {"region": "Abai"})
    row["n"] = n
    row["mean_output"] = 0.97531
    row["mean_shap"] = {f: 0.0864 for f in row["mean_shap"]}
    return result


@pytest.mark.parametrize("n", [5, 500])
def test_a_small_groups_means_never_appear(n: int) -> None:
    card = build_card(_with_small_group(n), example_spec(DFC))
    doc, md, html = render_json(card), render_markdown(card), render_html(card)
    heatmap = render_charts(card)["drivers-groups"]
    dr = card.explanations.drivers
    assert dr is not None
    abai = next(g for g in dr.groups if g.group == "region=Abai")
    # where the group's means would be: its JSON values, its table rows, the heatmap's data
    drivers = json.dumps(json.loads(doc)["explanations"]["drivers"])
    places = {
        "json": "0.9753" in drivers or "0.0864" in drivers,
        "md": "| region=Abai | 0.975 | `" in md,
        "html": '<th scope="row">region=Abai</th><td class="num">0.975</td>' in html,
        "chart": "region=Abai: " in heatmap or "+0.086" in heatmap,
    }
    if n < card.min_cell:
        assert not any(places.values()), places
        assert not abai.shown and abai.mean_output is None and abai.mean_contributions is None
        assert "| region=Abai | not shown" in md
        assert "Not shown (too few sampled people): region=Abai." in heatmap
    else:  # the control: the same numbers do show when the group is large enough
        assert all(places.values()), places
        assert abai.shown


def test_suppressed_in_results_stays_suppressed() -> None:
    result = example_result(DFC).model_copy(deep=True)
    ex = result.explanations
    assert ex is not None
    row = ex["group_importance"][0]
    row.update(suppressed=True, mean_output=None, mean_shap=None)
    gap = ex["gaps"][0]
    gap.update(suppressed=True, group_mean=None, reference_mean=None, gap=None, top=None)
    card = build_card(result, example_spec(DFC))
    dr = card.explanations.drivers
    assert dr is not None
    assert not dr.groups[0].shown and dr.groups[0].top == []
    assert not dr.gaps[0].shown and not dr.gaps[0].charted and dr.gaps[0].gap is None
    assert "not shown" in dr.gaps[0].sentence and "0." not in dr.gaps[0].sentence
    assert gap_chart_key(0, dr.gaps[0].group) not in render_charts(card)


def _freq(attribute: str, group: str, feature: str, count: int | None, total: int) -> dict:
    return {
        "attribute": attribute,
        "group": group,
        "feature": feature,
        "count": count,
        "share": None if count is None else count / total,
        "suppressed": count is None,
    }


def _with_reasons(rows: list[dict[str, Any]]) -> AuditResult:
    """The Kenya result with a permutation explanation and the given reason counts."""
    result = example_result("kenya_sha_pmt").model_copy(deep=True)
    ex = copy.deepcopy(_raw())
    ex.update(explainer="permutation", output="log-odds", budget=500, reason_frequencies=rows)
    ex.pop("gaps")
    result.explanations = ex
    return result


def test_reason_counts_are_protected_across_groups_and_attributes() -> None:
    # x+y and u+v are two partitions of the same adverse decisions; y's count of F is
    # small (5: suppressed by the audit). A reader knows each group's total (its shares, or
    # fn + tn) and each feature's total (x+y = u+v): nothing may give the 5 away.
    counts = {
        ("a", "x"): {"F": 50, "G": 40},
        ("a", "y"): {"G": 30, "F": None},
        ("b", "u"): {"G": 35, "F": 30},
        ("b", "v"): {"G": 35, "F": 25},
    }
    true_f_y = 5
    rows = []
    for (attr, grp), by in counts.items():
        total = sum(v if v is not None else true_f_y for v in by.values())
        rows += [_freq(attr, grp, f, c, total) for f, c in by.items()]
    card = build_card(_with_reasons(rows), example_spec("kenya_sha_pmt"))
    dr = card.explanations.drivers
    assert dr is not None and dr.reasons is not None
    assert dr.explainer == "permutation" and not dr.exact
    assert "log-odds" in dr.unit
    shown = {(next(iter(g.attributes.items())), r.reason): r for g in dr.reasons for r in g.top}
    assert shown[(("a", "y"), "F")].count == "<10"  # the audit withheld it: a small count
    assert [r.count for r in shown.values()].count(SUPPRESSED) >= 1  # and a complement
    for r in shown.values():
        assert (r.share is None) == isinstance(r.count, str)
    # Independent check: the counts left hidden are not determined by the published ones
    # and the known totals (each hidden count varies in the null space of the system).
    keys = list(shown)
    hidden = [k for k in keys if isinstance(shown[k].count, str)]
    truth = {
        (ag, f): (true_f_y if c is None else c) for ag, by in counts.items() for f, c in by.items()
    }
    equations = []
    for ag in counts:  # group totals
        equations.append([1.0 if k[0] == ag else 0.0 for k in hidden])
    for f in ("F", "G"):  # feature totals, per attribute
        for attr in ("a", "b"):
            equations.append([1.0 if k[1] == f and k[0][0] == attr else 0.0 for k in hidden])
    a = np.array([e for e in equations if any(e)])
    _, sv, vt = np.linalg.svd(a)
    null = vt[int((sv > 1e-9).sum()) :]
    for i, k in enumerate(hidden):
        assert null.shape[0] > 0 and np.abs(null[:, i]).max() > 1e-9, f"{k} can be worked out"
    assert truth[(("a", "y"), "F")] == true_f_y
    # and the whole card still validates
    jsonschema.Draft202012Validator(card_json_schema()).validate(json.loads(render_json(card)))


def test_not_computed_says_how_to_turn_it_on() -> None:
    card = example_card("kenya_sha_pmt")
    assert card.explanations.drivers is None
    line = next(s for s in card.explanations.not_computed if "What drives the decisions" in s)
    assert "`explain:`" in line and "fairaudit[shap]" in line
    assert "What drives the decisions" in render_markdown(card)


def test_dfc_card_validates_against_the_schema() -> None:
    doc = json.loads(render_json(example_card(DFC)))
    jsonschema.Draft202012Validator(card_json_schema()).validate(doc)
    assert doc["explanations"]["drivers"]["explainer"] == "rules"


def test_sklearn_audit_card_has_the_section(tmp_path: Path, sklearn_skops_model: Any) -> None:  # noqa: F811
    fx = sklearn_skops_model
    frame = fx.frame.copy()
    frame["person_id"] = [f"P{i:04d}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "data.csv", index=False)
    spec = {
        "name": "explained",
        "intervention": "assistive",
        "data": {"path": "data.csv", "label": LABEL, "row_id": "person_id"},
        "model": fx.spec,
        "protected": [{"name": PROTECTED}],
        "gates": [
            {
                "id": "fnr",
                "metric": "exclusion_error",
                "measure": "difference",
                "max": -1.0,
                "decide_on": "point",
            }
        ],  # fails: every group gets a gap
        "explain": {"sample": 200},
    }
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["check", str(tmp_path / "audit.yaml"), "-q", "--out", str(out)])
    assert res.exit_code == 1, res.output
    ex = json.loads((out / "results.json").read_text())["explanations"]
    doc = json.loads((out / "card.json").read_text())
    jsonschema.Draft202012Validator(card_json_schema()).validate(doc)
    dr = doc["explanations"]["drivers"]
    assert dr["explainer"] == ex["explainer"] != "rules"
    assert dr["output"] == ex["output"]
    assert [w["feature"] for w in dr["overall"]] == [g["feature"] for g in ex["global_importance"]]
    assert [w["value"] for w in dr["overall"]] == [
        round(g["mean_abs_shap"], 4) for g in ex["global_importance"]
    ]
    assert len(dr["gaps"]) == len(ex["gaps"]) > 0
    for g, raw in zip(dr["gaps"], ex["gaps"], strict=True):
        if raw["suppressed"]:
            assert g["gap"] is None
            continue
        gap = raw["group_mean"] - raw["reference_mean"]
        assert f"Of the {_f3(abs(gap))} " in g["sentence"]
    # reason counts by group, from the reason codes of every denial
    assert dr["reasons"], "reason counts missing"
    first = ex["reason_frequencies"][0]
    group = next(
        r for r in dr["reasons"] if r["attributes"] == {first["attribute"]: first["group"]}
    )
    assert group["top"][0]["reason"] == first["feature"]
    assert group["top"][0]["count"] in (first["count"], SUPPRESSED, "<10")
    html = (out / "card.html").read_text()
    assert "What drives the decisions" in html
    assert (out / "charts" / "drivers-overall.svg").read_text() in html
    assert (out / "charts" / "drivers-groups.svg").exists()
