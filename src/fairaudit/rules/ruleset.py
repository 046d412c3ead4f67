"""Rules files: the YAML schema, loading with line numbers, and the compiled :class:`RuleSet`.

A rules file is declarative YAML: no Python, only expressions of the restricted language of
:mod:`fairaudit.rules.parser`. Its sections, in the order they are evaluated::

    version: 1
    name: ...
    inputs:        # optional: the data columns the rules read, with their types
    parameters:    # one value for the whole population (may use median(...) etc.)
    variables:     # one value per row, derived from columns and parameters
    dimensions:    # weighted groups of binary deprivation indicators -> ``score``
    categories:    # ordered score bands -> ``category``
    overrides:     # rules that set or bound the category
    programmes:    # eligibility stages, kinds, benefit amount, outreach stages

Every problem is reported with the file, the YAML line and the field, all of them at once.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from fairaudit._yaml import dotted, line_of, load_yaml_with_lines
from fairaudit.errors import SpecError
from fairaudit.rules.checks import ANY, BOOLEAN, NUMBER, VType, infer_type
from fairaudit.rules.parser import KEYWORDS, ExpressionError, Node, names_in, parse_expression

__all__ = [
    "Category",
    "Dimension",
    "Expression",
    "Indicator",
    "InputDecl",
    "Kind",
    "Override",
    "Parameter",
    "Programme",
    "RuleFileError",
    "RuleSet",
    "Stage",
    "Variable",
    "load_rules",
    "parse_rules",
]

RESERVED = frozenset({"score", "category"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCORE_DECIMALS = 10


class RuleFileError(SpecError):
    """One or more problems in a rules file.

    Attributes
    ----------
    problems
        Every problem as its own :class:`~fairaudit.errors.SpecError` (file, line, field),
        in file order. ``path``, ``line``, ``field`` and ``fix`` are the first problem's.
    """

    def __init__(self, problems: list[SpecError]) -> None:
        problems = sorted(problems, key=lambda e: (e.line or 0, e.field or ""))
        first = problems[0]
        super().__init__(
            first.problem, path=first.path, line=first.line, field=first.field, fix=first.fix
        )
        self.problems = problems

    def render(self) -> str:
        if len(self.problems) == 1:
            return super().render()
        lines = [f"{len(self.problems)} problems in the rules file {self.path}:"]
        for p in self.problems:
            lines.extend("  " + line for line in p.render().splitlines())
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# the YAML schema (pydantic, strict, unknown keys refused)


def _expr_text(value: Any) -> Any:
    # YAML reads `when: true` as a boolean and `amount: 38` as a number; both are valid
    # expressions, so turn them back into text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return value


ExprText = Annotated[str, BeforeValidator(_expr_text)]


def _none_is_empty(value: Any, empty: Any) -> Any:
    return empty if value is None else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class InputSpec(_Model):
    type: Literal["number", "boolean", "category"]
    values: list[str] | None = None
    unit: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _values(self) -> InputSpec:
        if self.values is not None:
            if self.type != "category":
                raise ValueError("'values' only applies to inputs of type: category")
            if not self.values:
                raise ValueError("'values' is empty: list the values the column may take")
            dup = sorted({v for v in self.values if self.values.count(v) > 1})
            if dup:
                raise ValueError(f"'values' lists {', '.join(map(repr, dup))} more than once")
        return self


class ParameterSpec(_Model):
    value: Any = None
    expr: ExprText | None = None
    unit: str | None = None
    description: str | None = None
    source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, bool | int | float):
            return {"value": data}
        if isinstance(data, str):
            return {"expr": data}
        return data

    @field_validator("value")
    @classmethod
    def _scalar(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("a parameter value must be a finite number")
        if not isinstance(v, bool | int | float | str):
            raise ValueError("a parameter value must be a number, true/false or a text")
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _one_of(self) -> ParameterSpec:
        if (self.value is None) == (self.expr is None):
            raise ValueError("give exactly one of 'value' (a constant) or 'expr' (a formula)")
        return self


class VariableSpec(_Model):
    expr: ExprText
    unit: str | None = None
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"expr": data} if isinstance(data, str | int | float | bool) else data


class IndicatorSpec(_Model):
    label: str | None = None
    weight: float = Field(default=1.0, gt=0)
    deprived_if: ExprText
    missing: Literal["deprived", "not_deprived", "review"]
    description: str | None = None
    source: str | None = None


class DimensionSpec(_Model):
    label: str | None = None
    weight: float = Field(gt=0)
    indicators: dict[str, IndicatorSpec] = Field(min_length=1)
    description: str | None = None


class CategorySpec(_Model):
    code: str = Field(min_length=1)
    label: str | None = None
    lower: float = Field(alias="from", ge=0, le=1)
    below: float | None = Field(default=None, gt=0)
    description: str | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class OverrideSpec(_Model):
    name: str
    when: ExprText
    set: str | None = None
    no_better_than: str | None = None
    no_worse_than: str | None = None
    missing: Literal["apply", "ignore"] = "ignore"
    description: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> OverrideSpec:
        given = [k for k in ("set", "no_better_than", "no_worse_than") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'set', 'no_better_than' or 'no_worse_than' "
                f"(got {', '.join(given) or 'none'})"
            )
        return self


class StageSpec(_Model):
    name: str
    when: ExprText
    missing: Literal["fail", "pass", "review"] = "fail"
    description: str | None = None


class KindSpec(_Model):
    name: str
    when: ExprText
    description: str | None = None


class ProgrammeSpec(_Model):
    label: str | None = None
    description: str | None = None
    legal_basis: str | None = None
    eligibility: list[StageSpec] = Field(min_length=1)
    outreach: list[StageSpec] = Field(default_factory=list)
    kinds: list[KindSpec] = Field(default_factory=list)
    amount: ExprText | None = None
    amount_unit: str | None = None
    review_outcome: Literal["deny", "grant"] = "deny"

    @field_validator("outreach", "kinds", mode="before")
    @classmethod
    def _empty(cls, v: Any) -> Any:
        return _none_is_empty(v, [])


class RulesFileSpec(_Model):
    version: Literal[1]
    name: str
    description: str | None = None
    notice: str | None = None
    inputs: dict[str, InputSpec] | None = None
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    dimensions: dict[str, DimensionSpec] = Field(default_factory=dict)
    categories: list[CategorySpec] = Field(default_factory=list)
    overrides: list[OverrideSpec] = Field(default_factory=list)
    programmes: dict[str, ProgrammeSpec] = Field(default_factory=dict)

    @field_validator("inputs", mode="before")
    @classmethod
    def _input_shorthand(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: {"type": t} if isinstance(t, str) else t for k, t in v.items()}
        return v

    @field_validator("parameters", "variables", "dimensions", "programmes", mode="before")
    @classmethod
    def _empty_map(cls, v: Any) -> Any:
        return _none_is_empty(v, {})

    @field_validator("categories", "overrides", mode="before")
    @classmethod
    def _empty_list(cls, v: Any) -> Any:
        return _none_is_empty(v, [])


_ALL_FIELDS = sorted(
    {
        name
        for model in (
            InputSpec,
            ParameterSpec,
            VariableSpec,
            IndicatorSpec,
            DimensionSpec,
            CategorySpec,
            OverrideSpec,
            StageSpec,
            KindSpec,
            ProgrammeSpec,
            RulesFileSpec,
        )
        for key, f in model.model_fields.items()
        for name in ([f.alias] if f.alias else [key])
    }
)


# ----------------------------------------------------------------------------------------
# compiled rules


@dataclass(frozen=True)
class Expression:
    """An expression of a rules file with where it came from.

    Attributes
    ----------
    text
        The source text.
    node
        Its syntax tree.
    field
        The dotted field of the rules file, e.g. ``programmes.tsa.eligibility[2].when``.
    line
        The 1-based YAML line of that field.
    """

    text: str
    node: Node
    field: str
    line: int | None

    def names(self) -> list[str]:
        """The names it refers to, in order, without repeats."""
        return list(dict.fromkeys(n.name for n in names_in(self.node)))


@dataclass(frozen=True)
class InputDecl:
    """A declared input column: ``kind`` is ``number``, ``boolean`` or ``category``."""

    name: str
    kind: str
    values: tuple[str, ...] | None
    unit: str | None
    description: str | None
    line: int | None

    def vtype(self) -> VType:
        if self.kind == "category":
            return VType("text", values=frozenset(self.values) if self.values else None)
        return VType(self.kind)


@dataclass(frozen=True)
class Parameter:
    """One value for the whole population: a constant or an expression."""

    name: str
    value: float | bool | str | None
    expr: Expression | None
    unit: str | None
    description: str | None
    source: str | None
    line: int | None


@dataclass(frozen=True)
class Variable:
    """A value per row, derived from columns, parameters and other variables."""

    name: str
    expr: Expression
    unit: str | None
    description: str | None
    line: int | None


@dataclass(frozen=True)
class Indicator:
    """A binary deprivation indicator.

    Attributes
    ----------
    weight
        Its weight in the score: the dimension's weight times its share of the dimension.
    missing
        What an unknown value counts as: ``deprived``, ``not_deprived``, or ``review``
        (unknown: the family goes to manual review when it could change the decision).
    """

    name: str
    dimension: str
    label: str | None
    weight: float
    expr: Expression
    missing: str
    description: str | None
    line: int | None


@dataclass(frozen=True)
class Dimension:
    """A weighted group of indicators."""

    name: str
    label: str | None
    weight: float
    indicators: tuple[str, ...]
    line: int | None


@dataclass(frozen=True)
class Category:
    """A score band: ``lower <= score < upper`` (the last band has no upper bound)."""

    code: str
    label: str | None
    lower: float
    upper: float | None
    description: str | None
    line: int | None


@dataclass(frozen=True)
class Override:
    """A rule that changes the category: ``action`` is ``set``, ``no_better_than`` or
    ``no_worse_than``; categories later in the list are more deprived."""

    name: str
    when: Expression
    action: str
    target: str
    target_index: int
    missing: str
    description: str | None
    line: int | None


@dataclass(frozen=True)
class Stage:
    """One test of a programme; the first stage a row fails decides it."""

    name: str
    when: Expression
    missing: str
    description: str | None
    line: int | None
    outreach: bool


@dataclass(frozen=True)
class Kind:
    """A label for an eligible row (e.g. conditional or unconditional assistance)."""

    name: str
    when: Expression
    description: str | None
    line: int | None


@dataclass(frozen=True)
class Programme:
    """A benefit or service: eligibility stages, kinds, amount and outreach stages."""

    name: str
    label: str | None
    description: str | None
    legal_basis: str | None
    eligibility: tuple[Stage, ...]
    outreach: tuple[Stage, ...]
    kinds: tuple[Kind, ...]
    amount: Expression | None
    amount_unit: str | None
    review_outcome: str
    line: int | None

    @property
    def stages(self) -> tuple[Stage, ...]:
        """Eligibility stages, then outreach stages."""
        return self.eligibility + self.outreach


@dataclass(frozen=True, eq=False)
class RuleSet:
    """A validated, compiled rules file. Build it with :func:`load_rules`.

    Attributes
    ----------
    source
        The file it was read from (for messages).
    sha256
        Hash of the file's bytes (provenance).
    inputs
        Declared input columns, or None when the file does not declare them (then the
        columns are checked against the data when it is evaluated).
    """

    name: str
    description: str | None
    notice: str | None
    source: str
    sha256: str
    inputs: dict[str, InputDecl] | None
    parameters: dict[str, Parameter]
    variables: dict[str, Variable]
    dimensions: dict[str, Dimension]
    indicators: dict[str, Indicator]
    categories: tuple[Category, ...]
    overrides: tuple[Override, ...]
    programmes: dict[str, Programme]
    _lines: dict[tuple[Any, ...], int] = field(default_factory=dict, repr=False)

    # names ------------------------------------------------------------------------------
    @property
    def has_score(self) -> bool:
        """Whether the rules define dimensions (and so a ``score``)."""
        return bool(self.dimensions)

    @property
    def category_codes(self) -> tuple[str, ...]:
        """Category codes from least to most deprived."""
        return tuple(c.code for c in self.categories)

    def kind_of(self, name: str) -> str | None:
        """What a name is: ``parameter``, ``variable``, ``indicator``, ``dimension``,
        ``score``, ``category``, ``programme``, or None (a data column)."""
        if name in self.parameters:
            return "parameter"
        if name in self.variables:
            return "variable"
        if name in self.indicators:
            return "indicator"
        if name in self.dimensions:
            return "dimension"
        if name == "score" and self.has_score:
            return "score"
        if name == "category" and self.categories:
            return "category"
        if name in self.programmes:
            return "programme"
        return None

    def expressions(self) -> Iterator[Expression]:
        """Every expression of the file, in file order."""
        for p in self.parameters.values():
            if p.expr is not None:
                yield p.expr
        for v in self.variables.values():
            yield v.expr
        for i in self.indicators.values():
            yield i.expr
        for o in self.overrides:
            yield o.when
        for g in self.programmes.values():
            for s in g.stages:
                yield s.when
            for k in g.kinds:
                yield k.when
            if g.amount is not None:
                yield g.amount

    def references(self) -> dict[str, list[Expression]]:
        """Data columns the rules read -> the expressions that read them (file order)."""
        refs: dict[str, list[Expression]] = {}
        for expr in self.expressions():
            for name in expr.names():
                if self.kind_of(name) is None:
                    refs.setdefault(name, []).append(expr)
        return refs

    def columns(self) -> list[str]:
        """The data columns the rules read, in order of first use."""
        return list(self.references())

    # errors -----------------------------------------------------------------------------
    def error(
        self, problem: str, *, field: str | None, line: int | None, fix: str | None = None
    ) -> SpecError:
        """A :class:`SpecError` located in this file."""
        return SpecError(problem, path=self.source, line=line, field=field, fix=fix)

    def check_types(self, external: Callable[[str, int, str], VType]) -> list[SpecError]:
        """Type-check every expression, with ``external(name, pos, text)`` typing columns.

        Returns the problems found (empty when all is well). Used when loading (with the
        declared inputs) and again when evaluating undeclared columns against the data.
        """
        return _TypeCheck(self, external).run()


# ----------------------------------------------------------------------------------------
# YAML with line numbers


def _read_yaml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse the rules file with the project's line-tracking YAML reader."""
    try:
        data, lines = load_yaml_with_lines(source, text=text)
    except SpecError as exc:
        problems, exc.more = [exc, *exc.more], []
        raise RuleFileError(problems) from None
    if data is None:
        raise RuleFileError(
            [
                SpecError(
                    "the rules file is empty",
                    path=source,
                    line=1,
                    fix="start from examples/digital_family_card/rules.yaml",
                )
            ]
        )
    return data, lines


