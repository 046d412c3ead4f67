"""Reason codes: exact on hand-checkable models (a logistic regression with known
coefficients; a rules model), TreeExplainer in batches for trees, the restricted artifact
and the per-group frequencies."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairaudit.errors import InputError
from fairaudit.explain import (
    REASON_COLUMNS,
    explain,
    make_explainer,
    reason_codes,
    reason_frequencies,
    write_reasons_parquet,
)
from fairaudit.models.base import LoadContext
from fairaudit.models.rules import RulesLoader
from tests.explain.conftest import FEATURES, ScoreFunctionModel, sklearn_model


@pytest.fixture
def known_logistic():
    """A logistic regression with coefficients (2, -1, 0.5), intercept 0, and a background
    whose column means are all 0, so each SHAP value is coefficient × value."""
    from sklearn.linear_model import LogisticRegression

    cols = ["a", "b", "c"]
    background = pd.DataFrame([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]] * 5, columns=cols)
    est = LogisticRegression().fit(background, [1, 0] * 5)
    est.coef_ = np.array([[2.0, -1.0, 0.5]])
    est.intercept_ = np.array([0.0])
    return sklearn_model(est, cols), background


def test_linear_reason_codes_are_exactly_the_expected_ones(known_logistic) -> None:
    model, background = known_logistic
    rows = pd.DataFrame(
        {
            # φ = (2a, -b, 0.5c)
            "a": [-1.0, 1.0, -2.0, 0.0],  # row 0: φ = (-2, -1.5, -1) -> logit -4.5, denied
            "b": [1.5, 0.0, -1.0, 0.0],  # row 1: φ = (2, 0, 0) -> selected
            "c": [-2.0, 0.0, 0.0, -4.0],  # row 2: φ = (-4, 1, 0) -> denied; row 3: (0,0,-2)
        }
    )
    decision = model.predict(rows).decision
    assert decision.tolist() == [0, 1, 0, 0]
    ids = np.array(["p0", "p1", "p2", "p3"])
    ex = make_explainer(model, background)
    assert ex.name == "linear"
    codes = reason_codes(model, rows, decision == 0, ids, explainer=ex, top=2)
    assert list(codes.columns) == REASON_COLUMNS
    got = [(r.row_id, r.rank, r.feature, round(r.contribution, 12)) for r in codes.itertuples()]
    assert got == [
        ("p0", 1, "a", 2.0),
        ("p0", 2, "b", 1.5),  # c (1.0) is third: cut by top=2
        ("p2", 1, "a", 4.0),  # b pushes toward selection: not a reason
        ("p3", 1, "c", 2.0),
    ]
    assert set(codes["source"]) == {"shap"}
    # punitive: the flag (decision 1) is adverse, and positive pushes are the reasons
    flagged = reason_codes(model, rows, decision == 1, ids, explainer=ex, adverse_decision=1)
    assert [(r.row_id, r.rank, r.feature, r.contribution) for r in flagged.itertuples()] == [
        ("p1", 1, "a", 2.0)
    ]


RULES = """
    version: 1
    name: reasons-test
    parameters:
      line: 100
    variables:
      income_pc: income_reg / size
    dimensions:
      money:
        weight: 1
        indicators:
          poor: {deprived_if: income_pc < line, missing: deprived}
    categories:
      - {code: A, from: 0, below: 1}
      - {code: B, from: 1}
    programmes:
      cash:
        eligibility:
          - {name: income_test, when: income_pc < line, missing: review}
        outreach:
          - {name: phone, when: phone}
