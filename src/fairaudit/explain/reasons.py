"""Reason codes: why each adverse decision came out as it did.

An adverse decision is a denial for an assistive programme (decision 0) and a flag for a
punitive one (decision 1). For each adverse row the reason codes are the features pushing
hardest toward that decision:

* **statistical models** — the ``top`` features whose SHAP value on the model's output
  pushes toward the adverse side (negative SHAP for a denial, positive for a flag),
  largest push first; ``contribution`` is that push on the explained output (always > 0,
  on the scale of :attr:`Explainer.output`). Tree models are explained with TreeExplainer
  batch by batch (never the model-agnostic path); linear models with LinearExplainer.
* **rules models** — the exact attribution the rules give: rank 1 is the deciding stage
  (``source = "stage"``, contribution 1: it alone decided); then, for a flag, the deprived
  indicators that raised the score, largest weight first (``source = "indicator"``); then
  every counterfactual data defect whose correction would reverse the decision
  (``source = "counterfactual"``, contribution 1).

Reason codes are row-level: they go only to the restricted ``reasons/`` Parquet artifact,
keyed by the data's row id. Cards get :func:`reason_frequencies`: per-group counts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.errors import InputError
from fairaudit.explain.shap_explain import DEFAULT_BACKGROUND_ROWS, Explainer, make_explainer
from fairaudit.models.rules import is_rules_model

__all__ = [
    "REASON_COLUMNS",
    "ReasonsWriter",
    "frequencies_from_counts",
    "reason_codes",
    "reason_counts",
    "reason_frequencies",
    "rules_reason_codes",
    "write_reasons_parquet",
]

REASON_COLUMNS = ["row_id", "rank", "feature", "contribution", "source"]
DEFAULT_REASON_BATCH_ROWS = 20_000


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": pd.Series([], dtype="object"),
            "rank": pd.Series([], dtype="int16"),
            "feature": pd.Series([], dtype="object"),
            "contribution": pd.Series([], dtype="float64"),
            "source": pd.Series([], dtype="object"),
        }
    )


def _top_from_values(
    values: np.ndarray, features: list[str], row_ids: np.ndarray, toward: float, top: int
) -> pd.DataFrame:
    """Top ``top`` pushes toward the adverse side per row (only features that push)."""
    push = values * toward  # > 0 = toward the adverse decision
    n, p = push.shape
    k = min(top, p)
    if n == 0 or k == 0:
        return _empty()
    # argpartition then sort the k best: O(n p) instead of a full sort per row
    idx = np.argpartition(-push, k - 1, axis=1)[:, :k] if k < p else np.tile(np.arange(p), (n, 1))
    chosen = np.take_along_axis(push, idx, axis=1)
    order = np.lexsort((idx, -chosen), axis=1)  # ties: the earlier feature first
    idx = np.take_along_axis(idx, order, axis=1)
    chosen = np.take_along_axis(chosen, order, axis=1)
    keep = chosen > 0
    rows = np.repeat(np.arange(n), k).reshape(n, k)
    ranks = np.tile(np.arange(1, k + 1, dtype="int16"), (n, 1))
    feats = np.asarray(features, dtype=object)
    return pd.DataFrame(
        {
            "row_id": row_ids[rows[keep]],
            "rank": ranks[keep],
            "feature": feats[idx[keep]],
            "contribution": chosen[keep],
            "source": "shap",
        }
    )


def reason_codes(
    model: Any,
    frame: pd.DataFrame,
    adverse_mask: np.ndarray,
    row_ids: Any,
    *,
    adverse_decision: int = 0,
    top: int = 3,
    batch_rows: int = DEFAULT_REASON_BATCH_ROWS,
    explainer: Explainer | None = None,
    background: pd.DataFrame | None = None,
    background_rows: int = DEFAULT_BACKGROUND_ROWS,
    budget: int | None = None,
    seed: int = 0,
    allow_agnostic: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Reason codes for every adverse row of ``frame`` (see the module docstring).

    Parameters
    ----------
    model
        A loaded fairaudit model. A rules model (its predictions' ``reasons`` have a
        ``stage`` column) gets the exact rule attribution.
    frame
        Rows (e.g. one batch of the data).
    adverse_mask
        ``bool`` per row: the decision is adverse (denied for assistive, flagged for
        punitive).
    row_ids
        The data's row id per row (written to the artifact; never to cards).
    adverse_decision
        0 when the adverse decision is a denial (assistive), 1 when it is a flag (punitive).
    top
        Reasons per row at most.
    batch_rows
        Rows explained at once (bounds memory: ``batch_rows × features`` floats).
    explainer
        A prepared explainer (:func:`make_explainer`) to reuse across batches, so every
        batch has the same background; otherwise one is made from ``background`` (default:
        ``frame``).
    background, background_rows, budget, seed
        How to make the explainer when none is given (see :func:`make_explainer`).
    allow_agnostic
        Permit the permutation explainer (costly: budget × background rows model
        evaluations per row). Without it a model with no tree/linear explainer raises.
    progress
        ``progress(done, total)`` after each batch.

    Returns
    -------
    DataFrame
        ``row_id, rank, feature, contribution, source``; rows with no push toward the
        adverse side have no reason rows.
    """
    if adverse_decision not in (0, 1):
        raise InputError(f"adverse_decision must be 0 or 1, got {adverse_decision!r}")
    mask = np.asarray(adverse_mask, dtype=bool)
    ids = np.asarray(row_ids.to_numpy() if isinstance(row_ids, pd.Series | pd.Index) else row_ids)
    if len(mask) != len(frame) or len(ids) != len(frame):
        raise InputError(
            f"{len(frame)} rows, {len(mask)} adverse flags and {len(ids)} row ids must match"
        )
    if is_rules_model(model):
        return rules_reason_codes(model, frame, mask, ids, adverse_decision=adverse_decision)
    ex = explainer or make_explainer(
        model,
        background if background is not None else frame,
        background_rows=background_rows,
        budget=budget,
        seed=seed,
    )
    if ex.name == "permutation" and not allow_agnostic:
        raise InputError(
            "reason codes for this model need the model-agnostic explainer, which is too "
            "costly to run on every adverse decision by default",
            fix="pass allow_agnostic=True to accept the cost, or use a tree or linear model",
        )
    toward = 1.0 if adverse_decision == 1 else -1.0
    where = np.flatnonzero(mask)
    total = len(where)
    parts = [_empty()]
    for start in range(0, total, batch_rows):
        pos = where[start : start + batch_rows]
        vals, _ = ex.shap_values(frame.iloc[pos])
        parts.append(_top_from_values(vals, ex.features, ids[pos], toward, top))
        if progress is not None:
            progress(min(start + batch_rows, total), total)
    out = pd.concat([p for p in parts if len(p)] or parts, ignore_index=True)
    out["rank"] = out["rank"].astype("int16")
    return out


