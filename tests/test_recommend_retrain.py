"""recommend.retrain: fairlearn's mitigators and reweighing, retrained in the audit.

Every retrained option's reported effect is recomputed here independently: the same
fairlearn object refit with the same seed, its decisions on the audit data, and the metrics
from fairlearn's MetricFrame and pandas.
"""

from __future__ import annotations

import contextlib
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fairaudit.audit import _load_model, run_audit
from fairaudit.card import build_card, render_html, render_markdown
from fairaudit.cli import main
from fairaudit.errors import InputError, SpecError
from fairaudit.plugins import make_registry
from fairaudit.recommend.retrain import _Mixture, kamiran_calders_weights, sample_weight_param
from fairaudit.results import AuditResult
from fairaudit.spec import load_spec

FEATURES = ["income_reg", "household_size", "care_work"]
EG = "retrain: exponentiated gradient (true_positive_rate_parity)"
RW = "retrain: reweighing"
TO = "retrain: threshold optimizer (true_positive_rate_parity)"

SPEC = """
    name: benefit-model
    intervention: assistive
    data: {path: applicants.csv, label: eligible}
    model: {loader: sklearn, path: model.skops}
    protected:
      - name: sex
        reference: male
    bootstrap: 0
    gates:
      - {id: exclusion, metric: exclusion_error, measure: difference, max: 0.05}
    recommend:
      benefit: {amount: 100, unit: coins per month}
      retrain:
        data: {path: training.csv}
"""


def applicants(n: int, seed: int) -> pd.DataFrame:
    """Applicants whose registered income overstates women's (a partner's income counted),
    with care work as a proxy for sex: a model trained on it excludes eligible women.
    Women are more often in need (different base rates, so reweighing has work to do)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    female = sex == "female"
    need = rng.normal(np.where(female, 0.3, -0.1), 1.0, n)
    care = rng.random(n) < np.where(female, 0.6, 0.1)
    counted = female & (rng.random(n) < 0.7)
    income_reg = 900 - 150 * need + rng.normal(0.0, 80.0, n) + np.where(counted, 160.0, 0.0)
    return pd.DataFrame(
        {
            "income_reg": income_reg.round(2),
            "household_size": rng.integers(1, 7, n),
            "care_work": np.where(care, "yes", "no"),
            "sex": sex,
            "eligible": (need > 0).astype("int64"),
        }
    )


def make_pipeline(final: Any = None) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["income_reg", "household_size"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["care_work"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", final if final is not None else LogisticRegression())])


def write_audit(folder: Path, spec: str = SPEC, final: Any = None) -> Any:
    import skops.io as sio

    train, audit = applicants(2000, 1), applicants(2000, 2)
    pipe = make_pipeline(final).fit(train[FEATURES], train["eligible"])
    sio.dump(pipe, folder / "model.skops")
    train.to_csv(folder / "training.csv", index=False)
    audit.to_csv(folder / "applicants.csv", index=False)
    (folder / "audit.yaml").write_text(textwrap.dedent(spec), encoding="utf-8")
    return pipe


def with_retrain(extra: str) -> str:
    """SPEC with more keys under recommend.retrain."""
    return SPEC + textwrap.indent(textwrap.dedent(extra), " " * 8)


@pytest.fixture(scope="module")
def lawful(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, AuditResult, list[str]]:
    folder = tmp_path_factory.mktemp("retrain")
    pipe = write_audit(folder, with_retrain("group_thresholds_lawful: true\n"))
    lines: list[str] = []
    result = run_audit(load_spec(folder / "audit.yaml"), status=lines.append)
    return folder, pipe, result, lines


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """fairlearn 0.15 on pandas 3 warns (Pandas4Warning) while fitting; results unaffected."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=pd.errors.Pandas4Warning)
        yield


def _effect(audit: pd.DataFrame, d: np.ndarray, present: np.ndarray) -> dict[str, Any]:
    """What the trade-off table reports for decisions ``d``, computed with MetricFrame."""
    from fairlearn.metrics import MetricFrame, false_negative_rate

    mf = MetricFrame(
        metrics=false_negative_rate,
        y_true=audit["eligible"],
        y_pred=d,
        sensitive_features=audit["sex"],
    )
    newly = int(d.sum() - present.sum())
    return {
        "harm": {"sex=female": pytest.approx(float(mf.by_group["female"]))},
        "overall_error": pytest.approx(float((d != audit["eligible"]).mean())),
        "newly_covered": newly,
        "newly_covered_eligible": int(d[audit["eligible"] == 1].sum())
        - int(present[audit["eligible"] == 1].sum()),
        "cost": pytest.approx(100.0 * newly),
    }


