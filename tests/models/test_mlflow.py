from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fairaudit.errors import InputError
from fairaudit.models.base import LoadContext, file_sha256
from fairaudit.models.mlflow import MlflowLoader, MlflowOptions

from .conftest import FEATURES, LABEL, REGISTERED_NAME, ModelFixture

pytestmark = pytest.mark.mlflow


def load(context: LoadContext | None = None, **options: Any) -> Any:
    return MlflowLoader().load(MlflowOptions(**options), context or LoadContext())


@pytest.fixture(autouse=True)
def no_ambient_tracking(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Tests say which store they use; an MLFLOW_TRACKING_URI of the machine must not leak in,
    # and MLflow's default store (./mlflow.db) must never land in the repository.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("kind", ["registered", "run", "alias", "latest"])
def test_the_option_is_used_never_the_global_store(
    mlflow_model_uri: ModelFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    m = mlflow_model_uri
    # A trap: if anything in the load fell back to the process-wide tracking URI, MLflow
    # would create this database.
    trap = tmp_path / "trap.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{trap}")
    uri = {
        "registered": m.registered_uri,
        "run": m.uri,
        "alias": f"models:/{REGISTERED_NAME}@champion",
        "latest": f"models:/{REGISTERED_NAME}/latest",
    }[kind]
    if kind == "alias":
        import mlflow

        client = mlflow.MlflowClient(m.tracking_uri)
        client.set_registered_model_alias(REGISTERED_NAME, "champion", 1)
    check(load(uri=uri, tracking_uri=m.tracking_uri), m)
    assert not trap.exists()
    assert not (tmp_path / "mlflow.db").exists()


def check(model: Any, m: ModelFixture) -> None:
    pred = model.predict(m.frame)
    assert pred.decision.dtype == np.int8
    np.testing.assert_array_equal(pred.decision, m.decision)


def test_registered_model_version(mlflow_model_uri: ModelFixture) -> None:
    import mlflow

    m = mlflow_model_uri
    before = mlflow.get_tracking_uri()
    model = load(uri=m.registered_uri, tracking_uri=m.tracking_uri)
    assert mlflow.get_tracking_uri() == before  # the option never becomes global state
    assert list(model.columns) == FEATURES  # from the signature
    check(model, m)
    prov = model.provenance()
    assert prov["loader"] == "mlflow" and prov["uri"] == m.registered_uri
    assert prov["tracking_uri"] == m.tracking_uri
    assert len(prov["sha256"]) == 64 and "sklearn" in prov["flavors"]


def test_fixture_spec_loads(mlflow_model_uri: ModelFixture) -> None:
    options = {k: v for k, v in mlflow_model_uri.spec.items() if k != "loader"}
    check(load(**options), mlflow_model_uri)


def test_run_uri_and_alias_and_latest(mlflow_model_uri: ModelFixture) -> None:
    import mlflow

    m = mlflow_model_uri
    by_run = load(uri=m.uri, tracking_uri=m.tracking_uri)
    check(by_run, m)
    mlflow.MlflowClient(m.tracking_uri).set_registered_model_alias(REGISTERED_NAME, "champion", 1)
    for uri in (f"models:/{REGISTERED_NAME}@champion", f"models:/{REGISTERED_NAME}/latest"):
        model = load(uri=uri, tracking_uri=m.tracking_uri)
        check(model, m)
        # The same files, whichever way they were reached.
        assert model.provenance()["sha256"] == by_run.provenance()["sha256"]


def test_environment_tracking_uri_is_honoured(
    mlflow_model_uri: ModelFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = mlflow_model_uri
    with pytest.raises(InputError) as err:
        load(uri=m.registered_uri)
    assert "needs an MLflow tracking server" in err.value.problem
    assert err.value.fix is not None and "MLFLOW_TRACKING_URI" in err.value.fix
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(m.tracking_uri))
    check(load(uri=m.registered_uri), m)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (f"models:/{REGISTERED_NAME}/99", "version=99"),
        ("models:/fairaudit-no-such-model/1", "not found"),
        ("runs:/0123456789abcdef0123456789abcdef/model", "Run"),
        (f"models:/{REGISTERED_NAME}/Production", "stages are deprecated"),
    ],
)
def test_unknown_model_names_the_uri(
    mlflow_model_uri: ModelFixture, uri: str, message: str
) -> None:
    with pytest.raises(InputError) as err:
        load(uri=uri, tracking_uri=mlflow_model_uri.tracking_uri)
    assert repr(uri) in err.value.problem
    assert message in err.value.problem


