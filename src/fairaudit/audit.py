"""``run_audit``: the one place that wires load -> score -> count -> statistics -> gate.

Every other module does one step and can be tested alone; only this module knows the
whole sequence (DESIGN.md §1).
"""

from __future__ import annotations

import json
import math
import platform
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from fairaudit._version import __version__
from fairaudit.data import DEFAULT_BATCH_ROWS, DataReader, check_columns
from fairaudit.engines.local import (
    _REASON,
    Counter,
    _bin_labels,
    _Extras,
    _protected_values,
    welfare_cutoff,
)
from fairaudit.engines.rows import POSITION, ExplainRows, duplicate_id_error, duplicate_ids
from fairaudit.errors import FairauditError, InputError, InternalError, PluginError
from fairaudit.gate import evaluate_gates, overall_status
from fairaudit.metrics.counts import CONFUSION, CellCounts
from fairaudit.metrics.disparity import UNKNOWN, choose_reference
from fairaudit.metrics.grouped import GroupedSums
from fairaudit.metrics.rates import METRICS, TARGETING_NAMES, headline_metric, metric_table
from fairaudit.metrics.regression import regression_metrics
from fairaudit.metrics.scores import (
    ScoreBins,
    auc_from_histogram,
    calibration,
    median_bin,
    scoring_rate,
    sweep,
)
from fairaudit.metrics.significance import adjust_p_values
from fairaudit.metrics.statistics import grouping_statistics
from fairaudit.metrics.uncertainty import wilson_interval
from fairaudit.models.base import LoadContext, Model, ModelLoader, binary_decision, file_sha256
from fairaudit.plugins import Registry, make_registry
from fairaudit.results import (
    AuditResult,
    BetweenGroups,
    BetweenValue,
    CategoryGroup,
    CategoryResults,
    CounterfactualGroup,
    CounterfactualResults,
    Counts,
    DefectEffect,
    Disparity,
    GroupResult,
    MetricValue,
    OptionNotRun,
    Overall,
    PoorestGroup,
    PoorestResults,
    Provenance,
    ReasonCount,
    ReasonGroup,
    ReasonResults,
    Recommendations,
    Reference,
    RegressionGroup,
    RegressionResults,
    ScoreGroup,
    ScoreGrouping,
    ScoreResults,
    Statistics,
    WeightedCounts,
    atomic_write_parquet,
)
from fairaudit.spec import AuditSpec, ProtectedAttribute, spec_sha256, validation_to_spec_error

if TYPE_CHECKING:
    from fairaudit.recommend.mitigation import Candidate

__all__ = ["AuditRun", "run_audit"]

#: Called after each batch with the number of rows read so far.
ProgressCallback = Callable[[int], None]

DEFINITIONS = {
    "selection_rate": "(tp+fp)/n: share of people the model selects",
    "prevalence": "(tp+fn)/n: share of people who are truly positive (eligible)",
    "false_negative_rate": "fn/(tp+fn): share of the truly positive who are not selected",
    "false_positive_rate": "fp/(fp+tn): share of the truly negative who are selected",
    "false_discovery_rate": "fp/(tp+fp): share of the selected who are truly negative",
    "exclusion_error": "= false_negative_rate: share of eligible people the programme misses",
    "inclusion_error": "= false_discovery_rate, fp/(tp+fp): share of beneficiaries who are "
    "not eligible (World Bank targeting convention; false_positive_rate is the other "
    "definition, fp/(fp+tn), also reported)",
    "targeting_differential": "true_positive_rate - false_positive_rate: coverage of the "
    "eligible minus coverage of the non-eligible (assistive audits)",
    "interval": "Wilson score interval; with weights, on Kish's effective sample size",
    "difference": "group value minus reference group value",
    "ratio": "group value divided by reference group value",
    "between_groups": "max minus min and min divided by max over an attribute's groups "
    "(fairlearn's between_groups method)",
}


@dataclass
class AuditRun:
    """What the counting pass produced (before statistics)."""

    counts: CellCounts
    n_rows: int
    dropped: dict[str, int]
    unknown: dict[str, int]
    model: Model
    loader: str
    model_options: dict[str, Any]
    score_counts: GroupedSums | None = None
    score_sums: GroupedSums | None = None
    scores_outside: int = 0
    regression: GroupedSums | None = None
    extras: _Extras | None = None
    data_sha256: str | None = None


def run_audit(
    spec: AuditSpec,
    *,
    registry: Registry | None = None,
    progress: ProgressCallback | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    restricted_dir: Path | None = None,
    status: Callable[[str], None] | None = None,
) -> AuditResult:
    """Run the audit a spec describes and return its results.

    Parameters
    ----------
    spec
        A validated spec (see :func:`fairaudit.load_spec`).
    registry
        Plugin registry to find the model loader and data reader in (default: a fresh
        one with installed plugins).
    progress
        Called after each batch with the number of rows read so far.
    batch_rows
        Rows per batch; counts are summed over batches.
    restricted_dir
        Where row-level outputs go (``reasons/`` when the spec's ``explain`` asks
        for reason codes). They never go into the results. None: none are written.
    status
        Called with a line saying which step runs (explanations, each mitigation option).

    Raises
    ------
    SpecError, InputError, PluginError
        For a bad spec, bad data, or a missing/broken plugin. A failed gate is *not* an
        error: it is in the result's ``checks`` and ``status``.
    """
    registry = registry if registry is not None else make_registry()
    if spec.recommend is not None and spec.recommend.retrain is not None:
        from fairaudit.recommend.retrain import check_retrain_spec

        check_retrain_spec(spec)  # before any row is read
    run = count(spec, registry=registry, progress=progress, batch_rows=batch_rows)
    result = summarise(spec, run)
    if spec.explain is not None:
        data_path = spec.base_dir / spec.data.path
        reader, engine = None, None
        if spec.engine == "spark":
            from fairaudit.engines.spark import SparkRows

            engine = SparkRows(spec, run.model, batch_rows=batch_rows)
            data_path = Path(engine.where)
        else:
            reader = _reader_for(spec, data_path, registry, fmt=spec.data.format)
        if status is not None:
            status("explaining a sample and writing reason codes")
        result.explanations = explain_audit(
            spec,
            run,
            result,
            reader,
            data_path,
            batch_rows=batch_rows,
            restricted_dir=restricted_dir,
            engine=engine,
        )
        result.summary = _summary_lines(spec, result)
    if spec.recommend is not None:
        result.recommendations = recommend_audit(
            spec,
            run,
            result,
            registry,
            batch_rows=batch_rows,
            restricted_dir=restricted_dir,
            status=status,
        )
    return result


