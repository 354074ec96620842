"""Per-source health from the run history, with the flags a person must act on.

`source_health` reads each source's runs newest first and `health_of` (pure) computes the
columns the `v_source_health` view gives analysts — the same rules, checked against the
view by the tests — so that health can also be computed *as known at* a past moment, for
replaying a past digest (a view cannot take that moment as a parameter).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, text

from regwatch.config import Config
from regwatch.db.tables import SourceRow, SourceRun
from regwatch.output import format_rows

USUAL_OF = 10  # "usual" documents seen: the mean of this many earlier working runs
WORKED = ("ok", "partial")
UNFINISHED = ("running", "skipped")


@dataclass(frozen=True)
class SourceHealth:
    source: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    last_documents_seen: int | None
    usual_documents_seen: float | None
    last_status: str | None = None  # of the last finished run: ok | partial | failed | abandoned
    next_run_at: datetime | None = None  # from the scheduler's job store, when `regwatch run` scheduled it
    # Warnings of the last finished run: it worked, but something needs a person (a revision
    # gone from e-Gov's list, entries beyond max_entries, a malformed feed).
    last_warnings: tuple[str, ...] = ()

    @property
    def flags(self) -> list[str]:
        out = []
        if self.consecutive_failures:
            out.append(f"failing ({self.consecutive_failures} in a row)")
        if self.last_status == "partial":  # a page that failed may hold a change: say so
            out.append("last run partial: some items failed")
        # Only a run that worked can say the parser found nothing; a failed fetch is not that.
        if (self.last_status in WORKED and self.last_documents_seen == 0
                and self.usual_documents_seen
                and self.usual_documents_seen >= 1):
            out.append("parser may be broken: no documents where "
                       f"{self.usual_documents_seen:g} are usual")
        if self.last_attempt_at is None:
            out.append("never run")
        if self.last_warnings:
            more = len(self.last_warnings) - 1
            out.append(f"warning: {self.last_warnings[0]}" + (f" (+{more} more)" if more else ""))
        return out


@dataclass(frozen=True)
class RunSummary:
    """One run of a source as `health_of` reads it."""

    id: int
    started_at: datetime
    status: str  # running | ok | partial | failed | abandoned
    documents_seen: int | None = None
    error: str | None = None
    issues: Any = None  # source_runs.issues: [{"level", "url", "message"}, ...]


def health_of(source: str, runs: Iterable[RunSummary]) -> SourceHealth:
    """A source's health from its runs, newest first (started_at, then id, descending).

    The rules of `v_source_health`: the last attempt is the newest run, running or not; the
    last run is the newest finished one; failures count in a row back to the newest working
    run; "usual" is the mean of the USUAL_OF newest working runs before the last. Reads only
    as far back as those need.
    """
    newest = last = success = None
    failures = 0
    usual: list[int] = []
    usual_runs = 0
    for run in runs:
        if success is not None and run.started_at < success.started_at and usual_runs >= USUAL_OF:
            break  # older runs change nothing
        newest = newest or run
        if last is None and run.status not in UNFINISHED:
            last = run
        # A failure counts unless a working run started after it (the view's NOT EXISTS).
        if run.status == "failed" and (success is None or run.started_at >= success.started_at):
            failures += 1
        if run.status in WORKED:
            success = success or run
            if (last is None or run.id != last.id) and usual_runs < USUAL_OF:
                usual_runs += 1
                if run.documents_seen is not None:
                    usual.append(run.documents_seen)
    if newest is None:
        return SourceHealth(source, None, None, 0, None, None, None)
    return SourceHealth(
        source=source, last_attempt_at=newest.started_at,
        last_success_at=success.started_at if success else None,
        consecutive_failures=failures,
        last_error=last.error if last else None,
        last_status=last.status if last else None,
        last_documents_seen=last.documents_seen if last else None,
        usual_documents_seen=sum(usual) / len(usual) if usual else None,
        last_warnings=warnings_of(last.issues) if last else ())


def warnings_of(issues: Any) -> tuple[str, ...]:
    """A run's recorded warnings, each as "url: message"."""
    return tuple(f"{i['url']}: {i['message']}" if i.get("url") else str(i.get("message"))
                 for i in issues or () if isinstance(i, dict) and i.get("level") == "warning")


