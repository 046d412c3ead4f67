"""The ``fairaudit`` command: parse, call :func:`run_audit`, print, exit. No domain logic."""

from __future__ import annotations

import hashlib
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from fairaudit._version import __version__
from fairaudit.errors import ExitCode, FairauditError

CHECK_HELP = """Audit a model or a file of decisions for disparities between groups.

\b
Two ways to call it:
  fairaudit check audits/NAME.yaml            audit what a spec describes
  fairaudit check --data FILE --label COL (--decision COL | --score COL --threshold T)
                  --protected COL[,COL...]    audit decisions already in a file

\b
The spec (YAML; unknown keys are errors; relative paths are relative to the spec):
  name: kenya-sha-pmt            # names the output folder
  intervention: assistive        # assistive: selection helps (benefit) | punitive (flag)
  data:    {path: data.csv, label: actually_poor, weight: null, row_id: household_id}
  model:   {loader: column, decision: predicted_poor}   # or sklearn/onnx/python/mlflow
  protected:
    - {name: area, reference: Urban}                    # reference: optional
    - {name: age, bins: [30, 63]}                       # numeric -> <30, 30–62, 63+
  intersections: true            # or [[area, age]]
  reference: most_favoured       # default reference policy (or: largest)
  min_group_size: 30             # smaller groups get 'insufficient_evidence'
  insufficient_evidence: warn    # or fail (exit 1)
  gates:
    - {id: exclusion-ratio, metric: exclusion_error, measure: ratio, max: 1.25}
    - {id: group-size, metric: n, min: 30}
See README.md for every key.

\b
Without a spec, the default gates are the four-fifths rule on selection rates
(ratio >= 0.8 to the reference; <= 1.25 for punitive) and the headline harm
metric's ratio <= 1.25 (exclusion error if assistive, false positive rate if
punitive); replace them with --gate "METRIC MEASURE OP NUMBER", e.g.
--gate "exclusion_error ratio <= 1.25".

\b
Exit codes: 0 all gates pass; 1 a gate failed; 2 bad spec, input or usage;
3 internal error. --exit-zero exits 0 whenever the audit ran.
"""


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    width = min(100, shutil.get_terminal_size((100, 24)).columns)
    return Console(width=width, stderr=stderr, highlight=False, soft_wrap=False)


def _fail(exc: BaseException, debug: bool) -> NoReturn:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, FairauditError):
        click.echo(f"error: {exc.render()}", err=True)
        sys.exit(int(exc.exit_code))
    from fairaudit.audit import internal_error

    click.echo(f"error: {internal_error(exc).render()}", err=True)
    sys.exit(int(ExitCode.INTERNAL))


def _parse_reference(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        col, sep, val = v.partition("=")
        if not sep or not col or not val:
            raise click.BadParameter(f"{v!r} is not COL=VALUE", param_hint="--reference")
        out[col.strip()] = val.strip()
    return out


_OPS = {">=": "min", "<=": "max"}


def _parse_gate(text: str, i: int) -> dict[str, Any]:
    parts = text.split()
    if len(parts) != 4 or parts[2] not in _OPS:
        raise click.BadParameter(
            f"{text!r} is not 'METRIC MEASURE OP NUMBER' (OP is >= or <=), "
            "e.g. 'exclusion_error ratio <= 1.25'",
            param_hint="--gate",
        )
    metric, measure, op, number = parts
    try:
        value = float(number)
    except ValueError:
        raise click.BadParameter(
            f"{number!r} in {text!r} is not a number", param_hint="--gate"
        ) from None
    return {
        "id": f"gate-{i + 1}-{metric}-{measure}",
        "metric": metric,
        "measure": measure,
        _OPS[op]: value,
    }


def _default_gates(intervention: str) -> list[dict[str, Any]]:
    if intervention == "assistive":
        return [
            {
                "id": "selection-impact-ratio",
                "metric": "selection_rate",
                "measure": "ratio",
                "min": 0.8,
                "description": "four-fifths rule on selection rates",
            },
            {
                "id": "exclusion-error-ratio",
                "metric": "exclusion_error",
                "measure": "ratio",
                "max": 1.25,
                "description": "exclusion error at most 1.25x the reference's",
            },
        ]
    return [
        {
            "id": "flag-rate-ratio",
            "metric": "selection_rate",
            "measure": "ratio",
            "max": 1.25,
            "description": "flag rate at most 1.25x the reference's",
        },
        {
            "id": "false-positive-ratio",
            "metric": "false_positive_rate",
            "measure": "ratio",
            "max": 1.25,
            "description": "false positive rate at most 1.25x the reference's",
        },
    ]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="fairaudit")
