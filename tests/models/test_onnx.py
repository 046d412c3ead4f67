from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fairaudit.errors import InputError
from fairaudit.models.base import LoadContext
from fairaudit.models.onnx import OnnxLoader, OnnxOptions

from .conftest import FEATURES, LABEL, ModelFixture

pytestmark = pytest.mark.onnx

ATOL = 1e-5


def load(context: LoadContext | None = None, **options: Any) -> Any:
    return OnnxLoader().load(OnnxOptions(**options), context or LoadContext())


def to_onnx(estimator: Any, sample: Any, path: Path, **kwargs: Any) -> Path:
    skl2onnx = pytest.importorskip("skl2onnx")
    onx = skl2onnx.to_onnx(estimator, sample, target_opset=18, **kwargs)
    path.write_bytes(onx.SerializeToString())
    return path


def test_dataframe_pipeline_with_one_input_per_column(onnx_model: ModelFixture) -> None:
    m = onnx_model
    model = load(path=str(m.path))
    assert list(model.columns) == FEATURES
    pred = model.predict(m.frame)
    assert pred.decision.dtype == np.int8 and pred.score is not None
    np.testing.assert_array_equal(pred.decision, m.decision)
    np.testing.assert_allclose(pred.score, m.score, rtol=0, atol=ATOL)
    prov = model.provenance()
    assert prov["loader"] == "onnx" and prov["path"] == str(m.path)
    assert m.path is not None
    assert prov["sha256"] == hashlib.sha256(m.path.read_bytes()).hexdigest()
    assert prov["inputs"] == FEATURES and prov["outputs"] == ["label", "probabilities"]


def test_threshold_and_positive_class(onnx_model: ModelFixture, sklearn_estimator: Any) -> None:
    m = onnx_model
    pred = load(path=str(m.path), threshold=0.7).predict(m.frame)
    np.testing.assert_array_equal(pred.decision, (m.score >= 0.7).astype("int8"))
    pred = load(path=str(m.path), positive_class=0).predict(m.frame)
    proba0 = sklearn_estimator.predict_proba(m.frame[FEATURES])[:, 0]
    np.testing.assert_array_equal(pred.decision, 1 - m.decision)
    assert pred.score is not None
    np.testing.assert_allclose(pred.score, proba0, rtol=0, atol=ATOL)
    with pytest.raises(InputError, match=r"positive_class 'x' is not one of .*\[0, 1\]"):
        load(path=str(m.path), positive_class="x")


def test_zipmap_output_and_float32_input(
    tmp_path: Path, audit_frame: pd.DataFrame, sklearn_estimator: Any
) -> None:
    # skl2onnx's default ZipMap gives a list of {class: probability}; it needs float inputs.
    sample = audit_frame[FEATURES].iloc[:1].astype({"income": "float32"})
    path = to_onnx(sklearn_estimator, sample, tmp_path / "zipmap.onnx")
    model = load(path=str(path))
    pred = model.predict(audit_frame)
    assert model.provenance()["outputs"] == ["output_label", "output_probability"]
    proba = sklearn_estimator.predict_proba(audit_frame[FEATURES])[:, 1]
    assert pred.score is not None
    np.testing.assert_allclose(pred.score, proba, rtol=0, atol=ATOL)
    clear = np.abs(proba - 0.5) > ATOL  # float32 may flip a decision sitting on 0.5
    want = sklearn_estimator.predict(audit_frame[FEATURES])
    np.testing.assert_array_equal(pred.decision[clear], want[clear])


@pytest.fixture(scope="module")
def single_input(
    tmp_path_factory: pytest.TempPathFactory, audit_frame: pd.DataFrame
) -> tuple[Path, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cols = ["income", "household_size"]
    X = audit_frame[cols].to_numpy(dtype=np.float32)
    est = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, audit_frame[LABEL])
    path = to_onnx(
        est,
        X[:1],
        tmp_path_factory.mktemp("onnx1") / "single.onnx",
        options={id(est): {"zipmap": False}},
    )
    return path, est


