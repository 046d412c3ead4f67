"""The audit spec: what to audit, how, and which thresholds gate it.

A spec is a YAML file validated strictly (unknown keys are errors) into :class:`AuditSpec`.
:func:`load_spec` reports *every* problem at once, each with its YAML line, field and fix.
See README.md ("The audit spec") for a commented example.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from fairaudit._yaml import Loc, dotted, line_of, load_yaml_with_lines
from fairaudit.errors import SpecError
from fairaudit.metrics.rates import METRICS, canonical_metric

__all__ = [
    "AuditSpec",
    "CardSpec",
    "CategorySpec",
    "DataSpec",
    "ExplainSpec",
    "GateSpec",
    "MlflowTrackingSpec",
    "ModelSpec",
    "OutputSpec",
    "ProtectedAttribute",
    "RegressionSpec",
    "ScoreSpec",
    "SparkSpec",
    "TargetingSpec",
    "TrackingSpec",
    "load_spec",
    "spec_from_dict",
]

Measure = Literal[
    "value", "difference", "ratio", "between_groups_difference", "between_groups_ratio"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
    """Where the rows are and which columns carry the truth."""

    path: str = Field(
        description="CSV or Parquet file, relative to the spec's folder; with `engine: spark` "
        "also a folder of Parquet/CSV files, or a table name with `format: table`."
    )
    format: Literal["csv", "parquet", "table"] | None = Field(
        None,
        description="File format; inferred from the suffix when omitted. `table`: `path` is "
        "a table name in Spark's catalog (engine: spark only).",
    )
    label: str = Field(
        description="Column with the ground truth: 1 = truly eligible (assistive) or truly "
        "positive, e.g. truly committed fraud (punitive)."
    )
    positive_label: str | int | float | bool | None = Field(
        None, description="The label value meaning 'positive' when the label is not 0/1."
    )
    weight: str | None = Field(None, description="Optional column of sample weights.")
    row_id: str | None = Field(None, description="Optional column identifying each row.")


class ModelSpec(BaseModel):
    """Which model-loader plugin loads the model; every other key is the loader's option."""

    model_config = ConfigDict(extra="allow", frozen=True)

    loader: str = Field(description="Loader plugin name (`fairaudit plugins` lists them).")

    @property
    def options(self) -> dict[str, Any]:
        """The loader's options (every key except ``loader``)."""
        return dict(self.model_extra or {})


class ProtectedAttribute(_Strict):
    """A protected attribute: a column whose groups are compared."""

    name: str = Field(description="Name used in results; also the column unless `column`.")
    column: str | None = Field(None, description="Data column, when it differs from `name`.")
    reference: str | None = Field(
        None, description="Reference group (after labels/bins); default: the spec's policy."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Raw value -> label shown in results."
    )
    bins: list[float] | None = Field(
        None, description="Ascending cut points for a numeric attribute, e.g. [30, 63]."
    )
    bin_labels: list[str] | None = Field(
        None, description="One label per bin: len(bins) + 1 labels."
    )
    values: list[str] | None = Field(
        None, description="Expected values (after labels/bins); any other value is an error."
    )
    missing: Literal["unknown", "error"] = Field(
        "unknown", description="Missing values form an 'unknown' group, or are an error."
    )

    @property
    def source_column(self) -> str:
        return self.column or self.name

    @model_validator(mode="after")
    def _check_bins(self) -> ProtectedAttribute:
        if self.bins is not None:
            if not self.bins:
                raise ValueError("bins must list at least one cut point")
            if any(not math.isfinite(b) for b in self.bins):
                raise ValueError("bins must be finite numbers")
            if any(b >= c for b, c in zip(self.bins, self.bins[1:], strict=False)):
                raise ValueError("bins must be strictly ascending")
            if self.bin_labels is not None and len(self.bin_labels) != len(self.bins) + 1:
                raise ValueError(
                    f"bin_labels needs {len(self.bins) + 1} labels for {len(self.bins)} "
                    f"cut points, got {len(self.bin_labels)}"
                )
            if self.labels:
                raise ValueError("give either bins (numeric) or labels (categorical), not both")
        elif self.bin_labels is not None:
            raise ValueError("bin_labels needs bins")
        return self


