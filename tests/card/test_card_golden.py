"""The committed example cards (model_cards/) are exactly what the card code renders from the
committed results.json; ``python scripts/regenerate.py`` rewrites them after an intended
change (and tests/test_model_cards.py checks that the results themselves are current)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fairaudit.card import build_card, render_html, render_json, render_markdown
from fairaudit.results import AuditResult
from tests.card.conftest import DATE, example_card, example_result, example_spec

MODEL_CARDS = Path(__file__).resolve().parents[2] / "model_cards"
RENDERERS = {"json": render_json, "md": render_markdown, "html": render_html}


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_golden(example: str, fmt: str) -> None:
    folder = MODEL_CARDS / example
    results = (folder / "results.json").read_text(encoding="utf-8")
    date = json.loads((folder / "card.json").read_text(encoding="utf-8"))["provenance"]["date"]
    card = build_card(
        AuditResult.from_json(results),
        example_spec(example),
        results_sha256=hashlib.sha256(results.encode("utf-8")).hexdigest(),
        date=date,
    )
    expected = (folder / f"card.{fmt}").read_text(encoding="utf-8")
    assert RENDERERS[fmt](card) == expected, (
        f"model_cards/{example}/card.{fmt} differs from the rendered card; review the diff "
        "and regenerate with: python scripts/regenerate.py"
    )


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_same_input_same_bytes(fmt: str) -> None:
    name = "kenya_sha_pmt"
    card = build_card(example_result(name), example_spec(name), date=DATE)
    assert RENDERERS[fmt](card) == RENDERERS[fmt](example_card(name))
