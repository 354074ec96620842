"""Windows, --by and --as-known-at over the fixture history: exact IDs, both backends."""

from __future__ import annotations

import json
from datetime import date, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, update

from regwatch.db.queries import (
    natural_key,
    select_changes,
    select_document_changes,
    select_press_items,
)
from regwatch.db.session import transaction
from regwatch.db.tables import ControlChange, Event, Evidence
from regwatch.derive import date_history, event_history

from . import history as h
from .history import at

TOKYO = ZoneInfo("Asia/Tokyo")


def ids(engine, **kw) -> set[str]:
    return {c.id for c in select_changes(engine, **kw)}


@pytest.mark.parametrize(("kw", "expected"), [
    (dict(since=date(2024, 1, 1)), h.C24 | {h.C24_FX}),
    (dict(since=date(2023, 1, 1), until=date(2023, 12, 31)), h.C23),
    (dict(since=date(2023, 5, 23), until=date(2023, 5, 23), by="announced"), h.C23),
    (dict(since=date(2023, 5, 24), until=date(2023, 5, 24), by="announced"), set()),
    (dict(since=date(2024, 4, 1), until=date(2024, 4, 30), by="announced"), h.C24),
    (dict(since=date(2024, 9, 1), until=date(2024, 9, 30), by="effective"), h.C24),
    (dict(since=date(2024, 9, 9), until=date(2024, 12, 31), by="effective"), set()),
    (dict(since=date(2025, 1, 1), by="effective"), {h.C24_FX}),
    (dict(since=date(2024, 8, 10), until=date(2024, 8, 10), by="observed"), h.C24),
    (dict(since=date(2024, 11, 20), until=date(2024, 11, 20), by="observed"), {h.C24_FX}),
    (dict(since=date(2024, 11, 21), until=date(2024, 11, 21), by="observed"), set()),
    # the same day in Tokyo: 2024-11-20T16:00Z is 2024-11-21 01:00 JST
    (dict(since=date(2024, 11, 21), until=date(2024, 11, 21), by="observed", tz=TOKYO),
     {h.C24_FX}),
    (dict(since=date(2024, 1, 1), categories=["quantum-computer"]),
     {h.C24_QC, h.C24_ORDER, h.C24_FX}),
    (dict(since=date(2024, 1, 1), instruments=[h.ORDER]), {h.C24_ORDER}),
    (dict(since=date(2024, 1, 1), categories=["quantum-computer"], instruments=[h.ORDINANCE]),
     {h.C24_QC}),
    (dict(since=date(2023, 1, 1), jurisdictions=["US"]), set()),
    (dict(learned_from=at("2024-08-10T00:00"), learned_to=at("2024-08-11T00:00")), h.C24),
    (dict(learned_from=at("2024-08-09T00:00"), learned_to=at("2024-08-10T00:00")), set()),
])
def test_windows(hist_engine, kw, expected) -> None:
    assert ids(hist_engine, **kw) == expected


@pytest.mark.parametrize(("kw", "expected"), [
    # nothing of 2024 had been derived before the e-Gov revision was observed
    (dict(since=date(2024, 1, 1), as_known_at=at("2024-08-09T23:59")), set()),
    (dict(since=date(2023, 1, 1), as_known_at=at("2024-05-01T00:00")), h.C23),
    (dict(since=date(2024, 1, 1), as_known_at=at("2024-08-15T00:00")), h.C24),
    # C24_ORDER's effective date was learnt from the 2024-08-20 notice
    (dict(since=date(2024, 9, 1), by="effective", as_known_at=at("2024-08-15T00:00")),
     h.C24_ORDINANCE),
    (dict(since=date(2024, 9, 1), by="effective", as_known_at=at("2024-08-20T09:00")), h.C24),
    (dict(since=date(2024, 1, 1), as_known_at=at("2024-11-20T15:59")), h.C24),
    (dict(since=date(2024, 1, 1), as_known_at=at("2024-11-20T16:00")), h.C24 | {h.C24_FX}),
    # a naive moment is read in the given time zone: 09:00 JST = 00:00Z
    (dict(since=date(2024, 9, 1), by="effective", as_known_at=datetime(2024, 8, 20, 17, 59),
          tz=TOKYO), h.C24_ORDINANCE),
    (dict(since=date(2024, 9, 1), by="effective", as_known_at=datetime(2024, 8, 20, 18, 0),
          tz=TOKYO), h.C24),
])
def test_as_known_at_windows(hist_engine, kw, expected) -> None:
    assert ids(hist_engine, **kw) == expected


