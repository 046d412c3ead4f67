"""Vectorised, three-valued evaluation of a :class:`~fairaudit.rules.ruleset.RuleSet`.

Every expression is evaluated over whole columns with numpy. Numbers and true/false values
are ``float64`` arrays in which ``NaN`` means *unknown* (a missing registry record);
texts are integer codes into a list of labels, ``-1`` meaning unknown. Logic is Kleene's:
``false and unknown`` is false, ``true and unknown`` is unknown, comparisons with an unknown
value are unknown. What an unknown finally counts as is never implicit: each indicator
declares it (``deprived``, ``not_deprived``, ``review``), each programme stage too
(``fail``, ``pass``, ``review``).

``review`` means "a person must look at this family". A family is sent to review only when
the unknown could change its decision: the rules are evaluated once with every unknown
``review`` indicator counted as not deprived and once as deprived, and the family needs
review where the two decisions differ (or where a stage with ``missing: review`` is unknown
and no later stage rules the family out). A programme's ``review_outcome`` says what the
decision is meanwhile (``deny`` by default: support has not been given yet).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.errors import InputError
from fairaudit.rules.checks import VType
from fairaudit.rules.parser import (
    Binary,
    Boolean,
    Call,
    Compare,
    ListLiteral,
    Logical,
    Name,
    Node,
    Not,
    Number,
    String,
    Unary,
    walk,
)
from fairaudit.rules.ruleset import (
    _SCORE_DECIMALS,
    Programme,
    RuleFileError,
    RuleSet,
    _did_you_mean,
)

__all__ = [
    "Evaluation",
    "ProgrammeResult",
    "StatisticFn",
    "evaluate",
    "population_parameters",
    "statistic_inputs",
    "statistic_q",
]

NOT_ELIGIBLE, ELIGIBLE, REVIEW = 0, 1, 2


# ----------------------------------------------------------------------------------------
# values


@dataclass(frozen=True, slots=True)
class _Text:
    """Row-wise text: ``codes`` index ``labels``; -1 = unknown."""

    codes: np.ndarray
    labels: tuple[str, ...]

    def code_of(self, value: str) -> int:
        try:
            return self.labels.index(value)
        except ValueError:
            return -2  # matches no row, and is not "unknown"


Value = Any  # float | str | np.ndarray (float64) | _Text | tuple (a list literal)


def _arr(v: Value, n: int) -> np.ndarray:
    """A float64 array of length n (a scalar is repeated)."""
    if isinstance(v, np.ndarray):
        return v if v.ndim == 1 else np.broadcast_to(v, (n,)).astype("float64")
    return np.full(n, float(v), dtype="float64")


def _to_float(v: Value) -> Value:
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return float(v)
    if isinstance(v, bool | np.bool_ | int | np.integer | np.floating):
        return float(v)
    return v


def _isnan(v: Value) -> Any:
    return np.isnan(v) if isinstance(v, np.ndarray | float) else False


# ----------------------------------------------------------------------------------------
# columns


def _convert(series: pd.Series, name: str) -> tuple[np.ndarray | _Text, str]:
    """A column as the evaluator's value, and its kind: number, boolean or text."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        codes = series.cat.codes.to_numpy()
        if pd.api.types.is_numeric_dtype(cats.dtype) and not pd.api.types.is_bool_dtype(cats.dtype):
            values = np.append(np.asarray(cats, dtype="float64"), np.nan)
            return values[np.where(codes < 0, len(cats), codes)], "number"
        return _Text(codes.astype("int32", copy=False), tuple(str(c) for c in cats)), "text"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_complex_dtype(dtype):
            raise InputError(f"column {name!r} holds complex numbers", column=name)
        kind = "boolean" if pd.api.types.is_bool_dtype(dtype) else "number"
        return series.to_numpy(dtype="float64", na_value=np.nan), kind
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        labels = list(uniques)
        if labels and all(isinstance(u, bool | np.bool_) for u in labels):
            lut = np.array([float(u) for u in labels] + [np.nan])
            return lut[np.where(codes < 0, len(labels), codes)], "boolean"
        return _Text(codes.astype("int32", copy=False), tuple(str(u) for u in labels)), "text"
    raise InputError(
        f"column {name!r} has type {dtype}, which rules cannot read",
        column=name,
        fix="give rules numbers, true/false values or texts (e.g. convert dates to ages)",
    )


_Converted = tuple[np.ndarray | _Text, str]


