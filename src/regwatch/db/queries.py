"""Read-only queries behind reports and digests: change records, page changes, press items.

Every value reaches SQL as a bound parameter (SQLAlchemy Core); nothing is string-built.

Windows
-------
``since``/``until`` are inclusive calendar dates. ``by`` picks the date they apply to:
``announced`` (announced_on), ``effective`` (effective_on), ``observed`` (observed_at,
the day taken in ``tz``; for a control change also ``recorded_at``, so a change an earlier
parse missed and ``reprocess`` found is in the window it was found in); ``None`` means a
change counts if any of the three falls in the window. ``learned_from``/``learned_to`` add
an exact half-open [from, to) bound on when regwatch learnt each row (the digest's week):
a change's ``recorded_at``, a date's ``known_at``, an event's or a page's first
observation.

As known at T (audit replay)
----------------------------
``as_known_at=T`` shows what regwatch knew at T and nothing learnt later:

1. a change is included only if it was recorded by T (``recorded_at <= T``; it is never
   before ``observed_at``, and later only for a change an earlier parse missed, found by
   ``regwatch reprocess``) and not retracted by T (``retracted_at``: regwatch stopped
   finding it — a fixed parser, a corrected text; without T, a retracted change is out);
2. an evidence row is known when its document version was observed ``<= T``
   (``evidence.document_version_id → document_versions.observed_at``); evidence without a
   version is known together with its change (or event). A change's evidence rows that
   derivation replaced after T (a corrected record or announcement: ``evidence_history``,
   see ``regwatch.derive.evidence_history``) are shown as they were, under the same rule;
3. a date of a change (``announced_on``, ``promulgated_on``, ``effective_on``) has the
   value it had at T: the latest entry of its history (``change_dates``) known by T.
   Derivation appends an entry whenever a date moves, known from the change's own
   observation or, when evidence rows name the field (``evidence.field``), from the
   earliest observation of their documents (see ``regwatch.derive.date_history``). So a
   date learnt after T is null, and a date corrected after T shows its old value; window
   filters use the dates as known, so neither can make a change match ``--by``;
4. a change's event, regime and outside-Wassenaar flag are those it had at T: the latest
   entries of ``change_facts`` known by T (kept as its dates are, known from the change's
   observation or from the run that replaced them); an event (a change's event, a digest's
   announcement) shows as it stood at T: the state ``event_history`` kept when derivation
   replaced it after T (see ``regwatch.derive.event_history``), else as it stands; an event
   is known from its first observation.

Order: by event (announced date, then first observation, then key; changes without an
event last), then instrument, then provision in document order (numbers in paths compare
as numbers), then change id.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    ARRAY,
    Engine,
    and_,
    any_,
    bindparam,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.orm import aliased
from sqlalchemy.types import NullType

from regwatch.db.tables import (
    DATE_FIELDS,
    EVENT_SHOWN,
    EVENT_SOURCE,
    ChangeCategory,
    ChangeDate,
    ChangeFact,
    ControlChange,
    DocumentRow,
    DocumentVersion,
    Event,
    EventHistory,
    Evidence,
    EvidenceHistory,
    SourceRow,
)
from regwatch.models import ChangeRecord, DocumentChange, Source

log = logging.getLogger(__name__)

BY_CHOICES = ("announced", "effective", "observed")


@dataclass(frozen=True)
class Discrepancy:
    """An official source and the press disagree about one field of an event."""

    field: str
    official_value: Any = None
    official_quote: str | None = None
    official_url: str | None = None
    press_value: Any = None
    press_quote: str | None = None
    press_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class EventItem:
    """An event as a report lists it apart from its changes: known from the press only, one
    whose press and official sources differ, or one announced without a list change yet."""

    key: str
    title: str | None
    status: str  # official | reported_unofficial
    jurisdiction: str
    law_ids: tuple[str, ...]
    categories: tuple[str, ...]
    regime: str
    outside_wassenaar: bool | None
    announced_on: date | None
    effective_on: date | None
    first_observed_at: datetime
    sources: tuple[Source, ...] = ()
    discrepancies: tuple[Discrepancy, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "title": self.title, "status": self.status,
            "jurisdiction": self.jurisdiction, "law_ids": list(self.law_ids),
            "categories": list(self.categories), "regime": self.regime,
            "outside_wassenaar": self.outside_wassenaar,
            "announced_on": _iso(self.announced_on), "effective_on": _iso(self.effective_on),
            "first_observed_at": self.first_observed_at.isoformat(),
            "sources": [{"url": s.url, "kind": s.kind, "title": s.title, "quote": s.quote}
                        for s in self.sources],
            "discrepancies": [d.to_json() for d in self.discrepancies],
        }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


# --- helpers -------------------------------------------------------------------------------

def day_start(day: date, tz: tzinfo = UTC) -> datetime:
    """The first instant of `day` in `tz`, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=tz)