_dotted = dotted
_line = line_of


def _known_prefix(lines: Mapping[tuple[Any, ...], int], loc: tuple[Any, ...]) -> tuple[Any, ...]:
    for k in range(len(loc), -1, -1):
        if loc[:k] in lines:
            return loc[:k]
    return ()


def _did_you_mean(
    word: str, candidates: Iterator[str] | list[str], cutoff: float = 0.75
) -> str | None:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return f"did you mean {close[0]!r}?" if close else None


def _pydantic_problems(
    exc: ValidationError, lines: Mapping[tuple[Any, ...], int], source: str
) -> list[SpecError]:
    problems: list[SpecError] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        kind = err["type"]
        fix = None
        if kind == "extra_forbidden":
            key = loc[-1]
            problem = f"unknown field {key!r}"
            fix = _did_you_mean(str(key), _ALL_FIELDS, cutoff=0.8) or "remove it"
        elif kind == "missing":
            problem = f"the required field {loc[-1]!r} is missing"
            if loc[-1] == "missing":
                fix = "say what a missing value counts as: deprived, not_deprived or review"
            elif loc[-1] == "version":
                fix = "add `version: 1` at the top of the file"
        else:
            msg = str(err["msg"])
            problem = msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg
            if kind == "literal_error" and loc and loc[-1] == "version":
                fix = "this fairaudit reads rules files of version 1"
        prefix = _known_prefix(lines, loc) if kind != "missing" else loc
        dedupe = (prefix, problem)
        if dedupe in seen:
            continue
        seen.add(dedupe)
        problems.append(
            SpecError(
                problem, path=source, line=_line(lines, loc), field=_dotted(loc) or None, fix=fix
            )
        )
    return problems


