"""Vectorised evaluation: every construct, three-valued logic, missing-data policies,
scores, categories, overrides and programmes — each checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairaudit.errors import InputError, SpecError
from fairaudit.rules import RuleFileError, evaluate

from .helpers import rules, same, values

NAN = None  # "unknown" in expected values

FRAME = pd.DataFrame(
    {
        "a": [1.0, 2.0, np.nan, 4.0],
        "b": [2.0, 0.0, 1.0, np.nan],
        "flag": pd.array([True, False, None, True], dtype="boolean"),
        "region": pd.Categorical(["Astana", "Almaty", None, "Turkistan"]),
        "lang": pd.array(["kazakh", "russian", "kazakh", None], dtype="string"),
        "other_lang": ["russian", "russian", "kazakh", "kazakh"],
        "n": pd.array([1, 2, None, 4], dtype="Int64"),
    }
)


# --- arithmetic ------------------------------------------------------------------------


def test_arithmetic_propagates_unknown() -> None:
    assert same(values("a + b", FRAME), [3, 2, NAN, NAN])
    assert same(values("a - b * 2", FRAME), [-3, 2, NAN, NAN])
    assert same(values("-a", FRAME), [-1, -2, NAN, -4])
    assert same(values("(a + 1) * 2", FRAME), [4, 6, NAN, 10])


def test_division_by_zero_is_unknown() -> None:
    assert same(values("a / b", FRAME), [0.5, NAN, NAN, NAN])
    assert same(values("a / 0", FRAME), [NAN, NAN, NAN, NAN])


def test_nullable_integer_and_boolean_columns() -> None:
    assert same(values("n * 10", FRAME), [10, 20, NAN, 40])
    assert same(values("flag", FRAME), [1, 0, NAN, 1])
    assert same(values("flag + 0", FRAME), [1, 0, NAN, 1])  # true/false count as 1/0


# --- comparisons and text ----------------------------------------------------------------


def test_numeric_comparisons_are_unknown_when_a_side_is() -> None:
    assert same(values("a < b", FRAME), [1, 0, NAN, NAN])
    assert same(values("a >= 2", FRAME), [0, 1, NAN, 1])
    assert same(values("a == 4", FRAME), [0, 0, NAN, 1])
    assert same(values("a != 4", FRAME), [1, 1, NAN, 0])
    assert same(values("flag == 1", FRAME), [1, 0, NAN, 1])


def test_chained_comparison_is_a_conjunction() -> None:
    assert same(values("1 < a <= 2", FRAME), [0, 1, NAN, 0])
    # false in one link decides even when another is unknown
    assert same(values("5 < a < b", FRAME), [0, 0, NAN, 0])


def test_membership() -> None:
    assert same(values("a in [1, 4]", FRAME), [1, 0, NAN, 1])
    assert same(values("a not in [1, 4]", FRAME), [0, 1, NAN, 0])
    assert same(values("region in ['Astana', 'Shymkent']", FRAME), [1, 0, NAN, 0])
    assert same(values("region not in ['Astana']", FRAME), [0, 1, NAN, 1])


def test_text_equality_on_categorical_string_and_object_columns() -> None:
    assert same(values("region == 'Almaty'", FRAME), [0, 1, NAN, 0])
    assert same(values("'Almaty' != region", FRAME), [1, 0, NAN, 1])
    assert same(values("lang == 'kazakh'", FRAME), [1, 0, 1, NAN])
    assert same(values("other_lang == 'kazakh'", FRAME), [0, 0, 1, 1])
    # a value no row has matches nothing (and is not unknown)
    assert same(values("other_lang == 'uzbek'", FRAME), [0, 0, 0, 0])


def test_comparing_two_text_columns() -> None:
    assert same(values("lang == other_lang", FRAME), [0, 1, 1, NAN])
    assert same(values("lang != other_lang", FRAME), [1, 0, 0, NAN])


# --- logic (Kleene) ------------------------------------------------------------------------


def test_three_valued_logic_truth_tables() -> None:
    tv = pd.DataFrame(
        {
            "p": pd.array(
                [True, True, True, False, False, False, None, None, None], dtype="boolean"
            ),
            "q": pd.array(
                [True, False, None, True, False, None, True, False, None], dtype="boolean"
            ),
        }
    )
    assert same(values("p and q", tv), [1, 0, NAN, 0, 0, 0, NAN, 0, NAN])
    assert same(values("p or q", tv), [1, 1, 1, 1, 0, NAN, 1, NAN, NAN])
    assert same(values("not p", tv), [0, 0, 0, 1, 1, 1, NAN, NAN, NAN])


def test_logic_with_literals() -> None:
    assert same(values("flag or true", FRAME), [1, 1, 1, 1])
    assert same(values("flag and false", FRAME), [0, 0, 0, 0])


# --- functions -------------------------------------------------------------------------


def test_if_chooses_per_row_and_is_unknown_with_its_condition() -> None:
    assert same(values("if(a > 1, a * 10, -1)", FRAME), [-1, 20, NAN, 40])
    assert same(values("if(flag, 1, 0)", FRAME), [1, 0, NAN, 1])
    assert same(values("if(true, 5, a)", FRAME), [5, 5, 5, 5])


def test_min_max_abs_round_floor_ceil() -> None:
    assert same(values("min(a, b, 1.5)", FRAME), [1, 0, NAN, NAN])
    assert same(values("max(a, 3)", FRAME), [3, 3, NAN, 4])
    assert same(values("abs(b - 1)", FRAME), [1, 1, 0, NAN])
    assert same(values("round(a / 3, 2)", FRAME), [0.33, 0.67, NAN, 1.33])
    assert same(values("round(a * 0.4)", FRAME), [0, 1, NAN, 2])
    assert same(values("floor(a / 3)", FRAME), [0, 0, NAN, 1])
    assert same(values("ceil(a / 3)", FRAME), [1, 1, NAN, 2])


def test_is_missing_and_coalesce() -> None:
    assert same(values("is_missing(a)", FRAME), [0, 0, 1, 0])
    assert same(values("is_missing(region)", FRAME), [0, 0, 1, 0])
    assert same(values("is_missing(flag)", FRAME), [0, 0, 1, 0])
    assert same(values("coalesce(b, a, 0)", FRAME), [2, 0, 1, 4])
    assert same(values("coalesce(flag, true)", FRAME), [1, 0, 1, 1])


# --- parameters and population statistics --------------------------------------------------


def stats_frame() -> pd.DataFrame:
    return pd.DataFrame({"x": [10.0, 20.0, 30.0, 40.0, np.nan], "w": [1.0, 1.0, 1.0, 5.0, 9.0]})


def stat(expr: str) -> float:
    rs = rules(f"""
        version: 1
        name: s
        parameters:
          p: {expr}
        programmes:
          g:
            eligibility:
              - {{name: s, when: 'true'}}
        """)
    return float(evaluate(rs, stats_frame()).parameters["p"])


def test_statistics_are_lower_weighted_quantiles_over_known_values() -> None:
    assert stat("median(x)") == 20.0  # lower median of 10, 20, 30, 40
    assert stat("median(x, w)") == 40.0  # weights 1,1,1,5: half of 8 is reached at 40
    assert stat("quantile(x, 0.25)") == 10.0
    assert stat("quantile(x, 1)") == 40.0
    assert stat("quantile(x, 0)") == 10.0
    assert stat("mean(x)") == 25.0
    assert stat("mean(x, w)") == pytest.approx((10 + 20 + 30 + 200) / 8)
    assert stat("0.35 * median(x) + 1") == pytest.approx(8.0)


def test_statistic_without_known_values_is_an_input_error() -> None:
    rs = rules("""
        version: 1
        name: s
        parameters:
          p: median(x)
        programmes:
          g: {eligibility: [{name: s, when: 'true'}]}
        """)
    with pytest.raises(InputError, match="median\\(\\) has no known values"):
        evaluate(rs, pd.DataFrame({"x": [np.nan, np.nan]}))
    with pytest.raises(InputError, match="negative"):
        rs2 = rules("""
            version: 1
            name: s
            parameters:
              p: median(x, w)
            programmes:
              g: {eligibility: [{name: s, when: 'true'}]}
            """)
        evaluate(rs2, pd.DataFrame({"x": [1.0, 2.0], "w": [1.0, -1.0]}))


def test_parameters_build_on_each_other_and_can_be_pinned() -> None:
    rs = rules("""
        version: 1
        name: s
        parameters:
          sm: 100
          med: median(income)
          line: max(0.5 * med, 0.7 * sm)
        programmes:
          g:
            eligibility:
              - {name: poor, when: income < line}
        """)
    frame = pd.DataFrame({"income": [50.0, 100.0, 200.0, 300.0]})
    ev = evaluate(rs, frame)
    assert ev.parameters == {"sm": 100.0, "med": 100.0, "line": 70.0}
    assert ev.programmes["g"].eligible.tolist() == [1, 0, 0, 0]
    pinned = evaluate(rs, frame, parameters={"med": 500})
    assert pinned.parameters["line"] == 250.0
    assert pinned.programmes["g"].eligible.tolist() == [1, 1, 1, 0]
    with pytest.raises(SpecError, match="no parameter 'meds' to pin"):
        evaluate(rs, frame, parameters={"meds": 1})


# --- indicators, score, categories, overrides -----------------------------------------------

SCORING = """
    version: 1
    name: scoring
    dimensions:
      money:
        weight: 0.5
        indicators:
          poor: {deprived_if: income < 100, missing: review}
      health:
        weight: 0.5
        indicators:
          disabled: {deprived_if: disability, missing: not_deprived}
          sick: {deprived_if: chronic, missing: deprived}
    categories:
      - {code: A, from: 0, below: 0.25}
      - {code: B, from: 0.25, below: 0.5}
      - {code: C, from: 0.5}
    overrides:
      - {name: cap, when: rich, no_worse_than: A, missing: ignore}
      - {name: emergency, when: emergency, set: C, missing: apply}
      - {name: risk, when: risk, no_better_than: B}
    programmes:
      help:
        eligibility:
          - {name: gate, when: "category in ['B', 'C']"}
