"""Per-source runs: documents stored once per content, failures isolated and recorded."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from regwatch.config import Config, FetchConfig, SourceConfig
from regwatch.db.tables import DocumentRow, DocumentVersion, SnapshotRow, SourceRun
from regwatch.fetch.http import Fetcher
from regwatch.fetch.snapshots import SnapshotStore
from regwatch.models import Document
from regwatch.pipeline import run_source
from regwatch.scraper import Scraper

T0 = datetime(2024, 4, 26, 1, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FakeOptions:
    pages: dict = field(default_factory=dict)  # key -> text, or None for gone
    fail: str = ""
    warn: str = ""


class FakeScraper(Scraper):
    """Yields pages from its options without any network: the pipeline is what is tested."""

    kind = "fake"
    Options = FakeOptions

    def scrape(self, ctx):
        if self.options.fail:
            raise RuntimeError(self.options.fail)
        if self.options.warn:
            ctx.issue(self.options.warn, url="http://127.0.0.1/list", level="warning")
        for key, body in self.options.pages.items():
            with ctx.item(key):
                if body == "ERROR":
                    raise ValueError("broken page")
                if body is None:
                    yield Document(self.source.name, key, key, "page", ctx.now, None,
                                   metadata={"gone": True})
                    continue
                snap = ctx.fetcher.store.put(body.encode(), "text/html")
                yield Document(self.source.name, key, key, "page", ctx.now, snap, text=body,
                               title=f"title {key}")


def _source(name: str, **options) -> SourceConfig:
    return SourceConfig(name=name, scraper="fake", url="http://127.0.0.1/", options=options)


@pytest.fixture
def parts(engine, tmp_path):
    store = SnapshotStore(tmp_path / "snapshots")
    fetcher = Fetcher(FetchConfig(), engine, store)
    yield engine, store, fetcher
    fetcher.close()


def _run(parts, source, now):
    engine, store, fetcher = parts
    return run_source(engine, Config(), source, fetcher=fetcher, store=store,
                      kinds={"fake": FakeScraper}, now=now)


def _versions(engine) -> list[tuple[str, int, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(DocumentRow.key, DocumentVersion.version, DocumentVersion.change_type)
            .join(DocumentVersion, DocumentVersion.document_id == DocumentRow.id)
            .order_by(DocumentRow.key, DocumentVersion.version))]


def test_versions_only_when_content_changes(parts) -> None:
    engine = parts[0]
    r1 = _run(parts, _source("s", pages={"a": "one", "b": "two"}), T0)
    assert (r1.status, r1.documents_seen, r1.documents_changed) == ("ok", 2, 2)
    r2 = _run(parts, _source("s", pages={"a": "one", "b": "two"}), T0 + timedelta(days=1))
    assert (r2.documents_seen, r2.documents_changed) == (2, 0)
    r3 = _run(parts, _source("s", pages={"a": "one!", "b": "two"}), T0 + timedelta(days=2))
    assert r3.documents_changed == 1
    assert _versions(engine) == [("a", 1, "added"), ("a", 2, "changed"), ("b", 1, "added")]
    with engine.connect() as conn:
        # the same bytes are indexed once however often they were fetched
        assert conn.execute(select(func.count()).select_from(SnapshotRow)).scalar_one() == 3
        doc = conn.execute(select(DocumentRow).where(DocumentRow.key == "b")).one()
        assert doc.last_seen_at == T0 + timedelta(days=2)


def test_gone_page_is_removed_once_and_can_come_back(parts) -> None:
    engine = parts[0]
    _run(parts, _source("s", pages={"a": "one"}), T0)
    _run(parts, _source("s", pages={"a": None}), T0 + timedelta(days=1))
    _run(parts, _source("s", pages={"a": None}), T0 + timedelta(days=2))
    _run(parts, _source("s", pages={"a": "one"}), T0 + timedelta(days=3))
    assert _versions(engine) == [("a", 1, "added"), ("a", 2, "removed"), ("a", 3, "added")]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT change_type FROM v_document_changes ORDER BY version")).all()
    assert [r[0] for r in rows] == ["added", "removed", "added"]


def test_failures_are_recorded_and_isolated(parts) -> None:
    engine = parts[0]
    partial = _run(parts, _source("p", pages={"a": "x", "b": "ERROR", "c": "z"}), T0)
    assert partial.status == "partial" and partial.documents_seen == 2 and partial.errors == 1
    assert partial.error.startswith("b: ") and "broken page" in partial.error
    failed = _run(parts, _source("f", fail="index page moved"), T0)
    assert failed.status == "failed" and "index page moved" in failed.error
    again = _run(parts, _source("f", fail="index page moved"), T0 + timedelta(hours=1))
    assert again.status == "failed"
    with engine.connect() as conn:
        health = {r.source: r for r in conn.execute(text("SELECT * FROM v_source_health"))}
        runs = conn.execute(select(func.count()).select_from(SourceRun)).scalar_one()
    assert runs == 3
    assert health["f"].consecutive_failures == 2 and health["f"].last_success_at is None
    assert "index page moved" in health["f"].last_error
    assert health["p"].consecutive_failures == 0 and health["p"].last_success_at is not None
    # the partial run's good pages were stored
    assert [k for k, *_ in _versions(engine)] == ["a", "c"]


def test_content_hash_of_pages_is_the_watched_text(parts) -> None:
    engine = parts[0]
    _run(parts, _source("s", pages={"a": "same"}), T0)
    with engine.connect() as conn:
        digest = conn.execute(select(DocumentVersion.content_sha256)).scalar_one()
    assert digest == hashlib.sha256(b"same").hexdigest()


def test_health_flags_a_parser_that_suddenly_finds_nothing(parts) -> None:
    from regwatch.health import source_health

    engine = parts[0]
    for day in range(3):
        _run(parts, _source("s", pages={"a": "one", "b": "two"}), T0 + timedelta(days=day))
    _run(parts, _source("s", pages={}), T0 + timedelta(days=3))
    (health,) = source_health(engine)
    assert health.last_documents_seen == 0 and health.usual_documents_seen == 2
    assert any("parser may be broken" in f for f in health.flags)
    # A failed fetch is not a parser that found nothing.
    _run(parts, _source("s", fail="connection refused"), T0 + timedelta(days=4))
    (health,) = source_health(engine)
    assert health.last_status == "failed"
    assert not any("parser may be broken" in f for f in health.flags)
    assert any("failing" in f for f in health.flags)


def test_a_run_left_running_by_a_crash_is_marked_abandoned(parts) -> None:
    from regwatch.health import source_health

    engine = parts[0]
    _run(parts, _source("s", pages={"a": "one"}), T0)
    with engine.begin() as conn:
        conn.execute(SourceRun.__table__.update().values(status="running"))
    _run(parts, _source("s", pages={"a": "one"}), T0 + timedelta(days=1))
    with engine.connect() as conn:
        runs = conn.execute(select(SourceRun.status, SourceRun.finished_at)
                            .order_by(SourceRun.id)).all()
    assert [status for status, _ in runs] == ["abandoned", "ok"]
    assert runs[0][1] == T0 + timedelta(days=1)  # ended when the next run found it left
    # health as it stood before then: the run was (as far as anyone knew) still running
    [then] = source_health(engine, as_known_at=T0 + timedelta(hours=12))
    assert (then.last_attempt_at, then.last_status, then.consecutive_failures) == (T0, None, 0)


def test_indexing_the_same_snapshot_from_two_transactions(engine) -> None:
    """One PDF linked from two releases, stored by two sources at once: the second insert
    waits for the first and then finds the row, instead of failing the source's run."""
    import threading

    from sqlalchemy.orm import Session

    from regwatch.models import Snapshot
    from regwatch.store import ensure_snapshot_row

    snap = Snapshot("ab" * 32, 10, "application/pdf")
    errors: list[BaseException] = []
    first = Session(engine)
    ensure_snapshot_row(first, snap, 10, T0)
    first.flush()  # the row is written but not committed

    def second() -> None:
        try:
            with Session(engine) as session, session.begin():
                ensure_snapshot_row(session, snap, 10, T0)
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever escaped
            errors.append(exc)

    t = threading.Thread(target=second)
    t.start()
    t.join(0.5)  # the second transaction is now waiting on the first
    first.commit()
    first.close()
    t.join(30)
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SnapshotRow)).scalar_one() == 1