def recommend_audit(
    spec: AuditSpec,
    run: AuditRun,
    result: AuditResult,
    registry: Registry,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    restricted_dir: Path | None = None,
    status: Callable[[str], None] | None = None,
) -> Recommendations:
    """Redress for the groups a gate failed for, and simulated mitigation options.

    Every option is audited by this module's own counting and statistics on the same data;
    the present model is re-run once more with a recorder noting the re-review list
    (written to ``restricted_dir/rereview/``, a Parquet folder: row level, never in the
    results). On Spark every option runs on the executors, which also write the list.
    """
    from fairaudit.recommend import RereviewRecorder, redress, simulate
    from fairaudit.recommend.mitigation import _fresh
    from fairaudit.recommend.redress import failed_groups, listed_counts
    from fairaudit.results import publish_dir, staging_dir

    assert spec.recommend is not None
    if spec.recommend.margin is not None and getattr(run.model, "threshold", None) is None:
        raise spec.error(
            f"a re-review margin needs a model that decides by a score threshold; the "
            f"{spec.model.loader} model has none",
            loc=("recommend", "margin"),
            fix="remove recommend.margin, or give the model a threshold (model.threshold)",
        )
    data_path = spec.base_dir / spec.data.path
    groups = failed_groups(result)
    recorders: list[RereviewRecorder] = []
    on_spark = spec.engine == "spark"
    final = restricted_dir / "rereview" if restricted_dir is not None else None
    # built aside and published whole; on Spark the executors write their parts into it
    staged = staging_dir(final) if final is not None else None

    def recorder(model: Model) -> Model:
        r = RereviewRecorder(
            model,
            spec,
            groups,
            data_path,
            margin=spec.recommend.margin,  # type: ignore[union-attr]
            folder=staged if on_spark else None,
        )
        recorders.append(r)
        return r

    def run_with(sim_spec: AuditSpec, model: Model) -> AuditResult:
        return summarise(
            sim_spec, count(sim_spec, registry=registry, batch_rows=batch_rows, model=model)
        )

    def progress(name: str, done: int, total: int) -> None:
        if status is None or done >= total:
            return
        if done == 0:
            status("re-running the present model (re-review list, costs)")
        else:
            status(f"simulating mitigation option {done}/{total - 1}: {name}")

    try:
        mitigation = None
        if spec.recommend.simulate:
            retrained, not_run = (
                _retrained_options(
                    spec, run, result, registry, batch_rows=batch_rows, status=status
                )
                if spec.recommend.retrain is not None
                else ([], [])
            )
            mitigation, _ = simulate(
                spec,
                run.model,
                result,
                run_audit_with=run_with,
                recorder=recorder,
                progress=progress,
                extra=retrained,
                not_run=not_run,
            )
        elif groups:
            run_with(spec.model_copy(update={"bootstrap": 0}), recorder(_fresh(run.model)))
        listed: dict[str, int] = {}
        total = 0
        if recorders and on_spark:
            rec = recorders[0]
            listed, total = rec.listed, rec.total
            if staged is not None:
                unseen = [f for f in rec.files if not (staged / f).is_file()]
                if unseen:
                    raise FairauditError(
                        f"the executors wrote the re-review list ({', '.join(unseen[:3])}) "
                        f"into {staged.parent}, but the driver cannot see it there",
                        fix="put the output folder (--out) on a file system every executor shares",
                    )
        elif recorders:
            rows = recorders[0].frame()
            listed, total = listed_counts(rows), len(rows)
            if staged is not None and total:
                atomic_write_parquet(staged / "part-00000.parquet", rows)
        artifact = None
        if staged is not None and final is not None and total:
            publish_dir(staged, final)
            artifact = "restricted/rereview"
    finally:
        if staged is not None and staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    return Recommendations(
        redress=redress(
            spec, result, rereview_artifact=artifact, listed=listed, listed_total=total
        ),
        mitigation=mitigation,
    )


def _group_keys(
    spec: AuditSpec, attributes: list[str], frame: pd.DataFrame, file: Path
) -> np.ndarray:
    """One key per row naming its group of ``attributes`` (``sex=female × region=north``),
    cleaned as the audit cleans them (labels, bins, missing = ``unknown``)."""
    keys: pd.Series | None = None
    for i, p in enumerate(spec.protected):
        if p.name not in attributes:
            continue
        values = _protected_values(frame[p.source_column], p, i, spec, file)[0]
        part = p.name + "=" + pd.Series(np.asarray(values, dtype=object), dtype=object)
        keys = part if keys is None else keys + " × " + part
    assert keys is not None
    return keys.to_numpy(dtype=object)


def _retrained_options(
    spec: AuditSpec,
    run: AuditRun,
    result: AuditResult,
    registry: Registry,
    *,
    batch_rows: int,
    status: Callable[[str], None] | None,
) -> tuple[list[Candidate], list[OptionNotRun]]:
    """Read the training data and train every ``recommend.retrain`` method that runs."""
    from fairaudit.recommend.retrain import (
        TrainingSet,
        constraint_of,
        option_name,
        retrain_attributes,
        retrain_plan,
        retrainable,
        train_option,
    )

    assert spec.recommend is not None and spec.recommend.retrain is not None
    rt = spec.recommend.retrain
    model = retrainable(spec, run.model)
    attributes = retrain_attributes(spec, result)
    methods, not_run = retrain_plan(spec, model, attributes)
    if not methods:
        return [], not_run
    loc = ("recommend", "retrain", "data")
    path = spec.base_dir / rt.data.path
    reader = _reader_for(spec, path, registry, fmt=rt.data.format, loc=(*loc, "path"))
    label = rt.data.label or spec.data.label
    chosen = [p for p in spec.protected if p.name in attributes]
    wanted = {label: "recommend.retrain.data.label" if rt.data.label else "data.label"}
    for c in model.columns:
        wanted.setdefault(c, f"model ({spec.model.loader} loader)")
    for p in chosen:
        wanted.setdefault(p.source_column, f"protected[{spec.protected.index(p)}].column")
    check_columns(reader.columns(path), wanted, file=path)
    text_cols = [p.source_column for p in chosen if p.bins is None]
    if status is not None:
        status(f"reading the training data {path.name}")
    batches = list(
        reader.iter_batches(path, list(wanted), batch_rows=batch_rows, as_text=text_cols)
    )
    frame = pd.concat(batches, ignore_index=True) if batches else pd.DataFrame(columns=list(wanted))
    if len(frame) == 0:
        raise InputError("the training data has no rows", file=path, fix="check the file")
    positive = (
        rt.data.positive_label if rt.data.positive_label is not None else spec.data.positive_label
    )
    y = binary_decision(
        frame[label],
        what="the training label",
        positive=positive,
        file=str(path),
        column=label,
        fix="the label must be 1 (truly eligible/positive) or 0; map it, or set "
        "recommend.retrain.data.positive_label to the value meaning positive",
    ).astype("int64")
    train = TrainingSet(
        frame=frame,
        y=y,
        groups=_group_keys(spec, attributes, frame, path),
        path=path,
        label=label,
        attributes=tuple(attributes),
    )
    audit_path = spec.base_dir / spec.data.path

    def groups_of(batch: pd.DataFrame) -> np.ndarray:
        return _group_keys(spec, attributes, batch, audit_path)

    constraint = constraint_of(spec)
    retrained: list[Candidate] = []
    for k, method in enumerate(methods, start=1):
        if status is not None:
            status(
                f"training mitigation model {k}/{len(methods)}: {option_name(method, constraint)}"
            )
        retrained.append(
            train_option(method, spec, model, train, groups_of, [p.source_column for p in chosen])
        )
    return retrained, not_run


# --------------------------------------------------------------------------- load + count