class _Columns:
    """The data the rules read: frame columns, replaced by ``overrides`` where given."""

    def __init__(
        self,
        rules: RuleSet,
        frame: pd.DataFrame,
        overrides: Mapping[str, Any] | None = None,
        cache: dict[str, _Converted] | None = None,
    ) -> None:
        self.rules = rules
        self.frame = frame
        self.n = len(frame)
        self.overrides = dict(overrides or {})
        # converted frame columns, shareable between evaluations of the same frame
        self.cache: dict[str, _Converted] = {} if cache is None else cache
        self.local: dict[str, _Converted] = {}

    def has(self, name: str) -> bool:
        return name in self.overrides or name in self.frame.columns

    def converted(self, name: str) -> _Converted:
        if name in self.local:
            return self.local[name]
        if name in self.overrides:
            raw = self.overrides[name]
            if isinstance(raw, pd.Series):
                series = raw.reset_index(drop=True)
            elif isinstance(raw, str):  # one text for every row
                series = pd.Series(_from_codes(np.zeros(self.n), [raw]))
            elif np.ndim(raw) == 0:
                series = pd.Series(np.full(self.n, raw))
            else:
                series = pd.Series(raw)
            if len(series) != self.n:
                raise InputError(
                    f"the replacement for column {name!r} has {len(series)} "
                    f"values for {self.n} rows",
                    column=name,
                )
            value, kind = _convert(series, name)
            self.local[name] = (self._checked(name, value), kind)
            return self.local[name]
        if name not in self.cache:
            value, kind = _convert(self.frame[name], name)
            self.cache[name] = (self._checked(name, value), kind)
        return self.cache[name]

    def get(self, name: str) -> np.ndarray | _Text:
        return self.converted(name)[0]

    def vtype(self, name: str) -> VType:
        return VType(self.converted(name)[1])

    def _checked(self, name: str, value: np.ndarray | _Text) -> np.ndarray | _Text:
        decl = None if self.rules.inputs is None else self.rules.inputs.get(name)
        if decl is None:
            return value
        where = f" (declared as {decl.kind} in {self.rules.source}"
        where += f":{decl.line})" if decl.line else ")"
        if decl.kind in {"number", "boolean"} and isinstance(value, _Text):
            raise InputError(
                f"column {name!r} holds text, but the rules read it as {decl.kind}{where}",
                column=name,
                fix="convert the column, or declare it as a category",
            )
        if decl.kind == "boolean" and isinstance(value, np.ndarray):
            known = value[~np.isnan(value)]
            bad = known[(known != 0) & (known != 1)]
            if bad.size:
                raise InputError(
                    f"column {name!r} must be true/false (or 0/1), but holds "
                    f"{np.unique(bad)[:5].tolist()}{where}",
                    column=name,
                )
        if decl.kind == "category":
            if not isinstance(value, _Text):
                raise InputError(
                    f"column {name!r} holds numbers, but the rules read it as a category{where}",
                    column=name,
                    fix="store the category as text",
                )
            used = np.bincount(value.codes[value.codes >= 0], minlength=len(value.labels)) > 0
            allowed = set(decl.values or ())
            unexpected = [
                lab
                for lab, u in zip(value.labels, used, strict=True)
                if u and decl.values is not None and lab not in allowed
            ]
            if unexpected:
                shown = ", ".join(repr(u) for u in unexpected[:5])
                raise InputError(
                    f"column {name!r} has values the rules do not know: {shown}{where}",
                    column=name,
                    fix="fix the data, or add the values to the declaration",
                )
        return value


def _prepare(rules: RuleSet, cols: _Columns) -> None:
    """Refuse data that lacks a column the rules read, or whose columns do not type-check."""
    refs = rules.references()
    problems = []
    for name, exprs in refs.items():
        if cols.has(name):
            continue
        first = exprs[0]
        if rules.inputs is not None:
            decl = rules.inputs[name]
            raise InputError(
                f"the data has no column {name!r}, which the rules read",
                column=name,
                fix=f"add it to the data (declared in {rules.source}:{decl.line})",
            )
        hint = _did_you_mean(name, [str(c) for c in cols.frame.columns])
        problems.append(
            rules.error(
                f"unknown column {name!r}: the data has no such column and the rules do not "
                "define it",
                field=first.field,
                line=first.line,
                fix=hint or "define it (parameters, variables) or add the column to the data",
            )
        )
    if problems:
        raise RuleFileError(problems)
    for name in refs:
        cols.get(name)  # convert (and check declared types) up front
    if rules.inputs is None:
        types = {name: cols.vtype(name) for name in refs}
        problems = rules.check_types(lambda name, pos, text: types[name])
        if problems:
            raise RuleFileError(problems)


# ----------------------------------------------------------------------------------------
# operators (three-valued)

_CMP = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _with_unknown(result: Any, unknown: Any) -> Value:
    out = np.asarray(result, dtype="float64")
    if out.ndim == 0:
        return float("nan") if bool(unknown) else float(out)
    if np.ndim(unknown) == 0:
        if unknown:
            out = np.full(out.shape, np.nan)
    elif unknown.any():
        out = out.copy()
        out[unknown] = np.nan
    return out


def _and(a: Value, b: Value) -> Value:
    lo = np.minimum(a, b)  # NaN when either is unknown
    false = (np.asarray(a) == 0) | (np.asarray(b) == 0)
    return _to_float(np.where(false, 0.0, lo))


