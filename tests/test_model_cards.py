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


def _index_rows(html: str) -> dict[str, str]:
    """audit name -> status word, from the index's table rows."""
    import re

    rows = re.findall(r'<tr><th scope="row">([^<]+)<.*?class="status status-(\w+)"', html)
    return dict(rows)


def test_index_lists_every_committed_card_with_its_status() -> None:
    html = (REPO / "model_cards" / "index.html").read_text(encoding="utf-8")
    expected = {}
    for name in ("digital_family_card", "kenya_sha_pmt"):
        folder = REPO / "model_cards" / name
        card = json.loads((folder / "card.json").read_text())
        results = json.loads((folder / "results.json").read_text())
        assert card["status"] == results["status"]
        expected[results["name"]] = results["status"]
        for f in ("card.html", "card.md", "card.json", "results.json"):
            assert (folder / f).is_file() and f'href="{name}/{f}"' in html
    assert _index_rows(html) == expected
    assert "<caption>" in html and 'scope="col"' in html
    assert "http://" not in html and "https://" not in html  # nothing from the network


def test_committed_cards_verify_against_their_results(cli) -> None:
    for name in ("digital_family_card", "kenya_sha_pmt"):
        folder = REPO / "model_cards" / name
        res = cli(
            "verify", str(folder / "card.json"), "--spec", str(REPO / "audits" / f"{name}.yaml")
        )
        assert res.exit_code == 0, res.stdout


def test_a_stale_index_is_drift(regenerate, tmp_path: Path) -> None:
    index = REPO / "model_cards" / "index.html"
    files = regenerate.generated()
    assert index in files and regenerate.drifted({index: files[index]}) == []
    stale = tmp_path / "index.html"
    text = index.read_text(encoding="utf-8")
    # an index that still shows a status the cards no longer have
    stale.write_text(text.replace('status-fail">FAIL', 'status-pass">PASS', 1), encoding="utf-8")
    assert regenerate.drifted({stale: files[index]}) == [stale]
    for name in ("digital_family_card", "kenya_sha_pmt"):
        for f in ("card.json", "card.md", "card.html"):
            assert REPO / "model_cards" / name / f in files  # the cards are drift-checked too


def test_index_command(tmp_path: Path, cli) -> None:
    import shutil

    for name in ("kenya_sha_pmt",):
        shutil.copytree(REPO / "model_cards" / name, tmp_path / "out" / "a" / name)
    (tmp_path / "out" / "stray.json").write_text("{}")
    res = cli("index", "out")
    assert res.exit_code == 0, res.stderr
    html = (tmp_path / "out" / "index.html").read_text()
    assert _index_rows(html) == {"kenya-sha-pmt": "fail"}
    assert 'href="a/kenya_sha_pmt/card.html"' in html
    (tmp_path / "empty").mkdir()
    res = cli("index", "empty")
    assert res.exit_code == 2 and "no fairaudit card.json" in res.stderr
