"""Per-source health from `v_source_health`, with the 'parser may be broken' flag."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import aliased

from regwatch.config import Config
from regwatch.db.tables import SourceRow, SourceRun
from regwatch.output import format_rows


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
        if (self.last_status in ("ok", "partial") and self.last_documents_seen == 0
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


def source_health(engine: Engine, config: Config | None = None) -> list[SourceHealth]:
    """Health of every source in the database, plus configured sources never run."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM v_source_health ORDER BY source")).mappings().all()
    out = [SourceHealth(
        source=r["source"],
        last_attempt_at=_as_datetime(r["last_attempt_at"]),
        last_success_at=_as_datetime(r["last_success_at"]),
        consecutive_failures=int(r["consecutive_failures"] or 0),
        last_error=r["last_error"],
        last_status=r["last_status"],
        last_documents_seen=r["last_documents_seen"],
        usual_documents_seen=float(r["usual_documents_seen"]) if r["usual_documents_seen"] is not None else None,
    ) for r in rows]
    next_runs, warnings = _next_runs(engine), _last_warnings(engine)
    out = [replace(h, next_run_at=next_runs.get(h.source), last_warnings=warnings.get(h.source, ()))
           for h in out]
    known = {h.source for h in out}
    for src in config.sources if config else ():
        if src.name not in known and src.enabled:
            out.append(SourceHealth(src.name, None, None, 0, None, None, None,
                                    next_run_at=next_runs.get(src.name)))
    return sorted(out, key=lambda h: h.source)


def _next_runs(engine: Engine) -> dict[str, datetime]:
    """Next run time of each source job, as APScheduler stored it (a UTC timestamp)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs "
                                 "WHERE id LIKE 'source:%' AND next_run_time IS NOT NULL")).all()
    return {job_id.removeprefix("source:"): datetime.fromtimestamp(ts, UTC) for job_id, ts in rows}


def _last_warnings(engine: Engine) -> dict[str, tuple[str, ...]]:
    """Per source, the warnings its last finished run recorded (the run `v_source_health`
    calls last), each as "url: message"."""
    r = aliased(SourceRun)
    last = (select(r.id).where(r.source_id == SourceRow.id, r.status.not_in(("running", "skipped")))
            .order_by(r.started_at.desc(), r.id.desc()).limit(1).scalar_subquery())
    with engine.connect() as conn:
        rows = conn.execute(select(SourceRow.name, SourceRun.issues)
                            .join(SourceRun, SourceRun.id == last)).all()
    out = {}
    for name, issues in rows:
        found = tuple(f"{i['url']}: {i['message']}" if i.get("url") else str(i.get("message"))
                      for i in issues or () if isinstance(i, dict) and i.get("level") == "warning")
        if found:
            out[name] = found
    return out


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
