"""SHAP explanations of a model's output on a bounded, stratified sample.

Which explainer (chosen from the model, in this order):

* **tree** — ``shap.TreeExplainer`` (``tree_path_dependent``: exact, fast, no background)
  when the underlying estimator is a tree ensemble shap supports (scikit-learn trees and
  ensembles, XGBoost, LightGBM...). It explains the tree's raw output: log-odds for
  gradient boosting, the probability for random forests and single trees (detected, then
  stated in :attr:`Explanation.output`).
* **linear** — ``shap.LinearExplainer`` (features independent, background mean) for a
  fitted linear model (``coef_`` and ``intercept_``): the decision function, i.e. log-odds
  for a logistic regression.
* **rules** — a rules model with a deprivation score: exact interventional SHAP values of
  the score, computed from its additive structure (:mod:`fairaudit.explain.rules_shap`;
  equal to ``shap.explainers.Exact`` on the same background, and fast).
* **permutation** — ``shap.explainers.Permutation`` over the raw feature columns with an
  explicit evaluation budget (model evaluations per explained row) and a seeded background
  sample, for everything else (ONNX graphs, pipelines that cannot be unrolled, python
  callables, decision-only models and rules without a score). It explains the model's
  score when it has one, else its 0/1 decision.

The underlying estimator is reached through ``model.estimator`` (the ``sklearn`` loader) or
``model.pyfunc.get_raw_model()`` (the ``mlflow`` loader). A scikit-learn ``Pipeline`` is
explained by its final step on the transformed columns, and the transformed columns are
summed back to the data column they came from (one-hot columns of ``region`` become
``region``); because SHAP values are additive, that sum is itself an exact attribution.
When a transformed column cannot be traced to one data column, the pipeline is explained
model-agnostically over its raw columns instead.

Every value here is about the *selected* side: a positive SHAP value pushes toward
selection (the benefit granted, or the case flagged).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from fairaudit.errors import InputError, MissingExtraError
from fairaudit.explain.sampling import DEFAULT_SAMPLE_SIZE, Sample, stratified_sample

__all__ = [
    "DEFAULT_BACKGROUND_ROWS",
    "DEFAULT_BUDGET",
    "DEFAULT_SAMPLE_SIZE",
    "Explainer",
    "Explanation",
    "GapDecomposition",
    "Sample",
    "explain",
    "explanation_summary",
    "gap_decomposition",
    "global_importance",
    "group_importance",
    "make_explainer",
    "stratified_sample",
]

DEFAULT_BACKGROUND_ROWS = 100
#: Model evaluations per explained row for the permutation explainer (at least 2p + 1).
DEFAULT_BUDGET = 500

Output = Literal["probability", "log-odds", "score", "decision"]
ExplainerName = Literal["tree", "linear", "rules", "permutation"]
#: Called with (rows done, rows in all) after each batch.
Progress = Callable[[int, int], None]


def _import_shap() -> Any:
    try:
        with warnings.catch_warnings():
            # shap 0.51's colour module calls Colormap.set_bad/set_over/set_under, which
            # matplotlib >= 3.11 marks as pending deprecation at import time; nothing
            # fairaudit can change, and only this exact warning is silenced.
            warnings.filterwarnings(
                "ignore",
                message=r"The set_(bad|over|under) function will be deprecated",
                category=PendingDeprecationWarning,
            )
            import shap
    except ImportError:
        raise MissingExtraError("shap", "shap") from None
    return shap


# --------------------------------------------------------------------------- explainers


@dataclass(frozen=True)
class Explanation:
    """SHAP values of a model's output for a set of rows.

    ``base_values[i] + values[i].sum() == output`` of row ``i`` (to floating-point
    tolerance); :attr:`output` says which output.

    Attributes
    ----------
    values
        ``n × p`` SHAP values, one column per data column in :attr:`features`.
    base_values
        ``n`` base values (the same number for every row with the tree and linear explainers).
    output
        What is explained: ``probability``, ``log-odds``, ``score`` (another real-valued
        score, e.g. a decision function) or ``decision`` (a 0/1 decision-only model).
    features
        The data columns, in the order of :attr:`values`' columns.
    explainer
        ``tree``, ``linear``, ``rules`` or ``permutation``.
    sample_size
        Rows explained.
    budget
        Model evaluations per row (permutation), else ``None``.
    background_rows
        Rows of the background sample (linear, permutation), else ``None``.
    weights
        Optional population weight per row (see :class:`Sample`); global means use them.
    estimator
        The class that was explained (after unrolling a pipeline).
    """

    values: np.ndarray
    base_values: np.ndarray
    output: Output
    features: list[str]
    explainer: ExplainerName
    sample_size: int
    budget: int | None = None
    background_rows: int | None = None
    weights: np.ndarray | None = None
    estimator: str = ""

    @property
    def model_output(self) -> np.ndarray:
        """``base_values + values.sum(axis=1)``: the explained output of each row."""
        return self.base_values + self.values.sum(axis=1)

    def frame(self) -> pd.DataFrame:
        """The SHAP values as a DataFrame with the features as columns."""
        return pd.DataFrame(self.values, columns=self.features)


@dataclass
class Explainer:
    """A prepared explainer: call :meth:`shap_values` on any rows, batch after batch.

    Build it with :func:`make_explainer`; the background and the choice of explainer are
    fixed, so explaining a file batch by batch gives the same values as all at once.
    """

    name: ExplainerName
    output: Output
    features: list[str]
    estimator: str
    budget: int | None
    background_rows: int | None
    _fn: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]] = field(repr=False)

    def shap_values(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(values n × p, base_values n)`` for the rows of ``frame``."""
        if len(frame) == 0:
            return np.zeros((0, len(self.features))), np.zeros(0)
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise InputError(
                f"the data lacks {len(missing)} column(s) the model reads: {missing}",
                fix="explain rows with every column the model reads",
            )
        return self._fn(frame)