def _reader_for(
    spec: AuditSpec,
    path: Path,
    registry: Registry,
    *,
    fmt: str | None,
    loc: tuple[str | int, ...] = ("data", "path"),
) -> DataReader:
    """The reader of ``path``: ``fmt``, else the one whose suffixes the file name has."""
    if fmt is None:
        name = path.name.lower()
        for comp in registry.components("data_reader"):
            if any(name.endswith(s) for s in getattr(comp.cls, "suffixes", ())):
                fmt = comp.name
                break
    if fmt is None:
        raise spec.error(
            f"cannot tell the format of {path.name!r} from its suffix",
            loc=loc,
            fix=f"add `format: csv` or `format: parquet` under {'.'.join(map(str, loc[:-1]))}",
        )
    cls = registry.get("data_reader", fmt)
    reader: DataReader = cls()
    return reader


def _load_model(spec: AuditSpec, registry: Registry) -> Model:
    try:
        cls = registry.get("model_loader", spec.model.loader)
    except PluginError as exc:
        raise spec.error(exc.problem, loc=("model", "loader"), fix=exc.fix) from None
    loader: ModelLoader = cls()
    try:
        options = cls.Options.model_validate(spec.model.options)  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise validation_to_spec_error(exc, spec, ("model",)) from None
    ctx = LoadContext(base_dir=spec.base_dir, source=spec.source)
    return loader.load(options, ctx)


def _iter_prepared(
    spec: AuditSpec,
    model: Model,
    reader: DataReader,
    path: Path,
    columns: list[str],
    batch_rows: int,
) -> Iterator[pd.DataFrame]:
    text_cols = [p.source_column for p in spec.protected if p.bins is None]
    yield from reader.iter_batches(path, columns, batch_rows=batch_rows, as_text=text_cols)


