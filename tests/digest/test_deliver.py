"""Sending against a real SMTP server on 127.0.0.1: TLS, AUTH, exactly-once, resume, retry."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text

from regwatch.db.tables import DigestLog, Subscriber
from regwatch.digest.command import run_digest
from regwatch.errors import ConfigError, UsageError

from .conftest import PASSWORD, USERNAME
from .history import add_change, add_event, add_failing_source

WEEK = date(2024, 9, 2)  # week of 2024-09-02 09:00 JST .. 2024-09-09 09:00 JST
AFTER = datetime(2024, 9, 9, 0, 30, tzinfo=UTC)  # 09:30 JST on the Monday after: week over
A, B, C = "a@example.com", "b@example.com", "c@example.com"


class Crash(BaseException):
    """A process dying mid-batch (not an error the batch may catch)."""


def seed(engine) -> None:
    add_event(engine, "ev-2024", "Four categories added outside the Wassenaar Arrangement",
              observed="2024-04-26T07:00", categories=("quantum-computer",))
    add_change(engine, "c1", observed="2024-09-03T00:00", event="ev-2024",
               categories=("quantum-computer",), effective=date(2024, 10, 1),
               announced=date(2024, 4, 26))
    add_change(engine, "c2", observed="2024-09-05T00:00", event="ev-2024",
               categories=("sem-ic-imaging",), effective=date(2024, 9, 8))
    # Announced long ago but found only this week: reported now, exactly once.
    add_change(engine, "late", observed="2024-09-08T23:59", law_id="324CO0000000378",
               announced=date(2023, 5, 23), effective=date(2023, 7, 23), categories=("semiconductor-equipment",))
    # Outside the week: the instant the week ends belongs to the next one.
    add_change(engine, "next", observed="2024-09-09T00:00")
    add_change(engine, "before", observed="2024-09-01T23:59")
    add_change(engine, "first", observed="2024-09-02T00:00")  # the start instant is inside


def subs(*emails: str, **extra) -> list[dict]:
    return [{"email": e, **extra} for e in emails]


def rows(app) -> dict[str, DigestLog]:
    with app.engine.connect() as conn:
        found = conn.execute(select(Subscriber.email, DigestLog.status, DigestLog.attempts,
                                    DigestLog.message_id, DigestLog.last_error,
                                    DigestLog.change_count)
                             .join(Subscriber, Subscriber.id == DigestLog.subscriber_id)).all()
    return {r.email: r for r in found}


# aiosmtpd warns when AUTH is allowed without STARTTLS; with implicit TLS that is fine.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_sends_each_subscriber_once_over_tls_with_auth(security, engine, smtp_server, make_app,
                                                       caplog) -> None:
    caplog.set_level(logging.DEBUG)
    seed(engine)
    server = smtp_server(security)
    app = make_app(subs(A, B) + [{"email": C, "language": "ja", "categories": ["quantum-computer"]}],
                   server, digest={"report_url": "https://reports.example/weekly.html"})
    outcome = run_digest(app, week_of=WEEK, send=True, now=AFTER)
    assert not outcome.failed
    assert sorted(r.status for r in outcome.results) == ["sent"] * 3
    got = server.handler.received
    assert sorted(rcpt for r in got for rcpt in r.rcpt_tos) == [A, B, C]
    assert all(r.mail_from == "regwatch@example.org" for r in got)
    msg_a = server.handler.to(A)[0].message
    assert msg_a["Subject"] == ("regwatch: 4 control-list changes, 1 not yet in force"
                                " — week of 2024-09-02")
    body = msg_a.get_body(("plain",)).get_content()
    assert "https://reports.example/weekly.html#change-late" in body
    assert "#change-next" not in body and "#change-before" not in body
    assert "#change-first" in body
    msg_c = server.handler.to(C)[0].message  # filtered, Japanese
    assert msg_c["Subject"] == "regwatch: 規制リストの変更 1件（うち未施行 1件） — 2024-09-02 の週"
    assert "#change-c1" in msg_c.get_body(("plain",)).get_content()
    assert "#change-c2" not in msg_c.get_body(("plain",)).get_content()
    state = rows(app)
    assert {e: (r.status, r.attempts) for e, r in state.items()} == {
        A: ("sent", 1), B: ("sent", 1), C: ("sent", 1)}
    assert state[A].message_id == msg_a["Message-ID"] and state[C].change_count == 1
    # The password went to the server only: not into logs, the database, or any message.
    assert PASSWORD not in caplog.text
    assert all(PASSWORD.encode() not in r.raw for r in got)
    with app.engine.connect() as conn:
        dump = [conn.execute(text(f"SELECT * FROM {t}")).all() for t in ("digests", "subscribers")]
    assert PASSWORD not in repr(dump)
    # A re-run sends nothing twice.
    again = run_digest(app, week_of=WEEK, send=True, now=AFTER)
    assert [r.status for r in again.results] == ["already_sent"] * 3
    assert len(server.handler.received) == 3
    assert "3 already sent" in again.summary()


def test_wrong_password_fails_every_recipient_without_leaking_it(engine, smtp_server, make_app,
                                                                 monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    server = smtp_server("starttls")
    monkeypatch.setenv("REGWATCH_SMTP_PASSWORD", "not-the-password-xyz")
    app = make_app(subs(A, B), server)
    outcome = run_digest(app, week_of=WEEK, send=True, now=AFTER)
    assert [r.status for r in outcome.failed] == ["failed", "failed"]
    assert "535" in outcome.failed[0].detail
    assert server.handler.received == []
    assert "not-the-password-xyz" not in caplog.text + outcome.summary() + repr(rows(app))


def test_username_without_password_is_a_config_error(engine, smtp_server, make_app,
                                                     monkeypatch) -> None:
    server = smtp_server("starttls")
    monkeypatch.delenv("REGWATCH_SMTP_PASSWORD")
    app = make_app(subs(A), server, username=USERNAME)
    with pytest.raises(ConfigError, match="REGWATCH_SMTP_PASSWORD"):
        run_digest(app, week_of=WEEK, send=True, now=AFTER)


def test_crash_between_two_recipients_resumes_with_the_rest(engine, smtp_server, make_app) -> None:
    seed(engine)
    server = smtp_server("starttls")
    app = make_app(subs(A, B, C), server)

    def crash_after_first(stage: str, email: str) -> None:
        if stage == "recorded" and email == A:
            raise Crash()

    with pytest.raises(Crash):
        run_digest(app, week_of=WEEK, send=True, now=AFTER, checkpoint=crash_after_first)
    assert [r.rcpt_tos for r in server.handler.received] == [[A]]
    outcome = run_digest(app, week_of=WEEK, send=True, now=AFTER)
    assert {r.email: r.status for r in outcome.results} == {
        A: "already_sent", B: "sent", C: "sent"}
    assert sorted(r.rcpt_tos[0] for r in server.handler.received) == [A, B, C]


def test_crash_after_acceptance_resends_with_the_same_message_id(engine, smtp_server,
                                                                 make_app, caplog) -> None:
    seed(engine)
    server = smtp_server("starttls")
    app = make_app(subs(A, B), server)

    def crash_before_recording(stage: str, email: str) -> None:
        if stage == "accepted" and email == A:
            raise Crash()

    with pytest.raises(Crash):
        run_digest(app, week_of=WEEK, send=True, now=AFTER, checkpoint=crash_before_recording)
    assert rows(app)[A].status == "sending"
    caplog.set_level(logging.WARNING)
    outcome = run_digest(app, week_of=WEEK, send=True,
                         now=datetime(2024, 9, 9, 3, 0, tzinfo=UTC))
    assert {r.email: r.status for r in outcome.results} == {A: "resent", B: "sent"}
    first, second = server.handler.to(A)
    # Never lost; sent twice at worst, and then recognisably the same message.
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert first.message["Date"] != second.message["Date"]
    assert "same Message-ID" in caplog.text
    assert rows(app)[A].attempts == 2 and rows(app)[A].status == "sent"


def test_a_refused_recipient_does_not_stop_the_others_and_is_retried(
        engine, smtp_server, make_app) -> None:
    seed(engine)
    server = smtp_server("starttls", reject={B})
    app = make_app(subs(A, B, C), server, digest={"max_attempts": 2})
    outcome = run_digest(app, week_of=WEEK, send=True, now=AFTER)
    assert {r.email: r.status for r in outcome.results} == {A: "sent", B: "failed", C: "sent"}
    assert [r.email for r in outcome.failed] == [B]
    assert "550" in rows(app)[B].last_error and "failed: b@example.com" in outcome.summary()
    # Still refused: the second and last attempt.
    outcome = run_digest(app, week_of=WEEK, send=True, now=AFTER)
    assert {r.email: r.status for r in outcome.results} == {
        A: "already_sent", B: "failed", C: "already_sent"}
    assert rows(app)[B].attempts == 2
    # Out of attempts: reported, not tried again.
    server.handler.reject.clear()
    outcome = run_digest(app, week_of=WEEK, send=True, now=AFTER)
    assert [(r.email, r.status) for r in outcome.failed] == [(B, "gave_up")]
    assert server.handler.to(B) == []


def test_a_failed_recipient_is_retried_by_next_weeks_run(engine, smtp_server, make_app) -> None:
    seed(engine)
    server = smtp_server("starttls", reject={B})
    app = make_app(subs(A, B), server)
    run_digest(app, week_of=WEEK, send=True, now=AFTER)
    server.handler.reject.clear()
    # A week later, the default run sends the new week and catches up B's missed one.
    outcome = run_digest(app, send=True, now=datetime(2024, 9, 16, 0, 30, tzinfo=UTC))
    assert outcome.period.label == date(2024, 9, 9)
    got = sorted((r.email, r.period.label.isoformat(), r.status) for r in outcome.results)
    assert got == [(A, "2024-09-09", "sent"), (B, "2024-09-02", "sent"), (B, "2024-09-09", "sent")]
    subjects = sorted(r.message["Subject"][-10:] for r in server.handler.to(B))
    assert subjects == ["2024-09-02", "2024-09-09"]
    assert "[week of 2024-09-02]" in outcome.summary()


@pytest.mark.parametrize("policy", ["send", "skip"])
def test_empty_week_policy(policy, engine, smtp_server, make_app) -> None:
    server = smtp_server("starttls")
    app = make_app(subs(A), server, digest={"empty_week": policy})
    outcome = run_digest(app, week_of=WEEK, send=True, now=AFTER)
    if policy == "send":
        (got,) = server.handler.received
        assert got.message["Subject"] == "regwatch: no control-list changes — week of 2024-09-02"
        assert rows(app)[A].status == "sent"
    else:
        assert server.handler.received == []
        assert [r.status for r in outcome.results] == ["skipped"]
        assert rows(app)[A].status == "skipped"  # recorded, never silent
        assert "skipped: a@example.com (empty week)" in outcome.summary()
        again = run_digest(app, week_of=WEEK, send=True, now=AFTER)
        assert [r.status for r in again.results] == ["already_skipped"]


def test_source_problems_make_a_week_worth_sending(engine, smtp_server, make_app) -> None:
    add_failing_source(engine, "meti-press-en", 3, error="HTTP 503 from www.meti.go.jp")
    server = smtp_server("starttls")
    app = make_app(subs(A), server, digest={"empty_week": "skip"})
    run_digest(app, week_of=WEEK, send=True, now=AFTER)
    (got,) = server.handler.received
    text_part = got.message.get_body(("plain",)).get_content()
    assert "meti-press-en: failing (3 in a row)" in text_part
    assert "HTTP 503" in text_part
    # Failed fetches are an outage, not a parser that found nothing.
    assert "parser may be broken" not in text_part


def test_announcement_without_change_appears_in_its_week(engine, smtp_server, make_app) -> None:
    add_event(engine, "hbm", "Japan weighs export controls on HBM", observed="2024-09-04T03:00",
              status="reported_unofficial", categories=("hbm",),
              sources=(("https://news.example/hbm", "News Example"),))
    server = smtp_server("starttls")
    app = make_app(subs(A) + [{"email": B, "categories": ["quantum-computer"]}], server,
                   digest={"empty_week": "skip"})
    outcome = run_digest(app, week_of=WEEK, send=True, now=AFTER)
    assert {r.email: r.status for r in outcome.results} == {A: "sent", B: "skipped"}
    body = server.handler.to(A)[0].message.get_body(("plain",)).get_content()
    assert "Japan weighs export controls on HBM" in body and "https://news.example/hbm" in body


def test_an_unfinished_week_is_not_sent(engine, smtp_server, make_app) -> None:
    server = smtp_server("starttls")
    app = make_app(subs(A), server)
    with pytest.raises(UsageError, match="has not ended"):
        run_digest(app, week_of=WEEK, send=True, now=datetime(2024, 9, 8, tzinfo=UTC))
    assert server.handler.received == []


def test_dry_run_writes_eml_files_and_touches_no_log(engine, make_app, tmp_path) -> None:
    seed(engine)
    app = make_app(subs(A) + [{"email": B, "language": "ja"}])
    out = tmp_path / "out"
    outcome = run_digest(app, week_of=WEEK, dry_run_dir=out, now=AFTER)
    files = sorted(out.glob("*.eml"))
    assert [p.name for p in files] == ["digest-2024-09-02-01-a@example.com.eml",
                                       "digest-2024-09-02-02-b@example.com.eml"]
    import email
    import email.policy

    msg = email.message_from_bytes(files[1].read_bytes(), policy=email.policy.default)
    assert msg["Subject"].startswith("regwatch: 規制リストの変更 4件")
    assert [r.status for r in outcome.results] == ["written", "written"]
    with app.engine.connect() as conn:
        assert conn.execute(select(DigestLog)).all() == []
        assert conn.execute(select(Subscriber)).all() == []


def test_cli_digest(engine, make_app, tmp_path, monkeypatch) -> None:
    from regwatch.cli import main

    seed(engine)
    app = make_app(subs(A))
    config_path = sorted(tmp_path.glob("regwatch-*.toml"))[0]
    out = tmp_path / "cli-out"
    assert main(["--config", str(config_path), "digest", "--week-of", "2024-09-04",
                 "--dry-run", str(out)]) == 0
    assert len(list(out.glob("*.eml"))) == 1
    assert main(["--config", str(config_path), "digest", "--week-of", "2024-09-04"]) == 2
    assert main(["--config", str(config_path), "digest", "--week-of", "2024-09-04", "--send",
                 "--dry-run", str(out)]) == 2
    app.close()


def test_two_sending_runs_cannot_overlap(engine, smtp_server, make_app) -> None:
    from regwatch.errors import LockHeld
    from regwatch.locks import acquire

    server = smtp_server("starttls")
    app = make_app(subs(A), server)
    assert acquire(app.engine, "digest", "another-run", 60)
    with pytest.raises(LockHeld):
        run_digest(app, week_of=WEEK, send=True, now=AFTER)
    assert server.handler.received == []


def test_summary_reads_well(engine, smtp_server, make_app) -> None:
    seed(engine)
    server = smtp_server("starttls", reject={B})
    app = make_app(subs(A, B), server)
    summary = run_digest(app, week_of=WEEK, send=True, now=AFTER).summary()
    lines = summary.splitlines()
    assert lines[0] == ("digest send, week of 2024-09-02 (2024-09-02 09:00 – 2024-09-09 09:00 JST):"
                        " 1 failed, 1 sent")
    assert lines[1].startswith("  failed: b@example.com (attempt 1): recipient refused: "
                               "b@example.com: 550 5.1.1 mailbox unavailable")


def test_a_sent_digest_is_rebuilt_by_a_replay_at_its_date(engine, smtp_server, make_app,
                                                          tmp_path) -> None:
    """A digest is built as known at its Date header's moment: replayed at that moment it
    comes back the same, though a date it reported was postponed afterwards, and a change's
    regime basis and event moved."""
    import email
    import email.policy
    from email.utils import parsedate_to_datetime

    from regwatch.db.session import transaction
    from regwatch.db.tables import ControlChange, DocumentRow, DocumentVersion, SourceRow
    from regwatch.derive import date_history

    seed(engine)
    server = smtp_server("starttls")
    app = make_app(subs(A), server)
    assert not run_digest(app, week_of=WEEK, send=True, now=AFTER).failed
    sent = server.handler.to(A)[0]
    later = datetime(2024, 9, 10, tzinfo=UTC)  # a run after the digest learnt c1 is postponed
    with transaction(engine) as s:
        s.add(SourceRow(id=1, name="meti", scraper="meti_press", created_at=later))
        s.flush()
        s.add(DocumentRow(id=1, source_id=1, key="n", url="https://www.meti.go.jp/n.html",
                          kind="meti_press", first_seen_at=later, last_seen_at=later))
        s.flush()
        s.add(DocumentVersion(id=1, document_id=1, version=1, content_sha256="n",
                              observed_at=later, change_type="added"))
        s.flush()
        c1 = s.get(ControlChange, "c1")
        c1.effective_on = date(2024, 12, 1)
        c1.regime, c1.outside_wassenaar = "wassenaar", False
        s.get(ControlChange, "c2").event_id = None
        s.flush()
        date_history.record(s)
    moment = parsedate_to_datetime(sent.message["Date"])
    outcome = run_digest(app, week_of=WEEK, dry_run_dir=tmp_path, as_known_at=moment)
    [replay] = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in outcome.written]
    for kind in ("plain", "html"):
        assert replay.get_body((kind,)).get_content() == sent.message.get_body((kind,)).get_content()
    assert replay["Subject"] == sent.message["Subject"] and replay["Date"] == sent.message["Date"]
    assert "Effective: 2024-10-01" in replay.get_body(("plain",)).get_content()
