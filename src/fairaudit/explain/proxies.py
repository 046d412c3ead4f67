"""Proxy detection: which features stand in for a protected attribute.

A feature is a likely proxy when it predicts the protected attribute well *and* the model
relies on it. For every feature and attribute this reports both numbers:

* **association** — how well the feature alone predicts the attribute: the normalised
  mutual information (arithmetic mean normalisation, as scikit-learn) for a categorical
  feature; for a numeric one, the ROC AUC of a one-feature model (the attribute's class
  frequencies in quantile bins of the feature, cross-fitted on two seeded halves so a
  model never scores the rows it was fitted on; one-vs-rest macro AUC for attributes with
  more than two groups). Missing feature values form their own bin/category.
* **strength** — the association on a common 0–1 scale: NMI as is, ``2·AUC − 1`` (Gini)
  for AUCs (0 = no better than chance).
* **reliance** — the feature's share of the model's global importance (mean |SHAP|).

``proxy_score = strength × reliance``, ranked largest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.errors import InputError

__all__ = ["DEFAULT_BINS", "association", "proxy_scores"]

DEFAULT_BINS = 20


def _is_categorical(s: pd.Series) -> bool:
    return (
        isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(s)
        or pd.api.types.is_object_dtype(s)
        or pd.api.types.is_string_dtype(s)
    )


def _codes(s: pd.Series) -> np.ndarray:
    return pd.factorize(s.astype("object"), use_na_sentinel=False)[0]


def _binned(s: pd.Series, bins: int) -> np.ndarray:
    x = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    ok = np.isfinite(x)
    out = np.full(len(x), -1, dtype="int64")
    if ok.any():
        edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, bins + 1)[1:-1]))
        out[ok] = np.searchsorted(edges, x[ok], side="right")
    return out + 1  # 0 = missing


def _crossfit_probabilities(bins: np.ndarray, target: np.ndarray, k: int, seed: int) -> np.ndarray:
    """P(class | bin) from the other half of the rows, Laplace-smoothed."""
    n = len(bins)
    fold = np.random.default_rng(seed).permutation(n) % 2
    nb = int(bins.max()) + 1
    prob = np.empty((n, k))
    for f in (0, 1):
        fit, score = fold != f, fold == f
        table = np.ones((nb, k))  # Laplace smoothing: an empty bin predicts uniformly
        np.add.at(table, (bins[fit], target[fit]), 1.0)
        table /= table.sum(axis=1, keepdims=True)
        prob[score] = table[bins[score]]
    return prob


def association(
    feature: pd.Series, protected: pd.Series, *, bins: int = DEFAULT_BINS, seed: int = 0
) -> tuple[str, float, float]:
    """``(measure, association, strength)`` of one feature with one protected attribute.

    See the module docstring. A constant attribute gives ``(measure, nan, 0.0)``.
    """
    from sklearn.metrics import normalized_mutual_info_score, roc_auc_score

    if len(feature) != len(protected):
        raise InputError(f"feature has {len(feature)} rows, protected attribute {len(protected)}")
    target = _codes(protected.reset_index(drop=True).fillna("unknown"))
    k = int(target.max()) + 1 if len(target) else 0
    f = feature.reset_index(drop=True)
    if _is_categorical(f):
        if k < 2:
            return "normalized_mutual_information", float("nan"), 0.0
        nmi = float(normalized_mutual_info_score(target, _codes(f)))
        return "normalized_mutual_information", nmi, nmi
    if k < 2:
        return "roc_auc", float("nan"), 0.0
    prob = _crossfit_probabilities(_binned(f, bins), target, k, seed)
    if k == 2:
        auc = float(roc_auc_score(target, prob[:, 1]))
    else:
        auc = float(roc_auc_score(target, prob, multi_class="ovr", average="macro"))
    return "roc_auc", auc, max(0.0, 2.0 * auc - 1.0)


def proxy_scores(
    frame: pd.DataFrame,
    features: Sequence[str],
    protected: Mapping[str, pd.Series],
    importance: pd.Series | Mapping[str, float],
    *,
    bins: int = DEFAULT_BINS,
    seed: int = 0,
) -> pd.DataFrame:
    """Rank every (feature, protected attribute) pair as a likely proxy.

    Parameters
    ----------
    frame
        Rows holding the features (e.g. the explanation sample).
    features
        The model's feature columns.
    protected
        ``{attribute name: values}``, aligned with ``frame``'s rows.
    importance
        Global importance per feature (:func:`~fairaudit.explain.global_importance`).
    bins, seed
        Quantile bins of the one-feature model and the seed of its cross-fitting halves.

    Returns
    -------
    DataFrame
        Columns ``feature, attribute, measure, association, strength, importance,
        reliance, proxy_score, rank``, sorted by ``proxy_score`` (then strength) descending.
    """
    imp = pd.Series(importance, dtype="float64")
    total = float(imp.clip(lower=0).sum())
    rows: list[dict[str, Any]] = []
    for attr, values in protected.items():
        vals = (
            pd.Series(np.asarray(values, dtype=object))
            if not isinstance(values, pd.Series)
            else values
        )
        if len(vals) != len(frame):
            raise InputError(
                f"protected attribute {attr!r} has {len(vals)} values for {len(frame)} rows"
            )
        for feat in features:
            if feat == attr:
                continue
            measure, assoc, strength = association(frame[feat], vals, bins=bins, seed=seed)
            weight = float(imp.get(feat, 0.0))
            reliance = weight / total if total > 0 else 0.0
            rows.append(
                {
                    "feature": str(feat),
                    "attribute": str(attr),
                    "measure": measure,
                    "association": assoc,
                    "strength": strength,
                    "importance": weight,
                    "reliance": reliance,
                    "proxy_score": strength * reliance,
                }
            )
    cols = [
        "feature",
        "attribute",
        "measure",
        "association",
        "strength",
        "importance",
        "reliance",
        "proxy_score",
    ]
    out = pd.DataFrame(rows, columns=cols)
    out = out.sort_values(
        ["proxy_score", "strength", "feature"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out
