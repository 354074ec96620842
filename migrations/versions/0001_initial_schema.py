"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 14:11:30.519092
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    _create_tables()
    _create_views()


def _create_tables() -> None:

    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.String(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("apscheduler_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_apscheduler_jobs_next_run_time"), ["next_run_time"], unique=False
        )

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("jurisdiction", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("law_ids", sa.JSON(), nullable=True),
        sa.Column("amendment_law_num", sa.Text(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("regime", sa.String(length=20), nullable=False),
        sa.Column("outside_wassenaar", sa.Boolean(), nullable=True),
        sa.Column("announced_on", sa.Date(), nullable=True),
        sa.Column("public_comment_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("promulgated_on", sa.Date(), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("first_observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("parser_version", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "http_cache",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("content_sha256", sa.String(length=64), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "url"),
    )
    op.create_table(
        "instruments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("law_id", sa.String(length=40), nullable=False),
        sa.Column("jurisdiction", sa.String(length=10), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("title_en", sa.Text(), nullable=True),
        sa.Column("law_num", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("law_id"),
    )
    op.create_table(
        "service_locks",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "snapshots",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("stored_size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=200), nullable=True),
        sa.Column("first_stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scraper", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("change_count", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscriber_id", "period_start"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=2000), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linked_from", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "key"),
    )
    op.create_table(
        "source_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("documents_seen", sa.Integer(), nullable=False),
        sa.Column("documents_changed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("issues", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("source_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_runs_source_id"), ["source_id"], unique=False)

    op.create_table(
        "document_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot_sha256", sa.String(length=64), nullable=True),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("encoding", sa.String(length=40), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("change_type", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_sha256"],
            ["snapshots.sha256"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "version"),
    )
    with op.batch_alter_table("document_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_document_versions_document_id"), ["document_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_document_versions_observed_at"), ["observed_at"], unique=False
        )

    op.create_table(
        "fetch_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("elapsed_ms", sa.Float(), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("content_sha256", sa.String(length=64), nullable=True),
        sa.Column("encoding", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["source_runs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fetch_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fetch_log_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fetch_log_source_id"), ["source_id"], unique=False)

    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_version_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("announced_on", sa.Date(), nullable=True),
        sa.Column("stage", sa.String(length=30), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("relevant", sa.Boolean(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("parser_version", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_version_id"],
            ["document_versions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_version_id"),
    )
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_announcements_event_id"), ["event_id"], unique=False)

    op.create_table(
        "law_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("law_revision_id", sa.String(length=100), nullable=False),
        sa.Column("promulgated_on", sa.Date(), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("amendment_law_id", sa.String(length=40), nullable=True),
        sa.Column("amendment_law_num", sa.Text(), nullable=True),
        sa.Column("amendment_law_title", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=True),
        sa.Column("updated", sa.String(length=40), nullable=True),
        sa.Column("document_version_id", sa.Integer(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parser_version", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_version_id"],
            ["document_versions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("law_revision_id"),
    )
    with op.batch_alter_table("law_revisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_law_revisions_effective_on"), ["effective_on"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_law_revisions_instrument_id"), ["instrument_id"], unique=False
        )

    op.create_table(
        "press_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_version_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("outlet", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("relevant", sa.Boolean(), nullable=False),
        sa.Column("cluster_key", sa.String(length=100), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("parser_version", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_version_id"],
            ["document_versions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_version_id"),
    )
    with op.batch_alter_table("press_articles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_press_articles_cluster_key"), ["cluster_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_press_articles_event_id"), ["event_id"], unique=False)

    op.create_table(
        "control_changes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("revision_id", sa.Integer(), nullable=True),
        sa.Column("jurisdiction", sa.String(length=10), nullable=False),
        sa.Column("law_id", sa.String(length=40), nullable=False),
        sa.Column("instrument_title", sa.Text(), nullable=True),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("citation_ja", sa.Text(), nullable=True),
        sa.Column("citation_en", sa.Text(), nullable=True),
        sa.Column("list_entry", sa.Text(), nullable=True),
        sa.Column("change_type", sa.String(length=20), nullable=False),
        sa.Column("regime", sa.String(length=20), nullable=False),
        sa.Column("outside_wassenaar", sa.Boolean(), nullable=True),
        sa.Column("announced_on", sa.Date(), nullable=True),
        sa.Column("promulgated_on", sa.Date(), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("before_text", sa.Text(), nullable=True),
        sa.Column("after_text", sa.Text(), nullable=True),
        sa.Column("renumbered_from", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("parser_version", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["law_revisions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("control_changes", schema=None) as batch_op:
        batch_op.create_index("ix_changes_announced", ["announced_on"], unique=False)
        batch_op.create_index("ix_changes_effective", ["effective_on"], unique=False)
        batch_op.create_index("ix_changes_instrument", ["law_id", "effective_on"], unique=False)
        batch_op.create_index("ix_changes_observed", ["observed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_control_changes_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_control_changes_revision_id"), ["revision_id"], unique=False
        )

    op.create_table(
        "provisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("citation_ja", sa.Text(), nullable=False),
        sa.Column("citation_en", sa.Text(), nullable=False),
        sa.Column("list_entry", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("parser_version", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["law_revisions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("provisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provisions_lookup", ["instrument_id", "path", "valid_from"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_provisions_revision_id"), ["revision_id"], unique=False
        )

    op.create_table(
        "change_categories",
        sa.Column("change_id", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["change_id"], ["control_changes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("change_id", "category"),
    )
    with op.batch_alter_table("change_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_change_categories_category"), ["category"], unique=False
        )

    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.String(length=40), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("document_version_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("quote", sa.Text(), nullable=True),
        sa.Column("field", sa.String(length=50), nullable=True),
        sa.ForeignKeyConstraint(["change_id"], ["control_changes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["document_version_id"],
            ["document_versions.id"],
        ),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_change_id"), ["change_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_event_id"), ["event_id"], unique=False)


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {view}")

    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_event_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_change_id"))

    op.drop_table("evidence")
    with op.batch_alter_table("change_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_categories_category"))

    op.drop_table("change_categories")
    with op.batch_alter_table("provisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provisions_revision_id"))
        batch_op.drop_index("ix_provisions_lookup")

    op.drop_table("provisions")
    with op.batch_alter_table("control_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_control_changes_revision_id"))
        batch_op.drop_index(batch_op.f("ix_control_changes_event_id"))
        batch_op.drop_index("ix_changes_observed")
        batch_op.drop_index("ix_changes_instrument")
        batch_op.drop_index("ix_changes_effective")
        batch_op.drop_index("ix_changes_announced")

    op.drop_table("control_changes")
    with op.batch_alter_table("press_articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_press_articles_event_id"))
        batch_op.drop_index(batch_op.f("ix_press_articles_cluster_key"))

    op.drop_table("press_articles")
    with op.batch_alter_table("law_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_law_revisions_instrument_id"))
        batch_op.drop_index(batch_op.f("ix_law_revisions_effective_on"))

    op.drop_table("law_revisions")
    with op.batch_alter_table("announcements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_announcements_event_id"))

    op.drop_table("announcements")
    with op.batch_alter_table("fetch_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fetch_log_source_id"))
        batch_op.drop_index(batch_op.f("ix_fetch_log_run_id"))

    op.drop_table("fetch_log")
    with op.batch_alter_table("document_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_versions_observed_at"))
        batch_op.drop_index(batch_op.f("ix_document_versions_document_id"))

    op.drop_table("document_versions")
    with op.batch_alter_table("source_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_runs_source_id"))

    op.drop_table("source_runs")
    op.drop_table("documents")
    op.drop_table("digests")
    op.drop_table("subscribers")
    op.drop_table("sources")
    op.drop_table("snapshots")
    op.drop_table("service_locks")
    op.drop_table("instruments")
    op.drop_table("http_cache")
    op.drop_table("events")
    with op.batch_alter_table("apscheduler_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_apscheduler_jobs_next_run_time"))

    op.drop_table("apscheduler_jobs")


VIEWS = ("v_changes", "v_document_changes", "v_source_health")


def _create_views() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
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
    op.execute(f"""
        CREATE VIEW v_changes AS
        SELECT c.id, c.jurisdiction,
               c.law_id AS instrument_law_id, c.instrument_title,
               c.path AS provision_path, c.citation_ja, c.citation_en,
               c.list_entry, c.change_type, {categories} AS categories,
               c.regime, c.outside_wassenaar,
               c.announced_on, c.promulgated_on, c.effective_on, c.observed_at,
               c.before_text, c.after_text,
               e.key AS event_key, e.title AS event_title,
               {sources} AS sources,
               c.renumbered_from, c.status
        FROM control_changes c LEFT JOIN events e ON e.id = c.event_id
    """)
    op.execute("""
        CREATE VIEW v_document_changes AS
        SELECT s.name AS source, d.url, coalesce(v.title, d.title) AS title,
               v.change_type, v.observed_at, d.kind, v.version, d.id AS document_id
        FROM document_versions v
        JOIN documents d ON d.id = v.document_id
        JOIN sources s ON s.id = d.source_id
    """)
    op.execute("""
        CREATE VIEW v_source_health AS
        SELECT s.name AS source,
               (SELECT max(r.started_at) FROM source_runs r WHERE r.source_id = s.id)
                   AS last_attempt_at,
               (SELECT max(r.started_at) FROM source_runs r
                 WHERE r.source_id = s.id AND r.status IN ('ok', 'partial'))
                   AS last_success_at,
               (SELECT count(*) FROM source_runs r
                 WHERE r.source_id = s.id AND r.status = 'failed'
                   AND NOT EXISTS (SELECT 1 FROM source_runs ok
                                    WHERE ok.source_id = s.id AND ok.status IN ('ok', 'partial')
                                      AND ok.started_at > r.started_at))
                   AS consecutive_failures,
               last.error AS last_error,
               last.status AS last_status,
               last.documents_seen AS last_documents_seen,
               (SELECT count(*) FROM fetch_log f WHERE f.run_id = last.id AND f.error IS NOT NULL)
                   AS last_fetch_errors,
               (SELECT avg(x.documents_seen) FROM
                  (SELECT r.documents_seen FROM source_runs r
                    WHERE r.source_id = s.id AND r.status IN ('ok', 'partial')
                      AND r.id <> last.id
                    ORDER BY r.started_at DESC, r.id DESC LIMIT 10) x)
                   AS usual_documents_seen
        FROM sources s
        LEFT JOIN source_runs last ON last.id = (
            SELECT r.id FROM source_runs r
             WHERE r.source_id = s.id AND r.status NOT IN ('running', 'skipped')
             ORDER BY r.started_at DESC, r.id DESC LIMIT 1)
    """)
