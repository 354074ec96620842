"""A real SMTP server (aiosmtpd) on 127.0.0.1 with STARTTLS and AUTH, for the reliability tests.

The certificate is made by the system's `openssl`; the client trusts it through
SSL_CERT_FILE, the production code path.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USERNAME = "digest-user"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class Mailbox:
    password: str
    messages: list[bytes] = field(default_factory=list)
    auth_lines: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(envelope.original_content or envelope.content)
        return "250 2.0.0 accepted"

    def parsed(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(m, policy=email.policy.default) for m in self.messages]


def make_cert(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@contextmanager
def smtp_server(folder: Path, password: str):
    """(Mailbox, port) of a STARTTLS + AUTH server accepting USERNAME / `password`."""
    cert, key = make_cert(folder)
    box = Mailbox(password)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USERNAME.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    controller = _Controller(box, hostname="127.0.0.1", port=0, ready_timeout=10, tls_context=ctx,
                             require_starttls=True, authenticator=authenticator,
                             auth_required=True, auth_require_tls=True)
    controller.start()
    try:
        yield box, controller.port, cert
    finally:
        controller.stop()
