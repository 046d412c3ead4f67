"""Population statistics computed in parts (as the Spark engine's executors do) equal the
statistics computed on every row at once, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairaudit.models.base import LoadContext
from fairaudit.models.rules import RulesLoader
from fairaudit.rules.evaluate import statistic_inputs, statistic_q
from fairaudit.rules.statistics import Summary, quantile_in, weighted_quantile

ROOT = Path(__file__).resolve().parents[2]


def _dfc_model(**options: object) -> object:
    loader = RulesLoader()
    opts = loader.Options.model_validate(
        {
            "path": str(ROOT / "examples/digital_family_card/rules.yaml"),
            "programme": "tsa",
            **options,
        }
    )
    return loader.load(opts, LoadContext(base_dir=ROOT))


def test_parameters_from_parts_equal_prepare_on_all_rows() -> None:
    frame = pd.read_parquet(ROOT / "examples/digital_family_card/population.parquet").iloc[:20_000]
    local = _dfc_model()
    local.prepare([frame])
    parts = np.array_split(np.arange(len(frame)), 7)
    calls = []

    def statistic(name, node, params):  # what the Spark engine does, without Spark
        calls.append(name)
        pairs = [statistic_inputs(local.rules, frame.iloc[p], node, name, params) for p in parts]
        total = Summary()
        for x, w in pairs:
            total = total + Summary.of(x, w)
        if node.func == "mean":
            return total.mean()
        x = np.concatenate([p[0] for p in pairs])
        w = np.concatenate([p[1] for p in pairs])
        return quantile_in(x, w, total.target(statistic_q(node)), below=0)

    distributed = _dfc_model()
    distributed.prepare_parameters(statistic)
    assert calls == ["median_income_pc"]
    assert distributed._pinned == local._pinned
    assert distributed.predict(frame.iloc[:500]).decision.tolist() == (
        local.predict(frame.iloc[:500]).decision.tolist()
    )


@pytest.mark.parametrize("seed", range(5))
def test_exact_quantile_from_a_bracket_equals_the_whole(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=5000).round(2)
    w = rng.random(5000) * 3 + 0.01
    q = float(rng.random())
    whole = weighted_quantile(x, w, q)
    summary = Summary.of(x[:2000], w[:2000]) + Summary.of(x[2000:], w[2000:])
    target = summary.target(q)
    cut = np.sort(x)[1000]  # a bracket: everything above `cut`, and the exact weight below
    below = Summary.of(x[x <= cut], w[x <= cut]).weight.to_ints()[0]
    assert whole <= cut or quantile_in(x[x > cut], w[x > cut], target, below=below) == whole


def test_mean_is_exact_and_order_free() -> None:
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=10_000) * 1e6, rng.random(10_000)
    a = Summary.of(x, w).mean()
    b = (Summary.of(x[::2], w[::2]) + Summary.of(x[1::2], w[1::2])).mean()
    assert a == b
    assert a == pytest.approx(np.sum(x * w) / np.sum(w), rel=1e-12)
