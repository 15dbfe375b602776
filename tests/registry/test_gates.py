"""Each promotion gate's pass and fail, on versions built by hand with the fields the gates read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.errors import CharterError
from charter.registry import ArtifactStore, MetadataStore, ModelVersion, NewVersion, Registry
from charter.registry._gates import (
    approval_gate,
    baseline_gate,
    documents_gate,
    fairness_gate,
    latency_gate,
    regression_gate,
)
from charter.registry._versions import CARD, CONTRACT
from charter.spec import Charter
from charter.spec._load import parse_charter

CHARTER_TEXT = """\
project: churn
target: churned
task: classification
positive_class: "yes"
data:
  sources:
    customers: data/customers.parquet
success:
  metric: net_value
  value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}
  beat_baseline_by: 10%
"""

GAIN = {"value": 15.9, "ci": [8.1925, 24.2], "target": 0.1, "beats_baseline": True}


def record(
    *,
    test_value: float = 23.1,
    gain: dict[str, Any] | None = None,
    fairness: dict[str, Any] | None = None,
    test_sha256: str = "a" * 64,
    test_rows: int = 600,
    artifacts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A version's record shaped like `version_record` writes it, with only what the gates read."""
    return {
        "schema_version": 1,
        "task": "classification",
        "metric": "net_value",
        "test": {"value": test_value, "value_ci": [test_value - 5, test_value + 5]},
        "gain": gain,
        "fairness": fairness,
        "lineage": {"holdout": {"test_sha256": test_sha256, "test_rows": test_rows}},
        "artifacts": artifacts or {},
    }


def version(
    number: int = 2, *, kind: str = "simple", location: str = "", **fields: Any
) -> ModelVersion:
    return ModelVersion(
        project="churn",
        number=number,
        candidate=kind,
        kind=kind,
        run="20250101T000000",
        selected=kind != "baseline",
        created="2025-01-01T00:00:00+00:00",
        created_by="tester",
        location=location or f"churn/{number}",
        record=record(**fields),
    )


def charter(promotion: str = "") -> Charter:
    return parse_charter(CHARTER_TEXT + promotion)


# --- beats the baseline --------------------------------------------------------------------------


def test_baseline_gate_passes_showing_the_gain_its_interval_and_the_target():
    gate = baseline_gate(version(gain=GAIN))
    assert gate.name == "beats the baseline"
    assert gate.status == "pass"
    assert "net_value gain +15.9 per row" in gate.evidence
    assert "95% interval +8.193 to +24.2" in gate.evidence
    assert "10%" in gate.evidence


def test_the_baseline_itself_cannot_pass():
    gate = baseline_gate(version(1, kind="baseline", gain=None))
    assert gate.failed
    assert "v1 is the baseline itself" in gate.evidence


def test_a_version_without_a_measured_gain_fails():
    gate = baseline_gate(version(gain=None))
    assert gate.failed
    assert "no baseline was trained" in gate.evidence


@pytest.mark.parametrize("low", [-0.5, 0.0])
def test_an_interval_reaching_zero_fails_even_when_the_target_is_met(low):
    gate = baseline_gate(version(gain={**GAIN, "ci": [low, 24.2]}))
    assert gate.failed
    assert "reaches zero" in gate.evidence


def test_a_sure_gain_short_of_the_charter_target_fails():
    gain = {**GAIN, "value": 0.4, "ci": [0.1, 0.7], "beats_baseline": False}
    gate = baseline_gate(version(gain=gain))
    assert gate.failed
    assert "short of 10% of the baseline's value" in gate.evidence


# --- no worse than production ------------------------------------------------------------------


def test_without_a_production_version_the_regression_gate_passes():
    gate = regression_gate(version(), None, margin=0.01, compare=None)
    assert gate.status == "pass"
    assert "no version is in production" in gate.evidence


@pytest.mark.parametrize(
    ("new", "old", "margin", "status"),
    [
        # 1% of 200 is 2.0: 198 is exactly the allowed drop, 197.9 is past it.
        (198.0, 200.0, 0.01, "pass"),
        (197.9, 200.0, 0.01, "fail"),
        (250.0, 200.0, 0.01, "pass"),
        # On a negative value the allowed drop is taken from its size: 10% of |-100| is 10.
        (-110.0, -100.0, 0.10, "pass"),
        (-110.5, -100.0, 0.10, "fail"),
        # A margin of zero tolerates no drop at all.
        (199.99, 200.0, 0.0, "fail"),
        (200.0, 200.0, 0.0, "pass"),
    ],
)
def test_on_the_same_test_rows_the_margin_decides(new, old, margin, status):
    production = version(2, test_value=old)
    gate = regression_gate(version(4, test_value=new), production, margin=margin, compare=None)
    assert gate.name == "no worse than production"
    assert gate.status == status
    assert "vs production v2" in gate.evidence
    assert "on the same 600 test rows" in gate.evidence


