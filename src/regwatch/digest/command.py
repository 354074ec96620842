"""`regwatch digest`: build each subscriber's weekly digest, then write it or send it.

A digest covers what regwatch learned during its period: control-list changes whose
`recorded_at` falls in [start, end), whatever their announced or effective dates, plus
events (announced or reported) first observed then that have no list change yet, date
corrections, changes retracted then (shown before, no longer found), plus source-health
problems.
Each change has one recording time, so it lands in exactly one period. It is its
observation time, except for a change an earlier parse missed and a later one found
(`reprocess`, an upgraded parser): that one comes in the period it was found, marked
"found late".

--send refuses a period that has not ended (what is learned later in it would never be
sent), holds the `digest` lease so two runs cannot send at once, and also retries
unfinished rows of earlier periods. --dry-run writes one .eml per subscriber and writes
nothing to the database. Every digest is built as known at the moment its Date header
gives, so --dry-run with --as-known-at that moment rebuilds it, for an audit: its
changes, dates, sources, date corrections and announcements as known then, the source
problems as they stood then.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update

from regwatch.app import App
from regwatch.config import Config, SubscriberConfig
from regwatch.db.queries import (
    as_date,
    select_changes,
    select_date_corrections,
    select_events,
    select_found_again,
    select_retracted,
)
from regwatch.db.tables import Subscriber
from regwatch.digest.compose import DigestContent, EventNote, Recipient, compose_digest
from regwatch.digest.deliver import (
    Checkpoint,
    Composed,
    Job,
    RecipientResult,
    SmtpSender,
    SmtpSettings,
    deliver,
    unfinished_rows,
)
from regwatch.digest.period import Period, digest_period
from regwatch.errors import ConfigError, UsageError
from regwatch.health import SourceHealth, source_health
from regwatch.models import Source

log = logging.getLogger(__name__)

LEASE = "digest"


@dataclass(frozen=True)
class DigestOutcome:
    period: Period
    mode: str  # send | dry-run
    results: tuple[RecipientResult, ...]
    written: tuple[Path, ...] = ()

    @property
    def failed(self) -> list[RecipientResult]:
        return [r for r in self.results if r.is_failure]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        start = self.period.start.strftime("%Y-%m-%d %H:%M")
        end = self.period.end.strftime("%Y-%m-%d %H:%M %Z")
        head = (f"digest {self.mode}, week of {self.period.label} ({start} – {end}): "
                + (", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items()))
                   or "no subscribers"))
        lines = [head]
        for r in self.results:
            other = "" if r.period == self.period else f" [week of {r.period.label}]"
            if r.status in ("failed", "gave_up"):
                lines.append(f"  {r.status.replace('_', ' ')}: {r.email}{other} "
                             f"(attempt {r.attempts}): {r.detail}")
            elif r.status in ("resent", "skipped") or other:
                lines.append(f"  {r.status}: {r.email}{other}"
                             + (f" ({r.detail})" if r.detail else ""))
        lines.extend(f"  wrote {p}" for p in self.written)
        return "\n".join(lines)


def run_digest(app: App, *, week_of: Any = None, dry_run_dir: Path | None = None,
               send: bool = False, now: datetime | None = None,
               as_known_at: datetime | None = None,
               sender: SmtpSender | None = None,
               checkpoint: Checkpoint | None = None) -> DigestOutcome:
    """Build and write (dry run) or send the digest of the week containing `week_of`
    (default: the last completed week), as known now or, for a dry run, at `as_known_at`
    (naive: in the configured time zone)."""
    config, engine = app.config, app.engine
    if bool(dry_run_dir) == bool(send):
        raise UsageError("give exactly one of --dry-run DIR or --send")
    if as_known_at is not None:
        if send:
            raise UsageError("--as-known-at rebuilds a past digest: use it with --dry-run DIR")
        # Built as it was at T: the default week is the last one ended by then.
        now = as_known_at if as_known_at.tzinfo else as_known_at.replace(tzinfo=config.tz)
        if now > datetime.now(UTC):
            raise UsageError(f"--as-known-at {now.isoformat()} is in the future")
    now = now or datetime.now(UTC)
    period = digest_period(week_of, tz=config.tz, start_day=config.digest.week_start_day,
                           start_time=config.digest.week_start_time, now=now)
    from regwatch.db.session import require_schema

    require_schema(engine)
    replay = as_known_at is not None
    health = tuple(source_health(engine, config, as_known_at=now if replay else None))
    if dry_run_dir is not None:
        return _dry_run(engine, config, period, health, Path(dry_run_dir), now, replay=replay)

    if not period.has_ended(now):
        raise UsageError(f"the week of {period.label} has not ended yet (it ends "
                         f"{period.end.isoformat()}); sending now would miss what regwatch "
                         "learns before then. Use --dry-run DIR to preview it.")
    settings = SmtpSettings.from_config(config)
    if settings.username and not settings.password:
        raise ConfigError("smtp.username is set but REGWATCH_SMTP_PASSWORD is empty",
                          key="smtp.username")
    from regwatch.locks import lease

    smtp = sender or SmtpSender(settings)
    with lease(engine, LEASE, ttl_s=config.scheduler.lock_ttl_s) as held:
        ids = sync_subscribers(engine, config.subscribers)
        by_id = {ids[s.email]: s for s in config.subscribers}
        jobs = [_job(engine, config, by_id[sid], sid, _period_of(start, end, config), health,
                     now) for sid, start, end in unfinished_rows(
                         engine, period.start, config.digest.max_attempts) if sid in by_id]
        jobs += [_job(engine, config, s, ids[s.email], period, health, now)
                 for s in config.subscribers]
        try:
            results = deliver(engine, jobs, smtp, from_addr=config.smtp.sender,
                              max_attempts=config.digest.max_attempts,
                              checkpoint=checkpoint, before_each=held.check)
        finally:
            smtp.close()
    return DigestOutcome(period, "send", tuple(results))


def _period_of(start: datetime, end: datetime, config: Config) -> Period:
    return Period(start.astimezone(config.tz), end.astimezone(config.tz))


def _job(engine: Engine, config: Config, sub: SubscriberConfig, sid: int, period: Period,
         health: tuple[SourceHealth, ...], now: datetime) -> Job:
    return Job(sid, sub.email, period, _composer(engine, config, sub, period, health, now))


def _composer(engine: Engine, config: Config, sub: SubscriberConfig, period: Period,
              health: tuple[SourceHealth, ...], now: datetime) -> Callable[[], Composed]:
    def build() -> Composed:
        # Built as known at its Date header's moment, so that `--as-known-at` that moment
        # rebuilds a sent digest exactly, whatever runs committed while it was being sent.
        content = digest_content(engine, config, sub, period, health, as_known_at=now)
        if content.is_empty and config.digest.empty_week == "skip":
            return Composed(None, 0)
        message = compose_digest(content, Recipient(sub.email, sub.language, sub.name),
                                 sender=config.smtp.sender, report_url=config.digest.report_url,
                                 tz=config.tz, sent_at=now)
        return Composed(message, len(content.changes))
    return build


def digest_content(engine: Engine, config: Config, sub: SubscriberConfig, period: Period,
                   health: tuple[SourceHealth, ...],
                   as_known_at: datetime | None = None) -> DigestContent:
    window = dict(learned_from=period.start, learned_to=period.end, as_known_at=as_known_at,
                  categories=sub.categories, jurisdictions=sub.jurisdictions,
                  instruments=sub.instruments, tz=config.tz)
    changes = select_changes(engine, **window)
    with_changes = {(c.event or {}).get("key") for c in changes}
    notes = [n for n in event_notes(engine, period, sub, as_known_at)
             if n.key not in with_changes]
    corrections = select_date_corrections(engine, **window)
    retracted = select_retracted(engine, **window)
    found_again = select_found_again(engine, [c.id for c in changes])
    return DigestContent(period, tuple(changes), tuple(notes), health, tuple(corrections),
                         tuple(retracted), found_again)


def event_notes(engine: Engine, period: Period, sub: SubscriberConfig,
                as_known_at: datetime | None = None) -> list[EventNote]:
    """Events first observed in the period (and by `as_known_at`) that match the
    subscriber's filters, as they stood then, with their sources (as known then)."""
    events = [ev for ev in select_events(engine, learned_from=period.start,
                                         learned_to=period.end, as_known_at=as_known_at)
              if _matches(ev, sub)]
    return [EventNote(ev["key"], ev["title"], ev["status"], as_date(ev["announced_on"]),
                      as_date(ev["effective_on"]), ev["regime"] or "unknown",
                      tuple(Source(s["url"], s["kind"], s["title"], s["quote"])
                            for s in ev["known_sources"]),
                      title_ja=ev["details"].get("title_ja")
                      if isinstance(ev["details"], dict) else None)
            for ev in events]


