"""Evidence history: the evidence rows of changes that derivation replaced, and from when.

Law histories and events are rebuilt from the latest documents: when a revision's record
or an announcement is corrected, the evidence rows quoting it are deleted and written
again with the new quote and document version. `--as-known-at T` must still show the
source a report made at T showed. `kept(session)` wraps a derivation step: the rows it
removed while their change stays are appended to `evidence_history`, replaced at the
derivation's moment — the run that brought the correction, as for dates (see
`regwatch.derive.date_history`, `regwatch.derive.versions.derivation_time`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from regwatch.db.tables import (
    EVIDENCE_CONTENT,
    ControlChange,
    DocumentVersion,
    Evidence,
    EvidenceHistory,
)
from regwatch.derive.versions import derivation_time


@contextmanager
def kept(session: Session, at: datetime | None = None) -> Iterator[None]:
    """Keep the change evidence that the wrapped derivation step replaces (not on error),
    replaced `at` (default: derivation_time)."""
    before = _current(session)
    yield
    after = {_content(r) for r in _current(session)}
    # A law rebuild deletes every evidence row of its changes and the events step writes its
    # own back, as they were: those rows were not replaced after all, nor is any kept row
    # that is current again (the current row shows from the same moment on).
    kept_rows = session.execute(select(EvidenceHistory.id, *(getattr(EvidenceHistory, k)
                                                             for k in EVIDENCE_CONTENT))).mappings()
    back = [r["id"] for r in kept_rows if _content(r) in after]
    for start in range(0, len(back), 500):
        session.execute(delete(EvidenceHistory).where(EvidenceHistory.id.in_(back[start:start + 500])))
    gone = [r for r in before if _content(r) not in after]
    if not gone:
        return
    changes = dict(session.execute(select(ControlChange.id, ControlChange.observed_at)).all())
    versions = {r["document_version_id"] for r in gone} - {None}
    observed = dict(session.execute(select(DocumentVersion.id, DocumentVersion.observed_at)
                                    .where(DocumentVersion.id.in_(versions))).all())
    superseded_at = at or derivation_time(session)
    position: dict[int, int] = {}
    for change_rows in _by_change(before).values():
        position.update((r["id"], i) for i, r in enumerate(change_rows))
    # Known as as-known-at rule 2 says (from its document version, else with its change); a
    # row replaced at the moment it became known was never shown: nothing to keep.
    rows = [{**dict(zip(EVIDENCE_CONTENT, _content(r), strict=True)), "position": position[r["id"]],
             "superseded_at": superseded_at}
            for r in gone if r["change_id"] in changes
            and observed.get(r["document_version_id"], changes[r["change_id"]]) < superseded_at]
    for start in range(0, len(rows), 2000):
        session.execute(insert(EvidenceHistory), rows[start:start + 2000])


def _content(row: Any) -> tuple:
    return tuple(row[k] for k in EVIDENCE_CONTENT)


def _current(session: Session) -> list[dict[str, Any]]:
    columns = [Evidence.id, *(getattr(Evidence, k) for k in EVIDENCE_CONTENT)]
    return [dict(r._mapping) for r in session.execute(
        select(*columns).where(Evidence.change_id.is_not(None)).order_by(Evidence.id))]


def _by_change(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["change_id"], []).append(r)
    return out
