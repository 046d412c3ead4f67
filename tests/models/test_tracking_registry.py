"""An audited registered model version is stamped with the verdict (and aliased on a pass)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fairaudit.cli import main
from tests.models.conftest import LABEL, PROTECTED, REGISTERED_NAME

pytestmark = pytest.mark.mlflow


def test_model_version_tags_and_alias(tmp_path: Path, mlflow_model_uri) -> None:
    from fairaudit.models.mlflow import _quiet_mlflow

    fx = mlflow_model_uri
    fx.frame.to_csv(tmp_path / "data.csv", index=False)
    spec = {
        "name": "registry-audit",
        "intervention": "assistive",
        "data": {"path": "data.csv", "label": LABEL},
        "model": fx.spec,
        "protected": [{"name": PROTECTED}],
        "gates": [{"id": "size", "metric": "n", "min": 1}],
        "tracking": {"mlflow": {"tracking_uri": fx.tracking_uri, "alias_on_pass": "audited"}},
    }
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec))
    res = CliRunner().invoke(
        main, ["check", str(tmp_path / "audit.yaml"), "-q", "--out", str(tmp_path / "out")]
    )
    assert res.exit_code == 0, res.output
    assert f"model version {REGISTERED_NAME}/1 tagged" in res.stderr
    with _quiet_mlflow():
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=fx.tracking_uri, registry_uri=fx.tracking_uri)
        version = client.get_model_version(REGISTERED_NAME, "1")
        assert version.tags["fairaudit.status"] == "pass"
        run_id = version.tags["fairaudit.run_id"]
        assert client.get_run(run_id).data.tags["fairaudit.status"] == "pass"
        assert version.tags["fairaudit.card"] == f"runs:/{run_id}/results.json"
        assert str(client.get_model_version_by_alias(REGISTERED_NAME, "audited").version) == "1"
