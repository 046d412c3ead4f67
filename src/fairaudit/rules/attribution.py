"""Why each decision came out as it did, and which data defects changed it.

Two kinds of attribution, both exact (no sampling, no model of the model):

* **Stage attribution.** Rules decide in stages, so the reason for every decision is known:
  the first eligibility stage a family fails (``category_gate``, ``income_test``...), the
  first outreach stage that did not reach it (``phone_on_record``, ``replies_to_sms``...),
  ``review``, or ``selected``. :func:`reason_counts` and :func:`exclusion_reasons` count
  them per group — "62% of rural exclusions fail the livestock-adjusted income test".
* **Counterfactual data-defect attribution.** When the data holds both what the registry
  says and the true value of a field, :func:`counterfactual_flips` re-evaluates the rules
  with the registry field replaced by the true one and counts, per group, the decisions
  that flip: how many exclusions that one defect causes.

Counts are additive: they are per finest cell of the group columns, so any coarser group is
a sum of rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fairaudit.errors import InputError, SpecError
from fairaudit.rules.evaluate import ProgrammeResult, _Columns, _evaluate
from fairaudit.rules.ruleset import RuleSet

__all__ = [
    "ALL_DEFECTS",
    "counterfactual_decisions",
    "counterfactual_flips",
    "exclusion_reasons",
    "flip_codes",
    "normalise_swaps",
    "reason_counts",
]

UNKNOWN_GROUP = "unknown"
ALL_DEFECTS = "all defects"

Groups = pd.DataFrame | pd.Series | Mapping[str, Any] | None


def _group_frame(groups: Groups, n: int) -> pd.DataFrame:
    """Group columns as categoricals; missing values form an explicit ``unknown`` group."""
    if groups is None:
        return pd.DataFrame(index=pd.RangeIndex(n))
    if isinstance(groups, pd.Series):
        groups = groups.to_frame(name=groups.name if groups.name is not None else "group")
    frame = groups if isinstance(groups, pd.DataFrame) else pd.DataFrame(dict(groups))
    if len(frame) != n:
        raise InputError(f"the group columns have {len(frame)} rows, the decisions {n}")
    out = {}
    for col in frame.columns:
        s = frame[col].reset_index(drop=True)
        if not isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype("category")
        if s.isna().any():
            if UNKNOWN_GROUP not in s.cat.categories:
                s = s.cat.add_categories([UNKNOWN_GROUP])
            s = s.fillna(UNKNOWN_GROUP)
        out[str(col)] = s
    return pd.DataFrame(out)


def _count(g: pd.DataFrame, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Sum integer columns per finest cell of ``g`` (all cells of ``g`` when it is empty)."""
    data = pd.DataFrame({k: np.asarray(v, dtype="int64") for k, v in columns.items()})
    if g.shape[1] == 0:
        return data.sum().to_frame().T.reset_index(drop=True)
    data = pd.concat([g, data], axis=1)
    return data.groupby(list(g.columns), observed=True, sort=True).sum().reset_index()


def reason_counts(
    stage: pd.Categorical | pd.Series | np.ndarray,
    groups: Groups = None,
    *,
    mask: np.ndarray | None = None,
    missing: np.ndarray | None = None,
) -> pd.DataFrame:
    """Count rows by deciding stage, per group cell.

    Parameters
    ----------
    stage
        The deciding stage of each row (:meth:`ProgrammeResult.deciding_stage`).
    groups
        Group columns (a DataFrame, a Series or a mapping of arrays), one value per row;
        missing values form the group ``unknown``. None counts the whole population.
    mask
        Only count these rows (e.g. the wrongly excluded).
    missing
        Optional ``bool`` per row: the deciding stage's condition was unknown; counted in
        the column ``missing``.

    Returns
    -------
    pandas.DataFrame
        One row per (group cell, stage) with at least one row: the group columns,
        ``stage``, ``n`` and ``share`` (of the cell's counted rows); with ``missing``,
        also ``missing``.
    """
    cat = stage if isinstance(stage, pd.Categorical) else pd.Categorical(np.asarray(stage))
    n = len(cat)
    keep = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    g = _group_frame(groups, n)
    g = g[keep].reset_index(drop=True)
    g["stage"] = pd.Categorical(cat[keep], categories=cat.categories)
    cols: dict[str, np.ndarray] = {"n": np.ones(int(keep.sum()), dtype="int64")}
    if missing is not None:
        cols["missing"] = np.asarray(missing, dtype=bool)[keep]
    out = _count(g, cols)
    group_cols = [c for c in g.columns if c != "stage"]
    totals = (
        out.groupby(group_cols, observed=True)["n"].transform("sum")
        if group_cols
        else out["n"].sum()
    )
    out["share"] = out["n"] / totals
    return out


