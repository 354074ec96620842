"""The generic page watcher against a real HTTP server on 127.0.0.1.

Across-run added/changed/removed detection is the pipeline's (tests/pipeline); here: what the
scraper yields — watched text, selector, gone pages, issues, unchanged pages.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fetch.server import LocalServer, Reply

from regwatch.config import FetchConfig, SourceConfig
from regwatch.db.session import transaction
from regwatch.db.tables import DocumentRow, DocumentVersion, SourceRow
from regwatch.errors import ConfigError
from regwatch.fetch.context import FetchContext, save_validators
from regwatch.fetch.http import Fetcher
from regwatch.fetch.snapshots import SnapshotStore
from scrapers.page import Page, watched_text

NOW = datetime(2024, 6, 3, 0, 0, tzinfo=UTC)
CFG = FetchConfig(user_agent="regwatch-test", min_interval_s=0, retries=0, timeout_s=2,
                  max_connections=4, per_host_connections=4)

SJIS_PAGE = """<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">
<title>安全保障貿易管理</title></head><body>
<div id="nav">メニュー　ホーム</div>
<div id="news"><ul>
  <li>2024年6月1日　輸出貿易管理令の一部改正（量子コンピュータ）</li>
  <li>2024年5月20日　パブリックコメントの結果</li>
