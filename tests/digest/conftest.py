"""A real SMTP server (aiosmtpd) on 127.0.0.1 with STARTTLS or implicit TLS and AUTH,
a self-signed certificate made by the system's `openssl`, and a regwatch App per test."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from smtp_support import USERNAME, LoopbackController, authenticator_for, make_cert

from regwatch.app import App
from regwatch.config import load_config

PASSWORD = "s3cret-Pa55word-4-digest"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    raw: bytes


@dataclass
class Handler:
    reject: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg, raw))
        return "250 2.0.0 accepted"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the `cryptography` package is not installed)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    return make_cert(tmp_path_factory.mktemp("tls"))


@dataclass
class SmtpServer:
    handler: Handler
    port: int
    security: str


@pytest.fixture
def smtp_server(tls_files, monkeypatch) -> Iterator[Callable[..., SmtpServer]]:
    """Start servers on demand: smtp_server(security="starttls"|"tls"|"none", reject=...)."""
    cert, key = tls_files
    # The client verifies the server certificate through the default trust store, which
    # honours SSL_CERT_FILE: the production code path, trusting only our test CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("REGWATCH_SMTP_PASSWORD", PASSWORD)
    started: list[Controller] = []

    def start(security: str = "starttls", reject: set[str] | None = None,
              auth: bool = True) -> SmtpServer:
        handler = Handler(reject=set(reject or ()))
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        kwargs: dict = {"hostname": "127.0.0.1", "port": 0, "ready_timeout": 10}
        if security == "starttls":
            kwargs.update(tls_context=server_ctx, require_starttls=True)
        elif security == "tls":
            kwargs.update(ssl_context=server_ctx)
        if auth:
            # aiosmtpd counts only STARTTLS as TLS; implicit TLS is encrypted from the start.
            kwargs.update(authenticator=authenticator_for(PASSWORD), auth_required=True,
                          auth_require_tls=security == "starttls")
        else:
            kwargs.update(auth_require_tls=False)
        controller = LoopbackController(handler, **kwargs)
        controller.start()
        started.append(controller)
        return SmtpServer(handler, controller.port, security)

    yield start
    for c in started:
        c.stop()


@pytest.fixture
def make_app(tmp_path: Path, db_url: str, engine) -> Iterator[Callable[..., App]]:
    """An App on the test database with the given subscribers, SMTP server and digest keys."""
    apps: list[App] = []

    def build(subscribers: list[dict], server: SmtpServer | None = None, *,
              digest: dict | None = None, username: str = USERNAME) -> App:
        lines = [f'data_dir = "{tmp_path / "data"}"', "source = []", "",
                 "[database]", f'url = "{db_url}"', "", "[smtp]", 'host = "127.0.0.1"',
                 f"port = {server.port if server else 9}",
                 f'security = "{server.security if server else "none"}"',
                 f'username = "{username}"', 'sender = "regwatch@example.org"', "timeout_s = 10.0",
                 "", "[digest]"]
        for key, value in (digest or {}).items():
            lines.append(f"{key} = {_toml(value)}")
        for sub in subscribers:
            lines += ["", "[[subscriber]]"] + [f"{k} = {_toml(v)}" for k, v in sub.items()]
        path = tmp_path / f"regwatch-{len(apps)}.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        app = App(load_config(path))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
