"""The one object commands share: configuration, database engine, logging."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from regwatch.config import Config


@dataclass
class App:
    config: Config
    _engines: list[Engine] = field(default_factory=list, repr=False)

    @cached_property
    def engine(self) -> Engine:
        from regwatch.db.session import make_engine

        engine = make_engine(self.config.database_url)
        self._engines.append(engine)
        return engine

    def close(self) -> None:
        for engine in self._engines:
            engine.dispose()


class _SecretFilter(logging.Filter):
    """Redact the SMTP password wherever it might reach a log line."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            msg = record.getMessage()
            for s in self.secrets:
                msg = msg.replace(s, "***")
            record.msg, record.args = msg, None
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is when a record is emitted, not as it was at set-up: a
    stream replaced since (by a test harness, a daemon) may be closed, and a late record
    (an SMTP connection lost after a command returned) would fail on it."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging(level: str, secrets: list[str] | None = None) -> None:
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_SecretFilter(secrets or []))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_regwatch", False):
            root.removeHandler(old)
    handler._regwatch = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler.scheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
