"""fairaudit's own components, registered through the same hooks as any plugin."""

from __future__ import annotations

from fairaudit.plugins import hookimpl


@hookimpl
def fairaudit_model_loaders() -> list[type]:
    from fairaudit.models.column import ColumnLoader
    from fairaudit.models.mlflow import MlflowLoader
    from fairaudit.models.onnx import OnnxLoader
    from fairaudit.models.python import PythonLoader
    from fairaudit.models.rules import RulesLoader
    from fairaudit.models.sklearn import SklearnLoader

    return [ColumnLoader, MlflowLoader, OnnxLoader, PythonLoader, RulesLoader, SklearnLoader]


@hookimpl
def fairaudit_data_readers() -> list[type]:
    from fairaudit.data import CsvReader, ParquetReader

    return [CsvReader, ParquetReader]
