"""Build one subscriber's digest e-mail. Pure: records in, EmailMessage out.

Everything scraped (titles, quotes, citations, URLs) is untrusted. The HTML part is
rendered by Jinja2 with autoescaping and only http(s) URLs become links; the plain-text
part is rendered without HTML escaping. Headers are set only through EmailMessage and
never carry scraped text except through `header_text`, which removes CR, LF and every
other control character, so a title cannot inject a header.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from regwatch.db.queries import DATE_FIELDS, DateCorrection
from regwatch.digest import i18n
from regwatch.digest.period import Period
from regwatch.health import SourceHealth
from regwatch.models import ChangeRecord, Source
from regwatch.resources import resource_dir

EXCERPT_CHARS = 240
CITATIONS_SHOWN = 12  # of the provisions a date correction moved; the report lists them all


@dataclass(frozen=True)
class Recipient:
    email: str
    language: str = "en"
    name: str = ""


@dataclass(frozen=True)
class EventNote:
    """An event first learned in the period that has no list change in this digest."""

    key: str
    title: str | None
    status: str
    announced_on: date | None
    effective_on: date | None
    regime: str = "unknown"
    sources: tuple[Source, ...] = ()
    title_ja: str | None = None


@dataclass(frozen=True)
class DigestContent:
    """What one subscriber's digest covers (already filtered for that subscriber)."""

    period: Period
    changes: tuple[ChangeRecord, ...] = ()
    announcements: tuple[EventNote, ...] = ()
    health: tuple[SourceHealth, ...] = field(default=())
    date_corrections: tuple[DateCorrection, ...] = ()
    retracted: tuple[ChangeRecord, ...] = ()  # shown before, no longer found
    # change id → when regwatch had retracted the same change, which it has found again
    found_again: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def problems(self) -> tuple[SourceHealth, ...]:
        return tuple(h for h in self.health if h.flags)

    @property
    def is_empty(self) -> bool:
        """Nothing to tell: no changes, announcements, date corrections or retractions, no
        source problems."""
        return not (self.changes or self.announcements or self.date_corrections
                    or self.retracted or self.problems)

    def not_in_force(self) -> int:
        """Changes whose effective date is after the period (unknown dates are not counted)."""
        end = self.period.end.date()
        return sum(1 for c in self.changes if c.effective_on is not None and c.effective_on > end)


class _SmtpPolicy(EmailPolicy):
    """email.policy.SMTP, except that a header folded before an encoded word keeps one
    space. CPython's folder leaves the space before the line break and adds the folding
    one, so an English subject longer than a line ("… 5 source problems — week of …")
    read back with two spaces before the dash. Whitespace next to an encoded word is
    otherwise kept, so one space less is exactly the original text."""

    def fold(self, name: str, value: str) -> str:
        return super().fold(name, value).replace(" " + self.linesep + " ", self.linesep + " ")

    def fold_binary(self, name: str, value: str) -> bytes:
        linesep = self.linesep.encode("ascii")
        return super().fold_binary(name, value).replace(b" " + linesep + b" ", linesep + b" ")


SMTP = _SmtpPolicy(linesep="\r\n")


def message_id(email: str, period: Period, domain: str) -> str:
    """Deterministic per subscriber and period, so a re-sent digest can be de-duplicated."""
    digest = hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:16]
    start = period.start.astimezone(UTC)
    return f"<regwatch.digest.{start:%Y%m%dT%H%MZ}.{digest}@{domain}>"


def header_text(value: str, limit: int = 200) -> str:
    """One line of header-safe text: control characters and line breaks become spaces."""
    cleaned = "".join(" " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch
                      for ch in value)
    return " ".join(cleaned.split())[:limit]


def line_text(value: str | None) -> str:
    """Scraped text shown on one line (titles, citations): line breaks become spaces."""
    return header_text(value or "", limit=1000)


def body_text(value: str | None) -> str:
    """Scraped text for a body: keep newlines and tabs, drop other control characters."""
    if not value:
        return ""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in value
                   if ch in "\n\t" or unicodedata.category(ch) not in {"Cc", "Cf"}).strip()


def digest_subject(content: DigestContent, lang: str) -> str:
    return i18n.subject(lang, changes=len(content.changes), not_in_force=content.not_in_force(),
                        announcements=len(content.announcements),
                        corrections=len(content.date_corrections),
                        retracted=len(content.retracted),
                        problems=len(content.problems),
                        week_of=content.period.label.isoformat())


