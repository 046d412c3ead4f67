"""The Spark engine: audit the rows where they live, on Apache Spark (extra ``spark``).

Spark reads the data (Parquet or CSV files or folders, or a table of its catalog). Every
partition is counted on an executor by the local engine's own
:class:`~fairaudit.engines.local.Counter` (``mapInArrow``: Arrow batches become pandas frames
typed as the local Parquet reader types them, the model scores them vectorised, the counter
tallies them); each partition yields one small pickled counter, and the driver adds them in
partition order. Counts are integers and float sums are exact
(:mod:`fairaudit.metrics.exact`), so the result is identical to the local engine's whatever
the partitioning. The driver never holds the rows: it receives per-partition counters,
aggregates, the explanation sample, and at most :data:`QUANTILE_ROWS` values of a quantile.

* The model is loaded on the driver and shipped once to every Python worker as a broadcast
  (cached per worker process); a model that cannot be pickled (an ONNX inference session)
  is loaded again from the spec on the worker. An MLflow model is scored by
  ``mlflow.pyfunc.spark_udf`` (MLflow loads it once per executor) and the loader's own
  :meth:`~fairaudit.models.mlflow.MlflowModel.decide` reads its output.
* A rules model's population parameters (a median income) are computed by executors'
  summaries (:func:`_statistic`), exactly as the local engine computes them.
* The poorest share's welfare cut-off is computed by Spark (``percentile_disc``, the same
  inverted-CDF quantile as the local engine).
* Explanations (:class:`SparkRows`) and the re-review list of recommendations run the
  local engine's row-level code on the executors; their row-level artifacts are written by
  the executors into a folder that is published whole.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fairaudit.data import DEFAULT_BATCH_ROWS
from fairaudit.engines.local import Counter
from fairaudit.errors import FairauditError, InputError, MissingExtraError
from fairaudit.models.base import Model
from fairaudit.spec import AuditSpec

__all__ = ["SparkRows", "count_spark", "spark_session"]

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


def data_format(spec: AuditSpec) -> str:
    """``parquet``, ``csv`` or ``table``: how Spark reads the spec's data."""
    if spec.data.format is not None:
        return spec.data.format
    path = spec.base_dir / spec.data.path
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")) or (path.is_dir() and any(path.rglob("*.parquet"))):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")) or path.is_dir():
        return "csv"
    raise spec.error(
        f"cannot tell the format of {path.name!r} from its suffix",
        loc=("data", "path"),
        fix="add `format: csv` or `format: parquet` under data",
    )


def read(spark: Any, spec: AuditSpec) -> tuple[Any, str, str]:
    """The data as a Spark DataFrame, a name for messages, and its sha256 for provenance.

    The sha256 is the file's (as the local engine's); for a folder, of its files' names and
    hashes; for a table, of its name and the files Spark reads for it.
    """
    if spec.data.format == "table":
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
    try:
        if data_format(spec) == "parquet":
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


def _prepare_population(
    df: Any, model: Model, columns: list[str], batch_rows: int, conform: _Conform | None
) -> None:
    """Pin the model's population parameters without bringing rows to the driver.

    A rules model's statistics (``median(income_pc, household_size)``) are summarised by
    the executors and finished exactly on the driver (:func:`_statistic`). Another model
    that needs the population gets its ``prepare`` with the columns it reads, collected
    (it must fit on the driver; pin its parameters otherwise).
    """
    cols = df.select(*[f"`{c}`" for c in columns])
    target: Any = model
    while target is not None and not (
        callable(getattr(target, "prepare_parameters", None))
        and getattr(target, "rules", None) is not None
    ):
        target = getattr(target, "inner", None)  # through wrappers (mitigation options)
    if target is not None:
        rules = target.rules
        # what the rules see: a wrapper may change the rows first (data corrections)
        view = model.population_frame
        target.prepare_parameters(
            lambda name, node, params: _statistic(
                cols, rules, node, name, params, batch_rows, conform, view
            )
        )
        return
    table = cols.toArrow()

    def batches() -> Iterator[Any]:
        for rb in table.to_batches(max_chunksize=batch_rows):
            yield rb.to_pandas()

    model.prepare(batches())


#: A quantile is finished on the driver once its bracket holds at most this many rows
#: (their value and weight only): bounded driver memory, whatever the data's size.
QUANTILE_ROWS = 100_000
_SPLITS = 1024  # split points per narrowing round
_PICKS = 64  # candidate split points per batch


