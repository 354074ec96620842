"""Shared fixtures: history databases on SQLite and (when configured) PostgreSQL.

Set REGWATCH_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)
and every test that takes `db_url` or `engine` also runs on PostgreSQL, each in a fresh
database of its own that is dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from regwatch.db.session import make_engine, upgrade

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("REGWATCH_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def _fresh_postgres(template: str | None = None) -> Iterator[str]:
    assert PG_URL
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"regwatch_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Per backend, a database migrated to head once per session, which tests copy (SQLite)
    or clone (PostgreSQL's CREATE DATABASE … TEMPLATE): running the migrations for every
    test cost a tenth to a third of a second each."""
    made: dict[str, str] = {}
    cleanup = []

    def make(backend: str) -> str:
        if backend not in made:
            if backend == "sqlite":
                path = tmp_path_factory.mktemp("template") / "head.db"
                eng = make_engine(f"sqlite:///{path}")
                upgrade(eng)
                eng.dispose()  # the last connection closes: the WAL is checkpointed into the file
                made[backend] = str(path)
            else:
                gen = _fresh_postgres()
                url = next(gen)
                eng = make_engine(url)
                upgrade(eng)
                eng.dispose()  # a template must have no connections
                made[backend] = make_url(url).database
                cleanup.append(gen)
        return made[backend]

    yield make  # type: ignore[misc]
    for gen in cleanup:
        next(gen, None)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_templates) -> Iterator[str]:
    """A database URL on each configured backend: an empty database (no schema yet), or,
    when the test also takes `engine`, a copy of one migrated to head."""
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "regwatch.db"
        if migrated:
            shutil.copyfile(migrated_templates("sqlite"), path)
        yield f"sqlite:///{path}"
    else:
        yield from _fresh_postgres(migrated_templates("postgresql") if migrated else None)


@pytest.fixture
def engine(db_url: str):
    """An engine on a database migrated to head (`db_url` made it from the template)."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def config_file(tmp_path: Path, db_url: str) -> Path:
    """A minimal user config pointing at the test database, with no sources."""
    path = tmp_path / "regwatch.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\nsource = []\n\n[database]\nurl = "{db_url}"\n',
                    encoding="utf-8")
    return path
