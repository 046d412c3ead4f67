"""The restricted expression language of rules files: tokenizer, parser and syntax tree.

Rule files hold expressions such as ``income_pc < tsa_threshold and not car_registry``.
They are parsed here into a small syntax tree and never handed to Python's ``eval`` or
``exec``: the only things an expression can do are the constructs below.

=====================  =====================================================================
construct              example
=====================  =====================================================================
number                 ``43407``, ``43_407``, ``0.35``, ``1e6``
text                   ``'kazakh'`` or ``"kazakh"``
true / false           ``true``, ``false``
name                   ``income_pc``; a column with other characters: ```income (KZT)```
arithmetic             ``+ - * /`` and unary ``-``; division by zero gives a missing value
comparison             ``== != < <= > >=``; chains such as ``0 <= age < 18``
membership             ``region in ['Astana', 'Almaty']``, ``x not in [1, 2]``
logic                  ``and``, ``or``, ``not`` (three-valued: missing stays unknown)
conditional            ``if(condition, value_if_true, value_if_false)``
functions              ``min``, ``max``, ``abs``, ``round``, ``floor``, ``ceil``,
                       ``is_missing``, ``coalesce``
population statistics  ``median(x[, weight])``, ``mean(x[, weight])``,
                       ``quantile(x, q[, weight])`` (in ``parameters`` only)
=====================  =====================================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "AGGREGATES",
    "FUNCTIONS",
    "KEYWORDS",
    "Binary",
    "Boolean",
    "Call",
    "Compare",
    "ExpressionError",
    "ListLiteral",
    "Logical",
    "Name",
    "Node",
    "Not",
    "Number",
    "String",
    "Unary",
    "names_in",
    "parse_expression",
    "walk",
]

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})

#: Row-wise functions: name -> (minimum, maximum) number of arguments (None = unbounded).
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "if": (3, 3),
    "min": (2, None),
    "max": (2, None),
    "abs": (1, 1),
    "round": (1, 2),
    "floor": (1, 1),
    "ceil": (1, 1),
    "is_missing": (1, 1),
    "coalesce": (2, None),
}

#: Population statistics: they reduce a row-wise value to one number.
AGGREGATES: dict[str, tuple[int, int | None]] = {
    "median": (1, 2),
    "mean": (1, 2),
    "quantile": (2, 3),
}


class ExpressionError(Exception):
    """An expression cannot be parsed or does not type-check.

    Attributes
    ----------
    message
        What is wrong.
    position
        0-based character offset in the expression text, when known.
    text
        The expression text.
    """

    def __init__(self, message: str, position: int | None = None, text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.text = text

    def describe(self) -> str:
        """The message with a pointer into the expression, on one line."""
        if self.position is None or not self.text:
            return self.message
        pos = max(0, min(self.position, len(self.text)))
        return f"{self.message}, at character {pos + 1} of `{self.text}`"


# ----------------------------------------------------------------------------------------
# syntax tree


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every syntax-tree node; ``pos`` is the 0-based offset in the expression."""

    pos: int


@dataclass(frozen=True, slots=True)
class Number(Node):
    value: float


@dataclass(frozen=True, slots=True)
class String(Node):
    value: str


