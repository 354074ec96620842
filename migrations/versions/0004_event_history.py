"""event_history: event states that derivation replaced, for exact as-known-at

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 00:20:00

Starts empty: what derivation replaced before this revision was not kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("absent", sa.Boolean(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=True),
        sa.Column("jurisdiction", sa.String(length=10), nullable=True),
        sa.Column("regime", sa.String(length=20), nullable=True),
        sa.Column("outside_wassenaar", sa.Boolean(), nullable=True),
        sa.Column("law_ids", sa.JSON(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("announced_on", sa.Date(), nullable=True),
        sa.Column("promulgated_on", sa.Date(), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("first_observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("event_history", schema=None) as batch_op:
        batch_op.create_index("ix_event_history_key", ["key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_history", schema=None) as batch_op:
        batch_op.drop_index("ix_event_history_key")
    op.drop_table("event_history")
