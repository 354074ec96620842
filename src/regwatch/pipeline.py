"""One pipeline run: for each source, scrape → store → derive; then cross-source linking.

Errors are isolated twice, as in zavod and urlwatch: per URL inside the scraper (the
FetchContext records an issue and carries on) and per source here (its own run record;
a failure marks that run `failed` and the other sources go on). Derivation catches up
with every stored version not yet derived, so a crash between storing and deriving is
repaired by the next run, and a run over unchanged sources adds nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from regwatch.app import App
from regwatch.config import Config, SourceConfig
from regwatch.db.session import require_schema, transaction
from regwatch.db.tables import SourceRun
from regwatch.errors import LockHeld, RegwatchError
from regwatch.models import Document
from regwatch.registry import build_scraper, check_sources, discover
from regwatch.store import ensure_source, store_documents

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    source: str
    status: str  # ok | partial | failed | skipped
    documents_seen: int = 0
    documents_changed: int = 0
    errors: int = 0
    error: str | None = None
    run_id: int | None = None

    def summary(self) -> str:
        text = (f"{self.source}: {self.status} — {self.documents_seen} documents seen, "
                f"{self.documents_changed} new versions, {self.errors} errors")
        return f"{text}: {self.error}" if self.error else text


def now_utc() -> datetime:
    return datetime.now(UTC)


def select_sources(config: Config, names: list[str]) -> list[SourceConfig]:
    if not names:
        return [s for s in config.sources if s.enabled]
    return [config.source(n) for n in names]


def run_sources(app: App, names: list[str], *, progress: bool | None = None,
                now: datetime | None = None, kinds: dict | None = None) -> list[RunResult]:
    """Run the named sources (default: all enabled), then derive and link.

    `now` replays a run at another moment (the demo); `kinds` replaces the discovered
    scraper registry (tests)."""
    from regwatch.derive import catch_up
    from regwatch.fetch.http import Fetcher
    from regwatch.fetch.snapshots import SnapshotStore

    engine = app.engine
    require_schema(engine)
    config = app.config
    sources = select_sources(config, names)
    if kinds is None:
        # Only the scrapers these sources use (importing them all costs a quarter second);
        # all of them when a kind is not its module's name.
        kinds = discover(names={s.scraper for s in sources})
        if any(s.scraper not in kinds for s in sources):
            kinds = discover()
    check_sources(dataclasses.replace(config, sources=tuple(sources)), kinds)  # before any fetching
    store = SnapshotStore(config.data_path / "snapshots")
    store.clean_temp()
    fetcher = Fetcher(config.fetch, engine, store)
    try:
        workers = max(1, min(len(sources), config.fetch.max_connections))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="source") as pool:
            results = list(pool.map(
                lambda s: run_source(engine, config, s, fetcher=fetcher, store=store,
                                     kinds=kinds, now=now, progress=progress), sources))
    finally:
        fetcher.close()  # flushes the fetch log
    # What derivation records for the first time is learnt now, even with nothing new
    # fetched (a revision an older parser could not read, parsed after an upgrade).
    problems = catch_up(engine, config, store, now=now or now_utc())
    return _record_problems(engine, results, problems)


def _record_problems(engine: Engine, results: list[RunResult], problems) -> list[RunResult]:
    """Derivation errors (a page the parser cannot read) count against their source's run."""
    out = []
    for result in results:
        mine = [p for p in problems if p.source == result.source]
        if not mine or result.run_id is None:
            out.append(result)
            continue
        first = f"{mine[0].url}: {mine[0].message}"
        errors = result.errors + len(mine)
        status = "partial" if result.status == "ok" else result.status
        error = result.error or (first if len(mine) == 1 else f"{first} (+{len(mine) - 1} more)")
        with transaction(engine) as session:
            run = session.get(SourceRun, result.run_id)
            run.status, run.errors, run.error = status, errors, error
            run.issues = [*(run.issues or []), *({"url": p.url, "message": p.message, "level": "error"}
                                                 for p in mine)][:200]
        out.append(RunResult(result.source, status, result.documents_seen, result.documents_changed,
                             errors, error, result.run_id))
    return out


