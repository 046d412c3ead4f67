"""Benchmark: SHAP explanations and reason codes of a HistGradientBoosting model.

A HistGradientBoostingClassifier with 20 features (three protected-attribute cells drive a
proxy feature), trained on 50,000 generated rows::

    python benchmarks/explain.py                       # --sample 2000 --denied 100000
    python benchmarks/explain.py --denied 1e6 --batch-rows 50000

times, each with its peak traced memory (numpy and Python allocations, ``tracemalloc``):

- **stratified sample**: choosing the explanation sample from the population's groups;
- **explain**: ``explain`` on the sample (TreeExplainer, path-dependent) plus global and
  per-group importance, a gap decomposition and the proxy table;
- **reason codes**: ``reason_codes`` for ``--denied`` denied rows, TreeExplainer batch by
  batch (``--batch-rows``), top 3 reasons each — never the model-agnostic path (checked);
  side by side with the limit: shap's TreeExplainer alone on the same rows and batches
  (``--no-compare`` skips it).

It prints a table and the process's peak RSS. No test times anything.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SEED, human, rows_arg, seconds

from fairaudit.explain import (
    explain,
    gap_decomposition,
    global_importance,
    group_importance,
    make_explainer,
    proxy_scores,
    reason_codes,
    stratified_sample,
)
from fairaudit.models.sklearn import SklearnModel

N_FEATURES = 20


def population(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(["capital", "north", "south"], n, p=[0.5, 0.35, 0.15])
    sex = rng.choice(["f", "m"], n)
    code = pd.Series(region).map({"capital": 0.0, "north": 1.0, "south": 2.0}).to_numpy()
    X = rng.normal(size=(n, N_FEATURES))
    X[:, 0] = code + rng.normal(0, 0.5, n)  # a proxy of region
    frame = pd.DataFrame(X, columns=[f"x{j:02d}" for j in range(N_FEATURES)])
    z = -1.2 * X[:, 0] + X[:, 1] - 0.7 * X[:, 2] + 0.5 * X[:, 3] * X[:, 4] - 0.3
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype("int8")
    frame["region"] = region
    frame["sex"] = sex
    return frame


def measured(fn: Callable[[], Any]) -> tuple[float, int, Any]:
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return dt, peak, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=rows_arg, default=2000)
    ap.add_argument("--denied", type=rows_arg, default=100_000)
    ap.add_argument("--batch-rows", type=rows_arg, default=20_000)
    ap.add_argument("--train", type=rows_arg, default=50_000)
    ap.add_argument(
        "--no-compare", action="store_true", help="skip timing shap's TreeExplainer alone"
    )
    args = ap.parse_args(argv)

    from sklearn.ensemble import HistGradientBoostingClassifier

    from fairaudit.explain.shap_explain import _import_shap

    t0 = time.perf_counter()
    _import_shap()  # measured apart: a one-off cost of every process
    print(f"import shap: {seconds(time.perf_counter() - t0)}")

    features = [f"x{j:02d}" for j in range(N_FEATURES)]
    train = population(args.train, SEED)
    t0 = time.perf_counter()
    est = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    est.fit(train[features], train["y"])
    print(
        f"trained HistGradientBoosting (100 iterations, {N_FEATURES} features) on "
        f"{human(args.train)} rows in {seconds(time.perf_counter() - t0)}"
    )
    model = SklearnModel(
        est,
        columns=features,
        by_name=True,
        positive=1,
        positive_index=1,
        threshold=None,
        provenance={"path": "<benchmark>"},
    )
    # enough rows that the model denies at least --denied of them (about half are denied)
    pool = population(int(args.denied * 2.4) + args.sample, SEED + 1)
    groups = pool[["region", "sex"]]

    rows: list[tuple[str, str, float, int]] = []
    dt, peak, sample = measured(lambda: stratified_sample(groups, args.sample, seed=0))
    rows.append(("stratified sample", f"{human(len(pool))} rows -> {sample.size}", dt, peak))
    frame = pool.iloc[sample.positions].reset_index(drop=True)

    def explain_all() -> Any:
        expl = explain(model, frame, weights=sample.weights)
        imp = global_importance(expl)
        group_importance(expl, frame[["region", "sex"]])
        gap_decomposition(
            expl, (frame["region"] == "south").to_numpy(), (frame["region"] == "capital").to_numpy()
        )
        proxy_scores(frame, features, {"region": frame["region"], "sex": frame["sex"]}, imp)
        return expl

    dt, peak, expl = measured(explain_all)
    assert expl.explainer == "tree"
    rows.append(("explain + aggregates + proxies", f"{expl.sample_size} rows", dt, peak))
    dt, peak, _ = measured(lambda: explain(model, frame, explainer=make_explainer(model, frame)))
    rows.append(("  of which explain (SHAP values)", f"{expl.sample_size} rows", dt, peak))

    decision = model.predict(pool).decision
    denied = np.flatnonzero(decision == 0)[: args.denied]
    if len(denied) < args.denied:
        raise SystemExit(f"only {len(denied)} denied rows were generated")
    target = pool.iloc[denied].reset_index(drop=True)
    ex = make_explainer(model, frame)
    assert ex.name == "tree"  # reason codes for trees never take the model-agnostic path
    done = [0]

    def progress(d: int, t: int) -> None:
        if d - done[0] >= 5 * args.batch_rows or d == t:
            print(f"  reason codes: {d:,}/{t:,} rows", flush=True)
            done[0] = d

    dt, peak, codes = measured(
        lambda: reason_codes(
            model,
            target,
            np.ones(len(target), bool),
            denied,
            explainer=ex,
            top=3,
            batch_rows=args.batch_rows,
            progress=progress,
        )
    )
    shap = _import_shap()

    def raw_shap() -> int:
        # the limit: shap's TreeExplainer alone on the same rows and batches, no ranking
        explainer = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
        X = target[features].to_numpy(dtype="float64")
        for start in range(0, len(X), args.batch_rows):
            explainer.shap_values(X[start : start + args.batch_rows], check_additivity=False)
        return len(X)

    if not args.no_compare:
        t_raw, p_raw, _ = measured(raw_shap)
    rows.append(
        (
            f"reason codes (batches of {human(args.batch_rows)})",
            f"{human(len(target))} denied rows, {len(codes):,} codes",
            dt,
            peak,
        )
    )

    if not args.no_compare:
        rows.append(
            ("  limit: shap TreeExplainer alone", f"{human(len(target))} rows", t_raw, p_raw)
        )
    print()
    print("| step | size | time | peak traced memory |")
    print("|---|---|---|---|")
    for name, size, t, p in rows:
        print(f"| {name} | {size} | {seconds(t)} | {p / 2**20:.0f} MB |")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS: {rss:.0f} MB (includes the {human(len(pool))}-row pool)")


if __name__ == "__main__":
    main()
