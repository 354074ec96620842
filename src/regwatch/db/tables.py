"""SQLAlchemy 2 models of the history database.

The schema itself is created only by the Alembic migrations in ``migrations/``; these
classes mirror it for the ORM, and a test checks the two agree. Dates are ``Date``,
moments are timezone-aware UTC ``DateTime``; list-valued fields are JSON.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    or_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC; SQLite drops the offset, so put it back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the history database")
        from datetime import UTC

        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class SourceRow(Base):
    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    scraper: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class SourceRun(Base):
    """One pipeline run of one source."""

    __tablename__ = "source_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))  # running | ok | partial | failed | abandoned
    documents_seen: Mapped[int] = mapped_column(Integer, default=0)
    documents_changed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    issues: Mapped[list[Any] | None]


class FetchLog(Base):
    """Every request leaves one row, success or not."""

    __tablename__ = "fetch_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("source_runs.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime]
    status: Mapped[int | None]
    elapsed_ms: Mapped[float | None] = mapped_column(Float)
    bytes: Mapped[int | None]
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    encoding: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)


class HttpCache(Base):
    """Validators per source and URL for conditional requests.

    Per source, not per URL: two sources may fetch the same URL (one PDF linked from two
    releases), and a 304 earned by one must not tell the other it has the document already.
    `source_id` 0 holds validators of fetches made outside any source (tools, tests).
    """

    __tablename__ = "http_cache"
    source_id: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    checked_at: Mapped[datetime]


class SnapshotRow(Base):
    """Index of the content-addressed store; the bytes live in <data_dir>/snapshots."""

    __tablename__ = "snapshots"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int]
    stored_size: Mapped[int]
    media_type: Mapped[str | None] = mapped_column(String(200))
    first_stored_at: Mapped[datetime]


class DocumentRow(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("source_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    key: Mapped[str] = mapped_column(String(2000))
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
    linked_from: Mapped[str | None] = mapped_column(Text)


class DocumentVersion(Base):
    """A new row only when the content changes."""

    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    version: Mapped[int]
    snapshot_sha256: Mapped[str | None] = mapped_column(ForeignKey("snapshots.sha256"))
    content_sha256: Mapped[str] = mapped_column(String(64))
    observed_at: Mapped[datetime] = mapped_column(index=True)
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    encoding: Mapped[str | None] = mapped_column(String(40))
    doc_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    change_type: Mapped[str] = mapped_column(String(20))  # added | changed | removed


class Instrument(Base):
    __tablename__ = "instruments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    law_id: Mapped[str] = mapped_column(String(40), unique=True)
    jurisdiction: Mapped[str] = mapped_column(String(10))
    title: Mapped[str | None] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    law_num: Mapped[str | None] = mapped_column(Text)


class LawRevision(Base):
    __tablename__ = "law_revisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"), index=True)
    law_revision_id: Mapped[str] = mapped_column(String(100), unique=True)
    promulgated_on: Mapped[date | None]
    effective_on: Mapped[date | None] = mapped_column(index=True)
    amendment_law_id: Mapped[str | None] = mapped_column(String(40))
    amendment_law_num: Mapped[str | None] = mapped_column(Text)
    amendment_law_title: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(30))  # in_force | not_yet_in_force | repealed | superseded
    updated: Mapped[str | None] = mapped_column(String(40))
    document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_versions.id"))
    observed_at: Mapped[datetime]
    parser_version: Mapped[str] = mapped_column(String(20))


class Provision(Base):
    __tablename__ = "provisions"
    __table_args__ = (Index("ix_provisions_lookup", "instrument_id", "path", "valid_from"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instrument_id: Mapped[int] = mapped_column(ForeignKey("instruments.id"))
    revision_id: Mapped[int] = mapped_column(ForeignKey("law_revisions.id"), index=True)
    path: Mapped[str] = mapped_column(String(300))
    citation_ja: Mapped[str] = mapped_column(Text)
    citation_en: Mapped[str] = mapped_column(Text)
    list_entry: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int]
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]  # exclusive; null = still valid
    parser_version: Mapped[str] = mapped_column(String(20))


class Event(Base):
    """One real-world regulatory action across its stages."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    jurisdiction: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(30))  # official | reported_unofficial
    law_ids: Mapped[list[Any] | None]
    amendment_law_num: Mapped[str | None] = mapped_column(Text)
    categories: Mapped[list[Any] | None]
    regime: Mapped[str] = mapped_column(String(20), default="unknown")
    outside_wassenaar: Mapped[bool | None] = mapped_column(Boolean)
    announced_on: Mapped[date | None]
    public_comment_on: Mapped[date | None]
    decided_on: Mapped[date | None]
    promulgated_on: Mapped[date | None]
    effective_on: Mapped[date | None]
    first_observed_at: Mapped[datetime]
    details: Mapped[dict[str, Any] | None]
    parser_version: Mapped[str] = mapped_column(String(20))


