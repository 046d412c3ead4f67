"""Golden output of the Kenya audit: the terminal summary and JUnit XML (its results.json is
checked in tests/test_model_cards.py).

Regenerate after an intended change with ``FAIRAUDIT_REGEN_GOLDEN=1 pytest tests/test_golden.py``
and review the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fairaudit.cli import main

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("FAIRAUDIT_REGEN_GOLDEN") == "1"


def _compare(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; set FAIRAUDIT_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.fixture
def kenya(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "100")
    shutil.copytree(REPO / "examples" / "kenya_sha_pmt", tmp_path / "examples" / "kenya_sha_pmt")
    (tmp_path / "audits").mkdir()
    shutil.copy(REPO / "audits" / "kenya_sha_pmt.yaml", tmp_path / "audits")
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(main, ["check", "audits/kenya_sha_pmt.yaml", "--junit", "j.xml"])


def test_terminal_summary_is_golden_and_fits_100_columns(kenya) -> None:
    assert kenya.exit_code == 1
    assert all(len(line) <= 100 for line in kenya.stdout.splitlines())
    _compare("kenya_sha_pmt.check.txt", kenya.stdout)


def test_junit_is_golden(kenya, tmp_path: Path) -> None:
    _compare("kenya_sha_pmt.junit.xml", (tmp_path / "j.xml").read_text())
