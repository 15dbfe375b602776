"""The dashboard over HTTP: a real server on 127.0.0.1 over a real prepared workspace.

The workspace is the demo project trained once per session (boosted version in production),
audited as `charter audit` does (report and audit-latest.json), served a steady then a shifted
stream with outcomes, and monitored. Tests that change state work on their own copy of it.
Each page is checked against an independent reading of the stores it shows.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
import pytest

from charter.api import Project

VIEWS = ["/", "/data", "/models", "/production", "/monitoring", "/trail"]
CURRENT = {
    "/": "/",
    "/data": "/data",
    "/models": "/models",
    "/models/3": "/models",
    "/models/3/why": "/models",
    "/production": "/production",
    "/monitoring": "/monitoring",
    "/trail": "/trail",
}


# --- a small HTML tree (no parser library is installed) ------------------------------------------

_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "wbr",
}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node]
    parent: Node | None = None
    own_text: str = ""

    def text(self) -> str:
        return " ".join(
            " ".join([self.own_text, *(c.text() for c in self.children)]).split()
        ).strip()

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if (tag is None or child.tag == tag) and all(
                child.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items()
            ):
                found.append(child)
            found.extend(child.all(tag, **attrs))
        return found

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"expected one {tag} {attrs}, found {len(found)}"
        return found[0]

    def by_id(self, ident: str) -> Node:
        return self.one(id=ident)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, [])
        self.at = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, [], self.at)
        self.at.children.append(node)
        if tag not in _VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.at
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.at = node.parent

    def handle_data(self, data: str) -> None:
        self.at.own_text += " " + data


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    return builder.root


# --- the prepared workspace ----------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    charter: Path
    boosted: int
    simple: int
    baseline: int
    admin_key: str
    predict_key: str

    def copy(self, folder: Path) -> Prepared:
        shutil.copytree(self.charter.parent, folder)
        return Prepared(
            folder / self.charter.name,
            self.boosted,
            self.simple,
            self.baseline,
            self.admin_key,
            self.predict_key,
        )


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory, loose_demo: Callable[..., Path]) -> Prepared:
    from charter._atomic import write_text_atomic
    from charter._demo_operate import _serve
    from charter.monitoring._monitor import monitor
    from charter.monitoring._windows import WindowSize
    from charter.registry._keys import Keys
    from charter.reports import write_audit_html

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        patch.setenv("CHARTER_USER", "tester")
        charter = loose_demo(tmp_path_factory.mktemp("dashboard") / "churn")
        project = Project(charter)
        audit = project.audit()
        reports = project.workspace / "reports"
        write_audit_html(audit, reports / f"audit-{audit.started:%Y%m%dT%H%M%S}.html")
        write_text_atomic(reports / "audit-latest.json", json.dumps(audit.to_dict(), indent=2))
        trained = project.train(budget_seconds=3)
        assert project.promote(trained.versions["boosted"], reason="first release").moved
        _serve(project, [(False, 21, 900_001, 600), (True, 22, 950_001, 1200)])
        monitor(project, size=WindowSize(rows=600), count=3)
        keys = Keys(project.registry().store)
        admin, _ = keys.create("churn", scope="admin", name="ops", actor="tester")
        predict, _ = keys.create("churn", scope="predict", name="app", actor="tester")
        project.registry().store.dispose()
        return Prepared(
            charter,
            trained.versions["boosted"],
            trained.versions["simple"],
            trained.versions["baseline"],
            admin,
            predict,
        )


@pytest.fixture
def own(prepared: Prepared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Prepared:
    """A copy of the prepared workspace this test may change."""
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    monkeypatch.setenv("CHARTER_USER", "tester")
    return prepared.copy(tmp_path / "churn")


@contextmanager
def dashboard(charter: Path) -> Iterator[tuple[httpx.Client, Project]]:
    """The dashboard over `charter`'s workspace, served on loopback; a client and the project."""
    from charter.reports.dashboard import create_dashboard
    from charter.serving._local import serving

    project = Project(charter)
    app = create_dashboard(project, warm=False)
    try:
        with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
            yield client, project
    finally:
        app.state.dashboard.close()
        project.registry().store.dispose()


