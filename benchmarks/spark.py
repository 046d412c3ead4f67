"""Benchmark: the local engine against Spark ``local[2]`` on the DFC population in Parquet.

The issue asks for 10M and 50M rows. The population is generated in blocks of 1M families
(seed + block number) into one Parquet file, and the DFC audit
(``audits/digital_family_card.yaml``: counts, every statistic, the explanation sample and its
exact SHAP values; no bootstrap, no recommendations, no restricted artifacts) runs in a fresh
process per engine. The table prints wall time, the peak resident memory of the Python
driver (what would hold any rows brought to the driver) and of the JVM (Spark's driver and,
in ``local[N]`` mode, its executors too; capped by ``spark.driver.memory``).

Three runs per size:

* ``local`` and ``spark`` with the rules' population parameter (the median income) pinned
  to its value on the first block — the local engine would otherwise hold every row's
  columns to compute it — and their results compared (identical but for provenance);
* ``spark`` computing the median itself over all rows (its executors summarise, the driver
  finishes a bracket of at most 100,000 values), to show that costs no driver memory::

    python benchmarks/spark.py                     # 10M and 50M rows
    python benchmarks/spark.py --rows 10M
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
import hashlib, json, os, resource, sys, threading, time
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from fairaudit.audit import run_audit
from fairaudit.spec import load_spec

jvm_peak = [0.0]
done = threading.Event()

def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0

def watch():  # the JVM is this process's child: sample its resident memory
    me = str(os.getpid())
    while not done.wait(0.5):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    parent = fh.read().rsplit(")", 1)[1].split()[1]
                with open(f"/proc/{pid}/comm") as fh:
                    name = fh.read().strip()
            except OSError:
                continue
            if parent == me and name == "java":
                jvm_peak[0] = max(jvm_peak[0], rss_mb(pid))

threading.Thread(target=watch, daemon=True).start()
spec = load_spec(sys.argv[1])
t = time.perf_counter()
result = run_audit(spec)
wall = time.perf_counter() - t
done.set()
d = json.loads(result.to_json()); d.pop("provenance")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
print(json.dumps({"wall": wall, "peak_mb": peak, "jvm_mb": jvm_peak[0], "n": result.n_rows,
                  "digest": digest}))
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
        frame["family_id"] = frame["family_id"] + start  # one id per family across blocks
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
    ap.add_argument(
        "--runs",
        default="local,spark,spark-computed",
        help="which runs, comma-separated: local, spark (median pinned), spark-computed",
    )
    args = ap.parse_args(argv)
    wanted = {r.strip() for r in args.runs.split(",")}

    import yaml

    out: list[tuple[str, str, str, float, float, float, float]] = []
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
            spec["bootstrap"] = args.bootstrap
            spec.pop("recommend", None)
            digests = {}
            for engine, pinned in (("local", True), ("spark", True), ("spark", False)):
                if (engine if pinned else "spark-computed") not in wanted:
                    continue
                spec["engine"] = engine
                spec["model"].pop("parameters", None)
                if pinned:
                    spec["model"]["parameters"] = params
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
                    check=False,
                )
                if done.returncode != 0:
                    print(done.stderr[-4000:], file=sys.stderr)
                    raise SystemExit(f"the {engine} audit failed (exit {done.returncode})")
                res = json.loads(done.stdout.strip().splitlines()[-1])
                how = "pinned" if pinned else "computed"
                if pinned:
                    digests[engine] = res["digest"]
                out.append(
                    (
                        human(rows),
                        engine,
                        how,
                        res["wall"],
                        res["peak_mb"],
                        res["jvm_mb"],
                        res["wall"] / rows,
                    )
                )
                print(
                    f"  {engine} ({how} median): {seconds(res['wall'])}, Python peak "
                    f"{res['peak_mb']:.0f} MB, JVM peak {res['jvm_mb']:.0f} MB",
                    flush=True,
                )
            if len(digests) == 2:
                same = digests["local"] == digests["spark"]
                print(f"  results identical (minus provenance): {same}", flush=True)
            data.unlink()
    print()
    print("| rows | engine | median income | wall | Python driver peak | JVM peak | per row |")
    print("|---|---|---|---|---|---|---|")
    for rows_s, engine, how, wall, peak, jvm, per in out:
        master = f" `{args.master}`" if engine == "spark" else ""
        jvm_s = f"{jvm:,.0f} MB" if jvm else "–"
        print(
            f"| {rows_s} | {engine}{master} | {how} | {seconds(wall)} | {peak:,.0f} MB | {jvm_s} "
            f"| {per * 1e6:.2f} µs |"
        )
    spark_rows = [(r, p) for r, e, h, _w, _m, _j, p in out if e == "spark" and h == "computed"]
    if spark_rows:
        per = spark_rows[-1][1]
        print()
        print(
            f"100M rows at the measured Spark per-row cost ({per * 1e6:.2f} µs on "
            f"{args.master}, median computed): {seconds(per * 1e8)} on 2 cores; the work is per "
            f"partition, so about {seconds(per * 1e8 * 2 / 64)} on 64 executor cores (plus JVM "
            "start and scheduling)."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