def _or(a: Value, b: Value) -> Value:
    hi = np.maximum(a, b)
    true = (np.asarray(a) == 1) | (np.asarray(b) == 1)
    return _to_float(np.where(true, 1.0, hi))


def _text_codes(a: _Text | str, b: _Text | str) -> tuple[Any, Any, Any]:
    """Comparable codes for two texts (one at least row-wise) and their unknown mask."""
    if isinstance(a, _Text) and isinstance(b, str):
        return a.codes, a.code_of(b), a.codes == -1
    if isinstance(a, str) and isinstance(b, _Text):
        return b.code_of(a), b.codes, b.codes == -1
    if not (isinstance(a, _Text) and isinstance(b, _Text)):  # pragma: no cover
        raise TypeError("texts compare only with texts (the type check ensures it)")
    union = list(dict.fromkeys(a.labels + b.labels))
    lut_b = np.array([union.index(x) for x in b.labels] + [-1], dtype="int32")
    bc = lut_b[np.where(b.codes < 0, len(b.labels), b.codes)]
    return a.codes, bc, (a.codes == -1) | (bc == -1)


def _compare(op: str, a: Value, b: Value) -> Value:
    if op in {"in", "not in"}:
        items = list(b)
        if isinstance(a, _Text):
            codes = [a.code_of(s) for s in items]
            res = _with_unknown(np.isin(a.codes, codes), a.codes == -1)
        elif isinstance(a, str):
            res = float(a in items)
        else:
            nums = [float(x) for x in items]
            res = _with_unknown(np.isin(a, nums), _isnan(a))
        return 1.0 - res if op == "not in" else res
    if isinstance(a, _Text | str) or isinstance(b, _Text | str):
        if isinstance(a, str) and isinstance(b, str):
            return float(a == b) if op == "==" else float(a != b)
        ac, bc, unknown = _text_codes(a, b)
        return _with_unknown(_CMP[op](ac, bc), unknown)
    with np.errstate(invalid="ignore"):
        res = _CMP[op](a, b)
    return _with_unknown(res, _isnan(a) | _isnan(b))


def _divide(a: Value, b: Value) -> Value:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(a, b)
    zero = np.asarray(b) == 0
    if np.ndim(out) == 0:
        return float("nan") if bool(zero) else float(out)
    if np.ndim(zero) == 0:
        return np.full(out.shape, np.nan) if zero else out
    out[zero] = np.nan
    return out


# ----------------------------------------------------------------------------------------
# one evaluation "world"


@dataclass
class _ProgWorld:
    status: np.ndarray  # int8: 0 not eligible, 1 eligible, 2 review
    stage: np.ndarray  # int16: deciding stage (denied), stage in review, or -1
    missing: np.ndarray  # bool: the deciding stage's condition was unknown


