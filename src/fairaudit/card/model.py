"""The card model (schema ``fairaudit.card/1``) and :func:`build_card`.

A card is what an audit publishes: plain language first, then the verdicts, the model and
data, the numbers by group with their intervals, what explains them, the limits of the
analysis and where every number came from. It holds no row-level data, and every count
between 1 and ``min_cell - 1`` is suppressed, together with the complementary counts that
would let a reader recover it from a total by subtraction (see :func:`suppress`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fairaudit.results import AuditResult, Check, GroupResult

if TYPE_CHECKING:
    from fairaudit.spec import AuditSpec

__all__ = [
    "CARD_SCHEMA_ID",
    "DEFAULT_MIN_CELL",
    "SUPPRESSED",
    "Card",
    "Signature",
    "build_card",
    "card_date",
    "card_json_schema",
    "resolve_min_cell",
    "small_mark",
    "suppress",
]

CARD_SCHEMA_ID = "fairaudit.card/1"
SUPPRESSED: Final = "[c]"
"""How a card shows a count hidden by complementary suppression: one that is not small
itself (it is 0 or at least ``min_cell``) but would let a reader work out a small one.
A small count (primary suppression) is shown as ``<min_cell`` (:func:`small_mark`)."""

NOT_STATED = "not stated"
DEFAULT_MIN_CELL: Final = 10
"""The smallest count a card publishes when neither the spec nor the results say."""

SmallMark = Annotated[str, StringConstraints(pattern=r"^<[0-9]+$")]
Shown = int | Literal["[c]"] | SmallMark
Interval = tuple[float, float]
Verdict = Literal["pass", "fail", "insufficient_evidence"]

# Canonical metric names; the results also carry targeting aliases of two of them.
_ALIASES = {"exclusion_error": "false_negative_rate", "inclusion_error": "false_discovery_rate"}
_NAMES = {
    "selection_rate": "selection rate",
    "prevalence": "share truly eligible",
    "true_positive_rate": "coverage of the eligible",
    "false_negative_rate": "exclusion error",
    "false_positive_rate": "false positive rate",
    "true_negative_rate": "true negative rate",
    "false_discovery_rate": "inclusion error",
    "precision": "precision",
    "negative_predictive_value": "negative predictive value",
    "false_omission_rate": "false omission rate",
    "accuracy": "accuracy",
}
_PUNITIVE_NAMES = {
    "prevalence": "share truly positive",
    "true_positive_rate": "true positive rate",
    "false_discovery_rate": "false discovery rate",
}
_TABLE_METRICS = (
    "selection_rate",
    "prevalence",
    "false_negative_rate",
    "false_positive_rate",
    "false_discovery_rate",
    "accuracy",
)
_CELLS = ("tp", "fp", "fn", "tn")
_ROUND = 4  # rates to 0.01 percentage points: what is shown, and no more
_TOP_GROUP = 3  # features listed per group in "What drives the decisions"
_TOP_REASONS = 3  # reasons listed per group
_GAP_CHARTS = 6  # gap waterfalls drawn (the largest gaps); the others are told in words
_AUDIT_REASON_MIN = 10  # the audit withholds reason counts below this (audit.py)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rate(_Model):
    """A rate with its confidence interval, as published."""

    value: float | None
    ci: Interval | None = Field(description="Confidence interval [low, high].")
    denominator: Shown = Field(description="People the rate is computed over.")


class HarmedGroup(_Model):
    """A group with a failed gate: who is harmed and how many people."""

    group: str
    attributes: dict[str, str]
    gates_failed: list[str]
    metric: str
    metric_name: str
    value: float | None = Field(description="The group's headline harm rate (withheld: null).")
    ci: Interval | None
    reference: str
    reference_value: float | None
    people: Shown = Field(description="People wrongly harmed in the group (see people_unit).")
    people_unit: str
    excess: int | None = Field(
        description="People harmed beyond what the reference group's rate would give "
        "(null when withheld or not above it)."
    )


class Summary(_Model):
    """The plain-language summary: who is harmed, how many, how sure, what should happen."""

    status: Verdict
    headline: str
    harmed: list[HarmedGroup]
    who_is_harmed: list[str]
    how_sure: list[str]
    what_should_happen: list[str]


class GateGroup(_Model):
    """One group's verdict under a gate."""

    group: str
    attributes: dict[str, str]
    verdict: Verdict
    value: float | None
    ci: Interval | None
    reason: str


class GateSection(_Model):
    """The verdicts of one gate (checks grouped by gate id)."""

    id: str
    description: str
    metric: str
    measure: str
    rule: str = Field(description="The gate in words, e.g. 'ratio <= 1.25'.")
    decided_on: str
    passed: int
    failed: int
    insufficient_evidence: int
    failing: list[GateGroup]
    insufficient: list[GateGroup]
    passing: list[str] = Field(description="Labels of the groups that pass.")


class ModelDetails(_Model):
    """What the audited model is and what its decision means."""

    audit_name: str
    description: str
    intervention: Literal["assistive", "punitive"]
    intervention_meaning: str
    decision_1_means: str
    loader: str
    loader_options: dict[str, str]
    model_sha256: str | None
    headline_metric: str
    headline_name: str


class DataSection(_Model):
    """Where the data came from and what was counted."""

    source: str
    label: str
    n_rows: Shown
    n_audited: Shown
    dropped: dict[str, Shown]
    unknown: dict[str, Shown]
    weighted: bool
    synthetic: str = Field(description="What the spec says about the data being synthetic.")


class GroupRow(_Model):
    """One group's size and confusion counts."""

    label: str
    attributes: dict[str, str]
    is_reference: bool
    n: Shown
    share: float | None
    tp: Shown
    fp: Shown
    fn: Shown
    tn: Shown
    rates_shown: bool = Field(description="False when a count of the group is suppressed.")


class GroupTable(_Model):
    """The groups of one attribute or intersection."""

    attributes: list[str]
    title: str
    reference: str
    reference_policy: str
    reference_reason: str
    total: Shown
    rows: list[GroupRow]


class MetricRow(_Model):
    label: str
    attributes: dict[str, str]
    is_reference: bool
    values: dict[str, Rate | None] = Field(description="metric -> rate (null: withheld).")


class MetricTable(_Model):
    """Rates by group for one attribute or intersection."""

    attributes: list[str]
    title: str
    metrics: list[str]
    metric_names: dict[str, str]
    overall: dict[str, Rate | None]
    rows: list[MetricRow]


class ScoreRow(_Model):
    label: str
    attributes: dict[str, str]
    auc: float | None
    auc_ci: Interval | None
    scoring_rate: float | None
    scoring_rate_ci: Interval | None
    scoring_impact_ratio: float | None


class ScoreTable(_Model):
    attributes: list[str]
    title: str
    rows: list[ScoreRow]


class ScoreSection(_Model):
    """Score-based metrics: ROC AUC and the NYC LL144 scoring rate by group."""

    median_score: float = Field(description="Scoring rate: share scoring above this.")
    overall: ScoreRow
    tables: list[ScoreTable]


class RegressionRow(_Model):
    label: str
    attributes: dict[str, str]
    mean_error: float | None
    mean_error_ci: Interval | None
    mean_absolute_error: float | None
    mean_absolute_error_ci: Interval | None
    over_prediction_rate: float | None
    over_prediction_rate_ci: Interval | None


class RegressionSection(_Model):
    """The numeric prediction behind the decision, by group (error = predicted - actual)."""

    predicted: str
    actual: str
    overall: RegressionRow
    rows: list[RegressionRow]


class DisparityRow(_Model):
    label: str
    attributes: dict[str, str]
    difference: float | None
    difference_ci: Interval | None
    ratio: float | None
    ratio_ci: Interval | None
    test: str | None
    p_value: float | None
    p_adjusted: float | None
    withheld: bool


class DisparityTable(_Model):
    """One metric of one attribute set against its reference group."""

    attributes: list[str]
    title: str
    metric: str
    metric_name: str
    reference: str
    rows: list[DisparityRow]


class ReasonRow(_Model):
    reason: str
    wrongly: Shown = Field(description="Wrongly adverse decisions this step decided.")
    share: float | None = Field(description="Their share of the group's wrongly adverse ones.")


class ReasonTable(_Model):
    group: str
    attributes: dict[str, str]
    wrongly: Shown
    reasons: list[ReasonRow]


class ReasonsSection(_Model):
    column: str
    adverse: str
    wrongly: str
    groups: list[ReasonTable]


class DefectRow(_Model):
    defect: str
    exclusions_fixed: Shown
    exclusions_created: Shown
    inclusions_fixed: Shown
    inclusions_created: Shown


class CounterfactualTable(_Model):
    group: str
    attributes: dict[str, str]
    excluded: Shown
    defects: list[DefectRow]


class CounterfactualSection(_Model):
    defects: list[str]
    groups: list[CounterfactualTable]


class CategoryRow(_Model):
    group: str
    attributes: dict[str, str]
    n: Shown
    agreement: float | None
    need_hidden: Shown
    need_overstated: Shown


class CategorySection(_Model):
    true_column: str
    order: list[str]
    matrix: list[list[Shown]] = Field(description="All rows; true category by the model's.")
    groups: list[CategoryRow]


class PoorestRow(_Model):
    group: str
    attributes: dict[str, str]
    n: Shown
    eligible: Shown
    excluded: Shown
    exclusion_error: float | None
    exclusion_error_ci: Interval | None


class PoorestSection(_Model):
    welfare: str
    share: float
    cutoff: float
    groups: list[PoorestRow]


class FeatureWeight(_Model):
    feature: str
    value: float = Field(description="In the unit of the explained output (see drivers.unit).")


class GroupDrivers(_Model):
    """One group's average contributions in the explanation sample."""

    group: str
    attributes: dict[str, str]
    shown: bool = Field(description="False: too few sampled people; no mean is shown.")
    mean_output: float | None
    mean_contributions: dict[str, float] | None = Field(
        description="feature -> the group's mean contribution (SHAP value); null: not shown."
    )
    top: list[FeatureWeight] = Field(description="The largest mean contributions (by size).")


class GapExplanation(_Model):
    """A failed group's gap in the mean explained output, split into feature contributions."""

    group: str
    attributes: dict[str, str]
    reference: str
    reference_attributes: dict[str, str]
    shown: bool = Field(description="False: too few sampled people; no number is shown.")
    group_mean: float | None
    reference_mean: float | None
    gap: float | None = Field(description="group_mean - reference_mean.")
    contributions: list[FeatureWeight] = Field(description="The largest contributions.")
    other: float | None = Field(description="The other features together: gap - listed.")
    sentence: str
    charted: bool = Field(description="Whether the card draws this gap as a chart.")


class ProxyRow(_Model):
    rank: int
    feature: str
    attribute: str
    measure: str
    measure_name: str
    association: float = Field(description="How well the feature predicts the attribute.")
    reliance: float = Field(description="The feature's share of the model's importance.")
    proxy_score: float


class ReasonCount(_Model):
    reason: str
    count: Shown = Field(description="Adverse decisions this feature or step decided.")
    share: float | None = Field(description="Their share of the group's adverse decisions.")


class ReasonFrequencyGroup(_Model):
    group: str
    attributes: dict[str, str]
    top: list[ReasonCount]


class Drivers(_Model):
    """What drives the decisions: feature attributions (SHAP) on a stratified sample."""

    explainer: str
    exact: bool
    method: str
    output: str
    output_name: str
    unit: str
    what: list[str] = Field(description="What was explained and how, in plain language.")
    sample_size: int
    population: int | None
    background_rows: int | None
    budget: int | None
    base_value: float | None
    overall: list[FeatureWeight] = Field(description="Mean absolute contribution, largest first.")
    groups: list[GroupDrivers]
    gaps: list[GapExplanation]
    gaps_note: str
    proxies: list[ProxyRow] | None
    proxies_note: str
    reasons: list[ReasonFrequencyGroup] | None
    reasons_note: str


class Explanations(_Model):
    """What the result says about why: present blocks, and plainly what was not computed."""

    reasons: ReasonsSection | None
    counterfactuals: CounterfactualSection | None
    categories: CategorySection | None
    poorest: PoorestSection | None
    drivers: Drivers | None = Field(
        description="What drives the decisions (SHAP); null when explanations were not computed."
    )
    not_computed: list[str]


class RedressReasonRow(_Model):
    reason: str
    wrongly: Shown = Field(description="The group's wrongly harmed people this step decided.")
    share: float | None = Field(description="Their share of the group's wrongly harmed.")


class RedressChannel(_Model):
    """An appeal or grievance route (from the spec's ``recommend.channels``)."""

    name: str
    how: str
    deadline: str | None


class RedressRow(_Model):
    """One group a gate failed for: the people to put right."""

    group: str
    attributes: dict[str, str]
    gates_failed: list[str]
    metric: str
    metric_name: str
    harmed: Shown = Field(
        description="People wrongly excluded (assistive) or wrongly flagged (punitive) in the "
        "audit data: a count."
    )
    harmed_estimate: int | None = Field(
        description="The same in the population, estimated from the weights (whole people); "
        "null when the audit is unweighted or the count is hidden."
    )
    rate: float | None = Field(description="The group's harm rate (null: withheld).")
    reference: str
    reference_rate: float | None
    excess: int | None = Field(
        description="People harmed beyond what the reference group's rate would give, whole "
        "people (an estimate; null when withheld)."
    )
    excess_ci: tuple[int, int] | None = Field(
        description="Its confidence interval (the difference's Newcombe interval, scaled)."
    )
    value_at_stake: int | None = Field(
        description="harmed (or its estimate) x the spec's benefit amount, whole units."
    )
    value_unit: str | None = Field(description="The unit of value_at_stake.")
    benefit: str | None = Field(description="The benefit one person loses, with its unit.")
    reasons: list[RedressReasonRow] = Field(description="What decided most of their cases.")
    rereview: Shown | None = Field(
        description="People of the group on the re-review list (null: no list was made)."
    )
    sentence: str


