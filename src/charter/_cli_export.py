"""Commands that take a version elsewhere: package (container, Kubernetes), export (MLflow,
ONNX) and import-mlflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from charter._cli_common import CharterOption, JsonOption, _console, _friendly

__all__ = ["COMMANDS"]


@_friendly
def package(
    version: Annotated[str, typer.Argument(help="3, v3 or an alias such as production.")],
    out: Annotated[Path, typer.Argument(help="A new or empty folder for the build context.")],
    kubernetes: Annotated[
        bool,
        typer.Option(
            "--kubernetes",
            help="Also write Kubernetes manifests, sized from the version's measured size and latency.",
        ),
    ] = False,
    image: Annotated[
        str | None,
        typer.Option(help="Image name for the manifests and README (default PROJECT:vN)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes per pod.", min=1, max=64)] = 1,
    requests_per_second: Annotated[
        float, typer.Option(help="Design load per pod, for the CPU request.", min=0.1)
    ] = 50.0,
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Write a container build context for a version (Dockerfile, wheel, lock, model, contract)."""
    from charter.api import Project
    from charter.export import package_version

    err = _console(stderr=True)
    with err.status(f"Packaging {escape(version)}…"):
        result = package_version(
            Project(charter),
            version,
            out,
            kubernetes=kubernetes,
            image=image,
            workers=workers,
            requests_per_second=requests_per_second,
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict() | {"out": str(result.out)}, indent=2))
        return
    console = _console()
    console.print(
        f"Packaged {escape(result.version.label)} ({escape(result.version.candidate)}) as "
        f"{escape(result.image)} → {escape(str(result.out))} ({len(result.files)} files, SHA-256 in SHA256SUMS)"
    )
    for manifest in result.manifests:
        console.print(f"  manifest: {escape(str(manifest))}")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(f"Build and run: see {escape(str(result.out / 'README.md'))}")


@_friendly
def export(
    version: Annotated[str, typer.Argument(help="3, v3 or an alias such as production.")],
    out: Annotated[
        Path,
        typer.Argument(help="A new folder (MLflow) or a new .onnx file (ONNX)."),
    ],
    format: Annotated[
        Literal["mlflow", "onnx"], typer.Option("--format", help="mlflow or onnx.")
    ] = "mlflow",
    no_wheel: Annotated[
        bool,
        typer.Option(
            "--no-wheel", help="MLflow: require charter==X instead of bundling charter's wheel."
        ),
    ] = False,
    tolerance: Annotated[
        float, typer.Option(help="ONNX: the largest score difference accepted.", min=0.0)
    ] = 1e-5,
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Export a version as an MLflow model or an ONNX graph, checked against charter's own scores."""
    from charter.api import Project
    from charter.export import export_mlflow, export_onnx

    project = Project(charter)
    with _console(stderr=True).status(f"Exporting {escape(version)} as {format}…"):
        result = (
            export_mlflow(project, version, out, wheel=not no_wheel)
            if format == "mlflow"
            else export_onnx(project, version, out, tolerance=tolerance)
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console = _console()
    console.print(
        f"Exported {escape(result.version.label)} ({escape(result.version.candidate)}) as "
        f"{format} → {escape(str(result.out))}"
    )
    console.print(
        f"Checked on {result.checked_rows:,} rows ({escape(result.checked_on)}): largest absolute "
        f"score difference {result.max_difference:.3g}"
        + (f" (tolerance {tolerance:g})" if format == "onnx" else "")
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


@_friendly
def import_mlflow(
    model_uri: Annotated[
        str, typer.Argument(help="A local MLflow model folder, runs:/… or models:/… URI.")
    ],
    name: Annotated[
        str | None, typer.Option(help="Its name on the leaderboard (default: from the URI).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the folds.")] = 0,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.", min=2, max=20)] = 5,
    charter: CharterOption = Path("charter.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Validate a team's MLflow model beside the baseline, on the charter's holdout, and register it."""
    from charter._render import render_training
    from charter.api import Project
    from charter.export import import_mlflow as run_import

    with _console(stderr=True).status("Importing…") as status:
        result = run_import(
            Project(charter),
            model_uri,
            name=name,
            seed=seed,
            folds=folds,
            on_step=lambda step: status.update(f"Importing: {step}…"),
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    console = _console()
    render_training(console, result.result)
    if result.version is not None:
        console.print(
            f"Registered: {escape(result.version.label)} {escape(result.candidate)}. Next: "
            f"`charter promote {result.version.number}` puts it through the gates."
        )
    else:
        console.print(f"[yellow]Compared, not registered:[/] {escape(result.not_registered or '')}")


COMMANDS = (package, export, import_mlflow)
