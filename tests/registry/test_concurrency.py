"""Concurrency and failure, with real processes on one store (a SQLite file, a PostgreSQL database).

Workers are started with the "spawn" context (fresh interpreters, nothing shared but the store)
and released together by a barrier, so their writes really collide.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from charter.errors import CharterError
from charter.registry import PRODUCTION, ArtifactStore, MetadataStore, NewVersion, Registry
from charter.registry._registry import MOVES
from charter.registry._schema import ALIASES, HEAD, VERSIONS
from charter.registry._trail import append

PROJECT = "churn"
WORKERS = 3
SPAWN = multiprocessing.get_context("spawn")
JOIN_SECONDS = 120


# --- what the worker processes run (module level, so a spawned interpreter can import it) -------


def small_version(candidate: str) -> NewVersion:
    return NewVersion(
        candidate=candidate,
        kind="simple",
        run="run-1",
        selected=True,
        files={"model.json": f'{{"candidate": "{candidate}"}}'.encode()},
        record={"test": {"value": 1.0}},
    )


def open_and_write(url: str, artifacts: str, worker: int, moves: int, barrier: Any) -> None:
    """Open the store (all workers at once), then register, approve and move production."""
    barrier.wait(timeout=60)
    registry = Registry(MetadataStore(url), ArtifactStore(artifacts))
    barrier.wait(timeout=60)
    actor = f"worker-{worker}"
    for i in range(moves):
        [version] = registry.register(
            PROJECT, [small_version(f"w{worker}-{i}")], actor=actor, documents={}
        )
        registry.record(PROJECT, "approved", actor=actor, version=version.number)
        with registry.store.locked(PROJECT) as connection:
            registry.move_alias(
                connection,
                PROJECT,
                PRODUCTION,
                version.number,
                actor=actor,
                action="promoted",
                reason=None,
            )
    registry.store.dispose()


def hold_a_half_written_version(url: str, artifacts: str, ready: Any) -> None:
    """Write a version and its trail entry inside the lock, then hang there until killed."""
    store = MetadataStore(url)
    with store.locked(PROJECT) as connection:
        connection.execute(
            VERSIONS.insert().values(
                project=PROJECT,
                number=99,
                candidate="doomed",
                kind="simple",
                run="run-x",
                selected=True,
                created="2026-01-01T00:00:00.000000+00:00",
                created_by="doomed",
                location=f"{PROJECT}/doomed",
                record="{}",
            )
        )
        append(connection, PROJECT, actor="doomed", action="registered", version=99)
        ready.set()
        time.sleep(JOIN_SECONDS)


def promote_at_once(charter_path: str, ref: int, results: Any, barrier: Any) -> None:
    """Promote `ref` through `charter.api.Project`, at the same moment as the other worker."""
    from charter.api import Project

    project = Project(charter_path)
    project.registry()  # open the stores before the start line
    barrier.wait(timeout=120)
    try:
        outcome = project.promote(ref)
    except CharterError as exc:
        results.put((ref, "error", str(exc)))
        return
    failed = [gate.name for gate in outcome.failed]
    results.put((ref, "moved" if outcome.moved else "refused", failed))


# --- helpers -------------------------------------------------------------------------------------


def run_together(target: Callable[..., None], args: Sequence[tuple[Any, ...]]) -> list[int | None]:
    """Run one process per args tuple, each given a shared barrier last; their exit codes."""
    barrier = SPAWN.Barrier(len(args))
    processes = [SPAWN.Process(target=target, args=(*a, barrier)) for a in args]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(JOIN_SECONDS)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    return [process.exitcode for process in processes]


def check_consistent(registry: Registry, *, entries: int) -> None:
    """One production alias, a verified gap-free trail, the alias where the last move put it."""
    with registry.store.read() as connection:
        rows = connection.execute(
            sa.select(ALIASES).where(ALIASES.c.project == PROJECT, ALIASES.c.alias == PRODUCTION)
        ).all()
    assert len(rows) == 1
    check = registry.verify(PROJECT)
    assert check.ok, check.problems
    trail = registry.trail(PROJECT)
    assert [e.seq for e in trail] == list(range(1, entries + 1))
    last_move = [e for e in trail if e.action in MOVES and e.alias == PRODUCTION][-1]
    assert (rows[0].version, rows[0].event_seq) == (last_move.version, last_move.seq)
    assert registry.aliases(PROJECT)[PRODUCTION] == last_move.version


# --- tests ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_processes_opening_and_writing_one_store_at_once_keep_it_consistent(
    store_url: str, store_artifacts_url: str
) -> None:
    moves = 4
    codes = run_together(
        open_and_write, [(store_url, store_artifacts_url, w, moves) for w in range(WORKERS)]
    )
    assert codes == [0] * WORKERS

    registry = Registry(MetadataStore(store_url), ArtifactStore(store_artifacts_url))
    try:
        assert registry.store.revision() == HEAD  # the racing migrations did not clash
        total = WORKERS * moves
        check_consistent(registry, entries=3 * total)
        versions = registry.versions(PROJECT)
        assert [v.number for v in versions] == list(range(1, total + 1))
        trail = registry.trail(PROJECT)
        registered = {e.version: e.details["candidate"] for e in trail if e.action == "registered"}
        assert registered == {v.number: v.candidate for v in versions}
        for version in versions:
            candidate = version.candidate.encode()
            assert registry.read(version, "model.json") == b'{"candidate": "' + candidate + b'"}'
        # Each worker's own moves happened in its order, each after registering its version.
        for worker in range(WORKERS):
            mine = [e for e in trail if e.actor == f"worker-{worker}"]
            assert [e.action for e in mine] == ["registered", "approved", "promoted"] * moves
        assert len(registry.history(PROJECT)) == total
    finally:
        registry.store.dispose()


@pytest.mark.slow
def test_a_process_killed_inside_the_lock_leaves_no_half_version(
    store_registry: Registry, store_url: str, store_artifacts_url: str
) -> None:
    store_registry.register(PROJECT, [small_version("simple")], actor="ana", documents={})
    ready = SPAWN.Event()
    process = SPAWN.Process(
        target=hold_a_half_written_version, args=(store_url, store_artifacts_url, ready)
    )
    process.start()
    try:
        assert ready.wait(JOIN_SECONDS), "the worker never got inside the lock"
        # While it holds the lock, readers see only committed state.
        assert [v.number for v in store_registry.versions(PROJECT)] == [1]
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(JOIN_SECONDS)
    finally:
        if process.is_alive():
            process.kill()
            process.join()
    assert process.exitcode == -signal.SIGKILL

    store_registry.store.dispose()
    reopened = Registry(MetadataStore(store_url), ArtifactStore(store_artifacts_url))
    try:
        assert [v.number for v in reopened.versions(PROJECT)] == [1]
        assert [e.action for e in reopened.trail(PROJECT)] == ["registered"]
        assert reopened.verify(PROJECT).ok
        # The lock died with the process: the next writer goes ahead and numbers on from v1.
        [next_version] = reopened.register(
            PROJECT, [small_version("boosted")], actor="ana", documents={}
        )
        assert next_version.number == 2
        assert reopened.verify(PROJECT).ok
    finally:
        reopened.store.dispose()


class FailingOnSecondPut(ArtifactStore):
    """A real artifact store whose second write fails, like a disk filling up mid-register."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.puts = 0

    def put(self, folder: str, files: Mapping[str, bytes]) -> dict[str, str]:
        self.puts += 1
        if self.puts == 2:
            raise OSError(28, "No space left on device (injected)")
        return super().put(folder, files)


