"""Each loader audited end to end through the CLI, on a small model trained in the session.

The audit's confusion counts per group must equal those computed directly from the
estimator's own predictions (fixture.decision / fixture.score).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from fairaudit.cli import main
from tests.models.conftest import LABEL, PROTECTED, ModelFixture

HERE = Path(__file__).parent


def _expected_counts(frame: pd.DataFrame, decision: np.ndarray) -> dict[str, dict[str, int]]:
    out = {}
    y = frame[LABEL].to_numpy()
    for value in sorted(frame[PROTECTED].unique()):
        m = frame[PROTECTED].to_numpy() == value
        d, t = decision[m], y[m]
        out[value] = {
            "tp": int(((t == 1) & (d == 1)).sum()),
            "fp": int(((t == 0) & (d == 1)).sum()),
            "fn": int(((t == 1) & (d == 0)).sum()),
            "tn": int(((t == 0) & (d == 0)).sum()),
        }
    return out


def _audit(tmp_path: Path, frame: pd.DataFrame, model: dict[str, Any]) -> dict[str, Any]:
    frame.to_csv(tmp_path / "data.csv", index=False)
    spec = {
        "name": "loader-e2e",
        "intervention": "assistive",
        "data": {"path": "data.csv", "label": LABEL},
        "model": model,
        "protected": [{"name": PROTECTED}],
        "gates": [{"id": "loose", "metric": "exclusion_error", "measure": "ratio", "max": 100}],
    }
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    res = CliRunner().invoke(
        main, ["check", str(tmp_path / "audit.yaml"), "-q", "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 0, res.output
    return json.loads((tmp_path / "out" / "results.json").read_text())


def _counts_by_group(results: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {g["attributes"][PROTECTED]: g["counts"] for g in results["groups"]}


_CASES = [
    ("sklearn_skops_model", None),
    ("sklearn_skops_model", 0.3),
    ("sklearn_pickle_model", None),
    ("sklearn_pickle_model", 0.3),
    pytest.param("onnx_model", None, marks=pytest.mark.onnx),
    pytest.param("onnx_model", 0.3, marks=pytest.mark.onnx),
    # this pyfunc returns labels: a threshold on it is refused (tested below)
    pytest.param("mlflow_model_uri", None, marks=pytest.mark.mlflow),
]


@pytest.mark.parametrize(("fixture", "threshold"), _CASES)
def test_loader_audit_counts_equal_the_estimators(
    request, tmp_path: Path, fixture: str, threshold: float | None
) -> None:
    fx: ModelFixture = request.getfixturevalue(fixture)
    model = dict(fx.spec)
    expected_decision = fx.decision
    if threshold is not None:
        model["threshold"] = threshold
        expected_decision = (fx.score >= threshold).astype("int8")
    results = _audit(tmp_path, fx.frame, model)
    assert _counts_by_group(results) == _expected_counts(fx.frame, expected_decision)
    prov = results["provenance"]
    assert prov["model"]["loader"] == model["loader"]
    if fx.path is not None:
        assert prov["model_sha256"] is not None and len(prov["model_sha256"]) == 64


def test_python_loader_audit(tmp_path: Path, audit_frame: pd.DataFrame) -> None:
    from tests.models import example_callables as ex

    model = {
        "loader": "python",
        "callable": "example_callables:decision_and_score",
        "path": str(HERE),
    }
    results = _audit(tmp_path, audit_frame, model)
    decision, _ = ex.decision_and_score(audit_frame)
    assert _counts_by_group(results) == _expected_counts(
        audit_frame, np.asarray(decision, dtype="int8")
    )


@pytest.mark.mlflow
def test_threshold_on_mlflow_labels_is_refused(tmp_path: Path, mlflow_model_uri) -> None:
    fx = mlflow_model_uri
    fx.frame.to_csv(tmp_path / "data.csv", index=False)
    spec = {
        "name": "x",
        "intervention": "assistive",
        "data": {"path": "data.csv", "label": LABEL},
        "model": {**fx.spec, "threshold": 0.3},
        "protected": [{"name": PROTECTED}],
    }
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec))
    res = CliRunner().invoke(main, ["check", str(tmp_path / "audit.yaml")])
    assert res.exit_code == 2
    assert "class labels, not scores" in res.stderr and "predict_proba" in res.stderr