def compose_digest(content: DigestContent, recipient: Recipient, *, sender: str,
                   report_url: str, tz: tzinfo, sent_at: datetime) -> EmailMessage:
    """The multipart/alternative message (plain text, then HTML) for one subscriber."""
    lang = recipient.language if recipient.language in i18n.STRINGS else "en"
    view = _view(content, lang, report_url, tz, recipient.email)
    text = _env().get_template("digest.txt.j2").render(**view)
    html = _env().get_template("digest.html.j2").render(**view)
    html = css_inline.inline(html)

    msg = EmailMessage(policy=SMTP)
    domain = sender.rpartition("@")[2] or "regwatch"
    msg["Subject"] = header_text(digest_subject(content, lang), limit=300)
    msg["From"] = Address(display_name="regwatch", addr_spec=sender)
    msg["To"] = Address(display_name=header_text(recipient.name), addr_spec=recipient.email)
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = message_id(recipient.email, content.period, domain)
    msg["Auto-Submitted"] = "auto-generated"
    # base64 keeps Japanese compact; quoted-printable keeps English readable in the raw source.
    cte = "base64" if lang == "ja" else "quoted-printable"
    msg.set_content(text, subtype="plain", charset="utf-8", cte=cte)
    msg.add_alternative(html, subtype="html", charset="utf-8", cte=cte)
    msg["Content-Language"] = lang  # after set_content, which clears Content-* headers
    return msg


# ---------------------------------------------------------------- view model


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(resource_dir("reports"))),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def _view(content: DigestContent, lang: str, report_url: str, tz: tzinfo,
          email: str) -> dict[str, Any]:
    t = i18n.STRINGS[lang]
    groups: dict[str | None, list[ChangeRecord]] = {}
    titles: dict[str | None, str | None] = {}
    for c in content.changes:
        key = (c.event or {}).get("key")
        groups.setdefault(key, []).append(c)
        titles.setdefault(key, _in_language((c.event or {}).get("title"),
                                            (c.event or {}).get("title_ja"), lang))
    events = [
        {
            "key": key,
            "title": line_text(titles[key]) or key,
            "count": len(items),
            "changes": [_change(c, lang, report_url, tz, content) for c in
                        sorted(items, key=lambda c: (c.instrument.get("law_id") or "",
                                                     c.provision.get("path") or "", c.id))],
            "effective_on": _first_date(c.effective_on for c in items),
            "announced_on": _first_date(c.announced_on for c in items),
            "regimes": sorted({c.regime for c in items}),
        }
        for key, items in groups.items() if key is not None
    ]
    # Headline events first: the biggest, then the most recently announced.
    events.sort(key=lambda e: (-e["count"], -(e["announced_on"] or date.min).toordinal(),
                               e["title"] or ""))
    other = [_change(c, lang, report_url, tz, content)
             for c in sorted(groups.get(None, []), key=lambda c: (
                 c.instrument.get("law_id") or "", c.provision.get("path") or "", c.id))]
    fmt = "%Y-%m-%d %H:%M"
    return {
        "t": t,
        "lang": lang,
        "subject": digest_subject(content, lang),
        "period_text": t["period"].format(start=content.period.start.astimezone(tz).strftime(fmt),
                                          end=content.period.end.astimezone(tz).strftime(fmt),
                                          tz=str(tz)),
        "events": events,
        "other": other,
        "announcements": [_announcement(a, lang) for a in content.announcements],
        "corrections": [_correction(d, lang) for d in content.date_corrections],
        "retracted": [_change(c, lang, "", tz, None) for c in content.retracted],
        "problems": [{"source": line_text(h.source), "flags": h.flags,
                      "last_error": line_text(h.last_error)[:200]} for h in content.problems],
        "empty": not (content.changes or content.announcements or content.date_corrections
                      or content.retracted),
        "report_url": report_url or None,
        "regime_label": i18n.REGIMES[lang],
        "regime_colour": i18n.REGIME_COLOURS,
        "footer": t["footer"].format(email=email),
        "fmt_date": lambda d: d.isoformat() if d else t["unknown"],
    }


