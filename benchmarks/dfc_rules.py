"""Benchmark: generate the Digital Family Card population and evaluate its rules.

Target (issue): generating and auditing 1,000,000 families on a 2-core machine in under
30 s with a peak memory under 4 GB. This script times the steps it owns — generation, the
rules evaluation of every programme, the TSA reasons and the per-defect counterfactuals — and
runs any further steps handed to :func:`run` (the audit's counting and metrics) in the same
process, so the table shows the whole pipeline::

    python benchmarks/dfc_rules.py                 # 1,000,000 families
    python benchmarks/dfc_rules.py --families 200000

Each step receives a ``state`` dict (``frame``, ``rules``, ``evaluation``, ...) and may add
to it. Peak memory is the process's peak resident set size after the step (it only grows).
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digital_family_card"

State = dict[str, Any]


@dataclass(frozen=True)
class Step:
    """A named unit of work on the shared state."""

    name: str
    run: Callable[[State], None]


@dataclass(frozen=True)
class Timing:
    """What one step cost."""

    name: str
    seconds: float
    peak_rss_mb: float


def _generator() -> ModuleType:
    name = "dfc_generate"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EXAMPLE / "generate.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {EXAMPLE / 'generate.py'}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / (1024 * 1024)


def rules_steps(n_families: int, seed: int) -> list[Step]:
    """The steps this benchmark owns: generate, load the rules, evaluate, attribute."""
    from fairaudit.rules import counterfactual_decisions, evaluate, load_rules

    def generate(state: State) -> None:
        state["frame"] = _generator().generate(n_families, seed)

    def load(state: State) -> None:
        state["rules"] = load_rules(EXAMPLE / "rules.yaml")

    def evaluate_all(state: State) -> None:
        ev = evaluate(state["rules"], state["frame"])
        state["evaluation"] = ev
        state["decisions"] = {name: result.decision() for name, result in ev.programmes.items()}

    def reasons(state: State) -> None:
        ev = state["evaluation"]
        tsa = ev.programmes["tsa"]
        state["reasons"] = {
            "stage": tsa.deciding_stage(),
            "deprived": ev.deprived(),
            "unknown": ev.unknown_indicators(),
        }

    def counterfactuals(state: State) -> None:
        rules, frame = state["rules"], state["frame"]
        swaps = {
            c: c.replace("_registry", "_true")
            for c in rules.columns()
            if c.endswith("_registry") and c.replace("_registry", "_true") in frame
        }
        state["counterfactuals"] = counterfactual_decisions(
            rules, frame, swaps, programme="tsa", parameters=state["evaluation"].parameters
        )

    return [
        Step(f"generate {n_families:,} families", generate),
        Step("load and validate rules.yaml", load),
        Step("evaluate all 5 programmes", evaluate_all),
        Step("TSA reasons (stage, indicators)", reasons),
        Step("TSA counterfactuals (one per defect + all)", counterfactuals),
    ]


def run(
    n_families: int = 1_000_000, seed: int = 20240101, extra_steps: Iterable[Step] = ()
) -> tuple[list[Timing], State]:
    """Run the benchmark's steps, then ``extra_steps`` (e.g. the audit's counts and
    metrics), timing each.

    Returns
    -------
    tuple
        One :class:`Timing` per step, and the final state.
    """
    state: State = {"n_families": n_families, "seed": seed}
    timings = []
    for step in [*rules_steps(n_families, seed), *extra_steps]:
        t0 = time.perf_counter()
        step.run(state)
        timings.append(Timing(step.name, time.perf_counter() - t0, _peak_rss_mb()))
    return timings, state


def render(timings: Sequence[Timing]) -> str:
    """The timings as a Markdown table with a total row."""
    width = max(len(t.name) for t in timings)
    lines = [
        f"| {'step':<{width}} | seconds | peak RSS (MB) |",
        f"|{'-' * (width + 2)}|--------:|--------------:|",
    ]
    for t in timings:
        lines.append(f"| {t.name:<{width}} | {t.seconds:7.2f} | {t.peak_rss_mb:13.0f} |")
    total = sum(t.seconds for t in timings)
    peak = max(t.peak_rss_mb for t in timings)
    lines.append(f"| {'total':<{width}} | {total:7.2f} | {peak:13.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20240101)
    args = ap.parse_args(argv)
    timings, state = run(args.families, args.seed)
    print(render(timings))
    frame = state["frame"]
    tsa = state["decisions"]["tsa"]
    eligible = frame["tsa_eligible_true"].to_numpy()
    missed = (eligible & (tsa == 0)).sum() / max(eligible.sum(), 1)
    print(f"\nTSA: {eligible.sum():,} truly eligible families, exclusion error {missed:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