def test_as_known_at_hides_dates_and_sources_learnt_later(hist_engine) -> None:
    then = {c.id: c for c in select_changes(hist_engine, since=date(2024, 1, 1),
                                            as_known_at=at("2024-08-15T00:00"))}
    order = then[h.C24_ORDER]
    assert order.effective_on is None
    assert order.announced_on == date(2024, 4, 26)
    assert order.promulgated_on == date(2024, 8, 9)  # no evidence names it: came with the change
    assert h.METI_2024_NOTICE not in {s.url for s in order.sources}
    assert then[h.C24_SEM].effective_on == date(2024, 9, 8)
    assert [s.url for s in then[h.C24_SEM].sources] == [h.EGOV_2024, h.METI_2024, h.PRESS_2024]

    now = {c.id: c for c in select_changes(hist_engine, since=date(2024, 1, 1))}
    assert now[h.C24_ORDER].effective_on == date(2024, 9, 8)
    assert [s.url for s in now[h.C24_ORDER].sources] == [
        h.EGOV_2024_ORDER, h.METI_2024, h.METI_2024_NOTICE]


def test_as_known_at_shows_the_event_and_regime_a_change_had_then(hist_engine) -> None:
    """The FX Order change (observed 2024-11-20, no event, regime unknown) is joined to the
    2024 event by a run on 2024-12-01; that event is then merged away on 2025-01-10 (its
    history keeps how it stood). Each replay shows what regwatch showed then."""
    with transaction(hist_engine) as s:
        event_id = s.scalar(select(Event.id).where(Event.key == h.EVENT_2024))
        s.execute(update(ControlChange).where(ControlChange.id == h.C24_FX)
                  .values(event_id=event_id, regime="unilateral", outside_wassenaar=True))
        date_history.record(s, at("2024-12-01T00:00"))

    def fx(moment: str | None):
        [c] = [c for c in select_changes(hist_engine, since=date(2024, 11, 1),
                                         as_known_at=moment and at(moment)) if c.id == h.C24_FX]
        return c.event and c.event["key"], c.regime, c.outside_wassenaar

    assert fx("2024-11-25T00:00") == (None, "unknown", None)
    assert fx("2024-12-02T00:00") == (h.EVENT_2024, "unilateral", True)
    assert fx(None) == (h.EVENT_2024, "unilateral", True)
    title = select_changes(hist_engine, since=date(2024, 11, 1))[0].event["title"]

    with transaction(hist_engine) as s, event_history.kept(s, at("2025-01-10T00:00")):
        s.execute(update(ControlChange).values(event_id=None))
        s.execute(delete(Evidence).where(Evidence.event_id.is_not(None)))
        s.execute(delete(Event))
        date_history.record(s, at("2025-01-10T00:00"))
    then = {c.id: c for c in select_changes(hist_engine, since=date(2024, 1, 1),
                                            as_known_at=at("2024-12-02T00:00"))}
    assert then[h.C24_FX].event["title"] == title  # the event as it stood before it went
    assert then[h.C24_SEM].event["key"] == h.EVENT_2024
    assert fx("2025-01-11T00:00") == (None, "unilateral", True)
    assert fx(None) == (None, "unilateral", True)


def test_a_change_found_late_is_in_the_window_it_was_found_in(hist_engine) -> None:
    h.found_late(hist_engine)
    week = dict(since=date(2024, 11, 25), until=date(2024, 11, 30))
    assert ids(hist_engine, **week) == {h.C23_ADD_20}  # by any date: news when found
    assert ids(hist_engine, by="observed", **week) == {h.C23_ADD_20}
    assert ids(hist_engine, by="announced", **week) == set()  # its own dates stay as they are
    assert ids(hist_engine, by="effective", **week) == set()
    assert ids(hist_engine, since=date(2024, 11, 26), until=date(2024, 11, 30)) == set()
    # replays: unknown before it was found, in the window from then on
    assert ids(hist_engine, as_known_at=at("2024-11-25T02:59"), **week) == set()
    assert ids(hist_engine, as_known_at=at("2024-11-25T03:00"), **week) == {h.C23_ADD_20}
    [c] = select_changes(hist_engine, **week)
    assert (c.observed_at, c.recorded_at) == (at("2023-05-24T00:00"), at("2024-11-25T03:00"))
    # still in the windows its dates fall in, as before
    assert h.C23_ADD_20 in ids(hist_engine, since=date(2023, 5, 24), until=date(2023, 5, 24))


def test_evidence_without_a_version_is_known_with_its_change(hist_engine) -> None:
    [c] = [c for c in select_changes(hist_engine, since=date(2023, 1, 1),
                                     as_known_at=at("2023-06-01T00:00"))
           if c.id == h.C23_AMEND_3]
    assert h.CISTEC in {s.url for s in c.sources}


