"""The PDF card (extra pdf: weasyprint, which needs Debian's Pango). Skipped only when
weasyprint cannot be loaded outside CI; in CI (CI=true) these tests must run."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import yaml

from fairaudit.card import render_pdf
from tests.card.conftest import example_card
from tests.conftest import base_spec, make_frame


def _weasyprint_loads() -> bool:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _weasyprint_loads() and not os.environ.get("CI"),
    reason="weasyprint (extra pdf) or Pango is not installed",
)


def _pages(pdf: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_pdf_is_the_html_card_printed() -> None:
    card = example_card("kenya_sha_pmt")
    pdf = render_pdf(card)
    assert pdf.startswith(b"%PDF-")
    pages = _pages(pdf)
    assert len(pages) > 1
    assert "kenya-sha-pmt" in pages[0] and "1. Summary" in pages[0]
    text = " ".join(pages)
    for heading in ("Verdicts of the gates", "Provenance", "Regulatory crosswalk"):
        assert heading in text
    assert card.provenance.results_sha256 in text.replace("\n", "")


def test_card_and_check_write_pdf(tmp_path: Path, cli) -> None:
    make_frame().to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(base_spec()), encoding="utf-8")
    assert cli("check", "audit.yaml", "--out", "o").exit_code == 1
    assert not (tmp_path / "o" / "card.pdf").exists()  # only when asked
    res = cli("card", "o/results.json", "--format", "pdf")
    assert res.exit_code == 0, res.stderr
    pdf = (tmp_path / "o" / "card.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and "1. Summary" in _pages(pdf)[0]
    assert cli("check", "audit.yaml", "--out", "p", "--pdf").exit_code == 1
    assert (tmp_path / "p" / "card.pdf").read_bytes().startswith(b"%PDF-")
    res = cli("check", "audit.yaml", "--out", "q", "--pdf", "--no-card")
    assert res.exit_code == 2 and "--no-card" in res.stderr


def test_missing_weasyprint_names_the_extra(tmp_path: Path, cli, monkeypatch) -> None:
    import sys

    make_frame().to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(base_spec()), encoding="utf-8")
    assert cli("check", "audit.yaml", "--out", "o").exit_code == 1
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as if not installed
    res = cli("card", "o/results.json", "--format", "pdf")
    assert res.exit_code == 2 and "pip install 'fairaudit[pdf]'" in res.stderr
    assert not (tmp_path / "o" / "card.pdf").exists()
