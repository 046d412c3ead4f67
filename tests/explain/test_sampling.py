"""The explanation sample drawn from aggregates and row hashes: the same rows whatever the
order of the rows or how they are split into batches (as the Spark engine splits them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairaudit.explain import bottom_k, row_keys, sample_plan, stratified_sample


def _population(n: int = 30_000, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "sex": rng.choice(["f", "m"], n),
            "region": rng.choice(["r1", "r2", "r3", "r4"], n, p=[0.7, 0.2, 0.095, 0.005]),
            "age": rng.choice(["young", "old"], n, p=[0.3, 0.7]),
        }
    )


CELLS = [("sex",), ("region",), ("age",), ("sex", "region")]


def _drawn_in_batches(groups: pd.DataFrame, ids: np.ndarray, size: int, seed: int, parts: int):
    """Plan from per-batch counts; keep each batch's candidates, then reduce them again."""
    batches = np.array_split(np.arange(len(groups)), parts)
    counts = pd.concat([groups.iloc[b].value_counts().rename("n").reset_index() for b in batches])
    plan = sample_plan(counts, size, seed, cells=CELLS, attributes=list(groups.columns))
    kept = []
    for b in batches:
        g = groups.iloc[b]
        cell = plan.cell_of({a: g[a].to_numpy(dtype=object) for a in g.columns})
        kept.append(b[bottom_k(cell, row_keys(ids[b], seed), plan.take)])
    cand = np.concatenate(kept)
    g = groups.iloc[cand]
    cell = plan.cell_of({a: g[a].to_numpy(dtype=object) for a in g.columns})
    return np.sort(ids[cand[bottom_k(cell, row_keys(ids[cand], seed), plan.take)]]), plan


def test_batches_and_row_order_do_not_change_the_sample() -> None:
    groups = _population()
    ids = np.arange(10**6, 10**6 + len(groups)) * 7  # row ids, not positions
    whole = stratified_sample(groups, 1500, seed=9, cells=CELLS, ids=ids)
    assert whole.size == 1500 and np.all(np.diff(whole.ids) > 0)
    for parts in (1, 3, 17):
        got, plan = _drawn_in_batches(groups, ids, 1500, 9, parts)
        np.testing.assert_array_equal(got, whole.ids)
    # shuffled rows (another file layout): the same ids are drawn
    order = np.random.default_rng(0).permutation(len(groups))
    shuffled = stratified_sample(
        groups.iloc[order].reset_index(drop=True), 1500, seed=9, cells=CELLS, ids=ids[order]
    )
    np.testing.assert_array_equal(shuffled.ids, whole.ids)
    np.testing.assert_allclose(shuffled.weights, whole.weights)
    # another seed, another sample of the same size
    other = stratified_sample(groups, 1500, seed=10, cells=CELLS, ids=ids)
    assert other.size == 1500 and not np.array_equal(other.ids, whole.ids)


def test_plan_takes_round_the_expected_rows_and_weights_are_horvitz_thompson() -> None:
    groups = _population()
    counts = groups.value_counts().rename("n").reset_index()
    plan = sample_plan(counts, 1000, 3, cells=CELLS)
    cells = plan.cells
    expected = cells["n"] * cells["pi"]
    assert (cells["take"] >= np.floor(expected - 1e-9)).all()
    assert (cells["take"] <= np.ceil(expected + 1e-9)).all()
    assert abs(plan.size - 1000) <= 1
    # every group gets at least its floor in expectation
    m = 1000 // (2 * plan.strata)
    for c in CELLS:
        per = cells.assign(e=expected).groupby(list(c))[["e", "n"]].sum()
        assert (per["e"] >= np.minimum(per["n"], m) - 1e-6).all()
    # the takes average to n·π over seeds (the rounding is unbiased)
    takes = np.mean([sample_plan(counts, 1000, s, cells=CELLS).take for s in range(400)], 0)
    np.testing.assert_allclose(takes, expected, atol=0.1)


def test_row_keys_depend_on_the_id_and_seed_only() -> None:
    a1, b1 = row_keys(np.array([5, 6, 7]), 1)
    a2, _ = row_keys(np.array([7, 5]), 1)
    assert a1[2] == a2[0] and a1[0] == a2[1]
    assert not np.array_equal(row_keys(np.array([5, 6, 7]), 2)[0], a1)
    assert not np.array_equal(a1, b1)
    text = row_keys(pd.Series(["P1", "P2"], dtype="string"), 0)[0]
    assert np.array_equal(text, row_keys(np.array(["P1", "P2"], dtype=object), 0)[0])


def test_bottom_k_keeps_the_smallest_keys_of_each_cell() -> None:
    cell = np.array([0, 1, 0, 0, 1, 2])
    keys = (np.array([9, 3, 1, 5, 2, 7], dtype="uint64"), np.zeros(6, dtype="uint64"))
    mask = bottom_k(cell, keys, np.array([2, 1, 0]))
    assert mask.tolist() == [False, False, True, True, True, False]


def test_a_combination_missing_from_the_plan_is_an_error() -> None:
    from fairaudit.errors import InputError

    counts = pd.DataFrame({"sex": ["f", "m"], "n": [5, 5]})
    plan = sample_plan(counts, 4, 0, cells=[("sex",)])
    with pytest.raises(InputError, match="not counted"):
        plan.cell_of({"sex": np.array(["x"], dtype=object)})
