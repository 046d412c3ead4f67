"""YAML loading that remembers where every value came from.

``load_yaml_with_lines`` returns the plain Python object and a map from a location tuple
(``("gates", 1, "max")``) to its 1-based line, so validation errors can point at the line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from fairaudit.errors import SpecError

Loc = tuple[Any, ...]


def load_yaml_with_lines(
    path: Path | str, *, text: str | None = None
) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file into Python objects plus a ``location -> line`` map.

    One parse: the node tree gives every key's line, then the same tree is constructed
    into Python objects. A key that appears twice in one mapping is an error (plain YAML
    would silently keep the last one, e.g. a gate's second ``max:``).

    Raises
    ------
    SpecError
        When the file is missing, unreadable, not valid YAML (with the line of the fault),
        or repeats a key (every repeat reported, see :meth:`SpecError.many`).
    """
    if text is None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError(
                "file not found", path=path, fix="check the path (relative to the current folder)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"cannot read the file: {exc}", path=path) from None
    loader = yaml.SafeLoader(text)
    lines: dict[Loc, int] = {(): 1}
    problems: list[SpecError] = []

    def index(node: yaml.Node, loc: Loc) -> None:
        lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in node.value:
                key: Any = (
                    loader.construct_object(k, deep=True)
                    if isinstance(k, yaml.ScalarNode)
                    else repr(k)
                )
                try:
                    hash(key)
                except TypeError:
                    key = repr(key)
                line = k.start_mark.line + 1
                if key in seen:
                    problems.append(
                        SpecError(
                            f"the key {key!r} appears twice (first on line {seen[key]}); YAML "
                            "would silently keep only the last one",
                            path=path,
                            line=line,
                            field=dotted((*loc, key)),
                            fix="remove or rename one of them",
                        )
                    )
                    continue
                seen[key] = line
                # the key's own line is what an "unknown key" error should point at
                lines[(*loc, key)] = line
                index(v, (*loc, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*loc, i)] = item.start_mark.line + 1
                index(item, (*loc, i))

    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        index(node, ())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SpecError(
            f"not valid YAML: {exc.problem or exc.context or exc}",
            path=path,
            line=None if mark is None else mark.line + 1,
            fix="fix the YAML syntax at that line (indentation, a missing ':' or quote)",
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", path=path) from None
    finally:
        loader.dispose()
    if problems:
        raise SpecError.many(problems)
    return data, lines


def line_of(lines: Mapping[Loc, int], loc: Sequence[Any]) -> int | None:
    """The line of ``loc``, or of its closest located ancestor."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def dotted(loc: Sequence[Any]) -> str:
    """``("gates", 1, "max")`` -> ``gates[1].max``."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
