"""Aliases (production, staging, challenger, ...) as a table, filled from the trail's history.

Revision 0001 kept where each alias pointed only on the trail; looking it up meant reading the
whole trail. This table holds each alias's current version; the trail stays the history.

Revision ID: 0002
Revises: 0001
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_MOVES = ("promoted", "overridden", "rolled_back", "alias_moved")


def upgrade() -> None:
    aliases = op.create_table(
        "charter_aliases",
        sa.Column("project", sa.String(200), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("since", sa.String(40), nullable=False),
        sa.Column("event_seq", sa.Integer, nullable=False),
    )
    events = sa.table(
        "charter_events",
        sa.column("project", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("at", sa.String),
        sa.column("action", sa.String),
        sa.column("version", sa.Integer),
        sa.column("alias", sa.String),
        sa.column("details", sa.Text),
    )
    latest: dict[tuple[str, str], dict[str, object]] = {}
    rows = op.get_bind().execute(
        sa.select(events)
        .where(events.c.action.in_(_MOVES))
        .order_by(events.c.project, events.c.seq)
    )
    for row in rows:
        if row.alias is None or row.version is None:
            continue
        if json.loads(row.details or "{}").get("removed"):
            latest.pop((row.project, row.alias), None)
            continue
        latest[(row.project, row.alias)] = {
            "project": row.project,
            "alias": row.alias,
            "version": row.version,
            "since": row.at,
            "event_seq": row.seq,
        }
    if latest:
        op.bulk_insert(aliases, list(latest.values()))
