from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest

from fairaudit.errors import InputError, UntrustedModelError
from fairaudit.models.base import LoadContext, Prediction
from fairaudit.models.sklearn import SklearnLoader, SklearnOptions

from .conftest import FEATURES, LABEL, ModelFixture
from .example_callables import CUTOFF, PredictOnly

HGB_TYPE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
TREE_TYPE = "sklearn.tree._tree.Tree"  # skops 0.16 does not trust decision trees by default


def load(context: LoadContext | None = None, **options: Any) -> Any:
    return SklearnLoader().load(SklearnOptions(**options), context or LoadContext())


def check(pred: Prediction, decision: np.ndarray, score: np.ndarray | None) -> None:
    assert pred.decision.dtype == np.int8
    np.testing.assert_array_equal(pred.decision, decision)
    if score is None:
        assert pred.score is None
    else:
        assert pred.score is not None and pred.score.dtype == np.float64
        np.testing.assert_allclose(pred.score, score, rtol=0, atol=1e-12)


def test_skops_pipeline_predicts_like_the_estimator(sklearn_skops_model: ModelFixture) -> None:
    m = sklearn_skops_model
    model = load(path=str(m.path))
    assert list(model.columns) == FEATURES
    # The frame also holds the protected attribute and the label: only features are fed.
    check(model.predict(m.frame), m.decision, m.score)
    assert 0 < m.decision.sum() < len(m.decision)


def test_rows_keep_their_order_and_index(sklearn_skops_model: ModelFixture) -> None:
    m = sklearn_skops_model
    shuffled = m.frame.sample(frac=1.0, random_state=1)
    pred = load(path=str(m.path)).predict(shuffled)
    order = shuffled.index.to_numpy()
    check(pred, m.decision[order], m.score[order])


def test_relative_path_resolves_against_the_spec_folder(sklearn_skops_model: ModelFixture) -> None:
    m = sklearn_skops_model
    assert m.path is not None
    model = load(LoadContext(base_dir=m.path.parent), path=m.path.name)
    check(model.predict(m.frame), m.decision, m.score)


def test_missing_file_names_the_resolved_path(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load(LoadContext(base_dir=tmp_path), path="models/nope.skops")
    assert err.value.file == str(tmp_path / "models" / "nope.skops")
    assert "not found" in err.value.problem and err.value.fix


def test_threshold_decides_on_the_probability(sklearn_skops_model: ModelFixture) -> None:
    m = sklearn_skops_model
    pred = load(path=str(m.path), threshold=0.7).predict(m.frame)
    check(pred, (m.score >= 0.7).astype("int8"), m.score)
    assert pred.decision.sum() < m.decision.sum()


def test_positive_class_zero_flips_decision_and_score(
    sklearn_skops_model: ModelFixture, sklearn_estimator: Any
) -> None:
    m = sklearn_skops_model
    pred = load(path=str(m.path), positive_class=0).predict(m.frame)
    proba0 = sklearn_estimator.predict_proba(m.frame[FEATURES])[:, 0]
    check(pred, 1 - m.decision, proba0)


def test_positive_class_must_be_a_class(sklearn_skops_model: ModelFixture) -> None:
    with pytest.raises(InputError, match=r"positive_class 'granted' is not one of .*\[0, 1\]"):
        load(path=str(sklearn_skops_model.path), positive_class="granted")


@pytest.mark.parametrize("suffix", [".pkl", ".pickle", ".joblib"])
def test_pickle_and_joblib_are_refused_unless_trusted(
    tmp_path: Path, sklearn_estimator: Any, sklearn_skops_model: ModelFixture, suffix: str
) -> None:
    import joblib

    path = tmp_path / f"model{suffix}"
    if suffix == ".joblib":
        joblib.dump(sklearn_estimator, path)
    else:
        path.write_bytes(pickle.dumps(sklearn_estimator))
    with pytest.raises(UntrustedModelError) as err:
        load(path=str(path))
    assert "arbitrary code" in err.value.problem
    assert err.value.fix is not None
    assert "skops.io.dump" in err.value.fix and "trusted: true" in err.value.fix
    assert err.value.file == str(path)

    m = sklearn_skops_model
    model = load(path=str(path), trusted=True)
    check(model.predict(m.frame), m.decision, m.score)
    assert model.provenance()["format"] == ("joblib" if suffix == ".joblib" else "pickle")


def test_pickle_fixture_spec_is_trusted(sklearn_pickle_model: ModelFixture) -> None:
    m = sklearn_pickle_model
    options = {k: v for k, v in m.spec.items() if k != "loader"}
    check(load(**options).predict(m.frame), m.decision, m.score)


def test_unknown_suffix_asks_for_format(tmp_path: Path, sklearn_estimator: Any) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(sklearn_estimator))
    with pytest.raises(InputError) as err:
        load(path=str(path))
    assert err.value.fix is not None and "model.format" in err.value.fix
    with pytest.raises(UntrustedModelError):
        load(path=str(path), format="pickle")
    assert load(path=str(path), format="pickle", trusted=True).columns == tuple(FEATURES)


