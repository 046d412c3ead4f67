"""The explain package: explicit sorted public API, and no heavy import until used."""

from __future__ import annotations

import subprocess
import sys

import fairaudit.explain as explain_pkg


def test_all_resolves() -> None:
    # ruff's RUF022 keeps it sorted (constants first, isort-style)
    assert len(set(explain_pkg.__all__)) == len(explain_pkg.__all__)
    for name in explain_pkg.__all__:
        assert getattr(explain_pkg, name) is not None


def test_importing_explain_loads_no_heavy_library() -> None:
    heavy = ["shap", "matplotlib", "sklearn", "numba"]
    code = (
        "import sys, fairaudit.explain, fairaudit.explain.charts; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