@pytest.mark.parametrize("failing", ["artifact write", "database insert"])
def test_a_crash_while_registering_leaves_no_half_version(
    store_url: str, store_artifacts_url: str, failing: str
) -> None:
    store = MetadataStore(store_url)
    registry = Registry(store, FailingOnSecondPut(store_artifacts_url))
    try:
        if failing == "artifact write":
            batch = [small_version("baseline"), small_version("simple")]
            with pytest.raises(OSError, match="No space left"):
                registry.register(PROJECT, batch, actor="ana", documents={})
        else:
            registry.files = ArtifactStore(store_artifacts_url)
            # The second version breaks a NOT NULL column: the first one's rows must go too.
            broken = NewVersion(
                candidate=None,  # type: ignore[arg-type]
                kind="simple",
                run="run-1",
                selected=True,
                files={"m.json": b"{}"},
                record={},
            )
            with pytest.raises(sa.exc.IntegrityError):
                registry.register(
                    PROJECT, [small_version("baseline"), broken], actor="ana", documents={}
                )

        with store.read() as connection:
            assert (
                connection.execute(sa.select(sa.func.count()).select_from(VERSIONS)).scalar() == 0
            )
        assert not [e for e in registry.trail(PROJECT) if e.action == "registered"]
        assert registry.verify(PROJECT).ok

        registry.files = ArtifactStore(store_artifacts_url)
        [first] = registry.register(PROJECT, [small_version("simple")], actor="ana", documents={})
        assert first.number == 1
        assert registry.verify(PROJECT).ok
    finally:
        store.dispose()


@pytest.mark.slow
def test_two_processes_promoting_through_the_api_leave_one_production(store_demo: Path) -> None:
    charter_text = store_demo.read_text(encoding="utf-8")
    relaxed = charter_text.replace("max_fairness_gap: 0.1", "max_fairness_gap: 0.5").replace(
        "latency_ms_p99: 50", "latency_ms_p99: 5000"
    )
    assert relaxed != charter_text
    store_demo.write_text(relaxed, encoding="utf-8")  # so both models pass every gate alone

    from charter.api import Project

    project = Project(store_demo)
    contenders = [v.number for v in project.models() if v.kind != "baseline"]
    assert len(contenders) == 2
    project.registry().store.dispose()

    results = SPAWN.Queue()
    codes = run_together(promote_at_once, [(str(store_demo), n, results) for n in contenders])
    outcomes = {
        ref: (what, detail) for ref, what, detail in (results.get(timeout=5) for _ in contenders)
    }
    assert codes == [0, 0]

    project = Project(store_demo)
    registry = project.registry()
    try:
        assert all(what in ("moved", "refused") for what, _ in outcomes.values()), outcomes
        moved = [ref for ref, (what, _) in outcomes.items() if what == "moved"]
        assert moved, outcomes
        production = registry.aliases(project.charter.project)[PRODUCTION]
        assert production in moved
        trail = project.trail()
        assert project.verify_trail().ok
        assert [e.seq for e in trail] == list(range(1, len(trail) + 1))
        for ref, (what, failed) in outcomes.items():
            actions = [e.action for e in trail if e.version == ref and e.alias == PRODUCTION]
            if what == "moved":
                assert actions == ["promoted"]
            else:
                assert actions == ["rejected"] and failed, (actions, failed)
        last_move = [e for e in trail if e.action in MOVES and e.alias == PRODUCTION][-1]
        assert last_move.version == production
        # The charter change was noticed once, not once per process.
        assert [e.action for e in trail].count("charter_changed") == 1
    finally:
        registry.store.dispose()
