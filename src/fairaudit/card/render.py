"""Render a card to JSON, Markdown and one self-contained HTML file.

All three are deterministic: the same card gives the same bytes. The HTML file makes no
external request of any kind: its CSS is inline and its charts are inline SVG.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fairaudit.card.model import SECTIONS, SUPPRESSED, Card, group_label
from fairaudit.errors import MissingExtraError

__all__ = ["render_html", "render_json", "render_markdown", "render_pdf"]

_TEMPLATES = Path(__file__).parent / "templates"
_WORD = {"pass": "PASS", "fail": "FAIL", "insufficient_evidence": "INSUFFICIENT EVIDENCE"}


def render_json(card: Card) -> str:
    """The card as canonical JSON (schema ``fairaudit.card/1``).

    Parameters
    ----------
    card
        A card from :func:`build_card`.

    Returns
    -------
    str
        Indented JSON ending with a newline; the same card gives the same bytes.
    """
    return (
        json.dumps(
            card.model_dump(mode="json", by_alias=True),
            indent=2,
            ensure_ascii=False,
            allow_nan=False,
        )
        + "\n"
    )


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def _pp(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.1f} pts"


def _ci_pct(ci: Any) -> str:
    return "–" if ci is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}%"


def _ci_pp(ci: Any) -> str:
    return "–" if ci is None else f"{100 * ci[0]:+.1f} to {100 * ci[1]:+.1f} pts"


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _ci_ratio(ci: Any) -> str:
    return "–" if ci is None else f"{ci[0]:.2f}–{ci[1]:.2f}"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:,.1f}"


def _ci_num(ci: Any) -> str:
    return "–" if ci is None else f"{ci[0]:,.1f} to {ci[1]:,.1f}"


def _count(x: int | str) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def _signed(x: float | None) -> str:
    return "–" if x is None else f"{x:+,.0f}" if x else "0"


def _dec(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _sdec(x: float | None) -> str:
    return "–" if x is None else f"{x:+.3f}"


def _p(x: float | None) -> str:
    if x is None:
        return "–"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _value(x: float | None, measure: str) -> str:
    if x is None:
        return "–"
    return f"{x:.3f}" if measure == "ratio" else f"{x:.4f}"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _environment(autoescape: bool) -> Any:
    try:
        import jinja2
    except ImportError as exc:
        raise MissingExtraError("card", "jinja2") from exc

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=_pct,
        pp=_pp,
        ci_pct=_ci_pct,
        ci_pp=_ci_pp,
        ratio=_ratio,
        ci_ratio=_ci_ratio,
        count=_count,
        signed=_signed,
        num=_num,
        ci_num=_ci_num,
        p=_p,
        dec=_dec,
        sdec=_sdec,
        value=_value,
        md=_md,
        label=group_label,
        section_names=lambda names: ", ".join(SECTIONS[n] for n in names),
    )
    env.globals.update(SECTIONS=SECTIONS, WORD=_WORD, SUPPRESSED=SUPPRESSED)
    return env


def _context(card: Card) -> dict[str, Any]:
    reasons = card.explanations.reasons
    reason_names: list[str] = []
    if reasons is not None:
        for g in reasons.groups:
            for r in g.reasons:
                if r.reason not in reason_names:
                    reason_names.append(r.reason)
    return {"card": card, "reason_names": reason_names}


def render_markdown(card: Card) -> str:
    """The card as Markdown (GitHub-flavoured tables).

    Parameters
    ----------
    card
        A card from :func:`build_card`.

    Returns
    -------
    str
        Markdown text; the same card gives the same bytes.
    """
    text: str = _environment(False).get_template("card.md.j2").render(**_context(card))
    return text.rstrip("\n") + "\n"


def _verdicts(card: Card) -> dict[str, str]:
    """The worst verdict of each group over all gates (by group label)."""
    rank = {"pass": 0, "insufficient_evidence": 1, "fail": 2}
    out: dict[str, str] = {}

    def note(label: str, verdict: str) -> None:
        if rank[verdict] > rank.get(out.get(label, "pass"), -1) or label not in out:
            out[label] = verdict

    for gate in card.gates:
        for label in gate.passing:
            note(label, "pass")
        for g in gate.insufficient:
            note(g.group, "insufficient_evidence")
        for g in gate.failing:
            note(g.group, "fail")
    return out


def _charts(card: Card) -> dict[str, str]:
    """One dot-and-interval chart of the headline metric per attribute set."""
    from fairaudit.card.charts import DotPoint, dot_interval_svg

    head = card.model_details.headline_metric
    name = card.model_details.headline_name
    verdicts = _verdicts(card)
    out: dict[str, str] = {}
    for i, table in enumerate(card.metrics):
        points = []
        reference = None
        reference_label = ""
        for row in table.rows:
            rate = row.values.get(head)
            if row.is_reference and rate is not None:
                reference = rate.value
                reference_label = f"reference: {row.label}"
            if rate is None or rate.value is None:
                continue
            points.append(
                DotPoint(
                    label=row.label + (" (ref)" if row.is_reference else ""),
                    value=rate.value,
                    low=rate.ci[0] if rate.ci else None,
                    high=rate.ci[1] if rate.ci else None,
                    verdict=verdicts.get(group_label(row.attributes), ""),
                )
            )
        if not points:
            continue
        out[table.title] = dot_interval_svg(
            points,
            reference=reference,
            reference_label=reference_label,
            metric_label=name,
            chart_id=f"chart-{i + 1}",
            title=f"{name.capitalize()} by {table.title}, with confidence intervals",
        )
    return out


_HEATMAP_FEATURES = 8  # inputs (columns) in the per-group heatmap


def gap_chart_key(index: int, group: str) -> str:
    """The key (and file name stem) of the waterfall chart of ``card...drivers.gaps[index]``."""
    return f"drivers-gap-{index + 1}-{group}"


def _driver_charts(card: Card) -> dict[str, str]:
    """The charts of "What drives the decisions", built from the card's aggregates with
    :mod:`fairaudit.explain.charts`: overall importance, the per-group heatmap, and one
    waterfall per charted gap. Each gets its text alternative (the data in words)."""
    dr = card.explanations.drivers
    if dr is None:
        return {}
    import pandas as pd

    from fairaudit.card.charts import _clean
    from fairaudit.explain.charts import (
        gap_waterfall_svg,
        global_importance_svg,
        group_heatmap_svg,
    )

    out: dict[str, str] = {}
    short, unit = dr.output_name, dr.unit
    if dr.overall:
        top = dr.overall[:15]
        title = f"What drives the {short}: average size of each input's contribution"
        desc = (
            f"Mean absolute contribution (SHAP) to the {short}, in {unit}, largest first: "
            + "; ".join(f"{w.feature} {w.value:.3f}" for w in top)
            + "."
        )
        svg = global_importance_svg(
            {w.feature: w.value for w in top},
            top=len(top),
            xlabel=f"mean absolute contribution ({unit})",
            title=title,
        )
        out["drivers-overall"] = _clean(svg, "chart-drivers-overall", title, desc)
    shown = [g for g in dr.groups if g.mean_contributions]
    if shown:
        features = [w.feature for w in dr.overall[:_HEATMAP_FEATURES]] or list(
            shown[0].mean_contributions or {}
        )[:_HEATMAP_FEATURES]
        index = pd.MultiIndex.from_tuples(
            [next(iter(g.attributes.items())) for g in shown], names=["attribute", "group"]
        )
        table = pd.DataFrame(
            [[(g.mean_contributions or {}).get(f, 0.0) for f in features] for g in shown],
            index=index,
            columns=features,
        )
        lim = float(table.abs().to_numpy().max()) if table.size else 0.0
        title = f"Mean contribution of each input to the {short}, by group"
        hidden = [g.group for g in dr.groups if not g.mean_contributions]
        desc = (
            f"Mean contribution (SHAP) to the {short}, in {unit}, of the {len(features)} inputs "
            f"with the largest contributions overall; positive values raise the {short}. "
            + "; ".join(
                f"{g.group}: "
                + ", ".join(
                    f"{f} {(g.mean_contributions or {}).get(f, 0.0):+.3f}" for f in features
                )
                for g in shown
            )
            + "."
            + (f" Not shown (too few sampled people): {', '.join(hidden)}." if hidden else "")
        )
        svg = group_heatmap_svg(
            table,
            top=len(features),
            digits=3 if lim < 0.1 else 2,
            label=f"mean contribution ({unit}); + raises the {short}",
            title=title,
        )
        out["drivers-groups"] = _clean(svg, "chart-drivers-groups", title, desc)
    for i, g in enumerate(dr.gaps):
        if not g.charted or g.gap is None or g.group_mean is None or g.reference_mean is None:
            continue
        steps = {w.feature: w.value for w in g.contributions}
        if g.other is not None:
            steps["other features"] = g.other
        decomposition = SimpleNamespace(
            contributions=pd.Series(steps, dtype="float64"),
            reference_mean=g.reference_mean,
            group_mean=g.group_mean,
            gap=g.gap,
        )
        title = f"Where the gap in the mean {short} of {g.group} comes from"
        desc = (
            f"Starting from the mean {short} of {g.reference} ({g.reference_mean:.3f}), each "
            "bar adds one input's contribution to the gap: "
            + ", ".join(f"{f} {v:+.3f}" for f, v in steps.items())
            + f"; reaching the mean of {g.group} ({g.group_mean:.3f}). Gap: {g.gap:+.3f} "
            f"({unit})."
        )
        svg = gap_waterfall_svg(
            decomposition,
            label=g.group,
            top=len(steps),
            reference_label=g.reference,
            xlabel=f"mean {short} ({unit})",
        )
        out[gap_chart_key(i, g.group)] = _clean(svg, f"chart-drivers-gap-{i + 1}", title, desc)
    return out


MITIGATION_CHART = "mitigation-options"


def _mitigation_charts(card: Card) -> dict[str, str]:
    """The trade-off chart of the mitigation options (failed checks and cost)."""
    mit = card.mitigation
    if not mit.computed or len(mit.options) < 2:
        return {}
    from fairaudit.card.charts import OptionBar, options_svg

    units = {o.cost_unit for o in mit.options}
    cost_label = f"cost against the present model ({units.pop()})" if len(units) == 1 else None
    bars = [
        OptionBar(
            label=o.name,
            failed=o.failed,
            passes=o.passes,
            recommended=o.recommended,
            present=o.kind == "current",
            cost=o.cost,
        )
        for o in mit.options
    ]
    title = "Each simulated option: failed checks" + (" and cost" if cost_label else "")
    return {
        MITIGATION_CHART: options_svg(
            bars, cost_label=cost_label, chart_id="chart-mitigation", title=title
        )
    }


def render_charts(card: Card) -> dict[str, str]:
    """The card's charts as standalone SVG documents, by chart title (what the HTML inlines).

    Parameters
    ----------
    card
        A card from :func:`build_card`.
    """
    return {**_charts(card), **_driver_charts(card), **_mitigation_charts(card)}


def render_html(card: Card) -> str:
    """The card as one self-contained, accessible HTML file.

    Inline CSS (responsive; prints to A4) and inline SVG charts with text alternatives;
    no fonts, scripts, images or styles are fetched from anywhere.

    Parameters
    ----------
    card
        A card from :func:`build_card`.

    Returns
    -------
    str
        An HTML5 document; the same card gives the same bytes.
    """
    env = _environment(True)
    css = (_TEMPLATES / "card.css").read_text(encoding="utf-8")
    text: str = env.get_template("card.html.j2").render(
        css=css,
        charts=_charts(card),
        driver_charts=_driver_charts(card),
        mitigation_charts=_mitigation_charts(card),
        MITIGATION_CHART=MITIGATION_CHART,
        gap_chart_key=gap_chart_key,
        verdicts=_verdicts(card),
        **_context(card),
    )
    return text.rstrip("\n") + "\n"


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
    # The card is self-contained: a PDF that needed anything from outside would be a bug.
    raise ValueError(f"the card must not fetch {url!r}")


def render_pdf(card: Card) -> bytes:
    """The card as PDF (A4), printed by weasyprint from the same HTML as :func:`render_html`.

    Parameters
    ----------
    card
        A card from :func:`build_card`.

    Returns
    -------
    bytes
        A PDF document. Needs the ``pdf`` extra (weasyprint, which needs Pango).

    Raises
    ------
    MissingExtraError
        When weasyprint (or the Pango library it loads) is not installed.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        # OSError: weasyprint is installed but cannot load Pango (apt-get install libpango-1.0-0)
        raise MissingExtraError("pdf", "weasyprint") from exc
    pdf: bytes = weasyprint.HTML(string=render_html(card), url_fetcher=_no_fetch).write_pdf()
    return pdf
