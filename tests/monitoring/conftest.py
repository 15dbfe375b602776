"""A trained demo project in production, and a helper that serves it a stream and its outcomes.

Trained once per session (boosted version in production); a test that changes state works on its
own copy of the folder (store, artifacts and prediction log all live in `.charter/` inside it).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from charter.api import Project


@dataclass(frozen=True)
class Trained:
    charter: Path
    boosted: int
    simple: int

    def copy(self, folder: Path) -> Trained:
        shutil.copytree(self.charter.parent, folder)
        return Trained(folder / self.charter.name, self.boosted, self.simple)


@pytest.fixture(scope="session")
def monitored_template(
    tmp_path_factory: pytest.TempPathFactory, loose_demo: Callable[..., Path]
) -> Trained:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        charter = loose_demo(tmp_path_factory.mktemp("monitoring") / "churn")
        project = Project(charter)
        project.audit()
        trained = project.train(budget_seconds=3)
        promotion = project.promote(trained.versions["boosted"])
        assert promotion.moved
        project.registry().store.dispose()
        return Trained(charter, trained.versions["boosted"], trained.versions["simple"])


@pytest.fixture
def monitored(
    monitored_template: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Trained:
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    return monitored_template.copy(tmp_path / "churn")


def serve_stream(
    project: Project, *, shifted: bool, rows: int, seed: int, first_id: int, followed: float = 0.7
) -> list[dict[str, Any]]:
    """Serve `rows` generated customers through the service (logged); return their feedback."""
    from charter._demo_operate import serve_rows
    from charter.demo import demo_stream
    from charter.serving._service import Service

    service = Service(project, watch=False)
    try:
        data = demo_stream(rows, shifted=shifted, seed=seed, first_id=first_id).to_pylist()
        answered, _ = serve_rows(service, data, "churned")
    finally:
        service.close()
    feedback = [
        {
            "prediction_id": answer["prediction_id"],
            "outcome": row["churned"],
            "action_taken": index % 100 < followed * 100,
            "_decision": answer["decision"],
        }
        for index, (row, answer) in enumerate(answered)
    ]
    return feedback


def send_feedback(project: Project, items: list[dict[str, Any]]) -> None:
    from charter.serving._feedback import record_feedback

    clean = [{k: v for k, v in item.items() if not k.startswith("_")} for item in items]
    record_feedback(
        project.registry().store,
        project.charter.project,
        clean,
        source="test",
        classes=["no", "yes"],
    )


@pytest.fixture
def stream() -> Any:
    """`serve_stream`, for tests (conftest modules are not imported by name)."""
    return serve_stream


@pytest.fixture
def feedback() -> Any:
    """`send_feedback`, for tests."""
    return send_feedback
