"""FetchContext: per-source settings and hosts, documents, JSON, isolation, database reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from regwatch.config import SourceConfig
from regwatch.db.session import transaction
from regwatch.db.tables import DocumentRow, DocumentVersion, FetchLog, HttpCache, SourceRow
from regwatch.errors import FetchError, ParseError, ParserHealthError
from regwatch.fetch.context import FetchContext, save_validators

NOW = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)


def make_ctx(fetcher, server, engine=None, **src):
    source = SourceConfig(name=src.pop("name", "test-src"), scraper="page", url=server.url("/"), **src)
    return FetchContext(fetcher, source, None, run_id=None, now=NOW, engine=engine)


def test_document_wraps_result(server, make_fetcher):
    server.route("/p", body="<title>x</title>本文", headers={"Content-Type": "text/html; charset=utf-8"},
                 etag='"v1"')
    ctx = make_ctx(make_fetcher(), server)
    doc = ctx.document(server.url("/p"), kind="page", title="T", metadata={"selector": ""})
    assert doc.source == "test-src" and doc.key == doc.url == server.url("/p") and doc.kind == "page"
    assert doc.text.endswith("本文") and doc.encoding == "utf-8 (header)" and doc.fetched_at == NOW
    assert doc.metadata["selector"] == "" and doc.metadata["http"]["etag"] == '"v1"'
    assert doc.snapshot.size == len(doc.text.encode()) and not doc.unchanged


def test_allowed_hosts_default_to_configured_urls(server, make_fetcher):
    ctx = make_ctx(make_fetcher(), server)
    assert ctx.allowed_hosts == {"127.0.0.1"}
    server.route("/away", status=302, headers={"Location": "http://localhost:1/x"})
    with pytest.raises(FetchError, match="allowed_hosts"):
        ctx.fetch(server.url("/away"))
    strict = make_ctx(make_fetcher(), server, allowed_hosts=["www.meti.go.jp"])
    with pytest.raises(FetchError, match="not in allowed_hosts"):
        strict.fetch(server.url("/away"))


def test_source_fetch_overrides_apply(server, make_fetcher):
    ctx = make_ctx(make_fetcher(), server, fetch={"user_agent": "per-source-agent", "retries": 0})
    server.route("/a", body="x")
    ctx.fetch(server.url("/a"))
    assert server.requests("/a")[0].headers["user-agent"] == "per-source-agent"
    assert ctx.config.retries == 0


def test_json_and_bad_json(server, make_fetcher):
    server.route("/j", body='{"a": [1, "二"]}', headers={"Content-Type": "application/json"})
    server.route("/bad", body="<html>", headers={"Content-Type": "application/json"})
    ctx = make_ctx(make_fetcher(), server)
    assert ctx.json(server.url("/j")) == {"a": [1, "二"]}
    assert server.requests("/j")[0].headers["accept"] == "application/json"
    with pytest.raises(ParseError) as err:
        ctx.json(server.url("/bad"))
    assert err.value.source == server.url("/bad")


def test_fetch_many_yields_results_and_errors(server, make_fetcher):
    for i in range(30):
        server.route(f"/p{i}", body=f"page {i}")
    server.route("/p7", status=404)
    ctx = make_ctx(make_fetcher(), server)
    got = dict(ctx.fetch_many([server.url(f"/p{i}") for i in range(30)]))
    assert len(got) == 30
    assert isinstance(got[server.url("/p7")], FetchError) and got[server.url("/p7")].status == 404
    assert got[server.url("/p3")].content == b"page 3"


def test_item_records_issue_and_carries_on(server, make_fetcher):
    server.route("/ok", body="fine")
    ctx = make_ctx(make_fetcher(), server)
    results = []
    for path in ["/missing", "/ok"]:
        with ctx.item(server.url(path)):
            results.append(ctx.fetch(server.url(path)).content)
    with ctx.item("boom"):
        raise RuntimeError("scraper bug")
    assert results == [b"fine"]
    assert [i.url for i in ctx.issues] == [server.url("/missing"), "boom"]
    assert "HTTP 404" in ctx.issues[0].message and "RuntimeError" in ctx.issues[1].message


def test_item_names_the_url_once_for_parse_errors(server, make_fetcher):
    ctx = make_ctx(make_fetcher(), server)
    url = server.url("/changed")
    with ctx.item(url):
        raise ParserHealthError(url, "no <h1> title on the page: layout changed?")
    with ctx.item(url):
        raise ParseError("embedded.xml", "not well-formed")
    assert [(i.url, i.message) for i in ctx.issues] == [
        (url, "no <h1> title on the page: layout changed?"),
        (url, "embedded.xml: not well-formed")]


def _seed(engine, name="test-src"):
    with transaction(engine) as s:
        src = SourceRow(name=name, scraper="page", created_at=NOW)
        s.add(src)
        s.flush()
        doc = DocumentRow(source_id=src.id, key="k1", url="http://x/k1", kind="page", title=None,
                          first_seen_at=NOW, last_seen_at=NOW, removed_at=None, linked_from=None)
        gone = DocumentRow(source_id=src.id, key="k0", url="http://x/k0", kind="page", title=None,
                           first_seen_at=NOW, last_seen_at=NOW, removed_at=NOW, linked_from=None)
        s.add_all([doc, gone])
        s.flush()
        for v in (1, 2):
            s.add(DocumentVersion(document_id=doc.id, version=v, snapshot_sha256=None,
                                  content_sha256=str(v) * 64, observed_at=NOW, title=None, text=None,
                                  encoding=None, doc_metadata={"v": v}, change_type="added"))
        return src.id


def test_database_reads(server, make_fetcher, engine):
    source_id = _seed(engine)
    f = make_fetcher(engine)
    ctx = make_ctx(f, server, engine)
    assert ctx.is_stored("k1") and not ctx.is_stored("nope")
    assert ctx.stored_metadata("k1") == {"v": 2} and ctx.stored_metadata("nope") is None
    assert ctx.stored_keys() == ["k1"]
    assert ctx.source_id == source_id
    server.route("/a", body="x")
    ctx.fetch(server.url("/a"))
    f.flush()
    with engine.connect() as conn:
        ids = conn.execute(select(FetchLog.source_id).where(FetchLog.url == server.url("/a"))).scalars().all()
    assert ids == [source_id]


def test_save_validators_upserts(engine):
    with transaction(engine) as s:
        save_validators(s, "http://x/a", '"e1"', None, "a" * 64, NOW)
    with transaction(engine) as s:
        save_validators(s, "http://x/a", '"e2"', "Mon, 01 Jan 2024 00:00:00 GMT", "b" * 64, NOW)
    with engine.connect() as conn:
        rows = conn.execute(select(HttpCache.etag, HttpCache.last_modified, HttpCache.content_sha256)).all()
    assert rows == [('"e2"', "Mon, 01 Jan 2024 00:00:00 GMT", "b" * 64)]


def test_fetch_log_survives_failed_transaction(server, make_fetcher, engine):
    """fetch_log rows are written on their own, whatever happens to the caller's transaction."""
    server.route("/a", body="x")
    f = make_fetcher(engine)
    with pytest.raises(RuntimeError), transaction(engine) as s:
        f.fetch(server.url("/a"))
        s.execute(insert(SourceRow).values(name="rolled-back", scraper="page", created_at=NOW))
        raise RuntimeError("run failed")
    f.flush()
    with engine.connect() as conn:
        assert conn.execute(select(FetchLog.url).where(FetchLog.url == server.url("/a"))).scalar()
        assert conn.execute(select(SourceRow).where(SourceRow.name == "rolled-back")).first() is None


