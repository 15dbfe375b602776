"""The serving commands: serve, score, feedback, shadow, keys."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from charter._cli_common import CharterOption, ClusterOption, JsonOption, _console, _friendly

__all__ = ["COMMANDS", "keys_app"]

keys_app = typer.Typer(
    name="keys", help="API keys for the prediction service.", no_args_is_help=True
)


@_friendly
def serve(
    host: Annotated[
        str, typer.Option(help="The address to listen on.", envvar="CHARTER_SERVE_HOST")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="The port.", min=1, max=65535, envvar="CHARTER_SERVE_PORT")
    ] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes.", min=1, max=64, envvar="CHARTER_SERVE_WORKERS")
    ] = 1,
    reload_seconds: Annotated[
        float,
        typer.Option(
            help="How often to look for a promotion or rollback.",
            min=0.2,
            envvar="CHARTER_SERVE_RELOAD_SECONDS",
        ),
    ] = 2.0,
    ui: Annotated[bool, typer.Option("--ui", help="Also serve the dashboard under /ui.")] = False,
    charter: CharterOption = Path("charter.yaml"),
) -> None:
    """Serve the production version over HTTP: /v1/predict, /v1/feedback, /v1/model, /metrics.

    Each option may come from the environment instead (CHARTER_SERVE_HOST, _PORT, _WORKERS,
    _RELOAD_SECONDS), as may the prediction log's folder (CHARTER_SERVE_LOG) and a file of API
    keys (CHARTER_SERVE_KEYS_FILE): a container is configured by environment alone."""
    import uvicorn

    from charter.api import Project
    from charter.serving._asgi import CHARTER_VARIABLE, RELOAD_VARIABLE, UI_VARIABLE
    from charter.serving._key_file import KEYS_FILE_VARIABLE, read_key_file

    project = Project(charter)  # fails here, with a message, on a bad charter or store
    key_file = os.environ.get(KEYS_FILE_VARIABLE, "").strip()
    if key_file:  # a bad key file fails here, with a message, not in every worker
        read_key_file(Path(key_file), project.charter.project)
    production = project.registry().aliases(project.charter.project).get("production")
    os.environ[CHARTER_VARIABLE] = str(project.path.resolve())
    os.environ[RELOAD_VARIABLE] = str(reload_seconds)
    os.environ[UI_VARIABLE] = "1" if ui else "0"
    state = (
        f"v{production}" if production is not None else "no version yet (503 until one is promoted)"
    )
    _console(stderr=True).print(
        f"Serving {escape(project.charter.project)} {state} on http://{host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}); OpenAPI at /openapi.json"
        f"{'; the dashboard at /ui/' if ui else ''}. Ctrl+C stops."
    )
    uvicorn.run(
        "charter.serving._asgi:build",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@_friendly
def score(
    source: Annotated[
        str,
        typer.Argument(help="A CSV, Parquet or JSON-lines file, or a database URL with --query."),
    ],
    output: Annotated[Path, typer.Argument(help="Where the scores go: a .parquet or .csv file.")],
    query: Annotated[
        str | None, typer.Option(help="With a database URL as SOURCE: the query to score.")
    ] = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(help="Where rows breaking the contract go (default: OUTPUT.quarantine.EXT)."),
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Score with this version instead of production.")
    ] = None,
    explain: Annotated[bool, typer.Option(help="Add the top reasons of each prediction.")] = False,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not add the predictions to the prediction log.")
    ] = False,
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
    cluster: ClusterOption = None,
) -> None:
    """Score a file or a query in chunks; bad rows go to a quarantine file with the reason.

    With --cluster, SOURCE may be a folder, a glob or an fsspec URL and OUTPUT becomes a folder
    of Parquet parts, one per partition."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from charter.api import Project
    from charter.scale import cluster_option

    project = Project(charter)
    spec = cluster_option(cluster)
    with Progress(
        TextColumn(f"Scoring partitions on {spec.describe()}" if spec else "Scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("score", total=None)
        result = project.score(
            source,
            output,
            query=query,
            quarantine=quarantine,
            version=version,
            explain=explain,
            log=not no_log,
            on_start=lambda total: progress.update(task, total=total),
            on_rows=lambda rows: progress.advance(task, rows),
            cluster=spec,
            on_partition=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console = _console()
    console.print(
        f"Scored {result.scored:,} of {result.rows:,} rows with v{result.version} in {result.seconds:.1f} s → {escape(str(result.output))}"
    )
    if result.quarantine is not None:
        console.print(
            f"[yellow]{result.quarantined:,} row(s) break the contract[/] → {escape(str(result.quarantine))} (column _violations says why):"
        )
        for problem, count in sorted(result.problems.items(), key=lambda item: -item[1])[:10]:
            console.print(f"  {count:,} × {escape(problem)}")


@_friendly
def shadow(
    version: Annotated[
        str | None, typer.Argument(help="The version to run in the shadow of production.")
    ] = None,
    detach: Annotated[bool, typer.Option(help="Stop shadowing.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why; kept on the audit trail.")] = None,
    charter: CharterOption = Path("charter.yaml"),
) -> None:
    """Attach a version that scores the same traffic as production; its answers are logged, never returned."""
    from charter.api import Project
    from charter.errors import UsageError

    project = Project(charter)
    if detach:
        project.detach_shadow(reason=reason)
        _console().print("Shadow detached; recorded on the audit trail.")
        return
    if version is None:
        raise UsageError("name the version to shadow (e.g. charter shadow v4), or pass --detach.")
    promotion = project.promote(version, alias="shadow", reason=reason)
    _console().print(
        f"{promotion.version.label} now scores production's traffic in the shadow; a running service picks it up within seconds."
    )


@_friendly
def feedback(
    file: Annotated[Path, typer.Argument(help="Outcomes: CSV, Parquet or JSON lines.")],
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Record real outcomes (prediction_id or entity+time, outcome, action_taken) from a file."""
    from charter.api import Project

    project = Project(charter)
    result = project.record_feedback_file(file)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    _console().print(
        f"{result.accepted:,} outcome(s) recorded, {result.repeated:,} already known, {result.updated:,} corrected."
    )


@keys_app.command("create")
@_friendly
def keys_create(
    scope: Annotated[str, typer.Option(help="predict, feedback or admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    charter: CharterOption = Path("charter.yaml"),
) -> None:
    """Make a key; it is printed once and only its SHA-256 is kept."""
    from charter.api import Project
    from charter.registry._keys import Keys
    from charter.registry._lineage import actor

    project = Project(charter)
    key, record = Keys(project.registry().store).create(
        project.charter.project, scope=scope, name=name, actor=actor()
    )
    _console(stderr=True).print(
        f"Key {record.prefix} ({record.scope}) for {escape(record.name)}; store it now, it is not shown again:"
    )
    typer.echo(key)


@keys_app.command("list")
@_friendly
def keys_list(charter: CharterOption = Path("charter.yaml"), as_json: JsonOption = False) -> None:
    """List the keys (prefix, scope, name, created, revoked); never the keys themselves."""
    from rich.table import Table

    from charter.api import Project
    from charter.registry._keys import Keys

    project = Project(charter)
    found = Keys(project.registry().store).list(project.charter.project)
    if as_json:
        typer.echo(json.dumps([vars(k) for k in found], indent=2))
        return
    table = Table("prefix", "scope", "name", "created", "revoked", pad_edge=False)
    for key in found:
        table.add_row(
            key.prefix, key.scope, escape(key.name), key.created[:19], (key.revoked or "")[:19]
        )
    _console().print(table)


@keys_app.command("revoke")
@_friendly
def keys_revoke(
    prefix: Annotated[
        str, typer.Argument(help="The key's prefix, as `charter keys list` shows it.")
    ],
    charter: CharterOption = Path("charter.yaml"),
) -> None:
    """Revoke a key (a running service stops accepting it within 30 seconds)."""
    from charter.api import Project
    from charter.registry._keys import Keys

    project = Project(charter)
    key = Keys(project.registry().store).revoke(project.charter.project, prefix)
    _console().print(f"Key {key.prefix} ({escape(key.name)}) revoked.")


COMMANDS = (serve, score, shadow, feedback)
