"""Regenerate committed generated files; ``--check`` fails (exit 1) when any has drifted.

    python scripts/regenerate.py          # rewrite them
    python scripts/regenerate.py --check  # CI: compare only

Generated files: the results and card JSON schemas, and the example audits' outputs in
``model_cards/`` (results.json, the plain-language summary and the cards — card.json,
card.md, card.html — of every audit in ``audits/`` that ships its data), and
``model_cards/index.html`` listing the cards. Results are compared without the library
versions in their provenance and with floats to 10 significant digits: those legitimately
differ between machines; anything else is drift. While results.json has not drifted it is
kept as committed, and the cards are made from it (so their results sha256 is that file's);
a card keeps its date while its content is unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_AUDITS = ("digital_family_card", "kenya_sha_pmt")


def results_schema() -> str:
    from fairaudit.results import results_json_schema

    return json.dumps(results_json_schema(), indent=2, sort_keys=True) + "\n"


def card_schema() -> str:
    from fairaudit.card.model import card_json_schema_text

    return str(card_json_schema_text())


def _audit(name: str) -> Any:
    from fairaudit.audit import run_audit
    from fairaudit.spec import load_spec

    spec = load_spec(REPO / "audits" / f"{name}.yaml")
    # as fairaudit check does, with a restricted folder: the reason codes and the re-review
    # list are written there (row level, thrown away), and results get their aggregates
    with tempfile.TemporaryDirectory() as restricted:
        return run_audit(spec, restricted_dir=Path(restricted))


_CACHE: dict[str, Any] = {}


def _result(name: str) -> Any:
    if name not in _CACHE:
        _CACHE[name] = _audit(name)
    return _CACHE[name]


def normalise_results(text: str) -> Any:
    """results.json without machine-specific fields, floats to 10 significant digits."""
    data = json.loads(text)
    data["provenance"].pop("versions", None)
    data["provenance"].pop("fairaudit_version", None)
    return _round(data)


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return float(f"{obj:.10g}")
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    return obj


def _same_results(current: str, fresh: str) -> bool:
    return normalise_results(current) == normalise_results(fresh)


def _published(name: str) -> str:
    """The results.json text model_cards/ holds: the committed one until it drifts."""
    fresh = _result(name).to_json()
    path = REPO / "model_cards" / name / "results.json"
    if path.exists():
        current = path.read_text(encoding="utf-8")
        if _same_results(current, fresh):
            return current
    return str(fresh)


CARD_FILES = ("card.html", "card.md", "card.json", "results.json")


def _card(name: str) -> Any:
    key = f"card:{name}"
    if key in _CACHE:
        return _CACHE[key]
    from fairaudit.card import build_card, render_json
    from fairaudit.card.model import card_date
    from fairaudit.results import AuditResult
    from fairaudit.spec import load_spec

    text = _published(name)
    spec = load_spec(REPO / "audits" / f"{name}.yaml")
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    existing = REPO / "model_cards" / name / "card.json"
    current = existing.read_text(encoding="utf-8") if existing.exists() else None
    date = None
    if current is not None:
        try:
            date = json.loads(current)["provenance"]["date"]
        except (ValueError, KeyError, TypeError):
            date = None
    card = build_card(AuditResult.from_json(text), spec, results_sha256=sha, date=date)
    if date is not None and render_json(card) != current:  # changed: dated today
        card = build_card(AuditResult.from_json(text), spec, results_sha256=sha, date=card_date())
    _CACHE[key] = card
    return card


def _render(name: str, fmt: str) -> str:
    from fairaudit.card import render_html, render_json, render_markdown

    renderer = {"json": render_json, "md": render_markdown, "html": render_html}[fmt]
    return str(renderer(_card(name)))


def _index() -> str:
    from fairaudit.card.index import index_entry, render_index

    entries = [index_entry(_card(n), n, CARD_FILES) for n in EXAMPLE_AUDITS]
    return str(render_index(entries, title="fairaudit example model cards"))


def _summary(name: str) -> str:
    from fairaudit.report import summary_markdown

    return summary_markdown(_result(name))


Generator = tuple[Callable[[], str], Callable[[str, str], bool]]


def generated() -> dict[Path, Generator]:
    exact: Callable[[str, str], bool] = lambda a, b: a == b  # noqa: E731
    out: dict[Path, Generator] = {
        REPO / "src" / "fairaudit" / "schemas" / "results-1.schema.json": (results_schema, exact),
        REPO / "src" / "fairaudit" / "card" / "schemas" / "card-1.schema.json": (
            card_schema,
            exact,
        ),
    }
    for name in EXAMPLE_AUDITS:
        folder = REPO / "model_cards" / name
        out[folder / "results.json"] = (lambda n=name: _published(n), _same_results)
        out[folder / "summary.md"] = (lambda n=name: _summary(n), exact)
        for fmt in ("json", "md", "html"):
            out[folder / f"card.{fmt}"] = (lambda n=name, f=fmt: _render(n, f), exact)
    out[REPO / "model_cards" / "index.html"] = (_index, exact)
    return out


def drifted(files: dict[Path, Generator]) -> list[Path]:
    """The files whose content is not what their generator makes (missing ones too)."""
    out = []
    for path, (make, same) in files.items():
        if not path.exists() or not same(path.read_text(encoding="utf-8"), make()):
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    changed = []
    for path, (make, same) in generated().items():
        text = make()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current is not None and same(current, text):
            continue
        changed.append(path.relative_to(REPO))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "drifted" if args.check else "regenerated"
    for p in changed:
        print(f"{verb}: {p} (run: python scripts/regenerate.py)" if args.check else f"{verb}: {p}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
