"""Events: one regulatory action across its stages, and what it lends its changes.

Recomputed from scratch after every run (it is cheap, and a pure function of what is
stored): announcements and law revisions are joined into official events; each control
change of a revision takes its event's dates and regime basis, with the announcement's
quote as evidence; where no announcement states the regime, the curated regime map in
config/ decides; otherwise it stays unknown. Then press clusters are linked to events,
or become "reported, not yet official" events, with discrepancies against the record.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from regwatch.config import Config
from regwatch.db.tables import (
    Announcement,
    ControlChange,
    DocumentVersion,
    Event,
    Evidence,
    LawRevision,
    PressArticle,
)

log = logging.getLogger(__name__)

PARSER_VERSION = "events/1"
DERIVED_KINDS = ("meti_press", "press", "regime_map")  # evidence this pass owns
EGOV_EVIDENCE = "e-Gov law revision "  # how normalise.events cites a revision


def rebuild_events(session: Session, config: Config, taxonomy) -> None:
    from regwatch.normalise.events import Revision, join_events, load_regime_map

    announcements = _latest_announcements(session)
    revisions = session.execute(select(LawRevision.law_revision_id, LawRevision.amendment_law_num,
                                       LawRevision.promulgated_on, LawRevision.effective_on,
                                       LawRevision.instrument_id, LawRevision.observed_at)).all()
    law_ids = _law_ids(session)
    revision_first_seen = _revisions_first_seen(session)
    infos = [Revision(law_id=law_ids[r.instrument_id], law_revision_id=r.law_revision_id,
                          amendment_law_num=r.amendment_law_num, promulgated_on=r.promulgated_on,
                          effective_on=r.effective_on) for r in revisions]
    drafts = join_events([a for _, a in announcements], infos)
    regime_map = load_regime_map(config.regime_map_path())
    # First observations: the earliest version of each document, not the latest.
    observed = {r.law_revision_id: revision_first_seen.get(r.law_revision_id, r.observed_at)
                for r in revisions}
    ann_rows = {a.url: row for row, a in announcements}
    revision_docs = _revision_documents(session)

    # Clear what this pass owns, then write it again.
    session.execute(update(Announcement).values(event_id=None))
    session.execute(update(PressArticle).values(event_id=None, cluster_key=None))
    # A retracted change stays as it was when withdrawn (see law_history._Snapshot).
    session.execute(update(ControlChange).where(ControlChange.standing()).values(event_id=None))
    retracted = select(ControlChange.id).where(~ControlChange.standing())
    session.execute(delete(Evidence).where(Evidence.kind.in_(DERIVED_KINDS),
                                           or_(Evidence.change_id.is_(None),
                                               Evidence.change_id.not_in(retracted))))
    session.execute(delete(Evidence).where(Evidence.event_id.is_not(None)))
    existing = {e.key: e for e in session.scalars(select(Event))}
    keep: set[str] = set()

    for draft in drafts:
        first_seen = min([ann_rows[u].first_observed for u in draft.announcement_urls if u in ann_rows]
                         + [observed[r] for r in draft.revision_ids if r in observed],
                         default=None)
        event = _upsert(session, existing, draft.key, first_seen)
        keep.add(draft.key)
        event.title = draft.title
        event.jurisdiction = draft.jurisdiction
        event.status = "official"
        event.law_ids = list(draft.law_ids)
        event.amendment_law_num = draft.amendment_law_num
        event.categories = list(draft.categories)
        event.regime = draft.regime or "unknown"
        event.outside_wassenaar = draft.outside_wassenaar
        for name in ("announced_on", "public_comment_on", "decided_on", "promulgated_on", "effective_on"):
            setattr(event, name, getattr(draft, name))
        members = [a for _, a in announcements if a.url in draft.announcement_urls]
        event.details = {"item_count": next((a.item_count for a in members if a.item_count), None),
                         "public_comment_deadline": _iso(draft.public_comment_deadline),
                         "announcements": list(draft.announcement_urls),
                         "title_ja": draft.title_ja,
                         "revisions": list(draft.revision_ids)}
        event.parser_version = PARSER_VERSION
        session.flush()
        for field, (url, quote) in draft.evidence.items():
            row = ann_rows.get(url)
            if row is not None:
                session.add(Evidence(event_id=event.id, document_version_id=row.version_id, url=url,
                                     kind="meti_press", title=row.title, quote=quote, field=field))
                continue
            rev_id = url.removeprefix(EGOV_EVIDENCE)  # the joiner names revisions, not URLs
            rev_url, rev_version = revision_docs.get(rev_id, (url, None))
            session.add(Evidence(event_id=event.id, document_version_id=rev_version, url=rev_url,
                                 kind="egov_law", title=f"e-Gov revision {rev_id}", quote=quote,
                                 field=field))
        for url in draft.announcement_urls:
            if url in ann_rows:
                ann_rows[url].row.event_id = event.id
        _apply_to_changes(session, event, draft, ann_rows)

    _apply_regimes(session, drafts, regime_map)
    _link_press(session, keep, existing)
    for key, event in existing.items():
        if key not in keep:
            session.execute(update(ControlChange).where(ControlChange.event_id == event.id)
                            .values(event_id=None))  # a retracted change of a gone event
            session.delete(event)
    session.flush()


def _revision_documents(session: Session) -> dict[str, tuple[str, int]]:
    """law_revision_id → (URL, document version) of the stored revision text."""
    from regwatch.db.tables import DocumentRow

    rows = session.execute(select(LawRevision.law_revision_id, DocumentRow.url, LawRevision.document_version_id)
                           .join(DocumentVersion, DocumentVersion.id == LawRevision.document_version_id)
                           .join(DocumentRow, DocumentRow.id == DocumentVersion.document_id)).all()
    return {rid: (url, vid) for rid, url, vid in rows}


class _Ann:
    """An announcement row (its latest version) with what the event pass needs of it."""

    def __init__(self, row: Announcement, first_observed: datetime, title: str | None):
        self.row, self.title, self.version_id = row, title, row.document_version_id
        self.first_observed = first_observed  # of its page's first relevant version


def _latest_announcements(session: Session) -> list[tuple[_Ann, Any]]:
    from regwatch.derive.announcements import announcement_from_record

    rows = session.execute(select(Announcement, DocumentVersion.observed_at)
                           .join(DocumentVersion, DocumentVersion.id == Announcement.document_version_id)
                           .where(Announcement.relevant.is_(True))
                           .order_by(Announcement.document_version_id)).all()
    latest: dict[str, Announcement] = {}
    first: dict[str, datetime] = {}
    for row, observed in rows:
        latest[row.url] = row
        first[row.url] = min(observed, first.get(row.url, observed))
    out = []
    for url, row in latest.items():
        if "error" in (row.record or {}):
            continue
        out.append((_Ann(row, first[url], row.title), announcement_from_record(row.record)))
    return out


def _revisions_first_seen(session: Session) -> dict[str, datetime]:
    """law_revision_id → when its text's document was first observed (its first version)."""
    latest = aliased(DocumentVersion)
    rows = session.execute(
        select(LawRevision.law_revision_id, func.min(DocumentVersion.observed_at))
        .join(latest, latest.id == LawRevision.document_version_id)
        .join(DocumentVersion, DocumentVersion.document_id == latest.document_id)
        .group_by(LawRevision.law_revision_id)).all()
    return dict(rows)


