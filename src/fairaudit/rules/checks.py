"""Static checks of rule expressions: value kinds, names and where statistics may appear.

Every expression is checked before any data is touched, so a rules file that compares
text with a number, combines numbers with ``and``, or names a category that does not
exist is refused with its YAML line, not half-way through an audit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fairaudit.rules.parser import (
    AGGREGATES,
    Binary,
    Boolean,
    Call,
    Compare,
    ExpressionError,
    ListLiteral,
    Logical,
    Name,
    Node,
    Not,
    Number,
    String,
    Unary,
)

__all__ = ["ANY", "BOOLEAN", "NUMBER", "VType", "infer_type"]


@dataclass(frozen=True, slots=True)
class VType:
    """The kind of value an expression produces.

    Attributes
    ----------
    kind
        ``number``, ``boolean``, ``text``, ``list`` or ``any`` (not known before the data
        is seen: then no check applies).
    scalar
        One value for the whole population (a literal, a parameter) rather than one per row.
    values
        For ``text``: the values it can take, when known (declared categories).
    item
        For ``list``: the kind of its items.
    """

    kind: str
    scalar: bool = False
    values: frozenset[str] | None = None
    item: str | None = None

    def describe(self) -> str:
        if self.kind == "list":
            return f"a list of {self.item}s"
        return {"number": "a number", "boolean": "true/false", "text": "text"}.get(
            self.kind, "a value"
        )


NUMBER = VType("number")
BOOLEAN = VType("boolean")
ANY = VType("any")

_NUMERIC = {"number", "boolean", "any"}

#: resolve(name, pos) -> the name's type; raises ExpressionError for unknown names.
Resolver = Callable[[str, int], VType]


def _label(node: Node, text: str) -> str:
    if isinstance(node, Name):
        return f"'{node.name}'"
    if isinstance(node, Number):
        return f"{node.value:g}"
    if isinstance(node, String):
        return repr(node.value)
    return "this value"


class _Checker:
    def __init__(self, text: str, resolve: Resolver, allow_aggregates: bool) -> None:
        self.text = text
        self.resolve = resolve
        self.allow_aggregates = allow_aggregates
        self.in_aggregate = False

    def fail(self, message: str, node: Node) -> ExpressionError:
        return ExpressionError(message, node.pos, self.text)

    def numeric(self, node: Node, t: VType, what: str) -> None:
        if t.kind not in _NUMERIC:
            raise self.fail(
                f"{what} needs numbers, but {_label(node, self.text)} is {t.describe()}", node
            )

    def boolean(self, node: Node, t: VType, what: str) -> None:
        if t.kind not in {"boolean", "any"}:
            hint = " (compare it, e.g. x > 0)" if t.kind == "number" else ""
            raise self.fail(
                f"{what} needs true/false values, but {_label(node, self.text)} is "
                f"{t.describe()}{hint}",
                node,
            )

    def check(self, node: Node) -> VType:
        if isinstance(node, Number):
            return VType("number", scalar=True)
        if isinstance(node, Boolean):
            return VType("boolean", scalar=True)
        if isinstance(node, String):
            return VType("text", scalar=True, values=frozenset({node.value}))
        if isinstance(node, Name):
            t = self.resolve(node.name, node.pos)
            if t.scalar or self.in_aggregate or self.allow_aggregates is False:
                return t
            # a row-wise value inside a parameter is only allowed within a statistic
            raise self.fail(
                f"'{node.name}' has one value per row, but a parameter is one number for "
                "the whole population: wrap it in median(...), mean(...) or quantile(...)",
                node,
            )
        if isinstance(node, ListLiteral):
            kinds = {self.check(i).kind for i in node.items}
            if len(kinds) > 1:
                raise self.fail(
                    "a list must hold values of one kind (all numbers or all texts)", node
                )
            return VType("list", scalar=True, item=kinds.pop())
        if isinstance(node, Unary):
            t = self.check(node.operand)
            self.numeric(node.operand, t, f"unary '{node.op}'")
            return VType("number", scalar=t.scalar)
        if isinstance(node, Binary):
            lt, rt = self.check(node.left), self.check(node.right)
            self.numeric(node.left, lt, f"'{node.op}'")
            self.numeric(node.right, rt, f"'{node.op}'")
            return VType("number", scalar=lt.scalar and rt.scalar)
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Logical):
            types = [self.check(o) for o in node.operands]
            for o, t in zip(node.operands, types, strict=True):
                self.boolean(o, t, f"'{node.op}'")
            return VType("boolean", scalar=all(t.scalar for t in types))
        if isinstance(node, Not):
            t = self.check(node.operand)
            self.boolean(node.operand, t, "'not'")
            return VType("boolean", scalar=t.scalar)
        if isinstance(node, Call):
            return self.call(node)
        raise self.fail(f"unsupported syntax {type(node).__name__}", node)  # pragma: no cover

    def compare(self, node: Compare) -> VType:
        types = [self.check(o) for o in node.operands]
        for k, op in enumerate(node.ops):
            left, right = node.operands[k], node.operands[k + 1]
            lt, rt = types[k], types[k + 1]
            if op in {"in", "not in"}:
                if not isinstance(right, ListLiteral):
                    raise self.fail(
                        f"'{op}' needs a list in square brackets on its right, "
                        "e.g. x in ['a', 'b']",
                        right,
                    )
                if lt.kind == "list":
                    raise self.fail(f"a list cannot be on the left of '{op}'", left)
                item = rt.item or "any"
                if lt.kind != "any" and not _compatible(lt.kind, item):
                    raise self.fail(
                        f"'{op}' compares {_label(left, self.text)} "
                        f"({lt.describe()}) with a list of {item}s",
                        right,
                    )
                if lt.kind == "text":
                    for s in right.items:
                        if isinstance(s, String):
                            self.known_text(left, lt, s)
                continue
            if lt.kind == "list" or rt.kind == "list":
                bad = left if lt.kind == "list" else right
                raise self.fail("a list can only follow 'in' or 'not in'", bad)
            if op in {"==", "!="}:
                if "any" not in {lt.kind, rt.kind} and not _compatible(lt.kind, rt.kind):
                    raise self.fail(
                        f"'{op}' compares {_label(left, self.text)} ({lt.describe()}) with "
                        f"{_label(right, self.text)} ({rt.describe()})",
                        left,
                    )
                if lt.kind == "text" and isinstance(right, String):
                    self.known_text(left, lt, right)
                if rt.kind == "text" and isinstance(left, String):
                    self.known_text(right, rt, left)
                continue
            # ordering
            for side, t in ((left, lt), (right, rt)):
                if t.kind not in {"number", "any"}:
                    msg = f"'{op}' orders numbers, but {_label(side, self.text)} is {t.describe()}"
                    if t.kind == "text":
                        msg += "; compare texts with ==, != or in"
                    raise self.fail(msg, side)
        return VType("boolean", scalar=all(t.scalar for t in types))

    def known_text(self, subject: Node, t: VType, literal: String) -> None:
        if (
            t.values is not None
            and literal.value not in t.values
            and not isinstance(subject, String)
        ):
            shown = ", ".join(repr(v) for v in sorted(t.values))
            raise self.fail(
                f"{literal.value!r} is never a value of {_label(subject, self.text)} "
                f"(its values: {shown})",
                literal,
            )

    def call(self, node: Call) -> VType:
        f = node.func
        if f in AGGREGATES:
            if not self.allow_aggregates:
                raise self.fail(
                    f"{f}() is a population statistic: use it in 'parameters', then refer to "
                    "the parameter here",
                    node,
                )
            if self.in_aggregate:
                raise self.fail(f"{f}() cannot be nested in another statistic", node)
            self.in_aggregate = True
            try:
                types = [self.check(a) for a in node.args]
            finally:
                self.in_aggregate = False
            self.numeric(node.args[0], types[0], f"{f}()")
            weight_at = 1
            if f == "quantile":
                q = node.args[1]
                if not isinstance(q, Number) or not 0.0 <= q.value <= 1.0:
                    raise self.fail(
                        "quantile() needs a number between 0 and 1 as its second argument", q
                    )
                weight_at = 2
            if len(node.args) > weight_at:
                self.numeric(node.args[weight_at], types[weight_at], f"the weight of {f}()")
            return VType("number", scalar=True)
        types = [self.check(a) for a in node.args]
        scalar = all(t.scalar for t in types)
        if f == "if":
            self.boolean(node.args[0], types[0], "the condition of if()")
            branches = types[1:]
            for a, t in zip(node.args[1:], branches, strict=True):
                if t.kind not in _NUMERIC:
                    raise self.fail(
                        f"if() can only choose between numbers or true/false "
                        f"values, but {_label(a, self.text)} is {t.describe()}",
                        a,
                    )
            kind = "boolean" if all(t.kind == "boolean" for t in branches) else "number"
            return VType(kind, scalar=scalar)
        if f == "is_missing":
            if types[0].kind == "list":
                raise self.fail("is_missing() needs a value, not a list", node.args[0])
            return VType("boolean", scalar=scalar)
        if f == "coalesce":
            kinds = {t.kind for t in types} - {"any"}
            for a, t in zip(node.args, types, strict=True):
                if t.kind not in _NUMERIC:
                    raise self.fail(
                        f"coalesce() works on numbers and true/false values, but "
                        f"{_label(a, self.text)} is {t.describe()}",
                        a,
                    )
            kind = "boolean" if kinds == {"boolean"} else ("any" if not kinds else "number")
            return VType(kind, scalar=scalar)
        if f == "round" and len(node.args) == 2:
            digits = node.args[1]
            if not isinstance(digits, Number) or digits.value != int(digits.value):
                raise self.fail("round() needs a whole number of digits", digits)
        for a, t in zip(node.args[:1] if f == "round" else node.args, types, strict=False):
            self.numeric(a, t, f"{f}()")
        return VType("number", scalar=scalar)


def _compatible(a: str, b: str) -> bool:
    if a == b or "any" in {a, b}:
        return True
    # true/false compare with the numbers 0 and 1 (data often stores flags as 0/1)
    return {a, b} == {"number", "boolean"}


def infer_type(
    node: Node, text: str, resolve: Resolver, *, allow_aggregates: bool = False
) -> VType:
    """Check an expression and return the kind of value it produces.

    Parameters
    ----------
    node
        The parsed expression (see :func:`~fairaudit.rules.parser.parse_expression`).
    text
        Its source text (for error messages).
    resolve
        ``resolve(name, pos)`` returns the :class:`VType` of a name, or raises
        :class:`~fairaudit.rules.parser.ExpressionError` for an unknown name.
    allow_aggregates
        True for parameters: statistics such as ``median(x)`` are allowed, and row-wise
        names may only appear inside them.

    Raises
    ------
    ExpressionError
        For the first problem found, with its position in ``text``.
    """
    return _Checker(text, resolve, allow_aggregates).check(node)