def test_two_sources_storing_the_same_bytes_at_once(engine, tmp_path) -> None:
    """One PDF linked from two releases: parallel sources index its snapshot once, no error."""
    import dataclasses
    import threading

    from regwatch.app import App
    from regwatch.pipeline import run_sources

    sources = tuple(_source(f"s{n}", pages={f"s{n}/doc{i}": f"shared body {i}" for i in range(40)})
                    for n in range(4))
    config = dataclasses.replace(Config(), data_dir=str(tmp_path / "data"), sources=sources)
    app = App(config)
    app.__dict__["engine"] = engine
    barrier = threading.Barrier(4)

    class Racing(FakeScraper):
        kind = "fake"

        def scrape(self, ctx):
            barrier.wait(timeout=10)  # all four store the same snapshots at the same moment
            yield from super().scrape(ctx)

    results = run_sources(app, [], kinds={"fake": Racing}, now=T0)
    assert [r.status for r in results] == ["ok"] * 4, [r.error for r in results]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SnapshotRow)).scalar_one() == 40
        assert conn.execute(select(func.count()).select_from(DocumentVersion)).scalar_one() == 160


def test_a_304_earned_by_one_source_does_not_hide_the_page_from_another(engine, tmp_path) -> None:
    """Two sources watch the same URL (one PDF linked from two releases): each must store it."""
    import dataclasses

    from fetch.server import LocalServer, Reply

    from regwatch.app import App
    from regwatch.pipeline import run_sources

    with LocalServer() as server:
        server.route("/robots.txt", body=b"")
        server.route("/shared", Reply(body=b"<html><body><p>shared</p></body></html>",
                                      headers={"Content-Type": "text/html"}, etag='"v1"'))
        page = {"scraper": "page", "urls": [server.url("/shared")], "allowed_hosts": ["127.0.0.1"]}
        first, second = (SourceConfig(name=n, **page) for n in ("watch-a", "watch-b"))
        config = dataclasses.replace(Config(), data_dir=str(tmp_path / "data"),
                                     sources=(first, second),
                                     fetch=FetchConfig(min_interval_s=0.0, retries=0))
        app = App(config)
        app.__dict__["engine"] = engine
        run_sources(app, ["watch-a"], now=T0)
        (b,) = run_sources(app, ["watch-b"], now=T0 + timedelta(hours=1))
        assert b.status == "ok" and b.documents_changed == 1
        # … and each source's own 304 still saves the work the next time.
        (again,) = run_sources(app, ["watch-b"], now=T0 + timedelta(hours=2))
        assert again.documents_changed == 0
        assert server.requests("/shared")[-1].headers.get("if-none-match") == '"v1"'
    with engine.connect() as conn:
        stored = conn.execute(select(DocumentRow.source_id, DocumentRow.url)).all()
    assert len(stored) == 2


