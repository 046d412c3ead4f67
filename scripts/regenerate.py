"""Regenerate committed generated files; ``--check`` fails (exit 1) when any has drifted.

python scripts/regenerate.py          # rewrite them
python scripts/regenerate.py --check  # CI: compare only
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def results_schema() -> str:
    from fairaudit.results import results_json_schema

    return json.dumps(results_json_schema(), indent=2, sort_keys=True) + "\n"


GENERATED: dict[Path, Callable[[], str]] = {
    REPO / "src" / "fairaudit" / "schemas" / "results-1.schema.json": results_schema,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    drifted = []
    for path, make in GENERATED.items():
        text = make()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        drifted.append(path.relative_to(REPO))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "drifted" if args.check else "regenerated"
    for p in drifted:
        print(f"{verb}: {p}")
    return 1 if (args.check and drifted) else 0


if __name__ == "__main__":
    sys.exit(main())
