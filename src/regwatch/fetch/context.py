"""FetchContext: a scraper's only door to the network, one per source per run.

It binds the shared `Fetcher` to one source: that source's merged [fetch] settings, its
allowed hosts (the `allowed_hosts` list, or else the hosts of its configured URLs), the run
id for fetch_log rows, a logger bound to the source, and the run's list of issues.
It reads the history database (documents, http_cache) but never writes documents:
`save_validators` is for the pipeline, inside the transaction that stores the version.
"""

from __future__ import annotations

import json as jsonlib
import logging
import queue
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from regwatch.config import SourceConfig
from regwatch.db.tables import DocumentRow, DocumentVersion, HttpCache, SourceRow
from regwatch.errors import FetchError, ParseError, RegwatchError, without_url
from regwatch.fetch.http import Fetcher, FetchResult, Validators
from regwatch.fetch.progress import Progress
from regwatch.models import Document

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Issue:
    """Something that went wrong with one URL in a run, kept for `status` and the digest."""

    url: str | None
    message: str
    level: str = "error"  # error | warning

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "message": self.message, "level": self.level}


class FetchContext:
    def __init__(self, fetcher: Fetcher, source: SourceConfig, options: Any = None, *,
                 run_id: int | None = None, now: datetime, engine: Engine | None = None,
                 progress: bool | None = None):
        if now.tzinfo is None:
            raise ValueError("FetchContext.now must be timezone-aware")
        self.fetcher = fetcher
        self.source = source
        self.options = options
        self.run_id = run_id
        self.now = now
        self.engine = engine if engine is not None else fetcher.engine
        self.config = source.fetch_config(fetcher.config)
        self.allowed_hosts = frozenset(h.lower() for h in source.allowed_hosts) or frozenset(
            (urlsplit(u).hostname or "").lower() for u in source.all_urls())
        self.issues: list[Issue] = []
        self.log = logging.LoggerAdapter(logging.getLogger(f"regwatch.source.{source.name}"),
                                         {"source": source.name, "run_id": run_id})
        self._progress = progress
        self._source_id: int | None = None
        self._source_id_known = False
        # Set by the pipeline: writes what it holds back (a batch of yielded documents) before
        # any read of the history database, so a scraper sees everything it yielded.
        self.before_read: Callable[[], None] | None = None

    # ------------------------------------------------------------------ fetching

    def fetch(self, url: str, *, conditional: bool = True, accept: str | None = None,
              validators: Validators | None = None) -> FetchResult:
        """Polite GET within this source's settings and hosts. `validators` (normally read
        from http_cache) may be given when already known."""
        if validators is None and conditional:
            self._before_read()
        return self.fetcher.fetch(url, config=self.config, allowed_hosts=self.allowed_hosts,
                                  conditional=conditional, accept=accept, validators=validators,
                                  source_id=self.source_id, run_id=self.run_id)

    def fetch_many(self, urls: Iterable[str], **kw: Any) -> Iterator[tuple[str, FetchResult | FetchError]]:
        """Fetch concurrently within the limits; yield (url, result or FetchError) as they complete.

        At most twice the worker count is in flight or waiting, so a long list never holds
        all its bodies in memory. Only FetchError is yielded; other exceptions propagate.
        """
        urls = list(urls)
        workers = max(1, min(self.config.max_connections, len(urls) or 1))
        bar = Progress(len(urls), self.source.name, enabled=self._progress)
        todo = iter(urls)
        pending: dict[Future[FetchResult], str] = {}
        if kw.get("conditional", True):
            self._before_read()
            known = self.fetcher.validators_many(urls, self.source_id)
        else:
            known = {}
        _ = self.source_id  # look it up once, not in every worker

        # Completed futures arrive on a queue: wait(FIRST_COMPLETED) over all pending futures
        # costs a waiter on each of them per completion.
        done: queue.SimpleQueue[Future[FetchResult]] = queue.SimpleQueue()

        def submit(pool: ThreadPoolExecutor) -> None:
            for url in todo:
                fut = pool.submit(self.fetch, url, validators=known.get(url, Validators()), **kw)
                pending[fut] = url
                fut.add_done_callback(done.put)
                if len(pending) >= 2 * workers:
                    return

        with bar, ThreadPoolExecutor(workers, thread_name_prefix=f"fetch-{self.source.name}") as pool:
            submit(pool)
            while pending:
                fut = done.get()
                url = pending.pop(fut)
                try:
                    item: FetchResult | FetchError = fut.result()
                except FetchError as exc:
                    item = exc
                bar.advance(error=isinstance(item, FetchError))
                yield url, item
                submit(pool)

    def document(self, url: str, *, kind: str, key: str | None = None, title: str | None = None,
                 metadata: dict | None = None, linked_from: str | None = None,
                 result: FetchResult | None = None, conditional: bool = True) -> Document:
        """Fetch `url` (unless `result` is given) and wrap it as a Document."""
        res = result if result is not None else self.fetch(url, conditional=conditional)
        meta = dict(metadata or {})
        meta["http"] = {
            "url": res.url, "status": res.status, "final_url": res.final_url, "etag": res.etag,
            "last_modified": res.last_modified, "media_type": res.media_type,
            "encoding_source": res.encoding_source,
        }
        return Document(source=self.source.name, key=key or url, url=url, kind=kind,
                        fetched_at=self.now, snapshot=res.snapshot, text=res.text,
                        encoding=res.encoding, title=title, unchanged=res.unchanged,
                        metadata=meta, linked_from=linked_from)

    def json(self, url: str, *, conditional: bool = False) -> Any:
        """Fetch and parse JSON; ParseError naming the URL when it is not JSON."""
        res = self.fetch(url, conditional=conditional, accept="application/json")
        if res.content is None:
            raise ParseError(url, "no body (304 Not Modified)")
        try:
            return jsonlib.loads(res.text if res.text is not None else res.content)
        except ValueError as exc:
            raise ParseError(url, f"not valid JSON: {exc}") from None

    # ------------------------------------------------------------------ what the database knows

    @property
    def source_id(self) -> int | None:
        if not self._source_id_known and self.engine is not None:
            with self.engine.connect() as conn:
                self._source_id = conn.execute(
                    select(SourceRow.id).where(SourceRow.name == self.source.name)).scalar()
            self._source_id_known = True  # the pipeline creates the row before the context
        return self._source_id

    def is_stored(self, key: str) -> bool:
        """A document with this key exists for this source."""
        self._before_read()
        if self.engine is None:
            return False
        with self.engine.connect() as conn:
            return conn.execute(
                select(DocumentRow.id).join(SourceRow, SourceRow.id == DocumentRow.source_id)
                .where(SourceRow.name == self.source.name, DocumentRow.key == key)).first() is not None

    def stored_keys(self, kind: str | None = None) -> list[str]:
        """Keys of this source's documents that are not marked removed (for 'removed' detection)."""
        self._before_read()
        if self.engine is None:
            return []
        q = (select(DocumentRow.key).join(SourceRow, SourceRow.id == DocumentRow.source_id)
             .where(SourceRow.name == self.source.name, DocumentRow.removed_at.is_(None)))
        if kind is not None:
            q = q.where(DocumentRow.kind == kind)
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(DocumentRow.key)).scalars())

    def stored_metadata(self, key: str) -> dict | None:
        """Metadata of the latest stored version of the document with this key."""
        self._before_read()
        if self.engine is None:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(DocumentVersion.doc_metadata)
                .join(DocumentRow, DocumentRow.id == DocumentVersion.document_id)
                .join(SourceRow, SourceRow.id == DocumentRow.source_id)
                .where(SourceRow.name == self.source.name, DocumentRow.key == key)
                .order_by(DocumentVersion.version.desc()).limit(1)).first()
        return None if row is None else (row[0] or {})

    def stored_metadata_map(self, kind: str | None = None) -> dict[str, dict]:
        """{key: metadata of the latest version} of this source's documents not marked removed,
        in one query (a watcher of thousands of URLs must not ask once per URL)."""
        self._before_read()
        if self.engine is None:
            return {}
        latest = (select(DocumentVersion.document_id, func.max(DocumentVersion.version).label("v"))
                  .group_by(DocumentVersion.document_id).subquery())
        q = (select(DocumentRow.key, DocumentVersion.doc_metadata)
             .join(SourceRow, SourceRow.id == DocumentRow.source_id)
             .join(latest, latest.c.document_id == DocumentRow.id)
             .join(DocumentVersion, (DocumentVersion.document_id == DocumentRow.id)
                   & (DocumentVersion.version == latest.c.v))
             .where(SourceRow.name == self.source.name, DocumentRow.removed_at.is_(None)))
        if kind is not None:
            q = q.where(DocumentRow.kind == kind)
        with self.engine.connect() as conn:
            return {key: meta or {} for key, meta in conn.execute(q)}

    def _before_read(self) -> None:
        if self.before_read is not None:
            self.before_read()

    # ------------------------------------------------------------------ isolation and issues

    @contextmanager
    def item(self, label: str) -> Iterator[None]:
        """Run one URL's work: on error log it, record an Issue and carry on with the next."""
        try:
            yield
        except FetchError as exc:
            self.issue(f"fetch failed: {exc.reason} (attempts: {exc.attempts})", url=exc.url or label)
        except RegwatchError as exc:
            self.issue(str(exc), url=label)
        except Exception as exc:  # a scraper bug must not stop the other URLs
            self.log.exception("unexpected error at %s", label)
            self.issue(f"unexpected error: {type(exc).__name__}: {exc}", url=label)

    def issue(self, message: str, *, url: str | None = None, level: str = "error") -> None:
        message = without_url(message, url)
        self.issues.append(Issue(url, message, level))
        self.log.log(logging.ERROR if level == "error" else logging.WARNING, "%s%s",
                     f"{url}: " if url else "", message)


