"""Exact SHAP values of a rules model's score (fairaudit.explain.rules_shap).

Cross-checked against ``shap.explainers.Exact`` with the same background (the independent
computation), on a small rules file and on the Digital Family Card's own rules, and against
a hand computation.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairaudit.explain import explain, make_explainer
from fairaudit.explain.rules_shap import indicator_inputs, rules_score_shap
from fairaudit.explain.shap_explain import _Codec, _import_shap
from fairaudit.models.base import LoadContext
from fairaudit.models.rules import RulesLoader, RulesModel, RulesOptions
from fairaudit.rules import RuleSet, evaluate, load_rules

DFC = Path(__file__).resolve().parents[2] / "examples" / "digital_family_card"

RULES = """
    version: 1
    name: shap-test
    parameters:
      line: 100
      crowd: 2
    variables:
      income_pc: (wage + transfer) / size
    dimensions:
      money:
        weight: 0.5
        indicators:
          poor: {deprived_if: income_pc < line, missing: review}
          no_wage: {deprived_if: wage == 0 and size > 1, missing: not_deprived}
      home:
        weight: 0.5
        indicators:
          crowded: {deprived_if: size / rooms > crowd, missing: not_deprived}
          unsafe_water: {deprived_if: no_water, missing: deprived}
    categories:
      - {code: A, from: 0, below: 0.5}
      - {code: B, from: 0.5}
    programmes:
      cash:
        eligibility:
          - {name: income_test, when: income_pc < line, missing: review}
        outreach:
          - {name: phone, when: phone}