def exclusion_reasons(
    result: ProgrammeResult,
    label: Any,
    groups: Groups = None,
    *,
    include_outreach: bool = True,
) -> pd.DataFrame:
    """Why the truly eligible were not selected: deciding stages of the exclusions, per group.

    Parameters
    ----------
    result
        A programme's result (``evaluate(...).programmes[name]``).
    label
        1 where the row is truly eligible (ground truth), one value per row.
    groups
        Group columns (see :func:`reason_counts`).
    include_outreach
        Whether the decision includes being reached by the channel.

    Returns
    -------
    pandas.DataFrame
        The group columns, ``stage``, ``excluded`` (count), ``missing`` (how many of them
        were decided by a missing-value policy) and ``share`` of the cell's exclusions.
    """
    y = np.asarray(label)
    if y.shape != result.status.shape:
        raise InputError(f"the label has {y.size} values, the decisions {result.status.size}")
    decision = result.decision(include_outreach)
    excluded = (y == 1) & (decision == 0)
    out = reason_counts(
        result.deciding_stage(include_outreach),
        groups,
        mask=excluded,
        missing=result.deciding_missing(include_outreach),
    )
    return out.rename(columns={"n": "excluded"})


def flip_codes(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How each decision changed.

    Parameters
    ----------
    before, after
        0/1 decisions, one per row.

    Returns
    -------
    numpy.ndarray
        ``int8`` per row: +1 selected only after the change, -1 only before, 0 unchanged.
    """
    b = np.asarray(before).astype("int8")
    a = np.asarray(after).astype("int8")
    return (a - b).astype("int8")


def normalise_swaps(swaps: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{defect: {registry column: true column}}`` from the short or the long form.

    Parameters
    ----------
    swaps
        The short form maps a registry column to its true column (the defect is named after
        the registry column): ``{"income_formal_registry": "income_formal_true"}``. The
        long form names a defect that replaces several columns at once:
        ``{"composition": {"household_size_registry": "household_size_true", ...}}``.

    Returns
    -------
    dict
        The long form.

    Raises
    ------
    SpecError
        When a value is neither a column name nor a mapping of column names.
    """
    out: dict[str, dict[str, str]] = {}
    for name, target in swaps.items():
        if isinstance(target, str):
            out[str(name)] = {str(name): target}
        elif (
            isinstance(target, Mapping)
            and target
            and all(isinstance(k, str) and isinstance(v, str) for k, v in target.items())
        ):
            out[str(name)] = dict(target)
        else:
            raise SpecError(
                f"counterfactual {name!r} must map a registry column to its true column",
                field=f"counterfactuals.{name}",
                fix="e.g. counterfactuals: {income_formal_registry: income_formal_true}",
            )
    return out


def _check_swaps(rules: RuleSet, frame: pd.DataFrame, swaps: dict[str, dict[str, str]]) -> None:
    read = set(rules.columns())
    for defect, mapping in swaps.items():
        for reg, true in mapping.items():
            if reg not in read:
                raise SpecError(
                    f"counterfactual {defect!r}: the rules do not read {reg!r}, so replacing "
                    "it changes nothing",
                    field=f"counterfactuals.{defect}",
                    fix=f"choose a column the rules read: {', '.join(sorted(read))}",
                )
            if true not in frame.columns:
                raise InputError(
                    f"counterfactual {defect!r}: the data has no column {true!r}", column=true
                )


def counterfactual_decisions(
    rules: RuleSet,
    frame: pd.DataFrame,
    swaps: Mapping[str, Any],
    *,
    programme: str,
    include_outreach: bool = True,
    parameters: Mapping[str, Any] | None = None,
    pin_parameters: bool = True,
    together: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The decisions with the registry as it is, and with each defect corrected.

    Parameters
    ----------
    rules, frame, swaps, programme, include_outreach
        As for :func:`counterfactual_flips`.
    parameters
        Pinned parameters for every evaluation.
    pin_parameters
        Keep population statistics (a median, a poverty line derived from it) at their
        baseline values when a field is corrected, so that a flip says what correcting
        *this family's* record changes. False recomputes them with the corrected field.
    together
        Also correct every field at once (``all defects``), when there are several.

    Returns
    -------
    tuple
        The baseline ``int8`` decision, and ``{defect: int8 decision}``.
    """
    spec = normalise_swaps(swaps)
    _check_swaps(rules, frame, spec)
    if together and len(spec) > 1:
        merged: dict[str, str] = {}
        for mapping in spec.values():
            merged.update(mapping)
        spec[ALL_DEFECTS] = merged
    cache: dict[str, Any] = {}
    base = _evaluate(
        rules, _Columns(rules, frame, cache=cache), parameters=parameters, programmes=[programme]
    )
    pinned = dict(base.parameters) if pin_parameters else dict(parameters or {})
    d0 = base.programmes[programme].decision(include_outreach)
    out: dict[str, np.ndarray] = {}
    for defect, mapping in spec.items():
        cols = _Columns(
            rules, frame, {reg: frame[true] for reg, true in mapping.items()}, cache=cache
        )
        ev = _evaluate(rules, cols, parameters=pinned, programmes=[programme])
        out[defect] = ev.programmes[programme].decision(include_outreach)
    return d0, out


def counterfactual_flips(
    rules: RuleSet,
    frame: pd.DataFrame,
    swaps: Mapping[str, Any],
    *,
    programme: str,
    include_outreach: bool = True,
    groups: Groups | Sequence[str] = None,
    label: Any = None,
    parameters: Mapping[str, Any] | None = None,
    pin_parameters: bool = True,
    together: bool = True,
) -> pd.DataFrame:
    """Count, per group, the decisions that flip when a registry field takes its true value.

    Parameters
    ----------
    rules
        The compiled rules.
    frame
        The data, holding the registry columns the rules read and the true columns.
    swaps
        ``{registry column: true column}``, or ``{defect: {registry column: true column}}``
        (see :func:`normalise_swaps`).
    programme
        Whose decision to compare.
    include_outreach
        Whether the decision includes being reached by the channel.
    groups
        Group columns: names of columns of ``frame``, or the columns themselves.
    label
        Optional ground truth (1 = truly eligible): adds the counts of exclusion and
        inclusion errors the correction fixes or creates.
    parameters
        Pinned parameters for every evaluation.
    pin_parameters
        Keep population statistics at their baseline values (default; see
        :func:`counterfactual_decisions`).
    together
        Also replace every field at once (the row ``all defects``), when there are several.

    Returns
    -------
    pandas.DataFrame
        One row per (defect, group cell): ``defect``, the group columns, ``n``,
        ``selected_before``, ``selected_after``, ``gained`` (0 → 1), ``lost`` (1 → 0); with
        ``label`` also ``eligible``, ``excluded_before``, ``excluded_after``,
        ``exclusions_fixed``, ``exclusions_created``, ``inclusions_fixed``,
        ``inclusions_created``.
    """
    n = len(frame)
    if isinstance(groups, Sequence) and not isinstance(groups, str | pd.Series):
        missing_cols = [c for c in groups if c not in frame.columns]
        if missing_cols:
            raise InputError(
                f"the data has no group column {missing_cols[0]!r}", column=missing_cols[0]
            )
        g = _group_frame(frame[list(groups)], n)
    else:
        g = _group_frame(groups, n)  # type: ignore[arg-type]
    y = None if label is None else np.asarray(label)
    if y is not None and y.shape != (n,):
        raise InputError(f"the label has {y.size} values for {n} rows")
    base, after = counterfactual_decisions(
        rules,
        frame,
        swaps,
        programme=programme,
        include_outreach=include_outreach,
        parameters=parameters,
        pin_parameters=pin_parameters,
        together=together,
    )
    d0 = base.astype(bool)
    parts = []
    for defect, decision in after.items():
        d1 = decision.astype(bool)
        counts: dict[str, np.ndarray] = {
            "n": np.ones(n, dtype="int64"),
            "selected_before": d0,
            "selected_after": d1,
            "gained": ~d0 & d1,
            "lost": d0 & ~d1,
        }
        if y is not None:
            pos = y == 1
            counts.update(
                {
                    "eligible": pos,
                    "excluded_before": pos & ~d0,
                    "excluded_after": pos & ~d1,
                    "exclusions_fixed": pos & ~d0 & d1,
                    "exclusions_created": pos & d0 & ~d1,
                    "inclusions_fixed": ~pos & d0 & ~d1,
                    "inclusions_created": ~pos & ~d0 & d1,
                }
            )
        part = _count(g, counts)
        part.insert(0, "defect", defect)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["defect"] = pd.Categorical(out["defect"], categories=list(after))
    return out
