"""Crash consistency: SIGKILL a pipeline run at seeded random points, then resume.

The world is the demo's recorded sources (e-Gov revisions, METI releases, press feeds),
served with ETags so conditional requests happen. References: the world's steps run one
after another without interruption, keeping a copy of the database and snapshot store
before each step and the state hash after it. Each trial picks a step and a kill point
(seeded), copies the state before that step, runs the step in a subprocess
(tests/reliability/runner.py) that SIGKILLs itself at that point — before an SQL statement,
a COMMIT or a snapshot rename, in any thread — and then checks:

1. the killed database passes its integrity checks and no record points at a missing or
   corrupt snapshot;
2. the next complete run (in this process, at once — no waiting for leases to expire)
   leaves no half-written snapshot file and reaches exactly the state of the
   uninterrupted history (`world.state_hash`, every table but the run logs), and every
   conditional-request validator it keeps is one the uninterrupted history has too.

REGWATCH_CRASH_TRIALS (default 20) trials per backend; REGWATCH_CRASH_SEED (default fixed)
picks them, and every failure names seed, trial, step and kill point to replay it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from regwatch.db.session import make_engine, upgrade
from reliability.runner import KillPoints, run_world
from reliability.world import (
    BACKENDS,
    Backend,
    EtagReplayServer,
    cache_problems,
    cache_rows,
    integrity_problems,
    load_world,
    state_diff,
    state_hash,
    table_states,
    temp_files,
)

RUNNER = Path(__file__).with_name("runner.py")
TRIALS = int(os.environ.get("REGWATCH_CRASH_TRIALS", "20"))
SEED = int(os.environ.get("REGWATCH_CRASH_SEED", "20261125"))


@pytest.fixture(scope="module")
def server():
    with EtagReplayServer(load_world()) as srv:
        yield srv


class History:
    """The uninterrupted reference history: states before each step, hashes after it."""

    def __init__(self, backend: Backend, server: EtagReplayServer, root: Path):
        self.backend, self.server, self.root = backend, server, root
        self.steps = server.story.steps
        self.points: list[int] = []
        self.after: list[str] = []
        self.after_tables: list[dict] = []
        self.after_cache: list[dict] = []
        url = backend.create("ref")
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        data = root / "data-ref"
        for k, step in enumerate(self.steps):
            backend.create(f"before{k}", template="ref")
            shutil.copytree(data, root / f"data-before{k}", dirs_exist_ok=True) if data.exists() \
                else (root / f"data-before{k}").mkdir()
            server.set_moment(step.at)
            points = KillPoints().install()
            try:
                run_world(server.base, url, data, step.at)
            finally:
                points.uninstall()
            self.points.append(points.count)
            engine = make_engine(url)
            self.after.append(state_hash(engine))
            self.after_tables.append(table_states(engine))
            self.after_cache.append(cache_rows(engine))
            engine.dispose()

    def prepare(self, name: str, k: int) -> tuple[str, Path]:
        url = self.backend.create(name, template=f"before{k}")
        data = self.root / f"data-{name}"
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(self.root / f"data-before{k}", data)
        return url, data


def kill_run(server, url: str, data: Path, moment, crash_at: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, REGWATCH_CRASH_AT=str(crash_at))
    return subprocess.run(
        [sys.executable, str(RUNNER), "--base", server.base, "--db", url, "--data", str(data),
         "--moment", moment.isoformat()],
        env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kind", BACKENDS)
def test_sigkill_at_random_points_then_next_run_reaches_the_same_state(kind, server, tmp_path):
    backend = Backend(kind, tmp_path)
    try:
        history = History(backend, server, tmp_path)
        assert all(p > 0 for p in history.points)
        rng = random.Random(f"{SEED}:{kind}")
        killed = 0
        for trial in range(TRIALS):
            k = rng.randrange(len(history.steps))
            crash_at = rng.randint(1, history.points[k])
            where = f"seed {SEED} trial {trial} ({kind}): step {k}, kill point {crash_at}/{history.points[k]}"
            url, data = history.prepare("trial", k)
            step = history.steps[k]
            server.set_moment(step.at)
            proc = kill_run(server, url, data, step.at, crash_at)
            if proc.returncode == -signal.SIGKILL:
                killed += 1
            else:  # a run may pass a few points fewer than the reference run did
                assert proc.returncode == 0, f"{where}: runner failed:\n{proc.stderr[-3000:]}"
            engine = make_engine(url)
            try:
                assert integrity_problems(engine, data / "snapshots") == [], f"{where}: after the kill"
            finally:
                engine.dispose()

            results = run_world(server.base, url, data, step.at)
            assert [r for r in results if r.status not in ("ok", "partial")] == [], where
            engine = make_engine(url)
            try:
                assert integrity_problems(engine, data / "snapshots") == [], f"{where}: after resuming"
                assert temp_files(data / "snapshots") == [], f"{where}: half-written snapshots left"
                assert cache_problems(history.after_cache[k], engine) == [], where
                got = state_hash(engine)
                if got != history.after[k]:
                    pytest.fail(f"{where}: resumed state differs from the uninterrupted one:\n"
                                + state_diff(history.after_tables[k], table_states(engine)))
            finally:
                engine.dispose()
        assert killed >= TRIALS * 3 // 4, f"only {killed} of {TRIALS} runs were actually killed"
    finally:
        backend.close()
