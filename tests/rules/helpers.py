"""Small helpers to build rule sets from text and read one expression's values."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.rules import RuleSet, evaluate, parse_rules


def rules(text: str, source: str = "rules.yaml") -> RuleSet:
    """A rule set from (indented) YAML text."""
    return parse_rules(textwrap.dedent(text).lstrip("\n"), source=source)


def values(expr: str, frame: pd.DataFrame, **parameters: Any) -> np.ndarray:
    """The row values of one expression (a variable), NaN = unknown, true/false = 1/0."""
    params = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in parameters.items())
    text = (
        "version: 1\nname: probe\n"
        + (f"parameters:\n{params}" if params else "")
        + f"variables:\n  probe: {json.dumps(expr)}\n"
        + "programmes:\n  probe_programme:\n    eligibility:\n      - {name: s, when: 'true'}\n"
    )
    return evaluate(parse_rules(text), frame).variables["probe"]


def same(actual: np.ndarray, expected: list[float | None]) -> bool:
    """Equal, treating None/NaN as 'unknown' in both."""
    exp = np.array([np.nan if v is None else v for v in expected], dtype="float64")
    return bool(np.array_equal(np.asarray(actual, dtype="float64"), exp, equal_nan=True))