def _map_partitions(df: Any, per_partition: Any) -> list[Any]:
    """``per_partition(batches)`` on every partition; its (pickled) results in partition
    order. An exception on an executor is raised here as itself."""
    import pyarrow as pa

    schema = pa.schema([("partition", pa.int64()), ("payload", pa.binary())])

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        pid, _ = _task()
        try:
            payload = pickle.dumps(("ok", per_partition(batches)))
        except Exception as exc:
            payload = pickle.dumps(("error", _error_payload(exc)))
        yield pa.RecordBatch.from_pydict({"partition": [pid], "payload": [payload]}, schema)

    rows = df.mapInArrow(run, "partition long, payload binary").collect()
    out = []
    for row in sorted(rows, key=lambda r: r["partition"]):
        kind, value = pickle.loads(row["payload"])
        if kind == "error":
            raise pickle.loads(value)
        out.append(value)
    return out


def _picks(x: np.ndarray, k: int = _PICKS) -> np.ndarray:
    """Up to ``k`` evenly spaced order statistics of ``x`` (candidate split points)."""
    if len(x) <= k:
        return np.unique(x)
    xs = np.sort(x)
    return np.unique(xs[np.linspace(0, len(xs) - 1, k).astype("int64")])


@dataclass(frozen=True)
class _Bracket:
    """The values ``low < x < high`` (``<=`` where inclusive) known to hold the quantile."""

    low: float = float("-inf")
    high: float = float("inf")
    low_in: bool = True
    high_in: bool = True

    def mask(self, x: np.ndarray) -> np.ndarray:
        above = (x >= self.low) if self.low_in else (x > self.low)
        below = (x <= self.high) if self.high_in else (x < self.high)
        return above & below


