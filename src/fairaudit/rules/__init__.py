"""Declarative eligibility rules: a safe expression language, vectorised evaluation, and
exact attribution of every decision.

A rules file (YAML, no code) defines parameters, indicators grouped into weighted
dimensions with an explicit missing-data policy each, a weighted deprivation score,
ordered categories with cut-offs, overrides, and programmes whose eligibility and outreach
are ordered stages. :func:`load_rules` validates it (every problem with its YAML line);
:func:`evaluate` applies it to a DataFrame; :mod:`~fairaudit.rules.attribution` says which
stage decided each row and how many decisions each data defect flips.

Example
-------
>>> from fairaudit.rules import load_rules, evaluate          # doctest: +SKIP
>>> rules = load_rules("examples/digital_family_card/rules.yaml")
>>> result = evaluate(rules, population).programmes["tsa"]
>>> result.decision(), result.deciding_stage()
"""

from fairaudit.rules.attribution import (
    ALL_DEFECTS,
    counterfactual_decisions,
    counterfactual_flips,
    exclusion_reasons,
    flip_codes,
    normalise_swaps,
    reason_counts,
)
from fairaudit.rules.checks import VType, infer_type
from fairaudit.rules.evaluate import Evaluation, ProgrammeResult, evaluate
from fairaudit.rules.parser import ExpressionError, parse_expression
from fairaudit.rules.ruleset import RuleFileError, RuleSet, load_rules, parse_rules

__all__ = [
    "ALL_DEFECTS",
    "Evaluation",
    "ExpressionError",
    "ProgrammeResult",
    "RuleFileError",
    "RuleSet",
    "VType",
    "counterfactual_decisions",
    "counterfactual_flips",
    "evaluate",
    "exclusion_reasons",
    "flip_codes",
    "infer_type",
    "load_rules",
    "normalise_swaps",
    "parse_expression",
    "parse_rules",
    "reason_counts",
]
