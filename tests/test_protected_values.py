"""audit._protected_values: a Categorical with the same values as cleaning row by row.

The reference below is the row-by-row implementation it replaced (object arrays of
strings); the categorical one must give every row the same value, count the same missing
values and raise the same errors, with bins (also merged by repeated labels), labels
(also mapping two values to one), an existing "unknown" value and declared values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairaudit.data import normalise_values
from fairaudit.engines.local import _bin_labels, _protected_values
from fairaudit.errors import InputError
from fairaudit.metrics.disparity import UNKNOWN
from fairaudit.spec import ProtectedAttribute


def row_by_row(series: pd.Series, attr: ProtectedAttribute) -> tuple[np.ndarray, int]:
    if attr.bins is not None:
        num = pd.to_numeric(series, errors="coerce")
        arr = num.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(arr)
        labels = np.array(_bin_labels(attr), dtype=object)
        idx = np.searchsorted(np.asarray(attr.bins), np.where(missing, 0.0, arr), side="right")
        values = labels[idx]
    else:
        values, missing = normalise_values(series)
        if attr.labels:
            mapping = {str(k): v for k, v in attr.labels.items()}
            values = np.array(
                [mapping.get(v, v) if v is not None else None for v in values], dtype=object
            )
    values = values.copy()
    values[missing] = UNKNOWN
    return values, int(missing.sum())


def check(series: pd.Series, attr: ProtectedAttribute) -> None:
    want, want_missing = row_by_row(series, attr)
    got, n_missing = _protected_values(series, attr, 0, None, Path("d.csv"))
    assert isinstance(got, pd.Categorical)
    assert n_missing == want_missing
    assert np.asarray(got, dtype=object).tolist() == want.tolist()
    assert not (got.codes < 0).any()
    assert len(set(got.categories)) == len(got.categories)


TEXT = ["north", " north", "south", "", None, "unknown", "East", "01", "1"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, len(TEXT) - 1), max_size=40),
    st.sampled_from(["object", "str"]),
    st.sampled_from(
        [{}, {"north": "N"}, {"north": "X", "south": "X"}, {"East": "unknown"}, {"1": "01"}]
    ),
)
def test_text_with_labels(picks, dtype, labels) -> None:
    series = pd.Series([TEXT[i] for i in picks], dtype=dtype)
    check(series, ProtectedAttribute(name="a", labels=labels))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.none(), st.floats(-5, 100, allow_nan=False)), max_size=40),
    st.sampled_from([None, ["young", "mid", "old"], ["a", "a", "b"], ["x", "x", "x"]]),
)
def test_bins(values, bin_labels) -> None:
    series = pd.Series(values, dtype="float64")
    check(series, ProtectedAttribute(name="age", bins=[18, 65], bin_labels=bin_labels))


def test_numbers_booleans_and_categories() -> None:
    check(pd.Series([1, 2, None, 2], dtype="Int64"), ProtectedAttribute(name="a"))
    check(pd.Series([1.0, 2.5, np.nan]), ProtectedAttribute(name="a", labels={"1": "one"}))
    check(pd.Series([True, None, False], dtype="boolean"), ProtectedAttribute(name="a"))
    check(pd.Series(pd.Categorical(["x", None, " x"])), ProtectedAttribute(name="a"))
    check(pd.Series([], dtype="str"), ProtectedAttribute(name="a"))


def test_declared_values_and_missing_errors_are_unchanged() -> None:
    attr = ProtectedAttribute(name="a", values=["north", "south"])
    check(pd.Series(["north", None, "south"]), attr)
    with pytest.raises(InputError, match=r"value\(s\) \['west', 'east'\] not among"):
        _protected_values(
            pd.Series(["north", "west", "east", "west"]),
            attr,
            0,
            None,
            Path("d"),
        )
    strict = ProtectedAttribute(name="a", missing="error")
    with pytest.raises(InputError, match="has missing values"):
        _protected_values(pd.Series(["north", " "]), strict, 0, None, Path("d"))