def _statistic(
    df: Any,
    rules: Any,
    node: Any,
    name: str,
    params: dict[str, Any],
    batch_rows: int,
    conform: _Conform | None,
    view: Any = None,
) -> float:
    """One population statistic of a rules parameter, computed on Spark, exactly as
    :func:`fairaudit.rules.evaluate.population_parameters` defines it.

    A mean is two exact sums. A quantile is narrowed down: executors add up the exact
    weight of the rows between candidate split points (sampled from the values), the
    driver finds the bracket where the cumulative weight reaches ``q · W``, and once a
    bracket holds at most :data:`QUANTILE_ROWS` rows their values and weights are brought
    to the driver to finish (:func:`fairaudit.rules.statistics.quantile_in`).
    """
    from pyspark import StorageLevel

    from fairaudit.rules.evaluate import statistic_inputs

    def evaluate(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        try:
            for frame, _ in _frames(batches, batch_rows, conform):
                if view is not None:
                    frame = view(frame)
                x, w = statistic_inputs(rules, frame, node, name, params)
                yield pa.RecordBatch.from_pydict(
                    {"x": x, "w": w, "error": pa.nulls(len(x), pa.binary())}
                )
        except Exception as exc:
            yield pa.RecordBatch.from_pydict(
                {"x": [np.nan], "w": [np.nan], "error": [_error_payload(exc)]}
            )

    # the argument is evaluated once (the rules read many columns); the narrowing passes
    # read only these two numbers per row
    values = df.mapInArrow(evaluate, "x double, w double, error binary").persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        return _narrow(values, node, name)
    finally:
        values.unpersist()


def _narrow(values: Any, node: Any, name: str) -> float:
    """:func:`_statistic` on the rows' ``(x, w)`` pairs (see there)."""
    from fairaudit.metrics.exact import ExactSums
    from fairaudit.rules.evaluate import _no_values, statistic_q
    from fairaudit.rules.statistics import Summary, quantile_in

    df = values

    def pairs(batches: Iterator[Any], bracket: _Bracket) -> Iterator[tuple[Any, Any]]:
        for rb in batches:
            errors = rb.column("error").drop_null()
            if len(errors):
                raise pickle.loads(errors[0].as_py())
            x = rb.column("x").to_numpy(zero_copy_only=False)
            w = rb.column("w").to_numpy(zero_copy_only=False)
            m = bracket.mask(x)
            yield x[m], w[m]

    def summarise(bracket: _Bracket) -> tuple[Summary, np.ndarray]:
        def part(batches: Iterator[Any]) -> tuple[Summary, np.ndarray]:
            total, picks = Summary(), [np.zeros(0)]
            for x, w in pairs(batches, bracket):
                total = total + Summary.of(x, w)
                picks.append(_picks(x))
            return total, _picks(np.concatenate(picks), 4 * _PICKS)

        parts = _map_partitions(df, part)
        total = Summary()
        for s, _ in parts:
            total = total + s
        return total, np.unique(np.concatenate([np.zeros(0), *(p for _, p in parts)]))

    total, picks = summarise(_Bracket())
    if total.n == 0:
        raise _no_values(node.func, name)
    if node.func == "mean":
        return total.mean()
    target = total.target(statistic_q(node))
    bracket, below, rows = _Bracket(), 0, total.n
    while rows > QUANTILE_ROWS:
        inside = picks[bracket.mask(picks)]
        splits = inside if len(inside) <= _SPLITS else _picks(inside, _SPLITS)
        k = len(splits)

        def buckets(
            batches: Iterator[Any],
            splits: np.ndarray = splits,
            bracket: _Bracket = bracket,
        ) -> Any:
            # bucket 2j: the open interval below splits[j]; 2j + 1: the value splits[j]
            k = len(splits)
            sums = ExactSums(2 * k + 1)
            counts = np.zeros(2 * k + 1, dtype="int64")
            for x, w in pairs(batches, bracket):
                j = np.searchsorted(splits, x, side="left")
                hit = (j < k) & (splits[np.minimum(j, k - 1)] == x)
                b = np.where(hit, 2 * j + 1, 2 * j)
                sums.add(b, w)
                counts += np.bincount(b, minlength=2 * k + 1)
            return sums, counts

        parts = _map_partitions(df, buckets)
        sums, counts = parts[0]
        for s, c in parts[1:]:
            sums, counts = sums + s, counts + c
        found, acc = None, below
        for i, weight in enumerate(sums.to_ints()):
            if acc + weight >= target:
                found = i
                break
            acc += weight
        if found is None:
            return float(total.high)  # T was rounded past the total: the largest value
        b, below = found, acc
        j = b // 2
        if b % 2:
            return float(splits[j])
        bracket = _Bracket(
            low=float(splits[j - 1]) if j > 0 else bracket.low,
            high=float(splits[j]) if j < k else bracket.high,
            low_in=bracket.low_in if j == 0 else False,
            high_in=bracket.high_in if j == k else False,
        )
        rows = int(counts[b])
        if rows > QUANTILE_ROWS:
            _, picks = summarise(bracket)

    def collect(batches: Iterator[Any]) -> tuple[np.ndarray, np.ndarray]:
        xs, ws = [np.zeros(0)], [np.zeros(0)]
        for x, w in pairs(batches, bracket):
            xs.append(x)
            ws.append(w)
        return np.concatenate(xs), np.concatenate(ws)

    parts = _map_partitions(df, collect)
    x = np.concatenate([p[0] for p in parts])
    w = np.concatenate([p[1] for p in parts])
    return quantile_in(x, w, target, below=below)


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


class _Conform:
    """Spark's Arrow batches made to look as the local Parquet reader's.

    Spark reads a Parquet dictionary column (a pandas Categorical) as text and loses the
    file's pandas metadata (nullable ``boolean``/``Int64`` columns come back as objects).
    The local engine's reader keeps both; so every batch is cast back to the file's Arrow
    types (dictionaries with the file's own values, in its order) and given the file's
    pandas metadata before it becomes a pandas frame: models, explainers and group labels
    see the very same frames on both engines.
    """

    def __init__(self, schema: Any, dictionaries: dict[str, Any]) -> None:
        self.schema = schema
        self.dictionaries = dictionaries

    def table(self, table: Any) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        columns, fields = [], []
        for name, col in zip(table.column_names, table.columns, strict=True):
            idx = self.schema.get_field_index(name)
            target = self.schema.field(idx).type if idx >= 0 else None
            if target is None or col.type == target:
                columns.append(col)
                fields.append(pa.field(name, col.type))
                continue
            try:
                if pa.types.is_dictionary(target):
                    values = self.dictionaries[name]
                    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
                    index = pc.index_in(col, value_set=values)
                    lost = pc.and_(pc.is_null(index), pc.is_valid(col))
                    if pc.any(lost).as_py():  # values the file's dictionary lacks: appended
                        extra = pc.unique(pc.filter(col, lost))
                        values = pa.concat_arrays([values, extra.cast(values.type)])
                        index = pc.index_in(col, value_set=values)
                    col = pa.DictionaryArray.from_arrays(
                        index.cast(target.index_type), values, ordered=target.ordered
                    )
                    if not pa.types.is_integer(target.index_type):  # pragma: no cover
                        raise TypeError
                else:
                    col = col.cast(target)
            except (pa.ArrowException, KeyError, TypeError, OverflowError):
                pass  # keep Spark's type (e.g. timestamps): the frames may then differ
            columns.append(col)
            fields.append(pa.field(name, col.type))
        return pa.table(columns, schema=pa.schema(fields, metadata=self.schema.metadata))

    def to_pandas(self, table: Any) -> Any:
        return self.table(table).to_pandas()


def _conformer(spec: AuditSpec) -> _Conform | None:
    """The local reader's types for a Parquet file or folder (None for CSV and tables)."""
    if data_format(spec) != "parquet":
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = spec.base_dir / spec.data.path
    first = (
        path
        if path.is_file()
        else next(
            iter(sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_"))))
        )
    )
    pf = pq.ParquetFile(first)
    schema = pf.schema_arrow
    dict_cols = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    dictionaries: dict[str, Any] = {}
    if dict_cols and pf.metadata.num_rows:
        # one row is enough: the whole dictionary comes with it
        batch = next(pf.iter_batches(batch_size=1, columns=dict_cols))
        for name in dict_cols:
            dictionaries[name] = batch.column(name).dictionary
    return _Conform(schema, dictionaries)


def _frames(
    batches: Iterator[Any], batch_rows: int, conform: _Conform | None
) -> Iterator[tuple[Any, Any]]:
    """Arrow record batches gathered into tables of about ``batch_rows`` rows, with their
    pandas frames (as the local reader would give them)."""
    import pyarrow as pa

    pending: list[Any] = []
    rows = 0

    def flush() -> tuple[Any, Any]:
        table = pa.Table.from_batches(pending)
        frame = conform.to_pandas(table) if conform is not None else table.to_pandas()
        return frame, table

    for rb in batches:
        pending.append(rb)
        rows += rb.num_rows
        if rows >= batch_rows:
            yield flush()
            pending, rows = [], 0
    if rows:
        yield flush()


def _text_columns(spec: AuditSpec, df: Any, columns: list[str]) -> Any:
    """``columns`` of ``df``; for CSV and tables, protected columns without bins as text.

    The local CSV reader reads those as text (so ``"01"`` keeps its spelling); Parquet
    keeps the file's types on both engines (see :class:`_Conform`).
    """
    if data_format(spec) == "parquet":
        return df.select(*[f"`{c}`" for c in columns])
    text_cols = {p.source_column for p in spec.protected if p.bins is None}
    return df.selectExpr(
        *[(f"CAST(`{c}` AS STRING) AS `{c}`" if c in text_cols else f"`{c}`") for c in columns]
    )


def _task() -> tuple[int, int]:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return (ctx.partitionId(), ctx.attemptNumber()) if ctx is not None else (0, 0)


def _error_payload(exc: BaseException) -> bytes:
    """An exception pickled for the driver, which raises what the local engine would."""
    try:
        return pickle.dumps(exc)
    except Exception:
        return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))


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
    if spec.recommend is not None and not spec.data.row_id:
        from fairaudit.engines.rows import POSITION

        # the re-review list keys rows by their position in the data
        df = _with_positions(spark, spec, df)
        columns.append(POSITION)
    df = _text_columns(spec, df, columns)
    if spec.spark.partitions:
        df = df.repartition(spec.spark.partitions)
    conform = _conformer(spec)
    try:
        if model.needs_population:
            _prepare_population(df, model, list(model.columns) or columns, batch_rows, conform)
        cutoff = _welfare_cutoff(df, spec, where) if spec.targeting is not None else None
        scorer: Model = model
        if _is_mlflow(model):
            df, scorer = _mlflow_udf(spark, df, model, conform)
        partials = _run_partitions(spark, df, spec, scorer, where, cutoff, batch_rows, conform)
    except Exception as exc:
        raise _job_error(exc) from exc
    total = Counter(spec, where, cutoff)
    for part in partials:
        total = total.merge(part)
    return total, where, digest


