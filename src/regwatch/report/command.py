"""`regwatch report`: read the window from the history database and render one format."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from regwatch.db.queries import (
    select_announcements,
    select_changes,
    select_date_corrections,
    select_document_changes,
    select_press_items,
)
from regwatch.errors import UsageError
from regwatch.report.base import ReportData, Window, get_reporter

log = logging.getLogger(__name__)


def collect(engine: Any, *, since: date, until: date | None, by: str | None,
            as_known_at: datetime | None, categories: list[str] | tuple[str, ...] = (),
            instruments: list[str] | tuple[str, ...] = (), tz: Any = UTC,
            generated_at: datetime | None = None) -> ReportData:
    """Query everything a report shows. Naive moments are read in `tz`.

    Without `until` the window ends today in `tz`.
    Watched pages and date corrections have only an observation date, so they are listed
    when the window applies to observation (``by`` observed or any); category and
    instrument filters apply to control changes, press items and date corrections, not to
    pages.
    """
    generated_at = generated_at or datetime.now(UTC)
    if as_known_at is not None and as_known_at.tzinfo is None:
        as_known_at = as_known_at.replace(tzinfo=tz)
    if until is None:  # today; a replay still shows dates ahead of the replayed moment
        until = generated_at.astimezone(tz).date()
    if since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    window = dict(since=since, until=until, as_known_at=as_known_at, tz=tz)
    changes = select_changes(engine, by=by, categories=categories, instruments=instruments,
                             **window)
    press = select_press_items(engine, by=by, categories=categories, instruments=instruments,
                               **window)
    # Announced (or published) events none of whose changes are in the report: the early
    # warning of a list change the law texts do not show yet.
    reported = {c.event["key"] for c in changes if c.event}
    announcements = [a for a in select_announcements(engine, by=by, categories=categories,
                                                     instruments=instruments, **window)
                     if a.key not in reported]
    observed = by in (None, "observed")  # pages and date corrections have no other date
    documents = select_document_changes(engine, **window) if observed else []
    corrections = select_date_corrections(engine, categories=categories, instruments=instruments,
                                          **window) if observed else []
    log.info("report %s..%s by %s: %d changes, %d announcements without changes, "
             "%d press items, %d page changes, %d date corrections", since, until, by or "any",
             len(changes), len(announcements), len(press), len(documents), len(corrections))
    return ReportData(
        window=Window(since, until, by), generated_at=generated_at, changes=tuple(changes),
        documents=tuple(documents), press_items=tuple(press), announcements=tuple(announcements),
        date_corrections=tuple(corrections), as_known_at=as_known_at,
        filters={"categories": tuple(categories), "instruments": tuple(instruments)},
        timezone=getattr(tz, "key", None) or str(tz))


def build_report(app: Any, *, since: date, until: date | None = None, by: str | None = None,
                 as_known_at: datetime | None = None, categories: list[str] | None = None,
                 instruments: list[str] | None = None, fmt: str = "html",
                 generated_at: datetime | None = None) -> str:
    """Render the report the CLI asked for (the caller writes it to stdout or -o FILE)."""
    from regwatch.db.session import require_schema

    reporter = get_reporter(fmt)
    require_schema(app.engine)
    data = collect(app.engine, since=since, until=until, by=by, as_known_at=as_known_at,
                   categories=list(categories or ()), instruments=list(instruments or ()),
                   tz=app.config.tz, generated_at=generated_at)
    return reporter.render(data)
