"""Fairness cards: one card model (schema ``fairaudit.card/1``) rendered to JSON, Markdown
and one self-contained HTML file.

>>> from fairaudit.card import build_card, render_html
>>> html = render_html(build_card(result, spec))  # doctest: +SKIP
"""

from __future__ import annotations

from fairaudit.card.model import CARD_SCHEMA_ID, Card, build_card, card_json_schema
from fairaudit.card.render import (
    render_charts,
    render_html,
    render_json,
    render_markdown,
    render_pdf,
)

__all__ = [
    "CARD_SCHEMA_ID",
    "Card",
    "build_card",
    "card_json_schema",
    "render_charts",
    "render_html",
    "render_json",
    "render_markdown",
    "render_pdf",
]
