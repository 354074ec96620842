"""change_facts: the history of each change's event and regime basis, for exact as-known-at

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 07:00:00

Seeds one row per fact of every stored change (its event's key, regime and
outside-Wassenaar flag, null or not), known from the change's observation: how replays showed them until
now. What derivation replaced before this revision was not kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("known_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("change_facts", schema=None) as batch_op:
        batch_op.create_index("ix_change_facts_lookup", ["change_id", "field", "known_at"],
                              unique=False)
    _seed(op.get_bind())


def _seed(conn) -> None:
    # In SQL (INSERT … SELECT): a history of a million changes is three million facts.
    meta = sa.MetaData()
    facts = sa.Table("change_facts", meta, *(sa.Column(c) for c in ("change_id", "field", "value", "known_at")))
    changes = sa.Table("control_changes", meta, sa.Column("id"), sa.Column("observed_at"),
                       sa.Column("event_id"), sa.Column("regime"), sa.Column("outside_wassenaar"))
    events = sa.Table("events", meta, sa.Column("id"), sa.Column("key"))
    c = changes.c
    flag = sa.case((c.outside_wassenaar.is_(None), sa.null()),
                   (c.outside_wassenaar == sa.true(), sa.literal("true")), else_=sa.literal("false"))
    for field, value, source in (
            ("event_key", events.c.key, changes.outerjoin(events, events.c.id == c.event_id)),
            ("regime", c.regime, changes),
            ("outside_wassenaar", flag, changes)):
        conn.execute(facts.insert().from_select(
            ["change_id", "field", "value", "known_at"],
            sa.select(c.id, sa.literal(field), value, c.observed_at).select_from(source)))


def downgrade() -> None:
    with op.batch_alter_table("change_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_change_facts_lookup")
    op.drop_table("change_facts")
