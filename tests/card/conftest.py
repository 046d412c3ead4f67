"""Fixtures for the card tests: the committed example results, their specs and cards."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from fairaudit.card import Card, build_card
from fairaudit.results import AuditResult
from fairaudit.spec import AuditSpec, load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("digital_family_card", "kenya_sha_pmt")
DATE = "2026-11-20"
"""The golden cards' date (a card is otherwise dated the day it is made)."""


@cache
def example_result(name: str) -> AuditResult:
    """The committed results.json of an example audit."""
    return AuditResult.from_json((REPO / "model_cards" / name / "results.json").read_text())


@cache
def example_spec(name: str) -> AuditSpec:
    """The example's audit spec (read only: no data is loaded)."""
    return load_spec(REPO / "audits" / f"{name}.yaml")


@cache
def example_card(name: str) -> Card:
    """The example's card, built once per test session."""
    return build_card(example_result(name), example_spec(name), date=DATE)


@pytest.fixture(params=EXAMPLES)
def example(request: pytest.FixtureRequest) -> str:
    return str(request.param)
