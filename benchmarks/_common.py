"""Shared helpers of the benchmarks: deterministic data, timing, peak memory and tables.

Nothing here is downloaded: every data set is generated with ``numpy.random.default_rng``
from a fixed seed, so two runs measure the same rows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SEED = 20261122


def rows_arg(text: str) -> int:
    """Row counts as people write them on a command line: ``1e6``, ``10_000_000``, ``5M``."""
    t = text.strip().lower().replace("_", "")
    scale = {"k": 10**3, "m": 10**6, "g": 10**9}.get(t[-1:], 1)
    if scale != 1:
        t = t[:-1]
    value = float(t) * scale
    if value < 1 or value != int(value):
        raise ValueError(f"not a row count: {text!r}")
    return int(value)


def human(n: float) -> str:
    """``10000000`` -> ``10M``."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            v = n / size
            return f"{v:.0f}{unit}" if v == int(v) else f"{v:.1f}{unit}"
    return f"{n:.0f}"


def seconds(s: float) -> str:
    """A duration for a table: ``12.3 ms``, ``1.24 s``, ``3.2 min``, ``5.1 h``."""
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 120:
        return f"{s:.2f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs (seconds) and the last result."""
    best = float("inf")
    out = None
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Population:
    """In-memory columns: categorical protected attributes, 0/1 label and decision."""

    protected: dict[str, pd.Categorical]
    label: np.ndarray
    decision: np.ndarray

    @property
    def n(self) -> int:
        return len(self.label)


def attribute_names(levels: Sequence[int]) -> list[str]:
    """``[2, 8, 20]`` -> ``["a2", "b8", "c20"]`` (the name says the number of levels)."""
    return [f"{chr(ord('a') + i)}{k}" for i, k in enumerate(levels)]


def generate(
    n: int, levels: Sequence[int], rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Codes of each attribute, label and decision for ``n`` rows, with real disparities.

    Attribute levels have unequal sizes (Zipf-like), the base rate and the model's hit
    rate depend on the groups, so every metric differs between groups.
    """
    codes = []
    for k in levels:
        p = 1.0 / np.arange(1, k + 1) ** 0.7
        codes.append(rng.choice(k, size=n, p=p / p.sum()).astype(np.int8 if k < 128 else np.int16))
    shift = np.zeros(n, dtype=np.float32)
    for c, k in zip(codes, levels, strict=True):
        shift += (c.astype(np.float32) / max(k - 1, 1) - 0.5) * 0.2
    u = rng.random(n, dtype=np.float32)
    label = (u < 0.3 + shift).astype(np.int8)
    hit = rng.random(n, dtype=np.float32) < 0.75 - shift
    false_alarm = rng.random(n, dtype=np.float32) < 0.08 + shift / 4
    decision = np.where(label == 1, hit, false_alarm).astype(np.int8)
    return codes, label, decision


def population(n: int, levels: Sequence[int], seed: int = SEED) -> Population:
    """``n`` rows in memory, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    codes, label, decision = generate(n, levels, rng)
    names = attribute_names(levels)
    protected = {
        name: pd.Categorical.from_codes(c, categories=[f"{name}_{i}" for i in range(k)])
        for name, c, k in zip(names, codes, levels, strict=True)
    }
    return Population(protected, label, decision)


# --------------------------------------------------------------------------- folders


@contextmanager
def work_dir(path: str | None, *, keep: bool, min_free_gb: float) -> Iterator[Path]:
    """A folder for generated files: ``path`` if given, else a new temporary folder.

    Checks the free space first; removes the folder afterwards unless ``keep`` (a folder
    given with ``path`` is kept: only the files the benchmark wrote are removed).
    """
    if path is not None:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="fairaudit-bench-"))
    free = shutil.disk_usage(folder).free / 1e9
    if free < min_free_gb:
        raise SystemExit(f"{folder}: {free:.1f} GB free, need {min_free_gb:.1f} GB")
    try:
        yield folder
    finally:
        if not keep and path is None:
            shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- memory


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def progress_bar(transient: bool = False) -> Any:
    """A rich progress bar (description, bar, done/total, elapsed, remaining)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=transient,
    )


def machine() -> str:
    """One line about where the numbers were measured."""
    import platform

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}"
    )
