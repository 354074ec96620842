"""Law history: stored e-Gov revisions → law_revisions, provision intervals, control changes.

A law's history is rebuilt from its stored revision snapshots whenever a revision was
added, corrected or replaced, so the result depends only on what is stored (crash-safe,
and the same whatever order revisions arrived in) — except that a change found again keeps
the ID and first observation it was given, even when e-Gov lists its revision under a new
ID (see `rebuild_law`). Provisions are stored as intervals: one row
per (path, text) from the revision that introduced the text (`valid_from`) to the one
that changed or removed it (`valid_to`, exclusive), so "the text of P on D" and "every
change to I between D1 and D2" are single queries.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from regwatch.db.tables import (
    ChangeCategory,
    ControlChange,
    DocumentRow,
    DocumentVersion,
    Evidence,
    Instrument,
    LawRevision,
    Provision,
)
from regwatch.errors import ParseError

log = logging.getLogger(__name__)

REVISION_KIND = "egov_law_revision"
STATUS = {"CurrentEnforced": "in_force", "PreviousEnforced": "superseded",
          "UnEnforced": "not_yet_in_force", "Repeal": "repealed"}


@dataclass(frozen=True)
class StoredRevision:
    law_id: str
    law_revision_id: str
    version_id: int
    url: str
    observed_at: datetime
    snapshot_sha256: str
    record: dict[str, Any]

    @property
    def effective_on(self) -> date | None:
        return _date(self.record.get("amendment_enforcement_date"))

    @property
    def sort_key(self) -> tuple[str, str]:
        return (self.record.get("amendment_enforcement_date") or "9999-12-31", self.law_revision_id)


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def stored_revisions(session: Session) -> dict[str, list[StoredRevision]]:
    """The latest version of every stored revision document, grouped by law, in order."""
    rows = session.execute(
        select(DocumentRow.url, DocumentVersion)
        .join(DocumentVersion, DocumentVersion.document_id == DocumentRow.id)
        .where(DocumentRow.kind == REVISION_KIND)
        .order_by(DocumentVersion.document_id, DocumentVersion.version)).all()
    latest: dict[int, tuple[str, DocumentVersion]] = {}
    for url, version in rows:
        latest[version.document_id] = (url, version)
    by_law: dict[str, list[StoredRevision]] = {}
    for url, v in latest.values():
        rev = _stored(url, v)
        if v.change_type != "removed" and rev is not None:
            by_law.setdefault(rev.law_id, []).append(rev)
    for revisions in by_law.values():
        revisions.sort(key=lambda r: r.sort_key)
    return by_law


def _stored(url: str, v: DocumentVersion) -> StoredRevision | None:
    meta = v.doc_metadata or {}
    record = meta.get("revision") or {}
    law_id = meta.get("law_id") or record.get("law_id")
    if not v.snapshot_sha256 or not law_id:
        return None
    rev_id = record.get("law_revision_id") or meta.get("law_revision_id")
    return StoredRevision(law_id, rev_id, v.id, url, v.observed_at, v.snapshot_sha256, record)


def _earlier_versions(session: Session, rev: StoredRevision) -> list[StoredRevision]:
    """The stored versions of `rev`'s document before it, newest first."""
    document_id = select(DocumentVersion.document_id).where(DocumentVersion.id == rev.version_id)
    current = select(DocumentVersion.version).where(DocumentVersion.id == rev.version_id)
    versions = session.scalars(
        select(DocumentVersion)
        .where(DocumentVersion.document_id == document_id.scalar_subquery(),
               DocumentVersion.version < current.scalar_subquery(),
               DocumentVersion.change_type != "removed")
        .order_by(DocumentVersion.version.desc())).all()
    return [r for r in (_stored(rev.url, v) for v in versions) if r is not None]


def _parse_or_fall_back(session: Session, rev: StoredRevision, load, parse,
                        problems: list[tuple[str, str]]) -> tuple[StoredRevision, Any] | None:
    """`rev` parsed; when its latest version does not parse (a broken copy, an element this
    parser does not know), the newest earlier version that does, so derived history is not
    lost to bad input. Either way the error is a problem of this run, and of every run
    until a version parses again (the law stays stale)."""
    try:
        return rev, parse(load(rev.snapshot_sha256), source=rev.url)
    except ParseError as exc:
        error = exc
    for older in _earlier_versions(session, rev):
        try:
            text = parse(load(older.snapshot_sha256), source=older.url)
        except ParseError:
            continue
        problems.append((rev.url, f"revision {rev.law_revision_id} not parsed: {error.reason}; "
                                  f"its history stands on the version observed "
                                  f"{older.observed_at:%Y-%m-%d %H:%M} UTC"))
        log.error("law %s revision %s not parsed, earlier version used: %s", rev.law_id,
                  rev.law_revision_id, error)
        return older, text
    problems.append((rev.url, f"revision {rev.law_revision_id} not parsed: {error.reason}"))
    log.error("law %s revision %s not parsed: %s", rev.law_id, rev.law_revision_id, error)
    return None


