"""The dashboard (`charter ui`) driven through Debian's Chromium by Playwright, as a person uses it.

A demo workspace is prepared once where every answer is known by construction: audited READY WITH
WARNINGS (data amber), trained with the run's choice beating the baseline (poc green), that
choice promoted through its gates (production green), and served 1,200 customers whose outcomes
all contradict the decisions, then monitored (a critical decay alert: operate red). Each test
serves a copy of it on 127.0.0.1 and opens the views in a real browser: no console error on any
view, a screenshot of each (kept under the test's tmp dir and copied to
`.pytest-artifacts/dashboard/` at the repository's root), the gates, a promotion and a rollback
done with the forms and found on the audit trail, the "why this prediction" form, the keyboard
path and a phone-width page.

Needs playwright (the dev extra) and /usr/bin/chromium (`apt-get install chromium`, as .ci/run
does); Playwright's own browser download is never used. Skipped, saying which is missing, without
them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed (pip install playwright, or the dev extra)",
)
if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, as .ci/run does)",
        allow_module_level=True,
    )

from charter.api import Project  # noqa: E402  (after the skips: nothing to import without a browser)

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / ".pytest-artifacts" / "dashboard"
WINDOW = 600
PHASES = ["define", "data", "poc", "production", "operate"]
# The six views of the nav, by path (the page's own links are compared by their resolved path).
VIEWS = {
    "project": "/",
    "data": "/data",
    "models": "/models",
    "production": "/production",
    "monitoring": "/monitoring",
    "trail": "/trail",
}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


# ---------------------------------------------------------------- the prepared workspace


@dataclass(frozen=True)
class Prepared:
    """A workspace folder and what is known about it by construction."""

    charter: Path
    baseline: int
    simple: int
    production: int
    record: dict[str, Any]  # one customer as a client sends it (no target, dates as text)

    def copy(self, folder: Path) -> Prepared:
        shutil.copytree(self.charter.parent, folder)
        return Prepared(
            folder / self.charter.name, self.baseline, self.simple, self.production, self.record
        )


def _cli_audit(charter: Path) -> None:
    """`charter audit` as a person runs it: it writes audit-latest.json and the HTML report."""
    done = subprocess.run(
        [sys.executable, "-m", "charter", "audit", "-c", str(charter)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _client_record(row: dict[str, Any], target: str) -> dict[str, Any]:
    return {
        k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items() if k != target
    }


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, loose_demo: Callable[..., Path]) -> Prepared:
    from charter._demo_operate import serve_rows
    from charter.demo import demo_stream
    from charter.monitoring._monitor import monitor
    from charter.monitoring._windows import WindowSize
    from charter.serving._feedback import record_feedback
    from charter.serving._service import Service

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        charter = loose_demo(tmp_path_factory.mktemp("dashboard") / "churn")
        _cli_audit(charter)
        project = Project(charter)
        trained = project.train(budget_seconds=1, only=["baseline", "simple"])
        assert trained.selected == "simple"
        promotion = project.promote()  # the run's choice, through every gate
        assert promotion.moved and not any(g.failed for g in promotion.gates)
        service = Service(project, watch=False)
        try:
            rows = (
                demo_stream(WINDOW, shifted=False, seed=31, first_id=800_001).to_pylist()
                + demo_stream(WINDOW, shifted=True, seed=32, first_id=850_001).to_pylist()
            )
            answered, _ = serve_rows(service, rows, project.charter.target)
        finally:
            service.close()
        # Every outcome contradicts its decision: live value far below the promise (critical decay).
        outcomes = [
            {
                "prediction_id": answer["prediction_id"],
                "outcome": "no" if answer["decision"] == "act" else "yes",
                "action_taken": True,
            }
            for _, answer in answered
        ]
        record_feedback(
            project.registry().store,
            project.charter.project,
            outcomes,
            source="test",
            classes=["no", "yes"],
        )
        report = monitor(project, size=WindowSize(rows=WINDOW), count=3)
        assert report.status == "critical", [(a.kind, a.severity) for a in report.alerts]
        project.registry().store.dispose()
        return Prepared(
            charter,
            baseline=trained.versions["baseline"],
            simple=trained.versions["simple"],
            production=promotion.version.number,
            record=_client_record(rows[0], project.charter.target),
        )


@pytest.fixture
def workspace(prepared: Prepared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Prepared:
    """A copy of the prepared workspace this test may change."""
    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    return prepared.copy(tmp_path / "churn")


# ---------------------------------------------------------------- serving it, and a browser


@contextmanager
def _served(charter: Path) -> Iterator[str]:
    """`create_dashboard` over the project at `charter`, on 127.0.0.1; yields the base URL."""
    from charter.reports.dashboard import create_dashboard
    from charter.serving._local import serving

    project = Project(charter)
    try:
        with serving(create_dashboard(project)) as url:
            yield url
    finally:
        project.registry().store.dispose()


@pytest.fixture(scope="module")
def shown(prepared: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The prepared workspace (a copy no test changes), served for the read-only tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CHARTER_STORE", raising=False)
        patch.delenv("CHARTER_ARTIFACTS", raising=False)
        copy = prepared.copy(tmp_path_factory.mktemp("dashboard-shown") / "churn")
        with _served(copy.charter) as url:
            yield Site(url, copy)


@dataclass(frozen=True)
class Site:
    url: str
    workspace: Prepared


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Tab:
    """One page of the browser, with every console error, page error and request it saw."""

    page: Any
    folder: Path
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    # Pages answered with the error status a test asked for: Chromium logs their status as a
    # console error ("Failed to load resource"), which is the point there, not a fault.
    refused: set[str] = field(default_factory=set)

    def expect_refusal(self, response: Any, status: int) -> None:
        assert response.status == status, (response.status, self.text()[:1000])
        self.refused.add(response.url)

    def open(self, url: str, *, status: int = 200) -> Any:
        response = self.page.goto(url)
        assert response is not None, url
        assert response.status == status, f"{url}: {response.status}\n{self.page.content()[:2000]}"
        return response

    def submit(self, form: Any) -> Any:
        """Submit `form` with its own button, as a person does; the response navigated to."""
        button = form.locator('button[type="submit"], input[type="submit"], button:not([type])')
        with self.page.expect_navigation() as navigation:
            button.first.click()
        return navigation.value

    def path(self, selector: str = "") -> str:
        """The path (no query) the page is at, or that the element's href resolves to."""
        if not selector:
            return str(self.page.evaluate("() => location.pathname"))
        return str(self.page.eval_on_selector(selector, "a => new URL(a.href).pathname"))

    def shot(self, name: str) -> Path:
        """A full-page screenshot under the test's tmp dir, copied to .pytest-artifacts/."""
        path = self.folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, ARTIFACTS / path.name)
        return path

    def text(self, selector: str = "main") -> str:
        return " ".join(str(self.page.inner_text(selector)).split())

    def assert_clean(self, base: str) -> None:
        errors = [
            e
            for e in self.errors
            if not (
                "Failed to load resource" in e and any(f"'url': '{u}'" in e for u in self.refused)
            )
        ]
        assert errors == [], errors
        # Works offline: every script, style, font and image comes from the site itself.
        outside = [u for u in self.requests if not u.startswith((base, "data:", "about:"))]
        assert outside == [], outside


