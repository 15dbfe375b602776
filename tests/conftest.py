"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

POSTGRES_DEFAULT_URL = "postgresql://charter:charter@127.0.0.1:5432/postgres"

# The demo charter's constraints, and looser ones under which the demo's models pass the gates
# (the strict fairness gap refuses them: the demo shows that on purpose).
STRICT = "constraints: {latency_ms_p99: 50, explanations: required, max_fairness_gap: 0.1}"
LOOSE = "constraints: {latency_ms_p99: 1000, explanations: required, max_fairness_gap: 0.5}"


def _loose_demo(folder: Path, *, customers: int = 3000) -> Path:
    from charter.demo import apply_audit_fixes, write_demo_project

    charter = write_demo_project(folder, customers=customers)
    apply_audit_fixes(charter)
    text = charter.read_text(encoding="utf-8")
    assert STRICT in text, "the demo charter's constraints changed: update STRICT"
    charter.write_text(text.replace(STRICT, LOOSE), encoding="utf-8")
    return charter


@pytest.fixture(scope="session")
def loose_demo() -> Callable[..., Path]:
    """`loose_demo(folder, customers=3000)`: the demo churn project written to `folder`, the
    audit's fixes applied and its constraints loosened so that its models can pass the gates;
    its charter's path."""
    return _loose_demo


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
