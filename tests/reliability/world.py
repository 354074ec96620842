"""The recorded world, databases to run it on, and what a correct database looks like.

Shared by the reliability tests and by `runner.py` (the subprocess the crash harness kills):

- `EtagReplayServer`: the demo's ReplayServer, answering conditional requests the way real
  servers do (ETag + 304), so the runs exercise the code paths where a stored validator can
  hide a change.
- `world_config`: the demo configuration (same scrapers, sources and fetch settings) for a
  server base URL, a database URL and a data directory.
- `Backend`: fresh and cloned databases on SQLite (file copies) and PostgreSQL (CREATE
  DATABASE … TEMPLATE).
- `state_hash`: a digest of the normalised content of every table (see its docstring for
  exactly what is left out and why).
- `integrity_problems`: the database's own checks plus the snapshot store's consistency.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from regwatch.config import Config, load_config
from regwatch.db.tables import Base
from regwatch.demo import DEMO_DATA, demo_config
from regwatch.demo_server import ReplayServer, Story, load_story

PG_URL = os.environ.get("REGWATCH_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

# Tables whose rows record *how* a run went rather than *what* is known, and legitimately
# differ between an interrupted-then-resumed history and an uninterrupted one:
#  - fetch_log: one row per request; a killed run made requests the uninterrupted one did not,
#    and requested_at/elapsed_ms are wall-clock.
#  - source_runs: a killed run leaves its own row (status running/abandoned), and the resumed
#    run counts fewer new versions because the killed one already stored some.
#  - service_locks: leases carry wall-clock expiry times and random holder ids.
#  - http_cache: a cache of what the next run may skip. A row missing is always safe (the URL is
#    fetched in full); a row present must be right. A killed run forgets the validators of what
#    it stored, and a resumed run that finds a document already stored may not fetch it again
#    (e-Gov revisions), so rows may be missing after a crash: `cache_problems` checks instead
#    that every row present is exactly the uninterrupted history's row.
EXCLUDED_TABLES = frozenset({"fetch_log", "source_runs", "service_locks", "http_cache"})


def load_world() -> Story:
    return load_story(DEMO_DATA)


class EtagReplayServer(ReplayServer):
    """The replay server answering with ETags and 304s, so conditional paths are exercised."""

    def __init__(self, story: Story, *, delay_s: float = 0.0):
        super().__init__(story, etags=True, delay_s=delay_s)


@dataclasses.dataclass(frozen=True)
class _Urls:
    """What `demo_config` needs of a server: the story and its base URL (no socket)."""

    story: Story
    base: str


def world_config(base_url: str, db_url: str, data_dir: Path, **fetch: Any) -> Config:
    """The demo's sources and settings, on `db_url`, with snapshots under `data_dir`."""
    base = load_config(None, env={})
    cfg = demo_config(base, data_dir.parent, _Urls(load_world(), base_url))
    return dataclasses.replace(
        cfg, data_dir=str(data_dir), database=dataclasses.replace(cfg.database, url=db_url),
        fetch=dataclasses.replace(cfg.fetch, **fetch) if fetch else cfg.fetch)


def digest_config(base_url: str, db_url: str, data_dir: Path, smtp_port: int) -> Config:
    """`world_config` sending digests to the loopback SMTP server (STARTTLS, AUTH)."""
    from smtp_support import USERNAME

    cfg = world_config(base_url, db_url, data_dir)
    return dataclasses.replace(cfg, smtp=dataclasses.replace(
        cfg.smtp, host="127.0.0.1", port=smtp_port, security="starttls", username=USERNAME,
        timeout_s=10.0))


def write_config_toml(config: Config, path: Path, *, schedule: str | None = None) -> Path:
    """`config` as a user TOML file for the `regwatch` command (sources, database, data_dir)."""
    def val(v: Any) -> str:
        if isinstance(v, dict):  # an inline table (JSON objects are not TOML)
            return "{" + ", ".join(f"{val(k)} = {val(x)}" for k, x in v.items()) + "}"
        return json.dumps(v, ensure_ascii=False)  # JSON strings, numbers, lists and bools are TOML

    lines = [f"data_dir = {val(config.data_dir)}", "source = []", "", "[database]",
             f"url = {val(config.database.url)}", "", "[fetch]"]
    lines += [f"{f.name} = {val(getattr(config.fetch, f.name))}"
              for f in dataclasses.fields(config.fetch)]
    for src in config.sources:
        lines += ["", "[[source]]", f"name = {val(src.name)}", f"scraper = {val(src.scraper)}"]
        if src.url:
            lines.append(f"url = {val(src.url)}")
        if src.urls:
            lines.append(f"urls = {val(src.urls)}")
        if schedule:
            lines.append(f"schedule = {val(schedule)}")
        lines += [f"{k} = {val(v)}" for k, v in {**src.options, **src.fetch}.items()]
    text_ = "\n".join(lines).replace("source = []\n", "", 1 if config.sources else 0) + "\n"
    path.write_text(text_, encoding="utf-8")
    return path


