"""Exact float sums: equal to math.fsum, whatever the split and order of the rows."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fairaudit.metrics.exact import ExactSums
from fairaudit.metrics.grouped import GroupedSums

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), finite), max_size=60), st.integers(0, 60))
def test_exact_sums_equal_fsum_for_any_split(rows: list[tuple[int, float]], cut: int) -> None:
    idx = np.array([r[0] for r in rows], dtype="int64")
    val = np.array([r[1] for r in rows], dtype="float64")
    whole = ExactSums(4)
    whole.add(idx, val)
    a, b = ExactSums(4), ExactSums(4)
    a.add(idx[cut:], val[cut:])  # the later rows first: order does not matter
    b.add(idx[:cut], val[:cut])
    expected = [math.fsum(val[idx == k]) for k in range(4)]
    assert whole.to_float().tolist() == expected
    assert (a + b).to_float().tolist() == expected


def test_score_sums_do_not_depend_on_the_batches() -> None:
    rng = np.random.default_rng(3)
    n = 50_000
    groups = {"g": rng.choice(["a", "b", "c"], n).astype(object)}
    slot = rng.integers(0, 20, n)
    score = rng.random(n)
    one = GroupedSums((20,), ((), ("g",)), exact=True)
    one.add_batch(groups, slot, weights=score)
    parts = GroupedSums((20,), ((), ("g",)), exact=True)
    for s in range(0, n, 7_919):
        part = GroupedSums((20,), ((), ("g",)), exact=True)
        part.add_batch({"g": groups["g"][s : s + 7_919]}, slot[s : s + 7_919], score[s : s + 7_919])
        parts = parts + part
    for key in ("a", "b", "c"):
        m = groups["g"] == key
        ref = [math.fsum(score[m & (slot == k)]) for k in range(20)]
        assert one.get(("g",), (key,)).tolist() == ref
        assert parts.get(("g",), (key,)).tolist() == ref
    assert parts.get((), ()).tolist() == [math.fsum(score[slot == k]) for k in range(20)]