def main() -> None:
    """fairaudit: audit the models that decide who gets public services."""


@main.command("check", help=CHECK_HELP, context_settings={"max_content_width": 100})
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV/Parquet file with decisions (no-spec mode).",
)
@click.option("--label", help="Column with the truth (1 = truly eligible/positive).")
@click.option("--decision", help="Column with the model's decision (1 = selected).")
@click.option("--score", help="Column with a score; decision = score >= --threshold.")
@click.option("--threshold", type=float, help="Threshold for --score.")
@click.option("--protected", help="Protected attribute columns, comma-separated.")
@click.option(
    "--reference",
    multiple=True,
    metavar="COL=VALUE",
    help="Reference group of an attribute (repeatable). Default: most favoured.",
)
@click.option("--intersections", is_flag=True, help="Also audit every combination.")
@click.option(
    "--intervention",
    type=click.Choice(["assistive", "punitive"]),
    default=None,
    help="assistive (default): selection helps; punitive: it harms.",
)
@click.option("--weight", help="Column of sample weights (no-spec mode).")
@click.option(
    "--gate",
    "gates",
    multiple=True,
    metavar='"METRIC MEASURE OP NUMBER"',
    help="A gate for no-spec mode (repeatable); replaces the default gates.",
)
@click.option(
    "--min-group-size",
    type=click.IntRange(min=1),
    default=None,
    help="Groups smaller than this get no verdict (default 30).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder for results.json [default: fairaudit-out/NAME].",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Also write results JSON here ('-' for standard output).",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write JUnit XML (one testcase per check) here.",
)
@click.option(
    "--exit-zero",
    is_flag=True,
    help="Exit 0 when the audit ran, even if gates failed (errors still exit 2/3).",
)
@click.option(
    "--mlflow",
    "mlflow_on",
    is_flag=True,
    help="Record the audit as an MLflow run (extra mlflow); see tracking: in the spec.",
)
@click.option(
    "--mlflow-uri",
    metavar="URI",
    help="MLflow tracking URI (implies --mlflow). Default: the spec's, else "
    "MLFLOW_TRACKING_URI, else MLflow's local default store.",
)
@click.option(
    "--no-tracking", is_flag=True, help="Do not record to MLflow, whatever the spec says."
)
@click.option("--no-card", is_flag=True, help="Do not write card.html / card.md / card.json.")
@click.option(
    "--sign-key",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="KEY.pem",
    help="Sign card.json with this Ed25519 private key (extra sign; see fairaudit keygen).",
)
@click.option("--pdf", is_flag=True, help="Also write card.pdf (extra pdf: weasyprint).")
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default=None,
    help="Who counts the rows: local (this process) or spark (Apache Spark; extra spark). "
    "Default: the spec's engine, else local.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the status line.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def check(
    spec: Path | None,
    data: Path | None,
    label: str | None,
    decision: str | None,
    score: str | None,
    threshold: float | None,
    protected: str | None,
    reference: tuple[str, ...],
    intersections: bool,
    intervention: str | None,
    weight: str | None,
    gates: tuple[str, ...],
    min_group_size: int | None,
    out: Path | None,
    json_path: str | None,
    junit_path: Path | None,
    exit_zero: bool,
    mlflow_on: bool,
    mlflow_uri: str | None,
    no_tracking: bool,
    no_card: bool,
    sign_key: Path | None,
    pdf: bool,
    engine: str | None,
    quiet: bool,
    debug: bool,
) -> None:
    if no_card and (sign_key or pdf):
        raise click.UsageError("--sign-key and --pdf need the card: drop --no-card")
    quick = {
        "--data": data,
        "--label": label,
        "--decision": decision,
        "--score": score,
        "--threshold": threshold,
        "--protected": protected,
        "--weight": weight,
        "--reference": reference or None,
        "--intersections": intersections or None,
        "--gate": gates or None,
    }
    try:
        from fairaudit.spec import load_spec, spec_from_dict

        # a bad key is found before the audit runs, not after
        key = _load_sign_key(sign_key)
        if spec is not None:
            given = [k for k, v in quick.items() if v is not None]
            if given:
                raise click.UsageError(
                    f"{', '.join(given)} cannot be combined with a spec file; "
                    "put them in the spec instead"
                )
            audit_spec = load_spec(spec)
            if intervention is not None and intervention != audit_spec.intervention:
                raise click.UsageError("--intervention differs from the spec's; edit the spec")
            if min_group_size is not None:
                audit_spec = audit_spec.model_copy(update={"min_group_size": min_group_size})
        else:
            audit_spec = spec_from_dict(
                _quick_spec(
                    data,
                    label,
                    decision,
                    score,
                    threshold,
                    protected,
                    reference,
                    intersections,
                    intervention or "assistive",
                    weight,
                    gates,
                    min_group_size,
                ),
                base_dir=Path.cwd(),
            )
        if engine is not None and engine != audit_spec.engine:
            audit_spec = audit_spec.model_copy(update={"engine": engine})
        result = _run_with_progress(audit_spec, quiet, out)
        files = _write_outputs(result, audit_spec, out, json_path, junit_path)
        if not no_card:
            files.update(
                _write_cards(
                    result,
                    audit_spec if spec is not None else None,
                    _output_folder(audit_spec, out),
                    key=key,
                    pdf=pdf,
                )
            )
    except click.ClickException:
        raise
    except Exception as exc:
        _fail(exc, debug)
    tracking = audit_spec.tracking.mlflow
    if not no_tracking and (tracking is not None or mlflow_on or mlflow_uri):
        # Local outputs are written first: a tracking failure loses nothing.
        try:
            from fairaudit.spec import MlflowTrackingSpec
            from fairaudit.tracking import track

            t = tracking or MlflowTrackingSpec()
            info = track(
                result,
                audit_spec,
                files,
                tracking_uri=mlflow_uri or t.tracking_uri,
                experiment=t.experiment,
                run_name=t.run_name,
                registered_model=t.registered_model,
                alias_on_pass=t.alias_on_pass,
                log_restricted=t.log_restricted,
            )
        except Exception as exc:
            click.echo(
                f"(the local results are written: {', '.join(map(str, files.values()))})", err=True
            )
            _fail(exc, debug)
        stamped = f"; model version {info.model_version} tagged" if info.model_version else ""
        click.echo(
            f"recorded in MLflow: run {info.run_id} at {info.tracking_uri}{stamped}", err=True
        )
    # With --json -, standard output carries the JSON alone; the summary goes to stderr.
    to_stderr = json_path == "-"
    if not quiet:
        from fairaudit.report import render_summary

        render_summary(result, _console(stderr=to_stderr))
    else:
        click.echo(f"{result.name}: {result.status}", err=to_stderr)
    code = ExitCode.OK
    if result.status == "fail" or (
        result.status == "insufficient_evidence" and audit_spec.insufficient_evidence == "fail"
    ):
        code = ExitCode.GATE_FAILED
    if exit_zero and code == ExitCode.GATE_FAILED:
        click.echo("(--exit-zero: exiting 0 although gates failed)", err=True)
        code = ExitCode.OK
    sys.exit(int(code))


