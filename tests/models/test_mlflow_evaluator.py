"""fairaudit inside mlflow.models.evaluate gives the same numbers as fairaudit check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fairaudit.cli import main
from tests.models.conftest import LABEL, PROTECTED

pytestmark = pytest.mark.mlflow


# MLflow 3.17's evaluation code uses pandas APIs that pandas 3.1 deprecates
# (DataFrame.all() with a positional argument, drop(inplace=True)); nothing of ours.
@pytest.mark.filterwarnings(
    "ignore:Starting with pandas version 4.0 all arguments:pandas.errors.Pandas4Warning"
)
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame:pandas.errors.Pandas4Warning")
def test_evaluator_and_cli_agree(tmp_path: Path, mlflow_model_uri, monkeypatch) -> None:
    from fairaudit.models.mlflow import _quiet_mlflow

    fx = mlflow_model_uri
    gates = [{"id": "fnr", "metric": "exclusion_error", "measure": "ratio", "max": 1.25}]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", fx.tracking_uri)
    with _quiet_mlflow():
        import mlflow
        import mlflow.models

        # the fluent API reads MLFLOW_TRACKING_URI (set above); no process-wide state is set
        with mlflow.start_run() as run:
            evaluation = mlflow.models.evaluate(
                fx.registered_uri,
                fx.frame,
                targets=LABEL,
                model_type="classifier",
                evaluators=["fairaudit"],
                evaluator_config={
                    "fairaudit": {"protected": [{"name": PROTECTED}], "gates": gates}
                },
            )
        client = mlflow.MlflowClient(fx.tracking_uri)
        logged = client.get_run(run.info.run_id)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "fairaudit")}
    # the CLI path: the same data and model through the mlflow loader
    fx.frame.to_csv(tmp_path / "data.csv", index=False)
    spec = {
        "name": "cli",
        "intervention": "assistive",
        "data": {"path": "data.csv", "label": LABEL},
        "model": fx.spec,
        "protected": [{"name": PROTECTED}],
        "gates": gates,
    }
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec))
    res = CliRunner().invoke(
        main, ["check", str(tmp_path / "audit.yaml"), "-q", "--out", str(tmp_path / "out")]
    )
    assert res.exit_code in (0, 1), res.output
    cli = json.loads((tmp_path / "out" / "results.json").read_text())
    for g in cli["groups"]:
        value = g["attributes"][PROTECTED]
        for name in ("exclusion_error", "selection_rate", "false_positive_rate"):
            key = f"{name}.{PROTECTED}.{value}"
            assert evaluation.metrics[key] == pytest.approx(g["metrics"][name]["value"])
            assert logged.data.metrics[key] == pytest.approx(g["metrics"][name]["value"])
    assert logged.data.tags["fairaudit.status"] == cli["status"]
    assert {
        "fairaudit/results.json",
        "fairaudit/summary.md",
        "fairaudit/card.html",
        "fairaudit/card.md",
        "fairaudit/card.json",
    } <= artifacts
