"""Model loaders: the contract (:mod:`fairaudit.models.base`) and the built-in plugins."""

from fairaudit.models.base import (
    LoadContext,
    LoaderOptions,
    Model,
    ModelLoader,
    Prediction,
    binary_decision,
    decision_from_score,
    file_sha256,
)

__all__ = [
    "LoadContext",
    "LoaderOptions",
    "Model",
    "ModelLoader",
    "Prediction",
    "binary_decision",
    "decision_from_score",
    "file_sha256",
]
