"""Every problem in a rules file is reported with the file, its YAML line and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from fairaudit.errors import SpecError
from fairaudit.rules import RuleFileError, evaluate, load_rules, parse_rules

BASE = """\
version: 1
name: t
inputs:
  income: number
  size: number
  car: boolean
  citizenship: {type: category, values: [citizen, kandas, stateless]}
parameters:
  line: 100
variables:
  income_pc: income / size
dimensions:
  money:
    weight: 1
    indicators:
      poor:
        deprived_if: income_pc < line
        missing: review
categories:
  - {code: A, from: 0, below: 0.5}
  - {code: B, from: 0.5}
programmes:
  cash:
    eligibility:
      - name: resident
        when: "citizenship in ['citizen', 'kandas']"
      - name: income_test
        when: income_pc < line
"""


def test_base_is_valid() -> None:
    rs = parse_rules(BASE, source="rules.yaml")
    assert rs.columns() == ["income", "size", "citizenship"]
    assert rs.indicators["poor"].line == 16
    assert rs.programmes["cash"].eligibility[1].when.line == 28


def fails(text: str) -> RuleFileError:
    with pytest.raises(RuleFileError) as info:
        parse_rules(text, source="rules.yaml")
    return info.value


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


CASES = [
    # (text, line, field, words in the problem)
    pytest.param(
        edit("  income: number\n", "  income: number\n   size: number\n"),
        5,
        None,
        "not valid YAML",
        id="yaml-syntax",
    ),
    pytest.param(
        edit("programmes:", "programes:"),
        22,
        "programes",
        "unknown field 'programes'",
        id="unknown-field",
    ),
    pytest.param(
        edit("        missing: review\n", ""),
        16,
        "dimensions.money.indicators.poor.missing",
        "required field 'missing' is missing",
        id="missing-policy-required",
    ),
    pytest.param(
        edit("missing: review", "missing: skip"),
        18,
        "dimensions.money.indicators.poor.missing",
        "'deprived', 'not_deprived' or 'review'",
        id="missing-policy-value",
    ),
    pytest.param(edit("version: 1", "version: 2"), 1, "version", "Input should be 1", id="version"),
    pytest.param(
        edit("  line: 100\n", "  line: 100\n  line: 200\n"),
        10,
        "parameters.line",
        "appears twice (first on line 9)",
        id="duplicate-key",
    ),
    pytest.param(
        edit("when: income_pc < line\n", "when: income_pc < (line\n"),
        28,
        "programmes.cash.eligibility[1].when",
        "syntax error: expected ')'",
        id="syntax-error",
    ),
    pytest.param(
        edit("income / size", "incme / size"),
        11,
        "variables.income_pc",
        "unknown column 'incme'",
        id="unknown-column",
    ),
    pytest.param(
        edit("{code: B, from: 0.5}", "{code: B, from: 0.4}"),
        21,
        "categories[1].from",
        "category 'B' (from 0.4) overlaps category 'A', which ends below 0.5",
        id="overlapping-categories",
    ),
    pytest.param(
        edit("{code: B, from: 0.5}", "{code: B, from: 0.6}"),
        21,
        "categories[1].from",
        "scores from 0.5 to 0.6 fall in no category",
        id="category-gap",
    ),
    pytest.param(
        edit("{code: A, from: 0, below: 0.5}", "{code: A, from: 0.1, below: 0.5}"),
        20,
        "categories[0].from",
        "must start at 0",
        id="category-start",
    ),
    pytest.param(
        edit("{code: B, from: 0.5}", "{code: B, from: 0.5, below: 0.9}"),
        21,
        "categories[1].below",
        "scores from 0.9 to 1 fall in no category",
        id="category-end",
    ),
    pytest.param(
        edit("{code: B, from: 0.5}", "{code: A, from: 0.5}"),
        21,
        "categories[1].code",
        "category code 'A' is used twice",
        id="category-code-twice",
    ),
    pytest.param(
        edit("    weight: 1\n", "    weight: 0.8\n"),
        12,
        "dimensions",
        "dimension weights add up to 0.8, not 1",
        id="weights",
    ),
    pytest.param(
        edit("deprived_if: income_pc < line", "deprived_if: income_pc"),
        17,
        "dimensions.money.indicators.poor.deprived_if",
        "must be true/false, but `income_pc` gives a number",
        id="not-boolean",
    ),
    pytest.param(
        edit("when: income_pc < line\n", "when: income_pc and car\n"),
        28,
        "programmes.cash.eligibility[1].when",
        "'and' needs true/false values, but 'income_pc' is a number",
        id="and-number",
    ),
    pytest.param(
        edit("['citizen', 'kandas']", "['citizen', 'kandaz']"),
        26,
        "programmes.cash.eligibility[0].when",
        "'kandaz' is never a value of 'citizenship'",
        id="unknown-category-value",
    ),
    pytest.param(
        edit("when: income_pc < line\n", "when: citizenship < 3\n"),
        28,
        "programmes.cash.eligibility[1].when",
        "'<' orders numbers",
        id="order-text",
    ),
    pytest.param(
        edit("income / size", "income / median(size)"),
        11,
        "variables.income_pc",
        "median() is a population statistic",
        id="statistic-outside-parameters",
    ),
    pytest.param(
        edit("  line: 100\n", "  line: income * 2\n"),
        9,
        "parameters.line",
        "'income' has one value per row",
        id="parameter-row-value",
    ),
    pytest.param(
        edit("  line: 100\n", "  line: median(if(poor, 1, 0))\n"),
        9,
        "parameters.line",
        "parameter 'line' depends on 'poor'",
        id="parameter-depends-on-indicator",
    ),
    pytest.param(
        edit("income / size", "income / size + income_pc"),
        11,
        "variables.income_pc",
        "'income_pc' refers to itself",
        id="self-reference",
    ),
    pytest.param(
        edit("  income_pc: income / size\n", "  income_pc: income / hh\n  hh: income_pc * 2\n"),
        11,
        "variables.income_pc",
        "circular definition: income_pc → hh → income_pc",
        id="cycle",
    ),
    pytest.param(
        edit("      poor:\n", "      line:\n"),
        16,
        "dimensions.money.indicators.line",
        "already defined as a parameter (line 9)",
        id="name-clash",
    ),
    pytest.param(
        edit("  income_pc: income / size\n", "  score: income / size\n"),
        11,
        "variables.score",
        "is reserved",
        id="reserved-name",
    ),
    pytest.param(
        edit("      poor:\n", "      very-poor:\n"),
        16,
        "dimensions.money.indicators.very-poor",
        "is not a valid name",
        id="invalid-name",
    ),
    pytest.param(
        edit("      - name: income_test\n", "      - name: resident\n"),
        27,
        "programmes.cash.eligibility[1]",
        "stage name 'resident' is used twice",
        id="stage-twice",
    ),
    pytest.param(
        BASE + "    outreach:\n      - {name: sms, when: car, missing: review}\n",
        30,
        "programmes.cash.outreach[0].missing",
        "outreach stage cannot send a case to review",
        id="outreach-review",
    ),
    pytest.param(
        BASE + "overrides:\n  - {name: o, when: car, set: F}\n",
        30,
        "overrides[0].set",
        "'F' is not a category",
        id="override-unknown-category",
    ),
    pytest.param(
        BASE + "overrides:\n  - {name: o, when: car}\n",
        30,
        "overrides[0]",
        "exactly one of 'set', 'no_better_than' or 'no_worse_than' (got none)",
        id="override-no-action",
    ),
    pytest.param(
        BASE + "overrides:\n  - {name: o, when: car, set: A, no_worse_than: B}\n",
        30,
        "overrides[0]",
        "(got set, no_worse_than)",
        id="override-two-actions",
    ),
    pytest.param(
        edit("  income: number\n", "  income: {type: number, values: [a]}\n"),
        4,
        "inputs.income",
        "'values' only applies to inputs of type: category",
        id="values-on-number",
    ),
    pytest.param(
        edit("  line: 100\n", "  line: {value: 100, expr: '2'}\n"),
        9,
        "parameters.line",
        "exactly one of 'value'",
        id="parameter-value-and-expr",
    ),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), CASES)
def test_problem_has_its_line_and_field(
    text: str, line: int, field: str | None, words: str
) -> None:
    err = fails(text)
    assert isinstance(err, SpecError)
    matching = [p for p in err.problems if words in p.problem]
    assert matching, err.render()
    problem = matching[0]
    assert problem.line == line, err.render()
    assert problem.field == field, err.render()
    assert problem.path == "rules.yaml"
    assert problem.render().startswith(f"rules.yaml:{line}")
    assert f"rules.yaml:{line}" in err.render()


def test_did_you_mean() -> None:
    assert fails(edit("programmes:", "programes:")).fix == "did you mean 'programmes'?"
    err = fails(edit("income / size", "income / sise"))
    assert "did you mean 'size'?" in err.problem
    assert err.fix == "declare it under 'inputs' (or fix the spelling)"


def test_all_problems_are_reported_together_in_file_order() -> None:
    text = (
        edit("income / size", "incme / size")
        .replace("when: income_pc < line\n", "when: income_pc <\n")
        .replace("{code: B, from: 0.5}", "{code: B, from: 0.4}")
    )
    err = fails(text)
    assert [(p.line, p.field) for p in err.problems] == [
        (21, "categories[1].from"),
        (28, "programmes.cash.eligibility[1].when"),
    ]
    rendered = err.render()
    assert rendered.splitlines()[0] == "2 problems in the rules file rules.yaml:"
    assert "  rules.yaml:21: categories[1].from: category 'B'" in rendered


def test_type_problems_are_all_collected() -> None:
    text = edit("income / size", "incme / size").replace(
        "['citizen', 'kandas']", "['citizen', 'kandaz']"
    )
    err = fails(text)
    assert [p.line for p in err.problems] == [11, 26]


def test_unknown_column_without_declared_inputs_is_found_with_the_data() -> None:
    text = BASE.split("inputs:")[0] + "parameters:" + BASE.split("\nparameters:")[1]
    rs = parse_rules(text, source="rules.yaml")  # nothing to check names against yet
    frame = pd.DataFrame({"income": [1.0], "size": [1], "citizenship": ["citizen"]})
    evaluate(rs, frame)
    with pytest.raises(RuleFileError) as info:
        evaluate(rs, frame.rename(columns={"size": "sizes"}))
    err = info.value
    assert err.line == 6 and err.field == "variables.income_pc"
    assert err.problem.startswith("unknown column 'size'")
    assert err.fix == "did you mean 'sizes'?"


def test_structure_problems() -> None:
    with pytest.raises(RuleFileError, match="the rules file is empty"):
        parse_rules("# nothing\n", source="r.yaml")
    with pytest.raises(RuleFileError, match="must be a mapping"):
        parse_rules("- a\n- b\n", source="r.yaml")
    with pytest.raises(RuleFileError, match="neither dimensions nor programmes"):
        parse_rules("version: 1\nname: x\n", source="r.yaml")
    err = fails(
        textwrap.dedent("""\
        version: 1
        name: x
        categories:
          - {code: A, from: 0}
        programmes:
          p: {eligibility: [{name: s, when: 'true'}]}
        """)
    )
    assert err.line == 3 and "no dimensions to score" in err.problem


def test_load_rules_file_problems(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="does not exist"):
        load_rules(tmp_path / "missing.yaml")
    with pytest.raises(RuleFileError, match="is a folder"):
        load_rules(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RuleFileError, match="not UTF-8"):
        load_rules(bad)
    good = tmp_path / "rules.yaml"
    good.write_text(BASE, encoding="utf-8")
    rs = load_rules(good)
    assert rs.source == str(good) and len(rs.sha256) == 64