def _law_ids(session: Session) -> dict[int, str]:
    from regwatch.db.tables import Instrument

    return dict(session.execute(select(Instrument.id, Instrument.law_id)).all())


def _upsert(session: Session, existing: dict[str, Event], key: str,
            first_seen: datetime | None) -> Event:
    event = existing.get(key)
    if event is None:
        event = Event(key=key, jurisdiction="JP", status="official", regime="unknown",
                      first_observed_at=first_seen, parser_version=PARSER_VERSION)
        session.add(event)
        existing[key] = event
    elif first_seen is not None:  # never later: the event was reported from then on
        event.first_observed_at = min(event.first_observed_at, first_seen)
    return event


def _apply_to_changes(session: Session, event: Event, draft, ann_rows: dict[str, _Ann]) -> None:
    """Changes of the event's revisions take its announcement date, with the quote."""
    rev_ids = select(LawRevision.id).where(LawRevision.law_revision_id.in_(list(draft.revision_ids)))
    changes = session.scalars(select(ControlChange).where(ControlChange.revision_id.in_(rev_ids),
                                                          ControlChange.standing())).all()
    announced = draft.evidence.get("announced_on")
    for change in changes:
        change.event_id = event.id
        change.announced_on = draft.announced_on
        if announced is not None and announced[0] in ann_rows:
            row = ann_rows[announced[0]]
            session.add(Evidence(change_id=change.id, document_version_id=row.version_id,
                                 url=row.row.url, kind="meti_press", title=row.title,
                                 quote=announced[1], field="announced_on"))


def _apply_regimes(session: Session, drafts, regime_map) -> None:
    """Each change takes its event's stated basis, else the curated map, else unknown."""
    from regwatch.normalise.events import regime_for_change

    by_revision = {rid: d for d in drafts for rid in d.revision_ids}
    revision_ids = dict(session.execute(select(LawRevision.id, LawRevision.law_revision_id)).all())
    announcements = {a.url: a for a in session.scalars(select(Announcement))}
    for change in session.scalars(select(ControlChange).where(ControlChange.standing())):
        draft = by_revision.get(revision_ids.get(change.revision_id))
        decision = regime_for_change(draft, regime_map, change.law_id, change.path)
        change.regime, change.outside_wassenaar = decision.regime, decision.outside_wassenaar
        if decision.basis == "none":
            continue
        ann = announcements.get(decision.url)
        session.add(Evidence(
            change_id=change.id, document_version_id=ann.document_version_id if ann else None,
            url=decision.url or "", kind="meti_press" if decision.basis == "announcement" else "regime_map",
            title=(ann.title if ann else None) if decision.basis == "announcement" else "regwatch regime map",
            quote=decision.quote, field="regime"))


