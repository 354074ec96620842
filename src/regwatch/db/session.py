"""Engines, sessions and schema migrations (Alembic is the only way the schema is made)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from regwatch.errors import StorageError
from regwatch.resources import resource_dir

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# The newest migration in migrations/versions (tests/db check it against Alembic's own
# answer). Every command compares the database with it; importing Alembic to ask would
# cost each command a fifth of a second, so Alembic is loaded only to change the schema.
SCHEMA_HEAD = "0006"


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine with the settings regwatch needs on each backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            if read_only:
                # Opened read-only by SQLite itself: no statement can write.
                uri = f"file:{Path(database).resolve()}?mode=ro"
                engine = create_engine("sqlite://", creator=lambda: _sqlite_connect(uri))
            else:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 30})
        else:
            engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_connect(uri: str):
    import sqlite3

    return sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except Exception:  # read-only or in-memory databases keep their journal mode
        pass
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resource_dir("migrations")))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision`."""
    from alembic import command

    cfg = alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OSError as exc:
        raise StorageError(f"cannot write the database: {exc}") from exc


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision Alembic recorded in the database (None: not initialised)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision(engine: Engine) -> str | None:
    """The newest revision of the migration scripts, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def require_schema(engine: Engine) -> None:
    """Fail clearly when the database has not been initialised or is behind the code."""
    from regwatch.errors import UsageError

    current = current_revision(engine)
    if current is None:
        raise UsageError("the database is not initialised: run `regwatch init` first")
    if current != SCHEMA_HEAD:
        raise UsageError(f"the database schema is at {current}, the code expects "
                         f"{SCHEMA_HEAD}: run `regwatch init` to upgrade")