# ---------------------------------------------------------------- databases


class Backend:
    """Named databases of one kind for one test: fresh, cloned from another, dropped."""

    def __init__(self, kind: str, folder: Path):
        self.kind = kind
        self.folder = folder
        self._pg_names: list[str] = []
        self._admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT") if kind == "postgresql" else None

    def url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / f'{name}.db'}"
        return make_url(PG_URL).set(database=self._pg(name)).render_as_string(hide_password=False)

    def _pg(self, name: str) -> str:
        return f"rw_rel_{self._tag}_{name}"

    @property
    def _tag(self) -> str:
        if not hasattr(self, "_tag_value"):
            self._tag_value = uuid.uuid4().hex[:8]
        return self._tag_value

    def create(self, name: str, template: str | None = None) -> str:
        """An empty database `name`, or a copy of `template` (whose engines must be disposed)."""
        if self.kind == "sqlite":
            target = self.folder / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            if template is not None:
                src = self.folder / f"{template}.db"
                shutil.copyfile(src, target)
                if Path(f"{src}-wal").exists():
                    shutil.copyfile(f"{src}-wal", f"{target}-wal")
            return self.url(name)
        assert self._admin is not None
        db = self._pg(name)
        with self._admin.connect() as conn:
            self._terminate(conn, db)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}"'))
            if template is None:
                conn.execute(text(f'CREATE DATABASE "{db}"'))
            else:
                self._terminate(conn, self._pg(template))
                conn.execute(text(f'CREATE DATABASE "{db}" TEMPLATE "{self._pg(template)}"'))
        if db not in self._pg_names:
            self._pg_names.append(db)
        return self.url(name)

    @staticmethod
    def _terminate(conn, db: str) -> None:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": db})

    def close(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as conn:
            for db in self._pg_names:
                self._terminate(conn, db)
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}"'))
        self._admin.dispose()


# ---------------------------------------------------------------- the state of a database


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(round(value, 9))
    return value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_plain)


