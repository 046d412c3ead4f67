"""The local engine: count rows batch by batch in this process (numpy in memory).

:class:`Counter` holds every additive tally of an audit — per-cell confusion counts,
score histograms and exact score sums by label, regression sums, and the extra tallies
(:class:`_Extras`: what decided adverse decisions, what each data defect flips, category
confusion, the poorest's errors). :meth:`Counter.add` counts one batch; two counters over
different rows add up (:meth:`Counter.merge`) to the counter of all their rows. The local
engine feeds it the file batch by batch; the Spark engine (:mod:`fairaudit.engines.spark`)
runs the very same :meth:`Counter.add` on its executors and merges the partial counters on
the driver, which is why both give identical results.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.data import normalise_categorical
from fairaudit.errors import InputError
from fairaudit.metrics.counts import CellCounts, count_cells
from fairaudit.metrics.disparity import UNKNOWN
from fairaudit.metrics.grouped import GroupedSums
from fairaudit.metrics.regression import SUMS as REGRESSION_SUMS
from fairaudit.metrics.regression import regression_sums
from fairaudit.metrics.scores import ScoreBins
from fairaudit.models.base import Model, binary_decision
from fairaudit.spec import AuditSpec, ProtectedAttribute

__all__ = ["Counter", "welfare_cutoff"]


def _bin_labels(attr: ProtectedAttribute) -> list[str]:
    assert attr.bins is not None
    if attr.bin_labels:
        return list(attr.bin_labels)
    edges = attr.bins
    if all(float(e).is_integer() for e in edges):
        e = [int(x) for x in edges]
        inner = [f"{a}–{b - 1}" if b - 1 > a else f"{a}" for a, b in pairwise(e)]
        return [f"<{e[0]}", *inner, f"{e[-1]}+"]
    inner = [f"[{a:g}, {b:g})" for a, b in pairwise(edges)]
    return [f"<{edges[0]:g}", *inner, f"≥{edges[-1]:g}"]


def _protected_values(
    series: pd.Series, attr: ProtectedAttribute, index: int, spec: AuditSpec, file: Path
) -> tuple[pd.Categorical, int]:
    """Cleaned values of one attribute for one batch, and its count of missing.

    A Categorical of strings, missing values being the ``unknown`` category: only the
    distinct values are cleaned and mapped, and rows are counted by their integer codes.
    """
    col = attr.source_column
    if attr.bins is not None:
        num = pd.to_numeric(series, errors="coerce")
        bad = num.isna() & series.notna()
        if bad.any():
            raise InputError(
                f"protected attribute {attr.name!r} has bins but a non-numeric value "
                f"{series[bad].iloc[0]!r}",
                file=file,
                column=col,
                fix=f"clean the column, or remove `bins` from protected[{index}]",
            )
        arr = num.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(arr)
        idx = np.searchsorted(np.asarray(attr.bins), np.where(missing, 0.0, arr), side="right")
        # bin_labels may repeat a label (merged bins): one category per distinct label
        label_codes, labels = pd.factorize(np.array(_bin_labels(attr), dtype=object))
        codes = np.where(missing, -1, label_codes[idx])
        categories = np.asarray(labels, dtype=object)
    else:
        cat = normalise_categorical(series)
        codes, categories = cat.codes, cat.categories.to_numpy(dtype=object)
        if attr.labels:
            mapping = {str(k): v for k, v in attr.labels.items()}
            mapped = np.array([mapping.get(v, v) for v in categories], dtype=object)
            merged, distinct = pd.factorize(mapped)  # labels may map two values to one
            codes = np.append(merged, -1)[codes]  # code -1 (missing) stays -1
            categories = np.asarray(distinct, dtype=object)
        missing = codes < 0
    n_missing = int(missing.sum())
    if n_missing and attr.missing == "error":
        raise InputError(
            f"protected attribute {attr.name!r} has missing values",
            file=file,
            column=col,
            fix=f"fill them, or set `missing: unknown` on protected[{index}] to audit them "
            "as an explicit 'unknown' group",
        )
    if n_missing:
        where = np.flatnonzero(categories == UNKNOWN)
        if len(where) == 0:
            categories = np.append(categories, UNKNOWN)
            where = np.array([len(categories) - 1])
        codes = np.where(missing, where[0], codes)
    values = pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))
    if attr.values is not None:
        allowed = {*attr.values, UNKNOWN}
        present = np.bincount(values.codes, minlength=len(categories)) > 0
        if any(v not in allowed for v in categories[present]):
            seen = pd.unique(np.asarray(values, dtype=object))  # first seen first, as before
            unseen = [v for v in seen if v not in allowed]
            raise InputError(
                f"protected attribute {attr.name!r} has value(s) {unseen[:5]} not among the "
                f"declared values {attr.values}",
                file=file,
                column=col,
                fix=f"add them to protected[{index}].values, map them with `labels`, "
                "or fix the data",
            )
    return values, n_missing


_REASON = "__reason__"


class _Extras:
    """Additive per-group tallies beyond the confusion counts: what decided adverse
    decisions, what each data defect flips, category confusion, and the poorest's errors."""

    def __init__(self, spec: AuditSpec, groupings: tuple[tuple[str, ...], ...]) -> None:
        self.spec = spec
        self.groupings = groupings
        self.assistive = spec.intervention == "assistive"
        self.reasons: GroupedSums | None = None
        self.defects: list[str] = []
        self.flips: GroupedSums | None = None
        order = spec.category.order if spec.category else []
        self.categories = (
            GroupedSums((len(order), len(order)), groupings) if spec.category else None
        )
        self.poorest = GroupedSums((4,), groupings) if spec.targeting else None
        self.poorest_cutoff: float | None = None

    def add(
        self,
        prediction: Any,
        keep: np.ndarray,
        y: np.ndarray,
        d: np.ndarray,
        kept: dict[str, np.ndarray | pd.Categorical],
        batch: pd.DataFrame,
        data_path: Path,
    ) -> None:
        d = d.astype("int8")
        adverse = (d == 0) if self.assistive else (d == 1)
        wrong = adverse & ((y == 1) if self.assistive else (y == 0))
        reasons = prediction.reasons
        if reasons is not None and "stage" in reasons.columns:
            if self.reasons is None:
                self.reasons = GroupedSums((2,), tuple((*g, _REASON) for g in self.groupings))
            stage = reasons["stage"].to_numpy(dtype=object)[keep][adverse]
            sub = {a: v[adverse] for a, v in kept.items()}
            sub[_REASON] = np.array([str(x) for x in stage], dtype=object)
            self.reasons.add_batch(sub, np.where(wrong[adverse], 0, 1))
        if reasons is not None:
            cf = [c for c in reasons.columns if str(c).startswith("cf_")]
            if cf and self.flips is None:
                self.defects = [str(c)[3:] for c in cf]
                self.flips = GroupedSums((len(cf), 4), self.groupings)
            if self.flips is not None:
                eligible = y == 1
                for k, col in enumerate(cf):
                    code = reasons[col].to_numpy()[keep]
                    # assistive: +1 grants; punitive: +1 flags
                    slot = np.full(len(code), -1)
                    slot[(code > 0) & eligible] = 0  # exclusion fixed
                    slot[(code < 0) & eligible] = 1  # exclusion created
                    slot[(code < 0) & ~eligible] = 2  # inclusion fixed
                    slot[(code > 0) & ~eligible] = 3  # inclusion created
                    m = slot >= 0
                    if m.any():
                        self.flips.add_batch({a: v[m] for a, v in kept.items()}, k * 4 + slot[m])
        if self.categories is not None and self.spec.category is not None:
            if prediction.category is None:
                raise InputError(
                    f"`category:` is set, but the {self.spec.model.loader} model gives no category",
                    fix="remove `category:` from the spec, or use a model that categorises",
                )
            order = {v: i for i, v in enumerate(self.spec.category.order)}
            true = batch[self.spec.category.truth].to_numpy(dtype=object)[keep]
            model_cat = np.asarray(prediction.category, dtype=object)[keep]
            bad = {str(v) for v in (*pd.unique(true), *pd.unique(model_cat))} - set(order)
            if bad:
                raise InputError(
                    f"categories {sorted(bad)[:5]} are not in category.order "
                    f"{self.spec.category.order}",
                    file=data_path,
                    column=self.spec.category.truth,
                    fix="list every category in category.order, best-off first",
                )
            ti = np.array([order[str(v)] for v in true], dtype="int64")
            mi = np.array([order[str(v)] for v in model_cat], dtype="int64")
            self.categories.add_batch(kept, ti * len(order) + mi)
        if self.poorest is not None and self.spec.targeting is not None:
            welfare = pd.to_numeric(batch[self.spec.targeting.welfare], errors="coerce")
            w = welfare.to_numpy(dtype="float64", na_value=np.nan)[keep]
            m = w <= float(self.poorest_cutoff)  # type: ignore[arg-type]
            conf = 2 * y[m].astype("int64") + d[m]  # tn, fp, fn, tp
            self.poorest.add_batch({a: v[m] for a, v in kept.items()}, conf)

    def finish(self) -> None:
        """Nothing to flush: every tally is complete after the last batch."""


