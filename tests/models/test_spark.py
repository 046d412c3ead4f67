"""The Spark engine: same results as the local engine, and clear failures.

PySpark runs in local mode (``local[2]``) in this process; one SparkSession is shared by
every test (the JVM starts once). Select these tests with ``-m spark``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from fairaudit.audit import run_audit
from fairaudit.errors import FairauditError, InputError, SpecError
from fairaudit.spec import load_spec, spec_from_dict
from tests.models.conftest import LABEL, PROTECTED, ModelFixture

pytestmark = pytest.mark.spark
pytest.importorskip("pyspark")

ROOT = Path(__file__).resolve().parents[2]
CALLABLES = Path(__file__).with_name("spark_callables.py")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("fairaudit-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _without_provenance(result: Any) -> dict[str, Any]:
    d = json.loads(result.to_json())
    d.pop("provenance")
    return d


@pytest.fixture(scope="module")
def dfc_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 families of the bundled DFC population, in several row groups."""
    df = pd.read_parquet(ROOT / "examples/digital_family_card/population.parquet").iloc[:10_000]
    path = tmp_path_factory.mktemp("dfc") / "population.parquet"
    df.to_parquet(path, index=False, row_group_size=3_000)
    return path


def _dfc_spec(path: Path, **over: Any) -> Any:
    spec = load_spec(ROOT / "audits/digital_family_card.yaml")
    data = spec.data.model_copy(update={"path": str(path)})
    # counting only: explanations and recommendations are refused on Spark (tested below)
    update = {"data": data, "bootstrap": 200, "explain": None, "recommend": None, **over}
    return spec.model_copy(update=update)


def test_dfc_results_identical_to_local_engine(spark: Any, dfc_subset: Path) -> None:
    local = run_audit(_dfc_spec(dfc_subset))
    spec = _dfc_spec(dfc_subset, engine="spark")
    on_spark = run_audit(
        spec.model_copy(update={"spark": spec.spark.model_copy(update={"partitions": 2})})
    )
    assert _without_provenance(on_spark) == _without_provenance(local)
    # the rules' population parameters (median income) were computed over all rows
    assert on_spark.provenance.model == local.provenance.model
    assert on_spark.provenance.data_sha256 == local.provenance.data_sha256
    # independent check of the counts: group sizes straight from the file
    frame = pd.read_parquet(dfc_subset, columns=["region"])
    sizes = frame["region"].astype(str).value_counts()
    got = {g.attributes["region"]: g.n for g in on_spark.groups if list(g.attributes) == ["region"]}
    assert got == sizes.to_dict()
    assert on_spark.n_rows == 10_000


@pytest.fixture(scope="module")
def sklearn_data(tmp_path_factory: pytest.TempPathFactory, audit_frame: pd.DataFrame) -> Path:
    # 10 copies of the 300 rows with shifted incomes: 3,000 distinct rows
    parts = [audit_frame.assign(income=audit_frame["income"] + 7.5 * k) for k in range(10)]
    path = tmp_path_factory.mktemp("sk") / "applicants.parquet"
    pd.concat(parts, ignore_index=True).to_parquet(path, index=False, row_group_size=700)
    return path


def _model_spec(data: Path, model: dict[str, Any], **over: Any) -> Any:
    spec = {
        "name": "spark-model",
        "intervention": "assistive",
        "data": {"path": str(data), "label": LABEL},
        "model": model,
        "protected": [{"name": PROTECTED}, {"name": "region"}],
        "intersections": True,
        "bootstrap": 100,
        "gates": [{"id": "fnr", "metric": "exclusion_error", "measure": "ratio", "max": 1.25}],
        **over,
    }
    return spec_from_dict(spec, base_dir=data.parent)


def test_sklearn_model_identical_to_local_engine(
    spark: Any, sklearn_data: Path, sklearn_skops_model: ModelFixture
) -> None:
    model = {**sklearn_skops_model.spec, "threshold": 0.5}
    local = run_audit(_model_spec(sklearn_data, model))
    on_spark = run_audit(_model_spec(sklearn_data, model, engine="spark", spark={"partitions": 4}))
    assert _without_provenance(on_spark) == _without_provenance(local)
    assert on_spark.scores is not None  # score histograms and exact score sums went through
    # independent: the overall selection rate from the estimator itself
    frame = pd.read_parquet(sklearn_data)
    import skops.io as sio

    est = sio.load(
        sklearn_skops_model.path, trusted=sio.get_untrusted_types(file=sklearn_skops_model.path)
    )
    selected = est.predict_proba(frame[sklearn_skops_model.features])[:, 1] >= 0.5
    assert on_spark.overall.metrics["selection_rate"].value == pytest.approx(selected.mean())


