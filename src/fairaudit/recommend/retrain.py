"""Mitigations that retrain the audited scikit-learn estimator on training data.

* ``exponentiated_gradient`` — fairlearn's :class:`~fairlearn.reductions.ExponentiatedGradient`
  around a clone of the estimator, under the spec's constraint (a fairlearn ``Moment``).
* ``reweighing`` — Kamiran & Calders (2012): the clone refit with sample weights
  ``P(a) P(y) / P(a, y)``, which make the label independent of the group in the training
  data (:func:`kamiran_calders_weights`).
* ``threshold_optimizer`` — fairlearn's :class:`~fairlearn.postprocessing.ThresholdOptimizer`
  on the audited estimator (``prefit``): a threshold per group, so it reads the protected
  attribute at decision time and runs only where the spec says that is lawful.

Each trained model is a :class:`~fairaudit.models.base.Model`, simulated by the audit like
every other option. Decisions are deterministic: both fairlearn mitigators predict at
random (a person drawn at random among those the mixture or the interpolated thresholds
select with probability p), which would give two identical applicants different decisions
and make the counts depend on how rows are batched. fairaudit decides ``p >= 0.5``, where p
is the probability of selection fairlearn's randomised ``predict`` draws from; the audit then
measures what that deterministic rule does, on the gates. Every ``random_state`` the
estimator leaves unset is set to the audit's seed, so retraining is repeatable.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.errors import FairauditError, InputError
from fairaudit.models.base import Model, Prediction
from fairaudit.models.sklearn import SklearnModel
from fairaudit.recommend.mitigation import Candidate
from fairaudit.results import AuditResult, OptionNotRun
from fairaudit.spec import AuditSpec, RetrainSpec

__all__ = [
    "CONSTRAINTS",
    "NOT_RETRAINABLE",
    "TrainingSet",
    "check_retrain_spec",
    "kamiran_calders_weights",
    "retrain_attributes",
    "retrain_plan",
    "retrainable",
    "sample_weight_param",
    "seeded_clone",
    "train_option",
]

#: The spec's constraint -> fairlearn.reductions class (ThresholdOptimizer takes the name).
CONSTRAINTS = {
    "demographic_parity": "DemographicParity",
    "equalized_odds": "EqualizedOdds",
    "true_positive_rate_parity": "TruePositiveRateParity",
    "false_positive_rate_parity": "FalsePositiveRateParity",
    "error_rate_parity": "ErrorRateParity",
}

#: The default constraint: parity of the headline harm metric (exclusion error = 1 - TPR).
DEFAULT_CONSTRAINT = {
    "assistive": "true_positive_rate_parity",
    "punitive": "false_positive_rate_parity",
}

#: Built-in loaders whose models hold no estimator fairaudit can refit, and why.
NOT_RETRAINABLE = {
    "column": "decisions read from a data column have no model behind them to retrain",
    "onnx": "an ONNX graph can be run but not refitted (its estimator is not in the file)",
    "mlflow": "an MLflow pyfunc model hides its estimator behind predict()",
    "python": "a Python function is not an estimator with fit()",
    "rules": "a rules model is written, not trained; simulate rules changes instead "
    "(recommend.rules_changes)",
}

_LABELS = {
    "exponentiated_gradient": "exponentiated gradient",
    "reweighing": "reweighing",
    "threshold_optimizer": "threshold optimizer",
}

#: Rows -> one sensitive-group key per row ("sex=female × region=north").
GroupsOf = Callable[[pd.DataFrame], np.ndarray]

_LOC = ("recommend", "retrain")


@dataclass(frozen=True)
class TrainingSet:
    """Training rows, as the estimator reads them, with their 0/1 truth and group keys."""

    frame: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray
    path: Path
    label: str
    attributes: tuple[str, ...]


def option_name(method: str, constraint: str) -> str:
    """The option's name in the trade-off table."""
    if method == "reweighing":
        return "retrain: reweighing"
    return f"retrain: {_LABELS[method]} ({constraint})"


