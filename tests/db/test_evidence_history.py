"""The history of change evidence (evidence_history): what a derivation step that replaces
evidence rows keeps, and what it does not."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from regwatch.db.queries import _with_replaced
from regwatch.db.session import transaction
from regwatch.db.tables import ControlChange, Evidence, EvidenceHistory
from regwatch.derive import evidence_history

from .test_date_history import _history, at


def _replace_notice(session, *, quote: str, version: int) -> None:
    """What a rebuild does: every row of c1 deleted, written again with the notice's row changed."""
    rows = [dict(r._mapping) for r in session.execute(
        select(Evidence.change_id, Evidence.document_version_id, Evidence.url, Evidence.kind,
               Evidence.title, Evidence.quote, Evidence.field)
        .where(Evidence.change_id == "c1").order_by(Evidence.id))]
    session.execute(delete(Evidence).where(Evidence.change_id == "c1"))
    for r in rows:
        if r["url"] == "n":
            r.update(quote=quote, document_version_id=version)
    session.execute(insert(Evidence), rows)


def _kept(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(EvidenceHistory.change_id, EvidenceHistory.url, EvidenceHistory.quote,
                   EvidenceHistory.document_version_id, EvidenceHistory.position,
                   EvidenceHistory.superseded_at).order_by(EvidenceHistory.id))]


def test_a_replaced_row_is_kept_with_its_place_and_the_newest_observation(engine) -> None:
    _history(engine)
    with transaction(engine) as session, evidence_history.kept(session):
        _replace_notice(session, quote="postponed", version=3)
    # rows written back as they were are not kept; the newest observation is on the 9th
    assert _kept(engine) == [("c1", "n", None, 2, 0, at(9))]


def test_rows_written_back_by_a_later_step_are_not_replaced_after_all(engine) -> None:
    _history(engine)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(Evidence.change_id, Evidence.document_version_id, Evidence.url, Evidence.kind,
                   Evidence.title, Evidence.quote, Evidence.field).order_by(Evidence.id))]
    with transaction(engine) as session, evidence_history.kept(session):
        session.execute(delete(Evidence).where(Evidence.change_id == "c1"))  # the law step
    assert len(_kept(engine)) == 3
    with transaction(engine) as session, evidence_history.kept(session):  # the events step
        session.execute(insert(Evidence), rows)
    assert _kept(engine) == []


def test_a_row_replaced_at_the_moment_it_became_known_is_not_kept(engine) -> None:
    """Its document version is the newest observation: it was never shown."""
    _history(engine)
    with transaction(engine) as session:
        session.execute(update(Evidence).where(Evidence.url == "n").values(document_version_id=3))
    with transaction(engine) as session, evidence_history.kept(session):
        _replace_notice(session, quote="postponed", version=3)
    assert _kept(engine) == []


def test_nothing_is_kept_for_a_change_that_is_gone_or_on_error(engine) -> None:
    _history(engine)
    try:
        with transaction(engine) as session, evidence_history.kept(session):
            _replace_notice(session, quote="postponed", version=3)
            raise RuntimeError("derivation failed")
    except RuntimeError:
        pass
    with transaction(engine) as session, evidence_history.kept(session):
        session.execute(delete(Evidence).where(Evidence.change_id == "c1"))
        session.execute(delete(ControlChange).where(ControlChange.id == "c1"))
    assert _kept(engine) == []


def test_replaced_rows_go_back_at_their_places() -> None:
    rows = [("c1", "a"), ("c1", "b"), ("c2", "z")]
    assert _with_replaced(rows, [("c1", "x", 0)]) == [("c1", "x"), ("c1", "a"), ("c1", "b"), ("c2", "z")]
    assert _with_replaced(rows, [("c1", "x", 1), ("c1", "y", 2)]) == [
        ("c1", "a"), ("c1", "x"), ("c1", "y"), ("c1", "b"), ("c2", "z")]
    assert _with_replaced(rows, [("c2", "x", 5), ("c3", "y", 1)]) == [
        ("c1", "a"), ("c1", "b"), ("c2", "z"), ("c2", "x"), ("c3", "y")]


def test_superseded_moment_is_aware_utc(engine) -> None:
    _history(engine)
    with transaction(engine) as session, evidence_history.kept(session):
        _replace_notice(session, quote="postponed", version=3)
    (row,) = _kept(engine)
    assert row[-1] == datetime(2024, 5, 9, tzinfo=UTC)