def _reported(o: Any) -> dict[str, Any]:
    return {
        "harm": o.harm,
        "overall_error": o.overall_error,
        "newly_covered": o.newly_covered,
        "newly_covered_eligible": o.newly_covered_eligible,
        "cost": o.cost,
    }


def test_retrained_options_equal_an_independent_recomputation(
    lawful: tuple[Path, Any, AuditResult, list[str]],
) -> None:
    from fairlearn.postprocessing import ThresholdOptimizer
    from fairlearn.reductions import ExponentiatedGradient, TruePositiveRateParity
    from sklearn.base import clone

    folder, pipe, result, lines = lawful
    train = pd.read_csv(folder / "training.csv")
    audit = pd.read_csv(folder / "applicants.csv")
    Xt, yt, At = train[FEATURES], train["eligible"].to_numpy(), train["sex"].to_numpy()
    Xa = audit[FEATURES]
    assert result.status == "fail"
    mit = result.recommendations and result.recommendations.mitigation
    assert mit is not None
    opts = {o.name: o for o in mit.options}
    assert [o.name for o in mit.options] == ["present model", EG, RW, TO]
    assert mit.not_run == []
    present = pipe.predict(Xa)
    assert _reported(opts["present model"])["harm"] == _effect(audit, present, present)["harm"]

    with quiet():
        # exponentiated gradient: same seed (random_state of the clone), same constraint
        eg = ExponentiatedGradient(
            clone(pipe).set_params(clf__random_state=0),
            TruePositiveRateParity(difference_bound=0.01),
            eps=0.01,
            max_iter=50,
            sample_weight_name="clf__sample_weight",
        ).fit(Xt, yt, sensitive_features=At)
        d_eg = (eg._pmf_predict(Xa)[:, 1] >= 0.5).astype(int)
        # threshold optimizer: prefit on the audited estimator, thresholds from training
        to = ThresholdOptimizer(
            estimator=pipe,
            constraints="true_positive_rate_parity",
            objective="accuracy_score",
            prefit=True,
            predict_method="predict_proba",
        ).fit(Xt, yt, sensitive_features=At)
        d_to = (to._pmf_predict(Xa, sensitive_features=audit["sex"])[:, 1] >= 0.5).astype(int)
    # reweighing: P(a)P(y)/P(a,y) by pandas, passed to the pipeline's final step
    n = len(train)
    p_a = train["sex"].map(train["sex"].value_counts() / n)
    p_y = train["eligible"].map(train["eligible"].value_counts() / n)
    p_ay = train.groupby(["sex", "eligible"])["eligible"].transform("size") / n
    rw = clone(pipe).set_params(clf__random_state=0)
    rw.fit(Xt, yt, clf__sample_weight=(p_a * p_y / p_ay).to_numpy())
    d_rw = rw.predict(Xa)

    for name, d in [(EG, d_eg), (RW, d_rw), (TO, d_to)]:
        o = opts[name]
        assert o.kind == "retrain"
        assert _reported(o) == _effect(audit, d, present), name
    # the constraint does what it is for: the failed group's exclusion error falls
    harm = {k: o.harm["sex=female"] for k, o in opts.items()}
    assert harm[EG] < harm["present model"] - 0.03
    assert harm[TO] < harm["present model"] - 0.1
    # descriptions say what was trained, on what, with which constraint
    assert "ExponentiatedGradient(Pipeline ending in LogisticRegression" in opts[EG].description
    assert "TruePositiveRateParity(difference_bound=0.01)" in opts[EG].description
    assert "trained on training.csv (2,000 rows, label 'eligible')" in opts[EG].description
    assert "sensitive feature sex" in opts[EG].description
    assert "Kamiran-Calders" in opts[RW].description
    assert "clf__sample_weight" in opts[RW].description
    assert "prefit" in opts[TO].description and "predict_method=predict_proba" in (
        opts[TO].description
    )
    # training shows in the status lines, before the options are simulated
    assert lines[:4] == [
        "reading the training data training.csv",
        f"training mitigation model 1/3: {EG}",
        f"training mitigation model 2/3: {RW}",
        f"training mitigation model 3/3: {TO}",
    ]
    assert lines[-3:] == [
        f"simulating mitigation option {i}/3: {n}" for i, n in enumerate([EG, RW, TO], start=1)
    ]


