"""Terminal rendering of results with rich: tables a person reads, no logic."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter.audit import AuditResult, Severity, Verdict
from charter.modeling._result import TrainResult
from charter.spec import Question
from charter.spec._validate import ValidationReport

__all__ = ["render_audit", "render_questions", "render_training", "render_validation"]

_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
_VERDICT_STYLE = {
    Verdict.READY: "bold green",
    Verdict.READY_WITH_WARNINGS: "bold yellow",
    Verdict.NOT_READY: "bold red",
}


def render_questions(
    console: Console, questions: Sequence[Question], data_problem: str | None
) -> None:
    if data_problem:
        console.print(
            f"[yellow]The data could not be opened, so the target column was not checked:[/]\n  {escape(data_problem)}"
        )
    if not questions:
        console.print(
            "[bold green]Phase 1 complete:[/] every question the charter must answer is answered."
        )
        return
    console.print(
        f"[bold]{len(questions)} question{'s' if len(questions) != 1 else ''} still open[/] before any model is built:\n"
    )
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
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=7, no_wrap=True)
    grid.add_column(ratio=1)
    for finding in result.findings:
        if finding.severity == Severity.INFO and not show_info:
            continue
        columns = f" [dim]({escape(', '.join(finding.columns))})[/]" if finding.columns else ""
        text = f"[cyan]{finding.check}[/]{columns}\n{escape(finding.message)}"
        if finding.recommendation:
            text += f"\n[dim]→ {escape(finding.recommendation)}[/]"
        grid.add_row(f"[{_SEVERITY_STYLE[finding.severity]}]{finding.severity.value}[/]", text)
        grid.add_row("", "")
    if grid.row_count:
        console.print(grid)
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


def render_validation(console: Console, report: ValidationReport, source: object) -> None:
    console.print(
        f"Checked [bold]{escape(str(source))}[/] against the data contract: {report.total_rows:,} rows, "
        f"{report.good_rows:,} good, {report.bad_rows:,} breaking it."
    )
    if report.violations:
        # Blocks rather than a wide table: messages and examples stay readable at 80 columns.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=7, no_wrap=True)
        grid.add_column(ratio=1)
        for violation in report.violations:
            style = "bold red" if violation.level == "error" else "yellow"
            examples = ", ".join(
                f"row {e.row}: {e.value!r}" if e.value is not None else f"row {e.row}: empty"
                for e in violation.examples
            )
            text = (
                f"[cyan]{escape(violation.column)}[/] · {violation.rule} · {violation.rows:,} row(s)\n"
                f"{escape(violation.message)}"
            )
            if examples:
                text += f"\n[dim]e.g. {escape(examples)}[/]"
            grid.add_row(f"[{style}]{violation.level}[/]", text)
            grid.add_row("", "")
        console.print(grid)
    if report.ok:
        console.print(
            "[bold green]The batch keeps the contract.[/]"
            + (" (see the warnings above)" if report.violations else "")
        )
    else:
        console.print(f"[bold red]The batch breaks the contract[/] in {report.bad_rows:,} row(s).")


def render_training(console: Console, result: TrainResult) -> None:
    console.print(
        f"[bold]Training[/] {escape(result.project)}: {result.task}, {result.rows_train:,} training rows, "
        f"{result.rows_test:,} test rows held out ({escape(result.holdout['reason'])})"
    )
    console.print(
        f"Validation: {result.validation['folds']} folds, {escape(result.validation['reason'])}"
    )
    table = Table(expand=False, pad_edge=False)
    table.add_column("candidate", style="cyan", no_wrap=True)
    table.add_column(f"CV {result.metric}", justify="right")
    table.add_column(f"test {result.metric} [95%]", justify="right")
    key = "roc_auc" if result.task == "classification" else "rmse"
    table.add_column(f"test {key}", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("seconds", justify="right")
    for c in result.candidates:
        mark = " [bold green]✓[/]" if c.selected else ""
        table.add_row(
            f"{escape(c.name)}{mark}",
            f"{c.cv_mean:.3g} ± {c.cv_se:.2g}",
            f"{c.test_value:.3g} [{c.test_value_ci[0]:.3g}, {c.test_value_ci[1]:.3g}]",
            f"{c.test_metrics.get(key, float('nan')):.3f}",
            "" if c.threshold is None else f"{c.threshold:.3f}",
            f"{c.seconds:.1f}",
        )
    console.print(table)
    console.print(f"Chosen: {escape(result.selection_rule)}.")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    style = "bold green" if result.beats_baseline else "bold red"
    console.print(f"[{style}]{escape(result.headline)}[/]")


def render_registered(console: Console, result: TrainResult) -> None:
    """The versions a training run registered, and what to do next."""
    if not result.versions:
        return
    named = ", ".join(
        f"v{number} {escape(name)}{' (chosen)' if name == result.selected else ''}"
        for name, number in result.versions.items()
    )
    console.print(f"Registered: {named}.")
    if result.beats_baseline:
        chosen = result.versions.get(result.selected)
        console.print(f"Next: `charter promote` puts v{chosen} through the gates into production.")
