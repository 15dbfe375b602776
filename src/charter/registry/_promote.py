"""Moving aliases: promotion through the gates, overrides on the record, and rollback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from charter.errors import UsageError
from charter.registry._gates import (
    Compare,
    Gate,
    approval_gate,
    baseline_gate,
    documents_gate,
    fairness_gate,
    latency_gate,
    measure_latency,
    regression_gate,
)
from charter.registry._registry import PRODUCTION, Registry, aliases_in, check_alias
from charter.registry._trail import append
from charter.registry._versions import ModelVersion
from charter.spec import Charter

__all__ = ["Promotion", "Rollback", "promote", "rollback"]

Reproduce = Callable[[ModelVersion], Gate]


@dataclass(frozen=True)
class Promotion:
    """What `promote` did: the gates with their evidence, and whether the alias moved."""

    version: ModelVersion
    alias: str
    gates: tuple[Gate, ...]
    moved: bool
    forced: bool
    previous: int | None

    @property
    def failed(self) -> tuple[Gate, ...]:
        return tuple(g for g in self.gates if g.failed)


@dataclass(frozen=True)
class Rollback:
    """What `rollback` did: production moved from one version back to another."""

    from_version: int
    to_version: int
    seq: int


def promote(
    registry: Registry,
    charter: Charter,
    version: ModelVersion,
    *,
    actor: str,
    alias: str = PRODUCTION,
    approved_by: str | None = None,
    force: bool = False,
    reason: str | None = None,
    contract_text: str | None = None,
    compare: Compare | None = None,
    reproduce: Reproduce | None = None,
) -> Promotion:
    """Move `alias` to `version`. For `production`, every gate runs first; a failed gate refuses
    (recorded as `rejected`) unless `force` is given with a `reason` (recorded as `overridden`).
    """
    project = version.project
    check_alias(alias)
    if force and not (reason and reason.strip()):
        raise UsageError(
            "--force needs --reason: say why the gates are overridden; it goes on the audit trail."
        )
    current = registry.aliases(project).get(alias)
    if current == version.number:
        raise UsageError(f"{version.label} is already {alias} of {project}.")
    if alias != PRODUCTION:
        with registry.store.locked(project) as connection:
            previous = aliases_in(connection, project).get(alias)
            registry.move_alias(
                connection,
                project,
                alias,
                version.number,
                actor=actor,
                action="alias_moved",
                reason=reason,
            )
        return Promotion(version, alias, (), True, False, previous)
    gates = _gates(
        registry,
        charter,
        version,
        approved_by=approved_by,
        contract_text=contract_text,
        compare=compare,
        reproduce=reproduce,
    )
    if approved_by is not None and not next(g for g in gates if g.name == "approval").failed:
        registry.record(
            project,
            "approved",
            actor=actor,
            version=version.number,
            reason=reason,
            details={"approved_by": approved_by},
        )
    failed = [g for g in gates if g.failed]
    summary = {g.name: {"status": g.status, "evidence": g.evidence} for g in gates}
    with registry.store.locked(project) as connection:
        previous = aliases_in(connection, project).get(PRODUCTION)
        if previous != current:
            # Production moved while the gates ran: compare against the version there now.
            now_there = registry.version(project, previous) if previous is not None else None
            redo = regression_gate(
                version, now_there, margin=charter.promotion.max_regression, compare=compare
            )
            gates = tuple(redo if g.name == redo.name else g for g in gates)
            failed = [g for g in gates if g.failed]
            summary[redo.name] = {"status": redo.status, "evidence": redo.evidence}
        if failed and not force:
            append(
                connection,
                project,
                actor=actor,
                action="rejected",
                version=version.number,
                alias=PRODUCTION,
                reason=reason,
                details={"gates": summary},
            )
            return Promotion(version, PRODUCTION, tuple(gates), False, False, previous)
        registry.move_alias(
            connection,
            project,
            PRODUCTION,
            version.number,
            actor=actor,
            action="overridden" if failed else "promoted",
            reason=reason,
            details={
                "gates": summary,
                **({"overridden": [g.name for g in failed]} if failed else {}),
            },
        )
    return Promotion(version, PRODUCTION, tuple(gates), True, bool(failed), previous)


def _gates(
    registry: Registry,
    charter: Charter,
    version: ModelVersion,
    *,
    approved_by: str | None,
    contract_text: str | None,
    compare: Compare | None,
    reproduce: Reproduce | None,
) -> tuple[Gate, ...]:
    project = version.project
    production_number = registry.aliases(project).get(PRODUCTION)
    production = (
        registry.version(project, production_number) if production_number is not None else None
    )
    loaded = registry.load(version)
    approvals = [
        str(e.details.get("approved_by", e.actor))
        for e in registry.approvals(project, version.number)
    ]
    gates = [
        baseline_gate(version),
        regression_gate(
            version, production, margin=charter.promotion.max_regression, compare=compare
        ),
        fairness_gate(version, charter.constraints.max_fairness_gap),
        latency_gate(measure_latency(loaded, registry), charter.constraints.latency_ms_p99),
        documents_gate(version, registry, contract_text),
        reproduce(version)
        if reproduce is not None
        else Gate(
            "reproducible", "skip", "not checked; --verify retrains it from its recorded inputs."
        ),
        approval_gate(charter, approvals, approved_by),
    ]
    return tuple(gates)


def rollback(
    registry: Registry,
    project: str,
    *,
    actor: str,
    reason: str,
    to: ModelVersion | None = None,
) -> Rollback:
    """Make the version that served before the current one (or `to`) production again, at once."""
    if not reason.strip():
        raise UsageError("rollback needs --reason: say why; it goes on the audit trail.")
    current = registry.aliases(project).get(PRODUCTION)
    if current is None:
        raise UsageError(
            f"{project} has no version in production, so there is nothing to roll back."
        )
    target = to or _previous(registry, project, current)
    if target.number == current:
        raise UsageError(f"{target.label} is already in production.")
    registry.load(target)  # refuse a target whose files are missing or changed before switching
    with registry.store.locked(project) as connection:
        now = aliases_in(connection, project).get(PRODUCTION)
        if now != current:
            raise UsageError(
                f"production of {project} changed to v{now} meanwhile; check `charter history` and run rollback again."
            )
        entry = registry.move_alias(
            connection,
            project,
            PRODUCTION,
            target.number,
            actor=actor,
            action="rolled_back",
            reason=reason,
            details={"from": current},
        )
    return Rollback(current, target.number, entry.seq)


def _previous(registry: Registry, project: str, current: int) -> ModelVersion:
    stints = registry.history(project, PRODUCTION)
    for stint in reversed(stints[:-1]):
        if stint.version != current:
            return registry.version(project, stint.version)
    raise UsageError(
        f"v{current} is the only version {project} has had in production; name another with --to VERSION."
    )