def test_mixture_probability_equals_fairlearn_pmf(
    lawful: tuple[Path, Any, AuditResult, list[str]],
) -> None:
    """fairaudit decides from the public predictors_/weights_: the same as _pmf_predict."""
    from fairlearn.reductions import ExponentiatedGradient, TruePositiveRateParity
    from sklearn.base import clone

    folder, pipe, _, _ = lawful
    model = _load_model(load_spec(folder / "audit.yaml"), make_registry())
    train = pd.read_csv(folder / "training.csv")
    with quiet():
        eg = ExponentiatedGradient(
            clone(pipe), TruePositiveRateParity(), sample_weight_name="clf__sample_weight"
        ).fit(train[FEATURES], train["eligible"], sensitive_features=train["sex"])
        pmf = eg._pmf_predict(train[FEATURES])[:, 1]
    assert (eg.weights_ > 0).sum() > 1  # a real mixture, not one classifier
    pred = _Mixture(model, eg, {}).predict(train.iloc[500:900])  # a batch, any index
    assert pred.score is not None
    np.testing.assert_allclose(pred.score, pmf[500:900], atol=1e-12)
    assert (pred.decision == (pmf[500:900] >= 0.5)).all()


def test_retraining_is_deterministic_across_runs_and_batches(
    lawful: tuple[Path, Any, AuditResult, list[str]],
) -> None:
    folder, _, first, _ = lawful
    spec = load_spec(folder / "audit.yaml")
    rt = spec.recommend.retrain.model_copy(update={"methods": ["exponentiated_gradient"]})  # type: ignore[union-attr]
    spec = spec.model_copy(update={"recommend": spec.recommend.model_copy(update={"retrain": rt})})  # type: ignore[union-attr]
    again = run_audit(spec, batch_rows=333)
    a = {o.name: o for o in first.recommendations.mitigation.options}  # type: ignore[union-attr]
    b = {o.name: o for o in again.recommendations.mitigation.options}  # type: ignore[union-attr]
    assert b[EG].model_dump() == a[EG].model_dump()


def test_reweighing_weights_equal_the_hand_formula() -> None:
    groups = ["a", "a", "a", "a", "b", "b"]
    y = [1, 0, 0, 0, 1, 0]
    # n=6; P(a)=4/6, P(b)=2/6; P(y=1)=2/6, P(y=0)=4/6; P(a,1)=1/6, P(a,0)=3/6, P(b,1)=P(b,0)=1/6
    w_a1 = (4 / 6) * (2 / 6) / (1 / 6)
    w_a0 = (4 / 6) * (4 / 6) / (3 / 6)
    w_b1 = (2 / 6) * (2 / 6) / (1 / 6)
    w_b0 = (2 / 6) * (4 / 6) / (1 / 6)
    np.testing.assert_allclose(
        kamiran_calders_weights(groups, y), [w_a1, w_a0, w_a0, w_a0, w_b1, w_b0]
    )
    w = kamiran_calders_weights(groups, y)
    # weighted, the label rate is the same in both groups (= the overall rate)
    frame = pd.DataFrame({"g": groups, "y": y, "w": w})
    frame["wy"] = frame["w"] * frame["y"]
    sums = frame.groupby("g")[["wy", "w"]].sum()
    rate = sums["wy"] / sums["w"]
    assert rate["a"] == pytest.approx(2 / 6) and rate["b"] == pytest.approx(2 / 6)


def test_sample_weight_routes_to_the_pipelines_final_step() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    assert sample_weight_param(make_pipeline()) == "clf__sample_weight"
    assert sample_weight_param(Pipeline([("inner", make_pipeline())])) == (
        "inner__clf__sample_weight"
    )
    assert sample_weight_param(LogisticRegression()) == "sample_weight"
    assert sample_weight_param(make_pipeline(KNeighborsClassifier())) is None


