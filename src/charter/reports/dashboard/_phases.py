"""The five phases as gates, each green, amber or red with the reason, from what the stores hold.

define      the charter's open questions      none: green · some: amber · charter invalid: red
data        the latest audit's verdict         READY · READY WITH WARNINGS or never audited · NOT READY
poc         the latest run's choice            beats the baseline · not trained · does not
production  the version in production          passed its gates · put there by an override · none
operate     the latest monitoring run          ok · warning or never monitored · critical
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from charter.errors import CharterError
from charter.registry import PRODUCTION, Entry
from charter.reports._format import number
from charter.reports.dashboard._charts import metric_unit
from charter.reports.dashboard._state import Dashboard
from charter.reports.dashboard._text import moment
from charter.spec import Question

__all__ = ["PhaseGate", "phase_gates"]

State = Literal["green", "amber", "red"]
WORDS: dict[State, str] = {"green": "on track", "amber": "needs attention", "red": "blocked"}


@dataclass(frozen=True)
class PhaseGate:
    phase: str
    name: str
    state: State
    reason: str
    evidence: str  # the view's path, e.g. "/data"
    evidence_label: str

    @property
    def words(self) -> str:
        return WORDS[self.state]


def phase_gates(dashboard: Dashboard) -> list[PhaseGate]:
    """The five gates, in phase order."""
    return [
        _define(dashboard),
        _data(dashboard),
        _poc(dashboard),
        _production(dashboard),
        _operate(dashboard),
    ]


def _define(dashboard: Dashboard) -> PhaseGate:
    def gate(state: State, reason: str) -> PhaseGate:
        return PhaseGate("define", "Define", state, reason, "/", "the charter above")

    problem = dashboard.charter_problem()
    if problem is not None:
        return gate("red", f"The charter file is invalid: {problem}")
    questions, unchecked = dashboard.questions()
    if questions:
        first = questions[0]
        more = f" (and {len(questions) - 1} more)" if len(questions) > 1 else ""
        return gate(
            "amber",
            f"{len(questions)} open question{'s' if len(questions) > 1 else ''}: "
            f"{_question_text(first)}{more}. Run `charter check`.",
        )
    if unchecked is not None:
        return gate(
            "amber", f"The charter is complete, but its data could not be checked: {unchecked}"
        )
    return gate("green", "The charter answers every question: owner, decision, success, baseline.")


def _question_text(question: Question) -> str:
    return f"{question.key}: {question.ask.rstrip('?.')}?"


def _data(dashboard: Dashboard) -> PhaseGate:
    def gate(state: State, reason: str) -> PhaseGate:
        return PhaseGate("data", "Data readiness", state, reason, "/data", "the audit")

    document = dashboard.audit.get()
    if document is None:
        return gate("amber", "Never audited: run `charter audit` to check the data's readiness.")
    verdict = str(document.get("verdict") or "")
    found = document.get("counts")
    counts: dict[object, object] = found if isinstance(found, dict) else {}
    errors, warnings = _count(counts, "error"), _count(counts, "warning")
    audited = f" (audited {moment(document.get('started'))})" if document.get("started") else ""
    if verdict == "READY":
        return gate("green", f"READY: no error or warning{audited}.")
    if verdict == "READY WITH WARNINGS":
        return gate("amber", f"READY WITH WARNINGS: {warnings} warning(s) to review{audited}.")
    if verdict == "NOT READY":
        return gate("red", f"NOT READY: {errors} error(s) block modelling{audited}.")
    return gate(
        "amber", f"The latest audit has no verdict I know ({verdict or 'none'}); audit again."
    )


def _count(counts: dict[object, object], key: str) -> int:
    value = counts.get(key)
    return value if isinstance(value, int) else 0


def _poc(dashboard: Dashboard) -> PhaseGate:
    def gate(state: State, reason: str) -> PhaseGate:
        return PhaseGate("poc", "Proof of concept", state, reason, "/models", "the leaderboard")

    project = dashboard.project
    try:
        chosen = project.registry().latest_selected(project.charter.project)
    except CharterError:
        return gate("amber", "Not trained yet: run `charter train`.")
    gain = chosen.record.get("gain") or {}
    unit = metric_unit(chosen.record.get("metric"))
    if gain.get("beats_baseline"):
        low, high = (gain.get("ci") or [None, None])[:2]
        return gate(
            "green",
            f"{chosen.label} ({chosen.candidate}) beats the baseline by {number(gain.get('value'))} "
            f"{unit} (95% interval {number(low)} to {number(high)}).",
        )
    if not gain:
        return gate(
            "red",
            f"The latest run chose {chosen.label} ({chosen.candidate}): no candidate beat the baseline.",
        )
    return gate(
        "red",
        f"{chosen.label} ({chosen.candidate}) does not beat the baseline with confidence "
        f"(gain {number(gain.get('value'))}, 95% interval {number((gain.get('ci') or [None])[0])} "
        f"to {number((gain.get('ci') or [None, None])[1])}).",
    )


def _production(dashboard: Dashboard) -> PhaseGate:
    def gate(state: State, reason: str) -> PhaseGate:
        return PhaseGate("production", "Production", state, reason, "/production", "production")

    project = dashboard.project
    number_ = project.registry().aliases(project.charter.project).get(PRODUCTION)
    if number_ is None:
        return gate("red", "No version is in production: promote one (`charter promote`).")
    how = _how_promoted(project.trail(), number_)
    if how is not None and how.action == "overridden":
        failed = ", ".join(how.details.get("overridden") or []) or "some gates"
        return gate(
            "amber",
            f"v{number_} is in production by an override of {failed} "
            f"(by {how.actor}: {how.reason or 'no reason given'}).",
        )
    return gate("green", f"v{number_} is in production and passed its gates.")


def _how_promoted(trail: list[Entry], version: int) -> Entry | None:
    """The entry that last put `version` in production through the gates (or around them)."""
    for entry in reversed(trail):
        if (
            entry.alias == PRODUCTION
            and entry.version == version
            and entry.action in ("promoted", "overridden")
        ):
            return entry
    return None


def _operate(dashboard: Dashboard) -> PhaseGate:
    def gate(state: State, reason: str) -> PhaseGate:
        return PhaseGate("operate", "Operate", state, reason, "/monitoring", "monitoring")

    run = dashboard.monitoring_status.get()
    if run is None:
        return gate("amber", "Never monitored: run `charter monitor` over the prediction log.")
    at = f" (run {moment(run.generated)})" if run.generated else ""
    if run.status == "ok":
        return gate("green", f"The latest monitoring run passed every rule{at}.")
    first = _first_sentence(str(run.alerts[0].get("message") or "")) if run.alerts else ""
    alerts = f"{len(run.alerts)} alert(s)" + (f", first: {first}" if first else "")
    if run.status == "critical":
        return gate("red", f"Critical: {alerts}{at}.")
    return gate("amber", f"Warning: {alerts}{at}.")


def _first_sentence(text: str, limit: int = 140) -> str:
    """An alert's gist: its text up to the first colon or full stop, at most `limit` characters."""
    for mark in (": ", ". "):
        if mark in text:
            text = text.split(mark, 1)[0]
    text = text.strip().rstrip(".")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