class RedressSection(_Model):
    """Redress: who to re-review, how many, what is at stake and where people can appeal."""

    computed: bool
    harm: str | None = Field(description="'wrongly excluded' or 'wrongly flagged'.")
    what: list[str] = Field(description="What the numbers are, in plain language.")
    groups: list[RedressRow]
    rereview_total: Shown | None = Field(
        description="People on the re-review list (null: no list was made)."
    )
    rereview_rule: str | None
    rereview_artifact: str | None = Field(
        description="The restricted file holding the list (row level, never in the card)."
    )
    rereview_note: str
    channels: list[RedressChannel]
    channels_note: str
    not_computed: str | None = Field(description="Why redress is missing and how to get it.")


class OptionRow(_Model):
    """One mitigation option, simulated by re-running the audit with it."""

    name: str
    kind: Literal["current", "threshold", "rules", "data", "retrain"]
    kind_name: str
    description: str
    recommended: bool
    passes: bool = Field(description="No check fails.")
    failed: int = Field(description="Failed checks.")
    insufficient: int = Field(description="Checks without a verdict (insufficient evidence).")
    failed_groups: list[str]
    overall_error: float | None = Field(description="1 - accuracy over everyone audited.")
    harm: dict[str, float | None] = Field(
        description="Group -> its headline harm rate under the option (null: withheld)."
    )
    newly_covered_eligible: int = Field(
        description="Change in truly eligible (punitive: truly positive) people selected, "
        "against the present model."
    )
    newly_covered_ineligible: int = Field(
        description="Change in the others selected, against the present model."
    )
    cost: int | None = Field(description="Change in cost against the present model.")
    cost_unit: str
    reviews: Shown | None = Field(
        None,
        description="Cases the option sends to manual review (a caseworker records the true "
        "value of a missing record); null: none.",
    )


class OptionNotRunRow(_Model):
    """An option the spec asked for that was not simulated, and why."""

    name: str
    kind_name: str
    description: str
    reason: str


class MitigationSection(_Model):
    """The trade-off of every simulated option, and the one recommended (if any)."""

    computed: bool
    harm_metric: str | None
    harm_name: str | None
    groups: list[str] = Field(description="The groups failing now: the harm columns.")
    options: list[OptionRow] = Field(description="The present model first.")
    not_run: list[OptionNotRunRow] = Field(
        default_factory=list, description="Options asked for but not simulated, with why."
    )
    recommended: str | None = Field(description="The passing option of least cost, if any.")
    conclusion: str | None
    cost_definition: str | None
    what: list[str] = Field(description="How the options were simulated and read.")
    not_computed: str | None = Field(description="Why mitigation is missing and how to get it.")


class ProvenanceSection(_Model):
    results_schema: str
    results_sha256: str = Field(
        description="sha256 of the results.json bytes the card was rendered from."
    )
    fairaudit_version: str
    spec_sha256: str
    data_sha256: str
    model_sha256: str | None
    seed: int
    bootstrap_seed: int
    data_path: str
    versions: dict[str, str]
    date: str = Field(description="The day the card was made (ISO 8601, UTC).")


class Signature(_Model):
    """An Ed25519 signature of the card (see :mod:`fairaudit.card.sign`)."""

    algorithm: Literal["ed25519"]
    canonicalization: str = Field(
        description="What was signed: the card JSON with this block but without `value`, "
        "keys sorted, no whitespace, UTF-8."
    )
    public_key: str = Field(description="The signer's raw Ed25519 public key, base64.")
    key_fingerprint: str = Field(description="'sha256:' + hex sha256 of the raw public key.")
    signed_at: str = Field(description="When the card was signed (ISO 8601, UTC).")
    value: str = Field(description="The signature, base64.")


class CrosswalkRow(_Model):
    framework: str
    item: str
    sections: list[str]
    note: str


