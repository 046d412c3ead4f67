"""The Spark engine: count the rows where they live, on Apache Spark (extra ``spark``).

Spark reads the data (Parquet or CSV files or folders, or a table of its catalog). Every
partition is counted on an executor by the local engine's own
:class:`~fairaudit.engines.local.Counter` (``mapInArrow``: Arrow batches become pandas frames
as the local Parquet reader makes them, the model scores them vectorised, the counter
tallies them); each partition yields one small pickled counter, and the driver adds them in
partition order. Counts are integers and float sums are exact
(:mod:`fairaudit.metrics.exact`), so the result is identical to the local engine's whatever
the partitioning; the driver never holds rows, only one counter per partition.

The model is loaded on the driver and shipped once to every Python worker as a broadcast
(cached per worker process); a model that cannot be pickled (an ONNX inference session) is
loaded again from the spec on the worker, so its file must be readable there.

Population parameters (a rules model's median income) are computed by the model's own
``prepare`` on the driver from the columns it reads, collected once — as the local engine
does; pin them under the rules loader's ``parameters:`` for registries larger than the
driver's memory. The poorest share's welfare cut-off is computed by Spark
(``percentile_disc``, the same inverted-CDF quantile as the local engine).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fairaudit.data import DEFAULT_BATCH_ROWS
from fairaudit.engines.local import Counter
from fairaudit.errors import FairauditError, InputError, MissingExtraError
from fairaudit.models.base import Model
from fairaudit.spec import AuditSpec

__all__ = ["count_spark", "spark_session"]

_MASTER_ENV = ("FAIRAUDIT_SPARK_MASTER", "SPARK_MASTER")
# The master URLs spark-submit accepts (checked before a JVM is started for nothing).
_MASTER_URL = re.compile(
    r"^(local(\[(\*|\d+)(,\s*\d+)?\])?|local-cluster\[\d+,\s*\d+,\s*\d+\]"
    r"|spark://\S+|k8s://\S+|yarn)$"
)
# Python-worker cache: broadcast id -> loaded model (one load per worker process).
_MODELS: dict[Any, Model] = {}


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise MissingExtraError("pyspark", "spark") from None
    return pyspark


def _check_java() -> None:
    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if not java.exists():
            raise FairauditError(
                f"JAVA_HOME is {home!r}, but {java} does not exist: Spark needs Java",
                fix="point JAVA_HOME at a Java 17 or 21 installation, or unset it to use "
                "the `java` on PATH",
            )
    elif shutil.which("java") is None:
        raise FairauditError(
            "Spark needs Java, and there is no `java` on PATH and no JAVA_HOME",
            fix="install Java 17 or 21 (e.g. apt-get install openjdk-17-jre-headless) or "
            "set JAVA_HOME; or run the audit with --engine local",
        )


def _master(spec: AuditSpec) -> str:
    if spec.spark.master:
        return spec.spark.master
    for name in _MASTER_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return "local[*]"


def spark_session(spec: AuditSpec) -> Any:
    """The SparkSession to audit with: the active one if there is one, else a new one.

    The master is the spec's ``spark.master``, else ``FAIRAUDIT_SPARK_MASTER``, else
    ``SPARK_MASTER``, else ``local[*]``; ``spark.config`` is applied to a new session.
    ``PYSPARK_PYTHON`` defaults to this Python, so workers import the same fairaudit.
    """
    _pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    master = _master(spec)
    if not _MASTER_URL.match(master):
        source = "spark.master" if spec.spark.master else "the environment's Spark master"
        raise spec.error(
            f"{master!r} ({source}) is not a Spark master URL",
            loc=("spark", "master"),
            fix="use local[*], local[N], spark://HOST:PORT, yarn or k8s://HOST:PORT "
            "(spec spark.master, or FAIRAUDIT_SPARK_MASTER / SPARK_MASTER)",
        )
    _check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(spec.spark.app_name)
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    for key, value in spec.spark.config.items():
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else value)
    try:
        return builder.getOrCreate()
    except Exception as exc:
        text = _first_line(exc)
        if "master" in text.lower() or "url" in text.lower():
            raise spec.error(
                f"Spark could not start with master {master!r}: {text}",
                loc=("spark", "master"),
                fix="use local[*], local[N], spark://HOST:PORT, yarn or k8s://HOST:PORT "
                "(or set FAIRAUDIT_SPARK_MASTER)",
            ) from None
        raise FairauditError(
            f"Spark could not start (master {master!r}): {text}",
            fix="check Java (JAVA_HOME), the master URL and spark.config in the spec",
        ) from None


def _first_line(exc: BaseException) -> str:
    """The informative line of a Spark error (a worker's own exception line if any)."""
    text = str(exc).strip()
    raised = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"^[\w.]+(Error|Exception|Exit)\b.*:", line.strip())
    ]
    if raised:
        return raised[-1][:400]
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Traceback", "at ", "File ")):
            return line[:400]
    return type(exc).__name__