def stale_laws(session: Session) -> list[str]:
    """Laws with a stored revision version that the derived history does not reflect."""
    derived = set(session.scalars(select(LawRevision.document_version_id)))
    return sorted(law_id for law_id, revs in stored_revisions(session).items()
                  if any(r.version_id not in derived for r in revs))


def laws_of_sources(session: Session, sources: list[str] | None) -> list[str]:
    """Every law with stored revisions (from the named sources only, when given)."""
    from regwatch.db.tables import SourceRow

    q = (select(DocumentVersion.doc_metadata).join(DocumentRow)
         .join(SourceRow, SourceRow.id == DocumentRow.source_id)
         .where(DocumentRow.kind == REVISION_KIND))
    if sources:
        q = q.where(SourceRow.name.in_(sources))
    return sorted({(m or {}).get("law_id") for m in session.scalars(q)} - {None})


def change_id(law_id: str, law_revision_id: str, path: str, change_type: str) -> str:
    return hashlib.sha256(f"{law_id}|{law_revision_id}|{path}|{change_type}".encode()).hexdigest()[:32]


def rebuild_law(session: Session, law_id: str, revisions: list[StoredRevision], *, load, taxonomy,
                title_en: str | None = None, at: datetime) -> list[tuple[str, str]]:
    """Rebuild revisions, provisions and changes of one law. Returns problems found, as
    (URL of the revision, what is wrong)."""
    from regwatch.normalise.egov_law import PARSER_VERSION, parse_law_xml
    from regwatch.normalise.law_diff import diff_laws

    problems: list[tuple[str, str]] = []
    instrument = session.scalar(select(Instrument).where(Instrument.law_id == law_id))
    if instrument is None:
        instrument = Instrument(law_id=law_id, jurisdiction="JP")
        session.add(instrument)
        session.flush()
    old_changes = select(ControlChange.id).where(ControlChange.law_id == law_id)
    known = _Known(at)
    rebuilt = {r.law_revision_id for r in revisions}
    before = _Snapshot.of(session, law_id)
    for r in before.changes.values():
        known.add(r, relisted=r["law_revision_id"] not in rebuilt)
    session.execute(delete(ChangeCategory).where(ChangeCategory.change_id.in_(old_changes)))
    session.execute(delete(Evidence).where(Evidence.change_id.in_(old_changes)))
    session.execute(delete(ControlChange).where(ControlChange.law_id == law_id))
    session.execute(delete(Provision).where(Provision.instrument_id == instrument.id))
    existing = {r.law_revision_id: r for r in session.scalars(
        select(LawRevision).where(LawRevision.instrument_id == instrument.id))}

    previous = None  # (StoredRevision, LawText)
    open_rows: dict[str, dict[str, Any]] = {}
    closed: list[dict[str, Any]] = []
    keep: set[str] = set()
    unparsed: set[str] = set()
    skipped: list[str] = []  # revisions since `previous` that did not parse
    held: set[str] = set()  # revisions whose changes stand as they were (see below)
    for latest in revisions:
        parsed = _parse_or_fall_back(session, latest, load, parse_law_xml, problems)
        if parsed is None:
            unparsed.add(latest.law_revision_id)
            if previous is not None:
                skipped.append(latest.law_revision_id)
            continue
        rev, text = parsed
        stored = existing.get(rev.law_revision_id)
        derived_from = stored.document_version_id if stored is not None else None
        row = _upsert_revision(session, stored, instrument, rev, PARSER_VERSION)
        keep.add(rev.law_revision_id)
        instrument.title = rev.record.get("law_title") or text.title or instrument.title
        instrument.law_num = text.law_num or instrument.law_num
        if title_en:
            instrument.title_en = title_en
        effective = rev.effective_on
        seen_paths = set()
        for p in text.provisions:
            seen_paths.add(p.path)
            current = open_rows.get(p.path)
            if current is not None and current["text"] == p.text:
                continue
            if current is not None:
                current["valid_to"] = effective
                closed.append(current)
            open_rows[p.path] = {
                "instrument_id": instrument.id, "revision_id": row.id, "path": p.path,
                "citation_ja": p.citation_ja, "citation_en": p.citation_en,
                "list_entry": p.list_entry, "text": p.text, "position": p.position,
                "valid_from": effective, "valid_to": None, "parser_version": PARSER_VERSION}
        for path in [p for p in open_rows if p not in seen_paths]:
            gone = open_rows.pop(path)
            gone["valid_to"] = effective
            closed.append(gone)
        if (previous is not None and skipped and derived_from == rev.version_id
                and before.standing([rev.law_revision_id])):
            # A diff across an unreadable revision would give this one its changes too,
            # under this one's dates: the changes derived from the text before it stand
            # (unless this one's text changed since; then see past_unread).
            held.add(rev.law_revision_id)
            problems.append((rev.url, f"changes of {rev.law_revision_id} stand as derived "
                                      f"before: the revision before it does not parse"))
        elif previous is not None:
            changes = diff_laws(previous[1], text)
            if skipped:
                changes = past_unread(changes, before.standing(skipped))
            _store_changes(session, law_id, instrument, previous[0], rev, row, changes,
                           taxonomy, PARSER_VERSION, known)
        previous, skipped = (rev, text), []
    # A revision no version of which parses keeps its row and changes as they were: bad
    # input (or a parser regression) must not make regwatch withdraw what it found.
    keep |= unparsed & set(existing)
    made = set(session.scalars(select(ControlChange.id).where(ControlChange.law_id == law_id)))
    before.put_back(session, made=made | known.moved, unparsed=unparsed | held, at=at,
                    revision_ids={rid: row.id for rid, row in existing.items() if rid in keep})
    for rev_id, row in existing.items():
        if rev_id not in keep:
            session.delete(row)
    rows = closed + list(open_rows.values())
    for start in range(0, len(rows), 2000):
        session.execute(insert(Provision), rows[start:start + 2000])
    return problems