def _welfare_cutoff(spec: AuditSpec, reader: DataReader, path: Path, batch_rows: int) -> float:
    """The welfare value at the poorest share (a column-only pass over the file)."""
    assert spec.targeting is not None
    parts = [
        pd.to_numeric(b[spec.targeting.welfare], errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
        for b in reader.iter_batches(path, [spec.targeting.welfare], batch_rows=batch_rows)
    ]
    return welfare_cutoff(np.concatenate(parts) if parts else np.array([]), spec, path)


def count(
    spec: AuditSpec,
    *,
    registry: Registry,
    progress: ProgressCallback | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    model: Model | None = None,
) -> AuditRun:
    """Load the model and count every batch of rows into per-cell confusion counts.

    ``model`` replaces the spec's model (mitigation options are simulated that way).
    """
    if spec.engine == "spark":
        return _count_on_spark(spec, registry=registry, batch_rows=batch_rows, model=model)
    if spec.data.format == "table":
        raise spec.error(
            "data.format: table names a table of Spark's catalog, which only the Spark "
            "engine reads",
            loc=("data", "format"),
            fix="set `engine: spark` (or pass --engine spark), or point data.path at a file",
        )
    data_path = spec.base_dir / spec.data.path
    if not data_path.is_file():
        raise spec.error(
            f"data file not found: {data_path}",
            loc=("data", "path"),
            fix="check the path; relative paths are relative to the spec's folder",
        )
    reader = _reader_for(spec, data_path, registry, fmt=spec.data.format)
    available = reader.columns(data_path)
    if model is None:
        model = _load_model(spec, registry)
    wanted = _wanted_columns(spec, model)
    check_columns(available, wanted, file=data_path)
    columns = list(dict.fromkeys([*wanted, *(available if not model.columns else [])]))
    if model.needs_population:
        model_columns = list(model.columns) or available
        model.prepare(reader.iter_batches(data_path, model_columns, batch_rows=batch_rows))

    cutoff = None
    if spec.targeting is not None:
        cutoff = _welfare_cutoff(spec, reader, data_path, batch_rows)
    counter = Counter(spec, data_path, cutoff)
    for batch in _iter_prepared(spec, model, reader, data_path, columns, batch_rows):
        counter.add(batch, model)
        if progress is not None:
            progress(counter.n_rows)
    return _finish_count(spec, counter, model, data_path)


def _wanted_columns(spec: AuditSpec, model: Model) -> dict[str, str]:
    """Every column the audit reads -> what needs it (for the missing-column message)."""
    wanted: dict[str, str] = {spec.data.label: "data.label"}
    if spec.data.weight:
        wanted[spec.data.weight] = "data.weight"
    if spec.data.row_id:
        wanted.setdefault(spec.data.row_id, "data.row_id")
    if spec.regression is not None:
        wanted.setdefault(spec.regression.predicted, "regression.predicted")
        wanted.setdefault(spec.regression.actual, "regression.actual")
    if spec.targeting is not None:
        wanted.setdefault(spec.targeting.welfare, "targeting.welfare")
    if spec.category is not None:
        wanted.setdefault(spec.category.truth, "category.truth")
    for i, p in enumerate(spec.protected):
        wanted.setdefault(p.source_column, f"protected[{i}].column")
    for c in model.columns:
        wanted.setdefault(c, f"model ({spec.model.loader} loader)")
    return wanted


def _count_on_spark(
    spec: AuditSpec, *, registry: Registry, batch_rows: int, model: Model | None = None
) -> AuditRun:
    """The Spark engine (:mod:`fairaudit.engines.spark`): same counter, on executors."""
    from fairaudit.engines.spark import check_positions, count_spark

    check_positions(spec)
    if model is None:
        model = _load_model(spec, registry)
    counter, where, digest = count_spark(
        spec, model, _wanted_columns(spec, model), batch_rows=batch_rows
    )
    run = _finish_count(spec, counter, model, Path(where))
    run.data_sha256 = digest
    return run


def _finish_count(spec: AuditSpec, counter: Counter, model: Model, data_path: Path) -> AuditRun:
    """Check that rows were counted and wrap the counter as an :class:`AuditRun`."""
    n_rows, total, dropped = counter.n_rows, counter.total, counter.dropped
    if n_rows == 0:
        raise InputError(
            "the data has a header but no rows", file=data_path, fix="give a file with rows"
        )
    n_kept = int(total.n.sum())
    if n_kept == 0:
        reasons = ", ".join(f"{k}: {v}" for k, v in dropped.items() if v)
        raise InputError(
            f"no rows left to audit ({reasons})",
            file=data_path,
            fix="check the label, decision and weight columns for missing values",
        )
    counter.extras.finish()
    return AuditRun(
        extras=counter.extras,
        counts=total,
        n_rows=n_rows,
        dropped=dict(dropped),
        unknown=counter.unknown,
        model=model,
        loader=spec.model.loader,
        model_options=spec.model.options,
        score_counts=counter.score_counts if counter.has_scores else None,
        score_sums=counter.score_sums if counter.has_scores else None,
        scores_outside=counter.scores_outside,
        regression=counter.regression,
    )


# --------------------------------------------------------------------------- statistics


def _check_attributes(spec: AuditSpec, counts: CellCounts) -> None:
    """Every attribute needs two known values; every named reference must exist."""
    for i, p in enumerate(spec.protected):
        values = [k[0] for k in counts.marginal([p.name]).cell_keys()]
        known = sorted(v for v in values if v != UNKNOWN)
        if len(known) < 2:
            raise InputError(
                f"protected attribute {p.name!r} has "
                f"{'a single value ' + repr(known[0]) if known else 'no known value'} "
                "in the audited rows: there are no groups to compare",
                file=str(spec.base_dir / spec.data.path),
                column=p.source_column,
                fix=f"remove protected[{i}] ({p.name}) from the spec, or audit data with "
                "more than one group",
            )
        if p.reference is not None and p.reference not in values:
            raise spec.error(
                f"reference group {p.reference!r} does not occur in the data "
                f"(values: {', '.join(_sort_values(values, p)[:12])})",
                loc=("protected", i, "reference"),
                fix="use one of those values (after `labels`/`bins` are applied)",
            )


def _sort_values(values: list[str], attr: ProtectedAttribute) -> list[str]:
    order: dict[str, int] = {}
    if attr.bins is not None:
        order = {v: i for i, v in enumerate(_bin_labels(attr))}
    elif attr.values is not None:
        order = {v: i for i, v in enumerate(attr.values)}

    def key(v: str) -> tuple[int, int, float, str]:
        if v == UNKNOWN:
            return (2, 0, 0.0, v)
        if v in order:
            return (0, order[v], 0.0, v)
        try:
            return (1, 0, float(v), v)
        except ValueError:
            return (1, 1, 0.0, v)

    return sorted(values, key=key)


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _reported_metrics(spec: AuditSpec) -> list[str]:
    names = list(spec.metrics) if spec.metrics is not None else list(METRICS)
    extra = [g.canonical for g in spec.gates if g.metric != "n"]
    extra.append(headline_metric(spec.intervention))
    for m in extra:
        if m not in names:
            names.append(m)
    return names


def _with_differential(targeting: bool, metrics: dict[str, Any]) -> dict[str, Any]:
    """Add the targeting differential, coverage of the eligible minus that of the
    non-eligible (TPR − FPR), with Newcombe's interval from the two Wilson intervals (the
    two rates are over disjoint sets of people, so they are independent)."""
    tpr, fpr = metrics.get("true_positive_rate"), metrics.get("false_positive_rate")
    if not targeting or tpr is None or fpr is None:
        return metrics
    value = ci = None
    if tpr.value is not None and fpr.value is not None:
        value = tpr.value - fpr.value
        if tpr.ci is not None and fpr.ci is not None:
            (l1, u1), (l2, u2) = tpr.ci, fpr.ci
            ci = (
                value - math.sqrt((tpr.value - l1) ** 2 + (u2 - fpr.value) ** 2),
                value + math.sqrt((u1 - tpr.value) ** 2 + (fpr.value - l2) ** 2),
            )
    metrics["targeting_differential"] = MetricValue(
        value=value, ci=ci, denominator=tpr.denominator + fpr.denominator
    )
    return metrics


def _ci(pair: tuple[np.ndarray, np.ndarray], i: int) -> tuple[float, float] | None:
    lo, hi = float(pair[0][i]), float(pair[1][i])
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def _ordered_groups(
    table: CellCounts, grouping: tuple[str, ...], attr_by_name: dict[str, ProtectedAttribute]
) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
    """The groups of one attribute set in display order (attribute order, unknown last)."""
    keys = table.cell_keys()
    rank = {
        a: {v: i for i, v in enumerate(_sort_values(sorted({k[j] for k in keys}), attr_by_name[a]))}
        for j, a in enumerate(grouping)
    }
    order = sorted(
        range(len(keys)), key=lambda i: tuple(rank[a][keys[i][j]] for j, a in enumerate(grouping))
    )
    return table.frame.iloc[order], [keys[i] for i in order]


def summarise(spec: AuditSpec, run: AuditRun) -> AuditResult:
    """Statistics, disparities, tests, gates and provenance from the counts of a run."""
    counts = run.counts
    _check_attributes(spec, counts)
    attr_by_name = {p.name: p for p in spec.protected}
    named = {p.name: p.reference for p in spec.protected if p.reference is not None}
    weighted = counts.weighted
    reported = _reported_metrics(spec)
    targeting = spec.intervention == "assistive"
    n_total = int(counts.n.sum())
    seeds = np.random.SeedSequence(spec.seed)

    def with_aliases(d: dict[str, Any]) -> dict[str, Any]:
        if targeting:
            for alias, canonical in TARGETING_NAMES.items():
                if canonical in d:
                    d[alias] = d[canonical]
        return d

    # Overall
    tot = counts.total()
    tot_frame = tot.to_frame().T
    overall_stats = grouping_statistics(
        tot_frame,
        ref=0,
        weighted=weighted,
        confidence=spec.confidence,
        replicates=spec.bootstrap,
        rng=np.random.default_rng(seeds.spawn(1)[0]),
        metrics=reported,
    )
    overall = Overall(
        n=n_total,
        counts=Counts(**{c: int(tot[c]) for c in CONFUSION}),
        weighted_counts=WeightedCounts(**{c: float(tot[f"w_{c}"]) for c in CONFUSION})
        if weighted
        else None,
        metrics=_with_differential(
            targeting,
            with_aliases(
                {
                    name: MetricValue(
                        value=_num(float(overall_stats.value[name][0])),
                        ci=_ci(overall_stats.ci[name], 0),
                        denominator=int(overall_stats.denominator[name][0]),
                        bootstrap_ci=_ci(overall_stats.boot_ci[name], 0)
                        if name in overall_stats.boot_ci
                        else None,
                    )
                    for name in reported
                }
            ),
        ),
    )

    references: list[Reference] = []
    per_grouping = []
    group_rngs = seeds.spawn(1 + len(spec.groupings()))[1:]
    for gi, grouping in enumerate(spec.groupings()):
        frame, keys = _ordered_groups(counts.marginal(grouping), grouping, attr_by_name)
        n = frame[list(CONFUSION)].to_numpy().sum(axis=1)
        sel = metric_table(frame, weighted=weighted, confidence=spec.confidence)
        ref = choose_reference(
            keys,
            n,
            sel["selection_rate"][0],
            attributes=grouping,
            named=named,
            policy=spec.reference,
            intervention=spec.intervention,
            min_group_size=spec.min_group_size,
            min_share=spec.reference_min_share,
        )
        if ref.key not in keys:
            # every attribute named, but that combination never occurs
            raise spec.error(
                f"the reference groups named for {' × '.join(grouping)} "
                f"({dict(zip(grouping, ref.key, strict=True))}) never occur together",
                loc=("intersections",),
                fix="name references that occur together, or drop this intersection",
            )
        ref_i = keys.index(ref.key)
        references.append(
            Reference(
                attributes=list(grouping),
                group=dict(zip(grouping, ref.key, strict=True)),
                policy=ref.policy,
                reason=ref.reason,
            )
        )
        stats = grouping_statistics(
            frame,
            ref=ref_i,
            weighted=weighted,
            confidence=spec.confidence,
            replicates=spec.bootstrap,
            rng=np.random.default_rng(group_rngs[gi]),
            metrics=reported,
        )
        per_grouping.append((grouping, frame, keys, stats))

    # One family of tests across groups × metrics, adjusted together.
    flat: list[float] = []
    for _, _, keys, stats in per_grouping:
        for name in reported:
            for i in range(len(keys)):
                t = stats.tests[name][i]
                flat.append(np.nan if t is None or t[0] == "none" else t[1])
    adjusted = iter(adjust_p_values(np.array(flat), spec.multiple_testing).tolist())
    p_adj: dict[tuple[int, str, int], float | None] = {}
    for g_index, (_, _, keys, _stats) in enumerate(per_grouping):
        for name in reported:
            for i in range(len(keys)):
                v = next(adjusted)
                p_adj[(g_index, name, i)] = v if math.isfinite(v) else None

    groups: list[GroupResult] = []
    between: list[BetweenGroups] = []
    for g_index, (grouping, frame, keys, stats) in enumerate(per_grouping):
        ref_attrs = dict(zip(grouping, keys[stats.ref], strict=True))
        for i, key in enumerate(keys):
            metrics: dict[str, Any] = {}
            disparities: dict[str, Any] = {}
            for name in reported:
                metrics[name] = MetricValue(
                    value=_num(float(stats.value[name][i])),
                    ci=_ci(stats.ci[name], i),
                    denominator=int(stats.denominator[name][i]),
                    bootstrap_ci=_ci(stats.boot_ci[name], i) if stats.boot_ci else None,
                )
                t = stats.tests[name][i]
                disparities[name] = Disparity(
                    reference=ref_attrs,
                    difference=_num(float(stats.difference[name][i])),
                    ratio=_num(float(stats.ratio[name][i])),
                    difference_ci=_ci(stats.difference_ci[name], i),
                    ratio_ci=_ci(stats.ratio_ci[name], i),
                    difference_bootstrap_ci=_ci(stats.boot_difference_ci[name], i)
                    if stats.boot_difference_ci
                    else None,
                    ratio_bootstrap_ci=_ci(stats.boot_ratio_ci[name], i)
                    if stats.boot_ratio_ci
                    else None,
                    test=None if t is None else t[0],
                    p_value=None if t is None or t[0] == "none" else t[1],
                    p_adjusted=p_adj[(g_index, name, i)],
                )
            row = frame.iloc[i]
            groups.append(
                GroupResult(
                    attributes=dict(zip(grouping, key, strict=True)),
                    n=int(stats.n[i]),
                    share=float(stats.n[i] / n_total),
                    is_reference=i == stats.ref,
                    counts=Counts(**{c: int(row[c]) for c in CONFUSION}),
                    weighted_counts=WeightedCounts(**{c: float(row[f"w_{c}"]) for c in CONFUSION})
                    if weighted
                    else None,
                    metrics=_with_differential(targeting, with_aliases(metrics)),
                    disparities=with_aliases(disparities),
                )
            )
        between.append(
            BetweenGroups(
                attributes=list(grouping),
                metrics={
                    name: BetweenValue(
                        difference=stats.between[name][0],
                        ratio=stats.between[name][1],
                        difference_bootstrap_ci=_ci(stats.boot_between_ci[name][0], 0)
                        if stats.boot_between_ci
                        else None,
                        ratio_bootstrap_ci=_ci(stats.boot_between_ci[name][1], 0)
                        if stats.boot_between_ci
                        else None,
                    )
                    for name in reported
                },
            )
        )

    checks = evaluate_gates(
        spec.gates,
        groups,
        references,
        between,
        min_group_size=spec.min_group_size,
        min_positives=spec.min_positives,
        min_negatives=spec.min_negatives,
        confidence=spec.confidence,
    )
    statistics = Statistics(
        confidence=spec.confidence,
        intervals={
            "rate": "wilson" + (" (Kish effective sample size)" if weighted else ""),
            "difference": "newcombe hybrid score",
            "ratio": "katz log; MOVER-R from Wilson limits (Donner & Zou 2012) when a rate is "
            "0 or 1",
            "bootstrap": "exact multinomial on group × confusion counts, percentile"
            + (", mean weight per cell held fixed" if weighted else ""),
        },
        bootstrap_replicates=spec.bootstrap,
        bootstrap_seed=spec.seed,
        tests="fisher_exact when an expected cell < 5, else chi_square (no continuity "
        "correction); unweighted counts",
        multiple_testing=spec.multiple_testing,
        n_tests=int(np.isfinite(np.array(flat)).sum()) if flat else 0,
    )
    result = AuditResult(
        name=spec.name,
        status=overall_status(checks),
        min_cell=spec.card.min_cell,  # a card re-rendered from these results never goes lower
        intervention=spec.intervention,
        headline_metric=headline_metric(spec.intervention),
        definitions=DEFINITIONS,
        n_rows=run.n_rows,
        n_audited=n_total,
        dropped=run.dropped,
        unknown=run.unknown,
        weighted=weighted,
        confidence=spec.confidence,
        min_group_size=spec.min_group_size,
        references=references,
        overall=overall,
        groups=groups,
        between_groups=between,
        statistics=statistics,
        scores=_score_results(spec, run, per_grouping),
        regression=_regression_results(spec, run, per_grouping),
        reasons=_reason_results(spec, run, per_grouping),
        counterfactuals=_counterfactual_results(run, per_grouping),
        categories=_category_results(spec, run, per_grouping),
        poorest=_poorest_results(spec, run, per_grouping),
        checks=checks,
        summary=[],
        provenance=_provenance(spec, run),
    )
    result.summary = _summary_lines(spec, result)
    return result


def _nan_none(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _score_results(spec: AuditSpec, run: AuditRun, per_grouping: list[Any]) -> ScoreResults | None:
    if run.score_counts is None or run.score_sums is None:
        return None
    sc = spec.scores
    bins = ScoreBins(sc.range[0], sc.range[1], sc.bins)
    overall_hist = run.score_counts.get((), ())
    med = median_bin(overall_hist.sum(axis=0))
    thresholds: list[float] = []

    def group(grouping: tuple[str, ...], key: tuple[str, ...]) -> ScoreGroup:
        nonlocal thresholds
        hist = run.score_counts.get(grouping, key)  # type: ignore[union-attr]
        sums = run.score_sums.get(grouping, key)  # type: ignore[union-attr]
        neg, pos = hist[0], hist[1]
        auc, auc_ci = auc_from_histogram(pos, neg, spec.confidence)
        rate, _above, n = scoring_rate(hist.sum(axis=0), med)
        lo, hi = wilson_interval(
            np.array([rate if rate is not None else np.nan]), np.array([n]), spec.confidence
        )
        th, rates = sweep(pos, neg, bins, sc.sweep_points)
        thresholds = [float(t) for t in th]
        return ScoreGroup(
            attributes=dict(zip(grouping, key, strict=True)),
            n=int(n),
            n_positive=int(pos.sum()),
            n_negative=int(neg.sum()),
            auc=auc,
            auc_ci=auc_ci,
            scoring_rate=rate,
            scoring_rate_ci=(float(lo[0]), float(hi[0])) if rate is not None else None,
            calibration=calibration(
                pos,
                neg,
                sums[1],
                sums[0],
                bins,
                sc.calibration_bins,
            ),
            sweep={m: _nan_none(v) for m, v in rates.items()},
        )

    overall = group((), ())
    groupings = []
    for grouping, _frame, keys, _stats in per_grouping:
        members = [group(grouping, k) for k in keys]
        top = max((g.scoring_rate for g in members if g.scoring_rate is not None), default=None)
        for g in members:
            if g.scoring_rate is not None and top:
                g.scoring_impact_ratio = g.scoring_rate / top
        groupings.append(ScoreGrouping(attributes=list(grouping), groups=members))
    return ScoreResults(
        range=sc.range,
        bins=sc.bins,
        outside_range=run.scores_outside,
        median_score=float(bins.edges()[min(max(med - 1, 0), bins.bins)]),
        sweep_thresholds=thresholds,
        overall=overall,
        groupings=groupings,
    )


def _regression_results(
    spec: AuditSpec, run: AuditRun, per_grouping: list[Any]
) -> RegressionResults | None:
    if run.regression is None or spec.regression is None:
        return None
    reg = run.regression

    def group(grouping: tuple[str, ...], key: tuple[str, ...]) -> RegressionGroup:
        values = regression_metrics(reg.get(grouping, key), spec.confidence)
        return RegressionGroup(attributes=dict(zip(grouping, key, strict=True)), **values)

    return RegressionResults(
        predicted=spec.regression.predicted,
        actual=spec.regression.actual,
        overall=group((), ()),
        groups=[group(grouping, k) for grouping, _f, keys, _s in per_grouping for k in keys],
    )


def _all_groups(per_grouping: list[Any]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Everyone, then every group of every attribute set, in display order."""
    out: list[tuple[tuple[str, ...], tuple[str, ...]]] = [((), ())]
    for grouping, _frame, keys, _stats in per_grouping:
        out.extend((grouping, k) for k in keys)
    return out


def _reason_results(
    spec: AuditSpec, run: AuditRun, per_grouping: list[Any]
) -> ReasonResults | None:
    ex = run.extras
    if ex is None or ex.reasons is None:
        return None
    groups = []
    for grouping, key in _all_groups(per_grouping):
        table = ex.reasons.data[(*grouping, _REASON)]
        rows = [(k[-1], v) for k, v in table.items() if k[:-1] == key]
        wrongly = int(sum(v[0] for _, v in rows))
        reasons = sorted(
            (
                ReasonCount(
                    reason=r,
                    wrongly=int(v[0]),
                    adverse=int(v[0] + v[1]),
                    share=float(v[0] / wrongly) if wrongly else None,
                )
                for r, v in rows
            ),
            key=lambda rc: (-rc.wrongly, -rc.adverse, rc.reason),
        )
        groups.append(
            ReasonGroup(
                attributes=dict(zip(grouping, key, strict=True)), wrongly=wrongly, reasons=reasons
            )
        )
    assistive = spec.intervention == "assistive"
    return ReasonResults(
        column="stage",
        adverse="not selected" if assistive else "selected",
        wrongly="truly eligible" if assistive else "truly negative",
        groups=groups,
    )


def _counterfactual_results(run: AuditRun, per_grouping: list[Any]) -> CounterfactualResults | None:
    ex = run.extras
    if ex is None or ex.flips is None:
        return None
    groups = []
    for grouping, key in _all_groups(per_grouping):
        flips = ex.flips.get(grouping, key)
        g = _find_group(run, per_grouping, grouping, key)
        groups.append(
            CounterfactualGroup(
                attributes=dict(zip(grouping, key, strict=True)),
                excluded=g,
                defects=[
                    DefectEffect(
                        defect=name,
                        exclusions_fixed=int(flips[k][0]),
                        exclusions_created=int(flips[k][1]),
                        inclusions_fixed=int(flips[k][2]),
                        inclusions_created=int(flips[k][3]),
                    )
                    for k, name in enumerate(ex.defects)
                ],
            )
        )
    return CounterfactualResults(defects=list(ex.defects), groups=groups)


def _find_group(
    run: AuditRun, per_grouping: list[Any], grouping: tuple[str, ...], key: tuple[str, ...]
) -> int:
    """Eligible people not selected (fn) in one group."""
    if not grouping:
        return int(run.counts.total()["fn"])
    for g, frame, keys, _s in per_grouping:
        if g == grouping:
            return int(frame.iloc[keys.index(key)]["fn"])
    return 0


def _category_results(
    spec: AuditSpec, run: AuditRun, per_grouping: list[Any]
) -> CategoryResults | None:
    ex = run.extras
    if ex is None or ex.categories is None or spec.category is None:
        return None
    groups = []
    for grouping, key in _all_groups(per_grouping):
        m = ex.categories.get(grouping, key).astype("int64")
        n = int(m.sum())
        groups.append(
            CategoryGroup(
                attributes=dict(zip(grouping, key, strict=True)),
                n=n,
                matrix=m.tolist(),
                agreement=float(np.trace(m) / n) if n else None,
                # rows = true, columns = model; index grows towards worse-off
                need_hidden=int(np.tril(m, -1).sum()),
                need_overstated=int(np.triu(m, 1).sum()),
            )
        )
    return CategoryResults(
        true_column=spec.category.truth, order=list(spec.category.order), groups=groups
    )


def _poorest_results(
    spec: AuditSpec, run: AuditRun, per_grouping: list[Any]
) -> PoorestResults | None:
    ex = run.extras
    if ex is None or ex.poorest is None or spec.targeting is None:
        return None
    groups = []
    for grouping, key in _all_groups(per_grouping):
        tn, fp, fn, tp = (int(x) for x in ex.poorest.get(grouping, key))
        eligible = tp + fn
        rate = fn / eligible if eligible else None
        lo, hi = wilson_interval(
            np.array([rate if rate is not None else np.nan]), np.array([eligible]), spec.confidence
        )
        groups.append(
            PoorestGroup(
                attributes=dict(zip(grouping, key, strict=True)),
                n=tn + fp + fn + tp,
                eligible=eligible,
                excluded=fn,
                exclusion_error=rate,
                exclusion_error_ci=(float(lo[0]), float(hi[0])) if rate is not None else None,
            )
        )
    return PoorestResults(
        welfare=spec.targeting.welfare,
        share=spec.targeting.poorest_share,
        cutoff=float(ex.poorest_cutoff or 0.0),
        groups=groups,
    )


class _LocalRows:
    """The local engine's side of explanations: reads the file batch by batch."""

    def __init__(
        self, spec: AuditSpec, reader: DataReader, data_path: Path, batch_rows: int
    ) -> None:
        self.spec = spec
        self.reader = reader
        self.path = data_path
        self.batch_rows = batch_rows
        self.text_cols = [p.source_column for p in spec.protected if p.bins is None]

    def _batches(self, rows: ExplainRows, columns: list[str]) -> Iterator[pd.DataFrame]:
        offset = 0
        for batch in self.reader.iter_batches(
            self.path, columns, batch_rows=self.batch_rows, as_text=self.text_cols
        ):
            batch = batch.reset_index(drop=True)
            if rows.id_column == POSITION:
                batch[POSITION] = np.arange(offset, offset + len(batch), dtype="int64")
            offset += len(batch)
            yield batch

    def cell_counts(self, rows: ExplainRows) -> pd.DataFrame:
        cols = rows.protected_columns()
        row_id = self.spec.data.row_id
        parts, ids = [], []
        for batch in self._batches(
            rows, list(dict.fromkeys([*cols, *([row_id] if row_id else [])]))
        ):
            parts.append(rows.cell_counts(batch))
            if row_id:
                ids.append(batch[row_id].to_numpy())
        if ids:
            dup = duplicate_ids(np.concatenate(ids))
            if dup is not None:
                raise duplicate_id_error(self.spec, self.path, dup)
        return pd.concat(parts, ignore_index=True)

    def sample(self, rows: ExplainRows, plan: Any, columns: list[str]) -> pd.DataFrame:
        kept: pd.DataFrame | None = None
        for batch in self._batches(rows, columns):
            mask, _, _ = rows.candidates(batch, plan)
            part = batch[mask]
            kept = part if kept is None else pd.concat([kept, part], ignore_index=True)
            # the smallest keys of the smallest keys are the smallest keys overall
            kept = kept[rows.candidates(kept.reset_index(drop=True), plan)[0]]
            kept = kept.reset_index(drop=True)
        assert kept is not None
        return rows.sample_order(kept)

    def reasons(
        self,
        rows: ExplainRows,
        model: Model,
        explainer: Any,
        columns: list[str],
        folder: Path,
        background: Any = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
        from fairaudit.explain import ReasonsWriter

        writer = ReasonsWriter(folder / "part-00000.parquet")
        counts, tallies = [], []
        try:
            for batch in self._batches(rows, columns):
                codes, c, r = rows.reasons(batch, model, explainer)
                writer.write(codes)
                counts.append(c)
                tallies.append(r)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        return (
            pd.concat(counts, ignore_index=True),
            pd.concat(tallies, ignore_index=True),
            writer.rows,
        )


def explain_audit(
    spec: AuditSpec,
    run: AuditRun,
    result: AuditResult,
    reader: DataReader | None,
    data_path: Path,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    restricted_dir: Path | None = None,
    engine: Any = None,
) -> dict[str, Any]:
    """SHAP on a stratified sample, gap decompositions, proxies and reason codes.

    ``engine`` reads the rows (default: the local engine, batch by batch through
    ``reader``; the Spark engine passes its own, which runs the same steps on executors).
    Three passes over the data: the protected columns, counted per finest cell to plan the
    sample; every column explanations read, keeping each cell's candidates (smallest keys);
    and, for reason codes, the model's decision and reasons of every adverse row, written
    to ``restricted_dir/reasons/`` (a Parquet folder, one file per batch stream or Spark
    partition, published whole or not at all) and tallied per group.
    """
    from fairaudit.explain import (
        Sample,
        explain,
        explanation_summary,
        frequencies_from_counts,
        gap_decomposition,
        global_importance,
        make_explainer,
        proxy_scores,
        sample_plan,
    )
    from fairaudit.models.rules import is_rules_model
    from fairaudit.results import publish_dir, staging_dir

    assert spec.explain is not None
    ex = spec.explain
    model = run.model
    features = list(model.columns)
    names = [p.name for p in spec.protected]
    rows = ExplainRows(spec, data_path)
    source = engine if engine is not None else _LocalRows(spec, reader, data_path, batch_rows)  # type: ignore[arg-type]
    read = columns = rows.columns(model)

    # 1. the plan, from the rows per finest cell of the protected attributes
    plan = sample_plan(
        source.cell_counts(rows), ex.sample, spec.seed, cells=spec.groupings(), attributes=names
    )
    # 2. the sample's rows (each cell's smallest keys), in the order of their ids
    drawn = source.sample(rows, plan, read)
    labels = rows.labels(drawn)
    weights = plan.weights[plan.cell_of(labels)]
    ids = rows.ids(drawn)
    sample = Sample(
        ids.astype("int64") if rows.id_column == POSITION else np.full(len(ids), -1),
        weights,
        plan.strata,
        plan.population,
        ids,
    )
    frame = drawn.drop(columns=[POSITION], errors="ignore").loc[:, columns]
    sample_groups = pd.DataFrame({a: np.asarray(labels[a], dtype=object) for a in names})
    # 3. SHAP on the sample; the same explainer (and background) gives the reason codes
    explainer = make_explainer(
        model, frame, features, budget=ex.budget, seed=spec.seed, background_weights=weights
    )
    expl = explain(model, frame, features, seed=spec.seed, weights=weights, explainer=explainer)
    # gap decompositions for every group whose gate failed, against its reference
    refs = {tuple(r.attributes): r.group for r in result.references}
    gaps = {}
    for c in result.checks:
        if c.verdict != "fail" or c.measure in ("value",) or "*" in c.attributes.values():
            continue
        label = " × ".join(f"{k}={v}" for k, v in c.attributes.items())
        ref = refs.get(tuple(c.attributes))
        if label in gaps or ref is None:
            continue
        gmask = np.logical_and.reduce(
            [sample_groups[k].to_numpy() == v for k, v in c.attributes.items()]
        )
        rmask = np.logical_and.reduce([sample_groups[k].to_numpy() == v for k, v in ref.items()])
        if gmask.any() and rmask.any():
            gaps[label] = gap_decomposition(
                expl, gmask, rmask, attributes=c.attributes, reference=ref
            )
    proxies = None
    if ex.proxies:
        proxies = proxy_scores(
            frame,
            expl.features,
            {a: sample_groups[a] for a in names},
            global_importance(expl),
            seed=spec.seed,
        )
    summary = explanation_summary(
        expl,
        groups=sample_groups,
        gaps=gaps,
        proxies=proxies,
        sample=sample,
        cells=spec.groupings(),
    )
    if not (ex.reasons and restricted_dir is not None):
        return summary
    # 4. reason codes of every adverse decision: restricted, row level, never in results
    if not is_rules_model(model) and explainer.name == "permutation":
        raise InputError(
            "reason codes for this model need the model-agnostic explainer, which is too "
            "costly to run on every adverse decision",
            fix="set explain.reasons: false (the sample is still explained), or use a tree "
            "or linear model",
        )
    final = restricted_dir / "reasons"
    staged = staging_dir(final)
    try:
        counts, tallies, written = source.reasons(
            rows,
            model,
            None if is_rules_model(model) else explainer,
            read,
            staged,
            background=(frame, weights),
        )
        if written:
            publish_dir(staged, final)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    if written:
        freq = frequencies_from_counts(counts, tallies, min_count=10)
        summary["reason_frequencies"] = json.loads(freq.to_json(orient="records"))
        summary["reasons_artifact"] = "restricted/reasons"
    return summary


def _provenance(spec: AuditSpec, run: AuditRun) -> Provenance:
    data_path = spec.base_dir / spec.data.path
    model_prov = run.model.provenance()
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "pydantic"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            continue
    return Provenance(
        fairaudit_version=__version__,
        spec_sha256=spec_sha256(spec),
        data_sha256=run.data_sha256 or file_sha256(data_path),
        model_sha256=model_prov.get("sha256"),
        seed=spec.seed,
        data_path=spec.data.path,
        model={
            "loader": run.loader,
            "options": _jsonable(run.model_options),
            **({"sha256": model_prov["sha256"]} if model_prov.get("sha256") else {}),
        },
        versions=versions,
    )


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)


def _pct(x: float | None) -> str:
    return "undefined" if x is None else f"{100 * x:.1f}%"


_HUMAN = {
    "false_negative_rate": "exclusion error (eligible people not selected)",
    "false_positive_rate": "false positive rate (people wrongly flagged)",
}
_SHORT = {"false_negative_rate": "exclusion error", "false_positive_rate": "false positive rate"}


def _summary_lines(spec: AuditSpec, result: AuditResult) -> list[str]:
    """Plain-language findings (no row-level data)."""
    head = result.headline_metric
    # the headline rate is over the truly positive (FNR) or truly negative (FPR)
    min_den = spec.min_positives if head == "false_negative_rate" else spec.min_negatives
    lines = [
        f"Audited {result.n_audited:,} of {result.n_rows:,} rows"
        + (
            f" ({result.n_rows - result.n_audited:,} dropped: "
            + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in result.dropped.items() if v)
            + ")"
            if result.n_rows != result.n_audited
            else ""
        )
        + ".",
        f"Headline harm metric: {_HUMAN.get(head, head)}; overall "
        f"{_pct(result.overall.metrics[head].value)}.",
    ]
    for p in spec.protected:
        members = [
            g
            for g in result.groups
            if list(g.attributes) == [p.name]
            and g.n >= spec.min_group_size
            and g.metrics[head].value is not None
            and g.metrics[head].denominator >= min_den
        ]
        if len(members) < 2:
            continue
        worst = max(members, key=lambda g: g.metrics[head].value or 0.0)
        best = min(members, key=lambda g: g.metrics[head].value or 0.0)
        ci = worst.metrics[head].ci
        ci_txt = f", 95% CI {_pct(ci[0])}–{_pct(ci[1])}" if ci else ""
        lines.append(
            f"{p.name}: {_SHORT.get(head, head)} is highest for {worst.attributes[p.name]} "
            f"({_pct(worst.metrics[head].value)}{ci_txt}, n={worst.n:,}) and lowest for "
            f"{best.attributes[p.name]} ({_pct(best.metrics[head].value)}, n={best.n:,})."
        )
    if result.regression is not None:
        reg = result.regression
        for p in spec.protected:
            reg_members = [
                r
                for r in reg.groups
                if list(r.attributes) == [p.name]
                and r.mean_error is not None
                and r.n >= spec.min_group_size
            ]
            if len(reg_members) >= 2:
                parts = ", ".join(
                    f"{r.attributes[p.name]} {r.mean_error:+,.4g}" for r in reg_members
                )
                lines.append(f"{reg.predicted} − {reg.actual}, mean error by {p.name}: {parts}.")
    lines.extend(_extra_lines(spec, result))
    if result.scores is not None:
        singles = [
            (g.auc, f"{grouping.attributes[0]}={g.attributes[grouping.attributes[0]]}")
            for grouping in result.scores.groupings
            if len(grouping.attributes) == 1
            for g in grouping.groups
            if g.auc is not None
            and g.n >= spec.min_group_size
            and g.n_positive >= spec.min_positives
            and g.n_negative >= spec.min_negatives
        ]
        if len(singles) >= 2:
            lo_auc, hi_auc = min(singles), max(singles)
            lines.append(
                f"Score ROC AUC ranges from {lo_auc[0]:.3f} ({lo_auc[1]}) to {hi_auc[0]:.3f} "
                f"({hi_auc[1]}) across groups."
            )
    n_fail = sum(c.verdict == "fail" for c in result.checks)
    n_ins = sum(c.verdict == "insufficient_evidence" for c in result.checks)
    if result.checks:
        lines.append(
            f"{len(result.checks)} checks: {len(result.checks) - n_fail - n_ins} pass, "
            f"{n_fail} fail, {n_ins} insufficient evidence."
        )
    else:
        lines.append("No gates were defined: nothing was checked.")
    for u, k in result.unknown.items():
        if k:
            lines.append(f"{k:,} rows have no recorded {u}; they form the group '{UNKNOWN}'.")
    return lines


def _extra_lines(spec: AuditSpec, result: AuditResult) -> list[str]:
    """Plain-language lines for reasons, data defects, categories and the poorest."""
    lines: list[str] = []
    if result.reasons is not None:
        top = result.reasons.groups[0]
        if top.wrongly:
            parts = ", ".join(
                f"{r.reason.replace('_', ' ')} {100 * (r.share or 0):.0f}%"
                for r in top.reasons[:4]
                if r.wrongly
            )
            lines.append(f"What decided the {top.wrongly:,} wrong adverse decisions: {parts}.")
        for p in spec.protected:
            worst = [
                g
                for g in result.reasons.groups
                if list(g.attributes) == [p.name] and g.wrongly >= spec.min_group_size
            ]
            for g in worst:
                first = g.reasons[0] if g.reasons else None
                if first is None or first.share is None:
                    continue
                overall = next((r.share for r in top.reasons if r.reason == first.reason), 0.0)
                if first.share >= (overall or 0.0) + 0.15:
                    lines.append(
                        f"{p.name}={g.attributes[p.name]}: {100 * first.share:.0f}% of its "
                        f"{g.wrongly:,} wrong adverse decisions are decided by "
                        f"{first.reason.replace('_', ' ')} ({100 * (overall or 0):.0f}% overall)."
                    )
    if result.counterfactuals is not None:
        top_cf = result.counterfactuals.groups[0]
        fixed = sorted(top_cf.defects, key=lambda d: -d.exclusions_fixed)
        parts = ", ".join(
            f"{d.defect.replace('_', ' ')} {d.exclusions_fixed:,}"
            for d in fixed
            if d.exclusions_fixed
        )
        if parts:
            lines.append(
                f"Wrongly excluded rows that correcting one registry defect at a time "
                f"would select: {parts} (of {top_cf.excluded:,})."
            )
    if result.categories is not None:
        c = result.categories.groups[0]
        if c.n:
            lines.append(
                f"{c.need_hidden:,} rows ({100 * c.need_hidden / c.n:.1f}%) are placed in a "
                f"better-off category than their true one (need hidden); "
                f"{c.need_overstated:,} in a worse-off one."
            )
    if result.poorest is not None:
        p0 = result.poorest.groups[0]
        if p0.exclusion_error is not None:
            lines.append(
                f"Exclusion error among the poorest {100 * result.poorest.share:g}% by "
                f"{result.poorest.welfare}: {100 * p0.exclusion_error:.1f}% "
                f"({p0.excluded:,} of {p0.eligible:,} eligible)."
            )
    return lines


def safe_slug(text: str) -> str:
    """A file-system-safe version of an audit name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "audit"


def internal_error(exc: BaseException) -> FairauditError:
    """Wrap an unexpected exception as an :class:`InternalError` (exit code 3)."""
    return InternalError(
        f"internal error: {type(exc).__name__}: {exc}",
        fix="please report this with the command you ran (rerun with --debug for a traceback)",
    )