def rules_reason_codes(
    model: Any,
    frame: pd.DataFrame,
    adverse_mask: np.ndarray,
    row_ids: np.ndarray,
    *,
    adverse_decision: int = 0,
) -> pd.DataFrame:
    """Exact reason codes of a rules model from its predictions' ``reasons`` table."""
    pred = model.predict(frame)
    reasons = pred.reasons
    if reasons is None or "stage" not in reasons.columns:
        raise InputError(
            "the rules model gave no per-row reasons (no 'stage' column)",
            fix="use a rules model whose predictions carry reasons",
        )
    mask = np.asarray(adverse_mask, dtype=bool)
    ids = np.asarray(row_ids)
    stage = reasons["stage"].astype("object").to_numpy()
    weights: dict[str, float] = {}
    rules = getattr(model, "rules", None)
    for name, ind in (getattr(rules, "indicators", None) or {}).items():
        weights[str(name)] = float(getattr(ind, "weight", np.nan))
    cf_cols = [c for c in reasons.columns if str(c).startswith("cf_")]
    # A flip code +1 = correcting the field grants the benefit (reverses a denial); -1 =
    # correcting it takes the benefit away (reverses a selection).
    reverse = 1 if adverse_decision == 0 else -1
    deprived = (
        reasons["deprived"].astype("object").to_numpy()
        if adverse_decision == 1 and "deprived" in reasons.columns
        else None
    )
    cf_values = {c: reasons[c].to_numpy() for c in cf_cols}
    out_id: list[Any] = []
    out_rank: list[int] = []
    out_feat: list[str] = []
    out_contrib: list[float] = []
    out_src: list[str] = []
    for i in np.flatnonzero(mask):
        rank = 1
        out_id.append(ids[i])
        out_rank.append(rank)
        out_feat.append(str(stage[i]))
        out_contrib.append(1.0)
        out_src.append("stage")
        if deprived is not None and isinstance(deprived[i], str) and deprived[i]:
            names = [d for d in deprived[i].split(",") if d]
            names.sort(key=lambda d: -weights.get(d, 0.0))
            for d in names:
                rank += 1
                out_id.append(ids[i])
                out_rank.append(rank)
                out_feat.append(d)
                out_contrib.append(weights.get(d, np.nan))
                out_src.append("indicator")
        for c in cf_cols:
            if cf_values[c][i] == reverse:
                rank += 1
                out_id.append(ids[i])
                out_rank.append(rank)
                out_feat.append(str(c)[3:])
                out_contrib.append(1.0)
                out_src.append("counterfactual")
    if not out_id:
        return _empty()
    return pd.DataFrame(
        {
            "row_id": out_id,
            "rank": np.asarray(out_rank, dtype="int16"),
            "feature": out_feat,
            "contribution": np.asarray(out_contrib, dtype="float64"),
            "source": out_src,
        }
    )


