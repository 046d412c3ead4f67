"""The counts fast path equals fairlearn's MetricFrame (by group, between groups, weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix, precision_score

from fairaudit.audit import run_audit
from fairaudit.metrics.counts import count_cells
from fairaudit.metrics.disparity import between_groups
from fairaudit.metrics.rates import METRICS, metric_table
from fairaudit.spec import spec_from_dict


def _cm(y_true, y_pred, sample_weight=None):
    return confusion_matrix(y_true, y_pred, labels=[0, 1], sample_weight=sample_weight).ravel()


def _npv(y_true, y_pred, sample_weight=None):
    tn, fp, fn, tp = _cm(y_true, y_pred, sample_weight)
    return tn / (tn + fn)


def _fdr(y_true, y_pred, sample_weight=None):
    tn, fp, fn, tp = _cm(y_true, y_pred, sample_weight)
    return fp / (tp + fp)


def _for(y_true, y_pred, sample_weight=None):
    tn, fp, fn, tp = _cm(y_true, y_pred, sample_weight)
    return fn / (fn + tn)


def _prevalence(y_true, y_pred, sample_weight=None):
    w = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight)
    return float(np.sum(w * np.asarray(y_true)) / np.sum(w))


def _precision(y_true, y_pred, sample_weight=None):
    return precision_score(y_true, y_pred, sample_weight=sample_weight, zero_division=np.nan)


#: Independent implementations: fairlearn's where it has them, else sklearn's confusion matrix.
REFERENCE = {
    "selection_rate": selection_rate,
    "prevalence": _prevalence,
    "true_positive_rate": true_positive_rate,
    "false_negative_rate": false_negative_rate,
    "false_positive_rate": false_positive_rate,
    "true_negative_rate": true_negative_rate,
    "precision": _precision,
    "negative_predictive_value": _npv,
    "false_discovery_rate": _fdr,
    "false_omission_rate": _for,
    "accuracy": accuracy_score,
}


def test_every_metric_has_a_reference() -> None:
    assert set(REFERENCE) == set(METRICS)


def _metric_frame(df: pd.DataFrame, attrs: list[str], weighted: bool) -> MetricFrame:
    params = (
        {name: {"sample_weight": df["w"].to_numpy()} for name in REFERENCE} if weighted else None
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return MetricFrame(
            metrics=REFERENCE,
            y_true=df["y"].to_numpy(),
            y_pred=df["d"].to_numpy(),
            sensitive_features=df[attrs],
            sample_params=params,
        )


def _denominator_positive(df: pd.DataFrame, attrs: list[str], name: str) -> pd.Series:
    m = METRICS[name]
    y, d = df["y"], df["d"]
    cell = {
        "tp": (y == 1) & (d == 1),
        "fp": (y == 0) & (d == 1),
        "fn": (y == 1) & (d == 0),
        "tn": (y == 0) & (d == 0),
    }
    den = sum(cell[c].astype(int) for c in m.denominator)
    return den.groupby([df[a] for a in attrs]).sum() > 0


frames = st.integers(min_value=0, max_value=2**32 - 1).flatmap(
    lambda seed: st.tuples(
        st.just(seed),
        st.integers(min_value=20, max_value=400),
        st.integers(min_value=2, max_value=4),
        st.integers(min_value=2, max_value=3),
        st.booleans(),
    )
)


def _random_frame(seed: int, n: int, k1: int, k2: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice([f"a{i}" for i in range(k1)], size=n)
    b = rng.choice([f"b{i}" for i in range(k2)], size=n)
    p_y = rng.uniform(0.05, 0.95)
    y = (rng.random(n) < p_y).astype(int)
    d = np.where(rng.random(n) < rng.uniform(0.2, 0.9), y, 1 - y)
    w = rng.uniform(0.1, 5.0, size=n)
    return pd.DataFrame({"a": a, "b": b, "y": y, "d": d, "w": w})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_by_group_and_between_groups_equal_metricframe(params) -> None:
    seed, n, k1, k2, weighted = params
    df = _random_frame(seed, n, k1, k2)
    # count in two chunks to exercise additivity at the same time
    half = n // 2
    parts = [df.iloc[:half], df.iloc[half:]]
    counts = None
    for part in parts:
        c = count_cells(
            {"a": part["a"].to_numpy(), "b": part["b"].to_numpy()},
            part["y"].to_numpy(),
            part["d"].to_numpy(),
            part["w"].to_numpy() if weighted else None,
        )
        counts = c if counts is None else counts + c
    assert counts is not None
    for attrs in (["a"], ["b"], ["a", "b"]):
        table = counts.marginal(attrs)
        ours = metric_table(table.frame, weighted=weighted)
        mf = _metric_frame(df, attrs, weighted)
        by_group = mf.by_group
        keys = table.cell_keys()
        for name in METRICS:
            defined = _denominator_positive(df, attrs, name)
            values = ours[name][0]
            for i, key in enumerate(keys):
                k = key if len(attrs) > 1 else key[0]
                if defined.loc[k]:
                    assert values[i] == pytest.approx(by_group.loc[k, name], rel=1e-9, abs=1e-12)
                else:
                    assert np.isnan(values[i])
            if bool(defined.all()):
                diff, ratio = between_groups(values)
                assert diff == pytest.approx(
                    mf.difference(method="between_groups")[name], rel=1e-9, abs=1e-12
                )
                if ratio is not None:
                    assert ratio == pytest.approx(
                        mf.ratio(method="between_groups")[name], rel=1e-9, abs=1e-12
                    )


def test_end_to_end_audit_equals_metricframe(tmp_path: Path) -> None:
    """results.json numbers (through CSV, the loader and the engine) equal MetricFrame's."""
    df = _random_frame(7, 3000, 4, 3)
    df.to_csv(tmp_path / "d.csv", index=False)
    spec = spec_from_dict(
        {
            "name": "x",
            "intervention": "assistive",
            "data": {"path": "d.csv", "label": "y", "weight": "w"},
            "model": {"loader": "column", "decision": "d"},
            "protected": [{"name": "a"}, {"name": "b"}],
            "intersections": True,
        },
        base_dir=tmp_path,
    )
    result = run_audit(spec, batch_rows=700)
    for attrs in (["a"], ["b"], ["a", "b"]):
        mf = _metric_frame(df, attrs, weighted=True)
        groups = [g for g in result.groups if list(g.attributes) == attrs]
        assert len(groups) == len(mf.by_group)
        for g in groups:
            key = tuple(g.attributes.values()) if len(attrs) > 1 else g.attributes[attrs[0]]
            for name in METRICS:
                assert g.metrics[name].value == pytest.approx(mf.by_group.loc[key, name], rel=1e-9)
        bg = next(b for b in result.between_groups if b.attributes == attrs)
        for name in METRICS:
            assert bg.metrics[name].difference == pytest.approx(
                mf.difference(method="between_groups")[name], rel=1e-9
            )
            assert bg.metrics[name].ratio == pytest.approx(
                mf.ratio(method="between_groups")[name], rel=1e-9
            )
    overall = _metric_frame(df, ["a"], weighted=True).overall
    for name in METRICS:
        assert result.overall.metrics[name].value == pytest.approx(overall[name], rel=1e-9)
    # unweighted counts are exact integers
    assert result.overall.counts.tp == int(((df.y == 1) & (df.d == 1)).sum())
    assert result.overall.weighted_counts is not None
    assert result.overall.weighted_counts.tp == pytest.approx(
        df.w[(df.y == 1) & (df.d == 1)].sum(), rel=1e-12
    )
