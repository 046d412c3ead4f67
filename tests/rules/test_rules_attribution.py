"""Attribution on a hand-checked population of eight families.

The rules: citizens only (residence), per-capita income (registry income plus 10% of the
registered herd's value) below 100, no registered car, and a phone that reaches them.

====  =====  =========  ===========  =========  =======  =====  =====  ======  ========
fam   area   status     income r/t   herd r/t   size r/t  car r/t  phone  truly   decided
====  =====  =========  ===========  =========  =======  =====  =====  ======  ========
f1    urban  citizen    200 / 200    0 / 0      2 / 2    no/no  yes    no      income
f2    urban  citizen    300 / 100    0 / 0      2 / 2    no/no  yes    yes     income
f3    rural  citizen    100 / 100    1000 / 200 2 / 2    no/no  yes    yes     income
f4    rural  citizen    50 / 50      0 / 0      1 / 1    yes/no yes    yes     assets
f5    rural  stateless  20 / 20      0 / 0      2 / 2    no/no  yes    yes     residence
f6    urban  citizen    40 / 40      0 / 0      1 / 1    no/no  no     yes     phone
f7    urban  citizen    60 / 400     0 / 0      2 / 2    no/no  yes    no      selected
f8    rural  citizen    150 / 150    0 / 0      1 / 2    no/no  yes    yes     income
====  =====  =========  ===========  =========  =======  =====  =====  ======  ========
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairaudit.errors import InputError, SpecError
from fairaudit.rules import (
    ALL_DEFECTS,
    counterfactual_decisions,
    counterfactual_flips,
    evaluate,
    exclusion_reasons,
    flip_codes,
    normalise_swaps,
    reason_counts,
)

from .helpers import rules

MINI = """
    version: 1
    name: mini
    parameters:
      line: 100
    variables:
      income_pc: (income_reg + herd_reg * 0.1) / size_reg
    programmes:
      cash:
        eligibility:
          - {name: residence, when: "status == 'citizen'"}
          - {name: income_test, when: income_pc < line}
          - {name: asset_test, when: not car_reg}
        outreach:
          - {name: phone, when: phone}
