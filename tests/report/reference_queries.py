"""The straightforward implementation of ``select_changes``, kept to check the fast one.

A frozen copy of regwatch.db.queries.select_changes (and its helpers) as it was before it
was tuned for large histories: one SELECT for the changes, chunked IN queries for their
categories and evidence, SQLAlchemy's own type processing, a plain sort.
test_queries_equivalence.py asserts the tuned function returns exactly what this does.

Dates as known at T follow rule 3 as it was first written, from the evidence alone: a date
is known when no evidence row names its field or one that does is known. The tuned query
reads the dates' history (change_dates) instead; for a date that never moved, its one
entry is known from the same moment, so the two agree — which checks the history's
known times too.

A change's event as known at T (rule 4) is joined plainly: the event_history row replaced
first after T (by superseded_at, then id) when there is one and it is not `absent`, else
the event row. Its link to that event, regime and flag are the current ones: the tuned
query reads them from their history (change_facts), whose one entry for a fact that never
moved is known with the change, so the two agree on the random history (facts that moved
are checked in test_queries).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Date, Engine, and_, case, exists, literal, null, or_, select, true
from sqlalchemy.orm import aliased

from regwatch.db.queries import BY_CHOICES, DATE_FIELDS
from regwatch.db.tables import (
    ChangeCategory,
    ControlChange,
    DocumentVersion,
    Event,
    EventHistory,
    Evidence,
    EvidenceHistory,
)
from regwatch.models import ChangeRecord, Source

_CHUNK = 500


def day_start(day: date, tz: tzinfo = UTC) -> datetime:
    """The first instant of `day` in `tz`, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=tz)


def _aware(moment: datetime | None, tz: tzinfo) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=tz)


def _evidence_known(ev: Any, as_known_at: datetime):
    """SQL: this evidence row was known at T (rule 2)."""
    dv = aliased(DocumentVersion)
    return or_(
        ev.document_version_id.is_(None),
        exists(select(literal(1)).where(dv.id == ev.document_version_id,
                                        dv.observed_at <= as_known_at)),
    )


def _known_date(name: str, as_known_at: datetime | None):
    """SQL expression for the change's date `name` as known at T (rule 3)."""
    column = getattr(ControlChange, name)
    if as_known_at is None:
        return column
    ev = aliased(Evidence)
    named = and_(ev.change_id == ControlChange.id, ev.field == name)
    any_named = exists(select(literal(1)).where(named))
    known_named = exists(select(literal(1)).where(named, _evidence_known(ev, as_known_at)))
    return case((or_(~any_named, known_named), column), else_=null().cast(Date))


def _date_window(column: Any, since: date | None, until: date | None):
    terms = []
    if since is not None:
        terms.append(column >= since)
    if until is not None:
        terms.append(column <= until)
    if not terms:
        return column.is_not(None)
    return and_(*terms)


def _observed_window(column: Any, since: date | None, until: date | None, tz: tzinfo):
    terms = []
    if since is not None:
        terms.append(column >= day_start(since, tz))
    if until is not None:
        terms.append(column < day_start(until + timedelta(days=1), tz))
    return and_(*terms) if terms else true()


_NUM = re.compile(r"(\d+)")


def natural_key(text: str | None) -> tuple:
    """Sort key that compares digit runs as numbers: row2 < row10 ("document order")."""
    parts = _NUM.split(text or "")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def reference_select_changes(
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    by: str | None = None,
    as_known_at: datetime | None = None,
    learned_from: datetime | None = None,
    learned_to: datetime | None = None,
    categories: Iterable[str] = (),
    instruments: Iterable[str] = (),
    jurisdictions: Iterable[str] = (),
    tz: tzinfo = UTC,
) -> list[ChangeRecord]:
    """Change records in the window, as known at `as_known_at` (see the module docstring)."""
    if by is not None and by not in BY_CHOICES:
        raise ValueError(f"by must be one of {BY_CHOICES}, not {by!r}")
    as_known_at = _aware(as_known_at, tz)
    c = ControlChange
    dates = {name: _known_date(name, as_known_at).label(name) for name in DATE_FIELDS}
    then = aliased(EventHistory)
    event_then = null() if as_known_at is None else (
        select(EventHistory.id)
        .where(EventHistory.key == Event.key, EventHistory.superseded_at > as_known_at)
        .order_by(EventHistory.superseded_at, EventHistory.id).limit(1).scalar_subquery())

    def shown(name: str) -> Any:  # the event's field `name` as known at T
        return case((then.id.is_not(None), getattr(then, name)), else_=getattr(Event, name))
    stmt = (
        select(c.id, c.jurisdiction, c.law_id, c.instrument_title, c.path, c.citation_ja,
               c.citation_en, c.list_entry, c.change_type, c.regime, c.outside_wassenaar,
               *dates.values(), c.observed_at, c.before_text, c.after_text,
               c.renumbered_from, c.status, c.recorded_at, c.event_id,
               Event.key.label("event_key"), shown("title").label("event_title"),
               shown("details").label("event_details"),
               shown("announced_on").label("event_announced_on"),
               shown("first_observed_at").label("event_observed_at"))
        .select_from(c)
        .outerjoin(Event, Event.id == c.event_id)
        .outerjoin(then, and_(then.id == event_then, then.absent.is_(False)))
    )
    windows = {
        "announced": _date_window(_known_date("announced_on", as_known_at), since, until),
        "effective": _date_window(_known_date("effective_on", as_known_at), since, until),
        "observed": or_(_observed_window(c.observed_at, since, until, tz),
                        _observed_window(c.recorded_at, since, until, tz)),  # found late
    }
    if since is not None or until is not None:
        stmt = stmt.where(windows[by] if by else or_(*windows.values()))
    if learned_from is not None:
        stmt = stmt.where(c.recorded_at >= _aware(learned_from, tz))
    if learned_to is not None:
        stmt = stmt.where(c.recorded_at < _aware(learned_to, tz))
    if as_known_at is not None:
        stmt = stmt.where(c.recorded_at <= as_known_at,
                          or_(c.retracted_at.is_(None), c.retracted_at > as_known_at))
    else:
        stmt = stmt.where(c.retracted_at.is_(None))
    categories, instruments, jurisdictions = list(categories), list(instruments), list(jurisdictions)
    if categories:
        cc = aliased(ChangeCategory)
        stmt = stmt.where(exists(select(literal(1)).where(
            cc.change_id == c.id, cc.category.in_(categories))))
    if instruments:
        stmt = stmt.where(c.law_id.in_(instruments))
    if jurisdictions:
        stmt = stmt.where(c.jurisdiction.in_(jurisdictions))

    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        ids = [r.id for r in rows]
        cats = _load_categories(conn, ids)
        sources = _load_sources(conn, ids, as_known_at)

    rows.sort(key=_row_order)
    return [_record(r, cats.get(r.id, ()), sources.get(r.id, ())) for r in rows]


