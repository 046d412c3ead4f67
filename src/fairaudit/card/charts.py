"""Inline SVG charts for cards (matplotlib's SVG backend, deterministic bytes).

Every chart carries its text alternative: an SVG ``<title>`` and ``<desc>`` (the data in
words), ``role="img"`` and ``aria-labelledby``. Colours are colour-blind-safe (Okabe–Ito blue and
vermillion, Paul Tol's purple) with at least 3:1 contrast against white; verdicts are also told
apart by marker shape, never by colour alone.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fairaudit.errors import MissingExtraError

__all__ = ["DotPoint", "OptionBar", "dot_interval_svg", "options_svg"]

# Okabe & Ito (2008) blue and vermillion and Paul Tol's purple: colour-blind-safe, and each
# at least 3:1 against white (WCAG 1.4.11, non-text contrast).
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#AA3377"
GREY = "#595959"
_MARKERS = {"fail": ("D", VERMILLION), "insufficient_evidence": ("s", PURPLE), "pass": ("o", BLUE)}
_RC: dict[Any, Any] = {
    "svg.hashsalt": "fairaudit-card",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclass(frozen=True)
class DotPoint:
    """One group in a dot-and-interval chart."""

    label: str
    value: float
    low: float | None
    high: float | None
    verdict: str  # pass, fail, insufficient_evidence or "" (no check)


def _clean(svg: str, chart_id: str, title: str, desc: str) -> str:
    """Drop the XML prologue and metadata, make the SVG responsive and accessible."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s(width|height)="[^"]*pt"', "", svg, count=2)
    head = f'<svg role="img" aria-labelledby="{chart_id}-t {chart_id}-d" class="chart"'
    svg = svg.replace("<svg", head, 1)
    start = svg.index(">") + 1
    alt = (
        f'<title id="{chart_id}-t">{html.escape(title)}</title>'
        f'<desc id="{chart_id}-d">{html.escape(desc)}</desc>'
    )
    svg = svg[:start] + alt + svg[start:]
    # Namespace declarations are implied in HTML; dropping them keeps the file free of URLs.
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg)
    # Matplotlib names clip paths and markers by a salted hash, the same in every chart:
    # ids must be unique across one page.
    ids = set(re.findall(r'\sid="([^"]+)"', svg)) - {f"{chart_id}-t", f"{chart_id}-d"}
    for old in sorted(ids):
        svg = svg.replace(f'id="{old}"', f'id="{chart_id}-{old}"')
        svg = svg.replace(f'href="#{old}"', f'href="#{chart_id}-{old}"')
        svg = svg.replace(f"url(#{old})", f"url(#{chart_id}-{old})")
    return svg.strip() + "\n"


