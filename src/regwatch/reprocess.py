"""`regwatch reprocess`: re-derive every record from stored snapshots, without fetching.

What comes out different is a *parser change*: it is reported here and in the log. A
change found again keeps its observation and recording times, so no digest reports a
parser change as news. A change no earlier parse found (the fixed parser sees what the old
one missed) keeps the observation time of the snapshot it comes from and is recorded now:
it is regulatory news regwatch had missed, so the digest of this week lists it as found
late, and a replay of an earlier moment does not show it (regwatch did not know it then).
A change regwatch had shown that the fixed parser no longer finds is retracted now: the
digest of this week lists it as withdrawn, and replays of earlier moments still show it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, select

from regwatch.app import App
from regwatch.db.session import require_schema, transaction
from regwatch.db.tables import (
    Announcement,
    ChangeCategory,
    ControlChange,
    DocumentRow,
    DocumentVersion,
    PressArticle,
    SourceRow,
)

log = logging.getLogger(__name__)

_COMPARED = ("law_id", "path", "citation_ja", "citation_en", "list_entry", "change_type", "regime",
             "outside_wassenaar", "announced_on", "promulgated_on", "effective_on", "before_text",
             "after_text", "event_id", "status")


@dataclass
class ReprocessOutcome:
    added: list[str] = field(default_factory=list)  # found late: in the next digest
    removed: list[str] = field(default_factory=list)  # retracted: in the next digest
    modified: list[str] = field(default_factory=list)
    total: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = (f"reprocessed: {self.total} control changes; parser changes: "
                f"{len(self.added)} added, {len(self.removed)} removed, {len(self.modified)} modified"
                " (an added one is a change the earlier parse missed, or had withdrawn: this"
                " week's digest lists it as found late, or found again; a removed one is"
                " withdrawn: the digest lists it as retracted)")
        lines = [head]
        lines += [f"  + {i}" for i in self.added[:50]]
        lines += [f"  - {i}" for i in self.removed[:50]]
        lines += [f"  ~ {i}" for i in self.modified[:50]]
        lines += [f"  ! {p}" for p in self.problems[:50]]
        return "\n".join(lines)


def _changes(session) -> dict[str, tuple]:
    rows = session.execute(select(ControlChange).where(ControlChange.standing())).scalars()
    cats = {}
    for cid, cat in session.execute(select(ChangeCategory.change_id, ChangeCategory.category)):
        cats.setdefault(cid, set()).add(cat)
    return {c.id: (*(getattr(c, f) for f in _COMPARED), frozenset(cats.get(c.id, ()))) for c in rows}


def reprocess(app: App, sources: list[str], now: datetime | None = None) -> ReprocessOutcome:
    """Re-derive from stored snapshots (of `sources`, all when empty) at `now` (the clock)."""
    from regwatch.derive import catch_up
    from regwatch.fetch.snapshots import SnapshotStore

    engine = app.engine
    require_schema(engine)
    for name in sources:
        app.config.source(name)  # unknown names are a usage error
    with transaction(engine) as session:
        before = _changes(session)
        versions = select(DocumentVersion.id).join(DocumentRow).join(SourceRow)
        if sources:
            versions = versions.where(SourceRow.name.in_(sources))
        session.execute(delete(Announcement).where(Announcement.document_version_id.in_(versions)))
        session.execute(delete(PressArticle).where(PressArticle.document_version_id.in_(versions)))
    store = SnapshotStore(app.config.data_path / "snapshots")
    problems = catch_up(engine, app.config, store, rebuild_all_laws=True, sources=sources or None,
                        now=now or datetime.now(UTC))
    with transaction(engine) as session:
        after = _changes(session)
    outcome = ReprocessOutcome(
        added=sorted(set(after) - set(before)), removed=sorted(set(before) - set(after)),
        modified=sorted(i for i in set(before) & set(after) if before[i] != after[i]),
        total=len(after), problems=[f"{p.url}: {p.message}" for p in problems])
    for kind, ids in (("added", outcome.added), ("removed", outcome.removed),
                      ("modified", outcome.modified)):
        for cid in ids:
            log.info("parser change (%s): control change %s", kind, cid)
    return outcome
