"""The scheduler service: jobs on schedule, persistent job state, the scheduler lock, signals."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text

from regwatch.app import App
from regwatch.config import load_config
from regwatch.locks import acquire, holder_of
from regwatch.service import build_scheduler, serve

# Subprocesses timed against signals and leases: run without a parallel worker beside them
# (./dev.sh test), where one SIGTERM test once outlasted its wait under the other's load.
pytestmark = pytest.mark.alone

EVERY_SECOND = staticmethod(lambda expr, tz: CronTrigger(second="*", timezone=tz))


def write_config(path: Path, db_url: str, sources: list[tuple[str, str]], *, ttl: int = 120,
                 grace: int = 3600, digest: str = "5 9 * * mon", disabled: tuple[str, ...] = ()) -> Path:
    lines = [f'data_dir = "{path.parent / "data"}"', "",
             "[database]", f'url = "{db_url}"', "",
             "[digest]", f'schedule = "{digest}"', "",
             "[scheduler]", f"lock_ttl_s = {ttl}", f"misfire_grace_time_s = {grace}", ""]
    for name, schedule in sources:
        lines += ["[[source]]", f'name = "{name}"', 'scraper = "page"',
                  f'url = "http://127.0.0.1:9/{name}"', f'schedule = "{schedule}"',
                  f"enabled = {'false' if name in disabled else 'true'}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def make_app(tmp_path: Path, db_url: str, sources, **kw) -> App:
    return App(load_config(write_config(tmp_path / "regwatch.toml", db_url, sources, **kw)))


class Recorder:
    """A cheap stand-in for the pipeline: records (job, start, end) and may take its time."""

    def __init__(self, sleep_s: float = 0.0):
        self.sleep_s = sleep_s
        self.runs: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    def run_source(self, app: App, names: list[str]) -> list:
        start = time.monotonic()
        time.sleep(self.sleep_s)
        with self._lock:
            self.runs.append((names[0], start, time.monotonic()))
        return []

    def run_digest(self, app: App) -> None:
        with self._lock:
            self.runs.append(("digest", time.monotonic(), time.monotonic()))

    def of(self, job: str) -> list[tuple[float, float]]:
        with self._lock:
            return [(s, e) for j, s, e in self.runs if j == job]


@contextmanager
def serving(app: App, recorder: Recorder, **kw) -> Iterator[dict]:
    stop, started, box = threading.Event(), threading.Event(), {}

    def target() -> None:
        box["outcome"] = serve(app, stop=stop, on_started=started.set, run_source=recorder.run_source,
                               run_digest=recorder.run_digest, **kw)

    thread = threading.Thread(target=target)
    thread.start()
    try:
        assert started.wait(30), "service did not start"
        yield box
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()
        app.close()


def stored_jobs(engine) -> dict[str, float | None]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all())


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# ---------------------------------------------------------------- in-process


def test_jobs_fire_on_schedule(tmp_path, db_url, engine):
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *"), ("src-b", "0 7 * * *"), ("off", "0 6 * * *")],
                   disabled=("off",))
    rec = Recorder()
    with serving(app, rec, trigger_for=EVERY_SECOND) as box:
        assert wait_for(lambda: len(rec.of("src-a")) >= 2 and len(rec.of("src-b")) >= 2
                        and rec.of("digest"), 8)
        assert holder_of(engine, "scheduler") is not None  # held while serving
    assert rec.of("off") == []
    assert box["outcome"].started and not box["outcome"].abandoned
    assert holder_of(engine, "scheduler") is None  # released on a clean stop
    assert set(stored_jobs(engine)) == {"source:src-a", "source:src-b", "digest"}


def test_at_most_one_instance_of_a_job(tmp_path, db_url, engine):
    app = make_app(tmp_path, db_url, [("slow", "0 6 * * *")])
    rec = Recorder(sleep_s=1.6)
    with serving(app, rec, trigger_for=EVERY_SECOND, stop_grace_s=5):
        assert wait_for(lambda: len(rec.of("slow")) >= 2, 8)
    runs = sorted(rec.of("slow"))
    assert all(prev_end <= start for (_, prev_end), (start, _) in zip(runs, runs[1:], strict=False))


def test_job_state_survives_a_restart(tmp_path, db_url, engine):
    hourly = staticmethod(lambda expr, tz: IntervalTrigger(hours=1, timezone=tz))
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")])
    with serving(app, Recorder(), trigger_for=hourly):
        first = stored_jobs(engine)
    time.sleep(0.3)  # a recomputed next run (now + 1 h) would differ from the stored one
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")])
    with serving(app, Recorder(), trigger_for=hourly):
        second = stored_jobs(engine)
    assert set(first) == {"source:src-a", "digest"}
    assert second == first


def _set_next_run(app: App, job_id: str, when: datetime) -> None:
    """What a service that was down looks like: a next run time in the past."""
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    try:
        scheduler.modify_job(job_id, next_run_time=when)
    finally:
        scheduler.shutdown(wait=False)


def test_runs_missed_while_down_coalesce_into_one(tmp_path, db_url, engine):
    minutely = staticmethod(lambda expr, tz: IntervalTrigger(minutes=1, timezone=tz))
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")], grace=600)
    with serving(app, Recorder(), trigger_for=minutely):
        pass
    _set_next_run(app, "source:src-a", datetime.now(UTC) - timedelta(minutes=4, seconds=30))
    rec = Recorder()
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")], grace=600)
    with serving(app, rec, trigger_for=minutely):
        assert wait_for(lambda: rec.of("src-a"), 5)
        time.sleep(1.0)
    assert len(rec.of("src-a")) == 1  # five missed times, one run
    next_run = datetime.fromtimestamp(stored_jobs(engine)["source:src-a"], UTC)
    assert datetime.now(UTC) < next_run < datetime.now(UTC) + timedelta(minutes=1)


def test_runs_missed_beyond_the_grace_time_are_skipped(tmp_path, db_url, engine):
    hourly = staticmethod(lambda expr, tz: IntervalTrigger(hours=1, timezone=tz))
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")], grace=60)
    with serving(app, Recorder(), trigger_for=hourly):
        pass
    missed = datetime.now(UTC) - timedelta(minutes=3)
    _set_next_run(app, "source:src-a", missed)
    rec = Recorder()
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")], grace=60)
    with serving(app, rec, trigger_for=hourly):
        assert wait_for(lambda: stored_jobs(engine)["source:src-a"] > missed.timestamp() + 60, 5)
        time.sleep(0.3)
    assert rec.of("src-a") == []
    assert stored_jobs(engine)["source:src-a"] == pytest.approx((missed + timedelta(hours=1)).timestamp())


def test_config_changes_take_effect_on_restart(tmp_path, db_url, engine):
    app = make_app(tmp_path, db_url, [("keep", "0 6 * * *"), ("move", "0 7 * * *"), ("gone", "0 8 * * *")])
    with serving(app, Recorder()):
        before = stored_jobs(engine)
    app = make_app(tmp_path, db_url, [("keep", "0 6 * * *"), ("move", "30 19 * * *"), ("new", "0 9 * * *")],
                   digest="0 10 * * fri")
    with serving(app, Recorder()):
        after = stored_jobs(engine)
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(jobs) == {"source:keep", "source:move", "source:new", "digest"}
    assert after["source:keep"] == before["source:keep"]
    assert "hour='19', minute='30'" in str(jobs["source:move"].trigger)
    assert "day_of_week='fri', hour='10', minute='0'" in str(jobs["digest"].trigger)
    tokyo = jobs["source:move"].next_run_time
    assert (tokyo.hour, tokyo.minute, str(tokyo.tzinfo)) == (19, 30, "Asia/Tokyo")
    assert jobs["source:new"].args == ("new",) and jobs["source:new"].func_ref == "regwatch.service:run_source_job"
    assert (jobs["source:keep"].coalesce, jobs["source:keep"].max_instances,
            jobs["source:keep"].misfire_grace_time) == (True, 1, 3600)


def test_scheduler_waits_while_another_holds_the_lock(tmp_path, db_url, engine, caplog):
    assert acquire(engine, "scheduler", "someone-else:1:x", 60)
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")])
    rec, stop, box = Recorder(), threading.Event(), {}
    thread = threading.Thread(target=lambda: box.setdefault("o", serve(
        app, stop=stop, run_source=rec.run_source, run_digest=rec.run_digest,
        trigger_for=EVERY_SECOND)))
    with caplog.at_level("WARNING", logger="regwatch.service"):
        thread.start()
        time.sleep(2.0)
        stop.set()
        thread.join(10)
    assert not box["o"].started and rec.runs == []
    assert stored_jobs(engine) == {}  # it never touched the job store
    assert "another scheduler holds the lock (holder someone-else:1:x, until" in caplog.text
    app.close()


# ---------------------------------------------------------------- real processes

CHILD = textwrap.dedent("""
    import sys, time
    from apscheduler.triggers.cron import CronTrigger
    from regwatch.app import App, setup_logging
    from regwatch.config import load_config
    from regwatch.service import run_service

    cfg, label, out, sleep_s, grace = sys.argv[1:6]
    setup_logging("INFO")
    app = App(load_config(cfg))

    def note(word, name):
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(f"{label} {word} {name} {time.time()}\\n")

    def run_source(app, names):
        note("start", names[0])
        time.sleep(float(sleep_s))
        note("end", names[0])
        return []

    run_service(app, run_source=run_source, run_digest=lambda app: None,
                trigger_for=lambda expr, tz: CronTrigger(second="*", timezone=tz),
                stop_grace_s=float(grace))