def _quick_spec(
    data: Path | None,
    label: str | None,
    decision: str | None,
    score: str | None,
    threshold: float | None,
    protected: str | None,
    reference: tuple[str, ...],
    intersections: bool,
    intervention: str,
    weight: str | None,
    gates: tuple[str, ...],
    min_group_size: int | None,
) -> dict[str, Any]:
    missing = [
        n for n, v in (("--data", data), ("--label", label), ("--protected", protected)) if not v
    ]
    if missing:
        raise click.UsageError(
            f"give a spec file, or {', '.join(missing)} (see fairaudit check --help)"
        )
    assert data is not None and protected is not None
    if (decision is None) == (score is None):
        raise click.UsageError("give exactly one of --decision COL or --score COL --threshold T")
    if score is not None and threshold is None:
        raise click.UsageError("--score needs --threshold (decision = score >= threshold)")
    if decision is not None and threshold is not None:
        raise click.UsageError("--threshold goes with --score, not --decision")
    cols = [c.strip() for c in protected.split(",") if c.strip()]
    if not cols:
        raise click.BadParameter("name at least one column", param_hint="--protected")
    refs = _parse_reference(reference)
    unknown = [c for c in refs if c not in cols]
    if unknown:
        raise click.BadParameter(
            f"{unknown} not among --protected {cols}", param_hint="--reference"
        )
    model: dict[str, Any] = {"loader": "column"}
    if decision is not None:
        model["decision"] = decision
    else:
        model.update(score=score, threshold=threshold)
    spec: dict[str, Any] = {
        "name": data.stem,
        "intervention": intervention,
        "data": {"path": str(data), "label": label, **({"weight": weight} if weight else {})},
        "model": model,
        "protected": [{"name": c, **({"reference": refs[c]} if c in refs else {})} for c in cols],
        "intersections": intersections,
        "gates": [_parse_gate(g, i) for i, g in enumerate(gates)]
        if gates
        else _default_gates(intervention),
    }
    if min_group_size is not None:
        spec["min_group_size"] = min_group_size
    return spec


