"""The meti_press scraper against a real HTTP server on 127.0.0.1 serving the recorded METI pages.

The fixtures link to https://www.meti.go.jp; the server serves them with that origin rewritten
to itself, so the files keep their real shape (tests/fixtures/meti_press/urls.json maps them).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fetch.server import LocalServer, Reply
from sqlalchemy.orm import Session

from regwatch.config import FetchConfig, SourceConfig
from regwatch.errors import ConfigError
from regwatch.fetch.context import FetchContext, save_validators
from regwatch.fetch.http import Fetcher
from regwatch.fetch.snapshots import SnapshotStore
from regwatch.registry import build_scraper, discover

FIX = Path(__file__).parents[1] / "fixtures" / "meti_press"
ORIGIN = "https://www.meti.go.jp"
NOW = datetime(2025, 11, 11, 9, 0, tzinfo=UTC)
FAST = dataclasses.replace(FetchConfig(), user_agent="regwatch-test/1.0", min_interval_s=0.0, timeout_s=2.0,
                           connect_timeout_s=1.0, retries=0, backoff_s=0.01)
PDF = b"%PDF-1.4\n% regwatch test pdf\n"


def serve(srv: LocalServer, *, etag: bool = False) -> None:
    for url, name in json.loads((FIX / "urls.json").read_text(encoding="utf-8")).items():
        data = (FIX / name).read_bytes().replace(ORIGIN.encode(), srv.url("").encode())
        ctype = "application/atom+xml" if name.endswith(".xml") else "text/html"  # charset: from <meta>
        srv.route(url[len(ORIGIN):], Reply(body=data, headers={"Content-Type": ctype},
                                           etag=f'"{name}"' if etag else None))
    for path in ("/press/2023/05/20230523001/20230523001-1.pdf", "/press/2023/05/20230523001/20230523001-2.pdf",
                 "/press/2023/05/20230523001/20230523001-3.pdf", "/press/2024/07/20240708002/20240708002-1.pdf",
                 "/press/2024/07/20240708002/20240708002-2.pdf", "/press/2024/04/20240426001/20240426001-1.pdf",
                 "/press/2024/04/20240426001/20240426001-2.pdf", "/press/2022/03/20230331006/20230331006-1.pdf",
                 "/press/2023/07/20230721003/20230721003-1.pdf"):
        srv.route(path, Reply(body=PDF, headers={"Content-Type": "application/pdf"}, etag='"pdf"' if etag else None))


@pytest.fixture
def srv():
    with LocalServer() as s:
        serve(s)
        yield s


def run(srv, tmp_path, url, engine=None, **options):
    source = SourceConfig(name=f"meti-press-{options.get('language', 'ja')}", scraper="meti_press",
                          url=srv.url(url), allowed_hosts=["127.0.0.1"], options=options)
    scraper = build_scraper(source, discover())
    fetcher = Fetcher(FAST, engine, SnapshotStore(tmp_path / "snapshots"), sleep=lambda s: None, rand=lambda: 0.5)
    try:
        ctx = FetchContext(fetcher, source, scraper.options, now=NOW, engine=engine)
        docs = list(scraper.scrape(ctx))
    finally:
        fetcher.close()
    return docs, ctx.issues


def test_japanese_feed_details_of_relevant_entries_and_their_pdfs(srv, tmp_path):
    docs, issues = run(srv, tmp_path, "/ml_index_release_atom.xml", language="ja")
    kinds = [d.kind for d in docs]
    assert kinds[0] == "meti_index"
    details = {d.url.split("/")[-1]: d for d in docs if d.kind == "meti_press"}
    assert set(details) == {"20251111001.html", "20240709001.html", "20240708002.html", "20240426001.html",
                            "20230721003.html", "20230523001.html", "20230331006.html"}
    # unrelated news is seen in the index but never fetched
    assert not srv.requests("/press/2024/04/20240426002/20240426002.html")
    entries = {e["url"].split("/")[-1]: e for e in docs[0].metadata["entries"]}
    assert entries["20240426002.html"]["fetched"] is False and entries["20230523005.html"]["fetched"] is False
    assert entries["20240708002.html"] == {**entries["20240708002.html"], "listed_date": "2024-07-08",
                                           "fetched": True}
    d = details["20240708002.html"]
    assert d.metadata["listed_date"] == "2024-07-08" and d.linked_from == srv.url("/ml_index_release_atom.xml")
    # Shift_JIS declared only by <meta charset>, and the server's header says nothing
    sjis = details["20230721003.html"]
    assert "先端半導体製造装置に係る改正省令が施行されます" in sjis.text and sjis.encoding.startswith("cp932")
    pdfs = [d for d in docs if d.kind == "pdf"]
    assert {p.url.rsplit("/", 1)[1] for p in pdfs if p.linked_from == d.url} == {"20240708002-1.pdf",
                                                                                "20240708002-2.pdf"}
    assert all(p.snapshot is not None and p.metadata["media_type"] == "application/pdf" for p in pdfs)
    # the page whose layout changed is stored, and reported as unreadable — not as "no news"
    assert details["20240709001.html"].snapshot is not None
    assert [i.url.rsplit("/", 1)[1] for i in issues] == ["20240709001.html"]
    assert "layout changed" in issues[0].message


def test_english_index_and_back_issues(srv, tmp_path):
    srv.route("/english/press/2024/nBackIssue202407.html", Reply(status=404))
    docs, issues = run(srv, tmp_path, "/english/press/index.html", language="en", back_issues=3,
                       details="all")
    index_urls = [d.url for d in docs if d.kind == "meti_index"]
    assert index_urls == [srv.url("/english/press/index.html"), srv.url("/english/press/2024/nBackIssue202404.html")]
    details = {d.url.rsplit("/", 1)[1]: d.metadata for d in docs if d.kind == "meti_press"}
    assert set(details) == {"0708_001.html", "0610_001.html", "0426_001.html", "0426_002.html"}
    assert details["0708_001.html"]["listed_date"] == "2024-07-09"  # English release date
    assert details["0708_001.html"]["japanese_date"] == "2024-07-08"  # and the Japanese one
    assert sorted(i.url.rsplit("/", 1)[1] for i in issues) == ["nBackIssue202406.html", "nBackIssue202407.html"]


def test_max_entries_limits_detail_fetches(srv, tmp_path):
    docs, _ = run(srv, tmp_path, "/ml_index_release_atom.xml", language="ja", max_entries=3, fetch_pdfs=False)
    assert [d.url.rsplit("/", 1)[1] for d in docs if d.kind == "meti_press"] == [
        "20251111001.html", "20240709001.html", "20240708002.html"]
    assert not [d for d in docs if d.kind == "pdf"]


def test_layout_changed_feed_is_an_issue_not_empty(srv, tmp_path):
    srv.route("/ml_index_release_atom.xml", Reply(body=b"<html><body>maintenance</body></html>",
                                                  headers={"Content-Type": "text/html"}))
    docs, issues = run(srv, tmp_path, "/ml_index_release_atom.xml", language="ja")
    assert docs == [] and len(issues) == 1 and "ml_index_release_atom.xml" in issues[0].url


def test_unchanged_details_are_not_refetched_in_full(engine, tmp_path):
    with LocalServer() as s:
        serve(s, etag=True)
        first, _ = run(s, tmp_path, "/ml_index_release_atom.xml", engine=engine, language="ja")
        with Session(engine) as session:  # what the pipeline does when it stores each version
            for d in first:
                save_validators(session, d.url, d.metadata["http"]["etag"], None,
                                d.snapshot.sha256 if d.snapshot else None, NOW)
            session.commit()
        pdf_path = "/press/2024/07/20240708002/20240708002-2.pdf"
        detail_path = "/press/2024/07/20240708002/20240708002.html"
        assert len(s.requests(pdf_path)) == 1
        # The feed answers 304: nothing new is listed, so no detail page is even asked for.
        second, _ = run(s, tmp_path, "/ml_index_release_atom.xml", engine=engine, language="ja")
        assert [(d.kind, d.unchanged) for d in second] == [("meti_index", True)]
        assert len(s.requests(detail_path)) == 1
        # The feed changed (new entry elsewhere): listed detail pages are asked for conditionally,
        # answer 304, come back unchanged, and their PDFs are not fetched again.
        feed = (FIX / "atom.xml").read_bytes().replace(ORIGIN.encode(), s.url("").encode())
        s.route("/ml_index_release_atom.xml", Reply(body=feed.replace(b"</feed>", b"<!-- new --></feed>"),
                                                    headers={"Content-Type": "application/atom+xml"}))
        third, _ = run(s, tmp_path, "/ml_index_release_atom.xml", engine=engine, language="ja")
        assert all(d.unchanged for d in third if d.kind == "meti_press")
        assert not [d for d in third if d.kind == "pdf"]  # PDFs are followed only from new/changed pages
        assert len(s.requests(pdf_path)) == 1
        detail = s.requests(detail_path)
        assert len(detail) == 2 and detail[-1].headers.get("if-none-match") == '"ja_20240708_promulgation.html"'


def test_bad_options_name_the_key(tmp_path):
    src = SourceConfig(name="m", scraper="meti_press", url="https://www.meti.go.jp/x", options={"language": "fr"})
    with pytest.raises(ConfigError, match="language"):
        build_scraper(src, discover())
