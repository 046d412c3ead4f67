"""The expression language: every construct parses to the right tree; bad text is refused
with a position and a hint."""

from __future__ import annotations

import pytest

from fairaudit.rules.parser import (
    Binary,
    Boolean,
    Call,
    Compare,
    ExpressionError,
    ListLiteral,
    Logical,
    Name,
    Not,
    Number,
    String,
    Unary,
    names_in,
    parse_expression,
)


def test_literals() -> None:
    assert parse_expression("43_407") == Number(0, 43407.0)
    assert parse_expression("0.35") == Number(0, 0.35)
    assert parse_expression(".5") == Number(0, 0.5)
    assert parse_expression("1e3") == Number(0, 1000.0)
    assert parse_expression("'kazakh'") == String(0, "kazakh")
    assert parse_expression('"it\\\'s"') == String(0, "it's")
    assert parse_expression("true") == Boolean(0, True)
    assert parse_expression("false") == Boolean(0, False)


def test_names_and_quoted_names() -> None:
    assert parse_expression("income_pc") == Name(0, "income_pc")
    assert parse_expression("`income (KZT)`") == Name(0, "income (KZT)")


def test_precedence_arithmetic_before_comparison_before_logic() -> None:
    tree = parse_expression("a + b * c < d and not e or f")
    assert isinstance(tree, Logical) and tree.op == "or"
    left = tree.operands[0]
    assert isinstance(left, Logical) and left.op == "and"
    cmp_, neg = left.operands
    assert isinstance(cmp_, Compare) and cmp_.ops == ("<",)
    add = cmp_.operands[0]
    assert isinstance(add, Binary) and add.op == "+"
    assert isinstance(add.right, Binary) and add.right.op == "*"
    assert isinstance(neg, Not) and neg.operand == Name(neg.pos + 4, "e")


def test_left_associative_arithmetic() -> None:
    tree = parse_expression("a - b - c")
    assert isinstance(tree, Binary) and tree.op == "-"
    assert isinstance(tree.left, Binary) and tree.left.op == "-"
    assert tree.right == Name(8, "c")


def test_parentheses_override_precedence() -> None:
    tree = parse_expression("(a + b) * c")
    assert isinstance(tree, Binary) and tree.op == "*"
    assert isinstance(tree.left, Binary) and tree.left.op == "+"


def test_chained_comparison_and_membership() -> None:
    tree = parse_expression("0 <= age < 18")
    assert isinstance(tree, Compare) and tree.ops == ("<=", "<")
    tree = parse_expression("region not in ['Astana', 'Almaty',]")
    assert isinstance(tree, Compare) and tree.ops == ("not in",)
    assert isinstance(tree.operands[1], ListLiteral)
    assert [i.value for i in tree.operands[1].items] == ["Astana", "Almaty"]  # type: ignore[attr-defined]


def test_unary_minus_folds_numbers_only() -> None:
    assert parse_expression("-3") == Number(0, -3.0)
    assert parse_expression("x in [-1, 2]").operands[1].items[0] == Number(6, -1.0)  # type: ignore[attr-defined]
    assert parse_expression("-x") == Unary(0, "-", Name(1, "x"))


def test_calls() -> None:
    tree = parse_expression("if(a > 1, min(b, c, d), max(e, 0))")
    assert isinstance(tree, Call) and tree.func == "if" and len(tree.args) == 3
    assert isinstance(tree.args[1], Call) and tree.args[1].func == "min"
    assert parse_expression("median(x, w)") == Call(0, "median", (Name(7, "x"), Name(10, "w")))


def test_names_in_lists_every_reference() -> None:
    tree = parse_expression("a + if(b, a, c) > d")
    assert [n.name for n in names_in(tree)] == ["a", "b", "a", "c", "d"]


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "the expression is empty", 0),
        ("a +", "ends too early", 3),
        ("(a + b", "expected ')' to close '('", 6),
        ("a = 1", "use '==' to compare", 2),
        ("a && b", "use 'and'", 2),
        ("a || b", "use 'or'", 2),
        ("!a", "use 'not'", 0),
        ("a ** 2", "powers are not supported", 2),
        ("a % 2", "remainder operator is not supported", 2),
        ("a ? b : c", "if(condition", 2),
        ("'open", "quote is missing", 0),
        ("foo(1)", "unknown function 'foo'", 0),
        ("min(1)", "min() takes 2 or more arguments, got 1", 0),
        ("if(a, b)", "if() takes 3 arguments, got 2", 0),
        ("a b", "an operator such as 'and'", 2),
        ("x in []", "an empty list matches nothing", 5),
        ("x in [y]", "a list may only hold numbers", 6),
        ("True", "write 'true' in lower case", 0),
        ("None", "is_missing(x)", 0),
        ("a and", "ends too early", 5),
        ("()", "empty parentheses", 1),
        ("x if y else z", "write if(condition", 2),
        ("'a\\q'", "unknown escape", 2),
        ("``", "quoted name` is empty", 0),
    ],
)
def test_syntax_errors_say_what_and_where(text: str, message: str, position: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    assert message in info.value.message
    assert info.value.position == position
    if text:
        assert f"at character {position + 1} of `{text}`" in info.value.describe()


def test_never_uses_python_eval() -> None:
    # Python syntax that would run code is simply not part of the language
    for text in ("__import__('os').system('x')", "x.__class__", "[i for i in x]", "lambda: 1"):
        with pytest.raises(ExpressionError):
            parse_expression(text)
