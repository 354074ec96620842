"""Batched storage: the same history as storing one document per transaction, in fewer commits."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from regwatch.config import Config, FetchConfig, SourceConfig
from regwatch.db.session import transaction
from regwatch.db.tables import DocumentRow, DocumentVersion, HttpCache, SnapshotRow
from regwatch.fetch.http import Fetcher
from regwatch.fetch.snapshots import SnapshotStore
from regwatch.models import Document, Snapshot
from regwatch.pipeline import run_source
from regwatch.scraper import Scraper
from regwatch.store import ensure_source, store_document, store_documents

T0 = datetime(2024, 4, 26, 1, 0, tzinfo=UTC)
SEEN: list = []  # what the scrapers below observed


# ---------------------------------------------------------------- store_documents ≡ store_document


def _random_doc(rng: random.Random, source: str, key: str, at: datetime) -> Document:
    kind = rng.choice(["new", "new", "same", "304", "same-bytes", "gone"])
    text = rng.choice(["alpha", "beta", "gamma"])
    title = rng.choice([None, "T1", "T2"])
    url = rng.choice([key, key + "?moved"])
    snap = Snapshot(hashlib.sha256(text.encode()).hexdigest(), len(text), "text/html")
    if kind == "gone":
        return Document(source, key, url, "page", at, None, metadata={"gone": True})
    if kind == "304":
        return Document(source, key, url, "page", at, None, title=title, unchanged=True)
    if kind == "same-bytes":
        return Document(source, key, url, "page", at, snap, title=title, unchanged=True)
    return Document(source, key, url, "page", at, snap, text=text, title=title,
                    metadata={"http": {"etag": text}})


def _history(engine, source_id: int) -> tuple:
    with engine.connect() as conn:
        docs = conn.execute(
            select(DocumentRow.key, DocumentRow.url, DocumentRow.title, DocumentRow.first_seen_at,
                   DocumentRow.last_seen_at, DocumentRow.removed_at)
            .where(DocumentRow.source_id == source_id).order_by(DocumentRow.key)).all()
        versions = conn.execute(
            select(DocumentRow.key, DocumentVersion.version, DocumentVersion.change_type,
                   DocumentVersion.content_sha256, DocumentVersion.snapshot_sha256,
                   DocumentVersion.text, DocumentVersion.title, DocumentVersion.observed_at,
                   DocumentVersion.doc_metadata)
            .join(DocumentRow, DocumentRow.id == DocumentVersion.document_id)
            .where(DocumentRow.source_id == source_id)
            .order_by(DocumentVersion.id)).all()  # the order versions were written in
    return [tuple(r) for r in docs], [tuple(r) for r in versions]


def _oracle(session, source_id: int, doc: Document) -> tuple | None:
    """store_document as written before batching (the ORM, one document at a time): the oracle."""
    from regwatch.store import content_hash, ensure_snapshot_row, keeps_text, latest_version

    row = session.scalar(select(DocumentRow).where(DocumentRow.source_id == source_id,
                                                   DocumentRow.key == doc.key))
    gone = bool(doc.metadata.get("gone"))
    if row is None:
        if gone or doc.unchanged:
            return None
        row = DocumentRow(source_id=source_id, key=doc.key, url=doc.url, kind=doc.kind,
                          title=doc.title, first_seen_at=doc.fetched_at,
                          last_seen_at=doc.fetched_at, linked_from=doc.linked_from)
        session.add(row)
        session.flush()
    else:
        row.last_seen_at = max(row.last_seen_at, doc.fetched_at)
        row.url = doc.url
        if doc.title:
            row.title = doc.title
    previous = latest_version(session, row.id)

    def add(change_type, digest, snapshot, text):
        session.add(DocumentVersion(
            document_id=row.id, version=(previous.version + 1) if previous else 1,
            snapshot_sha256=snapshot.sha256 if snapshot else None, content_sha256=digest,
            observed_at=doc.fetched_at, title=doc.title, text=text if keeps_text(doc) else None,
            encoding=doc.encoding, doc_metadata=dict(doc.metadata) or None, change_type=change_type))
        session.flush()
        return (doc.key, change_type)

    if gone:
        if previous is None or previous.change_type == "removed":
            return None
        row.removed_at = doc.fetched_at
        return add("removed", "removed", None, None)
    if doc.unchanged and previous is not None and previous.change_type != "removed":
        return None
    digest = content_hash(doc)
    if digest is None:
        return None
    if previous is not None and previous.change_type != "removed" and previous.content_sha256 == digest:
        return None
    if doc.snapshot is not None:
        ensure_snapshot_row(session, doc.snapshot, doc.snapshot.size, doc.fetched_at)
    row.removed_at = None
    return add("added" if previous is None or previous.change_type == "removed" else "changed",
               digest, doc.snapshot, doc.text)


@pytest.mark.parametrize("seed", range(6))
def test_store_documents_writes_what_one_by_one_storing_wrote(engine, seed) -> None:
    rng = random.Random(seed)
    with transaction(engine) as s:
        ref_id = ensure_source(s, "oracle", "page", T0)
        one_id = ensure_source(s, "one", "page", T0)
        many_id = ensure_source(s, "many", "page", T0)
    keys = [f"k{i}" for i in range(8)]
    for run in range(12):
        at = T0 + timedelta(hours=run if run != 11 else 2)  # the last run goes back in time: max()
        batch = [_random_doc(rng, "x", k, at) for k in rng.sample(keys, rng.randint(0, len(keys)))]
        got_ref, got_one = [], []
        for doc in batch:
            with transaction(engine) as s:
                got_ref.append(_oracle(s, ref_id, doc))
            with transaction(engine) as s:
                got_one.append(store_document(s, one_id, doc))
        with transaction(engine) as s:
            got_many = store_documents(s, many_id, batch)
        assert got_ref == [(v.key, v.change_type) if v else None for v in got_one] == \
            [(v.key, v.change_type) if v else None for v in got_many]
    assert _history(engine, ref_id) == _history(engine, one_id) == _history(engine, many_id)
    assert _history(engine, ref_id)[1], "the random runs made some versions"


def test_store_documents_refuses_a_repeated_key(engine) -> None:
    doc = Document("s", "a", "a", "page", T0, None, text="x")
    with transaction(engine) as s:
        sid = ensure_source(s, "s", "page", T0)
        with pytest.raises(ValueError, match="more than once"):
            store_documents(s, sid, [doc, doc])


# ---------------------------------------------------------------- the pipeline's batches


@dataclass(frozen=True)
class Opts:
    pages: dict = field(default_factory=dict)
    read_back: bool = False  # after each page: is it stored, and with which metadata?
    catch_reads: bool = False  # read inside ctx.item, which turns errors into issues


class Yielder(Scraper):
    kind = "yielder"
    Options = Opts

    def scrape(self, ctx):
        for key, body in self.options.pages.items():
            snap = ctx.fetcher.store.put(body.encode(), "text/html")
            yield Document(self.source.name, key, key, "page", ctx.now, snap, text=body,
                           metadata={"n": len(body), "http": {"url": key, "etag": f'"{body}"'}})
            if self.options.read_back:
                SEEN.append((key, ctx.is_stored(key), (ctx.stored_metadata(key) or {}).get("n")))
            if self.options.catch_reads:
                with ctx.item(key):
                    ctx.is_stored(key)


@pytest.fixture
def parts(engine, tmp_path):
    store = SnapshotStore(tmp_path / "snapshots")
    fetcher = Fetcher(FetchConfig(), engine, store)
    SEEN.clear()
    yield engine, store, fetcher
    fetcher.close()


def _run(parts, now, **options):
    engine, store, fetcher = parts
    source = SourceConfig(name="s", scraper="yielder", url="http://127.0.0.1/", options=options)
    return run_source(engine, Config(), source, fetcher=fetcher, store=store,
                      kinds={"yielder": Yielder}, now=now)


def _commits(engine) -> list[int]:
    count = [0]
    event.listen(engine, "commit", lambda conn: count.__setitem__(0, count[0] + 1))
    return count


def test_a_recheck_of_many_unchanged_pages_takes_few_commits(parts) -> None:
    engine = parts[0]
    pages = {f"p{i}": f"text {i}" for i in range(450)}
    first = _run(parts, T0, pages=pages)
    assert (first.status, first.documents_seen, first.documents_changed) == ("ok", 450, 450)
    commits = _commits(engine)
    second = _run(parts, T0 + timedelta(days=1), pages=pages)
    assert (second.status, second.documents_seen, second.documents_changed) == ("ok", 450, 0)
    # run start + 3 batches of at most 200 + run end (+ the lease), not one per page
    assert commits[0] <= 8, commits[0]
    with engine.connect() as conn:
        seen = set(conn.execute(select(DocumentRow.last_seen_at)).scalars())
        assert seen == {T0 + timedelta(days=1)}
        assert len(conn.execute(select(HttpCache.url)).scalars().all()) == 450


def test_a_scraper_reads_what_it_yielded_before(parts) -> None:
    result = _run(parts, T0, pages={"a": "one", "b": "three"}, read_back=True)
    assert result.status == "ok"
    assert SEEN == [("a", True, 3), ("b", True, 5)]


def test_a_storage_failure_keeps_what_came_before_and_fails_the_run(parts, monkeypatch) -> None:
    import regwatch.pipeline as pipeline

    real = pipeline.store_documents

    def failing(session, source_id, docs, **kw):
        if any(d.key == "bad" for d in docs):
            raise RuntimeError("disk on fire")
        return real(session, source_id, docs, **kw)

    monkeypatch.setattr(pipeline, "store_documents", failing)
    result = _run(parts, T0, pages={"a": "one", "bad": "two", "c": "three"})
    # as when each document had its own transaction: a stored, the run failed at bad, c never stored
    assert result.status == "failed" and "disk on fire" in result.error
    assert result.documents_seen == 2
    with parts[0].connect() as conn:
        assert conn.execute(select(DocumentRow.key)).scalars().all() == ["a"]
        assert conn.execute(select(HttpCache.url)).scalars().all() == []  # failed: no validators
        assert len(conn.execute(select(SnapshotRow.sha256)).scalars().all()) == 1


def test_a_storage_failure_inside_a_scraper_read_still_fails_the_run(parts, monkeypatch) -> None:
    import regwatch.pipeline as pipeline

    real = pipeline.store_documents

    def failing(session, source_id, docs, **kw):
        if any(d.key == "bad" for d in docs):
            raise RuntimeError("disk on fire")
        return real(session, source_id, docs, **kw)

    monkeypatch.setattr(pipeline, "store_documents", failing)
    # The flush before the read raises inside ctx.item, which would record a mere issue.
    result = _run(parts, T0, pages={"a": "one", "bad": "two", "c": "three"}, catch_reads=True)
    assert result.status == "failed" and "disk on fire" in result.error
    with parts[0].connect() as conn:
        assert conn.execute(select(DocumentRow.key)).scalars().all() == ["a"]
