"""Golden CLI tests: every exit code, every bad input, the outputs."""

from __future__ import annotations

import json
import pickle
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import base_spec, make_frame


def _setup(tmp_path: Path, spec: dict | str, df: pd.DataFrame | None = None) -> Path:
    (df if df is not None else make_frame()).to_csv(tmp_path / "data.csv", index=False)
    p = tmp_path / "audit.yaml"
    if isinstance(spec, str):
        p.write_text(spec, encoding="utf-8")
    else:
        import yaml

        p.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return p


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


# ----------------------------------------------------------------------------- exit 0 / 1


def test_failing_gate_exits_1_and_writes_results(tmp_path, cli) -> None:
    spec = _setup(tmp_path, base_spec())
    res = cli("check", str(spec))
    assert res.exit_code == 1, res.output
    assert "FAIL" in res.output and "fnr-ratio" in res.output
    data = json.loads((tmp_path / "fairaudit-out" / "test-audit" / "results.json").read_text())
    assert data["schema"] == "fairaudit.results/1"
    assert data["status"] == "fail"
    failed = [c for c in data["checks"] if c["verdict"] == "fail"]
    assert failed and all(c["value"] > 1.25 for c in failed)


def test_passing_gates_exit_0(tmp_path, cli) -> None:
    gates = [
        {"id": "size", "metric": "n", "min": 10},
        {"id": "loose", "metric": "exclusion_error", "measure": "ratio", "max": 10},
    ]
    spec = _setup(tmp_path, base_spec(gates=gates))
    res = cli("check", str(spec))
    assert res.exit_code == 0, res.output
    assert "PASS" in res.output


def test_exit_zero_flag(tmp_path, cli) -> None:
    spec = _setup(tmp_path, base_spec())
    res = cli("check", str(spec), "--exit-zero")
    assert res.exit_code == 0
    assert "exiting 0 although gates failed" in res.stderr


def test_insufficient_evidence_policy(tmp_path, cli) -> None:
    gates = [{"id": "loose", "metric": "exclusion_error", "measure": "ratio", "max": 10}]
    warn = _setup(tmp_path, base_spec(gates=gates, min_group_size=100_000))
    res = cli("check", str(warn), "--json", "-")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["status"] == "insufficient_evidence"  # stdout: JSON only
    assert "INSUFFICIENT EVIDENCE" in res.stderr
    fail = _setup(
        tmp_path, base_spec(gates=gates, min_group_size=100_000, insufficient_evidence="fail")
    )
    assert cli("check", str(fail)).exit_code == 1