def source_health(engine: Engine, config: Config | None = None,
                  as_known_at: datetime | None = None) -> list[SourceHealth]:
    """Health of every source in the database, plus configured sources never run.

    With `as_known_at`, health as it stood then: only sources created and runs started by
    then, a run that had not finished by then counts as running, and no next run is known.
    (Configured sources never run are those of the configuration given.)
    """
    stmt = select(SourceRow.id, SourceRow.name).order_by(SourceRow.name)
    if as_known_at is not None:  # a source first run later was not in the database then
        stmt = stmt.where(SourceRow.created_at <= as_known_at)
    with engine.connect() as conn:
        sources = conn.execute(stmt).all()
        out = [health_of(name, _runs(conn, source_id, as_known_at)) for source_id, name in sources]
    next_runs = _next_runs(engine) if as_known_at is None else {}
    out = [replace(h, next_run_at=next_runs.get(h.source)) for h in out]
    known = {h.source for h in out}
    for src in config.sources if config else ():
        if src.name not in known and src.enabled:
            out.append(SourceHealth(src.name, None, None, 0, None, None, None,
                                    next_run_at=next_runs.get(src.name)))
    return sorted(out, key=lambda h: h.source)


def _runs(conn: Any, source_id: int, as_known_at: datetime | None) -> Iterable[RunSummary]:
    """The source's runs newest first, streamed (health_of stops reading early); as known
    at `as_known_at`: a run not finished by then was running."""
    r = SourceRun
    stmt = (select(r.id, r.started_at, r.finished_at, r.status, r.documents_seen, r.error, r.issues)
            .where(r.source_id == source_id).order_by(r.started_at.desc(), r.id.desc()))
    if as_known_at is not None:
        stmt = stmt.where(r.started_at <= as_known_at)
    with conn.execution_options(yield_per=200).execute(stmt) as result:
        for run_id, started, finished, *outcome in result:
            if as_known_at is not None and (finished is None or _as_datetime(finished) > as_known_at):
                outcome = ["running", None, None, None]
            yield RunSummary(run_id, _as_datetime(started), *outcome)


def _next_runs(engine: Engine) -> dict[str, datetime]:
    """Next run time of each source job, as APScheduler stored it (a UTC timestamp)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs "
                                 "WHERE id LIKE 'source:%' AND next_run_time IS NOT NULL")).all()
    return {job_id.removeprefix("source:"): datetime.fromtimestamp(ts, UTC) for job_id, ts in rows}


def scheduler_line(engine: Engine) -> str:
    """Who runs the scheduler on this database, for `regwatch status`."""
    from regwatch.locks import holder_of

    lease = holder_of(engine, "scheduler")
    if lease is None:
        return "scheduler: not running on this database (start it with `regwatch run`)\n"
    state = "held" if lease.expires_at > datetime.now(UTC) else "expired (the holder stopped)"
    return f"scheduler: lease {state} by {lease.holder} until {lease.expires_at.isoformat(timespec='seconds')}\n"


def _as_datetime(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def format_health(health: list[SourceHealth], fmt: str) -> str:
    columns = ["source", "last_status", "last_attempt_at", "last_success_at", "consecutive_failures",
               "last_error", "last_documents_seen", "usual_documents_seen", "next_run_at", "flags"]
    rows = [(h.source, h.last_status, h.last_attempt_at, h.last_success_at, h.consecutive_failures,
             (h.last_error or "")[:200] or None, h.last_documents_seen,
             None if h.usual_documents_seen is None else round(h.usual_documents_seen, 1),
             h.next_run_at, "; ".join(h.flags)) for h in health]
    return format_rows(columns, rows, fmt)
