"""select_changes returns exactly what the straightforward reference implementation does.

The tuned query aggregates categories and evidence in SQL (json_group_array on SQLite,
json_agg on PostgreSQL), converts values itself and sorts with cached keys; every one of
those is a place to drift. A seeded random history exercises what the small fixture
history does not: several categories and evidence rows per change, evidence of every
field known at different moments, text that JSON must escape, NULL dates, events sharing
dates, paths that tie. Records are compared by repr, so 1 vs True, a str vs a date or a
different tzinfo would fail too.
"""

from __future__ import annotations

import gc
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

from regwatch.db.queries import _collector_paused, natural_key, select_changes
from regwatch.db.tables import (
    ChangeCategory,
    ControlChange,
    DocumentRow,
    DocumentVersion,
    Event,
    EventHistory,
    Evidence,
    EvidenceHistory,
    SourceRow,
)
from regwatch.derive import date_history

from .reference_queries import reference_select_changes

TOKYO = ZoneInfo("Asia/Tokyo")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
LAWS = ("403M50000400049", "324CO0000000378", "355CO0000000260")
CATEGORIES = ("hbm", "cryo-cmos", 'quote"d', "back\\slash", "ü-umlaut", "量子", "a", "B")
TEXTS = (None, "", "plain", 'He said "施行する。"\n\tnext line', "back\\slash \\u0041",
         "control \x01\x1f chars", "emoji 🚀 and 𠮷", "<b>&amp;</b>", "  spaced  ", "null")
FIELDS = (None, None, "announced_on", "promulgated_on", "effective_on", "other")


def _moment(rng: random.Random) -> datetime:
    return T0 + timedelta(days=rng.randrange(60), seconds=rng.randrange(86400),
                          microseconds=rng.choice((0, rng.randrange(1_000_000))))


def _day(rng: random.Random) -> date | None:
    return None if rng.random() < 0.2 else date(2024, 1, 1) + timedelta(days=rng.randrange(70))


