"""What every report format shares: the data of a report, its summary, the format registry.

A Reporter renders a ReportData to text and does no I/O; writing files and sending mail
happen elsewhere. Formats register by subclassing Reporter with a `format` name.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from regwatch.db.queries import DateCorrection, EventItem, day_start
from regwatch.models import ChangeRecord, DocumentChange

log = logging.getLogger(__name__)

BUILTIN_MODULES = ("regwatch.report.html", "regwatch.report.json_report",
                   "regwatch.report.csv_report", "regwatch.report.md", "regwatch.report.atom")


@dataclass(frozen=True)
class Window:
    since: date | None
    until: date | None
    by: str | None = None  # announced | effective | observed | None (any)

    def describe(self) -> str:
        dates = {"announced": "announced", "effective": "taking effect",
                 "observed": "observed (or found late)"}.get(
            self.by or "", "announced, taking effect or observed (or found late)")
        since = self.since.isoformat() if self.since else "the beginning"
        until = self.until.isoformat() if self.until else "now"
        return f"changes {dates} from {since} to {until} (inclusive)"


@dataclass(frozen=True)
class Headline:
    """The one-line story of an event: "4 categories added outside the Wassenaar Arrangement"."""

    event_key: str | None
    event_title: str | None
    text: str
    change_count: int
    announced_on: date | None
    effective_on: date | None
    not_yet_in_force: bool
    outside_wassenaar: bool | None


@dataclass(frozen=True)
class Summary:
    total: int
    by_instrument: tuple[tuple[str, str | None, int], ...]  # (law_id, title, count)
    by_category: tuple[tuple[str, int], ...]
    by_change_type: tuple[tuple[str, int], ...]
    headlines: tuple[Headline, ...]
    not_yet_in_force: int
    press_items: int
    discrepancies: int
    page_changes: int
    date_corrections: int = 0
    announcements: int = 0
    found_late: int = 0

    def totals_text(self) -> str:
        """The summary's counts as one plain sentence, the numbers agreeing with their nouns."""
        corrections = (f", {_plural(self.date_corrections, 'date correction', 'date corrections')}"
                       if self.date_corrections else "")
        announced = (f"; {_plural(self.announcements, 'announcement', 'announcements')} without a"
                     " list change yet" if self.announcements else "")
        late = f", {self.found_late} found late" if self.found_late else ""
        return (f"{_plural(self.total, 'provision change', 'provision changes')}, "
                f"{self.not_yet_in_force} not yet in force{late}{announced}; "
                f"{_plural(self.press_items, 'press-only report', 'press-only reports')}, "
                f"{_plural(self.discrepancies, 'discrepancy', 'discrepancies')}, "
                f"{_plural(self.page_changes, 'watched-page change', 'watched-page changes')}"
                f"{corrections}.")

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_instrument": [{"law_id": k, "title": t, "count": n}
                              for k, t, n in self.by_instrument],
            "by_category": [{"category": k, "count": n} for k, n in self.by_category],
            "by_change_type": [{"change_type": k, "count": n} for k, n in self.by_change_type],
            "headlines": [{"event_key": h.event_key, "event_title": h.event_title,
                           "text": h.text, "change_count": h.change_count,
                           "announced_on": _iso(h.announced_on),
                           "effective_on": _iso(h.effective_on),
                           "not_yet_in_force": h.not_yet_in_force,
                           "outside_wassenaar": h.outside_wassenaar}
                          for h in self.headlines],
            "not_yet_in_force": self.not_yet_in_force,
            "found_late": self.found_late,
            "press_items": self.press_items,
            "discrepancies": self.discrepancies,
            "page_changes": self.page_changes,
            "date_corrections": self.date_corrections,
            "announcements": self.announcements,
        }


@dataclass(frozen=True)
class EventGroup:
    """The changes of one event (or of no event), in report order."""

    key: str | None
    title: str | None
    changes: tuple[ChangeRecord, ...]
    title_ja: str | None = None  # the Japanese announcement's title, when there is one

    @property
    def anchor(self) -> str:
        return "event-" + anchor_slug(self.key or "none")


