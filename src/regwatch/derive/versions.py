"""Finding stored document versions that derivation has not yet reflected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from regwatch.db.tables import DocumentRow, DocumentVersion, SourceRow


@dataclass(frozen=True)
class PendingVersion:
    version_id: int
    source: str
    url: str
    kind: str
    observed_at: datetime
    snapshot_sha256: str | None
    text: str | None
    encoding: str | None
    title: str | None
    metadata: dict[str, Any]


def derivation_time(session: Session, now: datetime | None = None) -> datetime:
    """The moment a derivation records what it finds and what it replaces: `now`, the
    caller's clock (a pipeline run's moment, `regwatch reprocess`'s), never before the
    newest observation in the store; that observation when no clock is given. What a fixed
    parser finds in old snapshots is learnt when it runs, not when they were fetched."""
    newest = session.execute(select(func.max(DocumentVersion.observed_at))).scalar()
    if now is None:
        return newest or datetime.now(UTC)
    return max(now, newest) if newest else now


def latest_versions(session: Session, kind: str) -> list[PendingVersion]:
    """The latest non-removed version of every document of `kind`, in observation order."""
    rows = session.execute(
        select(DocumentVersion, DocumentRow.url, SourceRow.name)
        .join(DocumentRow, DocumentRow.id == DocumentVersion.document_id)
        .join(SourceRow, SourceRow.id == DocumentRow.source_id)
        .where(DocumentRow.kind == kind)
        .order_by(DocumentVersion.document_id, DocumentVersion.version)).all()
    latest: dict[int, tuple[DocumentVersion, str, str]] = {}
    for version, url, source in rows:
        latest[version.document_id] = (version, url, source)
    out = [PendingVersion(v.id, source, url, kind, v.observed_at, v.snapshot_sha256, v.text,
                          v.encoding, v.title, v.doc_metadata or {})
           for v, url, source in latest.values() if v.change_type != "removed"]
    return sorted(out, key=lambda p: (p.observed_at, p.version_id))


def pending(session: Session, kind: str, derived_column) -> list[PendingVersion]:
    """Latest versions of `kind` whose id does not appear in `derived_column`."""
    done = set(session.scalars(select(derived_column)))
    return [p for p in latest_versions(session, kind) if p.version_id not in done]


def decoded_text(p: PendingVersion, store) -> str:
    """The version's text; decoded again from the raw snapshot when it was not kept."""
    if p.text is not None:
        return p.text
    from regwatch.fetch.encoding import decode

    data = store.get(p.snapshot_sha256)
    codec = (p.encoding or "").split(" ")[0]
    if codec:
        try:
            return data.decode(codec, errors="replace")
        except LookupError:
            pass
    return decode(data).text
