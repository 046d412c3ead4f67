"""Human and machine summaries of a result: the terminal view and JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from fairaudit.results import AuditResult, Check, GroupResult

__all__ = ["junit_xml", "render_summary", "summary_markdown"]

_STYLE = {"pass": "bold green", "fail": "bold red", "insufficient_evidence": "bold yellow"}
_MARK = {"pass": "✓", "fail": "✗", "insufficient_evidence": "?"}
_WORD = {"pass": "PASS", "fail": "FAIL", "insufficient_evidence": "INSUFFICIENT EVIDENCE"}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _group_label(g: GroupResult) -> str:
    return " × ".join(g.attributes.values())


def _verdicts_by_group(checks: Sequence[Check]) -> dict[tuple[tuple[str, str], ...], list[str]]:
    out: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for c in checks:
        out.setdefault(tuple(c.attributes.items()), []).append(c.verdict)
    return out


def render_summary(result: AuditResult, console: Console, *, max_groups: int = 60) -> None:
    """Print the audit's findings: status, a table of groups, failed checks, summary."""
    head = result.headline_metric
    head_name = {"false_negative_rate": "exclusion error", "false_positive_rate": "FPR"}.get(
        head, head
    )
    status = Text(_WORD[result.status], style=_STYLE[result.status])
    title = Text.assemble(("fairaudit ", "bold"), (result.name, "bold cyan"), " — ", status)
    console.print(
        Panel(Group(*[Text(line) for line in result.summary[:2]]), title=title, expand=True)
    )
    verdicts = _verdicts_by_group(result.checks)
    by_attrs: dict[tuple[str, ...], list[GroupResult]] = {}
    for g in result.groups:
        by_attrs.setdefault(tuple(g.attributes), []).append(g)
    shown = 0
    for attrs, members in by_attrs.items():
        if shown >= max_groups:
            console.print(f"[dim]… {len(result.groups) - shown} more groups in results.json[/]")
            break
        table = Table(
            title=" × ".join(attrs), title_justify="left", expand=False, header_style="bold"
        )
        table.add_column("group", overflow="fold", max_width=34)
        table.add_column("n", justify="right")
        table.add_column("selected", justify="right")
        table.add_column(head_name, justify="right")
        table.add_column("95% CI", justify="right")
        table.add_column("ratio", justify="right")
        table.add_column("gates", justify="center")
        for g in members:
            if shown >= max_groups:
                break
            shown += 1
            m = g.metrics[head]
            ci = f"{_pct(m.ci[0])}–{_pct(m.ci[1])}" if m.ci else "–"
            vs = verdicts.get(tuple(g.attributes.items()), [])
            marks = Text()
            for v in ("fail", "insufficient_evidence", "pass"):
                k = vs.count(v)
                if k:
                    marks.append(f"{_MARK[v]}{k if k > 1 else ''} ", style=_STYLE[v])
            label = _group_label(g) + (" (ref)" if g.is_reference else "")
            table.add_row(
                label,
                f"{g.n:,}",
                _pct(g.metrics["selection_rate"].value),
                _pct(m.value),
                ci,
                _ratio(g.disparities[head].ratio),
                marks,
            )
        console.print(table)
    failed = [c for c in result.checks if c.verdict == "fail"]
    if failed:
        console.print(Text(f"Failed checks ({len(failed)}):", style="bold red"))
        for c in failed[:15]:
            console.print(Text.assemble(("  ✗ ", "red"), (c.id, "bold"), f": {c.reason}"))
        if len(failed) > 15:
            console.print(f"  … and {len(failed) - 15} more (see results.json)")
    unsure = [c for c in result.checks if c.verdict == "insufficient_evidence"]
    if unsure:
        console.print(Text(f"Insufficient evidence ({len(unsure)}):", style="bold yellow"))
        for c in unsure[:10]:
            console.print(Text.assemble(("  ? ", "yellow"), (c.id, "bold"), f": {c.reason}"))
        if len(unsure) > 10:
            console.print(f"  … and {len(unsure) - 10} more (see results.json)")
    for line in result.summary[2:]:
        console.print(Text(line))


def junit_xml(result: AuditResult, *, insufficient_fails: bool = False) -> str:
    """JUnit XML: one testcase per check; insufficient evidence is a skip (or a failure)."""
    n_fail = sum(c.verdict == "fail" for c in result.checks)
    n_ins = sum(c.verdict == "insufficient_evidence" for c in result.checks)
    suite = ET.Element(
        "testsuite",
        name=f"fairaudit.{result.name}",
        tests=str(len(result.checks)),
        failures=str(n_fail + (n_ins if insufficient_fails else 0)),
        errors="0",
        skipped=str(0 if insufficient_fails else n_ins),
    )
    for c in result.checks:
        group = " × ".join(f"{k}={v}" for k, v in c.attributes.items())
        case = ET.SubElement(
            suite, "testcase", classname=f"fairaudit.{result.name}.{c.id}", name=group or c.id
        )
        if c.verdict == "fail" or (c.verdict == "insufficient_evidence" and insufficient_fails):
            el = ET.SubElement(case, "failure", type=c.verdict, message=c.reason)
            el.text = c.reason
        elif c.verdict == "insufficient_evidence":
            ET.SubElement(case, "skipped", message=c.reason)
    suites = ET.Element("testsuites", name="fairaudit")
    suites.append(suite)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def summary_markdown(result: AuditResult) -> str:
    """The plain-language findings and every failed check, as Markdown (no row data)."""
    lines = [f"# {result.name}: {result.status}", ""]
    lines += [f"- {line}" for line in result.summary]
    failed = [c for c in result.checks if c.verdict == "fail"]
    if failed:
        lines += ["", "## Failed checks", ""] + [f"- {c.id}: {c.reason}" for c in failed]
    return "\n".join(lines) + "\n"
