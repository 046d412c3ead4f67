"""Benchmark: audit a Parquet file larger than memory wants, streamed from disk.

Writes a deterministic Parquet file (default 50M rows, row groups of 1M rows, written one
row group at a time so generation itself stays small), then measures, each step in a fresh
Python process so that its peak resident memory (VmHWM) is its own:

- ``pyarrow raw read``: ``ParquetFile.iter_batches`` over the columns the audit reads —
  the floor for anything that reads this file;
- ``pyarrow + to_pandas``: the same, converting each batch to pandas (what a
  pandas-based reader must do at least);
- ``fairaudit run_audit``: the whole audit (column loader, every attribute and
  intersection, every metric with Wilson/Newcombe/Katz intervals, tests and a
  2000-replicate multinomial bootstrap), batch by batch through fairaudit's Parquet reader;
- ``python + imports``: the interpreter with numpy, pandas, pyarrow and fairaudit imported
  and nothing done (the part of every peak that is not data).

Target (issue): 50M rows with a peak RSS under 2 GB, time reported against the raw read::

    python benchmarks/stream.py                    # 50M rows in a temporary folder
    python benchmarks/stream.py --rows 5e6 --keep --dir /tmp/bench
    python benchmarks/stream.py --weight           # with a sample-weight column

The file is removed afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (  # the script's folder is on sys.path
    SEED,
    attribute_names,
    generate,
    human,
    machine,
    peak_rss_mb,
    progress_bar,
    rows_arg,
    seconds,
    work_dir,
)

HERE = Path(__file__).resolve()
LEVELS = (2, 8, 20)
FILE = "population.parquet"


def write_parquet(
    path: Path, n_rows: int, row_group: int, levels: tuple[int, ...], weight: bool
) -> None:
    """Write ``n_rows`` deterministic rows, one row group per chunk (bounded memory).

    Protected attributes are strings (dictionary-encoded by Parquet, as real extracts
    are); label and decision are int8; the optional weight is float64.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = attribute_names(levels)
    dictionaries = [
        pa.array([f"{name}_{i}" for i in range(k)]) for name, k in zip(names, levels, strict=True)
    ]
    fields = [pa.field(n, pa.string()) for n in names]
    fields += [pa.field("eligible", pa.int8()), pa.field("granted", pa.int8())]
    if weight:
        fields.append(pa.field("weight", pa.float64()))
    schema = pa.schema(fields)
    n_chunks = -(-n_rows // row_group)
    with (
        pq.ParquetWriter(path, schema, compression="snappy") as writer,
        progress_bar() as bar,
    ):
        task = bar.add_task(f"writing {human(n_rows)} rows", total=n_rows)
        for i in range(n_chunks):
            n = min(row_group, n_rows - i * row_group)
            rng = np.random.default_rng([SEED, i])  # one stream per chunk: deterministic
            codes, label, decision = generate(n, levels, rng)
            cols: list[Any] = [
                pa.DictionaryArray.from_arrays(pa.array(c.astype(np.int32)), d).cast(pa.string())
                for c, d in zip(codes, dictionaries, strict=True)
            ]
            cols += [pa.array(label), pa.array(decision)]
            if weight:
                cols.append(pa.array(rng.gamma(4.0, 0.25, size=n)))
            writer.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=n)
            bar.advance(task, n)


# --------------------------------------------------------------------------- children