def past_unread(changes: list, kept: list[dict[str, Any]]) -> list:
    """Changes diffed from the last readable text across unreadable revisions, less what
    those revisions' kept changes (`kept`, in order) already say: a provision they changed
    (or moved) is changed here only from the text they left where they left it, and not at
    all when it is that text."""
    from dataclasses import replace

    from regwatch.normalise.law_diff import change_spans

    said = {(k["change_type"], k["path"], k.get("before_text"), k["after_text"]) for k in kept}
    left: dict[str, str | None] = {}  # path → the text they left there (None: nothing)
    moved_in: set[str] = set()  # paths they moved a provision to
    for k in kept:
        if k["change_type"] == "renumbered":
            moved_in.add(k["path"])
            origin = (k.get("renumbered_from") or {}).get("path")
            if origin:
                left.setdefault(origin, None)  # vacated, unless a later change put text there
    for k in kept:
        left[k["path"]] = None if k["change_type"] == "removed" else k["after_text"]
    out = []
    for ch in changes:
        if (ch.change_type, ch.path, ch.before_text, ch.after_text) in said:
            continue  # the unreadable revision's own change, kept as it was
        moved = ch.change_type == "renumbered" and ch.path not in moved_in
        source = (ch.renumbered_from or {}).get("path", ch.path) if moved else ch.path
        if source not in left:
            out.append(ch)
            continue
        before, after = left[source], ch.after_text
        if before == after and not moved:
            continue  # the provision is as the unreadable revisions left it
        kind = ("added" if before is None else "removed" if after is None
                else "renumbered" if moved else "amended")
        out.append(replace(ch, change_type=kind, before_text=before,
                           spans=change_spans(before, after),
                           renumbered_from=ch.renumbered_from if kind == "renumbered" else None))
    return out