def constraint_of(spec: AuditSpec) -> str:
    """The spec's constraint, or the parity of the headline harm metric."""
    rt = _retrain(spec)
    return rt.constraint or DEFAULT_CONSTRAINT[spec.intervention]


def _retrain(spec: AuditSpec) -> RetrainSpec:
    assert spec.recommend is not None and spec.recommend.retrain is not None
    return spec.recommend.retrain


def check_retrain_spec(spec: AuditSpec) -> None:
    """What can be checked before any row is read: the block fits the rest of the spec.

    Raises
    ------
    SpecError
        With the field, its YAML line and the fix.
    """
    rec = spec.recommend
    assert rec is not None and rec.retrain is not None
    rt = rec.retrain
    if not rec.simulate:
        raise spec.error(
            "recommend.retrain needs the simulation of mitigation options, which "
            "recommend.simulate: false turns off",
            loc=(*_LOC,),
            fix="remove `simulate: false`, or remove recommend.retrain",
        )
    names = [p.name for p in spec.protected]
    for i, a in enumerate(rt.attributes or []):
        if a not in names:
            raise spec.error(
                f"{a!r} is not a protected attribute",
                loc=(*_LOC, "attributes", i),
                fix=f"protected attributes: {', '.join(names)}",
            )
    reason = NOT_RETRAINABLE.get(spec.model.loader)
    if reason is not None:
        raise spec.error(
            f"the {spec.model.loader} model cannot be retrained: {reason}",
            loc=(*_LOC,),
            fix="audit the scikit-learn estimator itself (model: {loader: sklearn, path: "
            "model.skops}), or remove recommend.retrain",
        )
    path = spec.base_dir / rt.data.path
    if not path.is_file():
        raise spec.error(
            f"training data not found: {path}",
            loc=(*_LOC, "data", "path"),
            fix="check the path; relative paths are relative to the spec's folder",
        )


def retrainable(spec: AuditSpec, model: Model) -> SklearnModel:
    """The loaded model, if its estimator is reachable; a located SpecError otherwise."""
    if isinstance(model, SklearnModel):
        return model
    reason = NOT_RETRAINABLE.get(
        spec.model.loader, f"the {type(model).__name__} it loads exposes no estimator"
    )
    raise spec.error(
        f"the {spec.model.loader} model cannot be retrained: {reason}",
        loc=(*_LOC,),
        fix="audit the scikit-learn estimator itself (model: {loader: sklearn, path: "
        "model.skops}), or remove recommend.retrain",
    )


def retrain_attributes(spec: AuditSpec, result: AuditResult) -> list[str]:
    """The sensitive features: the spec's, else the attributes of every failed check."""
    rt = _retrain(spec)
    if rt.attributes is not None:
        return list(rt.attributes)
    failed = {a for c in result.checks if c.verdict == "fail" for a in (c.attributes or {})}
    return [p.name for p in spec.protected if p.name in failed]


def retrain_plan(
    spec: AuditSpec, model: SklearnModel, attributes: Sequence[str]
) -> tuple[list[str], list[OptionNotRun]]:
    """Which methods run, and the others with the reason they do not.

    Checks the estimator can take what each running method gives it (a located SpecError
    when not), so that nothing is trained before every problem is known.
    """
    rt = _retrain(spec)
    constraint = constraint_of(spec)
    run: list[str] = []
    not_run: list[OptionNotRun] = []
    for i, method in enumerate(rt.methods):
        name = option_name(method, constraint)
        reason = None
        if not attributes:
            reason = (
                "no check failed, so there is no group to protect; name the sensitive "
                "attributes in recommend.retrain.attributes to retrain anyway"
            )
        elif method == "threshold_optimizer" and not rt.group_thresholds_lawful:
            reason = (
                f"it sets a separate threshold for each group of {', '.join(attributes)} and "
                "reads the protected attribute when deciding; the spec does not declare "
                "that lawful (recommend.retrain.group_thresholds_lawful: true)"
            )
        if reason is not None:
            not_run.append(
                OptionNotRun(
                    name=name,
                    kind="retrain",
                    description=f"fairlearn {_LABELS[method]}, {constraint}"
                    if method != "reweighing"
                    else "Kamiran-Calders reweighing",
                    reason=reason,
                )
            )
            continue
        _check_estimator(spec, model, method, i)
        run.append(method)
    return run, not_run