def _underlying(model: Any) -> tuple[Any, int | None, bool] | None:
    """``(estimator, positive class index, fed by name)`` when the estimator is reachable."""
    est = getattr(model, "estimator", None)
    if est is not None:
        return est, getattr(model, "positive_index", None), bool(getattr(model, "by_name", True))
    pyfunc = getattr(model, "pyfunc", None)
    if pyfunc is not None:
        try:
            raw = pyfunc.get_raw_model()
        except Exception:  # a pyfunc flavour without a raw model: model-agnostic
            return None
        if callable(getattr(raw, "predict", None)):
            return raw, getattr(model, "positive_index", None), True
    return None


def _transformed_groups(pre: Any, features: Sequence[str], width: int) -> np.ndarray | None:
    """For each transformed column, the index of the data column it comes from."""
    try:
        names = [str(x) for x in pre.get_feature_names_out(list(features))]
    except Exception:
        return None
    if len(names) != width:
        return None
    out = np.empty(width, dtype="int64")
    by_length = sorted(range(len(features)), key=lambda j: -len(features[j]))
    for i, name in enumerate(names):
        candidates = [name, name.split("__", 1)[1]] if "__" in name else [name]
        hit = None
        for cand in candidates:
            for j in by_length:
                f = features[j]
                if cand == f or cand.startswith(f + "_"):
                    hit = j
                    break
            if hit is not None:
                break
        if hit is None:
            return None
        out[i] = hit
    return out


def _output_kind(est: Any, raw: np.ndarray, X: Any, positive_index: int | None) -> Output | None:
    """Which of the estimator's outputs the explainer's sums (base + Σ SHAP) are, checked
    on the rows ``X``; ``None`` when they match none (then the explainer is not used)."""
    pi = 1 if positive_index is None else positive_index
    if hasattr(est, "predict_proba"):
        p = np.asarray(est.predict_proba(X), dtype="float64")[:, pi]
        if np.allclose(raw, p, atol=1e-6):
            return "probability"
        with np.errstate(divide="ignore"):
            logit = np.log(p) - np.log1p(-p)
        ok = np.isfinite(logit)
        if ok.any() and np.allclose(raw[ok], logit[ok], atol=1e-5):
            return "log-odds"
    if hasattr(est, "decision_function"):
        d = np.asarray(est.decision_function(X), dtype="float64")
        d = d[:, pi] if d.ndim == 2 else (d if pi == 1 else -d)
        if np.allclose(raw, d, atol=1e-6):
            return "score"
    if getattr(est, "classes_", None) is None:
        pred = np.asarray(est.predict(X), dtype="float64").ravel()
        if pred.shape == raw.shape and np.allclose(raw, pred, atol=1e-6):
            return "score"
    return None


