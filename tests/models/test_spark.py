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
    explain = spec.explain.model_copy(update={"sample": 400}) if spec.explain else None
    # redress and the re-review list; mitigation options are simulated in their own test
    assert spec.recommend is not None
    recommend = spec.recommend.model_copy(update={"simulate": False})
    update = {"data": data, "bootstrap": 200, "explain": explain, "recommend": recommend, **over}
    return spec.model_copy(update=update)


class _Collected:
    """What reached the driver from Spark: (columns, rows) of every collect/toArrow."""

    def __init__(self) -> None:
        self.results: list[tuple[list[str], int]] = []

    def largest(self, *, with_column: str | None = None) -> int:
        return max(
            (n for cols, n in self.results if with_column is None or with_column in cols),
            default=0,
        )


@pytest.fixture
def collected(spark: Any, monkeypatch: pytest.MonkeyPatch) -> _Collected:
    """Records every result the driver collects from a Spark DataFrame."""
    seen = _Collected()
    cls = type(spark.range(1))
    to_arrow, collect = cls.toArrow, cls.collect

    def spy_arrow(self: Any) -> Any:
        table = to_arrow(self)
        seen.results.append((list(table.column_names), table.num_rows))
        return table

    def spy_collect(self: Any) -> Any:
        rows = collect(self)
        seen.results.append((list(self.columns), len(rows)))
        return rows

    monkeypatch.setattr(cls, "toArrow", spy_arrow)
    monkeypatch.setattr(cls, "collect", spy_collect)
    return seen


def _reasons(folder: Path) -> pd.DataFrame:
    codes = pd.read_parquet(folder / "restricted" / "reasons")
    return codes.sort_values(["row_id", "rank"]).reset_index(drop=True)


def _rereview(folder: Path) -> pd.DataFrame:
    rows = pd.read_parquet(folder / "restricted" / "rereview")
    return rows.sort_values(["priority", "row_id"]).reset_index(drop=True)