def _output_folder(spec: Any, out: Path | None) -> Path:
    from fairaudit.audit import safe_slug

    return out or (
        Path(spec.output.dir) if spec.output.dir else Path("fairaudit-out") / safe_slug(spec.name)
    )


def _run_with_progress(spec: Any, quiet: bool, out: Path | None = None) -> Any:
    from fairaudit.audit import run_audit

    # row-level outputs (reason codes) go to a separate, clearly named folder
    restricted = _output_folder(spec, out) / "restricted"
    if quiet or not sys.stderr.isatty():
        return run_audit(spec, restricted_dir=restricted)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(f"auditing {spec.name}", total=None)
        update: Callable[[int], None] = lambda rows: bar.update(  # noqa: E731
            task, description=f"auditing {spec.name}: {rows:,} rows counted"
        )

        def status(line: str) -> None:
            bar.update(task, description=f"{spec.name}: {line}")

        return run_audit(spec, progress=update, restricted_dir=restricted, status=status)


def _write_outputs(
    result: Any, spec: Any, out: Path | None, json_path: str | None, junit_path: Path | None
) -> dict[str, Path]:
    """Write results.json, summary.md and (if asked) JUnit XML atomically; return them."""
    from fairaudit.report import junit_xml, summary_markdown
    from fairaudit.results import atomic_write_text

    folder = _output_folder(spec, out)
    text = result.to_json()
    files = {"results.json": atomic_write_text(folder / "results.json", text)}
    files["summary.md"] = atomic_write_text(folder / "summary.md", summary_markdown(result))
    if json_path == "-":
        click.echo(text, nl=False)
    elif json_path:
        atomic_write_text(json_path, text)
    reasons = folder / "restricted" / "reasons"
    if result.explanations and result.explanations.get("reasons_artifact") and reasons.exists():
        files["restricted/reasons"] = reasons
    if junit_path:
        files["junit.xml"] = atomic_write_text(
            junit_path, junit_xml(result, insufficient_fails=spec.insufficient_evidence == "fail")
        )
    return files


def _load_sign_key(path: Path | None) -> Any:
    if path is None:
        return None
    from fairaudit.card.sign import load_private_key

    return load_private_key(path)


