"""An index of cards: one self-contained HTML page listing every card in a folder with its
status, gate verdict counts, date, signer and files (``model_cards/index.html``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairaudit.card.model import CARD_SCHEMA_ID, Card

__all__ = ["CARD_FILES", "IndexEntry", "collect_index", "index_entry", "render_index"]

CARD_FILES = ("card.html", "card.md", "card.json", "card.pdf", "results.json")
"""The files an index links to, in this order, when they exist beside card.json."""


@dataclass(frozen=True)
class IndexEntry:
    """One card in an index."""

    folder: str
    name: str
    description: str
    status: str
    passed: int
    failed: int
    insufficient: int
    date: str
    signed_by: str | None
    files: tuple[str, ...]


def index_entry(card: Card, folder: str, files: tuple[str, ...] = CARD_FILES) -> IndexEntry:
    """The index line of ``card``, whose files are in ``folder`` (a relative link)."""
    description = card.model_details.description.strip().split("\n")[0]
    if len(description) > 160:
        description = description[:157].rsplit(" ", 1)[0] + "…"
    return IndexEntry(
        folder=folder,
        name=card.name,
        description=description if description != "not stated" else "",
        status=card.status,
        passed=sum(g.passed for g in card.gates),
        failed=sum(g.failed for g in card.gates),
        insufficient=sum(g.insufficient_evidence for g in card.gates),
        date=card.provenance.date,
        signed_by=card.signature.key_fingerprint if card.signature else None,
        files=files,
    )


def collect_index(root: str | Path) -> list[IndexEntry]:
    """Every ``card.json`` in the folders under ``root`` (any depth), sorted by folder.

    Files that are not fairaudit cards are skipped; a card that does not validate is an
    error (:class:`~fairaudit.errors.InputError`): an index must not misreport it.
    """
    from pydantic import ValidationError

    from fairaudit.errors import InputError

    base = Path(root)
    out = []
    for path in sorted(base.rglob("card.json")):
        try:
            doc: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if not isinstance(doc, dict) or doc.get("schema") != CARD_SCHEMA_ID:
            continue
        try:
            card = Card.model_validate(doc)
        except ValidationError as exc:
            raise InputError(
                f"not a valid card: {str(exc).splitlines()[0]}",
                file=path,
                fix="re-render it with fairaudit card, or move it out of the folder",
            ) from None
        files = tuple(f for f in CARD_FILES if (path.parent / f).is_file())
        out.append(index_entry(card, path.parent.relative_to(base).as_posix(), files))
    return out


def render_index(entries: list[IndexEntry], title: str = "Fairness cards") -> str:
    """The index as one self-contained, accessible HTML page (no network, no script).

    Parameters
    ----------
    entries
        From :func:`collect_index` or :func:`index_entry`.
    title
        The page's heading.
    """
    from fairaudit.card.render import _TEMPLATES, _environment

    env = _environment(True)
    css = (_TEMPLATES / "card.css").read_text(encoding="utf-8")
    text: str = env.get_template("index.html.j2").render(
        entries=sorted(entries, key=lambda e: e.folder), title=title, css=css
    )
    return text.rstrip("\n") + "\n"
