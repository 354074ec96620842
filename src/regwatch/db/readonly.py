"""`regwatch query`: one analyst statement on a connection that cannot write.

Three locks, so that no single slip lets a write through: the statement is checked to
be one read statement; SQLite is opened read-only with an authorizer that denies every
non-read action; PostgreSQL runs it in a READ ONLY transaction that is rolled back.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from regwatch.errors import ReadOnlyViolation, UsageError

_READ_STARTS = {"select", "with", "values", "explain", "table", "show", "pragma"}
_READ_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info", "foreign_key_list",
                 "database_list", "compile_options", "user_version", "schema_version"}


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_read_only(database_url: str, sql: str, *, max_rows: int = 100_000,
                  timeout_s: float = 60.0) -> QueryResult:
    statement = single_statement(sql)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite(url.database or "", statement, max_rows)
    if url.get_backend_name() == "postgresql":
        return _postgres(database_url, statement, max_rows, timeout_s)
    raise UsageError(f"read-only queries are not supported on {url.get_backend_name()}")


def single_statement(sql: str) -> str:
    """The one statement in `sql`, or ReadOnlyViolation if there are several or it writes."""
    parts = [p for p in _split_statements(sql) if _strip_comments(p).strip()]
    if not parts:
        raise UsageError("no SQL statement given")
    if len(parts) > 1:
        raise ReadOnlyViolation("only one statement is allowed per query")
    statement = parts[0].strip()
    first = _strip_comments(statement).strip().split(None, 1)[0].lower()
    if first not in _READ_STARTS:
        raise ReadOnlyViolation(f"refused: {first.upper()} would write; "
                                "`regwatch query` runs read-only statements only")
    if first == "pragma":
        m = re.match(r"\s*pragma\s+(?:\w+\.)?(\w+)\s*(=|\()?", _strip_comments(statement), re.I)
        if not m or m.group(1).lower() not in _READ_PRAGMAS or m.group(2) == "=":
            raise ReadOnlyViolation("refused: only read-only PRAGMAs (table_info, index_list, …)")
    return statement


def _split_statements(sql: str) -> list[str]:
    """Split on semicolons outside quotes, comments and PostgreSQL dollar quotes."""
    parts, start, i, n = [], 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            j = sql.find(ch, i + 1)
            while j != -1 and j + 1 < n and sql[j + 1] == ch:  # doubled quote escapes
                j = sql.find(ch, j + 2)
            i = n if j == -1 else j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j == -1 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j == -1 else j + 2
        elif ch == "$" and (m := re.match(r"\$(\w*)\$", sql[i:])):
            tag = m.group(0)
            j = sql.find(tag, i + len(tag))
            i = n if j == -1 else j + len(tag)
        elif ch == ";":
            parts.append(sql[start:i])
            start = i = i + 1
        else:
            i += 1
    parts.append(sql[start:])
    return parts


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)


def _sqlite(path: str, statement: str, max_rows: int) -> QueryResult:
    if not path or path == ":memory:" or not Path(path).exists():
        raise UsageError(f"no database at {path!r}: run `regwatch init` first")
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=30)
    try:
        conn.set_authorizer(_sqlite_authorizer)
        try:
            cur = conn.execute(statement)
            rows = cur.fetchmany(max_rows)
        except sqlite3.DatabaseError as exc:
            if "not authorized" in str(exc) or "readonly" in str(exc):
                raise ReadOnlyViolation(f"refused: {exc}") from None
            raise UsageError(f"SQL error: {exc}") from None
        columns = [d[0] for d in cur.description or []]
        return QueryResult(columns, [tuple(r) for r in rows])
    finally:
        conn.close()


def _sqlite_authorizer(action: int, arg1: Any, arg2: Any, dbname: Any, source: Any) -> int:
    allowed = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
               getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
    if action in allowed:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and str(arg1).lower() in _READ_PRAGMAS and arg2 is None:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _postgres(url: str, statement: str, max_rows: int, timeout_s: float) -> QueryResult:
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=False, connect_timeout=10) as conn:
        try:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT set_config('statement_timeout', %s, true)",
                            (str(int(timeout_s * 1000)),))
                # prepare=True uses the extended protocol: one statement, no smuggled COMMIT.
                cur.execute(statement, prepare=True)
                columns = [d.name for d in cur.description or []]
                rows = cur.fetchmany(max_rows) if cur.description else []
                return QueryResult(columns, [tuple(r) for r in rows])
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise ReadOnlyViolation(f"refused: {exc.diag.message_primary}") from None
        except psycopg.Error as exc:
            raise UsageError(f"SQL error: {exc}") from None
        finally:
            conn.rollback()
