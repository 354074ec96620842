"""control_changes.recorded_at: when regwatch recorded a change (found late by reprocess)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:00:00

A change's `observed_at` is when the text that holds it was observed; `recorded_at` is when
derivation first recorded it. They differ only for a change that an earlier parse missed
and a later one found (a fixed parser, `regwatch reprocess`): such a change is news in the
digest of the week it was recorded, and unknown to replays before that. Existing changes
were recorded when observed, as far as anyone can tell now.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with _views_set_aside():
        with op.batch_alter_table("control_changes", schema=None) as batch_op:
            batch_op.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))
        op.execute("UPDATE control_changes SET recorded_at = observed_at")
        with op.batch_alter_table("control_changes", schema=None) as batch_op:
            batch_op.alter_column("recorded_at", existing_type=sa.DateTime(timezone=True),
                                  nullable=False)
            batch_op.create_index("ix_changes_recorded", ["recorded_at"], unique=False)


def downgrade() -> None:
    with _views_set_aside():
        with op.batch_alter_table("control_changes", schema=None) as batch_op:
            batch_op.drop_index("ix_changes_recorded")
            batch_op.drop_column("recorded_at")


@contextmanager
def _views_set_aside() -> Iterator[None]:
    """SQLite alters a table by copying it, which a view over it does not survive: drop the
    views and create them again from their own stored SQL, unchanged."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    views = bind.execute(sa.text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name")).all()
    for name, _ in views:
        op.execute(f'DROP VIEW "{name}"')
    yield
    for _, sql in views:
        op.execute(sql)
