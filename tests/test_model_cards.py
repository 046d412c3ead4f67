"""The committed example outputs (model_cards/) and the schema are current."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def regenerate():
    spec = importlib.util.spec_from_file_location("regenerate", REPO / "scripts" / "regenerate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["regenerate"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_files_have_not_drifted(regenerate) -> None:
    drifted = []
    for path, (make, same) in regenerate.generated().items():
        if not path.exists() or not same(path.read_text(encoding="utf-8"), make()):
            drifted.append(str(path.relative_to(REPO)))
    assert not drifted, f"run: python scripts/regenerate.py  (drifted: {drifted})"


def test_drift_is_detected(regenerate, tmp_path: Path) -> None:
    current = (REPO / "model_cards" / "kenya_sha_pmt" / "results.json").read_text()
    data = json.loads(current)
    data["groups"][0]["counts"]["tp"] += 1
    assert not regenerate._same_results(json.dumps(data), current)
    data = json.loads(current)
    data["provenance"]["versions"]["numpy"] = "0.0"  # machine-specific: not drift
    assert regenerate._same_results(json.dumps(data), current)


def test_model_cards_hold_no_row_level_data() -> None:
    """Aggregates only: no list as long as the data, no column of row identifiers."""
    data = json.loads((REPO / "model_cards" / "digital_family_card" / "results.json").read_text())

    def longest(obj) -> int:
        if isinstance(obj, dict):
            return max((longest(v) for v in obj.values()), default=0)
        if isinstance(obj, list):
            return max([len(obj), *(longest(v) for v in obj)])
        return 0

    assert longest(data) < 1000 < data["n_rows"]