def make_explainer(
    model: Any,
    background: pd.DataFrame,
    features: Sequence[str] | None = None,
    *,
    budget: int | None = None,
    background_rows: int = DEFAULT_BACKGROUND_ROWS,
    seed: int = 0,
    agnostic: bool = False,
    background_weights: np.ndarray | None = None,
) -> Explainer:
    """Choose and prepare the explainer for a fairaudit model (see the module docstring).

    Parameters
    ----------
    model
        A loaded :class:`fairaudit.models.base.Model`.
    background
        Rows the background sample is drawn from (e.g. the explanation sample).
    features
        The data columns the model reads (default ``model.columns``).
    budget
        Permutation only: model evaluations per explained row (default
        :data:`DEFAULT_BUDGET`, raised to ``2p + 1`` when smaller).
    background_rows
        Rows of the seeded background sample (linear and permutation explainers).
    seed
        Seeds the background sample and the permutations.
    agnostic
        Force the model-agnostic (permutation) explainer.
    background_weights
        Population weight per row of ``background`` (:attr:`Sample.weights`): background
        rows are drawn with probability proportional to them.
    """
    feats = [str(c) for c in (features if features is not None else model.columns)]
    if not feats:
        raise InputError(
            "the model does not say which columns it reads, so there is nothing to explain",
            fix="give the model's feature columns (model.features in the spec)",
        )
    pick = np.arange(len(background))
    if len(background) > background_rows:
        rng = np.random.default_rng(seed)
        # a weighted sample (oversampled small groups) gives a background drawn in
        # proportion to its weights, so that it stands for the population
        p = None
        if background_weights is not None:
            p = np.asarray(background_weights, dtype="float64")
            p = p / p.sum()
        pick = np.sort(rng.choice(len(background), background_rows, replace=False, p=p))
    if not agnostic and _is_rules_with_score(model):
        from fairaudit.explain.rules_shap import rules_explainer

        # exact, and needs no shap; the rules read more columns than the score does
        return rules_explainer(model, background.iloc[pick])
    shap = _import_shap()
    bg = background.loc[:, feats].iloc[pick].reset_index(drop=True)
    if not agnostic:
        found = _underlying(model)
        if found is not None:
            est, pi, by_name = found
            prepared = _prepare_estimator(shap, est, pi, by_name, feats, bg)
            if prepared is not None:
                return prepared
    return _permutation(shap, model, feats, bg, budget=budget, seed=seed)