def test_onnx_model_is_loaded_again_on_the_workers(
    spark: Any, sklearn_data: Path, onnx_model: ModelFixture
) -> None:
    pytest.importorskip("onnxruntime")
    local = run_audit(_model_spec(sklearn_data, onnx_model.spec))
    on_spark = run_audit(_model_spec(sklearn_data, onnx_model.spec, engine="spark"))
    assert _without_provenance(on_spark) == _without_provenance(local)


def test_missing_column_is_named(
    spark: Any, sklearn_data: Path, sklearn_skops_model: ModelFixture
) -> None:
    spec = _model_spec(sklearn_data, sklearn_skops_model.spec, engine="spark")
    spec = spec.model_copy(
        update={"data": spec.data.model_copy(update={"label": "truly_eligible"})}
    )
    with pytest.raises(InputError) as err:
        run_audit(spec)
    assert "truly_eligible" in err.value.render()


def test_model_error_on_an_executor_is_the_local_error(spark: Any, sklearn_data: Path) -> None:
    model = {
        "loader": "python",
        "callable": f"{CALLABLES}:raises_on_large_income",
        "features": ["income"],
    }
    with pytest.raises(InputError) as local:
        run_audit(_model_spec(sklearn_data, model))
    with pytest.raises(InputError) as remote:
        run_audit(_model_spec(sklearn_data, model, engine="spark"))
    assert remote.value.problem == local.value.problem
    assert "income out of the range" in remote.value.problem


def test_lost_worker_is_a_clear_error(spark: Any, sklearn_data: Path) -> None:
    model = {
        "loader": "python",
        "callable": f"{CALLABLES}:kills_the_worker",
        "features": ["income"],
    }
    with pytest.raises(FairauditError) as err:
        run_audit(_model_spec(sklearn_data, model, engine="spark"))
    assert err.value.exit_code == 2
    assert "Spark job failed" in err.value.problem


@pytest.mark.parametrize(
    ("block", "value"), [("explain", {"sample": 50}), ("recommend", {"simulate": False})]
)
def test_not_yet_built_steps_are_refused_before_spark_runs(
    spark: Any, sklearn_data: Path, sklearn_skops_model: ModelFixture, block: str, value: Any
) -> None:
    spec = _model_spec(sklearn_data, sklearn_skops_model.spec, engine="spark", **{block: value})
    with pytest.raises(SpecError) as err:
        run_audit(spec)
    assert err.value.field == block


def _cli(
    tmp_path: Path, spec: dict[str, Any], *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "fairaudit",
            "check",
            str(path),
            "--out",
            str(tmp_path / "out"),
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
        timeout=240,
        check=False,
    )


def _cli_spec(data: Path, model: dict[str, Any], **over: Any) -> dict[str, Any]:
    return {
        "name": "cli-spark",
        "intervention": "assistive",
        "data": {"path": str(data), "label": LABEL},
        "model": model,
        "protected": [{"name": PROTECTED}],
        "bootstrap": 0,
        **over,
    }


def test_cli_no_java_exits_2_and_writes_nothing(
    tmp_path: Path, sklearn_data: Path, sklearn_skops_model: ModelFixture
) -> None:
    spec = _cli_spec(sklearn_data, sklearn_skops_model.spec)
    done = _cli(tmp_path, spec, "--engine", "spark", env={"JAVA_HOME": str(tmp_path / "no-java")})
    assert done.returncode == 2, done.stderr
    assert "JAVA_HOME" in done.stderr and "fix:" in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_bad_master_exits_2_and_writes_nothing(
    tmp_path: Path, sklearn_data: Path, sklearn_skops_model: ModelFixture
) -> None:
    spec = _cli_spec(
        sklearn_data, sklearn_skops_model.spec, engine="spark", spark={"master": "nonsense://x"}
    )
    done = _cli(tmp_path, spec, env={})
    assert done.returncode == 2, done.stderr
    assert "nonsense://x" in done.stderr and "spark.master" in done.stderr
    assert "fix: use local[*]" in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_engine_spark_writes_the_same_results(
    spark: Any, tmp_path: Path, sklearn_data: Path, sklearn_skops_model: ModelFixture
) -> None:
    """The console command with --engine spark (its own local Spark) gives local's JSON."""
    spec = _cli_spec(sklearn_data, sklearn_skops_model.spec, spark={"master": "local[1]"})
    local = _cli(tmp_path, spec, "--no-card", "--json", str(tmp_path / "local.json"), env={})
    assert local.returncode in (0, 1), local.stderr
    remote = _cli(
        tmp_path,
        spec,
        "--no-card",
        "--engine",
        "spark",
        "--json",
        str(tmp_path / "spark.json"),
        env={},
    )
    assert remote.returncode == local.returncode, remote.stderr
    a = json.loads((tmp_path / "local.json").read_text())
    b = json.loads((tmp_path / "spark.json").read_text())
    assert a.pop("provenance")["spec_sha256"] == b.pop("provenance")["spec_sha256"]
    assert a == b
    assert np.isfinite(a["overall"]["n"])
