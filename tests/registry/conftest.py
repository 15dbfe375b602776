"""Fixtures for the registry tests: fresh stores on SQLite and PostgreSQL, and a trained project.

`store_url` is parametrised, so a test taking it (or `store_registry`) runs once on a SQLite file
and once on a fresh PostgreSQL database (marked `postgres`, skipped when no server answers).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from charter.registry import ArtifactStore, MetadataStore, NewVersion, Registry

STORE_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def store_sqlite_url(tmp_path: Path) -> str:
    """A SQLite store in a folder that does not exist yet (opening the store creates it)."""
    return f"sqlite:///{tmp_path / 'store' / 'registry.db'}"


@pytest.fixture
def store_postgres_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    server = sa.make_url(postgres_url)
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    name = f"charter_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        # The plain `postgresql://` scheme, as users write it in CHARTER_STORE.
        yield server.set(drivername="postgresql", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh, empty metadata store: a SQLite file, then a PostgreSQL database."""
    url: str = request.getfixturevalue(f"store_{request.param}_url")
    return url


@pytest.fixture
def store_artifacts_url(tmp_path: Path) -> str:
    return str(tmp_path / "artifacts")


@pytest.fixture
def store_registry(store_url: str, store_artifacts_url: str) -> Iterator[Registry]:
    """A registry on a fresh store (both back ends) with a local artifact folder."""
    registry = Registry(MetadataStore(store_url), ArtifactStore(store_artifacts_url))
    try:
        yield registry
    finally:
        registry.store.dispose()


@pytest.fixture
def store_new_version() -> Callable[..., NewVersion]:
    """Make a small registrable version: one JSON 'model' file and a test value."""

    def make(candidate: str = "simple", *, value: float = 1.0) -> NewVersion:
        return NewVersion(
            candidate=candidate,
            kind=candidate,
            run="run-1",
            selected=candidate == "simple",
            files={"model.json": f'{{"candidate": "{candidate}"}}'.encode()},
            record={"test": {"value": value}},
        )

    return make


@pytest.fixture(scope="session")
def store_demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo churn project, audited and trained once (three registered versions)."""
    from charter.api import Project
    from charter.demo import apply_audit_fixes, write_demo_project

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        charter_path = write_demo_project(tmp_path_factory.mktemp("demo"), customers=3000)
        apply_audit_fixes(charter_path)
        project = Project(charter_path)
        project.audit()
        project.train(budget_seconds=3)
        project.registry().store.dispose()  # checkpoints the WAL, so a copy is complete
    return charter_path


@pytest.fixture
def store_demo(store_demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the trained demo project (its `.charter/` store included): its charter."""
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    copy = tmp_path / "demo"
    shutil.copytree(store_demo_template.parent, copy)
    return copy / store_demo_template.name
