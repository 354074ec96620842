"""A real SMTP server (aiosmtpd) on 127.0.0.1 with STARTTLS and AUTH, for the reliability tests.

The certificate is made by the system's `openssl`; the client trusts it through
SSL_CERT_FILE, the production code path.
"""

from __future__ import annotations

import email
import email.policy
import ssl
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from smtp_support import LoopbackController, authenticator_for, make_cert


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


@contextmanager
def smtp_server(folder: Path, password: str):
    """(Mailbox, port) of a STARTTLS + AUTH server accepting USERNAME / `password`."""
    cert, key = make_cert(folder)
    box = Mailbox(password)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    controller = LoopbackController(box, hostname="127.0.0.1", port=0, ready_timeout=10, tls_context=ctx,
                             require_starttls=True, authenticator=authenticator_for(password),
                             auth_required=True, auth_require_tls=True)
    controller.start()
    try:
        yield box, controller.port, cert
    finally:
        controller.stop()