def _aware(moment: datetime | None, tz: tzinfo) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=tz)


def evidence_known(ev: Any, as_known_at: datetime):
    """SQL: this evidence row was known at T (rule 2)."""
    dv = aliased(DocumentVersion)
    return or_(
        ev.document_version_id.is_(None),
        exists(select(literal(1)).where(dv.id == ev.document_version_id,
                                        dv.observed_at <= as_known_at)),
    )


def _known_date(name: str, as_known_at: datetime | None):
    """SQL expression for the change's date `name` as known at T (rule 3)."""
    if as_known_at is None:
        return getattr(ControlChange, name)
    return _known_then(ChangeDate, name, as_known_at)


def _known_fact(name: str, as_known_at: datetime | None):
    """SQL expression for the change's fact `name` (FACT_FIELDS) as known at T (rule 4):
    now, its column (`event_key`: its event's id); at T, the text change_facts kept."""
    if as_known_at is None:
        return ControlChange.event_id if name == "event_key" else getattr(ControlChange, name)
    return _known_then(ChangeFact, name, as_known_at)


def _known_then(table: type[ChangeDate] | type[ChangeFact], name: str, as_known_at: datetime):
    """SQL: the latest value of the change's `name` in `table` known at T (null: none)."""
    h = aliased(table)
    return (select(h.value)
            .where(h.change_id == ControlChange.id, h.field == name, h.known_at <= as_known_at)
            .order_by(h.known_at.desc(), h.id.desc()).limit(1).scalar_subquery())


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


def _in_window(stmt: Any, *, announced: Any, effective: Any, observed: Any, learned: Any,
               since: date | None, until: date | None, by: str | None,
               learned_from: datetime | None, learned_to: datetime | None,
               as_known_at: datetime | None, tz: tzinfo, recorded: Any = None) -> Any:
    """`stmt` narrowed to the window (see the module docstring): `since`/`until` on the date
    `by` names, or on any of the three (`observed` also matching a `recorded` moment, when
    given, in the window); the digest's exact [from, to) bound on `learned`; nothing
    learned after `as_known_at` (already aware)."""
    windows = {
        "announced": _date_window(announced, since, until),
        "effective": _date_window(effective, since, until),
        "observed": _observed_window(observed, since, until, tz),
    }
    if recorded is not None:  # a change found late is news when regwatch found it
        windows["observed"] = or_(windows["observed"],
                                  _observed_window(recorded, since, until, tz))
    if since is not None or until is not None:
        stmt = stmt.where(windows[by] if by else or_(*windows.values()))
    return _learned_bounds(stmt, learned, learned_from, learned_to, as_known_at, tz)


def _learned_bounds(stmt: Any, learned: Any, learned_from: datetime | None,
                    learned_to: datetime | None, as_known_at: datetime | None, tz: tzinfo) -> Any:
    """`stmt` with `learned` (the moment regwatch learnt the row) in [learned_from,
    learned_to) and not after `as_known_at`."""
    if learned_from is not None:
        stmt = stmt.where(learned >= _aware(learned_from, tz))
    if learned_to is not None:
        stmt = stmt.where(learned < _aware(learned_to, tz))
    if as_known_at is not None:
        stmt = stmt.where(learned <= as_known_at)
    return stmt


def _check_by(by: str | None) -> None:
    if by is not None and by not in BY_CHOICES:
        raise ValueError(f"by must be one of {BY_CHOICES}, not {by!r}")


_NUM = re.compile(r"\d+")


def natural_key(text: str | None) -> str:
    """Sort key that compares digit runs as numbers: row2 < row10 ("document order").

    Each digit run becomes NUL, its length as one character and its ASCII digits without
    leading zeros: a number sorts before any text at the same place, a shorter number
    before a longer one, and Item_5 ties with Item_05 (as int() would have it). One string
    rather than a tuple of parts: a report's sort compares keys in C, twice as fast.
    """
    return _NUM.sub(_number_key, text or "")


def _number_key(match: re.Match[str]) -> str:
    digits = match.group()
    if not digits.isascii():  # full-width ０-９ and other scripts' digits
        digits = "".join(str(unicodedata.decimal(ch)) for ch in digits)
    digits = digits.lstrip("0") or "0"
    return f"\0{chr(len(digits))}{digits}"


# --- control changes -----------------------------------------------------------------------

