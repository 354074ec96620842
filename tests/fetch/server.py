"""A real, scriptable HTTP server on 127.0.0.1 for fetch-layer and scraper tests.

    with LocalServer() as srv:
        srv.route("/a", body="<p>hi</p>", headers={"Content-Type": "text/html"})
        srv.route("/flaky", [Reply(status=503, headers={"Retry-After": "1"}), Reply(body=b"ok")])
        srv.url("/a")            # http://127.0.0.1:<port>/a
        srv.requests("/flaky")   # [Request(path, method, headers, at)]

A route is a Reply or a list of them served in turn (the last repeats) or a callable
(Request -> Reply). Reply can delay, trickle the body slowly, reset the connection, send
fewer bytes than Content-Length, gzip the body, or answer 304 when If-None-Match matches.
Unknown paths get 404. From another module (tests/scrapers): `from fetch.server import LocalServer`.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    trickle: float = 0.0  # seconds between 1 KB pieces of the body
    reset: bool = False  # close the socket with RST instead of answering
    truncate: int | None = None  # send only this many body bytes (Content-Length stays full)
    gzip: bool = False  # Content-Encoding: gzip
    etag: str | None = None  # sent; a matching If-None-Match gets 304
    last_modified: str | None = None
    content_length: bool = True


@dataclass(frozen=True)
class Request:
    path: str
    method: str
    headers: dict[str, str]
    at: float  # time.monotonic() when the request line arrived
    client: str = ""  # the client's host:port, i.e. which TCP connection carried it


Route = Reply | list[Reply] | Callable[[Request], Reply]


class LocalServer:
    def __init__(self, *, tls: tuple[str, str] | None = None) -> None:
        """`tls`: (certificate, key) PEM files to serve https:// instead of http://."""
        self._routes: dict[str, Route] = {}
        self._turns: dict[str, int] = {}
        self._log: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.scheme = "http"
        if tls is not None:
            import ssl

            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*tls)
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --------------------------------------------------------------- API

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def route(self, path: str, reply: Route | None = None, **kw) -> None:
        """Register `path` → Reply (or Reply(**kw)), a list of Replies, or a callable."""
        with self._lock:
            self._routes[path] = reply if reply is not None else Reply(**kw)
            self._turns[path] = 0

    def requests(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self._log if path is None or r.path == path]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # --------------------------------------------------------------- internals

    def _reply_for(self, req: Request) -> Reply:
        with self._lock:
            self._log.append(req)
            route = self._routes.get(req.path)
            if route is None:
                return Reply(status=404, body=b"not found")
            if isinstance(route, list):
                turn = self._turns[req.path]
                self._turns[req.path] = turn + 1
                return route[min(turn, len(route) - 1)]
        if callable(route) and not isinstance(route, Reply):
            return route(req)
        return route

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802
                req = Request(self.path, "GET", {k.lower(): v for k, v in self.headers.items()},
                              time.monotonic(), f"{self.client_address[0]}:{self.client_address[1]}")
                reply = server._reply_for(req)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    # SO_LINGER 0: close() sends RST, the client sees "connection reset".
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                body = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
                headers = dict(reply.headers)
                if reply.etag:
                    headers["ETag"] = reply.etag
                if reply.last_modified:
                    headers["Last-Modified"] = reply.last_modified
                status = reply.status
                not_modified = (
                    (reply.etag and req.headers.get("if-none-match") == reply.etag)
                    or (reply.last_modified and not reply.etag
                        and req.headers.get("if-modified-since") == reply.last_modified))
                if not_modified:
                    status, body = 304, b""
                if reply.gzip and status != 304:
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if reply.content_length and status != 304:
                    self.send_header("Content-Length", str(len(body)))
                if not reply.content_length:
                    self.close_connection = True
                    self.send_header("Connection", "close")
                self.end_headers()
                if status == 304:
                    return
                out = body if reply.truncate is None else body[:reply.truncate]
                try:
                    if reply.trickle:
                        for i in range(0, len(out), 1024):
                            self.wfile.write(out[i:i + 1024])
                            self.wfile.flush()
                            time.sleep(reply.trickle)
                    else:
                        self.wfile.write(out)
                    if reply.truncate is not None:
                        self.wfile.flush()
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler
