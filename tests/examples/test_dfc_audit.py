"""The flagship audit, end to end: the committed population, the rules, the findings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fairaudit.audit import run_audit
from fairaudit.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "audits" / "digital_family_card.yaml"


@pytest.fixture(scope="module")
def result():
    return run_audit(load_spec(SPEC))


def _group(result, **attrs):
    return next(g for g in result.groups if g.attributes == attrs)


def test_committed_population_is_the_generators_output(dfc) -> None:
    committed = pd.read_parquet(REPO / "examples" / "digital_family_card" / "population.parquet")
    fresh = dfc.generate(200_000, dfc.DEFAULT_SEED)
    pd.testing.assert_frame_equal(committed, fresh)


def test_overall_exclusion_error_is_in_the_pmt_range(result) -> None:
    fnr = result.overall.metrics["exclusion_error"].value
    assert 0.20 <= fnr <= 0.45
    assert result.n_audited == 200_000 and sum(result.dropped.values()) == 0


def test_gates_fail_where_the_defects_harm(result) -> None:
    failed = {(c.id, tuple(c.attributes.items())) for c in result.checks if c.verdict == "fail"}
    # the citizenship proxy and the SMS channel exclude whole groups
    for group in (
        {"citizenship": "resident_foreigner"},
        {"citizenship": "stateless"},
        {"phone": "no phone"},
    ):
        assert ("exclusion-error-ratio", tuple(group.items())) in failed
        assert _group(result, **group).metrics["exclusion_error"].value == 1.0
    # SMS in a language the family does not read
    assert ("exclusion-error-ratio", (("home_language", "uzbek"),)) in failed
    # single parents (stale records, composition) and rural women
    assert ("exclusion-error-ratio", (("single_parent", "single parent"),)) in failed
    rural_women = (("settlement", "rural"), ("head_sex", "female"))
    assert ("exclusion-error-ratio", rural_women) in failed
    assert result.status == "fail"
    # no false alarm where the data cannot tell: small groups get insufficient evidence
    old = [c for c in result.checks if c.attributes == {"age_band": "63+"}]
    assert old and all(c.verdict == "insufficient_evidence" for c in old)


def test_rural_families_are_excluded_more_often(result) -> None:
    rural = _group(result, settlement="rural").metrics["exclusion_error"]
    urban = _group(result, settlement="urban").metrics["exclusion_error"]
    assert rural.value > urban.value
    assert rural.ci[0] > urban.ci[1] - 0.02  # clearly separated, not noise


def test_batched_scoring_equals_one_batch(result) -> None:
    """Population parameters (the median income) are computed on all rows, not per batch."""
    batched = run_audit(load_spec(SPEC), batch_rows=30_000)
    a = result.model_dump(exclude={"provenance"})
    b = batched.model_dump(exclude={"provenance"})
    assert a["groups"] == b["groups"]
    assert a["checks"] == b["checks"]


def test_attribution_tallies_equal_direct_computation(result, dfc_rules) -> None:
    from fairaudit.rules import evaluate

    pop = pd.read_parquet(REPO / "examples" / "digital_family_card" / "population.parquet")
    ev = evaluate(dfc_rules, pop, programmes=["tsa"])
    tsa = ev.programmes["tsa"]
    decision = tsa.decision(True)
    stage = pd.Series(tsa.deciding_stage(True))
    eligible = pop["tsa_eligible_true"].to_numpy(dtype=bool)
    excluded = eligible & (decision == 0)
    # reasons: every wrongly excluded family has exactly one deciding stage
    overall = result.reasons.groups[0]
    assert overall.attributes == {} and overall.wrongly == int(excluded.sum())
    direct = stage[excluded].value_counts()
    direct = direct[direct > 0]
    assert {r.reason: r.wrongly for r in overall.reasons if r.wrongly} == direct.to_dict()
    rural = next(g for g in result.reasons.groups if g.attributes == {"settlement": "rural"})
    m = excluded & (pop["settlement"].astype(str).to_numpy() == "rural")
    assert rural.wrongly == int(m.sum())
    rural_direct = stage[m].value_counts()
    assert {r.reason: r.wrongly for r in rural.reasons if r.wrongly} == (
        rural_direct[rural_direct > 0].to_dict()
    )
    # every group's wrongly excluded equals its false negatives
    for g in result.groups:
        rg = next(x for x in result.reasons.groups if x.attributes == g.attributes)
        assert rg.wrongly == g.counts.fn
    # category confusion equals a crosstab of the true and the card's level
    cat = result.categories.groups[0]
    order = ["A", "B", "C", "D", "E"]
    table = pd.crosstab(pop["category_true"].astype(str), pd.Series(ev.category, name="m"))
    table = table.reindex(index=order, columns=order, fill_value=0)
    assert cat.matrix == table.to_numpy().tolist()
    assert cat.need_hidden == sum(table.iloc[i, j] for i in range(5) for j in range(i))
    # targeting differential = coverage of the eligible - coverage of the non-eligible
    td = result.overall.metrics["targeting_differential"]
    tpr = result.overall.metrics["true_positive_rate"].value
    fpr = result.overall.metrics["false_positive_rate"].value
    assert td.value == pytest.approx(tpr - fpr) and td.ci[0] < td.value < td.ci[1]
    # the poorest decile of true income
    cutoff = result.poorest.cutoff
    poor = pop["income_true_pc"].to_numpy() <= cutoff
    assert abs(poor.mean() - 0.1) < 0.001
    p0 = result.poorest.groups[0]
    assert p0.eligible == int((poor & eligible).sum())
    assert p0.excluded == int((poor & excluded).sum())


def test_counterfactuals_show_each_defect(result) -> None:
    cf = {d.defect: d for d in result.counterfactuals.groups[0].defects}
    rural = next(
        g for g in result.counterfactuals.groups if g.attributes == {"settlement": "rural"}
    )
    urban = next(
        g for g in result.counterfactuals.groups if g.attributes == {"settlement": "urban"}
    )
    r = {d.defect: d for d in rural.defects}
    u = {d.defect: d for d in urban.defects}
    # livestock at a standard price excludes rural families only
    assert r["livestock_standard_price"].exclusions_fixed > 0
    assert u["livestock_standard_price"].exclusions_fixed == 0
    # stale income records exclude eligible families; invisible informal income includes
    assert cf["stale_or_missing_income"].exclusions_fixed > 100
    assert cf["informal_income"].inclusions_fixed > 10 * cf["informal_income"].exclusions_fixed
    assert rural.excluded + urban.excluded == result.counterfactuals.groups[0].excluded
