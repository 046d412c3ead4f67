"""SHAP explanations: additivity against the estimators' own outputs, the choice of
explainer, stratified sampling, importance, and the gap decomposition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairaudit.errors import InputError, MissingExtraError
from fairaudit.explain import (
    explain,
    make_explainer,
    stratified_sample,
)
from tests.explain.conftest import FEATURES, ScoreFunctionModel, sklearn_model


def logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


# --------------------------------------------------------------------------- sampling


def test_stratified_sample_represents_every_cell_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["f", "m"], n),
            "region": rng.choice(["r1", "r2", "r3"], n, p=[0.9, 0.0995, 0.0005]),
        }
    )
    groups.loc[:3, "region"] = None  # missing values are their own stratum
    s = stratified_sample(groups, size=500, seed=3)
    assert s.size == 500 and s.population == n
    assert np.all(np.diff(s.positions) > 0)
    cells = groups.astype(object).fillna("?").apply(tuple, axis=1)
    assert set(cells.iloc[s.positions]) == set(cells)  # every cell, even 10-row ones
    # the weights undo the oversampling: they sum to each stratum's size
    w = pd.Series(s.weights).groupby(cells.iloc[s.positions].to_numpy()).sum()
    assert np.allclose(w.sort_index(), cells.value_counts().sort_index())
    again = stratified_sample(groups, size=500, seed=3)
    other = stratified_sample(groups, size=500, seed=4)
    assert np.array_equal(s.positions, again.positions)
    assert not np.array_equal(s.positions, other.positions)
    everything = stratified_sample(groups, size=n + 5, seed=0)
    assert everything.size == n and np.allclose(everything.weights, 1.0)
    with pytest.raises(InputError):
        stratified_sample(groups, size=0)


def test_group_sample_keeps_its_size_and_represents_every_group() -> None:
    rng = np.random.default_rng(5)
    n = 50_000
    groups = pd.DataFrame({f"a{j}": rng.choice(list("pqrstu"), n) for j in range(6)})
    groups["rare"] = np.where(rng.random(n) < 0.001, "yes", "no")  # ~50 rows
    groups.loc[:2, "a0"] = None  # 3 missing values: their own group, all kept
    cells = [(c,) for c in groups.columns] + [("a0", "rare")]
    # the finest cells (6^6 * 2 > 2,000) would not fit; the group sample does
    s = stratified_sample(groups, size=2000, seed=1, cells=cells)
    assert s.size == 2000 and s.population == n
    assert np.all(np.diff(s.positions) > 0)
    picked = groups.iloc[s.positions]
    for cols in cells:
        key = groups[list(cols)].astype(object).fillna("?").apply(tuple, axis=1)
        assert set(key.iloc[s.positions]) == set(key)  # every group represented
    # groups at or under the floor are taken whole: every missing a0 and every rare row
    assert picked["a0"].isna().sum() == 3
    m = 2000 // (2 * s.strata)
    assert (picked["rare"] == "yes").sum() >= min(m, int((groups["rare"] == "yes").sum()))
    # Horvitz-Thompson: weighted group counts estimate the population's (within 15%)
    for col in ("a1", "rare"):
        est = pd.Series(s.weights).groupby(picked[col].to_numpy()).sum()
        true = groups[col].value_counts()
        assert np.allclose(est.sort_index(), true.sort_index(), rtol=0.15)
    assert s.weights.sum() == pytest.approx(n, rel=0.05)
    again = stratified_sample(groups, size=2000, seed=1, cells=cells)
    assert np.array_equal(s.positions, again.positions)


# --------------------------------------------------------------------------- additivity


def test_tree_explainer_adds_up_to_the_log_odds(population: pd.DataFrame, hgb) -> None:
    rows = population.iloc[:400]
    expl = explain(hgb, rows)
    assert expl.explainer == "tree" and expl.output == "log-odds"
    assert expl.features == FEATURES and expl.values.shape == (400, 4)
    expected = hgb.estimator.decision_function(rows[FEATURES])
    assert np.allclose(expl.base_values + expl.values.sum(axis=1), expected, atol=1e-8)
    # and the model's own score (a probability) is its logistic transform
    score = hgb.predict(rows).score
    assert np.allclose(logit(score), expected, atol=1e-8)


def test_random_forest_is_explained_on_the_selected_class_probability(
    population: pd.DataFrame,
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    est = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
    # class 0 means "selected" here, so the explanation must be of predict_proba[:, 0]
    est.fit(population[FEATURES], 1 - population["y"])
    model = sklearn_model(est, FEATURES)
    model.positive_index, model.positive = 0, 0
    rows = population.iloc[:200]
    expl = explain(model, rows)
    assert expl.explainer == "tree" and expl.output == "probability"
    assert np.allclose(expl.model_output, est.predict_proba(rows[FEATURES])[:, 0], atol=1e-8)


def test_linear_explainer_adds_up_and_selected_class_zero_flips_sign(
    population: pd.DataFrame,
) -> None:
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression().fit(population[FEATURES], population["y"])
    rows = population.iloc[:300]
    expl = explain(sklearn_model(est, FEATURES), rows, background_rows=50)
    assert expl.explainer == "linear" and expl.output == "log-odds"
    assert expl.background_rows == 50
    assert np.allclose(expl.model_output, est.decision_function(rows[FEATURES]), atol=1e-8)
    flipped = sklearn_model(est, FEATURES)
    flipped.positive_index = 0
    e0 = explain(flipped, rows, background_rows=50)
    assert np.allclose(e0.values, -expl.values) and np.allclose(e0.model_output, -expl.model_output)


def test_pipeline_one_hot_columns_are_summed_back_to_the_data_column() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(2)
    n = 600
    frame = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east_west"], n),
            "income": rng.normal(size=n),
        }
    )
    y = ((frame["region"] == "north") ^ (frame["income"] > 0.5)).astype(int)
    pipe = make_pipeline(
        ColumnTransformer(
            [("cat", OneHotEncoder(), ["region"]), ("num", StandardScaler(), ["income"])]
        ),
        LogisticRegression(),
    ).fit(frame, y)
    model = sklearn_model(pipe, ["region", "income"])
    # background: exactly the first 100 rows, so the test can recompute the values
    ex = make_explainer(model, frame.iloc[:100], background_rows=100)
    expl = explain(model, frame.iloc[:200], explainer=ex)
    assert expl.explainer == "linear" and expl.features == ["region", "income"]
    assert np.allclose(expl.model_output, pipe.decision_function(frame.iloc[:200]), atol=1e-8)
    # the region column's SHAP value is the sum over its three one-hot columns:
    # coefficient × (indicator − background mean) summed over the levels
    bg = pipe[:-1].transform(frame.iloc[:100])
    x = pipe[:-1].transform(frame.iloc[:200])
    coef = pipe[-1].coef_[0]
    manual = ((x[:, :3] - bg[:, :3].mean(axis=0)) * coef[:3]).sum(axis=1)
    assert np.allclose(expl.values[:, 0], manual, atol=1e-8)


def test_model_agnostic_path_adds_up_with_a_stated_budget(population: pd.DataFrame) -> None:
    def fn(x: pd.DataFrame) -> np.ndarray:
        z = 0.8 * x["income"] - 0.5 * x["proxy"] + 0.3 * x["income"] * x["noise"]
        return 1 / (1 + np.exp(-z.to_numpy()))

    model = ScoreFunctionModel(FEATURES, fn)
    rows = population.iloc[:30]
    calls: list[tuple[int, int]] = []
    expl = explain(
        model,
        rows,
        budget=5,
        background_rows=20,
        seed=1,
        batch_rows=10,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert expl.explainer == "permutation" and expl.output == "score"
    assert expl.budget == 2 * 4 + 1  # raised to the minimum shap needs
    assert expl.background_rows == 20
    assert calls == [(10, 30), (20, 30), (30, 30)]
    assert np.allclose(expl.model_output, fn(rows), atol=1e-8)
    # a decision-only model is explained on its decision
    d_model = ScoreFunctionModel(FEATURES, fn, with_score=False)
    d_expl = explain(d_model, rows, budget=50, background_rows=20)
    assert d_expl.output == "decision"
    assert np.allclose(d_expl.model_output, (fn(rows) >= 0.5).astype(float), atol=1e-8)


def test_tree_and_model_agnostic_explainers_agree_on_a_small_tree_model() -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    from fairaudit.models.sklearn import SklearnModel

    rng = np.random.default_rng(5)
    n = 120
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    y = X["a"] + 0.5 * X["b"] + rng.normal(0, 0.5, n)
    # Stumps: an additive model, where path-dependent tree SHAP with the training rows as
    # cover equals interventional SHAP with the same rows as background.
    est = GradientBoostingRegressor(n_estimators=30, max_depth=1, random_state=0).fit(X, y)
    model = SklearnModel(
        est,
        columns=["a", "b", "c"],
        by_name=True,
        positive=None,
        positive_index=None,
        threshold=0.0,
        provenance={"path": "<memory>"},
    )
    tree = explain(model, X, background_rows=n)
    assert tree.explainer == "tree" and tree.output == "score"
    ex = make_explainer(model, X, background_rows=n, budget=50, agnostic=True)
    agn = explain(model, X.iloc[:40], explainer=ex)
    assert agn.explainer == "permutation" and agn.output == "score"
    assert np.allclose(agn.values, tree.values[:40], atol=1e-8)
    assert np.allclose(agn.base_values, tree.base_values[:40], atol=1e-8)
    assert np.allclose(tree.model_output, est.predict(X), atol=1e-8)


def test_missing_extra_is_reported(monkeypatch: pytest.MonkeyPatch, hgb, population) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "shap", None)
    with pytest.raises(MissingExtraError, match=r"fairaudit\[shap\]"):
        explain(hgb, population.iloc[:10])


def test_mlflow_style_model_reaches_the_raw_estimator(population: pd.DataFrame, hgb) -> None:
    class Pyfunc:
        def get_raw_model(self):
            return hgb.estimator

    class MlflowLike(ScoreFunctionModel):
        pyfunc = Pyfunc()
        positive_index = 1

    model = MlflowLike(FEATURES, lambda x: hgb.estimator.predict_proba(x)[:, 1])
    expl = explain(model, population.iloc[:100])
    assert expl.explainer == "tree" and expl.output == "log-odds"
    assert np.allclose(
        expl.model_output, hgb.estimator.decision_function(population.iloc[:100][FEATURES])
    )


def test_model_agnostic_path_handles_text_columns() -> None:
    frame = pd.DataFrame(
        {
            "region": ["north", "south", "east", "north", "south", "east"] * 3,
            "income": np.linspace(-1, 1, 18),
        }
    )

    def fn(x: pd.DataFrame) -> np.ndarray:
        return np.where(x["region"] == "north", 0.8, 0.2) + 0.1 * x["income"].to_numpy()

    model = ScoreFunctionModel(["region", "income"], fn)
    expl = explain(model, frame, budget=20, background_rows=18)
    assert expl.explainer == "permutation"
    assert np.allclose(expl.model_output, fn(frame), atol=1e-8)
    # additive model: region's value is its term minus the background mean of that term
    term = np.where(frame["region"] == "north", 0.8, 0.2)
    assert np.allclose(expl.values[:, 0], term - term.mean(), atol=1e-8)


def test_falls_back_to_model_agnostic_when_values_do_not_add_up(population) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    class Calibrated(HistGradientBoostingClassifier):
        """A subclass whose outputs are not its trees' (e.g. a post-hoc calibration)."""

        def predict_proba(self, X):
            p = super().predict_proba(X)
            return np.sqrt(p) / np.sqrt(p).sum(axis=1, keepdims=True)

        def decision_function(self, X):
            p = self.predict_proba(X)[:, 1]
            return np.log(p) - np.log1p(-p)

    est = Calibrated(max_iter=10, random_state=0).fit(population[FEATURES], population["y"])
    model = sklearn_model(est, FEATURES)
    ex = make_explainer(model, population.iloc[:50])
    assert ex.name == "permutation" and ex.output == "probability"
