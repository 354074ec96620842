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

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.orm import Session

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
    evidenced: dict[tuple[str, str], list[datetime | None]] = {}
    for change_id, field, observed in session.execute(
            select(Evidence.change_id, Evidence.field, DocumentVersion.observed_at)
            .outerjoin(DocumentVersion, DocumentVersion.id == Evidence.document_version_id)
            .where(Evidence.change_id.is_not(None), Evidence.field.in_(DATE_FIELDS))):
        evidenced.setdefault((change_id, field), []).append(observed)
    dates = session.execute(select(ControlChange.id, ControlChange.observed_at,
                                   *(getattr(ControlChange, f) for f in DATE_FIELDS)))
    facts = session.execute(select(ControlChange.id, ControlChange.observed_at, Event.key,
                                   ControlChange.regime, ControlChange.outside_wassenaar)
                            .outerjoin(Event, Event.id == ControlChange.event_id))
    # Facts are known with their change (evidence names dates only), and kept from the
    # first derivation even when null: an event found later is then a correction, known
    # from the run that found it, not from the change's observation.
    return (_append(session, ChangeDate, DATE_FIELDS, dates, evidenced, at)
            + _append(session, ChangeFact, FACT_FIELDS,
                      ((cid, observed, key, regime, fact_text(outside))
                       for cid, observed, key, regime, outside in facts), {}, at,
                      keep_null=True))


def fact_text(value: str | bool | None) -> str | None:
    """A fact as change_facts keeps it: text, a flag as "true" or "false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _append(session: Session | Connection, table: type[ChangeDate] | type[ChangeFact],
            fields: tuple[str, ...], current: Iterable[Sequence[Any]],
            evidenced: dict[tuple[str, str], list[datetime | None]], at: datetime, *,
            keep_null: bool = False) -> int:
    """Append to `table` the values of `fields` that differ from their latest entry (a
    first null too if `keep_null`). `current`: rows of change id, its observed_at, then the
    values of `fields`."""
    # Per (change, field): the latest entry (value, known_at, id) and the value before it.
    latest: dict[tuple[str, str], tuple[Any, datetime, int]] = {}
    earlier: dict[tuple[str, str], Any] = {}
    for entry_id, change_id, field, value, known_at in session.execute(
            select(table.id, table.change_id, table.field, table.value, table.known_at)
            .order_by(table.change_id, table.field, table.known_at, table.id)):
        if (change_id, field) in latest:
            earlier[(change_id, field)] = latest[(change_id, field)][0]
        latest[(change_id, field)] = (value, known_at, entry_id)  # the last one of each key wins
    rows = []
    for change_id, observed_at, *values in current:
        for field, value in zip(fields, values, strict=True):
            key = (change_id, field)
            before = latest.get(key)
            if ((value is None and before is None and not keep_null)
                    or (before is not None and before[0] == value)):
                continue
            if before is None:
                known_at = known_since(observed_at, evidenced.get(key, []))
            else:  # a correction: shown from the run that brought it on, never before
                known_at = max(before[1], at)
                if known_at == before[1]:
                    # The value it replaces was never shown (a derivation from part of what
                    # was observed at that moment): it gives way, as if never recorded.
                    _give_way(session, table, before[2], value,
                              back=key in earlier and earlier[key] == value)
                    continue
            rows.append({"change_id": change_id, "field": field, "value": value,
                         "known_at": known_at})
    for start in range(0, len(rows), 2000):
        session.execute(insert(table), rows[start:start + 2000])
    return len(rows)


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