""")


class Child:
    def __init__(self, tmp_path: Path, cfg: Path, label: str, out: Path, sleep_s=0.0, grace=10.0):
        self.err = tmp_path / f"{label}.log"
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(cfg), label, str(out),
                                      str(sleep_s), str(grace)],
                                     stderr=self.err.open("w"), stdout=subprocess.DEVNULL)

    def log(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def wait(self, timeout: float) -> int:
        """Its exit code; a failure showing its log if it is still running after `timeout`."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout} s; its log:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def lines(out: Path) -> list[tuple[str, str, str, float]]:
    if not out.exists():
        return []
    rows = [ln.split() for ln in out.read_text(encoding="utf-8").splitlines()]
    return [(r[0], r[1], r[2], float(r[3])) for r in rows if len(r) == 4]


@contextmanager
def children() -> Iterator[list[Child]]:
    made: list[Child] = []
    try:
        yield made
    finally:
        for c in made:
            c.kill()


def test_second_process_waits_and_takes_over_after_a_crash(tmp_path, db_url, engine):
    cfg = write_config(tmp_path / "regwatch.toml", db_url, [("src-a", "0 6 * * *")], ttl=2)
    out = tmp_path / "runs.txt"
    with children() as made:
        made.append(first := Child(tmp_path, cfg, "A", out))
        assert wait_for(lambda: any(r[0] == "A" for r in lines(out)), 20), first.log()
        made.append(second := Child(tmp_path, cfg, "B", out))
        assert wait_for(lambda: "another scheduler holds the lock (holder" in second.log(), 20), second.log()
        time.sleep(3.0)  # longer than the ttl: A's heartbeat keeps the lock
        assert [r for r in lines(out) if r[0] == "B"] == []
        assert first.proc.poll() is None
        os.kill(first.proc.pid, signal.SIGKILL)
        first.wait(10)
        killed_at = time.time()
        assert wait_for(lambda: any(r[0] == "B" for r in lines(out)), 15), second.log()
        b_runs = [r for r in lines(out) if r[0] == "B"]
        assert b_runs[0][3] >= killed_at and b_runs[0][3] - killed_at < 2 * 2 + 3
        second.proc.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0, second.log()
        assert "stopped cleanly" in second.log()
    assert holder_of(engine, "scheduler") is None