def dot_interval_svg(
    points: Sequence[DotPoint],
    *,
    reference: float | None,
    reference_label: str,
    metric_label: str,
    chart_id: str,
    title: str,
) -> str:
    """A dot-and-interval chart of one rate by group, with the reference group's line.

    Parameters
    ----------
    points
        Groups, top to bottom.
    reference
        The reference group's value (a dashed vertical line), or None.
    reference_label
        Words for the line, e.g. ``reference: urban``.
    metric_label
        The x axis label.
    chart_id
        A page-unique id (used for the accessible title and description).
    title
        The chart's accessible title.

    Returns
    -------
    str
        An ``<svg>`` element (no XML prologue, no external reference, same bytes for the
        same input).
    """
    try:
        import matplotlib
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingExtraError("card", "matplotlib") from exc

    with matplotlib.rc_context(_RC):
        height = 0.9 + 0.28 * len(points)
        fig = Figure(figsize=(6.4, height))
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        ys = list(range(len(points)))[::-1]
        for y, p in zip(ys, points, strict=True):
            marker, colour = _MARKERS.get(p.verdict, ("o", GREY))
            if p.low is not None and p.high is not None:
                ax.plot(
                    [100 * p.low, 100 * p.high], [y, y], color=colour, linewidth=2, clip_on=False
                )
            ax.plot(
                [100 * p.value],
                [y],
                marker=marker,
                color=colour,
                markersize=6,
                linestyle="",
                clip_on=False,
            )
        if reference is not None:
            ax.axvline(100 * reference, color=GREY, linestyle="--", linewidth=1)
            ax.annotate(
                reference_label,
                xy=(100 * reference, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, 2),
                textcoords="offset points",
                color=GREY,
                fontsize=8,
            )
        ax.set_yticks(ys, [p.label for p in points])
        ax.set_xlabel(f"{metric_label} (%)")
        ax.set_xlim(0, 100)
        ax.margins(x=0)
        ax.set_ylim(-0.7, len(points) - 0.3)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        fig.subplots_adjust(left=0.34, right=0.97, top=1 - 0.35 / height, bottom=0.45 / height)
        buf = io.StringIO()
        fig.savefig(
            buf,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    parts = []
    for p in points:
        ci = (
            f" ({100 * p.low:.1f}–{100 * p.high:.1f}%)"
            if p.low is not None and p.high is not None
            else ""
        )
        verdict = f", {p.verdict.replace('_', ' ')}" if p.verdict else ""
        parts.append(f"{p.label}: {100 * p.value:.1f}%{ci}{verdict}")
    ref = (
        f" Dashed line: {reference_label} at {100 * reference:.1f}%."
        if reference is not None
        else ""
    )
    desc = f"{metric_label} by group with its interval. " + "; ".join(parts) + "." + ref
    return _clean(buf.getvalue(), chart_id, title, desc)


@dataclass(frozen=True)
class OptionBar:
    """One mitigation option in the trade-off chart."""

    label: str
    failed: int
    passes: bool
    recommended: bool
    present: bool
    cost: float | None


def options_svg(
    options: Sequence[OptionBar],
    *,
    cost_label: str | None,
    chart_id: str,
    title: str,
) -> str:
    """The trade-off of mitigation options: failed checks (left) and cost (right), one row
    per option, the present model first.

    Parameters
    ----------
    options
        Options, top to bottom.
    cost_label
        The cost axis label (with its unit); None draws the failed checks only.
    chart_id
        A page-unique id (used for the accessible title and description).
    title
        The chart's accessible title.

    Returns
    -------
    str
        An ``<svg>`` element (no XML prologue, no external reference, same bytes for the
        same input). An option that passes every check is drawn in blue with a circle, one
        that fails in vermillion with a diamond; every bar carries its number, so nothing is
        told by colour alone.
    """
    import textwrap

    try:
        import matplotlib
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError as exc:
        raise MissingExtraError("card", "matplotlib") from exc

    def name(o: OptionBar) -> str:
        text = textwrap.shorten(o.label, 60, placeholder="…")
        text = "\n".join(textwrap.wrap(text, 32)) or o.label
        if o.recommended:
            text += "\n(recommended)"
        elif o.present:
            text += " (now)"
        return text

    with_cost = cost_label is not None and any(o.cost is not None for o in options)
    with matplotlib.rc_context(_RC):
        height = 1.0 + 0.42 * len(options)
        fig = Figure(figsize=(7.2, height))
        FigureCanvasSVG(fig)
        axes = fig.subplots(1, 2 if with_cost else 1, sharey=True, squeeze=False)[0]
        ys = list(range(len(options)))[::-1]
        ax = axes[0]
        most = max([1, *(o.failed for o in options)])
        for y, o in zip(ys, options, strict=True):
            marker, colour = _MARKERS["pass" if o.passes else "fail"]
            ax.barh(y, o.failed, height=0.55, color=colour, alpha=0.35 if o.present else 0.8)
            ax.plot([o.failed], [y], marker=marker, color=colour, markersize=5, linestyle="")
            ax.annotate(
                f"{o.failed}",
                xy=(o.failed, y),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        now = next((o for o in options if o.present), None)
        if now is not None:
            ax.axvline(now.failed, color=GREY, linestyle="--", linewidth=1)
        ax.set_yticks(ys, [name(o) for o in options], fontsize=7.5)
        ax.set_xlim(0, most * 1.25)
        ax.set_xlabel("failed checks (fewer is better)")
        ax.set_ylim(-0.7, len(options) - 0.3)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        if with_cost:
            cx = axes[1]
            costs = [o.cost or 0.0 for o in options]
            span = max([1.0, *(abs(c) for c in costs)])
            for y, o, c in zip(ys, options, costs, strict=True):
                cx.barh(y, c, height=0.55, color=GREY, alpha=0.35 if o.present else 0.8)
                cx.annotate(
                    "–" if o.cost is None else _short(c),
                    xy=(c, y),
                    xytext=(4 if c >= 0 else -4, 0),
                    textcoords="offset points",
                    va="center",
                    ha="left" if c >= 0 else "right",
                    fontsize=8,
                )
            cx.axvline(0, color=GREY, linewidth=0.8)
            cx.set_xlim(-1.75 * span if min(costs) < 0 else 0, 1.45 * span)
            cx.set_xlabel(textwrap.fill(str(cost_label), 40))
            cx.grid(axis="x", color="#dddddd", linewidth=0.6)
            cx.set_axisbelow(True)
            cx.tick_params(axis="x", labelsize=7)
            cx.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short(v)))
        fig.subplots_adjust(
            left=0.33, right=0.97, wspace=0.12, top=1 - 0.25 / height, bottom=0.75 / height
        )
        buf = io.StringIO()
        fig.savefig(
            buf,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    parts = []
    for o in options:
        text = f"{o.label}{' (the present model)' if o.present else ''}: {o.failed} failed checks"
        text += ", passes every check" if o.passes else ""
        text += ", recommended" if o.recommended else ""
        if with_cost:
            text += f", cost {'not stated' if o.cost is None else f'{o.cost:+,.0f}'}"
        parts.append(text)
    desc = (
        "Failed checks"
        + (f" and cost ({cost_label})" if with_cost else "")
        + " of each option, simulated on the audit data. "
        + "; ".join(parts)
        + "."
    )
    return _clean(buf.getvalue(), chart_id, title, desc)


def _short(value: float) -> str:
    """A compact signed number for an axis: 19.4M, -1.25B, 340."""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:+.3g}{suffix}"
    return f"{value:+.0f}" if value else "0"
