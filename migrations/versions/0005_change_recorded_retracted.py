"""control_changes.recorded_at and retracted_at: changes found late, and changes withdrawn

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:00:00

A change's `observed_at` is when the text that holds it was observed; `recorded_at` is when
derivation first recorded it. They differ only for a change that an earlier parse missed
and a later one found (a fixed parser, `regwatch reprocess`): such a change is news in the
digest of the week it was recorded, and unknown to replays before that. Existing changes
were recorded when observed, as far as anyone can tell now.

`retracted_at` is when a change regwatch had shown stopped being found (a fixed parser, a
corrected source text): the row stays, so replays before that moment still show it and the
digest of that week says it was withdrawn; everything current leaves it out (v_changes too).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite alters a table by copying it, which a view over it does not survive; v_changes
    # (the only one over control_changes) is made again, now with recorded_at.
    op.execute("DROP VIEW v_changes")
    with op.batch_alter_table("control_changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE control_changes SET recorded_at = observed_at")
    with op.batch_alter_table("control_changes", schema=None) as batch_op:
        batch_op.alter_column("recorded_at", existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.create_index("ix_changes_recorded", ["recorded_at"], unique=False)
        batch_op.create_index("ix_changes_retracted", ["retracted_at"], unique=False)
    _create_v_changes(recorded_at=True)


def downgrade() -> None:
    op.execute("DROP VIEW v_changes")
    with op.batch_alter_table("control_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_changes_retracted")
        batch_op.drop_index("ix_changes_recorded")
        batch_op.drop_column("retracted_at")
        batch_op.drop_column("recorded_at")
    _create_v_changes(recorded_at=False)


def _create_v_changes(*, recorded_at: bool) -> None:
    """v_changes as 0001 made it; asked for recorded_at: with it after observed_at, and
    without retracted changes (the view shows what stands)."""
    if op.get_bind().dialect.name == "postgresql":
        categories = (
            "(SELECT coalesce(json_agg(cc.category ORDER BY cc.category), '[]'::json) "
            "FROM change_categories cc WHERE cc.change_id = c.id)"
        )
        sources = (
            "(SELECT coalesce(json_agg(json_build_object('url', ev.url, 'kind', ev.kind, "
            "'title', ev.title, 'quote', ev.quote) ORDER BY ev.id), '[]'::json) "
            "FROM evidence ev WHERE ev.change_id = c.id)"
        )
    else:
        categories = (
            "(SELECT coalesce(json_group_array(category), '[]') FROM "
            "(SELECT cc.category FROM change_categories cc WHERE cc.change_id = c.id "
            "ORDER BY cc.category))"
        )
        sources = (
            "(SELECT coalesce(json_group_array(json_object('url', url, 'kind', kind, "
            "'title', title, 'quote', quote)), '[]') FROM "
            "(SELECT ev.url, ev.kind, ev.title, ev.quote FROM evidence ev "
            "WHERE ev.change_id = c.id ORDER BY ev.id))"
        )
    recorded = " c.recorded_at," if recorded_at else ""
    standing = "WHERE c.retracted_at IS NULL" if recorded_at else ""
    op.execute(f"""
        CREATE VIEW v_changes AS
        SELECT c.id, c.jurisdiction,
               c.law_id AS instrument_law_id, c.instrument_title,
               c.path AS provision_path, c.citation_ja, c.citation_en,
               c.list_entry, c.change_type, {categories} AS categories,
               c.regime, c.outside_wassenaar,
               c.announced_on, c.promulgated_on, c.effective_on, c.observed_at,{recorded}
               c.before_text, c.after_text,
               e.key AS event_key, e.title AS event_title,
               {sources} AS sources,
               c.renumbered_from, c.status
        FROM control_changes c LEFT JOIN events e ON e.id = c.event_id
        {standing}
    """)
