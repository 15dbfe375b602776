"""What every `charter` command shares: the charter option, the consoles, friendly errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from charter.errors import CharterError

__all__ = ["CharterOption", "ClusterOption", "JsonOption", "_console", "_friendly"]

F = TypeVar("F", bound=Callable[..., Any])

CharterOption = Annotated[
    Path, typer.Option("--charter", "-c", help="The charter file.", dir_okay=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Run on a Dask cluster: tcp://scheduler:8786, or local[:N] for N worker processes "
        "here (default: $CHARTER_DASK; unset: this machine, without Dask).",
        show_default=False,
    ),
]


def _console(*, stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _friendly(command: F) -> F:
    """Print a CharterError as a message, without a traceback, and exit with status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CharterError as exc:
            _console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
