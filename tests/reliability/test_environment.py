"""Environment faults: a full disk, an unwritable store, PostgreSQL going away mid-run.

Each gives a clear error, leaves no partial writes (no version without its snapshot, no
half-written file), and the next run recovers by itself, reaching the same state as a run
that never met the fault.

How the faults are made (tests run as root, so permissions cannot stop a write):
- disk full: SnapshotStore's write raises OSError(ENOSPC) from the 5th snapshot on (monkeypatch
  of the `os.fsync` it calls, so the temporary file is really written first);
- read-only data directory: the snapshot folder is replaced by a plain file, so every write
  below it fails with an OSError as on a read-only mount;
- PostgreSQL restarted: after the 40th statement of a run, every other backend of the run's
  database is killed with pg_terminate_backend — exactly what clients see when the server
  restarts ("terminating connection due to administrator command"), without disturbing the
  other tests sharing the server, as `pg_ctlcluster … restart` would.
"""

from __future__ import annotations

import errno
import os
import shutil

import pytest
from sqlalchemy import Engine, create_engine, event, text

import regwatch.fetch.snapshots as snapshots
from regwatch.db.session import make_engine, upgrade
from reliability.runner import run_world
from reliability.world import (
    PG_URL,
    EtagReplayServer,
    integrity_problems,
    load_world,
    state_diff,
    state_hash,
    table_states,
    temp_files,
)


@pytest.fixture(scope="module")
def server():
    with EtagReplayServer(load_world()) as srv:
        srv.set_moment(srv.story.steps[-1].at)
        yield srv


@pytest.fixture(scope="module")
def reference(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{folder / 'ref.db'}"
    engine = make_engine(url)
    upgrade(engine)
    run_world(server.base, url, folder / "data", server.story.steps[-1].at)
    yield state_hash(engine), table_states(engine)
    engine.dispose()


def _check_recovered(engine, data, reference, server) -> None:
    expected, expected_tables = reference
    assert integrity_problems(engine, data / "snapshots") == []
    results = run_world(server.base, str(engine.url.render_as_string(hide_password=False)), data,
                        server.story.steps[-1].at)
    assert all(r.status in ("ok", "partial") for r in results), [r.summary() for r in results]
    assert integrity_problems(engine, data / "snapshots") == []
    assert temp_files(data / "snapshots") == []
    if state_hash(engine) != expected:
        pytest.fail("the run after the fault did not reach the fault-free state:\n"
                    + state_diff(expected_tables, table_states(engine)))


def test_disk_full_is_a_clear_error_and_the_next_run_recovers(db_url, tmp_path, server, reference,
                                                                monkeypatch):
    engine = make_engine(db_url)
    upgrade(engine)
    data = tmp_path / "data"
    real_fsync, calls = os.fsync, []

    def full_disk_fsync(fd):
        calls.append(fd)
        if len(calls) >= 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(snapshots.os, "fsync", full_disk_fsync)
    results = run_world(server.base, db_url, data, server.story.steps[-1].at)
    monkeypatch.setattr(snapshots.os, "fsync", real_fsync)

    errors = " ".join(r.error or "" for r in results)
    assert "cannot write snapshot" in errors and "No space left on device" in errors
    assert any(r.status in ("failed", "partial") for r in results)
    assert temp_files(data / "snapshots") == []  # the failed write cleaned up after itself
    _check_recovered(engine, data, reference, server)
    engine.dispose()


def test_unwritable_data_directory_is_a_clear_error_and_the_next_run_recovers(db_url, tmp_path, server,
                                                                                reference):
    engine = make_engine(db_url)
    upgrade(engine)
    data = tmp_path / "data"
    data.mkdir()
    (data / "snapshots").write_text("not a folder: writes below it fail as on a read-only disk")
    results = run_world(server.base, db_url, data, server.story.steps[-1].at)
    assert all(r.status == "failed" for r in results), [r.summary() for r in results]
    assert all("cannot write snapshot" in (r.error or "") for r in results), [r.error for r in results]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM document_versions")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM snapshots")).scalar_one() == 0

    (data / "snapshots").unlink()  # the operator frees the disk
    _check_recovered(engine, data, reference, server)
    engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="REGWATCH_TEST_POSTGRES_URL is not set")
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_restart_mid_run_is_a_clear_error_and_the_next_run_recovers(db_url, tmp_path, server,
                                                                                  reference):
    engine = make_engine(db_url)
    upgrade(engine)
    data = tmp_path / "data"
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    database = engine.url.database
    seen = {"n": 0, "killed": 0}

    def restart_after_40(conn, cursor, statement, params, context, executemany) -> None:
        seen["n"] += 1
        if seen["n"] == 40:
            with admin.connect() as c:
                seen["killed"] = len(c.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": database}).all())

    event.listen(Engine, "after_cursor_execute", restart_after_40)
    try:
        results = run_world(server.base, db_url, data, server.story.steps[-1].at)
    finally:
        event.remove(Engine, "after_cursor_execute", restart_after_40)
        admin.dispose()
    assert seen["killed"] >= 1
    failed = [r for r in results if r.status == "failed"]
    assert failed, [r.summary() for r in results]
    assert any("terminating connection due to administrator command" in (r.error or "")
               or "server closed the connection" in (r.error or "") for r in failed), \
        [r.error for r in failed]
    _check_recovered(engine, data, reference, server)
    engine.dispose()


def test_store_tmp_leftovers_of_a_dead_writer_are_removed_and_a_live_ones_kept(tmp_path):
    store = snapshots.SnapshotStore(tmp_path)
    store.put(b"x")
    dead = store.temp_dir / ".tmp-999999999-abc.gz"  # no such pid
    live = store.temp_dir / f".tmp-{os.getpid()}-def.gz"
    dead.write_bytes(b"half")
    live.write_bytes(b"half")
    assert store.clean_temp() == 1
    assert not dead.exists() and live.exists()
    shutil.rmtree(store.temp_dir)
    assert store.clean_temp() == 0