def test_internal_error_exits_3(tmp_path, cli, monkeypatch) -> None:
    import fairaudit.audit

    def boom(*a, **k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(fairaudit.audit, "run_audit", boom)
    spec = _setup(tmp_path, base_spec())
    res = cli("check", str(spec))
    assert res.exit_code == 3
    assert "internal error: RuntimeError: kaput" in res.stderr
    assert "Traceback" not in res.output


def test_json_and_junit_outputs(tmp_path, cli) -> None:
    spec = _setup(
        tmp_path,
        base_spec(
            gates=[
                {
                    "id": "fnr-ratio",
                    "metric": "exclusion_error",
                    "measure": "ratio",
                    "max": 1.25,
                    "decide_on": "point",
                },
                {"id": "size", "metric": "n", "min": 10},
            ]
        ),
    )
    res = cli(
        "check",
        str(spec),
        "--json",
        str(tmp_path / "r.json"),
        "--junit",
        str(tmp_path / "j.xml"),
        "--out",
        str(tmp_path / "o"),
    )
    assert res.exit_code == 1
    data = json.loads((tmp_path / "r.json").read_text())
    assert (tmp_path / "o" / "results.json").read_text() == (tmp_path / "r.json").read_text()
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(data["checks"])
    assert int(suite.get("failures")) == sum(c["verdict"] == "fail" for c in data["checks"])
    assert int(suite.get("failures")) == len([c for c in cases if c.find("failure") is not None])


def test_same_inputs_give_byte_identical_results(tmp_path, cli) -> None:
    spec = _setup(tmp_path, base_spec(intersections=True))
    cli("check", str(spec), "--json", str(tmp_path / "a.json"))
    cli("check", str(spec), "--json", str(tmp_path / "b.json"))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


# ------------------------------------------------------------------------- no-spec mode


def test_quick_mode_decision(tmp_path, cli) -> None:
    make_frame().to_csv(tmp_path / "d.csv", index=False)
    res = cli(
        "check",
        "--data",
        "d.csv",
        "--label",
        "eligible",
        "--decision",
        "granted",
        "--protected",
        "sex,area",
        "--reference",
        "area=urban",
        "--intersections",
        "--json",
        "r.json",
    )
    assert res.exit_code in (0, 1), res.output
    data = json.loads((tmp_path / "r.json").read_text())
    refs = {tuple(r["attributes"]): r for r in data["references"]}
    assert refs[("area",)]["group"] == {"area": "urban"}
    assert refs[("area",)]["policy"] == "named"
    assert refs[("sex",)]["policy"] == "most_favoured"
    assert ("sex", "area") in refs
    ids = {c["id"] for c in data["checks"]}
    assert ids == {"selection-impact-ratio", "exclusion-error-ratio"}
    assert any(len(g["attributes"]) == 2 for g in data["groups"])


def test_quick_mode_score_threshold_equals_decision(tmp_path, cli) -> None:
    df = make_frame()
    df["dec"] = (df["score"] >= 0.5).astype(int)
    df.to_csv(tmp_path / "d.csv", index=False)
    a = cli(
        "check",
        "--data",
        "d.csv",
        "--label",
        "eligible",
        "--score",
        "score",
        "--threshold",
        "0.5",
        "--protected",
        "area",
        "--json",
        "a.json",
    )
    b = cli(
        "check",
        "--data",
        "d.csv",
        "--label",
        "eligible",
        "--decision",
        "dec",
        "--protected",
        "area",
        "--json",
        "b.json",
    )
    assert a.exit_code == b.exit_code
    ga = json.loads((tmp_path / "a.json").read_text())["groups"]
    gb = json.loads((tmp_path / "b.json").read_text())["groups"]
    assert [g["counts"] for g in ga] == [g["counts"] for g in gb]


def test_quick_mode_punitive_and_custom_gate(tmp_path, cli) -> None:
    make_frame().to_csv(tmp_path / "d.csv", index=False)
    res = cli(
        "check",
        "--data",
        "d.csv",
        "--label",
        "eligible",
        "--decision",
        "granted",
        "--protected",
        "area",
        "--intervention",
        "punitive",
        "--gate",
        "false_positive_rate difference <= 0.05",
        "--json",
        "r.json",
    )
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["headline_metric"] == "false_positive_rate"
    assert {c["id"] for c in data["checks"]} == {"gate-1-false_positive_rate-difference"}
    assert "exclusion_error" not in data["overall"]["metrics"]
    assert res.exit_code in (0, 1)


# ------------------------------------------------------------------------------ bad input

BAD_YAML = "name: x\nintervention: assistive\ndata: {path: data.csv, label: [\n"


def _bad_cases():
    df = make_frame()
    cases = []
    cases.append(("malformed-yaml", BAD_YAML, None, ["not valid YAML", "audit.yaml:"]))
    s = base_spec()
    s["colour"] = "red"
    cases.append(("unknown-key", s, None, ["colour: unknown key", "fix:"]))
    s = base_spec()
    s["protected"] = [{"name": "sex"}, {"name": "regoin"}]
    cases.append(("missing-column", s, None, ["missing column", "'regoin'", "protected[1].column"]))
    d = df.copy()
    d.loc[0, "eligible"] = 2
    cases.append(("non-binary-label", base_spec(), d, ["label", "'eligible'", "fix:"]))
    d = df.copy()
    d["granted"] = d["granted"].astype(str)
    d.loc[3, "granted"] = "maybe"
    cases.append(("non-binary-decision", base_spec(), d, ["not binary", "'granted'"]))
    s = base_spec()
    s["gates"] = [{"id": "g", "metric": "exclusion_error", "measure": "ratio", "max": "abc"}]
    cases.append(("threshold-not-number", s, None, ["gates[0].max", "number", "'abc'"]))
    s = base_spec()
    s["model"] = {"loader": "column", "score": "score", "threshold": "high"}
    cases.append(("loader-threshold-not-number", s, None, ["model.threshold", "'high'"]))
    cases.append(("empty-file", base_spec(), "EMPTY", ["the file is empty"]))
    cases.append(("header-only", base_spec(), df.iloc[:0], ["no rows"]))
    s = base_spec()
    s["model"] = {"loader": "tensorflow", "path": "m.pb"}
    cases.append(("unknown-loader", s, None, ["unknown model loader 'tensorflow'", "column"]))
    d = df.copy()
    d["sex"] = "female"
    cases.append(("single-value-attribute", base_spec(), d, ["single value 'female'", "sex"]))
    s = base_spec()
    s["protected"] = [{"name": "sex"}, {"name": "area", "reference": "suburban"}]
    cases.append(("missing-reference", s, None, ["protected[1].reference", "'suburban'", "urban"]))
    d = df.copy()
    d.loc[5, "sex"] = np.nan
    s = base_spec()
    s["protected"] = [{"name": "sex", "missing": "error"}, {"name": "area"}]
    cases.append(("nan-protected", s, d, ["missing value", "'sex'", "missing: unknown"]))
    s = base_spec()
    s["protected"] = [{"name": "sex"}, {"name": "area", "values": ["urban", "rural"]}]
    cases.append(("unseen-category", s, None, ["'remote'", "not among the declared values"]))
    s = base_spec(data="nope.csv")
    cases.append(("missing-data-file", s, None, ["data file not found", "data.path"]))
    s = base_spec()
    s["gates"] = [{"id": "g", "metric": "fairness", "max": 1}]
    cases.append(("unknown-metric", s, None, ["unknown metric 'fairness'", "gates[0].metric"]))
    d = df.copy()
    d.loc[2, "weight"] = -1
    s = base_spec()
    s["data"] = {"path": "data.csv", "label": "eligible", "weight": "weight"}
    cases.append(("negative-weight", s, d, ["non-negative", "'weight'"]))
    return cases


@pytest.mark.parametrize("name,spec,df,expected", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_input_exits_2_with_a_located_message(tmp_path, cli, name, spec, df, expected):
    if isinstance(df, str) and df == "EMPTY":
        spec_path = _setup(tmp_path, spec)
        (tmp_path / "data.csv").write_text("")
    else:
        spec_path = _setup(tmp_path, spec, df)
    res = cli("check", str(spec_path))
    assert res.exit_code == 2, res.output
    err = res.stderr
    assert err.startswith("error: ")
    assert "Traceback" not in res.output
    for part in expected:
        assert part in err, f"{part!r} not in {err!r}"
    assert 1 <= len(err.strip().splitlines()) <= 4, err
    assert not (tmp_path / "fairaudit-out").exists(), "nothing is written on bad input"


def test_spec_errors_carry_yaml_lines(tmp_path, cli) -> None:
    text = (
        "name: t\n"
        "intervention: assistive\n"
        "data: {path: data.csv, label: eligible}\n"
        "model: {loader: column, decision: granted}\n"
        "protected:\n"
        "  - name: sex\n"
        "    colour: blue\n"
        "gates:\n"
        "  - id: g\n"
        "    metric: exclusion_error\n"
        "    max: lots\n"
    )
    spec = _setup(tmp_path, text)
    res = cli("check", str(spec))
    assert res.exit_code == 2
    assert f"audit.yaml:{_line_of(spec, 'colour')}: protected[0].colour: unknown key" in res.stderr
    assert f"audit.yaml:{_line_of(spec, 'max: lots')}: gates[0].max" in res.stderr


def test_usage_errors_exit_2(tmp_path, cli) -> None:
    make_frame().to_csv(tmp_path / "d.csv", index=False)
    assert cli("check").exit_code == 2
    res = cli(
        "check",
        "--data",
        "d.csv",
        "--label",
        "eligible",
        "--score",
        "score",
        "--threshold",
        "abc",
        "--protected",
        "area",
    )
    assert res.exit_code == 2 and "abc" in res.stderr
    res = cli(
        "check",
        "--data",
        "d.csv",
        "--label",
        "eligible",
        "--decision",
        "granted",
        "--protected",
        "area",
        "--reference",
        "area",
    )
    assert res.exit_code == 2 and "COL=VALUE" in res.stderr
    res = cli(
        "check",
        "--data",
        "d.csv",
        "--label",
        "eligible",
        "--decision",
        "granted",
        "--protected",
        "area",
        "--gate",
        "fnr is bad",
    )
    assert res.exit_code == 2 and "METRIC MEASURE OP NUMBER" in res.stderr
    assert cli("check", "nope.yaml").exit_code == 2


def test_untrusted_pickle_is_refused(tmp_path, cli) -> None:
    from sklearn.linear_model import LogisticRegression

    df = make_frame()
    model = LogisticRegression().fit(df[["score", "weight"]], df["eligible"])
    with (tmp_path / "model.pkl").open("wb") as fh:
        pickle.dump(model, fh)
    spec = base_spec()
    spec["model"] = {"loader": "sklearn", "path": "model.pkl", "features": ["score", "weight"]}
    path = _setup(tmp_path, spec, df)
    res = cli("check", str(path))
    assert res.exit_code == 2
    assert "model.pkl" in res.stderr and "trusted" in res.stderr and "skops" in res.stderr
    spec["model"]["trusted"] = True
    path = _setup(tmp_path, spec, df)
    assert cli("check", str(path)).exit_code in (0, 1)


def test_check_writes_cards_and_card_rerenders(tmp_path, cli) -> None:
    spec = _setup(tmp_path, base_spec())
    assert cli("check", str(spec), "--out", "o").exit_code == 1
    for name in ("card.html", "card.md", "card.json", "results.json", "summary.md"):
        assert (tmp_path / "o" / name).exists()
    svgs = sorted((tmp_path / "o" / "charts").glob("*.svg"))
    assert svgs and all(p.read_text().lstrip().startswith(("<?xml", "<svg")) for p in svgs)
    res = cli("card", "o/results.json", "--format", "json", "--out", "c.json")
    assert res.exit_code == 0
    # the re-rendered card is the one check wrote, except that check also had the spec
    rerendered = json.loads((tmp_path / "c.json").read_text())
    written = json.loads((tmp_path / "o" / "card.json").read_text())
    assert rerendered["summary"] == written["summary"]
    assert rerendered["provenance"] == written["provenance"]
    assert cli("check", str(spec), "--out", "p", "--no-card").exit_code == 1
    assert not (tmp_path / "p" / "card.html").exists()
    (tmp_path / "bad.json").write_text('{"schema": "x"}')
    bad = cli("card", "bad.json")
    assert bad.exit_code == 2 and "not a fairaudit results file" in bad.stderr


def test_repeated_spec_key_is_an_error_not_a_silent_override(tmp_path, cli) -> None:
    text = (
        "name: t\n"
        "intervention: assistive\n"
        "data: {path: data.csv, label: eligible}\n"
        "model: {loader: column, decision: granted}\n"
        "protected: [{name: sex}]\n"
        "gates:\n"
        "  - id: g\n"
        "    metric: exclusion_error\n"
        "    max: 1.25\n"
        "    max: 9\n"
    )
    spec = _setup(tmp_path, text)
    res = cli("check", str(spec))
    assert res.exit_code == 2
    assert "audit.yaml:10: gates[0].max: the key 'max' appears twice (first on line 9)" in (
        res.stderr
    )
