"""Explanations wired into an audit of a scikit-learn model, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from fairaudit.cli import main
from tests.models.conftest import LABEL, PROTECTED

pytest.importorskip("shap")


def test_sklearn_audit_with_explanations(tmp_path: Path, sklearn_skops_model) -> None:
    fx = sklearn_skops_model
    frame = fx.frame.copy()
    frame["person_id"] = [f"P{i:04d}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "data.csv", index=False)
    spec = {
        "name": "explained",
        "intervention": "assistive",
        "data": {"path": "data.csv", "label": LABEL, "row_id": "person_id"},
        "model": fx.spec,
        "protected": [{"name": PROTECTED}, {"name": "region"}],
        "intersections": True,
        "gates": [
            {
                "id": "fnr",
                "metric": "exclusion_error",
                "measure": "difference",
                "max": -1.0,
                "decide_on": "point",
            }
        ],  # fails: every group gets a gap
        "explain": {"sample": 200, "top": 2},
    }
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["check", str(tmp_path / "audit.yaml"), "-q", "--out", str(out)])
    assert res.exit_code == 1, res.output
    text = (out / "results.json").read_text()
    results = json.loads(text)
    ex = results["explanations"]
    assert ex["explainer"] in {"linear", "tree", "permutation"}
    assert ex["reasons_artifact"] == "restricted/reasons"
    assert "P0001" not in text  # no row-level data in results
    # the restricted artifact: reason codes of every denied row, keyed by the row id
    codes = pd.read_parquet(out / "restricted" / "reasons")
    denied = set(frame["person_id"][fx.decision == 0])
    assert set(codes["row_id"]) <= denied and len(set(codes["row_id"])) > 0.9 * len(denied)
    assert codes["rank"].max() <= 2 and (codes["contribution"] > 0).all()
    assert set(codes["feature"]) <= set(fx.features)
    # per-group importance covers every group the audit reports, intersections included
    reported = {tuple(sorted(g["attributes"].items())) for g in results["groups"]}
    explained = {tuple(sorted(g["attributes"].items())) for g in ex["group_importance"]}
    assert any(len(k) == 2 for k in reported) and reported <= explained
    # every gap names its group and reference as the failed check and the audit's
    # reference do
    refs = {tuple(r["attributes"]): r["group"] for r in results["references"]}
    failed = {
        tuple(sorted(c["attributes"].items()))
        for c in results["checks"]
        if c["verdict"] == "fail" and "*" not in c["attributes"].values()
    }
    assert {tuple(sorted(g["attributes"].items())) for g in ex["gaps"]} == failed
    for g in ex["gaps"]:
        assert g["reference"] == refs[tuple(g["attributes"])]
        assert g["group"] == " × ".join(f"{k}={v}" for k, v in g["attributes"].items())


def test_reason_codes_are_published_whole_or_not_at_all(
    tmp_path: Path, sklearn_skops_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while the reason codes are written leaves no folder, not even hidden."""
    from fairaudit.audit import run_audit
    from fairaudit.engines.rows import ExplainRows
    from fairaudit.spec import spec_from_dict

    fx = sklearn_skops_model
    fx.frame.to_parquet(tmp_path / "data.parquet", index=False)
    spec = spec_from_dict(
        {
            "name": "atomic",
            "intervention": "assistive",
            "data": {"path": "data.parquet", "label": LABEL},
            "model": fx.spec,
            "protected": [{"name": PROTECTED}],
            "explain": {"sample": 50},
        },
        base_dir=tmp_path,
    )
    restricted = tmp_path / "out" / "restricted"
    run_audit(spec, restricted_dir=restricted, batch_rows=100)
    before = sorted(p.name for p in (restricted / "reasons").iterdir())
    assert before == ["part-00000.parquet"]
    calls = []
    original = ExplainRows.reasons

    def failing(self, batch, model, explainer):  # the second batch fails
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(self, batch, model, explainer)

    monkeypatch.setattr(ExplainRows, "reasons", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        run_audit(spec, restricted_dir=restricted, batch_rows=100)
    # the previous run's folder is intact and nothing half-written is left beside it
    assert sorted(p.name for p in restricted.iterdir()) == ["reasons"]
    assert sorted(p.name for p in (restricted / "reasons").iterdir()) == before