def save_validators(session: Session, url: str, etag: str | None, last_modified: str | None,
                    sha256: str | None, now: datetime, *, source_id: int | None = None) -> None:
    """Remember a URL's validators for a source; call inside the transaction that stores its version."""
    save_validators_many(session, {url: (etag, last_modified, sha256, now)}, source_id=source_id)


def save_validators_many(session: Session, items: dict[str, tuple], *,
                         source_id: int | None = None) -> None:
    """`save_validators` for many URLs: {url: (etag, last_modified, sha256, checked_at)}, with
    the existing rows read in a few queries rather than one per URL."""
    sid = source_id or 0
    urls = list(items)
    rows: dict[str, HttpCache] = {}
    for i in range(0, len(urls), 500):
        rows.update((r.url, r) for r in session.scalars(
            select(HttpCache).where(HttpCache.source_id == sid, HttpCache.url.in_(urls[i:i + 500]))))
    for url, (etag, last_modified, sha256, checked_at) in items.items():
        row = rows.get(url)
        if row is None:
            session.add(HttpCache(source_id=sid, url=url, etag=etag, last_modified=last_modified,
                                  content_sha256=sha256, checked_at=checked_at))
        else:
            row.etag, row.last_modified, row.content_sha256 = etag, last_modified, sha256
            row.checked_at = checked_at
    session.flush()


def forget_validators_many(session: Session, urls: Iterable[str], *,
                           source_id: int | None = None) -> None:
    """`forget_validators` for many URLs, in a few statements."""
    urls = sorted(set(urls))
    for i in range(0, len(urls), 500):
        session.execute(delete(HttpCache).where(HttpCache.source_id == (source_id or 0),
                                                HttpCache.url.in_(urls[i:i + 500])))


def forget_validators(session: Session, url: str, *, source_id: int | None = None) -> None:
    """Drop a URL's validators (its next fetch is unconditional and never `unchanged`)."""
    forget_validators_many(session, [url], source_id=source_id)
