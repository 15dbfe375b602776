"""Fixtures shared by every test folder."""

from __future__ import annotations

import os

import pytest

POSTGRES_DEFAULT_URL = "postgresql://charter:charter@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session", autouse=True)
def _forest_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled trees go to a cache of the test run's own (child processes inherit it), not the
    user's."""
    os.environ["CHARTER_CACHE"] = str(tmp_path_factory.mktemp("charter-cache"))


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a PostgreSQL server for tests (CHARTER_TEST_POSTGRES, or the local default).

    Skips the test, saying why, when no server answers there.
    """
    import sqlalchemy as sa

    from charter.data import redact_url

    url = os.environ.get("CHARTER_TEST_POSTGRES", POSTGRES_DEFAULT_URL)
    engine_url = sa.make_url(url)
    if engine_url.drivername in {"postgresql", "postgres"}:
        engine_url = engine_url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(engine_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    except Exception as exc:  # any failure to connect means: no server for these tests
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        pytest.skip(
            f"no PostgreSQL server answers at {redact_url(url)} ({reason}); start one or set "
            "CHARTER_TEST_POSTGRES"
        )
    finally:
        engine.dispose()
    return url