</ul></div>
<script>var x = "not text";</script>
</body></html>"""


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def fetcher(tmp_path, request):
    def make(engine=None):
        f = Fetcher(CFG, engine, SnapshotStore(tmp_path / "snap"))
        request.node.addfinalizer(f.close)
        return f
    return make


def run(fetcher, server, engine=None, **table):
    source = SourceConfig(name="watch", scraper="page", urls=table.pop("urls"),
                          options=table)
    scraper = Page(source)
    ctx = FetchContext(fetcher, source, scraper.options, now=NOW, engine=engine)
    return list(scraper.scrape(ctx)), ctx


def test_watched_text_lines_selector_and_title():
    html = ("<html><head><title> T  1 </title><style>p{}</style></head><body>"
            "<h1>Head</h1><p>one\n   two</p><table><tr><td>a</td><td>b</td></tr></table>"
            "<!-- hidden --><script>x()</script><div class='c'>sel <b>bold</b></div></body></html>")
    title, text = watched_text(html)
    assert title == "T 1"
    assert text == "Head\none two\na b\nsel bold"
    assert watched_text(html, "div.c")[1] == "sel bold"
    assert watched_text("<body><pre>a  b\n  c</pre><p>x\u3000\u00a0y</p></body>")[1] == "a b\nc\nx y"
    assert watched_text('<?xml version="1.0" encoding="utf-8"?><html><body><p>x</p></body></html>')[1] == "x"


def test_shift_jis_meta_page_selected_and_readable(server, fetcher):
    server.route("/anpo", body=SJIS_PAGE.encode("cp932"), headers={"Content-Type": "text/html"})
    docs, ctx = run(fetcher(), server, urls=[server.url("/anpo")], selector="#news")
    (doc,) = docs
    assert doc.kind == "page" and doc.key == doc.url == server.url("/anpo")
    assert doc.text == "2024年6月1日 輸出貿易管理令の一部改正（量子コンピュータ）\n2024年5月20日 パブリックコメントの結果"
    assert doc.title == "安全保障貿易管理" and doc.encoding == "cp932 (meta)"
    assert doc.metadata["selector"] == "#news" and not doc.unchanged and ctx.issues == []
    assert doc.snapshot.size == len(SJIS_PAGE.encode("cp932"))  # raw bytes, not the text


def test_urls_file_and_gone_and_errors(server, fetcher, tmp_path):
    server.route("/a", body="<p>A</p>", headers={"Content-Type": "text/html; charset=utf-8"})
    server.route("/b", body="<p>B</p>", headers={"Content-Type": "text/html; charset=utf-8"})
    server.route("/gone", status=410)
    server.route("/missing", status=404)
    server.route("/down", status=500)
    server.route("/nosel", body="<p>no news here</p>")
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# watched\n{server.url('/b')}\n\n{server.url('/gone')}\n{server.url('/missing')}\n"
                       f"{server.url('/down')}\n{server.url('/a')}\n", encoding="utf-8")
    docs, ctx = run(fetcher(), server, urls=[server.url("/a")], urls_file=str(listing))
    by_url = {d.url: d for d in docs}
    assert set(by_url) == {server.url(p) for p in ("/a", "/b", "/gone", "/missing")}
    assert by_url[server.url("/a")].text == "A" and len(server.requests("/a")) == 1
    for path, status in (("/gone", 410), ("/missing", 404)):
        gone = by_url[server.url(path)]
        assert gone.metadata["gone"] is True and gone.text is None and gone.snapshot is None
        assert gone.metadata["reason"] == f"HTTP {status}"
    # a server error is an issue, never "removed"
    assert [i.url for i in ctx.issues] == [server.url("/down")] and "HTTP 500" in ctx.issues[0].message

    docs, ctx = run(fetcher(), server, urls=[server.url("/nosel")], selector="#news")
    assert docs == [] and "matched nothing" in ctx.issues[0].message


def test_bad_selector_and_bad_urls_file_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="invalid CSS selector"):
        Page(SourceConfig(name="w", scraper="page", urls=["http://x/"], options={"selector": "##"}))
    bad = tmp_path / "u.txt"
    bad.write_text("ftp://x/\n")
    with pytest.raises(ConfigError, match="not an http"):
        Page(SourceConfig(name="w", scraper="page", urls=["http://x/"], options={"urls_file": str(bad)})).urls()
    with pytest.raises(ConfigError, match="cannot read"):
        Page(SourceConfig(name="w", scraper="page", urls=["http://x/"],
                          options={"urls_file": str(tmp_path / "none.txt")})).urls()


def _store(engine, url, metadata):
    with transaction(engine) as s:
        src = s.query(SourceRow).filter_by(name="watch").first()
        if src is None:
            src = SourceRow(name="watch", scraper="page", created_at=NOW)
            s.add(src)
            s.flush()
        doc = DocumentRow(source_id=src.id, key=url, url=url, kind="page", title=None,
                          first_seen_at=NOW, last_seen_at=NOW, removed_at=None, linked_from=None)
        s.add(doc)
        s.flush()
        s.add(DocumentVersion(document_id=doc.id, version=1, snapshot_sha256=None, content_sha256="0" * 64,
                              observed_at=NOW, title=None, text="old", encoding=None,
                              doc_metadata=metadata, change_type="added"))


def test_unchanged_removed_from_config_and_new_selector(server, fetcher, engine):
    server.route("/same", body="<div id='n'>same</div><p>rest</p>", etag='"s1"')
    server.route("/other", body="<div id='n'>other</div>", etag='"o1"')
    _store(engine, server.url("/same"), {"selector": "#n"})
    _store(engine, server.url("/other"), {"selector": ""})  # stored with another selector
    _store(engine, server.url("/dropped"), {"selector": "#n"})  # no longer configured
    with transaction(engine) as s:
        watch = s.query(SourceRow).filter_by(name="watch").one().id  # validators are per source
        for path, etag in (("/same", '"s1"'), ("/other", '"o1"')):
            save_validators(s, server.url(path), etag, None, None, NOW, source_id=watch)

    docs, ctx = run(fetcher(engine), server, engine, urls=[server.url("/same"), server.url("/other")],
                    selector="#n")
    by_url = {d.url: d for d in docs}
    same = by_url[server.url("/same")]
    assert same.unchanged and same.text is None  # 304: not parsed
    other = by_url[server.url("/other")]
    assert not other.unchanged and other.text == "other"  # selector changed: fetched in full
    assert "if-none-match" not in server.requests("/other")[0].headers
    dropped = by_url[server.url("/dropped")]
    assert dropped.metadata == {"gone": True, "reason": "no longer configured", "selector": "#n"}
    assert server.requests("/dropped") == [] and ctx.issues == []


def test_binary_page_is_an_issue(server, fetcher):
    server.route("/f.pdf", body=b"%PDF-1.4", headers={"Content-Type": "application/pdf"})
    docs, ctx = run(fetcher(), server, urls=[server.url("/f.pdf")])
    assert docs == [] and "not a text page" in ctx.issues[0].message


def test_redirect_off_host_is_an_issue_not_removed(server, fetcher):
    server.route("/moved", Reply(status=301, headers={"Location": "http://elsewhere.example/"}))
    docs, ctx = run(fetcher(), server, urls=[server.url("/moved")])
    assert docs == [] and "allowed_hosts" in ctx.issues[0].message


def test_unchanged_bytes_are_not_parsed(server, fetcher, engine, monkeypatch):
    # A server without validators sends the same bytes again: the page is `unchanged` and its
    # HTML is never parsed (a re-check of thousands of pages costs the requests and no more).
    import scrapers.page as page

    body = "<html><title>t</title><div id='n'>same</div></html>"
    server.route("/same", body=body, headers={"Content-Type": "text/html; charset=utf-8"})
    server.route("/new", body=body.replace("same", "new"), headers={"Content-Type": "text/html"})
    with transaction(engine) as s:
        save_validators(s, server.url("/same"), None, None,
                        __import__("hashlib").sha256(body.encode()).hexdigest(), NOW)
    parsed = []
    real = page.watched_text
    monkeypatch.setattr(page, "watched_text", lambda html, *a, **k: parsed.append(html) or real(html, *a, **k))
    docs, ctx = run(fetcher(engine), server, engine, urls=[server.url("/same"), server.url("/new")],
                    selector="#n")
    by_url = {d.url: d for d in docs}
    assert by_url[server.url("/same")].unchanged
    assert by_url[server.url("/new")].text == "new" and ctx.issues == []
    assert parsed == [body.replace("same", "new")]  # only the page whose bytes changed


def test_discover_can_import_only_the_named_scrapers():
    from regwatch.registry import discover

    assert discover(names={"page"}) == {"page": Page}
    assert discover(names={"no_such_module"}) == {}
    assert {"page", "press", "egov_law"} <= set(discover())
