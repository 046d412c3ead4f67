"""Audits recorded in a real MLflow tracking server (and the embedded default store)."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fairaudit.cli import main
from fairaudit.tracking import metric_key
from tests.conftest import base_spec, make_frame
from tests.tracking.conftest import start_server, stop_server

pytestmark = pytest.mark.mlflow


def _client(uri: str):
    from fairaudit.models.mlflow import _quiet_mlflow

    with _quiet_mlflow():
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=uri)


def _setup(tmp_path: Path, **over) -> Path:
    make_frame(n=600, seed=4).to_csv(tmp_path / "data.csv", index=False)
    spec = base_spec(**over)
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return tmp_path / "audit.yaml"


def _run(tmp_path: Path, *args: str):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        return CliRunner().invoke(main, ["check", *args], catch_exceptions=False)
    finally:
        os.chdir(cwd)


def test_metric_keys_survive_mlflow_rules() -> None:
    from mlflow.utils.validation import _validate_metric_name

    key = metric_key("exclusion_error", {"region": "Turkestan=1", "sex": "f.m"}, "ci_low")
    assert key == "exclusion_error.region.Turkestan_1.sex.f_m.ci_low"
    _validate_metric_name(key)


def test_audit_is_recorded_on_a_real_server(tmp_path: Path, mlflow_server: str) -> None:
    spec = _setup(tmp_path)
    res = _run(tmp_path, str(spec), "--mlflow-uri", mlflow_server, "--junit", "j.xml")
    assert res.exit_code == 1, res.output  # the gate fails; tracking succeeded
    assert "recorded in MLflow: run" in res.stderr and mlflow_server in res.stderr
    results = json.loads((tmp_path / "fairaudit-out" / "test-audit" / "results.json").read_text())
    client = _client(mlflow_server)
    exp = client.get_experiment_by_name("fairaudit")
    runs = client.search_runs(
        [exp.experiment_id], filter_string="tags.`fairaudit.audit` = 'test-audit'"
    )
    run = runs[0]
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["fairaudit.status"] == results["status"] == "fail"
    assert tags["fairaudit.spec_sha256"] == results["provenance"]["spec_sha256"]
    assert "fnr-ratio" in tags["fairaudit.failed_gates"]
    metrics = run.data.metrics
    rural = next(g for g in results["groups"] if g["attributes"] == {"area": "rural"})
    assert metrics["exclusion_error.area.rural"] == pytest.approx(
        rural["metrics"]["exclusion_error"]["value"]
    )
    assert metrics["exclusion_error.area.rural.ci_low"] == pytest.approx(
        rural["metrics"]["exclusion_error"]["ci"][0]
    )
    assert metrics["overall.selection_rate"] == pytest.approx(
        results["overall"]["metrics"]["selection_rate"]["value"]
    )
    assert run.data.params["model.loader"] == "column"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "results.json",
        "summary.md",
        "j.xml",
        "card.html",
        "card.md",
        "card.json",
        "charts",
    } <= names
    charts = {a.path for a in client.list_artifacts(run.info.run_id, "charts")}
    assert charts and all(p.startswith("charts/") and p.endswith(".svg") for p in charts)
    local = client.download_artifacts(run.info.run_id, "results.json", str(tmp_path / "dl"))
    assert Path(local).read_text() == json.dumps(results, indent=2, ensure_ascii=False) + "\n"


def test_spec_tracking_section_and_no_tracking(tmp_path: Path, mlflow_server: str) -> None:
    spec = _setup(
        tmp_path,
        tracking={"mlflow": {"tracking_uri": mlflow_server, "experiment": "audits-from-spec"}},
    )
    assert _run(tmp_path, str(spec)).exit_code == 1
    client = _client(mlflow_server)
    exp = client.get_experiment_by_name("audits-from-spec")
    assert exp is not None and len(client.search_runs([exp.experiment_id])) == 1
    res = _run(tmp_path, str(spec), "--no-tracking")
    assert res.exit_code == 1 and "recorded in MLflow" not in res.stderr
    assert len(client.search_runs([exp.experiment_id])) == 1


def test_embedded_default_store(tmp_path: Path) -> None:
    """The installed console script in a fresh process, nothing running, no URI set."""
    import subprocess
    import sys

    spec = _setup(tmp_path)
    exe = Path(sys.executable).parent / "fairaudit"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    res = subprocess.run(
        [str(exe), "check", str(spec), "--mlflow", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, res.stderr
    assert (tmp_path / "mlflow.db").exists()  # MLflow's own default: a local SQLite store
    client = _client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("fairaudit")
    assert len(client.search_runs([exp.experiment_id])) == 1


def test_unreachable_server_keeps_local_results(tmp_path: Path) -> None:
    """The server is killed before the audit records: exit 2, URI named, results kept."""
    (tmp_path / "srv").mkdir()
    proc, uri = start_server(tmp_path / "srv")
    stop_server(proc)
    # the server's worker can outlive its parent for a moment under load: wait until the
    # port refuses, so the audit meets an unreachable server, not a dying one
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=1):
                time.sleep(0.2)
        except OSError:
            break
    spec = _setup(tmp_path)
    t0 = time.monotonic()
    res = _run(tmp_path, str(spec), "--mlflow-uri", uri)
    assert time.monotonic() - t0 < 30
    assert res.exit_code == 2
    assert uri in res.stderr and "does not answer" in res.stderr
    assert "Traceback" not in res.output
    assert (tmp_path / "fairaudit-out" / "test-audit" / "results.json").exists()
    assert "the local results are written" in res.stderr
    shutil.rmtree(tmp_path / "srv", ignore_errors=True)


def test_diff_of_two_audits(tmp_path: Path, mlflow_server: str) -> None:
    """A 'new version' that excludes more rural people: the diff shows it and its gate fails."""
    spec = _setup(tmp_path)
    _run(tmp_path, str(spec), "--mlflow-uri", mlflow_server, "--out", "a")
    df = make_frame(n=600, seed=4)
    rural_eligible = (df["area"] == "rural") & (df["eligible"] == 1) & (df["granted"] == 1)
    df.loc[rural_eligible[rural_eligible].index[:15], "granted"] = 0
    df.to_csv(tmp_path / "data.csv", index=False)
    _run(tmp_path, str(spec), "--out", "b")
    res = CliRunner().invoke(
        main,
        [
            "diff",
            str(tmp_path / "a" / "results.json"),
            str(tmp_path / "b" / "results.json"),
            "--max-worsening",
            "0.02",
            "--json",
            str(tmp_path / "d.json"),
        ],
    )
    assert res.exit_code == 1, res.output
    d = json.loads((tmp_path / "d.json").read_text())
    worsened = [g["attributes"] for g in d["worsened"]]
    assert {"area": "rural"} in worsened and {"area": "urban"} not in worsened
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    ra = next(g for g in a["groups"] if g["attributes"] == {"area": "rural"})
    rb = next(g for g in b["groups"] if g["attributes"] == {"area": "rural"})
    row = next(g for g in d["groups"] if g["attributes"] == {"area": "rural"})
    assert row["change"] == pytest.approx(
        rb["metrics"]["false_negative_rate"]["value"]
        - ra["metrics"]["false_negative_rate"]["value"]
    )
    assert rb["counts"]["fn"] - ra["counts"]["fn"] == 15
    # the same comparison with the 'before' side read from the MLflow run
    client = _client(mlflow_server)
    exp = client.get_experiment_by_name("fairaudit")
    run = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])[0]
    res = CliRunner().invoke(
        main,
        [
            "diff",
            f"runs:/{run.info.run_id}",
            str(tmp_path / "b" / "results.json"),
            "--mlflow-uri",
            mlflow_server,
            "--max-worsening",
            "0.5",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "false negative rate" in res.output


def test_bad_uri_is_a_clear_error(tmp_path: Path) -> None:
    spec = _setup(tmp_path)
    res = _run(tmp_path, str(spec), "--mlflow-uri", "bogus://nowhere")
    assert res.exit_code == 2
    assert res.stderr.count("bogus://nowhere") >= 1 and "Traceback" not in res.output
    assert (tmp_path / "fairaudit-out" / "test-audit" / "card.html").exists()
