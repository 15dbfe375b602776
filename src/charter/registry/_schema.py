"""The registry's tables. Migrations (Alembic, `migrations/`) create them; this is their shape now.

Every table is prefixed `charter_` so a team store can share a PostgreSQL database with others.
Times are ISO 8601 text in UTC (exact to the microsecond on every database, and hashed as written).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, UniqueConstraint

__all__ = [
    "ALIASES",
    "API_KEYS",
    "EVENTS",
    "FEEDBACK",
    "HEAD",
    "METADATA",
    "PROJECTS",
    "VERSIONS",
    "VERSION_TABLE",
]

HEAD = "0003"
"""The schema revision this code writes; a store at an older revision is upgraded on open."""
VERSION_TABLE = "charter_alembic_version"

METADATA = MetaData()

PROJECTS = Table(
    "charter_projects",
    METADATA,
    Column("name", String(200), primary_key=True),
    Column("created", String(40), nullable=False),
    # The audit trail's head: how many entries it holds and the hash of the last one.
    Column("trail_length", Integer, nullable=False),
    Column("trail_head", String(64), nullable=False),
)

VERSIONS = Table(
    "charter_versions",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(200), nullable=False),
    Column("number", Integer, nullable=False),
    Column("candidate", String(200), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("run", String(64), nullable=False),
    Column("selected", Boolean, nullable=False),
    Column("created", String(40), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("location", Text, nullable=False),  # the artifact folder, relative to the artifact root
    Column("record", Text, nullable=False),  # metrics, lineage and artifact digests (JSON)
    UniqueConstraint("project", "number", name="uq_charter_versions_number"),
)

EVENTS = Table(
    "charter_events",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(200), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("version", Integer, nullable=True),
    Column("alias", String(100), nullable=True),
    Column("reason", Text, nullable=True),
    Column("details", Text, nullable=False),  # canonical JSON, hashed as stored
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("project", "seq", name="uq_charter_events_seq"),
)

ALIASES = Table(
    "charter_aliases",
    METADATA,
    Column("project", String(200), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("since", String(40), nullable=False),
    Column("event_seq", Integer, nullable=False),  # the trail entry that moved it here
)

API_KEYS = Table(
    "charter_api_keys",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("scope", String(20), nullable=False),  # predict | feedback | admin
    Column("prefix", String(20), nullable=False),  # shown to people; the key itself is never kept
    Column("hash", String(64), nullable=False, unique=True),  # SHA-256 of the key
    Column("created", String(40), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked", String(40), nullable=True),
)

FEEDBACK = Table(
    "charter_feedback",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(200), nullable=False),
    # The prediction id, or "entity@time" when the outcome names an entity and a time instead.
    Column("key", String(400), nullable=False),
    Column("prediction_id", String(64), nullable=True),
    Column("entity", String(200), nullable=True),
    Column("at", String(40), nullable=True),
    Column("outcome", Text, nullable=True),  # JSON: the label or the value
    Column("action_taken", Boolean, nullable=True),  # was the decision followed?
    Column("received", String(40), nullable=False),
    Column("source", String(20), nullable=False),  # api | file
    UniqueConstraint("project", "key", name="uq_charter_feedback_key"),
)