class GateSpec(_Strict):
    """A threshold the audit must meet, checked for every group it applies to."""

    id: str = Field(description="Stable identifier, reported in results and JUnit.")
    metric: str = Field(
        description="A metric name or alias (e.g. exclusion_error), or `n` for group size."
    )
    measure: Measure = Field(
        "value",
        description="value (the group's own), difference or ratio (group vs its reference), "
        "between_groups_difference/ratio (max-min, min/max over an attribute's groups).",
    )
    min: float | None = Field(None, description="The measure must be >= min.")
    max: float | None = Field(None, description="The measure must be <= max.")
    attributes: list[str] | None = Field(
        None,
        description="Only groups defined by exactly these attributes (e.g. [region]); "
        "default: every group and intersection.",
    )
    decide_on: Literal["interval", "point"] = Field(
        "interval",
        description="interval: fail only when the whole interval is on the wrong side; "
        "point: fail when the point estimate is. Both pass only when the whole interval "
        "is on the right side.",
    )
    interval: Literal["analytic", "bootstrap"] = Field(
        "analytic",
        description="analytic: Wilson (value), Newcombe (difference), Katz (ratio); "
        "bootstrap: the multinomial bootstrap's percentile interval.",
    )
    description: str | None = None

    @field_validator("metric")
    @classmethod
    def _metric_known(cls, v: str) -> str:
        v = v.strip().lower()
        if v == "n":
            return v
        if canonical_metric(v) is None:
            raise ValueError(
                f"unknown metric {v!r}; known: n, {', '.join(METRICS)} (or an alias such as "
                "exclusion_error, inclusion_error)"
            )
        return v

    @property
    def canonical(self) -> str:
        """The canonical metric name (``n`` for the group-size gate)."""
        return "n" if self.metric == "n" else str(canonical_metric(self.metric))

    @model_validator(mode="after")
    def _bounds(self) -> GateSpec:
        if self.min is None and self.max is None:
            raise ValueError("a gate needs `min`, `max`, or both")
        for b in (self.min, self.max):
            if b is not None and not math.isfinite(b):
                raise ValueError("gate bounds must be finite numbers")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.metric == "n" and self.measure != "value":
            raise ValueError("the group-size gate (metric: n) only supports measure: value")
        return self


class ScoreSpec(_Strict):
    """How scores are binned (when the model gives a score: higher = more likely selected)."""

    range: tuple[float, float] = Field(
        (0.0, 1.0), description="[low, high] of the fine bins; scores outside are counted."
    )
    bins: int = Field(1000, ge=10, le=100_000, description="Fine bins over the range.")
    sweep_points: int = Field(
        101, ge=2, description="Thresholds in the single-threshold sweep (bin edges)."
    )
    calibration_bins: int = Field(10, ge=1, description="Coarse bins for calibration.")

    @model_validator(mode="after")
    def _fit(self) -> ScoreSpec:
        lo, hi = self.range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError("range must be two finite numbers [low, high] with low < high")
        if self.bins % (self.sweep_points - 1):
            raise ValueError(
                f"sweep_points - 1 ({self.sweep_points - 1}) must divide bins ({self.bins})"
            )
        if self.bins % self.calibration_bins:
            raise ValueError(
                f"calibration_bins ({self.calibration_bins}) must divide bins ({self.bins})"
            )
        return self


class RegressionSpec(_Strict):
    """A numeric prediction to audit beside the decision (e.g. predicted income)."""

    predicted: str = Field(description="Column with the model's numeric prediction.")
    actual: str = Field(description="Column with the true value.")


class TargetingSpec(_Strict):
    """Targeting extras for assistive programmes."""

    welfare: str = Field(
        description="Column of true welfare (e.g. true per-capita income): lower = poorer."
    )
    poorest_share: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="Report the exclusion error among this poorest share (0.1 = decile).",
    )


class CategorySpec(_Strict):
    """Compare the model's category (e.g. well-being level) with the true one."""

    truth: str = Field(description="Column with each row's true category.")
    order: list[str] = Field(
        min_length=2,
        description="Categories from best-off to worst-off, e.g. [A, B, C, D, E]. A model "
        "category better-off than the true one hides need (a downgrade of need).",
    )


class ExplainSpec(_Strict):
    """Explanations (extra ``shap``): SHAP on a stratified sample, proxies, reason codes."""

    sample: int = Field(2000, ge=10, description="Rows explained (stratified by group).")
    budget: int | None = Field(
        None,
        ge=1,
        description="Model evaluations per row for the model-agnostic explainer "
        "(default 500); tree and linear models are explained exactly.",
    )
    top: int = Field(3, ge=1, le=20, description="Reason codes per adverse decision.")
    reasons: bool = Field(
        True,
        description="Write reason codes of every adverse decision to the restricted "
        "artifact restricted/reasons/ (a Parquet folder; row level; never in results or "
        "cards).",
    )
    proxies: bool = Field(True, description="Rank features as proxies of protected attributes.")


