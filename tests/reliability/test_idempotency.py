"""Idempotency: runs over unchanged sources add nothing.

The recorded world is replayed step by step (2023–2025), the last week's digest is sent to a
real SMTP server, then three more runs (and digest sends) follow with nothing changed at the
sources. Each adds no document version, snapshot, law revision, provision, control change,
category tag, event, evidence, announcement, press article or digest row — compared row by
row, not just counted — and sends no e-mail. Both with a server that answers conditional
requests with 304 and with one that sends the same bytes again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from regwatch.app import App
from regwatch.db.session import make_engine, upgrade
from regwatch.demo_server import ReplayServer
from regwatch.digest.command import run_digest
from reliability.runner import run_world
from reliability.smtp import smtp_server
from reliability.world import EtagReplayServer, counts, digest_config, load_world, table_states

KNOWLEDGE = ("document_versions", "snapshots", "documents", "instruments", "law_revisions",
             "provisions", "control_changes", "change_categories", "events", "evidence",
             "announcements", "press_articles", "subscribers", "digests", "change_dates",
             "change_facts", "evidence_history", "event_history")
PASSWORD = "idem-Pa55-0000"


@pytest.mark.parametrize("etags", [True, False], ids=["etag-304", "same-bytes"])
def test_three_runs_over_unchanged_sources_add_nothing(db_url, tmp_path, monkeypatch, etags):
    engine = make_engine(db_url)
    upgrade(engine)
    data = tmp_path / "data"
    story = load_world()
    with (EtagReplayServer if etags else ReplayServer)(story) as server, \
            smtp_server(tmp_path, PASSWORD) as (mailbox, port, cert):
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        monkeypatch.setenv("REGWATCH_SMTP_PASSWORD", PASSWORD)
        for step in story.steps:
            server.set_moment(step.at)
            run_world(server.base, db_url, data, step.at)
        last = story.steps[-1].at
        app = App(digest_config(server.base, db_url, data, port))
        try:
            week_after = last + timedelta(days=8)
            outcome = run_digest(app, week_of=last.date(), send=True, now=week_after)
            sent = len(mailbox.messages)
            assert sent == len(app.config.subscribers), outcome.summary()
            before = {t: v for t, v in table_states(engine).items() if t in KNOWLEDGE}
            before_counts = counts(engine, KNOWLEDGE)
            for i in range(3):
                now = week_after + timedelta(hours=i + 1)
                results = run_world(server.base, db_url, data, now)
                assert [r.documents_changed for r in results] == [0] * len(results), \
                    [r.summary() for r in results]
                assert all(r.status in ("ok", "partial") for r in results)
                run_digest(app, week_of=last.date(), send=True, now=now)
                assert counts(engine, KNOWLEDGE) == before_counts, f"run {i + 1}"
                after = {t: v for t, v in table_states(engine).items() if t in KNOWLEDGE}
                # documents.last_seen_at moves with each run, by design; everything else stays.
                changed = [t for t in KNOWLEDGE if t != "documents" and after[t] != before[t]]
                assert changed == [], f"run {i + 1} changed {changed}"
                assert len(mailbox.messages) == sent, f"run {i + 1} sent e-mail again"
        finally:
            app.close()
    engine.dispose()