def test_single_input_needs_features(
    single_input: tuple[Path, Any], audit_frame: pd.DataFrame
) -> None:
    path, est = single_input
    with pytest.raises(InputError) as err:
        load(path=str(path))
    assert err.value.fix is not None and "model.features" in err.value.fix
    with pytest.raises(InputError, match="takes 2 columns"):
        load(path=str(path), features=["income"])
    model = load(path=str(path), features=["income", "household_size"])
    pred = model.predict(audit_frame)
    X = audit_frame[["income", "household_size"]].to_numpy(dtype=np.float32)
    assert pred.score is not None
    np.testing.assert_allclose(pred.score, est.predict_proba(X)[:, 1], rtol=0, atol=ATOL)
    np.testing.assert_array_equal(pred.decision, est.predict(X))


def test_input_name_must_exist(single_input: tuple[Path, Any], onnx_model: ModelFixture) -> None:
    path, _ = single_input
    with pytest.raises(InputError, match="no input 'features'"):
        load(path=str(path), features=["income", "household_size"], input_name="features")
    with pytest.raises(InputError, match="only applies to a model with one input"):
        load(path=str(onnx_model.path), input_name="income")


def test_output_names_must_exist(onnx_model: ModelFixture) -> None:
    with pytest.raises(InputError, match="no output 'proba'"):
        load(path=str(onnx_model.path), probability_output="proba")


def test_regressor_output_is_a_score_with_threshold(
    tmp_path: Path, audit_frame: pd.DataFrame
) -> None:
    from sklearn.linear_model import LinearRegression

    cols = ["income", "household_size"]
    X = audit_frame[cols].to_numpy(dtype=np.float32)
    est = LinearRegression().fit(X, audit_frame[LABEL])
    path = to_onnx(est, X[:1], tmp_path / "reg.onnx")
    with pytest.raises(InputError, match="must be 0/1"):
        load(path=str(path), features=cols).predict(audit_frame)
    pred = load(path=str(path), features=cols, threshold=0.5).predict(audit_frame)
    y = est.predict(X)
    assert pred.score is not None
    np.testing.assert_allclose(pred.score, y, rtol=0, atol=ATOL)
    clear = np.abs(y - 0.5) > ATOL
    np.testing.assert_array_equal(pred.decision[clear], (y >= 0.5)[clear])


def test_missing_columns_are_named(onnx_model: ModelFixture) -> None:
    model = load(path=str(onnx_model.path))
    with pytest.raises(InputError) as err:
        model.predict(onnx_model.frame.drop(columns=["household_size", "income"]))
    assert "['income', 'household_size']" in err.value.problem


def test_missing_text_values_are_refused(onnx_model: ModelFixture) -> None:
    frame = onnx_model.frame.copy()
    frame.loc[3, "region"] = None
    with pytest.raises(InputError) as err:
        load(path=str(onnx_model.path)).predict(frame)
    assert err.value.column == "region" and "missing" in err.value.problem


def test_wrongly_typed_column(onnx_model: ModelFixture) -> None:
    frame = onnx_model.frame.assign(household_size="many")
    with pytest.raises(InputError) as err:
        load(path=str(onnx_model.path)).predict(frame)
    assert err.value.column == "household_size"


def test_not_an_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"definitely not protobuf")
    with pytest.raises(InputError, match="onnxruntime cannot open the model"):
        load(path=str(path))
    with pytest.raises(InputError, match="not found"):
        load(LoadContext(base_dir=tmp_path), path="other.onnx")


def test_empty_frame(onnx_model: ModelFixture) -> None:
    pred = load(path=str(onnx_model.path)).predict(onnx_model.frame.iloc[:0])
    assert pred.decision.shape == (0,) and pred.score is not None and pred.score.shape == (0,)


def test_import_is_light() -> None:
    code = (
        "import sys, fairaudit.models.onnx; "
        "heavy = sorted({'onnxruntime', 'onnx', 'sklearn', 'skl2onnx'} & set(sys.modules)); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
