"""Explanation charts as self-contained SVG text (matplotlib, Agg backend).

Colours are from the Okabe–Ito palette (safe for the common colour-vision deficiencies);
the heatmap uses a diverging blue–white–orange scale and prints every value in its cell, so
nothing is read from colour alone. Charts are deterministic: same input, same SVG (no
dates, fixed hash salt for element ids).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.errors import MissingExtraError

__all__ = ["OKABE_ITO", "gap_waterfall_svg", "global_importance_svg", "group_heatmap_svg"]

#: Okabe & Ito (2008): orange, sky blue, bluish green, yellow, blue, vermillion, purple, grey.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"]
_UP = "#0072B2"  # pushes toward selection
_DOWN = "#D55E00"  # pushes away from selection


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("shap", "matplotlib") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    plt = _pyplot()
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "fairaudit", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def global_importance_svg(
    importance: pd.Series | Mapping[str, float],
    *,
    top: int = 15,
    output: str = "score",
    xlabel: str | None = None,
    title: str = "What drives the model's decisions",
) -> str:
    """Horizontal bars of mean |SHAP| per feature, largest at the top.

    ``importance`` is a Series or a plain ``{feature: mean |SHAP|}`` mapping (e.g. from
    ``results.json``); ``xlabel`` replaces the default axis label.
    """
    plt = _pyplot()
    series = importance if isinstance(importance, pd.Series) else pd.Series(dict(importance))
    s = series.sort_values(ascending=False, kind="stable").iloc[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(s) + 1.2))
    ax.barh([str(i) for i in s.index], s.to_numpy(), color=OKABE_ITO[4])
    ax.set_xlabel(xlabel or f"mean |SHAP value| ({output})")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def group_heatmap_svg(
    group_importance: pd.DataFrame,
    *,
    top: int = 12,
    digits: int = 2,
    label: str = "mean SHAP value (+ toward selection)",
    title: str = "What drives each group's decisions",
) -> str:
    """Mean SHAP per feature (columns) for each group (rows), values printed in cells.

    ``group_importance`` is the table from :func:`~fairaudit.explain.group_importance`
    (its ``n`` and ``mean_output`` columns are left out), or the same table built from
    ``results.json``; ``digits`` are the decimals printed in the cells, ``label`` the
    colour bar's.
    """
    plt = _pyplot()
    table = group_importance.drop(
        columns=[c for c in ("n", "mean_output") if c in group_importance]
    )
    order = table.abs().mean().sort_values(ascending=False, kind="stable").index[:top]
    table = table.loc[:, order]
    labels = (
        [f"{a}={g}" for a, g in table.index]
        if isinstance(table.index, pd.MultiIndex)
        else [str(i) for i in table.index]
    )
    data = table.to_numpy(dtype="float64")
    lim = float(np.nanmax(np.abs(data))) if data.size else 1.0
    lim = lim or 1.0
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("fa_div", [_DOWN, "#FFFFFF", _UP])
    fig, ax = plt.subplots(figsize=(0.9 * len(order) + 2.5, 0.45 * len(labels) + 1.8))
    im = ax.imshow(data, cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(order)), [str(c) for c in order], rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            ax.text(j, i, f"{data[i, j]:+.{digits}f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(title)
    return _svg(fig)


def gap_waterfall_svg(
    decomposition: Any,
    *,
    label: str,
    top: int = 8,
    reference_label: str = "reference",
    xlabel: str = "mean model output",
) -> str:
    """Waterfall from the reference group's mean output to the group's, one step per
    feature (the ``top`` largest; the rest summed as "other features").

    ``decomposition`` is a :class:`~fairaudit.explain.GapDecomposition` or anything with
    its ``contributions`` (a Series), ``reference_mean``, ``group_mean`` and ``gap``.
    """
    plt = _pyplot()
    contrib: pd.Series = decomposition.contributions
    shown = contrib.iloc[:top]
    rest = float(contrib.iloc[top:].sum())
    steps = [(str(k), float(v)) for k, v in shown.items()]
    if len(contrib) > top:
        steps.append(("other features", rest))
    fig, ax = plt.subplots(figsize=(7, 0.4 * (len(steps) + 2) + 1.2))
    level = decomposition.reference_mean
    names = [reference_label] + [s[0] for s in steps] + [label]
    ax.barh(0, level, color=OKABE_ITO[7])
    for i, (_, v) in enumerate(steps, start=1):
        ax.barh(i, v, left=level, color=_UP if v >= 0 else _DOWN)
        level += v
    ax.barh(len(steps) + 1, decomposition.group_mean, color=OKABE_ITO[7])
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(f"Gap to the reference: {decomposition.gap:+.3f}")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)
