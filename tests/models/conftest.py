"""Fixtures: small models trained in the test session, written to temporary folders.

Every model fixture returns a :class:`ModelFixture`: where the model is, the rows it was
trained on (with a protected attribute ``sex`` and the truth ``eligible`` besides the
features), and what the fitted estimator itself says about those rows, so tests (and
end-to-end audit tests) can compare a loader's output with the estimator's.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

N_ROWS = 300
FEATURES = ["income", "household_size", "region"]
PROTECTED = "sex"
LABEL = "eligible"
REGISTERED_NAME = "fairaudit-test-model"


@dataclass(frozen=True)
class ModelFixture:
    """A model saved for a loader, with the rows and what the estimator says about them.

    Attributes
    ----------
    path
        The model file or folder (``None`` for a model only reachable by URI).
    frame
        The rows: the features, ``sex`` (protected attribute) and ``eligible`` (truth).
    features
        The columns the model reads, in order.
    decision
        The estimator's own ``predict`` as int8 0/1 (1 = selected).
    score
        The estimator's ``predict_proba`` of class 1, float64.
    spec
        The ``model:`` mapping of an audit spec that loads this model.
    uri, registered_uri, tracking_uri
        MLflow only: the ``runs:/`` URI, the ``models:/name/1`` URI and the tracking store.
    """

    path: Path | None
    frame: pd.DataFrame
    features: list[str]
    decision: np.ndarray
    score: np.ndarray
    spec: dict[str, Any] = field(default_factory=dict)
    uri: str | None = None
    registered_uri: str | None = None
    tracking_uri: str | None = None


def make_frame(n: int = N_ROWS, seed: int = 0) -> pd.DataFrame:
    """Deterministic synthetic applicants: numeric, integer and text features."""
    rng = np.random.default_rng(seed)
    income = rng.normal(900.0, 250.0, n).round(2)
    household_size = rng.integers(1, 8, n)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    sex = rng.choice(["female", "male"], n)
    latent = (
        -(income - 900.0) / 150.0
        + 0.4 * (household_size - 4)
        + 0.8 * (region == "east")
        + rng.normal(0.0, 1.0, n)
    )
    return pd.DataFrame(
        {
            "income": income,
            "household_size": household_size,
            "region": region,
            PROTECTED: sex,
            LABEL: (latent > 0).astype("int64"),
        }
    )


def make_pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["income", "household_size"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression())])


def expected(estimator: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The estimator's own decisions (int8) and probability of class 1 (float64)."""
    X = frame[FEATURES]
    decision = (estimator.predict(X) == 1).astype("int8")
    score = estimator.predict_proba(X)[:, 1].astype("float64")
    return decision, score


@pytest.fixture(scope="session")
def audit_frame() -> pd.DataFrame:
    """The 300 synthetic rows every model fixture is trained on (do not mutate)."""
    return make_frame()


@pytest.fixture(scope="session")
def sklearn_estimator(audit_frame: pd.DataFrame) -> Any:
    """A fitted Pipeline(ColumnTransformer(scale, one-hot), LogisticRegression)."""
    return make_pipeline().fit(audit_frame[FEATURES], audit_frame[LABEL])


def _fixture(path: Path, frame: pd.DataFrame, estimator: Any, **spec: Any) -> ModelFixture:
    decision, score = expected(estimator, frame)
    return ModelFixture(
        path=path,
        frame=frame,
        features=list(FEATURES),
        decision=decision,
        score=score,
        spec={"path": str(path), **spec},
    )


@pytest.fixture(scope="session")
def sklearn_skops_model(
    tmp_path_factory: pytest.TempPathFactory, audit_frame: pd.DataFrame, sklearn_estimator: Any
) -> ModelFixture:
    """The pipeline saved with ``skops.io.dump`` to ``model.skops``."""
    import skops.io as sio

    path = tmp_path_factory.mktemp("skops") / "model.skops"
    sio.dump(sklearn_estimator, path)
    return _fixture(path, audit_frame, sklearn_estimator, loader="sklearn")


@pytest.fixture(scope="session")
def sklearn_pickle_model(
    tmp_path_factory: pytest.TempPathFactory, audit_frame: pd.DataFrame, sklearn_estimator: Any
) -> ModelFixture:
    """The pipeline pickled to ``model.pkl`` (its ``spec`` says ``trusted: true``)."""
    path = tmp_path_factory.mktemp("pickle") / "model.pkl"
    path.write_bytes(pickle.dumps(sklearn_estimator))
    return _fixture(path, audit_frame, sklearn_estimator, loader="sklearn", trusted=True)


@pytest.fixture(scope="session")
def onnx_model(
    tmp_path_factory: pytest.TempPathFactory, audit_frame: pd.DataFrame, sklearn_estimator: Any
) -> ModelFixture:
    """The pipeline converted by skl2onnx (one input per column, probabilities as a tensor)."""
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")

    onx = skl2onnx.to_onnx(
        sklearn_estimator,
        audit_frame[FEATURES].iloc[:1],
        options={id(sklearn_estimator): {"zipmap": False}},
        target_opset=18,
    )
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    return _fixture(path, audit_frame, sklearn_estimator, loader="onnx")


@pytest.fixture(scope="session")
def mlflow_model_uri(
    tmp_path_factory: pytest.TempPathFactory, audit_frame: pd.DataFrame, sklearn_estimator: Any
) -> Iterator[ModelFixture]:
    """The pipeline logged to a temporary SQLite MLflow store and registered as version 1.

    ``uri`` is ``runs:/<run_id>/model``, ``registered_uri`` is
    ``models:/fairaudit-test-model/1``; ``spec`` loads the registered one with its
    ``tracking_uri``. The model has a signature naming its three input columns.
    """
    pytest.importorskip("mlflow")
    from fairaudit.models.mlflow import _quiet_mlflow

    with _quiet_mlflow():
        import mlflow
        import mlflow.sklearn
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    root = tmp_path_factory.mktemp("mlflow")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    signature = ModelSignature(
        inputs=Schema(
            [
                ColSpec("double", "income"),
                ColSpec("long", "household_size"),
                ColSpec("string", "region"),
            ]
        ),
        outputs=Schema([ColSpec("long")]),
    )
    # The loader's narrow filter for the warnings MLflow's own imports give (see there).
    with pytest.MonkeyPatch.context() as mp, _quiet_mlflow():
        # The fluent API (start_run, log_model) reads the environment; never the repo's store.
        mp.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        if mlflow.get_tracking_uri() != tracking_uri:
            pytest.fail("a global MLflow tracking URI is set; the fixture would log elsewhere")
        client = mlflow.MlflowClient(tracking_uri)
        experiment = client.create_experiment(
            "fairaudit-tests", artifact_location=(root / "artifacts").as_uri()
        )
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.sklearn.log_model(
                sklearn_estimator,
                name="model",
                signature=signature,
                registered_model_name=REGISTERED_NAME,
                pip_requirements=["scikit-learn"],  # skips slow requirement inference
            )
    decision, score = expected(sklearn_estimator, audit_frame)
    registered = f"models:/{REGISTERED_NAME}/1"
    yield ModelFixture(
        path=None,
        frame=audit_frame,
        features=list(FEATURES),
        decision=decision,
        score=score,
        spec={"loader": "mlflow", "uri": registered, "tracking_uri": tracking_uri},
        uri=f"runs:/{run.info.run_id}/model",
        registered_uri=registered,
        tracking_uri=tracking_uri,
    )
