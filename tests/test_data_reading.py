"""Data readers and value normalisation.

``normalise_values`` cleans only the distinct values of a column and maps them back; this
equals cleaning every value one by one (the straightforward computation below, which was
its implementation), for every dtype the readers produce.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fairaudit.data import CsvReader, ParquetReader, normalise_categorical, normalise_values


def value_by_value(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Every value cleaned on its own: the straightforward computation."""
    missing = values.isna().to_numpy()
    if pd.api.types.is_bool_dtype(values.dtype):
        out = np.where(values.fillna(False).to_numpy(dtype=bool), "true", "false").astype(object)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        arr = values.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(arr) & (arr == np.round(arr))
        out = np.empty(len(arr), dtype=object)
        out[whole] = arr[whole].astype("int64").astype(str)
        rest = ~whole & ~missing
        out[rest] = [repr(float(v)) for v in arr[rest]]
    else:
        s = values.astype("string").str.strip()
        missing = missing | (s == "").fillna(False).to_numpy(dtype=bool)
        out = np.array(s.astype(object).where(s.notna(), None), dtype=object)
    out[missing] = None
    return out, missing


TEXT = [" a", "a", "a ", "", "  ", "B", "b", "01", "1", "é", None]
NUMBERS = [1.0, 1.5, -2.0, 0.0, -0.0, 1e15, float("inf"), float("-inf"), 3.25, np.nan]
# equal to a hash table (1 == 1.0 == True, 0.0 == -0.0) but not as text
MIXED = ["1", 1, 1.0, " 1 ", "x", None, np.nan, True, 2.5, "", 0, 0.0, -0.0, False, np.int64(1)]


def series_of(kind: str, picks: list[int]) -> pd.Series:
    """A column of one dtype, built from ``picks`` (indexes into that dtype's values)."""
    if kind in ("object", "str", "string", "category"):
        vals = [TEXT[i % len(TEXT)] for i in picks]
        if kind == "object":
            return pd.Series(vals, dtype=object)
        if kind == "category":
            return pd.Series(pd.Categorical(vals))
        return pd.Series(vals, dtype=kind)
    if kind == "float":
        return pd.Series([NUMBERS[i % len(NUMBERS)] for i in picks], dtype="float64")
    if kind == "int":
        return pd.Series([i - 3 for i in picks], dtype="int64")
    if kind == "Int64":
        return pd.Series([None if i % 4 == 0 else i for i in picks], dtype="Int64")
    if kind == "bool":
        return pd.Series([i % 2 == 0 for i in picks], dtype=bool)
    if kind == "boolean":
        return pd.Series([None if i % 3 == 0 else i % 2 == 0 for i in picks], dtype="boolean")
    if kind == "mixed":
        return pd.Series([MIXED[i % len(MIXED)] for i in picks], dtype=object)
    raise AssertionError(kind)


KINDS = ["object", "str", "string", "category", "float", "int", "Int64", "bool", "boolean"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([*KINDS, "mixed", "mixed"]),
    st.lists(st.integers(0, 30), min_size=0, max_size=60),
)
@example("mixed", list(range(len(MIXED))))
@example("float", list(range(len(NUMBERS))))
@example("object", list(range(len(TEXT))))
def test_normalise_values_equals_value_by_value(kind: str, picks: list[int]) -> None:
    values = series_of(kind, picks)
    want, want_missing = value_by_value(values)
    got, missing = normalise_values(values)
    assert got.dtype == object and len(got) == len(values)
    np.testing.assert_array_equal(missing, want_missing)
    assert [type(v) for v in got] == [type(v) for v in want]
    assert got.tolist() == want.tolist()
    # the Categorical holds the same values, each distinct string once, in order of first use
    cat = normalise_categorical(values)
    assert np.asarray(cat, dtype=object)[~missing].tolist() == want[~missing].tolist()
    assert (cat.codes < 0).tolist() == missing.tolist()
    firsts = list(dict.fromkeys(v for v in want if v is not None))
    assert list(cat.categories) == firsts


def test_normalise_merges_values_that_clean_to_the_same_string() -> None:
    cat = normalise_categorical(pd.Series([" x", "x", "x ", None, "", "y"], dtype=object))
    assert list(cat.categories) == ["x", "y"]
    assert cat.codes.tolist() == [0, 0, 0, -1, -1, 1]
    cat = normalise_categorical(pd.Series([1.0, 2.0, 1.0, np.nan]))
    assert list(cat.categories) == ["1", "2"] and cat.codes.tolist() == [0, 1, 0, -1]


def test_normalise_keeps_the_readers_series_intact() -> None:
    s = pd.Series([" a", "b", None], dtype="str")
    before = s.copy()
    normalise_values(s)
    pd.testing.assert_series_equal(s, before)


# --------------------------------------------------------------------------- readers


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 1000
    return pd.DataFrame(
        {
            "code": rng.choice(["01", "02", "10"], size=n),
            "area": rng.choice(["north", "south", None], size=n),
            "y": rng.integers(0, 2, n),
            "w": rng.uniform(0, 2, n).round(6),
        }
    )


@pytest.mark.parametrize("batch_rows", [1, 333, 1000, 5000])
def test_parquet_batches_are_the_file_in_order(tmp_path: Path, frame, batch_rows) -> None:
    path = tmp_path / "d.parquet"
    frame.to_parquet(path, index=False, row_group_size=400)
    reader = ParquetReader()
    assert reader.columns(path) == ["code", "area", "y", "w"]
    batches = list(reader.iter_batches(path, ["y", "code"], batch_rows=batch_rows))
    assert all(len(b) <= batch_rows for b in batches)
    assert all(list(b.columns) == ["y", "code"] for b in batches)
    whole = pd.concat(batches, ignore_index=True)
    pd.testing.assert_frame_equal(whole, frame[["y", "code"]], check_dtype=False)


@pytest.mark.parametrize("batch_rows", [7, 1000])
def test_csv_batches_keep_text_as_written(tmp_path: Path, frame, batch_rows) -> None:
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    reader = CsvReader()
    batches = list(
        reader.iter_batches(path, ["code", "y"], batch_rows=batch_rows, as_text=["code"])
    )
    whole = pd.concat(batches, ignore_index=True)
    assert whole["code"].tolist() == frame["code"].tolist()  # "01" stays "01"
    assert whole["y"].tolist() == frame["y"].tolist()
    values, missing = normalise_values(whole["code"])
    assert set(values) == {"01", "02", "10"} and not missing.any()


def test_csv_and_parquet_normalise_to_the_same_values(tmp_path: Path, frame) -> None:
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    csv = pd.concat(
        CsvReader().iter_batches(tmp_path / "d.csv", ["area"], batch_rows=300, as_text=["area"])
    )
    pq = pd.concat(ParquetReader().iter_batches(tmp_path / "d.parquet", ["area"], batch_rows=300))
    a, ma = normalise_values(csv["area"])
    b, mb = normalise_values(pq["area"])
    assert a.tolist() == b.tolist() and ma.tolist() == mb.tolist()
    assert ma.sum() == frame["area"].isna().sum()