def test_the_evidence_states_the_allowed_drop():
    gate = regression_gate(
        version(4, test_value=197.9), version(2, test_value=200.0), margin=0.01, compare=None
    )
    assert "allowed drop 2 (1%)" in gate.evidence
    assert "197.9" in gate.evidence and "200" in gate.evidence


def test_on_different_test_rows_the_compare_callback_retests_both():
    calls: list[tuple[int, int]] = []

    def compare(new: ModelVersion, production: ModelVersion) -> tuple[float, float, int]:
        calls.append((new.number, production.number))
        return 99.0, 100.0, 750

    # The recorded values would fail (10 vs 100); today's re-test (99 vs 100) is what counts.
    new = version(4, test_value=10.0, test_sha256="b" * 64)
    production = version(2, test_value=100.0)
    gate = regression_gate(new, production, margin=0.01, compare=compare)
    assert calls == [(4, 2)]
    assert gate.status == "pass"
    assert "re-tested on today's 750 test rows" in gate.evidence

    def worse(new: ModelVersion, production: ModelVersion) -> tuple[float, float, int]:
        return 98.9, 100.0, 750

    assert regression_gate(new, production, margin=0.01, compare=worse).failed


def test_a_failed_retest_fails_the_gate_with_its_reason():
    def broken(new: ModelVersion, production: ModelVersion) -> tuple[float, float, int]:
        raise CharterError("data/customers.parquet is missing")

    new = version(4, test_sha256="b" * 64)
    gate = regression_gate(new, version(2), margin=0.01, compare=broken)
    assert gate.failed
    assert "re-testing both failed" in gate.evidence
    assert "data/customers.parquet is missing" in gate.evidence


def test_on_different_test_rows_without_a_way_to_retest_the_gate_fails():
    new = version(4, test_value=500.0, test_sha256="b" * 64)
    gate = regression_gate(new, version(2, test_value=1.0), margin=0.01, compare=None)
    assert gate.failed
    assert "v4 and production v2 were tested on different rows" in gate.evidence


# --- fairness ------------------------------------------------------------------------------------

FOUND = {"gap": 0.12, "metric": "false_positive_rate", "column": "gender"}


def test_a_fairness_gap_above_the_limit_fails():
    gate = fairness_gate(version(fairness=FOUND), 0.1)
    assert gate.failed
    assert "largest gap 0.120 in false positive rate across gender; limit 0.100" in gate.evidence


@pytest.mark.parametrize("limit", [0.15, 0.12])
def test_a_fairness_gap_within_the_limit_passes(limit):
    assert fairness_gate(version(fairness=FOUND), limit).status == "pass"


def test_without_a_fairness_limit_the_gate_passes_and_says_so():
    gate = fairness_gate(version(fairness=FOUND), None)
    assert gate.status == "pass"
    assert "0.120" in gate.evidence
    assert "sets no limit (constraints.max_fairness_gap)" in gate.evidence


def test_without_a_sensitive_group_the_fairness_gate_passes_and_says_why():
    gate = fairness_gate(version(fairness=None), 0.1)
    assert gate.status == "pass"
    assert "no sensitive group" in gate.evidence


# --- latency -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measured", "limit", "status"),
    [(12.5, 50.0, "pass"), (50.0, 50.0, "pass"), (50.01, 50.0, "fail"), (0.2, 0.0001, "fail")],
)
def test_latency_is_measured_against_the_limit(measured, limit, status):
    gate = latency_gate(measured, limit)
    assert gate.name == "latency"
    assert gate.status == status
    assert f"p99 {measured:.2f} ms" in gate.evidence
    assert f"limit {limit:g} ms" in gate.evidence


def test_without_a_latency_limit_the_gate_passes_and_says_so():
    gate = latency_gate(900.0, None)
    assert gate.status == "pass"
    assert "sets no limit (constraints.latency_ms_p99)" in gate.evidence


# --- approval ------------------------------------------------------------------------------------

REQUIRED = "promotion: {approval: required, approvers: [Dana, Lee]}\n"


def test_required_approval_without_one_fails_naming_who_may_approve():
    gate = approval_gate(charter(REQUIRED), [], None)
    assert gate.failed
    assert "one of: Dana, Lee" in gate.evidence
    assert "--approved-by NAME" in gate.evidence