def _write_cards(
    result: Any, spec: Any, folder: Path, *, key: Any = None, pdf: bool = False
) -> dict[str, Path]:
    """card.json, card.md and card.html (signed with ``key``; card.pdf if ``pdf``) next to
    results.json (extra ``card``)."""
    from fairaudit.errors import MissingExtraError
    from fairaudit.results import atomic_write_text

    try:
        from fairaudit.audit import safe_slug
        from fairaudit.card import (
            build_card,
            render_charts,
            render_html,
            render_json,
            render_markdown,
            render_pdf,
        )

        card = build_card(result, spec)
        if key is not None:
            from fairaudit.card.sign import sign_card_model

            card = sign_card_model(card, key)
        rendered: dict[str, str | bytes] = {
            "card.json": render_json(card),
            "card.md": render_markdown(card),
            "card.html": render_html(card),
        }
        # the card's charts also as files (tracked as MLflow artifacts under charts/)
        for title, svg in render_charts(card).items():
            rendered[f"charts/{safe_slug(title)}.svg"] = svg
        if pdf:
            rendered["card.pdf"] = render_pdf(card)
    except MissingExtraError as exc:
        if key is not None or pdf:
            raise  # asked for by name: an error, not a note
        click.echo(f"(cards not written: {exc.fix})", err=True)
        return {}
    return {name: atomic_write_text(folder / name, text) for name, text in rendered.items()}


@main.command("card")
@click.argument("results", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md", "json", "pdf"]),
    default="html",
    show_default=True,
    help="pdf needs the extra pdf (weasyprint).",
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The audit spec, for model details and intended use.",
)
@click.option(
    "--min-cell",
    type=click.IntRange(min=1),
    default=None,
    help="Counts below this are suppressed (with complementary suppression). Default and "
    "lowest allowed: the min_cell recorded in RESULTS (the spec's card.min_cell; 10 if none).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Default: card.<format> next to RESULTS; '-' for standard output.",
)
@click.option(
    "--sign-key",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="KEY.pem",
    help="Sign the card with this Ed25519 private key (--format json; extra sign).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def card_cmd(
    results: Path,
    fmt: str,
    spec_path: Path | None,
    min_cell: int | None,
    out: str | None,
    sign_key: Path | None,
    debug: bool,
) -> None:
    """Render a model card from a saved results.json (HTML, Markdown, JSON or PDF).

    \b
    The card publishes no count below the min_cell the results record (the spec's
    card.min_cell); --min-cell can raise it, never lower it. --sign-key signs card.json
    (the signature covers the JSON; `fairaudit verify` checks it).
    """
    if sign_key is not None and fmt != "json":
        raise click.UsageError(
            "--sign-key signs card.json: use --format json (HTML, Markdown and PDF made "
            "from a signed card show its signature; fairaudit check --sign-key writes all)"
        )
    try:
        from pydantic import ValidationError

        from fairaudit.card import (
            build_card,
            render_html,
            render_json,
            render_markdown,
            render_pdf,
        )
        from fairaudit.card.model import resolve_min_cell
        from fairaudit.errors import InputError
        from fairaudit.results import AuditResult, atomic_write_text
        from fairaudit.spec import load_spec

        key = _load_sign_key(sign_key)
        raw = results.read_bytes()
        try:
            result = AuditResult.from_json(raw.decode("utf-8"))
        except (ValidationError, ValueError) as exc:
            raise InputError(
                f"not a fairaudit results file: {str(exc).splitlines()[0]}",
                file=results,
                fix="give a results.json written by fairaudit check",
            ) from None
        audit_spec = load_spec(spec_path) if spec_path else None
        try:
            cell = resolve_min_cell(
                result.min_cell, audit_spec.card.min_cell if audit_spec else None, min_cell
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--min-cell") from None
        card = build_card(
            result, audit_spec, min_cell=cell, results_sha256=hashlib.sha256(raw).hexdigest()
        )
        if key is not None:
            from fairaudit.card.sign import sign_card_model

            card = sign_card_model(card, key)
        renderers: dict[str, Callable[[Any], str | bytes]] = {
            "html": render_html,
            "md": render_markdown,
            "json": render_json,
            "pdf": render_pdf,
        }
        text = renderers[fmt](card)
        if out == "-":
            if isinstance(text, bytes):
                sys.stdout.buffer.write(text)
                sys.stdout.buffer.flush()
            else:
                click.echo(text, nl=False)
        else:
            target = Path(out) if out else results.with_name(f"card.{fmt}")
            atomic_write_text(target, text)
            click.echo(f"wrote {target}", err=True)
    except click.ClickException:
        raise
    except Exception as exc:
        _fail(exc, debug)


@main.command("verify")
@click.argument("card_path", metavar="CARD.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The results.json the card was made from [default: results.json beside the card].",
)
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PUB.pem",
    help="The signer's trusted public key: the card must be signed by it.",
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Re-hash the audit spec (and the data and model file it names).",
)
@click.option("--data", type=click.Path(path_type=Path), help="Re-hash the data file.")
@click.option("--model", type=click.Path(path_type=Path), help="Re-hash the model file or folder.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def verify_cmd(
    card_path: Path,
    results: Path | None,
    public_key: Path | None,
    spec_path: Path | None,
    data: Path | None,
    model: Path | None,
    debug: bool,
) -> None:
    """Check a card.json: its signature, and its hashes against the files given.

    \b
    Checks: the card's schema; the signature (if signed) and, with --public-key, that
    the trusted key made it; the results.json's sha256 and that re-rendering it gives the
    card's numbers; the sha256 of the spec, data and model when given.
    Exit codes: 0 every check passed (unsigned cards and skipped checks are reported,
    not failed); 1 a check failed (the card or a file changed); 2 bad input.
    """
    try:
        from fairaudit.card.verify import verify_card

        v = verify_card(
            card_path,
            results=results,
            public_key=public_key,
            spec=spec_path,
            data=data,
            model=model,
        )
    except Exception as exc:
        _fail(exc, debug)
    from rich.table import Table

    style = {"pass": "green", "fail": "bold red", "skipped": "dim", "not signed": "yellow"}
    t = Table(title=f"verify {card_path}", title_justify="left", header_style="bold")
    for col in ("check", "result", "detail"):
        t.add_column(col, overflow="fold")
    for c in v.checks:
        t.add_row(c.name, f"[{style[c.outcome]}]{c.outcome.upper()}[/]", c.detail)
    console = _console()
    console.print(t)
    if v.ok:
        console.print(f"{card_path}: verified")
        sys.exit(int(ExitCode.OK))
    console.print(
        f"[bold red]{card_path}: FAILED[/] ({', '.join(c.name for c in v.failed)}): the card "
        "or a file changed since the card was made"
    )
    for c in v.failed:  # in full, unwrapped: what a log or a ticket should quote
        click.echo(f"  {c.name}: {c.detail}")
    sys.exit(int(ExitCode.GATE_FAILED))