def read(spark: Any, spec: AuditSpec) -> tuple[Any, str, str]:
    """The data as a Spark DataFrame, a name for messages, and its sha256 for provenance.

    The sha256 is the file's (as the local engine's); for a folder, of its files' names and
    hashes; for a table, of its name and the files Spark reads for it.
    """
    fmt = spec.data.format
    if fmt == "table":
        name = spec.data.path
        try:
            df = spark.table(name)
        except Exception as exc:
            raise spec.error(
                f"Spark has no table {name!r}: {_first_line(exc)}",
                loc=("data", "path"),
                fix="give a table name of Spark's catalog (database.table), or a file path "
                "without `format: table`",
            ) from None
        files = sorted(df.inputFiles())
        digest = hashlib.sha256("\n".join([f"table:{name}", *files]).encode()).hexdigest()
        return df, f"table {name}", digest
    path = spec.base_dir / spec.data.path
    if not path.exists():
        raise spec.error(
            f"data file not found: {path}",
            loc=("data", "path"),
            fix="check the path; relative paths are relative to the spec's folder",
        )
    if fmt is None:
        name = path.name.lower()
        if name.endswith((".parquet", ".pq")) or (path.is_dir() and any(path.rglob("*.parquet"))):
            fmt = "parquet"
        elif name.endswith((".csv", ".csv.gz", ".tsv", ".txt")) or path.is_dir():
            fmt = "csv"
        else:
            raise spec.error(
                f"cannot tell the format of {path.name!r} from its suffix",
                loc=("data", "path"),
                fix="add `format: csv` or `format: parquet` under data",
            )
    try:
        if fmt == "parquet":
            df = spark.read.parquet(str(path))
        else:
            sep = "\t" if path.name.lower().endswith(".tsv") else ","
            df = (
                spark.read.option("header", "true")
                .option("inferSchema", "true")
                .option("sep", sep)
                .csv(str(path))
            )
    except Exception as exc:
        raise InputError(f"Spark cannot read the data: {_first_line(exc)}", file=path) from None
    return df, str(path), _path_sha256(path)


def _from_spark(exc: BaseException) -> bool:
    """Whether an exception comes from Spark or its JVM (not from fairaudit's code)."""
    mod = type(exc).__module__
    return mod.startswith(("pyspark", "py4j"))


def _path_sha256(path: Path) -> str:
    from fairaudit.models.base import file_sha256

    if path.is_file():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(
        p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))
    ):
        h.update(f"{f.relative_to(path)}\n{file_sha256(f)}\n".encode())
    return h.hexdigest()


def _welfare_cutoff(df: Any, spec: AuditSpec, where: str) -> float:
    """The poorest share's welfare cut-off, computed by Spark (no rows on the driver)."""
    from pyspark.sql import functions as F

    assert spec.targeting is not None
    w = F.expr(f"try_cast(`{spec.targeting.welfare}` AS DOUBLE)")
    finite = df.select(w.alias("w")).where(
        F.col("w").isNotNull() & ~F.isnan("w") & (F.abs("w") != float("inf"))
    )
    q = spec.targeting.poorest_share
    row = finite.agg(F.expr(f"percentile_disc({q!r}) WITHIN GROUP (ORDER BY w)").alias("c")).first()
    if row is None or row["c"] is None:
        raise InputError(
            "the welfare column has no numeric values",
            file=where,
            column=spec.targeting.welfare,
            fix="name a numeric column of true welfare under targeting.welfare",
        )
    return float(row["c"])


def _prepare_population(df: Any, model: Model, columns: list[str], batch_rows: int) -> None:
    """Call the model's ``prepare`` with its columns of every row, in batches."""
    table = df.select(*[f"`{c}`" for c in columns]).toArrow()

    def batches() -> Iterator[Any]:
        for rb in table.to_batches(max_chunksize=batch_rows):
            yield rb.to_pandas()

    model.prepare(batches())


def _ship(model: Model, spec: AuditSpec) -> bytes:
    """The model pickled for the workers, or the spec to load it again there."""
    from pyspark import cloudpickle

    # The python loader imports `file.py:function` under a private module name that the
    # workers cannot import: ship those modules' code by value.
    for name, module in list(sys.modules.items()):
        if name.startswith("_fairaudit_model_"):
            cloudpickle.register_pickle_by_value(module)
    try:
        return pickle.dumps(("model", cloudpickle.dumps(model)))
    except Exception:  # e.g. an ONNX inference session: load it again on the worker
        return pickle.dumps(("spec", spec))


