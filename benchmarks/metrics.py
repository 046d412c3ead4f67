"""Benchmark: every metric, interval and bootstrap of every group at national-registry scale.

For each row count (default 1M and 10M rows in memory; protected attributes of 2, 8 and 20
levels, so 7 attribute sets — each attribute and every intersection — and 566 groups)::

    python benchmarks/metrics.py                       # --rows 1e6 1e7
    python benchmarks/metrics.py --rows 1e7 --bootstrap 2000 --fairlearn-rows 25e3 1e5

it times, side by side in the same run:

- **fairaudit count**: ``count_cells`` over the rows (categorical codes) into per-cell
  confusion counts — the only step that touches rows;
- **fairaudit statistics**: for each attribute set, ``CellCounts.marginal`` and
  ``grouping_statistics`` — all 11 metrics, Wilson/Newcombe/Katz intervals, differences
  and ratios to a reference, between-groups, a test per group and metric, and the
  multinomial bootstrap (2000 replicates);
- **the single-pass limit**: one ``numpy.bincount`` over a precomputed cell key of the same
  rows (and, for reference, building that key from the same codes plus the bincount);
- **fairlearn**: ``MetricFrame`` with the same 11 metrics (fairlearn's functions where it
  has them, else scikit-learn confusion-matrix based, as the tests do) for every attribute
  set, timed at two small row counts and extrapolated linearly to each row count, and its
  ``n_boot`` bootstrap, timed with a few resamples and extrapolated to ``--bootstrap``
  (2000 resamples would take days). fairlearn's numbers are checked to equal fairaudit's.

Targets (issue): 10M rows in under 1 s once the columns are in memory; within 3× of the
single-pass limit; at least 1000× faster than fairlearn with its bootstrap. Only the
printed table says whether they are met: no test times anything.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from _common import (  # the script's folder is on sys.path
    Population,
    best_of,
    human,
    machine,
    population,
    progress_bar,
    rows_arg,
    seconds,
)

from fairaudit.metrics.counts import CONFUSION, CellCounts, count_cells
from fairaudit.metrics.rates import METRICS
from fairaudit.metrics.statistics import grouping_statistics

# --------------------------------------------------------------------------- fairlearn


def _reference_metrics() -> dict[str, Callable[..., float]]:
    """The 11 metrics as fairlearn users write them (fairlearn's own where they exist)."""
    from fairlearn.metrics import (
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_score

    def cm(y_true: Any, y_pred: Any) -> Any:
        return confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()

    def npv(y_true: Any, y_pred: Any) -> float:
        tn, _, fn, _ = cm(y_true, y_pred)
        return float(tn / (tn + fn))

    def fdr(y_true: Any, y_pred: Any) -> float:
        _, fp, _, tp = cm(y_true, y_pred)
        return float(fp / (tp + fp))

    def fomr(y_true: Any, y_pred: Any) -> float:
        tn, _, fn, _ = cm(y_true, y_pred)
        return float(fn / (fn + tn))

    def prevalence(y_true: Any, y_pred: Any) -> float:
        return float(np.mean(np.asarray(y_true)))

    def precision(y_true: Any, y_pred: Any) -> float:
        return float(precision_score(y_true, y_pred, zero_division=np.nan))

    ref: dict[str, Callable[..., float]] = {
        "selection_rate": selection_rate,
        "prevalence": prevalence,
        "true_positive_rate": true_positive_rate,
        "false_negative_rate": false_negative_rate,
        "false_positive_rate": false_positive_rate,
        "true_negative_rate": true_negative_rate,
        "precision": precision,
        "negative_predictive_value": npv,
        "false_discovery_rate": fdr,
        "false_omission_rate": fomr,
        "accuracy": accuracy_score,
    }
    assert set(ref) == set(METRICS)
    return ref


def fairlearn_run(pop: Population, n: int, attrs: Sequence[str], n_boot: int = 0) -> Any:
    """One MetricFrame over the first ``n`` rows for one attribute set (plus its between)."""
    from fairlearn.metrics import MetricFrame

    frame = pd.DataFrame({a: pop.protected[a][:n] for a in attrs})
    boot: dict[str, Any] = (
        {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 0} if n_boot else {}
    )
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined rates in tiny resampled groups
        mf = MetricFrame(
            metrics=_reference_metrics(),
            y_true=pop.label[:n],
            y_pred=pop.decision[:n],
            sensitive_features=frame,
            **boot,
        )
        mf.difference(method="between_groups")
        mf.ratio(method="between_groups")
    return mf


# --------------------------------------------------------------------------- fairaudit


def groupings(attrs: Sequence[str]) -> list[tuple[str, ...]]:
    """Each attribute, then every intersection (as a spec with ``intersections: true``)."""
    return [c for r in range(1, len(attrs) + 1) for c in itertools.combinations(attrs, r)]


def statistics(counts: CellCounts, bootstrap: int, seed: int = 0) -> int:
    """Marginals and every statistic for every attribute set; returns the number of groups."""
    seeds = np.random.SeedSequence(seed).spawn(len(groupings(counts.attributes)))
    n_groups = 0
    for ss, g in zip(seeds, groupings(counts.attributes), strict=True):
        table = counts.marginal(g)
        n = table.n
        grouping_statistics(
            table.frame,
            ref=int(np.argmax(n)),  # the largest group, as `reference: largest` picks
            weighted=False,
            confidence=0.95,
            replicates=bootstrap,
            rng=np.random.default_rng(ss),
        )
        n_groups += len(n)
    return n_groups


def cell_key(pop: Population) -> np.ndarray:
    """``4 * cell + 2 * label + decision`` per row, built the plain way (int64, whole array)."""
    key = np.zeros(pop.n, dtype=np.intp)
    for cat in pop.protected.values():
        key *= len(cat.categories)
        key += cat.codes
    key *= 4
    key += 2 * pop.label.astype(np.intp)
    key += pop.decision
    return key


def n_cells(pop: Population) -> int:
    return int(np.prod([len(c.categories) for c in pop.protected.values()]))


# --------------------------------------------------------------------------- the run


@dataclass
class Row:
    """One population size's measurements (seconds)."""

    n: int
    count: float = 0.0
    stats: float = 0.0
    count_strings: float | None = None
    bincount: float = 0.0
    key_bincount: float = 0.0
    fairlearn: float = 0.0
    fairlearn_boot: float = 0.0
    groups: int = 0

    @property
    def total(self) -> float:
        return self.count + self.stats


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x`` (two points: the line through them), ``a >= 0``."""
    b, a = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    if a < 0:  # a negative intercept would under-estimate; fall back to proportional
        return 0.0, float(np.dot(xs, ys) / np.dot(xs, xs))
    return float(a), float(b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=rows_arg, nargs="+", default=[10**6, 10**7])
    parser.add_argument("--levels", type=int, nargs="+", default=[2, 8, 20])
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument(
        "--fairlearn-rows",
        type=rows_arg,
        nargs=2,
        default=[25_000, 100_000],
        help="two row counts fairlearn is timed at (then extrapolated)",
    )
    parser.add_argument(
        "--fairlearn-boot",
        type=int,
        default=2,
        help="resamples fairlearn's bootstrap is timed with (then extrapolated)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--no-strings", action="store_true", help="skip the string-array row")
    parser.add_argument("--no-fairlearn", action="store_true", help="skip fairlearn")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    console = Console()
    biggest = max([*args.rows, *([] if args.no_fairlearn else args.fairlearn_rows)])
    t0 = time.perf_counter()
    pop = population(biggest, args.levels)
    console.print(f"generated {human(biggest)} rows in {seconds(time.perf_counter() - t0)}")
    attrs = list(pop.protected)
    sets = groupings(attrs)
    rows: list[Row] = []

    def head(n: int) -> Population:
        return Population(
            {a: c[:n] for a, c in pop.protected.items()}, pop.label[:n], pop.decision[:n]
        )

    with progress_bar() as bar:
        task = bar.add_task("fairaudit and the single-pass limit", total=len(args.rows))
        for n in args.rows:
            sub = head(n)
            row = Row(n)
            row.count, counts = best_of(
                lambda sub=sub: count_cells(sub.protected, sub.label, sub.decision), args.repeat
            )
            row.stats, row.groups = best_of(
                lambda counts=counts: statistics(counts, args.bootstrap), max(args.repeat - 1, 1)
            )
            key = cell_key(sub)
            size = 4 * n_cells(sub)
            row.bincount, limit = best_of(
                lambda key=key, size=size: np.bincount(key, minlength=size), args.repeat
            )
            del key
            row.key_bincount, _ = best_of(
                lambda sub=sub, size=size: np.bincount(cell_key(sub), minlength=size),
                args.repeat,
            )
            _check_same_cells(counts, limit, sub)
            if not args.no_strings:
                strings = {a: np.asarray(c, dtype=object) for a, c in sub.protected.items()}
                row.count_strings, _ = best_of(
                    lambda s=strings, sub=sub: count_cells(s, sub.label, sub.decision), 1
                )
                del strings
            rows.append(row)
            bar.advance(task)

        # fairlearn at two small sizes, each attribute set; then a few bootstrap resamples
        n1, n2 = sorted(args.fairlearn_rows)
        fl: dict[tuple[str, ...], dict[str, float]] = {}
        task = bar.add_task(
            "fairlearn MetricFrame", total=0 if args.no_fairlearn else 3 * len(sets)
        )
        for g in [] if args.no_fairlearn else sets:
            t1, _ = best_of(lambda g=g: fairlearn_run(pop, n1, g), 1)
            bar.advance(task)
            t2, mf = best_of(lambda g=g: fairlearn_run(pop, n2, g), 1)
            bar.advance(task)
            tb, _ = best_of(lambda g=g: fairlearn_run(pop, n1, g, args.fairlearn_boot), 1)
            bar.advance(task)
            a, b = fit_line([n1, n2], [t1, t2])
            per_resample = max(tb - t1, 0.0) / args.fairlearn_boot
            fl[g] = {"a": a, "b": b, "t1": t1, "t2": t2, "resample": per_resample}
            _check_equal(mf, head(n2), g)

    for row in rows:
        for g in fl:
            f = fl[g]
            plain = f["a"] + f["b"] * row.n
            # a resample re-runs the MetricFrame on n resampled rows: it scales like one
            resample = f["resample"] * plain / f["t1"]
            row.fairlearn += plain
            row.fairlearn_boot += plain + args.bootstrap * resample

    _print_table(console, Table, rows, args, len(sets), fl, n1, n2)
    return 0


def _check_same_cells(counts: CellCounts, limit: np.ndarray, pop: Population) -> None:
    """The engine's table is the single bincount's, cell for cell."""
    by_cell = limit.reshape(-1, 4)
    ids = np.zeros(len(counts.frame), dtype=np.int64)
    for a, cat in pop.protected.items():
        level = cat.categories.get_indexer(counts.frame.index.get_level_values(a))
        ids = ids * len(cat.categories) + level
    ok = np.array_equal(by_cell[ids], counts.frame[list(CONFUSION)].to_numpy())
    if not ok or int(by_cell.sum()) != int(counts.n.sum()):
        raise SystemExit("count_cells and the single bincount disagree")


def _check_equal(mf: Any, pop: Population, attrs: tuple[str, ...]) -> None:
    """fairlearn's by-group values equal fairaudit's (else the comparison means nothing)."""
    from fairaudit.metrics.rates import metric_table

    counts = count_cells({a: pop.protected[a] for a in attrs}, pop.label, pop.decision)
    ours = metric_table(counts.frame, weighted=False)
    by_group = mf.by_group
    for i, key in enumerate(counts.cell_keys()):
        k = key if len(key) > 1 else key[0]
        for name in METRICS:
            theirs = float(by_group.loc[k, name])
            mine = float(ours[name][0][i])
            if not (np.isclose(mine, theirs, rtol=1e-9, atol=1e-12) or (np.isnan(mine))):
                raise SystemExit(f"fairlearn and fairaudit differ: {attrs} {k} {name}")


def _print_table(
    console: Any,
    table_cls: Any,
    rows: list[Row],
    args: argparse.Namespace,
    n_sets: int,
    fl: dict[tuple[str, ...], dict[str, float]],
    n1: int,
    n2: int,
) -> None:
    levels = "×".join(map(str, args.levels))
    t = table_cls(
        title=f"Every metric, interval and a {args.bootstrap}-replicate bootstrap for "
        f"{n_sets} attribute sets ({rows[0].groups} groups; attributes of "
        f"{', '.join(map(str, args.levels))} levels, {levels} cells)"
    )
    t.add_column("step")
    for r in rows:
        t.add_column(f"{human(r.n)} rows", justify="right")

    fl_from = f"extrapolated from {human(n1)}/{human(n2)}"
    lines: list[tuple[str, Callable[[Row], str]] | None] = [
        ("fairaudit: count_cells (categorical codes)", lambda r: seconds(r.count)),
        ("fairaudit: marginals + statistics + bootstrap", lambda r: seconds(r.stats)),
        ("[b]fairaudit: total[/b]", lambda r: f"[b]{seconds(r.total)}[/b]"),
        ("single-pass limit: one bincount of a precomputed key", lambda r: seconds(r.bincount)),
        ("single pass: build the key from codes + bincount", lambda r: seconds(r.key_bincount)),
    ]
    if not args.no_strings:
        lines.append(
            (
                "fairaudit: count_cells (string arrays, for comparison)",
                lambda r: seconds(r.count_strings or 0.0),
            )
        )
    if fl:
        lines += [
            (f"fairlearn MetricFrame, no bootstrap ({fl_from})", lambda r: seconds(r.fairlearn)),
            (
                f"fairlearn MetricFrame, n_boot={args.bootstrap} (extrapolated)",
                lambda r: seconds(r.fairlearn_boot),
            ),
        ]
    lines += [
        None,
        ("count_cells ÷ single-pass limit", lambda r: f"{r.count / r.bincount:.1f}×"),
        ("count_cells ÷ (key + bincount)", lambda r: f"{r.count / r.key_bincount:.2f}×"),
        ("total ÷ single-pass limit", lambda r: f"{r.total / r.bincount:.0f}×"),
    ]
    if fl:
        lines += [
            (
                "fairlearn (no bootstrap) ÷ fairaudit total",
                lambda r: f"{r.fairlearn / r.total:,.0f}×",
            ),
            (
                "fairlearn with bootstrap ÷ fairaudit total",
                lambda r: f"{r.fairlearn_boot / r.total:,.0f}×",
            ),
        ]
    for item in lines:
        if item is None:
            t.add_section()
        else:
            t.add_row(item[0], *(item[1](r) for r in rows))
    console.print(t)

    measured = table_cls(title="fairlearn as measured (seconds; every attribute set)")
    for col in ("attribute set", f"{human(n1)} rows", f"{human(n2)} rows", "per resample"):
        measured.add_column(col, justify="left" if col == "attribute set" else "right")
    for g, f in fl.items():
        resample = f"{seconds(f['resample'])} @ {human(n1)}"
        measured.add_row(" × ".join(g), seconds(f["t1"]), seconds(f["t2"]), resample)
    if fl:
        console.print(measured)

    big = max(rows, key=lambda r: r.n)
    checks = [
        (f"{human(big.n)} rows in < 1 s", big.total < 1.0, seconds(big.total)),
        (
            "count within 3× of the single-pass limit",
            big.count <= 3 * big.bincount,
            f"{big.count / big.bincount:.1f}×",
        ),
    ]
    if fl:
        checks.append(
            (
                "≥ 1000× faster than fairlearn with bootstrap",
                big.fairlearn_boot >= 1000 * big.total,
                f"{big.fairlearn_boot / big.total:,.0f}×",
            )
        )
    for name, ok, value in checks:
        console.print(f"target {name}: {value} -> {'met' if ok else 'NOT met'}")
    console.print(
        "statistics do not depend on the row count (they work on the cell counts); the "
        "total's ratio to the single-pass limit falls as rows grow."
    )
    console.print(machine())


if __name__ == "__main__":
    raise SystemExit(main())