class _Env:
    def __init__(
        self,
        rules: RuleSet,
        cols: _Columns,
        *,
        world: str = "low",
        rows: np.ndarray | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.rules = rules
        self.cols = cols
        self.world = world
        self.rows = rows
        self.n = cols.n if rows is None else len(rows)
        self.params: dict[str, Any] = {} if params is None else params
        self.cache: dict[str, Value] = {}
        self.unknown: dict[str, np.ndarray] = {}
        self.progs: dict[str, _ProgWorld] = {}
        self.category_codes: np.ndarray | None = None
        self.category_source: np.ndarray | None = None
        #: computes population statistics elsewhere (see population_parameters)
        self.statistic_hook: Callable[[Call, str | None], float] | None = None

    # names ------------------------------------------------------------------------------
    def value(self, name: str) -> Value:
        if name in self.cache:
            return self.cache[name]
        r = self.rules
        kind = r.kind_of(name)
        v: Value
        if kind == "parameter":
            v = self.parameter(name)
        elif kind == "variable":
            v = self.eval(r.variables[name].expr.node)
        elif kind == "indicator":
            v = self.indicator(name)
        elif kind == "dimension":
            d = r.dimensions[name]
            v = np.zeros(self.n)
            for i in d.indicators:
                v = v + r.indicators[i].weight * self.value(i)
        elif kind == "score":
            total = np.zeros(self.n)
            for dname in r.dimensions:
                total = total + self.value(dname)
            # 1/3 + 1/3 + 1/3 must reach a cut-off of 1: round away float noise
            v = np.round(total, _SCORE_DECIMALS)
        elif kind == "category":
            self.categorise()
            assert self.category_codes is not None
            v = _Text(self.category_codes.astype("int32"), r.category_codes)
        elif kind == "programme":
            g = r.programmes[name]
            status = self.programme(name).status
            eligible = (status == ELIGIBLE) | ((status == REVIEW) & (g.review_outcome == "grant"))
            v = eligible.astype("float64")
        else:
            col = self.cols.get(name)
            if self.rows is not None:
                col = (
                    _Text(col.codes[self.rows], col.labels)
                    if isinstance(col, _Text)
                    else col[self.rows]
                )
            v = col
        self.cache[name] = v
        return v

    def parameter(self, name: str) -> Value:
        if name not in self.params:
            p = self.rules.parameters[name]
            if p.expr is None:
                value = p.value
            else:
                value = _to_float(self.eval(p.expr.node, aggregates_for=name))
            self.params[name] = value
        return self.params[name]

    def indicator(self, name: str) -> np.ndarray:
        ind = self.rules.indicators[name]
        raw = _arr(self.eval(ind.expr.node), self.n)
        unknown = np.isnan(raw)
        self.unknown[name] = unknown
        if unknown.any():
            fill = {"deprived": 1.0, "not_deprived": 0.0}.get(
                ind.missing, 1.0 if self.world == "high" else 0.0
            )
            raw = np.where(unknown, fill, raw)
        return raw

    def categorise(self) -> None:
        if self.category_codes is not None:
            return
        r = self.rules
        score = self.value("score")
        lowers = np.array([c.lower for c in r.categories])
        codes = (np.searchsorted(lowers, score, side="right") - 1).astype("int8")
        source = np.full(self.n, -1, dtype="int16")
        for k, o in enumerate(r.overrides):
            cond = _arr(self.eval(o.when.node), self.n)
            hit = cond == 1
            if o.missing == "apply":
                hit |= np.isnan(cond)
            t = np.int8(o.target_index)
            if o.action == "set":
                new = np.full(self.n, t, dtype="int8")
            elif o.action == "no_better_than":
                new = np.maximum(codes, t)
            else:
                new = np.minimum(codes, t)
            changed = hit & (new != codes)
            source[changed] = k
            codes = np.where(hit, new, codes).astype("int8")
        self.category_codes = codes
        self.category_source = source

    def programme(self, name: str) -> _ProgWorld:
        if name in self.progs:
            return self.progs[name]
        g = self.rules.programmes[name]
        n = self.n
        open_ = np.ones(n, dtype=bool)
        stage = np.full(n, -1, dtype="int16")
        missing = np.zeros(n, dtype=bool)
        review = np.zeros(n, dtype=bool)
        review_stage = np.full(n, -1, dtype="int16")
        for k, s in enumerate(g.eligibility):
            v = _arr(self.eval(s.when.node), n)
            unknown = np.isnan(v)
            if s.missing == "fail":
                fail = v != 1  # NaN != 1 too
            else:
                fail = v == 0
                if s.missing == "review":
                    new = unknown & open_ & ~review
                    review_stage[new] = k
                    review |= unknown & open_
            decided = fail & open_
            stage[decided] = k
            missing[decided] = unknown[decided]
            open_ &= ~fail
        status = np.where(open_, np.where(review, REVIEW, ELIGIBLE), NOT_ELIGIBLE).astype("int8")
        stage = np.where(status == REVIEW, review_stage, stage).astype("int16")
        result = _ProgWorld(status, stage, missing & (status == NOT_ELIGIBLE))
        self.progs[name] = result
        return result

    # expressions ------------------------------------------------------------------------
    def eval(self, node: Node, *, aggregates_for: str | None = None) -> Value:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Boolean):
            return 1.0 if node.value else 0.0
        if isinstance(node, String):
            return node.value
        if isinstance(node, Name):
            return self.value(node.name)
        if isinstance(node, ListLiteral):
            return tuple(
                (1.0 if i.value else 0.0) if isinstance(i, Boolean) else i.value  # type: ignore[attr-defined]
                for i in node.items
            )
        if isinstance(node, Unary):
            v = self.eval(node.operand, aggregates_for=aggregates_for)
            return _to_float(-v if node.op == "-" else v)
        if isinstance(node, Binary):
            a = self.eval(node.left, aggregates_for=aggregates_for)
            b = self.eval(node.right, aggregates_for=aggregates_for)
            if node.op == "/":
                return _divide(a, b)
            if node.op == "+":
                return _to_float(np.add(a, b))
            if node.op == "-":
                return _to_float(np.subtract(a, b))
            return _to_float(np.multiply(a, b))
        if isinstance(node, Compare):
            values = [self.eval(o, aggregates_for=aggregates_for) for o in node.operands]
            out: Value = 1.0
            for k, op in enumerate(node.ops):
                out = _and(out, _compare(op, values[k], values[k + 1]))
            return out
        if isinstance(node, Logical):
            fn = _and if node.op == "and" else _or
            acc = self.eval(node.operands[0], aggregates_for=aggregates_for)
            for o in node.operands[1:]:
                acc = fn(acc, self.eval(o, aggregates_for=aggregates_for))
            return acc
        if isinstance(node, Not):
            return _to_float(
                np.subtract(1.0, self.eval(node.operand, aggregates_for=aggregates_for))
            )
        if isinstance(node, Call):
            return self.call(node, aggregates_for)
        raise TypeError(f"unsupported node {node!r}")  # pragma: no cover

    def call(self, node: Call, aggregates_for: str | None) -> Value:
        f = node.func
        if f in {"median", "mean", "quantile"}:
            return self.statistic(node, aggregates_for)
        args = [self.eval(a, aggregates_for=aggregates_for) for a in node.args]
        if f == "if":
            c, a, b = args
            if np.ndim(c) == 0 and np.ndim(a) == 0 and np.ndim(b) == 0:
                return float("nan") if np.isnan(c) else (a if c == 1 else b)
            out = np.where(np.asarray(c) == 1, a, b).astype("float64")
            out = np.broadcast_to(out, (self.n,)).copy() if out.ndim == 0 else out
            return _with_unknown(out, _isnan(c))
        if f == "min":
            return _to_float(np.minimum.reduce(np.broadcast_arrays(*map(np.asarray, args))))
        if f == "max":
            return _to_float(np.maximum.reduce(np.broadcast_arrays(*map(np.asarray, args))))
        if f == "abs":
            return _to_float(np.abs(args[0]))
        if f == "floor":
            return _to_float(np.floor(args[0]))
        if f == "ceil":
            return _to_float(np.ceil(args[0]))
        if f == "round":
            digits = int(args[1]) if len(args) > 1 else 0
            return _to_float(np.round(args[0], digits))
        if f == "is_missing":
            x = args[0]
            if isinstance(x, _Text):
                return (x.codes == -1).astype("float64")
            if isinstance(x, str):
                return 0.0
            return _to_float(np.isnan(x).astype("float64"))
        if f == "coalesce":
            out = args[0]
            for b in args[1:]:
                out = _to_float(np.where(np.isnan(out), b, out))
            return out
        raise TypeError(f"unsupported function {f}")  # pragma: no cover

    def statistic(self, node: Call, name: str | None) -> float:
        if self.statistic_hook is not None:
            return self.statistic_hook(node, name)
        from fairaudit.rules.statistics import Summary, weighted_quantile

        x, w = self.statistic_inputs(node, name)
        if not len(x):
            raise _no_values(node.func, name)
        if node.func == "mean":
            return Summary.of(x, w).mean()
        return weighted_quantile(x, w, statistic_q(node))

    def statistic_inputs(self, node: Call, name: str | None) -> tuple[np.ndarray, np.ndarray]:
        """The known values of a statistic's argument and their (positive) weights."""
        f = node.func
        x = _arr(self.eval(node.args[0]), self.n)
        weight_at = 2 if f == "quantile" else 1
        w = (
            _arr(self.eval(node.args[weight_at]), self.n)
            if len(node.args) > weight_at
            else np.ones(self.n)
        )
        keep = ~np.isnan(x) & ~np.isnan(w)
        if (w[keep] < 0).any():
            raise InputError(
                f"parameter {name!r}: the weights of {f}() include negative values",
                fix="weights must be zero or positive",
            )
        keep &= w > 0
        return x[keep], w[keep]