def _worker_model(key: Any, shipped: bytes) -> Model:
    model = _MODELS.get(key)
    if model is None:
        kind, payload = pickle.loads(shipped)
        if kind == "model":
            model = pickle.loads(payload)
        else:
            from fairaudit.audit import _load_model
            from fairaudit.plugins import make_registry

            model = _load_model(payload, make_registry())
        _MODELS.clear()  # one audit's model at a time per worker
        _MODELS[key] = model
    return model


def count_spark(
    spec: AuditSpec,
    model: Model,
    wanted: dict[str, str],
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    spark: Any = None,
) -> tuple[Counter, str, str]:
    """Count the spec's data on Spark.

    Parameters
    ----------
    spec
        The audit spec (``engine: spark``).
    model
        The loaded model (driver side).
    wanted
        Column -> what needs it (for the missing-column message).
    batch_rows
        Rows per counted batch on an executor (Arrow batches are gathered up to this).
    spark
        A SparkSession (default: :func:`spark_session`).

    Returns
    -------
    counter, where, data_sha256
        The merged counter of every partition, a name of the data for messages, and the
        data's sha256.
    """
    spark = spark if spark is not None else spark_session(spec)
    df, where, digest = read(spark, spec)
    available = list(df.columns)
    from fairaudit.data import check_columns

    check_columns(available, wanted, file=where)
    columns = list(dict.fromkeys([*wanted, *(available if not model.columns else [])]))
    # the local readers give protected columns without bins as text
    text_cols = {p.source_column for p in spec.protected if p.bins is None}
    df = df.selectExpr(
        *[(f"CAST(`{c}` AS STRING) AS `{c}`" if c in text_cols else f"`{c}`") for c in columns]
    )
    if spec.spark.partitions:
        df = df.repartition(spec.spark.partitions)
    try:
        if model.needs_population:
            _prepare_population(df, model, list(model.columns) or columns, batch_rows)
        cutoff = _welfare_cutoff(df, spec, where) if spec.targeting is not None else None
        partials = _run_partitions(spark, df, spec, model, where, cutoff, batch_rows)
    except Exception as exc:
        if not _from_spark(exc):
            raise
        raise FairauditError(
            f"the Spark job failed: {_first_line(exc)}",
            fix="check the executors (memory, Python environment: PYSPARK_PYTHON must have "
            "fairaudit installed) and rerun with --debug for Spark's trace",
        ) from exc
    total = Counter(spec, where, cutoff)
    for part in partials:
        total = total.merge(part)
    return total, where, digest


def _run_partitions(
    spark: Any,
    df: Any,
    spec: AuditSpec,
    model: Model,
    where: str,
    cutoff: float | None,
    batch_rows: int,
) -> list[Counter]:
    import pyarrow as pa

    shipped = spark.sparkContext.broadcast(_ship(model, spec))
    key = uuid.uuid4().hex  # names this audit's model in the workers' cache
    schema = pa.schema([("partition", pa.int64()), ("payload", pa.binary())])

    def count_partition(batches: Iterator[Any]) -> Iterator[Any]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        pid = ctx.partitionId() if ctx is not None else 0
        counter = Counter(spec, where, cutoff)
        try:
            worker_model = _worker_model(key, shipped.value)
            pending: list[Any] = []
            rows = 0
            for rb in batches:
                pending.append(rb)
                rows += rb.num_rows
                if rows >= batch_rows:
                    counter.add(pa.Table.from_batches(pending).to_pandas(), worker_model)
                    pending, rows = [], 0
            if rows:
                counter.add(pa.Table.from_batches(pending).to_pandas(), worker_model)
            payload = pickle.dumps(("ok", counter))
        except Exception as exc:
            # The driver raises what the local engine would have raised (a FairauditError
            # says what is wrong with the data or model; anything else is a bug).
            try:
                payload = pickle.dumps(("error", exc))
            except Exception:
                payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        yield pa.RecordBatch.from_pydict({"partition": [pid], "payload": [payload]}, schema)

    rows = df.mapInArrow(count_partition, "partition long, payload binary").collect()
    out: list[Counter] = []
    for row in sorted(rows, key=lambda r: r["partition"]):
        kind, value = pickle.loads(row["payload"])
        if kind == "error":
            raise value
        out.append(value)
    return out
