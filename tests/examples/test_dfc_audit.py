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
    for group in ({"citizenship": "resident_foreigner"}, {"citizenship": "stateless"},
                  {"phone": "no phone"}):
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
