"""Announcement records from stored METI release pages."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.orm import Session

from regwatch.db.tables import Announcement
from regwatch.derive.versions import PendingVersion, decoded_text, pending

log = logging.getLogger(__name__)

KIND = "meti_press"


def derive_pending(session: Session, store, taxonomy) -> list:
    from regwatch.derive import Problem
    from regwatch.errors import ParseError
    from regwatch.normalise.meti_press import PARSER_VERSION, extract_announcement

    problems = []
    for p in pending(session, KIND, Announcement.document_version_id):
        try:
            a = extract_announcement(decoded_text(p, store), url=p.url, taxonomy=taxonomy,
                                     listed_date=_listed_date(p))
        except ParseError as exc:
            # Kept as a row so it is not retried every run; `reprocess` retries it.
            problems.append(Problem(p.source, p.url, str(exc)))
            session.add(Announcement(
                document_version_id=p.version_id, url=p.url, language=p.metadata.get("language"),
                title=p.title, relevant=False, record={"error": str(exc)},
                parser_version=PARSER_VERSION))
            continue
        record = a.to_json()
        session.add(Announcement(
            document_version_id=p.version_id, url=p.url, language=record.get("language"),
            title=record.get("title"), announced_on=_date(record.get("announced_on")),
            stage=record.get("stage"), effective_on=_date(record.get("effective_on")),
            relevant=bool(record.get("relevant")), record=record, parser_version=PARSER_VERSION))
    session.flush()
    return problems


def _listed_date(p: PendingVersion) -> date | None:
    return _date(p.metadata.get("listed_date"))


def _date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def announcement_from_record(record: dict):
    """The Announcement a stored record was made from (the inverse of Announcement.to_json)."""
    from regwatch.normalise.meti_page import Link
    from regwatch.normalise.meti_press import Announcement as Record
    from regwatch.normalise.meti_press import StatedDate

    return Record(
        url=record["url"], language=record.get("language") or "", title=record.get("title") or "",
        announced_on=_date(record.get("announced_on")), relevant=bool(record.get("relevant")),
        stage=record.get("stage"), instruments=tuple(record.get("instruments") or ()),
        amendment_law_num=record.get("amendment_law_num"),
        appended_tables=tuple(record.get("appended_tables") or ()),
        change_types=tuple(record.get("change_types") or ()),
        categories=tuple(record.get("categories") or ()),
        promulgated_on=_date(record.get("promulgated_on")), decided_on=_date(record.get("decided_on")),
        effective_on=_date(record.get("effective_on")),
        public_comment_deadline=_date(record.get("public_comment_deadline")),
        destinations=record.get("destinations"), regime=record.get("regime") or "unknown",
        regime_basis=record.get("regime_basis"), outside_wassenaar=record.get("outside_wassenaar"),
        item_count=record.get("item_count"), item_refs=tuple(record.get("item_refs") or ()),
        stated_dates=tuple(StatedDate(s["role"], date.fromisoformat(s["date"]), s["quote"])
                           for s in record.get("stated_dates") or ()),
        links=tuple(Link(x["url"], x.get("title") or "", x.get("kind") or "page")
                    for x in record.get("links") or ()),
        evidence=dict(record.get("evidence") or {}),
        parser_version=record.get("parser_version") or "")
