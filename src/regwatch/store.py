"""Storing what scrapers yield: documents, versions, snapshot index rows, validators.

A new document version is written only when the content changes. Everything about one
document happens in the caller's transaction, together with the records derived from it,
so a crash leaves either all of it or none. (Conditional-request validators are saved by the
pipeline only once a whole source run has succeeded: see pipeline._run_source_locked.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from regwatch.db.tables import DocumentRow, DocumentVersion, SnapshotRow, SourceRow
from regwatch.models import Document, Snapshot


@dataclass(frozen=True)
class StoredVersion:
    """A document version written by this run (what derivation works on)."""

    version_id: int
    document_id: int
    kind: str
    key: str
    url: str
    change_type: str  # added | changed | removed
    observed_at: datetime


def content_hash(doc: Document) -> str | None:
    """What decides 'changed': the watched text for pages, else the raw bytes."""
    if doc.kind == "page" and doc.text is not None:
        return hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
    return doc.snapshot.sha256 if doc.snapshot else None


def keeps_text(doc: Document) -> bool:
    """Decoded text is kept for pages and articles; law XML is read from its snapshot."""
    return not doc.kind.startswith("egov_law")


def ensure_source(session: Session, name: str, scraper: str, now: datetime) -> int:
    row = session.scalar(select(SourceRow).where(SourceRow.name == name))
    if row is None:
        try:
            with session.begin_nested():
                row = SourceRow(name=name, scraper=scraper, created_at=now)
                session.add(row)
        except IntegrityError:  # created meanwhile by a concurrent run
            row = session.scalar(select(SourceRow).where(SourceRow.name == name))
    elif row.scraper != scraper:
        row.scraper = scraper
    assert row is not None
    return row.id


def ensure_snapshot_row(session: Session, snapshot: Snapshot, stored_size: int, now: datetime) -> None:
    if session.get(SnapshotRow, snapshot.sha256) is None:
        session.add(SnapshotRow(sha256=snapshot.sha256, size=snapshot.size, stored_size=stored_size,
                                media_type=snapshot.media_type, first_stored_at=now))
        session.flush()


def latest_version(session: Session, document_id: int) -> DocumentVersion | None:
    return session.scalar(select(DocumentVersion).where(DocumentVersion.document_id == document_id)
                          .order_by(DocumentVersion.version.desc()).limit(1))


def store_document(session: Session, source_id: int, doc: Document, *,
                   stored_size: int | None = None) -> StoredVersion | None:
    """Record that `doc` was seen; write a version if its content changed.

    Returns the new version, or None when nothing changed.
    """
    row = session.scalar(select(DocumentRow).where(DocumentRow.source_id == source_id,
                                                   DocumentRow.key == doc.key))
    gone = bool(doc.metadata.get("gone"))
    if row is None:
        if gone or doc.unchanged:
            return None  # never stored, and nothing to store
        row = DocumentRow(source_id=source_id, key=doc.key, url=doc.url, kind=doc.kind,
                          title=doc.title, first_seen_at=doc.fetched_at,
                          last_seen_at=doc.fetched_at, linked_from=doc.linked_from)
        session.add(row)
        session.flush()
    else:
        row.last_seen_at = max(row.last_seen_at, doc.fetched_at)
        row.url = doc.url
        if doc.title:
            row.title = doc.title

    previous = latest_version(session, row.id)
    if gone:
        if previous is None or previous.change_type == "removed":
            return None
        row.removed_at = doc.fetched_at
        return _add_version(session, row, previous, doc, "removed", content_sha256="removed",
                            snapshot=None, text=None)
    if doc.unchanged and previous is not None and previous.change_type != "removed":
        return None
    digest = content_hash(doc)
    if digest is None:
        return None
    if previous is not None and previous.change_type != "removed" and previous.content_sha256 == digest:
        return None
    if doc.snapshot is not None:
        ensure_snapshot_row(session, doc.snapshot, stored_size or doc.snapshot.size, doc.fetched_at)
    row.removed_at = None
    change_type = "added" if previous is None or previous.change_type == "removed" else "changed"
    return _add_version(session, row, previous, doc, change_type, content_sha256=digest,
                        snapshot=doc.snapshot, text=doc.text)


def _add_version(session: Session, row: DocumentRow, previous: DocumentVersion | None,
                 doc: Document, change_type: str, *, content_sha256: str,
                 snapshot: Snapshot | None, text: str | None) -> StoredVersion:
    version = DocumentVersion(
        document_id=row.id, version=(previous.version + 1) if previous else 1,
        snapshot_sha256=snapshot.sha256 if snapshot else None, content_sha256=content_sha256,
        observed_at=doc.fetched_at, title=doc.title, text=text if keeps_text(doc) else None,
        encoding=doc.encoding,
        doc_metadata=dict(doc.metadata) or None,
        change_type=change_type)
    session.add(version)
    session.flush()
    return StoredVersion(version.id, row.id, row.kind, row.key, row.url, change_type, doc.fetched_at)