class Announcement(Base):
    __tablename__ = "announcements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(5))
    title: Mapped[str | None] = mapped_column(Text)
    announced_on: Mapped[date | None]
    stage: Mapped[str | None] = mapped_column(String(30))
    effective_on: Mapped[date | None]
    relevant: Mapped[bool] = mapped_column(Boolean)
    record: Mapped[dict[str, Any]]  # the full extracted record with evidence
    parser_version: Mapped[str] = mapped_column(String(20))


class PressArticle(Base):
    __tablename__ = "press_articles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    outlet: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    published_on: Mapped[date | None]
    language: Mapped[str | None] = mapped_column(String(5))
    relevant: Mapped[bool] = mapped_column(Boolean)
    cluster_key: Mapped[str | None] = mapped_column(String(100), index=True)
    record: Mapped[dict[str, Any]]  # claims with quotes
    parser_version: Mapped[str] = mapped_column(String(20))


def _observed_then(context: Any) -> datetime:
    """A change is recorded when it is observed unless its writer says otherwise."""
    return context.get_current_parameters()["observed_at"]


class ControlChange(Base):
    """One change to one provision of a control list."""

    __tablename__ = "control_changes"
    __table_args__ = (
        Index("ix_changes_announced", "announced_on"),
        Index("ix_changes_effective", "effective_on"),
        Index("ix_changes_observed", "observed_at"),
        Index("ix_changes_recorded", "recorded_at"),
        Index("ix_changes_retracted", "retracted_at"),
        Index("ix_changes_instrument", "law_id", "effective_on"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # stable content key
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    revision_id: Mapped[int | None] = mapped_column(ForeignKey("law_revisions.id"), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(10))
    law_id: Mapped[str] = mapped_column(String(40))
    instrument_title: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str] = mapped_column(String(300))
    citation_ja: Mapped[str | None] = mapped_column(Text)
    citation_en: Mapped[str | None] = mapped_column(Text)
    list_entry: Mapped[str | None] = mapped_column(Text)
    change_type: Mapped[str] = mapped_column(String(20))
    regime: Mapped[str] = mapped_column(String(20), default="unknown")
    outside_wassenaar: Mapped[bool | None] = mapped_column(Boolean)
    announced_on: Mapped[date | None]
    promulgated_on: Mapped[date | None]
    effective_on: Mapped[date | None]
    observed_at: Mapped[datetime]  # when the text holding it was observed
    # When derivation first recorded it: later than observed_at only for a change an
    # earlier parse missed (a fixed parser, `reprocess`); the digest's week goes by this.
    recorded_at: Mapped[datetime] = mapped_column(default=_observed_then)
    # When a change regwatch had shown stopped being found (a fixed parser, a corrected
    # text): kept for replays and the digest's "withdrawn"; left out of everything current.
    retracted_at: Mapped[datetime | None]
    before_text: Mapped[str | None] = mapped_column(Text)
    after_text: Mapped[str | None] = mapped_column(Text)
    renumbered_from: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(30), default="official")
    parser_version: Mapped[str] = mapped_column(String(20))

    @classmethod
    def standing(cls, as_known_at: datetime | None = None) -> Any:
        """Not retracted by `as_known_at` (by now, when None): the changes that stand."""
        if as_known_at is None:
            return cls.retracted_at.is_(None)
        return or_(cls.retracted_at.is_(None), cls.retracted_at > as_known_at)


