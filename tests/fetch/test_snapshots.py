"""The content-addressed store: layout, dedup, atomic writes, verification."""

from __future__ import annotations

import gzip
import threading

import pytest

from regwatch.errors import StorageError
from regwatch.fetch.snapshots import SnapshotStore, sha256_hex


def test_put_get_layout(tmp_path):
    store = SnapshotStore(tmp_path / "snapshots")
    data = "改正".encode() * 1000
    snap = store.put(data, "text/html")
    digest = sha256_hex(data)
    assert (snap.sha256, snap.size, snap.media_type) == (digest, len(data), "text/html")
    path = tmp_path / "snapshots" / digest[:2] / digest[2:4] / f"{digest}.gz"
    assert path.is_file() and gzip.decompress(path.read_bytes()) == data
    assert store.get(digest) == data and store.exists(digest) and store.verify(digest)
    assert store.stored_size(digest) < len(data)


def test_dedup_writes_once(tmp_path):
    store = SnapshotStore(tmp_path)
    a = store.put(b"same bytes")
    mtime = store.path_for(a.sha256).stat().st_mtime_ns
    for _ in range(5):
        assert store.put(b"same bytes") == a
    assert store.path_for(a.sha256).stat().st_mtime_ns == mtime
    assert len(list(tmp_path.rglob("*.gz"))) == 1
    assert not list(tmp_path.rglob(".tmp-*"))


def test_concurrent_puts_of_same_bytes(tmp_path):
    store = SnapshotStore(tmp_path)
    threads = [threading.Thread(target=store.put, args=(b"x" * 100_000,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(list(tmp_path.rglob("*.gz"))) == 1 and not list(tmp_path.rglob(".tmp-*"))
    assert store.get(sha256_hex(b"x" * 100_000)) == b"x" * 100_000


def test_missing_and_corrupt(tmp_path):
    store = SnapshotStore(tmp_path)
    with pytest.raises(StorageError, match="not in"):
        store.get("0" * 64)
    snap = store.put(b"original")
    store.path_for(snap.sha256).write_bytes(gzip.compress(b"tampered"))
    assert not store.verify(snap.sha256)
    with pytest.raises(StorageError, match="corrupt"):
        store.get(snap.sha256)
    with pytest.raises(ValueError):
        store.path_for("../../etc/passwd")


def test_empty_body(tmp_path):
    store = SnapshotStore(tmp_path)
    snap = store.put(b"")
    assert snap.size == 0 and store.get(snap.sha256) == b""


def test_unwritable_root_is_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError):
        SnapshotStore(blocker).put(b"data")