@dataclass(frozen=True, slots=True)
class Boolean(Node):
    value: bool


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True)
class ListLiteral(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-" or "+"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """``a < b <= c``: ``ops`` has one operator fewer than ``operands``."""

    ops: tuple[str, ...]
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Logical(Node):
    op: str  # "and" or "or"
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children, left to right."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        children: tuple[Node, ...]
        if isinstance(n, ListLiteral):
            children = n.items
        elif isinstance(n, Unary | Not):
            children = (n.operand,)
        elif isinstance(n, Binary):
            children = (n.left, n.right)
        elif isinstance(n, Compare | Logical):
            children = n.operands
        elif isinstance(n, Call):
            children = n.args
        else:
            children = ()
        stack.extend(reversed(children))


def names_in(node: Node) -> list[Name]:
    """The names an expression refers to, in order of appearance (with repeats)."""
    return [n for n in walk(node) if isinstance(n, Name)]


# ----------------------------------------------------------------------------------------
# tokenizer

_NUMBER = r"(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?"
_TOKEN = re.compile(
    rf"""
    (?P<ws>\s+)
  | (?P<number>{_NUMBER})
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<quoted>`[^`]*`)
  | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)

# Characters people type out of habit from other languages, with the word we use instead.
_HINTS = {
    "&&": "use 'and'",
    "&": "use 'and'",
    "||": "use 'or'",
    "|": "use 'or'",
    "!": "use 'not' (or '!=' to compare)",
    "=": "use '==' to compare",
    "%": "the remainder operator is not supported",
    "**": "powers are not supported",
    "^": "powers are not supported",
    "?": "use if(condition, value_if_true, value_if_false)",
    ":": "use if(condition, value_if_true, value_if_false)",
    "{": "only lists in square brackets are supported",
    ";": "an expression is a single formula; use 'and' to combine conditions",
}

_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # number, string, name, quoted, op, end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            two, one = text[pos : pos + 2], text[pos]
            hint = _HINTS.get(two) or _HINTS.get(one)
            if one in "'\"":
                raise ExpressionError("text is not closed: a quote is missing", pos, text)
            if one == "`":
                raise ExpressionError("a `quoted name` is not closed", pos, text)
            msg = f"unexpected character {one!r}" + (f": {hint}" if hint else "")
            raise ExpressionError(msg, pos, text)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