def build_random_history(engine, seed: int = 11, changes: int = 240) -> None:
    rng = random.Random(seed)
    with engine.begin() as conn:
        conn.execute(insert(SourceRow), [{"id": 1, "name": "s", "scraper": "page",
                                          "created_at": T0}])
        conn.execute(insert(DocumentRow), [{
            "id": 1, "source_id": 1, "key": "k", "url": "https://example.com/", "kind": "page",
            "first_seen_at": T0, "last_seen_at": T0}])
        conn.execute(insert(DocumentVersion), [{
            "id": v, "document_id": 1, "version": v, "content_sha256": f"{v:064d}",
            "observed_at": _moment(rng), "change_type": "changed"} for v in range(1, 31)])
        shared_day, shared_moment = date(2024, 1, 20), T0 + timedelta(days=3)
        events = []
        for i in range(1, 13):
            details = rng.choice((None, {}, {"item_count": rng.randrange(1, 30)},
                                  {"item_count": None, "x": [1]}, [1, 2],
                                  {"title_ja": "量子コンピュータ等を追加する省令改正"}))
            events.append({
                "id": i, "key": f"ev-{rng.randrange(100):02d}-{i}", "title": rng.choice(TEXTS),
                "jurisdiction": "JP", "status": "official", "regime": "unknown",
                "announced_on": rng.choice((None, shared_day, _day(rng))),
                "first_observed_at": rng.choice((shared_moment, _moment(rng))),
                "details": details, "parser_version": "t"})
        conn.execute(insert(Event), events)
        rows, cats, evidence = [], [], []
        for i in range(changes):
            cid = f"c{rng.randrange(10**6):06d}-{i}"
            a, b = rng.randrange(1, 4), rng.randrange(1, 12)
            # Item_05 and Item_5 have equal natural keys: the change id decides
            path = rng.choice((f"Article_{a}/Item_{b}", f"Article_{a}/Item_{b}_2",
                               f"Article_{a}/Item_0{b}", f"AppdxTable_1/Row_{b}",
                               f"Article_{a}", ""))
            observed = _moment(rng)
            # Mostly recorded when observed; some found late (reprocess), after weeks.
            recorded = observed + timedelta(days=rng.choice((0, 0, 0, 3, 12, 40)))
            # Some withdrawn later (a fixed parser no longer finds them).
            retracted = rng.choice((None, None, None, recorded + timedelta(days=rng.randrange(1, 30))))
            rows.append({
                "id": cid, "event_id": rng.choice((None, *range(1, 13))),
                "jurisdiction": rng.choice(("JP", "JP", "US")), "law_id": rng.choice(LAWS),
                "instrument_title": rng.choice(TEXTS), "path": path,
                "citation_ja": rng.choice(TEXTS), "citation_en": rng.choice(TEXTS),
                "list_entry": rng.choice(TEXTS),
                "change_type": rng.choice(("added", "amended", "removed", "renumbered")),
                "regime": rng.choice(("unknown", "wassenaar")),
                "outside_wassenaar": rng.choice((None, True, False)),
                "announced_on": _day(rng), "promulgated_on": _day(rng),
                "effective_on": _day(rng), "observed_at": observed, "recorded_at": recorded,
                "retracted_at": retracted,
                "before_text": rng.choice(TEXTS), "after_text": rng.choice(TEXTS),
                "renumbered_from": rng.choice((None, {"path": "Article_1/Item_2",
                                                      "citation_ja": "第一条第二号"})),
                "status": rng.choice(("official", "reported_unofficial")),
                "parser_version": "t"})
            for cat in rng.sample(CATEGORIES, rng.randrange(4)):
                cats.append({"change_id": cid, "category": cat})
            for _ in range(rng.randrange(5)):
                evidence.append({
                    "change_id": cid,
                    "document_version_id": rng.choice((None, *range(1, 31))),
                    "url": f"https://example.com/{rng.randrange(50)}?a=1&b=\"2\"",
                    "kind": rng.choice(("egov_law", "meti_press", "press")),
                    "title": rng.choice(TEXTS), "quote": rng.choice(TEXTS),
                    "field": rng.choice(FIELDS)})
        rng.shuffle(rows)  # insertion order must not matter
        conn.execute(insert(ControlChange), rows)
        conn.execute(insert(ChangeCategory), cats)
        rng.shuffle(evidence)
        conn.execute(insert(Evidence), evidence)
        # Evidence that derivation replaced, some of it known at the moments replayed, at
        # places within, at the end of and past the end of its change's current rows.
        replaced = [{**rng.choice(evidence), "position": rng.randrange(4),
                     "superseded_at": _moment(rng)} for _ in range(changes // 2)]
        for row in replaced:
            row["change_id"] = rng.choice(rows)["id"]
        conn.execute(insert(EvidenceHistory), replaced)
        # Event states derivation replaced (rule 4): some superseded before, some after the
        # moments replayed, two for one event, an `absent` one (made later).
        kept = []
        for event in rng.sample(events, 8):
            for _ in range(rng.randrange(1, 3)):
                absent = rng.random() < 0.2
                kept.append({"key": event["key"], "absent": absent,
                             "title": None if absent else rng.choice((None, *TEXTS)),
                             "status": None if absent else "official",
                             "jurisdiction": None if absent else "JP",
                             "regime": None if absent else "unknown",
                             "announced_on": None if absent else rng.choice((None, _day(rng))),
                             "first_observed_at": None if absent else _moment(rng),
                             "details": None if absent else rng.choice(
                                 (None, {"item_count": 7, "title_ja": "旧題"}, {})),
                             "sources": [], "superseded_at": _moment(rng)})
        conn.execute(insert(EventHistory), kept)
        # As derivation does: the dates' history, which as-known-at reads. Its known times
        # follow from the evidence as the reference's rule 3 does, for dates that never moved.
        date_history.record(conn)


@pytest.fixture
def random_engine(engine):
    build_random_history(engine)
    return engine


def _cases():
    moments = [None, T0 + timedelta(days=10), T0 + timedelta(days=30, hours=5),
               datetime(2024, 2, 15, 12, 0)]  # the last one naive: read in tz
    windows = [dict(), dict(since=date(2024, 1, 15)), dict(until=date(2024, 1, 31)),
               dict(since=date(2024, 1, 10), until=date(2024, 1, 16))]
    for window in windows:
        for by in (None, "announced", "effective", "observed"):
            for moment in moments:
                if not window and by:
                    continue
                yield dict(window, by=by, as_known_at=moment)
    yield dict(since=date(2024, 1, 10), until=date(2024, 1, 16), by="observed", tz=TOKYO)
    yield dict(since=date(2024, 1, 5), as_known_at=datetime(2024, 1, 30, 3, 0), tz=TOKYO)
    yield dict(learned_from=T0 + timedelta(days=7), learned_to=T0 + timedelta(days=14))
    yield dict(learned_from=T0 + timedelta(days=7), learned_to=T0 + timedelta(days=14),
               as_known_at=T0 + timedelta(days=12))
    yield dict(since=date(2024, 1, 1), categories=["hbm", 'quote"d'])
    yield dict(since=date(2024, 1, 1), instruments=[LAWS[1]], jurisdictions=["JP"])
    yield dict(categories=["量子"], as_known_at=T0 + timedelta(days=20), by="effective",
               since=date(2024, 1, 20))


CASES = list(_cases())


def test_fast_select_changes_equals_reference(random_engine) -> None:
    nonempty = 0
    for kw in CASES:
        got = select_changes(random_engine, **kw)
        want = reference_select_changes(random_engine, **kw)
        assert [repr(c) for c in got] == [repr(c) for c in want], kw
        nonempty += bool(want)
    # the cases must mean something: most of them select records
    assert nonempty > len(CASES) * 3 // 4


def test_random_history_covers_what_the_fast_path_must_get_right(random_engine) -> None:
    every = reference_select_changes(random_engine)
    assert len(every) == _standing(random_engine) and 150 < len(every) < 240  # some retracted
    assert any(len(c.categories) >= 3 for c in every)
    assert any(len(c.sources) >= 4 for c in every)
    assert any(c.event is None for c in every) and any(c.event for c in every)
    assert any(c.event and c.event["stated_item_count"] for c in every)
    assert {c.outside_wassenaar for c in every} == {None, True, False}
    assert any(s.quote and "\x01" in s.quote for c in every for s in c.sources)
    ties: dict[tuple, set[str]] = {}
    for c in every:
        key = ((c.event or {}).get("key"), c.instrument["law_id"],
               natural_key(c.provision["path"]))
        ties.setdefault(key, set()).add(c.provision["path"])
    assert any(len(paths) > 1 for paths in ties.values())  # Item_5 vs Item_05
    known_then = reference_select_changes(random_engine, as_known_at=T0 + timedelta(days=30))
    full = {c.id: c for c in every}
    assert any(c.id not in full for c in known_then)  # retracted since
    known_then = [c for c in known_then if c.id in full]
    assert any(c.effective_on is None and full[c.id].effective_on for c in known_then)
    assert any(len(c.sources) < len(full[c.id].sources) for c in known_then)
    assert any(c.event and c.event != full[c.id].event for c in known_then)  # rule 4


def _standing(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(ControlChange)
                            .where(ControlChange.retracted_at.is_(None))).scalar_one()


def test_thousands_of_ids_bind_as_one_parameter(engine) -> None:
    # More changes than SQLite's old 999-variable limit and than one IN chunk used to hold.
    build_random_history(engine, seed=5, changes=2500)
    got = select_changes(engine)
    assert len(got) == _standing(engine) > 1500
    assert [repr(c) for c in got] == [repr(c) for c in reference_select_changes(engine)]
    assert sum(len(c.sources) for c in got) > 3000


def test_garbage_collector_state_is_restored(random_engine) -> None:
    assert gc.isenabled()
    assert select_changes(random_engine)
    assert gc.isenabled()
    with pytest.raises(ValueError):
        with _collector_paused():
            assert not gc.isenabled()
            raise ValueError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        assert select_changes(random_engine)
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