def _job_error(exc: Exception) -> Exception:
    """A Spark failure as a clear error (fairaudit's own errors pass unchanged)."""
    if not _from_spark(exc):
        return exc
    return FairauditError(
        f"the Spark job failed: {_first_line(exc)}",
        fix="check the executors (memory, Python environment: PYSPARK_PYTHON must have "
        "fairaudit installed) and rerun with --debug for Spark's trace",
    )


def _run_partitions(
    spark: Any,
    df: Any,
    spec: AuditSpec,
    model: Model,
    where: str,
    cutoff: float | None,
    batch_rows: int,
    conform: _Conform | None,
) -> list[Counter]:
    import pyarrow as pa

    shipped = spark.sparkContext.broadcast(_ship(model, spec))
    key = uuid.uuid4().hex  # names this audit's model in the workers' cache
    schema = pa.schema([("partition", pa.int64()), ("payload", pa.binary())])

    def count_partition(batches: Iterator[Any]) -> Iterator[Any]:
        pid, _ = _task()
        counter = Counter(spec, where, cutoff)
        try:
            worker_model = _worker_model(key, shipped.value)
            for frame, _ in _frames(batches, batch_rows, conform):
                counter.add(frame, worker_model)
            # what a wrapper gathered (benefit paid, the re-review rows it wrote)
            gathered = worker_model.partial(f"part-{pid:05d}")
            payload = pickle.dumps(("ok", (counter, gathered)))
        except Exception as exc:
            # The driver raises what the local engine would have raised (a FairauditError
            # says what is wrong with the data or model; anything else is a bug).
            payload = pickle.dumps(("error", _error_payload(exc)))
        yield pa.RecordBatch.from_pydict({"partition": [pid], "payload": [payload]}, schema)

    rows = df.mapInArrow(count_partition, "partition long, payload binary").collect()
    out: list[Counter] = []
    gathered: list[Any] = []
    for row in sorted(rows, key=lambda r: r["partition"]):
        kind, value = pickle.loads(row["payload"])
        if kind == "error":
            raise pickle.loads(value)
        out.append(value[0])
        gathered.append(value[1])
    model.absorb(gathered)
    return out