"""


@pytest.fixture
def rules_model(tmp_path: Path):
    (tmp_path / "cash.yaml").write_text(textwrap.dedent(RULES), encoding="utf-8")
    options = RulesLoader.Options.model_validate(
        {"path": "cash.yaml", "programme": "cash", "counterfactuals": {"income_reg": "income_true"}}
    )
    return RulesLoader().load(options, LoadContext(base_dir=tmp_path))


def test_rules_reason_codes_are_the_exact_rule_attribution(rules_model) -> None:
    frame = pd.DataFrame(
        {
            "income_reg": [50.0, 150.0, np.nan, 90.0],
            "income_true": [50.0, 90.0, 20.0, 90.0],
            "size": [1, 1, 3, 3],
            "phone": [True, True, True, False],
        }
    )
    decision = rules_model.predict(frame).decision
    assert decision.tolist() == [1, 0, 0, 0]
    ids = [10, 11, 12, 13]
    codes = reason_codes(rules_model, frame, decision == 0, ids)
    got = [(r.row_id, r.rank, r.feature, r.contribution, r.source) for r in codes.itertuples()]
    assert got == [
        (11, 1, "income_test", 1.0, "stage"),  # registry income 150 >= line 100
        (11, 2, "income_reg", 1.0, "counterfactual"),  # true income 90 would pass
        (12, 1, "review", 1.0, "stage"),  # unknown income: sent to review
        (12, 2, "income_reg", 1.0, "counterfactual"),
        (13, 1, "phone", 1.0, "stage"),  # eligible, but no phone: never reached
    ]
    # punitive reading (selection adverse): the deprived indicator raised the score
    flagged = reason_codes(rules_model, frame, decision == 1, ids, adverse_decision=1)
    got = [(r.row_id, r.rank, r.feature, r.contribution, r.source) for r in flagged.itertuples()]
    assert got == [(10, 1, "selected", 1.0, "stage"), (10, 2, "poor", 1.0, "indicator")]


def test_tree_reason_codes_use_tree_explainer_in_batches(population, hgb) -> None:
    rows = population.iloc[:1000].reset_index(drop=True)
    decision = hgb.predict(rows).decision
    adverse = decision == 0
    ex = make_explainer(hgb, rows)
    assert ex.name == "tree"
    calls: list[tuple[int, int]] = []
    codes = reason_codes(
        hgb,
        rows,
        adverse,
        np.arange(1000) + 5000,
        explainer=ex,
        top=3,
        batch_rows=97,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (adverse.sum(), adverse.sum()) and len(calls) > 1
    # independent check: the three most negative SHAP values of the full explanation
    full = explain(hgb, rows).values
    for pos in np.flatnonzero(adverse)[:50]:
        phi = full[pos]
        want = [FEATURES[j] for j in np.argsort(phi, kind="stable") if phi[j] < 0][:3]
        got = codes.loc[codes["row_id"] == pos + 5000].sort_values("rank")
        assert list(got["feature"]) == want
        assert np.allclose(got["contribution"], -np.sort(phi[phi < 0])[: len(want)])


def test_model_agnostic_reason_codes_need_consent(population) -> None:
    model = ScoreFunctionModel(FEATURES, lambda x: 1 / (1 + np.exp(-x["income"].to_numpy())))
    rows = population.iloc[:6].reset_index(drop=True)
    adverse = model.predict(rows).decision == 0
    with pytest.raises(InputError, match="allow_agnostic"):
        reason_codes(model, rows, adverse, np.arange(6))
    codes = reason_codes(
        model, rows, adverse, np.arange(6), allow_agnostic=True, background_rows=6, budget=9
    )
    # only income moves the score, so its SHAP value is the score minus the background's
    # mean score: it is the one reason of every denied row scoring below that mean
    score = model.predict(rows).score
    assert set(codes["feature"]) == {"income"}
    below = adverse & (score < score.mean())
    assert sorted(codes["row_id"]) == sorted(np.flatnonzero(below))
    assert np.allclose(codes["contribution"], score.mean() - score[codes["row_id"]])


def test_reasons_artifact_and_frequencies(tmp_path: Path) -> None:
    codes = pd.DataFrame(
        {
            "row_id": [1, 1, 2, 3, 4],
            "rank": np.array([1, 2, 1, 1, 1], dtype="int16"),
            "feature": ["income", "size", "income", "proxy", "income"],
            "contribution": [1.0, 0.5, 2.0, 1.0, 0.1],
            "source": ["shap"] * 5,
        }
    )
    path = write_reasons_parquet(codes, tmp_path / "restricted" / "reasons.parquet")
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, codes)
    assert [p.name for p in path.parent.iterdir()] == ["reasons.parquet"]  # no temp left
    groups = pd.DataFrame({"sex": ["f", "m", "f", "m", "f"]})
    freq = reason_frequencies(codes, groups, [1, 2, 3, 4, 5])
    got = {(r.group, r.feature): (r.count, r.share) for r in freq.itertuples()}
    # f: rows 1 (income) and 3 (proxy); m: rows 2 and 4 (income); row 5 has no reason
    assert got == {("f", "income"): (1, 0.5), ("f", "proxy"): (1, 0.5), ("m", "income"): (2, 1.0)}
    assert not freq["suppressed"].any()
    small = reason_frequencies(codes, groups, [1, 2, 3, 4, 5], min_count=2)
    hidden = small.set_index(["group", "feature"])
    assert hidden.loc[("m", "income"), "count"] == 2
    assert hidden.loc[("f", "income"), "suppressed"]
    assert pd.isna(hidden.loc[("f", "income"), "count"])
    assert pd.isna(hidden.loc[("f", "income"), "share"])
    everything = reason_frequencies(codes, groups, [1, 2, 3, 4, 5], top_rank=None)
    assert ("f", "size") in {(r.group, r.feature) for r in everything.itertuples()}
    with pytest.raises(InputError):
        write_reasons_parquet(codes.drop(columns=["source"]), tmp_path / "x.parquet")


def test_rules_model_exact_and_model_agnostic_explanations_agree(rules_model) -> None:
    from fairaudit.explain import explain, make_explainer

    frame = pd.DataFrame(
        {
            "income_reg": [50.0, 150.0, 80.0, 90.0, 300.0, 20.0],
            "income_true": [50.0, 90.0, 20.0, 90.0, 300.0, 20.0],
            "size": [1, 1, 3, 3, 2, 1],
            "phone": [True, True, True, False, True, False],
        }
    )
    expl = explain(rules_model, frame, background_rows=6)
    assert expl.explainer == "rules" and expl.output == "score"
    # the score (deprivation) reads income and size only, never the phone
    assert expl.features == ["income_reg", "size"]
    score = rules_model.predict(frame).score
    assert np.allclose(expl.model_output, score, atol=1e-9)
    agnostic = make_explainer(rules_model, frame, agnostic=True, budget=20, background_rows=6)
    perm = explain(rules_model, frame, explainer=agnostic)
    assert perm.explainer == "permutation" and perm.output == "score"
    assert np.allclose(perm.model_output, score, atol=1e-9)
    # two columns matter, and every antithetic pair of permutations orders them both ways:
    # the sampled values are exact here, so both paths must give the same numbers
    assert np.allclose(perm.frame()[["income_reg", "size"]], expl.frame(), atol=1e-9)
    assert np.allclose(perm.frame()[["phone", "income_true"]], 0.0)