def test_sigterm_lets_the_run_in_progress_finish(tmp_path, db_url, engine):
    cfg = write_config(tmp_path / "regwatch.toml", db_url, [("src-a", "0 6 * * *")])
    out = tmp_path / "runs.txt"
    with children() as made:
        made.append(child := Child(tmp_path, cfg, "A", out, sleep_s=1.5, grace=20))
        assert wait_for(lambda: any(r[1] == "start" for r in lines(out)), 20), child.log()
        child.proc.send_signal(signal.SIGTERM)
        signalled = time.time()
        assert child.wait(20) == 0, child.log()
    rows = lines(out)
    assert [r[1] for r in rows][-1] == "end"  # the run in progress completed
    assert not [r for r in rows if r[1] == "start" and r[3] > signalled]  # nothing new started
    assert "SIGTERM received: stopping" in child.log() and "stopped cleanly" in child.log()


def test_sigterm_abandons_a_run_that_outlasts_the_grace_time(tmp_path, db_url, engine):
    cfg = write_config(tmp_path / "regwatch.toml", db_url, [("src-a", "0 6 * * *")])
    out = tmp_path / "runs.txt"
    with children() as made:
        made.append(child := Child(tmp_path, cfg, "A", out, sleep_s=60, grace=0.5))
        assert wait_for(lambda: any(r[1] == "start" for r in lines(out)), 20), child.log()
        child.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert child.wait(20) == 0, child.log()
        assert time.monotonic() - started < 10
    assert [r[1] for r in lines(out)] == ["start"]
    assert "abandoning source:src-a" in child.log()
    assert holder_of(engine, "scheduler") is None


