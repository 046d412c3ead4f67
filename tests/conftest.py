"""Shared fixtures: a clean plugin registry, data writers, and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result

from fairaudit.cli import main
from fairaudit.plugins import Registry, make_plugin_manager

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry() -> Registry:
    """Built-ins only: no third-party entry points leak into tests."""
    return Registry(make_plugin_manager(entry_points=False))


def make_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small population with two protected attributes and known structure."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], size=n, p=[0.45, 0.55])
    area = rng.choice(["urban", "rural", "remote"], size=n, p=[0.5, 0.35, 0.15])
    label = (rng.random(n) < np.where(area == "urban", 0.3, 0.45)).astype(int)
    # the decision misses rural/remote eligible people more often
    hit = rng.random(n) < np.where(area == "urban", 0.8, 0.6)
    decision = np.where(label == 1, hit, rng.random(n) < 0.1).astype(int)
    score = np.clip(decision * 0.5 + rng.random(n) * 0.5, 0, 1).round(4)
    weight = rng.uniform(0.5, 3.0, size=n).round(3)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "sex": sex,
            "area": area,
            "eligible": label,
            "granted": decision,
            "score": score,
            "weight": weight,
        }
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    def _write(df: pd.DataFrame, name: str = "data.csv") -> Path:
        p = tmp_path / name
        df.to_csv(p, index=False)
        return p

    return _write


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    def _write(spec: dict[str, Any] | str, name: str = "audit.yaml") -> Path:
        p = tmp_path / name
        text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False)
        p.write_text(text, encoding="utf-8")
        return p

    return _write


def base_spec(data: str = "data.csv", **over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "test-audit",
        "intervention": "assistive",
        "data": {"path": data, "label": "eligible"},
        "model": {"loader": "column", "decision": "granted"},
        "protected": [{"name": "sex"}, {"name": "area", "reference": "urban"}],
        "gates": [
            {
                "id": "fnr-ratio",
                "metric": "exclusion_error",
                "measure": "ratio",
                "max": 1.25,
                "decide_on": "point",
            },
        ],
    }
    spec.update(over)
    return spec


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Invoke the CLI in ``tmp_path`` (so default outputs land there)."""
    monkeypatch.chdir(tmp_path)

    def _run(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return _run
