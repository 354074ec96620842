"""Date history: the values each change's dates took, and from when each was known.

Its facts (FACT_FIELDS: its event, its regime basis) are kept alike, in `change_facts`:
known first with the change (no evidence names them; a first null is kept too), a
replacement from the run that made it.

Derivation keeps only a change's current dates; a correction (an enforcement date
postponed, an earlier announcement found) replaces them. `--as-known-at T` must show what
regwatch knew at T, so after every derivation the dates that differ from their latest
recorded value are appended to `change_dates`, never updated or deleted.

When a value was known (``known_at``) follows observation times, like the rest of
as-known-at. A change's first value of a date is known from the change's own observation
or, when evidence rows name the field, from the earliest observation of a document they
come from (evidence without a document version comes with the change). A value that
replaces another is known from the moment derivation made the replacement — the run that
brought the correction (see `regwatch.derive.versions.derivation_time`); regwatch showed
the old value until then, even if the new one rests on older documents (a parser fix,
`reprocess`).
A value replaced at the very moment it became known was never shown (two runs deriving
from parts of one observation): it gives way instead of staying as a correction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    delete,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session, aliased

from regwatch.db.tables import (
    DATE_FIELDS,
    FACT_FIELDS,
    ChangeDate,
    ChangeFact,
    ControlChange,
    DocumentVersion,
    Event,
    Evidence,
)
from regwatch.derive.versions import derivation_time


def record(session: Session | Connection, at: datetime | None = None) -> int:
    """Append the dates and facts that changed since the last call, a correction known from
    `at` (the derivation's moment, see derive.versions.derivation_time). Returns how many
    rows were added."""
    at = at or derivation_time(session)
    c = ControlChange
    flag = case((c.outside_wassenaar.is_(None), null()),
                (c.outside_wassenaar == true(), literal("true")), else_=literal("false"))
    facts = dict(zip(FACT_FIELDS, (  # event_key, regime, outside_wassenaar
        select(Event.key).where(Event.id == c.event_id).scalar_subquery(), c.regime, flag),
        strict=True))
    # Facts are known with their change (evidence names dates only), and kept from the
    # first derivation even when null: an event found later is then a correction, known
    # from the run that found it, not from the change's observation.
    return (_append(session, ChangeDate, {f: getattr(c, f) for f in DATE_FIELDS}, at,
                    evidenced=True)
            + _append(session, ChangeFact, facts, at, keep_null=True))


def _append(session: Session | Connection, table: type[ChangeDate] | type[ChangeFact],
            current: dict[str, Any], at: datetime, *, keep_null: bool = False,
            evidenced: bool = False) -> int:
    """Append to `table` each value of `current` (field → its SQL expression over
    control_changes) that differs from its latest entry (a first null too if `keep_null`);
    a first value is known from the change's observation, or from its evidence's if
    `evidenced` (evidence rows naming the field).

    SQL finds the values that moved, so a run costs one index lookup per change and field,
    not a copy of the whole history in memory (a million changes: seconds, not a minute
    and gigabytes)."""
    c = ControlChange
    rows = []
    for field, value in current.items():
        h, entry = aliased(table), aliased(table)
        latest = (select(h.id).where(h.change_id == c.id, h.field == field)
                  .order_by(h.known_at.desc(), h.id.desc()).limit(1)
                  .correlate(c).scalar_subquery())
        moved = session.execute(
            select(c.id, c.observed_at, value, entry.id, entry.value, entry.known_at)
            .select_from(c).outerjoin(entry, entry.id == latest)
            .where(or_(and_(entry.id.is_(None), true() if keep_null else value.is_not(None)),
                       and_(entry.id.is_not(None), value.is_distinct_from(entry.value))))).all()
        firsts = [cid for cid, _, _, entry_id, _, _ in moved if entry_id is None]
        named = _evidence_seen(session, field, firsts) if evidenced and firsts else {}
        for change_id, observed_at, new, entry_id, _old, entry_known in moved:
            if entry_id is None:
                known_at = known_since(observed_at, named.get(change_id, []))
            else:  # a correction: shown from the run that brought it on, never before
                known_at = max(entry_known, at)
                if known_at == entry_known:
                    # The value it replaces was never shown (a derivation from part of what
                    # was observed at that moment): it gives way, as if never recorded.
                    earlier = session.execute(
                        select(table.value).where(
                            table.change_id == change_id, table.field == field,
                            or_(table.known_at < entry_known,
                                and_(table.known_at == entry_known, table.id < entry_id)))
                        .order_by(table.known_at.desc(), table.id.desc()).limit(1)).all()
                    _give_way(session, table, entry_id, new,
                              back=bool(earlier) and earlier[0][0] == new)
                    continue
            rows.append({"change_id": change_id, "field": field, "value": new,
                         "known_at": known_at})
    for start in range(0, len(rows), 2000):
        session.execute(insert(table), rows[start:start + 2000])
    return len(rows)


def _evidence_seen(session: Session | Connection, field: str,
                   change_ids: list[str]) -> dict[str, list[datetime | None]]:
    """Per change of `change_ids`: when each document of its evidence naming `field` was
    observed (None: evidence without a document)."""
    seen: dict[str, list[datetime | None]] = {}
    for start in range(0, len(change_ids), 500):
        for change_id, observed in session.execute(
                select(Evidence.change_id, DocumentVersion.observed_at)
                .outerjoin(DocumentVersion, DocumentVersion.id == Evidence.document_version_id)
                .where(Evidence.field == field,
                       Evidence.change_id.in_(change_ids[start:start + 500]))):
            seen.setdefault(change_id, []).append(observed)
    return seen


def _give_way(session: Session | Connection, table: type[ChangeDate] | type[ChangeFact],
              entry_id: int, value: Any, *, back: bool) -> None:
    """Replace the value of an entry never shown; drop it when that restores the one before."""
    if back:
        session.execute(delete(table).where(table.id == entry_id))
    else:
        session.execute(update(table).where(table.id == entry_id).values(value=value))


def known_since(change_observed: datetime, evidence_observed: list[datetime | None]) -> datetime:
    """When a date was first known: with its change, or once a document naming it was seen."""
    if not evidence_observed:
        return change_observed
    return max(change_observed, min(t or change_observed for t in evidence_observed))
