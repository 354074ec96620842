"""Storing what scrapers yield: documents, versions, snapshot index rows, validators.

A new document version is written only when the content changes. Everything about one
document happens in the caller's transaction, together with the records derived from it,
so a crash leaves either all of it or none. (Conditional-request validators are saved by the
pipeline only once a whole source run has succeeded: see pipeline._run_source_locked.)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

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


# Kinds whose metadata holds content their snapshot lacks, by metadata key: an e-Gov
# revision's record carries its promulgation and enforcement dates and its status, and a
# correction (正誤) can change them while the law text stays the same to the byte.
METADATA_IN_CONTENT = {"egov_law_revision": "revision"}


def content_hash(doc: Document) -> str | None:
    """What decides 'changed': the watched text for pages, else the raw bytes (with the
    metadata that is content, for the kinds in METADATA_IN_CONTENT)."""
    if doc.kind == "page" and doc.text is not None:
        return hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
    if doc.snapshot is None:
        return None
    key = METADATA_IN_CONTENT.get(doc.kind)
    if key is None:
        return doc.snapshot.sha256
    record = json.dumps(doc.metadata.get(key), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{doc.snapshot.sha256}\n{record}".encode()).hexdigest()


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
    """Index a snapshot once. Sources run in parallel and may fetch the same bytes (one PDF
    linked from two releases), so the insert itself must tolerate the row appearing."""
    ensure_snapshot_rows(session, [(snapshot, stored_size, now)])


def ensure_snapshot_rows(session: Session, rows: list[tuple[Snapshot, int, datetime]]) -> None:
    """`ensure_snapshot_row` for several snapshots in one statement (an executemany)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    table = SnapshotRow.__table__
    session.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=["sha256"]), [
        {"sha256": snap.sha256, "size": snap.size, "stored_size": stored_size,
         "media_type": snap.media_type, "first_stored_at": now}
        for snap, stored_size, now in rows])


def latest_version(session: Session, document_id: int) -> DocumentVersion | None:
    return session.scalar(select(DocumentVersion).where(DocumentVersion.document_id == document_id)
                          .order_by(DocumentVersion.version.desc()).limit(1))


def store_document(session: Session, source_id: int, doc: Document, *,
                   stored_size: int | None = None) -> StoredVersion | None:
    """Record that `doc` was seen; write a version if its content changed.

    Returns the new version, or None when nothing changed.
    """
    return store_documents(session, source_id, [doc], stored_sizes=[stored_size])[0]


@dataclass(frozen=True)
class _Latest:
    """What storing needs of a document's latest version (not its text)."""

    version: int
    change_type: str
    content_sha256: str


@dataclass(frozen=True)
class _Plan:
    row: DocumentRow
    previous: _Latest | None
    doc: Document
    change_type: str
    content_sha256: str
    snapshot: Snapshot | None
    text: str | None