def _tab(browser: Any, folder: Path, viewport: dict[str, int]) -> Iterator[Tab]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15_000)
    tab = Tab(page, folder)
    page.on(
        "console",
        lambda m: (
            tab.errors.append(f"console {m.type}: {m.text} at {m.location}")
            if m.type in {"error", "assert"}
            else None
        ),
    )
    page.on("pageerror", lambda e: tab.errors.append(f"page error: {e}"))
    page.on("request", lambda r: tab.requests.append(r.url))
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def tab(browser: Any, tmp_path: Path) -> Iterator[Tab]:
    """A laptop-sized page (1280 px wide)."""
    yield from _tab(browser, tmp_path, DESKTOP)


@pytest.fixture
def phone(browser: Any, tmp_path: Path) -> Iterator[Tab]:
    """A phone-sized page (375 px wide)."""
    yield from _tab(browser, tmp_path, PHONE)


def _gates(tab: Tab) -> dict[str, str]:
    items = tab.page.locator("ol.gates > li.gate")
    phases = [items.nth(i).get_attribute("data-phase") for i in range(items.count())]
    assert phases == PHASES
    return {p: str(items.nth(i).get_attribute("data-state")) for i, p in enumerate(phases)}


def _expected_gates(project: Project) -> dict[str, str]:
    """The gates' states worked out here from the stores, by the spec's rules."""
    questions, problem = project.questions()
    define = "amber" if questions or problem else "green"
    audit = project.workspace / "reports" / "audit-latest.json"
    verdict = json.loads(audit.read_text())["verdict"] if audit.exists() else None
    data = {"READY": "green", "READY WITH WARNINGS": "amber", "NOT READY": "red"}.get(
        verdict or "", "amber"
    )
    versions = project.models()
    if not versions:
        poc = "amber"
    else:
        chosen = project.registry().latest_selected(project.charter.project)
        poc = "green" if (chosen.record.get("gain") or {}).get("beats_baseline") else "red"
    production = "red"
    if "production" in project.registry().aliases(project.charter.project):
        number = project.version("production").number
        moves = [
            e
            for e in project.trail()
            if e.version == number and e.action in {"promoted", "overridden"}
        ]
        production = "green" if moves and moves[-1].action == "promoted" else "amber"
    latest = project.workspace / "monitoring" / "latest.json"
    status = json.loads(latest.read_text())["status"] if latest.exists() else None
    operate = {"ok": "green", "warning": "amber", "critical": "red"}.get(status or "", "amber")
    return {
        "define": define,
        "data": data,
        "poc": poc,
        "production": production,
        "operate": operate,
    }


