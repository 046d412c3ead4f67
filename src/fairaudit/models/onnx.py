"""The ``onnx`` loader: a model exported to ONNX (e.g. by skl2onnx), run with onnxruntime.

ONNX files hold a computation graph, not code, so they are loaded without a trust flag.
Two ways of feeding the model are supported:

* one input (e.g. ``X`` of shape ``[n, k]``): the feature columns are stacked, in order,
  into one array of the input's type;
* several inputs (what skl2onnx produces for a DataFrame of mixed types): each feature
  column is fed as its own input, named after the column, of shape ``[n, 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from fairaudit.errors import InputError, MissingExtraError
from fairaudit.models._common import (
    PredictorModel,
    PredictorOptions,
    _decisions,
    _empty_prediction,
    _labels_to_decision,
    _missing_file,
    _plain,
    _positive_index,
    _take,
)
from fairaudit.models.base import (
    LoadContext,
    Model,
    ModelLoader,
    Prediction,
    decision_from_score,
    file_sha256,
)

__all__ = ["OnnxLoader", "OnnxModel", "OnnxOptions"]

# ONNX tensor element types -> numpy dtypes (strings are fed as object arrays of str).
_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}
_LABEL_NAMES = ("output_label", "label")
_PROBA_NAMES = ("output_probability", "probabilities", "probability")


class OnnxOptions(PredictorOptions):
    """Options of the ``onnx`` loader."""

    path: str = Field(description="The .onnx file.")
    input_name: str | None = Field(
        None,
        description="For a single-input model, the input fed with all feature columns. "
        "Default: the model's only input. Models with several inputs get one column each.",
    )
    label_output: str | None = Field(
        None,
        description="The output holding predicted labels. Default: 'output_label' or "
        "'label' (skl2onnx's names), else the only 1-D tensor output.",
    )
    probability_output: str | None = Field(
        None,
        description="The output holding class probabilities, a [n, classes] tensor or a "
        "list of {class: probability} maps (ZipMap). Default: 'output_probability' or "
        "'probabilities' (skl2onnx's names), else the only such output.",
    )


class OnnxModel(PredictorModel):
    """An ONNX graph run by onnxruntime on the CPU.

    Parameters
    ----------
    session
        The ``onnxruntime.InferenceSession``.
    columns
        The feature columns, in order.
    feeds
        ``(input name, columns, numpy dtype)`` for each model input.
    label_output, probability_output
        Output names (either may be ``None``, not both).
    classes
        The model's classes in probability-column order, when known.
    positive, positive_index
        The class meaning "selected" and its probability column.
    threshold
        Decide by ``score >= threshold`` instead of by the label.
    provenance
        What identifies the model file.
    """

    def __init__(
        self,
        session: Any,
        *,
        columns: Sequence[str],
        feeds: list[tuple[str, list[str], Any]],
        label_output: str | None,
        probability_output: str | None,
        classes: list[Any] | None,
        positive: Any,
        positive_index: int | None,
        threshold: float | None,
        provenance: dict[str, Any],
    ) -> None:
        super().__init__(
            columns=columns,
            positive=positive,
            positive_index=positive_index,
            threshold=threshold,
            provenance=provenance,
        )
        self.session = session
        self.feeds = feeds
        self.label_output = label_output
        self.probability_output = probability_output
        self.classes = classes
        self._path = provenance["path"]

    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Run the graph on ``frame``'s feature columns and read label and probability."""
        X = _take(frame, self.columns, "onnx")
        if len(X) == 0:
            return _empty_prediction(self.probability_output is not None)
        feed = {name: _as_input(X, cols, dtype) for name, cols, dtype in self.feeds}
        wanted = [o for o in (self.label_output, self.probability_output) if o is not None]
        try:
            outputs = dict(zip(wanted, self.session.run(wanted, feed), strict=True))
        except Exception as exc:
            raise InputError(
                f"onnxruntime could not run the model: {type(exc).__name__}: {exc}",
                file=self._path,
                fix="check the data's columns and types match the model's inputs",
            ) from exc
        score = None
        if self.probability_output is not None:
            score = self._probability(outputs[self.probability_output], len(X))
        if self.threshold is not None and score is not None:
            return Prediction(decision=decision_from_score(score, self.threshold), score=score)
        if self.label_output is not None:
            labels = np.asarray(outputs[self.label_output])
            if self.threshold is not None:  # a single numeric output used as the score
                score = np.asarray(labels, dtype="float64").reshape(len(X))
                return Prediction(decision=decision_from_score(score, self.threshold), score=score)
            if self.classes is None:
                decision = _decisions(
                    labels.reshape(len(X)),
                    what="the model's label output",
                    positive=self.positive,
                    file=self._path,
                )
            else:
                decision = _labels_to_decision(labels.reshape(len(X)), self.positive)
            return Prediction(decision=decision, score=score)
        # Probabilities only: the predicted class is the most probable one.
        proba = self._matrix(outputs[self.probability_output], len(X))  # type: ignore[index]
        decision = (proba.argmax(axis=1) == self.positive_index).astype("int8")
        return Prediction(decision=decision, score=score)

    def _probability(self, raw: Any, n: int) -> np.ndarray:
        if isinstance(raw, list):  # ZipMap: one {class: probability} per row
            key = self.positive
            if raw and key not in raw[0]:
                raise InputError(
                    f"the class {key!r} is not among the model's classes {list(raw[0])}",
                    file=self._path,
                    fix="set model.positive_class to one of them",
                )
            return np.fromiter((row[key] for row in raw), dtype="float64", count=n)
        return np.ascontiguousarray(self._matrix(raw, n)[:, self.positive_index])

    def _matrix(self, raw: Any, n: int) -> np.ndarray:
        if isinstance(raw, list):
            keys = self.classes if self.classes is not None else list(raw[0])
            return np.array([[row[k] for k in keys] for row in raw], dtype="float64")
        return np.asarray(raw, dtype="float64").reshape(n, -1)