def table_states(engine: Engine) -> dict[str, list[str]]:
    """Every table but EXCLUDED_TABLES as a sorted list of canonical rows.

    Normalisation, so that equal knowledge gives equal rows whatever order or process
    wrote it:
    - surrogate keys (a single integer primary key `id`, autoincremented) are dropped;
    - a foreign key is replaced by the digest of the natural key of the row it points at
      (its non-surrogate primary key or first unique constraint, itself normalised the same
      way; the whole row where it has none), so `document_versions.document_id` becomes "the
      document with this source and key", not a number that depends on insertion order;
    - datetimes are compared as UTC ISO strings, JSON by its canonical serialisation.
    Nothing else is dropped: every other column of every other table is compared.
    """
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    names = sorted(set(inspect(engine).get_table_names()) - EXCLUDED_TABLES)
    rows: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for name in names:
            if name in tables:
                rows[name] = [dict(r._mapping) for r in conn.execute(select(tables[name]))]
            else:  # alembic_version and anything the ORM does not map
                rows[name] = [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{name}"'))]
    index: dict[tuple[str, str], dict[Any, dict[str, Any]]] = {}
    memo: dict[tuple[str, int], str] = {}

    def surrogate(name: str) -> str | None:
        t = tables.get(name)
        if t is None:
            return None
        pk = list(t.primary_key.columns)
        if len(pk) == 1 and pk[0].name == "id" and str(pk[0].type).upper().startswith("INTEGER"):
            return "id"
        return None

    def normalised(name: str, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        sid = surrogate(name)
        if sid:
            out.pop(sid, None)
        t = tables.get(name)
        for fk in t.foreign_keys if t is not None else ():
            col, ref = fk.parent.name, fk.column
            if out.get(col) is None:
                continue
            out[col] = "→" + identity(ref.table.name, ref.name, row[col])
        return out

    def identity(name: str, column: str, value: Any) -> str:
        if name in EXCLUDED_TABLES:
            return f"{name}:excluded"
        key = (name, column)
        if key not in index:
            index[key] = {r[column]: r for r in rows.get(name, [])}
        target = index[key].get(value)
        if target is None:
            return f"{name}:missing:{value}"
        mk = (name, id(target))
        if mk not in memo:
            full = normalised(name, target)
            natural = natural_key(name)
            ident = {c: full[c] for c in natural} if natural else full
            memo[mk] = hashlib.sha256(_canonical(ident).encode()).hexdigest()[:24]
        return memo[mk]

    def natural_key(name: str) -> list[str] | None:
        t = tables.get(name)
        if t is None:
            return None
        if not surrogate(name):
            return [c.name for c in t.primary_key.columns]
        from sqlalchemy import UniqueConstraint

        for c in t.constraints:
            if isinstance(c, UniqueConstraint) and c.columns:
                return [col.name for col in c.columns]
        unique = [c.name for c in t.columns if c.unique]
        return unique[:1] or None

    return {name: sorted(_canonical(normalised(name, r)) for r in rows[name]) for name in names}


def state_hash(engine: Engine) -> str:
    """sha256 over `table_states`: equal hashes mean equal normalised content."""
    h = hashlib.sha256()
    for name, lines in sorted(table_states(engine).items()):
        h.update(f"\0table {name} {len(lines)}\n".encode())
        for line in lines:
            h.update(line.encode())
            h.update(b"\n")
    return h.hexdigest()


def state_diff(a: dict[str, list[str]], b: dict[str, list[str]], limit: int = 6) -> str:
    """A short human-readable difference between two `table_states` (for failure messages)."""
    out = []
    for name in sorted(set(a) | set(b)):
        left, right = set(a.get(name, [])), set(b.get(name, []))
        if left == right and len(a.get(name, [])) == len(b.get(name, [])):
            continue
        out.append(f"{name}: {len(a.get(name, []))} vs {len(b.get(name, []))} rows")
        out += [f"  - {x[:300]}" for x in sorted(left - right)[:limit]]
        out += [f"  + {x[:300]}" for x in sorted(right - left)[:limit]]
    return "\n".join(out) or "(only duplicate counts differ)"


def cache_rows(engine: Engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {r.url: (r.etag, r.last_modified, r.content_sha256, _plain(r.checked_at))
                for r in conn.execute(text("SELECT * FROM http_cache"))}


def cache_problems(reference: dict[str, tuple], engine: Engine) -> list[str]:
    """http_cache rows that the uninterrupted history does not have exactly so."""
    return [f"{url}: {row} (reference {reference.get(url)})"
            for url, row in sorted(cache_rows(engine).items()) if reference.get(url) != row]


def counts(engine: Engine, tables: tuple[str, ...]) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


# ---------------------------------------------------------------- integrity


def integrity_problems(engine: Engine, snapshot_root: Path) -> list[str]:
    """What is wrong with a database and its snapshot store (empty when all is well).

    - SQLite: PRAGMA integrity_check and foreign_key_check; PostgreSQL enforces foreign keys
      itself, and every index is checked by querying through it below;
    - every snapshots row and every document version's snapshot has its file, whose content
      still hashes to its name;
    - no document version points at a snapshot with no row (the FK says so; checked anyway).
    """
    from regwatch.fetch.snapshots import SnapshotStore

    problems: list[str] = []
    store = SnapshotStore(snapshot_root)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            result = [r[0] for r in conn.execute(text("PRAGMA integrity_check"))]
            if result != ["ok"]:
                problems.append(f"integrity_check: {result[:5]}")
            fk = conn.execute(text("PRAGMA foreign_key_check")).fetchall()
            if fk:
                problems.append(f"foreign_key_check: {fk[:5]}")
        rows = conn.execute(text("SELECT sha256 FROM snapshots")).scalars().all()
        for sha in rows:
            if not store.verify(sha):
                problems.append(f"snapshot {sha} has a row but no valid file")
        dangling = conn.execute(text(
            "SELECT v.id, v.snapshot_sha256 FROM document_versions v LEFT JOIN snapshots s "
            "ON s.sha256 = v.snapshot_sha256 WHERE v.snapshot_sha256 IS NOT NULL "
            "AND s.sha256 IS NULL")).fetchall()
        if dangling:
            problems.append(f"versions pointing at no snapshot row: {dangling[:5]}")
        dup = conn.execute(text(
            "SELECT document_id, content_sha256, count(*) FROM document_versions "
            "GROUP BY document_id, version, content_sha256 HAVING count(*) > 1")).fetchall()
        if dup:
            problems.append(f"duplicate versions: {dup[:5]}")
    return problems


def temp_files(snapshot_root: Path) -> list[Path]:
    """Half-written snapshot files (temporary names) under the store."""
    if not snapshot_root.exists():
        return []
    return sorted(p for p in snapshot_root.rglob("*") if p.is_file() and p.name.startswith(".tmp"))
