"""The polite HTTP client every scraper fetches through (one `Fetcher` per run, shared by all sources).

Politeness: the configured User-Agent; robots.txt honoured (fetched once per host per Fetcher;
a missing or failing robots.txt allows everything; Crawl-delay raises the host interval up
to 60 s); per host at most `per_host_connections` requests in flight and request *starts*
at least `min_interval_s` apart; at most `max_connections` in flight overall.

Bounds: `connect_timeout_s`; `timeout_s` is both the read timeout and a deadline for the
whole response of one request; bodies are read raw and inflated here so that both the bytes
on the wire and the inflated bytes are capped at `max_body_bytes` (a gzip bomb is stopped
after max_body_bytes+1 bytes of output). Redirects are followed by hand, at most 10, each hop
checked against the allowed hosts and robots.txt; a loop or a hop to another host fails.

Retries: connection errors, timeouts, truncated bodies, 408, 429 and 5xx are retried
`retries` times with exponential backoff (`backoff_s` · 2^n, jittered ±50%); a Retry-After
(seconds or HTTP date) is honoured, and one longer than `max_retry_after_s` fails at once.
Other 4xx fail without retry. Every failure is a FetchError(url, reason, attempts, status).

fetch_log: one row per logical fetch (the URL asked for, not per retry or redirect hop), with
`attempts` = HTTP requests made for it (0 when refused before any request), the final
status, the summed time on the wire, body bytes, content sha256, the encoding chosen and
the error. robots.txt fetches get rows of their own. Rows are written by a background
thread in short transactions of their own, so they survive a failed run and a locked
database never stalls the fetching; `flush()`/`close()` wait for them.
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import logging
import queue
import random
import threading
import time
import urllib.robotparser
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
from sqlalchemy import Engine, insert, select

from regwatch.config import FetchConfig
from regwatch.db.tables import FetchLog, HttpCache
from regwatch.errors import FetchError
from regwatch.fetch.encoding import decode, is_text_type, media_type_of
from regwatch.fetch.snapshots import SnapshotStore
from regwatch.models import Snapshot

log = logging.getLogger(__name__)

MAX_REDIRECTS = 10
MAX_CRAWL_DELAY_S = 60.0
ROBOTS_MAX_BYTES = 512 * 1024
SHARD_CONNECTIONS = 8  # connections per httpx transport (see Fetcher.__init__)
# The headers httpx.Client sends by default (a request's own headers replace them).
_CLIENT_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive",
                   "User-Agent": f"python-httpx/{httpx.__version__}"}
DRAIN_MAX_BYTES = 64 * 1024  # a 304/redirect body read to keep the connection alive
_REDIRECT_CODES = {301, 302, 303, 307, 308}
_RETRY_CODES = {408, 425, 429}


@dataclass(frozen=True)
class Validators:
    """What http_cache remembers about a URL."""

    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class FetchResult:
    url: str  # as asked for
    final_url: str  # after redirects
    status: int
    headers: dict[str, str]
    content: bytes | None  # decoded body bytes (after Content-Encoding); None on 304
    snapshot: Snapshot | None
    text: str | None  # for text types
    encoding: str | None  # label "cp932 (meta)"
    encoding_source: str | None  # header | bom | meta | xml | detected | fallback (+ "; note")
    not_modified: bool  # the server said 304
    unchanged: bool  # 304, or the same sha256 as the last stored version
    etag: str | None
    last_modified: str | None
    elapsed_ms: float
    attempts: int = 1
    media_type: str | None = None
    content_encoding: str | None = None
    redirects: tuple[str, ...] = ()

    @property
    def sha256(self) -> str | None:
        return self.snapshot.sha256 if self.snapshot else None


@dataclass
class _Fail(Exception):
    reason: str
    retry: bool = False
    status: int | None = None
    retry_after: float | None = None


@dataclass
class _Response:
    status: int
    url: str
    headers: httpx.Headers
    body: bytes | None
    content_encoding: str | None
    gzipped: bytes | None = None  # the wire bytes, when they are one gzip member of `body`


@dataclass
class _Gate:
    """Per-host politeness: a slot semaphore and the earliest time the next request may start."""

    slots: threading.Semaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_start: float = 0.0
    crawl_delay: float = 0.0


@dataclass
class _Robots:
    lock: threading.Lock = field(default_factory=threading.Lock)
    parser: urllib.robotparser.RobotFileParser | None = None
    loaded: bool = False


class Fetcher:
    """Thread-safe polite fetcher. Build one per run and share it by all sources.

    `engine` (optional) is read for http_cache validators and written for fetch_log rows;
    `store` receives every 200 body; `sleep` is used for retry/backoff waits only (tests
    inject a recorder); `transport` is an httpx transport for tests.
    """

    def __init__(self, config: FetchConfig, engine: Engine | None = None,
                 store: SnapshotStore | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None,
                 rand: Callable[[], float] = random.random):
        self.config = config
        self.engine = engine
        self.store = store
        self._sleep = sleep
        self._rand = rand
        pool = max(config.max_connections, 1)
        # Several connection pools of at most SHARD_CONNECTIONS connections each rather than
        # one big pool: httpcore scans its whole pool (quadratically in idle connections)
        # twice per request, which made 32 connections cost more CPU than the requests.
        # Requests go to the httpx transports directly (see _send), with one cookie jar.
        shards = -(-pool // SHARD_CONNECTIONS)
        sizes = [pool // shards + (i < pool % shards) for i in range(shards)]
        # One TLS context for all of them: loading the CA bundle costs ~30 ms each time.
        tls = httpx.create_ssl_context(trust_env=False) if transport is None else None
        self._transports: list[httpx.BaseTransport] = [transport or httpx.HTTPTransport(
            verify=tls, trust_env=False,
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size))
            for size in sizes]
        self._cookies = httpx.Cookies(http.cookiejar.CookieJar())
        # The global limit: one token per connection, naming its pool; taken last-in
        # first-out so that a quiet run keeps reusing the same warm connection.
        self._tokens = [i for i, size in enumerate(sizes) for _ in range(size)]
        self._tokens_cv = threading.Condition()
        self._gates: dict[str, _Gate] = {}
        self._robots: dict[str, _Robots] = {}
        self._lock = threading.Lock()
        self._writer = _LogWriter(engine) if engine is not None else None

    # ------------------------------------------------------------------ public

    def fetch(self, url: str, *, config: FetchConfig | None = None,
              allowed_hosts: frozenset[str] | set[str] | None = None, conditional: bool = True,
              accept: str | None = None, validators: Validators | None = None,
              source_id: int | None = None, run_id: int | None = None) -> FetchResult:
        """GET `url` politely. `allowed_hosts` None means any host; otherwise every hop's
        host (the first included) must be in it. Raises FetchError; logs one fetch_log row."""
        cfg = config or self.config
        started = datetime.now(UTC)
        attempts = 0
        wire_ms = 0.0
        try:
            url = _check_url(url)
            if allowed_hosts is not None and _host(url) not in allowed_hosts:
                raise _Fail(f"host {_host(url)} is not in allowed_hosts")
            if validators is None:
                validators = self.validators(url, source_id) if conditional else Validators()
            headers = {"User-Agent": cfg.user_agent}
            if accept:
                headers["Accept"] = accept
            if conditional:
                if validators.etag:
                    headers["If-None-Match"] = validators.etag
                if validators.last_modified:
                    headers["If-Modified-Since"] = validators.last_modified
            while True:
                attempts += 1
                t0 = time.monotonic()
                try:
                    resp, hops = self._follow(url, cfg, allowed_hosts, headers, run_id, source_id)
                    wire_ms += (time.monotonic() - t0) * 1000
                    break
                except _Fail as fail:
                    wire_ms += (time.monotonic() - t0) * 1000
                    if not fail.retry or attempts > cfg.retries:
                        raise
                    delay = self._backoff(cfg, attempts, fail)
                    log.info("retrying %s in %.1fs after %s (attempt %d)", url, delay, fail.reason, attempts)
                    self._sleep(delay)
            result = self._result(url, resp, hops, validators, wire_ms, attempts)
        except _Fail as fail:
            self._log_row(source_id, run_id, url, started, fail.status, wire_ms, None, None, None,
                          attempts, fail.reason)
            raise FetchError(url, fail.reason, attempts=attempts, status=fail.status) from None
        self._log_row(source_id, run_id, url, started, result.status, wire_ms,
                      len(result.content) if result.content is not None else 0,
                      result.sha256, result.encoding, attempts, None)
        return result

    def validators(self, url: str, source_id: int | None = None) -> Validators:
        """The validators http_cache holds for `url` in this source (empty without a database)."""
        if self.engine is None:
            return Validators()
        with self.engine.connect() as conn:
            row = conn.execute(select(HttpCache.etag, HttpCache.last_modified, HttpCache.content_sha256)
                               .where(HttpCache.source_id == (source_id or 0), HttpCache.url == url)).first()
        return Validators(*row) if row else Validators()

    def validators_many(self, urls: list[str], source_id: int | None = None) -> dict[str, Validators]:
        """Validators of many URLs in a few queries (a watcher of thousands must not ask one by one)."""
        out: dict[str, Validators] = {}
        if self.engine is None:
            return out
        with self.engine.connect() as conn:
            for i in range(0, len(urls), 500):
                rows = conn.execute(select(HttpCache.url, HttpCache.etag, HttpCache.last_modified,
                                           HttpCache.content_sha256)
                                    .where(HttpCache.source_id == (source_id or 0),
                                           HttpCache.url.in_(urls[i:i + 500])))
                out.update({url: Validators(etag, lm, sha) for url, etag, lm, sha in rows})
        return out

    def flush(self) -> None:
        """Wait until every fetch_log row queued so far is written."""
        if self._writer:
            self._writer.flush()

    def close(self) -> None:
        if self._writer:
            self._writer.close()
        for transport in {id(t): t for t in self._transports}.values():
            transport.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one logical attempt

    def _follow(self, url: str, cfg: FetchConfig, allowed: Any, headers: dict[str, str],
                run_id: int | None, source_id: int | None) -> tuple[_Response, tuple[str, ...]]:
        seen = {url}
        hops: list[str] = []
        current = url
        while True:
            if cfg.respect_robots and not self._robots_allow(current, cfg, run_id, source_id):
                raise _Fail("disallowed by robots.txt")
            resp = self._request(current, cfg, headers, cfg.max_body_bytes)
            location = resp.headers.get("location")
            if resp.status not in _REDIRECT_CODES or not location:
                return resp, tuple(hops)
            nxt = urldefrag(urljoin(current, location.strip()))[0]
            if urlsplit(nxt).scheme not in ("http", "https"):
                raise _Fail(f"redirect to {nxt} refused: not http(s)", status=resp.status)
            if nxt in seen:
                raise _Fail(f"redirect loop at {nxt}", status=resp.status)
            if len(hops) >= MAX_REDIRECTS:
                raise _Fail(f"more than {MAX_REDIRECTS} redirects", status=resp.status)
            if allowed is not None and _host(nxt) not in allowed:
                raise _Fail(f"redirect to {nxt} refused: host {_host(nxt)} is not in allowed_hosts",
                            status=resp.status)
            seen.add(nxt)
            hops.append(nxt)
            current = nxt

    def _request(self, url: str, cfg: FetchConfig, headers: dict[str, str], cap: int) -> _Response:
        """One HTTP request within the host gate and the global limit."""
        with self._gate(url, cfg) as transport:  # the host's slot and spacing, and a global slot
            deadline = time.monotonic() + cfg.timeout_s
            timeout = httpx.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s)
            try:
                with self._send(transport, mirrored(url, cfg.mirrors), headers, timeout) as r:
                    status = r.status_code
                    if status in _REDIRECT_CODES or status == 304:
                        _drain(r, deadline)
                        return _Response(status, url, r.headers, None, None)
                    if status in _RETRY_CODES or status >= 500:
                        raise _Fail(f"HTTP {status}", retry=True, status=status,
                                    retry_after=_retry_after(r.headers.get("retry-after")))
                    if status >= 400:
                        raise _Fail(f"HTTP {status}", status=status)
                    coding = (r.headers.get("content-encoding") or "").strip().lower() or None
                    body, gzipped = _read_body(r, coding, cap, deadline)
                    return _Response(status, url, r.headers, body, coding, gzipped)
            except httpx.TimeoutException as exc:
                raise _Fail(f"timeout ({type(exc).__name__})", retry=True) from None
            except httpx.TransportError as exc:
                raise _Fail(f"connection error: {type(exc).__name__}: {exc}", retry=True) from None
            except httpx.InvalidURL as exc:
                raise _Fail(f"invalid URL: {exc}") from None

    @contextmanager
    def _send(self, transport: httpx.BaseTransport, url: str, headers: dict[str, str],
              timeout: httpx.Timeout) -> Iterator[httpx.Response]:
        """What httpx.Client.stream does for us (its default headers, the cookie jar, the
        timeout), without its per-request machinery for features we do not use (auth,
        redirects, hooks, base URLs, proxies): a third of the CPU of a 304."""
        request = httpx.Request("GET", url, headers={**_CLIENT_HEADERS, **headers},
                                extensions={"timeout": timeout.as_dict()})
        if len(self._cookies.jar):  # (building the jar's request adapters costs 0.1 ms)
            self._cookies.set_cookie_header(request)
        response = transport.handle_request(request)
        try:
            response.request = request
            if "set-cookie" in response.headers or "set-cookie2" in response.headers:
                self._cookies.extract_cookies(response)
            yield response
        finally:
            response.close()

    @contextmanager
    def _gate(self, url: str, cfg: FetchConfig) -> Iterator[httpx.BaseTransport]:
        gate = self._gate_for(url, cfg)
        gate.slots.acquire()
        try:
            # The global slot before the host's start time: reserving the time first and then
            # queueing for a global slot let the next request to the host follow too closely.
            with self._global_slot() as transport:
                with gate.lock:
                    now = time.monotonic()
                    start = max(now, gate.next_start)
                    gate.next_start = start + max(cfg.min_interval_s, gate.crawl_delay)
                if start > now:
                    time.sleep(start - now)  # politeness is real time, never the injected sleep
                try:
                    yield transport
                finally:
                    # Count the interval from when this request really ended too: a request
                    # sent late (a busy process) must not let the next one follow it closely.
                    with gate.lock:
                        gate.next_start = max(gate.next_start, time.monotonic()
                                              + max(cfg.min_interval_s, gate.crawl_delay))
        finally:
            gate.slots.release()

    @contextmanager
    def _global_slot(self) -> Iterator[httpx.BaseTransport]:
        with self._tokens_cv:
            while not self._tokens:
                self._tokens_cv.wait()
            token = self._tokens.pop()
        try:
            yield self._transports[token]
        finally:
            with self._tokens_cv:
                self._tokens.append(token)
                self._tokens_cv.notify()

    def _gate_for(self, url: str, cfg: FetchConfig) -> _Gate:
        origin = _origin(url)
        with self._lock:
            gate = self._gates.get(origin)
            if gate is None:
                # The first source to reach a host sets its slot count for the run.
                gate = self._gates[origin] = _Gate(threading.Semaphore(max(cfg.per_host_connections, 1)))
            return gate

    # ------------------------------------------------------------------ robots.txt

    def _robots_allow(self, url: str, cfg: FetchConfig, run_id: int | None, source_id: int | None) -> bool:
        origin = _origin(url)
        with self._lock:
            entry = self._robots.setdefault(origin, _Robots())
        with entry.lock:
            if not entry.loaded:
                entry.parser = self._load_robots(origin, cfg, run_id, source_id)
                entry.loaded = True
                if entry.parser is not None:
                    delay = entry.parser.crawl_delay(cfg.user_agent)
                    if delay:
                        self._gate_for(url, cfg).crawl_delay = min(float(delay), MAX_CRAWL_DELAY_S)
        return entry.parser is None or entry.parser.can_fetch(cfg.user_agent, url)

    def _load_robots(self, origin: str, cfg: FetchConfig, run_id: int | None,
                     source_id: int | None) -> urllib.robotparser.RobotFileParser | None:
        url = origin + "/robots.txt"
        started = datetime.now(UTC)
        t0 = time.monotonic()
        try:
            resp = self._request(url, cfg, {"User-Agent": cfg.user_agent}, ROBOTS_MAX_BYTES)
        except _Fail as fail:
            # 4xx: there are no rules; 5xx or no answer: allow too, rather than stall a source.
            error = None if fail.status and 400 <= fail.status < 500 else \
                f"robots.txt: {fail.reason} (allowing all)"
            self._log_row(source_id, run_id, url, started, fail.status, (time.monotonic() - t0) * 1000,
                          None, None, None, 1, error)
            return None
        ms = (time.monotonic() - t0) * 1000
        body = resp.body or b""
        self._log_row(source_id, run_id, url, started, resp.status, ms, len(body), None, None, 1, None)
        if resp.status != 200:
            return None  # 3xx/4xx: no usable rules, allow all
        parser = urllib.robotparser.RobotFileParser(url)
        parser.parse(body.decode("utf-8", errors="replace").splitlines())
        return parser

    # ------------------------------------------------------------------ helpers

    def _backoff(self, cfg: FetchConfig, attempt: int, fail: _Fail) -> float:
        if fail.retry_after is not None and fail.retry_after > cfg.max_retry_after_s:
            raise _Fail(f"{fail.reason}: Retry-After {fail.retry_after:.0f}s exceeds "
                        f"max_retry_after_s={cfg.max_retry_after_s:g}", status=fail.status)
        delay = cfg.backoff_s * (2 ** (attempt - 1)) * (0.5 + self._rand())
        return max(delay, fail.retry_after or 0.0)

    def _result(self, url: str, resp: _Response, hops: tuple[str, ...], validators: Validators,
                wire_ms: float, attempts: int) -> FetchResult:
        headers = _plain_headers(resp.headers)
        etag = resp.headers.get("etag")
        last_modified = resp.headers.get("last-modified")
        if resp.status == 304:
            return FetchResult(
                url=url, final_url=resp.url, status=304, headers=headers, content=None, snapshot=None,
                text=None, encoding=None, encoding_source=None, not_modified=True, unchanged=True,
                etag=etag or validators.etag, last_modified=last_modified or validators.last_modified,
                elapsed_ms=wire_ms, attempts=attempts, redirects=hops)
        body = resp.body or b""
        content_type = resp.headers.get("content-type")
        media = media_type_of(content_type)
        snapshot = self.store.put(body, media, gzipped=resp.gzipped) if self.store is not None \
            else Snapshot(_sha256(body), len(body), media)
        text = enc = enc_source = None
        if is_text_type(content_type):
            decoded = decode(body, content_type)
            text, enc = decoded.text, decoded.label
            enc_source = decoded.source + (f"; {decoded.note}" if decoded.note else "")
        return FetchResult(
            url=url, final_url=resp.url, status=resp.status, headers=headers, content=body,
            snapshot=snapshot, text=text, encoding=enc, encoding_source=enc_source,
            not_modified=False, unchanged=snapshot.sha256 == validators.sha256,
            etag=etag, last_modified=last_modified, elapsed_ms=wire_ms, attempts=attempts,
            media_type=media, content_encoding=resp.content_encoding, redirects=hops)

    def _log_row(self, source_id: int | None, run_id: int | None, url: str, started: datetime,
                 status: int | None, elapsed_ms: float, nbytes: int | None, sha256: str | None,
                 encoding: str | None, attempts: int, error: str | None) -> None:
        if error:
            log.warning("fetch failed: %s: %s (attempts: %d)", url, error, attempts)
        if self._writer is None:
            return
        self._writer.put({
            "source_id": source_id, "run_id": run_id, "url": url, "requested_at": started,
            "status": status, "elapsed_ms": round(elapsed_ms, 1), "bytes": nbytes,
            "content_sha256": sha256, "encoding": encoding[:40] if encoding else None,
            "attempts": attempts, "error": error,
        })


# ---------------------------------------------------------------------- body reading


def _read_body(r: httpx.Response, coding: str | None, cap: int,
               deadline: float) -> tuple[bytes, bytes | None]:
    """(body, the gzip wire bytes when reusable as the stored snapshot file)."""
    declared = r.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise _Fail(f"body too large: Content-Length {declared} > max_body_bytes {cap}")
    inflater = _Inflater(coding)
    out = bytearray()
    wire: list[bytes] = []
    raw = 0
    for chunk in r.iter_raw():  # as received: a chunk size would buffer past the deadline
        raw += len(chunk)
        if inflater.coding == "gzip":
            wire.append(chunk)
        if raw > cap:
            raise _Fail(f"body too large: more than max_body_bytes {cap} on the wire")
        out += inflater.feed(chunk, cap - len(out))
        if len(out) > cap:
            raise _Fail(f"body too large: more than max_body_bytes {cap} after {coding}")
        if time.monotonic() > deadline:
            raise _Fail("timeout (body not complete within timeout_s)", retry=True)
    inflater.finish()
    reusable = inflater.coding == "gzip" and not inflater.trailing
    return bytes(out), b"".join(wire) if reusable else None


def _drain(r: httpx.Response, deadline: float) -> None:
    """Read the short body of a 304 or a redirect to its end, so the connection goes back to
    the pool: left unread, httpcore closes it and the next request opens a new one (a TCP and
    TLS handshake per 304 on a re-check). A long body is abandoned (that connection closes)."""
    read = 0
    for chunk in r.iter_raw():
        read += len(chunk)
        if read > DRAIN_MAX_BYTES or time.monotonic() > deadline:
            return


class _Inflater:
    """Content-Encoding decoding with a bounded output, so a small bomb cannot fill memory."""

    def __init__(self, coding: str | None):
        self.coding = coding
        self._d: Any = None
        if coding in (None, "identity"):
            self.coding = None
        elif coding in ("gzip", "x-gzip"):
            self.coding = "gzip"
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding != "deflate":
            raise _Fail(f"unsupported Content-Encoding {coding!r}")

    def feed(self, chunk: bytes, room: int) -> bytes:
        if self.coding is None:
            return chunk
        if self._d is None:  # deflate: zlib-wrapped as the RFC says, or raw as some servers send
            zlib_header = len(chunk) >= 2 and chunk[0] & 0x0F == 8 and (chunk[0] << 8 | chunk[1]) % 31 == 0
            self._d = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        try:
            return self._d.decompress(chunk, room + 1)
        except zlib.error as exc:
            raise _Fail(f"corrupt {self.coding} body: {exc}") from None

    def finish(self) -> None:
        if self._d is not None and not self._d.eof:
            raise _Fail(f"truncated {self.coding} body", retry=True)

    @property
    def trailing(self) -> bool:
        """Bytes after the end of the (first) compressed stream: ignored, so not reusable."""
        return bool(self._d is not None and self._d.unused_data)


_FLUSH = object()  # queued by _LogWriter.flush: write what is gathered now


class _LogWriter:
    """Writes fetch_log rows in a background thread, a batch per transaction: whatever is
    queued, gathered for up to GATHER_S (a run fetching hundreds of pages a second otherwise
    commits every row or two on its own). flush() and close() write at once."""

    GATHER_S = 0.25
    MAX_ROWS = 500

    def __init__(self, engine: Engine):
        self.engine = engine
        self.queue: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="fetch-log-writer", daemon=True)
        self.thread.start()

    def put(self, row: dict[str, Any]) -> None:
        self.queue.put(row)

    def flush(self) -> None:
        self.queue.put(_FLUSH)
        self.queue.join()

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            until = time.monotonic() + self.GATHER_S
            while len(batch) < self.MAX_ROWS and isinstance(batch[-1], dict):
                try:
                    batch.append(self.queue.get(timeout=max(0.0, until - time.monotonic())))
                except queue.Empty:
                    break
            rows = [r for r in batch if isinstance(r, dict)]
            try:
                if rows:
                    with self.engine.begin() as conn:
                        conn.execute(insert(FetchLog), rows)
            except Exception:
                log.exception("could not write %d fetch_log rows", len(rows))
            finally:
                for _ in batch:
                    self.queue.task_done()
            if batch[-1] is None:
                return


# ---------------------------------------------------------------------- small pure helpers


def mirrored(url: str, mirrors: dict[str, str]) -> str:
    """Where `url` is fetched from: under its origin's mirror, if one is configured."""
    for origin, base in mirrors.items():
        head = url[:len(origin) + 1].lower()  # scheme and host compare without case
        if head in (origin.lower(), origin.lower() + "/", origin.lower() + "?"):
            return base.rstrip("/") + url[len(origin):]
    return url


def _retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Fail(f"not an http(s) URL: {url!r}")
    return urldefrag(url)[0]


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _plain_headers(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.multi_items():
        key = key.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _sha256(data: bytes) -> str:
    from regwatch.fetch.snapshots import sha256_hex

    return sha256_hex(data)
