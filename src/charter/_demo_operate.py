"""Phase 5 of `charter demo`: a stream that shifts, late outcomes, monitoring, retraining, rollback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

__all__ = ["demo_operate", "serve_rows"]

_STREAM = 3_000  # predictions in one monitoring window: one before the shift, three after it


def demo_operate(console: Console, err: Console, project: Any, *, budget: float) -> None:
    """Serve a steady then a shifted stream, post outcomes, monitor, retrain and roll back."""
    from charter._render_monitor import render_monitor, render_retrain, render_rollback_check
    from charter.monitoring._monitor import monitor
    from charter.monitoring._retrain import check_rollback, retrain, triggers
    from charter.monitoring._windows import WindowSize

    steady = _serve(project, [(False, 21, 900_001, _STREAM), (True, 22, 950_001, 3 * _STREAM)])
    console.print(
        f"Served {4 * _STREAM:,} customers: {_STREAM:,} like the training data, then {3 * _STREAM:,} "
        "after the market shifted (more monthly contracts and support calls; card payers now cancel more); "
        f"{steady.refused} broke the contract and were refused (logged as such).\n"
        f"A month later their real outcomes arrive: {steady.recorded:,} recorded (`charter feedback`).\n"
    )

    console.rule("Phase 5 · operate: charter monitor --window 3000")
    with err.status("Monitoring…"):
        report = monitor(project, size=WindowSize(rows=_STREAM), count=4)
    render_monitor(console, report.to_dict())

    console.rule("Phase 5 · operate: charter monitor --act (retrain, compare, promote)")
    fired = triggers(project, report, now=datetime.now(UTC))
    with err.status("Retraining a challenger…") as status:
        outcome = retrain(
            project,
            fired=fired or ["by hand"],
            budget_seconds=budget,
            on_step=lambda s: status.update(f"Retraining: {s}…"),
        )
    render_retrain(console, outcome.to_dict())
    if not (outcome.promotion and outcome.promotion.startswith("promoted")):
        console.print(
            f"No challenger went live, so there is nothing to roll back: {escape(outcome.promotion or outcome.skipped or '')}."
        )
        return

    console.rule("Phase 5 · operate: charter monitor --act (is the new version paying off?)")
    later = _serve(project, [(True, 23, 990_001, _STREAM)])
    console.print(
        f"v{outcome.challenger} served {_STREAM:,} more customers; {later.recorded:,} outcomes came back."
    )
    render_rollback_check(console, check_rollback(project, act=True).to_dict())

    console.rule("Phase 5 · operate: charter rollback")
    back = project.rollback(reason="demo: showing the way back to the previous version")
    console.print(
        f"[bold]Rolled back:[/] v{back.to_version} is production again (was v{back.from_version}); "
        f"entry #{back.seq} on the audit trail. `charter monitor --act` does this by itself when a new "
        f"version earns less than its predecessor; `charter promote {back.from_version}` brings the "
        "challenger back."
    )


@dataclass(frozen=True)
class _Served:
    refused: int
    recorded: int


def _serve(project: Any, streams: list[tuple[bool, int, int, int]]) -> _Served:
    """Serve generated customers through the production version, then record their outcomes
    (seven decisions in ten followed by the retention team)."""
    from charter.demo import demo_stream
    from charter.serving._feedback import record_feedback
    from charter.serving._service import Service

    target = project.charter.target
    service = Service(project, watch=False)
    outcomes: list[dict[str, Any]] = []
    refused = 0
    try:
        for shifted, seed, first, count in streams:
            rows = demo_stream(count, shifted=shifted, seed=seed, first_id=first).to_pylist()
            answered, dropped = serve_rows(service, rows, target)
            refused += dropped
            outcomes.extend(
                {
                    "prediction_id": answer["prediction_id"],
                    "outcome": row[target],
                    "action_taken": index % 10 < 7,
                }
                for index, (row, answer) in enumerate(answered)
            )
    finally:
        service.close()
    classes = list(
        project.registry().load(project.version("production")).scoring.get("classes", [])
    )
    recorded = record_feedback(
        project.registry().store, project.charter.project, outcomes, source="demo", classes=classes
    )
    return _Served(refused, recorded.accepted)


def serve_rows(
    service: Any, rows: list[dict[str, Any]], target: str, *, chunk: int = 100
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], int]:
    """Send data rows (target left out) in requests of `chunk`; a request the contract refuses is
    sent again without its bad records, as a client would. Returns (row, answer) pairs and how
    many records were refused."""
    from charter.serving._service import InvalidRecords

    answered: list[tuple[dict[str, Any], dict[str, Any]]] = []
    refused = 0
    for start in range(0, len(rows), chunk):
        batch = rows[start : start + chunk]
        records = [
            {
                k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in row.items()
                if k != target
            }
            for row in batch
        ]
        try:
            answers = service.predict(records)
        except InvalidRecords as exc:
            bad = {index for index, _ in exc.problems}
            refused += len(bad)
            batch = [row for i, row in enumerate(batch) if i not in bad]
            answers = service.predict([r for i, r in enumerate(records) if i not in bad])
        answered.extend(zip(batch, answers, strict=True))
    return answered, refused
