"""Benchmark: generate and audit the Digital Family Card population end to end.

Target (issue): generating and auditing 1,000,000 families (rules evaluation + counts + all
metrics) on this 2-core machine in under 30 s, with a peak memory under 4 GB. The audit is
the real one users run — ``audits/digital_family_card.yaml`` through ``run_audit`` — only
with the data path pointed at the generated file; every step runs in the same process and
the table shows wall time and the process's peak resident memory after each step::

    python benchmarks/dfc_audit.py                    # 1,000,000 families
    python benchmarks/dfc_audit.py --families 200000 --bootstrap 0
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dfc_rules import _generator  # noqa: E402  (the example's generator, imported by path)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--bootstrap", type=int, default=2000, help="replicates (spec default)")
    args = ap.parse_args(argv)

    from rich.progress import Progress

    from fairaudit._yaml import load_yaml_with_lines
    from fairaudit.audit import run_audit
    from fairaudit.spec import spec_from_dict

    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp, Progress(transient=True) as bar:
        task = bar.add_task("generating", total=None)
        t0 = time.perf_counter()
        frame = _generator().generate(args.families, args.seed)
        path = Path(tmp) / "population.parquet"
        frame.to_parquet(path, index=False)
        del frame
        rows.append(
            (
                f"generate {args.families:,} families + write Parquet",
                time.perf_counter() - t0,
                _peak_mb(),
            )
        )

        bar.update(task, description="auditing")
        spec_path = ROOT / "audits" / "digital_family_card.yaml"
        data, lines = load_yaml_with_lines(spec_path)
        data["data"]["path"] = str(path)
        data["bootstrap"] = args.bootstrap
        spec = spec_from_dict(data, path=spec_path, lines=lines, base_dir=spec_path.parent)
        t0 = time.perf_counter()
        result = run_audit(spec, progress=lambda n: bar.update(task, description=f"{n:,} rows"))
        rows.append(
            (
                "audit: rules + counts + every metric, interval, test, gate",
                time.perf_counter() - t0,
                _peak_mb(),
            )
        )

    width = max(len(r[0]) for r in rows)
    print(f"| {'step':<{width}} | seconds | peak RSS (MB) |")
    print(f"|{'-' * (width + 2)}|--------:|--------------:|")
    for name, sec, mb in rows:
        print(f"| {name:<{width}} | {sec:7.2f} | {mb:13.0f} |")
    total = sum(r[1] for r in rows)
    peak = max(r[2] for r in rows)
    print(f"| {'total':<{width}} | {total:7.2f} | {peak:13.0f} |")
    print(
        f"\ntarget: < 30 s and < 4,096 MB for 1,000,000 families -> "
        f"{'met' if total < 30 and peak < 4096 else 'NOT met'} ({args.families:,} families, "
        f"bootstrap {args.bootstrap})"
    )
    print(
        f"audit: {result.n_audited:,} families, {len(result.groups)} groups, "
        f"{len(result.checks)} checks, status {result.status}, exclusion error "
        f"{result.overall.metrics['exclusion_error'].value:.1%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
