"""API keys for the prediction service, and the real outcomes fed back for logged predictions.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "charter_api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked", sa.String(40), nullable=True),
    )
    op.create_table(
        "charter_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("prediction_id", sa.String(64), nullable=True),
        sa.Column("entity", sa.String(200), nullable=True),
        sa.Column("at", sa.String(40), nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("action_taken", sa.Boolean, nullable=True),
        sa.Column("received", sa.String(40), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.UniqueConstraint("project", "key", name="uq_charter_feedback_key"),
    )