@pytest.fixture(scope="module")
def shared(
    prepared: Prepared, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, Project]]:
    """One server over an untouched copy, for the tests that only read."""
    copy = prepared.copy(tmp_path_factory.mktemp("read-only") / "churn")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        with dashboard(copy.charter) as served:
            yield served


# --- every page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(CURRENT))
def test_every_view_has_the_layout(shared: tuple[httpx.Client, Project], path: str) -> None:
    client, _ = shared
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = parse(answer.text)
    skip = page.one("a", class_="skip")
    assert skip.attrs["href"] == "#main"
    nav = page.one("nav", aria_label="Views")
    links = [a.attrs["href"] for a in nav.all("a")]
    assert links == VIEWS
    current = [a.attrs["href"] for a in nav.all("a") if a.attrs.get("aria-current") == "page"]
    assert current == [CURRENT[path]]
    assert page.one("main").attrs["id"] == "main"
    assert len(page.all("h1")) == 1
    # Offline: every linked style, script, image and form stays on this server.
    for attribute in ("href", "src", "action"):
        for value in re.findall(rf'\s{attribute}="([^"]*)"', answer.text):
            assert value.startswith(("/", "#")), value
    for stylesheet in page.all("link", rel="stylesheet"):
        assert client.get(stylesheet.attrs["href"]).status_code == 200


def test_static_files_are_served(shared: tuple[httpx.Client, Project]) -> None:
    client, _ = shared
    css = client.get("/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/report.css").text.startswith(":root")
    assert client.get("/static/favicon.svg").status_code == 200
    assert client.get("/favicon.ico").headers["content-type"].startswith("image/svg+xml")
    assert client.get("/static/nothing.css").status_code == 404


# --- project: the charter and the five gates ------------------------------------------------------


def _gates(client: httpx.Client) -> dict[str, str]:
    page = parse(client.get("/").text)
    gates = page.one("ol", class_="gates").all("li")
    return {g.attrs["data-phase"]: g.attrs["data-state"] for g in gates}


def test_project_shows_the_charter_and_the_gates_of_the_prepared_workspace(
    shared: tuple[httpx.Client, Project],
) -> None:
    client, project = shared
    page = parse(client.get("/").text)
    text = page.text()
    for words in (project.charter.problem, project.charter.decision, project.charter.owner):
        assert words and words in text
    gates = page.one("ol", class_="gates").all("li")
    assert [g.attrs["data-phase"] for g in gates] == [
        "define",
        "data",
        "poc",
        "production",
        "operate",
    ]
    for gate in gates:
        assert gate.attrs["class"].split()[0] == "gate"
        assert gate.all("a"), "each gate links to its evidence"
    # Independently: what each store says.
    audit = json.loads((project.workspace / "reports" / "audit-latest.json").read_text())
    latest = json.loads((project.workspace / "monitoring" / "latest.json").read_text())
    chosen = project.registry().latest_selected("churn")
    expected = {
        "define": "green" if not project.questions()[0] else "amber",
        "data": {"READY": "green", "READY WITH WARNINGS": "amber", "NOT READY": "red"}[
            audit["verdict"]
        ],
        "poc": "green" if chosen.record["gain"]["beats_baseline"] else "red",
        "production": "green",
        "operate": {"ok": "green", "warning": "amber", "critical": "red"}[latest["status"]],
    }
    assert {g.attrs["data-phase"]: g.attrs["data-state"] for g in gates} == expected


