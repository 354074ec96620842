"""The history of events (event_history): what the events step keeps when it changes,
removes or makes an event, and how `select_events` shows an event as it stood at T."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, insert, select, update

from regwatch.db.queries import select_events
from regwatch.db.session import transaction
from regwatch.db.tables import Event, EventHistory, Evidence
from regwatch.derive import event_history

from .test_date_history import _history, at

WEEK = dict(learned_from=at(1), learned_to=at(20))


def _events(engine) -> None:
    """Documents observed on the 1st, 5th and 9th (_history); a public-comment event seen on
    the 1st quoting version 1, and a press-only report seen on the 5th."""
    _history(engine)
    common = {"jurisdiction": "JP", "regime": "unknown", "parser_version": "t"}
    with engine.begin() as conn:
        conn.execute(insert(Event), [
            {**common, "id": 1, "key": "jp/pc", "title": "Public comment invited", "status": "official",
             "first_observed_at": at(1)},
            {**common, "id": 2, "key": "press:x", "title": "Report", "status": "reported_unofficial",
             "first_observed_at": at(5)}])
        conn.execute(insert(Evidence), [
            {"event_id": 1, "document_version_id": 1, "url": "r", "kind": "meti_press", "quote": "意見募集"},
            {"event_id": 2, "document_version_id": 2, "url": "n", "kind": "press", "quote": "報道"}])


def _shown(engine, when) -> dict[str, tuple]:
    return {e["key"]: (e["title"], e["status"], e["effective_on"], [s["quote"] for s in e["known_sources"]])
            for e in select_events(engine, **WEEK, as_known_at=when)}


def test_a_changed_removed_or_made_event_shows_as_it_stood(engine) -> None:
    _events(engine)
    now = _shown(engine, None)
    # The run of the 9th: the public comment became the amendment (title, date, a new
    # quote); the press report was merged away; an event was made from the release of the 1st.
    with transaction(engine) as session, event_history.kept(session):
        session.execute(update(Event).where(Event.id == 1).values(
            title="Ordinance amended", effective_on=date(2024, 7, 1)))
        session.execute(delete(Evidence).where(Evidence.event_id == 1))
        session.execute(insert(Evidence), [{"event_id": 1, "document_version_id": 3, "url": "r",
                                            "kind": "meti_press", "quote": "施行"}])
        session.execute(delete(Evidence).where(Evidence.event_id == 2))
        session.execute(delete(Event).where(Event.id == 2))
        session.add(Event(id=10, key="jp/made", title="Made later", status="official", jurisdiction="JP",
                          regime="unknown", first_observed_at=at(1), parser_version="t"))
        session.flush()
        session.add(Evidence(event_id=10, document_version_id=1, url="r", kind="meti_press",
                             quote="発表"))
    with engine.connect() as conn:
        kept = conn.execute(select(EventHistory.key, EventHistory.absent, EventHistory.title,
                                   EventHistory.superseded_at).order_by(EventHistory.key)).all()
    assert [tuple(k) for k in kept] == [("jp/made", True, None, at(9)),
                                        ("jp/pc", False, "Public comment invited", at(9)),
                                        ("press:x", False, "Report", at(9))]
    assert _shown(engine, at(6)) == now == {
        "jp/pc": ("Public comment invited", "official", None, ["意見募集"]),
        "press:x": ("Report", "reported_unofficial", None, ["報道"])}
    assert _shown(engine, at(4)) == {"jp/pc": ("Public comment invited", "official", None, ["意見募集"])}
    assert _shown(engine, at(9)) == _shown(engine, None) == {
        "jp/made": ("Made later", "official", None, ["発表"]),
        "jp/pc": ("Ordinance amended", "official", date(2024, 7, 1), ["施行"])}


def test_a_state_replaced_the_moment_it_became_known_is_not_kept(engine) -> None:
    _events(engine)
    with transaction(engine) as session, event_history.kept(session):  # seen on the 9th
        session.add(Event(id=11, key="jp/new", title="First", status="official", jurisdiction="JP",
                          regime="unknown", first_observed_at=at(9), parser_version="t"))
        session.flush()
        session.add(Evidence(event_id=11, document_version_id=3, url="n", kind="meti_press"))
    with transaction(engine) as session, event_history.kept(session):  # the same observation
        session.execute(update(Event).where(Event.key == "jp/new").values(title="Second"))
    with engine.connect() as conn:
        assert conn.execute(select(EventHistory.key)).all() == []
    assert _shown(engine, at(9))["jp/new"][0] == "Second"
