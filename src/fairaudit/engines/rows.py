"""Row-level steps of an explained audit, run by every engine on its batches of rows.

The local engine calls these on the batches it reads; the Spark engine calls the very same
methods on its executors, partition by partition. Each step's output is either additive
(cell counts, reason-code tallies) or reducible in any order (the sample's candidates: the
smallest keys per cell), which is why both engines give identical explanations:

* :meth:`ExplainRows.cell_counts` — rows per finest cell of the protected attributes (every
  row of the data), from which :func:`fairaudit.explain.sample_plan` plans the sample;
* :meth:`ExplainRows.candidates` — the rows of a batch that may be in the sample (the
  ``take`` smallest keys of each cell in the batch);
* :meth:`ExplainRows.reasons` — reason codes of a batch's adverse decisions (for the
  restricted artifact) and their per-group tallies (for the results).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.engines.local import _protected_values
from fairaudit.errors import InputError
from fairaudit.models.base import Model
from fairaudit.spec import AuditSpec

__all__ = ["POSITION", "ExplainRows"]

#: The column holding a row's position in the data when the spec names no ``row_id``.
POSITION = "__fairaudit_row__"


class ExplainRows:
    """What an explained audit computes on a batch of rows (see the module docstring).

    Parameters
    ----------
    spec
        The audit spec (with ``explain:``).
    where
        The data, for messages.
    """

    def __init__(self, spec: AuditSpec, where: Path | str) -> None:
        assert spec.explain is not None
        self.spec = spec
        self.where = Path(where)
        self.attributes = [p.name for p in spec.protected]
        self.id_column = spec.data.row_id or POSITION
        self.adverse = 0 if spec.intervention == "assistive" else 1

    def protected_columns(self) -> list[str]:
        """The columns the protected attributes read."""
        return list(dict.fromkeys(p.source_column for p in self.spec.protected))

    def columns(self, model: Model) -> list[str]:
        """The data columns explanations read (the row id last, when the spec names one)."""
        spec = self.spec
        return list(
            dict.fromkeys(
                [
                    *model.columns,
                    *self.protected_columns(),
                    spec.data.label,
                    *([spec.data.row_id] if spec.data.row_id else []),
                ]
            )
        )

    def labels(self, batch: pd.DataFrame) -> dict[str, pd.Categorical]:
        """Every protected attribute's group label of every row."""
        return {
            p.name: _protected_values(batch[p.source_column], p, i, self.spec, self.where)[0]
            for i, p in enumerate(self.spec.protected)
        }

    def label_frame(self, batch: pd.DataFrame) -> pd.DataFrame:
        """:meth:`labels` as a frame of text."""
        return pd.DataFrame(
            {a: np.asarray(v, dtype=object) for a, v in self.labels(batch).items()},
            index=range(len(batch)),
        )

    def ids(self, batch: pd.DataFrame) -> np.ndarray:
        """The rows' identities: the row id, or the position in the data."""
        return batch[self.id_column].to_numpy()

    def cell_counts(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Rows per combination of the protected attributes' labels (columns + ``n``)."""
        labels = self.labels(batch)
        attrs = self.attributes
        sizes = [len(labels[a].categories) for a in attrs]
        width = 1
        for s in sizes:
            width *= max(s, 1)
        if width >= 1 << 62:
            frame = pd.DataFrame({a: np.asarray(labels[a], dtype=object) for a in attrs})
            return frame.value_counts(sort=False).rename("n").reset_index()
        key = np.zeros(len(batch), dtype="int64")
        for a, s in zip(attrs, sizes, strict=True):
            key = key * s + labels[a].codes.astype("int64")
        uniq, n = np.unique(key, return_counts=True)
        out: dict[str, Any] = {}
        rest = uniq
        for a, s in reversed(list(zip(attrs, sizes, strict=True))):
            out[a] = labels[a].categories.to_numpy(dtype=object)[rest % s]
            rest = rest // s
        frame = pd.DataFrame({a: out[a] for a in attrs})
        frame["n"] = n.astype("int64")
        return frame

    def candidates(
        self, batch: pd.DataFrame, plan: Any
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """The rows of ``batch`` that may be in the sample: the ``take`` smallest keys of
        each cell (a bool mask), with every row's cell and keys."""
        from fairaudit.explain.sampling import bottom_k, row_keys

        cell = plan.cell_of(self.labels(batch))
        keys = row_keys(self.ids(batch), plan.seed)
        return bottom_k(cell, keys, plan.take), cell, keys

    def sample_order(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The sample's rows in their canonical order (by id) with a fresh index."""
        order = frame[self.id_column].sort_values(kind="stable").index
        return frame.loc[order].reset_index(drop=True)

    def reasons(
        self, batch: pd.DataFrame, model: Model, explainer: Any
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Reason codes of the batch's adverse decisions and their per-group tallies.

        Returns ``codes`` (:data:`fairaudit.explain.REASON_COLUMNS`) and the additive
        ``counts`` and ``rows`` of :func:`fairaudit.explain.reason_counts`.
        """
        from fairaudit.explain.reasons import _empty, reason_codes, reason_counts

        ex = self.spec.explain
        assert ex is not None
        ids = self.ids(batch)
        frame = batch.drop(columns=[POSITION], errors="ignore").reset_index(drop=True)
        decision = np.asarray(model.predict(frame).decision, dtype="float64")
        adverse = decision == self.adverse
        codes = _empty()
        if adverse.any():
            codes = reason_codes(
                model,
                frame,
                adverse,
                ids,
                adverse_decision=self.adverse,
                top=ex.top,
                seed=self.spec.seed,
                budget=ex.budget,
                explainer=explainer,
            )
        pos = pd.Index(ids).get_indexer(codes["row_id"].to_numpy())
        if (pos < 0).any():  # pragma: no cover - codes carry the batch's own ids
            raise InputError("reason codes name rows outside their batch")
        labels = self.label_frame(frame).iloc[pos].reset_index(drop=True)
        counts, rows = reason_counts(codes, labels)
        return codes, counts, rows


def duplicate_ids(ids: np.ndarray) -> Any:
    """One id that occurs more than once in ``ids``, or None."""
    if ids.dtype.kind in "iuf":  # sorting numbers takes less memory than a hash table
        ordered = np.sort(ids)
        same = np.flatnonzero(ordered[1:] == ordered[:-1])
        return ordered[same[0]] if len(same) else None
    index = pd.Index(ids)
    if index.is_unique:
        return None
    return index[index.duplicated()][0]


def duplicate_id_error(spec: AuditSpec, where: Path | str, example: Any) -> InputError:
    """The error for a row id that names two rows (explanations need unique ids)."""
    if isinstance(example, np.generic):
        example = example.item()
    return InputError(
        f"the row id column {spec.data.row_id!r} names several rows with the same id "
        f"(e.g. {example!r}): explanations and reason codes need one id per row",
        file=str(where),
        column=spec.data.row_id,
        fix="name a unique row id under data.row_id, or remove data.row_id to key rows by "
        "their position",
    )