"""


def scoring_frame() -> pd.DataFrame:
    b = "boolean"
    return pd.DataFrame(
        {
            "income": [50.0, 150.0, np.nan, np.nan, 50.0, 500.0, 500.0, 150.0],
            "disability": pd.array([True, None, False, True, False, False, False, False], dtype=b),
            "chronic": pd.array([False, False, None, False, False, False, False, True], dtype=b),
            "rich": pd.array([False, False, False, False, True, None, False, False], dtype=b),
            "emergency": pd.array([False, False, False, False, False, False, None, False], dtype=b),
            "risk": pd.array([False, False, False, False, False, False, False, True], dtype=b),
        }
    )


def test_missing_policies_score_and_categories() -> None:
    ev = evaluate(rules(SCORING), scoring_frame())
    # weights: poor 0.5, disabled 0.25, sick 0.25
    assert ev.indicators["poor"].tolist() == [1, 0, 0, 0, 1, 0, 0, 0]  # review -> 0 for now
    assert ev.indicators["disabled"].tolist() == [1, 0, 0, 1, 0, 0, 0, 0]  # NA -> not deprived
    assert ev.indicators["sick"].tolist() == [0, 0, 1, 0, 0, 0, 0, 1]  # NA -> deprived
    assert ev.unknown["poor"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    assert ev.unknown["disabled"].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    assert ev.score is not None
    assert ev.score.tolist() == [0.75, 0, 0.25, 0.25, 0.5, 0, 0, 0.25]
    assert ev.dimensions["health"].tolist() == [0.25, 0, 0.25, 0.25, 0, 0, 0, 0.25]
    assert ev.category is not None and ev.category_source is not None
    assert list(ev.category) == ["C", "A", "B", "B", "A", "A", "C", "B"]
    assert list(ev.category_source) == [
        "score",
        "score",
        "score",
        "score",
        "cap",
        "score",
        "emergency",
        "score",
    ]
    # row 2: 0.25 + unknown poor (0.5) could be C; row 3 likewise
    assert ev.category_review is not None
    assert ev.category_review.tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    assert list(ev.deprived()) == ["poor,disabled", "", "sick", "disabled", "poor", "", "", "sick"]
    assert list(ev.unknown_indicators())[:4] == ["", "disabled", "poor,sick", "poor"]
    assert ev.contributions().sum(axis=1).tolist() == ev.score.tolist()


def test_override_order_and_bounds() -> None:
    ev = evaluate(rules(SCORING), scoring_frame())
    # row 7: score 0.25 -> B; 'risk' says no better than B: stays B, source stays 'score'
    assert ev.category is not None and ev.category_source is not None
    assert ev.category[7] == "B" and ev.category_source[7] == "score"
    frame = scoring_frame()
    frame.loc[7, "chronic"] = False  # score 0 -> A, then risk lifts it to B
    ev = evaluate(rules(SCORING), frame)
    assert ev.category[7] == "B" and ev.category_source[7] == "risk"


def test_review_only_where_the_unknown_could_change_the_decision() -> None:
    ev = evaluate(rules(SCORING), scoring_frame())
    help_ = ev.programmes["help"]
    # row 2 and 3: B when poor counts 0, C when it counts 1: eligible either way: no review
    assert help_.status.tolist() == [1, 0, 1, 1, 0, 0, 1, 1]
    frame = scoring_frame()
    frame.loc[2, "chronic"] = False  # now A (0) or C (0.5): the unknown matters
    ev = evaluate(rules(SCORING), frame)
    assert ev.programmes["help"].status.tolist()[2] == 2
    assert ev.programmes["help"].decision().tolist()[2] == 0  # review_outcome: deny
    assert list(ev.programmes["help"].deciding_stage())[2] == "review"


def test_score_rounding_reaches_a_cut_off_at_one_third() -> None:
    rs = rules("""
        version: 1
        name: thirds
        dimensions:
          d:
            weight: 1
            indicators:
              i1: {deprived_if: x > 0, missing: deprived}
              i2: {deprived_if: x > 1, missing: deprived}
              i3: {deprived_if: x > 2, missing: deprived}
        categories:
          - {code: low, from: 0, below: 1}
          - {code: all, from: 1}
        programmes:
          g: {eligibility: [{name: s, when: "category == 'all'"}]}
        """)
    ev = evaluate(rs, pd.DataFrame({"x": [3.0, 2.0]}))
    assert ev.score is not None and ev.score.tolist() == [1.0, pytest.approx(2 / 3)]
    assert list(ev.category) == ["all", "low"]


# --- programmes ------------------------------------------------------------------------

PROGRAMME = """
    version: 1
    name: programme
    parameters:
      line: 100
    programmes:
      cash:
        eligibility:
          - {name: resident, when: "status in ['citizen', 'kandas']"}
          - {name: income_test, when: income < line, missing: review}
          - {name: asset_test, when: not car, missing: pass}
        kinds:
          - {name: unconditional, when: adults == 0}
          - {name: conditional, when: true}
        amount: (line - income) * size
        outreach:
          - {name: phone, when: phone}
          - {name: reply, when: reply, missing: fail}
      top_up:
        eligibility:
          - {name: cash_first, when: cash}
          - {name: big, when: size >= 4}