def _check_estimator(spec: AuditSpec, model: SklearnModel, method: str, i: int) -> None:
    from sklearn.base import is_classifier

    est = model.estimator
    loc = (*_LOC, "methods", i)
    if method == "exponentiated_gradient" and not is_classifier(est):
        raise spec.error(
            f"exponentiated_gradient needs a classifier; the audited estimator is a "
            f"{_describe(est)}",
            loc=loc,
            fix="remove exponentiated_gradient from recommend.retrain.methods",
        )
    if method in ("exponentiated_gradient", "reweighing") and sample_weight_param(est) is None:
        raise spec.error(
            f"{method} refits the estimator with sample weights, but the fit() of the "
            f"{_describe(est)} takes no sample_weight",
            loc=loc,
            fix=f"remove {method} from recommend.retrain.methods, or audit an estimator whose "
            "fit() accepts sample_weight (for a Pipeline: its final step's)",
        )


def _describe(est: Any) -> str:
    from sklearn.pipeline import Pipeline

    if isinstance(est, Pipeline):
        last = est.steps[-1][1]
        return f"Pipeline ending in {_describe(last)}"
    return type(est).__name__


def sample_weight_param(estimator: Any) -> str | None:
    """The fit() keyword that takes sample weights (``clf__sample_weight`` for a Pipeline
    whose final step is ``clf``), or None when the estimator takes none."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import has_fit_parameter

    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        if last is None or isinstance(last, str):  # "passthrough"
            return None
        inner = sample_weight_param(last)
        return None if inner is None else f"{name}__{inner}"
    try:
        return "sample_weight" if has_fit_parameter(estimator, "sample_weight") else None
    except (TypeError, ValueError):
        return None


def seeded_clone(estimator: Any, seed: int) -> Any:
    """An unfitted copy (``sklearn.base.clone``) with every unset ``random_state`` = seed."""
    from sklearn.base import clone

    est = clone(estimator)
    unset = {
        k: seed
        for k, v in est.get_params(deep=True).items()
        if (k == "random_state" or k.endswith("__random_state")) and v is None
    }
    if unset:
        est.set_params(**unset)
    return est


def kamiran_calders_weights(groups: Any, y: Any) -> np.ndarray:
    """Kamiran & Calders (2012) reweighing: ``w = P(a) P(y) / P(a, y)`` for each row.

    ``groups``: one group key per row (the combination of the sensitive attributes);
    ``y``: the label. With these weights, the weighted label rate is the same in every group.
    """
    a_codes, _ = pd.factorize(pd.Series(np.asarray(groups, dtype=object)), use_na_sentinel=False)
    y_codes, y_values = pd.factorize(pd.Series(np.asarray(y)), use_na_sentinel=False)
    n = len(a_codes)
    if n == 0:
        return np.zeros(0, dtype="float64")
    k = len(y_values)
    n_a = np.bincount(a_codes).astype("float64")
    n_y = np.bincount(y_codes, minlength=k).astype("float64")
    n_ay = np.bincount(a_codes * k + y_codes, minlength=len(n_a) * k).astype("float64")
    # P(a) P(y) / P(a, y) = n_a n_y / (n n_ay); every row's own cell has n_ay >= 1
    return n_a[a_codes] * n_y[y_codes] / (n * n_ay[a_codes * k + y_codes])


@contextlib.contextmanager
def _quiet_fairlearn() -> Iterator[None]:
    """fairlearn 0.15 sets Series items in ways pandas 3 deprecates (Pandas4Warning): the
    results are unaffected; silence those warnings, raised from fairlearn's frames only."""
    with warnings.catch_warnings():
        category = getattr(pd.errors, "Pandas4Warning", None)
        if category is not None:
            warnings.filterwarnings("ignore", category=category, module=r"fairlearn(\.|$)")
        yield