def write_reasons_parquet(codes: pd.DataFrame, path: str | Path) -> Path:
    """Write reason codes to a restricted Parquet artifact atomically.

    The file appears complete or not at all (written to a temporary file in the same
    folder, then renamed). It holds row-level data: it must never be published.
    """
    missing = [c for c in REASON_COLUMNS if c not in codes.columns]
    if missing:
        raise InputError(f"reason codes lack columns {missing}")
    from fairaudit.results import atomic_write_parquet

    return atomic_write_parquet(path, codes.loc[:, REASON_COLUMNS])


class ReasonsWriter:
    """Streams reason codes, batch after batch, into one Parquet file of a restricted folder.

    The file is written under a hidden temporary name and renamed when :meth:`close` is
    called, so a folder never holds half a file (an engine builds the whole folder aside
    and publishes it with :func:`fairaudit.results.publish_dir`). Nothing is written when
    no batch had codes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows = 0
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._writer: Any = None
        self._schema: Any = None

    def write(self, codes: pd.DataFrame) -> None:
        """Append reason codes (columns :data:`REASON_COLUMNS`)."""
        if not len(codes):
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(codes.loc[:, REASON_COLUMNS], preserve_index=False)
        if self._writer is None:
            rid = table.schema.field("row_id").type
            if pa.types.is_large_string(rid) or pa.types.is_string(rid):
                rid = pa.string()
            self._schema = pa.schema(
                [
                    ("row_id", rid),
                    ("rank", pa.int16()),
                    ("feature", pa.string()),
                    ("contribution", pa.float64()),
                    ("source", pa.string()),
                ]
            )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self._tmp, self._schema)
        self._writer.write_table(table.cast(self._schema))
        self.rows += len(codes)

    def close(self) -> bool:
        """Finish the file and give it its name; whether anything was written."""
        if self._writer is None:
            return False
        self._writer.close()
        self._writer = None
        os.replace(self._tmp, self.path)
        return True

    def abort(self) -> None:
        """Drop what was written."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._tmp.unlink(missing_ok=True)