def _add_optional(a: GroupedSums | None, b: GroupedSums | None) -> GroupedSums | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _merge_extras(a: _Extras, b: _Extras) -> _Extras:
    out = _Extras(a.spec, a.groupings)
    out.reasons = _add_optional(a.reasons, b.reasons)
    out.defects = a.defects or b.defects
    out.flips = _add_optional(a.flips, b.flips)
    out.categories = _add_optional(a.categories, b.categories)
    out.poorest = _add_optional(a.poorest, b.poorest)
    out.poorest_cutoff = a.poorest_cutoff
    return out


def welfare_cutoff(values: np.ndarray, spec: AuditSpec, path: Path | str) -> float:
    """The welfare value at the poorest share (``inverted_cdf``: one of the values)."""
    assert spec.targeting is not None
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise InputError(
            "the welfare column has no numeric values",
            file=path,
            column=spec.targeting.welfare,
            fix="name a numeric column of true welfare under targeting.welfare",
        )
    return float(np.quantile(values, spec.targeting.poorest_share, method="inverted_cdf"))


class Counter:
    """Every additive tally of an audit over the rows added so far.

    Parameters
    ----------
    spec
        The audit spec (what to count).
    data_path
        Where the rows come from, for messages.
    poorest_cutoff
        The welfare cut-off of the poorest share (with ``targeting:``), computed over all
        rows beforehand.
    """

    def __init__(
        self, spec: AuditSpec, data_path: Path | str, poorest_cutoff: float | None = None
    ) -> None:
        self.spec = spec
        self.data_path = Path(data_path) if not isinstance(data_path, Path) else data_path
        attrs = [p.name for p in spec.protected]
        self.total = CellCounts.empty(attrs, weighted=spec.data.weight is not None)
        self.dropped = {"missing_label": 0, "missing_weight": 0, "missing_decision": 0}
        self.unknown = dict.fromkeys(attrs, 0)
        self.label_values: set[str] = set()
        self.n_rows = 0
        groupings = ((), *spec.groupings())
        self.bins = ScoreBins(spec.scores.range[0], spec.scores.range[1], spec.scores.bins)
        self.score_counts = GroupedSums((2, self.bins.n_slots), groupings)
        self.score_sums = GroupedSums((2, self.bins.n_slots), groupings, exact=True)
        self.has_scores = False
        self.scores_outside = 0
        self.regression = (
            GroupedSums((len(REGRESSION_SUMS),), groupings, exact=True) if spec.regression else None
        )
        self.extras = _Extras(spec, groupings)
        self.extras.poorest_cutoff = poorest_cutoff

    def add(self, batch: pd.DataFrame, model: Model) -> None:
        """Score one batch with ``model`` and count it."""
        spec, data_path = self.spec, self.data_path
        batch = batch.reset_index(drop=True)
        n = len(batch)
        self.n_rows += n
        keep = np.ones(n, dtype=bool)
        lab = batch[spec.data.label]
        lab_missing = lab.isna().to_numpy()
        self.dropped["missing_label"] += int(lab_missing.sum())
        keep &= ~lab_missing
        if spec.data.positive_label is not None:
            self.label_values.update(map(str, pd.unique(lab[~lab_missing])))
            if len(self.label_values) > 2:
                raise InputError(
                    f"the label has more than two values: {sorted(self.label_values)[:6]}",
                    file=data_path,
                    column=spec.data.label,
                    fix="the label must be binary (truly eligible or not): map it to 0/1",
                )
        weight = None
        if spec.data.weight:
            w = pd.to_numeric(batch[spec.data.weight], errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
            w_missing = np.isnan(w) & keep
            self.dropped["missing_weight"] += int(w_missing.sum())
            keep &= ~np.isnan(w)
            if np.any(~np.isfinite(w[keep])) or np.any(w[keep] < 0):
                raise InputError(
                    "weights must be finite and non-negative",
                    file=data_path,
                    column=spec.data.weight,
                    fix="fix the weight column or remove `data.weight`",
                )
            weight = w
        protected: dict[str, np.ndarray | pd.Categorical] = {}
        for i, p in enumerate(spec.protected):
            protected[p.name], _ = _protected_values(batch[p.source_column], p, i, spec, data_path)
        try:
            prediction = model.predict(batch)
        except InputError as exc:
            if exc.file is None:
                exc.file = str(data_path)
            raise
        decision = np.asarray(prediction.decision)
        if decision.shape != (n,):
            raise InputError(
                f"the {spec.model.loader} model returned {decision.shape} decisions for {n} rows",
                file=spec.source,
                column=None,
                fix="the model must return one decision per row",
            )
        d_missing = np.isnan(decision) if decision.dtype.kind == "f" else np.zeros(n, bool)
        self.dropped["missing_decision"] += int((d_missing & keep).sum())
        keep &= ~d_missing
        dvals = decision[keep]
        if dvals.size and not np.isin(dvals, (0, 1)).all():
            bad = pd.unique(dvals[~np.isin(dvals, (0, 1))])[:5]
            raise InputError(
                f"the {spec.model.loader} model's decisions are not 0/1: {list(bad)}",
                file=spec.source,
                fix="give a threshold for scores, or a positive class/value for labels",
            )
        y = binary_decision(
            lab[keep],
            what="the label",
            positive=spec.data.positive_label,
            file=str(data_path),
            column=spec.data.label,
            fix="the label must be 1 (truly eligible/positive) or 0; map it, or set "
            "data.positive_label to the value meaning positive",
        )
        for p in spec.protected:
            self.unknown[p.name] += int((protected[p.name][keep] == UNKNOWN).sum())
        chunk = count_cells(
            {a: v[keep] for a, v in protected.items()},
            y,
            dvals.astype("int8"),
            weight[keep] if weight is not None else None,
        )
        self.total = self.total + chunk
        kept = {a: v[keep] for a, v in protected.items()}
        if prediction.score is not None:
            score = np.asarray(prediction.score, dtype="float64")[keep]
            ok = np.isfinite(score)
            self.has_scores = True
            slot = self.bins.index(score[ok])
            self.scores_outside += int(
                ((score[ok] < self.bins.low) | (score[ok] > self.bins.high)).sum()
            )
            idx = y[ok].astype("int64") * self.bins.n_slots + slot
            sub = {a: v[ok] for a, v in kept.items()}
            self.score_counts.add_batch(sub, idx)
            self.score_sums.add_batch(sub, idx, weights=score[ok])
        if self.regression is not None and spec.regression is not None:
            contrib = regression_sums(
                pd.to_numeric(batch[spec.regression.predicted], errors="coerce").to_numpy(
                    dtype="float64", na_value=np.nan
                )[keep],
                pd.to_numeric(batch[spec.regression.actual], errors="coerce").to_numpy(
                    dtype="float64", na_value=np.nan
                )[keep],
            )
            for k in range(contrib.shape[1]):
                self.regression.add_batch(kept, np.full(len(contrib), k), weights=contrib[:, k])
        self.extras.add(prediction, keep, y, dvals, kept, batch, data_path)

    def merge(self, other: Counter) -> Counter:
        """The counter of this counter's rows and ``other``'s (rows added after these)."""
        out = Counter(self.spec, self.data_path, self.extras.poorest_cutoff)
        out.total = self.total + other.total
        out.dropped = {k: v + other.dropped[k] for k, v in self.dropped.items()}
        out.unknown = {k: v + other.unknown[k] for k, v in self.unknown.items()}
        out.label_values = self.label_values | other.label_values
        if self.spec.data.positive_label is not None and len(out.label_values) > 2:
            raise InputError(
                f"the label has more than two values: {sorted(out.label_values)[:6]}",
                file=self.data_path,
                column=self.spec.data.label,
                fix="the label must be binary (truly eligible or not): map it to 0/1",
            )
        out.n_rows = self.n_rows + other.n_rows
        out.score_counts = self.score_counts + other.score_counts
        out.score_sums = self.score_sums + other.score_sums
        out.has_scores = self.has_scores or other.has_scores
        out.scores_outside = self.scores_outside + other.scores_outside
        out.regression = _add_optional(self.regression, other.regression)
        out.extras = _merge_extras(self.extras, other.extras)
        return out
