"""The HTML card in a real browser (headless Chromium): it loads, lays out on a phone and
prints to A4. CI installs the browser with ``apt-get install -y chromium``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fairaudit.card import render_html
from tests.card.conftest import example_card

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-extensions",
    "--no-first-run",
    # Any attempt to reach a host fails: the card must not need one.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.fixture
def card_file(tmp_path: Path) -> Path:
    path = tmp_path / "card.html"
    path.write_text(render_html(example_card("kenya_sha_pmt")), encoding="utf-8")
    return path


def test_browser_builds_the_document(tmp_path: Path, card_file: Path) -> None:
    dom = _run(tmp_path, "--dump-dom", card_file.as_uri()).stdout
    assert "<h1>kenya-sha-pmt" in dom
    for section in (
        "summary",
        "gates",
        "model_details",
        "data",
        "groups",
        "metrics",
        "disparities",
        "explanations",
        "redress",
        "mitigation",
        "limitations",
        "provenance",
        "crosswalk",
    ):
        assert f'<section id="{section}"' in dom
    assert "Redress: not computed" in dom and "Mitigation: not computed" in dom
    assert dom.count('<svg role="img"') == 1
    assert '<title id="chart-1-t">' in dom


def test_browser_lays_out_on_a_phone_and_prints_to_a4(tmp_path: Path, card_file: Path) -> None:
    png = tmp_path / "phone.png"
    _run(tmp_path, "--window-size=390,1200", f"--screenshot={png}", card_file.as_uri())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = tmp_path / "card.pdf"
    _run(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", card_file.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    # A4 is 595 x 842 points
    assert b"/MediaBox [0 0 594.95996 841.91998]" in data or b"/MediaBox [0 0 595" in data


def test_browser_sees_the_explanation_charts(tmp_path: Path) -> None:
    from fairaudit.card.render import render_charts

    card = example_card("digital_family_card")
    path = tmp_path / "dfc.html"
    path.write_text(render_html(card), encoding="utf-8")
    dom = _run(tmp_path, "--dump-dom", path.as_uri()).stdout
    charts = render_charts(card)
    assert dom.count('<svg role="img"') == len(charts)
    assert '<h3 id="drivers">What drives the decisions</h3>' in dom
    for chart_id in ("chart-drivers-overall", "chart-drivers-groups", "chart-drivers-gap-1"):
        assert f'<title id="{chart_id}-t">' in dom and f'<desc id="{chart_id}-d">' in dom
    png = tmp_path / "dfc.png"
    _run(tmp_path, "--window-size=390,1200", f"--screenshot={png}", path.as_uri())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_browser_sees_redress_and_mitigation(tmp_path: Path) -> None:
    card = example_card("digital_family_card")
    path = tmp_path / "dfc.html"
    path.write_text(render_html(card), encoding="utf-8")
    dom = _run(tmp_path, "--dump-dom", path.as_uri()).stdout
    redress = dom[dom.index('<section id="redress"') : dom.index('<section id="mitigation"')]
    assert '<h2 id="redress-h">9. Redress</h2>' in redress
    assert "<caption>People wrongly excluded, by group that fails a check</caption>" in redress
    assert redress.count('<tr><th scope="row">') >= len(card.redress.groups)
    assert "<caption>Appeal and grievance routes</caption>" in redress
    assert "restricted/rereview" in redress
    mitigation = dom[dom.index('<section id="mitigation"') : dom.index('<section id="limitations"')]
    assert '<table class="options">' in mitigation
    rows = mitigation.split('<table class="options">')[1].split("</table>")[0]
    assert rows.count("<tr") == len(card.mitigation.options) + 1  # with the header row
    assert '<title id="chart-mitigation-t">' in mitigation
    assert '<desc id="chart-mitigation-d">' in mitigation
    png = tmp_path / "mitigation.png"
    _run(tmp_path, "--window-size=390,1200", f"--screenshot={png}", path.as_uri() + "#mitigation")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