def test_record_fields_and_document_order(hist_engine) -> None:
    changes = select_changes(hist_engine, since=date(2023, 1, 1))
    assert [c.id for c in changes] == [
        h.C23_AMEND_3, h.C23_RENUM, h.C23_ADD_20, h.C23_ADD_21,  # Item_3 < Item_19 < Item_20
        h.C24_ORDER, h.C24_SEM, h.C24_CRYO, h.C24_QC, h.C24_GAA,  # Article_7 < Article_19
        h.C24_FX,  # no event: last
    ]
    by_id = {c.id: c for c in changes}
    renum = by_id[h.C23_RENUM]
    assert renum.renumbered_from["citation_ja"] == "第六条第十八号"
    assert renum.categories == () and renum.outside_wassenaar is False
    fx = by_id[h.C24_FX]
    assert (fx.event, fx.announced_on, fx.outside_wassenaar, fx.regime) == (
        None, None, None, "unknown")
    assert fx.observed_at == at("2024-11-20T16:00")
    sem = by_id[h.C24_SEM]
    assert sem.event == {"key": h.EVENT_2024, "title": sem.event["title"], "title_ja": None,
                         "stated_item_count": None}
    assert sem.provision == {"path": "Article_6/Item_23", "citation_ja": "第六条第二十三号",
                             "citation_en": "Article 6, item (xxiii)"}
    assert sem.instrument["law_id"] == h.ORDINANCE and sem.categories == ("sem-ic-imaging",)


def test_natural_key_is_document_order() -> None:
    paths = ["Item_a", "Item_10", "Article_1/Item_3", "Item_１２", "Item_2", "", "Article_10",
             "Item_", "Article_1", "Item_9", "Item_0"]
    assert sorted(paths, key=natural_key) == [
        "", "Article_1", "Article_1/Item_3", "Article_10",  # a shorter path first
        "Item_", "Item_0", "Item_2", "Item_9", "Item_10", "Item_１２",  # numbers by value
        "Item_a"]  # a number before text at the same place
    # equal as numbers: the same key (select_changes then orders them by change ID)
    assert natural_key("Item_5") == natural_key("Item_05") == natural_key("Item_５")
    assert natural_key("Table_1/Row_99") < natural_key("Table_1/Row_100") < natural_key("Table_2")
    assert natural_key(None) == natural_key("") == ""


def test_bad_by_is_refused(hist_engine) -> None:
    with pytest.raises(ValueError, match="by must be one of"):
        select_changes(hist_engine, since=date(2024, 1, 1), by="promulgated")


def test_document_changes(hist_engine) -> None:
    got = select_document_changes(hist_engine, since=date(2024, 1, 1), until=date(2024, 12, 31))
    assert [(d.url, d.change_type, d.observed_at) for d in got] == [
        (h.NOTICE_PAGE, "added", at("2024-02-01T00:00")),
        (h.ANPO_PAGE, "changed", at("2024-04-26T09:00")),
        (h.ANPO_PAGE, "changed", at("2024-08-20T09:00")),
        (h.NOTICE_PAGE, "removed", at("2024-10-01T00:00")),
    ]
    added, changed, _, removed = got
    assert added.before_text is None and added.after_text == "Notice: list review scheduled"
    assert changed.before_text.startswith("最新情報：輸出令の改正")
    assert changed.after_text.startswith("最新情報：貨物等省令の改正案")
    assert removed.before_text == "Notice: list review scheduled" and removed.after_text is None
    assert changed.source == "meti-anpo" and changed.title == "安全保障貿易管理"

    then = select_document_changes(hist_engine, since=date(2024, 1, 1),
                                   as_known_at=at("2024-08-20T08:59"))
    assert [d.observed_at for d in then] == [at("2024-02-01T00:00"), at("2024-04-26T09:00")]
    press = select_document_changes(hist_engine, since=date(2024, 10, 1), kinds=("press_article",))
    assert {d.url for d in press} == {h.PRESS_HBM_1, h.PRESS_HBM_2}


