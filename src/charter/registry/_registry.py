"""The registry: versions, where each alias points, and the trail of every change, in one store."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from charter.errors import CharterError, UsageError
from charter.modeling._artifacts import deserialise_candidate
from charter.modeling._candidates import Candidate
from charter.registry._files import ArtifactStore
from charter.registry._schema import ALIASES, EVENTS, PROJECTS, VERSIONS
from charter.registry._store import MetadataStore, now_text
from charter.registry._trail import Entry, TrailCheck, append, entries, verify
from charter.registry._versions import MANIFEST, SCORING, ModelVersion

__all__ = [
    "MOVES",
    "PRODUCTION",
    "LoadedVersion",
    "NewVersion",
    "Registry",
    "Stint",
    "aliases_in",
    "check_alias",
]

PRODUCTION = "production"
MOVES = ("promoted", "overridden", "rolled_back", "alias_moved")
"""Trail actions that move an alias."""
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,99}$")


@dataclass(frozen=True)
class NewVersion:
    """A trained candidate ready to register: its files and what it states about itself."""

    candidate: str
    kind: str
    run: str
    selected: bool
    files: Mapping[str, bytes]
    record: dict[str, Any]


@dataclass(frozen=True)
class LoadedVersion:
    """A version's model, checked against its digests, and how to score with it."""

    version: ModelVersion
    model: Candidate
    scoring: dict[str, Any]


@dataclass(frozen=True)
class Stint:
    """A period during which one version held an alias."""

    version: int
    since: str
    until: str | None
    action: str
    actor: str
    reason: str | None
    seq: int


