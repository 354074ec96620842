"""Leases in service_locks: atomic takeover, renewal, expiry of a crashed holder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from regwatch.db.session import make_engine
from regwatch.errors import LockHeld
from regwatch.locks import (
    LeaseLost,
    acquire,
    holder_of,
    lease,
    machine_id,
    make_holder,
    release,
    renew,
    wait_acquire,
)

T0 = datetime(2024, 7, 1, 0, 0, tzinfo=UTC)


def test_acquire_is_exclusive_until_expiry(engine):
    assert acquire(engine, "x", "a", 60, now=T0)
    assert not acquire(engine, "x", "b", 60, now=T0 + timedelta(seconds=59))
    assert holder_of(engine, "x").holder == "a"
    # Expired: anyone may take it over, and the tenure starts afresh.
    assert acquire(engine, "x", "b", 60, now=T0 + timedelta(seconds=61))
    info = holder_of(engine, "x")
    assert (info.holder, info.acquired_at) == ("b", T0 + timedelta(seconds=61))
    assert info.expires_at == T0 + timedelta(seconds=121)


def test_reacquire_by_holder_extends_and_keeps_start(engine):
    assert acquire(engine, "x", "a", 60, now=T0)
    assert acquire(engine, "x", "a", 60, now=T0 + timedelta(seconds=30))
    info = holder_of(engine, "x")
    assert info.acquired_at == T0 and info.expires_at == T0 + timedelta(seconds=90)


def test_renew_and_release_only_by_holder(engine):
    assert acquire(engine, "x", "a", 60, now=T0)
    assert not renew(engine, "x", "b", 60)
    assert renew(engine, "x", "a", 60, now=T0 + timedelta(seconds=50))
    assert holder_of(engine, "x").expires_at == T0 + timedelta(seconds=110)
    assert not release(engine, "x", "b")
    assert holder_of(engine, "x").holder == "a"
    assert release(engine, "x", "a")
    assert holder_of(engine, "x") is None
    assert not renew(engine, "x", "a", 60)  # gone: a renewal must not resurrect it
    assert acquire(engine, "x", "b", 60)


def test_leases_are_independent_by_name(engine):
    assert acquire(engine, "source:a", "p1", 60)
    assert acquire(engine, "source:b", "p2", 60)
    assert not acquire(engine, "source:a", "p2", 60)


def test_threads_with_separate_engines_race_for_one_winner(db_url, engine):
    engines = [make_engine(db_url) for _ in range(6)]
    try:
        for round_no in range(5):
            name = f"race-{round_no}"
            barrier = threading.Barrier(len(engines))
            wins: list[str] = []

            def contend(i: int, eng=None, name=name, barrier=barrier, wins=wins) -> None:
                barrier.wait()
                if acquire(engines[i], name, f"t{i}", 60):
                    wins.append(f"t{i}")

            threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(engines))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert len(wins) == 1, wins
            assert holder_of(engine, name).holder == wins[0]
    finally:
        for e in engines:
            e.dispose()


RACER = textwrap.dedent("""
    import sys, time
    from regwatch.db.session import make_engine
    from regwatch.locks import acquire
    url, holder = sys.argv[1], sys.argv[2]
    engine = make_engine(url)
    engine.connect().close()
    print("ready", flush=True)
    for line in sys.stdin:  # "<lease name> <start epoch>" per round
        name, start = line.split()
        time.sleep(max(0.0, float(start) - time.time()))
        print("won" if acquire(engine, name, holder, 60) else "lost", flush=True)