def test_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow retries with back-off by default; one quick attempt is enough here.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    uri = "models:/anything/1"
    start = time.monotonic()
    with pytest.raises(InputError) as err:
        load(uri=uri, tracking_uri="http://user:secret@127.0.0.1:9")
    assert time.monotonic() - start < 20
    assert repr(uri) in err.value.problem and "127.0.0.1:9" in err.value.problem
    assert "secret" not in err.value.render()


@pytest.fixture(scope="module")
def saved(
    tmp_path_factory: pytest.TempPathFactory, audit_frame: pd.DataFrame, sklearn_estimator: Any
) -> dict[str, Path]:
    """Models saved to local folders (no tracking store): a regressor and predict_proba."""
    from sklearn.linear_model import LinearRegression

    from fairaudit.models.mlflow import _quiet_mlflow

    root = tmp_path_factory.mktemp("mlflow_saved")
    cols = ["income", "household_size"]
    reg = LinearRegression().fit(audit_frame[cols], audit_frame[LABEL])
    # MLflow warns while importing its own modules, some lazily on first use (see there).
    with _quiet_mlflow():
        import mlflow.sklearn

        mlflow.sklearn.save_model(reg, root / "regressor", pip_requirements=["scikit-learn"])
        mlflow.sklearn.save_model(
            sklearn_estimator,
            root / "proba",
            pip_requirements=["scikit-learn"],
            pyfunc_predict_fn="predict_proba",
        )
    return {name: root / name for name in ("regressor", "proba")}


def test_local_folder_float_output_needs_threshold(
    saved: dict[str, Path], audit_frame: pd.DataFrame
) -> None:
    path = saved["regressor"]
    # No signature: the columns come from the estimator's feature_names_in_.
    model = load(LoadContext(base_dir=path.parent), uri=path.name)
    assert list(model.columns) == ["income", "household_size"]
    with pytest.raises(InputError) as err:
        model.predict(audit_frame)
    assert "look like scores" in err.value.problem
    assert err.value.fix is not None and "threshold" in err.value.fix

    model = load(uri=path.as_uri(), threshold=0.5)
    prediction = model.predict(audit_frame)
    raw = model.pyfunc.get_raw_model().predict(audit_frame[["income", "household_size"]])
    assert prediction.score is not None
    np.testing.assert_allclose(prediction.score, raw, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(prediction.decision, (raw >= 0.5).astype("int8"))
    prov = model.provenance()
    assert prov["path"] == str(path) and prov["sha256"] == file_sha256(path)


def test_probability_output(saved: dict[str, Path], mlflow_model_uri: ModelFixture) -> None:
    m = mlflow_model_uri
    pred = load(uri=str(saved["proba"])).predict(m.frame)
    np.testing.assert_array_equal(pred.decision, m.decision)
    assert pred.score is not None
    np.testing.assert_allclose(pred.score, m.score, rtol=0, atol=1e-12)
    pred = load(uri=str(saved["proba"]), threshold=0.7).predict(m.frame)
    np.testing.assert_array_equal(pred.decision, (m.score >= 0.7).astype("int8"))


def test_missing_columns_and_folder(mlflow_model_uri: ModelFixture, tmp_path: Path) -> None:
    m = mlflow_model_uri
    model = load(uri=m.registered_uri, tracking_uri=m.tracking_uri)
    with pytest.raises(InputError) as err:
        model.predict(m.frame.drop(columns=["region"]))
    assert err.value.column == "region"
    with pytest.raises(InputError) as err:
        load(LoadContext(base_dir=tmp_path), uri="models/none")
    assert err.value.file == str(tmp_path / "models" / "none")


def test_positive_class_is_validated(mlflow_model_uri: ModelFixture) -> None:
    m = mlflow_model_uri
    with pytest.raises(InputError, match=r"positive_class 'x' is not one of .*\[0, 1\]"):
        load(uri=m.registered_uri, tracking_uri=m.tracking_uri, positive_class="x")
    model = load(uri=m.registered_uri, tracking_uri=m.tracking_uri, positive_class=0)
    np.testing.assert_array_equal(model.predict(m.frame).decision, 1 - m.decision)


def test_import_is_light() -> None:
    code = (
        "import sys, fairaudit.models.mlflow; "
        "heavy = sorted({'mlflow', 'sklearn'} & set(sys.modules)); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
