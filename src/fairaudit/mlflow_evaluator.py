"""A fairaudit evaluator inside MLflow's own evaluation (entry point ``mlflow.model_evaluator``).

    mlflow.models.evaluate(
        model_uri, data, targets="eligible", model_type="classifier",
        evaluators=["fairaudit"],
        evaluator_config={"fairaudit": {
            "protected": [{"name": "region"}, {"name": "sex"}],   # as in an audit spec
            "intervention": "assistive",
            "gates": [{"id": "fnr", "metric": "exclusion_error", "measure": "ratio",
                       "max": 1.25}],
            "threshold": 0.5,          # only if the model returns scores
        }},
    )

runs the same audit as ``fairaudit check`` on the evaluation data and the model's
predictions (the protected columns must be in ``data``), and logs the same metrics, tags
and artifacts into the evaluation's run. Every key of an audit spec may be given in the
config except ``data`` and ``model``, which come from MLflow.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FairauditEvaluator"]

_LABEL = "__fairaudit_label__"
_DECISION = "__fairaudit_decision__"
_SCORE = "__fairaudit_score__"

try:  # MLflow is an optional extra; the entry point is only loaded by MLflow itself
    from mlflow.models.evaluation import ModelEvaluator as _Base
except ImportError:  # pragma: no cover - without MLflow this module is never loaded
    _Base = object  # type: ignore[assignment,misc]


class FairauditEvaluator(_Base):
    """Runs a fairaudit audit on an MLflow evaluation dataset."""

    @classmethod
    def can_evaluate(
        cls, *, model_type: str, evaluator_config: dict[str, Any], **kwargs: Any
    ) -> bool:
        return model_type in ("classifier", None)

    def evaluate(
        self,
        *,
        model_type: str,
        dataset: Any,
        run_id: str,
        evaluator_config: dict[str, Any],
        model: Any = None,
        **kwargs: Any,
    ) -> Any:
        import mlflow
        from mlflow.models.evaluation import EvaluationResult
        from mlflow.tracking import MlflowClient

        from fairaudit.audit import run_audit
        from fairaudit.report import summary_markdown
        from fairaudit.results import atomic_write_text
        from fairaudit.spec import spec_from_dict
        from fairaudit.tracking import _flat_metrics

        config = dict(evaluator_config or {})
        threshold = config.pop("threshold", None)
        frame = pd.DataFrame(dataset.features_data).reset_index(drop=True)
        if dataset.labels_data is None:
            raise ValueError("fairaudit needs targets: pass targets= to mlflow.models.evaluate")
        frame[_LABEL] = np.asarray(dataset.labels_data)
        if model is not None:
            names = _input_names(model) or list(dataset.feature_names)
            raw = model.predict(frame[[c for c in names if c in frame.columns]])
        else:
            raw = dataset.predictions_data
        out = np.asarray(raw.iloc[:, 0] if isinstance(raw, pd.DataFrame) else raw)
        loader: dict[str, Any] = {"loader": "column"}
        if threshold is not None:
            frame[_SCORE] = out.astype("float64")
            loader.update(score=_SCORE, threshold=float(threshold))
        else:
            frame[_DECISION] = out
            loader.update(decision=_DECISION)
        with tempfile.TemporaryDirectory() as tmp:
            data_path = Path(tmp) / "evaluation.parquet"
            frame.to_parquet(data_path, index=False)
            spec = spec_from_dict(
                {
                    "name": config.pop("name", "mlflow-evaluate"),
                    "intervention": config.pop("intervention", "assistive"),
                    "data": {"path": str(data_path), "label": _LABEL},
                    "model": loader,
                    **config,
                },
                base_dir=Path(tmp),
            )
            result = run_audit(spec)
            files = {
                "results.json": atomic_write_text(Path(tmp) / "results.json", result.to_json()),
                "summary.md": atomic_write_text(Path(tmp) / "summary.md", summary_markdown(result)),
            }
            files.update(_cards(result, spec, Path(tmp)))
            client = MlflowClient(tracking_uri=mlflow.get_tracking_uri())
            metrics = _flat_metrics(result)
            for path in files.values():
                client.log_artifact(run_id, str(path), artifact_path="fairaudit")
            for i in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[i : i + 1000])
            client.set_tag(run_id, "fairaudit.status", result.status)
            client.set_tag(
                run_id,
                "fairaudit.failed_gates",
                ",".join(sorted({c.id for c in result.checks if c.verdict == "fail"})),
            )
        return EvaluationResult(
            metrics={m.key: m.value for m in metrics}, artifacts={}, run_id=run_id
        )


def _cards(result: Any, spec: Any, folder: Path) -> dict[str, Path]:
    """The rendered cards, when the ``card`` extra is installed (else none)."""
    from fairaudit.errors import MissingExtraError
    from fairaudit.results import atomic_write_text

    try:
        from fairaudit.card import build_card, render_html, render_json, render_markdown

        card = build_card(result, spec)
        texts = {
            "card.html": render_html(card),
            "card.md": render_markdown(card),
            "card.json": render_json(card),
        }
    except MissingExtraError:
        return {}
    return {name: atomic_write_text(folder / name, text) for name, text in texts.items()}


def _input_names(model: Any) -> list[str] | None:
    try:
        schema = model.metadata.get_input_schema()
    except AttributeError:
        return None
    if schema is None or not schema.has_input_names():
        return None
    return list(schema.input_names())