def _features(model: SklearnModel, frame: pd.DataFrame) -> Any:
    missing = [c for c in model.columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"the data lacks column(s) the model reads: {missing}",
            fix="the training and audit data need the columns the model was trained on",
        )
    X = frame.loc[:, list(model.columns)].reset_index(drop=True)
    return X if model.by_name else X.to_numpy()


def _decide(p: np.ndarray) -> Prediction:
    p = np.asarray(p, dtype="float64")
    return Prediction(decision=(p >= 0.5).astype("int8"), score=p)


class _Mixture(Model):
    """A fitted ExponentiatedGradient: selected where the mixture's P(select) >= 0.5.

    P(select) is computed from fairlearn's public ``predictors_`` and ``weights_`` (what its
    randomised ``predict`` draws from, and equal to its ``_pmf_predict``).
    """

    def __init__(self, base: SklearnModel, eg: Any, provenance: dict[str, Any]) -> None:
        self.base = base
        self.eg = eg
        self.columns = tuple(base.columns)
        self._provenance = provenance
        self._used = [
            (float(w), eg.predictors_[i]) for i, w in eg.weights_.items() if float(w) > 0.0
        ]

    def provenance(self) -> dict[str, Any]:
        return dict(self._provenance)

    def predict(self, frame: pd.DataFrame) -> Prediction:
        if len(frame) == 0:
            return _decide(np.zeros(0))
        X = _features(self.base, frame)
        p = np.zeros(len(frame), dtype="float64")
        for w, h in self._used:
            p += w * np.asarray(h.predict(X), dtype="float64")
        return _decide(p)


class _GroupThresholds(Model):
    """A fitted ThresholdOptimizer: selected where P(select | score, group) >= 0.5."""

    def __init__(
        self,
        base: SklearnModel,
        to: Any,
        groups_of: GroupsOf,
        group_columns: Sequence[str],
        known: set[str],
        provenance: dict[str, Any],
    ) -> None:
        self.base = base
        self.to = to
        self.groups_of = groups_of
        self.known = known
        self.columns = tuple(dict.fromkeys([*base.columns, *group_columns]))
        self._provenance = provenance

    def provenance(self) -> dict[str, Any]:
        return dict(self._provenance)

    def predict(self, frame: pd.DataFrame) -> Prediction:
        if len(frame) == 0:
            return _decide(np.zeros(0))
        groups = self.groups_of(frame)
        unseen = sorted(set(pd.unique(groups)) - self.known)
        if unseen:
            # fairlearn would select nobody in a group it has no threshold for: refuse
            raise InputError(
                f"the audit data has group(s) the training data lacks: {unseen[:5]}; the "
                "threshold optimizer has no threshold for them",
                fix="add training rows for every group, or remove threshold_optimizer from "
                "recommend.retrain.methods",
            )
        X = _features(self.base, frame)
        with _quiet_fairlearn():
            p = self.to._pmf_predict(X, sensitive_features=groups)[:, 1]
        return _decide(p)