def select_changes(
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
    _check_by(by)
    as_known_at = _aware(as_known_at, tz)
    c = ControlChange
    stmt = _in_window(_record_columns(as_known_at).where(c.standing(as_known_at)),
                      announced=_known_date("announced_on", as_known_at),
                      effective=_known_date("effective_on", as_known_at), observed=c.observed_at,
                      recorded=c.recorded_at, learned=c.recorded_at,
                      since=since, until=until, by=by, learned_from=learned_from,
                      learned_to=learned_to, as_known_at=as_known_at, tz=tz)
    stmt = _filtered(stmt, categories, instruments, jurisdictions)
    with _collector_paused():
        return _records(engine, stmt, as_known_at)


def select_retracted(
    engine: Engine,
    *,
    learned_from: datetime,
    learned_to: datetime,
    as_known_at: datetime | None = None,
    categories: Iterable[str] = (),
    instruments: Iterable[str] = (),
    jurisdictions: Iterable[str] = (),
    tz: tzinfo = UTC,
) -> list[ChangeRecord]:
    """Changes retracted in [learned_from, learned_to) (and by `as_known_at`): regwatch had
    shown them and no longer finds them. As they stood when withdrawn (dates as known at T)."""
    as_known_at = _aware(as_known_at, tz)
    c = ControlChange
    stmt = _learned_bounds(_record_columns(as_known_at), c.retracted_at, learned_from,
                           learned_to, as_known_at, tz)
    stmt = _filtered(stmt, categories, instruments, jurisdictions)
    with _collector_paused():
        return _records(engine, stmt, as_known_at)


def select_found_again(engine: Engine, ids: Iterable[str]) -> dict[str, datetime]:
    """Per change of `ids` that regwatch had retracted and then found again: when the same
    change (law, revision, provision, change type) was last retracted before this one was
    recorded (derive.law_history records a change found again under a new ID)."""
    c, gone = ControlChange, aliased(ControlChange)
    ids = list(ids)
    if not ids:
        return {}
    stmt = (select(c.id, _raw(func.max(gone.retracted_at)))
            .join(gone, and_(gone.law_id == c.law_id, gone.path == c.path,
                             gone.change_type == c.change_type,
                             gone.revision_id.is_not_distinct_from(c.revision_id),
                             gone.id != c.id, gone.retracted_at <= c.recorded_at))
            .where(_among(c.id, ids, engine.dialect.name))
            .group_by(c.id))
    with engine.connect() as conn:
        return {cid: _utc(at) for cid, at in _fetch(conn, stmt)}


def _record_columns(as_known_at: datetime | None) -> Any:
    """The columns _records builds a change record from, dates as known at T."""
    c = ControlChange
    # Dates and moments come back as the driver gives them (text on SQLite) and are
    # converted in _records: SQLAlchemy's per-value type processing dominated large windows.
    return select(c.id, c.jurisdiction, c.law_id, c.instrument_title, c.path, c.citation_ja,
                  c.citation_en, c.list_entry, c.change_type,
                  *(_raw(_known_fact(name, as_known_at)) for name in ("regime", "outside_wassenaar")),
                  *(_raw(_known_date(name, as_known_at)) for name in DATE_FIELDS),
                  _raw(c.observed_at), c.before_text, c.after_text, c.renumbered_from,
                  c.status, _raw(c.recorded_at), _raw(_known_fact("event_key", as_known_at)))


def _filtered(stmt: Any, categories: Iterable[str], instruments: Iterable[str],
              jurisdictions: Iterable[str]) -> Any:
    """`stmt` over control_changes narrowed to changes with one of the categories, of one
    of the instruments and of one of the jurisdictions (an empty list: no filter)."""
    c = ControlChange
    categories, instruments, jurisdictions = list(categories), list(instruments), list(jurisdictions)
    if categories:
        cc = aliased(ChangeCategory)
        stmt = stmt.where(exists(select(literal(1)).where(
            cc.change_id == c.id, cc.category.in_(categories))))
    if instruments:
        stmt = stmt.where(c.law_id.in_(instruments))
    if jurisdictions:
        stmt = stmt.where(c.jurisdiction.in_(jurisdictions))
    return stmt


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while many acyclic objects are built.

    A week of a dense history is ~50,000 new containers (rows, records, dicts). With the
    collector running they are scanned again and again, and every other such call sets
    off a full collection of the whole process: 30-50 ms on the benchmark machine, as
    long as the query itself. Nothing built here forms a cycle, so nothing is lost by
    waiting. The switch is process-wide (other threads' collections wait too, for these
    milliseconds); the collector resumes on exit if it was running before.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _records(engine: Engine, stmt: Any, as_known_at: datetime | None) -> list[ChangeRecord]:
    """Run select_changes' statement; load events, categories and sources; sort; build."""
    with engine.connect() as conn:
        rows = _fetch(conn, stmt)
        if not rows:
            return []
        ids = [r[0] for r in rows]
        events = _load_events(conn, sorted({r[-1] for r in rows if r[-1] is not None}),
                              as_known_at)
        cats = _load_categories(conn, ids)
        sources = _load_sources(conn, ids, as_known_at)

    # Sort keys from parts computed once: the event's rank, a path's natural key.
    no_event = (1, date.max, datetime.max.replace(tzinfo=UTC), "")
    event_rank = _ranks({eid: events[eid][0] if eid in events else no_event
                         for eid in {r[-1] for r in rows}})
    paths: dict[str, tuple] = {}

    def order(r: Any) -> tuple:
        nk = paths.get(r[4])
        if nk is None:
            nk = paths[r[4]] = natural_key(r[4])
        return (event_rank[r[-1]], r[2], nk, r[0])

    rows.sort(key=order)
    out = []
    append = out.append
    no_cats: tuple[str, ...] = ()
    no_sources: tuple[Source, ...] = ()
    iso_date = date.fromisoformat
    loads = json.loads
    make = _maker(ChangeRecord, _RECORD_KEYS)
    for (cid, jurisdiction, law_id, instrument_title, path, citation_ja, citation_en, list_entry,
         change_type, regime, outside, announced, promulgated, effective, observed,
         before_text, after_text, renumbered_from, status, recorded, event_id) in rows:
        ev = events.get(event_id)
        append(make({
            "id": cid, "jurisdiction": jurisdiction,
            "instrument": {"law_id": law_id, "title": instrument_title},
            "provision": {"path": path, "citation_ja": citation_ja, "citation_en": citation_en},
            "list_entry": list_entry, "change_type": change_type,
            "categories": cats.get(cid, no_cats), "regime": regime,
            "outside_wassenaar": (None if outside is None else outside == "true"
                                  if outside.__class__ is str else bool(outside)),
            # dates are text on SQLite (also from the CASE of rule 3), dates on PostgreSQL
            "announced_on": iso_date(announced) if announced.__class__ is str else announced,
            "promulgated_on": (iso_date(promulgated) if promulgated.__class__ is str
                               else promulgated),
            "effective_on": iso_date(effective) if effective.__class__ is str else effective,
            "observed_at": _utc(observed), "before_text": before_text, "after_text": after_text,
            "event": dict(ev[1]) if ev else None, "sources": sources.get(cid, no_sources),
            "renumbered_from": (loads(renumbered_from) if renumbered_from.__class__ is str
                                else renumbered_from),
            "status": status, "recorded_at": _utc(recorded)}))
    return out


# The keys of the dicts _records builds (see _maker).
_RECORD_KEYS = (
    "id", "jurisdiction", "instrument", "provision", "list_entry", "change_type", "categories",
    "regime", "outside_wassenaar", "announced_on", "promulgated_on", "effective_on",
    "observed_at", "before_text", "after_text", "event", "sources", "renumbered_from", "status",
    "recorded_at")


def _maker(cls: type, names: tuple[str, ...]) -> Any:
    """Build instances of the frozen dataclass `cls` from dicts with the keys `names`.

    When `cls`'s __init__ only stores its arguments (no __post_init__, no slots, every
    field an init field) and `names` are all its fields, the dict becomes the instance's __dict__ directly: ~1 µs a
    record less than the generated __init__, which goes through object.__setattr__ once
    per field. The instance is the same (equal, hashable, still frozen for its users);
    otherwise it is made by calling `cls`.
    """
    plain = (dataclasses.is_dataclass(cls) and not hasattr(cls, "__post_init__")
             and "__slots__" not in cls.__dict__
             and all(f.init for f in dataclasses.fields(cls))
             and {f.name for f in dataclasses.fields(cls)} == set(names))
    if not plain:
        return lambda values: cls(**values)
    new, set_attr = object.__new__, object.__setattr__

    def make(values: dict[str, Any]) -> Any:
        instance = new(cls)
        set_attr(instance, "__dict__", values)
        return instance

    return make


def _fetch(conn: Any, stmt: Any) -> list[tuple]:
    """All rows of `stmt` as the driver's plain tuples, with no result processing at all.

    For statements whose columns are all converted by the caller (`_raw` columns, text,
    numbers, JSON decoded where the driver gives text): skipping SQLAlchemy's Row objects
    saves ~1 µs a row.
    """
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _ranks(keys: dict[Any, tuple]) -> dict[Any, int]:
    """0, 1, 2, ... in the order of their sort keys; items with equal keys share a rank."""
    ranks, rank, last = {}, -1, None
    for item in sorted(keys, key=keys.__getitem__):
        if rank < 0 or keys[item] != last:
            rank, last = rank + 1, keys[item]
        ranks[item] = rank
    return ranks


def _raw(expr: Any) -> Any:
    """`expr` without SQLAlchemy's result processing: the driver's value, converted by us."""
    return type_coerce(expr, NullType())


def _among(column: Any, values: list[Any], dialect: str) -> Any:
    """SQL: `column` is one of `values`, bound as ONE parameter.

    Thousands of ids as one JSON array (SQLite) or array (PostgreSQL) rather than one
    placeholder each: no chunking, and nothing to render per value.
    """
    if dialect == "sqlite":
        each = func.json_each(bindparam(None, json.dumps(values))).table_valued("value")
        return column.in_(select(each.c.value))
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _load_events(conn: Any, refs: list[Any], as_known_at: datetime | None
                 ) -> dict[Any, tuple[tuple, dict[str, Any]]]:
    """Per event the changes name (now: by id; at T: by the key change_facts kept): its part
    of the sort key, and the record's `event` value (as it stood at T, rule 4)."""
    ref = Event.id if as_known_at is None else Event.key
    stmt = (select(ref, Event.key, Event.title, Event.details,
                   _raw(Event.announced_on), _raw(Event.first_observed_at))
            .where(_among(ref, refs, conn.dialect.name)))
    rows = _fetch(conn, stmt)
    if as_known_at is not None and refs:
        # Kept states include events since removed. An event absent then (made later from
        # earlier documents) shows as it stands: the best known of it.
        then = {k: v for k, v in event_states_at(conn, as_known_at, refs).items()
                if not v["absent"]}
        shown = ("title", "details", "announced_on", "first_observed_at")
        now = {r[0]: r for r in rows}
        rows = [(key, key, *(then[key][k] for k in shown)) if key in then else now[key]
                for key in refs if key in then or key in now]
    found: dict[Any, tuple[tuple, dict[str, Any]]] = {}
    for eid, key, title, details, announced_on, first_observed_at in rows:
        if details.__class__ is str:  # JSON comes back as text from SQLite
            details = json.loads(details)
        details = details if isinstance(details, dict) else {}
        found[eid] = (
            (0, as_date(announced_on) or date.max,
             _utc(first_observed_at) if first_observed_at is not None
             else datetime.max.replace(tzinfo=UTC), key or ""),
            # item_count: how many items the official announcement states ("４品目"), for
            # headlines; title_ja: the Japanese title, for Japanese readers.
            {"key": key, "title": title, "title_ja": details.get("title_ja"),
             "stated_item_count": details.get("item_count")})
    return found


def event_states_at(conn: Any, as_known_at: datetime,
                    keys: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per event key (of `keys`, or all), the state `event_history` kept that was current at
    T: the one replaced first after T (`absent`: no such event then). An event not here
    stood at T as it stands now."""
    h = EventHistory
    stmt = (select(h.key, h.absent, *(getattr(h, k) for k in EVENT_SHOWN), h.sources)
            .where(h.superseded_at > as_known_at)
            .order_by(h.key, h.superseded_at.desc(), h.id.desc()))
    if keys is not None:
        stmt = stmt.where(_among(h.key, keys, conn.dialect.name))
    return {row["key"]: dict(row) for row in conn.execute(stmt).mappings()}  # the earliest wins


def events_as_known(conn: Any, as_known_at: datetime | None) -> list[dict[str, Any]]:
    """Every event as it stood at `as_known_at` (rule 4; now when None) with its sources
    then: dicts of `id` (None for an event since removed), `key`, the columns EVENT_SHOWN,
    `sources` (its evidence rows in order: dicts of EVENT_SOURCE) and `known_sources`
    (those known at T, rule 2). Events are few (one per regulatory action): all are read."""
    columns = [Event.id, Event.key, *(getattr(Event, k) for k in EVENT_SHOWN)]
    events = {r["key"]: {**r, "sources": []} for r in conn.execute(select(*columns)).mappings()}
    by_id = {e["id"]: e for e in events.values()}
    for event_id, *values in conn.execute(
            select(Evidence.event_id, *(getattr(Evidence, k) for k in EVENT_SOURCE))
            .where(Evidence.event_id.is_not(None)).order_by(Evidence.id)):
        by_id[event_id]["sources"].append(dict(zip(EVENT_SOURCE, values, strict=True)))
    if as_known_at is None:
        return [{**e, "known_sources": e["sources"]} for e in events.values()]
    for key, state in event_states_at(conn, as_known_at).items():
        if state.pop("absent"):
            events.pop(key, None)
        else:
            events[key] = {"id": events.get(key, {}).get("id"), **state}
    out = [e for e in events.values() if _utc(e["first_observed_at"]) <= as_known_at]
    versions = sorted({s["document_version_id"] for e in out for s in e["sources"]} - {None})
    observed = dict(conn.execute(
        select(DocumentVersion.id, _raw(DocumentVersion.observed_at))
        .where(_among(DocumentVersion.id, versions, conn.dialect.name))).all() if versions else [])
    # A version no longer stored (event_history keeps ids, not rows) is taken as known.
    return [{**e, "known_sources": [s for s in e["sources"]
                                    if s["document_version_id"] not in observed
                                    or _utc(observed[s["document_version_id"]]) <= as_known_at]}
            for e in out]


def select_events(engine: Engine, *, learned_from: datetime, learned_to: datetime,
                  as_known_at: datetime | None = None) -> list[dict[str, Any]]:
    """Announced events (see `announced`) first observed in [learned_from, learned_to),
    as they stood at `as_known_at` (see events_as_known), in order of first observation,
    then key."""
    with engine.connect() as conn:
        events = events_as_known(conn, as_known_at)
    return sorted((e for e in events if announced(e)
                   and learned_from <= _utc(e["first_observed_at"]) < learned_to),
                  key=lambda e: (_utc(e["first_observed_at"]), e["key"]))


def announced(event: dict[str, Any]) -> bool:
    """The event was announced or reported (a source other than an e-Gov law text, known
    then), not only found as a law revision. A revision with no announcement and no list
    change is the text regwatch found in force when it started watching (or an amendment
    outside the control lists): history, not news."""
    return event["status"] != "official" or any(s["kind"] != "egov_law"
                                                for s in event["known_sources"])


def _load_categories(conn: Any, ids: list[str]) -> dict[str, tuple[str, ...]]:
    stmt = (select(ChangeCategory.change_id, ChangeCategory.category)
            .where(_among(ChangeCategory.change_id, ids, conn.dialect.name))
            .order_by(ChangeCategory.change_id, ChangeCategory.category))
    found: dict[str, list[str]] = {}
    for change_id, category in _fetch(conn, stmt):
        have = found.get(change_id)
        if have is None:
            found[change_id] = [category]
        else:
            have.append(category)
    return {k: tuple(v) for k, v in found.items()}


def _load_sources(conn: Any, ids: list[str], as_known_at: datetime | None
                  ) -> dict[str, tuple[Source, ...]]:
    stmt = (select(Evidence.change_id, Evidence.url, Evidence.kind, Evidence.title,
                   Evidence.quote)
            .where(_among(Evidence.change_id, ids, conn.dialect.name))
            .order_by(Evidence.change_id, Evidence.id))
    if as_known_at is None:
        rows = _fetch(conn, stmt)
    else:
        # Rows known at T, and rows replaced after T that were known at T (evidence_history),
        # each put back where it stood.
        h = EvidenceHistory
        rows = _fetch(conn, stmt.where(evidence_known(Evidence, as_known_at)))
        replaced = _fetch(conn, select(h.change_id, h.url, h.kind, h.title, h.quote, h.position)
                          .where(_among(h.change_id, ids, conn.dialect.name),
                                 h.superseded_at > as_known_at, evidence_known(h, as_known_at))
                          .order_by(h.change_id, h.position, h.id))
        if replaced:
            rows = _with_replaced(rows, replaced)
    found: dict[str, list[Source]] = {}
    make = _maker(Source, ("url", "kind", "title", "quote"))
    for change_id, url, kind, title, quote in rows:
        source = make({"url": url, "kind": kind, "title": title, "quote": quote})
        have = found.get(change_id)
        if have is None:
            found[change_id] = [source]
        else:
            have.append(source)
    return {k: _distinct(v) for k, v in found.items()}


def _with_replaced(rows: list[tuple], replaced: list[tuple]) -> list[tuple]:
    """Evidence rows (change_id first) with the replaced rows (ordered by change and
    position, the position last) put back at their places among their change's rows."""
    by_change: dict[str, list[tuple]] = {}
    for r in rows:
        by_change.setdefault(r[0], []).append(r)
    for r in replaced:
        mine = by_change.setdefault(r[0], [])
        mine.insert(min(r[-1], len(mine)), r[:-1])
    return [r for mine in by_change.values() for r in mine]


def _distinct(sources: list[Source]) -> tuple[Source, ...]:
    """Each source once, in order. Evidence is kept per field it supports, so the same quote
    of the same page may back several (announced_on and public_comment_on)."""
    return tuple(dict.fromkeys(sources)) if len(sources) > 1 else tuple(sources)


def as_date(value: Any) -> date | None:
    """Dates come back from SQLite as text, from PostgreSQL as dates."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _utc(value: datetime | str) -> datetime:
    """A moment as aware UTC; SQLite gives naive UTC text (as tables.UTCDateTime reads it)."""
    if value.__class__ is str:
        try:
            # parsed as UTC in one step: ~10x faster than parsing and then .replace(tzinfo=)
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # text with an offset of its own
            value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- date corrections ----------------------------------------------------------------------

@dataclass(frozen=True)
class DateCorrection:
    """A date of already-reported changes that moved (or became known) later: one per
    instrument, event, field, old and new value and moment, with the provisions it moved."""

    field: str  # announced_on | promulgated_on | effective_on
    old_value: date | None  # None: the date was not known when the changes were reported
    new_value: date | None
    known_at: datetime
    law_id: str
    instrument_title: str | None
    event_key: str | None
    event_title: str | None
    provisions: tuple[dict[str, str | None], ...]  # {change_id, path, citation_ja, citation_en}

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "old_value": _iso(self.old_value),
                "new_value": _iso(self.new_value), "known_at": self.known_at.isoformat(),
                "instrument": {"law_id": self.law_id, "title": self.instrument_title},
                "event": {"key": self.event_key, "title": self.event_title} if self.event_key else None,
                "provisions": [dict(p) for p in self.provisions]}


def select_date_corrections(
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    as_known_at: datetime | None = None,
    learned_from: datetime | None = None,
    learned_to: datetime | None = None,
    categories: Iterable[str] = (),
    instruments: Iterable[str] = (),
    jurisdictions: Iterable[str] = (),
    tz: tzinfo = UTC,
) -> list[DateCorrection]:
    """Dates of changes that moved, or were learnt, after the change was first observed,
    when that happened in the window (an observation window, like watched pages).

    From the date history (``change_dates``): an entry that replaces an earlier one, or a
    first entry known after its change was observed. As known at T: only what was known by
    T, of changes recorded by T (rule 1).
    """
    as_known_at = _aware(as_known_at, tz)
    h, c = ChangeDate, ControlChange
    stmt = (select(h.id, h.change_id, h.field, h.value, h.known_at, c.observed_at, c.law_id,
                   c.instrument_title, c.path, c.citation_ja, c.citation_en, Event.key,
                   Event.title)
            .join(c, c.id == h.change_id).outerjoin(Event, Event.id == c.event_id)
            .where(_observed_window(h.known_at, since, until, tz)))
    stmt = _learned_bounds(stmt, h.known_at, learned_from, learned_to, as_known_at, tz)
    stmt = stmt.where(c.standing(as_known_at))
    if as_known_at is not None:
        stmt = stmt.where(c.recorded_at <= as_known_at)
    stmt = _filtered(stmt, categories, instruments, jurisdictions)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        if not rows:
            return []
        earlier = conn.execute(
            select(h.id, h.change_id, h.field, h.value, h.known_at)
            .where(_among(h.change_id, sorted({r.change_id for r in rows}), conn.dialect.name))
            .order_by(h.known_at, h.id)).all()
    previous: dict[int, date | None] = {}  # entry id → the value it replaced
    last: dict[tuple[str, str], date | None] = {}
    for e in earlier:
        key = (e.change_id, e.field)
        if key in last:
            previous[e.id] = last[key]
        last[key] = e.value
    groups: dict[tuple, list[Any]] = {}
    for r in rows:
        if r.id not in previous and r.known_at <= r.observed_at:
            continue  # the first value, reported with the change itself
        key = (r.known_at, r.law_id, r.key, r.field, previous.get(r.id), r.value)
        groups.setdefault(key, []).append(r)
    out = []
    for (known_at, law_id, event_key, name, old, new), members in groups.items():
        members.sort(key=lambda r: (natural_key(r.path), r.change_id))
        out.append(DateCorrection(
            field=name, old_value=as_date(old), new_value=as_date(new), known_at=_utc(known_at),
            law_id=law_id, instrument_title=members[0].instrument_title, event_key=event_key,
            event_title=members[0].title,
            provisions=tuple({"change_id": r.change_id, "path": r.path,
                              "citation_ja": r.citation_ja, "citation_en": r.citation_en}
                             for r in members)))
    out.sort(key=lambda d: (d.known_at, d.law_id, d.event_key or "",
                            DATE_FIELDS.index(d.field) if d.field in DATE_FIELDS else 9,
                            d.old_value or date.min, d.new_value or date.min))
    return out


# --- watched pages -------------------------------------------------------------------------

def select_document_changes(
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    as_known_at: datetime | None = None,
    kinds: Iterable[str] = ("page",),
    learned_from: datetime | None = None,
    learned_to: datetime | None = None,
    tz: tzinfo = UTC,
) -> list[DocumentChange]:
    """Versions of watched documents observed in the window, with the text before and after.

    "before" is the previous version's text (null for an added page), "after" this
    version's (null for a removed page). Ordered by observation, then source and URL.
    """
    as_known_at = _aware(as_known_at, tz)
    v, prev = DocumentVersion, aliased(DocumentVersion)
    stmt = (
        select(SourceRow.name, DocumentRow.url, DocumentRow.title.label("doc_title"),
               v.title, v.change_type, v.observed_at, v.text, v.version,
               prev.text.label("before_text"))
        .select_from(v)
        .join(DocumentRow, DocumentRow.id == v.document_id)
        .join(SourceRow, SourceRow.id == DocumentRow.source_id)
        .outerjoin(prev, and_(prev.document_id == v.document_id, prev.version == v.version - 1))
        .where(DocumentRow.kind.in_(list(kinds)) if kinds else false())
        .where(_observed_window(v.observed_at, since, until, tz))
        .order_by(v.observed_at, SourceRow.name, DocumentRow.url, v.version)
    )
    stmt = _learned_bounds(stmt, v.observed_at, learned_from, learned_to, as_known_at, tz)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for r in rows:
        before = None if r.change_type == "added" else r.before_text
        after = None if r.change_type == "removed" else r.text
        out.append(DocumentChange(source=r.name, url=r.url, title=r.title or r.doc_title,
                                  change_type=r.change_type, observed_at=_utc(r.observed_at),
                                  before_text=before, after_text=after))
    return out


# --- press-only events and discrepancies ---------------------------------------------------

def select_press_items(
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
    tz: tzinfo = UTC,
) -> list[EventItem]:
    """Events reported only by the press, and events whose sources disagree.

    The window applies to the event's announced_on / effective_on / first_observed_at as
    ``select_changes`` does. As known at T: the event as it stood then (rule 4), first
    observed <= T; its evidence follows rule 2; a discrepancy is shown when every URL it
    names that has evidence on the event has at least one such evidence row known by T.
    """
    items = _event_items(engine, since=since, until=until, by=by, as_known_at=as_known_at,
                         learned_from=learned_from, learned_to=learned_to,
                         categories=categories, instruments=instruments, tz=tz)
    return [i for i in items if i.status == "reported_unofficial" or i.discrepancies]


def select_announcements(
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    by: str | None = None,
    as_known_at: datetime | None = None,
    categories: Iterable[str] = (),
    instruments: Iterable[str] = (),
    tz: tzinfo = UTC,
) -> list[EventItem]:
    """Official events in the window (as ``select_press_items``), without discrepancies (the
    press section shows those): the caller keeps those none of its changes belong to."""
    items = _event_items(engine, since=since, until=until, by=by, as_known_at=as_known_at,
                         categories=categories, instruments=instruments, tz=tz,
                         wanted=lambda e: e["status"] == "official" and announced(e))
    return [dataclasses.replace(i, discrepancies=()) for i in items]


def _event_items(engine: Engine, *, since: date | None, until: date | None, by: str | None,
                 as_known_at: datetime | None, categories: Iterable[str],
                 instruments: Iterable[str], tz: tzinfo, learned_from: datetime | None = None,
                 learned_to: datetime | None = None,
                 wanted: Callable[[dict[str, Any]], bool] = lambda e: True) -> list[EventItem]:
    """Every `wanted` event in the window, as known at T, as an EventItem (see
    select_press_items)."""
    _check_by(by)
    as_known_at = _aware(as_known_at, tz)
    wanted_cats, wanted_laws = set(categories), set(instruments)
    with engine.connect() as conn:
        events = events_as_known(conn, as_known_at)
    items: list[EventItem] = []
    for ev in events:
        if not wanted(ev):
            continue
        if wanted_cats and not wanted_cats & set(ev["categories"] or ()):
            continue
        if wanted_laws and not wanted_laws & set(ev["law_ids"] or ()):
            continue
        if not _event_in_window(ev, since=since, until=until, by=by, learned_from=learned_from,
                                learned_to=learned_to, tz=tz):
            continue
        known_urls = {s["url"] for s in ev["known_sources"]}
        evidenced_urls = {s["url"] for s in ev["sources"]}
        discrepancies = tuple(
            _discrepancy(d) for d in (ev["details"] or {}).get("discrepancies") or []
            if isinstance(d, dict) and all(
                u in known_urls for u in (d.get("official_url"), d.get("press_url"))
                if u and u in evidenced_urls)
        )
        items.append(EventItem(
            key=ev["key"], title=ev["title"], status=ev["status"],
            jurisdiction=ev["jurisdiction"], law_ids=tuple(ev["law_ids"] or ()),
            categories=tuple(ev["categories"] or ()), regime=ev["regime"],
            outside_wassenaar=ev["outside_wassenaar"], announced_on=as_date(ev["announced_on"]),
            effective_on=as_date(ev["effective_on"]), first_observed_at=_utc(ev["first_observed_at"]),
            sources=_distinct([Source(url=s["url"], kind=s["kind"], title=s["title"],
                                      quote=s["quote"]) for s in ev["known_sources"]]),
            discrepancies=discrepancies))
    # Sorted here: the backends disagree on where NULL dates go.
    items.sort(key=lambda i: (i.announced_on or date.max, i.first_observed_at, i.key))
    return items


def _event_in_window(ev: dict[str, Any], *, since: date | None, until: date | None,
                     by: str | None, learned_from: datetime | None,
                     learned_to: datetime | None, tz: tzinfo) -> bool:
    """`_in_window` for one event (as known, in Python): its announced_on, effective_on and
    first observation stand for a change's three dates."""
    first = _utc(ev["first_observed_at"])
    if learned_from is not None and first < _aware(learned_from, tz):
        return False
    if learned_to is not None and first >= _aware(learned_to, tz):
        return False
    if since is None and until is None:
        return True

    def within(day: date | None) -> bool:
        return (day is not None and (since is None or day >= since)
                and (until is None or day <= until))

    hits = {"announced": within(as_date(ev["announced_on"])),
            "effective": within(as_date(ev["effective_on"])),
            "observed": within(first.astimezone(tz).date())}
    return hits[by] if by else any(hits.values())


def _discrepancy(raw: dict[str, Any]) -> Discrepancy:
    known = Discrepancy.__dataclass_fields__
    return Discrepancy(**{k: v for k, v in raw.items() if k in known and k != "field"},
                       field=str(raw.get("field") or "unknown"))