def test_threshold_optimizer_runs_only_when_declared_lawful(
    tmp_path: Path, lawful: tuple[Path, Any, AuditResult, list[str]]
) -> None:
    write_audit(tmp_path, with_retrain("methods: [threshold_optimizer]\n"))
    lines: list[str] = []
    result = run_audit(load_spec(tmp_path / "audit.yaml"), status=lines.append)
    mit = result.recommendations.mitigation  # type: ignore[union-attr]
    assert mit is not None
    assert [o.name for o in mit.options] == ["present model"]
    (skipped,) = mit.not_run
    assert skipped.name == TO and skipped.kind == "retrain"
    assert "group_thresholds_lawful" in skipped.reason and "sex" in skipped.reason
    assert "Not simulated: " + TO in mit.conclusion
    assert not any(line.startswith("training") for line in lines)
    # the card says it was asked for, not simulated, and why
    spec = load_spec(tmp_path / "audit.yaml")
    card = build_card(result, spec)
    (row,) = card.mitigation.not_run
    assert (row.name, row.kind_name) == (TO, "retrained model")
    assert skipped.reason.rstrip(".") in row.reason
    md = render_markdown(card)
    assert "Asked for but not simulated" in md and f"**{TO}** (retrained model)" in md
    assert "Asked for but not simulated" in render_html(card)
    # with the flag (the module's audit), it is run and reported like any option
    _, _, with_flag, _ = lawful
    assert TO in {o.name for o in with_flag.recommendations.mitigation.options}  # type: ignore[union-attr]
    flagged = build_card(with_flag, load_spec(lawful[0] / "audit.yaml"))
    rows = {o.name: o for o in flagged.mitigation.options}
    assert rows[TO].kind == "retrain" and rows[TO].kind_name == "retrained model"
    assert not flagged.mitigation.not_run


def _error(folder: Path) -> SpecError:
    with pytest.raises(SpecError) as err:
        run_audit(load_spec(folder / "audit.yaml"))
    return err.value


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ("attributes: [gender]\n", "recommend.retrain.attributes[0]", "protected attributes: sex"),
        ("methods: [adversarial]\n", "recommend.retrain.methods[0]", "reweighing"),
        (
            "constraint: error_rate_parity\n",
            "recommend.retrain",
            "ThresholdOptimizer supports",
        ),
        ("constraint: parity\n", "recommend.retrain.constraint", "equalized_odds"),
        ("epochs: 3\n", "recommend.retrain.epochs", "unknown key"),
        ("methods: [reweighing, reweighing]\n", "recommend.retrain", "twice"),
    ],
)
def test_bad_retrain_fields_name_the_field(
    tmp_path: Path, extra: str, field: str, words: str
) -> None:
    write_audit(tmp_path, with_retrain(extra))
    err = _error(tmp_path)
    assert field in str(err) and words in str(err)


def test_missing_training_file_is_a_spec_error(tmp_path: Path) -> None:
    write_audit(tmp_path, SPEC.replace("training.csv", "train.csv"))
    err = _error(tmp_path)
    assert "recommend.retrain.data.path" in str(err) and "train.csv" in str(err)


def test_training_data_missing_a_column(tmp_path: Path) -> None:
    write_audit(tmp_path)
    pd.read_csv(tmp_path / "training.csv").drop(columns="care_work").to_csv(
        tmp_path / "training.csv", index=False
    )
    with pytest.raises(InputError) as err:
        run_audit(load_spec(tmp_path / "audit.yaml"))
    assert "care_work" in str(err.value) and "training.csv" in str(err.value)


def test_estimator_without_sample_weight_is_refused(tmp_path: Path) -> None:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    write_audit(tmp_path, with_retrain("methods: [reweighing]\n"), LinearDiscriminantAnalysis())
    err = _error(tmp_path)
    assert "recommend.retrain.methods[0]" in str(err)
    assert "takes no sample_weight" in str(err) and "LinearDiscriminantAnalysis" in str(err)


def test_a_model_without_an_estimator_cannot_be_retrained(tmp_path: Path) -> None:
    """Decisions read from a column (likewise ONNX, MLflow pyfunc, rules): exit 2."""
    write_audit(tmp_path)
    audit = pd.read_csv(tmp_path / "applicants.csv")
    audit["granted"] = (audit["income_reg"] < 900).astype(int)
    audit.to_csv(tmp_path / "applicants.csv", index=False)
    spec = SPEC.replace(
        "model: {loader: sklearn, path: model.skops}", "model: {loader: column, decision: granted}"
    )
    (tmp_path / "audit.yaml").write_text(textwrap.dedent(spec), encoding="utf-8")
    res = CliRunner().invoke(main, ["check", str(tmp_path / "audit.yaml"), "--no-card"])
    assert res.exit_code == 2, res.output
    assert "recommend.retrain" in res.output and "cannot be retrained" in res.output
    assert "loader: sklearn" in res.output  # the fix