def test_gates_follow_the_stores(own: Prepared) -> None:
    project = Project(own.charter)
    (project.workspace / "monitoring" / "latest.json").unlink()
    (project.workspace / "reports" / "audit-latest.json").unlink()
    project.registry().remove_alias("churn", "production", actor="tester", reason="test")
    project.registry().store.dispose()
    with dashboard(own.charter) as (client, _):
        assert _gates(client) == {
            "define": "green",
            "data": "amber",  # never audited
            "poc": "green",
            "production": "red",  # none in production
            "operate": "amber",  # never monitored
        }
        # The charter is read as its file says now, while the dashboard runs.
        text = own.charter.read_text()
        own.charter.write_text(text.replace("owner: Retention team\n", ""), encoding="utf-8")
        assert _gates(client)["define"] == "amber"  # no owner: an open question
        page = parse(client.get("/").text)
        assert "owner" in page.one("li", data_phase="define").text()
        assert "nobody named yet" in page.one("dl", class_="charter").text()
        own.charter.write_text("project: [unclosed\n", encoding="utf-8")
        assert _gates(client)["define"] == "red"
        assert client.get("/").status_code == 200


def test_an_override_in_production_is_amber(own: Prepared) -> None:
    project = Project(own.charter)
    own.charter.write_text(own.charter.read_text() + "promotion: {approval: required}\n")
    project = Project(own.charter)
    promotion = project.promote(own.simple, force=True, reason="urgent fix")
    assert promotion.moved and promotion.forced
    project.registry().store.dispose()
    with dashboard(own.charter) as (client, _):
        page = parse(client.get("/").text)
        gate = page.one("li", data_phase="production")
        assert gate.attrs["data-state"] == "amber"
        assert "urgent fix" in gate.text() and "approval" in gate.text()


# --- data readiness ------------------------------------------------------------------------------


def test_data_shows_the_verdict_and_every_finding(shared: tuple[httpx.Client, Project]) -> None:
    client, project = shared
    audit = json.loads((project.workspace / "reports" / "audit-latest.json").read_text())
    page = parse(client.get("/data").text)
    assert page.by_id("verdict").attrs["data-verdict"] == audit["verdict"]
    rows = page.by_id("findings").one("tbody").all("tr")
    assert [r.attrs["data-severity"] for r in rows] == [f["severity"] for f in audit["findings"]]
    for row, finding in zip(rows, audit["findings"], strict=True):
        assert finding["check"] in row.text()
        assert " ".join(finding["message"].split()) in row.text()
    charts = page.by_id("charts")  # the report's charts, inline
    assert len(charts.all("svg")) >= 3 and all(f.one("figcaption") for f in charts.all("figure"))
    report = client.get("/data/report")
    assert report.status_code == 200
    (newest,) = (project.workspace / "reports").glob("audit-*.html")
    assert report.content == newest.read_bytes()


def test_data_before_any_audit(own: Prepared) -> None:
    reports = own.charter.parent / ".charter" / "reports"
    shutil.rmtree(reports)
    with dashboard(own.charter) as (client, _):
        page = parse(client.get("/data").text)
        assert "charter audit" in page.one("main").text()
        missing = client.get("/data/report")
        assert missing.status_code == 404
        assert parse(missing.text).one(role="alert")


# --- models --------------------------------------------------------------------------------------


def test_leaderboard_lists_every_version_with_its_figures(
    shared: tuple[httpx.Client, Project],
) -> None:
    client, project = shared
    page = parse(client.get("/models").text)
    rows = page.by_id("leaderboard").one("tbody").all("tr")
    versions = {v.number: v for v in project.models()}
    assert sorted(int(r.attrs["data-version"]) for r in rows) == sorted(versions)
    for row in rows:
        version = versions[int(row.attrs["data-version"])]
        cells = row.all("td")
        text = row.text()
        assert version.candidate in text and version.kind in text
        value = version.record["test"]["value"]
        assert float(cells[2].text().replace(",", "")) == pytest.approx(value, rel=1e-3)
        gain = version.record.get("gain")
        beats = cells[6].attrs["data-beats"]
        if gain is None:
            assert beats == "n/a"
        else:
            assert beats == ("yes" if gain["beats_baseline"] else "no")
        for alias in version.aliases:
            assert alias in text
    assert page.one("svg") is not None  # the newest run against the baseline


