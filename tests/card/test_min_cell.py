"""The spec's card.min_cell reaches every card, and a re-render never publishes less."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml


def _frame() -> pd.DataFrame:
    """Group 'small' has 30 people (12 tp, 18 fn); group 'big' 200."""
    rows = []
    for area, cells in (
        ("big", {"tp": 80, "fp": 20, "fn": 20, "tn": 80}),
        ("small", {"tp": 12, "fn": 18}),
    ):
        for cell, k in cells.items():
            label = int(cell in ("tp", "fn"))
            decision = int(cell in ("tp", "fp"))
            rows += [{"area": area, "eligible": label, "granted": decision}] * k
    return pd.DataFrame(rows)


def _spec(tmp_path: Path, **card: int) -> Path:
    _frame().to_csv(tmp_path / "data.csv", index=False)
    spec = {
        "name": "cells",
        "intervention": "assistive",
        "data": {"path": "data.csv", "label": "eligible"},
        "model": {"loader": "column", "decision": "granted"},
        "protected": [{"name": "area"}],
        "gates": [{"id": "g", "metric": "exclusion_error", "measure": "ratio", "max": 9}],
    }
    if card:
        spec["card"] = card
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _small_row(folder: Path) -> tuple[dict, str, str]:
    card = json.loads((folder / "card.json").read_text())
    (row,) = [r for g in card["groups"] for r in g["rows"] if r["label"] == "small"]
    md = [ln for ln in (folder / "card.md").read_text().splitlines() if ln.startswith("| small |")]
    html = re.findall(r'<tr><th scope="row">small</th>.*?</tr>', (folder / "card.html").read_text())
    # the first row of a group is its size and counts (section 5); later ones its rates
    assert md and html
    return row, md[0], html[0]


def test_spec_min_cell_suppresses_in_all_formats(tmp_path: Path, cli) -> None:
    assert cli("check", str(_spec(tmp_path)), "--out", "default").exit_code == 0
    row, md, html = _small_row(tmp_path / "default")
    assert (row["n"], row["tp"], row["fn"]) == (30, 12, 18)
    assert "| 30 |" in md and '<td class="num">30</td>' in html

    assert cli("check", str(_spec(tmp_path, min_cell=50)), "--out", "fifty").exit_code == 0
    row, md, html = _small_row(tmp_path / "fifty")
    assert (row["n"], row["tp"], row["fn"]) == ("<50", "<50", "<50")
    assert "30" not in md and "<50" in md
    assert "30" not in html and '<td class="num">&lt;50</td>' in html
    assert row["rates_shown"] is False
    card = json.loads((tmp_path / "fifty" / "card.json").read_text())
    assert card["min_cell"] == 50
    assert json.loads((tmp_path / "fifty" / "results.json").read_text())["min_cell"] == 50


def test_rerender_keeps_the_recorded_min_cell(tmp_path: Path, cli) -> None:
    assert cli("check", str(_spec(tmp_path, min_cell=50)), "--out", "o").exit_code == 0
    res = cli("card", "o/results.json", "--format", "json", "--out", "again.json")
    assert res.exit_code == 0, res.stderr
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["min_cell"] == 50
    (row,) = [r for g in again["groups"] for r in g["rows"] if r["label"] == "small"]
    assert row["n"] == "<50"
    # lower than the audit's owner set: refused, nothing written
    res = cli("card", "o/results.json", "--min-cell", "10", "--out", "low.json")
    assert res.exit_code == 2
    assert "--min-cell" in res.stderr and "below 50" in res.stderr
    assert not (tmp_path / "low.json").exists()
    # higher: allowed
    res = cli("card", "o/results.json", "--format", "json", "--min-cell", "60", "--out", "hi.json")
    assert res.exit_code == 0
    assert json.loads((tmp_path / "hi.json").read_text())["min_cell"] == 60


@pytest.mark.parametrize("value", [0, -3])
def test_min_cell_below_one_is_a_located_spec_error(tmp_path: Path, cli, value: int) -> None:
    res = cli("check", str(_spec(tmp_path, min_cell=value)))
    assert res.exit_code == 2
    assert "card.min_cell" in res.stderr and f"got {value}" in res.stderr
    assert "fix: use 1 or more" in res.stderr
