"""Fixtures for the serving tests: a trained, promoted demo project and real services on loopback.

The demo churn project is audited, trained and promoted once per session: v3 (boosted) serves,
v2 (simple, a logistic regression) is registered and free to switch to or shadow. Before training,
its contract is edited the way a user would edit it:

- `contract` accepts one more category, "quarterly", that the data never shows: a record using it
  keeps the contract but lies outside what the model saw (flag `unseen_category`);
- eight of the fourteen features are made nullable, so a record may lack them and be answered with
  the flag `too_many_missing` (8/14 > the default 0.5) instead of being refused.

A test that changes state (keys, aliases, feedback, the prediction log) works on its own copy of
the project folder: the store, the artifacts and the log all live in `.charter/` inside it.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from charter.api import Project
from charter.serving._app import create_app
from charter.serving._local import serving
from charter.serving._service import Service

TARGET = "churned"
ENTITY = "customer_id"
UNSEEN = "quarterly"
NULLABLE = (
    "minutes_used",
    "data_gb",
    "support_calls",
    "logins_last_month",
    "region",
    "region_code",
    "payment_method",
    "total_charges",
)


@dataclass(frozen=True)
class Demo:
    """A trained demo project: its charter, the boosted version (production) and the simple one."""

    charter: Path
    boosted: int
    simple: int

    @property
    def log_folder(self) -> Path:
        return self.charter.parent / ".charter" / "predictions"

    def copy(self, folder: Path) -> Demo:
        """A private copy of the whole project folder (store, artifacts and log included)."""
        shutil.copytree(self.charter.parent, folder)
        return Demo(folder / self.charter.name, self.boosted, self.simple)


@dataclass
class Live:
    """A service answering on 127.0.0.1, the project behind it, and a client for it."""

    url: str
    service: Service
    project: Project
    client: httpx.Client

    def predict(self, body: Any, **params: Any) -> httpx.Response:
        return self.client.post("/v1/predict", json=body, params=params)


def set_serving(charter: Path, settings: Mapping[str, Any]) -> None:
    """Give the charter a `serving:` section (the service reads it when it starts)."""
    text = charter.read_text(encoding="utf-8")
    assert "\nserving:" not in text, "the charter already has a serving section"
    addition = yaml.safe_dump({"serving": dict(settings)}, default_flow_style=False)
    charter.write_text(text.rstrip("\n") + "\n" + addition, encoding="utf-8")


def _json_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A data row as a client sends it: no target, dates as ISO 8601 text."""
    return {
        k: v.isoformat() if isinstance(v, dt.date | dt.datetime) else v
        for k, v in row.items()
        if k != TARGET
    }


