"""Errors and exit codes.

The exception tree::

    FairauditError              base; exit code 2 unless a subclass says otherwise
    ├── SpecError               the audit spec (or a rules file) is wrong: path, YAML line, field
    ├── InputError              the data or a model file is wrong: file, column
    │   └── UntrustedModelError a pickle/joblib file without ``trusted: true``, or a skops
    │                           file holding types nobody has reviewed
    ├── PluginError             a plugin is missing, broken or unknown
    │   └── MissingExtraError   an optional dependency (``pip install 'fairaudit[x]'``) is absent
    └── InternalError           a bug in fairaudit: exit code 3

Every error carries its context as attributes (``path``, ``line``, ``field``, ``column``,
``fix``) and renders as one to three lines: what, where, and the fix. The CLI prints
:meth:`FairauditError.render` to stderr without a traceback.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path

__all__ = [
    "ExitCode",
    "FairauditError",
    "InputError",
    "InternalError",
    "MissingExtraError",
    "PluginError",
    "SpecError",
    "UntrustedModelError",
]


class ExitCode(IntEnum):
    """Process exit codes of the ``fairaudit`` command."""

    OK = 0
    """Every gate passed (or the audit ran and ``--exit-zero`` was given)."""
    GATE_FAILED = 1
    """At least one gate failed (or insufficient evidence, when the spec says it fails)."""
    USAGE = 2
    """Bad spec, bad input or bad usage; nothing was audited."""
    INTERNAL = 3
    """An internal error: a bug in fairaudit or a plugin."""


class FairauditError(Exception):
    """Base of every error fairaudit raises on purpose.

    Parameters
    ----------
    problem
        What is wrong, in one sentence.
    fix
        What the user should do about it.
    """

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, problem: str, *, fix: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def where(self) -> str:
        """The location prefix (file, line, field), or an empty string."""
        return ""

    def render(self) -> str:
        """The message as printed by the CLI: ``where: problem`` then ``  fix: ...``."""
        where = self.where()
        head = f"{where}: {self.problem}" if where else self.problem
        return head if not self.fix else f"{head}\n  fix: {self.fix}"

    def __str__(self) -> str:
        return self.render()


def _fmt_path(path: str | Path | None) -> str | None:
    return None if path is None else str(path)


class SpecError(FairauditError):
    """The audit spec (or another YAML file it points to) is invalid.

    Attributes
    ----------
    path, line, field
        The file, its 1-based line (when known) and the dotted field, e.g.
        ``gates[1].threshold``.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(problem, fix=fix)
        self.path = _fmt_path(path)
        self.line = line
        self.field = field
        self.more: list[SpecError] = []

    @classmethod
    def many(cls, errors: list[SpecError]) -> SpecError:
        """One error that reports all of ``errors`` (collect, don't stop)."""
        first = errors[0]
        first.more = list(errors[1:])
        return first

    def render(self) -> str:
        own = super().render()
        return "\n".join([own, *(e.render() for e in self.more)])

    def where(self) -> str:
        parts = []
        if self.path:
            parts.append(self.path if self.line is None else f"{self.path}:{self.line}")
        if self.field:
            parts.append(self.field)
        return ": ".join(parts)


class InputError(FairauditError):
    """The data or a model file cannot be audited as given.

    Attributes
    ----------
    file, column
        The file and the column concerned, when known.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(problem, fix=fix)
        self.file = _fmt_path(file)
        self.column = column

    def where(self) -> str:
        parts = [p for p in (self.file, f"column {self.column!r}" if self.column else None) if p]
        return ": ".join(parts)


class UntrustedModelError(InputError):
    """A model file that would run code on loading was not declared trusted."""


class PluginError(FairauditError):
    """A plugin is unknown, broken, or returned something it should not."""

    def __init__(self, problem: str, *, plugin: str | None = None, fix: str | None = None):
        super().__init__(problem, fix=fix)
        self.plugin = plugin

    def where(self) -> str:
        return f"plugin {self.plugin!r}" if self.plugin else ""


class MissingExtraError(PluginError):
    """An optional dependency is not installed."""

    def __init__(self, extra: str, module: str, *, plugin: str | None = None) -> None:
        super().__init__(
            f"this needs the optional dependency {module!r}, which is not installed",
            plugin=plugin,
            fix=f"pip install 'fairaudit[{extra}]'",
        )
        self.extra = extra
        self.module = module


class InternalError(FairauditError):
    """Something fairaudit should have prevented; please report it."""

    exit_code = ExitCode.INTERNAL
