"""Golden cards of the committed example results; FAIRAUDIT_REGEN_GOLDEN=1 rewrites them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fairaudit.card import build_card, render_html, render_json, render_markdown
from tests.card.conftest import DATE, example_card, example_result, example_spec

GOLDEN = Path(__file__).parent / "golden"
RENDERERS = {"json": render_json, "md": render_markdown, "html": render_html}


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_golden(example: str, fmt: str) -> None:
    text = RENDERERS[fmt](example_card(example))
    path = GOLDEN / f"{example}.card.{fmt}"
    if os.environ.get("FAIRAUDIT_REGEN_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8", newline="\n")
    if not path.exists():
        pytest.fail(f"{path.name} is missing: generate it with FAIRAUDIT_REGEN_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"{path.name} differs from the rendered card; review the diff and regenerate with "
        "FAIRAUDIT_REGEN_GOLDEN=1"
    )


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_same_input_same_bytes(fmt: str) -> None:
    name = "kenya_sha_pmt"
    card = build_card(example_result(name), example_spec(name), date=DATE)
    assert RENDERERS[fmt](card) == RENDERERS[fmt](example_card(name))