@pytest.fixture(scope="module")
def hgb(tmp_path_factory: pytest.TempPathFactory, audit_frame: pd.DataFrame) -> tuple[Path, Any]:
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = audit_frame[["income", "household_size"]]
    est = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, audit_frame[LABEL])
    path = tmp_path_factory.mktemp("hgb") / "hgb.skops"
    sio.dump(est, path)
    return path, est


def test_skops_untrusted_types_are_reported(hgb: tuple[Path, Any]) -> None:
    path, _ = hgb
    with pytest.raises(UntrustedModelError) as err:
        load(path=str(path))
    assert HGB_TYPE in err.value.problem
    assert err.value.fix is not None and "model.trusted_types" in err.value.fix
    # Deliberately, trusted: true does not waive the per-type review of a skops file.
    with pytest.raises(UntrustedModelError, match="TreePredictor"):
        load(path=str(path), trusted=True)


def test_skops_reviewed_types_load(hgb: tuple[Path, Any], audit_frame: pd.DataFrame) -> None:
    path, est = hgb
    model = load(path=str(path), trusted_types=[HGB_TYPE])
    X = audit_frame[["income", "household_size"]]
    check(model.predict(audit_frame), est.predict(X).astype("int8"), est.predict_proba(X)[:, 1])


def test_not_a_skops_file(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="skops"):
        load(path=str(path))


def test_missing_columns_are_named(sklearn_skops_model: ModelFixture) -> None:
    m = sklearn_skops_model
    model = load(path=str(m.path))
    with pytest.raises(InputError) as err:
        model.predict(m.frame.drop(columns=["income", "region"]))
    assert "['income', 'region']" in err.value.problem
    with pytest.raises(InputError) as err:
        model.predict(m.frame.drop(columns=["region"]))
    assert err.value.column == "region"


def test_features_must_match_the_trained_names(sklearn_skops_model: ModelFixture) -> None:
    with pytest.raises(InputError, match="differ from the columns the model was trained on"):
        load(path=str(sklearn_skops_model.path), features=["income", "household_size"])
    # The same names in another order are fine: the model is fed by name.
    model = load(path=str(sklearn_skops_model.path), features=FEATURES[::-1])
    assert list(model.columns) == FEATURES


def test_array_fitted_model_needs_features(tmp_path: Path, audit_frame: pd.DataFrame) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    cols = ["income", "household_size"]
    X = audit_frame[cols].to_numpy()
    est = LogisticRegression().fit(X, audit_frame[LABEL])
    path = tmp_path / "array.skops"
    sio.dump(est, path)
    with pytest.raises(InputError) as err:
        load(path=str(path))
    assert err.value.fix is not None and "model.features" in err.value.fix
    # Fed as an array (no "fitted without feature names" warning: warnings are errors here).
    pred = load(path=str(path), features=cols).predict(audit_frame)
    check(pred, est.predict(X).astype("int8"), est.predict_proba(X)[:, 1])


def test_decision_function_is_the_score_without_predict_proba(
    tmp_path: Path, audit_frame: pd.DataFrame
) -> None:
    import skops.io as sio
    from sklearn.linear_model import RidgeClassifier

    cols = ["income", "household_size"]
    est = RidgeClassifier().fit(audit_frame[cols], audit_frame[LABEL])
    path = tmp_path / "ridge.skops"
    sio.dump(est, path)
    X = audit_frame[cols]
    margin = est.decision_function(X)
    check(load(path=str(path)).predict(audit_frame), est.predict(X).astype("int8"), margin)
    check(
        load(path=str(path), positive_class=0).predict(audit_frame),
        (est.predict(X) == 0).astype("int8"),
        -margin,
    )
    pred = load(path=str(path), threshold=0.0).predict(audit_frame)
    np.testing.assert_array_equal(pred.decision, (margin >= 0).astype("int8"))


