"""count_cells' fast paths equal the straightforward computation (a pandas group-by).

The engine counts categorical codes directly, builds its cell key in blocks of rows in the
narrowest integer type that holds it, and switches to a sparse path for very many cells.
Each of these is checked here against counting the same rows with ``DataFrame.groupby``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairaudit.metrics import counts as counts_module
from fairaudit.metrics.counts import CONFUSION, CellCounts, count_cells, factorize_values

CELLS = {(0, 0): "tn", (0, 1): "fp", (1, 0): "fn", (1, 1): "tp"}


def straightforward(
    protected: dict[str, np.ndarray], y: np.ndarray, d: np.ndarray, w: np.ndarray | None = None
) -> pd.DataFrame:
    """Per-cell confusion counts (and weighted sums) by grouping the rows with pandas."""
    df = pd.DataFrame({**{a: np.asarray(v, dtype=object) for a, v in protected.items()}})
    df["cell"] = [CELLS[(int(a), int(b))] for a, b in zip(y, d, strict=True)]
    df["one"] = 1
    df["w"] = 1.0 if w is None else w
    df["w2"] = df["w"] ** 2
    attrs = list(protected)
    out = {}
    for col, prefix in (("one", ""), ("w", "w_"), ("w2", "w2_")):
        if prefix and w is None:
            continue
        wide = df.pivot_table(index=attrs, columns="cell", values=col, aggfunc="sum")
        wide = wide.reindex(columns=list(CONFUSION)).fillna(0)
        for c in CONFUSION:
            out[prefix + c] = wide[c].astype("int64" if not prefix else "float64")
    frame = pd.DataFrame(out)
    if not isinstance(frame.index, pd.MultiIndex):
        frame.index = pd.MultiIndex.from_arrays([frame.index], names=attrs)
    return frame.sort_index()


def assert_same(got: CellCounts, want: pd.DataFrame, weighted: bool) -> None:
    left = got.frame.sort_index()
    assert list(left.columns) == list(got.columns)
    assert left.index.names == want.index.names
    assert left.index.tolist() == want.index.tolist()
    for c in CONFUSION:
        assert left[c].dtype == np.int64
        np.testing.assert_array_equal(left[c].to_numpy(), want[c].to_numpy())
    if weighted:
        for c in [f"w_{c}" for c in CONFUSION] + [f"w2_{c}" for c in CONFUSION]:
            np.testing.assert_allclose(left[c].to_numpy(), want[c].to_numpy(), rtol=1e-12)


def as_kind(values: np.ndarray, kind: str, categories: list[str]) -> object:
    """The same string values in each of the containers count_cells accepts."""
    if kind == "object":
        return np.asarray(values, dtype=object)
    if kind == "unicode":
        return np.asarray(values, dtype=str)
    if kind == "categorical":  # unused and reordered categories too
        return pd.Categorical(values, categories=categories)
    if kind == "category_series":
        return pd.Series(pd.Categorical(values, categories=categories))
    if kind == "str_series":
        return pd.Series(values, dtype="str")
    if kind == "list":
        return list(values)
    raise AssertionError(kind)


KINDS = ["object", "unicode", "categorical", "category_series", "str_series", "list"]


@st.composite
def populations(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(0, 300))
    n_attrs = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    protected = {}
    cats = {}
    for i in range(n_attrs):
        k = draw(st.integers(1, 12))
        levels = [f"v{j}" for j in range(k)]
        protected[f"a{i}"] = rng.choice(levels, size=n) if n else np.array([], dtype=str)
        extra = ["never"] if draw(st.booleans()) else []
        order = list(rng.permutation(levels)) + extra
        cats[f"a{i}"] = order
    return {
        "protected": protected,
        "categories": cats,
        "kinds": {a: draw(st.sampled_from(KINDS)) for a in protected},
        "y": rng.integers(0, 2, n).astype(draw(st.sampled_from(["int8", "int64", "bool"]))),
        "d": rng.integers(0, 2, n).astype(draw(st.sampled_from(["int8", "uint8", "float64"]))),
        "w": rng.uniform(0.1, 5.0, n) if draw(st.booleans()) else None,
        "block": draw(st.sampled_from([1, 7, 64, 1 << 16])),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations())
def test_count_cells_equals_groupby(case) -> None:
    protected = {
        a: as_kind(v, case["kinds"][a], case["categories"][a]) for a, v in case["protected"].items()
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(counts_module, "_BLOCK_ROWS", case["block"])
        got = count_cells(protected, case["y"], case["d"], case["w"])
    assert got.attributes == tuple(case["protected"])
    assert got.weighted == (case["w"] is not None)
    assert int(got.n.sum()) == len(case["y"])
    if len(case["y"]) == 0:
        assert len(got.frame) == 0
        return
    want = straightforward(case["protected"], case["y"], case["d"], case["w"])
    assert_same(got, want, case["w"] is not None)


def _rows(
    n: int, levels: list[int], seed: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    protected = {f"a{i}": rng.integers(0, k, n).astype(str) for i, k in enumerate(levels)}
    return protected, rng.integers(0, 2, n), rng.integers(0, 2, n), rng.uniform(0, 2, n)


@pytest.mark.parametrize("weighted", [False, True])
def test_blocks_and_the_sparse_path_give_the_same_table(monkeypatch, weighted) -> None:
    protected, y, d, w = _rows(5000, [3, 5, 4], seed=1)
    w = w if weighted else None
    one_block = count_cells(protected, y, d, w)
    # 60 cells = 240 keys; blocks of max(333, 4 × 240) = 960 rows: 6, the last partial
    monkeypatch.setattr(counts_module, "_BLOCK_ROWS", 333)
    blocks = count_cells(protected, y, d, w)
    monkeypatch.setattr(counts_module, "_DENSE_LIMIT", 1)  # sort-based path
    sparse = count_cells(protected, y, d, w)
    pd.testing.assert_frame_equal(one_block.frame, blocks.frame, check_exact=not weighted)
    pd.testing.assert_frame_equal(
        one_block.frame.sort_index(), sparse.frame.sort_index(), check_exact=not weighted
    )
    assert_same(sparse, straightforward(protected, y, d, w), weighted)


@pytest.mark.parametrize("n_cells", [8191, 8192, 8193])
def test_the_narrow_key_holds_the_largest_cell(n_cells) -> None:
    # 4 * 8192 - 1 = 32767 is the largest int16: the last cell's tp is the largest key
    n = 3 * n_cells
    codes = np.concatenate([np.arange(n_cells), np.full(n - n_cells, n_cells - 1)])
    cat = pd.Categorical.from_codes(codes, categories=[f"c{i:05d}" for i in range(n_cells)])
    y = np.ones(n, dtype=np.int8)
    d = np.ones(n, dtype=np.int8)
    y[: n_cells // 2] = 0
    got = count_cells({"c": cat}, y, d)
    want = straightforward({"c": np.asarray(cat, dtype=object)}, y, d)
    assert_same(got, want, weighted=False)
    last = [k[0] for k in got.cell_keys()].index(f"c{n_cells - 1:05d}")
    assert got.frame["tp"].iloc[last] == n - n_cells + 1


def test_categorical_cells_follow_the_categories_strings_their_first_appearance() -> None:
    values = np.array(["b", "a", "c", "a", "b"], dtype=object)
    y = np.array([1, 0, 1, 1, 0])
    d = np.array([1, 1, 0, 0, 0])
    by_string = count_cells({"g": values}, y, d)
    assert [k[0] for k in by_string.cell_keys()] == ["b", "a", "c"]
    cat = pd.Categorical(values, categories=["c", "z", "b", "a"])
    by_code = count_cells({"g": cat}, y, d)
    assert [k[0] for k in by_code.cell_keys()] == ["c", "b", "a"]  # unused "z" dropped
    pd.testing.assert_frame_equal(by_string.frame.sort_index(), by_code.frame.sort_index())


def test_numbers_keep_their_python_type() -> None:
    got = count_cells({"g": np.array([2, 1, 2])}, np.array([1, 0, 1]), np.array([1, 1, 1]))
    assert got.cell_keys() == [(2,), (1,)]
    assert all(type(k[0]) is int for k in got.cell_keys())


def test_factorize_values() -> None:
    codes, values = factorize_values(pd.Categorical(["x", "y", "x"], categories=["y", "x"]))
    assert codes.tolist() == [1, 0, 1] and values.tolist() == ["y", "x"]
    assert values.dtype == object
    codes, values = factorize_values(pd.Series(["q", "p", "q"], dtype="str"))
    assert codes.tolist() == [0, 1, 0] and values.tolist() == ["q", "p"]
    codes, values = factorize_values(np.array(["q", None, "q"], dtype=object))
    assert codes.tolist() == [0, -1, 0]


@pytest.mark.parametrize(
    "protected, y, d, message",
    [
        ({"g": pd.Categorical(["a", None])}, [0, 1], [0, 1], "missing"),
        ({"g": np.array(["a", None], dtype=object)}, [0, 1], [0, 1], "missing"),
        ({"g": np.array(["a", "b"])}, [0, 2], [0, 1], "label must be 0 or 1"),
        ({"g": np.array(["a", "b"])}, [0, 1], [-1, 1], "decision must be 0 or 1"),
        ({"g": np.array(["a", "b", "c"])}, [0, 1], [0, 1], "3 values for 2 rows"),
        ({"g": np.array(["a", "b"])}, [0, 1], [0, 1, 1], "3 values for 2 rows"),
    ],
)
def test_bad_input_is_refused(protected, y, d, message) -> None:
    with pytest.raises(ValueError, match=message):
        count_cells(protected, np.array(y), np.array(d))


def test_too_many_combinations_are_refused_not_wrapped() -> None:
    many = {f"a{i}": np.array([f"{j}" for j in range(70_000)]) for i in range(4)}
    with pytest.raises(ValueError, match="too many combinations"):
        count_cells(many, np.zeros(70_000, int), np.zeros(70_000, int))


def test_weights_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="weight has 1 values for 2 rows"):
        count_cells({"g": np.array(["a", "b"])}, np.array([0, 1]), np.array([0, 1]), [1.0])


def test_empty_chunk_adds_nothing() -> None:
    empty = count_cells({"g": np.array([], dtype=object)}, np.array([]), np.array([]))
    assert len(empty.frame) == 0 and list(empty.frame.columns) == list(CONFUSION)
    full = count_cells({"g": np.array(["a"])}, np.array([1]), np.array([1]))
    pd.testing.assert_frame_equal((full + empty).frame, full.frame)