def _check_frame(tab: Tab, current: str | None) -> None:
    """What every page carries: skip link, the nav of six views, one main, one h1."""
    page = tab.page
    assert page.locator('a.skip[href="#main"]').count() == 1
    assert page.locator("main#main").count() == 1
    assert page.locator("h1").count() == 1
    nav = page.locator('nav[aria-label="Views"]')
    assert nav.count() == 1
    links = nav.locator("a")
    paths = [links.nth(i).evaluate("a => new URL(a.href).pathname") for i in range(links.count())]
    assert set(VIEWS.values()) <= set(paths), paths
    if current is not None:
        marked = nav.locator("a[aria-current]")
        assert marked.count() == 1
        assert marked.evaluate("a => new URL(a.href).pathname") == current


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", [*VIEWS, "version", "why"])
def test_every_view_loads_without_console_errors(shown: Site, tab: Tab, name: str) -> None:
    number = shown.workspace.production
    path = VIEWS.get(name) or {"version": f"/models/{number}", "why": f"/models/{number}/why"}[name]
    response = tab.open(shown.url + path)
    assert response.headers["content-type"].startswith("text/html")
    _check_frame(tab, path if name in VIEWS else None)
    assert tab.text("h1")
    tab.shot(f"view-{name}")
    tab.assert_clean(shown.url)


@pytest.mark.parametrize("path", ["/data/report", "/models/{n}/card"])
def test_stored_reports_are_served_as_they_are(shown: Site, tab: Tab, path: str) -> None:
    number = shown.workspace.production
    response = tab.open(shown.url + path.format(n=number))
    assert response.headers["content-type"].startswith("text/html")
    folder = shown.workspace.charter.parent / ".charter" / "reports"
    if path == "/data/report":  # the newest audit report, byte for byte
        newest = max(folder.glob("audit-*.html"), key=lambda p: p.stat().st_mtime)
        assert response.body() == newest.read_bytes()
    else:
        project = Project(shown.workspace.charter)
        version = project.version(number)
        assert response.body() == project.registry().read(version, "model_card.html")
    tab.shot("report-audit" if "data" in path else "report-model-card")
    # These documents have no icon link, so a browser asks for /favicon.ico (when it gets to it:
    # the console's 404 comes or not by timing); asked here, so a missing icon fails every time.
    icon = tab.page.request.get(shown.url + "/favicon.ico")
    assert icon.status == 200, (
        f"/favicon.ico: {icon.status}; the browser logs it as a console error"
    )
    tab.assert_clean(shown.url)