class OnnxLoader(ModelLoader):
    """Load an ONNX model and run it with onnxruntime (CPU).

    Decision: the label output equal to ``positive_class``, or ``score >= threshold`` when a
    threshold is given. Score: the probability of ``positive_class``, when the model has a
    probability output.
    """

    name = "onnx"
    description = "ONNX model run with onnxruntime (e.g. converted by skl2onnx)"
    Options = OnnxOptions

    def load(self, options: OnnxOptions, context: LoadContext) -> Model:
        """Open an inference session, match inputs to columns and find the outputs."""
        path = context.resolve(options.path)
        if not path.is_file():
            raise _missing_file(path, "path", context)
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingExtraError("onnx", "onnxruntime", plugin=self.name) from None
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InputError(
                f"onnxruntime cannot open the model: {type(exc).__name__}: {exc}",
                file=path,
                fix="check the file is an ONNX model (e.g. written by skl2onnx)",
            ) from exc

        columns, feeds = _plan_inputs(session.get_inputs(), options, path)
        label, proba = _find_outputs(session.get_outputs(), options, path)
        classes = _graph_classes(path)
        if classes is not None and proba is not None:
            node = next(o for o in session.get_outputs() if o.name == proba)
            width = node.shape[-1] if isinstance(node.shape, list) and node.shape else None
            if isinstance(width, int) and width != len(classes):
                classes = None  # not the classes of this output, whatever they are
        positive: Any = options.positive_class
        positive_index: int | None = None
        if classes is not None:
            positive_index = _positive_index(classes, options.positive_class, file=path)
            positive = classes[positive_index]
        elif proba is not None:
            if options.positive_class is not None:
                raise InputError(
                    "the model does not list its classes, so which probability column is "
                    f"positive_class {options.positive_class!r}?",
                    file=path,
                    fix="leave model.positive_class out (the second column is used, as "
                    "scikit-learn orders classes [0, 1]), or export the model with skl2onnx",
                )
            positive, positive_index = 1, 1
        if (
            options.threshold is not None
            and proba is None
            and (label is None or not _is_numeric(session.get_outputs(), label))
        ):
            raise InputError(
                "a threshold was given, but the model has no probability or score output",
                file=path,
                fix="remove model.threshold, or set model.probability_output",
            )

        meta = session.get_modelmeta()
        provenance = {
            "loader": self.name,
            "path": str(path),
            "sha256": file_sha256(path),
            "producer": f"{meta.producer_name} {meta.version}".strip(),
            "inputs": [name for name, _, _ in feeds],
            "outputs": [o for o in (label, proba) if o],
            "onnxruntime_version": ort.__version__,
        }
        return OnnxModel(
            session,
            columns=columns,
            feeds=feeds,
            label_output=label,
            probability_output=proba,
            classes=classes,
            positive=positive,
            positive_index=positive_index,
            threshold=options.threshold,
            provenance=provenance,
        )


