"""Alembic is the only way the schema is made: it must go up, down and up again on both
backends, and agree with the ORM models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from regwatch.db.session import (
    SCHEMA_HEAD,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    require_schema,
    upgrade,
)
from regwatch.db.tables import Base
from regwatch.errors import UsageError

VIEWS = {"v_changes", "v_document_changes", "v_source_health"}


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
        assert VIEWS <= set(inspect(engine).get_view_names())
        downgrade(engine, "base")
        assert current_revision(engine) is None
        names = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert names == set()
        assert not (VIEWS & set(inspect(engine).get_view_names()))
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


def test_the_schema_check_knows_the_newest_migration(db_url: str) -> None:
    """Commands compare the database with SCHEMA_HEAD without loading Alembic: it must be
    the head Alembic finds, and a database behind it or not initialised is refused."""
    engine = make_engine(db_url)
    try:
        assert SCHEMA_HEAD == head_revision(engine)
        downgrade(engine, "base")
        with pytest.raises(UsageError, match="not initialised"):
            require_schema(engine)
        upgrade(engine)
        require_schema(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
        with pytest.raises(UsageError, match="schema is at 0000, the code expects " + SCHEMA_HEAD):
            require_schema(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": SCHEMA_HEAD})
    finally:
        engine.dispose()


def test_commands_check_the_schema_without_loading_alembic(tmp_path) -> None:
    import subprocess
    import sys

    db = tmp_path / "r.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    code = ("import sys; from regwatch.db.session import make_engine, require_schema; "
            f"require_schema(make_engine({str('sqlite:///' + str(db))!r})); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_models_match_migrations(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Views are not in the metadata; everything else must agree.
    assert diff == []


def test_views_have_the_documented_columns(engine) -> None:
    with engine.connect() as conn:
        changes = conn.execute(text("SELECT * FROM v_changes")).keys()
        docs = conn.execute(text("SELECT * FROM v_document_changes")).keys()
        health = conn.execute(text("SELECT * FROM v_source_health")).keys()
    assert {"id", "jurisdiction", "instrument_law_id", "instrument_title", "provision_path",
            "citation_ja", "citation_en", "list_entry", "change_type", "categories", "regime",
            "outside_wassenaar", "announced_on", "promulgated_on", "effective_on", "observed_at",
            "recorded_at", "before_text", "after_text", "event_key", "event_title",
            "sources"} <= set(changes)
    assert {"source", "url", "title", "change_type", "observed_at"} <= set(docs)
    assert {"source", "last_attempt_at", "last_success_at", "consecutive_failures",
            "last_error"} <= set(health)


def test_indexes_for_common_queries(engine) -> None:
    indexed = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("control_changes")}
    assert ("announced_on",) in indexed
    assert ("effective_on",) in indexed
    assert ("observed_at",) in indexed
    assert any(cols[0] == "law_id" for cols in indexed)
    cat = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("change_categories")}
    assert ("category",) in cat
    dates = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("change_dates")}
    assert ("change_id", "field", "known_at") in dates  # a date as known at T
    assert ("known_at",) in dates  # the date corrections of a window
