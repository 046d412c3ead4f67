"""Exact SHAP values of a rules model's deprivation score.

A rules file's score is additive over its indicators::

    score(x) = Σ_k w_k · d_k(x[S_k])

where ``d_k`` is indicator ``k`` (0/1 after its missing-data policy), ``w_k`` its weight and
``S_k`` the data columns it reads, directly or through variables (parameters are constants:
pinned on the whole population before scoring). Shapley values are linear in the game and
give nothing to a column a term does not read, so the interventional SHAP value of column
``i`` (independent masker, background ``B``, the same definition as
``shap.explainers.Exact`` with ``shap.maskers.Independent``) is::

    φ_i(x) = Σ_k w_k Σ_{T ⊆ S_k \\ {i}} |T|! (m_k − |T| − 1)! / m_k!
                  · (v_k(T ∪ {i}) − v_k(T)),
    v_k(T) = mean_{b ∈ B} d_k(x[T], b[S_k \\ T])

— exact, and cheap because every indicator reads only a few columns: indicators that read
the same columns are evaluated together, one rules evaluation per coalition of those
columns, vectorised over every explained row and background row at once.

Why not shap's model-agnostic explainers: they call the model once per explained row
(hundreds of masked copies each), and the rules engine's cost per call made 300 rows of the
Digital Family Card take more than five minutes. ``tests/explain/test_rules_shap.py`` shows
these values equal ``shap.explainers.Exact`` on the same background.

The score is what is explained: the decision of a programme (eligibility stages such as a
citizenship test or an SMS reply) is not additive; its exact attribution is the deciding
stage in the reason codes (:func:`fairaudit.explain.reasons.rules_reason_codes`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.errors import InputError, InternalError

__all__ = ["indicator_inputs", "rules_explainer", "rules_score_shap"]

#: Masked rows evaluated at once (explained rows × background rows per chunk).
CHUNK_ROWS = 400_000


def indicator_inputs(rules: Any) -> dict[str, tuple[str, ...]]:
    """Every indicator -> the data columns it reads, directly or through variables."""
    memo: dict[str, tuple[str, ...]] = {}

    def inputs_of(names: Iterable[str], seen: frozenset[str]) -> list[str]:
        out: list[str] = []
        for name in names:
            kind = rules.kind_of(name)
            if kind is None:
                out.append(name)
            elif kind == "variable" and name not in seen:
                if name not in memo:
                    var = rules.variables[name]
                    memo[name] = tuple(inputs_of(var.expr.names(), seen | {name}))
                out.extend(memo[name])
        return out

    order = {c: i for i, c in enumerate(rules.columns())}
    result = {}
    for name, ind in rules.indicators.items():
        cols = set(inputs_of(ind.expr.names(), frozenset()))
        result[name] = tuple(sorted(cols, key=lambda c: order.get(c, len(order))))
    return result


def _shapley_weights(m: int) -> np.ndarray:
    """``w[t] = t! (m - t - 1)! / m!`` for coalitions of size ``t`` not holding the player."""
    return np.array(
        [math.factorial(t) * math.factorial(m - t - 1) / math.factorial(m) for t in range(m)]
    )


def rules_score_shap(
    rules: Any,
    frame: pd.DataFrame,
    background: pd.DataFrame,
    *,
    parameters: dict[str, Any] | None = None,
    background_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Exact SHAP values of the rules' score for every row of ``frame``.

    Parameters
    ----------
    rules
        A compiled rule set with dimensions (so a score).
    frame, background
        The rows to explain and the background rows (every column the rules read).
    parameters
        Pinned parameter values (population statistics computed on the whole file);
        without them parameters are computed on the background.
    background_weights
        Optional weight per background row (the masker's expectation is weighted).

    Returns
    -------
    values, base_values, features
        ``n × p`` SHAP values over ``features`` (the columns the score reads, in the rules'
        order), and the base value (the background's mean score) of each row.
    """
    from fairaudit.rules import evaluate

    if not rules.has_score:
        raise InternalError("rules_score_shap needs rules with a score (dimensions)")
    inputs = indicator_inputs(rules)
    order = {c: i for i, c in enumerate(rules.columns())}
    features = sorted({c for cols in inputs.values() for c in cols}, key=order.__getitem__)
    col = {c: j for j, c in enumerate(features)}
    n, nb = len(frame), len(background)
    x = frame.reset_index(drop=True)
    bg = background.reset_index(drop=True)
    bw = (
        np.full(nb, 1.0 / nb)
        if background_weights is None
        else np.asarray(background_weights, dtype="float64") / float(np.sum(background_weights))
    )
    if parameters is None:
        parameters = dict(evaluate(rules, bg, programmes=[]).parameters)

    def contributions(data: pd.DataFrame) -> pd.DataFrame:
        return evaluate(rules, data, parameters=parameters, programmes=[]).contributions()

    cx = contributions(x)
    cb = contributions(bg)
    values = np.zeros((n, len(features)))
    base = 0.0
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, cols in inputs.items():
        groups.setdefault(cols, []).append(name)
    for cols, names in groups.items():
        m = len(cols)
        full = cx[names].to_numpy().sum(axis=1)
        empty = float(cb[names].to_numpy().sum(axis=1) @ bw)
        base += empty
        if m == 0:
            continue
        # v[mask] = mean over the background with the columns in `mask` taken from x
        v = np.empty((1 << m, n))
        v[0] = empty
        v[(1 << m) - 1] = full
        step = max(1, CHUNK_ROWS // max(nb, 1))
        for mask in range(1, (1 << m) - 1):
            from_bg = [cols[j] for j in range(m) if not (mask >> j) & 1]
            for start in range(0, n, step):
                stop = min(n, start + step)
                rows = x.iloc[np.repeat(np.arange(start, stop), nb)].reset_index(drop=True)
                tiled = bg.iloc[np.tile(np.arange(nb), stop - start)].reset_index(drop=True)
                for c in from_bg:
                    rows[c] = tiled[c]
                out = contributions(rows)[names].to_numpy().sum(axis=1)
                v[mask, start:stop] = out.reshape(stop - start, nb) @ bw
        w = _shapley_weights(m)
        sizes = np.array([bin(t).count("1") for t in range(1 << m)])
        for j in range(m):
            bit = 1 << j
            without = np.array([t for t in range(1 << m) if not t & bit])
            phi = (w[sizes[without]][:, None] * (v[without | bit] - v[without])).sum(axis=0)
            values[:, col[cols[j]]] += phi
    # the score is the sum of the contributions: base + Σ φ must give it back exactly
    score = evaluate(rules, x, parameters=parameters, programmes=[]).score
    assert score is not None
    if n and not np.allclose(base + values.sum(axis=1), score, atol=1e-9):
        raise InternalError(
            "the rules' score is not the sum of its indicator contributions; "
            "exact attribution does not apply"
        )
    return values, np.full(n, base), features


def rules_explainer(model: Any, background: pd.DataFrame) -> Any:
    """An :class:`~fairaudit.explain.shap_explain.Explainer` for a rules model's score."""
    from fairaudit.explain.shap_explain import Explainer
    from fairaudit.rules import evaluate

    rules = model.rules
    inputs = indicator_inputs(rules)
    order = {c: i for i, c in enumerate(rules.columns())}
    features = sorted({c for cols in inputs.values() for c in cols}, key=order.__getitem__)
    needed = list(rules.columns())
    lacking = [c for c in needed if c not in background.columns]
    if lacking:
        raise InputError(
            f"the rows to explain lack {len(lacking)} column(s) the rules read: {lacking}",
            fix="explain rows with every column the rules read",
        )
    bg = background.loc[:, needed]
    # Parameters that are population statistics were pinned on the whole file when the
    # audit prepared the model; a model used on its own gets them from the background.
    pinned = dict(getattr(model, "_pinned", {}) or {})
    params = dict(evaluate(rules, bg, parameters=pinned or None, programmes=[]).parameters)

    def fn(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        lacking = [c for c in needed if c not in frame.columns]
        if lacking:
            raise InputError(
                f"the rows to explain lack {len(lacking)} column(s) the rules read: {lacking}",
                fix="explain rows with every column the rules read",
            )
        vals, base, feats = rules_score_shap(rules, frame.loc[:, needed], bg, parameters=params)
        assert feats == features
        return vals, base

    return Explainer(
        name="rules",
        output="score",
        features=features,
        estimator=f"rules:{rules.name}",
        budget=None,
        background_rows=len(bg),
        _fn=fn,
    )