class ChangeCategory(Base):
    """Category tags of a change, one row each, so 'by category' can use an index."""

    __tablename__ = "change_categories"
    change_id: Mapped[str] = mapped_column(ForeignKey("control_changes.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


DATE_FIELDS = ("announced_on", "promulgated_on", "effective_on")  # the dates of a change


class ChangeDate(Base):
    """The values a change's dates took, and from when each was known (append-only).

    Written by derivation whenever a date of a change differs from its latest entry, so
    `--as-known-at` shows a corrected date's old value before the correction was observed.
    No foreign key: a law's changes are deleted and rebuilt with the same ids, and their
    date history must outlive that."""

    __tablename__ = "change_dates"
    __table_args__ = (Index("ix_change_dates_lookup", "change_id", "field", "known_at"),
                      Index("ix_change_dates_known", "known_at"))  # date corrections in a window
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[str] = mapped_column(String(40))
    field: Mapped[str] = mapped_column(String(20))  # one of DATE_FIELDS
    value: Mapped[date | None]
    known_at: Mapped[datetime]


# What the events step lends a change besides its dates: its event (by key: event ids are
# not kept when an event goes) and its regime basis. Values kept as text: "true"/"false".
FACT_FIELDS = ("event_key", "regime", "outside_wassenaar")


class ChangeFact(Base):
    """The values of a change's FACT_FIELDS, and from when each was known (append-only).

    Kept as change_dates keeps dates, by the same derivation step: a change first found in a
    law revision belongs to no event and has no known regime until METI's announcement is
    observed; `--as-known-at` before then must show it so."""

    __tablename__ = "change_facts"
    __table_args__ = (Index("ix_change_facts_lookup", "change_id", "field", "known_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[str] = mapped_column(String(40))
    field: Mapped[str] = mapped_column(String(20))  # one of FACT_FIELDS
    value: Mapped[str | None] = mapped_column(Text)
    known_at: Mapped[datetime]


class Evidence(Base):
    """Why we believe a change or event: a document and the quote from it."""

    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[str | None] = mapped_column(ForeignKey("control_changes.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_versions.id"))
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str | None] = mapped_column(Text)
    quote: Mapped[str | None] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(String(50))


# What an evidence row says, as evidence_history keeps it (its columns bar id and event_id).
EVIDENCE_CONTENT = ("change_id", "document_version_id", "url", "kind", "title", "quote", "field")


class EvidenceHistory(Base):
    """Evidence rows of changes that derivation replaced, and from when (EVIDENCE_CONTENT).

    Derivation rebuilds evidence from the latest documents, so when a revision's record or
    an announcement is corrected the old quote is gone. `--as-known-at T` shows a row kept
    here when it was known at T (its document version observed by T) and replaced after T.
    No foreign key to the change, like change_dates: a law's changes are deleted and rebuilt
    with the same ids. `position` is the row's place among its change's evidence rows when
    it was replaced, to show the sources in the order they had. A kept row is dropped when
    derivation writes it back as it was (see regwatch.derive.evidence_history)."""

    __tablename__ = "evidence_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[str] = mapped_column(String(40), index=True)
    position: Mapped[int] = mapped_column(Integer)
    # the columns of evidence named in EVIDENCE_CONTENT, declared alike
    document_version_id: Mapped[int | None] = mapped_column(ForeignKey("document_versions.id"))
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str | None] = mapped_column(Text)
    quote: Mapped[str | None] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(String(50))
    superseded_at: Mapped[datetime]


# What an event shows, as event_history keeps it (columns of events).
EVENT_SHOWN = ("title", "status", "jurisdiction", "regime", "outside_wassenaar", "law_ids",
               "categories", "announced_on", "promulgated_on", "effective_on",
               "first_observed_at", "details")
# What event_history keeps of each of an event's evidence rows.
EVENT_SOURCE = ("url", "kind", "title", "quote", "document_version_id")


class EventHistory(Base):
    """Event states that derivation replaced, and from when (the columns EVENT_SHOWN).

    Events are rebuilt from the latest documents: a public-comment notice becomes the
    amendment's announcement (new title, an effective date), a press-only report is
    confirmed or merged away. `--as-known-at T` shows an event as it stood at T: the kept
    state with the earliest `superseded_at` after T, else the event row itself. A state
    kept for an event no longer in `events` is how it stood before it went; an `absent`
    row says no event had the key before (an event made later from documents observed
    earlier, so its first observation alone would date it too early). Keyed by the event's
    key (ids of removed events are not kept)."""

    __tablename__ = "event_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    absent: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(30))  # null, like the rest, when absent
    jurisdiction: Mapped[str | None] = mapped_column(String(10))
    regime: Mapped[str | None] = mapped_column(String(20))
    outside_wassenaar: Mapped[bool | None] = mapped_column(Boolean)
    law_ids: Mapped[list[Any] | None]
    categories: Mapped[list[Any] | None]
    announced_on: Mapped[date | None]
    promulgated_on: Mapped[date | None]
    effective_on: Mapped[date | None]
    first_observed_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any] | None]
    # The event's evidence rows then, in order: [{EVENT_SOURCE: value}, ...]
    sources: Mapped[list[Any] | None]
    superseded_at: Mapped[datetime]


class Subscriber(Base):
    __tablename__ = "subscribers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    language: Mapped[str] = mapped_column(String(5))
    filters: Mapped[dict[str, Any] | None]


class DigestLog(Base):
    """Each subscriber's state for each digest period: sent exactly once."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("subscriber_id", "period_start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))  # pending | sending | sent | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(300))
    change_count: Mapped[int | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class ServiceLock(Base):
    """Leases: one scheduler per database, one run per source at a time."""

    __tablename__ = "service_locks"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ApschedulerJob(Base):
    """APScheduler 3's SQLAlchemyJobStore table, created here so migrations own the schema."""

    __tablename__ = "apscheduler_jobs"
    id: Mapped[str] = mapped_column(String(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float, index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)