# --------------------------------------------------------------------------- MLflow models

#: The column ``mlflow.pyfunc.spark_udf`` writes the model's output to.
MLFLOW_OUTPUT = "__fairaudit_mlflow__"


def _is_mlflow(model: Model) -> bool:
    return (
        getattr(model, "pyfunc", None) is not None
        and callable(getattr(model, "decide", None))
        and getattr(model, "model_path", None) is not None
    )


def _udf_type(out: Any) -> tuple[str, str]:
    """The Spark type of a pyfunc's output, and how to read it back (``kind``)."""
    import pandas as pd

    def scalar(values: Any) -> str:
        kind = np.asarray(values).dtype.kind
        return {"b": "boolean", "i": "long", "u": "long", "f": "double"}.get(kind, "string")

    if isinstance(out, dict):
        out = pd.DataFrame(out)
    if isinstance(out, pd.DataFrame):
        if out.shape[1] == 1:
            return scalar(out.iloc[:, 0].to_numpy()), "column"
        fields = ", ".join(f"`{c}`: {scalar(out[c].to_numpy())}" for c in out.columns)
        return f"struct<{fields}>", "frame"
    values = np.asarray(out.to_numpy() if isinstance(out, pd.Series) else out)
    if values.ndim == 2:
        return "array<double>", "matrix"
    return scalar(values), "column"


class _SparkScored(Model):
    """An MLflow model whose output ``mlflow.pyfunc.spark_udf`` computed on the executors:
    it only turns that output into decisions, with the loader's own rules."""

    def __init__(self, inner: Any, kind: str) -> None:
        self.inner = inner
        self.kind = kind
        self.columns = list(inner.columns)

    def predict(self, frame: Any) -> Any:
        import pandas as pd

        col = frame[MLFLOW_OUTPUT]
        out: Any
        if self.kind == "matrix":
            out = np.stack([np.asarray(v, dtype="float64") for v in col]) if len(col) else None
        elif self.kind == "frame":
            out = pd.DataFrame(list(col))
        else:
            out = col.to_numpy()
        if out is None:
            from fairaudit.models._common import _empty_prediction

            return _empty_prediction(self.inner.threshold is not None)
        return self.inner.decide(out, len(frame))

    def provenance(self) -> dict[str, Any]:
        return dict(self.inner.provenance())


def _mlflow_udf(spark: Any, df: Any, model: Any, conform: _Conform | None) -> tuple[Any, Model]:
    """Score with ``mlflow.pyfunc.spark_udf`` (the model loaded once per executor by
    MLflow itself); the Spark type of its output is read from the model's output on a few
    rows."""
    from pyspark.sql import functions as F

    from fairaudit.models.mlflow import _quiet_mlflow

    with _quiet_mlflow():
        import mlflow.pyfunc

    probe = df.select(*[f"`{c}`" for c in model.columns]).limit(16).toArrow()
    frame = conform.to_pandas(probe) if conform is not None else probe.to_pandas()
    with _quiet_mlflow():
        result_type, kind = _udf_type(model.pyfunc.predict(frame))
        udf = mlflow.pyfunc.spark_udf(
            spark, model.model_path, result_type=result_type, env_manager="local"
        )
    scored = df.withColumn(MLFLOW_OUTPUT, udf(F.struct(*[F.col(f"`{c}`") for c in model.columns])))
    return scored, _SparkScored(model.without_pyfunc(), kind)


