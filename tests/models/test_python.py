from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest

from fairaudit.errors import InputError
from fairaudit.models.base import LoadContext
from fairaudit.models.python import PythonLoader, PythonOptions

from . import example_callables as ex

EXAMPLES = Path(ex.__file__)


@pytest.fixture(autouse=True)
def isolated_imports() -> Iterator[None]:
    """Undo what loading does to sys.path and sys.modules, so tests stay independent."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def load(fn: str, context: LoadContext | None = None, **options: Any) -> Any:
    return PythonLoader().load(
        PythonOptions(callable=f"{EXAMPLES}:{fn}", **options), context or LoadContext()
    )


@pytest.fixture
def frame(audit_frame: pd.DataFrame) -> pd.DataFrame:
    return audit_frame.copy()


def low(frame: pd.DataFrame) -> np.ndarray:
    return (frame["income"] < ex.CUTOFF).to_numpy().astype("int8")


def test_boolean_decisions(frame: pd.DataFrame) -> None:
    model = load("low_income")
    assert model.columns == ()
    pred = model.predict(frame)
    assert pred.decision.dtype == np.int8 and pred.score is None
    np.testing.assert_array_equal(pred.decision, low(frame))
    assert 0 < pred.decision.sum() < len(frame)


def test_scores_need_a_threshold(frame: pd.DataFrame) -> None:
    with pytest.raises(InputError) as err:
        load("income_score").predict(frame)
    assert "must be 0/1" in err.value.problem
    assert err.value.fix is not None and "threshold" in err.value.fix
    pred = load("income_score", threshold=0.8).predict(frame)
    score = ex.income_score(frame)
    assert pred.score is not None and pred.score.dtype == np.float64
    np.testing.assert_array_equal(pred.score, score)
    np.testing.assert_array_equal(pred.decision, (score >= 0.8).astype("int8"))


@pytest.mark.parametrize("fn", ["decision_and_score", "as_frame", "as_dict"])
def test_decisions_with_scores(frame: pd.DataFrame, fn: str) -> None:
    pred = load(fn).predict(frame)
    score = ex.income_score(frame)
    assert pred.score is not None
    np.testing.assert_array_equal(pred.score, score)
    np.testing.assert_array_equal(pred.decision, (score >= 0.5).astype("int8"))
    # A threshold decides from the returned score.
    pred = load(fn, threshold=0.9).predict(frame)
    np.testing.assert_array_equal(pred.decision, (score >= 0.9).astype("int8"))


def test_score_only_mapping(frame: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="returned scores but no decisions"):
        load("score_only_dict").predict(frame)
    pred = load("score_only_dict", threshold=0.5).predict(frame)
    np.testing.assert_array_equal(pred.decision, (ex.income_score(frame) >= 0.5).astype("int8"))


def test_threshold_with_decisions_only(frame: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="returned decisions, not scores"):
        load("decision_only", threshold=0.5).predict(frame)
    # A bare array with a threshold is read as scores: booleans become 0.0/1.0.
    pred = load("low_income", threshold=0.5).predict(frame)
    np.testing.assert_array_equal(pred.decision, low(frame))


def test_series_in_another_order_is_realigned(frame: pd.DataFrame) -> None:
    pred = load("reversed_series").predict(frame)
    np.testing.assert_array_equal(pred.decision, low(frame))


def test_kwargs_are_passed(frame: pd.DataFrame) -> None:
    pred = load("with_cutoff", kwargs={"cutoff": 700.0}).predict(frame)
    np.testing.assert_array_equal(pred.decision, (frame["income"] < 700).astype("int8"))
    assert load("with_cutoff", kwargs={"cutoff": 700.0}).provenance()["kwargs"] == {"cutoff": 700.0}


def test_text_labels(frame: pd.DataFrame) -> None:
    np.testing.assert_array_equal(load("yes_no").predict(frame).decision, low(frame))
    with pytest.raises(InputError, match="not binary"):
        load("grant_deny").predict(frame)
    pred = load("grant_deny", positive_class="grant").predict(frame)
    np.testing.assert_array_equal(pred.decision, low(frame))


def test_features_select_the_columns_passed(frame: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="expected only the income column"):
        load("only_income").predict(frame)
    model = load("only_income", features=["income"])
    assert model.columns == ("income",)
    np.testing.assert_array_equal(model.predict(frame).decision, low(frame))
    with pytest.raises(InputError) as err:
        model.predict(frame.drop(columns=["income"]))
    assert err.value.column == "income" and "['income']" in err.value.problem


def test_the_callers_frame_is_not_changed(frame: pd.DataFrame) -> None:
    before = frame.copy()
    load("mutating").predict(frame)
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        ("wrong_length", "has 299 values for 300 rows"),
        ("three_values", "must be 0/1 but has values [2]"),
        ("scalar", "is a single value 1"),
        ("with_missing", "has 1 missing value"),
        ("broken", "raised ValueError: boom: the model's own bug"),
    ],
)
def test_bad_output_is_refused(frame: pd.DataFrame, fn: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        load(fn).predict(frame)
    assert message in err.value.problem
    assert fn in err.value.problem or fn == "broken"
    assert err.value.file == str(EXAMPLES)


def test_not_a_function() -> None:
    with pytest.raises(InputError, match="is a int, not a function"):
        load("not_a_function")
    with pytest.raises(InputError) as err:
        load("no_such_function")
    assert err.value.fix is not None and "low_income" in err.value.fix


def test_provenance_hashes_the_source_file() -> None:
    prov = load("low_income").provenance()
    assert prov["loader"] == "python"
    assert prov["callable"] == f"{EXAMPLES}:low_income"
    assert prov["path"] == str(EXAMPLES)
    assert prov["sha256"] == hashlib.sha256(EXAMPLES.read_bytes()).hexdigest()


def write_package(root: Path, body: str) -> str:
    """A package with a unique name under ``root``; returns that name."""
    name = f"fa_user_{uuid.uuid4().hex[:8]}"
    pkg = root / "lib" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "rules.py").write_text(body)
    return name


def test_module_from_a_folder_relative_to_the_spec(tmp_path: Path, frame: pd.DataFrame) -> None:
    name = write_package(
        tmp_path, "def decide(df, cutoff=900.0):\n    return (df['income'] < cutoff).astype(int)\n"
    )
    model = PythonLoader().load(
        PythonOptions(callable=f"{name}.rules:decide", path="lib"),
        LoadContext(base_dir=tmp_path),
    )
    np.testing.assert_array_equal(model.predict(frame).decision, low(frame))
    source = tmp_path / "lib" / name / "rules.py"
    assert model.provenance()["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_module_not_found_names_module_and_folder(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    with pytest.raises(InputError) as err:
        PythonLoader().load(
            PythonOptions(callable="fa_nowhere.rules:decide", path="lib"),
            LoadContext(base_dir=tmp_path),
        )
    assert "'fa_nowhere.rules'" in err.value.problem
    assert str(tmp_path / "lib") in err.value.problem
    assert err.value.fix is not None and "model.path" in err.value.fix


def test_missing_dependency_of_the_module(tmp_path: Path) -> None:
    name = write_package(tmp_path, "import fa_not_installed_pkg\n\ndef decide(df):\n    return 1\n")
    with pytest.raises(InputError, match="imports 'fa_not_installed_pkg', which is not installed"):
        PythonLoader().load(
            PythonOptions(callable=f"{name}.rules:decide", path=str(tmp_path / "lib")),
            LoadContext(),
        )


def test_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def decide(df):\n    return (\n")
    with pytest.raises(InputError) as err:
        PythonLoader().load(PythonOptions(callable="bad.py:decide"), LoadContext(base_dir=tmp_path))
    assert "SyntaxError" in err.value.problem and err.value.file == str(bad)
    with pytest.raises(InputError, match="not found"):
        PythonLoader().load(
            PythonOptions(callable="gone.py:decide"), LoadContext(base_dir=tmp_path)
        )
    with pytest.raises(InputError, match="not a folder"):
        PythonLoader().load(
            PythonOptions(callable="bad.py:decide", path="nope"), LoadContext(base_dir=tmp_path)
        )


def test_options_are_checked() -> None:
    for bad in ["no_colon", "module:", ":fn", "module:not-a-name"]:
        with pytest.raises(pydantic.ValidationError):
            PythonOptions(callable=bad)
    with pytest.raises(pydantic.ValidationError):
        PythonOptions(callable="m:f", extra_option=1)  # type: ignore[call-arg]
    for name, info in PythonOptions.model_fields.items():
        assert info.description, name


def test_empty_frame(frame: pd.DataFrame) -> None:
    pred = load("broken").predict(frame.iloc[:0])
    assert pred.decision.shape == (0,) and pred.decision.dtype == np.int8


def test_import_is_light() -> None:
    code = (
        "import sys, fairaudit.models.python; "
        "heavy = sorted({'sklearn', 'skops', 'mlflow', 'onnxruntime'} & set(sys.modules)); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