class Registry:
    """Versions, aliases and the audit trail of one store, for any number of projects.

    Example:
        >>> registry = Registry(MetadataStore("sqlite:///r.db"), ArtifactStore("artifacts"))  # doctest: +SKIP
        >>> [v.label for v in registry.versions("churn")]  # doctest: +SKIP
        ['v1', 'v2', 'v3']
    """

    def __init__(self, store: MetadataStore, files: ArtifactStore) -> None:
        self.store = store
        self.files = files

    # --- registering ---------------------------------------------------------------------------

    def register(
        self,
        project: str,
        new: Sequence[NewVersion],
        *,
        actor: str,
        documents: Mapping[str, str | None],
    ) -> list[ModelVersion]:
        """Store the files of every new version, then make them visible in one transaction.

        `documents` holds the charter's and the contract's SHA-256 (`charter_sha256`,
        `contract_sha256`): a change since the last record goes on the trail first.
        """
        located = []
        for version in new:
            location = f"{project}/{uuid.uuid4().hex}"
            digests = self.files.put(location, version.files)
            located.append((version, location, digests))
        registered: list[ModelVersion] = []
        with self.store.locked(project) as connection:
            self._note_documents(connection, project, actor=actor, documents=documents)
            number = _last_number(connection, project)
            for version, location, digests in located:
                number += 1
                record = {**version.record, "artifacts": digests}
                created = now_text()
                connection.execute(
                    VERSIONS.insert().values(
                        project=project,
                        number=number,
                        candidate=version.candidate,
                        kind=version.kind,
                        run=version.run,
                        selected=version.selected,
                        created=created,
                        created_by=actor,
                        location=location,
                        record=json.dumps(record, sort_keys=True, default=str),
                    )
                )
                test = record.get("test", {})
                append(
                    connection,
                    project,
                    actor=actor,
                    action="registered",
                    version=number,
                    details={
                        "candidate": version.candidate,
                        "kind": version.kind,
                        "run": version.run,
                        "selected": version.selected,
                        "test_value": test.get("value"),
                        **{k: v for k, v in documents.items()},
                    },
                )
                registered.append(
                    ModelVersion(
                        project,
                        number,
                        version.candidate,
                        version.kind,
                        version.run,
                        version.selected,
                        created,
                        actor,
                        location,
                        record,
                    )
                )
        return registered

    def note_documents(
        self, project: str, *, actor: str, documents: Mapping[str, str | None]
    ) -> None:
        """Put a change of the charter or the contract since the last record on the trail."""
        with self.store.locked(project) as connection:
            self._note_documents(connection, project, actor=actor, documents=documents)

    def _note_documents(
        self,
        connection: Connection,
        project: str,
        *,
        actor: str,
        documents: Mapping[str, str | None],
    ) -> None:
        known = _last_documents(connection, project)
        for key, action in (
            ("charter_sha256", "charter_changed"),
            ("contract_sha256", "contract_changed"),
        ):
            if key not in documents or key not in known or known[key] == documents[key]:
                continue
            append(
                connection,
                project,
                actor=actor,
                action=action,
                details={key: documents[key], "previous": known[key]},
            )

    # --- reading -------------------------------------------------------------------------------

    def projects(self) -> list[str]:
        with self.store.read() as connection:
            return list(
                connection.execute(select(PROJECTS.c.name).order_by(PROJECTS.c.name)).scalars()
            )

    def versions(self, project: str) -> list[ModelVersion]:
        """Every version of `project`, oldest first, with the aliases that point at each."""
        with self.store.read() as connection:
            aliases = aliases_in(connection, project)
            rows = connection.execute(
                select(VERSIONS).where(VERSIONS.c.project == project).order_by(VERSIONS.c.number)
            ).all()
        return [_version(row, aliases) for row in rows]

    def aliases(self, project: str) -> dict[str, int]:
        with self.store.read() as connection:
            return aliases_in(connection, project)

    def version(self, project: str, ref: str | int) -> ModelVersion:
        """A version by number (`3`, `v3`) or by alias (`production`)."""
        with self.store.read() as connection:
            aliases = aliases_in(connection, project)
            number = _number(ref, aliases, project)
            row = connection.execute(
                select(VERSIONS).where(VERSIONS.c.project == project, VERSIONS.c.number == number)
            ).first()
            if row is None:
                last = _last_number(connection, project)
                known = f"versions are v1–v{last}" if last else "no version is registered yet"
                raise UsageError(
                    f"{project} has no version v{number}; {known}. `charter models` lists them."
                )
        return _version(row, aliases)

    def latest_selected(self, project: str) -> ModelVersion:
        """The version chosen by the most recent training run."""
        with self.store.read() as connection:
            row = connection.execute(
                select(VERSIONS)
                .where(VERSIONS.c.project == project, VERSIONS.c.selected.is_(True))
                .order_by(VERSIONS.c.number.desc())
                .limit(1)
            ).first()
            aliases = aliases_in(connection, project)
        if row is None:
            raise UsageError(f"{project} has no registered version yet; run `charter train` first.")
        return _version(row, aliases)

    def read(self, version: ModelVersion, name: str) -> bytes:
        """One of the version's files, checked against its recorded SHA-256."""
        digest = version.artifacts.get(name)
        if digest is None:
            raise CharterError(f"{version.project} {version.label} has no file {name!r}.")
        return self.files.get(version.location, name, digest)

    def load(self, version: ModelVersion) -> LoadedVersion:
        """The version's model and scoring settings; every file is checked before it is read."""
        manifest = json.loads(self.read(version, MANIFEST))
        contents = {name: self.read(version, name) for name in manifest.get("files", {})}
        where = f"{self.files.url.rstrip('/')}/{version.location}"
        for name, digest in manifest.get("files", {}).items():
            if version.artifacts.get(name) != digest:
                raise CharterError(
                    f"{where}/{MANIFEST} does not match the version's record for {name}."
                )
        model = deserialise_candidate(manifest, contents, where=where)
        return LoadedVersion(version, model, json.loads(self.read(version, SCORING)))

    # --- aliases and the trail -----------------------------------------------------------------

    def move_alias(
        self,
        connection: Connection,
        project: str,
        alias: str,
        number: int,
        *,
        actor: str,
        action: str,
        reason: str | None,
        details: Mapping[str, Any] | None = None,
    ) -> Entry:
        """Point `alias` at version `number` and record it; call inside `store.locked(project)`."""
        check_alias(alias)
        previous = aliases_in(connection, project).get(alias)
        entry = append(
            connection,
            project,
            actor=actor,
            action=action,
            version=number,
            alias=alias,
            reason=reason,
            details={"previous": previous, **(details or {})},
        )
        values = {"version": number, "since": entry.at, "event_seq": entry.seq}
        updated = connection.execute(
            ALIASES.update()
            .where(ALIASES.c.project == project, ALIASES.c.alias == alias)
            .values(**values)
        )
        if updated.rowcount == 0:
            connection.execute(ALIASES.insert().values(project=project, alias=alias, **values))
        return entry

    def remove_alias(self, project: str, alias: str, *, actor: str, reason: str | None) -> Entry:
        """Take `alias` off whatever version it points at, on the trail."""
        with self.store.locked(project) as connection:
            current = aliases_in(connection, project).get(alias)
            if current is None:
                raise UsageError(f"{project} has no alias {alias!r} to remove.")
            entry = append(
                connection,
                project,
                actor=actor,
                action="alias_moved",
                version=current,
                alias=alias,
                reason=reason,
                details={"removed": True},
            )
            connection.execute(
                ALIASES.delete().where(ALIASES.c.project == project, ALIASES.c.alias == alias)
            )
        return entry

    def record(
        self,
        project: str,
        action: str,
        *,
        actor: str,
        version: int | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Entry:
        """Append one entry to the project's trail."""
        with self.store.locked(project) as connection:
            return append(
                connection,
                project,
                actor=actor,
                action=action,
                version=version,
                reason=reason,
                details=details,
            )

    def trail(self, project: str) -> list[Entry]:
        with self.store.read() as connection:
            return entries(connection, project)

    def verify(self, project: str) -> TrailCheck:
        """Check the project's whole trail: every hash, every link, and the recorded head."""
        with self.store.read() as connection:
            trail = entries(connection, project)
            head = connection.execute(
                select(PROJECTS.c.trail_length, PROJECTS.c.trail_head).where(
                    PROJECTS.c.name == project
                )
            ).first()
        if head is None:
            return TrailCheck(
                entries=len(trail),
                head="",
                problems=(
                    (f"the store has entries for {project} but no record of its trail's head.",)
                    if trail
                    else ()
                ),
            )
        return verify(trail, length=head.trail_length, head=head.trail_head)

    def history(self, project: str, alias: str = PRODUCTION) -> list[Stint]:
        """Which version held `alias` when, oldest first."""
        moves = [
            e
            for e in self.trail(project)
            if e.action in MOVES and e.alias == alias and not e.details.get("removed")
        ]
        stints = []
        for index, entry in enumerate(moves):
            assert entry.version is not None
            until = moves[index + 1].at if index + 1 < len(moves) else None
            stints.append(
                Stint(
                    entry.version,
                    entry.at,
                    until,
                    entry.action,
                    entry.actor,
                    entry.reason,
                    entry.seq,
                )
            )
        return stints

    def threshold(self, version: ModelVersion) -> float | None:
        """The decision threshold in force: the last one set on the trail, else the trained one."""
        changes = [
            e
            for e in self.trail(version.project)
            if e.action == "threshold_changed" and e.version == version.number
        ]
        if changes:
            return float(changes[-1].details["threshold"])
        recorded = version.record.get("threshold")
        return None if recorded is None else float(recorded)

    def set_threshold(
        self, version: ModelVersion, value: float, *, actor: str, reason: str
    ) -> Entry:
        """Change the decision threshold a classification version decides at; on the trail."""
        if version.record.get("task") != "classification":
            raise UsageError(
                f"{version.label} is a regression model; it has no decision threshold."
            )
        if not 0.0 < value < 1.0:
            raise UsageError(f"a threshold must lie between 0 and 1 (exclusive), got {value:g}.")
        if not reason.strip():
            raise UsageError(
                "changing a threshold needs --reason: say why; it goes on the audit trail."
            )
        return self.record(
            version.project,
            "threshold_changed",
            actor=actor,
            version=version.number,
            reason=reason,
            details={"threshold": value, "previous": self.threshold(version)},
        )

    def approvals(self, project: str, number: int) -> list[Entry]:
        return [e for e in self.trail(project) if e.action == "approved" and e.version == number]


def check_alias(alias: str) -> None:
    if not _ALIAS.match(alias) or alias.startswith("v") and alias[1:].isdigit():
        raise UsageError(
            f"{alias!r} is not a usable alias: use lower-case letters, digits, '-' and '_', "
            "starting with a letter (e.g. staging, challenger, eu-west), and not v<number>."
        )


def _last_number(connection: Connection, project: str) -> int:
    found = connection.execute(
        select(func.max(VERSIONS.c.number)).where(VERSIONS.c.project == project)
    ).scalar()
    return int(found or 0)


def aliases_in(connection: Connection, project: str) -> dict[str, int]:
    """Alias -> version number, as `connection` sees them (inside a lock: as they will stay)."""
    rows = connection.execute(
        select(ALIASES.c.alias, ALIASES.c.version).where(ALIASES.c.project == project)
    )
    return {row.alias: row.version for row in rows}


def _last_documents(connection: Connection, project: str) -> dict[str, str | None]:
    rows = connection.execute(
        select(EVENTS.c.details)
        .where(
            EVENTS.c.project == project,
            EVENTS.c.action.in_(("registered", "charter_changed", "contract_changed")),
        )
        .order_by(EVENTS.c.seq.desc())
    )
    known: dict[str, str | None] = {}
    for (text,) in rows:
        details = json.loads(text)
        for key in ("charter_sha256", "contract_sha256"):
            if key in details and key not in known:
                known[key] = details[key]
        if len(known) == 2:
            break
    return known


def _number(ref: str | int, aliases: Mapping[str, int], project: str) -> int:
    if isinstance(ref, int):
        return ref
    text = ref.strip()
    match = re.fullmatch(r"[vV]?(\d+)", text)
    if match:
        return int(match.group(1))
    if text in aliases:
        return aliases[text]
    named = ", ".join(f"{a} (v{n})" for a, n in sorted(aliases.items())) or "none yet"
    raise UsageError(
        f"{ref!r} is neither a version (3 or v3) nor an alias of {project}; aliases: {named}."
    )


def _version(row: Any, aliases: Mapping[str, int]) -> ModelVersion:
    return ModelVersion(
        project=row.project,
        number=row.number,
        candidate=row.candidate,
        kind=row.kind,
        run=row.run,
        selected=bool(row.selected),
        created=row.created,
        created_by=row.created_by,
        location=row.location,
        record=json.loads(row.record),
        aliases=tuple(sorted(a for a, n in aliases.items() if n == row.number)),
    )