def test_a_version_shows_its_gates_threshold_and_lineage(
    shared: tuple[httpx.Client, Project], prepared: Prepared
) -> None:
    client, project = shared
    page = parse(client.get(f"/models/v{prepared.boosted}").text)
    version = project.version(prepared.boosted)
    (promoted,) = [
        e for e in project.trail() if e.action == "promoted" and e.version == prepared.boosted
    ]
    shown = {
        r.attrs["data-gate"]: r.attrs["data-status"]
        for r in page.all("tr")
        if "data-gate" in r.attrs
    }
    assert shown == {
        name.replace("_", " "): gate["status"] for name, gate in promoted.details["gates"].items()
    }
    threshold = project.registry().threshold(version)
    assert threshold is not None
    assert page.by_id("threshold").one("td", class_="num").text() == f"{threshold:.3f}"
    assert version.lineage["charter_sha256"][:12] in page.text()
    keys = [i for i in page.all("input") if i.attrs.get("name") == "key"]
    assert len(keys) == 2 and all(k.attrs["type"] == "password" for k in keys)


def test_the_model_card_is_served_as_stored(
    shared: tuple[httpx.Client, Project], prepared: Prepared
) -> None:
    client, project = shared
    card = client.get(f"/models/{prepared.boosted}/card")
    assert card.status_code == 200
    assert card.content == project.registry().read(
        project.version(prepared.boosted), "model_card.html"
    )


@pytest.mark.parametrize("path", ["/models/99", "/models/abc", "/models/99/why", "/models/0/card"])
def test_unknown_versions_are_a_404_page(shared: tuple[httpx.Client, Project], path: str) -> None:
    client, _ = shared
    answer = client.get(path)
    assert answer.status_code == 404
    assert parse(answer.text).one(role="alert")


# --- why this prediction -------------------------------------------------------------------------


def _form_values(html: str) -> dict[str, str]:
    page = parse(html)
    form = page.one("form", class_="why")
    values = {i.attrs["name"]: i.attrs.get("value", "") for i in form.all("input")}
    for select in form.all("select"):
        chosen = [o for o in select.all("option") if "selected" in o.attrs]
        values[select.attrs["name"]] = chosen[0].attrs["value"] if chosen else ""
    return values


def _service_answer(project: Project, record: dict[str, Any], version: int) -> dict[str, Any]:
    """The prediction service's own answer for `record` (an independent path: its log is dropped)."""
    from charter.serving._service import Service

    service = Service(project, watch=False, log_folder=project.workspace / "scratch-log")
    try:
        assert service.current is not None and service.current.number == version
        return service.predict([record], explain=True)[0]
    finally:
        service.close()