def _first_date(values: Any) -> date | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def _change(c: ChangeRecord, lang: str, report_url: str, tz: tzinfo,
            content: DigestContent | None) -> dict:
    """A change as the digest shows it; `content` None for a retracted one (no badges of news)."""
    period = content.period if content is not None else None
    retracted_on = content.found_again.get(c.id) if content is not None else None
    renumbered = _citation(c.renumbered_from, lang) if c.renumbered_from else None
    return {
        "id": c.id,
        "citation": _citation(c.provision, lang),
        "instrument": line_text(c.instrument.get("title") or c.instrument.get("law_id")),
        "law_id": c.instrument.get("law_id"),
        "list_entry": line_text(c.list_entry) or None,
        "change_type": i18n.STRINGS[lang].get(f"change_type.{c.change_type}", c.change_type),
        "renumbered_from": renumbered,
        "regime": c.regime if c.regime in i18n.REGIMES[lang] else "unknown",
        "outside_wassenaar": c.outside_wassenaar is True,
        "not_in_force": (period is not None and c.effective_on is not None
                         and c.effective_on > period.end.date()),
        # Recorded in this period from a text observed before it: an earlier parse missed
        # it, or regwatch had retracted it (found_again says when).
        "found_late": period is not None and c.observed_at < period.start,
        "found_again": (i18n.STRINGS[lang]["found_again"].format(
            date=retracted_on.astimezone(tz).strftime("%Y-%m-%d")) if retracted_on else None),
        "unofficial": c.status != "official",
        "announced_on": c.announced_on,
        "promulgated_on": c.promulgated_on,
        "effective_on": c.effective_on,
        "observed_at": c.observed_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "before": _excerpt(c.before_text),
        "after": _excerpt(c.after_text),
        "sources": _sources(c.sources),
        "link": f"{report_url}#change-{c.id}" if report_url else None,
    }


def _in_language(title: str | None, title_ja: str | None, lang: str) -> str | None:
    """An event's title in the reader's language where there is one."""
    return (title_ja if lang == "ja" else None) or title


def _announcement(a: EventNote, lang: str) -> dict:
    return {
        "title": line_text(_in_language(a.title, a.title_ja, lang)) or a.key,
        "announced_on": a.announced_on,
        "effective_on": a.effective_on,
        "unofficial": a.status != "official",
        "regime": a.regime if a.regime in i18n.REGIMES[lang] else "unknown",
        "sources": _sources(a.sources),
    }


def _citation(provision: dict, lang: str) -> str:
    """A provision's citation in the reader's language, else in the other, else its path."""
    first, second = ("citation_ja", "citation_en") if lang == "ja" else ("citation_en", "citation_ja")
    return line_text(provision.get(first) or provision.get(second) or provision.get("path"))


def _correction(d: DateCorrection, lang: str) -> dict:
    t = i18n.STRINGS[lang]
    citations = [_citation(p, lang) for p in d.provisions]
    shown = citations[:CITATIONS_SHOWN]
    if len(citations) > len(shown):
        shown.append(t["and_more"].format(n=len(citations) - len(shown)))
    return {
        "field": t[d.field.removesuffix("_on")] if d.field in DATE_FIELDS else d.field,
        "old": d.old_value, "new": d.new_value,
        "instrument": line_text(d.instrument_title or d.law_id), "law_id": d.law_id,
        "count": len(citations), "citations": shown,
    }


def _sources(sources: tuple[Source, ...]) -> list[dict]:
    """Each linked page once: the digest shows links, not quotes, so two quotes of one
    page (its date and its regime statement) would read as the same line twice."""
    shown: dict[tuple, dict] = {}
    for s in sources:
        text = line_text(s.url)
        item = {"title": line_text(s.title) or text, "url": safe_url(s.url), "text": text}
        shown.setdefault(tuple(item.values()), item)
    return list(shown.values())


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for an href, or None: other schemes (javascript:, data:) and
    URLs with control characters or spaces are shown as text only."""
    url = (url or "").strip()
    if not url.lower().startswith(("https://", "http://")) or any(
            unicodedata.category(ch) == "Cc" or ch.isspace() for ch in url):
        return None
    # Characters that may not appear in a URL are percent-encoded (", <, >, `, {, } ...).
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def _excerpt(value: str | None) -> str | None:
    text = body_text(value)
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"


def recipients_of(subscribers: Sequence[Any]) -> list[Recipient]:
    """Recipients from [[subscriber]] config tables."""
    return [Recipient(s.email, s.language, s.name) for s in subscribers]
