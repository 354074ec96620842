"""Concurrency: two runs on one database at once, and a run while `regwatch run` serves.

Neither crashes, nothing is stored twice, and the one that finds a source busy says so
("skipped, another run of this source is in progress") and leaves it to the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import text

from regwatch.app import App
from regwatch.db.session import make_engine, upgrade
from regwatch.service import serve
from reliability.runner import run_world
from reliability.world import (
    EtagReplayServer,
    counts,
    integrity_problems,
    load_world,
    state_diff,
    state_hash,
    table_states,
    world_config,
    write_config_toml,
)

RUNNER = Path(__file__).with_name("runner.py")
BUSY = "another run is in progress"
DERIVED = ("document_versions", "documents", "snapshots", "law_revisions", "provisions",
           "control_changes", "events", "evidence", "announcements", "press_articles")


@pytest.fixture(scope="module")
def server():
    with EtagReplayServer(load_world()) as srv:
        srv.delay_s = 0.03  # each run takes seconds, so the two surely overlap
        srv.set_moment(srv.story.steps[-1].at)
        yield srv


def _reference(server, db_url: str, data: Path):
    engine = make_engine(db_url)
    upgrade(engine)
    server.delay_s = 0.0
    try:
        run_world(server.base, db_url, data, server.story.steps[-1].at)
    finally:
        server.delay_s = 0.03
    return engine


def _versions_per_document(engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT count(*) FROM document_versions GROUP BY document_id")).scalars())


def _locks(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM service_locks")).scalar_one()


def test_two_runs_started_at_once_neither_crashes_nor_duplicates(db_url, tmp_path, server):
    moment = server.story.steps[-1].at
    ref = _reference(server, f"sqlite:///{tmp_path / 'ref.db'}", tmp_path / "ref-data")
    expected, expected_tables = state_hash(ref), table_states(ref)
    ref.dispose()

    engine = make_engine(db_url)
    upgrade(engine)
    data = tmp_path / "data"
    cmd = [sys.executable, str(RUNNER), "--base", server.base, "--db", db_url, "--data", str(data),
           "--moment", moment.isoformat()]
    env = dict(os.environ, REGWATCH_RUNNER_LOG="WARNING")
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    names = {r["source"] for r in results[0]}
    skipped = [r for rs in results for r in rs if r["status"] == "skipped"]
    # Every source ran in one of them; a busy source was skipped with a clear reason.
    for name in names:
        assert any(r["source"] == name and r["status"] != "skipped" for rs in results for r in rs)
    assert skipped, "the two runs did not overlap"
    assert all(BUSY in r["error"] and f"'source:{r['source']}' is held by another process"
               in r["error"] for r in skipped)
    assert any(f"{r['source']}: skipped, another run of this source is in progress" in err
               for r in skipped for _, err in outs)

    assert integrity_problems(engine, data / "snapshots") == []
    assert _versions_per_document(engine) == {1}
    assert _locks(engine) == 0  # every lease given back
    if state_hash(engine) != expected:
        pytest.fail("two overlapping runs reached another state than one run:\n"
                    + state_diff(expected_tables, table_states(engine)))
    engine.dispose()


def test_a_fetch_during_regwatch_run_neither_crashes_nor_duplicates(db_url, tmp_path, server):
    ref = _reference(server, f"sqlite:///{tmp_path / 'ref.db'}", tmp_path / "ref-data")
    expected = counts(ref, DERIVED)
    ref.dispose()

    engine = make_engine(db_url)
    upgrade(engine)
    data = tmp_path / "data"
    config = world_config(server.base, db_url, data)
    config_file = write_config_toml(config, tmp_path / "regwatch.toml")
    app = App(config)
    server.delay_s = 0.25  # the service's runs must still be going when the CLI (1 s to start) asks
    stop, started, box = threading.Event(), threading.Event(), {}
    every_2s = lambda expr, tz: CronTrigger(second="*/2", timezone=tz)  # noqa: E731
    thread = threading.Thread(target=lambda: box.setdefault("o", serve(
        app, stop=stop, on_started=started.set, run_digest=lambda app: None, trigger_for=every_2s)))
    thread.start()
    try:
        assert started.wait(30), "regwatch run did not start"
        deadline = time.monotonic() + 30
        while _locks(engine) < 3 and time.monotonic() < deadline:  # scheduler + two sources
            time.sleep(0.02)
        assert _locks(engine) >= 3, "the service never started a source run"
        proc = subprocess.run([str(Path(sys.executable).with_name("regwatch")), "--config", str(config_file),
                               "fetch", "--no-progress"],
                              capture_output=True, text=True, timeout=180)
    finally:
        server.delay_s = 0.0  # let the service's last runs finish quickly
        stop.set()
        thread.join(60)
        server.delay_s = 0.03
        app.close()
    assert not thread.is_alive()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ": skipped — " in proc.stdout, proc.stdout  # at least one source was busy
    for line in proc.stdout.splitlines():
        if ": skipped" in line:
            assert BUSY in line and "is held by another process" in line, line
    assert integrity_problems(engine, data / "snapshots") == []
    assert _versions_per_document(engine) == {1}
    assert counts(engine, DERIVED) == expected
    engine.dispose()
