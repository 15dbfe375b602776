"""Running the readiness checks in order and adding them up to a verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from charter.audit._access import check_access
from charter.audit._bias import check_bias
from charter.audit._context import AuditContext
from charter.audit._findings import Finding, verdict_of
from charter.audit._leakage import check_leakage
from charter.audit._profile import profile_dataset
from charter.audit._quality import check_quality
from charter.audit._result import AuditResult
from charter.audit._target import check_target
from charter.audit._timeliness import check_timeliness
from charter.audit._volume import check_volume
from charter.data import Dataset
from charter.spec import Charter

__all__ = ["CHECKS", "run_audit"]

Check = Callable[[AuditContext], list[Finding]]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("accessibility", check_access),
    ("target", check_target),
    ("quality", check_quality),
    ("volume", check_volume),
    ("leakage", check_leakage),
    ("timeliness", check_timeliness),
    ("representativeness and bias", check_bias),
)
"""Every check group, in the order they run (cheap scans first, model-based checks later)."""


def run_audit(
    charter: Charter,
    dataset: Dataset,
    *,
    now: datetime | None = None,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> AuditResult:
    """Profile the data, run every readiness check, and return findings with the verdict.

    `on_step` is called with the name of each step as it starts (for progress display).
    """
    started = now or datetime.now(UTC)
    clock = time.perf_counter()
    step = on_step or (lambda _: None)
    step("profile")
    profile = profile_dataset(dataset)
    context = AuditContext(
        charter=charter, dataset=dataset, profile=profile, now=started, seed=seed
    )
    findings: list[Finding] = []
    for name, check in CHECKS:
        step(name)
        findings.extend(check(context))
    ordered = tuple(sorted(findings, key=lambda f: f.severity.rank))
    return AuditResult(
        project=charter.project,
        target=charter.target,
        task=context.task,
        verdict=verdict_of(ordered),
        findings=ordered,
        profile=profile,
        sources=tuple(dataset.sources.values()),
        started=started,
        seconds=time.perf_counter() - clock,
    )
