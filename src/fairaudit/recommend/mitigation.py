"""Mitigation options, each simulated by re-running the audit with the changed model."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.metrics.exact import ExactSums
from fairaudit.models.base import Model, Prediction, decision_from_score
from fairaudit.models.rules import is_rules_model
from fairaudit.recommend.redress import HARM, failed_groups, group_label
from fairaudit.results import AuditResult, Mitigation, OptionEffect, OptionNotRun
from fairaudit.spec import AuditSpec

__all__ = ["Candidate", "candidates", "simulate"]

#: Called with (option name, options done, options in all).
OptionProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Candidate:
    """A mitigation option: ``build()`` returns a fresh model with the change applied."""

    name: str
    kind: str
    description: str
    build: Callable[[], Model]


class _Wrapped(Model):
    """A model around another one (columns, population hook and provenance forwarded)."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner
        self.columns = inner.columns
        self.needs_population = inner.needs_population

    def prepare(self, batches: Iterable[pd.DataFrame]) -> None:
        self.inner.prepare(batches)

    def provenance(self) -> dict[str, Any]:
        return self.inner.provenance()

    def predict(self, frame: pd.DataFrame) -> Prediction:
        return self.inner.predict(frame)

    def population_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.inner.population_frame(frame)

    def partial(self, part: str) -> Any:
        return self.inner.partial(part)

    def absorb(self, partials: Sequence[Any]) -> None:
        self.inner.absorb(partials)


class _Threshold(_Wrapped):
    """The same scores, one global threshold: decision = score >= threshold."""

    def __init__(self, inner: Model, threshold: float) -> None:
        super().__init__(inner)
        self.threshold = threshold

    def predict(self, frame: pd.DataFrame) -> Prediction:
        pred = self.inner.predict(frame)
        assert pred.score is not None
        score = np.asarray(pred.score, dtype="float64")
        return dataclasses.replace(pred, decision=decision_from_score(score, self.threshold))


