"""`regwatch run`: the scheduler service (APScheduler 3, job store in the history database).

One process per database runs jobs: it first takes the lease "scheduler" (regwatch.locks)
and keeps renewing it. A second `regwatch run` logs "another scheduler holds the lock
(holder …, until …)" and waits, retrying, until the lease is free or has expired (its
holder crashed); it touches neither the job store nor the sources meanwhile. Waiting rather
than exiting lets a standby instance take over on its own.

Jobs, in the table ``apscheduler_jobs`` (made by our migration; the store only checks it
exists): ``source:<name>`` per enabled source on its cron schedule in `timezone`, and
``digest`` on ``digest.schedule``. All coalesce missed runs into one, run at most one
instance at a time, and are dropped when late by more than ``scheduler.misfire_grace_time_s``
(the digest waits up to six days instead: a late digest beats a lost one; it is idempotent
per subscriber and period). On start the configured jobs are reconciled with the stored
ones: an unchanged job keeps its stored next run time (so a run missed while the service
was down still happens once), a changed schedule replaces the trigger, a source no longer
configured loses its job.

The job store pickles jobs, so a job is a reference to a module-level function plus
picklable arguments (the source name). What the function needs at run time (App, engine,
the pipeline entry point) lives in `_RUNTIME`, set by `serve()` for its lifetime: the one
piece of module-level state in regwatch, unavoidable because APScheduler 3 gives a stored
job no other way to reach the running service. Hence one scheduler per process.

SIGTERM/SIGINT: no new job starts; runs already due or in progress get `stop_grace_s` to
finish, else they are abandoned (the process exits; the pipeline's per-source transaction rolls back). A
second signal abandons at once. Exit 0 either way; 1 if the lease was lost.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from regwatch.app import App
from regwatch.config import Config
from regwatch.errors import RegwatchError
from regwatch.locks import Lease, LockInfo, make_holder, wait_acquire

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler"
JOBS_TABLE = "apscheduler_jobs"
SOURCE_JOB = "regwatch.service:run_source_job"
DIGEST_JOB = "regwatch.service:run_digest_job"
DIGEST_JOB_ID = "digest"
DIGEST_MISFIRE_GRACE_S = 6 * 24 * 3600
STOP_GRACE_S = 30.0
MAX_WORKERS = 4  # sources run in parallel up to this; the fetch layer bounds the network

SourceRunner = Callable[[App, list[str]], list[Any]]
DigestRunner = Callable[[App], Any]
TriggerFactory = Callable[[str, ZoneInfo], BaseTrigger]


def cron_trigger(expr: str, tz: ZoneInfo) -> BaseTrigger:
    """The trigger of a schedule from config: a 5-field crontab in `tz`.

    Tests that need jobs every second pass their own TriggerFactory to `serve()`
    (e.g. ``lambda expr, tz: CronTrigger(second="*", timezone=tz)``).
    """
    return CronTrigger.from_crontab(expr, timezone=tz)


def source_job_id(name: str) -> str:
    return f"source:{name}"


# ---------------------------------------------------------------- job functions


class _Inflight:
    """Jobs handed to the executor and not yet finished (queued or running)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._jobs: dict[str, int] = {}

    def add(self, job_id: str) -> None:
        with self._cond:
            self._jobs[job_id] = self._jobs.get(job_id, 0) + 1

    def done(self, job_id: str) -> None:
        with self._cond:
            self._jobs[job_id] -= 1
            if not self._jobs[job_id]:
                del self._jobs[job_id]
            self._cond.notify_all()

    def names(self) -> list[str]:
        with self._cond:
            return sorted(self._jobs)

    def wait_idle(self, timeout: float, hurry: threading.Event) -> list[str]:
        """Wait until no job is in flight, `timeout` passes or `hurry` is set; those left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._jobs and not hurry.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.1))
            return sorted(self._jobs)


class _TrackingExecutor(ThreadPoolExecutor):
    """A thread pool that counts jobs from submission (inside the scheduler's job-store lock)
    to completion, so shutdown knows about queued jobs as well as running ones."""

    def __init__(self, inflight: _Inflight, max_workers: int):
        super().__init__(max_workers=max_workers)
        self._inflight = inflight

    def _do_submit_job(self, job, run_times):
        self._inflight.add(job.id)
        try:
            super()._do_submit_job(job, run_times)
        except BaseException:
            self._inflight.done(job.id)
            raise

    def _run_job_success(self, job_id, events):
        try:
            super()._run_job_success(job_id, events)
        finally:
            self._inflight.done(job_id)

    def _run_job_error(self, job_id, exc, traceback=None):
        try:
            super()._run_job_error(job_id, exc, traceback)
        finally:
            self._inflight.done(job_id)


class _Scheduler(BackgroundScheduler):
    def _process_jobs(self):
        # APScheduler 3 skips a pass only when paused; a pass that starts while shutdown()
        # is under way would hand due jobs to stopped executors and advance their next run
        # time, losing the run. We pause before shutting down, so "not running" suffices.
        if self.state != STATE_RUNNING:
            return None
        return super()._process_jobs()


@dataclass
class _Runtime:
    app: App
    run_source: SourceRunner
    run_digest: DigestRunner


_RUNTIME: _Runtime | None = None


def _runtime(job: str) -> _Runtime | None:
    rt = _RUNTIME
    if rt is None:
        log.error("job %s fired outside `regwatch run`; ignored", job)
    return rt


def run_source_job(source_name: str) -> None:
    """Scheduled job: one pipeline run of one source, then a health check in the log."""
    job = source_job_id(source_name)
    rt = _runtime(job)
    if rt is None:
        return
    started = time.monotonic()
    try:
        results = rt.run_source(rt.app, [source_name])
    except Exception:  # the scheduler must survive any one run
        log.exception("source %s: run failed", source_name)
    else:
        for result in results or ():
            summary = result.summary() if hasattr(result, "summary") else str(result)
            log.info("source %s: %s (%.1f s)", source_name, summary, time.monotonic() - started)
    log_health(rt.app, only=source_name)


def run_digest_job() -> None:
    """Scheduled job: send the digest of the period that just ended."""
    rt = _runtime(DIGEST_JOB_ID)
    if rt is None:
        return
    try:
        outcome = rt.run_digest(rt.app)
    except Exception:
        log.exception("digest: failed")
    else:
        if outcome is not None:
            log.info("digest: %s", outcome.summary() if hasattr(outcome, "summary") else outcome)


def _pipeline_runner(app: App, names: list[str]) -> list[Any]:
    from regwatch.pipeline import run_sources

    return run_sources(app, names, progress=False)


def _digest_runner(app: App) -> Any:
    from regwatch.digest.command import run_digest

    # week_of=None: the last week that has ended, computed from the clock when the job
    # runs, so a late (misfired, then coalesced) digest still sends the right week.
    return run_digest(app, week_of=None, dry_run_dir=None, send=True)


# ---------------------------------------------------------------- health


def log_health(app: App, only: str | None = None) -> list[tuple[str, list[str]]]:
    """Log each source's health problems (failures, 'parser may be broken'); return them."""
    try:
        from regwatch.health import source_health

        health = source_health(app.engine, app.config)
    except Exception as exc:  # health is advisory; never let it stop a job
        log.warning("cannot read source health: %s", exc)
        return []
    problems = []
    for h in health:
        if only is not None and h.source != only:
            continue
        flags = [f for f in h.flags if f != "never run"]
        if flags:
            problems.append((h.source, flags))
            log.warning("source %s health: %s%s", h.source, "; ".join(flags),
                        f" (last error: {h.last_error[:200]})" if h.last_error else "")
    return problems


# ---------------------------------------------------------------- scheduler


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: str
    args: tuple[Any, ...]
    trigger: BaseTrigger
    misfire_grace_time: int
    name: str


def desired_jobs(config: Config, trigger_for: TriggerFactory = cron_trigger) -> list[JobSpec]:
    """The jobs the configuration asks for."""
    tz = config.tz
    grace = config.scheduler.misfire_grace_time_s
    jobs = [JobSpec(source_job_id(s.name), SOURCE_JOB, (s.name,), trigger_for(s.schedule, tz),
                    grace, f"source {s.name} ({s.schedule})")
            for s in config.sources if s.enabled]
    jobs.append(JobSpec(DIGEST_JOB_ID, DIGEST_JOB, (), trigger_for(config.digest.schedule, tz),
                        max(grace, DIGEST_MISFIRE_GRACE_S), f"digest ({config.digest.schedule})"))
    return jobs


def build_scheduler(app: App, inflight: _Inflight | None = None) -> BackgroundScheduler:
    """A scheduler on the history database's job table (not started)."""
    store = SQLAlchemyJobStore(engine=app.engine, tablename=JOBS_TABLE)
    return _Scheduler(
        jobstores={"default": store},
        executors={"default": _TrackingExecutor(inflight or _Inflight(), MAX_WORKERS)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": app.config.scheduler.misfire_grace_time_s},
        timezone=app.config.tz,
    )


def _trigger_key(trigger: BaseTrigger) -> tuple[str, str, str]:
    # str() names the schedule without volatile parts (an interval's start date).
    return type(trigger).__name__, str(trigger), str(getattr(trigger, "timezone", ""))


def reconcile(scheduler: BackgroundScheduler, specs: list[JobSpec]) -> dict[str, list[str]]:
    """Make the stored jobs match `specs`, keeping the stored state of unchanged jobs."""
    stored = {job.id: job for job in scheduler.get_jobs()}
    done: dict[str, list[str]] = {"kept": [], "rescheduled": [], "added": [], "removed": []}
    for spec in specs:
        job = stored.pop(spec.id, None)
        if job is None:
            scheduler.add_job(spec.func, spec.trigger, args=spec.args, id=spec.id, name=spec.name,
                              misfire_grace_time=spec.misfire_grace_time)
            done["added"].append(spec.id)
            continue
        if _trigger_key(job.trigger) != _trigger_key(spec.trigger):
            log.info("job %s: schedule changed from %s to %s", spec.id, job.trigger, spec.trigger)
            scheduler.reschedule_job(spec.id, trigger=spec.trigger)
            done["rescheduled"].append(spec.id)
        else:
            done["kept"].append(spec.id)
        if (job.func_ref, tuple(job.args), job.name, job.misfire_grace_time, job.coalesce,
                job.max_instances) != (spec.func, spec.args, spec.name, spec.misfire_grace_time, True, 1):
            scheduler.modify_job(spec.id, func=spec.func, args=spec.args, name=spec.name,
                                 misfire_grace_time=spec.misfire_grace_time, coalesce=True,
                                 max_instances=1)
    for job_id in stored:
        log.info("job %s: removed (no longer configured)", job_id)
        scheduler.remove_job(job_id)
        done["removed"].append(job_id)
    return done


# ---------------------------------------------------------------- the service


@dataclass(frozen=True)
class ServiceOutcome:
    started: bool            # held the lock and ran the scheduler
    abandoned: tuple[str, ...]  # jobs still running when the grace time ran out
    lease_lost: bool


def serve(app: App, *, stop: threading.Event, hurry: threading.Event | None = None,
          run_source: SourceRunner | None = None, run_digest: DigestRunner | None = None,
          trigger_for: TriggerFactory = cron_trigger, stop_grace_s: float = STOP_GRACE_S,
          holder: str | None = None, on_started: Callable[[], None] | None = None) -> ServiceOutcome:
    """Wait for the scheduler lock, run the jobs until `stop` is set, then wind down.

    Returns without exiting the process; jobs still running are reported in the outcome
    (their threads are the caller's to abandon). `run_source`/`run_digest` replace the
    pipeline and the digest (tests); `trigger_for` turns a schedule string into a trigger.
    """
    global _RUNTIME
    from regwatch.db.session import require_schema

    require_schema(app.engine)
    hurry = hurry or threading.Event()
    ttl = app.config.scheduler.lock_ttl_s
    holder = holder or make_holder()

    def waiting(info: LockInfo | None) -> None:
        if info is not None:
            log.warning("another scheduler holds the lock (%s); waiting to take over", info.describe())

    if not wait_acquire(app.engine, LOCK_NAME, holder, ttl, stop=stop, on_wait=waiting):
        log.info("stopped while waiting for the scheduler lock")
        return ServiceOutcome(False, (), False)
    if _RUNTIME is not None:
        raise RegwatchError("a scheduler already runs in this process")
    log.info("scheduler lock taken (%s, ttl %s s)", holder, ttl)
    lost = threading.Event()

    def on_lost(_lease: Lease) -> None:
        log.error("lost the scheduler lock: another scheduler may have taken over; stopping")
        lost.set()
        hurry.set()
        stop.set()

    lease = Lease(app.engine, LOCK_NAME, holder, ttl, on_lost=on_lost).start()
    inflight = _Inflight()
    scheduler = build_scheduler(app, inflight)
    _RUNTIME = _Runtime(app, run_source or _pipeline_runner, run_digest or _digest_runner)
    still_running: list[str] = []
    try:
        scheduler.start(paused=True)
        done = reconcile(scheduler, desired_jobs(app.config, trigger_for))
        log.info("jobs: %s", ", ".join(f"{k} {len(v)}" for k, v in done.items()))
        for job in scheduler.get_jobs():
            log.info("job %s: next run %s", job.id, job.next_run_time)
        log_health(app)
        scheduler.resume()
        log.info("scheduler started (%d jobs)", len(scheduler.get_jobs()))
        if on_started is not None:
            on_started()
        stop.wait()
    finally:
        if scheduler.running:
            scheduler.pause()
            # A pass that was already handing out due jobs holds the job-store lock that
            # get_jobs() takes: once it returns, nothing new can be submitted.
            scheduler.get_jobs()
        if inflight.names():
            log.info("stopping: no new jobs start; waiting up to %g s for %s",
                     0 if lost.is_set() else stop_grace_s, ", ".join(inflight.names()))
        still_running = inflight.wait_idle(0 if lost.is_set() else stop_grace_s, hurry)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        _RUNTIME = None
        lease.release()  # deletes the row only if it is still ours
    if still_running:
        log.warning("abandoning %s: its transaction rolls back", ", ".join(still_running))
    return ServiceOutcome(True, tuple(still_running), lost.is_set())


def run_service(app: App, **kwargs: Any) -> None:
    """The `regwatch run` command: serve until SIGTERM/SIGINT; exit 0, or 1 if the lock was lost."""
    from regwatch.registry import check_sources

    check_sources(app.config)  # a bad scraper option is exit 2 now, not a failed job later
    stop, hurry = threading.Event(), threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("%s again: abandoning the run in progress", name)
            hurry.set()
        else:
            log.info("%s received: stopping (runs in progress may finish first)", name)
            stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        kwargs.setdefault("stop_grace_s", app.config.scheduler.stop_grace_s)
        outcome = serve(app, stop=stop, hurry=hurry, **kwargs)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    code = 1 if outcome.lease_lost else 0
    if outcome.abandoned:
        # Worker threads cannot be killed and would keep the interpreter alive; end the
        # process now. Open transactions die with their connections and roll back.
        log.info("exiting with %d (abandoned %s)", code, ", ".join(outcome.abandoned))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if outcome.lease_lost:
        raise RegwatchError("lost the scheduler lock; another scheduler may be running")
    log.info("stopped cleanly")
