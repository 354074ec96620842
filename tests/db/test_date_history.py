"""The history of change dates (change_dates): what derivation appends, and what the
migration that introduced it seeds from an existing history."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import MetaData, Table, delete, insert, select, text, update

from regwatch.db.session import downgrade, make_engine, transaction, upgrade
from regwatch.db.tables import (
    ChangeDate,
    ChangeFact,
    ControlChange,
    DocumentRow,
    DocumentVersion,
    Event,
    Evidence,
    SourceRow,
)
from regwatch.derive import date_history


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, tzinfo=UTC)


def _history(engine) -> None:
    """Change c1 observed on the 2nd: effective_on named by a notice seen on the 5th (and by
    a quote without a document), announced_on by a release seen on the 1st; promulgated_on
    named by nothing. Change c2 observed on the 3rd, with no dates."""
    with engine.begin() as conn:
        conn.execute(insert(SourceRow), [{"id": 1, "name": "s", "scraper": "page", "created_at": at(1)}])
        conn.execute(insert(DocumentRow), [{"id": 1, "source_id": 1, "key": "k", "url": "u",
                                            "kind": "page", "first_seen_at": at(1), "last_seen_at": at(1)}])
        conn.execute(insert(DocumentVersion), [
            {"id": v, "document_id": 1, "version": v, "content_sha256": str(v), "observed_at": at(day),
             "change_type": "added" if v == 1 else "changed"}
            for v, day in ((1, 1), (2, 5), (3, 9))])
        common = {"jurisdiction": "JP", "law_id": "L", "path": "p", "change_type": "added",
                  "regime": "unknown", "status": "official", "parser_version": "t"}
        # The table as this database has it: the test also writes to the first schema.
        changes = Table("control_changes", MetaData(), autoload_with=conn)
        conn.execute(insert(Table("events", MetaData(), autoload_with=conn)), [{
            "id": 90, "key": "meti-2024-04", "title": "t", "jurisdiction": "JP",
            "status": "official", "regime": "unilateral", "first_observed_at": at(1),
            "parser_version": "t"}])
        rows = [{**common, "id": "c1", "observed_at": at(2), "announced_on": date(2024, 4, 30),
                 "promulgated_on": date(2024, 5, 2), "effective_on": date(2024, 6, 1),
                 "event_id": 90, "regime": "unilateral", "outside_wassenaar": True},
                {**common, "id": "c2", "observed_at": at(3), "announced_on": None,
                 "promulgated_on": None, "effective_on": None, "event_id": None,
                 "outside_wassenaar": None}]
        if "recorded_at" in changes.c:
            rows = [{**r, "recorded_at": r["observed_at"]} for r in rows]
        conn.execute(insert(changes), rows)
        conn.execute(insert(Evidence), [
            {"change_id": "c1", "document_version_id": 2, "url": "n", "kind": "meti_press",
             "field": "effective_on"},
            {"change_id": "c1", "document_version_id": 1, "url": "r", "kind": "meti_press",
             "field": "announced_on"},
            {"change_id": "c1", "document_version_id": None, "url": "q", "kind": "press",
             "field": "other"}])


def _rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(ChangeDate.change_id, ChangeDate.field, ChangeDate.value, ChangeDate.known_at)
            .order_by(ChangeDate.id))]


def _facts(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(ChangeFact.change_id, ChangeFact.field, ChangeFact.value, ChangeFact.known_at)
            .order_by(ChangeFact.id))]


# c2's missing event and flag are kept too: what it gets later is then a correction
FIRST_FACTS = [("c1", "event_key", "meti-2024-04", at(2)), ("c1", "regime", "unilateral", at(2)),
               ("c1", "outside_wassenaar", "true", at(2)), ("c2", "event_key", None, at(3)),
               ("c2", "regime", "unknown", at(3)), ("c2", "outside_wassenaar", None, at(3))]

FIRST = [("c1", "announced_on", date(2024, 4, 30), at(2)),  # its release was seen before the change
         ("c1", "promulgated_on", date(2024, 5, 2), at(2)),  # named by nothing: with the change
         ("c1", "effective_on", date(2024, 6, 1), at(5))]  # once the notice was seen


def test_the_first_values_are_known_as_their_evidence_says(engine) -> None:
    _history(engine)
    with transaction(engine) as s:
        assert date_history.record(s) == 3 + 6  # and the two changes' facts (change_facts)
    assert sorted(_rows(engine)) == sorted(FIRST)
    assert sorted(_facts(engine), key=str) == sorted(FIRST_FACTS, key=str)
    with transaction(engine) as s:
        assert date_history.record(s) == 0  # nothing moved: nothing appended


def test_a_moved_date_is_appended_known_from_its_new_evidence(engine) -> None:
    _history(engine)
    with transaction(engine) as s:
        date_history.record(s)
    with transaction(engine) as s:  # a correction seen on the 9th postpones the date
        s.execute(update(ControlChange).where(ControlChange.id == "c1")
                  .values(effective_on=date(2024, 7, 1), announced_on=None))
        s.execute(update(Evidence).where(Evidence.url == "n").values(document_version_id=3))
        assert date_history.record(s) == 2
    assert _rows(engine)[3:] == [("c1", "announced_on", None, at(9)),  # lost with that run too
                                 ("c1", "effective_on", date(2024, 7, 1), at(9))]


def test_a_new_value_rests_on_old_documents_is_known_from_the_newest_observation(engine) -> None:
    """A parser fix re-derives a date from a document seen long ago: regwatch showed the old
    value until the fix ran, so the replacement is known from the newest observation then."""
    _history(engine)
    with transaction(engine) as s:
        date_history.record(s)
    with transaction(engine) as s:
        s.execute(update(ControlChange).where(ControlChange.id == "c1")
                  .values(effective_on=date(2024, 5, 31)))
        date_history.record(s)
    assert _rows(engine)[-1] == ("c1", "effective_on", date(2024, 5, 31), at(9))


def test_a_value_replaced_at_the_moment_it_became_known_gives_way(engine) -> None:
    """Two runs deriving from parts of one observation: the first derivation's value was
    never shown, so it is replaced, not kept as a correction (and dropped when the second
    derivation restores the value before it)."""
    _history(engine)
    with transaction(engine) as s:
        date_history.record(s)
    moved = [{"effective_on": date(2024, 7, 1)}, {"effective_on": date(2024, 7, 2)},
             {"effective_on": date(2024, 7, 1)}, {"effective_on": date(2024, 6, 1)}]
    expected = [[("c1", "effective_on", date(2024, 7, 1), at(9))],
                [("c1", "effective_on", date(2024, 7, 2), at(9))],  # the 1st never shown
                [("c1", "effective_on", date(2024, 7, 1), at(9))],
                []]  # back to the value shown until the 9th: no correction at all
    for values, rows in zip(moved, expected, strict=True):
        with transaction(engine) as s:
            s.execute(update(ControlChange).where(ControlChange.id == "c1").values(**values))
            date_history.record(s)
        assert _rows(engine)[3:] == rows


def test_an_event_and_regime_found_later_are_kept_from_the_run_that_found_them(engine) -> None:
    """c2 was found in a law revision alone on the 3rd; the announcement seen on the 9th
    joins it to the event and gives it a regime basis. Replays before the 9th show neither."""
    _history(engine)
    with transaction(engine) as s:
        date_history.record(s)
    with transaction(engine) as s:
        s.execute(update(ControlChange).where(ControlChange.id == "c2")
                  .values(event_id=90, regime="wassenaar", outside_wassenaar=False))
        assert date_history.record(s) == 3
    assert _facts(engine)[6:] == [("c2", "event_key", "meti-2024-04", at(9)),
                                  ("c2", "regime", "wassenaar", at(9)),
                                  ("c2", "outside_wassenaar", "false", at(9))]
    with transaction(engine) as s:  # a run on the 12th merges the event away
        s.execute(update(ControlChange).values(event_id=None))
        s.execute(delete(Event).where(Event.id == 90))
        assert date_history.record(s, at(12)) == 2
    assert sorted(_facts(engine)[9:]) == [("c1", "event_key", None, at(12)),
                                          ("c2", "event_key", None, at(12))]


def test_evidence_without_a_document_is_known_with_its_change() -> None:
    assert date_history.known_since(at(2), [None, at(5)]) == at(2)
    assert date_history.known_since(at(2), [at(1)]) == at(2)
    assert date_history.known_since(at(2), [at(7), at(5)]) == at(5)
    assert date_history.known_since(at(2), []) == at(2)


def test_the_migration_seeds_the_history_of_an_existing_database(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        _history(engine)
        upgrade(engine)
        assert sorted(_rows(engine)) == sorted(FIRST)
        assert sorted(_facts(engine), key=str) == sorted(FIRST_FACTS, key=str)  # 0006
        with engine.connect() as conn:  # and the values read back as dates and moments
            assert conn.execute(text("SELECT count(*) FROM change_dates")).scalar() == 3
            # 0005: changes already stored were recorded when observed, in the view too
            assert conn.execute(select(ControlChange.id, ControlChange.recorded_at)
                                .order_by(ControlChange.id)).all() == [("c1", at(2)), ("c2", at(3))]
            assert conn.execute(text("SELECT count(*) FROM v_changes "
                                     "WHERE recorded_at = observed_at")).scalar() == 2
        with transaction(engine) as s:
            assert date_history.record(s) == 0  # derivation agrees with the seed
        downgrade(engine, "0001")
        upgrade(engine)
    finally:
        engine.dispose()