def test_the_gates_show_the_prepared_workspace(shown: Site, tab: Tab) -> None:
    project = Project(shown.workspace.charter)
    expected = _expected_gates(project)
    # As prepared: audited with warnings, the run's choice beats the baseline and passed its
    # gates into production, and monitoring raised a critical decay alert.
    assert expected == {
        "define": "green",
        "data": "amber",
        "poc": "green",
        "production": "green",
        "operate": "red",
    }
    tab.open(shown.url + "/")
    assert _gates(tab) == expected
    charter = project.charter
    words = tab.text()
    for said in (charter.problem, charter.owner, charter.target):
        assert " ".join(str(said).split()) in words
    gates = tab.page.locator("ol.gates > li.gate")
    evidence = []
    for i in range(gates.count()):
        gate = gates.nth(i)
        assert gate.inner_text().strip()
        link = gate.locator("a[href]")
        assert link.count() >= 1, gate.inner_html()
        evidence.append(link.first.evaluate("a => a.href"))
    tab.shot("gates")
    for url in evidence:  # every gate's evidence is a page that loads
        tab.open(url.split("#")[0])
    tab.assert_clean(shown.url)
    project.registry().store.dispose()


def test_a_fresh_project_shows_what_is_missing(
    tab: Tab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter.demo import write_demo_project

    monkeypatch.delenv("CHARTER_STORE", raising=False)
    monkeypatch.delenv("CHARTER_ARTIFACTS", raising=False)
    charter = write_demo_project(tmp_path / "fresh", customers=300)
    project = Project(charter)
    expected = _expected_gates(project)
    # Never audited, trained nor monitored, nothing in production.
    assert {k: v for k, v in expected.items() if k != "define"} == {
        "data": "amber",
        "poc": "amber",
        "production": "red",
        "operate": "amber",
    }
    with _served(charter) as url:
        tab.open(url + "/")
        assert _gates(tab) == expected
        tab.shot("fresh-project")
        for name, path in VIEWS.items():
            tab.open(url + path)
            _check_frame(tab, path)
            if name == "monitoring":
                assert "charter monitor" in tab.text()
        tab.shot("fresh-monitoring")
        tab.assert_clean(url)
    project.registry().store.dispose()


def test_a_promotion_and_a_rollback_in_the_browser_reach_the_trail(
    workspace: Prepared, tab: Tab
) -> None:
    from charter.registry._keys import Keys

    project = Project(workspace.charter)
    name = project.charter.project
    key, _ = Keys(project.registry().store).create(name, scope="admin", name="t", actor="t")
    # The baseline put in production by an override, so the browser has something to improve on.
    project.promote(workspace.baseline, force=True, reason="test: the baseline, by hand")
    promote_reason = "browser test: the simple model earns more than the baseline"
    rollback_reason = "browser test: going back to the baseline"
    with _served(workspace.charter) as url:
        tab.open(url + "/")
        assert _gates(tab)["production"] == "amber"  # put there by an override

        tab.open(f"{url}/models/{workspace.simple}")
        form = tab.page.locator('form[action$="/actions/promote"]')
        assert form.locator('input[name="key"]').get_attribute("type") == "password"
        form.locator('[name="reason"]').fill(promote_reason)
        form.locator('[name="key"]').fill(key)
        response = tab.submit(form)
        assert response.status == 200 and tab.path() == "/trail", tab.page.url
        assert "done=" in tab.page.url
        assert tab.page.locator('p[role="status"]').is_visible()
        assert promote_reason in tab.text()
        tab.shot("trail-after-promotion")
        assert Project(workspace.charter).version("production").number == workspace.simple
        tab.open(url + "/")
        assert _gates(tab)["production"] == "green"

        tab.open(url + "/production")
        form = tab.page.locator('form[action$="/actions/rollback"]')
        assert form.locator('input[name="key"]').get_attribute("type") == "password"
        form.locator('[name="reason"]').fill(rollback_reason)
        form.locator('[name="key"]').fill(key)
        response = tab.submit(form)
        assert response.status == 200 and tab.path() == "/trail", tab.page.url
        assert tab.page.locator('p[role="status"]').is_visible()
        words = tab.text()
        assert promote_reason in words and rollback_reason in words
        assert tab.page.get_attribute("p#chain", "data-ok") == "true"
        tab.shot("trail-after-rollback")

        # The same entries the CLI would have written, in this order, by the same Project methods.
        after = Project(workspace.charter)
        assert after.version("production").number == workspace.baseline
        last, before = after.trail()[-1], after.trail()[-2]
        assert (before.action, before.version, before.reason) == (
            "promoted",
            workspace.simple,
            promote_reason,
        )
        assert (last.action, last.version, last.reason) == (
            "rolled_back",
            workspace.baseline,
            rollback_reason,
        )
        assert before.details.get("gates"), before.details
        assert after.verify_trail().ok

        # Filtered by action: only the rollback's entry.
        tab.open(url + "/trail?action=rolled_back")
        words = tab.text()
        assert rollback_reason in words and promote_reason not in words
        tab.open(f"{url}/trail?version={workspace.simple}")
        assert promote_reason in tab.text() and rollback_reason not in tab.text()
        tab.assert_clean(url)
        after.registry().store.dispose()
    project.registry().store.dispose()


def test_actions_refuse_with_a_plain_page_and_the_right_status(workspace: Prepared) -> None:
    import httpx

    from charter.registry._keys import Keys

    project = Project(workspace.charter)
    name = project.charter.project
    keys = Keys(project.registry().store)
    admin, _ = keys.create(name, scope="admin", name="admin", actor="t")
    predict, _ = keys.create(name, scope="predict", name="predict", actor="t")
    reason = "test: refused actions"
    cases = [
        ({"version": workspace.simple, "reason": reason, "key": "ck_nope_nope"}, 401),
        ({"version": workspace.simple, "reason": reason}, 401),
        ({"version": workspace.simple, "reason": reason, "key": predict}, 403),
        ({"version": workspace.simple, "reason": "", "key": admin}, 422),
        ({"version": workspace.baseline, "reason": reason, "key": admin}, 409),  # gates refuse
    ]
    with _served(workspace.charter) as url, httpx.Client(base_url=url, timeout=60) as client:
        for form, status in cases:
            answer = client.post("/actions/promote", data=form)
            assert answer.status_code == status, (form, answer.status_code, answer.text[:500])
            assert answer.headers["content-type"].startswith("text/html")
            assert 'role="alert"' in answer.text
        assert "beats the baseline" in answer.text  # the 409 shows each gate
        rollback = client.post("/actions/rollback", data={"reason": reason, "key": predict})
        assert rollback.status_code == 403 and 'role="alert"' in rollback.text
    after = Project(workspace.charter)
    assert after.version("production").number == workspace.production
    assert after.trail()[-1].action == "rejected"  # as `charter promote` records a refusal
    assert after.trail()[-1].version == workspace.baseline
    after.registry().store.dispose()
    project.registry().store.dispose()


def _expected_answer(
    project: Project, number: int, record: dict[str, Any]
) -> tuple[str, list[str]]:
    """The decision and reasons the serving code gives for `record`, worked out here."""
    from charter.serving._service import deploy

    deployed = deploy(project, project.version(number))
    assert not deployed.checker.check(record)
    converted = deployed.checker.convert(record)
    scored = deployed.scorer.score([converted], [record])
    assert scored.decisions is not None
    decision = "act" if bool(scored.decisions[0]) else "no action"
    return decision, deployed.scorer.explain([converted])[0]


def test_why_this_prediction_returns_the_reasons(shown: Site, tab: Tab) -> None:
    project = Project(shown.workspace.charter)
    number = shown.workspace.production
    record = shown.workspace.record
    decision, reasons = _expected_answer(project, number, record)
    assert reasons

    tab.open(f"{shown.url}/models/{number}/why")
    form = tab.page.locator("form", has=tab.page.locator('textarea[name="json"]'))
    form.locator('textarea[name="json"]').fill(json.dumps(record))
    response = tab.submit(form)
    assert response.status == 200
    shown_reasons = tab.page.locator("ul#reasons > li")
    assert shown_reasons.count() >= 1
    words = tab.text("ul#reasons")
    for reason in reasons:
        assert " ".join(reason.split()) in words
    assert decision in tab.text()
    tab.shot("why-answered")

    # A record breaking the contract: its problems, status 422, never a 500.
    broken = {**record, "monthly_charges": "a lot"}
    tab.open(f"{shown.url}/models/{number}/why")
    form = tab.page.locator("form", has=tab.page.locator('textarea[name="json"]'))
    form.locator('textarea[name="json"]').fill(json.dumps(broken))
    tab.expect_refusal(tab.submit(form), 422)
    assert "monthly_charges" in tab.text()
    assert tab.page.locator("ul#reasons > li").count() == 0
    tab.shot("why-refused")
    tab.assert_clean(shown.url)
    project.registry().store.dispose()


def test_why_form_fields_give_the_same_answer(shown: Site, tab: Tab) -> None:
    """One input per feature: filled from the same record, they give the JSON's answer."""
    project = Project(shown.workspace.charter)
    number = shown.workspace.production
    record = shown.workspace.record
    decision, reasons = _expected_answer(project, number, record)
    tab.open(f"{shown.url}/models/{number}/why")
    form = tab.page.locator("form", has=tab.page.locator('textarea[name="json"]'))
    filled = 0
    for feature, value in record.items():
        field_ = form.locator(f'[name="{feature}"]')
        if field_.count() == 0 or value is None:
            continue
        filled += 1
        tag = field_.evaluate("e => e.tagName.toLowerCase()")
        kind = field_.get_attribute("type") or ""
        if tag == "select":
            field_.select_option(str(value))
        elif kind == "checkbox":
            field_.set_checked(bool(value))
        else:
            field_.fill(str(value))
    assert filled >= 5, "the form has no input for most features"
    form.locator('textarea[name="json"]').fill("")
    response = tab.submit(form)
    assert response.status == 200, tab.text()
    words = tab.text("ul#reasons")
    for reason in reasons:
        assert " ".join(reason.split()) in words
    assert decision in tab.text()
    tab.assert_clean(shown.url)
    project.registry().store.dispose()


def test_the_keyboard_reaches_the_skip_link_first_then_the_views(shown: Site, tab: Tab) -> None:
    tab.open(shown.url + "/")
    page = tab.page
    page.keyboard.press("Tab")
    first = page.evaluate(
        """() => {
            const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();
            return {cls: e.className, href: e.getAttribute('href'), outline: s.outlineStyle,
                    shadow: s.boxShadow, width: r.width, height: r.height, top: r.top};
        }"""
    )
    assert "skip" in first["cls"].split() and first["href"] == "#main", first
    # Visible while focused: on screen, with a focus ring.
    assert first["width"] > 0 and first["height"] > 0 and first["top"] >= 0, first
    assert first["outline"] != "none" or first["shadow"] != "none", first
    reached: list[str] = []
    for _ in range(20):
        page.keyboard.press("Tab")
        where = page.evaluate(
            """() => { const e = document.activeElement;
                return {inNav: !!e.closest('nav[aria-label="Views"]'),
                        path: e.href ? new URL(e.href).pathname : null}; }"""
        )
        if where["inNav"]:
            reached.append(where["path"])
        if set(VIEWS.values()) <= set(reached):
            break
    assert set(VIEWS.values()) <= set(reached), reached
    # Enter on the skip link jumps to the main content.
    tab.open(shown.url + "/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("() => location.hash") == "#main"
    tab.assert_clean(shown.url)


def test_a_phone_width_page_does_not_scroll_sideways(shown: Site, phone: Tab) -> None:
    phone.open(shown.url + "/")
    width = phone.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1], f"the project page is {width[0]} px wide at {width[1]} px"
    phone.shot("phone-project")
    for name, path in VIEWS.items():
        if path != "/":
            phone.open(shown.url + path)
            phone.shot(f"phone-{name}")
    phone.assert_clean(shown.url)