@dataclass
class _Known:
    """The changes a law rebuild replaces, by what makes a new one the same change again.

    A change found again with the same content keeps its first observation: a corrected
    record (a new version of the revision, same text) is not a newly observed change. Every
    change found again keeps when it was recorded; a new one is recorded `at` (the
    derivation's moment), later than its observation only when an earlier parse missed it.

    e-Gov may list a revision again under a new ID (the ID carries the enforcement date):
    the same change of the same amending law keeps its ID and times, and only its dates move
    (a date correction, see derive.date_history). `ids` keeps such an ID on later rebuilds,
    when it is no longer the hash of its revision's ID. A change whose ID a parser change
    moved (a new path scheme) keeps its times when a change of the same revision with the
    same text is gone (one for one): a parser change is neither news nor a retraction.

    A retracted change found again is a new record under a new ID, recorded `at`: the
    retracted one stays as it was, so replays of the time between stay exact and the
    digest of the week it came back lists it.
    """

    at: datetime
    first_seen: dict[str, tuple[datetime, datetime, tuple]] = field(default_factory=dict)
    ids: dict[tuple[str, str, str], str] = field(default_factory=dict)
    carried: dict[tuple, tuple[str, datetime, datetime]] = field(default_factory=dict)
    same_text: dict[tuple, list[tuple[str, datetime, datetime]]] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set)  # old IDs a new one stands for: not retracted
    retracted: set[str] = field(default_factory=set)

    def add(self, r: dict[str, Any], *, relisted: bool) -> None:
        cid, observed, recorded = r["id"], r["observed_at"], r["recorded_at"]
        if r["retracted_at"] is not None:
            self.retracted.add(cid)
            return
        content = (r["change_type"], r["before_text"], r["after_text"])
        self.first_seen[cid] = (observed, recorded, content)
        if not relisted:
            self.ids[(r["law_revision_id"], r["path"], r["change_type"])] = cid
            self.same_text.setdefault((r["law_revision_id"], *content), []).append(
                (cid, observed, recorded))
        elif r["amendment_law_id"]:
            self.carried[(r["amendment_law_id"], r["path"], *content)] = (cid, observed, recorded)

    def times(self, law_id: str, new: StoredRevision,
              changes: list) -> list[tuple[str, datetime, datetime]]:
        """(ID, observed_at, recorded_at) of each change `new` makes, in order."""
        out = []
        for ch in changes:
            content = (ch.change_type, ch.before_text, ch.after_text)
            cid = self._not_retracted(
                self.ids.get((new.law_revision_id, ch.path, ch.change_type))
                or change_id(law_id, new.law_revision_id, ch.path, ch.change_type))
            seen, recorded, before = self.first_seen.get(cid, (None, None, None))
            observed = min(seen, new.observed_at) if before == content else new.observed_at
            if seen is None:
                cid, observed, recorded = self.carried.pop(
                    (new.record.get("amendment_law_id"), ch.path, *content), (cid, observed, None))
            out.append((cid, observed, recorded, content))
        made = {cid for cid, *_ in out}
        times = []
        for cid, observed, recorded, content in out:
            if recorded is None:  # new: unless a change of the same text is gone (its ID moved)
                alike = self.same_text.get((new.law_revision_id, *content), [])
                gone = next((g for g in alike if g[0] not in made), None)
                if gone is not None:
                    alike.remove(gone)
                    self.moved.add(gone[0])
                    _, observed, recorded = gone
            times.append((cid, observed, max(recorded or self.at, observed)))
        return times

    def _not_retracted(self, cid: str) -> str:
        """`cid`, or the next ID of its line when `cid` was retracted (found again)."""
        fresh, n = cid, 1
        while fresh in self.retracted:
            n += 1
            fresh = hashlib.sha256(f"{cid}#{n}".encode()).hexdigest()[:32]
        return fresh


