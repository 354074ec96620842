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
    # Untyped columns: moments are copied as the driver gives them, with no conversion.
    meta = sa.MetaData()
    facts = sa.table("change_facts", *(sa.column(c) for c in ("change_id", "field", "value", "known_at")))
    changes = sa.Table("control_changes", meta, sa.Column("id"), sa.Column("observed_at"),
                       sa.Column("event_id"), sa.Column("regime"),
                       sa.Column("outside_wassenaar", sa.Boolean()))
    events = sa.Table("events", meta, sa.Column("id"), sa.Column("key"))
    rows = []
    for change_id, observed_at, key, regime, outside in conn.execute(
            sa.select(changes.c.id, changes.c.observed_at, events.c.key, changes.c.regime,
                      changes.c.outside_wassenaar)
            .outerjoin(events, events.c.id == changes.c.event_id)):
        values = {"event_key": key, "regime": regime,
                  "outside_wassenaar": None if outside is None else ("true" if outside else "false")}
        rows += [{"change_id": change_id, "field": field, "value": value, "known_at": observed_at}
                 for field, value in values.items()]  # nulls too, as derivation keeps them
    for start in range(0, len(rows), 2000):
        conn.execute(sa.insert(facts), rows[start:start + 2000])


def downgrade() -> None:
    with op.batch_alter_table("change_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_change_facts_lookup")
    op.drop_table("change_facts")