class ChannelSpec(_Strict):
    """An appeal or grievance route people can use (named on the card)."""

    name: str = Field(min_length=1, description="e.g. 'Contact centre 1414'.")
    how: str = Field(min_length=1, description="How to reach it: phone, address, web page.")
    deadline: str | None = Field(None, description="e.g. 'within 30 days of the decision'.")


class BenefitSpec(_Strict):
    """The value one wrongly excluded person (or family) loses."""

    amount: float = Field(gt=0)
    unit: str = Field(min_length=1, description="e.g. 'KZT per family per month'.")


class RulesChangeSpec(_Strict):
    """A change to a rules model to simulate as a mitigation option."""

    name: str = Field(min_length=1)
    description: str | None = None
    drop_stages: list[str] = Field(
        default_factory=list, description="Eligibility or outreach stages to remove."
    )
    missing: dict[str, str] = Field(
        default_factory=dict,
        description="Stage or indicator -> its missing-data policy (stages: fail, pass, "
        "review; indicators: deprived, not_deprived, review).",
    )
    parameters: dict[str, float] = Field(
        default_factory=dict, description="Parameters to pin at a new value."
    )


class TrainingDataSpec(_Strict):
    """The rows a mitigation model is retrained on (same formats as ``data:``)."""

    path: str = Field(description="CSV or Parquet file, relative to the spec's folder.")
    format: Literal["csv", "parquet"] | None = Field(
        None, description="File format; inferred from the suffix when omitted."
    )
    label: str | None = Field(
        None, description="Column with the truth to train on; default: the audit's data.label."
    )
    positive_label: str | int | float | bool | None = Field(
        None,
        description="The label value meaning 'positive' when the label is not 0/1; default: "
        "the audit's data.positive_label.",
    )


RetrainMethod = Literal["exponentiated_gradient", "reweighing", "threshold_optimizer"]
_ALL_METHODS: tuple[RetrainMethod, ...] = (
    "exponentiated_gradient",
    "reweighing",
    "threshold_optimizer",
)
RetrainConstraint = Literal[
    "demographic_parity",
    "equalized_odds",
    "true_positive_rate_parity",
    "false_positive_rate_parity",
    "error_rate_parity",
]


