"""The package surface: public API, lazy imports, schema drift, results validity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fairaudit
from fairaudit.results import AuditResult, results_json_schema

REPO = Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_resolves() -> None:
    assert list(fairaudit.__all__) == sorted(fairaudit.__all__)
    for name in fairaudit.__all__:
        assert getattr(fairaudit, name) is not None


@pytest.mark.parametrize(
    "module,heavy",
    [
        ("fairaudit", ["pandas", "numpy", "sklearn", "mlflow", "pydantic"]),
        ("fairaudit.cli", ["pandas", "sklearn", "mlflow", "onnxruntime", "fairlearn"]),
        ("fairaudit.plugins", ["pandas", "sklearn", "mlflow"]),
    ],
)
def test_imports_stay_light(module: str, heavy: list[str]) -> None:
    code = (
        f"import sys, {module}; bad = [m for m in {heavy!r} if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_documents_the_spec() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fairaudit", "check", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for needle in ("intervention:", "gates:", "Exit codes", "--junit", "--reference"):
        assert needle in out.stdout


def test_committed_schema_is_current() -> None:
    committed = REPO / "src" / "fairaudit" / "schemas" / "results-1.schema.json"
    assert json.loads(committed.read_text()) == results_json_schema(), (
        "run: python scripts/regenerate.py"
    )


def test_results_validate_against_the_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from fairaudit.audit import run_audit
    from fairaudit.spec import load_spec

    result = run_audit(load_spec(REPO / "audits" / "kenya_sha_pmt.yaml"))
    data = json.loads(result.to_json())
    jsonschema.validate(data, results_json_schema())
    assert AuditResult.from_json(result.to_json()) == result
    for key in (
        "schema",
        "status",
        "intervention",
        "n_rows",
        "dropped",
        "overall",
        "groups",
        "checks",
        "provenance",
    ):
        assert key in data
    prov = data["provenance"]
    for key in ("fairaudit_version", "spec_sha256", "data_sha256", "model_sha256", "seed"):
        assert key in prov
    assert data["definitions"]["inclusion_error"].startswith("= false_discovery_rate")
