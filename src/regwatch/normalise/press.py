"""Trade press: feeds (feedparser) and article pages (trafilatura) to Article records with claims.

Feeds are parsed from bytes only (feedparser never fetches here). Article text comes from
trafilatura in precision mode without network access; its date search is bounded by a fixed
latest date so that the result does not depend on the day it runs. Relevance and categories
come from the same taxonomy as METI releases. Headline-only outlets (paywalls, restrictive
terms) are read from their feed entry (title and summary) alone. Pure: no I/O, no clock;
`extract_files` (for `regwatch extract`) is the one function that reads files.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import trafilatura
from bs4 import BeautifulSoup

from regwatch.errors import ParseError
from regwatch.normalise.press_claims import Claim, extract_claims
from regwatch.normalise.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

PARSER_VERSION = "press-1"

# trafilatura/htmldate bound dates by "today" unless told otherwise: fix it for repeatability.
_DATE_PARAMS = {"extensive_search": False, "original_date": True, "max_date": "2100-12-31"}


@dataclass(frozen=True)
class FeedEntry:
    feed_url: str
    link: str
    title: str
    summary: str  # plain text (HTML removed)
    published_at: str | None  # ISO 8601 as the feed gave it (with its offset), or None
    published_on: date | None  # the date in the publisher's own offset
    language: str | None
    entry_id: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    url: str
    title: str | None
    language: str | None
    version: str  # rss20, atom10, rss10, ...
    entries: tuple[FeedEntry, ...]
    problem: str | None = None  # not well-formed but entries were salvaged: why


@dataclass(frozen=True)
class Article:
    url: str
    outlet: str | None
    title: str | None
    published_on: date | None
    language: str | None
    text: str
    relevant: bool
    categories: tuple[str, ...]
    instruments: tuple[str, ...]
    claims: tuple[Claim, ...]
    headline_only: bool = False
    parser_version: str = PARSER_VERSION

    @property
    def jurisdiction(self) -> str | None:
        return next((c.value for c in self.claims if c.field == "jurisdiction"), None)

    def claim_values(self, field_name: str) -> list[Any]:
        return [c.value for c in self.claims if c.field == field_name]

    def to_json(self, *, with_text: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": self.url, "outlet": self.outlet, "title": self.title,
            "published_on": self.published_on.isoformat() if self.published_on else None,
            "language": self.language, "relevant": self.relevant,
            "jurisdiction": self.jurisdiction, "categories": list(self.categories),
            "instruments": list(self.instruments), "headline_only": self.headline_only,
            "claims": [c.to_json() for c in self.claims], "parser_version": self.parser_version,
        }
        if with_text:
            out["text"] = self.text
        return out


# ------------------------------------------------------------------ feeds

def parse_feed(data: bytes, *, url: str, content_type: str = "application/xml") -> ParsedFeed:
    """Entries of an RSS 0.9x/1.0/2.0 or Atom feed. Raises ParseError naming the feed when it
    is no feed at all or so broken that nothing could be salvaged. `url` resolves relative
    links; `content_type` is the server's (feedparser flags a non-XML type)."""
    try:
        parsed = feedparser.parse(data, response_headers={"content-location": url,
                                                          "content-type": content_type})
    except (ValueError, LookupError) as exc:  # a mangled encoding declaration, a NUL in it
        raise ParseError(url, f"not a readable feed: {type(exc).__name__}: {exc}") from None
    problem = None
    if parsed.bozo:
        problem = f"not well-formed: {parsed.get('bozo_exception')}"
    if not parsed.get("version") and not parsed.entries:  # feedparser sets no version on empty input
        raise ParseError(url, "not an RSS or Atom feed" + (f" ({problem})" if problem else ""))
    if problem and not parsed.entries:
        raise ParseError(url, problem)
    feed_lang = _lang(parsed.feed.get("language"))
    entries = []
    for e in parsed.entries:
        link = (e.get("link") or "").strip()
        title = _plain(e.get("title") or "")
        if not link and not title:
            continue  # a fragment the lenient parser made of a broken item
        when = e.get("published") or e.get("updated")
        at = _feed_datetime(when)
        entries.append(FeedEntry(
            feed_url=url, link=link, title=title, summary=_plain(e.get("summary") or ""),
            published_at=at.isoformat() if at else None, published_on=at.date() if at else None,
            language=_lang(e.get("language")) or feed_lang, entry_id=e.get("id"),
        ))
    if problem:
        problem += f"; {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} salvaged"
    return ParsedFeed(url, _plain(parsed.feed.get("title") or "") or None, feed_lang,
                      parsed.get("version") or "unknown", tuple(entries), problem)