@dataclass(frozen=True)
class ReportData:
    window: Window
    generated_at: datetime
    changes: tuple[ChangeRecord, ...] = ()
    documents: tuple[DocumentChange, ...] = ()
    press_items: tuple[EventItem, ...] = ()
    announcements: tuple[EventItem, ...] = ()  # official events without changes in the report
    date_corrections: tuple[DateCorrection, ...] = ()
    as_known_at: datetime | None = None
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timezone: str = "UTC"

    @property
    def reference_date(self) -> date:
        """The day "now" means for "not yet in force": as-known-at if given, else generation."""
        moment = self.as_known_at or self.generated_at
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def not_yet_in_force(self, change: ChangeRecord) -> bool:
        return change.effective_on is not None and change.effective_on > self.reference_date

    @cached_property
    def _window_moments(self) -> tuple[datetime | None, datetime | None]:
        """The window's first instant and the instant after it, in the report's zone."""
        tz = ZoneInfo(self.timezone)
        since, until = self.window.since, self.window.until
        return (day_start(since, tz) if since else None,
                day_start(until + timedelta(days=1), tz) if until else None)

    def found_late(self, change: ChangeRecord) -> bool:
        """Recorded in the window from a text observed before it: a change an earlier parse
        missed (found by `reprocess`), news in this window though its text is older."""
        start, end = self._window_moments
        if change.recorded_at is None or start is None:
            return False
        return (change.observed_at < start <= change.recorded_at
                and (end is None or change.recorded_at < end))

    def groups(self) -> list[EventGroup]:
        """Changes grouped by event, keeping the query's order (events, then document order)."""
        groups: dict[str | None, list[ChangeRecord]] = {}
        events: dict[str | None, dict] = {}
        for c in self.changes:
            key = c.event["key"] if c.event else None
            groups.setdefault(key, []).append(c)
            events[key] = c.event or {}
        return [EventGroup(k, events[k].get("title"), tuple(v), events[k].get("title_ja"))
                for k, v in groups.items()]

    def summary(self) -> Summary:
        return summarise(self)


def summarise(data: ReportData) -> Summary:
    changes = data.changes
    instruments: dict[str, tuple[str | None, int]] = {}
    for c in changes:
        law_id = c.instrument.get("law_id") or "unknown"
        title, n = instruments.get(law_id, (c.instrument.get("title"), 0))
        instruments[law_id] = (title, n + 1)
    cats = Counter(cat for c in changes for cat in c.categories)
    types = Counter(c.change_type for c in changes)
    return Summary(
        total=len(changes),
        by_instrument=tuple((k, t, n) for k, (t, n) in
                            sorted(instruments.items(), key=lambda kv: (-kv[1][1], kv[0]))),
        by_category=tuple(sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_change_type=tuple(sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))),
        headlines=tuple(headline(g, data) for g in data.groups()),
        not_yet_in_force=sum(1 for c in changes if data.not_yet_in_force(c)),
        found_late=sum(1 for c in changes if data.found_late(c)),
        press_items=sum(1 for p in data.press_items if p.status == "reported_unofficial"),
        discrepancies=sum(len(p.discrepancies) for p in data.press_items),
        page_changes=len(data.documents),
        date_corrections=len(data.date_corrections),
        announcements=len(data.announcements),
    )


def headline(group: EventGroup, data: ReportData) -> Headline:
    """Say what an event did in one line, from its changes only (no guessing)."""
    changes = group.changes
    added_cats = sorted({cat for c in changes if c.change_type == "added" for cat in c.categories})
    all_cats = sorted({cat for c in changes for cat in c.categories})
    stated = next((c.event.get("stated_item_count") for c in changes if c.event), None)
    if stated and added_cats:
        # The announcement's own count ("four categories") beats counting our tags.
        subject, verb = _plural(stated, "category", "categories"), "added"
        told = [c for c in changes if c.change_type == "added"]
    elif added_cats:
        subject, verb = _plural(len(added_cats), "category", "categories"), "added"
        told = [c for c in changes if c.change_type == "added" and c.categories]
    elif all_cats:
        subject, verb = _plural(len(all_cats), "category", "categories"), "changed"
        told = [c for c in changes if c.categories]
    else:
        types = {c.change_type for c in changes}
        verb = types.pop() if len(types) == 1 else "changed"
        subject = _plural(len(changes), "provision", "provisions")
        told = list(changes)
    # The regime phrase speaks of the changes the headline counts.
    outside = {c.outside_wassenaar for c in told}
    regimes = {c.regime for c in told}
    if outside == {True}:
        where = " outside the Wassenaar Arrangement"
    elif regimes == {"wassenaar"}:
        where = " under the Wassenaar Arrangement"
    else:
        where = ""
    effective = sorted({c.effective_on for c in changes if c.effective_on})
    if not effective:
        when = ", effective date not yet known"
    elif len(effective) == 1:
        when = f", effective {effective[0].isoformat()}"
    else:
        when = f", effective {effective[0].isoformat()} to {effective[-1].isoformat()}"
    pending = any(data.not_yet_in_force(c) for c in changes)
    announced = sorted({c.announced_on for c in changes if c.announced_on})
    return Headline(
        event_key=group.key, event_title=group.title,
        text=f"{subject} {verb}{where}{when}",
        change_count=len(changes), announced_on=announced[0] if announced else None,
        effective_on=effective[0] if effective else None, not_yet_in_force=pending,
        outside_wassenaar=outside.pop() if len(outside) == 1 else None)


