"""The card's Redress and Mitigation sections, and what the summary says should happen.

Every number is recomputed here from results.json (the group counts, rates, disparities and
the recommendations block) or from the audit spec — not from the card's code.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fairaudit.card import build_card, render_html, render_json, render_markdown
from fairaudit.card.model import SECTIONS, SUPPRESSED, Card
from fairaudit.results import AuditResult
from tests.card.conftest import DATE, example_card, example_result, example_spec
from tests.card.test_suppression import make_result
from tests.test_recommend import RULES, SPEC, _people

DFC = "digital_family_card"
ROOT = Path(__file__).resolve().parents[2]


def _key(attrs: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(attrs.items()))


def _hidden_groups(card: Card) -> set[tuple[tuple[str, str], ...]]:
    """Groups with a count the card does not show."""
    return {
        _key(r.attributes)
        for t in card.groups
        for r in t.rows
        if any(isinstance(getattr(r, f), str) for f in ("n", "tp", "fp", "fn", "tn"))
    }


def _shown_as(value: int, shown: Any) -> None:
    """A published count is the true one, ``<10`` exactly when small, or ``[c]``."""
    if 0 < value < 10:
        assert shown == "<10"
    elif isinstance(shown, str):
        assert shown == SUPPRESSED
    else:
        assert shown == value


# --------------------------------------------------------------------------- redress


def test_redress_numbers_equal_the_results() -> None:
    result, spec, card = example_result(DFC), example_spec(DFC), example_card(DFC)
    rec = result.recommendations
    assert rec is not None and rec.redress is not None
    red = card.redress
    assert red.computed and red.not_computed is None and red.harm == "wrongly excluded"
    groups = {_key(g.attributes): g for g in result.groups}
    refs = {tuple(r.attributes): r.group for r in result.references}
    failed = {_key(c.attributes) for c in result.checks if c.verdict == "fail" and c.attributes}
    assert {_key(r.attributes) for r in red.groups} == failed
    hidden = _hidden_groups(card)
    amount = spec.recommend.benefit.amount  # type: ignore[union-attr]
    assert amount == 45000
    reasons = {_key(rg.attributes): rg for rg in result.reasons.groups}  # type: ignore[union-attr]
    for row, rg in zip(red.groups, rec.redress.groups, strict=True):
        k = _key(row.attributes)
        g = groups[k]
        ref = groups[_key(refs[tuple(row.attributes)])]
        # wrongly excluded: the group's eligible people not selected (fn), or a mark
        _shown_as(g.counts.fn, row.harmed)
        assert row.harmed_estimate is None  # the DFC audit is not weighted
        blocked = k in hidden or _key(ref.attributes) in hidden
        fnr = g.counts.fn / (g.counts.tp + g.counts.fn)
        ref_fnr = ref.counts.fn / (ref.counts.tp + ref.counts.fn)
        if blocked:
            assert row.rate is row.reference_rate is row.excess is row.excess_ci is None
        else:
            assert row.rate == pytest.approx(fnr, abs=5e-5)
            assert row.reference_rate == pytest.approx(ref_fnr, abs=5e-5)
            eligible = g.counts.tp + g.counts.fn
            assert row.excess == round((fnr - ref_fnr) * eligible)
            lo, hi = g.disparities["false_negative_rate"].difference_ci  # type: ignore[misc]
            assert row.excess_ci == (round(lo * eligible), round(hi * eligible))
            assert f"About {row.excess:,} people (95% interval " in row.sentence
            assert f"{row.excess_ci[0]:,} to {row.excess_ci[1]:,})" in row.sentence
        if isinstance(row.harmed, int):
            assert row.value_at_stake == round(amount * g.counts.fn)
            assert row.value_unit == "KZT per month (illustrative)"
            assert row.benefit == "45,000 KZT per family per month (illustrative)"
            assert f"{row.harmed:,} eligible people were wrongly excluded" in row.sentence
            assert f"{row.value_at_stake:,} KZT per month (illustrative) is at stake" in (
                row.sentence
            )
        else:
            assert row.value_at_stake is None
        # what decided most of their cases: the reasons block's three largest
        top = sorted(reasons[k].reasons, key=lambda r: -r.wrongly)[:3]
        assert [r.reason for r in row.reasons] == [r.reason for r in top if r.wrongly]
        for shown, truth in zip(row.reasons, top, strict=False):
            _shown_as(truth.wrongly, shown.wrongly)
            if shown.share is not None:
                assert shown.share == pytest.approx(truth.wrongly / g.counts.fn, abs=5e-5)
        assert row.gates_failed == sorted(
            {c.id for c in result.checks if c.verdict == "fail" and _key(c.attributes) == k},
            key=[c.id for c in result.checks].index,
        )
        # the re-review list: counts only, never rows
        _shown_as(rg.rereview, row.rereview)
    _shown_as(rec.redress.rereview_total, red.rereview_total)
    assert red.rereview_artifact == "restricted/rereview"
    assert "restricted/rereview" in red.rereview_note
    assert [(c.name, c.how, c.deadline) for c in red.channels] == [
        (c.name, c.how, c.deadline)
        for c in spec.recommend.channels  # type: ignore[union-attr]
    ]


def test_dfc_redress_sentence_reads_as_a_finding() -> None:
    card = example_card(DFC)
    row = next(r for r in card.redress.groups if r.attributes == {"citizenship": "stateless"})
    assert row.sentence.startswith(
        "stateless (citizenship): 33 eligible people were wrongly excluded (not selected "
        "although eligible) in the audit data; 100.0% of its eligible people are not "
        "selected, against 34.1% in citizen (citizenship)."
    )
    assert "Most of their cases were decided by residence (33, 100.0%)." in row.sentence
    assert row.sentence.endswith("33 people of this group are on the re-review list.")


def test_a_checked_audit_card_counts_the_list_but_never_lists_anyone(
    tmp_path: Path, cli: Any
) -> None:
    # the small rules audit of tests/test_recommend.py, with row ids that could not appear
    # in a card by chance
    people = _people()
    people["pid"] = [f"fam-{i:06d}-x" for i in range(len(people))]
    people.to_csv(tmp_path / "people.csv", index=False)
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES), encoding="utf-8")
    (tmp_path / "audit.yaml").write_text(textwrap.dedent(SPEC), encoding="utf-8")
    res = cli("check", "audit.yaml", "--out", "out", "--exit-zero")
    assert res.exit_code == 0, res.output
    rows = pd.read_parquet(tmp_path / "out" / "restricted" / "rereview")
    assert len(rows) > 0
    card = json.loads((tmp_path / "out" / "card.json").read_text(encoding="utf-8"))
    (village,) = card["redress"]["groups"]
    assert card["redress"]["rereview_total"] == len(rows) == village["rereview"]
    assert village["harmed"] == int((rows["priority"] == 1).sum())
    assert card["redress"]["rereview_artifact"] == "restricted/rereview"
    for name in ("card.json", "card.md", "card.html"):
        text = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert "fam-" not in text, name
        assert "Re-review the decisions about the" in text
        assert "helpline (call 100; deadline: 30 days)" in text


# --------------------------------------------------------------------------- mitigation


def test_mitigation_numbers_equal_the_results() -> None:
    result, card = example_result(DFC), example_card(DFC)
    mit = result.recommendations.mitigation  # type: ignore[union-attr]
    assert mit is not None
    section = card.mitigation
    assert section.computed and section.not_computed is None
    assert section.harm_metric == "false_negative_rate" and section.harm_name == "exclusion error"
    assert section.recommended is None and mit.recommended is None
    assert section.conclusion == mit.conclusion
    assert section.cost_definition == mit.cost_definition
    by_label = {" × ".join(f"{a}={v}" for a, v in g.attributes.items()): g for g in result.groups}
    hidden = _hidden_groups(card)
    refs = {tuple(r.attributes): r.group for r in result.references}
    assert section.groups == list(mit.options[0].harm)
    assert [o.name for o in section.options] == [o.name for o in mit.options]
    withheld = 0
    for row, o in zip(section.options, mit.options, strict=True):
        assert (row.kind, row.passes, row.failed, row.insufficient) == (
            o.kind,
            o.passes,
            o.failed,
            o.insufficient,
        )
        assert row.failed_groups == o.failed_groups
        assert row.overall_error == round(o.overall_error, 4)  # type: ignore[arg-type]
        assert row.newly_covered_eligible == round(o.newly_covered_eligible)
        assert row.newly_covered_ineligible == round(o.newly_covered_ineligible)
        assert row.cost == round(o.cost)  # type: ignore[arg-type]
        assert row.cost_unit == o.cost_unit
        assert row.reviews == o.reviews  # DFC's reviews are thousands: nothing to hide
        assert not row.recommended
        for label, rate in o.harm.items():
            g = by_label[label]
            eligible = g.counts.tp + g.counts.fn
            excluded = round(rate * eligible)  # type: ignore[operator]
            small = 0 < excluded < 10 or 0 < eligible - excluded < 10
            blocked = (
                _key(g.attributes) in hidden or _key(refs[tuple(g.attributes)]) in hidden or small
            )
            if blocked:
                assert row.harm[label] is None
                withheld += 1
            else:
                assert row.harm[label] == round(rate, 4)  # type: ignore[arg-type]
    # the residence change leaves 4 of the 33 stateless eligible families selected: a small
    # count, so its rate for them is withheld
    residence = next(o for o in section.options if o.name.startswith("residence"))
    assert residence.harm["citizenship=stateless"] is None
    assert withheld >= 1
    # the manual-review options count the families with a missing record, straight from
    # the data
    frame = pd.read_parquet(
        ROOT / "examples/digital_family_card/population.parquet",
        columns=["lacks_utilities_registry", "disability_registry"],
    )
    reviews = {o.name: o.reviews for o in section.options}
    assert reviews["'lacks_utilities': missing = manual review"] == int(
        frame["lacks_utilities_registry"].isna().sum()
    )
    assert reviews["'disability_in_family': missing = manual review"] == int(
        frame["disability_registry"].isna().sum()
    )
    assert reviews["present model"] is None
    md = render_markdown(card)
    assert "| manual reviews |" in md
    utilities = reviews["'lacks_utilities': missing = manual review"]
    assert f"| {utilities:,} |" in md
    # the present model's row is the audit itself
    present = section.options[0]
    assert present.kind == "current" and present.cost == 0
    assert present.failed == sum(c.verdict == "fail" for c in result.checks)


# --------------------------------------------------------------------------- summary


def test_dfc_summary_says_what_should_happen() -> None:
    result, card = example_result(DFC), example_card(DFC)
    rec = result.recommendations
    assert rec is not None and rec.redress is not None and rec.mitigation is not None
    do = card.summary.what_should_happen
    text = " ".join(do)
    total = rec.redress.rereview_total
    assert f"Re-review the decisions about the {total:,} people on the re-review list" in text
    for rg in rec.redress.groups:
        name = f"{' × '.join(rg.attributes.values())} ({' × '.join(rg.attributes)})"
        assert f"{name}: {rg.rereview:,}" in text
    assert "restricted/rereview" in text
    assert (
        "Contact centre of the Ministry of Labour and Social Protection (phone 1414 (free of "
        "charge)" in text
    )
    assert "District employment and social programmes department" in text
    options = rec.mitigation.options[1:]
    assert not any(o.passes for o in options)
    closest = min(options, key=lambda o: (o.failed, o.cost or 0.0))
    assert (
        f"No simulated change fixes this: none of the {len(options)} changes tried passes "
        f"every check. The closest, “{closest.name}”, still leaves {closest.failed} checks "
        f"failing (now {rec.mitigation.options[0].failed})." in text
    )
    # plain words: no metric names or gate ids in what should happen
    for jargon in ("false_negative_rate", "FNR", "exclusion-error-ratio", "gate"):
        assert jargon not in " ".join(do[:4])


def _with_a_passing_option(result: AuditResult) -> tuple[AuditResult, str]:
    doc = json.loads(result.to_json())
    mit = doc["recommendations"]["mitigation"]
    option = next(o for o in mit["options"] if o["name"] == "no outreach steps")
    option.update(passes=True, failed=0, failed_groups=[])
    mit["recommended"] = option["name"]
    mit["conclusion"] = "Recommended: no outreach steps."
    return AuditResult.model_validate(doc), option["name"]


def test_a_recommended_option_is_highlighted_and_adopted() -> None:
    result, name = _with_a_passing_option(example_result(DFC))
    card = build_card(result, example_spec(DFC), date=DATE)
    rows = [o for o in card.mitigation.options if o.recommended]
    assert [o.name for o in rows] == [name] == [card.mitigation.recommended]
    cost = next(o.cost for o in result.recommendations.mitigation.options if o.name == name)  # type: ignore[union-attr]
    text = " ".join(card.summary.what_should_happen)
    assert f"Adopt the change “{name}”: eligible families are reached without" in text
    assert f"(cost: {round(cost):+,} benefit paid (the rules' amounts))" in text  # type: ignore[arg-type]
    html = render_html(card)
    assert f'<tr class="recommended"><th scope="row">{name} <strong>★ recommended</strong>' in html
    md = render_markdown(card)
    assert f"**{name} ★ recommended**" in md and f"**Recommended: {name}.**" in md


# --------------------------------------------------------------------------- not computed


def test_without_recommendations_the_sections_say_how_to_get_them() -> None:
    card = example_card("kenya_sha_pmt")
    assert example_result("kenya_sha_pmt").recommendations is None
    for section in (card.redress, card.mitigation):
        assert not section.computed
        assert section.not_computed is not None and "`recommend:`" in section.not_computed
    assert card.redress.groups == [] and card.mitigation.options == []
    assert card.redress.not_computed.startswith("Redress: not computed")  # type: ignore[union-attr]
    assert card.mitigation.not_computed.startswith("Mitigation: not computed")  # type: ignore[union-attr]
    assert any("`recommend:`" in line for line in card.summary.what_should_happen)
    md = render_markdown(card)
    redress = md[md.index("## 9. Redress") : md.index("## 10. Mitigation")]
    assert "Redress: not computed" in redress and "`recommend:`" in redress
    html = render_html(card)
    assert '<section id="redress"' in html and "Mitigation: not computed" in html


def test_mitigation_not_simulated_says_so() -> None:
    doc = json.loads(example_result(DFC).to_json())
    doc["recommendations"]["mitigation"] = None
    card = build_card(AuditResult.model_validate(doc), example_spec(DFC), date=DATE)
    assert card.redress.computed and not card.mitigation.computed
    assert "`recommend.simulate` is false" in card.mitigation.not_computed  # type: ignore[operator]
    assert any("no change to the model was simulated" in x for x in card.summary.what_should_happen)


# --------------------------------------------------------------------------- disclosure


def _small_result(
    fn_a1: int, listed: dict[tuple[tuple[str, str], ...], int], total: int
) -> AuditResult:
    """Groups over a and b; a=a1 (and a=a1 × b=b1) fail a gate; their re-review counts."""
    cells = {
        ("a0", "b0"): {"tp": 40, "fp": 30, "fn": 20, "tn": 300},
        ("a0", "b1"): {"tp": 35, "fp": 25, "fn": 22, "tn": 280},
        ("a1", "b0"): {"tp": 30, "fp": 20, "fn": fn_a1 - 15, "tn": 250},
        ("a1", "b1"): {"tp": 28, "fp": 21, "fn": 15, "tn": 260},
    }
    doc = json.loads(make_result(cells).to_json())
    failing = [{"a": "a1"}, {"a": "a1", "b": "b1"}]
    doc["checks"] = [
        {
            "id": "gap",
            "metric": "false_negative_rate",
            "measure": "difference",
            "attributes": attrs,
            "value": 0.2,
            "threshold": 0.1,
            "operator": "<=",
            "verdict": "fail",
            "reason": "too high",
        }
        for attrs in failing
    ]
    doc["status"] = "fail"
    groups = {_key(g["attributes"]): g for g in doc["groups"]}
    rows = []
    for attrs in failing:
        g = groups[_key(attrs)]
        rows.append(
            {
                "attributes": attrs,
                "checks": ["gap"],
                "metric": "false_negative_rate",
                "wrongly": g["counts"]["fn"],
                "rate": g["metrics"]["false_negative_rate"]["value"],
                "reference": {},
                "reference_rate": None,
                "excess": None,
                "value_at_stake": 100.0 * g["counts"]["fn"],
                "value_unit": "coins per person",
                "reasons": [{"reason": "income", "wrongly": g["counts"]["fn"], "share": 1.0}],
                "rereview": listed[_key(attrs)],
            }
        )
    doc["recommendations"] = {
        "redress": {
            "harm": "wrongly excluded",
            "groups": rows,
            "channels": [],
            "rereview_rule": "Priority 1: wrongly excluded.",
            "rereview_artifact": "restricted/rereview",
            "rereview_total": total,
        }
    }
    return AuditResult.model_validate(doc)


def test_small_redress_counts_are_suppressed() -> None:
    a1, a1b1 = _key({"a": "a1"}), _key({"a": "a1", "b": "b1"})
    # a=a1 has 20 wrongly excluded; 15 of them are in b=b1. The list: 26 of a1, 21 of
    # a1 × b1, 26 in all. a1's list minus its wrongly excluded is 6 (small), and so is a1's
    # list minus a1 × b1's (5): a reader must not be able to take either difference.
    result = _small_result(20, {a1: 26, a1b1: 21}, 26)
    card = build_card(result, min_cell=10)
    rows = {_key(r.attributes): r for r in card.redress.groups}
    fn_shown = {
        _key(r.attributes): r.fn for t in card.groups for r in t.rows if _key(r.attributes) == a1
    }

    def shown_pair(x: Any, y: Any) -> bool:
        return isinstance(x, int) and isinstance(y, int)

    assert not shown_pair(rows[a1].rereview, rows[a1].harmed)
    assert not shown_pair(rows[a1].rereview, rows[a1b1].rereview)
    assert not shown_pair(card.redress.rereview_total, rows[a1b1].rereview)
    # the same people counted twice are shown (or hidden) the same way
    assert rows[a1].harmed == fn_shown[a1]
    # a count from 1 to 9 among the harmed: shown as <10, with what would reveal it withheld
    small = build_card(_small_result(19, {a1: 30, a1b1: 30}, 30), min_cell=10)
    r = {_key(x.attributes): x for x in small.redress.groups}[a1]
    assert r.harmed == 19  # 19 - 15 = 4 in a1 × b0: hidden in the group table, not here
    cell = next(
        row for t in small.groups for row in t.rows if row.attributes == {"a": "a1", "b": "b0"}
    )
    assert cell.fn == "<10"
    tiny = build_card(_small_result(17, {a1: 17, a1b1: 15}, 17), min_cell=20)
    t = {_key(x.attributes): x for x in tiny.redress.groups}
    assert t[a1].harmed == "<20" and t[a1b1].harmed == "<20"
    assert t[a1].value_at_stake is None and t[a1].reasons[0].wrongly == "<20"
    assert t[a1].reasons[0].share is None and t[a1].rereview == "<20"
    assert "fewer than 20 eligible people were wrongly excluded" in t[a1].sentence
    assert '"value_at_stake": 1700' not in render_json(tiny)


def test_dfc_redress_counts_reveal_no_small_difference() -> None:
    card = example_card(DFC)
    rows = card.redress.groups
    counts: list[tuple[str, Any, Any]] = []
    for r in rows:
        counts.append((r.group, r.rereview, r.harmed))
        for other in rows:
            if set(r.attributes.items()) < set(other.attributes.items()):
                counts.append((f"{r.group} ⊃ {other.group}", r.rereview, other.rereview))
    for what, x, y in counts:
        if isinstance(x, int) and isinstance(y, int):
            assert not 0 < abs(x - y) < 10, what


# --------------------------------------------------------------------------- chart, crosswalk


def test_mitigation_chart_is_described_and_deterministic() -> None:
    from fairaudit.card.render import MITIGATION_CHART, render_charts

    card = example_card(DFC)
    one = render_charts(card)[MITIGATION_CHART]
    assert one == render_charts(card)[MITIGATION_CHART]
    assert one.startswith('<svg role="img" aria-labelledby="chart-mitigation-t chart-mitigation-d"')
    desc = re.search(r'<desc id="chart-mitigation-d">(.*?)</desc>', one)
    assert desc is not None
    for o in card.mitigation.options:
        assert f"{o.failed} failed checks" in desc.group(1)
    assert "http" not in one.replace("http://www.w3.org", "")
    assert one in render_html(card)
    # no chart when nothing was simulated
    assert MITIGATION_CHART not in render_charts(example_card("kenya_sha_pmt"))


def test_crosswalk_points_recourse_and_measures_to_the_new_sections() -> None:
    rows = {(r.framework, r.item): r.sections for r in example_card(DFC).crosswalk}
    recourse = next(s for (f, i), s in rows.items() if f.startswith("Canada") and "Recourse" in i)
    assert recourse == ["redress"]
    measures = next(s for (f, i), s in rows.items() if "Art. 27" in f and i.startswith("(f)"))
    assert measures == ["redress", "mitigation"]
    assert any("mitigation" in s for (f, _), s in rows.items() if f.startswith("Model Cards"))
    assert all(s in SECTIONS for sections in rows.values() for s in sections)
    assert not any(s == [] and "Recourse" in i for (_, i), s in rows.items())


def test_weighted_redress_shows_population_estimates() -> None:
    doc = json.loads(example_result(DFC).to_json())
    doc["weighted"] = True
    group = doc["recommendations"]["redress"]["groups"][0]
    group["wrongly_weighted"] = 12345.6
    group["value_at_stake"] = 12345.6 * 45000
    card = build_card(AuditResult.model_validate(doc), example_spec(DFC), date=DATE)
    row = card.redress.groups[0]
    assert row.harmed == group["wrongly"] and row.harmed_estimate == 12346
    assert "about 12,346 in the population (weighted estimate)" in row.sentence
    assert row.value_at_stake == round(12345.6 * 45000)
    assert row.benefit == "45,000 KZT per family per month (illustrative)"
    assert any("population numbers are estimates" in line for line in card.redress.what)
    assert card.redress.groups[1].harmed_estimate is None  # not given for that group


def test_punitive_redress_speaks_of_people_wrongly_flagged() -> None:
    a1, a1b1 = _key({"a": "a1"}), _key({"a": "a1", "b": "b1"})
    doc = json.loads(_small_result(30, {a1: 60, a1b1: 45}, 60).to_json())
    doc["intervention"] = "punitive"
    doc["headline_metric"] = "false_positive_rate"
    red = doc["recommendations"]["redress"]
    red["harm"] = "wrongly flagged"
    groups = {_key(g["attributes"]): g for g in doc["groups"]}
    for g in red["groups"]:
        fp = groups[_key(g["attributes"])]["counts"]["fp"]
        g.update(metric="false_positive_rate", wrongly=fp, value_at_stake=None, reasons=[])
        g["value_unit"] = None
    card = build_card(AuditResult.model_validate(doc), min_cell=10)
    row = {_key(r.attributes): r for r in card.redress.groups}[a1]
    fp_a1 = groups[a1]["counts"]["fp"]
    assert row.harmed == fp_a1 == 41
    assert row.sentence.startswith(
        "a1 (a): 41 people were wrongly flagged (flagged although they should not have been)"
    )
    assert "wrongly flagged" in " ".join(card.summary.what_should_happen)
