"""Rich renderings of the registry: versions, one version's lineage, gates, history, the trail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter.registry import Entry, ModelVersion, Promotion, Stint, TrailCheck
from charter.registry._retest import Reproduction

__all__ = [
    "render_history",
    "render_models",
    "render_promotion",
    "render_reproduction",
    "render_trail",
    "render_version",
]

_MARK = {"pass": "[green]✓ pass[/]", "fail": "[red]✗ fail[/]", "skip": "[dim]– skip[/]"}


def render_models(console: Console, versions: Sequence[ModelVersion]) -> None:
    if not versions:
        console.print("No version is registered yet: `charter train` registers each candidate.")
        return
    metric = versions[-1].record.get("metric", "value")
    table = Table(expand=False, pad_edge=False)
    table.add_column("version", style="cyan", no_wrap=True)
    table.add_column("candidate")
    table.add_column(f"test {metric} [95%]", justify="right")
    table.add_column("gain over baseline [95%]", justify="right")
    table.add_column("aliases", style="bold")
    table.add_column("registered")
    for v in versions:
        test = v.record.get("test", {})
        ci = test.get("value_ci", [float("nan")] * 2)
        table.add_row(
            v.label,
            f"{escape(v.candidate)}{' [green]✓[/]' if v.selected else ''}",
            f"{test.get('value', float('nan')):.3g} [{ci[0]:.3g}, {ci[1]:.3g}]",
            _gain(v.record.get("gain")),
            escape(", ".join(v.aliases)),
            v.created[:16].replace("T", " "),
        )
    console.print(table)
    console.print("[dim]✓ = chosen by its training run. `charter show VERSION` for lineage.[/]")


def render_version(
    console: Console, version: ModelVersion, card: str | None, *, threshold: float | None = None
) -> None:
    record, lineage = version.record, version.lineage
    aliases = f" ({', '.join(version.aliases)})" if version.aliases else ""
    console.print(
        f"[bold]{escape(version.project)} {version.label}[/]{escape(aliases)}: {escape(version.candidate)} "
        f"({version.kind}), run {version.run}, registered {version.created} by {escape(version.created_by)}"
    )
    test = record.get("test", {})
    console.print(
        f"Test {record.get('metric')}: {test.get('value', float('nan')):.4g} "
        f"[{test.get('value_ci', [0, 0])[0]:.4g}, {test.get('value_ci', [0, 0])[1]:.4g}]; "
        f"gain over the baseline: {_gain(record.get('gain'))}"
    )
    if record.get("threshold") is not None:
        changed = (
            f" (set on the trail; trained at {record['threshold']:.3f})"
            if threshold is not None and threshold != record["threshold"]
            else ""
        )
        console.print(f"Decision threshold: {threshold or record['threshold']:.3f}{changed}")
    if record.get("fairness"):
        f = record["fairness"]
        console.print(
            f"Fairness: largest gap {f['gap']:.3f} in {f['metric']} across {escape(f['column'])}"
        )
    table = Table("lineage", "", show_header=False, expand=False, pad_edge=False)
    data, holdout, git = lineage.get("data", {}), lineage.get("holdout", {}), lineage.get("git")
    rows = [
        ("charter", _short(lineage.get("charter_sha256"))),
        ("contract", _short(lineage.get("contract_sha256")) or "none"),
        (
            "data",
            f"{_short(data.get('sha256'))} ({data.get('rows', 0):,} rows, {data.get('features', 0)} features)",
        ),
        (
            "holdout",
            f"{_short(holdout.get('sha256'))} ({holdout.get('scheme')}, {holdout.get('test_rows', 0):,} test rows)",
        ),
        (
            "code",
            "not a git repository"
            if not git
            else f"{git['commit'][:12]}{' (uncommitted changes)' if git['dirty'] else ''}",
        ),
        ("python", str(lineage.get("python"))),
        ("packages", ", ".join(f"{k} {v}" for k, v in lineage.get("packages", {}).items() if v)),
        (
            "settings",
            f"seed {lineage.get('seed')}, {lineage.get('folds')} folds, budget {lineage.get('budget_seconds')} s",
        ),
    ]
    for key, value in rows:
        table.add_row(key, escape(str(value)))
    console.print(table)
    console.print(f"Files: {escape(', '.join(sorted(version.artifacts)))}")
    if card:
        console.print(f"[bold]Model card:[/] {escape(card)}")


def render_promotion(console: Console, promotion: Promotion) -> None:
    version = promotion.version
    if promotion.gates:
        table = Table(expand=False, pad_edge=False)
        table.add_column("gate", no_wrap=True)
        table.add_column("", no_wrap=True)
        table.add_column("evidence")
        for gate in promotion.gates:
            table.add_row(gate.name, _MARK[gate.status], escape(gate.evidence))
        console.print(table)
    previous = f" (was v{promotion.previous})" if promotion.previous is not None else ""
    if not promotion.moved:
        failed = ", ".join(g.name for g in promotion.failed)
        console.print(
            f"[bold red]Refused:[/] {version.label} does not pass: {escape(failed)}. Recorded on the audit trail; "
            'fix the cause, or override with --force --reason "...".'
        )
    elif promotion.forced:
        console.print(
            f"[bold yellow]{version.label} is {promotion.alias}{previous}, overriding: "
            f"{escape(', '.join(g.name for g in promotion.failed))}.[/] The override is on the audit trail."
        )
    else:
        console.print(f"[bold green]{version.label} is {promotion.alias}{previous}.[/]")


def render_reproduction(console: Console, reproduction: Reproduction) -> None:
    version = reproduction.version
    table = Table(expand=False, pad_edge=False)
    table.add_column("figure")
    table.add_column("recorded", justify="right")
    table.add_column("now", justify="right")
    table.add_column("")
    for name, then, now in reproduction.metrics:
        same = name not in reproduction.mismatched
        table.add_row(
            name, f"{then:.6g}", f"{now:.6g}", "[green]same[/]" if same else "[red]differs[/]"
        )
    console.print(table)
    for difference in reproduction.differences:
        console.print(f"[yellow]changed since:[/] {escape(difference)}")
    if reproduction.matches:
        console.print(
            f"[bold green]{version.label} reproduced: every figure matches the record.[/]"
        )
    else:
        why = (
            ""
            if reproduction.differences
            else " No recorded input changed: the training itself varies."
        )
        console.print(f"[bold red]{version.label} did not reproduce.[/]{why}")


def render_history(console: Console, stints: Sequence[Stint], alias: str) -> None:
    if not stints:
        console.print(f"No version has been {alias} yet.")
        return
    table = Table(expand=False, pad_edge=False)
    for column in ("version", "from", "until", "how", "by", "reason"):
        table.add_column(column)
    for stint in reversed(stints):
        table.add_row(
            f"v{stint.version}",
            stint.since[:19].replace("T", " "),
            "now" if stint.until is None else stint.until[:19].replace("T", " "),
            stint.action.replace("_", " "),
            escape(stint.actor),
            escape(stint.reason or ""),
        )
    console.print(table)


def render_trail(console: Console, entries: Sequence[Entry], check: TrailCheck | None) -> None:
    table = Table(expand=False, pad_edge=False)
    for column in ("#", "when (UTC)", "who", "what", "version", "details; reason"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            str(entry.seq),
            entry.at[:19].replace("T", " "),
            escape(entry.actor),
            entry.action.replace("_", " ") + (f" → {entry.alias}" if entry.alias else ""),
            "" if entry.version is None else f"v{entry.version}",
            escape("; ".join(t for t in (_summary(entry), entry.reason or "") if t)),
        )
    console.print(table)
    if check is None:
        return
    if check.ok:
        console.print(
            f"[bold green]Trail intact:[/] {check.entries} entries, every hash and link checked. "
            f"Head: {check.head} (keep a copy elsewhere to detect a rewrite of the whole trail)."
        )
        return
    console.print(f"[bold red]Trail tampered with:[/] {len(check.problems)} problem(s).")
    for problem in check.problems:
        console.print(f"  [red]•[/] {escape(problem)}")


def _summary(entry: Entry) -> str:
    """One short line on what an entry did."""
    d = entry.details
    if entry.action == "registered":
        chosen = ", chosen" if d.get("selected") else ""
        value = d.get("test_value")
        shown = "" if value is None else f"; test value {value:.4g}"
        return f"{d.get('candidate')} ({d.get('kind')}{chosen}){shown}"
    if entry.action in ("rejected", "overridden"):
        failed = [n for n, g in d.get("gates", {}).items() if g.get("status") == "fail"]
        return f"failed: {', '.join(failed) or 'none'}"
    if entry.action in ("charter_changed", "contract_changed"):
        key = "charter_sha256" if entry.action == "charter_changed" else "contract_sha256"
        return f"{_short(d.get('previous')) or 'none'} → {_short(d.get(key)) or 'none'}"
    if entry.action == "approved":
        return f"by {d.get('approved_by', entry.actor)}"
    if entry.action == "threshold_changed":
        return f"{d.get('previous')} → {d.get('threshold')}"
    previous = d.get("previous", d.get("from"))
    return "" if previous is None else f"was v{previous}"


def _gain(gain: dict[str, Any] | None) -> str:
    if not gain:
        return "—"
    low, high = gain["ci"]
    return f"{gain['value']:+.3g} [{low:+.3g}, {high:+.3g}]"


def _short(digest: str | None) -> str:
    return digest[:12] if digest else ""