"""


def programme_frame() -> pd.DataFrame:
    b = "boolean"
    return pd.DataFrame(
        {
            "status": [
                "citizen",
                "stateless",
                "kandas",
                "citizen",
                "citizen",
                "citizen",
                "citizen",
            ],
            "income": [50.0, 10.0, np.nan, 150.0, 40.0, 20.0, np.nan],
            "car": pd.array([False, False, False, False, None, True, True], dtype=b),
            "adults": [0, 1, 1, 1, 2, 1, 1],
            "size": [1, 2, 3, 4, 5, 2, 4],
            "phone": [True, True, True, True, False, True, True],
            "reply": pd.array([True, True, True, True, True, None, True], dtype=b),
        }
    )


def test_first_failing_stage_decides() -> None:
    cash = evaluate(rules(PROGRAMME), programme_frame()).programmes["cash"]
    assert cash.status.tolist() == [1, 0, 2, 0, 1, 0, 0]
    # row 6: income unknown (review) but the asset test rules it out anyway
    assert list(cash.deciding_stage(include_outreach=False)) == [
        "selected",
        "resident",
        "review",
        "income_test",
        "selected",
        "asset_test",
        "asset_test",
    ]
    assert cash.stage_missing.tolist() == [0, 0, 0, 0, 0, 0, 0]
    assert list(cash.deciding_stage()) == [
        "selected",
        "resident",
        "review",
        "income_test",
        "phone",
        "asset_test",
        "asset_test",
    ]
    assert cash.decision(include_outreach=False).tolist() == [1, 0, 0, 0, 1, 0, 0]
    assert cash.decision().tolist() == [1, 0, 0, 0, 0, 0, 0]
    assert cash.review.tolist() == [0, 0, 1, 0, 0, 0, 0]


def test_kinds_amounts_and_outreach_missing_policy() -> None:
    frame = programme_frame()
    frame.loc[4, "phone"] = True
    frame.loc[5, "car"] = False  # row 5 now eligible; its reply is unknown -> fail
    cash = evaluate(rules(PROGRAMME), frame).programmes["cash"]
    assert cash.decision(include_outreach=False).tolist() == [1, 0, 0, 0, 1, 1, 0]
    assert cash.decision().tolist() == [1, 0, 0, 0, 1, 0, 0]
    assert list(cash.deciding_stage())[5] == "reply"
    assert cash.deciding_missing().tolist() == [0, 0, 0, 0, 0, 1, 0]
    assert cash.kind is not None and cash.amount is not None
    assert list(pd.Series(cash.kind).astype(object).fillna("-")) == [
        "unconditional",
        "-",
        "-",
        "-",
        "conditional",
        "conditional",
        "-",
    ]
    assert cash.amount.tolist() == [50.0, 0, 0, 0, 300.0, 160.0, 0]


def test_review_outcome_grant() -> None:
    text = PROGRAMME.replace("      top_up:", "        review_outcome: grant\n      top_up:")
    cash = evaluate(rules(text), programme_frame()).programmes["cash"]
    assert cash.status.tolist()[2] == 2
    assert cash.decision(include_outreach=False).tolist()[2] == 1
    assert list(cash.deciding_stage())[2] == "selected"


def test_a_programme_can_require_another() -> None:
    ev = evaluate(rules(PROGRAMME), programme_frame(), programmes=["top_up"])
    assert list(ev.programmes) == ["top_up"]
    top = ev.programmes["top_up"]
    assert top.eligible.tolist() == [0, 0, 0, 0, 1, 0, 0]
    assert list(top.deciding_stage()) == [
        "big",
        "cash_first",
        "cash_first",
        "cash_first",
        "selected",
        "cash_first",
        "cash_first",
    ]
    with pytest.raises(SpecError, match="no programme 'nope'"):
        evaluate(rules(PROGRAMME), programme_frame(), programmes=["nope"])


def test_overrides_replace_columns_for_counterfactuals() -> None:
    rs = rules(PROGRAMME)
    frame = programme_frame()
    ev = evaluate(rs, frame, overrides={"status": "citizen", "income": frame["income"].fillna(0)})
    cash = ev.programmes["cash"]
    assert cash.decision(include_outreach=False).tolist() == [1, 1, 1, 0, 1, 0, 0]
    with pytest.raises(InputError, match="3 values for 7 rows"):
        evaluate(rs, frame, overrides={"income": [1, 2, 3]})


# --- inputs and data types -----------------------------------------------------------------

DECLARED = """
    version: 1
    name: declared
    inputs:
      income: number
      car: boolean
      status: {type: category, values: [citizen, kandas]}
    programmes:
      g:
        eligibility:
          - {name: s, when: "income < 10 and not car and status == 'citizen'"}