def test_threshold_needs_a_score(tmp_path: Path, audit_frame: pd.DataFrame) -> None:
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(PredictOnly(FEATURES)))
    model = load(path=str(path), trusted=True)
    pred = model.predict(audit_frame)
    check(pred, (audit_frame["income"] < CUTOFF).to_numpy().astype("int8"), None)
    with pytest.raises(InputError, match="gives no score"):
        load(path=str(path), trusted=True, threshold=0.5)


def test_regressor_prediction_is_the_score(tmp_path: Path, audit_frame: pd.DataFrame) -> None:
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    cols = ["income", "household_size"]
    est = LinearRegression().fit(audit_frame[cols], audit_frame[LABEL])
    path = tmp_path / "linreg.skops"
    sio.dump(est, path)
    with pytest.raises(InputError, match="must be 0/1"):
        load(path=str(path)).predict(audit_frame)
    y = est.predict(audit_frame[cols])
    pred = load(path=str(path), threshold=0.5).predict(audit_frame)
    check(pred, (y >= 0.5).astype("int8"), y)


def test_multiclass_needs_positive_class(tmp_path: Path, audit_frame: pd.DataFrame) -> None:
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    cols = ["income", "household_size"]
    est = DecisionTreeClassifier(max_depth=4, random_state=0)
    est.fit(audit_frame[cols], audit_frame["region"])
    path = tmp_path / "multi.skops"
    sio.dump(est, path)
    with pytest.raises(InputError, match="4 classes"):
        load(path=str(path), trusted_types=[TREE_TYPE])
    X = audit_frame[cols]
    idx = list(est.classes_).index("north")
    pred = load(path=str(path), positive_class="north", trusted_types=[TREE_TYPE]).predict(
        audit_frame
    )
    check(pred, (est.predict(X) == "north").astype("int8"), est.predict_proba(X)[:, idx])


def test_text_classes_and_yaml_yes(tmp_path: Path, audit_frame: pd.DataFrame) -> None:
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    cols = ["income", "household_size"]
    y = np.where(audit_frame[LABEL] == 1, "yes", "no")
    est = DecisionTreeClassifier(max_depth=3, random_state=0).fit(audit_frame[cols], y)
    path = tmp_path / "tree.skops"
    sio.dump(est, path)
    with pytest.raises(InputError, match="do not include 1 or true"):
        load(path=str(path), trusted_types=[TREE_TYPE])
    X = audit_frame[cols]
    want = (est.predict(X) == "yes").astype("int8")
    # YAML 1.1 reads `positive_class: yes` as true: it still means the class "yes".
    for positive in ("yes", True):
        check(
            load(path=str(path), positive_class=positive, trusted_types=[TREE_TYPE]).predict(
                audit_frame
            ),
            want,
            est.predict_proba(X)[:, 1],
        )


def test_provenance(sklearn_skops_model: ModelFixture) -> None:
    m = sklearn_skops_model
    assert m.path is not None
    prov = load(path=str(m.path)).provenance()
    assert prov["loader"] == "sklearn"
    assert prov["path"] == str(m.path)
    assert prov["format"] == "skops"
    assert prov["sha256"] == hashlib.sha256(m.path.read_bytes()).hexdigest()
    assert prov["estimator"] == "sklearn.pipeline.Pipeline"


def test_empty_frame(sklearn_skops_model: ModelFixture) -> None:
    m = sklearn_skops_model
    pred = load(path=str(m.path)).predict(m.frame.iloc[:0])
    assert pred.decision.shape == (0,) and pred.decision.dtype == np.int8
    assert pred.score is not None and pred.score.shape == (0,)


def test_predict_errors_become_input_errors(sklearn_skops_model: ModelFixture) -> None:
    m = sklearn_skops_model
    frame = m.frame.assign(household_size="many")
    with pytest.raises(InputError, match="could not predict"):
        load(path=str(m.path)).predict(frame)


def test_options_are_strict() -> None:
    with pytest.raises(pydantic.ValidationError):
        SklearnOptions(path="m.skops", trusted="maybe")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        SklearnOptions(path="m.skops", unknown=1)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="listed twice"):
        SklearnOptions(path="m.skops", features=["a", "a"])
    for name, info in SklearnOptions.model_fields.items():
        assert info.description, name


def test_loader_is_a_builtin_plugin() -> None:
    from fairaudit.builtins import fairaudit_model_loaders

    assert SklearnLoader in fairaudit_model_loaders()
    assert SklearnLoader.name == "sklearn" and "\n" not in SklearnLoader.description


def test_import_is_light() -> None:
    code = (
        "import sys, fairaudit.models.sklearn; "
        "heavy = sorted({'sklearn', 'skops', 'joblib'} & set(sys.modules)); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
