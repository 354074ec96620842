"""Content-addressed snapshot store: raw bytes stored once under their sha256, gzip-compressed.

Layout: <root>/ab/cd/<sha256>.gz (root is <data_dir>/snapshots). A file is written to a
temporary name in <root>/.tmp (named after the writing process), fsynced and renamed, so a
reader (or a crash) never sees half a snapshot; writing the same bytes twice is a no-op.
`clean_temp()` removes what a killed writer left there (called at the start of every run).
The `snapshots` table row is the pipeline's job, inserted with the document version that
points at it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import tempfile
import time
import zlib
from pathlib import Path

from regwatch.errors import StorageError
from regwatch.models import Snapshot

log = logging.getLogger(__name__)

_LEVEL = 6  # zlib's default: most of the gain of 9 at a fraction of the CPU


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SnapshotStore:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.gz"

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put(self, data: bytes, media_type: str | None = None, *, gzipped: bytes | None = None) -> Snapshot:
        """Store `data` (once) and return its Snapshot.

        `gzipped`, when given, is a single gzip member that inflates to exactly `data` (the
        body as it came on the wire): stored as is, which saves compressing it again.
        """
        digest = sha256_hex(data)
        path = self.path_for(digest)
        if not path.is_file():
            self._write(path, gzipped if gzipped is not None
                        else gzip.compress(data, compresslevel=_LEVEL, mtime=0))
        return Snapshot(sha256=digest, size=len(data), media_type=media_type)

    def get(self, sha256: str) -> bytes:
        """The stored bytes; StorageError when missing or corrupt."""
        path = self.path_for(sha256)
        try:
            data = gzip.decompress(path.read_bytes())
        except FileNotFoundError:
            raise StorageError(f"snapshot {sha256} is not in {self.root}") from None
        except (OSError, EOFError, zlib.error) as exc:
            raise StorageError(f"snapshot {sha256} is unreadable: {exc}") from None
        if sha256_hex(data) != sha256:
            raise StorageError(f"snapshot {sha256} is corrupt (content hash differs)")
        return data

    def verify(self, sha256: str) -> bool:
        """True when the snapshot exists and its content still hashes to its name."""
        try:
            self.get(sha256)
        except StorageError:
            return False
        return True

    def stored_size(self, sha256: str) -> int:
        """Bytes on disk (compressed): for the `snapshots.stored_size` column."""
        return self.path_for(sha256).stat().st_size

    @property
    def temp_dir(self) -> Path:
        return self.root / ".tmp"

    def clean_temp(self, *, max_age_s: float = 24 * 3600) -> int:
        """Remove half-written files of writers that died (SIGKILL, power loss), or older than
        `max_age_s` whoever wrote them; a live writer's file is left alone. Returns the count."""
        removed = 0
        try:
            entries = list(os.scandir(self.temp_dir))
        except FileNotFoundError:
            return 0
        except OSError as exc:  # not a folder, unreadable: writing will say so clearly
            log.warning("cannot look for half-written snapshots in %s: %s", self.temp_dir, exc)
            return 0
        for entry in entries:
            pid = entry.name.removeprefix(".tmp-").split("-", 1)[0]
            try:
                stale = time.time() - entry.stat().st_mtime > max_age_s
                if stale or (pid.isdigit() and not _alive(int(pid))):
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.warning("removed %d half-written snapshot file(s) left by a stopped run", removed)
        return removed

    def _write(self, path: Path, blob: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.temp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.temp_dir, prefix=f".tmp-{os.getpid()}-", suffix=".gz")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(blob)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            _fsync_dir(path.parent)
        except OSError as exc:
            raise StorageError(f"cannot write snapshot {path.name}: {exc}") from exc


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours to signal
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder entry is on disk too.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