def run_source(engine: Engine, config: Config, source: SourceConfig, *, fetcher, store,
               kinds=None, now: datetime | None = None, progress: bool | None = None) -> RunResult:
    """One source's run, under a lease so two runs of one source never overlap."""
    from regwatch import locks

    holder = locks.make_holder()
    try:
        with locks.lease(engine, f"source:{source.name}", holder, ttl_s=max(60, config.scheduler.lock_ttl_s),
                         wait=False):
            return _run_source_locked(engine, config, source, fetcher=fetcher, store=store,
                                      kinds=kinds, now=now, progress=progress)
    except LockHeld as exc:
        log.warning("%s: skipped, another run of this source is in progress (%s)", source.name, exc)
        return RunResult(source.name, "skipped", error=f"another run is in progress ({exc})")
    except SQLAlchemyError as exc:
        # The database went away (restart, network) while starting or finishing the run: this
        # source fails with a clear error, the others go on; what it stored is whole or absent.
        error = f"database error: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}".strip()
        log.error("%s: run failed: %s", source.name, error)
        return RunResult(source.name, "failed", errors=1, error=error)


def _run_source_locked(engine: Engine, config: Config, source: SourceConfig, *, fetcher, store,
                       kinds, now: datetime | None, progress: bool | None) -> RunResult:
    from regwatch.fetch.context import FetchContext, save_validators_many

    started = now or now_utc()
    with transaction(engine) as session:
        source_id = ensure_source(session, source.name, source.scraper, started)
        # We hold this source's lease: a run still marked running was left by a crash. It
        # ends now, when that is known: health as of a moment before still shows it running.
        for stale in session.scalars(select(SourceRun).where(SourceRun.source_id == source_id,
                                                             SourceRun.status == "running")):
            stale.status = "abandoned"
            stale.finished_at = started
            stale.error = stale.error or "abandoned: the process running it stopped"
        run = SourceRun(source_id=source_id, started_at=started, status="running")
        session.add(run)
        session.flush()
        run_id = run.id
    # Validators are saved only when the whole run succeeded. A parent's validators (a feed,
    # an index, a release page) gate its children: saved before the children are stored, a
    # crash or a failed child fetch in between would make the next run's 304 (or same-bytes
    # `unchanged`) skip those children for good.
    batch = _Batch(engine, store, source.name, source_id)
    fatal: str | None = None
    ctx = None
    try:
        try:
            scraper = build_scraper(source, kinds)
            ctx = FetchContext(fetcher, source, scraper.options, run_id=run_id, now=started,
                               engine=engine, progress=progress)
            ctx.before_read = batch.flush
            for doc in scraper.scrape(ctx):
                batch.add(doc)
            batch.flush()
        except BaseException:
            # What was yielded before the failure is stored, as it was when stored one by one;
            # the failure reported stays the scraper's.
            try:
                if batch.failed is None:
                    batch.flush()
            except Exception:
                log.exception("%s: storing the documents yielded before the failure failed", source.name)
            raise
    except (RegwatchError, OSError) as exc:
        fatal = str(exc)
        log.error("%s: run failed: %s", source.name, exc)
    except Exception as exc:  # a bug in one scraper must not stop the other sources
        fatal = f"{type(exc).__name__}: {exc}"
        log.exception("%s: run failed with an unexpected error", source.name)
    seen, changed, validators = batch.seen, batch.changed, batch.validators
    issues = list(ctx.issues) if ctx is not None else []
    errors = len([i for i in issues if i.level == "error"]) + (1 if fatal else 0)
    if fatal:
        status = "failed"
    elif errors:
        status = "partial" if seen else "failed"
    else:
        status = "ok"
    first_error = fatal or next((f"{i.url}: {i.message}" if i.url else i.message
                                 for i in issues if i.level == "error"), None)
    if errors > 1 and first_error:
        first_error = f"{first_error} (+{errors - 1} more)"
    with transaction(engine) as session:
        run = session.get(SourceRun, run_id)
        run.finished_at = now_utc() if now is None else max(now, started)
        run.status = status
        run.documents_seen = seen
        run.documents_changed = changed
        run.errors = errors
        run.error = first_error
        run.issues = [{"url": i.url, "message": i.message, "level": i.level} for i in issues][:200] or None
        if status == "ok":
            save_validators_many(session, validators, source_id=source_id)
    result = RunResult(source.name, status, seen, changed, errors, first_error, run_id)
    (log.warning if status != "ok" else log.info)("%s", result.summary())
    return result


