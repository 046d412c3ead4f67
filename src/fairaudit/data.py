"""Data readers (CSV, Parquet) and the checks made on columns before anything is counted.

Readers are plugins (hook ``fairaudit_data_readers``): a class with a ``name``, the file
``suffixes`` it reads, ``columns(path)`` (the header) and ``iter_batches(path, columns,
batch_rows, as_text)`` yielding pandas DataFrames. Reading in batches keeps memory bounded;
the counts of all batches are summed (they are additive).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from fairaudit.errors import InputError

__all__ = [
    "CsvReader",
    "DataReader",
    "ParquetReader",
    "check_columns",
    "normalise_categorical",
    "normalise_values",
]

DEFAULT_BATCH_ROWS = 1_000_000


class DataReader:
    """A data-reader plugin: one file format."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()

    def columns(self, path: Path) -> list[str]:
        """The file's column names."""
        raise NotImplementedError

    def iter_batches(
        self,
        path: Path,
        columns: Sequence[str],
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        as_text: Sequence[str] = (),
    ) -> Iterator[pd.DataFrame]:
        """Yield the file's rows in order, ``columns`` only, at most ``batch_rows`` at a time.

        ``as_text`` columns are read as text where the format allows it (CSV), so values
        such as ``"01"`` keep their spelling.
        """
        raise NotImplementedError


class CsvReader(DataReader):
    """Comma-separated values with a header line (read in batches)."""

    name = "csv"
    description = "CSV with a header line (read in batches)"
    suffixes = (".csv", ".csv.gz", ".tsv", ".txt")

    def _sep(self, path: Path) -> str:
        return "\t" if path.name.lower().endswith(".tsv") else ","

    def columns(self, path: Path) -> list[str]:
        try:
            head = pd.read_csv(path, nrows=0, sep=self._sep(path))
        except pd.errors.EmptyDataError:
            raise InputError(
                "the file is empty", file=path, fix="give a CSV with a header line and rows"
            ) from None
        except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise InputError(f"cannot read the CSV header: {exc}", file=path) from None
        return [str(c) for c in head.columns]

    def iter_batches(
        self,
        path: Path,
        columns: Sequence[str],
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        as_text: Sequence[str] = (),
    ) -> Iterator[pd.DataFrame]:
        dtype = dict.fromkeys(as_text, "string")
        try:
            reader = pd.read_csv(
                path,
                usecols=list(columns),
                dtype=dtype,
                chunksize=batch_rows,
                sep=self._sep(path),
                keep_default_na=True,
            )
            with reader:
                for chunk in reader:
                    yield chunk[list(columns)]
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"cannot parse the CSV: {exc}", file=path) from None


class ParquetReader(DataReader):
    """Apache Parquet (read by row groups with pyarrow)."""

    name = "parquet"
    description = "Apache Parquet (read in record batches with pyarrow)"
    suffixes = (".parquet", ".pq")

    def columns(self, path: Path) -> list[str]:
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise InputError(f"cannot read the Parquet file: {exc}", file=path) from None

    def iter_batches(
        self,
        path: Path,
        columns: Sequence[str],
        *,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        as_text: Sequence[str] = (),
    ) -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=batch_rows, columns=list(columns)):
            yield batch.to_pandas()


def check_columns(available: Sequence[str], wanted: dict[str, str], *, file: Path | str) -> None:
    """Raise one :class:`InputError` listing every wanted column that is absent.

    Parameters
    ----------
    available
        The file's columns.
    wanted
        Column -> the spec field that names it (e.g. ``"protected[0].column"``).
    """
    have = set(available)
    missing = {c: f for c, f in wanted.items() if c not in have}
    if not missing:
        return
    parts = []
    for col, field in missing.items():
        close = difflib.get_close_matches(col, list(available), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parts.append(f"{col!r} named by {field}{hint}")
    shown = ", ".join(list(available)[:12]) + (" …" if len(available) > 12 else "")
    raise InputError(
        f"missing column{'s' if len(parts) > 1 else ''}: " + "; ".join(parts),
        file=file,
        column=next(iter(missing)),
        fix=f"use one of the file's columns: {shown}",
    )


def normalise_values(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Protected-attribute values as strings, and a mask of missing values.

    Numbers that are whole (``1.0``, read as float because of gaps) print as ``1``;
    booleans print as ``true``/``false``; text is stripped of surrounding spaces.
    """
    cat = normalise_categorical(values)
    categories = cat.categories.to_numpy(dtype=object)
    table = np.empty(len(categories) + 1, dtype=object)  # code -1 (missing) picks the None
    table[:-1] = categories
    codes = cat.codes
    return table[codes], codes < 0


def normalise_categorical(values: pd.Series) -> pd.Categorical:
    """Protected-attribute values as a Categorical of normalised strings (missing: NaN).

    The same values as :func:`normalise_values`, as integer codes into the distinct
    strings, in the order in which they first occur. Only the distinct values are
    normalised, so this costs one factorisation of the column; counting from the codes
    avoids building (and hashing again) an array of Python strings.
    """
    if values.dtype == object:
        # Python objects that compare equal (1, 1.0, True) are one value to a hash table
        # but print differently: make them text first, as cleaning them one by one does.
        values = values.astype("string")
    codes, uniques = pd.factorize(values, sort=False)
    distinct = pd.Series(uniques)
    if distinct.dtype == values.dtype:
        norm, _ = _normalise_each(distinct)
        # Different raw values may normalise to the same string (" a" and "a").
        merged, categories = pd.factorize(norm, sort=False)
        # Raw code -1 (missing) picks the trailing -1.
        final = np.append(merged, -1).astype(_code_dtype(len(categories)))[codes]
    else:  # pragma: no cover - factorize keeps the dtypes readers produce
        norm, _ = _normalise_each(values)
        final, categories = pd.factorize(norm, sort=False)
    dtype = pd.CategoricalDtype(pd.Index(np.asarray(categories, dtype=object), dtype=object))
    return pd.Categorical.from_codes(final, dtype=dtype)


def _code_dtype(n_categories: int) -> type[np.signedinteger]:
    if n_categories < 1 << 7:
        return np.int8
    return np.int16 if n_categories < 1 << 15 else np.int32 if n_categories < 1 << 31 else np.int64


def _normalise_each(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`normalise_values`, value by value (used on the distinct values)."""
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