@dataclass
class _Snapshot:
    """A law's changes as they stood before its rebuild (rows, categories, evidence), so that
    those the rebuild does not make again can be put back: retracted, or as they were."""

    changes: dict[str, dict[str, Any]]
    categories: dict[str, list[str]]
    evidence: dict[str, list[dict[str, Any]]]

    @classmethod
    def of(cls, session: Session, law_id: str) -> _Snapshot:
        c = ControlChange.__table__
        changes = {r["id"]: dict(r) for r in session.execute(
            select(c, LawRevision.law_revision_id, LawRevision.amendment_law_id)
            .outerjoin(LawRevision, LawRevision.id == c.c.revision_id)
            .where(c.c.law_id == law_id)).mappings()}
        ids = select(c.c.id).where(c.c.law_id == law_id)
        categories: dict[str, list[str]] = {}
        for cid, tag in session.execute(select(ChangeCategory.change_id, ChangeCategory.category)
                                        .where(ChangeCategory.change_id.in_(ids))):
            categories.setdefault(cid, []).append(tag)
        evidence: dict[str, list[dict[str, Any]]] = {}
        e = Evidence.__table__
        for r in session.execute(select(e).where(e.c.change_id.in_(ids)).order_by(e.c.id)).mappings():
            evidence.setdefault(r["change_id"], []).append({k: v for k, v in r.items() if k != "id"})
        return cls(changes, categories, evidence)

    def standing(self, revision_ids: list[str]) -> list[dict[str, Any]]:
        """The changes of these revisions not retracted, in the revisions' order."""
        order = {rid: i for i, rid in enumerate(revision_ids)}
        return sorted((r for r in self.changes.values()
                       if r["law_revision_id"] in order and r["retracted_at"] is None),
                      key=lambda r: order[r["law_revision_id"]])

    def put_back(self, session: Session, *, made: set[str], unparsed: set[str], at: datetime,
                 revision_ids: dict[str, int]) -> None:
        """Put back the changes not `made` again. One from a revision that did not parse, or
        already retracted, as it was; one regwatch had shown (recorded before `at`) as
        retracted `at`; one never shown is dropped. A change keeps its revision only if
        that revision's row stays (`revision_ids`)."""
        rows = []
        for cid, r in self.changes.items():
            if cid in made:
                continue
            row = {k: v for k, v in r.items() if k not in ("law_revision_id", "amendment_law_id")}
            if r["law_revision_id"] not in unparsed and row["retracted_at"] is None:
                if row["recorded_at"] >= at:
                    continue
                row["retracted_at"] = at
                log.warning("law %s: change %s (%s) is no longer found: retracted", r["law_id"],
                            cid, r["citation_ja"] or r["path"])
            row["revision_id"] = revision_ids.get(r["law_revision_id"])
            rows.append(row)
        if not rows:
            return
        session.execute(insert(ControlChange.__table__), rows)
        kept = [row["id"] for row in rows]
        tags = [{"change_id": cid, "category": t} for cid in kept for t in self.categories.get(cid, ())]
        if tags:
            session.execute(insert(ChangeCategory), tags)
        evidence = [e for cid in kept for e in self.evidence.get(cid, ())]
        if evidence:
            session.execute(insert(Evidence.__table__), evidence)


def _upsert_revision(session: Session, row: LawRevision | None, instrument: Instrument,
                     rev: StoredRevision, parser_version: str) -> LawRevision:
    r = rev.record
    if row is None:
        row = LawRevision(instrument_id=instrument.id, law_revision_id=rev.law_revision_id)
        session.add(row)
    row.promulgated_on = _date(r.get("amendment_promulgate_date"))
    row.effective_on = rev.effective_on
    row.amendment_law_id = r.get("amendment_law_id")
    row.amendment_law_num = r.get("amendment_law_num")
    row.amendment_law_title = r.get("amendment_law_title")
    row.status = STATUS.get(r.get("current_revision_status") or "", None)
    row.updated = r.get("updated")
    row.document_version_id = rev.version_id
    row.observed_at = rev.observed_at
    row.parser_version = parser_version
    session.flush()
    return row


def _store_changes(session: Session, law_id: str, instrument: Instrument, old: StoredRevision,
                   new: StoredRevision, row: LawRevision, changes, taxonomy,
                   parser_version: str, known: _Known) -> None:
    record = new.record
    amend = record.get("amendment_law_num") or record.get("amendment_law_id")
    changes = list(changes)
    for ch, (cid, observed, recorded) in zip(changes, known.times(law_id, new, changes), strict=True):
        session.add(ControlChange(
            id=cid, revision_id=row.id, jurisdiction="JP", law_id=law_id,
            instrument_title=instrument.title, path=ch.path, citation_ja=ch.citation_ja,
            citation_en=ch.citation_en, list_entry=ch.list_entry, change_type=ch.change_type,
            regime="unknown", outside_wassenaar=None, announced_on=None,
            promulgated_on=row.promulgated_on, effective_on=row.effective_on,
            observed_at=observed, recorded_at=recorded, before_text=ch.before_text,
            after_text=ch.after_text,
            renumbered_from=dict(ch.renumbered_from) if ch.renumbered_from else None,
            status="official", parser_version=parser_version))
        session.flush()
        for tag in taxonomy.categories_in(ch.after_text or ch.before_text or "") if taxonomy else ():
            session.add(ChangeCategory(change_id=cid, category=tag))
        quote = (f"{record.get('law_title') or instrument.title or law_id} — {amend or '?'}; "
                 f"施行 {record.get('amendment_enforcement_date') or '不明'}"
                 + (f", 公布 {record['amendment_promulgate_date']}" if record.get("amendment_promulgate_date") else ""))
        session.add(Evidence(change_id=cid, document_version_id=new.version_id, url=new.url,
                             kind="egov_law", title=f"e-Gov revision {new.law_revision_id}",
                             quote=quote, field="effective_on"))