def test_press_items_and_discrepancies(hist_engine) -> None:
    items = select_press_items(hist_engine, since=date(2024, 1, 1))
    assert [i.key for i in items] == [h.EVENT_2024, h.EVENT_PRESS]
    official, rumour = items
    assert official.status == "official"
    [d] = official.discrepancies
    assert (d.field, d.official_value, d.press_value) == ("effective_on", "2024-09-08", "2024-07")
    assert (d.official_url, d.press_url) == (h.EGOV_2024, h.PRESS_2024)
    assert rumour.status == "reported_unofficial" and rumour.announced_on is None
    assert [s.url for s in rumour.sources] == [h.PRESS_HBM_1, h.PRESS_HBM_2]
    assert {s.kind for s in rumour.sources} == {"press"}

    assert select_press_items(hist_engine, since=date(2024, 1, 1),
                              as_known_at=at("2024-05-01T00:00")) == []
    mid = select_press_items(hist_engine, since=date(2024, 1, 1),
                             as_known_at=at("2024-10-15T12:00"))
    assert [i.key for i in mid] == [h.EVENT_2024, h.EVENT_PRESS]
    assert [s.url for s in mid[1].sources] == [h.PRESS_HBM_1]
    assert [i.key for i in select_press_items(hist_engine, since=date(2024, 1, 1),
                                              categories=["hbm"])] == [h.EVENT_PRESS]
    assert select_press_items(hist_engine, since=date(2023, 1, 1), until=date(2023, 12, 31)) == []


def test_a_quote_backing_several_fields_is_one_source(hist_engine) -> None:
    """Evidence is kept per field it supports; a reader gets each source once."""
    from sqlalchemy import select

    from regwatch.db.session import transaction
    from regwatch.db.tables import Event, Evidence

    with transaction(hist_engine) as s:
        event_id = s.scalar(select(Event.id).where(Event.key == h.EVENT_2024))
        for field in ("announced_on", "public_comment_on"):
            s.add(Evidence(event_id=event_id, url="https://www.meti.go.jp/english/press/2024/0426_001.html",
                           kind="meti_press", title="Public Comments Invited", quote="April 26, 2024",
                           field=field))
            s.add(Evidence(change_id=h.C24_SEM, url="https://www.meti.go.jp/english/press/2024/0426_001.html",
                           kind="meti_press", title="Public Comments Invited", quote="April 26, 2024",
                           field=field))
    [official] = [i for i in select_press_items(hist_engine, since=date(2024, 1, 1)) if i.key == h.EVENT_2024]
    assert [s.quote for s in official.sources].count("April 26, 2024") == 1
    [sem] = [c for c in select_changes(hist_engine, since=date(2024, 1, 1)) if c.id == h.C24_SEM]
    assert [s.quote for s in sem.sources].count("April 26, 2024") == 1


def test_an_announcement_without_its_changes_yet_is_reported(hist_engine) -> None:
    """The early warning: METI announced the 2024 additions on 26 April; the list changes
    reached e-Gov in August. A report in between lists the announcement; once the changes
    are known the event is reported through them."""
    import jsonschema

    from regwatch.report.base import get_reporter
    from regwatch.report.command import collect
    from regwatch.report.json_report import load_schema

    window = dict(since=date(2024, 4, 1), until=date(2024, 5, 31), by=None)
    then = collect(hist_engine, as_known_at=at("2024-05-01T00:00"), **window)
    assert then.changes == () and [a.key for a in then.announcements] == [h.EVENT_2024]
    [announced] = then.announcements
    assert announced.status == "official" and announced.discrepancies == ()
    assert announced.announced_on == date(2024, 4, 26)
    assert collect(hist_engine, as_known_at=at("2024-04-26T06:00"), **window).announcements == ()
    assert collect(hist_engine, as_known_at=at("2024-05-01T00:00"), categories=["hbm"],
                   **window).announcements == ()
    assert [a.key for a in collect(hist_engine, as_known_at=at("2024-05-01T00:00"),
                                   categories=["quantum-computer"], **window).announcements] \
        == [h.EVENT_2024]
    now = collect(hist_engine, as_known_at=None, **window)
    assert {c.event["key"] for c in now.changes} == {h.EVENT_2024} and now.announcements == ()
    # Every format says so.
    report = json.loads(get_reporter("json").render(then))
    jsonschema.validate(report, load_schema())
    assert [a["key"] for a in report["announcements"]] == [h.EVENT_2024]
    assert report["summary"]["announcements"] == 1
    assert "## Announcements without a list change yet" in get_reporter("md").render(then)
    assert "1 announcement without a list change yet" in then.summary().totals_text()
    atom = get_reporter("atom").render(then)
    assert "urn:regwatch:event:" + quote(h.EVENT_2024, safe="") in atom
    assert "no list change recorded yet" in atom
    from bs4 import BeautifulSoup

    dom = BeautifulSoup(get_reporter("html").render(then), "html.parser")
    section = dom.select_one("section#announcements")
    assert section.h2.get_text() == "Announcements without a list change yet"
    assert [a.h3.get_text() for a in section.select("article")] == [announced.title]
    assert dom.select_one('nav a[href="#announcements"]') is not None
    assert "1 announcement without a list change yet" in dom.select_one("p.totals").get_text()
