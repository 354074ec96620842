"""evidence_history: evidence rows of changes that derivation replaced, for exact as-known-at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:10:00

Starts empty: what derivation replaced before this revision was not kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("document_version_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("quote", sa.Text(), nullable=True),
        sa.Column("field", sa.String(length=50), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_version_id"], ["document_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evidence_history", schema=None) as batch_op:
        batch_op.create_index("ix_evidence_history_change_id", ["change_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_history", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_history_change_id")
    op.drop_table("evidence_history")
