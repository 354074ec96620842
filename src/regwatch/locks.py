"""Leases in the history database: one scheduler per database, one run per source.

A lease is a row of ``service_locks`` (name, holder, acquired_at, expires_at). Taking it is
one ``INSERT … ON CONFLICT (name) DO UPDATE … WHERE expires_at < now OR holder = me``
statement, atomic on SQLite and PostgreSQL, so two processes can never both win. A live
holder renews it every ttl/3 from a heartbeat thread; a crashed one (SIGKILL, power loss)
stops renewing and its lease simply expires after ``ttl_s``, when anyone may take it over.
Nothing is left stuck, and it works across hosts. One shortcut: a holder id names its
machine and pid (`make_holder`), and a process on the *same* machine — same host name, boot
and pid namespace, so that a container sharing a host name is not mistaken for it — may take
over at once the lease of a pid that no longer exists, instead of waiting for the expiry.

Times come from each process's clock (UTC); hosts sharing a database must keep their
clocks within a small fraction of the ttl of each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from regwatch.db.tables import ServiceLock
from regwatch.errors import LockHeld, StorageError

log = logging.getLogger(__name__)

_T = ServiceLock.__table__


class LeaseLost(LockHeld):
    """A lease this process held was taken over or could not be renewed before it expired."""


@dataclass(frozen=True)
class LockInfo:
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        return f"holder {self.holder}, until {self.expires_at.isoformat(timespec='seconds')}"


def make_holder() -> str:
    """A holder id unique to this process and this lease: machine, pid and a random part."""
    return f"{machine_id()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def machine_id() -> str:
    """Host name, and where Linux tells them, a digest of the boot id and the pid namespace.

    Pids mean something only within one boot and one pid namespace: two containers may share
    a host name (and reuse the same pids), so the name alone must not say "same machine".
    """
    host = socket.gethostname()[:100]
    parts = []
    for read in (lambda: Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                 lambda: os.readlink("/proc/self/ns/pid")):
        try:
            parts.append(read())
        except OSError:
            return host  # not Linux (or no /proc): the host name is all there is
    return f"{host}~{hashlib.sha256(' '.join(parts).encode()).hexdigest()[:10]}"


def _holder_is_dead(holder: str) -> bool:
    """True when `holder` (a `make_holder` id) names a process of this machine that has exited.

    Only a definite "no such process" counts; anything else (another machine or container, a
    holder id of another form, a process we may not signal, a reused pid) leaves the lease
    to expire.
    """
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != machine_id() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("naive datetime given as the lease clock")
    return now


def _insert(engine: Engine):
    name = engine.dialect.name
    if name == "sqlite":
        return sqlite.insert(_T)
    if name == "postgresql":
        return postgresql.insert(_T)
    raise StorageError(f"leases are not supported on the {name} backend")


def acquire(engine: Engine, name: str, holder: str, ttl_s: float, now: datetime | None = None) -> bool:
    """Take the lease `name` for `ttl_s` seconds if it is free, expired, or already ours.

    Returns True when `holder` holds it afterwards. A holder re-acquiring its own lease
    extends it (acquired_at is kept).
    """
    now = _now(now)
    expires = now + timedelta(seconds=ttl_s)
    ins = _insert(engine).values(name=name, holder=holder, acquired_at=now, expires_at=expires)
    taken_over = _T.c.holder != holder
    stmt = ins.on_conflict_do_update(
        index_elements=[_T.c.name],
        set_={
            "holder": ins.excluded.holder,
            "expires_at": ins.excluded.expires_at,
            # A takeover starts a new tenure; a re-acquire by the holder keeps its start.
            "acquired_at": _case_acquired(taken_over, ins),
        },
        where=or_(_T.c.expires_at < now, _T.c.holder == holder),
    )
    with engine.begin() as conn:
        # The write comes first so SQLite takes its write lock at once (no read→write upgrade).
        conn.execute(stmt)
        current = conn.execute(select(_T.c.holder).where(_T.c.name == name)).scalar_one()
        if current != holder and _holder_is_dead(current):
            # A process of this host that no longer exists (SIGKILL, OOM) cannot renew: take
            # its lease at once rather than after ttl_s. Compare-and-set on the dead holder,
            # so of two processes doing this only one wins.
            taken = conn.execute(update(_T).where(_T.c.name == name, _T.c.holder == current)
                                 .values(holder=holder, acquired_at=now, expires_at=expires))
            if taken.rowcount == 1:
                log.warning("lease %s: taken over from %s, a process of this host that has died",
                            name, current)
                current = holder
    won = current == holder
    log.debug("lease %s: %s by %s", name, "acquired" if won else "held by " + current, holder)
    return won


def _case_acquired(taken_over, ins):
    from sqlalchemy import case

    return case((taken_over, ins.excluded.acquired_at), else_=_T.c.acquired_at)


def renew(engine: Engine, name: str, holder: str, ttl_s: float, now: datetime | None = None) -> bool:
    """Extend our lease; False when it is no longer ours (taken over or released)."""
    now = _now(now)
    with engine.begin() as conn:
        result = conn.execute(
            update(_T).where(_T.c.name == name, _T.c.holder == holder)
            .values(expires_at=now + timedelta(seconds=ttl_s)))
    return result.rowcount == 1


def release(engine: Engine, name: str, holder: str) -> bool:
    """Give the lease up if we hold it; True when a row was removed."""
    with engine.begin() as conn:
        result = conn.execute(delete(_T).where(_T.c.name == name, _T.c.holder == holder))
    return result.rowcount == 1


def holder_of(engine: Engine, name: str) -> LockInfo | None:
    """Who holds `name` (possibly an expired lease nobody has taken over yet)."""
    with engine.connect() as conn:
        row = conn.execute(select(_T).where(_T.c.name == name)).mappings().first()
    if row is None:
        return None
    return LockInfo(row["name"], row["holder"], row["acquired_at"], row["expires_at"])


def wait_acquire(engine: Engine, name: str, holder: str, ttl_s: float, *,
                 timeout: float | None = None, poll_s: float | None = None,
                 stop: threading.Event | None = None,
                 on_wait: Callable[[LockInfo | None], None] | None = None) -> bool:
    """`acquire`, retrying every `poll_s` until won, `timeout` seconds pass or `stop` is set.

    `on_wait(info)` is called when we first find the lease held, and again whenever the
    holder changes, so callers can log who is in the way.
    """
    poll = poll_s if poll_s is not None else min(5.0, max(0.05, ttl_s / 4))
    deadline = None if timeout is None else time.monotonic() + timeout
    last_holder: str | None = None
    while True:
        if acquire(engine, name, holder, ttl_s):
            return True
        if on_wait is not None:
            info = holder_of(engine, name)
            if info is not None and info.holder != last_holder:
                last_holder = info.holder
                on_wait(info)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        pause = poll if remaining is None else min(poll, remaining)
        if stop is not None:
            if stop.wait(pause):
                return False
        else:
            time.sleep(pause)


class Lease:
    """A held lease kept alive by a heartbeat thread renewing it every ttl/3.

    If a renewal finds the lease gone, or renewals keep failing (database unreachable)
    until it has expired, `lost` is set and `on_lost` called once; the owner must then
    stop what it guards. `check()` raises LeaseLost for code that prefers an exception.
    """

    def __init__(self, engine: Engine, name: str, holder: str, ttl_s: float,
                 on_lost: Callable[[Lease], None] | None = None):
        self.engine, self.name, self.holder, self.ttl_s = engine, name, holder, ttl_s
        self.on_lost = on_lost
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._expires_at = time.monotonic() + ttl_s
        self._thread: threading.Thread | None = None

    def start(self) -> Lease:
        self._expires_at = time.monotonic() + self.ttl_s
        self._thread = threading.Thread(target=self._beat, name=f"lease:{self.name}", daemon=True)
        self._thread.start()
        return self

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"lost the lease {self.name!r} ({self.holder})")

    def _beat(self) -> None:
        interval = self.ttl_s / 3
        while not self._stop.wait(interval):
            started = time.monotonic()
            try:
                ok = renew(self.engine, self.name, self.holder, self.ttl_s)
            except Exception as exc:  # a database hiccup: try again until the lease runs out
                log.warning("lease %s: renewal failed: %s", self.name, exc)
                ok = None
            if ok:
                self._expires_at = started + self.ttl_s
                continue
            if ok is False or time.monotonic() >= self._expires_at:
                log.error("lease %s: lost (holder %s)", self.name, self.holder)
                self.lost.set()
                if self.on_lost is not None:
                    try:
                        self.on_lost(self)
                    except Exception:
                        log.exception("lease %s: on_lost callback failed", self.name)
                return

    def release(self) -> None:
        """Stop the heartbeat and delete the row if it is still ours."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(5.0, self.ttl_s))
        try:
            release(self.engine, self.name, self.holder)
        except Exception as exc:  # it will expire on its own
            log.warning("lease %s: release failed (it expires by itself): %s", self.name, exc)


@contextlib.contextmanager
def lease(engine: Engine, name: str, holder: str | None = None, ttl_s: float = 120.0, *,
          wait: bool | float = False, poll_s: float | None = None,
          stop: threading.Event | None = None,
          on_wait: Callable[[LockInfo | None], None] | None = None,
          on_lost: Callable[[Lease], None] | None = None) -> Iterator[Lease]:
    """Hold the lease `name` for the duration of the block, renewed in the background.

    wait=False: raise LockHeld at once if someone else holds it; wait=True: wait as long as
    it takes (or until `stop` is set, then LockHeld); wait=<seconds>: wait at most that long.
    """
    holder = holder or make_holder()
    timeout = 0.0 if wait is False else (None if wait is True else float(wait))
    if not wait_acquire(engine, name, holder, ttl_s, timeout=timeout, poll_s=poll_s,
                        stop=stop, on_wait=on_wait):
        info = holder_of(engine, name)
        raise LockHeld(f"{name!r} is held by another process"
                       + (f" ({info.describe()})" if info else ""))
    held = Lease(engine, name, holder, ttl_s, on_lost=on_lost).start()
    try:
        yield held
    finally:
        held.release()