def _feed_datetime(raw: str | None) -> datetime | None:
    """RFC 822 (RSS) or ISO 8601 (Atom, dc:date), keeping the publisher's offset."""
    if not raw:
        return None
    raw = raw.strip()
    for parse in (parsedate_to_datetime, lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))):
        try:
            return parse(raw)
        except (TypeError, ValueError, IndexError):
            continue
    log.debug("unreadable feed date %r", raw)
    return None


def _plain(html_or_text: str) -> str:
    if "<" in html_or_text:
        html_or_text = BeautifulSoup(html_or_text, "html.parser").get_text(" ")
    return re.sub(r"\s+", " ", html_or_text).strip()


def _lang(raw: str | None) -> str | None:
    m = re.match(r"\s*([A-Za-z]{2,3})(?:[-_]|\s*$)", raw or "")
    return m.group(1).lower() if m else None


# ------------------------------------------------------------------ articles

_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_OG_LOCALE = re.compile(r"<meta\b[^>]*property\s*=\s*[\"']og:locale[\"'][^>]*content\s*=\s*[\"']([A-Za-z]{2})",
                        re.IGNORECASE)
_KANA_KANJI = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def script_language(text: str) -> str | None:
    """ja when Japanese script dominates the letters, en when Latin does; None without letters."""
    ja, latin = len(_KANA_KANJI.findall(text)), len(_LATIN.findall(text))
    if not ja and not latin:
        return None
    return "ja" if ja * 3 >= latin else "en"  # a kanji carries about a word's worth


def extract_article(html: str | bytes, *, url: str, taxonomy: Taxonomy, outlet: str | None = None,
                    feed_title: str | None = None, feed_published: date | None = None,
                    summary: str | None = None, language: str | None = None) -> Article:
    """The story in an article page: main text without boilerplate, metadata, claims.
    Feed metadata fills what the page lacks (the page wins for title and date)."""
    if isinstance(html, bytes):
        html = _decode(html)
    doc = trafilatura.bare_extraction(
        html, url=url, favor_precision=True, with_metadata=True, include_comments=False,
        include_tables=False, include_images=False, deduplicate=False,
        date_extraction_params=_DATE_PARAMS)
    if doc is None or not (doc.text or "").strip():
        if not (feed_title or summary):
            raise ParseError(url, "no article text found in the page")
        log.info("%s: no article text; using the feed entry", url)
        return article_from_entry(url=url, title=feed_title or "", summary=summary or "",
                                  published_on=feed_published, outlet=outlet, language=language,
                                  taxonomy=taxonomy, headline_only=False)
    title = _clean_title(doc.title, doc.sitename) or feed_title
    text = _drop_title_line(doc.text, title)
    published = _iso_date(doc.date) or feed_published
    lang = _lang(_first(_HTML_LANG, html) or _first(_OG_LOCALE, html)) or language \
        or script_language(text)
    return _article(url=url, outlet=outlet or doc.sitename or None, title=title, text=text,
                    published_on=published, language=lang, taxonomy=taxonomy, headline_only=False)


def article_from_entry(*, url: str, title: str, summary: str, published_on: date | None,
                       outlet: str | None, language: str | None, taxonomy: Taxonomy,
                       headline_only: bool = True) -> Article:
    """A story known only from its feed entry (headline-only outlets, or no page fetched)."""
    text = _plain(summary)
    lang = language or script_language(f"{title} {text}")
    return _article(url=url, outlet=outlet, title=title or None, text=text, published_on=published_on,
                    language=lang, taxonomy=taxonomy, headline_only=headline_only)


def article_from_document(*, url: str, content: bytes | str | None, metadata: dict[str, Any],
                          taxonomy: Taxonomy) -> Article:
    """A stored `press_article` Document (its snapshot bytes + metadata) → Article.
    Only a fetched page (`metadata["fetched_page"]`) is read as HTML; headline-only entries
    and entries whose page was not fetched are read from the feed fields in the metadata."""
    feed_published = _iso_date(metadata.get("feed_published"))
    common = {"outlet": metadata.get("outlet") or None, "language": metadata.get("language") or None}
    if not metadata.get("fetched_page") or not content:
        return article_from_entry(url=url, title=metadata.get("feed_title") or "",
                                  summary=metadata.get("summary") or "", published_on=feed_published,
                                  taxonomy=taxonomy, headline_only=bool(metadata.get("headline_only")),
                                  **common)
    return extract_article(content, url=url, taxonomy=taxonomy, feed_title=metadata.get("feed_title"),
                           feed_published=feed_published, summary=metadata.get("summary"), **common)