class RetrainSpec(_Strict):
    """Mitigations that retrain (or post-process) the audited scikit-learn estimator."""

    data: TrainingDataSpec = Field(description="The training data.")
    methods: list[RetrainMethod] = Field(
        default_factory=lambda: list(_ALL_METHODS),
        min_length=1,
        description="exponentiated_gradient (fairlearn's reduction under `constraint`), "
        "reweighing (Kamiran-Calders sample weights), threshold_optimizer (fairlearn's "
        "per-group thresholds; runs only with group_thresholds_lawful: true).",
    )
    constraint: RetrainConstraint | None = Field(
        None,
        description="The fairness constraint of exponentiated_gradient and "
        "threshold_optimizer. Default: the parity of the headline harm metric — "
        "true_positive_rate_parity (assistive: exclusion error), false_positive_rate_parity "
        "(punitive).",
    )
    difference_bound: float = Field(
        0.01, gt=0.0, le=1.0, description="The constraint's allowed difference between groups."
    )
    eps: float = Field(
        0.01, gt=0.0, description="exponentiated_gradient: allowed constraint violation."
    )
    max_iter: int = Field(50, ge=1, le=1000, description="exponentiated_gradient: iterations.")
    threshold_objective: Literal["accuracy_score", "balanced_accuracy_score"] = Field(
        "accuracy_score", description="threshold_optimizer: what the thresholds maximise."
    )
    attributes: list[str] | None = Field(
        None,
        min_length=1,
        description="Protected attributes used as sensitive features. Default: the "
        "attributes of the checks that failed.",
    )
    group_thresholds_lawful: bool = Field(
        False,
        description="Whether deciding with a separate threshold per group (reading the "
        "protected attribute at decision time) is lawful for this programme. "
        "threshold_optimizer runs only when true.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RetrainSpec:
        dupes = sorted({m for m in self.methods if self.methods.count(m) > 1})
        if dupes:
            raise ValueError(f"methods are listed twice: {dupes}")
        if self.attributes is not None:
            twice = sorted({a for a in self.attributes if self.attributes.count(a) > 1})
            if twice:
                raise ValueError(f"attributes are listed twice: {twice}")
        if "threshold_optimizer" in self.methods and self.constraint == "error_rate_parity":
            raise ValueError(
                "threshold_optimizer has no error_rate_parity constraint (fairlearn's "
                "ThresholdOptimizer supports demographic_parity, equalized_odds, "
                "true_positive_rate_parity, false_positive_rate_parity); choose one of them, "
                "or remove threshold_optimizer from methods"
            )
        return self


class RecommendSpec(_Strict):
    """Redress for the people a failed gate harms, and simulated mitigation options."""

    benefit: BenefitSpec | None = Field(
        None, description="Value at stake per wrongly excluded person (assistive audits)."
    )
    channels: list[ChannelSpec] = Field(
        default_factory=list, description="Appeal and grievance routes named on the card."
    )
    margin: float | None = Field(
        None,
        ge=0,
        description="Score models: denied people whose score is within this of the "
        "threshold are listed for re-review.",
    )
    simulate: bool = Field(True, description="Simulate mitigation options on the audit data.")
    automatic: bool = Field(
        True,
        description="Also simulate the options fairaudit derives from the model: a threshold "
        "sweep (score models), removing each outreach step and reading missing records as "
        "'manual review' (rules models), correcting each data defect (counterfactuals).",
    )
    thresholds: int = Field(9, ge=2, le=101, description="Points of the threshold sweep.")
    rules_changes: list[RulesChangeSpec] = Field(default_factory=list)
    retrain: RetrainSpec | None = Field(
        None,
        description="Retrain the audited scikit-learn estimator on training data with "
        "fairlearn's mitigations, and simulate each like the other options.",
    )


class MlflowTrackingSpec(_Strict):
    """Record the audit as an MLflow run (extra ``mlflow``)."""

    tracking_uri: str | None = Field(
        None, description="Default: MLFLOW_TRACKING_URI, else MLflow's local default store."
    )
    experiment: str = Field("fairaudit", description="Experiment name.")
    run_name: str | None = Field(None, description="Default: the audit's name.")
    registered_model: str | None = Field(
        None, description="models:/name/version to stamp (default: the mlflow loader's uri)."
    )
    alias_on_pass: str | None = Field(
        None, description="Alias to set on that model version when the audit passes."
    )
    log_restricted: bool = Field(
        False, description="Also log the row-level restricted artifacts (reason codes)."
    )


class TrackingSpec(_Strict):
    mlflow: MlflowTrackingSpec | None = None


class SparkSpec(_Strict):
    """Where and how Spark runs (``engine: spark``)."""

    master: str | None = Field(
        None,
        description="Spark master URL (local[*], spark://host:7077, yarn, k8s://...). "
        "Default: FAIRAUDIT_SPARK_MASTER, else SPARK_MASTER, else an active session's, "
        "else local[*].",
    )
    app_name: str = Field("fairaudit", description="Spark application name.")
    config: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Spark configuration (e.g. spark.executor.memory: 4g).",
    )
    partitions: int | None = Field(
        None, ge=1, description="Repartition the data into this many partitions first."
    )


class OutputSpec(_Strict):
    """Where results go."""

    dir: str | None = Field(None, description="Output folder, relative to the current folder.")


class CardSpec(_Strict):
    """How the audit's cards are published."""

    min_cell: int = Field(
        10,
        ge=1,
        description="The smallest count a card publishes: counts from 1 to min_cell - 1 are "
        "suppressed, with complementary suppression. Recorded in results.json, so a re-render "
        "never publishes smaller cells.",
    )