def test_why_explains_a_record_from_the_form_or_as_json(
    shared: tuple[httpx.Client, Project], prepared: Prepared
) -> None:
    client, project = shared
    form = client.get(f"/models/{prepared.boosted}/why")
    assert form.status_code == 200
    values = _form_values(form.text)
    contract = project.contract().columns
    features = project.registry().load(project.version(prepared.boosted)).scoring["features"]
    assert set(features) <= set(values)  # one input per feature
    page = parse(form.text)
    for feature in features:
        rule = contract[feature]
        (field,) = [n for n in page.all() if n.attrs.get("name") == feature]
        if rule.categories:
            assert field.tag == "select"
            assert [o.attrs["value"] for o in field.all("option")][1:] == list(rule.categories)
        elif rule.type == "date":
            assert field.attrs["type"] == "date"
    assert page.one("textarea", name="json")

    answer = client.post(f"/models/{prepared.boosted}/why", data=values)
    assert answer.status_code == 200
    shown = parse(answer.text)
    reasons = [li.text() for li in shown.by_id("reasons").all("li")]
    assert len(reasons) == 3 and all(reasons)

    record = {k: v for k, v in values.items() if v and k != "json"}
    for name, rule in contract.items():
        if name in record and rule.type == "integer":
            record[name] = int(record[name])
        elif name in record and rule.type == "number":
            record[name] = float(record[name])
    expected = _service_answer(project, record, prepared.boosted)
    assert shown.by_id("decision").attrs["data-decision"] == expected["decision"]
    assert shown.by_id("score").text() == f"{100 * expected['score']:.1f}%"
    assert reasons == expected["reasons"]

    as_json = client.post(f"/models/{prepared.boosted}/why", data={"json": json.dumps(record)})
    assert as_json.status_code == 200
    assert [li.text() for li in parse(as_json.text).by_id("reasons").all("li")] == reasons


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tenure_months": "many"}, "tenure_months"),
        ({"tenure_months": "100000"}, "tenure_months"),
        ({"contract": ""}, "contract"),
        ({"json": "{not json"}, "json"),
        ({"json": "[1, 2]"}, "json"),
        ({"json": '{"tenure_months": "x"}'}, "tenure_months"),
    ],
)
def test_why_shows_what_breaks_the_contract(
    shared: tuple[httpx.Client, Project], prepared: Prepared, change: dict[str, str], field: str
) -> None:
    client, _ = shared
    values = _form_values(client.get(f"/models/{prepared.boosted}/why").text)
    answer = client.post(f"/models/{prepared.boosted}/why", data={**values, **change})
    assert answer.status_code == 422
    page = parse(answer.text)
    assert page.one(role="alert")
    assert field in [
        r.attrs["data-field"] for r in page.by_id("problems").all("tr") if "data-field" in r.attrs
    ]
    assert not page.all(id="reasons")


# --- production ----------------------------------------------------------------------------------


def test_production_shows_the_version_and_its_history(
    shared: tuple[httpx.Client, Project], prepared: Prepared
) -> None:
    client, project = shared
    page = parse(client.get("/production").text)
    assert page.by_id("serving").attrs["data-version"] == str(prepared.boosted)
    rows = page.by_id("history").one("tbody").all("tr")
    stints = project.history()
    assert [int(r.attrs["data-version"]) for r in rows] == [s.version for s in reversed(stints)]
    assert "first release" in rows[0].text()
    assert "No shadow version" in page.by_id("shadow").text()
    rollback = page.one("form", action="/actions/rollback")
    assert rollback.one("input", name="key").attrs["type"] == "password"


def test_production_compares_the_shadow_with_production(own: Prepared) -> None:
    from charter._demo_operate import serve_rows
    from charter.demo import demo_stream
    from charter.serving._log import read_log
    from charter.serving._service import Service

    project = Project(own.charter)
    project.promote(own.simple, alias="shadow", reason="try the simple model")
    service = Service(project, watch=False)
    try:
        rows = demo_stream(300, shifted=False, seed=5, first_id=700_001).to_pylist()
        serve_rows(service, rows, "churned", chunk=20)
    finally:
        service.close()
    log = read_log(project.workspace / "predictions")
    both = log.filter(pc.equal(log.column("shadow_version"), own.simple)).to_pylist()
    assert len(both) >= 250
    same = sum(r["decision"] == r["shadow_decision"] for r in both) / len(both)
    difference = sum(r["shadow_score"] - r["score"] for r in both) / len(both)
    project.registry().store.dispose()
    with dashboard(own.charter) as (client, _):
        page = parse(client.get("/production").text)
        shadow = page.by_id("shadow")
        assert shadow.attrs["data-version"] == str(own.simple)
        assert f"{len(both):,}" in shadow.text()
        assert page.by_id("same-decisions").text() == f"{100 * same:.1f}%"
        shown = re.search(r"production\) ([+−\-]?[\d.,e−-]+)", shadow.text())
        assert shown is not None
        assert float(shown.group(1).replace("−", "-").replace("+", "")) == pytest.approx(
            difference, rel=2e-3, abs=1e-4
        )


