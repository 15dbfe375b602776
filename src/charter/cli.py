"""The `charter` command: parse, call one phase function, render with rich."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm, Prompt

from charter._atomic import write_text_atomic
from charter._cli_common import CharterOption, ClusterOption, _console, _friendly
from charter._cli_export import COMMANDS as EXPORT_COMMANDS
from charter._cli_monitor import COMMANDS as MONITOR_COMMANDS
from charter._cli_registry import COMMANDS
from charter._cli_serving import COMMANDS as SERVING_COMMANDS
from charter._cli_serving import keys_app
from charter._cli_ui import COMMANDS as UI_COMMANDS
from charter.errors import CharterError

__all__ = ["app", "main"]

# LightGBM's OpenMP threads spin while waiting for work; on a busy 2-core machine spinning threads
# starve each other (measured: 43 s instead of 7.5 s for the audit's quick models). Set before
# LightGBM loads; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    name="charter",
    help="Carry a tabular ML project from business problem to monitored production, with a gate at every phase.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from charter import __version__

        typer.echo(f"charter {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Carry a tabular ML project from business problem to monitored production, with a gate at every phase."""


@app.command()
@_friendly
def init(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="A data file to start from (CSV, Parquet, JSON lines)."),
    ] = None,
    target: Annotated[str | None, typer.Option(help="The column to predict.")] = None,
    task: Annotated[
        str | None, typer.Option(help="classification or regression (guessed from the target).")
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="Project name (default: the data file's name).")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Who in the business owns the outcome.")] = None,
    problem: Annotated[str | None, typer.Option(help="The question the model answers.")] = None,
    decision: Annotated[
        str | None, typer.Option(help="What is done differently with each prediction.")
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the charter.")
    ] = Path("charter.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing charter.")] = False,
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--no-input", help="Ask the open questions (default: when on a terminal)."
        ),
    ] = None,
) -> None:
    """Write a charter.yaml; with --data, propose the target and task from the data and mark what a person must answer."""
    from charter.api import draft_from_data
    from charter.spec._draft import Draft, render_draft

    console = _console()
    if task is not None and task not in {"classification", "regression"}:
        raise CharterError(f"--task must be 'classification' or 'regression', got {task!r}")
    if output.exists() and not force:
        raise CharterError(
            f"{output} already exists; use --force to overwrite it, or -o to write elsewhere."
        )
    if data is not None:
        draft = draft_from_data(data, project=project, target=target, task=task)
    else:
        draft = Draft(project=project or "project", target=target, task=task)
    draft.owner, draft.problem, draft.decision = owner, problem, decision
    if interactive is None:
        # Answers given as flags mean a script is running us: never stop to ask.
        answered_by_flags = any(v is not None for v in (target, task, owner, problem, decision))
        interactive = sys.stdin.isatty() and sys.stdout.isatty() and not answered_by_flags
    if data is not None:
        console.print(
            f"Read {escape(str(data))}: {draft.rows:,} rows, {len(draft.columns)} columns."
        )
        if draft.target_candidates:
            console.print(f"Target candidates: {escape(', '.join(draft.target_candidates))}")
    if interactive:
        _ask(console, draft)
    write_text_atomic(output, render_draft(draft))
    console.print(
        f"Wrote [bold]{escape(str(output))}[/]. Next: answer the lines marked QUESTION, then run [bold]charter check[/]."
    )


def _ask(console: Console, draft: Any) -> None:
    """Ask, on a terminal, the questions only a person can answer; an empty answer leaves it open."""
    console.print("[dim]Answer what you can; press Enter to leave a question open for later.[/]")
    if draft.target is None or draft.target_candidates:
        answer = Prompt.ask(
            "Which column is the outcome to predict?", default=draft.target or "", console=console
        )
        draft.target = answer or draft.target
    if draft.task is None:
        draft.task = Prompt.ask("Task", choices=["classification", "regression"], console=console)
    for field, question in (
        ("owner", "Who in the business owns the outcome?"),
        ("problem", "What question should the model answer?"),
        ("decision", "What will be done differently with each prediction?"),
    ):
        if not getattr(draft, field):
            setattr(draft, field, Prompt.ask(question, default="", console=console) or None)
    if not draft.baseline_rule:
        draft.baseline_rule = (
            Prompt.ask(
                "How is it decided today? (an SQL condition over the columns)",
                default="",
                console=console,
            )
            or None
        )
    if not draft.beat_baseline_by:
        draft.beat_baseline_by = (
            Prompt.ask(
                "By how much must a model beat that? (e.g. 10%)", default="", console=console
            )
            or None
        )
    if draft.sensitive and not Confirm.ask(
        f"Audit these columns for bias: {', '.join(draft.sensitive)}?",
        default=True,
        console=console,
    ):
        draft.sensitive = []