def test_fetch_failures_show_in_source_health(server, make_fetcher, engine):
    from sqlalchemy import text

    from regwatch.db.tables import SourceRun

    source_id = _seed(engine)
    with transaction(engine) as s:
        run = SourceRun(source_id=source_id, started_at=NOW, status="partial", finished_at=NOW)
        s.add(run)
        s.flush()
        run_id = run.id
    server.route("/ok", body="fine")
    server.route("/boom", status=503)
    f = make_fetcher(engine, retries=1)
    source = SourceConfig(name="test-src", scraper="page", url=server.url("/"))
    ctx = FetchContext(f, source, None, run_id=run_id, now=NOW, engine=engine)
    for path in ("/ok", "/boom", "/missing"):
        with ctx.item(path):
            ctx.fetch(server.url(path))
    f.flush()
    with engine.connect() as conn:
        health = conn.execute(text("SELECT last_fetch_errors FROM v_source_health WHERE source = 'test-src'")).scalar()
        errors = conn.execute(select(FetchLog.url, FetchLog.attempts, FetchLog.error)
                              .where(FetchLog.run_id == run_id, FetchLog.error.is_not(None))
                              .order_by(FetchLog.url)).all()
    assert health == 2
    assert errors == [(server.url("/boom"), 2, "HTTP 503"), (server.url("/missing"), 1, "HTTP 404")]
    assert len(ctx.issues) == 2