def _prepare_estimator(
    shap: Any, est: Any, pi: int | None, by_name: bool, feats: list[str], bg: pd.DataFrame
) -> Explainer | None:
    pre = None
    final = est
    steps = getattr(est, "steps", None)
    if steps is not None and len(steps) > 1:
        pre, final = est[:-1], est[-1]
    elif steps is not None:
        final = est[-1]

    def transform(frame: pd.DataFrame) -> np.ndarray:
        X: Any = frame.loc[:, feats]
        if not by_name:
            X = X.to_numpy()
        if pre is not None:
            X = pre.transform(X)
            if hasattr(X, "toarray"):
                X = X.toarray()
        return np.asarray(X, dtype="float64")

    try:
        Xbg = transform(bg)
    except (TypeError, ValueError):
        return None  # non-numeric columns fed straight to the estimator: model-agnostic
    groups = None
    if pre is not None:
        groups = _transformed_groups(pre, feats, Xbg.shape[1])
        if groups is None:
            return None
    elif Xbg.shape[1] != len(feats):
        return None
    name: ExplainerName
    try:
        explainer = shap.TreeExplainer(final, feature_perturbation="tree_path_dependent")
        name = "tree"
    except Exception:
        coef = getattr(final, "coef_", None)
        if coef is None or not hasattr(final, "intercept_"):
            return None
        if np.asarray(coef).ndim == 2 and np.asarray(coef).shape[0] > 1:
            return None  # multi-class linear model: model-agnostic
        masker = shap.maskers.Independent(Xbg, max_samples=len(Xbg))
        explainer = shap.LinearExplainer(final, masker)
        name = "linear"
    per_class = np.size(explainer.expected_value) > 1
    # One output per class (random forests: probabilities): take the selected class's.
    # One output only: it is about classes_[1] of a binary classifier, so negate it when
    # the selected class is classes_[0].
    sign = -1.0 if (pi == 0 and not per_class) else 1.0

    def raw(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if name == "tree":
            vals = explainer.shap_values(X, check_additivity=False)
        else:
            vals = explainer.shap_values(X)
        vals = np.asarray(vals, dtype="float64")
        base = np.asarray(explainer.expected_value, dtype="float64").ravel()
        if per_class:
            k = 1 if pi is None else pi
            if vals.ndim == 3:
                vals = vals[:, :, k]
            base_v = float(base[k])
        else:
            base_v = float(base[0])
        return sign * vals, np.full(len(X), sign * base_v)

    probe = bg.iloc[: min(len(bg), 50)]
    try:
        pv, pb = raw(transform(probe))
    except Exception:
        return None
    probe_in: Any = probe if by_name else probe.to_numpy()
    output = _output_kind(est, pb + pv.sum(axis=1), probe_in, pi)
    if output is None:
        # the explainer's values do not add up to any output of the model (an estimator
        # shap misreads): the model-agnostic explainer is slower but right
        return None

    def fn(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        X = transform(frame)
        vals, base = raw(X)
        if groups is not None:
            agg = np.zeros((len(X), len(feats)))
            np.add.at(agg.T, groups, vals.T)
            vals = agg
        return vals, base

    cls = type(final)
    return Explainer(
        name=name,
        output=output,
        features=feats,
        estimator=f"{cls.__module__}.{cls.__qualname__}",
        budget=None,
        background_rows=None if name == "tree" else len(Xbg),
        _fn=fn,
    )


class _Codec:
    """Numbers for shap's maskers, and back: categorical columns become integer codes."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.columns = list(frame.columns)
        self.dtypes = frame.dtypes.to_dict()
        self.levels: dict[str, np.ndarray] = {}
        for c in self.columns:
            s = frame[c]
            if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                self.levels[c] = np.asarray(pd.unique(s.astype("object")), dtype=object)

    def extend(self, frame: pd.DataFrame) -> None:
        for c, lev in self.levels.items():
            new = [v for v in pd.unique(frame[c].astype("object")) if v not in set(lev)]
            if new:
                self.levels[c] = np.concatenate([lev, np.asarray(new, dtype=object)])

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)), dtype="float64")
        for j, c in enumerate(self.columns):
            s = frame[c]
            if c in self.levels:
                idx = pd.Index(self.levels[c]).get_indexer(s.astype("object"))
                out[:, j] = idx
            else:
                out[:, j] = s.to_numpy(dtype="float64", na_value=np.nan)
        return out

    def decode(self, X: np.ndarray) -> pd.DataFrame:
        cols: dict[str, Any] = {}
        for j, c in enumerate(self.columns):
            if c in self.levels:
                vals = self.levels[c][X[:, j].astype("int64")]
                cols[c] = pd.Series(vals, dtype="object").astype(self.dtypes[c])
            else:
                cols[c] = pd.Series(X[:, j]).astype(self.dtypes[c])
        return pd.DataFrame(cols)


def _is_rules_with_score(model: Any) -> bool:
    from fairaudit.models.rules import is_rules_model

    return is_rules_model(model) and bool(model.rules.has_score)


def _model_output(model: Any, frame: pd.DataFrame) -> tuple[np.ndarray, Output]:
    fast = getattr(model, "explained_output", None)
    if callable(fast):
        values, stated = fast(frame)
        return np.asarray(values, dtype="float64"), cast(Output, stated)
    pred = model.predict(frame)
    if pred.score is not None:
        method = getattr(model, "score_method", None)
        kind: Output = "probability" if method == "predict_proba" else "score"
        return np.asarray(pred.score, dtype="float64"), kind
    return np.asarray(pred.decision, dtype="float64"), "decision"


def _permutation(
    shap: Any, model: Any, feats: list[str], bg: pd.DataFrame, *, budget: int | None, seed: int
) -> Explainer:
    codec = _Codec(bg)
    _, output = _model_output(model, bg.iloc[:1])
    p = len(feats)
    evals = max(int(budget if budget is not None else DEFAULT_BUDGET), 2 * p + 1)

    def f(X: np.ndarray) -> np.ndarray:
        return _model_output(model, codec.decode(X))[0]

    def fn(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        rows = frame.loc[:, feats].reset_index(drop=True)
        codec.extend(rows)
        Xbg = codec.encode(bg)
        explainer = shap.explainers.Permutation(
            f, shap.maskers.Independent(Xbg, max_samples=len(Xbg)), seed=seed
        )
        out = explainer(codec.encode(rows), max_evals=evals, silent=True)
        return np.asarray(out.values, dtype="float64"), np.asarray(out.base_values, "float64")

    return Explainer(
        name="permutation",
        output=output,
        features=feats,
        estimator=type(model).__qualname__,
        budget=evals,
        background_rows=len(bg),
        _fn=fn,
    )


def explain(
    model: Any,
    frame: pd.DataFrame,
    features: Sequence[str] | None = None,
    *,
    budget: int | None = None,
    background_rows: int = DEFAULT_BACKGROUND_ROWS,
    seed: int = 0,
    weights: np.ndarray | None = None,
    explainer: Explainer | None = None,
    batch_rows: int | None = None,
    progress: Progress | None = None,
) -> Explanation:
    """SHAP values of the model's output for every row of ``frame`` (the sample).

    Parameters
    ----------
    model
        A loaded fairaudit model (ignored when ``explainer`` is given).
    frame
        The rows to explain, e.g. ``data.iloc[stratified_sample(...).positions]``; it is
        also where the background sample is drawn from.
    features, budget, background_rows, seed
        See :func:`make_explainer`.
    weights
        Population weight per row (:attr:`Sample.weights`), kept for global means.
    explainer
        A prepared explainer to reuse.
    batch_rows
        Rows per batch (default: 5,000 for tree/linear, 50 for permutation); ``progress``
        is called after each.
    progress
        ``progress(done, total)`` after each batch.
    """
    ex = explainer or make_explainer(
        model,
        frame,
        features,
        budget=budget,
        background_rows=background_rows,
        seed=seed,
        background_weights=weights,
    )
    n = len(frame)
    step = batch_rows or (50 if ex.name == "permutation" else 5000)
    vals, bases = [], []
    for start in range(0, n, step):
        v, b = ex.shap_values(frame.iloc[start : start + step])
        vals.append(v)
        bases.append(b)
        if progress is not None:
            progress(min(start + step, n), n)
    values = np.vstack(vals) if vals else np.zeros((0, len(ex.features)))
    base = np.concatenate(bases) if bases else np.zeros(0)
    if weights is not None and len(weights) != n:
        raise InputError(f"{len(weights)} weights for {n} rows to explain")
    return Explanation(
        values=values,
        base_values=base,
        output=ex.output,
        features=list(ex.features),
        explainer=ex.name,
        sample_size=n,
        budget=ex.budget,
        background_rows=ex.background_rows,
        weights=None if weights is None else np.asarray(weights, dtype="float64"),
        estimator=ex.estimator,
    )


# --------------------------------------------------------------------------- summaries


def global_importance(expl: Explanation) -> pd.Series:
    """Mean |SHAP| per feature (population-weighted when the explanation has weights),
    largest first."""
    w = expl.weights
    absv = np.abs(expl.values)
    mean = np.average(absv, axis=0, weights=w) if len(absv) else np.zeros(absv.shape[1])
    s = pd.Series(mean, index=expl.features, name="mean_abs_shap")
    return s.sort_values(ascending=False, kind="stable")


def _group_labels(groups: pd.DataFrame | pd.Series, n: int) -> pd.DataFrame:
    frame = groups.to_frame() if isinstance(groups, pd.Series) else groups
    if len(frame) != n:
        raise InputError(f"the group columns have {len(frame)} rows, the explanation {n}")
    return frame.reset_index(drop=True).astype("object").fillna("unknown").astype(str)


def _weighted_mean(x: np.ndarray, mask: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return np.average(x[mask], axis=0, weights=None if w is None else w[mask])


def _cells_of(
    labels: pd.DataFrame, cells: Sequence[Sequence[str]] | None
) -> Iterator[tuple[dict[str, str], np.ndarray]]:
    """Every group of every column set in ``cells`` (default: each column alone), with the
    mask of its rows; groups in sorted order within a column set."""
    for cols in cells if cells is not None else [[c] for c in labels.columns]:
        cols = list(cols)
        keys = labels[cols].to_numpy()
        for values in sorted({tuple(r) for r in keys}):
            mask = np.logical_and.reduce([keys[:, i] == v for i, v in enumerate(values)])
            yield dict(zip(cols, values, strict=True)), np.asarray(mask, dtype=bool)


def group_importance(
    expl: Explanation,
    groups: pd.DataFrame | pd.Series,
    cells: Sequence[Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Mean SHAP per feature within each group (signed: what pushes the group toward or
    away from selection).

    The groups are those of each attribute alone, or, with ``cells``, of every column set
    it lists (e.g. ``[["sex"], ["region"], ["sex", "region"]]`` for the attributes and
    their intersection, as the audit reports them).

    Means are weighted by the explanation's population weights when it has them: a
    marginal group (``sex = f``) spans several strata (``sex × region``) sampled at
    different rates, so unweighted means would over-represent its small strata.

    Returns a DataFrame indexed by ``(attribute, group)`` — for an intersection the
    attribute names and the group values each joined by `` × `` — with one column per
    feature, plus ``n`` (sampled rows) and ``mean_output`` (mean explained output of the
    group).
    """
    labels = _group_labels(groups, len(expl.values))
    output = expl.model_output
    records = []
    index = []
    for attrs, m in _cells_of(labels, cells):
        rec: dict[str, Any] = {
            "n": int(m.sum()),
            "mean_output": float(_weighted_mean(output, m, expl.weights)),
        }
        rec.update(zip(expl.features, _weighted_mean(expl.values, m, expl.weights), strict=True))
        records.append(rec)
        index.append((" × ".join(attrs), " × ".join(attrs.values())))
    if not records:
        return pd.DataFrame()
    return pd.DataFrame(
        records, index=pd.MultiIndex.from_tuples(index, names=["attribute", "group"])
    )


@dataclass(frozen=True)
class GapDecomposition:
    """The difference in mean explained output between a group and its reference, split
    into per-feature contributions that sum to it exactly.

    Attributes
    ----------
    group_mean, reference_mean
        Mean explained output in each.
    gap
        ``group_mean - reference_mean``.
    contributions
        Every feature's ``mean φ | group - mean φ | reference``, largest |value| first.
    top
        The ``top`` largest by absolute value.
    n_group, n_reference
        Sampled rows in each.
    attributes, reference
        Which group and reference these are (``{attribute: value}``), when the caller
        says (:func:`gap_decomposition`'s arguments of the same names).
    """

    group_mean: float
    reference_mean: float
    gap: float
    contributions: pd.Series
    top: pd.Series
    n_group: int
    n_reference: int
    attributes: dict[str, str] | None = None
    reference: dict[str, str] | None = None


def gap_decomposition(
    expl: Explanation,
    group_mask: np.ndarray,
    reference_mask: np.ndarray,
    top: int = 5,
    *,
    attributes: Mapping[str, str] | None = None,
    reference: Mapping[str, str] | None = None,
) -> GapDecomposition:
    """Split the group's mean-output gap to the reference into feature contributions.

    Base values are the same for every row with the tree and linear explainers, so
    ``Σ_j (mean φ_j | group − mean φ_j | reference)`` equals the gap exactly; for the
    permutation explainer the difference of mean base values is added as ``(base)`` when
    it is not zero. Means are weighted by the explanation's population weights when it has
    them (see :func:`group_importance`), so the gap is the estimated population gap.
    """
    g = np.asarray(group_mask, dtype=bool)
    r = np.asarray(reference_mask, dtype=bool)
    if not g.any() or not r.any():
        raise InputError(
            "the gap decomposition needs sampled rows in both the group and the reference",
            fix="raise the explanation sample size; the stratified sample covers every cell",
        )
    out = expl.model_output
    w = expl.weights
    contrib = _weighted_mean(expl.values, g, w) - _weighted_mean(expl.values, r, w)
    s = pd.Series(contrib, index=expl.features, name="contribution")
    base_gap = float(
        _weighted_mean(expl.base_values, g, w) - _weighted_mean(expl.base_values, r, w)
    )
    if abs(base_gap) > 1e-12:
        s["(base)"] = base_gap
    order = s.abs().sort_values(ascending=False, kind="stable").index
    s = s[order]
    group_mean = float(_weighted_mean(out, g, w))
    reference_mean = float(_weighted_mean(out, r, w))
    return GapDecomposition(
        group_mean=group_mean,
        reference_mean=reference_mean,
        gap=group_mean - reference_mean,
        contributions=s,
        top=s.iloc[:top],
        n_group=int(g.sum()),
        n_reference=int(r.sum()),
        attributes=None if attributes is None else {str(k): str(v) for k, v in attributes.items()},
        reference=None if reference is None else {str(k): str(v) for k, v in reference.items()},
    )


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def explanation_summary(
    expl: Explanation,
    *,
    groups: pd.DataFrame | None = None,
    gaps: Mapping[str, GapDecomposition] | None = None,
    proxies: pd.DataFrame | None = None,
    sample: Sample | None = None,
    cells: Sequence[Sequence[str]] | None = None,
    top: int = 10,
    min_rows: int = 10,
) -> dict[str, Any]:
    """A JSON-safe dict for results: what was explained, how, and the aggregates.

    No row-level data: only per-feature and per-group means.

    Parameters
    ----------
    groups
        The sample's protected-attribute columns, for per-group importance.
    gaps
        ``{group label: decomposition}`` for the groups whose gate failed.
    cells
        The column sets whose groups get per-group importance (default: each attribute
        alone); the audit passes its attributes and reported intersections.
    proxies
        The table from :func:`fairaudit.explain.proxies.proxy_scores`.
    sample
        The stratified sample the rows came from (its strata and population size).
    top
        Features listed in the top lists.
    min_rows
        Groups (and gap sides) with fewer sampled rows than this are published without
        their means (``suppressed: true``): a mean over a handful of people can reveal them
        (DESIGN.md §6).
    """
    imp = global_importance(expl)
    out: dict[str, Any] = {
        "explainer": expl.explainer,
        "estimator": expl.estimator,
        "output": expl.output,
        "sample_size": expl.sample_size,
        "budget": expl.budget,
        "background_rows": expl.background_rows,
        "weighted": expl.weights is not None,
        "strata": None if sample is None else sample.strata,
        "population": None if sample is None else sample.population,
        "base_value": _num(np.average(expl.base_values, weights=expl.weights))
        if expl.sample_size
        else None,
        "global_importance": [
            {"feature": str(f), "mean_abs_shap": _num(v)} for f, v in imp.items()
        ],
    }
    if groups is not None:
        labels = _group_labels(groups, len(expl.values))
        rows = []
        for attrs, m in _cells_of(labels, cells):
            n = int(m.sum())
            hide = n < min_rows
            rows.append(
                {
                    "attributes": attrs,
                    "n": n,
                    "suppressed": hide,
                    "mean_output": None
                    if hide
                    else _num(_weighted_mean(expl.model_output, m, expl.weights)),
                    "mean_shap": None
                    if hide
                    else dict(
                        zip(
                            expl.features,
                            map(_num, _weighted_mean(expl.values, m, expl.weights)),
                            strict=True,
                        )
                    ),
                }
            )
        out["group_importance"] = rows
    if gaps is not None:
        out["gaps"] = []
        for label, d in gaps.items():
            hide = min(d.n_group, d.n_reference) < min_rows
            out["gaps"].append(
                {
                    "group": label,
                    "attributes": d.attributes,
                    "reference": d.reference,
                    "n_group": d.n_group,
                    "n_reference": d.n_reference,
                    "suppressed": hide,
                    "group_mean": None if hide else _num(d.group_mean),
                    "reference_mean": None if hide else _num(d.reference_mean),
                    "gap": None if hide else _num(d.gap),
                    "top": None
                    if hide
                    else [{"feature": str(f), "contribution": _num(v)} for f, v in d.top.items()],
                }
            )
    if proxies is not None:
        out["proxies"] = [
            {k: (_num(v) if isinstance(v, float | np.floating) else v) for k, v in r.items()}
            for r in proxies.head(top).to_dict(orient="records")
        ]
    return out