class _Batch:
    """Documents a scraper yielded, stored a batch per transaction.

    Each document's version, its snapshot row and the forgetting of its validators are in
    the transaction that stores it, so a crash keeps a document whole or not at all; only
    the number of transactions changes (one per batch, not one per document: a re-check of
    thousands of unchanged pages was mostly commits). A batch is written when it holds
    MAX_DOCS documents or MAX_BYTES of text, when its first document has waited MAX_AGE_S,
    before a key repeats, and before the scraper reads the database (FetchContext.before_read),
    so a scraper sees exactly what it would if each document were written as it was yielded.
    When a batch fails, its documents are stored again one transaction each, so those before
    the failing one are kept and the same error is raised, as without batching; it is raised
    again by every later add() or flush(), so that a scraper catching it (a flush before a
    read happens inside the scraper) cannot turn a storage failure into a mere issue.
    """

    MAX_DOCS = 200
    MAX_BYTES = 8 << 20
    MAX_AGE_S = 2.0

    def __init__(self, engine: Engine, store, source_name: str, source_id: int):
        self.engine, self.store = engine, store
        self.source_name, self.source_id = source_name, source_id
        self.seen = self.changed = 0
        self.validators: dict[str, tuple] = {}  # url -> (etag, last_modified, sha256, fetched_at)
        self._docs: list[Document] = []
        self._keys: set[str] = set()
        self._bytes = 0
        self._since = 0.0
        self._lock = threading.RLock()
        self._failed: BaseException | None = None

    @property
    def failed(self) -> BaseException | None:
        return self._failed

    def add(self, doc: Document) -> None:
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if doc.key in self._keys:
                self.flush()
            if not self._docs:
                self._since = time.monotonic()
            self._docs.append(doc)
            self._keys.add(doc.key)
            self._bytes += len(doc.text or "")
            if (len(self._docs) >= self.MAX_DOCS or self._bytes >= self.MAX_BYTES
                    or time.monotonic() - self._since >= self.MAX_AGE_S):
                self.flush()

    def flush(self) -> None:
        with self._lock:
            if self._failed is not None:
                raise self._failed
            try:
                self._flush()
            except BaseException as exc:
                self._failed = exc
                raise

    def _flush(self) -> None:
        docs, self._docs, self._keys, self._bytes = self._docs, [], set(), 0
        if not docs:
            return
        try:
            with transaction(self.engine) as session:
                versions = self._store(session, docs)
        except Exception:
            if len(docs) == 1:
                self.seen += 1  # counted as yielded, as one by one
                raise
            log.info("%s: storing a batch of %d failed; storing them one by one",
                     self.source_name, len(docs))
            for doc in docs:
                self.seen += 1
                with transaction(self.engine) as session:
                    (version,) = self._store(session, [doc])
                self._done([doc], [version])
            return
        self.seen += len(docs)
        self._done(docs, versions)

    def _store(self, session, docs: list[Document]) -> list:
        from regwatch.fetch.context import forget_validators_many

        sizes = [self.store.stored_size(d.snapshot.sha256) if d.snapshot else None for d in docs]
        versions = store_documents(session, self.source_id, docs, stored_sizes=sizes)
        # Until the run ends cleanly, a changed URL must be fetched in full again.
        forget_validators_many(session, [_http_url(d) for d, v in zip(docs, versions, strict=True)
                                         if v is not None], source_id=self.source_id)
        return versions

    def _done(self, docs: list[Document], versions: list) -> None:
        for doc, version in zip(docs, versions, strict=True):
            if doc.snapshot is not None and not doc.metadata.get("gone"):
                http = doc.metadata.get("http") or {}
                self.validators[_http_url(doc)] = (http.get("etag"), http.get("last_modified"),
                                                   doc.snapshot.sha256, doc.fetched_at)
            if version is not None:
                self.changed += 1
                log.info("%s: %s %s (%s)", self.source_name, version.change_type, doc.url, doc.kind)


def _http_url(doc: Document) -> str:
    return (doc.metadata.get("http") or {}).get("url") or doc.url