class Card(_Model):
    """A fairness card: everything an audit publishes (schema ``fairaudit.card/1``)."""

    schema_: Literal["fairaudit.card/1"] = Field("fairaudit.card/1", alias="schema")
    name: str
    status: Verdict
    min_cell: int = Field(description="Counts from 1 to min_cell - 1 are suppressed.")
    suppression: str = Field(description="How counts are suppressed, in words.")
    suppression_marks: dict[str, str] = Field(
        description="Each mark a hidden count is shown as -> what it means (the footnote)."
    )
    summary: Summary
    gates: list[GateSection]
    model_details: ModelDetails
    data: DataSection
    groups: list[GroupTable]
    metrics: list[MetricTable]
    scores: ScoreSection | None = Field(description="Present when the model gives a score.")
    regression: RegressionSection | None = Field(
        description="Present when the audit includes a numeric prediction."
    )
    disparities: list[DisparityTable]
    explanations: Explanations
    redress: RedressSection
    mitigation: MitigationSection
    limitations: list[str]
    provenance: ProvenanceSection
    crosswalk: list[CrosswalkRow]
    signature: Signature | None = Field(
        None, description="Present when the card is signed (fairaudit verify checks it)."
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


SECTIONS: dict[str, str] = {
    "summary": "Summary",
    "gates": "Verdicts of the gates",
    "model_details": "Model details",
    "data": "Data",
    "groups": "Groups and sizes",
    "metrics": "Metrics by group",
    "disparities": "Disparities and tests",
    "explanations": "Explanations",
    "redress": "Redress",
    "mitigation": "Mitigation",
    "limitations": "Limitations",
    "provenance": "Provenance",
    "crosswalk": "Regulatory crosswalk",
}


def card_json_schema() -> dict[str, Any]:
    """The JSON schema of a card (``fairaudit.card/1``).

    Returns
    -------
    dict
        A JSON schema (draft 2020-12) generated from :class:`Card`.
    """
    schema = Card.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://fairaudit.invalid/schemas/card-1.schema.json"
    schema["title"] = CARD_SCHEMA_ID
    return schema


def card_json_schema_text() -> str:
    """The card schema as canonical JSON text (what ``schemas/card-1.schema.json`` holds)."""
    return json.dumps(card_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def schema_path() -> Path:
    """The path of the published card schema inside the package."""
    return Path(__file__).parent / "schemas" / "card-1.schema.json"


# --------------------------------------------------------------------------- suppression


def suppress(
    values: Mapping[Any, int],
    relations: Sequence[tuple[Any, Sequence[Any]]],
    min_cell: int,
    also_hide: Iterable[Any] = (),
    small: Iterable[Any] = (),
) -> set[Any]:
    """Which counts to hide: primary cells and their complements.

    Primary suppression hides every count from 1 to ``min_cell - 1`` (zeros are shown:
    they identify no one, and hiding them would hide findings such as "no eligible
    stateless family was selected"); a card shows them as ``<min_cell``. Complementary
    suppression then hides more counts (shown as :data:`SUPPRESSED`) until no primary
    count can be worked out from what is published:

    * for every relation ``total = sum(parts)`` it hides the smallest non-zero visible
      member while exactly one member is hidden;
    * it checks the whole linear system (all relations at once), so that no hidden count
      is determined by combining several relations;
    * and, because the two marks tell a reader that a ``<min_cell`` count is from 1 to
      ``min_cell - 1`` and that a complementary count is 0 or at least ``min_cell``, it
      checks with those bounds too (an integer program per primary count: its smallest
      and largest value consistent with everything published must differ). Without this,
      ``total 11 = <10 + [c]`` would give both away (the ``[c]`` must be 10).

    Parameters
    ----------
    values
        Every published count, by key.
    relations
        ``(total_key, part_keys)``: ``values[total] == sum(values[p] for p in parts)``.
    min_cell
        The smallest count shown.
    also_hide
        Counts to hide as well (e.g. two counts whose difference is a small count).
    small
        Counts known only to be from 1 to ``min_cell - 1`` (e.g. counts the audit itself
        withheld, registered with a stand-in value): hidden, and treated as primary.

    Returns
    -------
    set
        The keys of the counts to hide.
    """
    import numpy as np

    small = set(small)
    primary = {k for k, v in values.items() if 0 < v < min_cell} | small
    hidden: set[Any] = primary | set(also_hide)
    rels = [(t, list(ps)) for t, ps in relations]
    safe: set[frozenset[Any]] = set()

    def smallest(members: Iterable[Any]) -> Any | None:
        visible = [k for k in members if k not in hidden]
        if not visible:
            return None
        return min(visible, key=lambda k: (values[k] == 0, values[k], repr(k)))

    while True:
        changed = True
        while changed:
            changed = False
            for total, parts in rels:
                members = [total, *parts]
                if sum(k in hidden for k in members) == 1:
                    pick = smallest(parts)
                    if pick is None:
                        pick = smallest(members)
                    if pick is not None:
                        hidden.add(pick)
                        changed = True
        determined = _leaks(values, rels, hidden, primary, small, min_cell, safe, np)
        if not determined:
            return hidden
        pick = _nearest_visible(determined[0], rels, hidden, smallest)
        if pick is None:
            raise RuntimeError(f"cannot protect the suppressed count {determined[0]!r}")
        hidden.add(pick)


def small_mark(min_cell: int) -> str:
    """How a card shows a count from 1 to ``min_cell - 1`` (primary suppression): ``<10``."""
    return f"<{min_cell}"


def _marks(min_cell: int) -> dict[str, str]:
    small = small_mark(min_cell)
    return {
        small: f"a count from 1 to {min_cell - 1}: too small to publish (primary suppression)",
        SUPPRESSED: f"a count hidden so that no {small} count can be worked out from the "
        f"totals (complementary suppression); it is 0 or at least {min_cell}",
    }


def _leaks(
    values: Mapping[Any, int],
    rels: list[tuple[Any, list[Any]]],
    hidden: set[Any],
    primary: set[Any],
    small: set[Any],
    min_cell: int,
    safe: set[frozenset[Any]],
    np: Any,
) -> list[Any]:
    """Hidden counts a reader can work out: first any determined by the relations alone
    (:func:`_determined`), then primary counts pinned by the marks' bounds
    (:func:`_pinned`). Each group of hidden counts linked by relations is checked on its
    own; ``safe`` caches the groups already found safe (hiding more only widens them)."""
    parent = {k: k for k in hidden}

    def find(k: Any) -> Any:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    touching: dict[Any, list[int]] = {}
    for i, (t, ps) in enumerate(rels):
        members = [k for k in (t, *ps) if k in hidden]
        for k in members:
            touching.setdefault(k, []).append(i)
        for k in members[1:]:
            parent[find(k)] = find(members[0])
    groups: dict[Any, list[Any]] = {}
    for k in sorted(hidden, key=repr):
        groups.setdefault(find(k), []).append(k)
    found: list[Any] = []
    pending = []
    for members in groups.values():
        frozen = frozenset(members)
        if frozen in safe:
            continue
        sub = [rels[i] for i in sorted({i for k in members for i in touching.get(k, [])})]
        determined = _determined(frozen, sub, np)
        found += determined
        if not determined:
            pending.append((members, sub))
    if found:
        return found
    # A reader knows no upper bound of a hidden total; one far above every count stands in.
    top = float(2 * max([0, *values.values()]) + 10 * min_cell)
    for members, sub in pending:
        pinned = _pinned(values, members, sub, primary, small, min_cell, top, np)
        found += pinned
        if not pinned:
            safe.add(frozenset(members))
    return found


def _pinned(
    values: Mapping[Any, int],
    members: list[Any],
    rels: list[tuple[Any, list[Any]]],
    primary: set[Any],
    small: set[Any],
    min_cell: int,
    top: float,
    np: Any,
) -> list[Any]:
    """Primary counts among ``members`` whose value follows from what is published and
    what the marks say.

    A reader knows every visible count, every relation, that a primary count is from 1 to
    ``min_cell - 1`` and that a complementary one is 0 or at least ``min_cell`` (``top``,
    far above every count, stands in for no upper bound). Integer programs (scipy's HiGHS)
    look for solutions that move each primary count from its value; one that no solution
    moves is pinned. Relations the stand-in values do not satisfy (totals a reader is
    assumed to know, not published exactly) are left out: they constrain nothing true.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    prim = [k for k in members if k in primary]
    if not prim:
        return []
    index = {k: i for i, k in enumerate(members)}
    comp = [k for k in members if k not in primary]
    nx = len(members)
    size = nx + len(comp)
    rows, lo, hi = [], [], []
    for t, ps in rels:
        if values[t] != sum(values[p] for p in ps):
            continue
        row = np.zeros(size)
        rhs = 0.0
        for k, sign in ((t, -1.0), *((p, 1.0) for p in ps)):
            if k in index:
                row[index[k]] += sign
            else:
                rhs -= sign * values[k]
        rows.append(row)
        lo.append(rhs)
        hi.append(rhs)
    for j, k in enumerate(comp):  # x = 0 or min_cell <= x <= top, by a binary z
        for z, bound in ((min_cell, (0.0, np.inf)), (top, (-np.inf, 0.0))):
            row = np.zeros(size)
            row[index[k]], row[nx + j] = 1.0, -z
            rows.append(row)
            lo.append(bound[0])
            hi.append(bound[1])
    low = np.zeros(size)
    high = np.full(size, top)
    high[nx:] = 1.0
    for k in prim:
        low[index[k]] = 0.0 if k in small else 1.0  # small: stand-in value 0
        high[index[k]] = min_cell - 1.0
    cons = [LinearConstraint(np.array(rows), lo, hi)] if rows else []
    bounds = Bounds(low, high)
    whole = np.ones(size)
    truth = np.array([values[k] for k in prim], dtype="float64")
    at = [index[k] for k in prim]
    free = np.zeros(len(prim), dtype=bool)  # shown to take another value

    def solve(objective: Any) -> None:
        res = milp(objective, constraints=cons, integrality=whole, bounds=bounds)
        if res.status != 0:  # the true values are feasible: cannot happen
            raise RuntimeError(f"cannot bound the suppressed counts {prim!r}")
        free[np.abs(res.x[at] - truth) > 0.5] = True

    # Each solution frees every primary count it moves: first all of them down and up
    # together, then one at a time for those not moved yet.
    for sign in (1.0, -1.0):
        c = np.zeros(size)
        c[at] = sign
        solve(c)
    for i in range(len(prim)):
        for sign in (1.0, -1.0):
            if free[i]:
                break
            c = np.zeros(size)
            c[at[i]] = sign
            solve(c)
    return [k for k, f in zip(prim, free, strict=True) if not f]


def _nearest_visible(
    key: Any, rels: list[tuple[Any, list[Any]]], hidden: set[Any], smallest: Any
) -> Any | None:
    """The count to hide next to protect ``key``: the smallest visible member of the
    relations nearest to it (breadth-first through relations of hidden counts)."""
    seen = {key}
    frontier = [key]
    while frontier:
        touching = [[t, *ps] for t, ps in rels if any(k in frontier for k in (t, *ps))]
        touching.sort(key=len)
        for members in touching:
            pick = smallest(members)
            if pick is not None:
                return pick
        nxt = []
        for members in touching:
            for k in members:
                if k not in seen and k in hidden:
                    seen.add(k)
                    nxt.append(k)
        frontier = nxt
    return None


def _determined(
    hidden: frozenset[Hashable] | set[Hashable],
    rels: list[tuple[Hashable, list[Hashable]]],
    np: Any,
) -> list[Hashable]:
    """Hidden keys whose value follows from the relations and the visible counts.

    With the visible counts moved to the right-hand side, the relations are a linear
    system ``A x = b`` in the hidden counts ``x``; ``x_k`` is determined exactly when every
    vector of the null space of ``A`` is zero at ``k``.
    """
    order = sorted(hidden, key=repr)
    index = {k: i for i, k in enumerate(order)}
    rows = []
    for total, parts in rels:
        if not any(k in hidden for k in (total, *parts)):
            continue
        row = np.zeros(len(order))
        if total in index:
            row[index[total]] -= 1.0
        for p in parts:
            if p in index:
                row[index[p]] += 1.0
        rows.append(row)
    if not rows:
        return []
    a = np.array(rows)
    _, sv, vt = np.linalg.svd(a)
    rank = int((sv > 1e-9 * max(1.0, float(sv[0]) if sv.size else 1.0)).sum())
    null = vt[rank:]
    if null.shape[0] == 0:
        return list(order)
    free = np.abs(null).max(axis=0) > 1e-9
    return [k for k, f in zip(order, free, strict=True) if not f]


def _partition_relations(
    groups: Sequence[tuple[dict[str, str], dict[str, int]]],
    fields: Sequence[str],
    overall: dict[str, int] | None,
    prefix: str,
) -> list[tuple[Hashable, list[Hashable]]]:
    """Relations among group counts: attribute sets sum to the overall, intersections to
    their marginals (only where the numbers do add up)."""
    by_attrs = {tuple(sorted(a.items())): c for a, c in groups}
    sets: dict[tuple[str, ...], list[tuple[tuple[str, str], ...]]] = {}
    for attrs, _ in groups:
        if attrs:
            sets.setdefault(tuple(sorted(attrs)), []).append(tuple(sorted(attrs.items())))
    rels: list[tuple[Hashable, list[Hashable]]] = []
    for names, members in sets.items():
        parents: dict[tuple[tuple[str, str], ...], list[tuple[tuple[str, str], ...]]] = {}
        if overall is not None:
            parents[()] = members
        if len(names) > 1:
            for drop in names:
                for m in members:
                    parent = tuple(kv for kv in m if kv[0] != drop)
                    if parent in by_attrs:
                        parents.setdefault(parent, []).append(m)
        for parent, kids in parents.items():
            total = overall if parent == () else by_attrs[parent]
            for f in fields:
                if total is None or f not in total:
                    continue
                having = [k for k in kids if f in by_attrs[k]]
                if sum(by_attrs[k][f] for k in having) == total[f]:
                    rels.append(((prefix, parent, f), [(prefix, k, f) for k in having]))
    return rels


# --------------------------------------------------------------------------- helpers


def _canon(metric: str) -> str:
    return _ALIASES.get(metric, metric)


def metric_name(metric: str, intervention: str = "assistive") -> str:
    """The plain name of a metric (e.g. ``false_negative_rate`` -> exclusion error)."""
    m = _canon(metric)
    if intervention == "punitive" and m in _PUNITIVE_NAMES:
        return _PUNITIVE_NAMES[m]
    return _NAMES.get(m, m.replace("_", " "))


def group_label(attrs: dict[str, str]) -> str:
    """``{'a': 'x', 'b': 'y'}`` -> ``a=x × b=y``; the empty group is 'everyone'."""
    return " × ".join(f"{k}={v}" for k, v in attrs.items()) or "everyone"


def plain_label(attrs: dict[str, str]) -> str:
    """``{'settlement': 'rural', 'head_sex': 'female'}`` -> ``rural × female
    (settlement × head_sex)``, for plain-language sentences."""
    if not attrs:
        return "everyone"
    return f"{' × '.join(attrs.values())} ({' × '.join(attrs)})"


def _r(x: float | None, digits: int = _ROUND) -> float | None:
    return None if x is None else round(float(x), digits)


def _ri(ci: Sequence[float] | None, digits: int = _ROUND) -> Interval | None:
    return None if ci is None else (round(float(ci[0]), digits), round(float(ci[1]), digits))


def _sig(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.3g}")


def _pct(x: float | None) -> str:
    return "not shown" if x is None else f"{100 * x:.1f}%"


def _num(x: int | str) -> str:
    if isinstance(x, int):
        return f"{x:,}"
    if x == SUPPRESSED:
        return "a number not shown (it would reveal a small count)"
    return f"fewer than {x[1:]} (the exact number is not shown, to protect privacy)"


def _people(n: int) -> str:
    return f"{n:,} {'person' if n == 1 else 'people'}"


def _key(attrs: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(attrs.items()))


class _Shower:
    """Turns counts into published values given the hidden keys: a small count (from 1 to
    ``min_cell - 1``, or one the audit withheld) as ``<min_cell``, a complementary one as
    :data:`SUPPRESSED`."""

    def __init__(
        self, values: Mapping[Any, int], hidden: set[Any], min_cell: int, small: Iterable[Any]
    ) -> None:
        self.values = values
        self.hidden = hidden
        self.mark = small_mark(min_cell)
        self.primary = {k for k in hidden if 0 < values[k] < min_cell}
        # counts the audit withheld are below its own minimum, which may be the larger
        self.small = dict.fromkeys(small, small_mark(max(min_cell, _AUDIT_REASON_MIN)))

    def __call__(self, key: Hashable) -> Shown:
        if key in self.small:
            return self.small[key]
        if key in self.primary:
            return self.mark
        return SUPPRESSED if key in self.hidden else self.values[key]


# --------------------------------------------------------------------------- build


def card_date() -> str:
    """Today (UTC) as ``YYYY-MM-DD``, or the day of ``SOURCE_DATE_EPOCH`` when it is set
    (the reproducible-builds convention, so a rebuilt card can carry a fixed date)."""
    import datetime as dt
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.UTC).date().isoformat()
        except ValueError:
            raise ValueError(
                f"SOURCE_DATE_EPOCH must be whole seconds since 1970, got {epoch!r}"
            ) from None
    return dt.datetime.now(dt.UTC).date().isoformat()


def resolve_min_cell(
    recorded: int | None, spec_min_cell: int | None = None, requested: int | None = None
) -> int:
    """The smallest count a re-rendered card may publish.

    A re-render never publishes smaller cells than the audit's owner set: the floor is the
    larger of the ``min_cell`` recorded in the results and the spec's (when a spec is
    given); with neither, :data:`DEFAULT_MIN_CELL`. ``requested`` may raise it, never lower
    it.

    Raises
    ------
    ValueError
        When ``requested`` is below the floor.
    """
    known = [m for m in (recorded, spec_min_cell) if m is not None]
    floor = max(known) if known else DEFAULT_MIN_CELL
    if requested is None:
        return floor
    if requested < floor:
        raise ValueError(
            f"min_cell {requested} is below {floor}, the smallest count these results may "
            "publish (the audit's card.min_cell)"
        )
    return requested


def build_card(
    result: AuditResult,
    spec: AuditSpec | None = None,
    *,
    min_cell: int | None = None,
    results_sha256: str | None = None,
    date: str | None = None,
) -> Card:
    """Build the card of an audit result.

    Parameters
    ----------
    result
        What the audit found (``results.json``).
    spec
        The audit spec, when available: it gives the model details, the intended use, the
        gates' descriptions and what the data is. Without it those parts say "not stated".
    min_cell
        The smallest count published; counts from 1 to ``min_cell - 1`` are suppressed,
        with complementary suppression, and the rates of groups with a suppressed count
        are withheld. Default: the results' ``min_cell``, else the spec's, else 10.
    results_sha256
        sha256 of the results.json bytes the card is made from; default: of
        ``result.to_json()`` (what ``fairaudit check`` writes).
    date
        The card's date (``YYYY-MM-DD``); default: :func:`card_date`.

    Returns
    -------
    Card
        The card, ready for :func:`render_json`, :func:`render_markdown` or
        :func:`render_html`.
    """
    if min_cell is None:
        min_cell = resolve_min_cell(
            result.min_cell, spec.card.min_cell if spec is not None else None
        )
    if min_cell < 1:
        raise ValueError(f"min_cell must be at least 1, got {min_cell}")
    if results_sha256 is None:
        import hashlib

        results_sha256 = hashlib.sha256(result.to_json().encode("utf-8")).hexdigest()
    values: dict[Any, int] = {}
    relations: list[tuple[Any, list[Any]]] = []

    # Groups: n and the four confusion counts, with their row and marginal relations.
    overall = {"n": result.overall.n, **result.overall.counts.model_dump()}
    for f, v in overall.items():
        values[("g", (), f)] = v
    relations.append((("g", (), "n"), [("g", (), c) for c in _CELLS]))
    group_counts = []
    for g in result.groups:
        k = _key(g.attributes)
        counts = {"n": g.n, **g.counts.model_dump()}
        group_counts.append((g.attributes, counts))
        for f, v in counts.items():
            values[("g", k, f)] = v
        relations.append((("g", k, "n"), [("g", k, c) for c in _CELLS]))
    relations += _partition_relations(group_counts, ("n", *_CELLS), overall, "g")

    # Data: rows read = rows audited + rows dropped; unknown values stand alone.
    values[("d", "n_rows")] = result.n_rows
    values[("d", "n_audited")] = result.n_audited
    if result.n_audited == result.overall.n:  # the same number: hidden together
        relations.append((("g", (), "n"), [("d", "n_audited")]))
    for reason, v in result.dropped.items():
        values[("d", "dropped", reason)] = v
    if result.n_rows == result.n_audited + sum(result.dropped.values()):
        relations.append(
            (("d", "n_rows"), [("d", "n_audited"), *[("d", "dropped", r) for r in result.dropped]])
        )
    for attr, v in result.unknown.items():
        values[("d", "unknown", attr)] = v

    also_hide: list[Any] = []
    small: list[Any] = []
    _explanation_counts(result, values, relations, also_hide, min_cell)
    _driver_counts(result, values, relations, small, min_cell)
    _redress_counts(result, values, relations)
    # The same people counted in two blocks (e.g. a group's fn and its wrongly excluded in
    # the reasons block) must be hidden together, or one block reveals the other's cell.
    for key in list(values):
        if (
            key[0] in ("r", "c", "k", "p")
            and len(key) == 3
            and key[-1] in ("wrongly", "excluded", "n")
        ):
            for cell in ("n",) if key[-1] == "n" else ("fn", "fp"):
                twin = ("g", key[1], cell)
                if twin in values and values[twin] == values[key]:
                    relations.append((twin, [key]))
    hidden = suppress(values, relations, min_cell, also_hide, small)
    # The poorest block can repeat a group's eligible (tp + fn) and excluded (fn): then its
    # difference is the group's tp, and must be hidden when tp or fn is.
    if result.poorest is not None:
        extra = []
        for pg in result.poorest.groups:
            k = _key(pg.attributes)
            tp, fn = ("g", k, "tp"), ("g", k, "fn")
            if (
                tp in values
                and (values[tp] + values[fn], values[fn]) == (pg.eligible, pg.excluded)
                and (tp in hidden or fn in hidden)
            ):
                extra += [("p", k, "eligible"), ("p", k, "excluded")]
        if not set(extra) <= hidden:
            hidden = suppress(values, relations, min_cell, [*also_hide, *extra], small)
    show = _Shower(values, hidden, min_cell, small)
    withheld = {
        _key(g.attributes)
        for g in result.groups
        if g.n < min_cell or any(("g", _key(g.attributes), f) in hidden for f in ("n", *_CELLS))
    }
    ref_of = {
        _key(g.attributes): _key(d.reference) for g in result.groups for d in g.disparities.values()
    }

    def blocked(attrs: dict[str, str]) -> bool:
        k = _key(attrs)
        return k in withheld or ref_of.get(k) in withheld

    head = _canon(result.headline_metric)
    gates = _gates(result, spec, blocked)
    redress = _redress(result, show, blocked)
    mitigation = _mitigation(result, blocked, min_cell)
    summary = _summary(result, spec, gates, show, blocked, head, redress, mitigation)
    return Card(
        name=result.name,
        status=result.status,
        min_cell=min_cell,
        suppression=(
            f"Counts from 1 to {min_cell - 1} are shown as {small_mark(min_cell)}; counts that "
            f"would let a reader work one of them out from the totals are hidden too and shown "
            f"as {SUPPRESSED} (complementary suppression); zeros are shown. Rates, intervals "
            f"and comparisons of a group with a hidden count, or compared with such a group, "
            f"are not shown. The card holds no row-level data."
        ),
        suppression_marks=_marks(min_cell),
        summary=summary,
        gates=gates,
        model_details=_model_details(result, spec, head),
        data=_data(result, spec, show),
        groups=_group_tables(result, show, withheld),
        metrics=_metric_tables(result, show, withheld, head),
        scores=_scores(result, withheld, min_cell),
        regression=_regression(result, withheld, min_cell),
        disparities=_disparity_tables(result, spec, blocked, head),
        explanations=_explanations(result, show, min_cell),
        redress=redress,
        mitigation=mitigation,
        limitations=_limitations(result, spec, withheld, min_cell),
        provenance=ProvenanceSection(
            results_schema=result.schema_,
            results_sha256=results_sha256,
            fairaudit_version=result.provenance.fairaudit_version,
            spec_sha256=result.provenance.spec_sha256,
            data_sha256=result.provenance.data_sha256,
            model_sha256=result.provenance.model_sha256,
            seed=result.provenance.seed,
            bootstrap_seed=result.statistics.bootstrap_seed,
            data_path=result.provenance.data_path,
            versions=dict(sorted(result.provenance.versions.items())),
            date=date or card_date(),
        ),
        crosswalk=_crosswalk(),
    )


def _explanation_counts(
    result: AuditResult,
    values: dict[Any, int],
    relations: list[tuple[Any, list[Any]]],
    also_hide: list[Any],
    min_cell: int,
) -> None:
    """Register the counts of the explanation blocks and their relations."""
    if result.reasons is not None:
        rows = []
        for rg in result.reasons.groups:
            k = _key(rg.attributes)
            values[("r", k, "wrongly")] = rg.wrongly
            parts = []
            for rc in rg.reasons:
                values[("r", k, rc.reason, "wrongly")] = rc.wrongly
                parts.append(("r", k, rc.reason, "wrongly"))
            if sum(rc.wrongly for rc in rg.reasons) == rg.wrongly:
                relations.append((("r", k, "wrongly"), parts))
            fields = {f"{rc.reason}/wrongly": rc.wrongly for rc in rg.reasons}
            rows.append((rg.attributes, {"wrongly": rg.wrongly, **fields}))
        top = next((c for a, c in rows if not a), None)
        rels = _partition_relations([r for r in rows if r[0]], list(top or {}), top, "r2")
        relations += [(_rkey(t), [_rkey(p) for p in ps]) for t, ps in rels]
    if result.counterfactuals is not None:
        rows = []
        for cg in result.counterfactuals.groups:
            k = _key(cg.attributes)
            values[("c", k, "excluded")] = cg.excluded
            fields = {"excluded": cg.excluded}
            for d in cg.defects:
                for f in (
                    "exclusions_fixed",
                    "exclusions_created",
                    "inclusions_fixed",
                    "inclusions_created",
                ):
                    values[("c", k, d.defect, f)] = getattr(d, f)
                    fields[f"{d.defect}/{f}"] = getattr(d, f)
            rows.append((cg.attributes, fields))
        top = next((c for a, c in rows if not a), None)
        rels = _partition_relations([r for r in rows if r[0]], list(top or {}), top, "c2")
        relations += [(_ckey(t), [_ckey(p) for p in ps]) for t, ps in rels]
    if result.categories is not None:
        for cat in result.categories.groups:
            k = _key(cat.attributes)
            values[("k", k, "n")] = cat.n
            values[("k", k, "need_hidden")] = cat.need_hidden
            values[("k", k, "need_overstated")] = cat.need_overstated
            # n = agreeing + hidden + overstated; the agreement rate gives the first.
            values[("k", k, "agree")] = cat.n - cat.need_hidden - cat.need_overstated
            relations.append(
                (
                    ("k", k, "n"),
                    [("k", k, "agree"), ("k", k, "need_hidden"), ("k", k, "need_overstated")],
                )
            )
            if not cat.attributes:
                order = len(cat.matrix)
                for i, row in enumerate(cat.matrix):
                    for j, v in enumerate(row):
                        values[("k", k, "m", i, j)] = v
                cells = [(i, j) for i in range(order) for j in range(order)]
                relations.append((("k", k, "n"), [("k", k, "m", i, j) for i, j in cells]))
                for name, cond in (
                    ("agree", lambda i, j: i == j),
                    ("need_hidden", lambda i, j: j < i),
                    ("need_overstated", lambda i, j: j > i),
                ):
                    sel = [("k", k, "m", i, j) for i, j in cells if cond(i, j)]
                    if sum(values[s] for s in sel) == values[("k", k, name)]:
                        relations.append((("k", k, name), sel))
    if result.poorest is not None:
        rows = []
        for pg in result.poorest.groups:
            k = _key(pg.attributes)
            for f in ("n", "eligible", "excluded"):
                values[("p", k, f)] = getattr(pg, f)
            if 0 < pg.eligible - pg.excluded < min_cell:
                # the eligible who are selected, shown by difference: hide both counts
                also_hide += [("p", k, "eligible"), ("p", k, "excluded")]
            rows.append(
                (pg.attributes, {"n": pg.n, "eligible": pg.eligible, "excluded": pg.excluded})
            )
        top = next((c for a, c in rows if not a), None)
        relations += _partition_relations(
            [r for r in rows if r[0]], ("n", "eligible", "excluded"), top, "p"
        )


def _rkey(k: Any) -> Hashable:
    _prefix, attrs, field = k
    if field == "wrongly":
        return ("r", attrs, "wrongly")
    reason, what = field.split("/", 1)
    return ("r", attrs, reason, what)


def _ckey(k: Any) -> Hashable:
    _prefix, attrs, field = k
    if field == "excluded":
        return ("c", attrs, "excluded")
    defect, what = field.split("/", 1)
    return ("c", attrs, defect, what)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _decided_on(check: Check) -> str:
    if check.decided_on == "interval" and check.interval:
        return f"the {check.interval} interval"
    if check.decided_on == "point" or check.value is None:
        return "the point estimate"
    return "the value itself (it has no interval)"


def _rule(check: Check) -> str:
    if check.operator == "between" and isinstance(check.threshold, tuple):
        return f"{check.measure} between {check.threshold[0]:g} and {check.threshold[1]:g}"
    return f"{check.measure} {check.operator} {check.threshold:g}"


def _gates(result: AuditResult, spec: AuditSpec | None, blocked: Any) -> list[GateSection]:
    described = {g.id: g.description for g in spec.gates} if spec is not None else {}
    by_id: dict[str, list[Check]] = {}
    for c in result.checks:
        by_id.setdefault(c.id, []).append(c)
    out = []
    for gid, checks in by_id.items():
        first = checks[0]

        def row(c: Check) -> GateGroup:
            if c.attributes and blocked(c.attributes):
                return GateGroup(
                    group=group_label(c.attributes),
                    attributes=c.attributes,
                    verdict=c.verdict,
                    value=None,
                    ci=None,
                    reason="details not shown: a count in this group or its reference group "
                    "is suppressed",
                )
            return GateGroup(
                group=group_label(c.attributes),
                attributes=c.attributes,
                verdict=c.verdict,
                value=_r(c.value),
                ci=_ri(c.ci),
                reason=c.reason,
            )

        out.append(
            GateSection(
                id=gid,
                description=_sentence(described.get(gid) or "Description not stated"),
                metric=first.metric,
                measure=first.measure,
                rule=_rule(first),
                decided_on=_decided_on(first),
                passed=sum(c.verdict == "pass" for c in checks),
                failed=sum(c.verdict == "fail" for c in checks),
                insufficient_evidence=sum(c.verdict == "insufficient_evidence" for c in checks),
                failing=[row(c) for c in checks if c.verdict == "fail"],
                insufficient=[row(c) for c in checks if c.verdict == "insufficient_evidence"],
                passing=[group_label(c.attributes) for c in checks if c.verdict == "pass"],
            )
        )
    return out


def _harm_cell(result: AuditResult, head: str) -> tuple[str, str]:
    """Which confusion count holds the people the headline metric counts as harmed."""
    if head in ("false_negative_rate", "false_omission_rate"):
        return "fn", (
            "eligible people not selected"
            if result.intervention == "assistive"
            else "truly positive people not flagged"
        )
    if head in ("false_positive_rate", "false_discovery_rate"):
        return "fp", (
            "people wrongly flagged"
            if result.intervention == "punitive"
            else "non-eligible people selected"
        )
    return "fn", "truly positive people not selected"


def _harm_phrase(result: AuditResult, head: str) -> str:
    """What the headline rate counts, in words (follows a percentage)."""
    assistive = result.intervention == "assistive"
    return {
        "false_negative_rate": "of its eligible people are not selected"
        if assistive
        else "of its truly positive people are not flagged",
        "false_positive_rate": "of its people who should not be flagged are flagged"
        if not assistive
        else "of its non-eligible people are selected",
        "false_discovery_rate": "of the people it flags are wrongly flagged"
        if not assistive
        else "of the people it selects are not eligible",
    }.get(head, f"({metric_name(head, result.intervention)})")


def _summary(
    result: AuditResult,
    spec: AuditSpec | None,
    gates: list[GateSection],
    show: _Shower,
    blocked: Any,
    head: str,
    redress: RedressSection,
    mitigation: MitigationSection,
) -> Summary:
    cell, unit = _harm_cell(result, head)
    hname = metric_name(head, result.intervention)
    groups = {_key(g.attributes): g for g in result.groups}
    failed: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for c in result.checks:
        if c.verdict == "fail" and c.attributes:
            ids = failed.setdefault(_key(c.attributes), [])
            if c.id not in ids:
                ids.append(c.id)
    harmed = []
    ref_of_group: dict[str, dict[str, str]] = {}
    for g in result.groups:
        k = _key(g.attributes)
        if k not in failed:
            continue
        ref_attrs = next((d.reference for d in g.disparities.values()), {})
        ref_of_group[group_label(g.attributes)] = ref_attrs
        ref = groups.get(_key(ref_attrs))
        rate = g.metrics.get(head)
        ref_rate = ref.metrics.get(head) if ref is not None else None
        hide = blocked(g.attributes)
        people = show(("g", k, cell))
        excess = None
        if not hide and rate is not None and ref_rate is not None and ref_rate.value is not None:
            denom = rate.denominator
            extra = getattr(g.counts, cell) - ref_rate.value * denom
            excess = round(extra) if extra >= 0.5 else None
        harmed.append(
            HarmedGroup(
                group=group_label(g.attributes),
                attributes=g.attributes,
                gates_failed=failed[k],
                metric=head,
                metric_name=hname,
                value=None if hide or rate is None else _r(rate.value),
                ci=None if hide or rate is None else _ri(rate.ci),
                reference=group_label(ref_attrs),
                reference_value=None if hide or ref_rate is None else _r(ref_rate.value),
                people=people,
                people_unit=unit,
                excess=excess,
            )
        )
    overall_rate = result.overall.metrics.get(head)
    total_harmed = show(("g", (), cell))
    headline = (
        f"{_pct(overall_rate.value if overall_rate else None)} of the "
        f"{'eligible' if cell == 'fn' and result.intervention == 'assistive' else 'relevant'} "
        f"people are harmed by the model's errors overall ({hname}): "
        f"{_num(total_harmed)} {unit} among {_num(show(('d', 'n_audited')))} people audited."
    )
    phrase = _harm_phrase(result, head)
    who = []
    for h in harmed:
        name = plain_label(h.attributes)
        if h.value is None:
            who.append(
                f"{name}: failed {', '.join(h.gates_failed)}; {_num(h.people)} {h.people_unit} "
                f"(its rates are not shown because a count in it is small)."
            )
            continue
        ref_name = plain_label(ref_of_group[h.group])
        line = (
            f"{name}: {_pct(h.value)} {phrase}, against {_pct(h.reference_value)} in "
            f"{ref_name}; that is {_num(h.people)} {h.people_unit}"
        )
        if h.excess is not None:
            line += f", {_people(h.excess)} more than at the rate of {ref_name}"
        who.append(line + ".")
    n_fail = sum(g.failed for g in gates)
    n_ins = sum(g.insufficient_evidence for g in gates)
    n_pass = sum(g.passed for g in gates)
    conf = f"{100 * result.confidence:g}%"
    sure = [
        f"{len(result.checks)} check{'s' if len(result.checks) != 1 else ''}: "
        f"{n_pass} pass, {n_fail} fail, {n_ins} insufficient evidence. A check decided on "
        "its interval fails only "
        f"when its whole {conf} confidence interval is on the wrong side of the gate's "
        "limit, so each failure is unlikely to be chance."
    ]
    for h in harmed:
        if h.ci is not None:
            sure.append(
                f"{plain_label(h.attributes)}: we are {conf} confident that between "
                f"{_pct(h.ci[0])} and {_pct(h.ci[1])} {phrase}."
            )
    if n_ins:
        sure.append(
            f"{n_ins} check{'s' if n_ins != 1 else ''} could not be decided: the interval "
            f"straddles the limit or the group is too small (under "
            f"{result.min_group_size:,} people). This is not a finding that these groups "
            "are treated fairly."
        )
    do = []
    if n_fail and redress.groups:
        do.append(
            "Do not rely on the model's decisions for the groups that fail as it stands: "
            "find and correct the cause of their higher error before the model is used (again)."
        )
        do += _what_to_do(result, redress, mitigation)
    elif n_fail:
        do.append(
            "Do not rely on the model's decisions for the groups that fail as it stands: "
            "find and correct the cause of their higher error before the model is used "
            "(again), and re-examine the decisions already made about the people counted above."
        )
        if not redress.computed:
            do.append(
                "For concrete steps — who to re-review, through which appeal route, and which "
                f"change to the model would fix this — {_HOW_TO_RECOMMEND}."
            )
    if n_ins:
        do.append(
            "Gather more evidence (more data, or a longer audit period) for the groups "
            "without a verdict before concluding anything about them."
        )
    if not n_fail and not n_ins:
        do.append("Keep auditing the model as its data and population change.")
    else:
        do.append("Audit the model again after any change, with the same gates.")
    return Summary(
        status=result.status,
        headline=headline,
        harmed=harmed,
        who_is_harmed=who,
        how_sure=sure,
        what_should_happen=do,
    )


def _what_to_do(
    result: AuditResult, redress: RedressSection, mitigation: MitigationSection
) -> list[str]:
    """What should happen, from the redress and mitigation sections, in plain words."""
    assistive = result.intervention == "assistive"
    wrong = "wrongly excluded" if assistive else "wrongly flagged"
    out = []
    if redress.rereview_total is not None:
        where = (
            f"the list itself is in the restricted file {redress.rereview_artifact}, not in "
            "this card"
            if redress.rereview_artifact
            else "the list is written to a restricted file when the audit runs with an output "
            "folder"
        )
        parts = [
            f"{plain_label(g.attributes)}: {_count_words(g.rereview)}"
            if g.rereview is not None
            else plain_label(g.attributes)
            for g in redress.groups
        ]
        total = redress.rereview_total
        listed = (
            f"the {total:,} people on the re-review list"
            if isinstance(total, int)
            else f"the people on the re-review list ({_count_words(total)})"
        )
        out.append(
            f"Re-review the decisions about {listed} ({where}), starting with the people "
            f"{wrong}. By group: " + "; ".join(parts) + "."
        )
    else:
        parts = [f"{plain_label(g.attributes)}: {_count_words(g.harmed)}" for g in redress.groups]
        out.append(
            f"Re-review the decisions about the people {wrong} in the groups that fail: "
            + "; ".join(parts)
            + "."
        )
    if redress.channels:
        routes = [
            f"{c.name} ({c.how}" + (f"; deadline: {c.deadline}" if c.deadline else "") + ")"
            for c in redress.channels
        ]
        out.append(
            "Tell the people concerned how to challenge their decision: "
            + " or ".join(routes)
            + "."
        )
    else:
        out.append(
            "Name an appeal route the people concerned can use and tell them of it (the audit "
            "spec names none)."
        )
    if not mitigation.computed:
        out.append(
            "Find a change that fixes this: no change to the model was simulated (see the "
            "mitigation section)."
        )
        return out
    tried = [o for o in mitigation.options if o.kind != "current"]
    present = next((o for o in mitigation.options if o.kind == "current"), None)
    best = next((o for o in tried if o.recommended), None)
    if best is not None:
        passing = sum(o.passes for o in tried)
        cost = "" if best.cost is None else f" (cost: {best.cost:+,} {best.cost_unit})"
        out.append(
            f"Adopt the change “{best.name}”: {best.description[:1].lower()}"
            f"{best.description[1:].rstrip('.')}. Simulated on the audit data, it passes every "
            f"check; of the {passing} simulated change{'s' if passing != 1 else ''} that do, "
            f"it costs least{cost}."
        )
    elif tried:
        closest = min(tried, key=lambda o: (o.failed, o.cost if o.cost is not None else 0))
        now = f" (now {present.failed})" if present is not None else ""
        out.append(
            f"No simulated change fixes this: none of the {len(tried)} changes tried passes "
            f"every check. The closest, “{closest.name}”, still leaves {closest.failed} "
            f"check{'s' if closest.failed != 1 else ''} failing{now}. The cause needs a change "
            "beyond these options — the redress section shows what decided the wrong decisions."
        )
    else:
        out.append(
            "No change to the model could be simulated from this model or the spec: find the "
            "cause of the failures another way (the redress section shows what decided them)."
        )
    return out


def _model_details(result: AuditResult, spec: AuditSpec | None, head: str) -> ModelDetails:
    prov_model = result.provenance.model
    loader = spec.model.loader if spec is not None else str(prov_model.get("loader", NOT_STATED))
    if spec is not None:
        options = spec.model.options
    else:
        raw = prov_model.get("options", {})
        options = raw if isinstance(raw, dict) else {}
    assistive = result.intervention == "assistive"
    return ModelDetails(
        audit_name=spec.name if spec is not None else result.name,
        description=(
            spec.description.strip() if spec is not None and spec.description else NOT_STATED
        ),
        intervention=result.intervention,
        intervention_meaning=(
            "assistive: being selected helps the person (a benefit is granted)"
            if assistive
            else "punitive: being selected harms the person (a flag, an investigation)"
        ),
        decision_1_means=(
            "the model selects the person or household for the benefit"
            if assistive
            else "the model flags the person or household"
        ),
        loader=loader,
        loader_options={
            k: json.dumps(v, ensure_ascii=False, sort_keys=True) if not isinstance(v, str) else v
            for k, v in sorted(options.items())
        },
        model_sha256=result.provenance.model_sha256,
        headline_metric=head,
        headline_name=metric_name(head, result.intervention),
    )


def _data(result: AuditResult, spec: AuditSpec | None, show: _Shower) -> DataSection:
    if spec is None:
        synthetic = NOT_STATED
    elif "synthetic" in spec.description.lower():
        synthetic = f"The spec describes the data as synthetic: {spec.description.strip()}"
    else:
        synthetic = "The spec's description does not say the data is synthetic."
    return DataSection(
        source=spec.data.path if spec is not None else result.provenance.data_path,
        label=spec.data.label if spec is not None else NOT_STATED,
        n_rows=show(("d", "n_rows")),
        n_audited=show(("d", "n_audited")),
        dropped={r: show(("d", "dropped", r)) for r in result.dropped},
        unknown={a: show(("d", "unknown", a)) for a in result.unknown},
        weighted=result.weighted,
        synthetic=synthetic,
    )


def _attribute_sets(result: AuditResult) -> list[tuple[tuple[str, ...], list[GroupResult]]]:
    sets: dict[tuple[str, ...], list[GroupResult]] = {}
    for g in result.groups:
        sets.setdefault(tuple(g.attributes), []).append(g)
    return list(sets.items())


def _group_tables(result: AuditResult, show: _Shower, withheld: set[Any]) -> list[GroupTable]:
    refs = {tuple(r.attributes): r for r in result.references}
    out = []
    for names, members in _attribute_sets(result):
        ref = refs.get(names)
        rows = []
        for g in members:
            k = _key(g.attributes)
            n = show(("g", k, "n"))
            rows.append(
                GroupRow(
                    label=" × ".join(g.attributes.values()),
                    attributes=g.attributes,
                    is_reference=g.is_reference,
                    n=n,
                    share=None if isinstance(n, str) else _r(g.share),
                    tp=show(("g", k, "tp")),
                    fp=show(("g", k, "fp")),
                    fn=show(("g", k, "fn")),
                    tn=show(("g", k, "tn")),
                    rates_shown=k not in withheld,
                )
            )
        out.append(
            GroupTable(
                attributes=list(names),
                title=" × ".join(names),
                reference=group_label(ref.group) if ref else NOT_STATED,
                reference_policy=ref.policy if ref else NOT_STATED,
                reference_reason=ref.reason if ref else NOT_STATED,
                total=show(("g", (), "n")),
                rows=rows,
            )
        )
    return out


def _rate(m: Any, show_denominator: Shown) -> Rate:
    return Rate(value=_r(m.value), ci=_ri(m.ci), denominator=show_denominator)


def _metric_list(result: AuditResult, head: str) -> list[str]:
    present = set(result.overall.metrics)
    out = [head] + [m for m in _TABLE_METRICS if m != head]
    return [m for m in out if m in present]


def _metric_tables(
    result: AuditResult, show: _Shower, withheld: set[Any], head: str
) -> list[MetricTable]:
    metrics = _metric_list(result, head)
    overall = {
        m: _rate(result.overall.metrics[m], result.overall.metrics[m].denominator) for m in metrics
    }
    out = []
    for names, members in _attribute_sets(result):
        rows = []
        for g in members:
            k = _key(g.attributes)
            hide = k in withheld
            rows.append(
                MetricRow(
                    label=" × ".join(g.attributes.values()),
                    attributes=g.attributes,
                    is_reference=g.is_reference,
                    values={
                        m: None
                        if hide or m not in g.metrics
                        else _rate(g.metrics[m], g.metrics[m].denominator)
                        for m in metrics
                    },
                )
            )
        out.append(
            MetricTable(
                attributes=list(names),
                title=" × ".join(names),
                metrics=metrics,
                metric_names={m: metric_name(m, result.intervention) for m in metrics},
                overall=dict(overall),
                rows=rows,
            )
        )
    return out


def _small_share(rate: float | None, n: int, min_cell: int) -> bool:
    """Whether a share of ``n`` people implies a count (or its complement) that is small."""
    if rate is None:
        return False
    k = round(rate * n)
    return 0 < k < min_cell or 0 < n - k < min_cell


def _score_row(sg: Any, hide: bool, min_cell: int) -> ScoreRow:
    hide_rate = hide or _small_share(sg.scoring_rate, sg.n, min_cell)
    return ScoreRow(
        label=" × ".join(sg.attributes.values()) or "everyone",
        attributes=sg.attributes,
        auc=None if hide else _r(sg.auc, 3),
        auc_ci=None if hide else _ri(sg.auc_ci, 3),
        scoring_rate=None if hide_rate else _r(sg.scoring_rate),
        scoring_rate_ci=None if hide_rate else _ri(sg.scoring_rate_ci),
        scoring_impact_ratio=None if hide_rate else _r(sg.scoring_impact_ratio, 3),
    )


def _scores(result: AuditResult, withheld: set[Any], min_cell: int) -> ScoreSection | None:
    sc = result.scores
    if sc is None:
        return None
    tables = []
    for grouping in sc.groupings:
        rows = [
            _score_row(sg, _key(sg.attributes) in withheld or sg.n < min_cell, min_cell)
            for sg in grouping.groups
        ]
        tables.append(
            ScoreTable(
                attributes=grouping.attributes, title=" × ".join(grouping.attributes), rows=rows
            )
        )
    return ScoreSection(
        median_score=sc.median_score,
        overall=_score_row(sc.overall, False, min_cell),
        tables=tables,
    )


def _regression_row(rg: Any, hide: bool, min_cell: int) -> RegressionRow:
    hide_rate = hide or _small_share(rg.over_prediction_rate, rg.n, min_cell)
    return RegressionRow(
        label=" × ".join(rg.attributes.values()) or "everyone",
        attributes=rg.attributes,
        mean_error=None if hide else _r(rg.mean_error, 2),
        mean_error_ci=None if hide else _ri(rg.mean_error_ci, 2),
        mean_absolute_error=None if hide else _r(rg.mean_absolute_error, 2),
        mean_absolute_error_ci=None if hide else _ri(rg.mean_absolute_error_ci, 2),
        over_prediction_rate=None if hide_rate else _r(rg.over_prediction_rate),
        over_prediction_rate_ci=None if hide_rate else _ri(rg.over_prediction_rate_ci),
    )


def _regression(result: AuditResult, withheld: set[Any], min_cell: int) -> RegressionSection | None:
    rr = result.regression
    if rr is None:
        return None
    return RegressionSection(
        predicted=rr.predicted,
        actual=rr.actual,
        overall=_regression_row(rr.overall, False, min_cell),
        rows=[
            _regression_row(g, _key(g.attributes) in withheld or g.n < min_cell, min_cell)
            for g in rr.groups
        ],
    )


def _disparity_tables(
    result: AuditResult, spec: AuditSpec | None, blocked: Any, head: str
) -> list[DisparityTable]:
    wanted = [head, "selection_rate"] + [_canon(c.metric) for c in result.checks]
    metrics = list(dict.fromkeys(m for m in wanted if m in result.overall.metrics))
    out = []
    for names, members in _attribute_sets(result):
        for metric in metrics:
            rows = []
            reference = NOT_STATED
            for g in members:
                d = g.disparities.get(metric)
                if d is None:
                    continue
                reference = group_label(d.reference)
                if g.is_reference:
                    continue
                hide = blocked(g.attributes)
                rows.append(
                    DisparityRow(
                        label=" × ".join(g.attributes.values()),
                        attributes=g.attributes,
                        difference=None if hide else _r(d.difference),
                        difference_ci=None if hide else _ri(d.difference_ci),
                        ratio=None if hide else _r(d.ratio, 3),
                        ratio_ci=None if hide else _ri(d.ratio_ci, 3),
                        test=None if hide else d.test,
                        p_value=None if hide else _sig(d.p_value),
                        p_adjusted=None if hide else _sig(d.p_adjusted),
                        withheld=hide,
                    )
                )
            if rows:
                out.append(
                    DisparityTable(
                        attributes=list(names),
                        title=" × ".join(names),
                        metric=metric,
                        metric_name=metric_name(metric, result.intervention),
                        reference=reference,
                        rows=rows,
                    )
                )
    return out


def _explanations(result: AuditResult, show: _Shower, min_cell: int) -> Explanations:
    missing = []
    reasons = None
    if result.reasons is not None:
        rs = result.reasons
        tables = []
        for rg in rs.groups:
            k = _key(rg.attributes)
            rows = []
            for rc in rg.reasons:
                w = show(("r", k, rc.reason, "wrongly"))
                total = show(("r", k, "wrongly"))
                rows.append(
                    ReasonRow(
                        reason=rc.reason,
                        wrongly=w,
                        share=None
                        if isinstance(w, str) or isinstance(total, str)
                        else _r(rc.share),
                    )
                )
            tables.append(
                ReasonTable(
                    group=group_label(rg.attributes),
                    attributes=rg.attributes,
                    wrongly=show(("r", k, "wrongly")),
                    reasons=rows,
                )
            )
        reasons = ReasonsSection(
            column=rs.column, adverse=rs.adverse, wrongly=rs.wrongly, groups=tables
        )
    else:
        missing.append(
            "Reasons: not computed — the model gave no per-decision reason (only rule-based "
            "models report which criterion decided), so the card cannot say which step "
            "caused the wrong decisions."
        )
    counterfactuals = None
    if result.counterfactuals is not None:
        cf = result.counterfactuals
        counterfactuals = CounterfactualSection(
            defects=cf.defects,
            groups=[
                CounterfactualTable(
                    group=group_label(cg.attributes),
                    attributes=cg.attributes,
                    excluded=show(("c", _key(cg.attributes), "excluded")),
                    defects=[
                        DefectRow(
                            defect=d.defect,
                            **{
                                f: show(("c", _key(cg.attributes), d.defect, f))
                                for f in (
                                    "exclusions_fixed",
                                    "exclusions_created",
                                    "inclusions_fixed",
                                    "inclusions_created",
                                )
                            },
                        )
                        for d in cg.defects
                    ],
                )
                for cg in cf.groups
            ],
        )
    else:
        missing.append(
            "Data defects: not computed — the spec named no registry field to compare with a "
            "true value, so the card cannot say what correcting the data would change."
        )
    categories = None
    if result.categories is not None:
        cr = result.categories
        top = next((c for c in cr.groups if not c.attributes), None)
        matrix = (
            [
                [show(("k", (), "m", i, j)) for j in range(len(row))]
                for i, row in enumerate(top.matrix)
            ]
            if top is not None
            else []
        )
        cat_rows = []
        for cat in cr.groups:
            k = _key(cat.attributes)
            n = show(("k", k, "n"))
            agree = show(("k", k, "agree"))
            cat_rows.append(
                CategoryRow(
                    group=group_label(cat.attributes),
                    attributes=cat.attributes,
                    n=n,
                    agreement=None
                    if isinstance(n, str) or isinstance(agree, str)
                    else _r(cat.agreement),
                    need_hidden=show(("k", k, "need_hidden")),
                    need_overstated=show(("k", k, "need_overstated")),
                )
            )
        categories = CategorySection(
            true_column=cr.true_column, order=cr.order, matrix=matrix, groups=cat_rows
        )
    else:
        missing.append(
            "Categories: not computed — the spec gave no true category to compare the model's "
            "category with."
        )
    poorest = None
    if result.poorest is not None:
        pr = result.poorest
        rows_p = []
        for pg in pr.groups:
            k = _key(pg.attributes)
            shown = [show(("p", k, f)) for f in ("n", "eligible", "excluded")]
            hide = any(isinstance(s, str) for s in shown)
            rows_p.append(
                PoorestRow(
                    group=group_label(pg.attributes),
                    attributes=pg.attributes,
                    n=shown[0],
                    eligible=shown[1],
                    excluded=shown[2],
                    exclusion_error=None if hide else _r(pg.exclusion_error),
                    exclusion_error_ci=None if hide else _ri(pg.exclusion_error_ci),
                )
            )
        poorest = PoorestSection(
            welfare=pr.welfare, share=pr.share, cutoff=pr.cutoff, groups=rows_p
        )
    else:
        missing.append(
            "Errors among the poorest: not computed — the spec named no welfare measure, so the "
            "card cannot say whether the poorest are missed more often."
        )
    drivers = _drivers(result, show, min_cell)
    if drivers is None:
        missing.append(
            "What drives the decisions (feature attributions by SHAP, likely proxies, the most "
            "frequent reasons by group): not computed — add an `explain:` block to the audit "
            "spec (e.g. `explain: {sample: 2000}`) and install the extra "
            "(`pip install 'fairaudit[shap]'`) to compute them."
        )
    return Explanations(
        reasons=reasons,
        counterfactuals=counterfactuals,
        categories=categories,
        poorest=poorest,
        drivers=drivers,
        not_computed=missing,
    )


# --------------------------------------------------------------------------- what drives


def _output_words(explainer: str, output: str) -> tuple[str, str, str]:
    """(short name, what it is in words, unit) of the output the explanations explain."""
    if output == "score" and explainer == "rules":
        return (
            "deprivation score",
            "the deprivation score: the weighted share of deprivation indicators a family "
            "meets, from 0 to 1 (higher = more deprived = closer to support)",
            "score points on the 0–1 scale",
        )
    return {
        "log-odds": (
            "log-odds of selection",
            "the model's log-odds of selection: its internal score before it is turned into "
            "a probability (higher = more likely to be selected; +0.69 doubles the odds)",
            "log-odds",
        ),
        "probability": (
            "probability of selection",
            "the model's probability of selection, from 0 to 1",
            "probability points on the 0–1 scale",
        ),
        "decision": (
            "decision",
            "the decision itself (1 = selected, 0 = not selected)",
            "decision points on the 0–1 scale",
        ),
    }.get(
        output, ("score", "the model's score (higher = more likely to be selected)", "score points")
    )


def _method_words(explainer: str, budget: int | None) -> tuple[bool, str]:
    """Whether the attributions are exact, and the method in words."""
    if explainer == "rules":
        return True, (
            "exact: the score is a weighted sum of yes/no indicators, so each indicator's "
            "contribution is computed exactly, not estimated"
        )
    if explainer == "tree":
        return True, "exact for tree models (SHAP's TreeExplainer)"
    if explainer == "linear":
        return True, "exact for a linear model (SHAP's LinearExplainer)"
    evals = f" with a budget of {budget:,} model evaluations per explained person" if budget else ""
    return False, (
        f"estimated by the model-agnostic {explainer} method{evals}; another random seed "
        "gives slightly different numbers"
    )


def _f3(x: float) -> str:
    return f"{x:.3f}" if abs(x) >= 0.0005 else "0.000"


def _gap_sentence(
    group: dict[str, str],
    reference: dict[str, str],
    raw: Mapping[str, Any],
    short: str,
    unit: str,
) -> str:
    name, ref = plain_label(group), plain_label(reference)
    if raw.get("suppressed") or raw.get("gap") is None:
        return (
            f"{name}: not shown — too few people of this group or of {ref} were in the "
            "explanation sample (or fewer than the card's smallest count)."
        )
    gap = float(raw["gap"])
    top = [(str(t["feature"]), float(t["contribution"])) for t in raw.get("top") or []]
    parts = [
        f"{_f3(v)} comes from {f}" if i == 0 else f"{_f3(v)} from {f}"
        for i, (f, v) in enumerate(top)
    ]
    listed = (", ".join(parts[:-1]) + " and " + parts[-1]) if len(parts) > 1 else "".join(parts)
    other = gap - sum(v for _, v in top)
    return (
        f"Of the {_f3(abs(gap))} {'higher' if gap >= 0 else 'lower'} mean {short} of {name}, "
        f"compared with {ref} ({_f3(float(raw['group_mean']))} against "
        f"{_f3(float(raw['reference_mean']))}; unit: {unit}), "
        + (
            f"{listed}; the other features together add {_f3(other)}."
            if top
            else "no feature is listed."
        )
    )


def _reason_frequency_groups(
    result: AuditResult,
) -> list[tuple[dict[str, str], list[Mapping[str, Any]]]]:
    """results.explanations.reason_frequencies by group, in the results' order."""
    rows = (result.explanations or {}).get("reason_frequencies")
    out: dict[Hashable, tuple[dict[str, str], list[Mapping[str, Any]]]] = {}
    for r in rows or []:
        attrs = {str(r["attribute"]): str(r["group"])}
        out.setdefault(_key(attrs), (attrs, []))[1].append(r)
    return list(out.values())


_XKey = tuple[str, tuple[tuple[str, str], ...], str]


def _driver_counts(
    result: AuditResult,
    values: dict[Any, int],
    relations: list[tuple[Any, list[Any]]],
    small: list[Any],
    min_cell: int,
) -> None:
    """Register the reason-frequency counts (``("x", group, feature)``) for suppression.

    A reader is assumed to know every total these counts add up to: a group's adverse
    decisions (its fn + tn, or a count over its share) and each feature's count over
    everyone (the same sum over the groups of every attribute). Counts the audit already
    suppressed (null, so from 1 to the audit's minimum) are hidden as small counts, with 0
    as their stand-in value; counts not on the card are treated as known, which can only
    hide more, never less.
    """
    by_feature: dict[str, list[_XKey]] = {}
    for attrs, rows in _reason_frequency_groups(result):
        k = _key(attrs)
        parts = []
        for r in rows:
            key: _XKey = ("x", k, str(r["feature"]))
            values[key] = 0 if r.get("count") is None else int(r["count"])
            if r.get("count") is None:
                small.append(key)
            parts.append(key)
            by_feature.setdefault(str(r["feature"]), []).append(key)
        values[("x", k, "all")] = max(min_cell, sum(values[p] for p in parts))
        relations.append((("x", k, "all"), parts))
    for feature, keys in by_feature.items():
        attrs_of: dict[tuple[str, ...], list[_XKey]] = {}
        for key in keys:
            attrs_of.setdefault(tuple(a for a, _ in key[1]), []).append(key)
        values[("x", (), feature)] = max(
            [min_cell, *(sum(values[k] for k in ks) for ks in attrs_of.values())]
        )
        for ks in attrs_of.values():
            relations.append((("x", (), feature), ks))


def _drivers(result: AuditResult, show: _Shower, min_cell: int) -> Drivers | None:
    ex = result.explanations
    if ex is None:
        return None
    explainer, output = str(ex.get("explainer")), str(ex.get("output"))
    short, long, unit = _output_words(explainer, output)
    budget = ex.get("budget")
    exact, method = _method_words(explainer, budget)
    base = ex.get("base_value")
    n, population = int(ex.get("sample_size") or 0), ex.get("population")
    background = ex.get("background_rows")
    what = [
        "SHAP (Shapley additive explanations) splits each result of the model into one "
        "contribution per input it reads: for each person, the contributions add up to the "
        f"difference between that person's {short} and the average"
        + (f" ({_f3(float(base))})." if base is not None else "."),
        f"Explained: {long}.",
        f"Method: {method}.",
        f"Sample: {n:,}"
        + (f" of the {int(population):,}" if population else "")
        + " audited (people or households), drawn so that every group the audit reports is "
        "represented"
        + (f" ({ex['strata']:,} strata)" if ex.get("strata") else "")
        + (
            " (each sampled person is weighted by how many people they stand for)"
            if ex.get("weighted")
            else ""
        )
        + (
            f"; contributions are measured from the average of {int(background):,} "
            "background people"
            if background
            else ""
        )
        + ".",
    ]
    if explainer == "rules":
        what.append(
            "The eligibility steps (for example citizenship, the income test, the SMS offer) "
            "act on the decision, not on the score: they have no share of the score here; the "
            "deciding-step tables of this section attribute each denial to the step that "
            "decided it."
        )
    what.append(
        f"Contributions describe what the model's {short} rests on, not causes in people's "
        "lives. Groups' numbers are averages over the sampled people of the group."
    )
    overall = [
        FeatureWeight(feature=str(g["feature"]), value=_r(g["mean_abs_shap"]) or 0.0)
        for g in ex.get("global_importance") or []
    ]
    groups = []
    for g in ex.get("group_importance") or []:
        attrs = {str(a): str(v) for a, v in g["attributes"].items()}
        shown = not g.get("suppressed") and int(g.get("n") or 0) >= min_cell
        means = g.get("mean_shap") if shown else None
        top = []
        if means:
            ranked = sorted(means.items(), key=lambda kv: -abs(float(kv[1])))
            top = [FeatureWeight(feature=f, value=_r(v) or 0.0) for f, v in ranked[:_TOP_GROUP]]
        groups.append(
            GroupDrivers(
                group=group_label(attrs),
                attributes=attrs,
                shown=bool(means),
                mean_output=_r(g.get("mean_output")) if means else None,
                mean_contributions={f: _r(v) or 0.0 for f, v in means.items()} if means else None,
                top=top,
            )
        )
    attrs_of = {group_label(g.attributes): g.attributes for g in result.groups}
    refs = {tuple(r.attributes): r.group for r in result.references}
    raw_gaps = ex.get("gaps") or []
    shown_sizes = sorted(
        (-abs(float(g["gap"])), i)
        for i, g in enumerate(raw_gaps)
        if not g.get("suppressed")
        and g.get("gap") is not None
        and min(int(g["n_group"]), int(g["n_reference"])) >= min_cell
    )
    charted = {i for _, i in shown_sizes[:_GAP_CHARTS]}
    gaps = []
    for i, g in enumerate(raw_gaps):
        attrs = attrs_of.get(str(g["group"]), {})
        ref = refs.get(tuple(attrs), {}) if attrs else {}
        shown = i in {j for _, j in shown_sizes}
        raw = g if shown else {**g, "suppressed": True}
        top = [
            FeatureWeight(feature=str(t["feature"]), value=_r(t["contribution"]) or 0.0)
            for t in (g.get("top") or [] if shown else [])
        ]
        gaps.append(
            GapExplanation(
                group=str(g["group"]),
                attributes=attrs,
                reference=group_label(ref) if ref else NOT_STATED,
                reference_attributes=ref,
                shown=shown,
                group_mean=_r(g["group_mean"]) if shown else None,
                reference_mean=_r(g["reference_mean"]) if shown else None,
                gap=_r(g["gap"]) if shown else None,
                contributions=top,
                other=_r(
                    float(g["gap"]) - sum(float(t["contribution"]) for t in g.get("top") or [])
                )
                if shown
                else None,
                sentence=_gap_sentence(attrs or {"group": str(g["group"])}, ref, raw, short, unit),
                charted=i in charted,
            )
        )
    left_out = len([1 for _, i in shown_sizes]) - len(charted)
    if raw_gaps:
        gaps_note = (
            f"{len(raw_gaps)} group{'s' if len(raw_gaps) != 1 else ''} failed a gate; for each, "
            f"the gap between its mean {short} and its reference group's is split into the "
            "contributions of the inputs (they add up to the gap). "
            + (
                f"The {len(charted)} largest gaps are drawn as charts"
                + (f"; {left_out} more are described in words only." if left_out else ".")
                if charted
                else "None can be drawn."
            )
        )
        if explainer == "rules":
            gaps_note += (
                " A gap in the score is not a gap in the decision: a higher deprivation score "
                "brings a family closer to support, but the eligibility steps decide too."
            )
    else:
        gaps_note = "No group failed a gate, so no gap is split into contributions."
    proxies = None
    if ex.get("proxies") is not None:
        proxies = [
            ProxyRow(
                rank=int(p["rank"]),
                feature=str(p["feature"]),
                attribute=str(p["attribute"]),
                measure=str(p["measure"]),
                measure_name=_MEASURES.get(str(p["measure"]), str(p["measure"]).replace("_", " ")),
                association=_r(p["association"]) or 0.0,
                reliance=_r(p["reliance"]) or 0.0,
                proxy_score=_r(p["proxy_score"]) or 0.0,
            )
            for p in ex["proxies"]
        ]
        proxies_note = (
            "A proxy is an input that stands in for a protected attribute: it predicts the "
            "attribute well (association: ROC AUC, where 0.5 is chance and 1 is perfect, or "
            "normalised mutual information, where 0 is unrelated and 1 is fully determined) "
            "and the model relies on it (reliance: its share of all inputs' mean contribution). "
            "Through a proxy a model can treat groups differently without reading the "
            "attribute. A high-ranking proxy is not proof of discrimination, but it needs a "
            "legal and ethical review: is relying on this input justified for the programme's "
            "purpose, and is there a less discriminatory alternative?"
        )
    else:
        proxies_note = "Proxies: not computed (the spec's `explain:` has `proxies: false`)."
    reasons = None
    adverse = "not selected" if result.intervention == "assistive" else "flagged"
    freq = _reason_frequency_groups(result)
    if freq:
        reasons = []
        for attrs, rows in freq:
            k = _key(attrs)
            top_r = []
            for r in rows[:_TOP_REASONS]:
                c = show(("x", k, str(r["feature"])))
                top_r.append(
                    ReasonCount(
                        reason=str(r["feature"]),
                        count=c,
                        share=None if isinstance(c, str) else _r(r.get("share")),
                    )
                )
            reasons.append(
                ReasonFrequencyGroup(group=group_label(attrs), attributes=attrs, top=top_r)
            )
        how = (
            "each denial is attributed exactly to the step that decided it"
            if explainer == "rules"
            else "each adverse decision's main reason is the input that pushed it most "
            "toward the adverse decision (its largest SHAP contribution)"
        )
        reasons_note = (
            f"Adverse decisions (the person is {adverse}) in the whole data, not the sample: "
            f"{how}. The {_TOP_REASONS} most frequent reasons of each group, with their count "
            f"and share of the group's adverse decisions; counts from 1 to {min_cell - 1} are "
            f"shown as {small_mark(min_cell)}"
            + (
                f" (counts the audit itself withheld as {small_mark(_AUDIT_REASON_MIN)})"
                if min_cell < _AUDIT_REASON_MIN
                else ""
            )
            + f", and counts that would reveal them as {SUPPRESSED}. The reason of each person "
            "is in a restricted file, not in this card."
        )
    else:
        reasons_note = (
            "The most frequent reasons by group: not computed in this run (reason codes are "
            "written when the audit runs with an output folder, e.g. `fairaudit check`, and "
            "the spec's `explain:` keeps `reasons: true`)."
        )
    return Drivers(
        explainer=explainer,
        exact=exact,
        method=method,
        output=output,
        output_name=short,
        unit=unit,
        what=what,
        sample_size=n,
        population=None if population is None else int(population),
        background_rows=None if background is None else int(background),
        budget=None if budget is None else int(budget),
        base_value=_r(base),
        overall=overall,
        groups=groups,
        gaps=gaps,
        gaps_note=gaps_note,
        proxies=proxies,
        proxies_note=proxies_note,
        reasons=reasons,
        reasons_note=reasons_note,
    )


# --------------------------------------------------------------------------- recommendations

#: the harm metric of the recommendations -> the confusion count holding the harmed
_HARM_CELL = {"false_negative_rate": "fn", "false_positive_rate": "fp"}
_KIND_NAMES = {
    "current": "the model as audited",
    "threshold": "one threshold for everyone",
    "rules": "rules change",
    "data": "data correction",
    "retrain": "retrained model",
}
_PER_RECIPIENT = re.compile(
    r"\s+per\s+(?:family|families|person|people|household|households|beneficiary|"
    r"beneficiaries|recipient|recipients|child|children|case|cases)\b",
    re.IGNORECASE,
)
_HOW_TO_RECOMMEND = (
    "add a `recommend:` block to the audit spec (for example `recommend: {benefit: {amount: "
    "45000, unit: KZT per family per month}, channels: [{name: Contact centre, how: phone "
    "1414, deadline: within 30 days}]}`) and run the audit again"
)


def _total_unit(unit: str) -> str:
    """The unit of a per-person amount summed over people: ``KZT per family per month`` ->
    ``KZT per month``; an amount with no 'per person' in its unit is per person already."""
    return _PER_RECIPIENT.sub("", unit, count=1)


def _difference(
    values: dict[Any, int], relations: list[tuple[Any, list[Any]]], a: Any, b: Any, key: Any
) -> None:
    """Register ``|a - b|`` (never published, but a reader can subtract) with its relation."""
    hi, lo = (a, b) if values[a] >= values[b] else (b, a)
    values[key] = values[hi] - values[lo]
    relations.append((hi, [lo, key]))


def _redress_counts(
    result: AuditResult, values: dict[Any, int], relations: list[tuple[Any, list[Any]]]
) -> None:
    """Register the redress counts (``("rd", ...)``) for suppression.

    A group's wrongly harmed are its fn (fp) and the counts of what decided them are the
    reasons block's: each is tied to its twin, so both are hidden together. The re-review
    list counts come with every difference a reader can take: list minus wrongly harmed
    (the other people listed), the list's total minus each group's (or the total as the
    sum of the groups' when they do not overlap), and a group minus a group nested in it
    (e.g. single parents minus single parents aged 30-62).
    """
    rec = result.recommendations
    red = rec.redress if rec is not None else None
    if red is None:
        return
    listed = red.rereview_total > 0 or red.rereview_artifact is not None
    on_list: dict[Any, Any] = {}
    for rg in red.groups:
        k = _key(rg.attributes)
        harmed = ("rd", k, "harmed")
        values[harmed] = rg.wrongly
        twin = ("g", k, _HARM_CELL.get(rg.metric, "fn"))
        if values.get(twin) == rg.wrongly:
            relations.append((twin, [harmed]))
        for r in rg.reasons:
            key = ("rd", k, "reason", r.reason)
            values[key] = r.wrongly
            same = ("r", k, r.reason, "wrongly")
            if values.get(same) == r.wrongly:
                relations.append((same, [key]))
        if listed:
            on_list[k] = ("rd", k, "rereview")
            values[on_list[k]] = rg.rereview
            _difference(values, relations, on_list[k], harmed, ("rd", k, "rereview-harmed"))
    if not listed:
        return
    total = ("rd", (), "rereview")
    values[total] = red.rereview_total
    parts = list(on_list.values())
    if parts and sum(values[p] for p in parts) == red.rereview_total:
        relations.append((total, parts))
    else:
        for k, key in on_list.items():
            _difference(values, relations, total, key, ("rd", k, "rereview-others"))
    for ka, a in on_list.items():
        for kb, b in on_list.items():
            if set(ka) < set(kb):
                _difference(values, relations, a, b, ("rd", ka, kb, "rereview-nested"))


def _count_words(x: Shown) -> str:
    """A published count in a sentence: ``1,614``, ``fewer than 10``, or ``not shown``."""
    if isinstance(x, int):
        return f"{x:,}"
    if x == SUPPRESSED:
        return "not shown"
    return f"fewer than {x[1:]}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


_HIDDEN_NUMBER = "their number is not shown, as it would reveal a small count"


def _listing(parts: Sequence[str]) -> str:
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


def _redress_sentence(
    row: RedressRow, assistive: bool, conf: str, reference: dict[str, str], phrase: str
) -> str:
    name = plain_label(row.attributes)
    ref = plain_label(reference) if reference else "its reference group"
    who = "eligible people" if assistive else "people"
    did = (
        "were wrongly excluded (not selected although eligible)"
        if assistive
        else "were wrongly flagged (flagged although they should not have been)"
    )
    if row.harmed == SUPPRESSED:
        text = f"{name}: {who} {did} in the audit data ({_HIDDEN_NUMBER})"
    else:
        text = f"{name}: {_count_words(row.harmed)} {who} {did} in the audit data"
    if row.harmed_estimate is not None:
        text += f" — about {row.harmed_estimate:,} in the population (weighted estimate)"
    if row.rate is None:
        text += (
            "; its rates, and how many are beyond the rate of "
            f"{ref}, are not shown because a count in it or in {ref} is small."
        )
    else:
        text += f"; {_pct(row.rate)} {phrase}, against {_pct(row.reference_rate)} in {ref}."
        if row.excess is not None and row.excess > 0:
            ci = (
                f" ({conf} interval {row.excess_ci[0]:,} to {row.excess_ci[1]:,})"
                if row.excess_ci is not None
                else ""
            )
            text += (
                f" About {_people(row.excess)}{ci} were "
                f"{'excluded' if assistive else 'flagged'} beyond what the rate of {ref} "
                "would give."
            )
        elif row.excess is not None:
            text += f" That is not more than the rate of {ref} would give."
    if row.value_at_stake is not None:
        text += f" {row.value_at_stake:,} {row.value_unit} is at stake" + (
            f" ({row.benefit} for each of them)." if row.benefit else "."
        )
    if row.reasons:
        parts = [
            f"{r.reason.replace('_', ' ')} ({_count_words(r.wrongly)}"
            + (f", {_pct(r.share)}" if r.share is not None else "")
            + ")"
            for r in row.reasons
        ]
        text += f" Most of their cases were decided by {_listing(parts)}."
    if row.rereview == SUPPRESSED:
        text += f" Some people of this group may be on the re-review list ({_HIDDEN_NUMBER})."
    elif row.rereview is not None:
        text += f" {_cap(_count_words(row.rereview))} people of this group are on the "
        text += "re-review list."
    return text


def _redress(result: AuditResult, show: _Shower, blocked: Any) -> RedressSection:
    rec = result.recommendations
    red = rec.redress if rec is not None else None
    if red is None:
        return RedressSection(
            computed=False,
            harm=None,
            what=[],
            groups=[],
            rereview_total=None,
            rereview_rule=None,
            rereview_artifact=None,
            rereview_note="",
            channels=[],
            channels_note="",
            not_computed=(
                "Redress: not computed — who to re-review, how many people, the value at stake "
                f"and the appeal routes are worked out when the audit recommends: "
                f"{_HOW_TO_RECOMMEND}. The re-review list is then written to a restricted file "
                "(restricted/rereview/), never to the card."
            ),
        )
    assistive = result.intervention == "assistive"
    conf = f"{100 * result.confidence:g}%"
    listed = red.rereview_total > 0 or red.rereview_artifact is not None
    rows = []
    for rg in red.groups:
        k = _key(rg.attributes)
        harmed = show(("rd", k, "harmed"))
        counted = isinstance(harmed, int)
        hide = blocked(rg.attributes)
        excess = excess_ci = None
        if not hide and rg.excess is not None:
            excess = round(rg.excess)
            if rg.excess_ci is not None:
                excess_ci = (round(rg.excess_ci[0]), round(rg.excess_ci[1]))
        value = unit = benefit = None
        if rg.value_at_stake is not None and rg.value_unit and counted:
            value, unit = round(rg.value_at_stake), _total_unit(rg.value_unit)
            people = rg.wrongly_weighted if rg.wrongly_weighted is not None else rg.wrongly
            if people:  # value = people x the benefit of one person
                benefit = f"{rg.value_at_stake / people:,.10g} {rg.value_unit}"
        reasons = []
        for r in rg.reasons:
            c = show(("rd", k, "reason", r.reason))
            reasons.append(
                RedressReasonRow(
                    reason=r.reason,
                    wrongly=c,
                    share=None if isinstance(c, str) or not counted else _r(r.share),
                )
            )
        row = RedressRow(
            group=group_label(rg.attributes),
            attributes=rg.attributes,
            gates_failed=rg.checks,
            metric=rg.metric,
            metric_name=metric_name(rg.metric, result.intervention),
            harmed=harmed,
            harmed_estimate=round(rg.wrongly_weighted)
            if rg.wrongly_weighted is not None and counted
            else None,
            rate=None if hide else _r(rg.rate),
            reference=group_label(rg.reference) if rg.reference else NOT_STATED,
            reference_rate=None if hide else _r(rg.reference_rate),
            excess=excess,
            excess_ci=excess_ci,
            value_at_stake=value,
            value_unit=unit,
            benefit=benefit,
            reasons=reasons,
            rereview=show(("rd", k, "rereview")) if listed else None,
            sentence="",
        )
        row.sentence = _redress_sentence(
            row, assistive, conf, rg.reference, _harm_phrase(result, rg.metric)
        )
        rows.append(row)
    harm_words = red.harm
    what = [
        (
            f"For every group a check failed for: the people {harm_words} in the audit data "
            "(a count), and how many of them are beyond what the reference group's rate would "
            "give (the difference of the two rates times the group's "
            + ("eligible people" if assistive else "people who should not be flagged")
            + f", with the {conf} interval of the difference scaled the same way: an estimate, "
            "shown in whole people)."
        ),
    ]
    if result.weighted:
        what.append(
            "The audit is weighted: population numbers are estimates from the weights, rounded "
            "to whole people, and are not shown where the count in the data they come from is "
            "hidden."
        )
    if any(r.value_at_stake is not None for r in red.groups):
        what.append(
            "Value at stake: the people harmed times the benefit one person loses (the spec's "
            "`recommend.benefit`), not shown where that count is hidden (it would give it back)."
        )
    what.append(
        "Counts from 1 to the card's smallest count are hidden like every other count on this "
        "card (see the marks at the top); estimates are not counts of people in the data, but "
        "they are withheld wherever the count or rates they come from are."
    )
    if not rows:
        what = ["No group failed a check: there is nobody to re-review because of this audit."]
    total = show(("rd", (), "rereview")) if listed else None
    if red.rereview_artifact is not None:
        note = (
            f"{_cap(_count_words(total)) if total is not None else 'No'} people are on the "
            f"re-review list. {red.rereview_rule} The list names people (row level), so it is "
            f"in the restricted file {red.rereview_artifact}, kept by the audit's owner and "
            "never published; this card never lists anyone."
        )
    elif listed:
        note = (
            f"{_cap(_count_words(total)) if total is not None else 'No'} people would be on the "
            f"re-review list ({red.rereview_rule}), but it was not written in this run: it is "
            "written to the restricted file restricted/rereview/ when the audit runs "
            "with an output folder (fairaudit check)."
        )
    elif rows:
        note = (
            "No re-review list was made in this run: it is written to the restricted file "
            "restricted/rereview/ when the audit runs with an output folder (fairaudit "
            "check)."
        )
    else:
        note = "Nobody is on a re-review list."
    channels = [RedressChannel(name=c.name, how=c.how, deadline=c.deadline) for c in red.channels]
    if channels:
        channels_note = (
            "People can challenge a decision through these routes; the people on the re-review "
            "list should be told of them."
        )
    else:
        channels_note = (
            "The spec names no appeal or grievance route: add `recommend.channels` (name, how "
            "to reach it, deadline) so the card can tell people where to turn."
        )
    return RedressSection(
        computed=True,
        harm=harm_words,
        what=what,
        groups=rows,
        rereview_total=total,
        rereview_rule=red.rereview_rule,
        rereview_artifact=red.rereview_artifact,
        rereview_note=note,
        channels=channels,
        channels_note=channels_note,
        not_computed=None,
    )


def _mitigation(result: AuditResult, blocked: Any, min_cell: int) -> MitigationSection:
    rec = result.recommendations
    mit = rec.mitigation if rec is not None else None
    if mit is None:
        how = (
            "the spec's `recommend.simulate` is false: set it to true (the default)"
            if rec is not None
            else _HOW_TO_RECOMMEND
        )
        return MitigationSection(
            computed=False,
            harm_metric=None,
            harm_name=None,
            groups=[],
            options=[],
            recommended=None,
            conclusion=None,
            cost_definition=None,
            what=[],
            not_computed=(
                "Mitigation: not computed — no change to the model was simulated. To compare "
                "options (one threshold for everyone, the spec's rules changes, removing "
                "outreach steps, correcting data defects), each re-run on the audit data with "
                f"its checks, overall error, harm and cost: {how}."
            ),
        )
    metric = mit.harm_metric
    cell = _HARM_CELL.get(metric, "fn")
    by_label = {group_label(g.attributes): g for g in result.groups}
    labels = list(mit.options[0].harm) if mit.options else []

    def denominator(g: GroupResult) -> int:
        c = g.counts
        return c.tp + c.fn if cell == "fn" else c.fp + c.tn

    def harm(label: str, value: float | None) -> float | None:
        g = by_label.get(label)
        if value is None or g is None or blocked(g.attributes):
            return None
        # the rate times the group's (unchanged) denominator is the option's count
        return None if _small_share(value, denominator(g), min_cell) else _r(value)

    options = [
        OptionRow(
            name=o.name,
            kind=o.kind,
            kind_name=_KIND_NAMES[o.kind],
            description=_sentence(o.description),
            recommended=o.name == mit.recommended,
            passes=o.passes,
            failed=o.failed,
            insufficient=o.insufficient,
            failed_groups=o.failed_groups,
            overall_error=_r(o.overall_error),
            harm={label: harm(label, o.harm.get(label)) for label in labels},
            newly_covered_eligible=round(o.newly_covered_eligible),
            newly_covered_ineligible=round(o.newly_covered_ineligible),
            cost=None if o.cost is None else round(o.cost),
            cost_unit=o.cost_unit,
            # a count of people with a missing record, tied to no other count on the card
            reviews=None
            if o.reviews is None
            else small_mark(min_cell)
            if 0 < o.reviews < min_cell
            else o.reviews,
        )
        for o in mit.options
    ]
    hname = metric_name(metric, result.intervention)
    covered = "eligible" if result.intervention == "assistive" else "truly positive"
    what = [
        "Each option was simulated by running the whole audit again on the same data with the "
        "change applied — the same counting, statistics and checks — so its numbers are what "
        "the audit would report for the changed model on this data. They are not a forecast "
        "of how people, staff or the registry would respond to the change.",
        f"Columns: whether every check passes; the failed checks (and those without a verdict); "
        f"the overall error (the share of all audited decisions that are wrong: 1 − accuracy); "
        f"the {hname} of each group that fails now; the change in {covered} people and in "
        f"other people selected, against the present model"
        + (" (population estimates from the weights)" if result.weighted else "")
        + f"; and the cost: {mit.cost_definition}"
        + (
            "; for the manual-review options, the cases a caseworker would review"
            if any(o.reviews is not None for o in mit.options)
            else ""
        )
        + ".",
        f"– in a group's column: not shown, because the group (or its reference) has a small "
        f"count, or the rate would reveal a count from 1 to {min_cell - 1}.",
    ]
    return MitigationSection(
        computed=True,
        harm_metric=metric,
        harm_name=hname,
        groups=labels,
        options=options,
        not_run=[
            OptionNotRunRow(
                name=o.name,
                kind_name=_KIND_NAMES[o.kind],
                description=_sentence(o.description),
                reason=_sentence(o.reason),
            )
            for o in mit.not_run
        ],
        recommended=mit.recommended,
        conclusion=_sentence(mit.conclusion),
        cost_definition=mit.cost_definition,
        what=what,
        not_computed=None,
    )


_MEASURES = {
    "roc_auc": "ROC AUC",
    "normalized_mutual_information": "normalised mutual information",
}


def _limitations(
    result: AuditResult, spec: AuditSpec | None, withheld: set[Any], min_cell: int
) -> list[str]:
    st = result.statistics
    out = [
        _sentence(
            "Inclusion error used: "
            + result.definitions.get("inclusion_error", "definition not stated in the result")
        ),
        _sentence(
            "Exclusion error used: "
            + result.definitions.get("exclusion_error", "definition not stated in the result")
        ),
        "Intervals ("
        + f"{100 * st.confidence:g}% confidence): "
        + "; ".join(f"{k}: {v}" for k, v in st.intervals.items())
        + f". Bootstrap: {st.bootstrap_replicates:,} replicates, seed {st.bootstrap_seed}.",
        f"Tests: {st.tests}; {st.n_tests:,} tests, p-values adjusted by {st.multiple_testing}.",
    ]
    small = [g for g in result.groups if g.n < result.min_group_size]
    if small:
        out.append(
            f"{len(small)} groups have fewer than {result.min_group_size:,} people "
            "(the audit's minimum group size): they get no verdict, only insufficient evidence."
        )
    if withheld:
        out.append(
            f"{len(withheld)} groups have a count from 1 to {min_cell - 1} (or one hidden to "
            "protect such a count): their rates and comparisons are not shown on this card; "
            "results.json, which is not for publication, holds them."
        )
    out.append(
        "A check with insufficient evidence is not a finding of fairness: the data cannot "
        "tell at this confidence."
    )
    out.append(
        "Reference groups: "
        + "; ".join(
            f"{' × '.join(r.attributes)}: {group_label(r.group)} ({r.reason})"
            for r in result.references
        )
        + "."
    )
    if result.weighted:
        out.append("Rates are weighted by the sample weights; counts and tests are unweighted.")
    if any(result.unknown.values()):
        out.append("Rows with a missing protected value form an explicit 'unknown' group.")
    out.append(
        "Only the listed protected attributes and intersections were audited; harms to other "
        "groups, and harms outside the decision audited (e.g. how people are treated after "
        "it), are not measured."
    )
    rec = result.recommendations
    if rec is not None and (rec.redress is not None or rec.mitigation is not None):
        out.append(
            "Redress and mitigation take the audit's label as the truth: who was wrongly "
            f"{'excluded' if result.intervention == 'assistive' else 'flagged'} and what a "
            "change would fix are only as right as that label. A simulated change is the "
            "model re-run on this data, not a forecast of what happens when it is adopted."
        )
    if spec is None:
        out.append(
            "The audit spec was not given: whether the data is real or synthetic is not stated."
        )
    elif "synthetic" in spec.description.lower():
        out.append(
            "The data is synthetic (from the spec's description): the findings show how the "
            "model behaves on that data, not measured harm to real people."
        )
    return out


def _crosswalk() -> list[CrosswalkRow]:
    rows = [
        (
            "Model Cards (Mitchell et al. 2019)",
            "Model details",
            ["model_details", "provenance"],
            "",
        ),
        (
            "Model Cards (Mitchell et al. 2019)",
            "Intended use",
            ["model_details"],
            "from the spec's description",
        ),
        (
            "Model Cards (Mitchell et al. 2019)",
            "Factors",
            ["groups"],
            "protected attributes and intersections",
        ),
        (
            "Model Cards (Mitchell et al. 2019)",
            "Metrics",
            ["metrics", "limitations"],
            "definitions and interval methods",
        ),
        ("Model Cards (Mitchell et al. 2019)", "Evaluation data", ["data"], ""),
        (
            "Model Cards (Mitchell et al. 2019)",
            "Training data",
            [],
            "not in an audit result: not stated",
        ),
        (
            "Model Cards (Mitchell et al. 2019)",
            "Quantitative analyses",
            ["metrics", "disparities", "gates", "explanations"],
            "what drives the decisions: feature attributions (SHAP) overall and by group",
        ),
        (
            "Model Cards (Mitchell et al. 2019)",
            "Ethical considerations: risks and harms",
            ["summary", "explanations", "redress"],
            "likely proxies of protected attributes, for legal and ethical review; the people "
            "harmed in each failing group and the value at stake",
        ),
        (
            "Model Cards (Mitchell et al. 2019)",
            "Ethical considerations: mitigations",
            ["mitigation"],
            "every simulated change with its effect on the checks, errors and cost",
        ),
        (
            "Model Cards (Mitchell et al. 2019)",
            "Caveats and recommendations",
            ["limitations", "summary", "redress", "mitigation"],
            "what should happen: who to re-review, the appeal routes, the change to adopt",
        ),
        (
            "EU AI Act, Annex IV §2(g)",
            "Validation and testing procedures, data used and its main characteristics",
            ["data", "gates"],
            "",
        ),
        (
            "EU AI Act, Annex IV §2(g)",
            "Metrics of accuracy and of potentially discriminatory impacts",
            ["metrics", "disparities", "explanations"],
            "the gaps of failing groups split into feature contributions; likely proxies",
        ),
        (
            "EU AI Act, Annex IV §2(g)",
            "Test logs and reports, dated",
            ["provenance"],
            "dated; signed when the card carries a signature (fairaudit verify checks it)",
        ),
        (
            "EU AI Act, Annex IV §3",
            "Capabilities and limitations in performance, accuracy for specific groups of persons",
            ["metrics", "limitations"],
            "",
        ),
        (
            "EU AI Act, Annex IV §3",
            "Foreseeable unintended outcomes and risks to fundamental rights and of discrimination",
            ["summary", "gates", "explanations"],
            "",
        ),
        ("EU AI Act, Annex IV §3", "Specifications on input data", ["data"], ""),
        (
            "EU AI Act, Annex IV §5",
            "Risk management system (Article 9): risk management measures",
            ["mitigation"],
            "options simulated on the audit data with their effect and cost; not the "
            "provider's whole risk management system",
        ),
        (
            "EU AI Act, Art. 27 fundamental rights impact assessment",
            "(d) Specific risks of harm to the persons or groups likely to be affected",
            ["summary", "gates", "redress"],
            "who is harmed and how many people, with intervals",
        ),
        (
            "EU AI Act, Art. 27 fundamental rights impact assessment",
            "(f) Measures to be taken when the risks materialise, including internal "
            "governance and complaint mechanisms",
            ["redress", "mitigation"],
            "re-review of the people harmed (the list is restricted), the complaint and appeal "
            "routes, and the simulated changes",
        ),
        (
            "NYC Local Law 144 bias-audit summary",
            "Source and explanation of the data used",
            ["data"],
            "",
        ),
        (
            "NYC Local Law 144 bias-audit summary",
            "Number of individuals assessed, and in an unknown category",
            ["groups", "data"],
            "",
        ),
        (
            "NYC Local Law 144 bias-audit summary",
            "Selection rates and impact ratios for all categories",
            ["metrics", "disparities"],
            "selection_rate and its ratio to the reference",
        ),
        (
            "NYC Local Law 144 bias-audit summary",
            "Date of the audit and distribution date of the tool",
            ["provenance"],
            "the card's date; the tool's distribution date is not stated",
        ),
        (
            "NYC Local Law 144 notice to candidates",
            "How to request an alternative selection process or accommodation",
            ["redress"],
            "LL144 covers hiring; the analogue for a public service is the appeal routes",
        ),
        (
            "Canada, Directive on Automated Decision-Making",
            "Quality assurance: testing for unintended data biases that may unfairly affect "
            "outcomes",
            ["gates", "disparities", "metrics"],
            "",
        ),
        (
            "Canada, Directive on Automated Decision-Making",
            "Data quality: relevant, accurate and up-to-date data",
            ["data", "explanations"],
            "",
        ),
        (
            "Canada, Directive on Automated Decision-Making",
            "Transparency: plain-language explanation of decisions",
            ["summary", "explanations"],
            "",
        ),
        (
            "Canada, Directive on Automated Decision-Making",
            "Algorithmic Impact Assessment: measures that mitigate the risks found",
            ["mitigation"],
            "simulated changes and the one recommended, or that none fixes the failures",
        ),
        (
            "Canada, Directive on Automated Decision-Making",
            "Recourse: options for clients to challenge the decision",
            ["redress"],
            "the appeal and grievance routes the spec names, and how many people to re-review",
        ),
    ]
    return [CrosswalkRow(framework=f, item=i, sections=s, note=n) for f, i, s, n in rows]
