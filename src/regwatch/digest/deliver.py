"""Sending digests by SMTP, exactly once per subscriber and period, recorded in `digests`.

State of one (subscriber, period) row::

    pending ──claim──► sending ──server accepted──► sent
       ▲                  │
       └──── failed ◄─────┘  (attempts, last_error; retried by later runs up to max_attempts)
    pending ──empty week, policy "skip"──► skipped

Every transition is committed on its own before the next step, so a crash at any point
leaves an accurate row. The one unavoidable gap is between the server accepting the
message and `sent` being committed: the row then still says `sending`. We take the safe
side: a later run re-sends a `sending` row rather than risk a silent loss, with the SAME
Message-ID (it is derived from subscriber and period only), so mail systems and clients
that de-duplicate by Message-ID show it once. `sent` and `skipped` rows are never sent again.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from regwatch.config import Config
from regwatch.db.tables import DigestLog
from regwatch.digest.period import Period

log = logging.getLogger(__name__)

_T = DigestLog.__table__
FINAL = ("sent", "skipped")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # starttls | tls | none
    username: str
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0

    @classmethod
    def from_config(cls, config: Config) -> SmtpSettings:
        s = config.smtp
        return cls(s.host, s.port, s.security, s.username, config.smtp_password, s.timeout_s)


class SmtpSender:
    """One SMTP session reused for a batch; reconnects after the server drops it.

    A failure to connect or log in is remembered: the rest of the batch fails fast with the
    same error (and is retried by the next run) instead of waiting out a timeout each.
    """

    def __init__(self, settings: SmtpSettings, ssl_context: ssl.SSLContext | None = None):
        self.settings = settings
        self.ssl_context = ssl_context
        self._smtp: smtplib.SMTP | None = None
        self._connect_error: str | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = self.ssl_context or ssl.create_default_context()
        if s.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s,
                                                  context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
        except BaseException:
            smtp.close()
            raise
        log.debug("connected to %s:%s (%s)", s.host, s.port, s.security)
        return smtp

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        if self._connect_error is not None:
            raise ConnectionError(f"SMTP server unavailable in this run: {self._connect_error}")
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                self._connect_error = describe_error(exc, self.settings.password)
                raise
        try:
            self._smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                smtplib.SMTPDataError):
            raise  # smtplib has reset the transaction; the session is still good
        except (smtplib.SMTPException, OSError):
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


def describe_error(exc: BaseException, secret: str | None = None) -> str:
    """A one-line error for the log and the digest log, never containing the password."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{addr}: {code} {_decode(msg)}" for addr, (code, msg) in
                         exc.recipients.items())
        text = f"recipient refused: {text}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{type(exc).__name__}: {exc.smtp_code} {_decode(exc.smtp_error)}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    if secret:
        text = text.replace(secret, "***")
    return " ".join(text.split())[:1000]


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------- the digest log


@dataclass(frozen=True)
class Composed:
    """One subscriber's digest for one period; message None means: skip (empty week)."""

    message: EmailMessage | None
    change_count: int


@dataclass(frozen=True)
class Job:
    subscriber_id: int
    email: str
    period: Period
    compose: Callable[[], Composed]


@dataclass(frozen=True)
class RecipientResult:
    email: str
    period: Period
    status: str  # sent | resent | skipped | already_sent | already_skipped | failed | gave_up
    attempts: int = 0
    detail: str | None = None

    @property
    def is_failure(self) -> bool:
        return self.status in ("failed", "gave_up")


@dataclass(frozen=True)
class LogRow:
    id: int
    status: str
    attempts: int
    message_id: str | None


def ensure_row(engine: Engine, subscriber_id: int, period: Period) -> LogRow:
    """The row of (subscriber, period), created `pending` if missing."""
    query = select(_T.c.id, _T.c.status, _T.c.attempts, _T.c.message_id).where(
        _T.c.subscriber_id == subscriber_id, _T.c.period_start == period.start)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        try:
            with engine.begin() as conn:
                conn.execute(insert(_T).values(subscriber_id=subscriber_id,
                                               period_start=period.start, period_end=period.end,
                                               status="pending", attempts=0))
        except IntegrityError:  # created meanwhile by another process: read it again
            pass
        with engine.connect() as conn:
            row = conn.execute(query).one()
    return LogRow(*row)


