"""`regwatch query`: analysts read; nothing they type can write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from regwatch.cli import main
from regwatch.db.readonly import run_read_only, single_statement
from regwatch.errors import ReadOnlyViolation

WRITES = [
    "INSERT INTO sources (name, scraper, created_at) VALUES ('x', 'page', '2024-01-01')",
    "UPDATE sources SET name = 'y'",
    "DELETE FROM sources",
    "DROP TABLE sources",
    "CREATE TABLE evil (x int)",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA user_version = 7",
    "SELECT 1; DELETE FROM sources",
    "SELECT 1; COMMIT; DROP TABLE sources",
    "WITH x AS (SELECT 1) DELETE FROM sources",
    "VACUUM",
    "ALTER TABLE sources ADD COLUMN z int",
]


def _seed(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sources (name, scraper, created_at) "
                          "VALUES ('egov-law', 'egov_law', CURRENT_TIMESTAMP)"))


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM sources")).scalar_one()


def test_select_returns_rows(engine, db_url: str) -> None:
    _seed(engine)
    result = run_read_only(db_url, "SELECT name, scraper FROM sources WHERE name LIKE 'egov%'")
    assert result.columns == ["name", "scraper"]
    assert result.rows == [("egov-law", "egov_law")]


@pytest.mark.parametrize("sql", WRITES)
def test_writes_are_refused_and_nothing_changes(engine, db_url: str, sql: str) -> None:
    _seed(engine)
    with pytest.raises(ReadOnlyViolation):
        run_read_only(db_url, sql)
    assert _count(engine) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM sources")).scalar_one() == "egov-law"


def test_writes_refused_even_past_the_statement_check(engine, db_url: str, monkeypatch) -> None:
    """The connection itself is read-only: the textual check is not the only lock."""
    _seed(engine)
    monkeypatch.setattr("regwatch.db.readonly.single_statement", lambda sql: sql)
    for sql in ["DELETE FROM sources", "UPDATE sources SET name = 'y'"]:
        with pytest.raises(Exception):  # noqa: B017 - any refusal is fine; the count is the test
            run_read_only(db_url, sql)
    assert _count(engine) == 1


def test_semicolons_inside_strings_are_one_statement() -> None:
    assert single_statement("SELECT 'a;b' AS x;") == "SELECT 'a;b' AS x"
    assert single_statement("SELECT 'a;b' -- c;d\n") == "SELECT 'a;b' -- c;d"
    assert single_statement("SELECT $q$;$q$") == "SELECT $q$;$q$"
    with pytest.raises(ReadOnlyViolation):
        single_statement("SELECT 'a'';' ; DELETE FROM x")


def test_cli_query_formats_and_exit_codes(engine, config_file: Path, capsys) -> None:
    _seed(engine)
    assert main(["--config", str(config_file), "query", "SELECT name FROM sources",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "egov-law"}]
    assert main(["--config", str(config_file), "query", "SELECT name FROM sources",
                 "--format", "csv"]) == 0
    assert capsys.readouterr().out == "name\negov-law\n"
    assert main(["--config", str(config_file), "query", "DELETE FROM sources"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert _count(engine) == 1