def train_option(
    method: str,
    spec: AuditSpec,
    model: SklearnModel,
    train: TrainingSet,
    groups_of: GroupsOf,
    group_columns: Sequence[str],
) -> Candidate:
    """Train one method on the training set; return it as a mitigation option."""
    rt = _retrain(spec)
    constraint = constraint_of(spec)
    X = _features(model, train.frame)
    attrs = ", ".join(train.attributes)
    on = (
        f"{train.path.name} ({len(train.y):,} rows, label '{train.label}') with the "
        f"sensitive feature{'s' if len(train.attributes) > 1 else ''} {attrs}"
    )
    est = _describe(model.estimator)
    prov = {**model.provenance(), "retrained": method, "training_data": str(train.path)}
    try:
        if method == "exponentiated_gradient":
            from fairlearn import reductions

            weight = sample_weight_param(model.estimator)
            assert weight is not None  # retrain_plan checked
            moment_cls = getattr(reductions, CONSTRAINTS[constraint])
            eg = reductions.ExponentiatedGradient(
                seeded_clone(model.estimator, spec.seed),
                moment_cls(difference_bound=rt.difference_bound),
                eps=rt.eps,
                max_iter=rt.max_iter,
                sample_weight_name=weight,
            )
            with _quiet_fairlearn():
                eg.fit(X, train.y, sensitive_features=train.groups)
            built: Model = _Mixture(model, eg, prov)
            used = int((eg.weights_ > 0).sum())
            desc = (
                f"fairlearn ExponentiatedGradient({est}, "
                f"{moment_cls.__name__}(difference_bound={rt.difference_bound:g}), "
                f"eps={rt.eps:g}, max_iter={rt.max_iter}) trained on {on}; a mixture of "
                f"{used} refitted classifier(s), decided deterministically: selected where "
                "the mixture's probability of selecting is at least 0.5"
            )
        elif method == "reweighing":
            weight = sample_weight_param(model.estimator)
            assert weight is not None
            w = kamiran_calders_weights(train.groups, train.y)
            refit = seeded_clone(model.estimator, spec.seed)
            refit.fit(X, train.y, **{weight: w})
            classes = getattr(refit, "classes_", None)
            built = SklearnModel(
                refit,
                columns=model.columns,
                by_name=model.by_name,
                positive=1,
                positive_index=None if classes is None else [*classes].index(1),
                threshold=model.threshold,
                provenance=prov,
            )
            rule = (
                f"selected where its score is at least {model.threshold:g}, as now"
                if model.threshold is not None
                else "its predicted class decides, as now"
            )
            desc = (
                f"{est} refit on {on}, weighting each row by P(a)P(y)/P(a,y) (Kamiran-Calders; "
                f"weights {w.min():.3g} to {w.max():.3g}, passed as {weight}); {rule}"
            )
        elif method == "threshold_optimizer":
            from fairlearn.postprocessing import ThresholdOptimizer

            # prefit when the estimator's second output is the positive class (the score
            # fairlearn reads); otherwise a copy is refit on the 0/1 label
            prefit = model.positive_index in (1, None)
            predict_method = model.score_method or "predict"
            to = ThresholdOptimizer(
                estimator=model.estimator if prefit else seeded_clone(model.estimator, spec.seed),
                constraints=constraint,
                objective=rt.threshold_objective,
                prefit=prefit,
                predict_method=predict_method,
            )
            with _quiet_fairlearn():
                to.fit(X, train.y, sensitive_features=train.groups)
            known = {str(g) for g in pd.unique(train.groups)}
            built = _GroupThresholds(model, to, groups_of, group_columns, known, prov)
            base = "the audited estimator (prefit)" if prefit else f"a refit copy of the {est}"
            desc = (
                f"fairlearn ThresholdOptimizer(constraints={constraint}, "
                f"objective={rt.threshold_objective}, predict_method={predict_method}) on "
                f"{base}, thresholds fitted on {on}: a separate threshold for each group of "
                f"{attrs}, read at decision time (declared lawful in the spec); decided "
                "deterministically: selected where the probability of selecting is at "
                "least 0.5"
            )
        else:  # pragma: no cover - the spec's Literal allows no other
            raise ValueError(method)
    except FairauditError:
        raise
    except Exception as exc:
        raise InputError(
            f"{_LABELS[method]} could not be trained: {type(exc).__name__}: {exc}",
            file=train.path,
            fix="check the training data (both label values present in every group, the "
            "model's columns and types), or remove the method from recommend.retrain.methods",
        ) from exc
    return Candidate(option_name(method, constraint), "retrain", desc, lambda: built)
