"""Regenerate committed generated files; ``--check`` fails (exit 1) when any has drifted.

    python scripts/regenerate.py          # rewrite them
    python scripts/regenerate.py --check  # CI: compare only

Generated files: the results JSON schema, and the example audits' outputs in
``model_cards/`` (results.json and the plain-language summary of every audit in ``audits/``
that ships its data). Results are compared without the library versions in their
provenance and with floats to 10 significant digits: those legitimately differ between
machines; anything else is drift.
"""

from __future__ import annotations

import argparse
import json
import sys
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
    # as fairaudit check does: results record the cards' min_cell
    return run_audit(spec).model_copy(update={"min_cell": spec.card.min_cell})


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
        out[folder / "results.json"] = (lambda n=name: _result(n).to_json(), _same_results)
        out[folder / "summary.md"] = (lambda n=name: _summary(n), exact)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    drifted = []
    for path, (make, same) in generated().items():
        text = make()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current is not None and same(current, text):
            continue
        drifted.append(path.relative_to(REPO))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "drifted" if args.check else "regenerated"
    for p in drifted:
        print(f"{verb}: {p} (run: python scripts/regenerate.py)" if args.check else f"{verb}: {p}")
    return 1 if (args.check and drifted) else 0


if __name__ == "__main__":
    sys.exit(main())