def statistic_q(node: Call) -> float:
    """The quantile a ``median`` or ``quantile`` call asks for."""
    return 0.5 if node.func == "median" else float(node.args[1].value)  # type: ignore[attr-defined]


def _no_values(func: str, name: str | None) -> InputError:
    return InputError(
        f"parameter {name!r}: {func}() has no known values to summarise",
        fix="check that the data is not empty and the columns it reads are filled",
    )


#: ``statistic(parameter, call, parameters known so far) -> value``: computes one
#: population statistic elsewhere (on a cluster), for :func:`population_parameters`.
StatisticFn = Callable[[str, Call, dict[str, Any]], float]


def population_parameters(
    rules: RuleSet, statistic: StatisticFn, parameters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every parameter's value, with each population statistic computed by ``statistic``.

    The rules' own arithmetic combines the statistics (``max(0.35 * median_income_pc,
    ...)``); ``statistic`` is called once per statistic with the parameters its argument
    needs already known, so whoever evaluates the argument row by row (an executor, with
    :func:`statistic_inputs`) never computes a parameter from its own rows.

    Raises
    ------
    RuleFileError
        A statistic whose argument needs something that is itself a population-wide
        computation other than a parameter (another statistic inside it, a category or a
        programme's decision): pin such parameters under the loader's ``parameters:``.
    """
    pinned = dict(parameters or {})
    env = _Env(
        rules,
        _Columns(rules, pd.DataFrame()),
        params={k: _to_float(v) if not isinstance(v, str) else v for k, v in pinned.items()},
    )

    def hook(node: Call, name: str | None) -> float:
        needs, problem = _needs(rules, node)
        if problem is not None or name is None:
            raise rules.error(
                f"parameter {name!r}: {node.func}() over {problem or 'this expression'} "
                "cannot be computed in parts (on a cluster)",
                field=f"parameters.{name}",
                line=rules._lines.get(("parameters", name or "")),
                fix=f"pin {name!r} under the rules loader's `parameters:` in the spec",
            )
        for dep in needs:
            env.value(dep)
        return statistic(name, node, dict(env.params))

    env.statistic_hook = hook
    with np.errstate(all="ignore"):
        for name in rules.parameters:
            env.value(name)
    return dict(env.params)


def _needs(rules: RuleSet, node: Call) -> tuple[list[str], str | None]:
    """The parameters a statistic's argument reads (through variables, indicators...), or
    what it reads that cannot be computed row by row."""
    params: list[str] = []
    seen: set[str] = set()
    stack: list[Node] = list(node.args)
    names: list[str] = []
    while stack or names:
        if stack:
            for sub in walk(stack.pop()):
                if isinstance(sub, Call) and sub.func in {"median", "mean", "quantile"}:
                    return params, f"another {sub.func}()"
                if isinstance(sub, Name):
                    names.append(sub.name)
            continue
        name = names.pop()
        if name in seen:
            continue
        seen.add(name)
        kind = rules.kind_of(name)
        if kind == "parameter":
            params.append(name)
        elif kind == "variable":
            stack.append(rules.variables[name].expr.node)
        elif kind == "indicator":
            stack.append(rules.indicators[name].expr.node)
        elif kind == "dimension":
            names.extend(rules.dimensions[name].indicators)
        elif kind == "score":
            names.extend(rules.dimensions)
        elif kind in {"category", "programme"}:
            return params, f"the {kind} {name!r}"
    return params, None


def statistic_inputs(
    rules: RuleSet, frame: pd.DataFrame, node: Call, name: str, parameters: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """A statistic's known values and weights in ``frame`` (one batch of the population),
    with ``parameters`` pinned: what an executor contributes to :func:`population_parameters`.
    """
    cols = _Columns(rules, frame)
    with np.errstate(all="ignore"):
        _prepare(rules, cols)
        env = _Env(rules, cols, params=dict(parameters))

        def refuse(node: Call, inner: str | None) -> float:  # pragma: no cover - see _needs
            raise InputError(f"parameter {inner!r} is needed but was not computed first")

        env.statistic_hook = refuse
        return env.statistic_inputs(node, name)


# ----------------------------------------------------------------------------------------
# results


def _from_codes(codes: Any, categories: Sequence[str], ordered: bool = False) -> Any:
    return pd.Categorical.from_codes(
        np.asarray(codes, dtype="int32"), categories=pd.Index(list(categories)), ordered=ordered
    )


@dataclass(frozen=True, eq=False)
class ProgrammeResult:
    """What a programme decided for every row.

    Attributes
    ----------
    programme
        The programme's definition.
    status
        ``int8``: 0 not eligible, 1 eligible, 2 needs manual review (an unknown value could
        change the decision; ``programme.review_outcome`` says what it gets meanwhile).
    stage
        ``int16`` index into ``programme.eligibility``: for status 0 the stage that ruled
        the row out (the first one it fails); for status 2 the stage whose unknown value
        sent it to review (-1 when unknown indicators did); otherwise -1.
    stage_missing
        True where the deciding stage's condition was unknown and its ``missing`` policy
        decided.
    outreach_stage
        ``int16`` index into ``programme.outreach`` of the first outreach stage an eligible
        row fails (the channel did not reach it), else -1.
    outreach_missing
        True where that outreach stage's condition was unknown.
    kind
        The first matching kind of each eligible row (missing elsewhere), or None.
    amount
        The benefit amount of each eligible row (0 elsewhere), or None.
    """

    programme: Programme
    status: np.ndarray
    stage: np.ndarray
    stage_missing: np.ndarray
    outreach_stage: np.ndarray
    outreach_missing: np.ndarray
    kind: pd.Categorical | None
    amount: np.ndarray | None

    @property
    def eligible(self) -> np.ndarray:
        """``int8`` 0/1: passes every eligibility stage (review rows per review_outcome)."""
        grant = self.programme.review_outcome == "grant"
        return ((self.status == ELIGIBLE) | ((self.status == REVIEW) & grant)).astype("int8")

    @property
    def review(self) -> np.ndarray:
        """``bool``: the row needs manual review."""
        return self.status == REVIEW

    def decision(self, include_outreach: bool = True) -> np.ndarray:
        """``int8`` 0/1: eligible, and (with ``include_outreach``) reached by the channel."""
        d = self.eligible
        if include_outreach and self.programme.outreach:
            d = (d.astype(bool) & (self.outreach_stage < 0)).astype("int8")
        return d

    @property
    def stage_labels(self) -> list[str]:
        """The categories of :meth:`deciding_stage`."""
        g = self.programme
        return (
            [s.name for s in g.eligibility] + [s.name for s in g.outreach] + ["review", "selected"]
        )

    def deciding_stage(self, include_outreach: bool = True) -> pd.Categorical:
        """What decided each row: the stage that ruled it out (eligibility or outreach),
        ``review`` (denied pending manual review), or ``selected``."""
        g = self.programme
        n_e, n_o = len(g.eligibility), len(g.outreach)
        codes = np.full(len(self.status), n_e + n_o + 1, dtype="int16")  # selected
        denied = self.status == NOT_ELIGIBLE
        codes[denied] = self.stage[denied]
        eligible = self.eligible.astype(bool)
        codes[(self.status == REVIEW) & ~eligible] = n_e + n_o  # review
        if include_outreach and n_o:
            missed = eligible & (self.outreach_stage >= 0)
            codes[missed] = n_e + self.outreach_stage[missed]
        return _from_codes(codes, categories=self.stage_labels)

    def deciding_missing(self, include_outreach: bool = True) -> np.ndarray:
        """``bool``: the deciding stage's condition was unknown (its policy decided)."""
        out = self.stage_missing.copy()
        if include_outreach and self.programme.outreach:
            missed = self.eligible.astype(bool) & (self.outreach_stage >= 0)
            out[missed] = self.outreach_missing[missed]
        return out


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The rules applied to every row of a frame.

    Attributes
    ----------
    rules
        The rule set.
    n
        Number of rows.
    parameters
        The value of every parameter (statistics computed on this frame, or pinned).
    variables
        The value of every variable, one ``float64`` per row (NaN = unknown; true/false
        values are 1/0).
    indicators
        ``int8`` 0/1 per indicator after its missing policy (``review`` counted as 0).
    unknown
        ``bool`` per indicator: its value was unknown before the policy applied.
    dimensions
        Each dimension's contribution to the score (weights of its deprived indicators).
    score
        The weighted deprivation score in [0, 1], or None without dimensions.
    category
        Ordered categorical of the category (after overrides), or None.
    category_source
        Categorical: ``score``, or the name of the override that set the category.
    category_review
        ``bool``: the category depends on an unknown ``review`` indicator.
    programmes
        A :class:`ProgrammeResult` per evaluated programme.
    """

    rules: RuleSet
    n: int
    parameters: dict[str, Any]
    variables: dict[str, np.ndarray]
    indicators: dict[str, np.ndarray]
    unknown: dict[str, np.ndarray]
    dimensions: dict[str, np.ndarray]
    score: np.ndarray | None
    category: pd.Categorical | None
    category_source: pd.Categorical | None
    category_review: np.ndarray | None
    programmes: dict[str, ProgrammeResult]

    def _names_of(self, flags: Mapping[str, np.ndarray]) -> pd.Categorical:
        names = list(flags)
        if not names:
            return _from_codes(np.zeros(self.n, dtype="int32"), [""])
        mask = np.zeros(self.n, dtype="int64")
        for k, name in enumerate(names):
            mask |= flags[name].astype("int64") << k
        uniq, inverse = np.unique(mask, return_inverse=True)
        labels = [",".join(nm for k, nm in enumerate(names) if (int(u) >> k) & 1) for u in uniq]
        return _from_codes(inverse.astype("int32"), categories=labels)

    def deprived(self) -> pd.Categorical:
        """The deprived indicators of each row, comma-separated in file order."""
        return self._names_of(self.indicators)

    def unknown_indicators(self) -> pd.Categorical:
        """The indicators whose value was unknown for each row, comma-separated."""
        return self._names_of(self.unknown)

    def contributions(self) -> pd.DataFrame:
        """Each indicator's exact contribution to each row's score (weight × deprived)."""
        return pd.DataFrame(
            {
                name: self.rules.indicators[name].weight * flag
                for name, flag in self.indicators.items()
            }
        )


def evaluate(
    rules: RuleSet,
    frame: pd.DataFrame,
    *,
    overrides: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    programmes: Sequence[str] | None = None,
) -> Evaluation:
    """Apply a rule set to every row of a frame.

    Parameters
    ----------
    rules
        The compiled rules (:func:`~fairaudit.rules.load_rules`).
    frame
        One row per unit (family); it must hold every column the rules read.
    overrides
        Column name -> replacement values (a Series or array of the frame's length, or one
        value for every row). Used for counterfactuals: evaluate the rules as if a
        registry field held its true value.
    parameters
        Parameter name -> value, pinning parameters instead of computing them (e.g. a
        median computed on the whole population when the frame is one chunk of it).
    programmes
        Which programmes to evaluate (default: all).

    Returns
    -------
    Evaluation
        Indicators, score, category and every programme's decision and reasons.

    Raises
    ------
    RuleFileError
        The rules read a column the data lacks, or a column's type does not fit how the
        rules use it (when the file does not declare its inputs).
    InputError
        A declared input is missing or holds values of the wrong kind.
    """
    cols = _Columns(rules, frame, overrides)
    return _evaluate(rules, cols, parameters=parameters, programmes=programmes)


def _evaluate(
    rules: RuleSet,
    cols: _Columns,
    *,
    parameters: Mapping[str, Any] | None = None,
    programmes: Sequence[str] | None = None,
) -> Evaluation:
    # Unknown values, division by zero and overflow are handled explicitly (NaN means
    # unknown), so numpy's floating-point warnings carry no information here.
    with np.errstate(all="ignore"):
        return _evaluate_quietly(rules, cols, parameters=parameters, programmes=programmes)


def _evaluate_quietly(
    rules: RuleSet,
    cols: _Columns,
    *,
    parameters: Mapping[str, Any] | None,
    programmes: Sequence[str] | None,
) -> Evaluation:
    _prepare(rules, cols)
    wanted = list(rules.programmes) if programmes is None else list(programmes)
    for name in wanted:
        if name not in rules.programmes:
            raise rules.error(
                f"there is no programme {name!r}",
                field="programmes",
                line=rules._lines.get(("programmes",)),
                fix=f"choose one of: {', '.join(rules.programmes) or 'none'}",
            )
    pinned = dict(parameters or {})
    for name in pinned:
        if name not in rules.parameters:
            raise rules.error(
                f"there is no parameter {name!r} to pin",
                field="parameters",
                line=rules._lines.get(("parameters",)),
                fix=_did_you_mean(name, list(rules.parameters))
                or f"parameters: {', '.join(rules.parameters) or 'none'}",
            )
    env = _Env(
        rules,
        cols,
        params={k: _to_float(v) if not isinstance(v, str) else v for k, v in pinned.items()},
    )
    for name in rules.parameters:
        env.value(name)
    n = cols.n

    variables = {name: _arr(env.value(name), n) for name in rules.variables}
    indicators = {name: env.value(name) for name in rules.indicators}
    dimensions = {name: env.value(name) for name in rules.dimensions}
    score = env.value("score") if rules.has_score else None
    if rules.categories:
        env.categorise()
    progs = {name: env.programme(name) for name in wanted}

    # The second world: unknown `review` indicators counted as deprived, on the rows that
    # have any; rows whose decision differs between the worlds need review.
    category_review = np.zeros(n, dtype=bool) if rules.categories else None
    review_inds = [i for i, ind in rules.indicators.items() if ind.missing == "review"]
    rows_mask = np.zeros(n, dtype=bool)
    for i in review_inds:
        rows_mask |= env.unknown[i]
    if rows_mask.any():
        rows = np.flatnonzero(rows_mask)
        high = _Env(rules, cols, world="high", rows=rows, params=env.params)
        if rules.categories:
            high.categorise()
            assert env.category_codes is not None and high.category_codes is not None
            assert category_review is not None
            category_review[rows] = env.category_codes[rows] != high.category_codes
        for name in wanted:
            low_p, high_p = progs[name], high.programme(name)
            differs = low_p.status[rows] != high_p.status
            idx = rows[differs]
            low_p.status[idx] = REVIEW
            low_p.stage[idx] = -1
            low_p.missing[idx] = False

    results = {name: _finish(env, rules.programmes[name], progs[name]) for name in wanted}

    category = source = None
    if rules.categories:
        assert env.category_codes is not None and env.category_source is not None
        category = _from_codes(
            env.category_codes, categories=list(rules.category_codes), ordered=True
        )
        source = _from_codes(
            env.category_source + 1, categories=["score", *(o.name for o in rules.overrides)]
        )
    return Evaluation(
        rules=rules,
        n=n,
        parameters=dict(env.params),
        variables=variables,
        indicators={k: v.astype("int8") for k, v in indicators.items()},
        unknown={k: env.unknown[k] for k in rules.indicators},
        dimensions=dimensions,
        score=score,
        category=category,
        category_source=source,
        category_review=category_review,
        programmes=results,
    )


def _finish(env: _Env, g: Programme, world: _ProgWorld) -> ProgrammeResult:
    n = env.n
    grant = g.review_outcome == "grant"
    eligible = (world.status == ELIGIBLE) | ((world.status == REVIEW) & grant)
    outreach_stage = np.full(n, -1, dtype="int16")
    outreach_missing = np.zeros(n, dtype=bool)
    open_ = eligible.copy()
    for k, s in enumerate(g.outreach):
        v = _arr(env.eval(s.when.node), n)
        unknown = np.isnan(v)
        fail = (v != 1) if s.missing == "fail" else (v == 0)
        hit = fail & open_
        outreach_stage[hit] = k
        outreach_missing[hit] = unknown[hit]
        open_ &= ~fail
    kind = None
    if g.kinds:
        codes = np.full(n, -1, dtype="int16")
        todo = eligible.copy()
        for k, kd in enumerate(g.kinds):
            hit = todo & (_arr(env.eval(kd.when.node), n) == 1)
            codes[hit] = k
            todo &= ~hit
        kind = _from_codes(codes, categories=[kd.name for kd in g.kinds])
    amount = None
    if g.amount is not None:
        amount = np.where(eligible, _arr(env.eval(g.amount.node), n), 0.0)
    return ProgrammeResult(
        programme=g,
        status=world.status,
        stage=world.stage,
        stage_missing=world.missing,
        outreach_stage=outreach_stage,
        outreach_missing=outreach_missing,
        kind=kind,
        amount=amount,
    )
