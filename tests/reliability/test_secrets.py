"""Secrets and escaping, end to end.

The recorded world is replayed with a press report whose headline and body carry payloads for
every output regwatch writes — HTML/JS, Markdown links, e-mail header injection, SQL and shell
— and the digest is sent over STARTTLS with AUTH, once with a wrong password and once with
the right one. Then:

- the SMTP password (right and wrong) appears in no log line, report, digest, database
  table or error message; a database URL's password never reaches the log either;
- every payload reaches the reports and the e-mail (so the test sees it) but stays inert:
  escaped in HTML, no live link in Markdown, no extra header in the e-mail, tables intact,
  no command run.
"""

from __future__ import annotations

import email.policy
import logging
import shutil
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import inspect, text

from regwatch.app import App
from regwatch.db.session import make_engine, upgrade
from regwatch.demo import DEMO_DATA
from regwatch.demo_server import load_story
from regwatch.digest.command import run_digest
from regwatch.report.command import build_report
from reliability.runner import run_world
from reliability.smtp import smtp_server
from reliability.world import EtagReplayServer, digest_config

PASSWORD = "Sm7p-S3cret-q9Zx"
WRONG = "Wr0ng-S3cret-k4Yw"
PWNED = Path("/tmp/regwatch-secrets-test-pwned")
HEADLINE = ('Japan weighs export controls <script>alert("x")</script> '
            "[click](javascript:alert(1)) '; DROP TABLE documents; -- $(touch " + str(PWNED) + ")")
BODY_PAYLOAD = "<img src=x onerror=alert(2)>\r\nBcc: attacker@evil.example\r\n`rm -rf ~`"


def _hostile_world(folder: Path) -> Path:
    root = folder / "demo_data"
    shutil.copytree(DEMO_DATA, root)
    old_title = "Japan Weighs Export Controls on High-Bandwidth Memory Tools: Sources"
    article = root / "press/articles/nippon-2025-03-14-rumoured-hbm-controls.html"
    html = article.read_text(encoding="utf-8")
    from html import escape

    html = html.replace(old_title, escape(HEADLINE), 2)
    html = html.replace("</h1>", "</h1>\n<p>" + escape(BODY_PAYLOAD) + "</p>", 1)
    article.write_text(html, encoding="utf-8")
    feed = root / "press/feeds/nippon-en.atom"
    text_ = feed.read_text(encoding="utf-8")
    feed.write_text(text_.replace(old_title, escape(HEADLINE)), encoding="utf-8")
    return root


def _dump(engine) -> str:
    out = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


def test_secrets_never_leak_and_scraped_payloads_stay_inert(db_url, tmp_path, monkeypatch, caplog):
    PWNED.unlink(missing_ok=True)
    story = load_story(_hostile_world(tmp_path))
    engine = make_engine(db_url)
    upgrade(engine)
    data = tmp_path / "data"
    caplog.set_level(logging.DEBUG)
    with EtagReplayServer(story) as server, smtp_server(tmp_path, PASSWORD) as (box, port, cert):
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        for step in story.steps:
            server.set_moment(step.at)
            run_world(server.base, db_url, data, step.at)
        last = story.steps[-1].at
        app = App(digest_config(server.base, db_url, data, port))
        try:
            after = last + timedelta(days=8)
            monkeypatch.setenv("REGWATCH_SMTP_PASSWORD", WRONG)
            wrong = run_digest(app, week_of=last.date(), send=True, now=after)
            assert box.messages == [], "a wrong password must not send"
            monkeypatch.setenv("REGWATCH_SMTP_PASSWORD", PASSWORD)
            right = run_digest(app, week_of=last.date(), send=True, now=after + timedelta(hours=1))
            assert box.messages, right.summary()
            reports = {fmt: build_report(app, since=date(2022, 1, 1), until=last.date(), by=None,
                                         as_known_at=None, categories=[], instruments=[], fmt=fmt)
                       for fmt in ("html", "md", "json", "csv")}
        finally:
            app.close()

    # --- secrets: nowhere
    messages = [m.decode("utf-8", "replace") for m in box.messages]
    everything = "\n".join([caplog.text, wrong.summary(), right.summary(), _dump(engine),
                            *reports.values(), *messages])
    for secret in (PASSWORD, WRONG):
        assert secret not in everything
    assert "wrong" in wrong.summary().lower() or "auth" in (caplog.text + wrong.summary()).lower()

    # --- payloads: present (so this test sees them) and inert
    assert "Japan weighs export controls" in reports["html"]
    assert '<script>alert("x")</script>' not in reports["html"]
    assert "&lt;script&gt;" in reports["html"]
    assert "<img src=x onerror" not in reports["html"]
    assert "](javascript:" not in reports["md"]
    parsed = [email.message_from_bytes(m, policy=email.policy.default) for m in box.messages]
    for msg in parsed:
        assert msg["Bcc"] is None and "attacker@evil.example" not in str(msg.keys())
        for part in msg.walk():
            if part.get_content_type() == "text/html":
                body = part.get_content()
                assert "<script>alert" not in body and "<img src=x onerror" not in body
    assert any("Japan weighs export controls" in m for m in
               [p.get_content() for msg in parsed for p in msg.walk()
                if p.get_content_type() == "text/plain"]), "the payload never reached the digest"
    with engine.connect() as conn:  # the DROP TABLE stayed text
        assert conn.execute(text("SELECT count(*) FROM documents")).scalar_one() > 0
    assert not PWNED.exists()
    engine.dispose()


def test_database_url_password_is_not_logged(tmp_path, caplog):
    from regwatch.app import setup_logging

    url = "postgresql+psycopg://regwatch:Db-Pa55-zz81@127.0.0.1:1/none"
    caplog.set_level(logging.DEBUG)
    setup_logging("DEBUG", secrets=[])
    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001 — nothing listens on port 1
        logging.getLogger("test").error("cannot connect: %s", exc)
        message = str(exc)
    finally:
        engine.dispose()
    assert "Db-Pa55-zz81" not in caplog.text and "Db-Pa55-zz81" not in message
    assert "Db-Pa55-zz81" not in repr(engine.url) and "***" in repr(engine.url)
