"""Redress and mitigation, re-computed independently from the data with pandas."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fairaudit.audit import run_audit
from fairaudit.cli import main
from fairaudit.errors import SpecError
from fairaudit.spec import load_spec

RULES = """
    version: 1
    name: cash-test
    parameters:
      line: 100
    programmes:
      cash:
        eligibility:
          - {name: income_test, when: income_reg < line, missing: review}
        outreach:
          - {name: phone, when: phone}
        amount: line - income_reg
        amount_unit: coins per month
"""

SPEC = """
    name: cash
    intervention: assistive
    data: {path: people.csv, label: eligible, row_id: pid}
    model:
      loader: rules
      path: rules.yaml
      programme: cash
      counterfactuals: {stale_income: {income_reg: income_true}}
    protected:
      - name: area
        reference: town
    min_group_size: 20
    min_positives: 5
    gates:
      - {id: exclusion, metric: exclusion_error, measure: difference, max: 0.05}
    recommend:
      benefit: {amount: 40, unit: coins per month}
      channels:
        - {name: helpline, how: call 100, deadline: 30 days}
      rules_changes:
        - name: no phone needed
          drop_stages: [phone]
"""


def _people(n: int = 3000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.choice(["town", "village"], n, p=[0.6, 0.4])
    income_true = rng.gamma(2.0, 70.0, n)
    stale = rng.random(n) < np.where(area == "village", 0.3, 0.05)
    income_reg = np.where(stale, income_true + rng.gamma(2.0, 60.0, n), income_true)
    phone = rng.random(n) < np.where(area == "village", 0.6, 0.95)
    return pd.DataFrame(
        {
            "pid": np.arange(n) + 1000,
            "area": area,
            "income_true": income_true.round(2),
            "income_reg": income_reg.round(2),
            "phone": phone,
            "eligible": (income_true < 100).astype(int),
        }
    )


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    _people().to_csv(tmp_path / "people.csv", index=False)
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES), encoding="utf-8")
    (tmp_path / "audit.yaml").write_text(textwrap.dedent(SPEC), encoding="utf-8")
    return tmp_path


def _fnr(frame: pd.DataFrame, decision: np.ndarray, area: str) -> float:
    m = (frame["area"] == area) & (frame["eligible"] == 1)
    return float((decision[m.to_numpy()] == 0).mean())


def test_redress_and_mitigation_equal_a_direct_computation(audit_dir: Path) -> None:
    people = pd.read_csv(audit_dir / "people.csv")
    lines: list[str] = []
    spec = load_spec(audit_dir / "audit.yaml")
    result = run_audit(spec, restricted_dir=audit_dir / "r", status=lines.append)
    assert result.status == "fail"
    assert result.min_cell == spec.card.min_cell == 10  # recorded by the audit itself
    rec = result.recommendations
    assert rec is not None and rec.redress is not None and rec.mitigation is not None

    decision = ((people["income_reg"] < 100) & people["phone"]).to_numpy().astype(int)
    village = (people["area"] == "village").to_numpy()
    eligible = people["eligible"].to_numpy() == 1
    wrongly = eligible & (decision == 0)

    # redress: the village's wrongly excluded, and the excess over the town's rate
    (g,) = rec.redress.groups
    assert g.attributes == {"area": "village"} and g.checks == ["exclusion"]
    assert g.wrongly == int((wrongly & village).sum())
    fnr_v, fnr_t = _fnr(people, decision, "village"), _fnr(people, decision, "town")
    assert g.rate == pytest.approx(fnr_v) and g.reference_rate == pytest.approx(fnr_t)
    assert g.excess == pytest.approx((fnr_v - fnr_t) * int((eligible & village).sum()))
    assert g.excess_ci is not None and g.excess_ci[0] < g.excess < g.excess_ci[1]
    assert g.value_at_stake == pytest.approx(40 * g.wrongly)
    stages = np.where(people["income_reg"] >= 100, "income_test", "phone")
    top = pd.Series(stages[wrongly & village]).value_counts()
    assert [(r.reason, r.wrongly) for r in g.reasons] == list(top.items())
    assert [c.name for c in rec.redress.channels] == ["helpline"]

    # the re-review list: priority 1 = exactly the village's wrongly excluded
    rows = pd.read_parquet(audit_dir / "r" / "rereview")
    first = set(rows.loc[rows["priority"] == 1, "row_id"])
    assert first == set(people.loc[wrongly & village, "pid"])
    # priority 2: denied, not wrongly by the truth, but correcting the income grants it
    flip = (people["income_true"] < 100) & (people["income_reg"] >= 100) & people["phone"]
    second = village & (decision == 0) & ~eligible & flip.to_numpy()
    assert set(rows.loc[rows["priority"] == 2, "row_id"]) == set(people.loc[second, "pid"])
    assert g.rereview == len(rows)

    # mitigation: every option re-computed from the data
    opts = {o.name: o for o in rec.mitigation.options}
    assert opts["present model"].harm == {"area=village": pytest.approx(fnr_v)}
    no_phone = (people["income_reg"] < 100).to_numpy().astype(int)
    o = opts["no phone needed"]
    assert o.harm["area=village"] == pytest.approx(_fnr(people, no_phone, "village"))
    assert o.newly_covered == int(no_phone.sum() - decision.sum())
    assert o.newly_covered_eligible == int(
        (no_phone & eligible).sum() - (decision & eligible).sum()
    )
    paid = lambda d: float(((100 - people["income_reg"]) * d).sum())  # noqa: E731
    assert o.cost == pytest.approx(paid(no_phone) - paid(decision))
    fixed = ((people["income_true"] < 100) & people["phone"]).to_numpy().astype(int)
    f = opts["fix stale_income"]
    assert f.kind == "data"
    assert f.harm["area=village"] == pytest.approx(_fnr(people, fixed, "village"))
    err = float(((fixed == 1) != eligible).mean())
    assert f.overall_error == pytest.approx(err)
    # the automatic outreach option is the spec's change under another name: same numbers
    auto = opts["no 'phone' step"]
    assert auto.harm == o.harm and auto.cost == o.cost
    # progress names each option as it is simulated (the CLI shows these lines)
    n = len(rec.mitigation.options) - 1
    assert lines[0].startswith("re-running the present model")
    assert lines[1:] == [
        f"simulating mitigation option {i}/{n}: {o.name}"
        for i, o in enumerate(rec.mitigation.options[1:], start=1)
    ]
    passing = [x for x in rec.mitigation.options[1:] if x.passes]
    if passing:
        best = min(passing, key=lambda x: x.cost)
        assert rec.mitigation.recommended == best.name
    else:
        assert rec.mitigation.recommended is None
        assert "None of the" in rec.mitigation.conclusion


def test_bad_rules_change_names_the_field(audit_dir: Path) -> None:
    spec_text = (audit_dir / "audit.yaml").read_text().replace("[phone]", "[fone]")
    (audit_dir / "audit.yaml").write_text(spec_text)
    with pytest.raises(SpecError) as err:
        run_audit(load_spec(audit_dir / "audit.yaml"))
    assert "recommend.rules_changes" in str(err.value) and "fone" in str(err.value)
    res = CliRunner().invoke(main, ["check", str(audit_dir / "audit.yaml"), "--no-card"])
    assert res.exit_code == 2
    assert "phone" in res.output  # the fix lists the stages there are


def test_margin_without_a_threshold_is_refused(audit_dir: Path) -> None:
    spec_text = (audit_dir / "audit.yaml").read_text()
    spec_text = spec_text.replace("recommend:\n", "recommend:\n  margin: 5\n")
    (audit_dir / "audit.yaml").write_text(spec_text)
    res = CliRunner().invoke(main, ["check", str(audit_dir / "audit.yaml"), "--no-card"])
    assert res.exit_code == 2
    assert "recommend.margin" in res.output and "threshold" in res.output


REVIEW_RULES = """
    version: 1
    name: review-test
    dimensions:
      housing:
        label: Housing
        weight: 0.5
        indicators:
          no_water:
            label: no piped water
            deprived_if: no_water_reg
            missing: not_deprived
      health:
        label: Health
        weight: 0.5
        indicators:
          disabled:
            label: a member with a disability
            deprived_if: disabled_reg
            missing: not_deprived
    categories:
      - {code: A, label: well-off, from: 0.0, below: 0.5}
      - {code: B, label: deprived, from: 0.5}
    programmes:
      aid:
        eligibility:
          - name: deprived
            when: category != 'A'
        amount: 50
        amount_unit: coins per month
