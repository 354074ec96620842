"""Hostile and broken input through the whole pipeline: each gets a clear recorded error (or
is read safely), and nothing else is affected.

One run over a local server serving, side by side with good documents: law XML with entity
expansion ("billion laughs") and an external entity, a gzip bomb, bodies past the size cap
(declared and undeclared), invalid UTF-8, a page whose header and <meta> disagree on the
encoding, HTML nested 60,000 deep, and a feed with 5,000 entries. The impossible date
令和99年13月40日 in a METI notice is read as unknown, never guessed.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import logging
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from sqlalchemy import text

from regwatch.app import App
from regwatch.config import SourceConfig, load_config
from regwatch.db.session import make_engine, upgrade
from regwatch.pipeline import run_sources
from reliability.world import integrity_problems

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMO = Path(__file__).resolve().parents[2] / "src" / "regwatch" / "demo_data"
CAP = 1_000_000
NOW = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)
GOOD_LAW = "403M50000400049"


def _law_routes() -> dict[str, tuple]:
    routes = {}
    laws = {GOOD_LAW: (DEMO / "egov" / "403M50000400049_20240908.xml").read_bytes(),
            "BOMB": (FIXTURES / "egov" / "billion_laughs.xml").read_bytes(),
            "XXE": (FIXTURES / "egov" / "xxe.xml").read_bytes()}
    for law_id, xml in laws.items():
        rev = f"{law_id}_20240908_X"
        record = {"law_revision_id": rev, "law_title": f"title {law_id}", "updated": "2024-07-09T10:00:00+09:00",
                  "amendment_enforcement_date": "2024-09-08", "current_revision_status": "CurrentEnforced"}
        routes[f"/api/2/law_revisions/{law_id}"] = (
            200, "application/json", json.dumps({"law_info": {"law_id": law_id}, "revisions": [record]}).encode())
        routes[f"/api/2/law_data/{rev}"] = (
            200, "application/json",
            json.dumps({"law_full_text": base64.b64encode(xml).decode()}).encode())
    return routes


def _feed(n: int) -> bytes:
    items = "".join(f"<item><title>Export item {i}</title><link>http://example.invalid/a/{i}</link>"
                    f"<description>entry {i}</description>"
                    f"<pubDate>Mon, 06 Jan 2025 00:00:{i % 60:02d} GMT</pubDate></item>" for i in range(n))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'
            ).encode()


ROUTES: dict[str, tuple] = {
    "/ok": (200, "text/html; charset=utf-8", "<html><body><p>輸出管理 ok</p></body></html>".encode()),
    "/bomb": (200, "text/html", gzip.compress(b"\0" * (50 * CAP), 9), {"Content-Encoding": "gzip"}),
    "/big": (200, "text/html", b"x" * (2 * CAP)),
    "/big-undeclared": (200, "text/html", b"y" * (2 * CAP), {"_no_length": "1"}),
    "/bad-utf8": (200, "text/html; charset=utf-8",
                  "<html><body><p>輸出貿易管理令の一部改正について ".encode() + b"\xff\xc3(" + "該非判定</p></body></html>".encode()),
    "/mixed": (200, "text/html",
               '<html><head><meta charset="shift_jis"></head><body><p>該非判定</p></body></html>'.encode("cp932")
               + "<p>UTF-8 後半</p>".encode()),
    "/nested": (200, "text/html; charset=utf-8",
                b"<html><body>" + b"<div>" * 60_000 + b"deep" + b"</div>" * 60_000 + b"</body></html>"),
    "/feed.xml": (200, "application/rss+xml", _feed(5000)),
    **_law_routes(),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        if path == "/robots.txt" or path not in ROUTES:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, ctype, body, *extra = ROUTES[path]
        headers = dict(extra[0]) if extra else {}
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if not headers.pop("_no_length", None):
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading at its cap, as it should


@pytest.fixture(scope="module")
def hostile_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _issues(engine, source: str) -> dict[str, str]:
    with engine.connect() as conn:
        raw = conn.execute(text(
            "SELECT r.issues FROM source_runs r JOIN sources s ON s.id = r.source_id "
            "WHERE s.name = :n ORDER BY r.id DESC"), {"n": source}).scalars().first()
    raw = json.loads(raw) if isinstance(raw, str) else raw
    return {(i["url"] or "").rsplit("/", 1)[-1]: i["message"] for i in raw or []}


def _stored(engine, source: str) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT d.url, v.text FROM documents d JOIN sources s ON s.id = d.source_id "
            "JOIN document_versions v ON v.document_id = d.id WHERE s.name = :n"), {"n": source}).all()
    return {url.rsplit("/", 1)[-1]: body for url, body in rows}


def test_hostile_documents_are_recorded_errors_and_harm_nothing_else(db_url, tmp_path, hostile_server,
                                                                      caplog):
    base = hostile_server
    cfg = load_config(None, env={})
    cfg = dataclasses.replace(
        cfg, data_dir=str(tmp_path / "data"), database=dataclasses.replace(cfg.database, url=db_url),
        fetch=dataclasses.replace(cfg.fetch, min_interval_s=0.0, retries=0, max_body_bytes=CAP,
                                  per_host_connections=4, timeout_s=20.0),
        sources=(
            SourceConfig(name="laws", scraper="egov_law", url=f"{base}/api/2",
                         options={"law_ids": [GOOD_LAW, "BOMB", "XXE"]}),
            SourceConfig(name="pages", scraper="page", urls=[
                f"{base}/{p}" for p in ("ok", "bomb", "big", "big-undeclared", "bad-utf8", "mixed", "nested")]),
            SourceConfig(name="big-feed", scraper="press", urls=[f"{base}/feed.xml"],
                         options={"headline_only": True, "outlet": "Big"}),
        ))
    engine = make_engine(db_url)
    upgrade(engine)
    app = App(cfg)
    with caplog.at_level(logging.INFO):
        results = {r.source: r for r in run_sources(app, [], progress=False, now=NOW)}
    app.close()

    # Size caps: clear errors naming the URL and the cap, recorded on the run and in fetch_log.
    issues = _issues(engine, "pages")
    assert "body too large" in issues["bomb"] and "after gzip" in issues["bomb"]
    assert "Content-Length 2000000 > max_body_bytes 1000000" in issues["big"]
    assert "more than max_body_bytes 1000000 on the wire" in issues["big-undeclared"]
    with engine.connect() as conn:
        logged = dict(conn.execute(text("SELECT url, error FROM fetch_log WHERE error IS NOT NULL")).all())
    assert {u.rsplit("/", 1)[-1] for u in logged} >= {"bomb", "big", "big-undeclared"}
    assert results["pages"].status == "partial" and results["pages"].errors == 3

    # Broken encodings and deep nesting are read, not fatal.
    stored = _stored(engine, "pages")
    assert set(stored) == {"ok", "bad-utf8", "mixed", "nested"}
    assert "輸出管理 ok" in stored["ok"]
    assert "輸出貿易管理令" in stored["bad-utf8"] and "\ufffd" in stored["bad-utf8"]  # not mojibake
    assert "該非判定" in stored["mixed"]
    assert stored["nested"] is not None

    # Law XML: the good law is derived; entity tricks are refused, and expand nothing.
    law_issues = _issues(engine, "laws")
    assert results["laws"].status == "partial" and results["laws"].errors == 2, results["laws"]
    for law_id in ("BOMB", "XXE"):
        message = next(m for u, m in law_issues.items() if law_id in u)
        assert "DTD or entity declarations are not allowed in law XML" in message
    with engine.connect() as conn:
        provisions = dict(conn.execute(text(
            "SELECT i.law_id, count(p.id) FROM instruments i LEFT JOIN provisions p "
            "ON p.instrument_id = i.id GROUP BY i.law_id")).all())
        texts = " ".join(conn.execute(text("SELECT text FROM provisions")).scalars())
    assert provisions.get(GOOD_LAW, 0) > 100
    assert not provisions.get("BOMB") and not provisions.get("XXE")
    assert "root:" not in texts and "lollol" not in texts

    # A feed of 5,000 entries: bounded by max_entries, and the cut is said out loud.
    feed_docs = _stored(engine, "big-feed")
    assert len(feed_docs) == 200 + 1  # the newest 200 entries and the feed itself
    assert any("5000 entries" in m and "max_entries" in m for m in _issues(engine, "big-feed").values())

    assert integrity_problems(engine, tmp_path / "data" / "snapshots") == []
    engine.dispose()


def test_reiwa_99_13_40_in_a_notice_is_unknown_not_guessed():
    from regwatch.normalise.meti_press import extract_announcement
    from regwatch.normalise.taxonomy import load_taxonomy

    html = (DEMO / "meti" / "ja_20240708_promulgation.html").read_text(encoding="utf-8")
    broken = html.replace("令和６年９月８日", "令和９９年１３月４０日")
    assert broken != html
    record = extract_announcement(broken, url="https://www.meti.go.jp/press/x.html",
                                  taxonomy=load_taxonomy(None)).to_json()
    assert record.get("effective_on") is None  # unknown, not 2024-09-08 nor a guess
    assert all(s["date"] != "2024-09-08" for s in record.get("stated_dates") or [])