def store_documents(session: Session, source_id: int, docs: list[Document], *,
                    stored_sizes: list[int | None] | None = None) -> list[StoredVersion | None]:
    """`store_document` for several documents of one source (distinct keys), in order, in the
    caller's transaction: their rows, latest versions and snapshot rows are read in a few
    queries and the writes are flushed together, so a re-check of thousands of unchanged
    pages costs a few statements per batch rather than several per page."""
    if len({d.key for d in docs}) != len(docs):
        raise ValueError("store_documents: a key appears more than once in one batch")
    sizes = stored_sizes if stored_sizes is not None else [None] * len(docs)
    rows = _rows(session, source_id, [d.key for d in docs])
    latest = _latest(session, [r.id for r in rows.values()])
    have = _stored_snapshots(session, {d.snapshot.sha256 for d in docs if d.snapshot is not None})
    plans: list[_Plan | None] = []
    touches: list[dict] = []
    new_snapshots: list[tuple[Snapshot, int, datetime]] = []
    for doc, size in zip(docs, sizes, strict=True):
        row = rows.get(doc.key)
        gone = bool(doc.metadata.get("gone"))
        if row is None:
            if gone or doc.unchanged:
                plans.append(None)  # never stored, and nothing to store
                continue
            row = DocumentRow(source_id=source_id, key=doc.key, url=doc.url, kind=doc.kind,
                              title=doc.title, first_seen_at=doc.fetched_at,
                              last_seen_at=doc.fetched_at, linked_from=doc.linked_from)
            session.add(row)
            plan = _plan(row, None, doc, gone)
        else:
            previous = latest.get(row.id)
            plan = _plan(row, previous, doc, gone)
            seen, title = max(row.last_seen_at, doc.fetched_at), doc.title or row.title
            if plan is not None:
                row.last_seen_at, row.url, row.title = seen, doc.url, title
            elif (seen, doc.url, title) != (row.last_seen_at, row.url, row.title):
                # Seen again, no new version: one executemany for the batch, not an ORM
                # UPDATE per row (SQLite's driver cannot batch those).
                touches.append({"_id": row.id, "_seen": seen, "_url": doc.url, "_title": title})
                for key, value in (("last_seen_at", seen), ("url", doc.url), ("title", title)):
                    set_committed_value(row, key, value)
        if plan is not None and plan.snapshot is not None and plan.snapshot.sha256 not in have:
            new_snapshots.append((plan.snapshot, size or plan.snapshot.size, doc.fetched_at))
            have.add(plan.snapshot.sha256)
        plans.append(plan)
    if touches:
        t = DocumentRow.__table__
        session.execute(update(t).where(t.c.id == bindparam("_id"))
                        .values(last_seen_at=bindparam("_seen"), url=bindparam("_url"),
                                title=bindparam("_title")), touches)
    ensure_snapshot_rows(session, new_snapshots)  # before the versions that point at them
    session.flush()  # new rows get their ids
    versions = []
    for plan in plans:
        if plan is None:
            versions.append(None)
            continue
        if plan.change_type == "removed":
            plan.row.removed_at = plan.doc.fetched_at
        else:
            plan.row.removed_at = None
        versions.append(_version(plan))
        session.add(versions[-1])
    session.flush()
    return [None if v is None else
            StoredVersion(v.id, p.row.id, p.row.kind, p.row.key, p.row.url, p.change_type,
                          p.doc.fetched_at)
            for v, p in zip(versions, plans, strict=True)]


def _plan(row: DocumentRow, previous: _Latest | None, doc: Document, gone: bool) -> _Plan | None:
    """The version `doc` makes of `row`, or None when it makes none."""
    if gone:
        if previous is None or previous.change_type == "removed":
            return None
        return _Plan(row, previous, doc, "removed", "removed", None, None)
    if doc.unchanged and previous is not None and previous.change_type != "removed":
        return None
    digest = content_hash(doc)
    if digest is None:
        return None
    if previous is not None and previous.change_type != "removed" and previous.content_sha256 == digest:
        return None
    change_type = "added" if previous is None or previous.change_type == "removed" else "changed"
    return _Plan(row, previous, doc, change_type, digest, doc.snapshot, doc.text)


def _version(plan: _Plan) -> DocumentVersion:
    doc, previous = plan.doc, plan.previous
    return DocumentVersion(
        document_id=plan.row.id, version=(previous.version + 1) if previous else 1,
        snapshot_sha256=plan.snapshot.sha256 if plan.snapshot else None,
        content_sha256=plan.content_sha256, observed_at=doc.fetched_at, title=doc.title,
        text=plan.text if keeps_text(doc) else None, encoding=doc.encoding,
        doc_metadata=dict(doc.metadata) or None, change_type=plan.change_type)


_CHUNK = 500  # bound parameters per IN (...) list


def _chunks(items: list, size: int = _CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _rows(session: Session, source_id: int, keys: list[str]) -> dict[str, DocumentRow]:
    out: dict[str, DocumentRow] = {}
    for part in _chunks(keys):
        out.update((r.key, r) for r in session.scalars(
            select(DocumentRow).where(DocumentRow.source_id == source_id, DocumentRow.key.in_(part))))
    return out


def _latest(session: Session, document_ids: list[int]) -> dict[int, _Latest]:
    out: dict[int, _Latest] = {}
    for part in _chunks(document_ids):
        top = (select(DocumentVersion.document_id, func.max(DocumentVersion.version).label("v"))
               .where(DocumentVersion.document_id.in_(part))
               .group_by(DocumentVersion.document_id).subquery())
        q = (select(DocumentVersion.document_id, DocumentVersion.version, DocumentVersion.change_type,
                    DocumentVersion.content_sha256)
             .join(top, (top.c.document_id == DocumentVersion.document_id)
                   & (top.c.v == DocumentVersion.version)))
        out.update((doc_id, _Latest(v, ct, sha)) for doc_id, v, ct, sha in session.execute(q))
    return out


def _stored_snapshots(session: Session, shas: set[str]) -> set[str]:
    out: set[str] = set()
    for part in _chunks(sorted(shas)):
        out.update(session.scalars(select(SnapshotRow.sha256).where(SnapshotRow.sha256.in_(part))))
    return out
