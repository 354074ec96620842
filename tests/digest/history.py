"""Small crafted histories for digest tests, written through the ORM tables."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, select

from regwatch.db.session import transaction
from regwatch.db.tables import ChangeCategory, ControlChange, Event, Evidence, SourceRow, SourceRun
from regwatch.derive import date_history

ORDINANCE = "403M50000400049"
ORDER = "324CO0000000378"


def at(text: str) -> datetime:
    """An aware UTC moment from 'YYYY-MM-DDTHH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_event(engine: Engine, key: str, title: str, *, observed: str, status: str = "official",
              categories: tuple[str, ...] = (), law_ids: tuple[str, ...] = (ORDINANCE,),
              announced: date | None = None, effective: date | None = None,
              regime: str = "unknown", sources: tuple[tuple[str, str], ...] = ()) -> int:
    with transaction(engine) as s:
        ev = Event(key=key, title=title, jurisdiction="JP", status=status,
                   law_ids=list(law_ids), categories=list(categories), regime=regime,
                   announced_on=announced, effective_on=effective,
                   first_observed_at=at(observed), details={}, parser_version="test")
        s.add(ev)
        s.flush()
        for url, stitle in sources:
            s.add(Evidence(event_id=ev.id, url=url, kind="press", title=stitle, quote=None))
        return ev.id


def add_change(engine: Engine, cid: str, *, observed: str, event: str | None = None,
               law_id: str = ORDINANCE, title: str = "貨物等省令",
               citation_en: str = "Article 6, item (xx)", citation_ja: str = "第六条第二十号",
               path: str | None = None, change_type: str = "added", regime: str = "unilateral",
               outside_wassenaar: bool | None = True, announced: date | None = None,
               effective: date | None = None, before: str | None = None,
               after: str | None = "走査型電子顕微鏡", categories: tuple[str, ...] = (),
               sources: tuple[tuple[str, str], ...] = (), status: str = "official",
               jurisdiction: str = "JP") -> None:
    with transaction(engine) as s:
        event_id = None
        if event is not None:
            event_id = s.execute(select(Event.id).where(Event.key == event)).scalar_one()
        s.add(ControlChange(
            id=cid, event_id=event_id, jurisdiction=jurisdiction, law_id=law_id,
            instrument_title=title, path=path or f"Article_6/Item_{cid}",
            citation_ja=citation_ja, citation_en=citation_en, list_entry="Appended Table 1, row 7",
            change_type=change_type, regime=regime, outside_wassenaar=outside_wassenaar,
            announced_on=announced, promulgated_on=None, effective_on=effective,
            observed_at=at(observed), before_text=before, after_text=after, status=status,
            parser_version="test"))
        s.flush()
        s.add_all(ChangeCategory(change_id=cid, category=c) for c in categories)
        for url, stitle in sources:
            s.add(Evidence(change_id=cid, url=url, kind="meti_press", title=stitle, quote=None))
        s.flush()
        date_history.record(s)  # as derivation does: what as-known-at reads


def add_failing_source(engine: Engine, name: str, failures: int, *, error: str) -> None:
    """A source whose last `failures` runs failed after one good run."""
    with transaction(engine) as s:
        src = SourceRow(name=name, scraper="meti_press", created_at=at("2024-01-01T00:00"))
        s.add(src)
        s.flush()
        for day in ("2024-07-30", "2024-07-31", "2024-08-01"):
            s.add(SourceRun(source_id=src.id, started_at=at(f"{day}T00:00"),
                            finished_at=at(f"{day}T00:01"), status="ok", documents_seen=5))
        for i in range(failures):
            s.add(SourceRun(source_id=src.id, started_at=at(f"2024-08-0{i + 2}T00:00"),
                            finished_at=at(f"2024-08-0{i + 2}T00:01"), status="failed",
                            documents_seen=0, errors=1, error=error))