# --- monitoring ----------------------------------------------------------------------------------


def test_monitoring_shows_the_newest_run_with_its_charts(
    shared: tuple[httpx.Client, Project],
) -> None:
    client, project = shared
    latest = json.loads((project.workspace / "monitoring" / "latest.json").read_text())
    answer = client.get("/monitoring")
    page = parse(answer.text)
    assert page.by_id("monitoring-status").attrs["data-status"] == latest["status"]
    assert len(page.all("svg")) >= 4
    for alert in latest["alerts"]:
        assert " ".join(alert["message"].split())[:60] in page.text()
    assert len(page.all("main")) == 1 and len(page.all("h1")) == 1


def test_monitoring_before_any_run_and_after_a_broken_one(own: Prepared) -> None:
    latest = own.charter.parent / ".charter" / "monitoring" / "latest.json"
    latest.unlink()
    with dashboard(own.charter) as (client, _):
        page = parse(client.get("/monitoring").text)
        assert "charter monitor" in page.by_id("no-monitoring").text()
        latest.write_text("{broken", encoding="utf-8")
        broken = client.get("/monitoring")
        assert broken.status_code == 409
        assert "latest.json" in parse(broken.text).one(role="alert").text()


def test_monitoring_keeps_its_rendering_until_a_new_run(own: Prepared) -> None:
    import hashlib

    latest = own.charter.parent / ".charter" / "monitoring" / "latest.json"
    kept = latest.with_name("latest.dashboard.json")
    with dashboard(own.charter) as (client, _):
        first = client.get("/monitoring").text
        record = json.loads(kept.read_text())
        assert record["source_sha256"] == hashlib.sha256(latest.read_bytes()).hexdigest()
        document = json.loads(latest.read_text())
        latest.write_text(json.dumps({**document, "status": "ok", "alerts": []}))
        page = parse(client.get("/monitoring").text)
        assert page.by_id("monitoring-status").attrs["data-status"] == "ok"
        assert (
            json.loads(kept.read_text())["source_sha256"]
            == hashlib.sha256(latest.read_bytes()).hexdigest()
        )
        latest.write_text(json.dumps(document, indent=2, default=str))
    with dashboard(own.charter) as (client, _):  # a restarted dashboard: the same page
        again = client.get("/monitoring").text
        assert parse(again).one(class_="embedded-report").text() != ""
        assert len(parse(again).all("svg")) == len(parse(first).all("svg"))


# --- the audit trail -----------------------------------------------------------------------------


def test_trail_lists_and_filters_every_entry(
    shared: tuple[httpx.Client, Project], prepared: Prepared
) -> None:
    client, project = shared
    entries = project.trail()
    page = parse(client.get("/trail").text)
    assert page.by_id("chain").attrs["data-ok"] == "true"
    rows = page.by_id("trail").one("tbody").all("tr")
    assert [int(r.attrs["data-seq"]) for r in rows] == [e.seq for e in reversed(entries)]
    for query, keep in (
        ({"action": "registered"}, lambda e: e.action == "registered"),
        ({"version": f"v{prepared.boosted}"}, lambda e: e.version == prepared.boosted),
        ({"actor": "tester"}, lambda e: e.actor == "tester"),
        ({"action": "promoted", "version": str(prepared.simple)}, lambda e: False),
    ):
        filtered = parse(client.get("/trail", params=query).text)
        seqs = [
            int(r.attrs["data-seq"])
            for r in filtered.by_id("trail").one("tbody").all("tr")
            if "data-seq" in r.attrs
        ]
        assert seqs == [e.seq for e in reversed(entries) if keep(e)], query
    bad = client.get("/trail", params={"version": "seven"})
    assert bad.status_code == 422 and parse(bad.text).one(role="alert")


