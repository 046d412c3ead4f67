"""fairaudit: audit the models governments use to decide who gets public services.

The public API (everything else is internal)::

    from fairaudit import load_spec, run_audit
    result = run_audit(load_spec("audits/kenya_sha_pmt.yaml"))
    print(result.status, result.summary)

Importing fairaudit is cheap: heavy libraries load only when a step needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fairaudit._version import __version__

__all__ = [
    "AuditResult",
    "AuditSpec",
    "ExitCode",
    "FairauditError",
    "InputError",
    "MissingExtraError",
    "PluginError",
    "SpecError",
    "__version__",
    "load_spec",
    "run_audit",
    "spec_from_dict",
]

from fairaudit.errors import (
    ExitCode,
    FairauditError,
    InputError,
    MissingExtraError,
    PluginError,
    SpecError,
)

if TYPE_CHECKING:
    from fairaudit.audit import run_audit
    from fairaudit.results import AuditResult
    from fairaudit.spec import AuditSpec, load_spec, spec_from_dict

_LAZY = {
    "run_audit": "fairaudit.audit",
    "AuditResult": "fairaudit.results",
    "AuditSpec": "fairaudit.spec",
    "load_spec": "fairaudit.spec",
    "spec_from_dict": "fairaudit.spec",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fairaudit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