@main.command("keygen")
@click.argument("key_path", metavar="KEY.pem", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite KEY.pem and KEY.pub.pem if they exist.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def keygen_cmd(key_path: Path, force: bool, debug: bool) -> None:
    """Create an Ed25519 key pair for signing cards (extra sign).

    \b
    Writes KEY.pem (the private key, unencrypted PKCS#8, readable by you only: keep it
    secret) and KEY.pub.pem (the public key: publish it, give it to verifiers). The same as
    `openssl genpkey -algorithm ed25519 -out KEY.pem` and
    `openssl pkey -in KEY.pem -pubout -out KEY.pub.pem`.
    """
    pub_path = key_path.with_name(key_path.name.removesuffix(".pem") + ".pub.pem")
    existing = [str(p) for p in (key_path, pub_path) if p.exists()]
    if existing and not force:
        raise click.UsageError(f"{', '.join(existing)} exists; use --force to replace it")
    try:
        from fairaudit.card.sign import generate_key
        from fairaudit.results import atomic_write_text

        private, public, fp = generate_key()
        atomic_write_text(key_path, private)  # created 0600
        atomic_write_text(pub_path, public).chmod(0o644)
    except Exception as exc:
        _fail(exc, debug)
    click.echo(f"wrote {key_path} (private: keep it secret) and {pub_path} (public)")
    click.echo(f"fingerprint: {fp}")


@main.command("index")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Default: FOLDER/index.html.",
)
@click.option("--title", default="Fairness cards", show_default=True, help="The page's heading.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def index_cmd(folder: Path, out: Path | None, title: str, debug: bool) -> None:
    """Write an HTML index of every card.json under FOLDER: status, verdict counts, date,
    signer and links to each card's files (self-contained, no network)."""
    try:
        from fairaudit.card.index import collect_index, render_index
        from fairaudit.errors import InputError
        from fairaudit.results import atomic_write_text

        target = out or folder / "index.html"
        if out is not None and out.resolve().parent != folder.resolve():
            raise click.BadParameter(
                "the index links to the cards relative to FOLDER: write it inside FOLDER",
                param_hint="--out",
            )
        entries = collect_index(folder)
        if not entries:
            raise InputError(
                "no fairaudit card.json in this folder or below it",
                file=folder,
                fix="give the folder fairaudit check wrote to (--out), or its parent",
            )
        atomic_write_text(target, render_index(entries, title=title)).chmod(0o644)
    except click.ClickException:
        raise
    except Exception as exc:
        _fail(exc, debug)
    click.echo(f"wrote {target} ({len(entries)} cards)", err=True)


@main.command("diff")
@click.argument("before")
@click.argument("after")
@click.option(
    "--max-worsening",
    type=float,
    default=None,
    metavar="X",
    help="Fail (exit 1) if any group's headline harm metric rises by more than X "
    "(absolute, e.g. 0.02).",
)
@click.option("--mlflow-uri", metavar="URI", help="Tracking URI for runs:/RUN_ID arguments.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the comparison as JSON ('-' for standard output).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def diff_cmd(
    before: str,
    after: str,
    max_worsening: float | None,
    mlflow_uri: str | None,
    json_path: str | None,
    debug: bool,
) -> None:
    """Compare two audits: BEFORE and AFTER are results.json files or runs:/RUN_ID.

    \b
    Shows every gate whose verdict changed and every group's headline harm metric before
    and after. Exit 1 when --max-worsening is given and some group worsens by more.
    """
    try:
        from fairaudit.diff import diff_results, load_results

        d = diff_results(
            load_results(before, tracking_uri=mlflow_uri),
            load_results(after, tracking_uri=mlflow_uri),
            max_worsening=max_worsening,
        )
        if json_path:
            import json as _json

            from fairaudit.results import atomic_write_text

            text = _json.dumps(d.to_dict(), indent=2, ensure_ascii=False) + "\n"
            if json_path == "-":
                click.echo(text, nl=False)
            else:
                atomic_write_text(json_path, text)
    except Exception as exc:
        _fail(exc, debug)
    from rich.table import Table

    console = _console(stderr=json_path == "-")
    console.print(f"status: {d.status[0]} -> {d.status[1]}")
    changed = [c for c in d.checks if c["before"] != c["after"]]
    if changed:
        t = Table(title="gates whose verdict changed", title_justify="left", header_style="bold")
        for col in ("gate", "group", "before", "after"):
            t.add_column(col)
        for c in changed:
            group = " × ".join(f"{k}={v}" for k, v in c["attributes"].items())
            t.add_row(c["id"], group, str(c["before"]), str(c["after"]))
        console.print(t)
    else:
        console.print("no gate changed its verdict")
    t = Table(title=d.headline_metric.replace("_", " "), title_justify="left", header_style="bold")
    for col in ("group", "before", "after", "change"):
        t.add_column(col, justify="right" if col != "group" else "left")
    fmt = lambda v: "–" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    for g in d.groups:
        group = " × ".join(f"{k}={v}" for k, v in g["attributes"].items())
        change = "–" if g["change"] is None else f"{100 * g['change']:+.1f} pts"
        style = "red" if g in d.worsened else ""
        t.add_row(group, fmt(g["before"]), fmt(g["after"]), change, style=style)
    console.print(t)
    if d.gate_failed:
        console.print(
            f"[red]{len(d.worsened)} group(s) worsened by more than "
            f"{100 * (max_worsening or 0):g} points[/]"
        )
        sys.exit(int(ExitCode.GATE_FAILED))
    sys.exit(int(ExitCode.OK))


@main.command("plugins")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def plugins_cmd(debug: bool) -> None:
    """List installed plugins: model loaders and data readers, and who provides them."""
    try:
        from fairaudit.plugins import make_registry

        registry = make_registry()
    except Exception as exc:
        _fail(exc, debug)
    from rich.table import Table

    table = Table(header_style="bold")
    table.add_column("kind")
    table.add_column("name", style="cyan")
    table.add_column("provided by")
    table.add_column("description")
    for c in registry.components():
        table.add_row(c.kind.replace("_", " "), c.name, c.provider, c.description)
    _console().print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
