"""The loader contract's shared helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairaudit.errors import InputError
from fairaudit.models.base import binary_decision, decision_from_score, file_sha256


@pytest.mark.parametrize(
    "values,expected",
    [
        ([0, 1, 1], [0, 1, 1]),
        ([True, False], [1, 0]),
        (["yes", "no", "Yes"], [1, 0, 1]),
        (["1", "0"], [1, 0]),
        ([1.0, 0.0], [1, 0]),
        (7 > 3, [1]),
    ],
)
def test_binary_decision_accepts_binary_values(values, expected) -> None:
    assert binary_decision(values, what="x").tolist() == expected


@pytest.mark.parametrize(
    "values,positive,expected",
    [
        (["granted", "denied"], "granted", [1, 0]),
        ([1.0, 0.0, 1.0], "1", [1, 0, 1]),
        (["1", "0"], 1, [1, 0]),
        (["Eligible", "not"], "eligible", [1, 0]),
    ],
)
def test_positive_value_matches_across_spellings(values, positive, expected) -> None:
    assert binary_decision(values, what="x", positive=positive).tolist() == expected


@pytest.mark.parametrize(
    "values",
    [[0, 1, 2], ["a", "b"], ["yes", None], [1.0, np.nan], pd.Series(["x", pd.NA], dtype="string")],
)
def test_binary_decision_refuses_non_binary_and_missing(values) -> None:
    with pytest.raises(InputError):
        binary_decision(values, what="x", column="c")


def test_three_values_with_positive_are_refused() -> None:
    with pytest.raises(InputError, match="3 distinct values"):
        binary_decision(["a", "b", "c"], what="x", positive="a")


def test_decision_from_score_keeps_missing_scores_missing() -> None:
    assert decision_from_score(np.array([0.2, 0.7]), 0.5).tolist() == [0, 1]
    assert decision_from_score(np.array([0.2, 0.7]), 0.5).dtype == np.int8
    out = decision_from_score(np.array([0.2, np.nan, 0.5]), 0.5)
    assert out[0] == 0 and np.isnan(out[1]) and out[2] == 1


def test_file_sha256_of_folders_is_layout_sensitive(tmp_path: Path) -> None:
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "sub" / "x").write_bytes(b"12")
    b = tmp_path / "b"
    b.mkdir()
    (b / "subx").write_bytes(b"12")  # same concatenation of name and bytes without framing
    assert file_sha256(a) != file_sha256(b)
    c = tmp_path / "c"
    (c / "sub").mkdir(parents=True)
    (c / "sub" / "x").write_bytes(b"12")
    assert file_sha256(a) == file_sha256(c)
    import hashlib

    assert file_sha256(a / "sub" / "x") == hashlib.sha256(b"12").hexdigest()
