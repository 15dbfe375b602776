"""The metadata store: a SQLAlchemy engine on SQLite (embedded) or PostgreSQL (teams).

Opening a store brings its schema to the current revision with Alembic: a store made by an older
charter is upgraded in place, never rebuilt. Every change of state runs in `locked(project)`, a
transaction that holds the project's write lock until it commits, so two processes changing the
same project take turns and the audit trail never forks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError

from charter.data._databases import redact_url
from charter.errors import CharterError
from charter.registry._schema import HEAD, PROJECTS, VERSION_TABLE

__all__ = ["GENESIS", "MetadataStore", "now_text"]

GENESIS = "0" * 64
"""The hash an empty audit trail starts from."""

_MIGRATIONS = Path(__file__).parent / "migrations"
_KNOWN_REVISIONS = ("0001", "0002", "0003")
_LOCK_KEY = 0x63686172  # PostgreSQL advisory lock taken while migrating ("char")
_BUSY_MS = 60_000
_READ = "charter_read_only"


def now_text() -> str:
    """The current time as the store writes it: ISO 8601, UTC, microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class MetadataStore:
    """Projects, versions, aliases and the audit trail in one SQL database.

    Example:
        >>> store = MetadataStore("sqlite:///.charter/registry.db")  # doctest: +SKIP
        >>> with store.locked("churn") as connection:  # doctest: +SKIP
        ...     ...
    """

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = url
        self.engine = _engine(url)
        self._projects: set[str] = set()  # projects known to have their row
        if upgrade:
            try:
                self.upgrade()
            except BaseException:
                self.engine.dispose()  # a refused store keeps no connection open
                raise

    @property
    def where(self) -> str:
        """The store's URL with any password hidden."""
        return redact_url(self.url)

    def revision(self) -> str | None:
        """The schema revision the store is at (None for an empty database)."""
        with self.read() as connection:
            return _revision(connection)

    def upgrade(self, to: str = "head") -> None:
        """Bring the schema to revision `to` (default: the latest); a no-op when it is there."""
        try:
            with self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(select(text(f"pg_advisory_xact_lock({_LOCK_KEY})")))
                current = _revision(connection)
                if current is not None and current not in _KNOWN_REVISIONS:
                    raise CharterError(
                        f"the store {self.where} is at schema revision {current!r}, written by a "
                        "newer charter than this one; upgrade charter to use it."
                    )
                if current == (HEAD if to == "head" else to):
                    return
                _run_alembic(connection, to)
        except OperationalError as exc:
            raise CharterError(
                f"cannot open the store {self.where}: {exc.orig}. Check CHARTER_STORE (or "
                "`store.url` in the charter) and that the database is reachable."
            ) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading: it sees one consistent state and takes no write lock."""
        with self.engine.connect().execution_options(**{_READ: True}) as connection:
            yield connection

    @contextmanager
    def locked(self, project: str) -> Iterator[Connection]:
        """A transaction holding `project`'s write lock; it commits on leaving, or rolls back."""
        self._ensure_project(project)
        with self.engine.begin() as connection:
            # SQLite already holds the database's write lock (BEGIN IMMEDIATE); PostgreSQL locks
            # the project's row until commit.
            connection.execute(
                select(PROJECTS.c.name).where(PROJECTS.c.name == project).with_for_update()
            ).one()
            yield connection

    def _ensure_project(self, project: str) -> None:
        if project in self._projects:
            return
        with self.read() as connection:
            found = connection.execute(
                select(PROJECTS.c.name).where(PROJECTS.c.name == project)
            ).first()
        if found is not None:
            self._projects.add(project)
            return
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    PROJECTS.insert().values(
                        name=project, created=now_text(), trail_length=0, trail_head=GENESIS
                    )
                )
        except IntegrityError:
            pass  # another process created it first
        self._projects.add(project)

    def dispose(self) -> None:
        self.engine.dispose()


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CharterError(
            f"the store URL {redact_url(url)!r} is not a database URL; expected e.g. "
            "sqlite:///.charter/registry.db or postgresql://user@host/db."
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise CharterError(
            f"the store {redact_url(url)} uses {parsed.get_backend_name()!r}; charter keeps its "
            "metadata in SQLite or PostgreSQL."
        )
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError):
        raise CharterError(
            "a PostgreSQL store needs the psycopg driver: pip install 'charter[postgres]'."
        ) from None


def _sqlite_engine(url: Any) -> Engine:
    database = url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _BUSY_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun explicitly below, so the driver must not begin its own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock at the start: a read-then-write transaction can then
        # never fail half-way because another writer got in between.
        read_only = connection.get_execution_options().get(_READ, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return None if row is None else str(row[0])


def _run_alembic(connection: Connection, to: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, to)
