"""The operate commands: monitor and retrain."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from charter._cli_common import CharterOption, ClusterOption, JsonOption, _console, _friendly
from charter.errors import UsageError

__all__ = ["COMMANDS"]


@_friendly
def monitor(
    window: Annotated[
        str | None,
        typer.Option(help="A window: a duration (1d, 12h, 30m) or a number of predictions (5000)."),
    ] = None,
    windows: Annotated[
        int, typer.Option(help="How many recent windows to show.", min=1, max=365)
    ] = 14,
    current: Annotated[
        str | None,
        typer.Option(
            help="Monitor this dataset (a CSV or Parquet file or folder; with --cluster also a "
            "glob or an fsspec URL) instead of the prediction log.",
        ),
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write an offline HTML report here.")
    ] = None,
    act: Annotated[
        bool,
        typer.Option(
            "--act",
            help="Act on what is found: roll back a worse new version, retrain when the charter says.",
        ),
    ] = False,
    budget_seconds: Annotated[
        float, typer.Option(help="With --act: the time budget of a retraining's search.", min=1)
    ] = 60.0,
    as_json: JsonOption = False,
    charter: CharterOption = Path("charter.yaml"),
    cluster: ClusterOption = None,
) -> None:
    """Watch production: data quality, drift, live and estimated performance, adoption and value."""
    from charter._render_monitor import render_monitor, render_retrain, render_rollback_check
    from charter.api import Project
    from charter.monitoring._monitor import monitor as run_monitor
    from charter.monitoring._windows import parse_window
    from charter.scale import cluster_option

    project = Project(charter)
    console = _console()
    size = parse_window(window) if window is not None else None
    spec = cluster_option(cluster)
    if spec is not None and current is None:
        raise UsageError(
            "--cluster measures a dataset named with --current; the prediction log is read on "
            "this machine (drop --cluster, or name the dataset)"
        )
    doing = f"measuring {current} on {spec.describe()}" if spec else "reading the prediction log"
    with console.status(doing, spinner="dots") if not as_json else nullcontext():
        if spec is not None:
            report = project.monitor(current=current, cluster=spec)
        else:
            report = run_monitor(
                project, size=size, count=windows, current=Path(current) if current else None
            )
    document: dict[str, Any] = report.to_dict()
    if html is not None:
        from charter._atomic import write_text_atomic
        from charter.reports import render_monitor_report

        write_text_atomic(html, render_monitor_report(document))
    actions: dict[str, Any] = {}
    if act and current is None:
        from charter.monitoring._retrain import check_rollback, retrain, triggers

        check = check_rollback(project, act=True)
        actions["rollback"] = check.to_dict()
        if not check.rolled_back:
            fired = triggers(project, report, now=datetime.now(UTC))
            with console.status("retraining", spinner="dots") if not as_json else nullcontext():
                actions["retrain"] = retrain(
                    project, fired=fired, budget_seconds=budget_seconds
                ).to_dict()
        document["actions"] = actions
    if as_json:
        print(json.dumps(document, indent=2, default=str))
        return
    render_monitor(console, document)
    if "rollback" in actions:
        render_rollback_check(console, actions["rollback"])
    if "retrain" in actions:
        render_retrain(console, actions["retrain"])
    if html is not None:
        console.print(f"HTML report: {html}")


@_friendly
def retrain(
    reason: Annotated[
        str, typer.Option(help="Why you retrain by hand; it goes on the audit trail.")
    ] = "by hand",
    budget_seconds: Annotated[
        float, typer.Option(help="The time budget of the boosted search.", min=1)
    ] = 60.0,
    as_json: JsonOption = False,
    charter: CharterOption = Path("charter.yaml"),
) -> None:
    """Train a challenger on the labelled predictions and compare it with production (by hand)."""
    from charter._render_monitor import render_retrain
    from charter.api import Project
    from charter.monitoring._retrain import retrain as run_retrain

    project = Project(charter)
    console = _console()
    with console.status("retraining", spinner="dots") if not as_json else nullcontext():
        outcome = run_retrain(project, fired=[reason], budget_seconds=budget_seconds).to_dict()
    if as_json:
        print(json.dumps(outcome, indent=2, default=str))
        return
    render_retrain(console, outcome)


COMMANDS = (monitor, retrain)
