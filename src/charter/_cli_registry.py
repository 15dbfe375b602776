"""The phase-4 commands: models, show, reproduce, promote, approve, rollback, history, log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from charter._atomic import write_bytes_atomic
from charter._cli_common import CharterOption, JsonOption, _console, _friendly

__all__ = ["COMMANDS"]

VersionArgument = Annotated[
    str, typer.Argument(help="A version (3 or v3) or an alias (production).")
]


@_friendly
def models(charter: CharterOption = Path("charter.yaml"), as_json: JsonOption = False) -> None:
    """List the registered versions with their value, gain over the baseline and aliases."""
    from charter._render_registry import render_models
    from charter.api import Project

    versions = Project(charter).models()
    if as_json:
        typer.echo(json.dumps([v.to_dict() for v in versions], indent=2))
        return
    render_models(_console(), versions)


@_friendly
def show(
    version: VersionArgument,
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Show one version: its figures, its lineage and where its model card is."""
    from charter._render_registry import render_version
    from charter.api import Project
    from charter.registry._versions import CARD

    project = Project(charter)
    found = project.version(version)
    card = None
    if CARD in found.artifacts:
        target = project.workspace / "cards" / f"{found.label}.html"
        write_bytes_atomic(target, project.registry().read(found, CARD))
        card = str(target)
    in_force = project.registry().threshold(found)
    if as_json:
        payload = {**found.to_dict(), "threshold_in_force": in_force, "model_card": card}
        typer.echo(json.dumps(payload, indent=2))
        return
    render_version(_console(), found, card, threshold=in_force)


@_friendly
def reproduce(
    version: VersionArgument,
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Retrain a version from its recorded inputs; exit 1 when its figures do not match."""
    from charter._render_registry import render_reproduction
    from charter.api import Project

    project = Project(charter)
    with _console(stderr=True).status("Retraining…") as status:
        result = project.reproduce(version, on_step=lambda s: status.update(f"Retraining: {s}…"))
    if as_json:
        payload = {
            "version": result.version.number,
            "matches": result.matches,
            "figures": [{"name": n, "recorded": a, "now": b} for n, a, b in result.metrics],
            "mismatched": list(result.mismatched),
            "differences": list(result.differences),
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        render_reproduction(_console(), result)
    if not result.matches:
        raise typer.Exit(1)


@_friendly
def promote(
    version: Annotated[
        str | None, typer.Argument(help="The version (default: the latest run's choice).")
    ] = None,
    to: Annotated[str, typer.Option("--to", help="The alias to move.")] = "production",
    verify: Annotated[bool, typer.Option(help="Also retrain it to prove it reproduces.")] = False,
    approved_by: Annotated[
        str | None, typer.Option(help="The person approving, when the charter requires one.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Override failed gates (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why; kept on the audit trail.")] = None,
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Move a version to production through every gate (or to another alias); exit 1 when refused."""
    from charter._render_registry import render_promotion
    from charter.api import Project

    project = Project(charter)
    with _console(stderr=True).status("Checking the gates…") as status:
        result = project.promote(
            version,
            alias=to,
            verify=verify,
            approved_by=approved_by,
            force=force,
            reason=reason,
            on_step=lambda s: status.update(f"Reproducing: {s}…"),
        )
    if as_json:
        payload = {
            "version": result.version.number,
            "alias": result.alias,
            "moved": result.moved,
            "forced": result.forced,
            "previous": result.previous,
            "gates": [
                {"name": g.name, "status": g.status, "evidence": g.evidence} for g in result.gates
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        render_promotion(_console(), result)
    if not result.moved:
        raise typer.Exit(1)


@_friendly
def approve(
    version: VersionArgument,
    by: Annotated[str, typer.Option("--by", help="The person approving.")],
    reason: Annotated[str | None, typer.Option(help="Why; kept on the audit trail.")] = None,
    charter: CharterOption = Path("charter.yaml"),
) -> None:
    """Record a named person's approval of a version for production."""
    from charter.api import Project

    project = Project(charter)
    found = project.approve(version, by=by, reason=reason)
    _console().print(f"{found.label} approved by {escape(by)}; recorded on the audit trail.")


@_friendly
def threshold(
    version: VersionArgument,
    value: Annotated[float, typer.Argument(help="The new threshold on the model's score, 0-1.")],
    reason: Annotated[str, typer.Option(help="Why; kept on the audit trail.")],
    charter: CharterOption = Path("charter.yaml"),
) -> None:
    """Change the score above which a version flags a case (e.g. to match the team's capacity)."""
    from charter.api import Project

    project = Project(charter)
    found = project.set_threshold(version, value, reason=reason)
    _console().print(
        f"{found.label} now decides at {value:g} (trained at {found.record.get('threshold'):.3f}); recorded on the audit trail."
    )


@_friendly
def rollback(
    reason: Annotated[str, typer.Option(help="Why; kept on the audit trail.")],
    to: Annotated[
        str | None, typer.Option("--to", help="The version (default: the one before).")
    ] = None,
    charter: CharterOption = Path("charter.yaml"),
) -> None:
    """Make the previous production version (or --to VERSION) production again, in one step."""
    from charter.api import Project

    done = Project(charter).rollback(reason=reason, to=to)
    _console().print(
        f"[bold]Rolled back:[/] v{done.to_version} is production again (was v{done.from_version}); entry #{done.seq} on the audit trail."
    )


@_friendly
def history(
    alias: Annotated[str, typer.Option(help="The alias whose history to show.")] = "production",
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Which version was in production (or another alias) when, newest first."""
    from charter._render_registry import render_history
    from charter.api import Project

    stints = Project(charter).history(alias)
    if as_json:
        typer.echo(json.dumps([vars(s) for s in reversed(stints)], indent=2))
        return
    render_history(_console(), stints, alias)


@_friendly
def log(
    verify: Annotated[
        bool, typer.Option(help="Check every entry; exit 1 on an edited, removed or reordered one.")
    ] = False,
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Show the audit trail: every change of state, who made it, when and why."""
    from charter._render_registry import render_trail
    from charter.api import Project

    project = Project(charter)
    entries = project.trail()
    check = project.verify_trail() if verify else None
    if as_json:
        payload: dict[str, object] = {"entries": [e.to_dict() for e in entries]}
        if check is not None:
            payload["verified"] = {
                "ok": check.ok,
                "head": check.head,
                "problems": list(check.problems),
            }
        typer.echo(json.dumps(payload, indent=2))
    else:
        render_trail(_console(), entries, check)
    if check is not None and not check.ok:
        raise typer.Exit(1)


COMMANDS = (models, show, reproduce, promote, approve, threshold, rollback, history, log)
