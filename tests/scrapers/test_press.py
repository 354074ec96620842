"""The press scraper against a real HTTP server on 127.0.0.1 serving recorded feeds and pages.

The recorded feeds link to the outlets' real hosts; the server serves them with those hosts
rewritten to itself, so the fixtures keep their real shape.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fetch.server import LocalServer, Reply

from regwatch.config import FetchConfig, SourceConfig
from regwatch.fetch.context import FetchContext
from regwatch.fetch.http import Fetcher
from regwatch.fetch.snapshots import SnapshotStore
from regwatch.normalise.press import article_from_document
from regwatch.normalise.taxonomy import load_taxonomy
from regwatch.registry import build_scraper, discover

PRESS = Path(__file__).parents[1] / "fixtures" / "press"
NOW = datetime(2024, 5, 8, 9, 0, tzinfo=UTC)
FAST = dataclasses.replace(FetchConfig(), user_agent="regwatch-test/1.0", min_interval_s=0.0, timeout_s=2.0,
                           connect_timeout_s=1.0, retries=0, backoff_s=0.01)
ORIGINS = {  # real origin in the recorded files → path prefix on the local server
    "https://www.japantimes.co.jp": "/jt",
    "https://asia.nikkei.com": "/nikkei",
    "https://english.kyodonews.net": "/kyodo",
}
JT_PAGES = {
    "/business/2024/04/26/tech/japan-export-controls-quantum-chips/": "japantimes-2024-04-26-quantum-export-controls.html",
    "/news/2023/05/23/business/japan-chip-equipment-export-curbs/": "japantimes-2023-05-23-chip-equipment.html",
    "/business/2024/05/08/companies/toyota-record-profit/": "japantimes-2024-05-10-toyota-earnings.html",
}
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


def local(srv: LocalServer, data: bytes) -> bytes:
    for origin, prefix in ORIGINS.items():
        data = data.replace(origin.encode(), srv.url(prefix).encode())
    return data


@pytest.fixture
def srv():
    with LocalServer() as s:
        s.route("/jt/feed/", body=local(s, (PRESS / "feeds" / "japantimes.rss").read_bytes()), headers=RSS)
        for path, name in JT_PAGES.items():
            s.route("/jt" + path, body=(PRESS / "articles" / name).read_bytes(), headers=HTML)
        s.route("/nikkei/rss/feed/nar", body=local(s, (PRESS / "feeds" / "nikkei-asia.rss").read_bytes()),
                headers=RSS)
        s.route("/kyodo/rss/news.xml", body=local(s, (PRESS / "feeds" / "kyodo-truncated.xml").read_bytes()),
                headers=RSS)
        s.route("/nhk/news/all.rss", Reply(body=(PRESS / "feeds" / "nhk-notfound.html").read_bytes(), headers=HTML))
        yield s


def run(srv: LocalServer, tmp_path: Path, name: str, urls: list[str], **options):
    source = SourceConfig(name=name, scraper="press", urls=urls, allowed_hosts=["127.0.0.1"], options=options)
    scraper = build_scraper(source, discover())
    fetcher = Fetcher(FAST, None, SnapshotStore(tmp_path / "snapshots"), sleep=lambda s: None, rand=lambda: 0.5)
    try:
        ctx = FetchContext(fetcher, source, scraper.options, now=NOW)
        docs = list(scraper.scrape(ctx))
    finally:
        fetcher.close()
    return docs, ctx.issues, fetcher.store


def test_feeds_articles_and_a_malformed_feed(srv, tmp_path):
    urls = [srv.url("/nhk/news/all.rss"), srv.url("/kyodo/rss/news.xml"), srv.url("/jt/feed/")]
    docs, issues, store = run(srv, tmp_path, "press-mixed", urls, outlet="The Japan Times")
    feeds = [d for d in docs if d.kind == "press_feed"]
    assert [d.url for d in feeds] == urls  # every feed stored as fetched, even the broken ones
    # The HTML page is no feed: an issue naming it and why; the others go on.
    nhk = [i for i in issues if i.url == urls[0]]
    assert len(nhk) == 1 and "not an RSS or Atom feed" in nhk[0].message
    # The truncated feed: a warning naming it, then its salvaged entries (whose pages 404 here).
    kyodo = [i for i in issues if i.url == urls[1]]
    assert kyodo[0].level == "warning" and "malformed feed: not well-formed" in kyodo[0].message
    assert any("404" in i.message for i in issues if i.url and "/kyodo/news/" in i.url)
    # The good feed: one press_article per entry, with the page fetched and its metadata.
    jt = {d.url: d for d in docs if d.kind == "press_article" and "/jt/" in d.url}
    assert set(jt) == {srv.url("/jt" + p) for p in JT_PAGES}
    taxonomy = load_taxonomy()
    for doc in jt.values():
        assert doc.snapshot is not None and doc.linked_from == urls[2]
        assert doc.metadata["outlet"] == "The Japan Times" and doc.metadata["headline_only"] is False
        assert doc.metadata["fetched_page"] is True and doc.metadata["feed_published"]
        assert doc.metadata["language"] == "en"
    quantum = jt[srv.url("/jt" + next(iter(JT_PAGES)))]
    art = article_from_document(url=quantum.url, content=store.get(quantum.snapshot.sha256),
                                metadata=quantum.metadata, taxonomy=taxonomy)
    assert art.relevant and art.jurisdiction == "JP" and art.published_on.isoformat() == "2024-04-26"
    assert "Advertisement" not in art.text
    toyota = jt[srv.url("/jt/business/2024/05/08/companies/toyota-record-profit/")]
    assert not article_from_document(url=toyota.url, content=toyota.text, metadata=toyota.metadata,
                                     taxonomy=taxonomy).relevant


def test_headline_only_outlet_is_never_fetched(srv, tmp_path):
    docs, issues, store = run(srv, tmp_path, "press-nikkei-asia", [srv.url("/nikkei/rss/feed/nar")],
                              outlet="Nikkei Asia", headline_only=True)
    assert issues == []
    articles = [d for d in docs if d.kind == "press_article"]
    assert len(articles) == 2
    assert [r.path for r in srv.requests() if r.path.startswith("/nikkei/Business")] == []  # terms respected
    first = articles[0]
    assert first.metadata["headline_only"] is True and "fetched_page" not in first.metadata
    assert first.metadata["feed_title"] == "Japan to expand chip-related export controls to quantum computers"
    assert first.metadata["feed_published"] == "2024-04-25T10:00:00+00:00"
    assert first.snapshot is not None and first.snapshot.media_type == "application/json"
    stored = json.loads(store.get(first.snapshot.sha256))  # the feed's words, re-derivable later
    assert stored["link"] == first.url and stored["summary"].startswith("TOKYO -- Japan will require")
    art = article_from_document(url=first.url, content=None, metadata=first.metadata, taxonomy=load_taxonomy())
    assert art.headline_only and art.relevant and art.claim_values("item_count") == [4]


def test_max_entries_and_no_article_fetch(srv, tmp_path):
    docs, issues, _ = run(srv, tmp_path, "press-jt", [srv.url("/jt/feed/")], max_entries=2, fetch_articles=False)
    articles = [d for d in docs if d.kind == "press_article"]
    assert len(articles) == 2  # the cut is a warning, never silent
    assert [(i.level, i.message) for i in issues] == [
        ("warning", "feed lists 3 entries; only the first 2 are read (max_entries)")]
    assert [r.path for r in srv.requests() if r.path.startswith("/jt/") and r.path != "/jt/feed/"] == []
    assert all(d.metadata["headline_only"] is False and "fetched_page" not in d.metadata for d in articles)


def test_unknown_option_is_a_config_error():
    from regwatch.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        build_scraper(SourceConfig(name="p", scraper="press", urls=["https://a.test/feed"],
                                   options={"headline": True}), discover())
    assert "source.p.headline" in str(err.value)


def _run_and_store(srv, tmp_path, engine, name, urls, **options):
    from sqlalchemy.orm import Session

    from regwatch.store import ensure_snapshot_row, ensure_source, store_document

    source = SourceConfig(name=name, scraper="press", urls=urls, allowed_hosts=["127.0.0.1"], options=options)
    scraper = build_scraper(source, discover())
    fetcher = Fetcher(FAST, engine, SnapshotStore(tmp_path / "snapshots"), sleep=lambda s: None, rand=lambda: 0.5)
    try:
        with Session(engine) as session:
            source_id = ensure_source(session, name, "press", NOW)
            session.commit()
        ctx = FetchContext(fetcher, source, scraper.options, now=NOW)
        docs = list(scraper.scrape(ctx))
        with Session(engine) as session, session.begin():
            for d in docs:
                if d.snapshot is not None:
                    ensure_snapshot_row(session, d.snapshot, fetcher.store.stored_size(d.snapshot.sha256), NOW)
                store_document(session, source_id, d)
    finally:
        fetcher.close()
    return docs


def test_stored_articles_are_not_fetched_again(srv, tmp_path, engine):
    feed = [srv.url("/jt/feed/")]
    first = _run_and_store(srv, tmp_path, engine, "press-jt", feed)
    assert sum(d.kind == "press_article" and not d.unchanged for d in first) == 3
    srv.clear_log()
    again = _run_and_store(srv, tmp_path, engine, "press-jt", feed)
    assert all(d.unchanged for d in again if d.kind == "press_article")
    assert [r.path for r in srv.requests() if r.path != "/jt/feed/" and "robots" not in r.path] == []


def test_headline_only_entry_changes_only_with_the_feed_text(srv, tmp_path, engine):
    feed = [srv.url("/nikkei/rss/feed/nar")]
    first = _run_and_store(srv, tmp_path, engine, "press-nikkei-asia", feed, headline_only=True)
    assert sum(not d.unchanged for d in first if d.kind == "press_article") == 2
    again = _run_and_store(srv, tmp_path, engine, "press-nikkei-asia", feed, headline_only=True)
    assert all(d.unchanged for d in again if d.kind == "press_article")
    edited = local(srv, (PRESS / "feeds" / "nikkei-asia.rss").read_bytes()).replace(
        b"adding four categories", b"adding four new categories")
    srv.route("/nikkei/rss/feed/nar", body=edited, headers=RSS)
    third = _run_and_store(srv, tmp_path, engine, "press-nikkei-asia", feed, headline_only=True)
    assert [d.unchanged for d in third if d.kind == "press_article"] == [False, True]