def test_cli_run_exits_cleanly_on_sigint(tmp_path, db_url, engine):
    cfg = write_config(tmp_path / "regwatch.toml", db_url, [("src-a", "0 6 1 1 *")])
    err = tmp_path / "cli.log"
    proc = subprocess.Popen([sys.executable, "-m", "regwatch.cli", "--config", str(cfg), "run"],
                            stderr=err.open("w"), stdout=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: "scheduler started" in err.read_text(), 20), err.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "stopped cleanly" in err.read_text()
    assert set(stored_jobs(engine)) == {"source:src-a", "digest"}


def test_cli_run_refuses_an_uninitialised_database(tmp_path):
    cfg = write_config(tmp_path / "regwatch.toml", f"sqlite:///{tmp_path / 'empty.db'}", [])
    proc = subprocess.run([sys.executable, "-m", "regwatch.cli", "--config", str(cfg), "run"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "regwatch init" in proc.stderr


# ---------------------------------------------------------------- lease loss, health, pipeline


def test_losing_the_lock_stops_the_scheduler(tmp_path, db_url, engine):
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")], ttl=1)
    rec = Recorder()
    with serving(app, rec, trigger_for=EVERY_SECOND) as box:
        assert wait_for(lambda: rec.of("src-a"), 5)
        mine = holder_of(engine, "scheduler").holder
        with engine.begin() as conn:  # another scheduler took over (e.g. after a long stall)
            conn.execute(text("UPDATE service_locks SET holder = 'usurper' WHERE holder = :h"), {"h": mine})
        assert wait_for(lambda: "outcome" in box, 5)
        stopped_at = time.monotonic()
    assert box["outcome"].lease_lost
    time.sleep(1.2)
    assert not [s for s, _ in rec.of("src-a") if s > stopped_at]
    assert holder_of(engine, "scheduler").holder == "usurper"  # not deleted on the way out


def test_health_problems_are_logged_after_a_source_job(tmp_path, db_url, engine, caplog):
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sources (id, name, scraper, created_at) VALUES (1, 'src-a', 'page', :t)"),
                      {"t": now})
        for i, seen in enumerate([12, 11, 12, 13, 0]):  # usually a dozen, now none
            t = now - timedelta(hours=5 - i)
            conn.execute(text("INSERT INTO source_runs (source_id, started_at, finished_at, status, "
                              "documents_seen, documents_changed, errors) "
                              "VALUES (1, :t, :t, 'ok', :n, 0, 0)"), {"t": t, "n": seen})
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")])
    rec = Recorder()
    with caplog.at_level("INFO", logger="regwatch.service"):
        with serving(app, rec, trigger_for=EVERY_SECOND):
            assert wait_for(lambda: rec.of("src-a"), 5)
            assert wait_for(lambda: caplog.text.count("source src-a health: parser may be broken") >= 2, 5)
    # once at start-up, then after the job
    assert "no documents where 12 are usual" in caplog.text


FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Local Trade Wire</title><link>http://127.0.0.1/</link>
<item><title>Japan tightens export controls on chip tools</title>
<link>{base}/a/1</link><pubDate>Fri, 31 Mar 2023 09:00:00 +0900</pubDate>
<description>METI adds 23 items.</description></item>
</channel></rss>"""


def test_scheduled_job_runs_the_real_pipeline(tmp_path, db_url, engine):
    from fetch.server import LocalServer, Reply

    from regwatch.health import source_health

    with LocalServer() as srv:
        base = srv.url("")
        srv.route("/feed.xml", Reply(body=FEED.format(base=base.rstrip("/")),
                                     headers={"Content-Type": "application/rss+xml"}))
        cfg = tmp_path / "regwatch.toml"
        cfg.write_text("\n".join([
            f'data_dir = "{tmp_path / "data"}"', "[database]", f'url = "{db_url}"',
            "[fetch]", "min_interval_s = 0.0", "retries = 0", "backoff_s = 0.1",
            "[[source]]", 'name = "press-local"', 'scraper = "press"',
            f'urls = ["{srv.url("/feed.xml")}"]', 'allowed_hosts = ["127.0.0.1"]',
            'schedule = "0 6 * * *"', "headline_only = true", ""]), encoding="utf-8")
        app = App(load_config(cfg))
        stop, started, box = threading.Event(), threading.Event(), {}
        thread = threading.Thread(target=lambda: box.setdefault("o", serve(
            app, stop=stop, on_started=started.set, run_digest=lambda app: None,
            trigger_for=lambda expr, tz: CronTrigger(second="*/2", timezone=tz))))
        thread.start()
        try:
            assert started.wait(30)
            assert wait_for(lambda: any(h.last_success_at for h in source_health(engine)), 20)
        finally:
            stop.set()
            thread.join(60)
            app.close()
    (health,) = source_health(engine)
    assert health.source == "press-local" and health.consecutive_failures == 0
    assert health.last_documents_seen == 2  # the feed and its one article
    assert srv.requests("/feed.xml")


def test_status_shows_next_runs_and_the_scheduler_lease(tmp_path, db_url, engine, capsys):
    from regwatch.cli import main
    from regwatch.health import source_health

    hourly = staticmethod(lambda expr, tz: IntervalTrigger(hours=1, timezone=tz))
    app = make_app(tmp_path, db_url, [("src-a", "0 6 * * *")])
    with serving(app, Recorder(), trigger_for=hourly):
        (health,) = source_health(engine, app.config)
        assert health.source == "src-a" and health.next_run_at is not None
        assert timedelta(minutes=59) < health.next_run_at - datetime.now(UTC) <= timedelta(hours=1)
        assert main(["--config", str(tmp_path / "regwatch.toml"), "status"]) == 0
        out = capsys.readouterr().out
        assert "next_run_at" in out and "scheduler: lease held by" in out


def test_log_records_go_to_stderr_as_it_is_when_they_are_emitted(monkeypatch) -> None:
    """A record logged after sys.stderr was replaced and the old one closed (an SMTP
    connection lost after a command returned) reaches the new stream, with no error."""
    import io
    import sys

    from regwatch.app import setup_logging

    setup_logging("INFO")
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logging.getLogger("regwatch.test").info("one")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("regwatch.test").info("two")
    assert "regwatch.test: two" in second.getvalue()
