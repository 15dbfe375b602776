"""Terminal rendering of results with rich: tables a person reads, no logic."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter.audit import AuditResult, Severity, Verdict
from charter.spec import Question

__all__ = ["render_audit", "render_questions"]

_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
_VERDICT_STYLE = {
    Verdict.READY: "bold green",
    Verdict.READY_WITH_WARNINGS: "bold yellow",
    Verdict.NOT_READY: "bold red",
}


def render_questions(console: Console, questions: Sequence[Question], data_problem: str | None) -> None:
    if data_problem:
        console.print(f"[yellow]The data could not be opened, so the target column was not checked:[/]\n  {escape(data_problem)}")
    if not questions:
        console.print("[bold green]Phase 1 complete:[/] every question the charter must answer is answered.")
        return
    console.print(f"[bold]{len(questions)} question{'s' if len(questions) != 1 else ''} still open[/] before any model is built:\n")
    for question in questions:
        console.print(f"[bold red]✗[/] [bold]{escape(question.key)}[/]: {escape(question.ask)}")
        console.print(f"    why: {escape(question.why)}")
        console.print(f"    e.g. [cyan]{escape(question.example)}[/]\n")


def render_audit(console: Console, result: AuditResult, *, show_info: bool = False) -> None:
    profile = result.profile
    console.print(
        f"[bold]Readiness audit[/] of [bold]{escape(result.project)}[/]: {profile.rows:,} rows × "
        f"{len(profile.columns)} columns, target [bold]{escape(result.target)}[/] ({result.task}), {result.seconds:.1f} s"
    )
    counts = {s: sum(1 for f in result.findings if f.severity == s) for s in Severity}
    table = Table(show_lines=False, expand=True, pad_edge=False)
    table.add_column("", width=7, no_wrap=True)
    table.add_column("check", style="cyan", no_wrap=True)
    table.add_column("columns", max_width=24)
    table.add_column("finding", ratio=3)
    table.add_column("what to do", ratio=2)
    for finding in result.findings:
        if finding.severity == Severity.INFO and not show_info:
            continue
        table.add_row(
            f"[{_SEVERITY_STYLE[finding.severity]}]{finding.severity.value}[/]",
            finding.check,
            escape(", ".join(finding.columns)),
            escape(finding.message),
            escape(finding.recommendation),
        )
    if table.row_count:
        console.print(table)
    hidden = "" if show_info else " (shown with --verbose)"
    console.print(
        f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), {counts[Severity.INFO]} note(s){hidden if counts[Severity.INFO] else ''}"
    )
    advice = {
        Verdict.READY: "the data is ready for modelling.",
        Verdict.READY_WITH_WARNINGS: "modelling can start; review the warnings above.",
        Verdict.NOT_READY: f"fix the data before modelling ({counts[Severity.ERROR]} blocking finding(s) listed first).",
    }[result.verdict]
    console.print(f"Verdict: [{_VERDICT_STYLE[result.verdict]}]{result.verdict.value}[/]: {advice}")
