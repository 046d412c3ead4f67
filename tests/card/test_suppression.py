"""Disclosure control: no suppressed count can be worked out from what a card shows."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairaudit.card import build_card, render_json
from fairaudit.card.model import SUPPRESSED, small_mark, suppress
from fairaudit.results import AuditResult

CELLS = ("tp", "fp", "fn", "tn")


def _metric(num: int, den: int) -> dict[str, Any]:
    return {"value": num / den if den else None, "ci": None, "denominator": den}


def _group(attrs: dict[str, str], c: dict[str, int], total: int) -> dict[str, Any]:
    n = sum(c.values())
    return {
        "attributes": attrs,
        "n": n,
        "share": n / total if total else 0.0,
        "is_reference": False,
        "counts": c,
        "metrics": {
            "selection_rate": _metric(c["tp"] + c["fp"], n),
            "false_negative_rate": _metric(c["fn"], c["tp"] + c["fn"]),
        },
        "disparities": {},
    }


def make_result(cells: dict[tuple[str, str], dict[str, int]]) -> AuditResult:
    """An audit result over attributes a and b and their intersection, from finest cells."""

    def total(keys: list[tuple[str, str]]) -> dict[str, int]:
        return {f: sum(cells[k][f] for k in keys) for f in CELLS}

    everyone = total(list(cells))
    n = sum(everyone.values())
    a_values = sorted({a for a, _ in cells})
    b_values = sorted({b for _, b in cells})
    groups = [_group({"a": a}, total([k for k in cells if k[0] == a]), n) for a in a_values]
    groups += [_group({"b": b}, total([k for k in cells if k[1] == b]), n) for b in b_values]
    groups += [_group({"a": a, "b": b}, cells[(a, b)], n) for a, b in sorted(cells)]
    return AuditResult.model_validate(
        {
            "schema": "fairaudit.results/1",
            "name": "random",
            "status": "pass",
            "intervention": "assistive",
            "headline_metric": "false_negative_rate",
            "definitions": {},
            "n_rows": n,
            "n_audited": n,
            "dropped": {},
            "unknown": {"a": 0, "b": 0},
            "weighted": False,
            "confidence": 0.95,
            "min_group_size": 30,
            "references": [],
            "overall": {
                "n": n,
                "counts": everyone,
                "metrics": {
                    "selection_rate": _metric(everyone["tp"] + everyone["fp"], n),
                    "false_negative_rate": _metric(everyone["fn"], everyone["tp"] + everyone["fn"]),
                },
            },
            "groups": groups,
            "between_groups": [],
            "statistics": {
                "confidence": 0.95,
                "intervals": {"rate": "wilson"},
                "bootstrap_replicates": 0,
                "bootstrap_seed": 0,
                "tests": "none",
                "multiple_testing": "none",
                "n_tests": 0,
            },
            "checks": [],
            "summary": [],
            "provenance": {
                "fairaudit_version": "test",
                "spec_sha256": "0" * 64,
                "data_sha256": "0" * 64,
                "model_sha256": None,
                "seed": 0,
                "data_path": "data.csv",
                "model": {"loader": "column"},
                "versions": {},
            },
        }
    )


def determined(equations: list[tuple[dict[str, int], int]], unknowns: list[str]) -> set[str]:
    """Unknowns fixed by the linear equations (exact Gauss–Jordan over the rationals)."""
    col = {u: i for i, u in enumerate(unknowns)}
    rows = []
    for coeffs, rhs in equations:
        row = [Fraction(0)] * (len(unknowns) + 1)
        for u, c in coeffs.items():
            row[col[u]] += c
        row[-1] = Fraction(rhs)
        rows.append(row)
    pivots = []
    r = 0
    for c in range(len(unknowns)):
        p = next((i for i in range(r, len(rows)) if rows[i][c] != 0), None)
        if p is None:
            continue
        rows[r], rows[p] = rows[p], rows[r]
        rows[r] = [x / rows[r][c] for x in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c] != 0:
                rows[i] = [x - rows[i][c] * y for x, y in zip(rows[i], rows[r], strict=True)]
        pivots.append((r, c))
        r += 1
    out = set()
    for r, c in pivots:
        if all(rows[r][j] == 0 for j in range(len(unknowns)) if j != c):
            out.add(unknowns[c])
    return out


def pinned(
    equations: list[tuple[dict[str, int], int]],
    marks: dict[str, str],
    min_cell: int,
    top: int,
) -> set[str]:
    """Cells shown as ``<min_cell`` whose value a reader can pin down with the marks'
    bounds as well: a ``<N`` cell is from 1 to N - 1, a ``[c]`` cell is 0 or at least N
    (every count from 1 to N - 1 is shown as ``<N``). Smallest and largest value of each
    ``<N`` cell over all integer solutions (scipy's MILP); pinned when they are equal."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    unknowns = sorted(marks)
    complementary = [u for u in unknowns if marks[u] == SUPPRESSED]
    col = {u: i for i, u in enumerate(unknowns)}
    size = len(unknowns) + len(complementary)
    rows, lo, hi = [], [], []
    for coeffs, rhs in equations:
        row = np.zeros(size)
        for u, c in coeffs.items():
            row[col[u]] += c
        rows.append(row)
        lo.append(rhs)
        hi.append(rhs)
    for j, u in enumerate(complementary):  # min_cell * z <= x <= top * z
        row = np.zeros(size)
        row[col[u]], row[len(unknowns) + j] = 1, -min_cell
        rows, lo, hi = [*rows, row], [*lo, 0], [*hi, np.inf]
        row = np.zeros(size)
        row[col[u]], row[len(unknowns) + j] = 1, -top
        rows, lo, hi = [*rows, row], [*lo, -np.inf], [*hi, 0]
    low = np.zeros(size)
    high = np.full(size, float(top))
    high[len(unknowns) :] = 1
    for u in unknowns:
        if marks[u] != SUPPRESSED:
            low[col[u]], high[col[u]] = 1, min_cell - 1
    out = set()
    for u in unknowns:
        if marks[u] == SUPPRESSED:
            continue
        ends = []
        for sign in (1, -1):
            c = np.zeros(size)
            c[col[u]] = sign
            res = milp(
                c,
                constraints=[LinearConstraint(np.array(rows), lo, hi)] if rows else [],
                integrality=np.ones(size),
                bounds=Bounds(low, high),
            )
            assert res.status == 0, res.message  # the truth is a solution
            ends.append(round(sign * res.fun))
        if ends[0] == ends[1]:
            out.add(u)
    return out


def attack(doc: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Everything a reader can recover from a card's group tables by adding and subtracting,
    and by what the two marks say about the hidden counts.

    Returns the hidden cells and those among them that the published numbers determine.
    """
    shown: dict[str, Any] = {}
    tables = doc["groups"]
    total_n = tables[0]["total"]
    shown["n|"] = total_n
    for t in tables:
        for row in t["rows"]:
            key = "|".join(f"{k}={v}" for k, v in sorted(row["attributes"].items()))
            for f in ("n", *CELLS):
                shown[f"{f}|{key}"] = row[f]
    hidden = [k for k, v in shown.items() if isinstance(v, str)]
    known = {k: v for k, v in shown.items() if not isinstance(v, str)}
    eqs: list[tuple[dict[str, int], int]] = []

    def relation(total: str, parts: list[str]) -> None:
        coeffs: dict[str, int] = {}
        rhs = 0
        for k, sign in [(total, -1), *[(p, 1) for p in parts]]:
            if k in known:
                rhs -= sign * known[k]
            else:
                coeffs[k] = coeffs.get(k, 0) + sign
        if coeffs:
            eqs.append((coeffs, rhs))

    keys = sorted({k.split("|", 1)[1] for k in shown if k != "n|"})
    for key in keys:
        relation(f"n|{key}", [f"{c}|{key}" for c in CELLS])
    # The overall counts are not in the group tables, but sum of the groups' n is the total
    # n and each attribute's groups partition everyone: equal column sums across attributes.
    by_attr: dict[str, list[str]] = {}
    for key in keys:
        by_attr.setdefault(",".join(sorted(p.split("=")[0] for p in key.split("|"))), []).append(
            key
        )
    attrs = sorted(by_attr)
    relation("n|", [f"n|{k}" for k in by_attr[attrs[0]]])
    for f in ("n", *CELLS):
        for x, y in itertools.combinations(attrs, 2):
            coeffs: dict[str, int] = {}
            rhs = 0
            for k in by_attr[x]:
                if f"{f}|{k}" in known:
                    rhs -= known[f"{f}|{k}"]
                else:
                    coeffs[f"{f}|{k}"] = coeffs.get(f"{f}|{k}", 0) + 1
            for k in by_attr[y]:
                if f"{f}|{k}" in known:
                    rhs += known[f"{f}|{k}"]
                else:
                    coeffs[f"{f}|{k}"] = coeffs.get(f"{f}|{k}", 0) - 1
            if coeffs:
                eqs.append((coeffs, rhs))
    # intersections sum to their marginals
    for f in ("n", *CELLS):
        for name, pos in (("a", 0), ("b", 1)):
            for marg in by_attr[name]:
                value = marg.split("=")[1]
                kids = [k for k in by_attr["a,b"] if k.split("|")[pos].split("=")[1] == value]
                relation(f"{f}|{marg}", [f"{f}|{k}" for k in kids])
    marks = {k: shown[k] for k in hidden}
    top = total_n if isinstance(total_n, int) else 10**6
    return set(hidden), determined(eqs, hidden) | pinned(eqs, marks, doc["min_cell"], top)


counts = st.integers(min_value=0, max_value=40) | st.integers(min_value=0, max_value=9)


@st.composite
def tables(draw: st.DrawFn) -> dict[tuple[str, str], dict[str, int]]:
    na = draw(st.integers(min_value=2, max_value=3))
    nb = draw(st.integers(min_value=2, max_value=3))
    return {
        (f"a{i}", f"b{j}"): {c: draw(counts) for c in CELLS} for i in range(na) for j in range(nb)
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_no_suppressed_count_can_be_recovered(cells: dict[tuple[str, str], dict[str, int]]) -> None:
    result = make_result(cells)
    doc = json.loads(render_json(build_card(result, min_cell=10)))
    hidden, recovered = attack(doc)
    assert not recovered, f"recoverable: {sorted(recovered)}"
    # every count from 1 to 9 is shown as <10, and only those: a complementary cell (which
    # may be 0 or any count from 10) is [c]; rates are shown only where no count is hidden
    for t in doc["groups"]:
        for row in t["rows"]:
            g = next(g for g in result.groups if g.attributes == row["attributes"])
            truth = {"n": g.n, **g.counts.model_dump()}
            for f, v in truth.items():
                if 0 < v < 10:
                    assert row[f] == small_mark(10) == "<10"
                elif isinstance(row[f], str):
                    assert row[f] == SUPPRESSED
                else:
                    assert row[f] == v
            if any(isinstance(row[f], str) for f in ("n", *CELLS)):
                assert not row["rates_shown"]
    for t in doc["metrics"]:
        for row in t["rows"]:
            g = next(
                r
                for gt in doc["groups"]
                for r in gt["rows"]
                if r["attributes"] == row["attributes"]
            )
            if not g["rates_shown"]:
                assert all(v is None for v in row["values"].values())


def test_suppress_a_row_and_a_column() -> None:
    values = {"t": 30, "a": 3, "b": 12, "c": 15}
    assert suppress(values, [("t", ["a", "b", "c"])], 10) == {"a", "b"}
    # zeros are shown and not chosen as complements while a non-zero cell can be
    values = {"t": 20, "a": 5, "z": 0, "b": 15}
    assert suppress(values, [("t", ["a", "z", "b"])], 10) == {"a", "b"}
    # nothing small, nothing hidden
    assert suppress({"t": 30, "a": 10, "b": 20}, [("t", ["a", "b"])], 10) == set()


def test_suppress_blocks_recovery_through_two_relations() -> None:
    # 2x2 table with both margins: hiding one cell forces a rectangle of four.
    values = {"r1": 20, "r2": 40, "c1": 25, "c2": 35, "x11": 5, "x12": 15, "x21": 20, "x22": 20}
    rels = [
        ("r1", ["x11", "x12"]),
        ("r2", ["x21", "x22"]),
        ("c1", ["x11", "x21"]),
        ("c2", ["x12", "x22"]),
    ]
    assert suppress(values, rels, 10) == {"x11", "x12", "x21", "x22"}


def test_the_marks_cannot_give_a_small_count_away() -> None:
    # t = a + b with a = 1 and b = 10: with a as <10 and b as [c], a reader knows b is 0 or
    # at least 10, so b = 10 and a = 1. Another count must be hidden with them.
    values = {"t": 11, "a": 1, "b": 10, "u": 30, "v": 41}
    rels = [("t", ["a", "b"]), ("v", ["t", "u"])]
    hidden = suppress(values, rels, 10)
    assert {"a", "b"} < hidden
    # the same shape with room to spare needs nothing more
    assert suppress({"t": 25, "a": 1, "b": 24}, [("t", ["a", "b"])], 10) == {"a", "b"}


def test_counts_the_audit_withheld_are_small() -> None:
    # a count the audit withheld (stand-in 0) is hidden as a small count, with a complement
    values = {"t": 40, "a": 0, "b": 25, "c": 15}
    hidden = suppress(values, [("t", ["a", "b", "c"])], 10, small=["a"])
    assert hidden == {"a", "c"}