def test_approved_by_a_named_approver_passes():
    gate = approval_gate(charter(REQUIRED), [], "Dana")
    assert gate.status == "pass"
    assert gate.evidence == "approved by Dana."


def test_approved_by_someone_not_among_the_approvers_fails():
    gate = approval_gate(charter(REQUIRED), ["Lee"], "Eve")
    assert gate.failed
    assert "Eve is not among the charter's approvers (Dana, Lee)" in gate.evidence


def test_an_earlier_approval_on_record_counts():
    gate = approval_gate(charter(REQUIRED), ["Lee", "Lee"], None)
    assert gate.status == "pass"
    assert gate.evidence == "approved by Lee."


def test_an_earlier_approval_by_a_non_approver_does_not_count():
    assert approval_gate(charter(REQUIRED), ["Eve"], None).failed


def test_required_approval_with_no_approvers_listed_accepts_any_named_person():
    gate = approval_gate(charter("promotion: {approval: required}\n"), [], "Sam")
    assert gate.status == "pass"
    assert approval_gate(charter("promotion: {approval: required}\n"), [], None).failed


def test_optional_approval_is_skipped_unless_someone_approves():
    assert approval_gate(charter(), [], None).status == "skip"
    assert approval_gate(charter(), [], "Sam").status == "pass"


# --- contract and model card ------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    store = MetadataStore(f"sqlite:///{tmp_path / 'registry.db'}")
    yield Registry(store, ArtifactStore(str(tmp_path / "artifacts")))
    store.dispose()


def registered(registry: Registry, files: dict[str, bytes]) -> ModelVersion:
    new = NewVersion(
        candidate="simple",
        kind="simple",
        run="20250101T000000",
        selected=True,
        files=files,
        record=record(gain=GAIN),
    )
    (found,) = registry.register(
        "churn", [new], actor="tester", documents={"charter_sha256": "c" * 64}
    )
    return found


def card(candidate: str) -> bytes:
    """A model card naming the candidate it belongs to, as `render_version_cards` writes it."""
    return (
        f"<html><dl><dt>This card's candidate</dt><dd>{candidate}, the run's chosen candidate."
        "</dd></dl></html>"
    ).encode()


DOCUMENTS = {CONTRACT: b"columns: {}\n", CARD: card("simple")}


def test_documents_stored_with_the_version_pass(registry):
    found = registered(registry, DOCUMENTS)
    gate = documents_gate(found, registry, "columns: {}\n")
    assert gate.name == "contract and model card"
    assert gate.status == "pass"
    assert gate.evidence.startswith("both stored with v1, SHA-256 verified")
    assert "contract.yaml has changed" not in gate.evidence


def test_a_model_card_of_another_candidate_fails(registry):
    found = registered(registry, {**DOCUMENTS, CARD: card("boosted")})
    gate = documents_gate(found, registry, None)
    assert gate.failed
    assert "is not simple's card" in gate.evidence


def test_a_contract_changed_since_training_passes_with_a_note(registry):
    found = registered(registry, DOCUMENTS)
    gate = documents_gate(found, registry, "columns: {age: {min: 0}}\n")
    assert gate.status == "pass"
    assert "contract.yaml has changed since" in gate.evidence


def test_a_version_without_its_contract_fails_advising_charter_audit(registry):
    found = registered(registry, {CARD: DOCUMENTS[CARD]})
    gate = documents_gate(found, registry, None)
    assert gate.failed
    assert "registered without its data contract" in gate.evidence
    assert "run `charter audit`" in gate.evidence


def test_a_version_without_its_model_card_fails(registry):
    found = registered(registry, {CONTRACT: DOCUMENTS[CONTRACT]})
    gate = documents_gate(found, registry, None)
    assert gate.failed
    assert "without its model card; train again" in gate.evidence


def test_a_model_card_changed_in_the_store_fails(registry, tmp_path):
    found = registered(registry, DOCUMENTS)
    stored = tmp_path / "artifacts" / found.location / CARD
    assert stored.read_bytes() == DOCUMENTS[CARD]
    stored.write_bytes(DOCUMENTS[CARD].replace(b"chosen", b"kindest"))
    gate = documents_gate(found, registry, None)
    assert gate.failed
    assert f"{found.location}/{CARD} does not match the SHA-256" in gate.evidence


def test_a_contract_deleted_from_the_store_fails(registry, tmp_path):
    found = registered(registry, DOCUMENTS)
    (tmp_path / "artifacts" / found.location / CONTRACT).unlink()
    gate = documents_gate(found, registry, None)
    assert gate.failed
    assert f"{CONTRACT} is missing" in gate.evidence