def _child(step: str, path: Path, batch_rows: int, bootstrap: int, weight: bool) -> None:
    """One measured step, in this fresh process; prints a JSON line with its cost."""
    import pandas as pd  # noqa: F401  (imported in every step, so baselines compare)
    import pyarrow.parquet as pq

    import fairaudit.audit  # noqa: F401

    names = attribute_names(LEVELS)
    columns = [*names, "eligible", "granted"] + (["weight"] if weight else [])
    rows = 0
    result: dict[str, Any] = {}

    def report(n: int) -> None:
        print(f"PROGRESS {n}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    if step == "imports":
        pass
    elif step in ("pyarrow", "pyarrow_pandas"):
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
            if step == "pyarrow_pandas":
                batch.to_pandas()
            rows += batch.num_rows
            report(rows)
    elif step == "fairaudit":
        from fairaudit.audit import run_audit
        from fairaudit.spec import spec_from_dict

        spec = spec_from_dict(
            {
                "name": "stream-benchmark",
                "intervention": "assistive",
                "data": {
                    "path": path.name,
                    "label": "eligible",
                    **({"weight": "weight"} if weight else {}),
                },
                "model": {"loader": "column", "decision": "granted"},
                "protected": [{"name": n} for n in names],
                "intersections": True,
                "bootstrap": bootstrap,
            },
            base_dir=path.parent,
        )
        audit = run_audit(spec, batch_rows=batch_rows, progress=report)
        rows = audit.n_rows
        result["groups"] = len(audit.groups)
        result["status"] = audit.status
    else:
        raise SystemExit(f"unknown step {step!r}")
    result.update(seconds=time.perf_counter() - t0, rows=rows, peak_rss_mb=peak_rss_mb())
    print(json.dumps(result))


def _warm_cache(path: Path) -> None:
    """Read the file once so that no measured step pays for the disk alone."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def _measure(
    step: str, path: Path, n_rows: int, batch_rows: int, bootstrap: int, weight: bool
) -> dict[str, Any]:
    """Run one step in a child process, showing its progress from the child's reports."""
    import subprocess

    args = [
        sys.executable,
        str(HERE),
        "--child",
        step,
        "--file",
        str(path),
        "--batch-rows",
        str(batch_rows),
        "--bootstrap",
        str(bootstrap),
    ] + (["--weight"] if weight else [])
    t0 = time.perf_counter()
    with (
        progress_bar(transient=True) as bar,
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc,
    ):
        task = bar.add_task(step, total=n_rows if step != "imports" else None)
        assert proc.stderr is not None and proc.stdout is not None
        errors = []
        for line in proc.stderr:
            if line.startswith("PROGRESS "):
                bar.update(task, completed=int(line.split()[1]))
            else:
                errors.append(line)
        out = proc.stdout.read()
        proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{''.join(errors)}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - t0
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=rows_arg, default=50_000_000, help="rows (default 50M)")
    parser.add_argument("--row-group", type=rows_arg, default=1_000_000)
    parser.add_argument("--batch-rows", type=rows_arg, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--weight", action="store_true", help="add a sample-weight column")
    parser.add_argument("--dir", help="folder for the Parquet file (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, Path(args.file), args.batch_rows, args.bootstrap, args.weight)
        return 0

    from rich.console import Console
    from rich.table import Table

    console = Console()
    # ~3.5 bytes per row without weights, ~12 with (random float64s do not compress)
    need_gb = args.rows * (12 if args.weight else 4) / 1e9 + 0.5
    with work_dir(args.dir, keep=args.keep, min_free_gb=need_gb) as folder:
        path = folder / (FILE if not args.weight else FILE.replace(".", "-weighted."))
        t0 = time.perf_counter()
        reused = path.exists() and args.keep
        if reused:
            import pyarrow.parquet as pq

            if pq.ParquetFile(path).metadata.num_rows != args.rows:
                raise SystemExit(f"{path} has a different number of rows; remove it")
        else:
            write_parquet(path, args.rows, args.row_group, LEVELS, args.weight)
        generated = (
            "reused " + str(path) if reused else f"generated in {seconds(time.perf_counter() - t0)}"
        )
        size_mb = path.stat().st_size / 1e6
        _warm_cache(path)  # every step then reads from the page cache, the first one too
        steps = {
            "imports": "python + imports (no data read)",
            "pyarrow": "pyarrow iter_batches (raw read)",
            "pyarrow_pandas": "pyarrow iter_batches + to_pandas",
            "fairaudit": "fairaudit run_audit (whole audit)",
        }
        results = {
            s: _measure(s, path, args.rows, args.batch_rows, args.bootstrap, args.weight)
            for s in steps
        }
        if not args.keep:
            path.unlink()

    raw = results["pyarrow"]["seconds"]
    table = Table(
        title=f"Streaming audit of {human(args.rows)} Parquet rows "
        f"({size_mb:.0f} MB on disk, {len(LEVELS)} attributes of {LEVELS} levels, "
        f"{'weighted, ' if args.weight else ''}bootstrap {args.bootstrap}, "
        f"batches of {human(args.batch_rows)})"
    )
    for col in ("step", "time", "rows/s", "× raw read", "peak RSS"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for key, label in steps.items():
        r = results[key]
        t = r["seconds"]
        table.add_row(
            label,
            seconds(t) if key != "imports" else "",
            f"{human(args.rows / t)}" if key != "imports" else "",
            f"{t / raw:.1f}×" if key != "imports" else "",
            f"{r['peak_rss_mb']:,.0f} MB",
        )
    console.print(table)
    peak = results["fairaudit"]["peak_rss_mb"]
    console.print(
        f"{generated}; audit groups {results['fairaudit']['groups']}, "
        f"status {results['fairaudit']['status']}"
    )
    console.print(
        f"target: peak RSS < 2,048 MB -> {peak:,.0f} MB "
        f"({'met' if peak < 2048 else 'NOT met'}); "
        f"time {results['fairaudit']['seconds'] / raw:.1f}× pyarrow's raw read"
    )
    console.print(machine())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
