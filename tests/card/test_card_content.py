"""What a card says: schema, sections, summary numbers, 'not stated', self-contained HTML."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import jsonschema
import pytest

import fairaudit.card as card_api
from fairaudit.card import build_card, card_json_schema, render_html, render_json, render_markdown
from fairaudit.card.model import (
    SUPPRESSED,
    Card,
    card_json_schema_text,
    group_label,
    schema_path,
)
from tests.card.conftest import example_card, example_result


def test_public_api() -> None:
    assert card_api.__all__ == sorted(card_api.__all__)
    for name in ("build_card", "render_json", "render_markdown", "render_html", "card_json_schema"):
        assert callable(getattr(card_api, name))


def test_published_schema_is_generated_from_the_model() -> None:
    assert schema_path().read_text(encoding="utf-8") == card_json_schema_text(), (
        "regenerate src/fairaudit/card/schemas/card-1.schema.json with "
        "fairaudit.card.model.card_json_schema_text()"
    )
    assert card_json_schema()["title"] == "fairaudit.card/1"


def test_card_json_validates_against_the_schema(example: str) -> None:
    doc = json.loads(render_json(example_card(example)))
    validator = jsonschema.Draft202012Validator(card_json_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, errors[0].message
    assert doc["schema"] == "fairaudit.card/1"
    assert Card.model_validate(doc) == example_card(example)


def test_sections_in_order(example: str) -> None:
    doc = json.loads(render_json(example_card(example)))
    keys = list(doc)
    order = [
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
    ]
    assert [k for k in keys if k in order] == order
    md = render_markdown(example_card(example))
    positions = [
        md.index(h)
        for h in (
            "## 1. Summary",
            "## 2. Verdicts",
            "## 3. Model details",
            "## 4. Data",
            "## 8. Explanations",
            "## 9. Redress",
            "## 10. Mitigation",
            "## 11. Limitations",
            "## 12. Provenance",
            "Regulatory crosswalk",
        )
    ]
    assert positions == sorted(positions)


def test_summary_counts_equal_the_results(example: str) -> None:
    result = example_result(example)
    card = example_card(example)
    failing = {tuple(sorted(c.attributes.items())) for c in result.failed_checks() if c.attributes}
    by_key = {tuple(sorted(g.attributes.items())): g for g in result.groups}
    assert {tuple(sorted(h.attributes.items())) for h in card.summary.harmed} == failing
    for h in card.summary.harmed:
        g = by_key[tuple(sorted(h.attributes.items()))]
        # assistive audits: the harmed are the eligible people not selected (fn)
        assert h.people in (g.counts.fn, SUPPRESSED, "<10")
        assert (h.people == "<10") == (0 < g.counts.fn < 10)
        if h.value is not None:
            assert h.people == g.counts.fn
            assert h.value == pytest.approx(g.metrics["false_negative_rate"].value, abs=1e-4)
            assert f"{g.counts.fn:,} eligible people not selected" in " ".join(
                card.summary.who_is_harmed
            )
    assert f"{result.overall.counts.fn:,} eligible people not selected" in card.summary.headline
    for gate in card.gates:
        checks = [c for c in result.checks if c.id == gate.id]
        assert gate.passed == sum(c.verdict == "pass" for c in checks)
        assert gate.failed == sum(c.verdict == "fail" for c in checks) == len(gate.failing)
        assert gate.insufficient_evidence == len(gate.insufficient)


def test_kenya_card_numbers() -> None:
    card = example_card("kenya_sha_pmt")
    (rural,) = card.summary.harmed
    assert rural.group == "area=Rural"
    assert rural.people == 400  # eligible rural households the PMT does not select
    assert rural.value == pytest.approx(0.4306, abs=1e-4)
    assert rural.ci == pytest.approx((0.3991, 0.4626), abs=1e-4)
    assert card.data.n_audited == 3394
    assert card.explanations.reasons is None
    assert card.regression is not None
    assert [r.label for r in card.regression.rows] == ["Urban", "Rural"]
    assert card.regression.rows[1].mean_error == pytest.approx(-288.53, abs=0.01)
    assert any(line.startswith("Reasons: not computed") for line in card.explanations.not_computed)


def test_dfc_small_cells_are_suppressed() -> None:
    card = example_card("digital_family_card")
    rows = {r.label: r for t in card.groups for r in t.rows}
    older = rows["63+"]  # 1 selected and 3 not selected of 4 eligible families
    assert older.tp == "<10" and older.fn == "<10" and not older.rates_shown
    metric_rows = {r.label: r for t in card.metrics for r in t.rows}
    assert all(v is None for v in metric_rows["63+"].values.values())
    assert rows["resident_foreigner"].tp == 0  # zeros are shown: the finding is that none get TSA
    # the same people counted in another block are hidden there too
    ex = card.explanations
    assert ex.reasons is not None and ex.counterfactuals is not None and ex.poorest is not None
    hidden_fn = {
        group_label(r.attributes) for t in card.groups for r in t.rows if isinstance(r.fn, str)
    }
    assert hidden_fn
    for block in (ex.reasons.groups, ex.counterfactuals.groups, ex.poorest.groups):
        for g in block:
            if g.group in hidden_fn:
                count = getattr(g, "wrongly", None) or getattr(g, "excluded", None)
                assert count in ("<10", SUPPRESSED), (g.group, count)
    assert card.scores is not None
    scores = {r.label: r for t in card.scores.tables for r in t.rows}
    assert scores["63+"].auc is None and scores["63+"].scoring_rate is None
    assert scores["Abai"].auc is not None
    text = render_json(card)
    assert '"tp": 1,' not in text and '"fn": 3,' not in text


def test_without_spec_says_not_stated() -> None:
    card = build_card(example_result("kenya_sha_pmt"))
    assert card.model_details.description == "not stated"
    assert card.model_details.loader == "column"
    assert card.data.synthetic == "not stated"
    assert all(g.description == "Description not stated." for g in card.gates)
    assert "not stated" in render_markdown(card)


def test_synthetic_data_is_taken_from_the_spec_description() -> None:
    from tests.card.conftest import example_spec

    spec = example_spec("kenya_sha_pmt").model_copy(
        update={"description": "A synthetic population generated for this test."}
    )
    card = build_card(example_result("kenya_sha_pmt"), spec)
    assert card.data.synthetic.startswith("The spec describes the data as synthetic")
    assert any("synthetic" in line for line in card.limitations)
    plain = build_card(example_result("kenya_sha_pmt"), example_spec("kenya_sha_pmt"))
    assert not any("data is synthetic" in line for line in plain.limitations)


def test_min_cell_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_cell"):
        build_card(example_result("kenya_sha_pmt"), min_cell=0)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.table_captions: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.table_captions.append(False)
        if tag == "caption" and self.table_captions:
            self.table_captions[-1] = True


REMOTE = re.compile(
    r"""(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(\s*["']?\s*(?:https?:)?//""",
    re.I,
)


def test_html_is_self_contained_and_accessible(example: str) -> None:
    html = render_html(example_card(example))
    assert not REMOTE.search(html)
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html
    assert all(u.startswith("url(#") for u in re.findall(r"url\([^)]*\)", html))
    parser = _Collector()
    parser.feed(html)
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert all(parser.table_captions), "every table has a caption"
    for tag, attrs in parser.tags:
        if tag == "th":
            assert attrs.get("scope") in ("col", "row")
        if tag == "svg":
            assert attrs.get("role") == "img" and attrs.get("aria-labelledby")
        if tag in ("a",) and attrs.get("href"):
            assert str(attrs["href"]).startswith("#")
    ids = [a["id"] for _, a in parser.tags if a.get("id")]
    assert len(ids) == len(set(ids)), "ids are unique on the page"
    assert tags.count("h1") == 1
    assert "@media print" in html and "size: A4" in html
    assert 'name="viewport"' in html


def test_charts_are_deterministic_and_described() -> None:
    from fairaudit.card.charts import DotPoint, dot_interval_svg

    points = [DotPoint("a", 0.3, 0.25, 0.35, "pass"), DotPoint("b", 0.5, 0.4, 0.6, "fail")]
    kwargs = dict(
        reference=0.3,
        reference_label="reference: a",
        metric_label="exclusion error",
        chart_id="c1",
        title="Exclusion error by x",
    )
    one = dot_interval_svg(points, **kwargs)  # type: ignore[arg-type]
    two = dot_interval_svg(points, **kwargs)  # type: ignore[arg-type]
    assert one == two
    assert one.startswith("<svg") and "<metadata" not in one and "<dc:date" not in one
    assert '<title id="c1-t">Exclusion error by x</title>' in one
    assert "b: 50.0% (40.0–60.0%), fail" in one