class AuditSpec(_Strict):
    """A complete audit: data, model, protected attributes, metrics and gates."""

    version: Literal[1] = 1
    name: str = Field(description="Short name of the audit (used for the output folder).")
    description: str = ""
    intervention: Literal["assistive", "punitive"] = Field(
        description="assistive: selection helps (a benefit); punitive: selection harms "
        "(a fraud flag). Picks the headline harm metric."
    )
    data: DataSpec
    model: ModelSpec
    protected: list[ProtectedAttribute] = Field(min_length=1)
    intersections: bool | list[list[str]] = Field(
        False, description="true: every combination; or a list of attribute lists."
    )
    reference: Literal["most_favoured", "largest"] = Field(
        "most_favoured",
        description="How to pick a reference group where none is named: most_favoured "
        "(highest selection rate if assistive, lowest if punitive) or largest.",
    )
    metrics: list[str] | None = Field(None, description="Metrics to report; default: all.")
    gates: list[GateSpec] = Field(default_factory=list)
    min_group_size: int = Field(
        30, ge=1, description="Groups smaller than this get no verdict (insufficient evidence)."
    )
    min_positives: int = Field(
        10,
        ge=0,
        description="A rate over the truly positive (TPR, FNR) gets no verdict "
        "for a group (or reference) with fewer truly positive people.",
    )
    min_negatives: int = Field(
        10,
        ge=0,
        description="Likewise for rates over the truly negative (FPR, TNR).",
    )
    reference_min_share: float = Field(
        0.02,
        ge=0.0,
        lt=1.0,
        description="Groups with a smaller share of the rows are not chosen as reference by "
        "a policy (NYC Local Law 144 lets categories under 2% be excluded from the impact-"
        "ratio comparator); they are still reported and checked.",
    )
    bootstrap: int = Field(2000, ge=0, description="Multinomial bootstrap replicates (0 = none).")
    multiple_testing: Literal["holm", "bh", "none"] = Field(
        "holm", description="Correction of p-values across groups × metrics."
    )
    insufficient_evidence: Literal["warn", "fail"] = Field(
        "warn", description="Whether an insufficient-evidence verdict fails the audit."
    )
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Confidence level of intervals.")
    scores: ScoreSpec = Field(default_factory=ScoreSpec)
    regression: RegressionSpec | None = None
    targeting: TargetingSpec | None = None
    category: CategorySpec | None = None
    explain: ExplainSpec | None = None
    recommend: RecommendSpec | None = None
    engine: Literal["local", "spark"] = Field(
        "local",
        description="Who counts the rows: local (this process) or spark (Apache Spark, "
        "extra `spark`); both give identical results.",
    )
    spark: SparkSpec = Field(default_factory=SparkSpec)
    seed: int = 0
    output: OutputSpec = Field(default_factory=OutputSpec)
    card: CardSpec = Field(default_factory=CardSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)

    # Not part of the YAML: where the spec came from (relative paths resolve against it).
    base_dir_: str | None = Field(None, alias="_base_dir", exclude=True)
    source_: str | None = Field(None, alias="_source", exclude=True)
    _lines: dict[Loc, int] = PrivateAttr(default_factory=dict)

    def error(
        self, problem: str, *, loc: tuple[str | int, ...], fix: str | None = None
    ) -> SpecError:
        """A :class:`SpecError` about the field at ``loc``, with its YAML line."""
        return SpecError(
            problem, path=self.source_, line=line_of(self._lines, loc), field=dotted(loc), fix=fix
        )

    @field_validator("metrics")
    @classmethod
    def _metrics_known(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        out = []
        for name in v:
            c = canonical_metric(name)
            if c is None:
                raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
            out.append(c)
        return list(dict.fromkeys(out))

    @model_validator(mode="after")
    def _cross_checks(self) -> AuditSpec:
        names = [p.name for p in self.protected]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"protected attribute names must be unique: {sorted(dupes)}")
        if isinstance(self.intersections, list):
            for combo in self.intersections:
                unknown = [a for a in combo if a not in names]
                if unknown:
                    raise ValueError(
                        f"intersection {combo} names unknown attributes {unknown}; "
                        f"protected attributes are {names}"
                    )
                if len(set(combo)) != len(combo) or len(combo) < 2:
                    raise ValueError(
                        f"intersection {combo} must name at least two different attributes"
                    )
        ids = [g.id for g in self.gates]
        dup_ids = {i for i in ids if ids.count(i) > 1}
        if dup_ids:
            raise ValueError(f"gate ids must be unique: {sorted(dup_ids)}")
        for g in self.gates:
            if g.attributes:
                unknown = [a for a in g.attributes if a not in names]
                if unknown:
                    raise ValueError(
                        f"gate {g.id!r} names unknown attributes {unknown}; "
                        f"protected attributes are {names}"
                    )
        return self

    @property
    def base_dir(self) -> Path:
        return Path(self.base_dir_) if self.base_dir_ else Path.cwd()

    @property
    def source(self) -> str:
        return self.source_ or "<command line>"

    def groupings(self) -> list[tuple[str, ...]]:
        """Attribute sets whose groups are reported: each attribute, then intersections."""
        names = [p.name for p in self.protected]
        out: list[tuple[str, ...]] = [(n,) for n in names]
        if self.intersections is True:
            from itertools import combinations

            for k in range(2, len(names) + 1):
                out.extend(combinations(names, k))
        elif isinstance(self.intersections, list):
            order = {n: i for i, n in enumerate(names)}
            for combo in self.intersections:
                t = tuple(sorted(combo, key=order.__getitem__))
                if t not in out:
                    out.append(t)
        return out

    def canonical_json(self) -> str:
        """The spec as canonical JSON (sorted keys), for hashing specs built in code."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def spec_from_dict(
    data: Any,
    *,
    path: str | Path | None = None,
    lines: dict[Loc, int] | None = None,
    base_dir: str | Path | None = None,
) -> AuditSpec:
    """Validate a mapping into an :class:`AuditSpec`, reporting every problem.

    Raises
    ------
    SpecError
        With one entry per problem (see :meth:`SpecError.many`), each with YAML line.
    """
    lines = lines or {}
    if not isinstance(data, dict):
        raise SpecError(
            "the spec must be a YAML mapping (key: value lines)",
            path=path,
            line=1 if path else None,
            fix="start from audits/ or the README's example spec",
        )
    payload = dict(data)
    if base_dir is not None:
        payload["_base_dir"] = str(base_dir)
    if path is not None:
        payload["_source"] = str(path)
    try:
        spec = AuditSpec.model_validate(payload)
    except ValidationError as exc:
        raise SpecError.many([_to_spec_error(e, path, lines) for e in exc.errors()]) from None
    spec._lines = dict(lines)
    return spec


def validation_to_spec_error(
    exc: ValidationError, spec: AuditSpec, prefix: tuple[str | int, ...]
) -> SpecError:
    """Turn a plugin's options ``ValidationError`` into a located :class:`SpecError`."""
    return SpecError.many(
        [
            _to_spec_error({**e, "loc": (*prefix, *e["loc"])}, spec.source_, spec._lines)
            for e in exc.errors()
        ]
    )