# ----------------------------------------------------------------------------------------
# compile


def load_rules(path: str | Path) -> RuleSet:
    """Read, validate and compile a rules file.

    Parameters
    ----------
    path
        The YAML rules file.

    Returns
    -------
    RuleSet
        The compiled rules.

    Raises
    ------
    RuleFileError
        A :class:`~fairaudit.errors.SpecError` listing every problem with its YAML line:
        unknown fields, syntax errors in expressions, unknown names or columns (when the
        file declares its ``inputs``), type errors, overlapping or missing score bands,
        weights that do not add up, circular definitions.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise RuleFileError(
            [
                SpecError(
                    "the rules file does not exist",
                    path=str(p),
                    fix="check the path (relative to the audit spec)",
                )
            ]
        ) from None
    except IsADirectoryError:
        raise RuleFileError(
            [SpecError("this is a folder, not a rules file", path=str(p))]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleFileError(
            [SpecError(f"the rules file is not UTF-8 text ({exc.reason})", path=str(p))]
        ) from None
    return parse_rules(text, source=str(p), sha256=hashlib.sha256(raw).hexdigest())


def parse_rules(text: str, *, source: str = "<rules>", sha256: str | None = None) -> RuleSet:
    """Validate and compile the text of a rules file.

    Parameters
    ----------
    text
        The YAML text.
    source
        What to call it in messages (a file name).
    sha256
        The hash to record as provenance (default: the hash of ``text``).

    Returns
    -------
    RuleSet
        The compiled rules.

    Raises
    ------
    RuleFileError
        Every problem with its YAML line (see :func:`load_rules`).
    """
    data, lines = _read_yaml(text, source)
    if not isinstance(data, dict):
        raise RuleFileError(
            [
                SpecError(
                    "a rules file must be a mapping of sections (version, name, parameters, ...)",
                    path=source,
                    line=1,
                )
            ]
        )
    try:
        spec = RulesFileSpec.model_validate(data)
    except ValidationError as exc:
        raise RuleFileError(_pydantic_problems(exc, lines, source)) from None
    digest = sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest()
    return _Compiler(spec, lines, source, digest).compile()


class _Compiler:
    def __init__(
        self, spec: RulesFileSpec, lines: dict[tuple[Any, ...], int], source: str, sha256: str
    ) -> None:
        self.spec = spec
        self.lines = lines
        self.source = source
        self.sha256 = sha256
        self.problems: list[SpecError] = []

    def fail(self, problem: str, loc: tuple[Any, ...], fix: str | None = None) -> None:
        self.problems.append(
            SpecError(
                problem,
                path=self.source,
                line=_line(self.lines, loc),
                field=_dotted(loc) or None,
                fix=fix,
            )
        )

    def expr(self, text: str, loc: tuple[Any, ...]) -> Expression | None:
        try:
            node = parse_expression(text)
        except ExpressionError as exc:
            self.fail(f"syntax error: {exc.describe()}", loc)
            return None
        return Expression(text=text, node=node, field=_dotted(loc), line=_line(self.lines, loc))

    def name_ok(self, name: str, loc: tuple[Any, ...], what: str) -> bool:
        if not _IDENT.match(name):
            self.fail(
                f"{what} name {name!r} is not a valid name: use letters, digits and "
                "'_', starting with a letter",
                loc,
            )
            return False
        if name in KEYWORDS:
            self.fail(f"{what} name {name!r} is a keyword of the expression language", loc)
            return False
        if name in RESERVED:
            self.fail(f"{what} name {name!r} is reserved (the rules define '{name}')", loc)
            return False
        return True

    def compile(self) -> RuleSet:
        s = self.spec
        defined: dict[str, tuple[str, tuple[Any, ...]]] = {}

        def define(name: str, what: str, loc: tuple[Any, ...], check_ident: bool = True) -> None:
            if check_ident and not self.name_ok(name, loc, what):
                return
            if name in defined:
                other_what, other_loc = defined[name]
                self.fail(
                    f"{what} {name!r} is already defined as {other_what} (line "
                    f"{_line(self.lines, other_loc)})",
                    loc,
                    fix="rename one of them",
                )
                return
            defined[name] = (what, loc)

        # inputs
        inputs: dict[str, InputDecl] | None = None
        if s.inputs is not None:
            inputs = {}
            for name, ispec in s.inputs.items():
                loc = ("inputs", name)
                if name in RESERVED:
                    self.fail(f"input {name!r} has a reserved name", loc)
                define(name, "an input", loc, check_ident=False)
                inputs[name] = InputDecl(
                    name,
                    ispec.type,
                    tuple(ispec.values) if ispec.values else None,
                    ispec.unit,
                    ispec.description,
                    _line(self.lines, loc),
                )

        # parameters and variables
        parameters: dict[str, Parameter] = {}
        for name, pspec in s.parameters.items():
            loc = ("parameters", name)
            define(name, "a parameter", loc)
            e = None
            if pspec.expr is not None:
                ploc = (*loc, "expr") if (*loc, "expr") in self.lines else loc
                e = self.expr(pspec.expr, ploc)
            parameters[name] = Parameter(
                name,
                pspec.value,
                e,
                pspec.unit,
                pspec.description,
                pspec.source,
                _line(self.lines, loc),
            )
        variables: dict[str, Variable] = {}
        for name, vspec in s.variables.items():
            loc = ("variables", name)
            define(name, "a variable", loc)
            vloc = (*loc, "expr") if (*loc, "expr") in self.lines else loc
            e = self.expr(vspec.expr, vloc)
            if e is not None:
                variables[name] = Variable(
                    name, e, vspec.unit, vspec.description, _line(self.lines, loc)
                )

        # dimensions and indicators
        dimensions: dict[str, Dimension] = {}
        indicators: dict[str, Indicator] = {}
        total = sum(d.weight for d in s.dimensions.values())
        if s.dimensions and abs(total - 1.0) > 1e-6:
            self.fail(
                f"the dimension weights add up to {total:g}, not 1",
                ("dimensions",),
                fix="the score is a weighted share of deprivations between 0 and 1: "
                "make the dimension weights sum to 1",
            )
        for dname, dspec in s.dimensions.items():
            dloc = ("dimensions", dname)
            define(dname, "a dimension", dloc)
            inner = sum(i.weight for i in dspec.indicators.values())
            for iname, ind in dspec.indicators.items():
                iloc = (*dloc, "indicators", iname)
                define(iname, "an indicator", iloc)
                e = self.expr(ind.deprived_if, (*iloc, "deprived_if"))
                if e is not None:
                    indicators[iname] = Indicator(
                        iname,
                        dname,
                        ind.label,
                        dspec.weight * ind.weight / inner,
                        e,
                        ind.missing,
                        ind.description,
                        _line(self.lines, iloc),
                    )
            dimensions[dname] = Dimension(
                dname, dspec.label, dspec.weight, tuple(dspec.indicators), _line(self.lines, dloc)
            )

        categories = self.categories()
        overrides = self.overrides(categories)

        # programmes
        programmes: dict[str, Programme] = {}
        for gname, gspec in s.programmes.items():
            gloc = ("programmes", gname)
            define(gname, "a programme", gloc)
            stage_names: dict[str, int] = {}
            stages: list[Stage] = []
            for section in ("eligibility", "outreach"):
                for k, st in enumerate(getattr(gspec, section)):
                    sloc = (*gloc, section, k)
                    if st.name in stage_names or st.name in {"review", "selected"}:
                        self.fail(
                            f"stage name {st.name!r} is used twice in this programme"
                            if st.name in stage_names
                            else f"stage name {st.name!r} is reserved for the outcome",
                            sloc,
                        )
                    stage_names[st.name] = k
                    if section == "outreach" and st.missing == "review":
                        self.fail(
                            "an outreach stage cannot send a case to review: use "
                            "missing: fail or pass",
                            (*sloc, "missing"),
                        )
                    e = self.expr(st.when, (*sloc, "when"))
                    if e is not None:
                        stages.append(
                            Stage(
                                st.name,
                                e,
                                st.missing,
                                st.description,
                                _line(self.lines, sloc),
                                section == "outreach",
                            )
                        )
            kinds: list[Kind] = []
            kind_names: set[str] = set()
            for k, ks in enumerate(gspec.kinds):
                kloc = (*gloc, "kinds", k)
                if ks.name in kind_names:
                    self.fail(f"kind {ks.name!r} is listed twice", kloc)
                kind_names.add(ks.name)
                e = self.expr(ks.when, (*kloc, "when"))
                if e is not None:
                    kinds.append(Kind(ks.name, e, ks.description, _line(self.lines, kloc)))
            amount = None if gspec.amount is None else self.expr(gspec.amount, (*gloc, "amount"))
            programmes[gname] = Programme(
                gname,
                gspec.label,
                gspec.description,
                gspec.legal_basis,
                tuple(x for x in stages if not x.outreach),
                tuple(x for x in stages if x.outreach),
                tuple(kinds),
                amount,
                gspec.amount_unit,
                gspec.review_outcome,
                _line(self.lines, gloc),
            )

        if not s.dimensions and not s.programmes:
            self.fail(
                "the rules define neither dimensions nor programmes: nothing to decide",
                (),
                fix="add a 'dimensions' or a 'programmes' section",
            )
        if s.categories and not s.dimensions:
            self.fail(
                "categories band the score, but there are no dimensions to score", ("categories",)
            )
        if s.overrides and not s.categories:
            self.fail("overrides change the category, but there are no categories", ("overrides",))

        if self.problems:
            raise RuleFileError(self.problems)

        rules = RuleSet(
            name=s.name,
            description=s.description,
            notice=s.notice,
            source=self.source,
            sha256=self.sha256,
            inputs=inputs,
            parameters=parameters,
            variables=variables,
            dimensions=dimensions,
            indicators=indicators,
            categories=categories,
            overrides=overrides,
            programmes=programmes,
            _lines=self.lines,
        )
        problems = _dependency_problems(rules) + rules.check_types(_declared_resolver(rules))
        if problems:
            raise RuleFileError(problems)
        return rules

    def categories(self) -> tuple[Category, ...]:
        cats: list[Category] = []
        codes: dict[str, int] = {}
        specs = self.spec.categories
        for k, c in enumerate(specs):
            loc = ("categories", k)
            if c.code in codes:
                self.fail(f"category code {c.code!r} is used twice", (*loc, "code"))
            codes[c.code] = k
            if c.below is not None and c.below <= c.lower:
                self.fail(
                    f"category {c.code!r} is empty: 'below' ({c.below:g}) must be "
                    f"above 'from' ({c.lower:g})",
                    loc,
                )
            if k == 0 and c.lower > 0:
                self.fail(
                    f"scores from 0 to {c.lower:g} fall in no category: the first "
                    f"category ({c.code!r}) must start at 0",
                    (*loc, "from"),
                )
            if k > 0:
                prev = specs[k - 1]
                prev_upper = math.inf if prev.below is None else prev.below
                if c.lower < prev_upper:
                    where = "is open-ended" if prev.below is None else f"ends below {prev.below:g}"
                    self.fail(
                        f"category {c.code!r} (from {c.lower:g}) overlaps category "
                        f"{prev.code!r}, which {where}",
                        (*loc, "from"),
                        fix="list the categories from least to most deprived, each starting "
                        "where the previous one ends",
                    )
                elif c.lower > prev_upper:
                    self.fail(
                        f"scores from {prev_upper:g} to {c.lower:g} fall in no category: "
                        f"{prev.code!r} ends below {prev_upper:g} but {c.code!r} starts at "
                        f"{c.lower:g}",
                        (*loc, "from"),
                        fix="start each category where the previous one ends",
                    )
            if k == len(specs) - 1 and c.below is not None and c.below <= 1.0:
                self.fail(
                    f"scores from {c.below:g} to 1 fall in no category: the last "
                    f"category ({c.code!r}) must have no 'below' (or one above 1)",
                    (*loc, "below"),
                )
            cats.append(
                Category(c.code, c.label, c.lower, c.below, c.description, _line(self.lines, loc))
            )
        return tuple(cats)

    def overrides(self, categories: tuple[Category, ...]) -> tuple[Override, ...]:
        codes = [c.code for c in categories]
        out: list[Override] = []
        names: set[str] = set()
        for k, o in enumerate(self.spec.overrides):
            loc = ("overrides", k)
            if o.name in names:
                self.fail(f"override {o.name!r} is listed twice", (*loc, "name"))
            names.add(o.name)
            action = next(a for a in ("set", "no_better_than", "no_worse_than") if getattr(o, a))
            target = str(getattr(o, action))
            if codes and target not in codes:
                self.fail(
                    f"{target!r} is not a category (categories: {', '.join(codes)})",
                    (*loc, action),
                    fix=_did_you_mean(target, codes),
                )
            e = self.expr(o.when, (*loc, "when"))
            if e is not None:
                out.append(
                    Override(
                        o.name,
                        e,
                        action,
                        target,
                        codes.index(target) if target in codes else -1,
                        o.missing,
                        o.description,
                        _line(self.lines, loc),
                    )
                )
        return tuple(out)


# ----------------------------------------------------------------------------------------
# names, types and dependencies


def _all_rule_names(rules: RuleSet) -> list[str]:
    names = [
        *rules.parameters,
        *rules.variables,
        *rules.indicators,
        *rules.dimensions,
        *rules.programmes,
    ]
    if rules.has_score:
        names.append("score")
    if rules.categories:
        names.append("category")
    return names


def _declared_resolver(rules: RuleSet) -> Callable[[str, int, str], VType]:
    """Types of columns at load time: declared inputs, or 'any' when none are declared."""

    def resolve(name: str, pos: int, text: str) -> VType:
        if rules.inputs is None:
            return ANY
        if name in rules.inputs:
            return rules.inputs[name].vtype()
        hint = _did_you_mean(name, [*rules.inputs, *_all_rule_names(rules)])
        raise ExpressionError(
            f"unknown column {name!r}: it is not a declared input, parameter, variable, "
            f"indicator, dimension or programme" + (f" ({hint})" if hint else ""),
            pos,
            text,
        )

    return resolve


class _TypeCheck:
    def __init__(self, rules: RuleSet, external: Callable[[str, int, str], VType]) -> None:
        self.rules = rules
        self.external = external
        self.problems: list[SpecError] = []
        self.reported: set[str] = set()
        self.memo: dict[str, VType] = {}
        self.busy: set[str] = set()

    def report(self, expr: Expression, exc: ExpressionError) -> None:
        if expr.field in self.reported:
            return
        self.reported.add(expr.field)
        msg = exc.describe()
        fix = None
        if "unknown column" in msg and self.rules.inputs is not None:
            fix = "declare it under 'inputs' (or fix the spelling)"
        self.problems.append(self.rules.error(msg, field=expr.field, line=expr.line, fix=fix))

    def infer(self, expr: Expression, *, aggregates: bool = False) -> VType | None:
        try:
            return infer_type(
                expr.node,
                expr.text,
                lambda n, p: self.type_of(n, p, expr.text),
                allow_aggregates=aggregates,
            )
        except ExpressionError as exc:
            self.report(expr, exc)
            return None

    def defined_type(self, name: str) -> VType:
        if name in self.memo:
            return self.memo[name]
        if name in self.busy:  # a cycle; reported by the dependency check
            return ANY
        self.busy.add(name)
        try:
            r = self.rules
            t: VType | None
            if name in r.parameters:
                p = r.parameters[name]
                if p.expr is None:
                    v = p.value
                    t = (
                        VType("boolean", True)
                        if isinstance(v, bool)
                        else VType("text", True, values=frozenset({v}))
                        if isinstance(v, str)
                        else VType("number", True)
                    )
                else:
                    t = self.infer(p.expr, aggregates=True)
                    if t is not None and not t.scalar:
                        self.report(
                            p.expr,
                            ExpressionError(
                                "a parameter must be one value for the whole population", None
                            ),
                        )
                        t = None
            else:
                t = self.infer(r.variables[name].expr)
                if t is not None and t.kind == "text":
                    self.report(
                        r.variables[name].expr,
                        ExpressionError("a variable must be a number or true/false", None),
                    )
                    t = None
            result = ANY if t is None else t
        finally:
            self.busy.discard(name)
        self.memo[name] = result
        return result

    def type_of(self, name: str, pos: int, text: str) -> VType:
        r = self.rules
        if name in r.parameters or name in r.variables:
            return self.defined_type(name)
        kind = r.kind_of(name)
        if kind in {"indicator", "programme"}:
            return BOOLEAN
        if kind in {"dimension", "score"}:
            return NUMBER
        if kind == "category":
            return VType("text", values=frozenset(r.category_codes))
        return self.external(name, pos, text)

    def want(self, expr: Expression, kind: str, what: str) -> None:
        t = self.infer(expr)
        if t is None or t.kind in {kind, "any"}:
            return
        if kind == "number" and t.kind == "boolean":
            return
        hint = " (compare it, e.g. `x == 1` or `x > 0`)" if t.kind == "number" else ""
        self.report(
            expr,
            ExpressionError(
                f"{what} must be {'true/false' if kind == 'boolean' else 'a number'}, but "
                f"`{expr.text}` gives {t.describe()}{hint}",
                None,
            ),
        )

    def run(self) -> list[SpecError]:
        r = self.rules
        for name in r.parameters:
            self.defined_type(name)
        for name in r.variables:
            self.defined_type(name)
        for i in r.indicators.values():
            self.want(i.expr, "boolean", "'deprived_if'")
        for o in r.overrides:
            self.want(o.when, "boolean", "an override's 'when'")
        for g in r.programmes.values():
            for s in g.stages:
                self.want(s.when, "boolean", "a stage's 'when'")
            for k in g.kinds:
                self.want(k.when, "boolean", "a kind's 'when'")
            if g.amount is not None:
                self.want(g.amount, "number", "'amount'")
        return self.problems


def _dependency_problems(rules: RuleSet) -> list[SpecError]:
    """Circular definitions, and parameters that depend on how families are scored."""
    deps: dict[str, list[str]] = {}
    where: dict[str, tuple[str, int | None]] = {}
    for p in rules.parameters.values():
        deps[p.name] = p.expr.names() if p.expr else []
        where[p.name] = (f"parameters.{p.name}", p.line)
    for v in rules.variables.values():
        deps[v.name] = v.expr.names()
        where[v.name] = (f"variables.{v.name}", v.line)
    for i in rules.indicators.values():
        deps[i.name] = i.expr.names()
        where[i.name] = (i.expr.field.rsplit(".", 1)[0], i.line)
    for d in rules.dimensions.values():
        deps[d.name] = list(d.indicators)
        where[d.name] = (f"dimensions.{d.name}", d.line)
    if rules.has_score:
        deps["score"] = list(rules.dimensions)
        where["score"] = ("dimensions", rules._lines.get(("dimensions",)))
    if rules.categories:
        deps["category"] = ["score", *(n for o in rules.overrides for n in o.when.names())]
        where["category"] = ("categories", rules._lines.get(("categories",)))
    for g in rules.programmes.values():
        deps[g.name] = [n for s in g.eligibility for n in s.when.names()]
        where[g.name] = (f"programmes.{g.name}", g.line)
    deps = {k: [n for n in v if n in deps] for k, v in deps.items()}

    problems: list[SpecError] = []
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in deps.get(n, []):
            if state.get(m) == 1:
                cycles.append([*stack[stack.index(m) :], m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in deps:
        if n not in state:
            visit(n)
    for cyc in cycles:
        fld, line = where.get(cyc[0], (None, None))
        if len(cyc) == 2:  # [name, name]: an expression that reads its own name
            problems.append(
                SpecError(
                    f"{cyc[0]!r} refers to itself",
                    path=rules.source,
                    line=line,
                    field=fld,
                    fix=f"names defined in the rules hide data columns: if you meant the column "
                    f"{cyc[0]!r}, give the {rules.kind_of(cyc[0])} another name",
                )
            )
            continue
        problems.append(
            SpecError(
                "circular definition: " + " → ".join(cyc),
                path=rules.source,
                line=line,
                field=fld,
                fix="break the cycle: a name cannot depend on itself",
            )
        )

    scored = {*rules.indicators, *rules.dimensions, *rules.programmes, "score", "category"}
    for p in rules.parameters.values():
        seen: set[str] = set()
        path: dict[str, str] = {}
        todo = [p.name]
        hit = None
        while todo and hit is None:
            n = todo.pop()
            for m in deps.get(n, []):
                if m in seen:
                    continue
                seen.add(m)
                path[m] = n
                if m in scored:
                    hit = m
                    break
                todo.append(m)
        if hit is not None:
            chain = [hit]
            while chain[-1] != p.name:
                chain.append(path[chain[-1]])
            problems.append(
                SpecError(
                    f"parameter {p.name!r} depends on {hit!r} ({' ← '.join(chain)}): parameters "
                    "are computed before families are scored",
                    path=rules.source,
                    line=p.line,
                    field=f"parameters.{p.name}",
                    fix="compute it from data columns and variables only",
                )
            )
    return problems