# --------------------------------------------------------------------------- explanations

# Python-worker cache: audit key -> explainer made from the shipped sample.
_EXPLAINERS: dict[Any, Any] = {}
_FLIP = np.uint64(1 << 63)


def _signed(key: np.ndarray) -> np.ndarray:
    """uint64 keys as int64 in the same order (Spark has no unsigned type)."""
    return (key ^ _FLIP).view("int64")


class SparkRows:
    """The Spark engine's side of explanations (:func:`fairaudit.audit.explain_audit`).

    Every step runs the local engine's own row-level code
    (:class:`fairaudit.engines.rows.ExplainRows`) on the executors; the driver receives
    only aggregates (rows per cell, reason-code tallies) and the explanation sample. Rows
    without a ``data.row_id`` are keyed by their position in the data, which Spark reads
    from Parquet files (``_metadata.row_index``, files in name order).

    Parameters
    ----------
    spec
        The audit spec (``engine: spark``, ``explain:``).
    model
        The audit's model (prepared: its population parameters pinned).
    batch_rows
        Rows per batch on an executor.
    spark
        A SparkSession (default: :func:`spark_session`).
    """

    def __init__(
        self,
        spec: AuditSpec,
        model: Model,
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        spark: Any = None,
    ) -> None:
        self.spark = spark if spark is not None else spark_session(spec)
        self.spec = spec
        self.model = model
        self.batch_rows = batch_rows
        self.key = uuid.uuid4().hex
        df, self.where, _ = read(self.spark, spec)
        if not spec.data.row_id:
            df = _with_positions(self.spark, spec, df)
        self.df = df
        self.conform = _conformer(spec)

    def _select(self, rows: Any, columns: list[str]) -> Any:
        from fairaudit.engines.rows import POSITION

        wanted = [*columns, *([POSITION] if rows.id_column == POSITION else [])]
        df = _text_columns(self.spec, self.df, wanted)
        if self.spec.spark.partitions:
            df = df.repartition(self.spec.spark.partitions)
        return df

    def _run(self, job: Any) -> Any:
        try:
            return job()
        except Exception as exc:
            raise _job_error(exc) from exc

    def cell_counts(self, rows: Any) -> Any:
        """Rows per finest cell, counted by the executors and summed by Spark."""
        from pyspark.sql import functions as F

        spec, conform, batch_rows = self.spec, self.conform, self.batch_rows
        attrs = rows.attributes
        names = [f"__a{i}" for i in range(len(attrs))]
        schema = ", ".join([*(f"{n} string" for n in names), "n long", "error binary"])

        def count_cells(batches: Iterator[Any]) -> Iterator[Any]:
            import pandas as pd
            import pyarrow as pa

            try:
                parts = [rows.cell_counts(f) for f, _ in _frames(batches, batch_rows, conform)]
                if not parts:
                    return
                c = pd.concat(parts, ignore_index=True).groupby(attrs, sort=False)["n"].sum()
                c = c.reset_index()
                out = {n: c[a].astype(str).tolist() for n, a in zip(names, attrs, strict=True)}
                out["n"] = c["n"].astype("int64").tolist()
                out["error"] = [None] * len(c)
            except Exception as exc:
                out = {n: [None] for n in names}
                out["n"] = [0]
                out["error"] = [_error_payload(exc)]
            yield pa.RecordBatch.from_pydict(out)

        def job() -> Any:
            mapped = self._select(rows, rows.protected_columns()).mapInArrow(count_cells, schema)
            return (
                mapped.groupBy(*names)
                .agg(F.sum("n").alias("n"), F.first("error", ignorenulls=True).alias("error"))
                .toArrow()
            )

        table = self._run(job).to_pandas()
        errors = table["error"].dropna()
        if len(errors):
            raise pickle.loads(errors.iloc[0])
        if spec.data.row_id:
            self._check_unique_ids()
        return table.drop(columns=["error"]).rename(columns=dict(zip(names, attrs, strict=True)))

    def _check_unique_ids(self) -> None:
        from pyspark.sql import functions as F

        from fairaudit.engines.rows import duplicate_id_error

        rid = self.spec.data.row_id
        assert rid is not None
        dup = self._run(
            lambda: (
                self.df.groupBy(F.col(f"`{rid}`").alias("id"))
                .count()
                .where("count > 1")
                .limit(1)
                .collect()
            )
        )
        if dup:
            raise duplicate_id_error(self.spec, self.where, dup[0]["id"])

    def sample(self, rows: Any, plan: Any, columns: list[str]) -> Any:
        """The sample's rows: each cell's smallest keys, chosen per partition by the
        executors and across partitions by a Spark window; only they reach the driver."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        from pyspark.sql.types import LongType, StructField, StructType

        conform, batch_rows = self.conform, self.batch_rows
        df = self._select(rows, columns)
        helpers = ["__cell", "__k1", "__k2", "__take"]
        schema = StructType([*df.schema.fields, *(StructField(h, LongType()) for h in helpers)])

        def candidates(batches: Iterator[Any]) -> Iterator[Any]:
            import pyarrow as pa

            from fairaudit.explain.sampling import bottom_k

            kept: Any = None
            cells = k1 = k2 = np.zeros(0, dtype="int64")
            take = plan.take
            for frame, table in _frames(batches, batch_rows, conform):
                mask, cell, (a, b) = rows.candidates(frame, plan)
                part = table.filter(pa.array(mask))
                kept = part if kept is None else pa.concat_tables([kept, part])
                cells = np.concatenate([cells, cell[mask]])
                k1 = np.concatenate([k1, _signed(a[mask])])
                k2 = np.concatenate([k2, _signed(b[mask])])
                again = bottom_k(cells, (k1, k2), take)  # signed keys keep their order
                kept, cells, k1, k2 = (
                    kept.filter(pa.array(again)),
                    cells[again],
                    k1[again],
                    k2[again],
                )
            if kept is None or kept.num_rows == 0:
                return
            kept = kept.append_column("__cell", pa.array(cells, pa.int64()))
            kept = kept.append_column("__k1", pa.array(k1, pa.int64()))
            kept = kept.append_column("__k2", pa.array(k2, pa.int64()))
            kept = kept.append_column("__take", pa.array(take[cells], pa.int64()))
            yield from kept.to_batches()

        def job() -> Any:
            order = Window.partitionBy("__cell").orderBy("__k1", "__k2")
            return (
                df.mapInArrow(candidates, schema)
                .withColumn("__rank", F.row_number().over(order))
                .where(F.col("__rank") <= F.col("__take"))
                .drop(*helpers, "__rank")
                .toArrow()
            )

        table = self._run(job)
        frame = conform.to_pandas(table) if conform is not None else table.to_pandas()
        return rows.sample_order(frame)

    def reasons(
        self,
        rows: Any,
        model: Model,
        explainer: Any,
        columns: list[str],
        folder: Path,
        background: tuple[Any, np.ndarray] | None = None,
    ) -> tuple[Any, Any, int]:
        """Reason codes written by the executors (one Parquet file per partition into
        ``folder``, which every executor must be able to write) and their tallies, summed
        by Spark."""
        import pandas as pd
        from pyspark.sql import functions as F

        from fairaudit.explain.reasons import COUNT_COLUMNS, ROWS_COLUMNS

        spec, conform, batch_rows = self.spec, self.conform, self.batch_rows
        shipped = self.spark.sparkContext.broadcast(_ship(model, spec))
        shipped_background = None
        if explainer is not None:
            # the explainer is made again on each worker from the same sample and seed
            assert background is not None
            shipped_background = self.spark.sparkContext.broadcast(pickle.dumps(background))
        key = self.key
        target = str(folder)
        schema = "kind string, attribute string, grp string, feature string, n long, error binary"

        def write_reasons(batches: Iterator[Any]) -> Iterator[Any]:
            import pyarrow as pa

            from fairaudit.explain.reasons import ReasonsWriter

            pid, _ = _task()
            name = f"part-{pid:05d}.parquet"
            writer = ReasonsWriter(Path(target) / name)
            out: dict[str, list[Any]] = {
                c: [] for c in ("kind", "attribute", "grp", "feature", "n", "error")
            }

            def emit(
                kind: str, attribute: Any, grp: Any, feature: Any, n: int, error: Any = None
            ) -> None:
                for col, v in zip(out, (kind, attribute, grp, feature, n, error), strict=True):
                    out[col].append(v)

            try:
                worker_model = _worker_model(key, shipped.value)
                worker_explainer = None
                if shipped_background is not None:
                    worker_explainer = _worker_explainer(
                        key, worker_model, shipped_background.value, spec
                    )
                counts, tallies = [], []
                for frame, _ in _frames(batches, batch_rows, conform):
                    codes, c, r = rows.reasons(frame, worker_model, worker_explainer)
                    writer.write(codes)
                    counts.append(c)
                    tallies.append(r)
                if writer.close():
                    emit("file", None, None, name, writer.rows)
                if counts:
                    c = pd.concat(counts).groupby(COUNT_COLUMNS[:3], sort=False)["count"].sum()
                    for (a, g, f), n in c.items():
                        emit("count", a, g, f, int(n))
                    r = pd.concat(tallies).groupby(ROWS_COLUMNS[:2], sort=False)["rows"].sum()
                    for (a, g), n in r.items():
                        emit("rows", a, g, None, int(n))
            except Exception as exc:
                writer.abort()
                emit("error", None, None, None, 0, _error_payload(exc))
            if out["kind"]:
                yield pa.RecordBatch.from_pydict(out)

        def job() -> Any:
            mapped = self._select(rows, columns).mapInArrow(write_reasons, schema)
            return (
                mapped.groupBy("kind", "attribute", "grp", "feature")
                .agg(F.sum("n").alias("n"), F.first("error", ignorenulls=True).alias("error"))
                .toArrow()
            )

        table = self._run(job).to_pandas()
        errors = table.loc[table["kind"] == "error", "error"].dropna()
        if len(errors):
            raise pickle.loads(errors.iloc[0])
        files = table[table["kind"] == "file"]
        unseen = [f for f in files["feature"] if not (folder / f).is_file()]
        if unseen:
            raise FairauditError(
                f"the executors wrote reason codes ({', '.join(unseen[:3])}) into {folder}, "
                "but the driver cannot see them there",
                fix="put the output folder (--out) on a file system every executor shares, "
                "or set explain.reasons: false",
            )
        counts = table.loc[table["kind"] == "count", ["attribute", "grp", "feature", "n"]]
        counts = counts.rename(columns={"grp": "group", "n": "count"})
        tallies = table.loc[table["kind"] == "rows", ["attribute", "grp", "n"]]
        tallies = tallies.rename(columns={"grp": "group", "n": "rows"})
        return counts, tallies, int(files["n"].sum())


def _with_positions(spark: Any, spec: AuditSpec, df: Any) -> Any:
    """``df`` with every row's position in the data (Parquet files, in name order)."""
    from pyspark.sql import functions as F

    from fairaudit.engines.rows import POSITION

    check_positions(spec)
    meta = df.select(
        "*",
        F.col("_metadata.file_path").alias("__file"),
        F.col("_metadata.row_index").alias("__index"),
    )
    files = sorted((r["__file"], r["count"]) for r in meta.groupBy("__file").count().collect())
    if len(files) <= 1:
        return meta.withColumn(POSITION, F.col("__index")).drop("__file", "__index")
    offsets, start = [], 0
    for name, count in files:
        offsets.append((name, start))
        start += int(count)
    table = spark.createDataFrame(offsets, "__file string, __offset long")
    return (
        meta.join(F.broadcast(table), "__file")
        .withColumn(POSITION, F.col("__index") + F.col("__offset"))
        .drop("__file", "__index", "__offset")
    )


def _worker_explainer(key: Any, model: Model, shipped: bytes, spec: AuditSpec) -> Any:
    explainer = _EXPLAINERS.get(key)
    if explainer is None:
        from fairaudit.explain import make_explainer

        frame, weights = pickle.loads(shipped)
        ex = spec.explain
        assert ex is not None
        explainer = make_explainer(
            model,
            frame,
            list(model.columns),
            budget=ex.budget,
            seed=spec.seed,
            background_weights=weights,
        )
        _EXPLAINERS.clear()
        _EXPLAINERS[key] = explainer
    return explainer


def check_positions(spec: AuditSpec) -> None:
    """Reason codes and re-review lists key rows by ``data.row_id``, or by position, which
    Spark only knows for Parquet files: refuse CSV and tables without a row id (before any
    job runs)."""
    if (spec.explain is None and spec.recommend is None) or spec.data.row_id:
        return
    fmt = data_format(spec)
    if fmt != "parquet":
        what = "explanations" if spec.explain is not None else "recommendations"
        raise spec.error(
            f"{what} on Spark need data.row_id for {fmt} data: rows are keyed by their "
            "id (Spark knows row positions only in Parquet files)",
            loc=("data", "row_id"),
            fix="name the column that identifies a row under data.row_id",
        )