class _Corrected(_Wrapped):
    """The model run on data whose registry fields hold their true values."""

    def __init__(self, inner: Model, swaps: dict[str, str]) -> None:
        super().__init__(inner)
        self.swaps = swaps
        self.columns = list(dict.fromkeys([*inner.columns, *swaps.values()]))

    def _fix(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for registry, true in self.swaps.items():
            out[registry] = frame[true]  # as the rules' counterfactual overrides do
        return out

    def prepare(self, batches: Iterable[pd.DataFrame]) -> None:
        self.inner.prepare(self._fix(b) for b in batches)

    def predict(self, frame: pd.DataFrame) -> Prediction:
        return self.inner.predict(self._fix(frame))

    def population_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.inner.population_frame(self._fix(frame))


class _Reviewed(_Wrapped):
    """A missing record sent to manual review, the review recording the true value.

    Rows whose registry field is missing get the data's true field in its place (only
    those rows: stale records stay as they are); ``reviews`` counts the rows sent to
    review, each once however many of its fields were missing.
    """

    def __init__(self, inner: Model, fields: dict[str, str]) -> None:
        super().__init__(inner)
        self.fields = fields
        self.columns = list(dict.fromkeys([*inner.columns, *fields.values()]))
        self.reviews = 0

    def _review(self, frame: pd.DataFrame, count: bool) -> pd.DataFrame:
        out = frame.copy()
        sent = np.zeros(len(frame), dtype=bool)
        for registry, true in self.fields.items():
            missing = frame[registry].isna().to_numpy()
            sent |= missing
            out[registry] = frame[registry].where(~missing, frame[true])
        if count:
            self.reviews += int(sent.sum())
        return out

    def prepare(self, batches: Iterable[pd.DataFrame]) -> None:
        self.inner.prepare(self._review(b, count=False) for b in batches)

    def predict(self, frame: pd.DataFrame) -> Prediction:
        return self.inner.predict(self._review(frame, count=True))

    def population_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.inner.population_frame(self._review(frame, count=False))

    def partial(self, part: str) -> Any:
        # handed over and forgotten: a Spark worker reuses this copy for its next partition
        out = (self.reviews, self.inner.partial(part))
        self.reviews = 0
        return out

    def absorb(self, partials: Sequence[Any]) -> None:
        self.reviews += sum(n for n, _ in partials)
        self.inner.absorb([inner for _, inner in partials])


class _Tally(_Wrapped):
    """Sums the benefit amounts a rules model pays (its ``amount`` reason) while counting.

    The sum is exact (:mod:`fairaudit.metrics.exact`): the same bits however the rows are
    split into batches or Spark partitions.
    """

    def __init__(self, inner: Model) -> None:
        super().__init__(inner)
        self._paid: ExactSums | None = None
        self.unknown: set[str] = set()  # indicators some row had no record for

    @property
    def amount(self) -> float | None:
        return None if self._paid is None else float(self._paid.to_float()[0])

    def predict(self, frame: pd.DataFrame) -> Prediction:
        pred = self.inner.predict(frame)
        if pred.reasons is not None and "amount" in pred.reasons.columns:
            paid = np.nan_to_num(pred.reasons["amount"].to_numpy(dtype="float64"))
            if self._paid is None:
                self._paid = ExactSums(1)
            self._paid.add(np.zeros(len(paid), dtype="int64"), paid)
        if pred.reasons is not None and "unknown" in pred.reasons.columns:
            for names in pd.unique(pred.reasons["unknown"].astype("object")):
                self.unknown.update(n for n in str(names).split(",") if n and n != "nan")
        return pred

    def partial(self, part: str) -> Any:
        # handed over and forgotten: a Spark worker reuses this copy for its next partition
        out = (self._paid, set(self.unknown), self.inner.partial(part))
        self._paid, self.unknown = None, set()
        return out

    def absorb(self, partials: Sequence[Any]) -> None:
        for paid, unknown, _ in partials:
            if paid is not None:
                self._paid = paid if self._paid is None else self._paid + paid
            self.unknown |= unknown
        self.inner.absorb([inner for _, _, inner in partials])


def _fresh(model: Model) -> Model:
    """A new instance of the model (rules models pin population parameters once)."""
    if is_rules_model(model):
        from fairaudit.models.rules import RulesModel

        m: Any = model
        return RulesModel(m.rules, m.options, m.source)
    return model


def _reviewed_model(model: Model, fields: dict[str, str]) -> Model:
    return _Reviewed(_fresh(model), fields)


def _threshold_model(model: Model, threshold: float) -> Model:
    return _Threshold(_fresh(model), threshold)


def _corrected_model(model: Model, swaps: dict[str, str]) -> Model:
    return _Corrected(_fresh(model), swaps)


def _rules_change(spec: AuditSpec, model: Any, i: int, change: Any) -> Callable[[], Model]:
    """Validate a spec's rules change against the rules file; return its builder."""
    from fairaudit.models.rules import RulesModel

    rules = model.rules
    prog = rules.programmes[model.options.programme]
    stages = {s.name for s in prog.stages}
    loc = ("recommend", "rules_changes", i)
    for name in change.drop_stages:
        if name not in stages:
            raise spec.error(
                f"programme {prog.name!r} has no stage {name!r}",
                loc=(*loc, "drop_stages"),
                fix=f"stages: {', '.join(sorted(stages))}",
            )
    for name, policy in change.missing.items():
        allowed = (
            ("fail", "pass", "review")
            if name in stages
            else ("deprived", "not_deprived", "review")
            if name in rules.indicators
            else None
        )
        if allowed is None:
            raise spec.error(
                f"{name!r} is neither a stage of {prog.name!r} nor an indicator",
                loc=(*loc, "missing", name),
                fix=f"stages: {', '.join(sorted(stages))}; indicators: "
                + ", ".join(rules.indicators),
            )
        if policy not in allowed:
            raise spec.error(
                f"{policy!r} is not a missing-data policy of {name!r}",
                loc=(*loc, "missing", name),
                fix=f"one of: {', '.join(allowed)}",
            )
    for name in change.parameters:
        if name not in rules.parameters:
            raise spec.error(
                f"the rules have no parameter {name!r}",
                loc=(*loc, "parameters", name),
                fix=f"parameters: {', '.join(rules.parameters)}",
            )

    def build() -> Model:
        def stage(s: Any) -> Any:
            pol = change.missing.get(s.name)
            return dataclasses.replace(s, missing=pol) if pol else s

        new_prog = dataclasses.replace(
            prog,
            eligibility=tuple(
                stage(s) for s in prog.eligibility if s.name not in change.drop_stages
            ),
            outreach=tuple(stage(s) for s in prog.outreach if s.name not in change.drop_stages),
        )
        indicators = {
            k: dataclasses.replace(ind, missing=change.missing[k]) if k in change.missing else ind
            for k, ind in rules.indicators.items()
        }
        new_rules = dataclasses.replace(
            rules,
            programmes={**rules.programmes, prog.name: new_prog},
            indicators=indicators,
        )
        opts = model.options.model_copy(
            update={"parameters": {**model.options.parameters, **change.parameters}}
        )
        return RulesModel(new_rules, opts, model.source)

    return build


def candidates(spec: AuditSpec, model: Model, unknown: set[str] | None = None) -> list[Candidate]:
    """The options to simulate: the spec's rules changes, then (``automatic``) those derived
    from the model. ``unknown``: the indicators some row had no record for (only their
    missing-data policy can matter; None = all)."""
    from fairaudit.spec import RulesChangeSpec

    rec = spec.recommend
    assert rec is not None
    out: list[Candidate] = []
    rules_model: Any = model if is_rules_model(model) else None
    for i, change in enumerate(rec.rules_changes):
        if rules_model is None:
            raise spec.error(
                "rules changes need a rules model",
                loc=("recommend", "rules_changes", i),
                fix="remove recommend.rules_changes, or audit a rules model (loader: rules)",
            )
        out.append(
            Candidate(
                change.name,
                "rules",
                change.description or change.name,
                _rules_change(spec, rules_model, i, change),
            )
        )
    if not rec.automatic:
        return out
    current = getattr(model, "threshold", None)
    if current is not None:
        lo, hi = spec.scores.range
        for t in np.linspace(lo, hi, rec.thresholds)[1:-1]:
            t = float(round(t, 6))
            if abs(t - current) < 1e-12:
                continue
            out.append(
                Candidate(
                    f"threshold {t:g}",
                    "threshold",
                    f"select when the score is at least {t:g} (now {current:g}); one "
                    "threshold for everyone",
                    functools.partial(_threshold_model, model, t),
                )
            )
    if rules_model is not None:
        rules = rules_model.rules
        prog = rules.programmes[rules_model.options.programme]
        auto: list[tuple[str, str, RulesChangeSpec]] = []
        if rules_model.options.include_outreach:
            for s in prog.outreach:
                auto.append(
                    (
                        f"no '{s.name}' step",
                        f"support no longer depends on the outreach step '{s.name}'"
                        + (f" ({s.description.strip()})" if s.description else ""),
                        RulesChangeSpec(name=s.name, drop_stages=[s.name]),
                    )
                )
            if len(prog.outreach) > 1:
                names = [s.name for s in prog.outreach]
                auto.append(
                    (
                        "no outreach steps",
                        "eligible families are reached without the outreach channel (e.g. "
                        "a social worker's visit instead of an SMS): "
                        + ", ".join(names)
                        + " removed",
                        RulesChangeSpec(name="outreach", drop_stages=names),
                    )
                )
        for name, desc, change in auto:
            out.append(Candidate(name, "rules", desc, _rules_change(spec, rules_model, -1, change)))
        out.extend(_manual_reviews(spec, rules_model, unknown))
    swaps: dict[str, dict[str, str]] = getattr(model, "swaps", None) or {}
    for defect, pairs in swaps.items():
        out.append(
            Candidate(
                f"fix {defect}",
                "data",
                "registry data corrected: " + ", ".join(f"{r} := {t}" for r, t in pairs.items()),
                functools.partial(_corrected_model, model, pairs),
            )
        )
    if len(swaps) > 1:
        every = {r: t for pairs in swaps.values() for r, t in pairs.items()}
        out.append(
            Candidate(
                "fix every data defect",
                "data",
                "every registry field the audit pairs with its true value corrected",
                functools.partial(_corrected_model, model, every),
            )
        )
    return out


def _manual_reviews(spec: AuditSpec, model: Any, unknown: set[str] | None) -> list[Candidate]:
    """'Missing = manual review' for every indicator a missing record reads as 'not
    deprived' (and that some row had no record for).

    When the data holds the true value of the indicator's missing fields (the model's
    registry -> true pairs), the review is simulated as a caseworker recording that value
    for exactly the rows with a missing record. Otherwise what a review would find is
    unknown: the option sends those rows to the programme's review, whose outcome
    meanwhile is the rules' ``review_outcome``.
    """
    from fairaudit.explain.rules_shap import indicator_inputs
    from fairaudit.spec import RulesChangeSpec

    rules = model.rules
    prog = rules.programmes[model.options.programme]
    pairs = {r: t for p in (getattr(model, "swaps", None) or {}).values() for r, t in p.items()}
    inputs = indicator_inputs(rules)
    out = []
    for k, ind in rules.indicators.items():
        if ind.missing != "not_deprived" or (unknown is not None and k not in unknown):
            continue
        name = f"'{k}': missing = manual review"
        fields = {c: pairs[c] for c in inputs.get(k, ()) if c in pairs}
        if fields:
            out.append(
                Candidate(
                    name,
                    "rules",
                    f"a missing record for '{k}' is sent to a caseworker, who records the "
                    "true value, instead of being read as 'not deprived' (simulated with the "
                    "data's true field: "
                    + ", ".join(f"{r} := {t}" for r, t in fields.items())
                    + ")",
                    functools.partial(_reviewed_model, model, fields),
                )
            )
            continue
        change = RulesChangeSpec(name=k, missing={k: "review"})
        out.append(
            Candidate(
                name,
                "rules",
                f"a missing record for '{k}' is sent to manual review instead of being read "
                f"as 'not deprived'; the data does not say what a review would find, so "
                f"those families are treated as the programme treats pending reviews "
                f"({prog.review_outcome})",
                _rules_change(spec, model, -1, change),
            )
        )
    return out


def _effect(
    name: str,
    kind: str,
    description: str,
    res: AuditResult,
    tally: _Tally,
    base: tuple[AuditResult, _Tally] | None,
    harmed: dict[Any, tuple[dict[str, str], list[str]]],
    spec: AuditSpec,
) -> OptionEffect:
    metric = HARM[spec.intervention][0]
    c = res.overall.weighted_counts or res.overall.counts
    n = c.tp + c.fp + c.fn + c.tn
    by_key = {tuple(sorted(g.attributes.items())): g for g in res.groups}
    harm = {}
    for key, (attrs, _) in harmed.items():
        g = by_key.get(key)
        harm[group_label(attrs)] = g.metrics[metric].value if g is not None else None
    failed = [x for x in res.checks if x.verdict == "fail"]
    labels = list(dict.fromkeys(group_label(x.attributes) or "everyone" for x in failed))
    bc = (base[0].overall.weighted_counts or base[0].overall.counts) if base else c
    selected = c.tp + c.fp
    newly = selected - (bc.tp + bc.fp)
    rec = spec.recommend
    assert rec is not None
    if spec.intervention == "punitive":
        cost: float | None = float(c.fn - bc.fn)
        unit = "true cases no longer flagged"
    elif tally.amount is not None and not res.weighted:
        base_amount = base[1].amount if base else tally.amount
        cost = float(tally.amount - (base_amount or 0.0))
        unit = "benefit paid (the rules' amounts)"
    elif rec.benefit is not None:
        cost, unit = float(newly * rec.benefit.amount), rec.benefit.unit
    else:
        cost, unit = float(newly), "people selected"
    return OptionEffect(
        name=name,
        kind=kind,
        description=description,
        passes=not failed,
        failed=len(failed),
        insufficient=sum(x.verdict == "insufficient_evidence" for x in res.checks),
        failed_groups=labels,
        overall_error=None if n == 0 else float((c.fp + c.fn) / n),
        harm=harm,
        selected=float(selected),
        newly_covered=float(newly),
        newly_covered_eligible=float(c.tp - bc.tp),
        newly_covered_ineligible=float(c.fp - bc.fp),
        cost=cost,
        cost_unit=unit,
        reviews=getattr(tally.inner, "reviews", None),
    )


def simulate(
    spec: AuditSpec,
    model: Model,
    result: AuditResult,
    *,
    run_audit_with: Callable[[AuditSpec, Model], AuditResult],
    recorder: Callable[[Model], Model] | None = None,
    progress: OptionProgress | None = None,
    extra: Sequence[Candidate] = (),
    not_run: Sequence[OptionNotRun] = (),
) -> tuple[Mitigation, Model | None]:
    """Re-run the audit for the present model and every option; return the trade-off table.

    ``run_audit_with(spec, model)`` counts and summarises (the audit's own code);
    ``recorder`` wraps the present model's re-run (the re-review list is noted then);
    ``extra``: options built elsewhere (retrained models), simulated after the others;
    ``not_run``: options asked for but not simulated, reported with their reason.
    Returns the table and the wrapped present model.
    """
    sim_spec = spec
    if not any(g.interval == "bootstrap" for g in spec.gates):
        sim_spec = spec.model_copy(update={"bootstrap": 0})
    harmed = failed_groups(result)
    present = _Tally(recorder(_fresh(model)) if recorder else _fresh(model))
    if progress:
        progress("present model", 0, 1)
    base_res = run_audit_with(sim_spec, present)
    opts = [*candidates(spec, model, present.unknown), *extra]
    total = len(opts) + 1
    effects = [
        _effect(
            "present model",
            "current",
            "the model as audited",
            base_res,
            present,
            None,
            harmed,
            spec,
        )
    ]
    for i, cand in enumerate(opts, start=1):
        if progress:
            progress(cand.name, i, total)
        tally = _Tally(cand.build())
        res = run_audit_with(sim_spec, tally)
        effects.append(
            _effect(
                cand.name,
                cand.kind,
                cand.description,
                res,
                tally,
                (base_res, present),
                harmed,
                spec,
            )
        )
    if progress:
        progress("done", total, total)
    metric = HARM[spec.intervention][0]
    passing = [e for e in effects[1:] if e.passes]
    recommended = None
    if effects[0].passes:
        conclusion = "The present model passes every gate: no mitigation is needed."
    elif passing:
        best = min(passing, key=lambda e: (e.cost if e.cost is not None else np.inf, e.name))
        recommended = best.name
        conclusion = (
            f"Recommended: {best.name} — of the {len(effects) - 1} options simulated, "
            f"{len(passing)} pass every gate, and this one costs least "
            f"({best.cost:+,.0f} {best.cost_unit})."
        )
    elif len(effects) > 1:
        closest = min(effects[1:], key=lambda e: (e.failed, e.cost or 0.0))
        conclusion = (
            f"None of the {len(effects) - 1} options simulated passes every gate. The "
            f"closest is {closest.name}, with {closest.failed} failed check(s) "
            f"(now {effects[0].failed}); the failures need a change outside these options."
        )
    else:
        conclusion = "No mitigation option could be derived from this model or the spec."
    if not_run and not effects[0].passes:
        conclusion += (
            " Not simulated: " + "; ".join(f"{o.name} ({o.reason})" for o in not_run) + "."
        )
    cost_definition = (
        "change in true cases no longer flagged"
        if spec.intervention == "punitive"
        else "change in benefit paid against the present model"
    )
    return (
        Mitigation(
            harm_metric=metric,
            cost_definition=cost_definition,
            options=effects,
            not_run=list(not_run),
            recommended=recommended,
            conclusion=conclusion,
        ),
        present.inner,
    )
