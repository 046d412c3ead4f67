"""YAML loading that remembers where every value came from.

``load_yaml_with_lines`` returns the plain Python object and a map from a location tuple
(``("gates", 1, "max")``) to its 1-based line, so validation errors can point at the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from fairaudit.errors import SpecError

Loc = tuple[str | int, ...]


def load_yaml_with_lines(path: Path, *, text: str | None = None) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file into Python objects plus a ``location -> line`` map.

    Raises
    ------
    SpecError
        When the file is missing, unreadable, or not valid YAML (with the line of the fault).
    """
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError(
                "file not found", path=path, fix="check the path (relative to the current folder)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"cannot read the file: {exc}", path=path) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise SpecError(
            f"not valid YAML: {exc.problem or exc}",
            path=path,
            line=line,
            fix="fix the YAML syntax at that line (indentation, a missing ':' or quote)",
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", path=path) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            lines[(*loc, k)] = key.start_mark.line + 1
            _walk(value, (*loc, k), lines)
            # the key's own line is more useful than the value's for "unknown key" errors
            lines[(*loc, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), lines)


def line_of(lines: dict[Loc, int], loc: Sequence[str | int]) -> int | None:
    """The line of ``loc``, or of its closest located ancestor."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def dotted(loc: Sequence[str | int]) -> str:
    """``("gates", 1, "max")`` -> ``gates[1].max``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
