"""A synthetic population of Kazakh families for auditing the Digital Family Card.

Each row is one family with (1) its protected attributes, (2) its TRUE circumstances,
(3) what the state REGISTRIES say about it after the documented failure modes of
registry-based targeting, and (4) the ground truth: what each programme's rules give when
applied to the true circumstances. The registry-based decision is *not* stored: the rules
engine computes it from the registry columns (``rules.yaml`` next to this file).

This file is the data's documentation: every distribution and every defect rate below is a
named, commented parameter. Nothing here is official data; see README.md for the sources
the calibration follows and for every column.

Deterministic: the same ``seed`` and ``n_families`` always give the identical frame.

Usage::

    python examples/digital_family_card/generate.py --families 200000 --seed 20240101 \\
        --out population.parquet
    python examples/digital_family_card/generate.py --families 10000000 --out big.parquet

or, from Python, ``generate(n_families, seed) -> pandas.DataFrame``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_FAMILIES", "DEFAULT_SEED", "REGIONS", "generate", "main", "tsa_poverty_line"]

DEFAULT_FAMILIES = 200_000
DEFAULT_SEED = 20240101
#: Families drawn per random stream (bounds the memory of intermediate arrays).
BLOCK_SIZE = 500_000

# ========================================================================================
# Money (2024, KZT per month unless said otherwise)
# ========================================================================================

#: Subsistence minimum per person, 2024 (law on the republican budget).
SUBSISTENCE_MINIMUM = 43_407.0
#: TSA poverty line: max(35% of the median per-capita income, 70% of the subsistence
#: minimum) — MLSP order No. 160 of 19 May 2023 as amended by order No. 473 (Dec 2024).
TSA_MEDIAN_SHARE = 0.35
TSA_SUBSISTENCE_SHARE = 0.70
#: Livestock counts as income: this share of the herd's value per year (an imputed yield).
LIVESTOCK_INCOME_RATE = 0.25
#: Registries value livestock at one national standard price per cattle unit ...
LIVESTOCK_STANDARD_PRICE = 600_000.0
#: ... while herds actually sell for a local price (this, times the region's price index).
LIVESTOCK_LOCAL_PRICE = 260_000.0
#: Living area below this many m² per person counts as overcrowded.
OVERCROWDING_M2 = 9.0
#: A car counts as affluence (caps the category at B) with income >= this × subsistence min.
AFFLUENCE_MULTIPLE = 2.0

# Earnings: log-normal, median × the region's income index × the settlement factor.
FORMAL_WAGE_MEDIAN = 465_000.0  # one formally employed adult
FORMAL_WAGE_SIGMA = 0.40
INFORMAL_EARNINGS_MEDIAN = 233_000.0  # one informally working adult (cash, no contributions)
INFORMAL_EARNINGS_SIGMA = 0.5
RURAL_EARNINGS_FACTOR = 0.89  # rural earnings relative to urban in the same region
PENSION_MEDIAN = 118_000.0  # per pensioner (basic + solidary + funded)
PENSION_SIGMA = 0.22
PENSION_FLOOR = 62_000.0
DISABILITY_PENSION = 72_000.0  # paid only for an ASSESSED (registered) disability

# ========================================================================================
# Regions: 17 oblasts and the 3 cities of republican significance
# ========================================================================================


@dataclass(frozen=True)
class Region:
    """One region's parameters.

    population_k: residents, thousands (start of 2024, rounded).
    household_size: target mean household size (drives the fertility multiplier).
    fertility: multiplier of the expected number of children (calibrated so the mean
        household size lands near ``household_size``).
    urban: share of families living in towns.
    income_index: earnings relative to the national level, calibrated so that the share of
        people below the subsistence minimum follows ``poverty_target``.
    poverty_target: share of people below the subsistence minimum the calibration aims at
        (BNS Q3 2024 where published, otherwise set between published neighbours).
    price_index: local livestock prices relative to the national local price.
    kandas, foreign: shares of families headed by a kandas (ethnic-Kazakh returnee without
        citizenship yet) and by a resident foreigner; stateless families are rarer
        (``STATELESS_SHARE``) everywhere.
    south: pastoral south (more livestock, more multi-generation households).
    """

    name: str
    population_k: float
    household_size: float
    fertility: float
    urban: float
    income_index: float
    poverty_target: float
    price_index: float
    kandas: float
    foreign: float
    south: bool


# fmt: off
REGIONS: tuple[Region, ...] = (
    #      name              pop_k  hh   fert  urban income poverty price kandas foreign south
    Region("Abai",               607, 3.1, 1.00, 0.58, 0.583, 0.086, 0.90, 0.012, 0.006, False),
    Region("Akmola",             785, 2.9, 0.85, 0.50, 0.820, 0.050, 0.95, 0.008, 0.006, False),
    Region("Aktobe",             930, 3.5, 1.32, 0.66, 1.081, 0.045, 1.00, 0.012, 0.006, False),
    Region("Almaty Region",     1520, 3.8, 1.48, 0.27, 1.181, 0.055, 1.00, 0.020, 0.010, True),
    Region("Atyrau",             700, 4.0, 1.72, 0.52, 1.767, 0.036, 1.10, 0.015, 0.006, False),
    Region("East Kazakhstan",    728, 2.7, 0.72, 0.66, 0.691, 0.050, 0.95, 0.004, 0.005, False),
    Region("Zhambyl",           1215, 4.0, 1.68, 0.41, 0.908, 0.081, 0.90, 0.014, 0.010, True),
    Region("Zhetysu",            697, 3.6, 1.38, 0.45, 0.920, 0.065, 0.90, 0.016, 0.006, True),
    Region("West Kazakhstan",    690, 3.3, 1.15, 0.52, 0.880, 0.055, 1.00, 0.008, 0.006, False),
    Region("Karaganda",         1130, 2.8, 0.80, 0.82, 0.977, 0.033, 1.00, 0.004, 0.005, False),
    Region("Kostanay",           830, 2.7, 0.72, 0.57, 0.783, 0.045, 0.95, 0.003, 0.005, False),
    Region("Kyzylorda",          830, 4.3, 1.95, 0.46, 1.144, 0.065, 0.90, 0.012, 0.004, True),
    Region("Mangystau",          770, 4.3, 1.98, 0.42, 1.002, 0.080, 1.05, 0.045, 0.008, False),
    Region("Pavlodar",           750, 2.7, 0.72, 0.71, 0.812, 0.040, 1.00, 0.004, 0.005, False),
    Region("North Kazakhstan",   530, 2.6, 0.66, 0.45, 0.638, 0.060, 0.90, 0.003, 0.004, False),
    Region("Turkistan",         2110, 4.8, 2.30, 0.20, 1.120, 0.093, 0.85, 0.030, 0.015, True),
    Region("Ulytau",             222, 3.2, 1.12, 0.80, 1.019, 0.040, 0.95, 0.004, 0.004, False),
    Region("Astana",            1420, 3.3, 1.25, 1.00, 1.374, 0.028, 1.00, 0.006, 0.012, False),
    Region("Almaty",            2230, 3.0, 0.95, 1.00, 0.900, 0.035, 1.00, 0.006, 0.025, False),
    Region("Shymkent",          1220, 4.2, 2.05, 1.00, 0.863, 0.065, 0.90, 0.012, 0.020, True),
)

#: Families by ethnicity in each region: kazakh, russian, uzbek, uyghur, other.
ETHNIC_MIX: dict[str, tuple[float, float, float, float, float]] = {
    "Abai":              (0.84, 0.13, 0.00, 0.00, 0.03),
    "Akmola":            (0.53, 0.32, 0.00, 0.00, 0.15),
    "Aktobe":            (0.88, 0.07, 0.00, 0.00, 0.05),
    "Almaty Region":     (0.70, 0.09, 0.00, 0.09, 0.12),
    "Atyrau":            (0.93, 0.04, 0.00, 0.00, 0.03),
    "East Kazakhstan":   (0.50, 0.46, 0.00, 0.00, 0.04),
    "Zhambyl":           (0.75, 0.08, 0.02, 0.01, 0.14),
    "Zhetysu":           (0.76, 0.10, 0.00, 0.06, 0.08),
    "West Kazakhstan":   (0.80, 0.16, 0.00, 0.00, 0.04),
    "Karaganda":         (0.53, 0.34, 0.00, 0.00, 0.13),
    "Kostanay":          (0.44, 0.39, 0.00, 0.00, 0.17),
    "Kyzylorda":         (0.96, 0.02, 0.00, 0.00, 0.02),
    "Mangystau":         (0.92, 0.05, 0.00, 0.00, 0.03),
    "Pavlodar":          (0.53, 0.34, 0.00, 0.00, 0.13),
    "North Kazakhstan":  (0.38, 0.50, 0.00, 0.00, 0.12),
    "Turkistan":         (0.73, 0.01, 0.21, 0.00, 0.05),
    "Ulytau":            (0.80, 0.14, 0.00, 0.00, 0.06),
    "Astana":            (0.80, 0.12, 0.01, 0.00, 0.07),
    "Almaty":            (0.60, 0.25, 0.01, 0.06, 0.08),
    "Shymkent":          (0.65, 0.07, 0.20, 0.00, 0.08),
}
# fmt: on

ETHNICITIES = ("kazakh", "russian", "uzbek", "uyghur", "other")
LANGUAGES = ("kazakh", "russian", "uzbek", "uyghur", "other")
CITIZENSHIP = ("citizen", "kandas", "resident_foreigner", "stateless")
#: Share of families whose head is stateless (everywhere).
STATELESS_SHARE = 0.003
#: Resident-foreign heads are rarer among ethnic Kazakhs: region rate × (kazakh, others).
FOREIGN_ETHNIC_FACTOR = (0.4, 2.5)

#: Home language by ethnicity: P(kazakh, russian, uzbek, uyghur, other), urban / rural.
HOME_LANGUAGE = {
    "kazakh": ((0.68, 0.32, 0.0, 0.0, 0.0), (0.94, 0.06, 0.0, 0.0, 0.0)),
    "russian": ((0.01, 0.99, 0.0, 0.0, 0.0), (0.03, 0.97, 0.0, 0.0, 0.0)),
    "uzbek": ((0.08, 0.17, 0.75, 0.0, 0.0), (0.08, 0.07, 0.85, 0.0, 0.0)),
    "uyghur": ((0.08, 0.32, 0.0, 0.60, 0.0), (0.10, 0.15, 0.0, 0.75, 0.0)),
    "other": ((0.05, 0.80, 0.0, 0.0, 0.15), (0.08, 0.62, 0.0, 0.0, 0.30)),
}

# ========================================================================================
# Families
# ========================================================================================

#: Head's age bands and their shares: 18–29, 30–44, 45–62, 63–89.
AGE_BANDS = ((18, 30), (30, 45), (45, 63), (63, 90))
AGE_BAND_SHARES = (0.15, 0.34, 0.30, 0.21)
#: Probability the head lives with a spouse/partner, by age band.
PARTNER_BY_AGE = (0.64, 0.82, 0.76, 0.50)
#: Expected number of minor children by head's age band (× region fertility).
CHILDREN_BY_AGE = (0.85, 1.85, 1.0, 0.06)
RURAL_FERTILITY = 1.20  # rural families have more children
LONE_HEAD_FERTILITY = 0.65  # heads without a partner have fewer children
MAX_CHILDREN = 10
#: Other adults (grown children, relatives) by age band, × sqrt(fertility).
EXTRA_ADULTS_BY_AGE = (0.12, 0.16, 0.50, 0.25)
#: Co-resident elderly parents of heads under 45: probability, × sqrt(fertility), × the rural
#: factor; both parents with this probability.
CORESIDENT_ELDERLY = 0.09
CORESIDENT_RURAL_FACTOR = 1.4
CORESIDENT_TWO_ELDERS = 0.4
#: Probability the head is a woman: in a couple, lone parent, elderly alone, other alone.
HEAD_FEMALE = {"couple": 0.08, "lone_parent": 0.82, "elderly_alone": 0.66, "other_alone": 0.42}
#: Share of preschool-age (1–5) children among a family's children, by head's age band.
PRESCHOOL_SHARE = (0.70, 0.38, 0.12, 0.05)
#: Probability of a birth in the last 12 months (families with children, head under 45).
NEWBORN_BY_AGE = (0.24, 0.13)

#: Disability: any adult member (base + per elderly member + rural), any child.
ADULT_DISABILITY_BASE = 0.045
ADULT_DISABILITY_PER_ELDERLY = 0.055
ADULT_DISABILITY_RURAL = 0.015
CHILD_DISABILITY = 0.030

# Work. Probability a working-age adult works, by role (urban, rural).
EMPLOYMENT_HEAD = (0.93, 0.90)
EMPLOYMENT_HEAD_YOUNG = 0.84  # head under 25
EMPLOYMENT_HEAD_LONE_PARENT = 0.86
EMPLOYMENT_PARTNER = (0.70, 0.62)
EMPLOYMENT_PARTNER_YOUNG_CHILD = 0.50  # with a newborn or a preschool child
EMPLOYMENT_EXTRA_ADULT = 0.48
EMPLOYMENT_DISABLED_FAMILY = 0.85  # multiplier when an adult member is disabled
#: Share of workers working informally (cash, no pension contributions): urban, rural;
#: extra for non-citizens (no IIN-based employment contract).
INFORMAL_SHARE = (0.11, 0.27)
INFORMAL_NONCITIZEN_EXTRA = 0.35
#: Private transfers (relatives, remittances, odd jobs; invisible to registries): families
#: where nobody works always get some (median per member), others with this probability
#: (median per family).
PRIVATE_TRANSFERS_NO_EARNER = 24_000.0
PRIVATE_TRANSFERS_SHARE = 0.25
PRIVATE_TRANSFERS_MEDIAN = 30_000.0
PRIVATE_TRANSFERS_SIGMA = 0.6
#: Own production and in-kind income per member (garden produce, help in kind), which the
#: statistical poverty measure counts but no registry sees: urban, rural median, sigma.
#: Livestock owners' own production is their herd's yield instead (LIVESTOCK_INCOME_RATE).
IN_KIND_PER_MEMBER = (6_000.0, 9_000.0)
IN_KIND_SIGMA = 0.4

# Assets and living conditions
LIVESTOCK_OWNERSHIP = (0.42, 0.56)  # rural families owning livestock: north, south
LIVESTOCK_HERD_MEAN = 4.0  # extra cattle units above one (Poisson)
HOME_OWNERSHIP = (0.80, 0.93)  # urban, rural
HOME_OWNERSHIP_YOUNG_URBAN = 0.48  # urban heads under 30
MIGRANT_HOME_OWNERSHIP = 0.15  # internal migrants mostly rent
LIVING_AREA_MEDIAN = (55.0, 78.0)  # m², urban, rural
LIVING_AREA_SIGMA = 0.35
RENTER_AREA_FACTOR = 0.72
LIVING_AREA_MIN = 12.0  # m²
LACKS_UTILITIES = (0.05, 0.45)  # no central water or heating: urban, rural
LACKS_UTILITIES_POOR_FACTOR = 1.3
PRESCHOOL_GAP = (0.24, 0.38)  # preschool child without a kindergarten place: urban, rural
OUT_OF_SCHOOL = 0.012  # a school-age child not enrolled ...
OUT_OF_SCHOOL_FACTORS = (3.0, 5.0)  # ... × for the poor, × for migrants and non-citizens
LOW_EDUCATION = (0.18, 0.33)  # no adult with vocational or higher education: urban, rural
LOW_EDUCATION_FACTORS = (1.5, 1.3)  # × for non-citizens and Uzbek families, × elderly heads
SOCIAL_RISK = 0.010  # registered social risk ...
SOCIAL_RISK_FACTORS = (3.0, 2.0)  # ... × for the poor, × for lone parents
#: A member without compulsory health insurance: base + informal worker + nobody earning +
#: non-citizen, capped.
UNINSURED = {
    "base": 0.04,
    "informal_worker": 0.55,
    "no_earner": 0.25,
    "noncitizen": 0.6,
    "cap": 0.95,
}
EMERGENCY = 0.003  # registered emergency in the last 3 months (fire, flood, death)
#: Car ownership: logistic in log(per-capita income / this reference).
CAR_REFERENCE_INCOME = 95_000.0
CAR_INTERCEPT = -0.55
CAR_SLOPE = 1.5

# ========================================================================================
# Registry defects (the failure modes of registry-based targeting)
# ========================================================================================

#: Stale income: a worker who lost a formal job in the last 6 months still shows the old
#: wage (contribution records lag): probability for a non-working adult, under 30 / 30+.
RECENT_JOB_LOSS = (0.10, 0.05)
#: ... and a recently hired worker does not show yet.
NEW_JOB_UNSEEN = 0.04
#: No income records at all (income fields missing), by citizenship status.
NO_INCOME_RECORD = {"citizen": 0.003, "kandas": 0.15, "resident_foreigner": 0.30, "stateless": 0.60}
#: Phantom asset: a car sold (often by power of attorney) but still registered to the
#: family: probability for a family without a car, urban / rural; × the factor for the poor.
PHANTOM_CAR = (0.020, 0.035)
PHANTOM_CAR_POOR_FACTOR = 1.5
#: A car the family owns but that is registered to someone else (invisible).
CAR_REGISTERED_ELSEWHERE = 0.05
#: Livestock registry: animals sold or dead still on the veterinary register (Poisson mean).
STALE_LIVESTOCK = 1.0
#: Internal migrants registered at their parents' (rural) address: probability for urban
#: families in the three cities / elsewhere; × MIGRANT_AGE_FACTOR.
MIGRANT_CITIES = {"Astana": 0.10, "Almaty": 0.08, "Shymkent": 0.06}
MIGRANT_OTHER_URBAN = 0.02
MIGRANT_AGE_FACTOR = (1.5, 0.4)  # heads under 45, others
MIGRANT_TWO_PARENTS = 0.6  # both parents are registered there (else one)
MIGRANT_PARENTS_HOUSE_AREA = 80.0
#: Separated parents: the ex-partner is still registered with the family (lone parents).
SEPARATED_STILL_REGISTERED = 0.30
EX_PARTNER_FORMAL_EMPLOYMENT = 0.60
#: Children without records (birth abroad, home birth, not registered at the address):
#: per child, by citizenship; citizens urban / rural.
CHILD_UNRECORDED = {
    "citizen": (0.006, 0.012),
    "kandas": 0.15,
    "resident_foreigner": 0.12,
    "stateless": 0.35,
}
NEWBORN_UNRECORDED = {
    "citizen": 0.03,
    "kandas": 0.20,
    "resident_foreigner": 0.25,
    "stateless": 0.50,
}
#: Disability assessed by the medical-social expertise (else no record): adult urban/rural,
#: child urban/rural; × the factor for non-citizens and kandas.
DISABILITY_ASSESSED = ((0.84, 0.72), (0.88, 0.76))
DISABILITY_ASSESSED_NONCITIZEN = 0.7
#: A member without a recent health screening record (disability field missing even
#: without disability): urban, rural, migrants, non-citizens.
NO_SCREENING_RECORD = (0.07, 0.13, 0.30, 0.45)
#: Utilities not in any provider's database (private wells, coal stoves): rural only.
UTILITIES_UNRECORDED_RURAL = 0.35

# ========================================================================================
# The SMS channel
# ========================================================================================

EGOV = (0.86, 0.66)  # eGov account: urban, rural
EGOV_ELDERLY_FACTOR = 0.55  # head 63+
EGOV_NONCITIZEN_FACTOR = 0.35
#: The family has a working mobile phone: base, ×factor for heads 75+, ×factor for the poor.
HAS_PHONE = 0.985
HAS_PHONE_ELDERLY_FACTOR = 0.85
HAS_PHONE_POOR_FACTOR = 0.99
#: A mobile number registered to the head's IIN (the channel's address): with / without eGov.
PHONE_REGISTERED = (0.985, 0.86)
PHONE_REGISTERED_ELDERLY_FACTOR = 0.90  # head 75+
PHONE_REGISTERED_NONCITIZEN = 0.55
#: The registered number is still the family's (not changed or lost): base, poor.
PHONE_ACTIVE = (0.98, 0.965)
#: SMS language: Kazakh unless the family set Russian in eGov (share of Russian speakers
#: with eGov who did, and of other-language speakers with eGov).
SMS_RUSSIAN_PREFERENCE = (0.90, 0.50)
#: Someone in the family reads the SMS language when it is not the home language.
READS_KAZAKH = {"russian": 0.65, "uzbek": 0.70, "uyghur": 0.65, "other": 0.50}
READS_RUSSIAN = {"kazakh": 0.92, "uzbek": 0.75, "uyghur": 0.85, "other": 0.80}
#: Replies "yes" in time to an SMS it received and understood: base, head 63+, no eGov.
REPLIES = (0.97, 0.90, 0.95)

# ========================================================================================
# The scoring reconstruction (mirrors rules.yaml; used only for the ground truth)
# ========================================================================================

DIMENSION_WEIGHT = 0.2
#: Category lower bounds: A well-off ... E emergency.
CATEGORY_CODES = ("A", "B", "C", "D", "E")
CATEGORY_FROM = (0.0, 0.12, 0.25, 0.40, 0.55)


# ========================================================================================
# generation
# ========================================================================================


def _lognormal(
    rng: np.random.Generator, median: np.ndarray | float, sigma: float, size: tuple[int, ...] | int
) -> np.ndarray:
    return np.asarray(median) * np.exp(sigma * rng.standard_normal(size))


def _choice(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row from a row-wise categorical distribution (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _weighted_lower_median(x: np.ndarray, w: np.ndarray) -> float:
    # the smallest value whose cumulative weight reaches half the total (no interpolation)
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    idx = int(np.searchsorted(cw, 0.5 * cw[-1], side="left"))
    return float(x[order][min(idx, len(x) - 1)])


def _cat(values: np.ndarray, labels: tuple[str, ...] | list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(values.astype("int16"), categories=list(labels))


def _nullable(values: np.ndarray, missing: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(values.astype(bool), missing.astype(bool))


def generate(n_families: int = DEFAULT_FAMILIES, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Generate the synthetic population.

    Parameters
    ----------
    n_families
        Number of families (rows). Kazakhstan has about 6.2 million.
    seed
        Random seed; the same seed and size always give the identical frame.

    Returns
    -------
    pandas.DataFrame
        One row per family; README.md documents every column.
    """
    if n_families < 1:
        raise ValueError("n_families must be at least 1")
    n_families = int(n_families)
    # Families are drawn in blocks with independent random streams, which keeps the memory
    # of the intermediate arrays bounded at any size (10 million families: ~3.5 GB peak).
    sizes = [BLOCK_SIZE] * (n_families // BLOCK_SIZE)
    if n_families % BLOCK_SIZE:
        sizes.append(n_families % BLOCK_SIZE)
    streams = np.random.SeedSequence(seed).spawn(len(sizes))
    blocks = [
        _block(np.random.default_rng(stream), size, first_id=1 + k * BLOCK_SIZE)
        for k, (stream, size) in enumerate(zip(streams, sizes, strict=True))
    ]
    frame = blocks[0] if len(blocks) == 1 else pd.concat(blocks, ignore_index=True)
    del blocks

    # The TSA line is computed from the whole card's (registry) data, so the TSA truth is
    # settled once every block is drawn: level B or worse, true per-capita income below the
    # line, no car. The citizenship rule of rules.yaml is not applied: the law entitles
    # resident foreigners and stateless residents too; it is the proxy under audit.
    line = tsa_poverty_line(
        frame["income_formal_registry"].to_numpy(),
        frame["income_informal_registry"].to_numpy(),
        frame["livestock_value_registry"].to_numpy(),
        frame["household_size_registry"].to_numpy(dtype="float64"),
    )
    tsa = (
        (frame["category_true"].cat.codes.to_numpy() >= CATEGORY_CODES.index("B"))
        & (frame["income_true_pc"].to_numpy() < line)
        & ~frame["car_true"].to_numpy()
    )
    unconditional = frame["working_age_adults_true"].to_numpy() == 0
    at = frame.columns.get_loc("category_true") + 1
    frame.insert(at, "tsa_eligible_true", tsa)
    frame.insert(
        at + 1,
        "tsa_kind_true",
        pd.Categorical.from_codes(
            np.where(tsa, np.where(unconditional, 0, 1), -1).astype("int16"),
            categories=["unconditional", "conditional"],
        ),
    )
    return frame


def _block(rng: np.random.Generator, n: int, first_id: int) -> pd.DataFrame:
    """``n`` families from one random stream: everything but the TSA truth."""

    # --- geography ---------------------------------------------------------------------
    weights = np.array([r.population_k / r.household_size for r in REGIONS])
    region = rng.choice(len(REGIONS), size=n, p=weights / weights.sum())
    urban_share = np.array([r.urban for r in REGIONS])[region]
    rural = rng.random(n) >= urban_share
    south = np.array([r.south for r in REGIONS])[region]
    fert = np.array([r.fertility for r in REGIONS])[region]
    income_index = np.array([r.income_index for r in REGIONS])[region]
    price_index = np.array([r.price_index for r in REGIONS])[region]

    # --- ethnicity, language, citizenship ----------------------------------------------
    ethnic_p = np.array([ETHNIC_MIX[r.name] for r in REGIONS], dtype="float64")
    ethnic_p /= ethnic_p.sum(axis=1, keepdims=True)
    ethnicity = _choice(rng, ethnic_p[region])
    lang_p = np.zeros((n, len(LANGUAGES)))
    for e, name in enumerate(ETHNICITIES):
        urban_p, rural_p = HOME_LANGUAGE[name]
        m = ethnicity == e
        lang_p[m] = np.where(rural[m, None], rural_p, urban_p)
    home_language = _choice(rng, lang_p)

    kandas_p = np.array([r.kandas for r in REGIONS])[region] * (ethnicity == 0)
    foreign_p = np.array([r.foreign for r in REGIONS])[region] * np.where(
        ethnicity == 0, FOREIGN_ETHNIC_FACTOR[0], FOREIGN_ETHNIC_FACTOR[1]
    )
    u = rng.random(n)
    citizenship = np.zeros(n, dtype="int8")  # citizen
    citizenship[u < kandas_p] = 1
    citizenship[(u >= kandas_p) & (u < kandas_p + foreign_p)] = 2
    citizenship[(u >= kandas_p + foreign_p) & (u < kandas_p + foreign_p + STATELESS_SHARE)] = 3
    noncitizen = citizenship >= 2

    # --- family composition ------------------------------------------------------------
    band = rng.choice(4, size=n, p=np.array(AGE_BAND_SHARES) / sum(AGE_BAND_SHARES))
    lo = np.array([b[0] for b in AGE_BANDS])[band]
    hi = np.array([b[1] for b in AGE_BANDS])[band]
    head_age = (lo + np.floor(rng.random(n) * (hi - lo))).astype("int16")
    partner = rng.random(n) < np.array(PARTNER_BY_AGE)[band]
    lam = (
        np.array(CHILDREN_BY_AGE)[band]
        * fert
        * np.where(rural, RURAL_FERTILITY, 1.0)
        * np.where(partner, 1.0, LONE_HEAD_FERTILITY)
    )
    n_children = np.minimum(rng.poisson(lam), MAX_CHILDREN).astype("int16")
    has_children = n_children > 0
    extra_adults = np.minimum(
        rng.poisson(np.array(EXTRA_ADULTS_BY_AGE)[band] * np.sqrt(fert)), 3
    ).astype("int16")
    p_elder = (
        CORESIDENT_ELDERLY
        * np.sqrt(fert)
        * np.where(rural, CORESIDENT_RURAL_FACTOR, 1.0)
        * (band <= 1)
    )
    has_elders = rng.random(n) < p_elder
    coresident_elderly = (has_elders * (1 + (rng.random(n) < CORESIDENT_TWO_ELDERS))).astype(
        "int16"
    )
    head_elderly = band == 3
    n_elderly = (coresident_elderly + head_elderly * (1 + partner)).astype("int16")
    working_age = ((~head_elderly) * (1 + partner) + extra_adults).astype("int16")
    household_size = (1 + partner + n_children + extra_adults + coresident_elderly).astype("int16")
    single_parent = has_children & ~partner
    female_p = np.where(
        partner,
        HEAD_FEMALE["couple"],
        np.where(
            has_children,
            HEAD_FEMALE["lone_parent"],
            np.where(head_elderly, HEAD_FEMALE["elderly_alone"], HEAD_FEMALE["other_alone"]),
        ),
    )
    head_female = rng.random(n) < female_p
    newborn_p = np.where(band == 0, NEWBORN_BY_AGE[0], np.where(band == 1, NEWBORN_BY_AGE[1], 0.0))
    newborn = has_children & (rng.random(n) < newborn_p)
    preschool_p = np.array(PRESCHOOL_SHARE)[band]
    n_preschool = rng.binomial(np.maximum(n_children - newborn, 0), preschool_p)
    n_school = (n_children - newborn - n_preschool).astype("int16")

    # --- health ------------------------------------------------------------------------
    adult_dis_p = (
        ADULT_DISABILITY_BASE
        + ADULT_DISABILITY_PER_ELDERLY * n_elderly
        + ADULT_DISABILITY_RURAL * rural
    )
    adult_disability = rng.random(n) < adult_dis_p
    child_disability = has_children & (rng.random(n) < CHILD_DISABILITY)
    disability = adult_disability | child_disability
    assess_factor = np.where(noncitizen | (citizenship == 1), DISABILITY_ASSESSED_NONCITIZEN, 1.0)
    adult_assessed = (
        rng.random(n)
        < np.where(rural, DISABILITY_ASSESSED[0][1], DISABILITY_ASSESSED[0][0]) * assess_factor
    )
    child_assessed = (
        rng.random(n)
        < np.where(rural, DISABILITY_ASSESSED[1][1], DISABILITY_ASSESSED[1][0]) * assess_factor
    )
    adult_dis_reg = adult_disability & adult_assessed
    child_dis_reg = child_disability & child_assessed

    # --- work and income (up to 5 working-age slots: head, partner, 3 others) -------------
    slots = np.zeros((n, 5), dtype=bool)
    slots[:, 0] = ~head_elderly
    slots[:, 1] = partner & ~head_elderly
    for j in range(3):
        slots[:, 2 + j] = extra_adults > j
    p_work = np.zeros((n, 5))
    p_work[:, 0] = np.where(rural, EMPLOYMENT_HEAD[1], EMPLOYMENT_HEAD[0])
    p_work[head_age < 25, 0] = EMPLOYMENT_HEAD_YOUNG
    p_work[single_parent, 0] = EMPLOYMENT_HEAD_LONE_PARENT
    young_child = newborn | (n_preschool > 0)
    p_work[:, 1] = np.where(
        young_child,
        EMPLOYMENT_PARTNER_YOUNG_CHILD,
        np.where(rural, EMPLOYMENT_PARTNER[1], EMPLOYMENT_PARTNER[0]),
    )
    p_work[:, 2:] = EMPLOYMENT_EXTRA_ADULT
    p_work *= np.where(adult_disability, EMPLOYMENT_DISABLED_FAMILY, 1.0)[:, None]
    works = slots & (rng.random((n, 5)) < p_work)
    informal_p = np.where(
        rural, INFORMAL_SHARE[1], INFORMAL_SHARE[0]
    ) + INFORMAL_NONCITIZEN_EXTRA * (noncitizen | (citizenship == 1))
    informal = works & (rng.random((n, 5)) < informal_p[:, None])
    formal = works & ~informal
    settle = np.where(rural, RURAL_EARNINGS_FACTOR, 1.0) * income_index
    wage = _lognormal(rng, (FORMAL_WAGE_MEDIAN * settle)[:, None], FORMAL_WAGE_SIGMA, (n, 5))
    cash = _lognormal(
        rng, (INFORMAL_EARNINGS_MEDIAN * settle)[:, None], INFORMAL_EARNINGS_SIGMA, (n, 5)
    )
    wage = np.round(wage)
    cash = np.round(cash)
    pensions = np.round(
        np.maximum(_lognormal(rng, PENSION_MEDIAN, PENSION_SIGMA, (n, 4)), PENSION_FLOOR)
    )
    pension_total = (pensions * (np.arange(4)[None, :] < n_elderly[:, None])).sum(axis=1)
    disability_pension = DISABILITY_PENSION * adult_dis_reg
    income_formal_true = (wage * formal).sum(axis=1) + pension_total + disability_pension
    earners_true = works.sum(axis=1).astype("int16")
    # livestock: own production of its owners (registries value it at a standard price)
    owns_livestock = rural & (
        rng.random(n) < np.where(south, LIVESTOCK_OWNERSHIP[1], LIVESTOCK_OWNERSHIP[0])
    )
    herd_true = owns_livestock * (1 + rng.poisson(LIVESTOCK_HERD_MEAN, n))
    herd_registry = np.where(owns_livestock, herd_true + rng.poisson(STALE_LIVESTOCK, n), 0)
    livestock_value_true = herd_true * np.round(LIVESTOCK_LOCAL_PRICE * price_index)
    livestock_value_registry = herd_registry * LIVESTOCK_STANDARD_PRICE
    gets_transfer = (earners_true == 0) | (rng.random(n) < PRIVATE_TRANSFERS_SHARE)
    transfer = (
        np.round(
            _lognormal(
                rng,
                np.where(
                    earners_true == 0,
                    PRIVATE_TRANSFERS_NO_EARNER * household_size,
                    PRIVATE_TRANSFERS_MEDIAN,
                ),
                PRIVATE_TRANSFERS_SIGMA,
                n,
            )
        )
        * gets_transfer
    )
    in_kind = (
        np.round(
            _lognormal(
                rng, np.where(rural, IN_KIND_PER_MEMBER[1], IN_KIND_PER_MEMBER[0]), IN_KIND_SIGMA, n
            )
            * household_size
        )
        * ~owns_livestock
    )
    income_informal_true = (cash * informal).sum(axis=1) + transfer + in_kind

    # stale records: recent job losers still show their wage; new hires do not show yet
    young_slot = np.zeros((n, 5), dtype=bool)
    young_slot[:, 0] = head_age < 30
    young_slot[:, 2:] = True  # grown children and young relatives
    loss_p = np.where(young_slot, RECENT_JOB_LOSS[0], RECENT_JOB_LOSS[1])
    lost_job = slots & ~works & (rng.random((n, 5)) < loss_p)
    unseen = formal & (rng.random((n, 5)) < NEW_JOB_UNSEEN)
    seen_wage = formal & ~unseen | lost_job
    income_formal_seen = (wage * seen_wage).sum(axis=1) + pension_total + disability_pension
    earners_seen = seen_wage.sum(axis=1).astype("int16")

    # --- assets ------------------------------------------------------------------------
    hh = household_size.astype("float64")
    income_true = (
        income_formal_true
        + income_informal_true
        + livestock_value_true * LIVESTOCK_INCOME_RATE / 12
    )
    income_true_pc = income_true / hh
    poor = income_true_pc < SUBSISTENCE_MINIMUM

    car_p = 1.0 / (
        1.0
        + np.exp(
            -(
                CAR_INTERCEPT
                + CAR_SLOPE * np.log(np.maximum(income_true_pc, 1.0) / CAR_REFERENCE_INCOME)
            )
        )
    )
    car_true = rng.random(n) < car_p
    phantom_p = np.where(rural, PHANTOM_CAR[1], PHANTOM_CAR[0]) * np.where(
        poor, PHANTOM_CAR_POOR_FACTOR, 1.0
    )
    car_registry = np.where(
        car_true, rng.random(n) >= CAR_REGISTERED_ELSEWHERE, rng.random(n) < phantom_p
    )

    young = head_age < 30
    owns_home_p = np.where(
        rural, HOME_OWNERSHIP[1], np.where(young, HOME_OWNERSHIP_YOUNG_URBAN, HOME_OWNERSHIP[0])
    )
    # internal migrants (decided here: they rent far more often)
    migrant_p = (
        np.array([MIGRANT_CITIES.get(r.name, MIGRANT_OTHER_URBAN) for r in REGIONS])[region]
        * ~rural
        * np.where(head_age < 45, MIGRANT_AGE_FACTOR[0], MIGRANT_AGE_FACTOR[1])
        * (citizenship == 0)
    )
    migrant = rng.random(n) < migrant_p
    owns_home_p = np.where(migrant, MIGRANT_HOME_OWNERSHIP, owns_home_p)
    owns_dwelling_true = rng.random(n) < owns_home_p
    area = _lognormal(
        rng, np.where(rural, LIVING_AREA_MEDIAN[1], LIVING_AREA_MEDIAN[0]), LIVING_AREA_SIGMA, n
    ) * np.where(owns_dwelling_true, 1.0, RENTER_AREA_FACTOR)
    living_area_true = np.round(np.maximum(area, LIVING_AREA_MIN))
    lacks_utilities_true = rng.random(n) < np.where(
        rural, LACKS_UTILITIES[1], LACKS_UTILITIES[0]
    ) * np.where(poor, LACKS_UTILITIES_POOR_FACTOR, 1.0)

    # --- education and social ------------------------------------------------------------
    oos_p = (
        OUT_OF_SCHOOL
        * np.where(poor, OUT_OF_SCHOOL_FACTORS[0], 1.0)
        * np.where(migrant | noncitizen, OUT_OF_SCHOOL_FACTORS[1], 1.0)
    )
    out_of_school_true = (n_school > 0) & (rng.random(n) < oos_p)
    preschool_gap = (n_preschool > 0) & (
        rng.random(n) < np.where(rural, PRESCHOOL_GAP[1], PRESCHOOL_GAP[0])
    )
    low_edu_p = (
        np.where(rural, LOW_EDUCATION[1], LOW_EDUCATION[0])
        * np.where(noncitizen | (ethnicity == 2), LOW_EDUCATION_FACTORS[0], 1.0)
        * np.where(head_elderly, LOW_EDUCATION_FACTORS[1], 1.0)
    )
    adult_low_education = rng.random(n) < low_edu_p
    any_informal = informal.any(axis=1)
    uninsured_p = np.minimum(
        UNINSURED["base"]
        + UNINSURED["informal_worker"] * any_informal
        + UNINSURED["no_earner"] * ((earners_true == 0) & (working_age > 0))
        + UNINSURED["noncitizen"] * noncitizen,
        UNINSURED["cap"],
    )
    uninsured_member = rng.random(n) < uninsured_p
    social_risk = rng.random(n) < SOCIAL_RISK * np.where(
        poor, SOCIAL_RISK_FACTORS[0], 1.0
    ) * np.where(single_parent, SOCIAL_RISK_FACTORS[1], 1.0)
    emergency_event = rng.random(n) < EMERGENCY

    # --- registry view: composition defects ------------------------------------------------
    migrant_parents = migrant * (1 + (rng.random(n) < MIGRANT_TWO_PARENTS))
    parents_pension = np.round(
        np.maximum(_lognormal(rng, PENSION_MEDIAN, PENSION_SIGMA, (n, 2)), PENSION_FLOOR)
    )
    parents_income = (parents_pension * (np.arange(2)[None, :] < migrant_parents[:, None])).sum(
        axis=1
    )
    separated = single_parent & (rng.random(n) < SEPARATED_STILL_REGISTERED)
    ex_employed = separated & (rng.random(n) < EX_PARTNER_FORMAL_EMPLOYMENT)
    ex_wage = np.round(_lognormal(rng, FORMAL_WAGE_MEDIAN * settle, FORMAL_WAGE_SIGMA, n))
    unrec_rate = np.select(
        [citizenship == 0, citizenship == 1, citizenship == 2],
        [
            np.where(rural, CHILD_UNRECORDED["citizen"][1], CHILD_UNRECORDED["citizen"][0]),
            CHILD_UNRECORDED["kandas"],
            CHILD_UNRECORDED["resident_foreigner"],
        ],
        CHILD_UNRECORDED["stateless"],
    )
    newborn_unrec_rate = np.array([NEWBORN_UNRECORDED[c] for c in CITIZENSHIP])[citizenship]
    newborn_unrecorded = newborn & (rng.random(n) < newborn_unrec_rate)
    older_unrecorded = rng.binomial(n_children - newborn, unrec_rate)
    children_unrecorded = (older_unrecorded + newborn_unrecorded).astype("int16")

    household_size_registry = (
        household_size + migrant_parents + separated - children_unrecorded
    ).astype("int16")
    n_children_registry = (n_children - children_unrecorded).astype("int16")
    single_parent_registry = single_parent & ~separated
    working_age_registry = (working_age + separated).astype("int16")
    no_income_record = (
        rng.random(n) < np.array([NO_INCOME_RECORD[c] for c in CITIZENSHIP])[citizenship]
    )
    income_formal_registry = np.where(
        no_income_record, np.nan, income_formal_seen + parents_income + ex_wage * ex_employed
    )
    earners_registry = (earners_seen + ex_employed).astype("int16")
    owns_dwelling_registry = owns_dwelling_true | migrant
    parents_area = np.round(_lognormal(rng, MIGRANT_PARENTS_HOUSE_AREA, LIVING_AREA_SIGMA, n))
    living_area_registry = np.where(migrant, parents_area, living_area_true)
    utilities_unrecorded = rural & (rng.random(n) < UTILITIES_UNRECORDED_RURAL)
    lacks_utilities_registry = _nullable(lacks_utilities_true, utilities_unrecorded)
    no_screen_p = np.select(
        [noncitizen, migrant, rural],
        [NO_SCREENING_RECORD[3], NO_SCREENING_RECORD[2], NO_SCREENING_RECORD[1]],
        NO_SCREENING_RECORD[0],
    )
    no_screening = rng.random(n) < no_screen_p
    dis_registered = adult_dis_reg | child_dis_reg
    dis_unassessed = (adult_disability & ~adult_assessed) | (child_disability & ~child_assessed)
    disability_registry = _nullable(
        dis_registered, ~dis_registered & (dis_unassessed | no_screening)
    )
    child_disability_registry = _nullable(
        child_dis_reg,
        ~child_dis_reg
        & (
            (child_disability & ~child_assessed)
            | (has_children & no_screening)
            | (children_unrecorded > 0)
        ),
    )
    out_of_school_registry = _nullable(out_of_school_true, children_unrecorded > 0)
    newborn_registry = newborn & ~newborn_unrecorded

    # --- the SMS channel ---------------------------------------------------------------
    egov_p = np.where(rural, EGOV[1], EGOV[0]) * np.where(head_elderly, EGOV_ELDERLY_FACTOR, 1.0)
    egov_p = egov_p * np.where(noncitizen, EGOV_NONCITIZEN_FACTOR, 1.0)
    has_egov = rng.random(n) < egov_p
    has_phone = rng.random(n) < HAS_PHONE * np.where(
        head_age >= 75, HAS_PHONE_ELDERLY_FACTOR, 1.0
    ) * np.where(poor, HAS_PHONE_POOR_FACTOR, 1.0)
    phone_p = np.where(has_egov, PHONE_REGISTERED[0], PHONE_REGISTERED[1])
    phone_p = phone_p * np.where(head_age >= 75, PHONE_REGISTERED_ELDERLY_FACTOR, 1.0)
    phone_p = np.where(noncitizen, PHONE_REGISTERED_NONCITIZEN, phone_p)
    phone_registered = rng.random(n) < phone_p
    # the registered number reaches the family: it has a phone and kept the number
    phone_active = (
        phone_registered
        & has_phone
        & (rng.random(n) < np.where(poor, PHONE_ACTIVE[1], PHONE_ACTIVE[0]))
    )
    sms_pref_p = np.where(
        home_language == 1,
        SMS_RUSSIAN_PREFERENCE[0],
        np.where(home_language >= 2, SMS_RUSSIAN_PREFERENCE[1], 0.0),
    )
    sms_russian = has_egov & (rng.random(n) < sms_pref_p)
    sms_language = sms_russian.astype("int16")  # 0 kazakh, 1 russian
    reads_kaz = np.array([1.0, *(READS_KAZAKH[x] for x in LANGUAGES[1:])])[home_language]
    reads_rus = np.array(
        [READS_RUSSIAN["kazakh"], 1.0, *(READS_RUSSIAN[x] for x in LANGUAGES[2:])]
    )[home_language]
    understands_sms = rng.random(n) < np.where(sms_russian, reads_rus, reads_kaz)
    reply_p = np.where(head_elderly, REPLIES[1], np.where(has_egov, REPLIES[0], REPLIES[2]))
    replies_to_sms = rng.random(n) < reply_p

    # --- ground truth --------------------------------------------------------------------
    truth = _ground_truth(
        income_formal=income_formal_true,
        income_informal=income_informal_true,
        livestock_value=livestock_value_true,
        household_size=hh,
        earners=earners_true,
        working_age=working_age,
        single_parent=single_parent,
        n_children=n_children,
        social_risk=social_risk,
        owns_dwelling=owns_dwelling_true,
        living_area=living_area_true,
        lacks_utilities=lacks_utilities_true,
        disability=disability,
        uninsured=uninsured_member,
        out_of_school=out_of_school_true,
        preschool_gap=preschool_gap,
        low_education=adult_low_education,
        emergency=emergency_event,
        car=car_true,
    )

    # --- the frame -----------------------------------------------------------------------
    age_group = np.digitize(head_age, [30, 45, 63])
    size_group = np.digitize(household_size, [2, 3, 5, 7])
    child_group = np.digitize(n_children, [1, 3, 4])
    frame = pd.DataFrame(
        {
            "family_id": np.arange(first_id, first_id + n, dtype="int64"),
            # protected attributes and grouping
            "region": _cat(region, [r.name for r in REGIONS]),
            "settlement": _cat(rural.astype("int16"), ["urban", "rural"]),
            "head_sex": _cat(head_female.astype("int16"), ["male", "female"]),
            "head_age": head_age,
            "head_age_group": _cat(age_group, ["18-29", "30-44", "45-62", "63+"]),
            "household_size_group": _cat(size_group, ["1", "2", "3-4", "5-6", "7+"]),
            "children_group": _cat(child_group, ["0", "1-2", "3", "4+"]),
            "ethnicity": _cat(ethnicity, ETHNICITIES),
            "home_language": _cat(home_language, LANGUAGES),
            "citizenship": _cat(citizenship, CITIZENSHIP),
            "internal_migrant": migrant,
            "has_phone": has_phone,
            "has_egov": has_egov,
            # true circumstances
            "household_size_true": household_size,
            "n_children_true": n_children,
            "newborn_true": newborn,
            "single_parent_true": single_parent,
            "working_age_adults_true": working_age,
            "earners_true": earners_true,
            "n_elderly": n_elderly,
            "income_formal_true": income_formal_true,
            "income_informal_true": income_informal_true,
            "livestock_value_true": livestock_value_true,
            "car_true": car_true,
            "owns_dwelling_true": owns_dwelling_true,
            "living_area_true": living_area_true,
            "lacks_utilities_true": lacks_utilities_true,
            "disability_true": disability,
            "child_disability_true": child_disability,
            "out_of_school_true": out_of_school_true,
            # registry view (what the system sees)
            "household_size_registry": household_size_registry,
            "n_children_registry": n_children_registry,
            "newborn_registry": newborn_registry,
            "single_parent_registry": single_parent_registry,
            "working_age_adults_registry": working_age_registry,
            "earners_registry": earners_registry,
            "income_formal_registry": income_formal_registry,
            "income_informal_registry": np.zeros(n),
            "livestock_value_registry": livestock_value_registry,
            "car_registry": car_registry,
            "owns_dwelling_registry": owns_dwelling_registry,
            "living_area_registry": living_area_registry,
            "lacks_utilities_registry": lacks_utilities_registry,
            "disability_registry": disability_registry,
            "child_disability_registry": child_disability_registry,
            "out_of_school_registry": out_of_school_registry,
            # accurate registry fields (no modelled defect)
            "uninsured_member": uninsured_member,
            "preschool_gap": preschool_gap,
            "adult_low_education": adult_low_education,
            "social_risk": social_risk,
            "emergency_event": emergency_event,
            # the SMS channel
            "phone_registered": phone_registered,
            "phone_active": phone_active,
            "sms_language": _cat(sms_language, ["kazakh", "russian"]),
            "understands_sms": understands_sms,
            "replies_to_sms": replies_to_sms,
            # ground truth
            "income_true_pc": truth["income_pc"],
            "below_subsistence_true": truth["income_pc"] < SUBSISTENCE_MINIMUM,
            "score_true": truth["score"],
            "category_true": pd.Categorical.from_codes(
                truth["category"], categories=list(CATEGORY_CODES), ordered=True
            ),
            "birth_allowance_eligible_true": newborn,
            "large_family_eligible_true": n_children >= 4,
            "disabled_child_eligible_true": child_disability,
            "fsc_referral_true": truth["category"] >= CATEGORY_CODES.index("D"),
        }
    )
    return frame


def tsa_poverty_line(
    income_formal: np.ndarray,
    income_informal: np.ndarray,
    livestock_value: np.ndarray,
    household_size: np.ndarray,
) -> float:
    """The published TSA poverty line: max(35% of the median per-capita income, 70% of the
    subsistence minimum), the median taken over the Digital Family Card's own (registry)
    data, people-weighted, families without income records left out.

    The line is a published number computed from the card: a family is entitled when its
    TRUE income is below it. (rules.yaml computes the same line as `tsa_poverty_line`.)
    """
    income_pc = (
        income_formal + income_informal + livestock_value * LIVESTOCK_INCOME_RATE / 12
    ) / household_size
    known = ~np.isnan(income_pc)
    median_pc = _weighted_lower_median(income_pc[known], household_size[known])
    return max(TSA_MEDIAN_SHARE * median_pc, TSA_SUBSISTENCE_SHARE * SUBSISTENCE_MINIMUM)


def _ground_truth(
    *,
    income_formal: np.ndarray,
    income_informal: np.ndarray,
    livestock_value: np.ndarray,
    household_size: np.ndarray,
    earners: np.ndarray,
    working_age: np.ndarray,
    single_parent: np.ndarray,
    n_children: np.ndarray,
    social_risk: np.ndarray,
    owns_dwelling: np.ndarray,
    living_area: np.ndarray,
    lacks_utilities: np.ndarray,
    disability: np.ndarray,
    uninsured: np.ndarray,
    out_of_school: np.ndarray,
    preschool_gap: np.ndarray,
    low_education: np.ndarray,
    emergency: np.ndarray,
    car: np.ndarray,
) -> dict[str, np.ndarray]:
    """The score and level of rules.yaml applied to TRUE circumstances.

    Written independently of the rules engine (plain numpy) so that a test can check the
    two agree; keep the arithmetic in the same order as the rules file so they agree to
    the last bit.
    """
    n = len(household_size)
    income_pc = (
        income_formal + income_informal + livestock_value * LIVESTOCK_INCOME_RATE / 12
    ) / household_size
    indicators = {
        "economic": [
            income_pc < SUBSISTENCE_MINIMUM,
            (earners == 0) & (working_age > 0),
            (earners > 0) & (household_size >= 4 * earners),
        ],
        "social": [single_parent, n_children >= 4, social_risk],
        "housing": [
            ~owns_dwelling,
            living_area / household_size < OVERCROWDING_M2,
            lacks_utilities,
        ],
        "health": [disability, uninsured],
        "education": [out_of_school, preschool_gap, low_education],
    }
    total = np.zeros(n)
    for flags in indicators.values():
        dim = np.zeros(n)
        for flag in flags:
            dim = dim + DIMENSION_WEIGHT * 1.0 / float(len(flags)) * flag.astype("float64")
        total = total + dim
    score = np.round(total, 10)
    category = (np.searchsorted(np.array(CATEGORY_FROM), score, side="right") - 1).astype("int8")
    # overrides, in the rules file's order
    e_code, d_code, b_code = (CATEGORY_CODES.index(c) for c in "EDB")
    affluent = car & (income_pc >= AFFLUENCE_MULTIPLE * SUBSISTENCE_MINIMUM)
    category = np.where(affluent, np.minimum(category, b_code), category)
    category = np.where(emergency, e_code, category)
    category = np.where(
        social_risk & (n_children > 0), np.maximum(category, d_code), category
    ).astype("int8")
    return {"income_pc": income_pc, "score": score, "category": category}


def main(argv: list[str] | None = None) -> int:
    """Command line: generate and write the population (Parquet, or CSV by extension)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--families",
        type=int,
        default=DEFAULT_FAMILIES,
        help=f"number of families (default {DEFAULT_FAMILIES:,}; up to 10,000,000)",
    )
    ap.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=Path("population.parquet"),
        help="output file: .parquet (default) or .csv",
    )
    args = ap.parse_args(argv)
    if not 1 <= args.families <= 10_000_000:
        ap.error("--families must be between 1 and 10,000,000")
    t0 = time.perf_counter()
    frame = generate(args.families, args.seed)
    t1 = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() == ".csv":
        frame.to_csv(args.out, index=False)
    else:
        frame.to_parquet(args.out, index=False)
    t2 = time.perf_counter()
    people = int(frame["household_size_true"].sum())
    print(
        f"{len(frame):,} families ({people:,} people), seed {args.seed}: generated in "
        f"{t1 - t0:.1f} s, written to {args.out} in {t2 - t1:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