_FIXES = {
    "extra_forbidden": "remove it, or check its spelling against the README's spec reference",
    "missing": "add it (see the README's spec reference)",
    "float_parsing": "write a number, e.g. 0.8",
    "float_type": "write a number, e.g. 0.8",
    "int_parsing": "write a whole number",
    "literal_error": None,
    "bool_parsing": "write true or false",
}


def _to_spec_error(err: Any, path: str | Path | None, lines: dict[Loc, int]) -> SpecError:
    loc = tuple(err["loc"])
    etype = err["type"]
    msg = err["msg"]
    if etype == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif etype == "extra_forbidden":
        msg = "unknown key"
    elif etype == "missing":
        msg = "required key is missing"
    elif etype == "literal_error":
        msg = f"{msg}, got {err.get('input')!r}"
    elif "input" in err and etype.endswith(("parsing", "_type")):
        msg = f"{msg}, got {err['input']!r}"
    fix = _FIXES.get(etype)
    if etype == "greater_than_equal" and "ge" in err.get("ctx", {}):
        msg = f"{msg}, got {err.get('input')!r}"
        fix = f"use {err['ctx']['ge']} or more"
        if loc == ("card", "min_cell"):
            fix += " (10 is the default; counts below min_cell are hidden on cards)"
    return SpecError(msg, path=path, line=line_of(lines, loc), field=dotted(loc) or None, fix=fix)


def load_spec(path: str | Path) -> AuditSpec:
    """Read and validate an audit spec file.

    Parameters
    ----------
    path
        The YAML file. Relative paths inside it resolve against its folder.

    Raises
    ------
    SpecError
        When the file is missing, is not YAML, or does not validate (every problem listed).
    """
    p = Path(path)
    data, lines = load_yaml_with_lines(p)
    if data is None:
        raise SpecError("the spec is empty", path=p, fix="start from a file in audits/")
    return spec_from_dict(data, path=p, lines=lines, base_dir=p.resolve().parent)


def spec_sha256(spec: AuditSpec) -> str:
    """sha256 of the spec file's bytes, or of the canonical JSON of a spec built in code."""
    if spec.source_ and Path(spec.source_).is_file():
        return hashlib.sha256(Path(spec.source_).read_bytes()).hexdigest()
    return hashlib.sha256(spec.canonical_json().encode()).hexdigest()
