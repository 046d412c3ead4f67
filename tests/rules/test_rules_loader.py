"""The ``rules`` model loader: options, validation against the rules file, predictions,
reasons and provenance."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from fairaudit.errors import SpecError
from fairaudit.models.base import LoadContext, LoaderOptions, ModelLoader, Prediction
from fairaudit.models.rules import RulesLoader, RulesModel, RulesOptions
from fairaudit.rules import RuleFileError

RULES = """
    version: 1
    name: loader-test
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
        kinds:
          - {name: big, when: size >= 3}
          - {name: small, when: true}
        amount: (line - income_pc) * size
        outreach:
          - {name: phone, when: phone}
"""


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "cash.yaml").write_text(textwrap.dedent(RULES), encoding="utf-8")
    return tmp_path


@pytest.fixture
def context(spec_dir: Path) -> LoadContext:
    return LoadContext(base_dir=spec_dir, source=str(spec_dir / "audit.yaml"))


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income_reg": [50.0, 150.0, np.nan, 90.0],
            "income_true": [50.0, 90.0, 20.0, 90.0],
            "size": [1, 1, 3, 3],
            "phone": [True, True, True, False],
        },
        index=[10, 11, 12, 13],
    )


def load(context: LoadContext, **options: object) -> RulesModel:
    opts = {"path": "rules/cash.yaml", "programme": "cash", **options}
    return RulesLoader().load(RulesLoader.Options.model_validate(opts), context)


def test_is_a_model_loader_plugin() -> None:
    assert issubclass(RulesLoader, ModelLoader) and RulesLoader.name == "rules"
    assert issubclass(RulesOptions, LoaderOptions)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RulesOptions.model_validate({"path": "x", "programme": "p", "programm": "q"})
    assert RulesOptions.model_validate({"path": "x", "programme": "p"}).include_outreach


def test_predict(context: LoadContext, frame: pd.DataFrame) -> None:
    model = load(context)
    assert model.columns == ["income_reg", "size", "phone"]
    pred = model.predict(frame)
    assert isinstance(pred, Prediction)
    # f0 selected; f1 income too high; f2 unknown income -> review (denied); f3 no phone
    assert pred.decision.tolist() == [1, 0, 0, 0]
    assert pred.decision.dtype == np.int8
    assert pred.score is not None and pred.score.tolist() == [1.0, 0.0, 1.0, 1.0]
    assert pred.category is not None and pred.category.tolist() == ["B", "A", "B", "B"]
    r = pred.reasons
    assert r is not None and list(r.index) == [10, 11, 12, 13]
    assert list(r["stage"]) == ["selected", "income_test", "review", "phone"]
    assert r["review"].tolist() == [False, False, True, False]
    assert r["stage_missing"].tolist() == [False, False, False, False]
    assert list(r["category_source"]) == ["score"] * 4
    assert list(r["deprived"]) == ["poor", "", "poor", "poor"]
    assert list(r["unknown"]) == ["", "", "poor", ""]
    assert r["amount"].tolist() == [50.0, 0.0, 0.0, 0.0]
    assert list(r["kind"].astype(object).fillna("-")) == ["small", "-", "-", "big"]


def test_eligibility_only(context: LoadContext, frame: pd.DataFrame) -> None:
    pred = load(context, include_outreach=False).predict(frame)
    assert pred.decision.tolist() == [1, 0, 0, 1]
    assert pred.reasons is not None
    assert list(pred.reasons["stage"]) == ["selected", "income_test", "review", "selected"]


def test_counterfactual_reason_columns(context: LoadContext, frame: pd.DataFrame) -> None:
    model = load(context, counterfactuals={"income_reg": "income_true"})
    assert model.columns == ["income_reg", "size", "phone", "income_true"]
    pred = model.predict(frame)
    assert pred.reasons is not None
    # f1 (true income 90) would be granted; f2 (true 20) too; f3 is still missed by phone
    assert pred.reasons["cf_income_reg"].tolist() == [0, 1, 1, 0]


def test_provenance_and_pinned_parameters(context: LoadContext, frame: pd.DataFrame) -> None:
    model = load(context, parameters={"line": 60})
    prov = model.provenance()
    assert prov["loader"] == "rules" and prov["programme"] == "cash"
    assert prov["path"].endswith("cash.yaml") and len(prov["sha256"]) == 64
    assert "parameters" not in prov
    assert model.predict(frame).decision.tolist() == [1, 0, 0, 0]
    assert model.provenance()["parameters"] == {"line": 60.0}


def test_load_problems(context: LoadContext, spec_dir: Path) -> None:
    with pytest.raises(SpecError, match="no programme 'tsa'") as info:
        load(context, programme="tsa")
    assert info.value.field == "model.programme" and info.value.fix == "choose one of: cash"
    with pytest.raises(SpecError, match="the rules do not read 'phone_true'"):
        load(context, counterfactuals={"phone_true": "phone"})
    with pytest.raises(SpecError, match="no parameter 'lines' to pin"):
        load(context, parameters={"lines": 1})
    with pytest.raises(RuleFileError, match="does not exist"):
        load(context, path="rules/missing.yaml")
    (spec_dir / "rules" / "bad.yaml").write_text(
        "version: 1\nname: x\nprogrammes: {p: 1}\n", encoding="utf-8"
    )
    with pytest.raises(RuleFileError) as err:
        load(context, path="rules/bad.yaml", programme="p")
    assert err.value.line == 3 and err.value.path == str(spec_dir / "rules" / "bad.yaml")