"""

REVIEW_SPEC = """
    name: water
    intervention: assistive
    data: {path: families.csv, label: eligible, row_id: fid}
    model:
      loader: rules
      path: rules.yaml
      programme: aid
      counterfactuals: {water_records: {no_water_reg: no_water_true}}
    protected:
      - name: area
        reference: town
    min_group_size: 20
    min_positives: 5
    gates:
      - {id: exclusion, metric: exclusion_error, measure: difference, max: 0.05}
    recommend: {}
"""


def _families(n: int = 4000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.choice(["town", "village"], n, p=[0.6, 0.4])
    village = area == "village"
    water = rng.random(n) < np.where(village, 0.4, 0.1)
    disabled = rng.random(n) < 0.15
    # the provider has no record for many village homes (a rural blind spot), and some
    # records are stale; disability records are missing for some families everywhere
    water_reg = np.where(rng.random(n) < 0.05, ~water, water).astype(object)
    water_reg[rng.random(n) < np.where(village, 0.35, 0.05)] = None
    disabled_reg = disabled.astype(object)
    disabled_reg[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "fid": np.arange(n),
            "area": area,
            "no_water_reg": water_reg,
            "no_water_true": water,
            "disabled_reg": disabled_reg,
            "eligible": (water | disabled).astype(int),
        }
    )


def test_manual_review_records_the_true_value_of_missing_records(tmp_path: Path) -> None:
    fam = _families()
    fam.to_csv(tmp_path / "families.csv", index=False)
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(REVIEW_RULES), encoding="utf-8")
    (tmp_path / "audit.yaml").write_text(textwrap.dedent(REVIEW_SPEC), encoding="utf-8")
    result = run_audit(load_spec(tmp_path / "audit.yaml"))
    assert result.status == "fail" and result.recommendations is not None
    mit = result.recommendations.mitigation
    assert mit is not None
    opts = {o.name: o for o in mit.options}

    back = pd.read_csv(tmp_path / "families.csv")  # as the audit reads it
    water_reg, dis_reg = back["no_water_reg"], back["disabled_reg"]
    missing = water_reg.isna()
    eligible = back["eligible"].to_numpy() == 1

    def decision(water: pd.Series, dis: pd.Series) -> np.ndarray:
        # deprived in at least one of the two equally weighted dimensions
        w = water.fillna(False).astype(bool)
        d = dis.fillna(False).astype(bool)
        return (w | d).to_numpy().astype(int)

    now = decision(water_reg, dis_reg)
    # reviewed: only the missing water records get their true value; stale ones stay
    reviewed = decision(water_reg.where(~missing, back["no_water_true"]), dis_reg)
    fixed = decision(back["no_water_true"], dis_reg)  # the data fix corrects every record
    assert (reviewed != now).any() and (reviewed != fixed).any()

    o = opts["'no_water': missing = manual review"]
    assert o.kind == "rules" and "no_water_reg := no_water_true" in o.description
    assert o.reviews == int(missing.sum())
    assert o.harm["area=village"] == pytest.approx(_fnr(back, reviewed, "village"))
    assert o.overall_error == pytest.approx(float((reviewed.astype(bool) != eligible).mean()))
    assert o.newly_covered == int(reviewed.sum() - now.sum())
    assert o.cost == pytest.approx(50.0 * (reviewed.sum() - now.sum()))
    f = opts["fix water_records"]
    assert f.reviews is None
    assert f.harm["area=village"] == pytest.approx(_fnr(back, fixed, "village"))

    # no true field for disability: what a review finds is unknown, so the families wait
    # as the programme treats pending reviews (deny): nothing changes, and it says so
    d = opts["'disabled': missing = manual review"]
    assert "does not say what a review would find" in d.description and "deny" in d.description
    assert d.reviews is None
    assert d.harm == opts["present model"].harm and d.newly_covered == 0
