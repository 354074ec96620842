"""The meti_anpo scraper (security export control "what's new") against a local HTTP server."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fetch.server import LocalServer, Reply

from regwatch.config import FetchConfig, SourceConfig
from regwatch.errors import ParserHealthError
from regwatch.fetch.context import FetchContext
from regwatch.fetch.http import Fetcher
from regwatch.fetch.snapshots import SnapshotStore
from regwatch.normalise.meti_index import parse_anpo_news
from regwatch.registry import build_scraper, discover

FIX = Path(__file__).parents[1] / "fixtures" / "meti_anpo"
ORIGIN = b"https://www.meti.go.jp"
NOW = datetime(2024, 7, 9, 0, 0, tzinfo=UTC)
FAST = dataclasses.replace(FetchConfig(), user_agent="regwatch-test/1.0", min_interval_s=0.0, timeout_s=2.0,
                           connect_timeout_s=1.0, retries=0, backoff_s=0.01)
HTML = {"Content-Type": "text/html"}
PDF = {"Content-Type": "application/pdf"}


@pytest.fixture
def srv():
    with LocalServer() as s:
        for name in ("law05.html", "law09.html"):
            s.route(f"/policy/anpo/{name}", Reply(body=(FIX / name).read_bytes(), headers=HTML))
        for path in ("/policy/anpo/20240201_1.pdf", "/policy/anpo/law_document/shinkyu/20230723_shinkyu.pdf",
                     "/policy/anpo/law_document/shinkyu/20240908_shinkyu.pdf"):
            s.route(path, Reply(body=b"%PDF-1.4\n%test\n", headers=PDF))
        yield s


def page(srv, name):
    return Reply(body=(FIX / name).read_bytes().replace(ORIGIN, srv.url("").encode()), headers=HTML)


def run(srv, tmp_path, **options):
    source = SourceConfig(name="meti-anpo", scraper="meti_anpo", url=srv.url("/policy/anpo/index.html"),
                          allowed_hosts=["127.0.0.1"], options=options)
    scraper = build_scraper(source, discover())
    fetcher = Fetcher(FAST, None, SnapshotStore(tmp_path / "snap"), sleep=lambda s: None, rand=lambda: 0.5)
    try:
        ctx = FetchContext(fetcher, source, scraper.options, now=NOW)
        return list(scraper.scrape(ctx)), ctx.issues
    finally:
        fetcher.close()


def test_whats_new_page_entries_and_linked_documents(srv, tmp_path):
    srv.route("/policy/anpo/index.html", page(srv, "index_20240708.html"))
    docs, issues = run(srv, tmp_path)
    assert issues == []
    top = docs[0]
    assert top.kind == "page" and top.url.endswith("/policy/anpo/index.html")
    assert top.title == "安全保障貿易管理（METI/経済産業省）"  # named in reports, not blank
    # the watched text is the news section only: one line per dated entry, every date form read
    assert top.text.splitlines()[0] == "2024-07-08 量子コンピュータ等を輸出管理の対象に追加する省令改正を行いました（新旧対照表（PDF））"
    assert [e["listed_date"] for e in top.metadata["entries"]] == [
        "2024-07-08", "2024-04-26", "2024-02-01", "2023-07-23", "2019-07-01", "2019-04-26"]
    assert "安全保障貿易管理（Security Export Control）" not in top.text  # lead text and menus are not watched
    pdfs = sorted(d.url.rsplit("/", 1)[1] for d in docs if d.kind == "pdf")
    assert pdfs == ["20230723_shinkyu.pdf", "20240201_1.pdf", "20240908_shinkyu.pdf"]
    assert all(d.linked_from == top.url for d in docs[1:])
    pages = {d.url.rsplit("/", 1)[1]: d for d in docs[1:] if d.kind == "page"}
    assert set(pages) == {"law05.html", "law09.html"}  # press releases are left to meti_press
    assert "外国ユーザーリストは" in pages["law05.html"].text and "法令・制度の概要" not in pages["law05.html"].text
    assert not srv.requests("/press/2024/07/20240708002/20240708002.html")


def test_a_new_entry_changes_the_watched_text_but_not_the_rest(srv, tmp_path):
    srv.route("/policy/anpo/index.html", page(srv, "index_20240426.html"))
    before = run(srv, tmp_path, follow_pages=False, fetch_pdfs=False)[0][0].text
    srv.route("/policy/anpo/index.html", page(srv, "index_20240708.html"))
    after = run(srv, tmp_path, follow_pages=False, fetch_pdfs=False)[0][0].text
    assert after.splitlines()[1:] == before.splitlines()
    assert after.splitlines()[0].startswith("2024-07-08 ")


def test_layout_change_is_an_issue_and_no_page_document(srv, tmp_path):
    srv.route("/policy/anpo/index.html", page(srv, "index_layout_changed.html"))
    docs, issues = run(srv, tmp_path)
    assert docs == []  # never an empty "what's new" that would read as every entry removed
    assert len(issues) == 1 and "layout changed" in issues[0].message


def test_selector_option_and_parser_health():
    html = (FIX / "index_20240708.html").read_text(encoding="utf-8")
    news = parse_anpo_news(html, url="u", selector="div.whatsnew")
    assert news.selector == "div.whatsnew" and len(news.entries) == 6
    with pytest.raises(ParserHealthError):
        parse_anpo_news(html, url="u", selector="div.nothing-here")


def test_page_title_falls_back_to_the_first_heading():
    html = ("<html><body><h1>Security <b>Export</b> Control</h1><h2>新着情報</h2>"
            "<dl><dt>2024年7月8日</dt><dd>省令改正</dd></dl></body></html>")
    news = parse_anpo_news(html, url="https://www.meti.go.jp/policy/anpo/englishpage.html")
    assert news.title == "Security Export Control"
    assert parse_anpo_news(html.replace("<h1>Security <b>Export</b> Control</h1>", ""),
                           url="https://www.meti.go.jp/policy/anpo/").title is None
