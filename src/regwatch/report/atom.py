"""The Atom feed of a report: one entry per event (a change without an event is its own
entry; an announcement without changes yet is its event's entry), and one per date
correction, so a postponed enforcement date reaches followers too.

Rendered from ``reports/report.atom.j2`` with XML autoescaping; characters XML 1.0 cannot
carry (control characters in scraped text) are dropped first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from regwatch.models import ChangeRecord, Source
from regwatch.report.base import (
    EventGroup,
    ReportData,
    Reporter,
    correction_scope,
    correction_text,
    headline,
    http_url,
    is_press,
    utc_iso,
)
from regwatch.report.html import environment

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    return "" if value is None else _NOT_XML.sub("", str(value))


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    headline: str
    updated: datetime
    published: datetime
    link: str | None
    changes: tuple[ChangeRecord, ...]
    provisions: tuple[dict, ...] = ()  # of a date correction: the provisions whose date moved


def entries(data: ReportData) -> list[Entry]:
    out = []
    for g in data.groups():
        singles = [g] if g.key else [EventGroup(None, None, (c,)) for c in g.changes]
        for group in singles:
            first = group.changes[0]
            key = group.key or f"change:{first.id}"
            title = group.title or (f"{first.provision.get('citation_en') or first.provision.get('path')}"
                                    f" ({first.instrument.get('law_id')})")
            link = _official_link(s for c in group.changes for s in c.sources)
            out.append(Entry(
                id="urn:regwatch:event:" + quote(key, safe=""),
                title=title, headline=_headline_text(group, data),
                updated=max(c.observed_at for c in group.changes),
                published=min(c.observed_at for c in group.changes),
                link=link, changes=group.changes))
    for a in data.announcements:  # the same id as the event's entry once its changes come
        out.append(Entry(
            id="urn:regwatch:event:" + quote(a.key, safe=""), title=a.title or a.key,
            headline=(f"Announced {a.announced_on or 'on an unknown date'}; effective "
                      f"{a.effective_on or 'not known'}; no list change recorded yet"),
            updated=a.first_observed_at, published=a.first_observed_at,
            link=_official_link(a.sources), changes=()))
    for d in data.date_corrections:
        key = f"{d.law_id}:{d.event_key or ''}:{d.field}:{utc_iso(d.known_at)}:{d.old_value}:{d.new_value}"
        text = f"{correction_text(d)} for {correction_scope(d)}"
        out.append(Entry(
            id="urn:regwatch:date-correction:" + quote(key, safe=":"),
            title=f"{correction_text(d)} — {d.event_title or d.instrument_title or d.law_id}",
            headline=text, updated=d.known_at, published=d.known_at, link=None, changes=(),
            provisions=d.provisions))
    return out


def _official_link(sources: Iterable[Source]) -> str | None:
    """An entry's link: the official announcement if any, else another official source."""
    official = [s for s in sources if http_url(s.url) and not is_press(s.kind)]
    official.sort(key=lambda s: s.kind != "meti_press")  # stable: keeps source order
    return http_url(official[0].url) if official else None


def _headline_text(group: EventGroup, data: ReportData) -> str:
    h = headline(group, data)
    return h.text + (" (not yet in force)" if h.not_yet_in_force else "")


class AtomReporter(Reporter):
    format = "atom"
    media_type = "application/atom+xml"
    extension = "atom"

    def render(self, data: ReportData) -> str:
        w = data.window
        feed_id = "urn:regwatch:report:" + quote(
            f"{w.since}:{w.until}:{w.by or 'any'}:"
            f"{utc_iso(data.as_known_at) if data.as_known_at else 'now'}", safe=":")
        template = environment().get_template("report.atom.j2")
        return template.render(data=data, feed_id=feed_id, entries=entries(data),
                               xml_text=xml_text)