""")


def test_processes_race_for_one_winner(db_url, engine):
    procs = [subprocess.Popen([sys.executable, "-c", RACER, db_url, f"p{i}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for i in range(4)]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 4
        for round_no in range(5):
            name, start = f"proc-race-{round_no}", time.time() + 0.3
            for p in procs:
                p.stdin.write(f"{name} {start}\n")
                p.stdin.flush()
            outs = [p.stdout.readline().strip() for p in procs]
            assert sorted(outs) == ["lost", "lost", "lost", "won"], outs
            assert holder_of(engine, name).holder == f"p{outs.index('won')}"
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(30)


def test_lease_heartbeat_keeps_it_alive_beyond_ttl(engine):
    with lease(engine, "svc", "a", 0.6) as held:
        time.sleep(1.5)  # well past the ttl: only renewals keep it ours
        assert not acquire(engine, "svc", "b", 0.6)
        held.check()
        assert not held.lost.is_set()
    assert holder_of(engine, "svc") is None  # released on exit


def test_lease_lost_is_flagged(engine):
    lost = threading.Event()
    with lease(engine, "svc", "a", 0.6, on_lost=lambda _l: lost.set()) as held:
        release(engine, "svc", "a")  # simulate a takeover behind our back
        assert acquire(engine, "svc", "b", 60)
        assert lost.wait(3)
        with pytest.raises(LeaseLost):
            held.check()
    assert holder_of(engine, "svc").holder == "b"  # our exit must not delete their lease


def test_lease_wait_modes(engine):
    assert acquire(engine, "svc", "other", 60)
    with pytest.raises(LockHeld, match="held by another process.*holder other"):
        with lease(engine, "svc", "me", 1, wait=False):
            pass
    started = time.monotonic()
    with pytest.raises(LockHeld):
        with lease(engine, "svc", "me", 1, wait=0.5, poll_s=0.1):
            pass
    assert 0.4 < time.monotonic() - started < 5
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(LockHeld):
        with lease(engine, "svc", "me", 1, wait=True, poll_s=0.05, stop=stop):
            pass
    seen = []
    assert not wait_acquire(engine, "svc", "me", 1, timeout=0.2, poll_s=0.05, on_wait=seen.append)
    assert [i.holder for i in seen] == ["other"]  # reported once, not on every poll


HOLDER = textwrap.dedent("""
    import sys, time
    from regwatch.db.session import make_engine
    from regwatch.locks import lease
    engine = make_engine(sys.argv[1])
    with lease(engine, "scheduler", "victim", float(sys.argv[2])):
        print("held", flush=True)
        time.sleep(600)
""")


def test_crashed_holder_expires_and_is_taken_over(db_url, engine):
    ttl = 1.5
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, db_url, str(ttl)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        time.sleep(ttl * 1.2)  # alive: renewed, not expired
        assert not acquire(engine, "scheduler", "heir", ttl)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = time.monotonic()
        assert wait_acquire(engine, "scheduler", "heir", ttl, timeout=ttl * 4, poll_s=0.1)
        assert time.monotonic() - killed_at <= ttl * 2
        assert holder_of(engine, "scheduler").holder == "heir"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_holder_ids_are_unique_and_name_the_process():
    a, b = make_holder(), make_holder()
    assert a != b and a.startswith(f"{machine_id()}:{os.getpid()}:") and len(a) <= 200
    assert machine_id().startswith(socket.gethostname()[:100])


OWN_HOLDER = textwrap.dedent("""
    import sys, time
    from regwatch.db.session import make_engine
    from regwatch.locks import lease
    engine = make_engine(sys.argv[1])
    with lease(engine, "scheduler", None, 600) as held:
        print(held.holder, flush=True)
        time.sleep(600)
""")


def test_a_killed_holder_of_this_machine_is_taken_over_at_once(db_url, engine):
    """SIGKILL leaves a lease of 600 s behind; a process of the same machine sees that its
    pid is gone and takes over now, not in ten minutes."""
    proc = subprocess.Popen([sys.executable, "-c", OWN_HOLDER, db_url], stdout=subprocess.PIPE, text=True)
    try:
        victim = proc.stdout.readline().strip()
        assert victim.startswith(f"{machine_id()}:{proc.pid}:")
        assert not acquire(engine, "scheduler", "heir", 600)  # alive: held
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert acquire(engine, "scheduler", "heir", 600)
        assert holder_of(engine, "scheduler").holder == "heir"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


@pytest.mark.parametrize("machine", ["other-container", "bare-host-name"])
def test_a_dead_pid_elsewhere_is_left_to_expire(engine, machine):
    """The same host name is not the same machine: a container sharing it, or a holder id
    without the boot/namespace digest, names pids that mean nothing here."""
    host = socket.gethostname()[:100]
    other = f"{host}~0000000000" if machine == "other-container" else host
    assert other != machine_id()
    holder = f"{other}:{_dead_pid()}:abcdef123456"
    assert acquire(engine, "scheduler", holder, 600)
    assert not acquire(engine, "scheduler", "heir", 600)
    assert holder_of(engine, "scheduler").holder == holder


def test_naive_clock_rejected(engine):
    with pytest.raises(ValueError):
        acquire(engine, "x", "a", 60, now=datetime(2024, 1, 1))