@app.command()
@_friendly
def check(charter: CharterOption = Path("charter.yaml")) -> None:
    """List the phase-1 questions still open; exit 1 until every one is answered."""
    from charter._render import render_questions
    from charter.api import Project

    questions, problem = Project(charter).questions()
    render_questions(_console(), questions, problem)
    if questions or problem:
        raise typer.Exit(1)


@app.command()
@_friendly
def audit(
    charter: CharterOption = Path("charter.yaml"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON document.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(help="Where to write the HTML report (default: .charter/reports/)."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show informational findings.")
    ] = False,
    cluster: ClusterOption = None,
) -> None:
    """Audit the data's readiness: volume, quality, leakage, timeliness, bias. Exit 1 when NOT READY."""
    from charter._render import render_audit
    from charter.api import Project
    from charter.audit import Verdict
    from charter.reports import write_audit_html
    from charter.scale import cluster_option

    project = Project(charter)
    spec = cluster_option(cluster)
    had_contract = project.contract_path.exists()
    err = _console(stderr=True)
    where = f" on {spec.describe()}" if spec else ""
    with err.status(f"Auditing{where}…") as status:
        result = project.audit(
            on_step=lambda step: status.update(f"Auditing{where}: {step}…"), cluster=spec
        )
    report = html or project.workspace / "reports" / f"audit-{result.started:%Y%m%dT%H%M%S}.html"
    write_audit_html(result, report)
    document = json.dumps(result.to_dict(), indent=2)
    write_text_atomic(project.workspace / "reports" / "audit-latest.json", document)
    if as_json:
        typer.echo(document)
    else:
        console = _console()
        render_audit(console, result, show_info=verbose)
        console.print(f"Report: {escape(str(report))}")
        if not had_contract:
            console.print(
                f"Data contract written: {escape(str(project.contract_path))} (yours to edit; every new batch is checked against it)"
            )
    if result.verdict == Verdict.NOT_READY:
        raise typer.Exit(1)


@app.command()
@_friendly
def train(
    charter: CharterOption = Path("charter.yaml"),
    budget: Annotated[
        float, typer.Option(help="Seconds the boosted candidate may spend on its search.")
    ] = 60.0,
    only: Annotated[
        str | None, typer.Option(help="Candidates to train, e.g. baseline,simple.")
    ] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.", min=2, max=20)] = 5,
    seed: Annotated[
        int, typer.Option(help="Seed for splits and models: same seed, same results.")
    ] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON document.")
    ] = False,
    cluster: ClusterOption = None,
) -> None:
    """Train the baseline, simple and boosted candidates; exit 3 when none beats the baseline."""
    from charter._render import render_registered, render_training
    from charter.api import Project
    from charter.scale import cluster_option

    project = Project(charter)
    spec = cluster_option(cluster)
    names = [n.strip() for n in only.split(",") if n.strip()] if only else None
    where = f" on {spec.describe()}" if spec else ""
    with _console(stderr=True).status(f"Training{where}…") as status:
        result = project.train(
            seed=seed,
            folds=folds,
            budget_seconds=budget,
            only=names,
            on_step=lambda s: status.update(f"Training{where}: {s}…"),
            cluster=spec,
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        console = _console()
        render_training(console, result)
        console.print(f"Run saved: {escape(str(result.run))}")
        console.print(f"Model card: {escape(str(Path(str(result.run)) / 'model_card.html'))}")
        render_registered(console, result)
    if not result.beats_baseline:
        raise typer.Exit(3)


@app.command()
@_friendly
def validate(
    file: Annotated[Path, typer.Argument(help="The batch to check (CSV, Parquet, JSON lines).")],
    charter: CharterOption = Path("charter.yaml"),
    contract: Annotated[
        Path | None, typer.Option(help="The contract (default: contract.yaml beside the charter).")
    ] = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Write the rows that break the contract here.")
    ] = None,
    passed: Annotated[
        Path | None,
        typer.Option(help="With --quarantine: where the good rows go (default: beside it)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a batch against the data contract; exit 1 when any row breaks it."""
    from charter._render import render_validation
    from charter.data import read_file
    from charter.spec._contract import load_contract
    from charter.spec._validate import split_batch, validate_batch

    contract_path = contract or charter.resolve().parent / "contract.yaml"
    if not contract_path.exists():
        raise CharterError(
            f"{contract_path}: no data contract. Run `charter audit` first (it writes one), or pass --contract."
        )
    rules = load_contract(contract_path)
    batch = read_file(file)
    report = validate_batch(rules, batch)
    console = _console()
    if quarantine is not None:
        good = passed or quarantine.with_name(
            f"{file.stem}.passed{quarantine.suffix or '.parquet'}"
        )
        split_batch(rules, batch, report, bad_path=quarantine, good_path=good)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        render_validation(console, report, file)
        if quarantine is not None:
            console.print(
                f"{report.bad_rows:,} row(s) quarantined to {escape(str(quarantine))}; {report.good_rows:,} passed on to {escape(str(good))}."
            )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@_friendly
def demo(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Where to build the demo project (default: a new temporary folder)."
        ),
    ] = None,
    budget: Annotated[float, typer.Option(help="Seconds the boosted candidate may search.")] = 20.0,
) -> None:
    """Run all five phases on generated churn data, in a temporary folder."""
    from charter._demo_operate import demo_operate
    from charter._render import (
        render_audit,
        render_questions,
        render_registered,
        render_training,
        render_validation,
    )
    from charter.api import Project
    from charter.data import read_file
    from charter.demo import FIXED_QUERY, apply_audit_fixes, write_demo_project
    from charter.reports import write_audit_html
    from charter.spec._validate import split_batch, validate_batch

    console = _console()
    err = _console(stderr=True)
    where = folder or Path(tempfile.mkdtemp(prefix="charter-demo-"))
    path = write_demo_project(where)
    console.rule("[bold]charter demo[/]")
    console.print(f"Project folder: {escape(str(where))}\n")
    console.rule("Phase 1 · define: charter check")
    project = Project(path)
    questions, problem = project.questions()
    render_questions(console, questions, problem)

    console.rule("Phase 2 · data readiness: charter audit")
    with err.status("Auditing…") as status:
        first = project.audit(
            write_contract_file=False, on_step=lambda s: status.update(f"Auditing: {s}…")
        )
    render_audit(console, first)
    console.print(
        "\n[bold]Acting on the audit:[/] drop the column recorded after the decision and the rows "
        f"loaded twice. The charter's query becomes:\n  [cyan]{escape(FIXED_QUERY)}[/]\n"
    )
    apply_audit_fixes(path)
    project = Project(path)
    with err.status("Auditing again…") as status:
        result = project.audit(on_step=lambda s: status.update(f"Auditing: {s}…"))
    report = write_audit_html(result, project.workspace / "reports" / "audit.html")
    render_audit(console, result)
    console.print(f"Data contract written: {escape(str(project.contract_path))}")

    console.rule("Phase 2 · a new batch against the contract: charter validate")
    batch_file = where / "data" / "new_batch.csv"
    batch = read_file(batch_file)
    rules = project.contract()
    checked = validate_batch(rules, batch)
    render_validation(console, checked, batch_file)
    bad, good = where / "data" / "quarantine.csv", where / "data" / "new_batch.passed.parquet"
    split_batch(rules, batch, checked, bad_path=bad, good_path=good)
    console.print(
        f"{checked.bad_rows:,} row(s) quarantined to {escape(str(bad))}; {checked.good_rows:,} passed on."
    )

    console.rule("Phase 3 · proof of concept: charter train")
    with err.status("Training…") as status:
        trained = project.train(
            budget_seconds=budget, on_step=lambda s: status.update(f"Training: {s}…")
        )
    render_training(console, trained)
    render_registered(console, trained)

    console.rule("Phase 4 · production: charter promote")
    promoted = _demo_promote(console, project, trained)
    if promoted is not None:
        console.rule("Phase 4 · serving: charter serve, then feedback")
        _demo_traffic(console, project, where / "data" / "new_batch.csv")
        console.rule("Phase 4 · batch: charter score")
        scored = project.score(
            where / "data" / "new_batch.csv", where / "data" / "new_batch.scores.parquet"
        )
        console.print(
            f"Scored {scored.scored:,} of {scored.rows:,} rows with v{scored.version} in "
            f"{scored.seconds:.1f} s → {escape(str(scored.output))}; {scored.quarantined:,} row(s) "
            f"breaking the contract → {escape(str(scored.quarantine))}"
        )
        console.rule("Phase 5 · operate: a shifting stream and late outcomes")
        demo_operate(console, err, project, budget=budget)
    trail = project.verify_trail()
    console.print(
        f"Audit trail: {trail.entries} entries, {'intact' if trail.ok else 'NOT intact'} "
        "(`charter log --verify`); `charter history` shows what served when."
    )
    console.rule()
    if promoted is not None:
        console.print(f"[bold]In production:[/] v{promoted}")
    console.print(f"[bold]Readiness report:[/] {escape(str(report))}")
    console.print(f"[bold]Model card:[/] {escape(str(Path(str(trained.run)) / 'model_card.html'))}")


def _demo_promote(console: Console, project: Any, trained: Any) -> int | None:
    """Promote the run's choice; when a gate refuses it, try the next version that beats the baseline."""
    from charter._render_registry import render_promotion

    versions = {
        v.number: v for v in project.models() if v.run == f"{trained.started:%Y%m%dT%H%M%S}"
    }
    order = sorted(
        (v for v in versions.values() if (v.record.get("gain") or {}).get("beats_baseline")),
        key=lambda v: (not v.selected, -v.record["test"]["value"]),
    )
    if not order:
        console.print("No version beats the baseline, so none is promoted.")
        return None
    for version in order:
        console.print(f"[bold]charter promote {version.label}[/] ({escape(version.candidate)})")
        promotion = project.promote(version.number)
        render_promotion(console, promotion)
        if promotion.moved:
            return int(version.number)
        console.print("Trying the next version that beats the baseline.\n")
    return None


def _demo_traffic(console: Console, project: Any, batch: Path) -> None:
    """Serve the production version on loopback, send it a burst of records, post outcomes."""
    import time
    import urllib.error
    import urllib.request

    from charter.data import read_file
    from charter.registry._keys import Keys
    from charter.serving._app import create_app
    from charter.serving._local import serving
    from charter.serving._service import Service

    target = project.charter.target
    rows = [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        for row in read_file(batch).to_arrow(max_rows=400).to_pylist()
    ]
    key, _ = Keys(project.registry().store).create(
        project.charter.project, scope="feedback", name="demo", actor="demo"
    )

    def post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json", **(headers or {})},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    service = Service(project, watch=False)
    answered: list[tuple[dict[str, Any], Any]] = []
    refused = 0
    latencies: list[float] = []
    flags: dict[str, int] = {}
    with serving(create_app(service)) as url:
        for row in rows:
            record = {k: v for k, v in row.items() if k != target}
            started = time.perf_counter()
            status, body = post(f"{url}/v1/predict", record)
            latencies.append(time.perf_counter() - started)
            if status == 200:
                answered.append((row, body))
                for flag in body["flags"]:
                    flags[flag] = flags.get(flag, 0) + 1
            else:
                refused += 1
        outcomes = [
            {
                "prediction_id": body["prediction_id"],
                "outcome": row[target],
                "action_taken": body["decision"] == "act" and index % 10 < 7,
            }
            for index, (row, body) in enumerate(answered)
            if row.get(target) is not None
        ]
        status, result = post(f"{url}/v1/feedback", outcomes, {"authorization": f"Bearer {key}"})
    service.close()
    latencies.sort()
    console.print(
        f"{len(rows)} requests: {len(answered)} answered, {refused} refused by the contract "
        f"(422, naming the field); latency p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
        f"flags: {', '.join(f'{k} {v}' for k, v in flags.items()) or 'none'}."
    )
    if status == 200:
        console.print(
            f"Feedback: {result['accepted']} real outcomes recorded (70% of the 'act' decisions followed)."
        )


for _command in (*COMMANDS, *SERVING_COMMANDS, *MONITOR_COMMANDS, *UI_COMMANDS, *EXPORT_COMMANDS):
    app.command(name=_command.__name__.replace("_", "-"))(_command)
app.add_typer(keys_app)


def main() -> None:
    """Entry point of the `charter` console script."""
    app()
