"""ProPublica's COMPAS truth tables ("Machine Bias", 2016), reproduced exactly.

ProPublica's published table ("Prediction Fails Differently for Black Defendants"): among
defendants who did not reoffend within two years, 44.9% of Black and 23.5% of White
defendants were labelled higher risk; among those who did, 28.0% of Black and 47.7% of White
defendants were labelled lower risk. Their notebook ("Compas Analysis", truth tables)
gives the unrounded figures: FPR 44.85 / 23.45, FNR 27.99 / 47.72.

Population and cut, found by reproducing those numbers: all 7,214 rows of
compas-scores-two-years.csv, *without* the notebook's earlier ±30-day screening filter (that
filter, 6,172 rows, gives 42.34 / 22.01 and 28.48 / 49.64 instead, checked below); "higher
risk" = score_text Medium or High = decile_score ≥ 5; truth = two_year_recid.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data" / "compas" / "compas_two_year.csv"


@pytest.fixture
def compas(tmp_path: Path) -> Path:
    shutil.copy(DATA, tmp_path / "compas.csv")
    return tmp_path / "compas.csv"


def _rates(results: dict, race: str) -> tuple[float, float]:
    g = next(g for g in results["groups"] if g["attributes"] == {"race": race})
    return (
        round(100 * g["metrics"]["false_positive_rate"]["value"], 2),
        round(100 * g["metrics"]["false_negative_rate"]["value"], 2),
    )


def test_propublica_truth_tables(cli, compas: Path) -> None:
    res = cli(
        "check",
        "--data",
        str(compas),
        "--label",
        "two_year_recid",
        "--score",
        "decile_score",
        "--threshold",
        "5",
        "--protected",
        "race",
        "--reference",
        "race=Caucasian",
        "--intervention",
        "punitive",
        "--json",
        "r.json",
    )
    assert res.exit_code in (0, 1), res.output
    results = json.loads((compas.parent / "r.json").read_text())
    assert results["n_audited"] == 7214
    assert _rates(results, "African-American") == (44.85, 27.99)
    assert _rates(results, "Caucasian") == (23.45, 47.72)
    black = next(g for g in results["groups"] if g["attributes"] == {"race": "African-American"})
    assert black["counts"] == {"tp": 1369, "fp": 805, "fn": 532, "tn": 990}
    fpr = black["disparities"]["false_positive_rate"]
    assert fpr["ratio"] == pytest.approx(0.4485 / 0.2345, rel=2e-3)
    assert fpr["ratio_ci"][0] > 1.0  # the disparity is not sampling noise
    assert fpr["p_adjusted"] < 1e-6


def test_score_text_cut_equals_decile_cut_and_filtered_population_differs(cli, compas) -> None:
    df = pd.read_csv(compas)
    assert ((df.score_text != "Low") == (df.decile_score >= 5)).all()
    filtered = df[
        (df.days_b_screening_arrest.abs() <= 30)
        & (df.is_recid != -1)
        & (df.c_charge_degree != "O")
        & (df.score_text != "N/A")
    ]
    filtered.to_csv(compas.parent / "filtered.csv", index=False)
    cli(
        "check",
        "--data",
        "filtered.csv",
        "--label",
        "two_year_recid",
        "--score",
        "decile_score",
        "--threshold",
        "5",
        "--protected",
        "race",
        "--intervention",
        "punitive",
        "--json",
        "f.json",
    )
    results = json.loads((compas.parent / "f.json").read_text())
    assert results["n_audited"] == 6172
    assert _rates(results, "African-American") == (42.34, 28.48)
    assert _rates(results, "Caucasian") == (22.01, 49.64)
