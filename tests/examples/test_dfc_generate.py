"""The synthetic Digital Family Card population: deterministic, documented, calibrated."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from .conftest import DFC


def frame_hash(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(",".join(frame.columns).encode())
    h.update(",".join(str(t) for t in frame.dtypes).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


def people_share(frame: pd.DataFrame, flag: pd.Series, mask: pd.Series | None = None) -> float:
    size = frame["household_size_true"].astype("float64")
    if mask is not None:
        size, flag = size[mask], flag[mask]
    return float((size * flag).sum() / size.sum())


def test_same_seed_same_frame(dfc: ModuleType) -> None:
    a, b = dfc.generate(5_000, 7), dfc.generate(5_000, 7)
    assert frame_hash(a) == frame_hash(b)
    pd.testing.assert_frame_equal(a, b)
    assert frame_hash(dfc.generate(5_000, 8)) != frame_hash(a)


def test_shape_and_types(dfc: ModuleType) -> None:
    f = dfc.generate(2_000, 1)
    assert len(f) == 2_000 and f["family_id"].tolist() == list(range(1, 2_001))
    assert f["region"].cat.categories.tolist() == [r.name for r in dfc.REGIONS]
    assert len(dfc.REGIONS) == 20
    for col in (
        "disability_registry",
        "lacks_utilities_registry",
        "out_of_school_registry",
        "child_disability_registry",
    ):
        assert str(f[col].dtype) == "boolean", col
    assert f["income_formal_registry"].dtype == np.float64
    assert (f["household_size_registry"] >= 1).all()
    assert (f["income_informal_registry"] == 0).all()
    assert str(f["category_true"].dtype) == "category" and f["category_true"].cat.ordered
    with pytest.raises(ValueError, match="at least 1"):
        dfc.generate(0, 1)
    assert len(dfc.generate(1, 1)) == 1


def test_every_column_is_documented(dfc: ModuleType) -> None:
    readme = (DFC / "README.md").read_text(encoding="utf-8")
    missing = [c for c in dfc.generate(10, 1).columns if f"`{c}`" not in readme]
    assert not missing, f"columns missing from README.md: {missing}"


def test_command_line_writes_parquet_and_csv(dfc: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "pop.parquet"
    assert dfc.main(["--families", "3000", "--seed", "5", "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), dfc.generate(3_000, 5))
    csv = tmp_path / "pop.csv"
    assert dfc.main(["--families", "50", "--out", str(csv)]) == 0
    assert len(pd.read_csv(csv)) == 50
    with pytest.raises(SystemExit):
        dfc.main(["--families", "0"])


def test_poverty_calibration(population: pd.DataFrame, dfc: ModuleType) -> None:
    poor = population["below_subsistence_true"]
    urban = population["settlement"] == "urban"
    overall = people_share(population, poor)
    assert 0.035 <= overall <= 0.065
    assert people_share(population, poor, ~urban) > 1.4 * people_share(population, poor, urban)
    by_region = {
        r.name: people_share(population, poor, population["region"] == r.name) for r in dfc.REGIONS
    }
    assert by_region["Turkistan"] > 2 * by_region["Astana"]
    # the calibration follows the published regional pattern within a few points
    for r in dfc.REGIONS:
        assert abs(by_region[r.name] - r.poverty_target) < 0.025, r.name
    assert (population["income_true_pc"] < dfc.SUBSISTENCE_MINIMUM).equals(poor)


def test_demography(population: pd.DataFrame, dfc: ModuleType) -> None:
    size = population["household_size_true"]
    assert 3.2 <= size.mean() <= 3.7  # Kazakhstan: about 20 million people in 6.2 million
    for r in dfc.REGIONS:
        assert abs(size[population["region"] == r.name].mean() - r.household_size) < 0.35
    assert 0.25 <= (population["settlement"] == "rural").mean() <= 0.5
    assert 0.04 <= population["newborn_true"].mean() <= 0.08
    assert population["citizenship"].value_counts(normalize=True)["citizen"] > 0.95
    single_parents = population["single_parent_true"]
    lone_mothers = (population["head_sex"] == "female")[single_parents].mean()
    assert lone_mothers > 0.75


def test_defects_are_group_dependent(population: pd.DataFrame) -> None:
    p = population
    rural = p["settlement"] == "rural"
    # livestock valued at the national standard price overstates rural herds
    herd = p["livestock_value_true"] > 0
    assert herd[~rural].sum() == 0
    assert (p["livestock_value_registry"][herd] > p["livestock_value_true"][herd]).mean() > 0.95
    # utilities are unrecorded only in villages
    assert p["lacks_utilities_registry"].isna()[~rural].sum() == 0
    assert p["lacks_utilities_registry"].isna()[rural].mean() > 0.25
    # unassessed disability is a missing record, not a "no"
    unassessed = p["disability_true"] & p["disability_registry"].isna()
    assert unassessed.sum() > 0 and not p["disability_registry"][~p["disability_true"]].any()
    # non-citizens: missing income records and children without records far more often
    noncit = p["citizenship"].isin(["resident_foreigner", "stateless"])
    no_record = p["income_formal_registry"].isna()
    assert no_record[noncit].mean() > 10 * no_record[~noncit].mean()
    missing_kids = p["n_children_registry"] < p["n_children_true"]
    assert missing_kids[noncit].mean() > 5 * missing_kids[~noncit].mean()
    # internal migrants are registered with their parents: bigger registered households
    mig = p["internal_migrant"]
    bigger = p["household_size_registry"][mig] - p["household_size_true"][mig]
    assert (bigger > 0).mean() > 0.95  # (a child without records may offset a parent)
    # phantom cars: registered but not owned
    assert (p["car_registry"] & ~p["car_true"]).mean() > 0.005
    # the SMS channel fails more for non-Kazakh speakers and for families without eGov
    kazakh = p["home_language"] == "kazakh"
    assert p["understands_sms"][~kazakh].mean() < p["understands_sms"][kazakh].mean() - 0.1
    assert (
        p["phone_registered"][~p["has_egov"]].mean() < p["phone_registered"][p["has_egov"]].mean()
    )