DATE_FIELD_NAMES = {"announced_on": "announcement date", "promulgated_on": "promulgation date",
                    "effective_on": "effective date"}


def correction_text(d: DateCorrection) -> str:
    """What moved, in one line: "Effective date 2023-07-23 → 2023-08-01"."""
    name = DATE_FIELD_NAMES.get(d.field, d.field)
    return (f"{name[:1].upper()}{name[1:]} {_iso(d.old_value) or 'unknown'} → "
            f"{_iso(d.new_value) or 'unknown'}")


def correction_scope(d: DateCorrection) -> str:
    """Whom it concerns: "2 provisions reported before"."""
    return f"{_plural(len(d.provisions), 'provision', 'provisions')} reported before"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


_NOT_SLUG = re.compile(r"[^A-Za-z0-9_-]")


def anchor_slug(text: str) -> str:
    """`text` as an HTML id of ASCII letters, digits, - and _ (other characters become _).

    When any character had to be replaced, a digest of the original follows: event keys
    such as "jp/令和五年経済産業省令第二十五号" and "jp/令和六年…" would otherwise both become
    "jp_____…" and their table-of-contents links would lead to the same place.
    """
    slug = _NOT_SLUG.sub("_", text)
    if slug != text:
        slug += "-" + hashlib.sha256(text.encode()).hexdigest()[:10]
    return slug


def change_anchor(change: ChangeRecord) -> str:
    return "change-" + anchor_slug(change.id)


def http_url(url: str | None) -> str | None:
    """The URL if it is http(s) with a host, else None: other schemes never become links."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url.strip()
    return None


def is_press(kind: str | None) -> bool:
    return (kind or "").startswith("press")


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- registry -----------------------------------------------------------------------------

class Reporter:
    """Renders a report to text. Subclasses declare `format`, `media_type` and `extension`."""

    format: ClassVar[str]
    media_type: ClassVar[str] = "text/plain"
    extension: ClassVar[str] = "txt"
    file_format: ClassVar[bool] = True  # offered by `report --format`

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if not isinstance(cls.__dict__.get("format"), str) or not cls.format:
            raise TypeError(f"{cls.__name__} must declare a `format` name")

    def render(self, data: ReportData) -> str:
        raise NotImplementedError


def reporters() -> dict[str, type[Reporter]]:
    """A fresh mapping format → Reporter class over the built-in and any imported subclasses."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    found: dict[str, type[Reporter]] = {}
    pending = list(Reporter.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not isinstance(cls.__dict__.get("format"), str):
            continue  # a class whose declaration was refused
        other = found.get(cls.format)
        if other is not None and other is not cls:
            raise TypeError(f"two reporters claim format {cls.format!r}: "
                            f"{other.__qualname__} and {cls.__qualname__}")
        found[cls.format] = cls
    return found


def file_formats() -> list[str]:
    return sorted(f for f, cls in reporters().items() if cls.file_format)


def get_reporter(fmt: str) -> Reporter:
    from regwatch.errors import UsageError

    found = reporters()
    if fmt not in found:
        raise UsageError(f"unknown report format {fmt!r}; choose from {', '.join(sorted(found))}")
    return found[fmt]()
