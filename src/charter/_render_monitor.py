"""Rendering monitoring runs and retraining for the terminal."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["render_monitor", "render_retrain", "render_rollback_check"]

_STATUS = {
    "ok": "[green]OK[/]",
    "warning": "[yellow]WARNING[/]",
    "critical": "[bold red]CRITICAL[/]",
}


def _n(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}g}"


def _share(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.1%}"


def _interval(figure: dict[str, Any] | None) -> str:
    if not figure or figure.get("value") is None:
        return "—"
    text = _n(figure["value"])
    if figure.get("low") is not None and figure.get("high") is not None:
        text += f" ({_n(figure['low'])} to {_n(figure['high'])})"
    return text


def render_monitor(console: Console, report: dict[str, Any]) -> None:
    """The run in plain words: the status, the newest window, the alerts, a table over time."""
    windows = report["windows"]
    where = (
        f"from the prediction log, windows of {escape(report['window'])} ({len(windows)} with data)"
        if report["source"] == "prediction log"
        else f"on {escape(report['source'])} (one window: the whole dataset)"
    )
    console.print(f"Monitoring [bold]{escape(report['project'])}[/] v{report['version']} {where}")
    console.print(f"Status: {_STATUS[report['status']]} ({len(report['alerts'])} alert(s))")
    if not windows:
        console.print("No predictions logged yet: serve or score some first.")
        return
    latest = windows[-1]
    quality = latest["quality"]
    console.print(
        f"\nNewest window {escape(latest['label'])}: {latest['predictions']:,} predictions, "
        f"{latest['refused']:,} refused by the contract ({_share(quality.get('refused_share'))}), "
        f"{_share(quality.get('flag_share'))} flagged, {_share(quality.get('fallback_share'))} "
        "answered by the fallback"
    )
    _drift_lines(console, latest.get("drift"))
    _value_lines(console, latest, report["promised"])
    if report["alerts"]:
        console.print("\n[bold]Alerts[/]")
        for alert in report["alerts"]:
            colour = "red" if alert["severity"] == "critical" else "yellow"
            console.print(
                f"  [{colour}]{alert['severity']}[/] {alert['kind']}: {escape(alert['message'])}"
            )
    for delivery in report.get("deliveries", []):
        state = (
            "sent"
            if delivery["delivered"]
            else f"[red]not sent[/] ({escape(str(delivery['error']))})"
        )
        console.print(
            f"  → {escape(delivery['sink'])}: {state} after {delivery['attempts']} attempt(s)"
        )
    if len(windows) > 1:
        console.print(_over_time(windows))


def _drift_lines(console: Console, found: dict[str, Any] | None) -> None:
    if found is None:
        return
    features = found.get("features", [])
    drifted = [f for f in features if f.get("drifted")]
    console.print(
        f"Drift: {len(drifted)} of {len(features)} features drifted "
        f"({_share(found.get('drifted_importance'))} of the model's importance): "
        f"{escape(found.get('reason') or '')}"
    )
    for feature in drifted[:5]:
        console.print(
            f"  • {escape(feature['name'])}: {escape(feature.get('change') or '')} "
            f"(PSI {_n(feature.get('psi'), 3)}, q {_n(feature.get('q_value'), 2)})"
        )
    score = found.get("score")
    if score is not None and score.get("drifted"):
        console.print(f"  • the model's scores: {escape(score.get('change') or '')}")


def _value_lines(console: Console, window: dict[str, Any], promised: dict[str, Any]) -> None:
    performance = window.get("performance")
    if performance is not None:
        verdict = {True: "[red]decayed[/]", False: "[green]as promised[/]", None: "not judged yet"}[
            performance["decayed"]
        ]
        console.print(
            f"Live {escape(performance['metric'])}: {_interval(performance['value'])} per row on "
            f"{performance['labelled']:,} outcomes; promised {_n(promised.get('value'))} — {verdict}"
        )
    estimate = window.get("estimate")
    if estimate is not None and estimate.get("value") is not None:
        console.print(
            f"Estimated from the scores (no outcomes needed): {_interval(estimate['value'])} per row, "
            f"precision {_share(estimate.get('precision'))}, recall {_share(estimate.get('recall'))}"
        )
    adoption = window.get("adoption")
    if adoption is not None:
        followed = adoption["followed"]
        text = f"Adoption: {_share(followed.get('value'))} of {adoption['answered']:,} decisions followed"
        if adoption.get("realised") is not None:
            text += (
                f"; realised {_interval(adoption['realised'])} per row, {_n(adoption.get('total'), 6)} "
                "in total"
            )
        if adoption.get("baseline") is not None:
            text += f"; today's rule {_n(adoption['baseline'].get('value'))} per row"
        if adoption.get("gain_share") is not None:
            target = adoption.get("target")
            met = {True: "[green]target met[/]", False: "[red]target missed[/]", None: ""}[
                adoption["met"]
            ]
            text += f" → {adoption['gain_share']:+.0%}" + (
                f" (target {target:+.0%}, {met})" if target is not None else ""
            )
        console.print(text)


def _over_time(windows: list[dict[str, Any]]) -> Table:
    table = Table(title="Over time", title_justify="left")
    for name in (
        "window",
        "predictions",
        "refused",
        "flagged",
        "drifted",
        "live value",
        "estimate",
        "followed",
    ):
        table.add_column(name, justify="left" if name == "window" else "right")
    for window in windows:
        drift = window.get("drift") or {}
        performance = window.get("performance") or {}
        estimate = window.get("estimate") or {}
        adoption = window.get("adoption") or {}
        table.add_row(
            escape(window["label"]),
            f"{window['predictions']:,}",
            _share(window["quality"].get("refused_share")),
            _share(window["quality"].get("flag_share")),
            ("yes " if drift.get("drifted") else "no ") + _share(drift.get("drifted_importance"))
            if drift
            else "—",
            _n((performance.get("value") or {}).get("value")),
            _n((estimate.get("value") or {}).get("value")),
            _share((adoption.get("followed") or {}).get("value")),
        )
    return table


def render_retrain(console: Console, outcome: dict[str, Any]) -> None:
    """What retraining did, or why it did nothing."""
    if outcome.get("skipped"):
        console.print(f"Retraining: nothing to do — {escape(outcome['skipped'])}.")
        return
    console.print(
        f"Retrained (triggered by {escape(', '.join(outcome['triggers']))}): challenger "
        f"v{outcome['challenger']} learnt from {outcome['rows']:,} rows, {outcome['labelled']:,} of "
        "them predictions with their real outcome."
    )
    comparison = outcome.get("comparison") or {}
    if comparison:
        low, high = comparison.get("gain_ci") or [None, None]
        console.print(
            f"On the same {comparison['rows']:,} recent labelled rows: champion v{outcome['champion']} "
            f"{_n(comparison['champion'])}, challenger {_n(comparison['challenger'])} "
            f"{escape(comparison['metric'])} (gain {_n(comparison['gain'])}, 95% interval "
            f"{_n(low)} to {_n(high)})."
        )
    for gate in outcome.get("gates", []):
        mark = {"pass": "[green]pass[/]", "fail": "[red]fail[/]"}.get(
            gate["status"], gate["status"]
        )
        console.print(f"  {mark} {escape(gate['name'])}: {escape(gate['evidence'])}")
    others = [t for t in outcome.get("tried", []) if t["version"] != outcome["challenger"]]
    for other in others:
        console.print(
            f"  v{other['version']} ({escape(other['candidate'])}): {escape(other['promotion'])}"
        )
    console.print(f"Challenger v{outcome['challenger']}: {escape(outcome['promotion'] or '')}.")


def render_rollback_check(console: Console, check: dict[str, Any]) -> None:
    if check.get("rolled_back"):
        console.print(
            f"[bold red]Rolled back[/] v{check['version']} → v{check['predecessor']}: "
            f"{escape(check['reason'])}."
        )
    elif check.get("predecessor") is not None:
        console.print(f"Rollback check: {escape(check['reason'])}.")
