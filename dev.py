#!/usr/bin/env python3
"""Set up and run fairaudit from a fresh clone, with nothing but Python 3.11+ and pip.

    python3 dev.py audit    create .venv if needed, install, run the flagship audit
    python3 dev.py test     create .venv if needed, install with test extras, run pytest
    python3 dev.py lint     ruff, mypy, and the drift check of generated files

Extra arguments after the command go to fairaudit (audit) or pytest (test). The virtual
environment is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
FLAGSHIP = ["check", "audits/digital_family_card.yaml", "--exit-zero"]


def _run(cmd: list[str | Path]) -> int:
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def ensure_venv(extras: str) -> None:
    """Create .venv and install fairaudit (editable) with ``extras`` unless up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script must explain, not crash
        sys.exit(f"fairaudit needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".fairaudit-installed-{extras or 'core'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    quiet = ["--quiet"] if os.environ.get("CI") else []
    if _run([PY, "-m", "pip", "install", *quiet, "--upgrade", "pip"]) != 0:
        sys.exit("could not upgrade pip in .venv")
    target = f".[{extras}]" if extras else "."
    if _run([PY, "-m", "pip", "install", *quiet, "--editable", target]) != 0:
        sys.exit(f"could not install fairaudit{'[' + extras + ']' if extras else ''} into .venv")
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"audit", "test", "lint"}:
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "audit":
        ensure_venv("card")
        return _run([BIN / "fairaudit", *(rest or FLAGSHIP)])
    ensure_venv("test")
    if cmd == "test":
        return _run([PY, "-m", "pytest", *rest])
    codes = [
        _run([PY, "-m", "ruff", "check", "src", "tests", "scripts", "examples", "dev.py"]),
        _run(
            [PY, "-m", "ruff", "format", "--check", "src", "tests", "scripts", "examples", "dev.py"]
        ),
        _run([PY, "-m", "mypy"]),
        _run([PY, "scripts/regenerate.py", "--check"]),
    ]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