def test_health_shows_the_warnings_of_the_last_run_until_a_run_has_none(parts) -> None:
    """A run that worked but recorded warnings is not silent: `status` and the digest's
    source problems show them, and they go when the next run has none."""
    from regwatch.health import source_health

    engine = parts[0]
    _run(parts, _source("s", pages={"a": "one"}, warn="revision X is no longer listed"), T0)
    _run(parts, _source("t", pages={"a": "one"}), T0)
    health = {h.source: h for h in source_health(engine)}
    assert health["s"].last_status == "ok"
    assert health["s"].flags == ["warning: http://127.0.0.1/list: revision X is no longer listed"]
    assert health["t"].flags == []
    _run(parts, _source("s", pages={"a": "one"}), T0 + timedelta(days=1))
    assert {h.source: h.flags for h in source_health(engine)}["s"] == []


def test_health_flags_a_partial_run(parts) -> None:
    """Some items of a run that otherwise worked failed (a page whose layout changed): the
    digest's source problems and `status` must say so, with the error."""
    from regwatch.health import source_health

    engine = parts[0]
    _run(parts, _source("p", pages={"a": "x", "b": "ERROR"}), T0)
    (health,) = source_health(engine)
    assert health.last_status == "partial" and health.consecutive_failures == 0
    assert health.flags == ["last run partial: some items failed"]
    assert "broken page" in health.last_error
    _run(parts, _source("p", pages={"a": "x", "b": "y"}), T0 + timedelta(days=1))
    assert source_health(engine)[0].flags == []