def test_trail_shows_a_tampered_chain(own: Prepared) -> None:
    database = own.charter.parent / ".charter" / "registry.db"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE charter_events SET reason = 'rewritten' WHERE seq = 1")
    with dashboard(own.charter) as (client, _):
        page = parse(client.get("/trail").text)
        assert page.by_id("chain").attrs["data-ok"] == "false"


# --- actions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"reason": "ok"}, 401),
        ({"reason": "ok", "key": "ck_nope_nope"}, 401),
        ({"reason": "ok", "key": "predict"}, 403),
        ({"reason": "  ", "key": "admin"}, 422),
        ({"key": "admin"}, 422),
        ({"version": "two", "reason": "ok", "key": "admin"}, 422),
        ({"version": "99", "reason": "ok", "key": "admin"}, 422),
    ],
)
def test_actions_refuse_without_an_admin_key_and_a_reason(
    shared: tuple[httpx.Client, Project], prepared: Prepared, form: dict[str, str], status: int
) -> None:
    client, project = shared
    keys = {"admin": prepared.admin_key, "predict": prepared.predict_key}
    sent = {k: keys.get(v, v) if k == "key" else v for k, v in form.items()}
    before = len(project.trail())
    actions = ["approve", "promote"] + ([] if "version" in form else ["rollback"])
    for action in actions:
        answer = client.post(
            f"/actions/{action}", data={"version": str(prepared.simple), "by": "Ann", **sent}
        )
        assert answer.status_code == status, (action, answer.text)
        assert answer.headers["content-type"].startswith("text/html")
        assert parse(answer.text).one(role="alert")
    assert len(project.trail()) == before  # nothing recorded