def _dtype(node: Any, path: Path) -> Any:
    try:
        return _DTYPES[node.type]
    except KeyError:
        raise InputError(
            f"the model input {node.name!r} has type {node.type}, which fairaudit cannot feed",
            file=path,
            fix="export the model with tensor inputs of numbers, strings or booleans",
        ) from None


def _plan_inputs(
    inputs: list[Any], options: OnnxOptions, path: Path
) -> tuple[list[str], list[tuple[str, list[str], Any]]]:
    """Which columns go to which input, with which dtype."""
    names = [i.name for i in inputs]
    if options.input_name is not None and options.input_name not in names:
        raise InputError(
            f"the model has no input {options.input_name!r} (its inputs: {names})",
            file=path,
            fix="set model.input_name to one of them, or leave it out",
        )
    if len(inputs) == 1:
        node = inputs[0]
        if options.features is None:
            raise InputError(
                f"the model has one input {node.name!r}; which columns go into it?",
                file=path,
                fix="list them, in training order, under model.features",
            )
        width = node.shape[-1] if len(node.shape) >= 2 else None
        if isinstance(width, int) and width != len(options.features):
            raise InputError(
                f"the model input {node.name!r} takes {width} columns, but model.features "
                f"lists {len(options.features)}",
                file=path,
                fix="list exactly the columns the model was trained on, in order",
            )
        cols = list(options.features)
        return cols, [(node.name, cols, _dtype(node, path))]
    if options.input_name is not None:
        raise InputError(
            f"the model has {len(inputs)} inputs {names}; model.input_name only applies to a "
            "model with one input",
            file=path,
            fix="leave model.input_name out: each input is fed the column of the same name",
        )
    # One input per column, named after it (skl2onnx's convention for DataFrames).
    if options.features is not None and set(options.features) != set(names):
        raise InputError(
            f"the model's inputs {names} are fed from columns of the same names, but "
            f"model.features lists {options.features}",
            file=path,
            fix="leave model.features out, or rename the data's columns to the input names",
        )
    for node in inputs:
        width = node.shape[-1] if len(node.shape) >= 2 else 1
        if isinstance(width, int) and width != 1:
            raise InputError(
                f"the model has several inputs, and input {node.name!r} takes {width} "
                "columns; fairaudit feeds one column per input",
                file=path,
                fix="export the model with one input per column, or one input for all",
            )
    return names, [(node.name, [node.name], _dtype(node, path)) for node in inputs]


