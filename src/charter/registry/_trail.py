"""The audit trail: every change of state, each entry holding the hash of the one before.

An entry's hash covers everything it says (project, time, actor, action, version, alias, reason,
details) and the previous entry's hash; its position is the chain itself. So an edited entry no
longer matches its hash, a removed one breaks the link to the next, a reordered one links to the
wrong neighbour, and the project's recorded head (length and last hash) catches entries cut from
the end. Someone able to rewrite the whole chain and the head together is caught only by a copy
of the head kept elsewhere: `charter log --verify` prints it for that purpose.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, bindparam, select

from charter.errors import UsageError
from charter.registry._schema import EVENTS, PROJECTS
from charter.registry._store import GENESIS, now_text

__all__ = ["ACTIONS", "Entry", "TrailCheck", "append", "entries", "verify"]

ACTIONS = (
    "registered",
    "approved",
    "promoted",
    "rejected",
    "overridden",
    "rolled_back",
    "alias_moved",
    "charter_changed",
    "contract_changed",
    "threshold_changed",
    "retrained",
)


# Built once: appending is on the path of every change of state.
_HEAD = select(PROJECTS.c.trail_length, PROJECTS.c.trail_head).where(
    PROJECTS.c.name == bindparam("project_name")
)
_INSERT = EVENTS.insert()
_ADVANCE = (
    PROJECTS.update()
    .where(PROJECTS.c.name == bindparam("project_name"))
    .values(trail_length=bindparam("length"), trail_head=bindparam("head"))
)


@dataclass(frozen=True)
class Entry:
    """One line of the trail, as stored."""

    seq: int
    at: str
    actor: str
    action: str
    version: int | None
    alias: str | None
    reason: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str
    project: str = ""
    details_text: str = field(default="", repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "version": self.version,
            "alias": self.alias,
            "reason": self.reason,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class TrailCheck:
    """The result of verifying a trail: problems found (empty when intact) and the head."""

    entries: int
    head: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry: Entry) -> str:
    """The SHA-256 of everything an entry says and the hash of the entry before it."""
    content = canonical(
        [
            entry.project,
            entry.at,
            entry.actor,
            entry.action,
            entry.version,
            entry.alias,
            entry.reason,
            entry.details_text,
            entry.prev_hash,
        ]
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def append(
    connection: Connection,
    project: str,
    *,
    actor: str,
    action: str,
    version: int | None = None,
    alias: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Entry:
    """Append an entry; call inside `MetadataStore.locked(project)` so the chain cannot fork."""
    if action not in ACTIONS:
        raise ValueError(f"unknown trail action {action!r}")
    texts = [actor, reason or "", alias or "", canonical(dict(details or {}))]
    if any("\x00" in text for text in texts):
        raise UsageError("a trail entry cannot hold a NUL character; remove it from the text.")
    head = connection.execute(_HEAD, {"project_name": project}).one()
    draft = Entry(
        seq=head.trail_length + 1,
        at=now_text(),
        actor=actor,
        action=action,
        version=version,
        alias=alias,
        reason=reason,
        details=dict(details or {}),
        prev_hash=head.trail_head,
        hash="",
        project=project,
        details_text=canonical(dict(details or {})),
    )
    entry = replace(draft, hash=entry_hash(draft))
    connection.execute(
        _INSERT,
        {
            "project": project,
            "seq": entry.seq,
            "at": entry.at,
            "actor": actor,
            "action": action,
            "version": version,
            "alias": alias,
            "reason": reason,
            "details": entry.details_text,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
        },
    )
    connection.execute(_ADVANCE, {"project_name": project, "length": entry.seq, "head": entry.hash})
    return entry


def entries(connection: Connection, project: str) -> list[Entry]:
    """The project's trail in order."""
    rows = connection.execute(
        select(EVENTS).where(EVENTS.c.project == project).order_by(EVENTS.c.seq, EVENTS.c.id)
    )
    return [
        Entry(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            action=row.action,
            version=row.version,
            alias=row.alias,
            reason=row.reason,
            details=_details(row.details),
            prev_hash=row.prev_hash,
            hash=row.hash,
            project=row.project,
            details_text=row.details,
        )
        for row in rows
    ]


def verify(trail: Sequence[Entry], *, length: int, head: str) -> TrailCheck:
    """Check every hash and link of `trail` against the recorded `length` and `head`.

    Each problem names the entry and what happened to it: edited, removed, reordered or cut off.
    """
    problems: list[str] = []
    by_hash = {e.hash: e for e in trail}
    expected_prev = GENESIS
    expected_seq = 1
    for entry in trail:
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                missing = _span(expected_seq, entry.seq - 1)
                problems.append(
                    f"{missing} removed: the trail jumps from #{expected_seq - 1} to #{entry.seq}."
                )
            else:
                problems.append(f"entry #{entry.seq} appears twice or out of sequence.")
        recomputed = entry_hash(entry)
        if recomputed != entry.hash:
            problems.append(
                f"entry #{entry.seq} ({entry.action} at {entry.at}) was edited: its content no "
                "longer matches its hash."
            )
        elif entry.prev_hash != expected_prev and entry.seq == expected_seq:
            before = by_hash.get(entry.prev_hash)
            if before is not None:
                problems.append(
                    f"entry #{entry.seq} ({entry.action}) is out of order: it was written after "
                    f"#{before.seq} ({before.action}), not after #{entry.seq - 1}."
                )
            elif entry.seq > 1 or entry.prev_hash != GENESIS:
                problems.append(
                    f"the entry written before #{entry.seq} ({entry.action}) is missing: "
                    f"#{entry.seq} does not follow #{entry.seq - 1}."
                )
        expected_prev = entry.hash
        expected_seq = entry.seq + 1
    if (trail[-1].seq if trail else 0) < length:
        last = trail[-1].seq if trail else 0
        problems.append(
            f"{_span(last + 1, length)} removed from the end: the store recorded {length} entries, "
            f"the trail ends at #{last}."
        )
    elif trail and trail[-1].hash != head and not problems:
        problems.append(
            f"the trail's last entry #{trail[-1].seq} is not the one the store recorded as its head."
        )
    return TrailCheck(entries=len(trail), head=head, problems=tuple(problems))


def _span(first: int, last: int) -> str:
    return f"entry #{first} was" if first == last else f"entries #{first}–#{last} were"


def _details(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"unreadable": text}
    return value if isinstance(value, dict) else {"value": value}