def _transition(engine: Engine, row: LogRow, **values: object) -> bool:
    """Move `row` on, only if nobody else moved it since we read it."""
    with engine.begin() as conn:
        result = conn.execute(update(_T).where(_T.c.id == row.id, _T.c.status == row.status,
                                               _T.c.attempts == row.attempts).values(**values))
    return result.rowcount == 1


def _set(engine: Engine, row_id: int, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(update(_T).where(_T.c.id == row_id).values(**values))


Checkpoint = Callable[[str, str], None]


def deliver(engine: Engine, jobs: Iterable[Job], sender: SmtpSender, *, from_addr: str,
            max_attempts: int, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
            checkpoint: Checkpoint | None = None,
            before_each: Callable[[], None] | None = None) -> list[RecipientResult]:
    """Send each job's digest unless its row says it is done; one recipient's failure
    never stops the others. `checkpoint(stage, email)` is called after "claimed",
    "accepted" and "recorded" (tests inject crashes there); `before_each()` may raise to
    stop the batch (e.g. when the run's lease is lost)."""
    results: list[RecipientResult] = []
    secret = sender.settings.password
    for job in jobs:
        if before_each is not None:
            before_each()
        row = ensure_row(engine, job.subscriber_id, job.period)
        if row.status in FINAL:
            results.append(RecipientResult(job.email, job.period, f"already_{row.status}",
                                           row.attempts))
            continue
        if row.status == "failed" and row.attempts >= max_attempts:
            results.append(RecipientResult(job.email, job.period, "gave_up", row.attempts,
                                           f"no more attempts after {row.attempts}"))
            continue
        resend = row.status == "sending"
        try:
            composed = job.compose()
        except Exception as exc:  # a bug or bad data for this subscriber: record, go on
            log.exception("digest for %s could not be built", job.email)
            error = describe_error(exc, secret)
            _set(engine, row.id, status="failed", attempts=row.attempts + 1, last_error=error)
            results.append(RecipientResult(job.email, job.period, "failed", row.attempts + 1,
                                           error))
            continue
        if composed.message is None:
            _transition(engine, row, status="skipped", change_count=composed.change_count,
                        last_error=None)
            results.append(RecipientResult(job.email, job.period, "skipped", row.attempts,
                                           "empty week"))
            log.info("digest for %s skipped: empty week", job.email)
            continue
        attempts = row.attempts + 1
        if not _transition(engine, row, status="sending", attempts=attempts,
                           message_id=composed.message["Message-ID"],
                           change_count=composed.change_count):
            results.append(RecipientResult(job.email, job.period, "failed", row.attempts,
                                           "digest log row changed by another process"))
            continue
        if checkpoint:
            checkpoint("claimed", job.email)
        if resend:
            log.warning("re-sending the digest for %s with the same Message-ID %s: an "
                        "earlier run stopped before recording it as sent",
                        job.email, composed.message["Message-ID"])
        try:
            sender.send(composed.message, from_addr, job.email)
        except Exception as exc:
            error = describe_error(exc, secret)
            _set(engine, row.id, status="failed", last_error=error)
            log.warning("digest for %s not sent (attempt %d of %d): %s", job.email, attempts,
                        max_attempts, error)
            results.append(RecipientResult(job.email, job.period, "failed", attempts, error))
            continue
        if checkpoint:
            checkpoint("accepted", job.email)
        _set(engine, row.id, status="sent", sent_at=clock(), last_error=None)
        log.info("digest sent to %s (%s)", job.email, composed.message["Message-ID"])
        results.append(RecipientResult(job.email, job.period, "resent" if resend else "sent",
                                       attempts))
        if checkpoint:
            checkpoint("recorded", job.email)
    return results


def unfinished_rows(engine: Engine, before: datetime, max_attempts: int
                    ) -> list[tuple[int, datetime, datetime]]:
    """(subscriber_id, period_start, period_end) of earlier periods still to retry."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(_T.c.subscriber_id, _T.c.period_start, _T.c.period_end)
            .where(_T.c.period_start < before,
                   # A `sending` row may have reached the server: always finish it.
                   or_(_T.c.status == "sending",
                       and_(_T.c.status.in_(("pending", "failed")),
                            _T.c.attempts < max_attempts)))
            .order_by(_T.c.period_start, _T.c.subscriber_id)).all()
    return [tuple(r) for r in rows]