def test_forms_the_dashboard_cannot_read(shared: tuple[httpx.Client, Project]) -> None:
    client, _ = shared
    multipart = client.post("/actions/approve", files={"key": ("k", b"x")})
    assert multipart.status_code == 415
    huge = client.post(
        "/actions/approve",
        content=b"reason=" + b"x" * 300_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    not_utf8 = client.post(
        "/actions/approve",
        content=b"reason=%ff%fe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert not_utf8.status_code in (401, 400)
    wrong_method = client.get("/actions/promote")
    assert wrong_method.status_code == 405
    for answer in (multipart, huge, wrong_method):
        assert answer.headers["content-type"].startswith("text/html")
        assert parse(answer.text).one(role="alert")


def test_approve_promote_and_rollback_go_through_the_gates_onto_the_trail(own: Prepared) -> None:
    own.charter.write_text(own.charter.read_text() + "promotion: {approval: required}\n")
    with dashboard(own.charter) as (client, project):
        key = own.admin_key
        refused = client.post(
            "/actions/promote", data={"version": str(own.simple), "reason": "try", "key": key}
        )
        assert refused.status_code == 409
        page = parse(refused.text)
        assert page.one(role="alert")
        gates = {
            r.attrs["data-gate"]: r.attrs["data-status"]
            for r in page.all("tr")
            if "data-gate" in r.attrs
        }
        assert gates["approval"] == "fail" and len(gates) == 7
        last = project.trail()[-1]
        assert (last.action, last.version, last.reason) == ("rejected", own.simple, "try")

        approved = client.post(
            "/actions/approve",
            data={"version": f"v{own.simple}", "by": "Ann", "reason": "reviewed", "key": key},
        )
        assert approved.status_code == 303
        assert approved.headers["location"].startswith("/trail?done=")
        last = project.trail()[-1]
        assert (last.action, last.version, last.details["approved_by"]) == (
            "approved",
            own.simple,
            "Ann",
        )
        # the trail names who acted: the admin key's holder, through the dashboard
        assert last.actor.startswith("ops (admin key ") and last.actor.endswith(", dashboard)")
        done = parse(client.get(approved.headers["location"]).text)
        assert "approved by Ann" in done.one(role="status").text()

        promoted = client.post(
            "/actions/promote",
            data={"version": str(own.simple), "reason": "approved release", "key": key},
        )
        last = project.trail()[-1]
        if promoted.status_code == 303:
            assert (last.action, last.version) == ("promoted", own.simple)
            assert project.registry().aliases("churn")["production"] == own.simple
            rolled = client.post(
                "/actions/rollback", data={"to": "previous", "reason": "worse", "key": key}
            )
            assert rolled.status_code == 303
            last = project.trail()[-1]
            assert (last.action, last.version, last.reason) == ("rolled_back", own.boosted, "worse")
            assert last.actor.startswith("ops (admin key ")
            trail = parse(client.get(rolled.headers["location"]).text)
            assert "rolled back" in trail.one(role="status").text()
            assert trail.by_id("chain").attrs["data-ok"] == "true"
        else:  # another gate refuses the simple model on this data: still on the trail, as refused
            assert promoted.status_code == 409
            assert (last.action, last.version) == ("rejected", own.simple)


def test_rollback_from_the_production_view(own: Prepared) -> None:
    project = Project(own.charter)
    assert project.promote(own.simple, force=True, reason="hotfix").moved
    project.registry().store.dispose()
    with dashboard(own.charter) as (client, project):
        page = parse(client.get("/production").text)
        options = [o.attrs["value"] for o in page.one("select", name="to").all("option")]
        assert options == ["previous", str(own.boosted)]
        nothing_there = client.post(
            "/actions/rollback", data={"to": "v99", "reason": "x", "key": own.admin_key}
        )
        assert nothing_there.status_code == 409
        rolled = client.post(
            "/actions/rollback",
            data={"to": str(own.boosted), "reason": "hotfix failed", "key": own.admin_key},
        )
        assert rolled.status_code == 303
        assert project.registry().aliases("churn")["production"] == own.boosted
        page = parse(client.get("/production").text)
        assert page.by_id("serving").attrs["data-version"] == str(own.boosted)
        assert "hotfix failed" in page.by_id("history").text()


# --- mounted beside the prediction service ----------------------------------------------------------


def test_serve_ui_mounts_the_dashboard_under_ui(
    prepared: Prepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter.serving._asgi import CHARTER_VARIABLE, UI_VARIABLE, build
    from charter.serving._local import serving

    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    monkeypatch.setenv(CHARTER_VARIABLE, str(prepared.charter))
    monkeypatch.setenv(UI_VARIABLE, "1")
    app = build()
    try:
        with serving(app) as url, httpx.Client(base_url=url) as client:
            assert client.get("/v1/health").json() == {"status": "ok"}
            page = client.get("/ui/models")
            assert page.status_code == 200
            nav = parse(page.text).one("nav", aria_label="Views")
            assert [a.attrs["href"] for a in nav.all("a")] == [f"/ui{v}" for v in VIEWS]
            assert client.get("/ui/static/dashboard.css").status_code == 200
            assert client.get("/ui/models/99").status_code == 404
    finally:
        for route in app.routes:
            sub = getattr(route, "app", None)
            if sub is not None and hasattr(sub, "state") and hasattr(sub.state, "dashboard"):
                sub.state.dashboard.close()
        app.state.service.close()


# --- speed ---------------------------------------------------------------------------------------


def test_every_view_answers_fast(shared: tuple[httpx.Client, Project], prepared: Prepared) -> None:
    client, _ = shared
    paths = [*VIEWS, f"/models/{prepared.boosted}", f"/models/{prepared.boosted}/why"]
    for path in paths:
        client.get(path)  # the first answer may draw a chart or load a model
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        assert time.perf_counter() - started < 0.3, path
