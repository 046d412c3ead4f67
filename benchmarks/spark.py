"""Benchmark: the local engine against Spark ``local[2]`` on the DFC population in Parquet.

The issue asks for 10M and 50M rows. The population is generated in blocks of 1M families
(seed + block number) into one Parquet file, the DFC audit (``audits/digital_family_card.yaml``)
runs once per engine in a fresh process, and the table prints wall time and the driver
process's peak resident memory (the JVM's own memory is set by Spark: ``spark.driver.memory``).

The rules' population parameters (the median income) are pinned in the spec — computed on the
first block — so that neither engine holds every row to compute them (see
``fairaudit.engines.spark``)::

    python benchmarks/spark.py                     # 10M and 50M rows
    python benchmarks/spark.py --rows 10M --keep /path/with/space
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import human, rows_arg, seconds  # noqa: E402
from dfc_rules import _generator  # noqa: E402

BLOCK = 1_000_000
_RUN = r"""
import hashlib, json, os, resource, sys, time
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from fairaudit.audit import run_audit
from fairaudit.spec import load_spec
spec = load_spec(sys.argv[1])
t = time.perf_counter()
result = run_audit(spec)
wall = time.perf_counter() - t
d = json.loads(result.to_json()); d.pop("provenance")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
print(json.dumps({"wall": wall, "peak_mb": peak, "n": result.n_rows, "digest": digest}))
"""


def write_population(path: Path, rows: int, seed: int) -> dict[str, float]:
    """Write ``rows`` families to one Parquet file; return the pinned rules parameters."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fairaudit.models.base import LoadContext
    from fairaudit.models.rules import RulesLoader

    gen = _generator()
    writer = None
    params: dict[str, float] = {}
    for i, start in enumerate(range(0, rows, BLOCK)):
        frame = gen.generate(min(BLOCK, rows - start), seed + i)
        if i == 0:
            loader = RulesLoader()
            opts = loader.Options.model_validate(
                {"path": str(ROOT / "examples/digital_family_card/rules.yaml"), "programme": "tsa"}
            )
            model = loader.load(opts, LoadContext(base_dir=ROOT))
            model.prepare([frame])
            params = {k: v for k, v in model._pinned.items() if isinstance(v, int | float)}
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=250_000)
        del frame, table
    assert writer is not None
    writer.close()
    return params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=rows_arg, nargs="+", default=[10_000_000, 50_000_000])
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--bootstrap", type=int, default=0)
    args = ap.parse_args(argv)

    import yaml

    out: list[tuple[str, str, float, float, float]] = []
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp:
        for rows in args.rows:
            data = Path(tmp) / f"dfc-{rows}.parquet"
            t0 = time.perf_counter()
            params = write_population(data, rows, args.seed)
            print(
                f"generated {human(rows)} rows in {seconds(time.perf_counter() - t0)}", flush=True
            )
            spec = yaml.safe_load((ROOT / "audits/digital_family_card.yaml").read_text())
            spec["data"]["path"] = str(data)
            spec["model"]["path"] = str(ROOT / "examples/digital_family_card/rules.yaml")
            spec["model"]["parameters"] = params
            spec["bootstrap"] = args.bootstrap
            digests = {}
            for engine in ("local", "spark"):
                spec["engine"] = engine
                spec["spark"] = {
                    "master": args.master,
                    "config": {"spark.driver.memory": "4g", "spark.ui.enabled": False},
                }
                path = Path(tmp) / f"audit-{engine}.yaml"
                path.write_text(yaml.safe_dump(spec), encoding="utf-8")
                done = subprocess.run(
                    [sys.executable, "-c", _RUN, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                res = json.loads(done.stdout.strip().splitlines()[-1])
                digests[engine] = res["digest"]
                out.append((human(rows), engine, res["wall"], res["peak_mb"], res["wall"] / rows))
                print(
                    f"  {engine}: {seconds(res['wall'])}, peak {res['peak_mb']:.0f} MB", flush=True
                )
            same = digests["local"] == digests["spark"]
            print(f"  results identical (minus provenance): {same}", flush=True)
            data.unlink()
    print()
    print(f"| rows | engine | wall | driver peak RSS | per row | (master {args.master})")
    print("|---|---|---|---|---|")
    for rows_s, engine, wall, peak, per in out:
        print(f"| {rows_s} | {engine} | {seconds(wall)} | {peak:,.0f} MB | {per * 1e6:.2f} µs |")
    spark_rows = [(r, p) for r, e, _w, _m, p in out if e == "spark"]
    if spark_rows:
        per = spark_rows[-1][1]
        print()
        print(
            f"100M rows at the measured Spark per-row cost ({per * 1e6:.2f} µs on "
            f"{args.master}): {seconds(per * 1e8)} on 2 cores; the work is per partition, so "
            f"about {seconds(per * 1e8 * 2 / 64)} on 64 executor cores (plus JVM start and "
            "scheduling)."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