def test_dfc_results_identical_to_local_engine(
    spark: Any,
    dfc_subset: Path,
    tmp_path: Path,
    collected: _Collected,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counts, population parameters, explanations (sample, SHAP, gaps, proxies), reason
    codes, redress and the re-review list."""
    from fairaudit.engines import spark as engine

    # the median income is narrowed down by the executors until 500 rows remain
    monkeypatch.setattr(engine, "QUANTILE_ROWS", 500)
    local = run_audit(_dfc_spec(dfc_subset), restricted_dir=tmp_path / "local" / "restricted")
    spec = _dfc_spec(dfc_subset, engine="spark")
    on_spark = run_audit(
        spec.model_copy(update={"spark": spec.spark.model_copy(update={"partitions": 3})}),
        restricted_dir=tmp_path / "spark" / "restricted",
    )
    assert _without_provenance(on_spark) == _without_provenance(local)
    # the rules' population parameters (median income) were computed over all rows
    assert on_spark.provenance.model == local.provenance.model
    assert on_spark.provenance.data_sha256 == local.provenance.data_sha256
    ex = on_spark.explanations
    assert ex is not None and ex["explainer"] == "rules" and ex["sample_size"] == 400
    assert ex["reasons_artifact"] == "restricted/reasons" and ex["reason_frequencies"]
    # the restricted artifact: the same rows, written by the executors in parts
    spark_codes = _reasons(tmp_path / "spark")
    pd.testing.assert_frame_equal(spark_codes, _reasons(tmp_path / "local"))
    assert len(list((tmp_path / "spark" / "restricted" / "reasons").glob("part-*.parquet"))) > 1
    # the re-review list: written by the executors too
    rec = on_spark.recommendations
    assert rec is not None and rec.redress.rereview_artifact == "restricted/rereview"
    rereview = _rereview(tmp_path / "spark")
    pd.testing.assert_frame_equal(rereview, _rereview(tmp_path / "local"))
    assert len(rereview) == rec.redress.rereview_total > 0
    # independent check of the counts: group sizes straight from the file
    frame = pd.read_parquet(dfc_subset, columns=["region", "family_id"])
    sizes = frame["region"].astype(str).value_counts()
    got = {g.attributes["region"]: g.n for g in on_spark.groups if list(g.attributes) == ["region"]}
    assert got == sizes.to_dict()
    assert on_spark.n_rows == 10_000
    assert set(spark_codes["row_id"]) <= set(frame["family_id"])
    # the driver held aggregates and the sample, never the rows
    data_columns = set(frame.columns) | {"tsa_eligible_true", "income_formal_registry"}
    for columns, n in collected.results:
        assert n <= 400 or not data_columns & set(columns), (columns, n)
    assert collected.largest(with_column="tsa_eligible_true") == 400


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


def test_onnx_model_is_loaded_again_on_the_workers(
    spark: Any, sklearn_data: Path, onnx_model: ModelFixture
) -> None:
    pytest.importorskip("onnxruntime")
    local = run_audit(_model_spec(sklearn_data, onnx_model.spec))
    on_spark = run_audit(_model_spec(sklearn_data, onnx_model.spec, engine="spark"))
    assert _without_provenance(on_spark) == _without_provenance(local)


def test_explained_sklearn_model_identical_to_local_engine(
    spark: Any,
    sklearn_data: Path,
    sklearn_skops_model: ModelFixture,
    tmp_path: Path,
    collected: _Collected,
) -> None:
    """Counts, score histograms and exact score sums, explanations and reason codes; rows
    without a row id are keyed by their position, which Spark reads from Parquet."""
    pytest.importorskip("shap")
    model = {**sklearn_skops_model.spec, "threshold": 0.5}
    over = {"explain": {"sample": 200, "top": 2}, "bootstrap": 0}
    gates = [{"id": "fnr", "metric": "exclusion_error", "measure": "difference", "max": -1.0}]
    local = run_audit(
        _model_spec(sklearn_data, model, gates=gates, **over),
        restricted_dir=tmp_path / "local" / "restricted",
    )
    on_spark = run_audit(
        _model_spec(
            sklearn_data, model, gates=gates, engine="spark", spark={"partitions": 4}, **over
        ),
        restricted_dir=tmp_path / "spark" / "restricted",
    )
    assert _without_provenance(on_spark) == _without_provenance(local)
    ex = on_spark.explanations
    assert ex is not None and ex["explainer"] in {"tree", "linear"} and ex["gaps"]
    codes = _reasons(tmp_path / "spark")
    pd.testing.assert_frame_equal(codes, _reasons(tmp_path / "local"))
    # keyed by position: the denied rows of the file
    frame = pd.read_parquet(sklearn_data)
    import skops.io as sio

    est = sio.load(
        sklearn_skops_model.path, trusted=sio.get_untrusted_types(file=sklearn_skops_model.path)
    )
    denied = np.flatnonzero(est.predict_proba(frame[sklearn_skops_model.features])[:, 1] < 0.5)
    assert set(codes["row_id"]) <= set(denied) and len(set(codes["row_id"])) > 0.9 * len(denied)
    assert max(n for _, n in collected.results) <= 200
    # independent: the overall selection rate from the estimator itself
    assert on_spark.scores is not None
    assert on_spark.overall.metrics["selection_rate"].value == pytest.approx(
        1 - len(denied) / len(frame)
    )


def test_mlflow_models_score_through_spark_udf(
    spark: Any,
    sklearn_data: Path,
    mlflow_model_uri: ModelFixture,
    sklearn_estimator: Any,
    tmp_path: Path,
) -> None:
    """A registered model giving class labels, and a local one giving probabilities."""
    pytest.importorskip("mlflow")
    from fairaudit.engines import spark as engine
    from fairaudit.models.mlflow import _quiet_mlflow

    udfs: list[str] = []
    made = engine._mlflow_udf

    def spy(*args: Any) -> Any:
        df, scorer = made(*args)
        udfs.append(scorer.kind)
        return df, scorer

    with _quiet_mlflow():
        import mlflow.sklearn
    proba = tmp_path / "proba-model"
    with _quiet_mlflow():
        mlflow.sklearn.save_model(
            sklearn_estimator,
            proba,
            pyfunc_predict_fn="predict_proba",
            pip_requirements=["scikit-learn"],
            serialization_format="pickle",
        )
    models = [
        mlflow_model_uri.spec,
        {
            "loader": "mlflow",
            "uri": str(proba),
            "features": mlflow_model_uri.features,
            "threshold": 0.5,
        },
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "_mlflow_udf", spy)
        for model in models:
            local = run_audit(_model_spec(sklearn_data, model))
            on_spark = run_audit(_model_spec(sklearn_data, model, engine="spark"))
            assert _without_provenance(on_spark) == _without_provenance(local)
    assert udfs == ["column", "matrix"]
    assert on_spark.scores is not None  # probabilities went through as scores


def test_mitigation_options_identical_to_local_engine(
    spark: Any, dfc_subset: Path, tmp_path: Path
) -> None:
    """Options re-run on Spark: a rules change, missing records read as review, a data
    fix (its median income computed on the corrected rows); the benefit paid is tallied
    by the executors."""
    spec = _dfc_spec(dfc_subset, explain=None, bootstrap=0)
    model = {
        **spec.model.options,
        "loader": "rules",
        "include_outreach": False,
        "counterfactuals": {
            name: spec.model.options["counterfactuals"][name]
            # a stale field, and a field whose records are only missing (manual review)
            for name in ("registered_household", "no_utility_record")
        },
    }
    assert spec.recommend is not None
    recommend = spec.recommend.model_copy(update={"simulate": True})
    spec = spec.model_copy(update={"model": type(spec.model)(**model), "recommend": recommend})
    local = run_audit(spec, restricted_dir=tmp_path / "local" / "restricted")
    on_spark = run_audit(
        spec.model_copy(update={"engine": "spark"}),
        restricted_dir=tmp_path / "spark" / "restricted",
    )
    assert _without_provenance(on_spark) == _without_provenance(local)
    rec = on_spark.recommendations
    assert rec is not None and rec.mitigation is not None
    kinds = {o.kind for o in rec.mitigation.options}
    assert {"current", "rules", "data"} <= kinds
    assert all(o.cost is not None for o in rec.mitigation.options[1:])
    # the manual reviews are counted by the executors: every family without a utility record
    reviewed = {o.name: o.reviews for o in rec.mitigation.options}
    missing = pd.read_parquet(dfc_subset, columns=["lacks_utilities_registry"]).isna().sum()
    assert reviewed["'lacks_utilities': missing = manual review"] == int(missing.iloc[0]) > 0
    pd.testing.assert_frame_equal(_rereview(tmp_path / "spark"), _rereview(tmp_path / "local"))


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


def test_explaining_csv_without_row_id_is_refused_before_spark_runs(
    spark: Any, tmp_path: Path, sklearn_skops_model: ModelFixture
) -> None:
    data = tmp_path / "applicants.csv"
    sklearn_skops_model.frame.to_csv(data, index=False)
    spec = _model_spec(data, sklearn_skops_model.spec, engine="spark", explain={"sample": 50})
    with pytest.raises(SpecError) as err:
        run_audit(spec)
    assert err.value.field == "data.row_id"


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
    # the same spec audited in this process by the local engine
    local = json.loads(run_audit(load_spec(tmp_path / "audit.yaml")).to_json())
    assert remote.returncode == (1 if local["status"] == "fail" else 0), remote.stderr
    b = json.loads((tmp_path / "spark.json").read_text())
    assert local.pop("provenance")["spec_sha256"] == b.pop("provenance")["spec_sha256"]
    assert local == b
    assert np.isfinite(local["overall"]["n"])
