"""The results contract (``results.json``, schema ``fairaudit.results/1``).

The models here *are* the contract: ``schemas/results-1.schema.json`` in the package is
generated from them (a test fails when it drifts). Later versions add fields; they never
rename or remove these.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SCHEMA_ID",
    "AuditResult",
    "Check",
    "Counts",
    "Disparity",
    "GroupResult",
    "MetricValue",
    "WeightedCounts",
    "atomic_write_text",
    "results_json_schema",
]

SCHEMA_ID = "fairaudit.results/1"
Verdict = Literal["pass", "fail", "insufficient_evidence"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Counts(_Model):
    """Confusion counts: tp = selected and truly positive, fp, fn, tn likewise."""

    tp: int
    fp: int
    fn: int
    tn: int


class WeightedCounts(_Model):
    """Confusion counts summed over sample weights."""

    tp: float
    fp: float
    fn: float
    tn: float


Interval = tuple[float, float]


class MetricValue(_Model):
    """A rate with its confidence intervals (``null`` when undefined: 0 denominator)."""

    value: float | None
    ci: Interval | None = Field(None, description="Wilson interval [low, high].")
    denominator: int = Field(description="Rows the rate is computed over.")
    bootstrap_ci: Interval | None = Field(
        None, description="Percentile interval of the multinomial bootstrap."
    )


class Disparity(_Model):
    """A group's metric against its reference group's, with intervals and a test."""

    reference: dict[str, str]
    difference: float | None
    ratio: float | None
    difference_ci: Interval | None = Field(None, description="Newcombe hybrid score interval.")
    ratio_ci: Interval | None = Field(None, description="Katz log interval.")
    difference_bootstrap_ci: Interval | None = None
    ratio_bootstrap_ci: Interval | None = None
    test: str | None = Field(
        None, description="fisher_exact or chi_square (group vs reference), or none."
    )
    p_value: float | None = None
    p_adjusted: float | None = Field(
        None, description="Adjusted for multiple comparisons across groups × metrics."
    )


class GroupResult(_Model):
    """One group: a value of one attribute, or of several (an intersection)."""

    attributes: dict[str, str]
    n: int
    share: float = Field(description="n as a share of all audited rows.")
    is_reference: bool
    counts: Counts
    weighted_counts: WeightedCounts | None = None
    metrics: dict[str, MetricValue]
    disparities: dict[str, Disparity]


class Overall(_Model):
    n: int
    counts: Counts
    weighted_counts: WeightedCounts | None = None
    metrics: dict[str, MetricValue]


class Reference(_Model):
    attributes: list[str]
    group: dict[str, str]
    policy: Literal["named", "most_favoured", "largest"]
    reason: str


class BetweenValue(_Model):
    """fairlearn's between-groups view of one metric over an attribute set's groups."""

    difference: float | None = Field(description="max - min over the groups.")
    ratio: float | None = Field(description="min / max over the groups.")
    difference_bootstrap_ci: Interval | None = None
    ratio_bootstrap_ci: Interval | None = None


class BetweenGroups(_Model):
    attributes: list[str]
    metrics: dict[str, BetweenValue]


class Statistics(_Model):
    """How the intervals and tests were computed."""

    confidence: float
    intervals: dict[str, str]
    bootstrap_replicates: int
    bootstrap_seed: int
    tests: str
    multiple_testing: Literal["holm", "bh", "none"]
    n_tests: int


class Check(_Model):
    """One gate applied to one group (or one attribute set, for between-groups gates)."""

    id: str
    metric: str
    measure: str
    attributes: dict[str, str]
    value: float | None
    threshold: float | tuple[float, float]
    operator: Literal[">=", "<=", "between"]
    verdict: Verdict
    reason: str
    n: int | None = None
    ci: Interval | None = Field(None, description="The interval the verdict was decided on.")
    interval: str | None = Field(None, description="wilson, newcombe, katz or bootstrap.")
    decided_on: Literal["interval", "point"] = "interval"


class CalibrationBin(_Model):
    low: float
    high: float
    n: int
    mean_score: float | None
    observed: float | None
    observed_ci_low: float | None
    observed_ci_high: float | None


class ScoreGroup(_Model):
    """Score metrics of one group (from its histogram of scores by label)."""

    attributes: dict[str, str]
    n: int
    n_positive: int
    n_negative: int
    auc: float | None
    auc_ci: Interval | None = Field(None, description="Hanley–McNeil interval.")
    scoring_rate: float | None = Field(
        None, description="Share scoring above the median of all scores (NYC LL144)."
    )
    scoring_rate_ci: Interval | None = None
    scoring_impact_ratio: float | None = Field(
        None, description="scoring_rate / the highest scoring_rate of the attribute set."
    )
    calibration: list[CalibrationBin]
    sweep: dict[str, list[float | None]] = Field(
        description="metric -> value at each of ScoreResults.sweep_thresholds."
    )


class ScoreGrouping(_Model):
    attributes: list[str]
    groups: list[ScoreGroup]


class ScoreResults(_Model):
    """Score-based metrics; present when the model gives a score."""

    range: Interval
    bins: int
    outside_range: int = Field(description="Scores below or above the range (binned at ends).")
    median_score: float = Field(description="Lower edge of the bin holding the median score.")
    sweep_thresholds: list[float]
    overall: ScoreGroup
    groupings: list[ScoreGrouping]


class RegressionGroup(_Model):
    attributes: dict[str, str]
    n: int
    mean_error: float | None
    mean_error_ci: Interval | None
    mean_absolute_error: float | None
    mean_absolute_error_ci: Interval | None
    root_mean_squared_error: float | None
    mean_predicted: float | None
    mean_actual: float | None
    over_prediction_rate: float | None
    over_prediction_rate_ci: Interval | None
    under_prediction_rate: float | None
    under_prediction_rate_ci: Interval | None


class RegressionResults(_Model):
    """A numeric prediction audited by group (error = predicted - actual)."""

    predicted: str
    actual: str
    overall: RegressionGroup
    groups: list[RegressionGroup]


class ReasonCount(_Model):
    reason: str
    wrongly: int = Field(description="Wrongly adverse decisions (e.g. eligible, not selected).")
    share: float | None = Field(description="Share of the group's wrongly adverse decisions.")
    adverse: int = Field(description="All adverse decisions with this reason.")


class ReasonGroup(_Model):
    attributes: dict[str, str]
    wrongly: int
    reasons: list[ReasonCount]


class ReasonResults(_Model):
    """What decided the adverse decisions (the rules' deciding stage), per group."""

    column: str
    adverse: str = Field(description="Which decisions are adverse: 'not selected' or 'selected'.")
    wrongly: str = Field(description="Which adverse decisions are wrong.")
    groups: list[ReasonGroup]


class DefectEffect(_Model):
    defect: str
    exclusions_fixed: int = Field(description="Eligible, not selected -> selected when fixed.")
    exclusions_created: int = Field(description="Eligible, selected -> not selected.")
    inclusions_fixed: int = Field(description="Not eligible, selected -> not selected.")
    inclusions_created: int = Field(description="Not eligible, not selected -> selected.")


class CounterfactualGroup(_Model):
    attributes: dict[str, str]
    excluded: int = Field(description="Eligible people not selected in this group.")
    defects: list[DefectEffect]


class CounterfactualResults(_Model):
    """Each data defect's effect: decisions that flip when the registry field is corrected."""

    defects: list[str]
    groups: list[CounterfactualGroup]


class CategoryGroup(_Model):
    attributes: dict[str, str]
    n: int
    matrix: list[list[int]] = Field(description="Rows: true category; columns: the model's.")
    agreement: float | None
    need_hidden: int = Field(description="Model category better-off than the true one.")
    need_overstated: int = Field(description="Model category worse-off than the true one.")


class CategoryResults(_Model):
    true_column: str
    order: list[str]
    groups: list[CategoryGroup]


class PoorestGroup(_Model):
    attributes: dict[str, str]
    n: int
    eligible: int
    excluded: int
    exclusion_error: float | None
    exclusion_error_ci: Interval | None


class PoorestResults(_Model):
    """Exclusion error among the poorest (errors among the poorest matter most)."""

    welfare: str
    share: float
    cutoff: float = Field(description="Welfare at or below which a row is among the poorest.")
    groups: list[PoorestGroup]


class Provenance(_Model):
    fairaudit_version: str
    spec_sha256: str
    data_sha256: str
    model_sha256: str | None
    seed: int
    data_path: str
    model: dict[str, Any]
    versions: dict[str, str]


class Channel(_Model):
    name: str
    how: str
    deadline: str | None = None


class RedressReason(_Model):
    reason: str
    wrongly: int = Field(description="Wrongly adverse decisions this reason decided.")
    share: float | None


class RedressGroup(_Model):
    """The people a failed harm gate is about, in one group."""

    attributes: dict[str, str]
    checks: list[str] = Field(description="Ids of the gates that failed for this group.")
    metric: str
    wrongly: int = Field(description="People wrongly excluded (or flagged) in the audit data.")
    wrongly_weighted: float | None = Field(
        None, description="The same, summed over the weights: the population estimate."
    )
    rate: float | None
    reference: dict[str, str]
    reference_rate: float | None
    excess: float | None = Field(
        description="People wrongly excluded beyond what the reference group's rate would "
        "give: (rate - reference rate) x the group's eligible (or, punitive: negative) people."
    )
    excess_ci: Interval | None = Field(
        None, description="Newcombe interval of the difference, scaled the same way."
    )
    value_at_stake: float | None = None
    value_unit: str | None = None
    reasons: list[RedressReason] = Field(default_factory=list)
    rereview: int = Field(0, description="Rows of this group on the re-review list.")


class Redress(_Model):
    harm: str = Field(description="'wrongly excluded' or 'wrongly flagged'.")
    groups: list[RedressGroup]
    channels: list[Channel]
    rereview_rule: str
    rereview_artifact: str | None = None
    rereview_total: int = 0


class OptionEffect(_Model):
    """One mitigation option, simulated by re-running the audit with it."""

    name: str
    kind: Literal["current", "threshold", "rules", "data", "retrain"]
    description: str
    passes: bool = Field(description="No gate fails.")
    failed: int = Field(description="Failed checks.")
    insufficient: int = Field(description="Checks with insufficient evidence.")
    failed_groups: list[str]
    overall_error: float | None = Field(description="1 - accuracy over everyone audited.")
    harm: dict[str, float | None] = Field(
        description="The headline harm metric of every group a gate failed for at present."
    )
    selected: float
    newly_covered: float = Field(description="Selected minus selected at present.")
    newly_covered_eligible: float
    newly_covered_ineligible: float
    cost: float | None = Field(description="Change in cost against the present model.")
    cost_unit: str
    reviews: int | None = Field(
        None,
        description="Cases the option sends to manual review (a caseworker records the "
        "true value of a missing record); null: the option adds none.",
    )


class OptionNotRun(_Model):
    """A mitigation option the spec asked for that was not simulated, and why."""

    name: str
    kind: Literal["retrain"]
    description: str
    reason: str


class Mitigation(_Model):
    harm_metric: str
    cost_definition: str
    options: list[OptionEffect] = Field(description="The present model first.")
    not_run: list[OptionNotRun] = Field(
        default_factory=list,
        description="Options asked for but not simulated (e.g. per-group thresholds the "
        "spec does not declare lawful), each with the reason.",
    )
    recommended: str | None = Field(description="The passing option of least cost, if any.")
    conclusion: str


class Recommendations(_Model):
    redress: Redress | None = None
    mitigation: Mitigation | None = None


class AuditResult(_Model):
    """Everything an audit found (no row-level data)."""

    schema_: Literal["fairaudit.results/1"] = Field("fairaudit.results/1", alias="schema")
    name: str
    status: Verdict
    intervention: Literal["assistive", "punitive"]
    headline_metric: str
    definitions: dict[str, str]
    n_rows: int = Field(description="Rows read from the data.")
    n_audited: int = Field(description="Rows counted (n_rows minus dropped).")
    dropped: dict[str, int]
    unknown: dict[str, int] = Field(description="Rows with a missing value, per attribute.")
    weighted: bool
    confidence: float
    min_group_size: int
    min_cell: int | None = Field(
        None,
        description="The smallest count a card of these results may publish (the spec's "
        "card.min_cell); a re-render never goes below it. null: not recorded (cards use 10).",
    )
    references: list[Reference]
    overall: Overall
    groups: list[GroupResult]
    between_groups: list[BetweenGroups]
    statistics: Statistics
    scores: ScoreResults | None = None
    regression: RegressionResults | None = None
    reasons: ReasonResults | None = None
    counterfactuals: CounterfactualResults | None = None
    categories: CategoryResults | None = None
    poorest: PoorestResults | None = None
    explanations: dict[str, Any] | None = Field(
        None,
        description="SHAP on a stratified sample: explainer, output, sample, global and "
        "per-group importance, gap decompositions of failed groups, proxies, and per-group "
        "reason frequencies (aggregates only).",
    )
    recommendations: Recommendations | None = None
    checks: list[Check]
    summary: list[str]
    provenance: Provenance

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        """Canonical JSON: same result, same bytes."""
        return (
            json.dumps(
                self.model_dump(mode="json", by_alias=True),
                indent=2,
                ensure_ascii=False,
                allow_nan=False,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str) -> AuditResult:
        return cls.model_validate_json(text)

    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "fail"]


def results_json_schema() -> dict[str, Any]:
    """The JSON schema of results.json."""
    schema = AuditResult.model_json_schema(by_alias=True)
    schema["$id"] = "https://fairaudit.invalid/schemas/results-1.schema.json"
    schema["title"] = SCHEMA_ID
    return schema


def atomic_write_parquet(path: str | Path, frame: Any) -> Path:
    """Write a DataFrame to Parquet atomically (see :func:`atomic_write_text`)."""
    return atomic_write_text(path, frame.to_parquet(index=False))


def atomic_write_text(path: str | Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, then rename).

    A reader never sees a half-written file, and an interrupted write leaves the previous
    file intact. ``str`` is written as UTF-8 with ``\\n`` line ends; ``bytes`` as they are.
    The file is created readable by its owner only (``mkstemp``), as a key file must be.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def staging_dir(final: str | Path) -> Path:
    """A new hidden folder beside ``final`` to build it in (see :func:`publish_dir`)."""
    p = Path(final)
    p.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent))


def publish_dir(staged: str | Path, final: str | Path) -> Path:
    """Put a folder built in ``staged`` in place of ``final`` (renames, same file system).

    Readers see the old folder or the new one, never a half-written one; files whose names
    start with ``.`` (an interrupted writer's temporary files) are removed first.
    """
    src, dst = Path(staged), Path(final)
    for leftover in src.glob(".*"):
        if leftover.is_file():
            leftover.unlink()
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}-{id(src):x}")
        os.replace(dst, old)
    try:
        os.replace(src, dst)
    except BaseException:
        if old is not None:
            os.replace(old, dst)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dst