"""


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    wage = rng.choice([0.0, 60.0, 150.0, 400.0], n)
    wage[rng.random(n) < 0.15] = np.nan  # unknown income: the `review` policy counts 0
    return pd.DataFrame(
        {
            "wage": wage,
            "transfer": rng.choice([0.0, 50.0, 120.0], n),
            "size": rng.integers(1, 6, n),
            "rooms": rng.integers(1, 4, n),
            "no_water": pd.array(rng.random(n) < 0.3, dtype="boolean"),
            "phone": rng.random(n) < 0.8,
        }
    )


@pytest.fixture
def small_model(tmp_path: Path) -> RulesModel:
    (tmp_path / "r.yaml").write_text(textwrap.dedent(RULES), encoding="utf-8")
    options = RulesLoader.Options.model_validate({"path": "r.yaml", "programme": "cash"})
    return RulesLoader().load(options, LoadContext(base_dir=tmp_path))


def _shap_exact(
    rules: RuleSet, frame: pd.DataFrame, bg: pd.DataFrame, features: list[str], params: dict
) -> np.ndarray:
    """shap's Exact explainer over ``features``; other columns fixed at the row's values."""
    shap = _import_shap()
    codec = _Codec(pd.concat([frame[features], bg[features]], ignore_index=True))
    out = []
    for i in range(len(frame)):
        row = frame.iloc[[i]].reset_index(drop=True)

        def f(X: np.ndarray, row: pd.DataFrame = row) -> np.ndarray:
            data = row.iloc[np.zeros(len(X), dtype=int)].reset_index(drop=True)
            decoded = codec.decode(X)
            for c in features:
                data[c] = decoded[c]
            score = evaluate(rules, data, parameters=params, programmes=[]).score
            assert score is not None
            return np.asarray(score)

        masker = shap.maskers.Independent(codec.encode(bg[features]), max_samples=len(bg))
        explainer = shap.explainers.Exact(f, masker)
        res = explainer(codec.encode(row[features]), max_evals=2 ** (len(features) + 1))
        out.append(np.asarray(res.values)[0])
    return np.vstack(out)


def test_indicator_inputs_follow_variables(small_model: RulesModel) -> None:
    inputs = indicator_inputs(small_model.rules)
    assert inputs == {
        "poor": ("wage", "transfer", "size"),
        "no_wage": ("wage", "size"),
        "crowded": ("size", "rooms"),
        "unsafe_water": ("no_water",),
    }


def test_equals_shap_exact_on_a_small_rules_file(small_model: RulesModel) -> None:
    frame, bg = _frame(12, 1), _frame(7, 2)
    params = {"line": 100, "crowd": 2}
    values, base, features = rules_score_shap(small_model.rules, frame, bg, parameters=params)
    assert features == ["wage", "transfer", "size", "rooms", "no_water"]
    expected = _shap_exact(small_model.rules, frame, bg, features, params)
    np.testing.assert_allclose(values, expected, atol=1e-12)
    score = evaluate(small_model.rules, frame, parameters=params, programmes=[]).score
    np.testing.assert_allclose(base + values.sum(axis=1), score, atol=1e-12)
    bg_score = evaluate(small_model.rules, bg, parameters=params, programmes=[]).score
    assert base[0] == pytest.approx(float(np.mean(bg_score)))


def test_hand_computed_with_one_background_row(small_model: RulesModel) -> None:
    # x: wage 0, transfer 50, size 3, rooms 1, water -> poor, no_wage, crowded
    # b: wage 400, transfer 0, size 1, rooms 1 -> nothing deprived; weights 0.25 each
    x = pd.DataFrame(
        {"wage": [0.0], "transfer": [50.0], "size": [3], "rooms": [1]}
        | {"no_water": pd.array([False], dtype="boolean"), "phone": [True]}
    )
    b = pd.DataFrame(
        {"wage": [400.0], "transfer": [0.0], "size": [1], "rooms": [1]}
        | {"no_water": pd.array([False], dtype="boolean"), "phone": [True]}
    )
    values, base, features = rules_score_shap(
        small_model.rules, x, b, parameters={"line": 100, "crowd": 2}
    )
    phi = dict(zip(features, values[0], strict=True))
    # crowded (size, rooms): 3/1 > 2 at x, 1/1 at b; rooms agree -> size gets its 0.25
    # no_wage (wage, size): needs both wage=0 and size>1 -> 0.125 each
    # poor (wage, transfer, size): (wage+transfer)/size < 100 at x; at b 400 is not poor.
    #   Coalitions over (wage, transfer, size), v = poor(x_T, b_rest):
    #   {}:400/1 no; {w}:0/1 yes; {t}:450/1 no; {s}:400/3 no; {w,t}:50 yes; {w,s}:0 yes;
    #   {t,s}:450/3 no; {w,t,s}:50/3 yes -> wage is pivotal everywhere: φ_wage = 0.25
    assert base[0] == 0.0
    assert phi["wage"] == pytest.approx(0.25 + 0.125)
    assert phi["size"] == pytest.approx(0.25 + 0.125)
    assert phi["transfer"] == pytest.approx(0.0)
    assert phi["rooms"] == pytest.approx(0.0)
    assert phi["no_water"] == pytest.approx(0.0)


@pytest.fixture(scope="module")
def dfc_model() -> tuple[RulesModel, pd.DataFrame]:
    population = pd.read_parquet(DFC / "population.parquet")
    rules = load_rules(DFC / "rules.yaml")
    model = RulesModel(rules, RulesOptions(path="rules.yaml", programme="tsa"), "rules.yaml")
    model.prepare([population])
    return model, population


def test_equals_shap_exact_on_the_digital_family_card(dfc_model) -> None:
    model, population = dfc_model
    income = population["income_formal_registry"]
    # rows with and without income records (the `review` policy), and a large family
    rows = population.loc[[income.isna().idxmax(), income.notna().idxmax(), 7]]
    bg = population.sample(4, random_state=3)
    values, base, features = rules_score_shap(model.rules, rows, bg, parameters=model._pinned)
    assert len(features) == 17
    expected = _shap_exact(model.rules, rows, bg, features, model._pinned)
    # shap sums 2^17 coalitions: its rounding is ~1e-12
    np.testing.assert_allclose(values, expected, atol=1e-9)
    assert np.abs(values).max() > 0.01


def test_explain_uses_the_exact_rules_explainer_and_adds_up(dfc_model) -> None:
    model, population = dfc_model
    frame = population.sample(600, random_state=5).reset_index(drop=True)
    ex = make_explainer(model, frame, background_rows=50, seed=1)
    assert ex.name == "rules" and ex.output == "score" and ex.budget is None
    assert ex.background_rows == 50
    expl = explain(model, frame, explainer=ex)
    np.testing.assert_allclose(expl.model_output, model.predict(frame).score, atol=1e-9)
    # the score never reads the eligibility-only inputs (citizenship, the SMS channel)
    assert "citizenship" not in expl.features and "phone_registered" not in expl.features
    # the model-agnostic path, asked for explicitly, explains the same score
    agnostic = make_explainer(model, frame, agnostic=True, background_rows=10, budget=40)
    assert agnostic.name == "permutation" and agnostic.output == "score"