def _unescape(raw: str, pos: int, text: str) -> str:
    body = raw[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _ESCAPES:
                raise ExpressionError(f"unknown escape '\\{nxt}' in text", pos + i + 1, text)
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# ----------------------------------------------------------------------------------------
# parser: one function per precedence level (lowest first)

_COMPARE_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    # helpers
    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def peek(self, k: int = 1) -> _Tok:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def is_kw(self, word: str, tok: _Tok | None = None) -> bool:
        t = tok or self.tok
        return t.kind == "name" and t.text == word

    def is_op(self, op: str) -> bool:
        return self.tok.kind == "op" and self.tok.text == op

    def advance(self) -> _Tok:
        t = self.tok
        self.i += 1
        return t

    def error(self, message: str, tok: _Tok | None = None) -> ExpressionError:
        t = tok or self.tok
        return ExpressionError(message, t.pos, self.text)

    def describe(self, tok: _Tok) -> str:
        return "the end of the expression" if tok.kind == "end" else repr(tok.text)

    def expect_op(self, op: str, context: str) -> _Tok:
        if not self.is_op(op):
            raise self.error(f"expected {op!r} {context}, found {self.describe(self.tok)}")
        return self.advance()

    # grammar
    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.error("the expression is empty")
        node = self.or_()
        if self.tok.kind != "end":
            t = self.tok
            if t.kind == "name" and t.text == "if":
                msg = "unexpected 'if': write if(condition, value_if_true, value_if_false)"
            elif t.kind == "name" and t.text in {"then", "else", "elif"}:
                msg = f"unexpected {t.text!r}: write if(condition, value_if_true, value_if_false)"
            else:
                msg = f"unexpected {self.describe(t)} after a complete expression"
                if t.kind in {"name", "number", "string", "quoted"}:
                    msg += " (an operator such as 'and', '+' or '==' is missing?)"
            raise self.error(msg)
        return node

    def or_(self) -> Node:
        first = self.and_()
        operands = [first]
        while self.is_kw("or"):
            self.advance()
            operands.append(self.and_())
        return first if len(operands) == 1 else Logical(first.pos, "or", tuple(operands))

    def and_(self) -> Node:
        first = self.not_()
        operands = [first]
        while self.is_kw("and"):
            self.advance()
            operands.append(self.not_())
        return first if len(operands) == 1 else Logical(first.pos, "and", tuple(operands))

    def not_(self) -> Node:
        if self.is_kw("not"):
            t = self.advance()
            return Not(t.pos, self.not_())
        return self.comparison()

    def comparison(self) -> Node:
        first = self.additive()
        ops: list[str] = []
        operands = [first]
        while True:
            t = self.tok
            if t.kind == "op" and t.text in _COMPARE_OPS:
                self.advance()
                ops.append(t.text)
            elif self.is_kw("in"):
                self.advance()
                ops.append("in")
            elif self.is_kw("not") and self.is_kw("in", self.peek()):
                self.advance()
                self.advance()
                ops.append("not in")
            else:
                break
            operands.append(self.additive())
        if not ops:
            return first
        return Compare(first.pos, tuple(ops), tuple(operands))

    def additive(self) -> Node:
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in {"+", "-"}:
            op = self.advance().text
            node = Binary(node.pos, op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in {"*", "/"}:
            op_tok = self.advance()
            if op_tok.text == "*" and self.is_op("*"):
                raise self.error("powers are not supported", op_tok)
            node = Binary(node.pos, op_tok.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text in {"-", "+"}:
            t = self.advance()
            operand = self.unary()
            if isinstance(operand, Number):  # fold -3 into a literal (lists need literals)
                return Number(t.pos, -operand.value if t.text == "-" else operand.value)
            return Unary(t.pos, t.text, operand)
        return self.primary()

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "number":
            self.advance()
            try:
                return Number(t.pos, float(t.text))
            except ValueError:
                raise self.error(f"{t.text!r} is not a number", t) from None
        if t.kind == "string":
            self.advance()
            return String(t.pos, _unescape(t.text, t.pos, self.text))
        if t.kind == "quoted":
            self.advance()
            name = t.text[1:-1]
            if not name.strip():
                raise self.error("a `quoted name` is empty", t)
            return Name(t.pos, name)
        if t.kind == "name":
            return self.name_or_call()
        if t.kind == "op" and t.text == "(":
            self.advance()
            if self.is_op(")"):
                raise self.error("empty parentheses")
            node = self.or_()
            self.expect_op(")", "to close '('")
            return node
        if t.kind == "op" and t.text == "[":
            return self.list_()
        if t.kind == "end":
            raise self.error("the expression ends too early: a value is missing")
        raise self.error(f"expected a value, found {self.describe(t)}")

    def name_or_call(self) -> Node:
        t = self.advance()
        word = t.text
        if word in {"true", "false"}:
            return Boolean(t.pos, word == "true")
        if word in {"True", "False"}:
            raise self.error(f"write {word.lower()!r} in lower case", t)
        if word in {"None", "null", "nan", "NaN", "NA"}:
            raise self.error(
                f"{word!r} is not a value: test for a missing value with is_missing(x)", t
            )
        if word in KEYWORDS:
            raise self.error(f"{word!r} needs a value before it", t)
        if self.is_op("("):
            if word not in FUNCTIONS and word not in AGGREGATES:
                known = ", ".join(sorted({*FUNCTIONS, *AGGREGATES}))
                raise self.error(f"unknown function {word!r} (available: {known})", t)
            self.advance()
            args: list[Node] = []
            if not self.is_op(")"):
                args.append(self.or_())
                while self.is_op(","):
                    self.advance()
                    args.append(self.or_())
            self.expect_op(")", f"to close the arguments of {word}()")
            lo, hi = FUNCTIONS.get(word) or AGGREGATES[word]
            if len(args) < lo or (hi is not None and len(args) > hi):
                want = str(lo) if lo == hi else (f"{lo} or more" if hi is None else f"{lo}–{hi}")
                raise self.error(f"{word}() takes {want} arguments, got {len(args)}", t)
            return Call(t.pos, word, tuple(args))
        return Name(t.pos, word)

    def list_(self) -> Node:
        t = self.advance()
        items: list[Node] = []
        if not self.is_op("]"):
            items.append(self.or_())
            while self.is_op(","):
                self.advance()
                if self.is_op("]"):  # a trailing comma is fine
                    break
                items.append(self.or_())
        self.expect_op("]", "to close '['")
        if not items:
            raise self.error("an empty list matches nothing", t)
        for item in items:
            if not isinstance(item, Number | String | Boolean):
                raise ExpressionError(
                    "a list may only hold numbers, texts or true/false", item.pos, self.text
                )
        return ListLiteral(t.pos, tuple(items))


def parse_expression(text: str) -> Node:
    """Parse an expression of the rules language into a syntax tree.

    Parameters
    ----------
    text
        The expression, e.g. ``"income_pc < 0.7 * subsistence_minimum"``.

    Returns
    -------
    Node
        The root of the syntax tree.

    Raises
    ------
    ExpressionError
        When the text is not a valid expression; ``position`` points at the problem.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, got {type(text).__name__}")
    return _Parser(text).parse()
