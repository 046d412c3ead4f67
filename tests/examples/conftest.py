"""Fixtures for the Digital Family Card example: the generator module and a population."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from fairaudit.rules import RuleSet, load_rules

DFC = Path(__file__).resolve().parents[2] / "examples" / "digital_family_card"


def _import_generator() -> ModuleType:
    name = "dfc_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DFC / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def dfc() -> ModuleType:
    """examples/digital_family_card/generate.py, imported as a module."""
    return _import_generator()


@pytest.fixture(scope="session")
def population(dfc: ModuleType) -> pd.DataFrame:
    """100,000 families with the example's default seed (the calibration sample)."""
    return dfc.generate(100_000, dfc.DEFAULT_SEED)


@pytest.fixture(scope="session")
def dfc_rules() -> RuleSet:
    return load_rules(DFC / "rules.yaml")