def _matches(ev: dict[str, Any], sub: SubscriberConfig) -> bool:
    if sub.jurisdictions and ev["jurisdiction"] not in sub.jurisdictions:
        return False
    if sub.categories and not set(sub.categories) & set(ev["categories"] or ()):
        return False
    if sub.instruments and not set(sub.instruments) & set(ev["law_ids"] or ()):
        return False
    return True


def sync_subscribers(engine: Engine, subscribers: tuple[SubscriberConfig, ...]) -> dict[str, int]:
    """Upsert the configured subscribers; returns their ids by e-mail. Rows of subscribers
    no longer configured stay (their digest history remains) but receive nothing."""
    t = Subscriber.__table__
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        for s in subscribers:
            filters = {"categories": list(s.categories), "jurisdictions": list(s.jurisdictions),
                       "instruments": list(s.instruments), "name": s.name}
            found = conn.execute(select(t.c.id).where(t.c.email == s.email)).scalar()
            if found is None:
                found = conn.execute(insert(t).values(email=s.email, language=s.language,
                                                      filters=filters)
                                     .returning(t.c.id)).scalar_one()
            else:
                conn.execute(update(t).where(t.c.id == found)
                             .values(language=s.language, filters=filters))
            ids[s.email] = found
    return ids


def _dry_run(engine: Engine, config: Config, period: Period, health: tuple[SourceHealth, ...],
             out_dir: Path, now: datetime, replay: bool = False) -> DigestOutcome:
    out_dir.mkdir(parents=True, exist_ok=True)
    results, written = [], []
    for n, sub in enumerate(config.subscribers, start=1):
        composed = _composer(engine, config, sub, period, health, now)()
        if composed.message is None:
            results.append(RecipientResult(sub.email, period, "would_skip", 0, "empty week"))
            continue
        safe = re.sub(r"[^A-Za-z0-9@._-]", "_", sub.email)
        path = out_dir / f"digest-{period.label}-{n:02d}-{safe}.eml"
        path.write_bytes(composed.message.as_bytes())
        written.append(path)
        results.append(RecipientResult(sub.email, period, "written", 0))
    mode = f"dry-run as known at {now.isoformat()}" if replay else "dry-run"
    return DigestOutcome(period, mode, tuple(results), tuple(written))

