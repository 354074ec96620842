"""Derivation: bring the records derived from stored snapshots up to date.

`catch_up` is called after every pipeline run (and by `regwatch reprocess`). It derives
whatever stored versions are not yet reflected — law histories, announcements, press
articles — and then recomputes events and press links from scratch, which is cheap and
keeps the result a pure function of what is stored. Last, it appends the changes' dates
that moved to their history (`date_history`), which is what `--as-known-at` reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from regwatch.config import Config
from regwatch.db.session import transaction
from regwatch.errors import without_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """A derivation error, attributed to the source of the document it came from."""

    source: str | None
    url: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", without_url(self.message, self.url))


def catch_up(engine: Engine, config: Config, store, *, rebuild_all_laws: bool = False,
             sources: list[str] | None = None, now: datetime | None = None) -> list[Problem]:
    """Derive what is not yet derived. `rebuild_all_laws` re-derives every law history
    (of `sources` only, when given) — for `regwatch reprocess`. What derivation finds for
    the first time, or replaces, is recorded at `now` (the caller's clock; default and
    never before the newest observation, see versions.derivation_time).

    One derivation at a time per database (lease "derive"): two runs ending together would
    otherwise derive the same pending versions twice. The second waits, then finds little
    or nothing left to do."""
    from regwatch import locks

    def waiting(info) -> None:
        log.info("waiting for another derivation to finish (%s)", info.describe() if info else "?")

    with locks.lease(engine, "derive", ttl_s=max(60, config.scheduler.lock_ttl_s), wait=True,
                     poll_s=0.2, on_wait=waiting):  # a derivation takes seconds: poll often
        return _catch_up(engine, config, store, rebuild_all_laws=rebuild_all_laws,
                         sources=sources, now=now)


def _catch_up(engine: Engine, config: Config, store, *, rebuild_all_laws: bool,
              sources: list[str] | None, now: datetime | None) -> list[Problem]:
    from regwatch.derive import (
        announcements,
        date_history,
        event_history,
        events,
        evidence_history,
        law_history,
        press,
        versions,
    )
    from regwatch.normalise.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(config.taxonomy_path())
    problems: list[Problem] = []
    with transaction(engine) as session:
        at = versions.derivation_time(session, now)
        if rebuild_all_laws:
            stale = law_history.laws_of_sources(session, sources)
        else:
            stale = law_history.stale_laws(session)
    # Each step keeps the change evidence it replaces (evidence_history), and the events step
    # the event states (event_history), in its transaction.
    for law_id in stale:
        with transaction(engine) as session, evidence_history.kept(session, at):
            revisions = law_history.stored_revisions(session).get(law_id, [])
            for url, message in law_history.rebuild_law(session, law_id, revisions, load=store.get,
                                                        taxonomy=taxonomy, at=at,
                                                        title_en=_title_en(taxonomy, law_id)):
                problems.append(Problem(None, url, message))
    with transaction(engine) as session, evidence_history.kept(session, at):
        problems += announcements.derive_pending(session, store, taxonomy)
    with transaction(engine) as session, evidence_history.kept(session, at):
        problems += press.derive_pending(session, store, taxonomy)
    with (transaction(engine) as session, evidence_history.kept(session, at),
          event_history.kept(session, at)):
        events.rebuild_events(session, config, taxonomy)
        date_history.record(session, at)  # with the events: their dates are the changes' too
    problems = _attribute(engine, problems)
    for p in problems:
        log.error("%s: %s: %s", p.source or "?", p.url, p.message)
    return problems


def _attribute(engine: Engine, problems: list[Problem]) -> list[Problem]:
    """Name the source of each problem from the document it came from."""
    from sqlalchemy import select

    from regwatch.db.tables import DocumentRow, SourceRow

    if all(p.source for p in problems):
        return problems
    with engine.connect() as conn:
        by_url = dict(conn.execute(select(DocumentRow.url, SourceRow.name)
                                   .join(SourceRow, SourceRow.id == DocumentRow.source_id)).all())
    return [p if p.source else Problem(by_url.get(p.url), p.url, p.message) for p in problems]


def _title_en(taxonomy, law_id: str) -> str | None:
    inst = taxonomy.instrument(law_id) if taxonomy else None
    return inst.names_en[0] if inst and inst.names_en else None