def _find_outputs(
    outputs: list[Any], options: OnnxOptions, path: Path
) -> tuple[str | None, str | None]:
    by_name = {o.name: o for o in outputs}
    for given in (options.label_output, options.probability_output):
        if given is not None and given not in by_name:
            raise InputError(
                f"the model has no output {given!r} (its outputs: {list(by_name)})",
                file=path,
                fix="name one of its outputs",
            )

    def rank(o: Any) -> int:
        return len(o.shape) if isinstance(o.shape, list) else 0

    def probability_like(o: Any) -> bool:
        if o.type.startswith("seq(map("):
            return True
        width = o.shape[-1] if rank(o) == 2 else None
        return o.type in ("tensor(float)", "tensor(double)") and rank(o) == 2 and width != 1

    label = options.label_output or next((n for n in _LABEL_NAMES if n in by_name), None)
    proba = options.probability_output or next((n for n in _PROBA_NAMES if n in by_name), None)
    if label is None and proba is None and len(outputs) == 1:
        # One output: probabilities, or else labels/scores (e.g. a regressor's 'variable').
        if probability_like(outputs[0]):
            proba = outputs[0].name
        else:
            label = outputs[0].name
    if label is None:
        ones = [o.name for o in outputs if o.name != proba and rank(o) == 1]
        label = ones[0] if len(ones) == 1 else None
    if proba is None:
        candidates = [o.name for o in outputs if o.name != label and probability_like(o)]
        proba = candidates[0] if len(candidates) == 1 else None
    if label is None and proba is None:
        raise InputError(
            f"cannot tell which of the model's outputs {list(by_name)} is the label or "
            "the probability",
            file=path,
            fix="set model.label_output and/or model.probability_output",
        )
    return label, proba


def _is_numeric(outputs: list[Any], name: str) -> bool:
    node = next(o for o in outputs if o.name == name)
    return node.type in _DTYPES and node.type not in ("tensor(string)", "tensor(bool)")


def _graph_classes(path: Path) -> list[Any] | None:
    """The class labels the graph declares, in probability-column order, when it does.

    Looked for in a ZipMap node, else a classifier node (``classlabels_*`` attributes), else
    the constant a label is picked from (skl2onnx builds a double-precision linear
    classifier from plain operators and picks its label with ``ArrayFeatureExtractor``).
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:  # onnxruntime alone can run the model; classes just stay unknown
        return None
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # onnxruntime opened it already; a reader hiccup is not fatal here
        return None
    declared: list[Any] | None = None
    for node in graph.node:
        for attr in node.attribute:
            if attr.name in ("classlabels_int64s", "classlabels_ints"):
                labels: list[Any] = [int(v) for v in attr.ints]
            elif attr.name == "classlabels_strings":
                labels = [v.decode() for v in attr.strings]
            else:
                continue
            if not labels:
                continue
            if node.op_type == "ZipMap":
                return labels
            declared = labels
    if declared is not None:
        return declared
    constants = {init.name: init for init in graph.initializer}
    picked: list[Any] | None = None
    for node in graph.node:
        if node.op_type == "ArrayFeatureExtractor" and node.input and node.input[0] in constants:
            values = numpy_helper.to_array(constants[node.input[0]])
            if values.ndim == 1 and values.dtype.kind in "iuOSU":
                picked = [v.decode() if isinstance(v, bytes) else _plain(v) for v in values]
    return picked


def _as_input(X: pd.DataFrame, cols: list[str], dtype: Any) -> np.ndarray:
    """The columns as one 2-D array of the input's dtype, refusing values it cannot hold."""
    part = X.loc[:, cols]
    if dtype is object:
        missing = part.isna().any()
        if missing.any():
            col = str(missing[missing].index[0])
            raise InputError(
                "the column has missing values, which the model's text input cannot hold",
                column=col,
                fix="fill them (e.g. with an 'unknown' category) before the audit",
            )
        return part.astype(str).to_numpy(dtype=object)
    try:
        if np.issubdtype(dtype, np.integer) or dtype is np.bool_:
            missing = part.isna().any()
            if missing.any():
                col = str(missing[missing].index[0])
                raise InputError(
                    "the column has missing values, which the model's integer input cannot hold",
                    column=col,
                    fix="fill them before the audit, or export the model with float inputs",
                )
        return part.to_numpy(dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"cannot convert column(s) {cols} to {np.dtype(dtype).name}: {exc}",
            column=cols[0] if len(cols) == 1 else None,
            fix="the column's values must match the model input's type",
        ) from exc
