"""change_dates: the history of each change's dates, for exact as-known-at replay

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 19:20:00

Seeds one row per known date of every stored change, known from when the rule used until
now said it was: with the change, or once a document of evidence naming it was observed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FIELDS = ("announced_on", "promulgated_on", "effective_on")


def upgrade() -> None:
    op.create_table(
        "change_dates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Date(), nullable=True),
        sa.Column("known_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("change_dates", schema=None) as batch_op:
        batch_op.create_index("ix_change_dates_lookup", ["change_id", "field", "known_at"], unique=False)
        batch_op.create_index("ix_change_dates_known", ["known_at"], unique=False)
    _seed(op.get_bind())


def _seed(conn) -> None:
    # Untyped columns: values are copied as the driver gives them, with no conversion.
    meta = sa.MetaData()
    dates = sa.table("change_dates", *(sa.column(c) for c in ("change_id", "field", "value", "known_at")))
    changes = sa.Table("control_changes", meta, sa.Column("id"), sa.Column("observed_at"),
                       *(sa.Column(f) for f in FIELDS))
    evidence = sa.Table("evidence", meta, sa.Column("change_id"), sa.Column("field"),
                        sa.Column("document_version_id"))
    versions = sa.Table("document_versions", meta, sa.Column("id"), sa.Column("observed_at"))
    # Moments as stored (text on SQLite, aware on PostgreSQL) sort and compare the same way.
    named: dict[tuple[str, str], list] = {}
    for change_id, field, observed in conn.execute(
            sa.select(evidence.c.change_id, evidence.c.field, versions.c.observed_at)
            .outerjoin(versions, versions.c.id == evidence.c.document_version_id)
            .where(evidence.c.change_id.is_not(None), evidence.c.field.in_(FIELDS))):
        named.setdefault((change_id, field), []).append(observed)
    rows = []
    for change_id, observed_at, *values in conn.execute(
            sa.select(changes.c.id, changes.c.observed_at, *(changes.c[f] for f in FIELDS))):
        for field, value in zip(FIELDS, values, strict=True):
            if value is None:
                continue
            times = named.get((change_id, field))
            known = max(observed_at, min(t or observed_at for t in times)) if times else observed_at
            rows.append({"change_id": change_id, "field": field, "value": value, "known_at": known})
    for start in range(0, len(rows), 2000):
        conn.execute(sa.insert(dates), rows[start:start + 2000])


def downgrade() -> None:
    with op.batch_alter_table("change_dates", schema=None) as batch_op:
        batch_op.drop_index("ix_change_dates_known")
        batch_op.drop_index("ix_change_dates_lookup")
    op.drop_table("change_dates")
