"""The ``rules`` model loader: a declarative eligibility-rules file is the model under audit.

In an audit spec::

    model:
      loader: rules
      path: ../examples/digital_family_card/rules.yaml   # relative to the spec
      programme: tsa                                     # whose eligibility is the decision
      include_outreach: true      # decision = eligible AND reached by the SMS channel
      counterfactuals:            # registry column -> true column (optional)
        income_formal_registry: income_formal_true
        livestock_value_registry: livestock_value_true

The prediction's ``score`` is the weighted deprivation score, ``category`` the well-being
level, and ``reasons`` (row level: restricted artifacts only) says what decided each row:
the deciding ``stage``, whether a missing-value policy decided it, the category and what set
it, the deprived and unknown indicators, the kind and amount of the benefit, and for each
counterfactual ``cf_<name>``: +1 if correcting that field grants the benefit, -1 if it takes
it away, 0 if it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import Field

from fairaudit.errors import SpecError
from fairaudit.models.base import (
    LoadContext,
    LoaderOptions,
    Model,
    ModelLoader,
    Prediction,
)

if TYPE_CHECKING:
    from fairaudit.rules import RuleSet

__all__ = ["RulesLoader", "RulesModel", "RulesOptions"]


class RulesOptions(LoaderOptions):
    """Options of the ``rules`` loader (the spec's ``model:`` mapping).

    Attributes
    ----------
    path
        The rules file, relative to the audit spec's folder.
    programme
        The programme whose decision is audited.
    include_outreach
        True (default): the decision is "eligible and reached by the outreach channel" — a
        family only gets support if the SMS reaches it and it replies. False: eligibility.
    counterfactuals
        ``{registry column: true column}`` or ``{defect: {registry column: true column}}``:
        for each, the reasons get a column ``cf_<defect>`` of decision flips.
    parameters
        Pin parameters (e.g. ``median_income_pc``) instead of computing them from the rows
        passed to one ``predict`` call — needed when the data is scored in chunks.
    """

    path: str
    programme: str
    include_outreach: bool = True
    counterfactuals: dict[str, str | dict[str, str]] = Field(default_factory=dict)
    parameters: dict[str, float | bool | str] = Field(default_factory=dict)


def is_rules_model(model: Any) -> bool:
    """Whether ``model`` is a rules model (or quacks like one: rules and a programme)."""
    return hasattr(model, "rules") and hasattr(getattr(model, "options", None), "programme")


class RulesModel(Model):
    """A rules file applied to one programme."""

    def __init__(self, rules: RuleSet, options: RulesOptions, source: str) -> None:
        from fairaudit.rules import normalise_swaps

        self.rules = rules
        self.options = options
        self.source = source
        self.swaps = normalise_swaps(options.counterfactuals)
        true_columns = [t for m in self.swaps.values() for t in m.values()]
        self.columns = list(dict.fromkeys([*rules.columns(), *true_columns]))
        self.parameters: dict[str, Any] = {}
        # Parameters given by formulas may be population statistics (a median income):
        # computed on one predict call's rows they would differ batch by batch, so the
        # audit lets the model see every row first (prepare) and pins them.
        computed = [n for n, p in rules.parameters.items() if p.expr is not None]
        self.needs_population = any(n not in options.parameters for n in computed)
        self._pinned: dict[str, Any] = dict(options.parameters)

    def prepare(self, batches: Iterable[pd.DataFrame]) -> None:
        """Compute every parameter on the whole population once, and pin it."""
        from fairaudit.rules import evaluate

        frame = pd.concat(list(batches), ignore_index=True)
        ev = evaluate(
            self.rules, frame, parameters=self._pinned or None, programmes=[self.options.programme]
        )
        self._pinned = dict(ev.parameters)

    def prepare_parameters(self, statistic: Any) -> None:
        """Pin every parameter, each population statistic computed by ``statistic``.

        The engine's way of :meth:`prepare` without one frame of every row: ``statistic``
        (:data:`fairaudit.rules.evaluate.StatisticFn`) summarises the population in parts
        (the Spark engine: on its executors) and gives the same value as :meth:`prepare`.
        """
        from fairaudit.rules.evaluate import population_parameters

        self._pinned = population_parameters(self.rules, statistic, self._pinned)

    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Evaluate the rules on every row; see the module docstring for the outputs."""
        from fairaudit.rules import counterfactual_decisions, evaluate, flip_codes

        o = self.options
        ev = evaluate(self.rules, frame, parameters=self._pinned or None, programmes=[o.programme])
        self.parameters = dict(ev.parameters)
        result = ev.programmes[o.programme]
        decision = result.decision(o.include_outreach)
        reasons: dict[str, Any] = {
            "stage": result.deciding_stage(o.include_outreach),
            "stage_missing": result.deciding_missing(o.include_outreach),
            "review": result.review,
        }
        if ev.category is not None:
            reasons["category"] = ev.category
            reasons["category_source"] = ev.category_source
        if self.rules.indicators:
            reasons["deprived"] = ev.deprived()
            reasons["unknown"] = ev.unknown_indicators()
        if result.kind is not None:
            reasons["kind"] = result.kind
        if result.amount is not None:
            reasons["amount"] = np.where(decision == 1, result.amount, 0.0)
        if self.swaps:
            base, after = counterfactual_decisions(
                self.rules,
                frame,
                self.swaps,
                programme=o.programme,
                include_outreach=o.include_outreach,
                parameters=ev.parameters,
                together=False,
            )
            for defect, d in after.items():
                reasons[f"cf_{defect}"] = flip_codes(base, d)
        category = None if ev.category is None else np.asarray(ev.category, dtype=object)
        return Prediction(
            decision=decision,
            score=ev.score,
            category=category,
            reasons=pd.DataFrame(reasons, index=frame.index),
        )

    def explained_output(self, frame: pd.DataFrame) -> tuple[np.ndarray, str]:
        """What explanations explain: the score (or, without one, the decision).

        Only the rules are evaluated — not the counterfactual re-evaluations and reasons
        :meth:`predict` adds — because model-agnostic explainers call this thousands of
        times.
        """
        from fairaudit.rules import evaluate

        o = self.options
        ev = evaluate(self.rules, frame, parameters=self._pinned or None, programmes=[o.programme])
        if ev.score is not None:
            return np.asarray(ev.score, dtype="float64"), "score"
        decision = ev.programmes[o.programme].decision(o.include_outreach)
        return np.asarray(decision, dtype="float64"), "decision"

    def provenance(self) -> dict[str, Any]:
        """The rules file's hash and name, the programme, and the parameters last used."""
        out: dict[str, Any] = {
            "loader": "rules",
            "path": self.source,
            "sha256": self.rules.sha256,
            "rules": self.rules.name,
            "programme": self.options.programme,
            "include_outreach": self.options.include_outreach,
        }
        if self.parameters:
            out["parameters"] = {k: self.parameters[k] for k in sorted(self.parameters)}
        return out


class RulesLoader(ModelLoader):
    """Declarative eligibility rules (YAML): score, category, programme stages, reasons."""

    name = "rules"
    description = "declarative eligibility rules (YAML): scores, categories, stages, reasons"
    Options = RulesOptions

    def load(self, options: Any, context: LoadContext) -> RulesModel:
        """Load and validate the rules file; check the programme and counterfactuals.

        Raises
        ------
        SpecError
            The rules file is invalid (with its YAML line), or the programme or a
            counterfactual does not exist in it.
        """
        from fairaudit.rules import load_rules, normalise_swaps

        opts = (
            options if isinstance(options, RulesOptions) else RulesOptions.model_validate(options)
        )
        path = context.resolve(opts.path)
        rules = load_rules(path)
        if opts.programme not in rules.programmes:
            available = ", ".join(rules.programmes) or "none"
            raise SpecError(
                f"the rules file {path} has no programme {opts.programme!r}",
                path=context.source,
                field="model.programme",
                fix=f"choose one of: {available}",
            )
        read = set(rules.columns())
        for defect, mapping in normalise_swaps(opts.counterfactuals).items():
            for registry_column in mapping:
                if registry_column not in read:
                    raise SpecError(
                        f"counterfactual {defect!r}: the rules do not read "
                        f"{registry_column!r}, so replacing it changes nothing",
                        path=context.source,
                        field=f"model.counterfactuals.{defect}",
                        fix="name a column the rules read, e.g. " + ", ".join(sorted(read)[:4]),
                    )
        unknown = sorted(set(opts.parameters) - set(rules.parameters))
        if unknown:
            raise SpecError(
                f"the rules have no parameter {unknown[0]!r} to pin",
                path=context.source,
                field="model.parameters",
                fix=f"parameters: {', '.join(rules.parameters) or 'none'}",
            )
        # a programme without outreach stages is reached by definition: include_outreach
        # then changes nothing
        return RulesModel(rules, opts, str(path))