def _model_frame(
    project: Project, version: int, rows: Sequence[Mapping[str, Any]], folder: Path
) -> tuple[Any, Any]:
    """(the loaded version, its ModelingFrame of `rows`), read by the training code.

    Independent of the serving code: the rows (data rows, dates as dates) go to a Parquet file and
    the training code's `build_frame` reads them as it read the training data. The frame's rows
    are in its own order; `frame.groups` holds each row's entity.
    """
    from charter.data import read_file
    from charter.modeling._frame import build_frame

    loaded = project.registry().load(project.version(version))
    # the target is not a feature; it only has to hold both classes for the frame to build
    with_target = [{**row, TARGET: ("no", "yes")[i % 2]} for i, row in enumerate(rows)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rows-{len(list(folder.iterdir()))}.parquet"
    pq.write_table(pa.Table.from_pylist(with_target), path)
    frame = build_frame(
        project.charter,
        read_file(path),
        task="classification",
        feature_types=loaded.scoring["feature_types"],
    )
    return loaded, frame


def _model_scores(
    project: Project, version: int, rows: Sequence[Mapping[str, Any]], folder: Path
) -> dict[int, float]:
    """The version's model's own probabilities for `rows`, by entity (calibrated when it is)."""
    from charter.modeling._diagnostics import calibration_map

    loaded, frame = _model_frame(project, version, rows, folder)
    scores = np.asarray(loaded.model.predict(frame), dtype=np.float64)
    calibration = loaded.scoring.get("calibration") or {}
    if calibration.get("method") not in (None, "none"):
        scores = calibration_map(calibration["method"], calibration.get("params", {}))(scores)
    assert frame.groups is not None
    return {int(e): float(s) for e, s in zip(frame.groups, scores, strict=True)}


def _train(charter: Path) -> Demo:
    project = Project(charter)
    project.audit()
    contract = yaml.safe_load(project.contract_path.read_text(encoding="utf-8"))
    columns = contract["columns"]
    assert UNSEEN not in columns["contract"]["categories"]
    columns["contract"]["categories"].append(UNSEEN)
    for name in NULLABLE:
        columns[name]["nullable"] = True
    project.contract_path.write_text(yaml.safe_dump(contract, sort_keys=False), encoding="utf-8")
    trained = project.train(budget_seconds=3)
    boosted, simple = trained.versions["boosted"], trained.versions["simple"]
    promotion = project.promote(boosted)
    assert promotion.moved, promotion.failed
    project.registry().store.dispose()  # checkpoints the WAL, so a copy of the folder is complete
    return Demo(charter, boosted, simple)


@pytest.fixture(scope="session")
def serving_template(
    tmp_path_factory: pytest.TempPathFactory, loose_demo: Callable[..., Path]
) -> Demo:
    """The demo project, trained once, boosted version in production. Never change it: copy it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        return _train(loose_demo(tmp_path_factory.mktemp("serving-demo") / "churn"))


@pytest.fixture
def serving_demo(serving_template: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Demo:
    """A private copy of the trained project, free to change."""
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    return serving_template.copy(tmp_path / "churn")


@pytest.fixture(scope="session")
def serving_rows(serving_template: Demo) -> list[dict[str, Any]]:
    """300 rows of the project's data as read (dates as dates, target included)."""
    rows: list[dict[str, Any]] = (
        Project(serving_template.charter).dataset().to_arrow(max_rows=300).to_pylist()
    )
    assert len({row[ENTITY] for row in rows}) == len(rows)
    return rows


@pytest.fixture(scope="session")
def serving_records(serving_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same 300 rows as a client sends them."""
    return [_json_record(row) for row in serving_rows]


def _start(stack: ExitStack, demo: Demo, *, reload_seconds: float, watch: bool) -> Live:
    project = Project(demo.charter)
    service = Service(project, reload_seconds=reload_seconds, watch=watch)
    stack.callback(service.close)  # after the server stops: flushes every logged prediction
    url = stack.enter_context(serving(create_app(service)))
    client = stack.enter_context(httpx.Client(base_url=url, timeout=30.0))
    return Live(url, service, project, client)


Serve = Callable[..., Live]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Start a service on a project copy: serve(demo, settings={...}, reload_seconds=..., watch=...).

    `settings` become the charter's `serving:` section. Every service is stopped (and its log
    flushed) when the test ends; a test may also stop one earlier with `live.service.close()`.
    """
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    with ExitStack() as stack:

        def start(
            demo: Demo,
            *,
            settings: Mapping[str, Any] | None = None,
            reload_seconds: float = 2.0,
            watch: bool = True,
        ) -> Live:
            if settings:
                set_serving(demo.charter, settings)
            return _start(stack, demo, reload_seconds=reload_seconds, watch=watch)

        yield start


@pytest.fixture(scope="module")
def live(serving_template: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One service for the tests of a module that only read (its project is a private copy)."""
    with pytest.MonkeyPatch.context() as patch, ExitStack() as stack:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        demo = serving_template.copy(tmp_path_factory.mktemp("live") / "churn")
        yield _start(stack, demo, reload_seconds=2.0, watch=True)


# Helpers reach the test modules as fixtures: several folders have a conftest.py, so importing
# one by name is not reliable.


@pytest.fixture(scope="session")
def json_record() -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """json_record(row): a data row as a client sends it (no target, dates as ISO text)."""
    return _json_record


@pytest.fixture(scope="session")
def model_scores() -> Callable[..., dict[int, float]]:
    """model_scores(project, version, rows, folder): the model's own probabilities, by entity."""
    return _model_scores


@pytest.fixture(scope="session")
def model_frame() -> Callable[..., tuple[Any, Any]]:
    """model_frame(project, version, rows, folder): (loaded version, ModelingFrame of the rows)."""
    return _model_frame