"""


def test_declared_inputs_are_checked_against_the_data() -> None:
    rs = rules(DECLARED)
    good = pd.DataFrame({"income": [5, 50], "car": [0, 1], "status": ["citizen", "kandas"]})
    assert evaluate(rs, good).programmes["g"].eligible.tolist() == [1, 0]
    with pytest.raises(InputError, match="holds text, but the rules read it as number"):
        evaluate(rs, good.assign(income=["5", "50"]))
    with pytest.raises(InputError, match=r"must be true/false \(or 0/1\), but holds \[2\.0\]"):
        evaluate(rs, good.assign(car=[0, 2]))
    with pytest.raises(InputError, match="values the rules do not know: 'citzen'") as info:
        evaluate(rs, good.assign(status=["citzen", "kandas"]))
    assert info.value.column == "status"
    assert "rules.yaml:6" in str(info.value)
    with pytest.raises(InputError, match="holds numbers, but the rules read it as a category"):
        evaluate(rs, good.assign(status=[1, 2]))
    with pytest.raises(InputError, match="the data has no column 'car'"):
        evaluate(rs, good.drop(columns="car"))


def test_unsupported_column_type() -> None:
    rs = rules(
        DECLARED.replace("income < 10", "`when` < 10").replace("income: number", "when: number")
    )
    frame = pd.DataFrame(
        {"when": pd.to_datetime(["2024-01-01"]), "car": [False], "status": ["citizen"]}
    )
    with pytest.raises(InputError, match="has type datetime64"):
        evaluate(rs, frame)


def test_object_columns_of_booleans_are_true_false() -> None:
    frame = pd.DataFrame({"f": pd.Series([True, None, False], dtype=object)})
    assert same(values("f and true", frame), [1, NAN, 0])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=8),
    st.sampled_from(["+", "-", "*"]),
    st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
    st.floats(-1e6, 1e6, allow_nan=False),
)
def test_matches_numpy_on_random_data(xs: list[float], op: str, cmp: str, c: float) -> None:
    frame = pd.DataFrame({"x": xs, "y": xs[::-1]})
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    arith = {"+": x + y, "-": x - y, "*": x * y}[op]
    assert np.array_equal(values(f"x {op} y", frame), arith)
    expected = {
        "<": arith < c,
        "<=": arith <= c,
        ">": arith > c,
        ">=": arith >= c,
        "==": arith == c,
        "!=": arith != c,
    }[cmp]
    assert np.array_equal(values(f"x {op} y {cmp} {c!r}", frame), expected.astype(float))


def test_undeclared_column_types_are_checked_with_the_data() -> None:
    rs = rules("""
        version: 1
        name: u
        programmes:
          g:
            eligibility:
              - name: s
                when: region > 3
        """)
    with pytest.raises(RuleFileError) as info:
        evaluate(rs, pd.DataFrame({"region": ["a", "b"]}))
    err = info.value
    assert err.line == 7 and err.field == "programmes.g.eligibility[0].when"
    assert "'>' orders numbers, but 'region' is text" in err.problem


def test_replacement_values_keep_their_kind() -> None:
    rs = rules("""
        version: 1
        name: k
        programmes:
          g:
            eligibility:
              - {name: s, when: "flag and status == 'citizen'"}
        """)
    frame = pd.DataFrame({"flag": [False, False], "status": ["kandas", "kandas"]})
    ev = evaluate(rs, frame, overrides={"flag": [True, False], "status": "citizen"})
    assert ev.programmes["g"].eligible.tolist() == [1, 0]