"""

SWAPS = {
    "income_reg": "income_true",
    "herd_reg": "herd_true",
    "car_reg": "car_true",
    "size_reg": "size_true",
}


@pytest.fixture
def population() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "area": ["urban", "urban", "rural", "rural", "rural", "urban", "urban", "rural"],
            "status": ["citizen"] * 4 + ["stateless"] + ["citizen"] * 3,
            "income_reg": [200.0, 300, 100, 50, 20, 40, 60, 150],
            "income_true": [200.0, 100, 100, 50, 20, 40, 400, 150],
            "herd_reg": [0.0, 0, 1000, 0, 0, 0, 0, 0],
            "herd_true": [0.0, 0, 200, 0, 0, 0, 0, 0],
            "size_reg": [2, 2, 2, 1, 2, 1, 2, 1],
            "size_true": [2, 2, 2, 1, 2, 1, 2, 2],
            "car_reg": [False, False, False, True, False, False, False, False],
            "car_true": [False] * 8,
            "phone": [True] * 5 + [False] + [True] * 2,
            "eligible": [0, 1, 1, 1, 1, 1, 0, 1],
        }
    )


def test_deciding_stage_of_every_family(population: pd.DataFrame) -> None:
    cash = evaluate(rules(MINI), population).programmes["cash"]
    assert list(cash.deciding_stage()) == [
        "income_test",
        "income_test",
        "income_test",
        "asset_test",
        "residence",
        "phone",
        "selected",
        "income_test",
    ]
    assert cash.decision().tolist() == [0, 0, 0, 0, 0, 0, 1, 0]
    assert list(cash.deciding_stage(include_outreach=False))[5] == "selected"


def test_exclusion_reasons_per_group(population: pd.DataFrame) -> None:
    cash = evaluate(rules(MINI), population).programmes["cash"]
    out = exclusion_reasons(cash, population["eligible"], population[["area"]])
    got = {(r.area, r.stage): (r.excluded, r.share) for r in out.itertuples()}
    assert got == {
        ("rural", "residence"): (1, 0.25),
        ("rural", "income_test"): (2, 0.5),
        ("rural", "asset_test"): (1, 0.25),
        ("urban", "income_test"): (1, 0.5),
        ("urban", "phone"): (1, 0.5),
    }
    # without the channel, f6 is selected: urban exclusions are all the income test
    out = exclusion_reasons(
        cash, population["eligible"], population[["area"]], include_outreach=False
    )
    urban = out[out["area"] == "urban"]
    assert urban[["stage", "excluded", "share"]].values.tolist() == [["income_test", 1, 1.0]]
    with pytest.raises(InputError, match="the label has 3 values"):
        exclusion_reasons(cash, [1, 0, 1])


def test_reason_counts_are_additive_and_keep_unknown_groups(population: pd.DataFrame) -> None:
    cash = evaluate(rules(MINI), population).programmes["cash"]
    area = population["area"].where(population.index != 0)  # f1's area unknown
    by_area = reason_counts(cash.deciding_stage(), area)
    assert set(by_area["area"]) == {"rural", "urban", "unknown"}
    total = reason_counts(cash.deciding_stage())
    summed = by_area.groupby("stage", observed=True)["n"].sum()
    assert total.set_index("stage")["n"].to_dict() == summed.to_dict()
    assert total["n"].sum() == 8 and total["share"].sum() == pytest.approx(1.0)


def test_counterfactual_flips_per_defect_and_group(population: pd.DataFrame) -> None:
    out = counterfactual_flips(
        rules(MINI),
        population,
        SWAPS,
        programme="cash",
        groups=["area"],
        label=population["eligible"],
    )
    out = out.set_index(["defect", "area"])
    cols = ["gained", "lost", "exclusions_fixed", "inclusions_fixed", "excluded_after"]
    expect = {
        ("income_reg", "urban"): [1, 1, 1, 1, 1],  # f2 granted, f7's inclusion corrected
        ("income_reg", "rural"): [0, 0, 0, 0, 4],
        ("herd_reg", "rural"): [1, 0, 1, 0, 3],  # f3: standard herd value
        ("car_reg", "rural"): [1, 0, 1, 0, 3],  # f4: phantom car
        ("size_reg", "rural"): [1, 0, 1, 0, 3],  # f8: unrecorded member
        ("herd_reg", "urban"): [0, 0, 0, 0, 2],
        (ALL_DEFECTS, "urban"): [1, 1, 1, 1, 1],  # f6 still missed by the channel
        (ALL_DEFECTS, "rural"): [3, 0, 3, 0, 1],  # f5 still ruled out by residence
    }
    for key, want in expect.items():
        assert out.loc[key, cols].tolist() == want, key
    assert (out["exclusions_created"] == 0).all() and (out["inclusions_created"] == 0).all()
    assert out.loc[("income_reg", "urban"), "eligible"] == 2
    assert list(out.index.get_level_values("defect").categories) == [*SWAPS, ALL_DEFECTS]


def test_counterfactual_decisions_and_flip_codes(population: pd.DataFrame) -> None:
    base, after = counterfactual_decisions(
        rules(MINI),
        population,
        {"income": {"income_reg": "income_true"}},
        programme="cash",
        together=False,
    )
    assert list(after) == ["income"]
    assert flip_codes(base, after["income"]).tolist() == [0, 1, 0, 0, 0, 0, -1, 0]


def test_population_statistics_are_pinned_unless_asked() -> None:
    rs = rules("""
        version: 1
        name: relative
        parameters:
          line: 0.5 * median(income_reg)
        programmes:
          cash:
            eligibility:
              - {name: income_test, when: income_reg < line}
        """)
    frame = pd.DataFrame(
        {"income_reg": [10.0, 40, 60, 100, 200], "income_true": [10.0, 40, 60, 300, 400]}
    )
    # registry median 60 -> line 30; true median 60 too, but per family the line is held
    pinned = counterfactual_flips(rs, frame, {"income_reg": "income_true"}, programme="cash")
    assert pinned[["selected_before", "selected_after"]].values.tolist() == [[1, 1]]
    frame["income_true"] = [10.0, 40, 100, 300, 400]  # true median 100 -> line 50
    pinned = counterfactual_flips(rs, frame, {"income_reg": "income_true"}, programme="cash")
    free = counterfactual_flips(
        rs, frame, {"income_reg": "income_true"}, programme="cash", pin_parameters=False
    )
    assert pinned["selected_after"].tolist() == [1]
    assert free["selected_after"].tolist() == [2]  # 40 < 50 once the line moves


def test_swap_validation(population: pd.DataFrame) -> None:
    rs = rules(MINI)
    assert normalise_swaps({"a": "b", "d": {"x": "y"}}) == {"a": {"a": "b"}, "d": {"x": "y"}}
    with pytest.raises(SpecError, match="must map a registry column"):
        normalise_swaps({"a": 3})
    with pytest.raises(SpecError, match="the rules do not read 'area'"):
        counterfactual_flips(rs, population, {"area": "status"}, programme="cash")
    with pytest.raises(InputError, match="no column 'nope'"):
        counterfactual_flips(rs, population, {"income_reg": "nope"}, programme="cash")
    with pytest.raises(InputError, match="no group column 'region'"):
        counterfactual_flips(rs, population, SWAPS, programme="cash", groups=["region"])


def test_flips_without_groups_sum_over_everyone(population: pd.DataFrame) -> None:
    out = counterfactual_flips(rules(MINI), population, SWAPS, programme="cash", together=False)
    assert out["defect"].tolist() == list(SWAPS)
    assert out["gained"].tolist() == [1, 1, 1, 1]
    assert out["n"].unique().tolist() == [8]
    np.testing.assert_array_equal(out["lost"], [1, 0, 0, 0])
