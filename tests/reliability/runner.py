"""A pipeline run over the recorded world, for the crash harness to kill.

    python tests/reliability/runner.py --base URL --db DB_URL --data DIR --moment ISO

runs `regwatch.pipeline.run_sources` once, as `regwatch fetch` would, against a replay server
already serving the world at `--moment`, and prints one JSON line of run results.

Kill points. With REGWATCH_CRASH_AT=N the process SIGKILLs itself at the N-th *point*:
before an SQL statement is sent, before a COMMIT, or before a snapshot file is renamed into
place (its bytes written and fsynced under a temporary name). Points are counted in every
thread (fetch-log writer included), so N anywhere in 1..points-of-a-whole-run hits a
deterministic spot of the code rather than a wall-clock moment. REGWATCH_CRASH_COUNT=FILE
writes the number of points the run passed (the harness uses it to size N's range).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for `reliability.world`


class KillPoints:
    """Counts kill points; SIGKILLs this process at point `crash_at` (None: never)."""

    def __init__(self, crash_at: int | None = None):
        self.crash_at = crash_at
        self.count = 0
        self._lock = threading.Lock()
        self._installed = False

    def tick(self, *_args, **_kw) -> None:
        with self._lock:
            self.count += 1
            if self.crash_at is not None and self.count >= self.crash_at:
                os.kill(os.getpid(), signal.SIGKILL)

    def install(self) -> KillPoints:
        from sqlalchemy import Engine, event

        import regwatch.fetch.snapshots as snapshots

        event.listen(Engine, "before_cursor_execute", self.tick)
        event.listen(Engine, "commit", self.tick)
        self._replace = snapshots.os.replace

        def replace(src, dst, *a, **kw):
            self.tick()
            return self._replace(src, dst, *a, **kw)

        snapshots.os.replace = replace
        self._installed = True
        return self

    def uninstall(self) -> None:
        from sqlalchemy import Engine, event

        import regwatch.fetch.snapshots as snapshots

        if self._installed:
            event.remove(Engine, "before_cursor_execute", self.tick)
            event.remove(Engine, "commit", self.tick)
            snapshots.os.replace = self._replace
            self._installed = False


def run_world(base: str, db_url: str, data_dir: Path, moment: datetime, **fetch):
    from regwatch.app import App
    from regwatch.pipeline import run_sources
    from reliability.world import world_config

    app = App(world_config(base, db_url, data_dir, **fetch))
    try:
        return run_sources(app, [], progress=False, now=moment)
    finally:
        app.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--moment", required=True, type=datetime.fromisoformat)
    args = parser.parse_args()

    from regwatch.app import setup_logging

    setup_logging(os.environ.get("REGWATCH_RUNNER_LOG", "ERROR"))
    crash_at = os.environ.get("REGWATCH_CRASH_AT")
    points = KillPoints(int(crash_at) if crash_at else None).install()
    results = run_world(args.base, args.db, args.data, args.moment)
    if os.environ.get("REGWATCH_CRASH_COUNT"):
        Path(os.environ["REGWATCH_CRASH_COUNT"]).write_text(str(points.count))
    print(json.dumps([{"source": r.source, "status": r.status, "error": r.error} for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