def _link_press(session: Session, official: set[str], events: dict[str, Event]) -> None:
    from regwatch.derive.press import relevant_articles
    from regwatch.normalise.cluster import cluster_articles
    from regwatch.normalise.linking import (
        Evidence as LinkEvidence,
    )
    from regwatch.normalise.linking import (
        OfficialEvent,
        cluster_claims,
        discrepancies,
        link_clusters,
    )

    articles = relevant_articles(session)
    if not articles:
        return
    rows = {a.url: row for row, a in articles}
    clusters = cluster_articles([a for _, a in articles])
    officials = []
    for key in sorted(official):
        e = events[key]
        ev = {r.field: LinkEvidence(r.url, r.quote) for r in session.scalars(
            select(Evidence).where(Evidence.event_id == e.id, Evidence.field.is_not(None)))}
        details = e.details or {}
        officials.append(OfficialEvent(
            key=e.key, jurisdiction=e.jurisdiction, title=e.title, law_ids=tuple(e.law_ids or ()),
            categories=tuple(e.categories or ()), announced_on=e.announced_on,
            public_comment_on=e.public_comment_on, decided_on=e.decided_on,
            promulgated_on=e.promulgated_on, effective_on=e.effective_on,
            item_count=details.get("item_count"), country_count=details.get("country_count"),
            outside_wassenaar=e.outside_wassenaar, url=next(iter(details.get("announcements") or []), None),
            evidence=ev))
    by_key = {o.key: o for o in officials}
    for cluster, link in zip(clusters, link_clusters(clusters, officials), strict=True):
        if link.event_key is not None:
            event = events[link.event_key]
            found = discrepancies(cluster_claims(cluster), by_key[link.event_key])
        else:
            seen = session.scalars(select(DocumentVersion.observed_at).where(DocumentVersion.id.in_(
                [rows[a.url].document_version_id for a in cluster.articles]))).all()
            event = _unofficial_event(session, events, cluster, min(seen))
            official.add(event.key)
            found = []
        details = dict(event.details or {})
        details["discrepancies"] = [*details.get("discrepancies", []), *(_json(d) for d in found)]
        details.setdefault("clusters", []).append(cluster.to_json())
        event.details = details
        session.flush()
        changes = session.scalars(select(ControlChange).where(ControlChange.event_id == event.id,
                                                              ControlChange.standing())).all()
        for article in cluster.articles:
            row = rows[article.url]
            row.event_id, row.cluster_key = event.id, cluster.key
            quote = _press_quote(article)
            session.add(Evidence(event_id=event.id, document_version_id=row.document_version_id,
                                 url=article.url, kind="press", title=article.title, quote=quote))
            for change in changes:
                session.add(Evidence(change_id=change.id, document_version_id=row.document_version_id,
                                     url=article.url, kind="press", title=article.title, quote=quote))


def _unofficial_event(session: Session, events: dict[str, Event], cluster,
                      first_seen: datetime) -> Event:
    first = cluster.articles[0]
    key = f"press:{cluster.key}"
    published = [a.published_on for a in cluster.articles if a.published_on]
    event = events.get(key)
    if event is None:
        event = Event(key=key, jurisdiction=cluster.jurisdiction or "unknown",
                      status="reported_unofficial", regime="unknown",
                      first_observed_at=first_seen, parser_version=PARSER_VERSION)
        session.add(event)
        events[key] = event
    event.title = first.title
    event.first_observed_at = min(event.first_observed_at, first_seen)
    event.status = "reported_unofficial"
    event.jurisdiction = cluster.jurisdiction or "unknown"
    event.categories = list(cluster.categories)
    event.law_ids = list(cluster.instruments)
    event.announced_on = min(published) if published else None
    event.details = {}
    event.parser_version = PARSER_VERSION
    return event


def _press_quote(article) -> str | None:
    claim = next((c for c in article.claims if c.field in ("effective_on", "item_count",
                                                            "outside_wassenaar", "announced_on")), None)
    return claim.quote if claim else (article.title or None)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _json(d) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        return v.isoformat() if isinstance(v, date) else v

    return {"field": d.field, "official_value": plain(d.official_value),
            "official_quote": d.official_quote, "official_url": d.official_url,
            "press_value": plain(d.press_value), "press_quote": d.press_quote,
            "press_url": d.press_url}