def _row_order(r: Any) -> tuple:
    has_event = r.event_key is not None
    return (
        0 if has_event else 1,
        r.event_announced_on or date.max,
        r.event_observed_at or datetime.max.replace(tzinfo=UTC),
        r.event_key or "",
        r.law_id,
        natural_key(r.path),
        r.id,
    )


def _load_categories(conn: Any, ids: list[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = defaultdict(list)
    for chunk in _chunks(ids):
        stmt = (select(ChangeCategory.change_id, ChangeCategory.category)
                .where(ChangeCategory.change_id.in_(chunk))
                .order_by(ChangeCategory.change_id, ChangeCategory.category))
        for change_id, category in conn.execute(stmt):
            found[change_id].append(category)
    return {k: tuple(v) for k, v in found.items()}


def _load_sources(conn: Any, ids: list[str], as_known_at: datetime | None
                  ) -> dict[str, tuple[Source, ...]]:
    found: dict[str, list[Source]] = defaultdict(list)
    for chunk in _chunks(ids):
        stmt = (select(Evidence.change_id, Evidence.url, Evidence.kind, Evidence.title,
                       Evidence.quote)
                .where(Evidence.change_id.in_(chunk))
                .order_by(Evidence.change_id, Evidence.id))
        rows = list(conn.execute(stmt))
        if as_known_at is not None:
            # rows known at T, and rows known at T that derivation replaced after T, each put
            # back at the place it had among its change's rows
            rows = list(conn.execute(stmt.where(_evidence_known(Evidence, as_known_at))))
            h = EvidenceHistory
            for r in conn.execute(select(h.change_id, h.url, h.kind, h.title, h.quote, h.position)
                                  .where(h.change_id.in_(chunk), h.superseded_at > as_known_at,
                                         _evidence_known(h, as_known_at))
                                  .order_by(h.change_id, h.position, h.id)):
                mine = [i for i, row in enumerate(rows) if row[0] == r[0]]
                at = mine[r[5]] if r[5] < len(mine) else (mine[-1] + 1 if mine else len(rows))
                rows.insert(at, tuple(r[:5]))
        for change_id, url, kind, title, quote in rows:
            found[change_id].append(Source(url=url, kind=kind, title=title, quote=quote))
    return {k: tuple(dict.fromkeys(v)) for k, v in found.items()}  # each source once


def _record(r: Any, categories: tuple[str, ...], sources: tuple[Source, ...]) -> ChangeRecord:
    event = None
    if r.event_key is not None:
        # The number of items the official announcement states ("４品目"), for headlines.
        details = r.event_details if isinstance(r.event_details, dict) else {}
        event = {"key": r.event_key, "title": r.event_title, "title_ja": details.get("title_ja"),
                 "stated_item_count": details.get("item_count")}
    return ChangeRecord(
        id=r.id,
        jurisdiction=r.jurisdiction,
        instrument={"law_id": r.law_id, "title": r.instrument_title},
        provision={"path": r.path, "citation_ja": r.citation_ja, "citation_en": r.citation_en},
        list_entry=r.list_entry,
        change_type=r.change_type,
        categories=categories,
        regime=r.regime,
        outside_wassenaar=r.outside_wassenaar,
        announced_on=_as_date(r.announced_on),
        promulgated_on=_as_date(r.promulgated_on),
        effective_on=_as_date(r.effective_on),
        observed_at=_utc(r.observed_at),
        before_text=r.before_text,
        after_text=r.after_text,
        event=event,
        sources=sources,
        renumbered_from=r.renumbered_from,
        status=r.status,
        recorded_at=_utc(r.recorded_at),
    )


def _as_date(value: Any) -> date | None:
    """CASE expressions come back from SQLite as text; columns come back as dates."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