def reason_frequencies(
    codes: pd.DataFrame,
    groups: pd.DataFrame,
    row_ids: Any,
    *,
    top_rank: int | None = 1,
    min_count: int = 0,
) -> pd.DataFrame:
    """Per-group counts of each reason: aggregate only, for cards.

    Parameters
    ----------
    codes
        From :func:`reason_codes`.
    groups
        Protected-attribute columns, one row per data row.
    row_ids
        The row id of each row of ``groups``.
    top_rank
        Count only reasons of rank ≤ this (default 1: the main reason); ``None`` = all.
    min_count
        Counts below this (e.g. the spec's minimum cell size, 10) are suppressed: their
        ``count`` and ``share`` are missing and ``suppressed`` is true.

    Returns
    -------
    DataFrame
        ``attribute, group, feature, count, share, suppressed`` where ``share`` is the count
        over the group's adverse rows that have a reason of that rank.
    """
    ids = np.asarray(row_ids.to_numpy() if isinstance(row_ids, pd.Series | pd.Index) else row_ids)
    if len(ids) != len(groups):
        raise InputError(f"{len(ids)} row ids for {len(groups)} group rows")
    labels = groups.reset_index(drop=True).astype("object").fillna("unknown").astype(str)
    labels.index = pd.Index(ids)
    if not labels.index.is_unique:
        raise InputError("row ids must be unique to count reasons by group")
    of_codes = labels.reindex(codes["row_id"].to_numpy()).reset_index(drop=True)
    counts, rows = reason_counts(codes, of_codes, top_rank=top_rank)
    return frequencies_from_counts(counts, rows, min_count=min_count)


COUNT_COLUMNS = ["attribute", "group", "feature", "count"]
ROWS_COLUMNS = ["attribute", "group", "rows"]


def reason_counts(
    codes: pd.DataFrame, labels: pd.DataFrame, *, top_rank: int | None = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Additive per-group tallies of reason codes (one batch's, or one partition's).

    Parameters
    ----------
    codes
        From :func:`reason_codes`.
    labels
        The group labels (one column per attribute, text) of each row of ``codes``.
    top_rank
        As in :func:`reason_frequencies`.

    Returns
    -------
    counts, rows
        ``attribute, group, feature, count`` (codes per group and feature) and
        ``attribute, group, rows`` (distinct row ids with such codes per group). Tallies of
        batches that share no row add up (:func:`frequencies_from_counts` sums them).
    """
    if len(labels) != len(codes):
        raise InputError(f"{len(labels)} group labels for {len(codes)} reason codes")
    keep = np.ones(len(codes), dtype=bool)
    if top_rank is not None:
        keep = codes["rank"].to_numpy() <= top_rank
    c_parts, r_parts = [], []
    for attr in labels.columns:
        df = pd.DataFrame(
            {
                "group": labels[attr].to_numpy(dtype=object)[keep],
                "feature": codes["feature"].to_numpy(dtype=object)[keep],
                "row_id": codes["row_id"].to_numpy()[keep],
            }
        )
        cnt = df.groupby(["group", "feature"], sort=True).size().rename("count").reset_index()
        cnt.insert(0, "attribute", str(attr))
        c_parts.append(cnt)
        rows = df.groupby("group", sort=True)["row_id"].nunique().rename("rows").reset_index()
        rows.insert(0, "attribute", str(attr))
        r_parts.append(rows)
    counts = (
        pd.concat(c_parts, ignore_index=True) if c_parts else pd.DataFrame(columns=COUNT_COLUMNS)
    )
    rows_t = (
        pd.concat(r_parts, ignore_index=True) if r_parts else pd.DataFrame(columns=ROWS_COLUMNS)
    )
    return counts.astype({"count": "int64"}), rows_t.astype({"rows": "int64"})


def frequencies_from_counts(
    counts: pd.DataFrame, rows: pd.DataFrame, *, min_count: int = 0
) -> pd.DataFrame:
    """The table of :func:`reason_frequencies` from tallies of :func:`reason_counts`.

    Tallies of several batches or partitions (concatenated) are summed first.
    """
    cols = ["attribute", "group", "feature", "count", "share", "suppressed"]
    if not len(counts):
        return pd.DataFrame(columns=cols)
    c = counts.groupby(["attribute", "group", "feature"], sort=True)["count"].sum().reset_index()
    r = rows.groupby(["attribute", "group"], sort=True)["rows"].sum()
    denom = pd.MultiIndex.from_frame(c[["attribute", "group"]]).map(r.to_dict())
    c["share"] = c["count"].to_numpy(dtype="float64") / np.asarray(denom, dtype="float64")
    out = c.sort_values(
        ["attribute", "group", "count", "feature"], ascending=[True, True, False, True]
    ).reset_index(drop=True)
    out["suppressed"] = out["count"] < min_count
    out["count"] = out["count"].astype("Int64").mask(out["suppressed"])
    out["share"] = out["share"].mask(out["suppressed"])
    return out[cols]
