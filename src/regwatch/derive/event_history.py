"""Event history: the states of events that derivation replaced, and from when.

Events are rebuilt from the latest documents after every run, so an event's title, status
and dates move as its stages are published (a public-comment notice, then the amendment),
and a press-only event goes when it is merged away. `--as-known-at T` (a report or a
digest replayed for an audit) must show the event as it stood at T. `kept(session)` wraps
the events step: each event state it changed or removed is appended to `event_history`
(and an `absent` row for an event it made from documents observed earlier), replaced at
the derivation's moment — the run that brought the change, as for dates and evidence (see
`regwatch.derive.date_history`, `regwatch.derive.versions.derivation_time`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from regwatch.db.queries import events_as_known
from regwatch.db.tables import EVENT_SHOWN, EventHistory
from regwatch.derive.versions import derivation_time


@contextmanager
def kept(session: Session, at: datetime | None = None) -> Iterator[None]:
    """Keep the event states the wrapped derivation step replaces (not on error), replaced
    `at` (default: derivation_time)."""
    before = states(session)
    yield
    session.flush()
    after = states(session)
    replaced = {key: state for key, state in before.items() if after.get(key) != state}
    # Made from documents observed before this run: it did not exist from their moment on.
    made = {key: state for key, state in after.items() if key not in before}
    if not (replaced or made):
        return
    superseded_at = at or derivation_time(session)
    last_kept = dict(session.execute(
        select(EventHistory.key, func.max(EventHistory.superseded_at))
        .where(EventHistory.key.in_([*replaced, *made])).group_by(EventHistory.key)).all())

    def shown(key: str, state: dict[str, Any]) -> bool:
        # A state replaced at the moment it became known (two steps of one observation)
        # was never shown: nothing to keep, as for dates and evidence.
        since = max(state["first_observed_at"], last_kept.get(key) or state["first_observed_at"])
        return since < superseded_at

    rows = [{"key": key, "absent": False, **state, "superseded_at": superseded_at}
            for key, state in replaced.items() if shown(key, state)]
    rows += [{"key": key, "absent": True, "superseded_at": superseded_at}  # nothing else
             for key, state in made.items() if shown(key, state)]
    if rows:
        session.execute(insert(EventHistory), rows)


def states(session: Session) -> dict[str, dict[str, Any]]:
    """Per event key, what the event shows: EVENT_SHOWN and its `sources` (its evidence
    rows in order, EVENT_SOURCE of each), as the report queries read it."""
    return {e["key"]: {k: e[k] for k in (*EVENT_SHOWN, "sources")}
            for e in events_as_known(session.connection(), None)}