def _article(*, url: str, outlet: str | None, title: str | None, text: str, published_on: date | None,
             language: str | None, taxonomy: Taxonomy, headline_only: bool) -> Article:
    whole = f"{title or ''}\n{text}"
    relevant = taxonomy.is_relevant(whole)
    claims = extract_claims(title or "", text, published_on=published_on, taxonomy=taxonomy) \
        if relevant else ()
    return Article(url=url, outlet=outlet, title=title, published_on=published_on, language=language,
                   text=text, relevant=relevant,
                   categories=taxonomy.categories_in(whole) if relevant else (),
                   instruments=taxonomy.instruments_in(whole) if relevant else (),
                   claims=claims, headline_only=headline_only)


def _decode(data: bytes) -> str:
    m = re.search(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_-]+)", data[:4096], re.IGNORECASE)
    for enc in ([m.group(1).decode("ascii")] if m else []) + ["utf-8"]:
        try:
            return data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return str(best) if best else data.decode("utf-8", errors="replace")


def _first(pattern: re.Pattern[str], html: str) -> str | None:
    m = pattern.search(html[:20000])
    return m.group(1) if m else None


def _clean_title(title: str | None, sitename: str | None) -> str | None:
    if not title:
        return None
    title = unicodedata.normalize("NFC", title).strip()
    if sitename:
        title = re.sub(rf"\s*[|｜\-–—]\s*{re.escape(sitename)}\s*$", "", title, flags=re.IGNORECASE)
    return title or None


def _drop_title_line(text: str, title: str | None) -> str:
    lines = text.strip().split("\n")
    if title and lines and _squash(lines[0]) == _squash(title):
        lines = lines[1:]
    return "\n".join(lines).strip()


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s)).casefold()


def _iso_date(raw: Any) -> date | None:
    if isinstance(raw, date):
        return raw if not isinstance(raw, datetime) else raw.date()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).date()
    except ValueError:
        return None


# ------------------------------------------------------------------ regwatch extract

@dataclass(frozen=True)
class _Item:
    file: str
    article: Article
    extra: dict[str, Any] = field(default_factory=dict)


def extract_files(paths: list[Path], *, taxonomy: Taxonomy | None = None) -> dict[str, Any]:
    """`regwatch extract --kind press`: article pages and/or feeds → articles and clusters.
    A feed's entries become headline articles named `FILE#N` (N from 1, in feed order)."""
    from regwatch.normalise.cluster import cluster_articles

    taxonomy = taxonomy or load_taxonomy()
    items: list[_Item] = []
    for path in paths:
        data = Path(path).read_bytes()
        if _looks_like_feed(data):
            feed = parse_feed(data, url=str(path))
            outlet = feed.title
            for n, e in enumerate(feed.entries, 1):
                art = article_from_entry(url=e.link, title=e.title, summary=e.summary,
                                         published_on=e.published_on, outlet=outlet,
                                         language=e.language, taxonomy=taxonomy)
                items.append(_Item(f"{path}#{n}", art, {"feed": str(path)}))
        else:
            url = _canonical_url(data) or Path(path).resolve().as_uri()
            items.append(_Item(str(path), extract_article(data, url=url, taxonomy=taxonomy)))
    clusters = cluster_articles([i.article for i in items if i.article.relevant])
    by_url: dict[str, list[str]] = {}
    for i in items:
        by_url.setdefault(i.article.url, []).append(i.file)
    return {
        "parser_version": PARSER_VERSION,
        "articles": [{"file": i.file, **i.extra, **i.article.to_json()} for i in items],
        "clusters": [[f for a in c.articles for f in by_url[a.url]] for c in clusters],
        "cluster_details": [c.to_json() for c in clusters],
    }


def _looks_like_feed(data: bytes) -> bool:
    head = data[:2048].lstrip().lower()
    return bool(re.search(rb"<(?:rss|feed|rdf:rdf)\b", head))


def _canonical_url(data: bytes) -> str | None:
    m = re.search(rb"<link[^>]+rel=[\"']canonical[\"'][^>]+href=[\"']([^\"']+)", data[:20000], re.IGNORECASE) \
        or re.search(rb"<meta[^>]+property=[\"']og:url[\"'][^>]+content=[\"']([^\"']+)", data[:20000],
                     re.IGNORECASE)
    return m.group(1).decode("utf-8", "replace") if m else None
