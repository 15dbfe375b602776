"""The metadata store: migrations on open, refusing newer stores, WAL, transactions, bad URLs."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

import charter.registry
from charter.errors import CharterError
from charter.registry import ArtifactStore, MetadataStore, NewVersion, Registry
from charter.registry._schema import ALIASES, HEAD, VERSIONS
from charter.registry._trail import append

TABLES = {
    "charter_alembic_version",
    "charter_projects",
    "charter_versions",
    "charter_events",
    "charter_aliases",
}


def tables(store: MetadataStore) -> set[str]:
    with store.read() as connection:
        return set(sa.inspect(connection).get_table_names())


def refuse_newer(store_url: str) -> None:
    """Mark the store as written by a newer charter (a revision this one does not know)."""
    store = MetadataStore(store_url)
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE charter_alembic_version SET version_num = 'zzzz'"))
    store.dispose()


def test_head_is_the_latest_migration() -> None:
    versions = Path(charter.registry.__file__ or "").parent / "migrations" / "versions"
    revisions = sorted(p.name.split("_")[0] for p in versions.glob("0*.py"))
    assert revisions[-1] == HEAD
    assert revisions == [f"{n:04d}" for n in range(1, len(revisions) + 1)]


def test_an_empty_database_is_brought_to_head_on_open(store_url: str) -> None:
    untouched = MetadataStore(store_url, upgrade=False)
    assert untouched.revision() is None
    untouched.dispose()

    store = MetadataStore(store_url)
    try:
        assert store.revision() == HEAD
        assert tables(store) >= TABLES
    finally:
        store.dispose()


def test_a_store_at_0001_is_upgraded_and_its_aliases_rebuilt_from_the_trail(
    store_url: str, tmp_path: Path, store_new_version: Callable[..., NewVersion]
) -> None:
    old = MetadataStore(store_url, upgrade=False)
    old.upgrade("0001")
    assert old.revision() == "0001"
    assert "charter_aliases" not in tables(old)
    artifacts = ArtifactStore(str(tmp_path / "artifacts"))
    # Versions and a trail written the way charter 0001 wrote them: moves only on the trail.
    Registry(old, artifacts).register(
        "churn",
        [store_new_version("baseline"), store_new_version("simple"), store_new_version("boosted")],
        actor="ana",
        documents={},
    )
    moves = [
        ("churn", "promoted", "production", 1),
        ("churn", "approved", None, 3),
        ("churn", "promoted", "production", 3),
        ("churn", "alias_moved", "staging", 2),
        ("fraud", "promoted", "production", 7),
        ("churn", "rolled_back", "production", 2),
        ("churn", "rejected", "production", 3),  # refused: does not move the alias
    ]
    for project, action, alias, version in moves:
        with old.locked(project) as connection:
            append(connection, project, actor="ana", action=action, alias=alias, version=version)
    old.dispose()

    store = MetadataStore(store_url)
    try:
        assert store.revision() == HEAD
        registry = Registry(store, artifacts)
        assert registry.aliases("churn") == {"production": 2, "staging": 2}
        assert registry.aliases("fraud") == {"production": 7}
        trail = {e.seq: e for e in registry.trail("churn")}
        with store.read() as connection:
            row = connection.execute(
                sa.select(ALIASES).where(
                    ALIASES.c.project == "churn", ALIASES.c.alias == "production"
                )
            ).one()
        moved_by = trail[row.event_seq]
        assert (moved_by.action, moved_by.version, moved_by.at) == ("rolled_back", 2, row.since)
        assert [s.version for s in registry.history("churn")] == [1, 3, 2]
        assert registry.verify("churn").ok and registry.verify("fraud").ok
        # What 0001 stored is still there and readable.
        versions = registry.versions("churn")
        assert [(v.number, v.candidate) for v in versions] == [
            (1, "baseline"),
            (2, "simple"),
            (3, "boosted"),
        ]
        assert versions[1].aliases == ("production", "staging")
        assert registry.read(versions[2], "model.json") == b'{"candidate": "boosted"}'
        # And the upgraded store goes on working: the chain continues from the old head.
        with store.locked("churn") as connection:
            entry = registry.move_alias(
                connection, "churn", "production", 3, actor="ana", action="promoted", reason=None
            )
        assert entry.seq == len(trail) + 1
        assert registry.aliases("churn")["production"] == 3
        assert registry.verify("churn").ok
    finally:
        store.dispose()


def test_a_store_from_a_newer_charter_is_refused_and_left_alone(store_url: str) -> None:
    refuse_newer(store_url)

    with pytest.raises(CharterError, match=r"'zzzz', written by a newer charter.*upgrade charter"):
        MetadataStore(store_url)

    unopened = MetadataStore(store_url, upgrade=False)
    try:
        assert unopened.revision() == "zzzz"
        assert tables(unopened) >= TABLES
    finally:
        unopened.dispose()


def test_reopening_an_up_to_date_store_does_not_run_migrations(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With Alembic made unimportable, anything that tries to migrate fails loudly...
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "alembic", None)
        with pytest.raises(ImportError):
            MetadataStore(store_url)
    MetadataStore(store_url).dispose()  # ...so migrate once, with Alembic back,

    monkeypatch.setitem(sys.modules, "alembic", None)
    store = MetadataStore(store_url)  # and re-opening must not touch it.
    try:
        assert store.revision() == HEAD
    finally:
        store.dispose()


@pytest.mark.postgres
def test_a_refused_store_keeps_no_connection_open(
    store_postgres_url: str, postgres_url: str
) -> None:
    refuse_newer(store_postgres_url)
    database = sa.make_url(store_postgres_url).database
    server = sa.create_engine(sa.make_url(postgres_url).set(drivername="postgresql+psycopg"))
    try:
        with pytest.raises(CharterError, match="newer charter"):
            MetadataStore(store_postgres_url)
        with server.connect() as connection:
            still_open = connection.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                {"name": database},
            ).scalar()
        assert still_open == 0
    finally:
        server.dispose()


def test_a_sqlite_store_is_in_wal_mode(store_sqlite_url: str) -> None:
    store = MetadataStore(store_sqlite_url)
    try:
        with store.read() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        store.dispose()
    # WAL is a property of the file: any other program opening it finds it in WAL mode.
    database = sa.make_url(store_sqlite_url).database
    assert database is not None
    raw = sqlite3.connect(database)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_a_failed_locked_transaction_leaves_nothing(store_registry: Registry) -> None:
    store = store_registry.store
    store_registry.record("churn", "approved", actor="ana", version=1)

    with pytest.raises(RuntimeError, match="half-way"), store.locked("churn") as connection:
        connection.execute(
            VERSIONS.insert().values(
                project="churn",
                number=1,
                candidate="simple",
                kind="simple",
                run="r",
                selected=True,
                created="2026-01-01T00:00:00.000000+00:00",
                created_by="ana",
                location="churn/x",
                record="{}",
            )
        )
        append(connection, "churn", actor="ana", action="registered", version=1)
        raise RuntimeError("failed half-way")

    assert store_registry.versions("churn") == []
    assert [e.action for e in store_registry.trail("churn")] == ["approved"]
    assert store_registry.verify("churn").ok


def test_readers_see_the_last_commit_while_a_writer_holds_the_lock(
    store_registry: Registry,
) -> None:
    store_registry.record("churn", "approved", actor="ana", version=1)
    with store_registry.store.locked("churn") as connection:
        append(connection, "churn", actor="ben", action="approved", version=2)
        # Another connection reads at once (no waiting for the lock) and sees no half state.
        assert [e.actor for e in store_registry.trail("churn")] == ["ana"]
        assert store_registry.verify("churn").ok
    assert [e.actor for e in store_registry.trail("churn")] == ["ana", "ben"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a database url", "not a database URL"),
        ("mysql://user@host/db", "SQLite or PostgreSQL"),
    ],
)
def test_an_unusable_store_url_is_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(CharterError, match=message):
        MetadataStore(url)


@pytest.mark.postgres
def test_an_unreachable_store_is_a_clear_error_without_the_password(postgres_url: str) -> None:
    url = sa.make_url(postgres_url).set(port=1, password="s3cret-pw-42")
    with pytest.raises(CharterError, match="cannot open the store") as raised:
        MetadataStore(url.render_as_string(hide_password=False))
    assert "s3cret-pw-42" not in str(raised.value)
    assert "CHARTER_STORE" in str(raised.value)
