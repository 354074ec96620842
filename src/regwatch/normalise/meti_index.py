"""METI index pages → dated entries: the Atom feed of Japanese releases, the English news-release
and back-issue pages, and the "新着情報" (what's new) section of the security export control pages.

Pure parsers used by scrapers/meti_press.py and scrapers/meti_anpo.py. A page that parses but
yields no entry where entries are expected raises ParserHealthError (layout changed), never
an empty list that would read as "no news".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urljoin, urlsplit

import feedparser
from bs4 import BeautifulSoup, Tag

from regwatch.errors import DateParseError, ParseError, ParserHealthError
from regwatch.normalise.dates_ja import parse_date
from regwatch.normalise.taxonomy import Taxonomy, fold

_WS = re.compile(r"\s+")
_MAYBE = re.compile(r"改正|省令|政令|施行|公布|閣議決定|意見募集|ordinance|cabinet order|amend|public comment")


def _clean(s: str) -> str:
    return _WS.sub(" ", s).strip()


@dataclass(frozen=True)
class IndexEntry:
    url: str
    title: str
    listed_date: date | None
    japanese_date: date | None = None  # English indexes give the Japanese release date too

    def to_json(self) -> dict:
        return {"url": self.url, "title": self.title,
                "listed_date": self.listed_date.isoformat() if self.listed_date else None,
                "japanese_date": self.japanese_date.isoformat() if self.japanese_date else None}


def looks_relevant(title: str, taxonomy: Taxonomy) -> bool:
    """Worth fetching the detail page: an export-control term in the title, or a category term
    together with regulatory wording ("先端半導体製造装置に係る改正省令が施行されます")."""
    return taxonomy.is_relevant(title) or bool(taxonomy.categories_in(title) and _MAYBE.search(fold(title)))


def _join(base: str, href: str) -> str | None:
    """`href` resolved against `base`; None when it is no usable URL (e.g. "http://[x")."""
    try:
        return urljoin(base, href)
    except ValueError:
        return None


# ------------------------------------------------------------------------------ Atom feed


def parse_atom(data: bytes, *, url: str) -> list[IndexEntry]:
    try:
        feed = feedparser.parse(data)
    except (ValueError, LookupError) as exc:  # a mangled encoding declaration, a NUL in it
        raise ParseError(url, f"not a readable feed: {type(exc).__name__}: {exc}") from None
    if feed.bozo and not feed.entries:
        raise ParseError(url, f"not a readable feed: {feed.get('bozo_exception')}")
    out: list[IndexEntry] = []
    for e in feed.entries:
        link = e.get("link")
        if not link:
            continue
        stamp = e.get("published") or e.get("updated")
        listed: date | None = None
        if stamp:
            try:  # the date as written in its own offset (JST on METI), not converted to UTC
                listed = datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()
            except ValueError:
                listed = None
        absolute = _join(url, link)
        if absolute is None:
            continue
        out.append(IndexEntry(absolute, _clean(e.get("title", "")), listed))
    if not out:
        raise ParserHealthError(url, "feed has no entries with links")
    return out


# ------------------------------------------------------------------------------ English indexes


def _date_of(text: str) -> date | None:
    try:
        return parse_date(_clean(text).strip("()"), source="index")
    except DateParseError:
        return None


def parse_en_index(html: str, *, url: str) -> tuple[list[IndexEntry], list[str]]:
    """Entries grouped under English date headings, each with the Japanese release date below
    its link; plus the back-issue pages the index links to (newest first, as listed)."""
    soup = BeautifulSoup(html, "lxml")
    main = soup.find(id="main") or soup.body or soup
    entries: list[IndexEntry] = []
    current: date | None = None
    for el in main.find_all(["h2", "h3", "dt", "p", "li"]):
        if el.name in ("h2", "h3", "dt", "p") and not el.find("a"):
            d = _date_of(el.get_text(" "))
            if d is not None:
                current = d
            continue
        a = el.find("a", href=True) if el.name == "li" else None
        if a is None or current is None or "BackIssue" in a["href"]:
            continue
        japanese = None
        for piece in el.find_all(string=True):
            if piece.parent is not a and (d := _date_of(str(piece))):
                japanese = d
        if (absolute := _join(url, a["href"])) is not None:
            entries.append(IndexEntry(absolute, _clean(a.get_text(" ")), current, japanese))
    back = [b for a in main.find_all("a", href=True) if "BackIssue" in a["href"]
            and (b := _join(url, a["href"])) is not None]
    if not entries:
        raise ParserHealthError(url, "no dated entries on the English news-release index: layout changed?")
    return entries, list(dict.fromkeys(back))


# ------------------------------------------------------------------------------ anpo "what's new"

_NEWS_HEADING = re.compile(r"新着情報|お知らせ|What's New", re.I)


@dataclass(frozen=True)
class AnpoLink:
    url: str
    title: str
    kind: str  # pdf | page | press


@dataclass(frozen=True)
class AnpoEntry:
    listed_date: date
    date_text: str
    title: str
    links: tuple[AnpoLink, ...]

    def to_json(self) -> dict:
        return {"listed_date": self.listed_date.isoformat(), "date_text": self.date_text,
                "title": self.title, "links": [{"url": x.url, "title": x.title, "kind": x.kind} for x in self.links]}


@dataclass(frozen=True)
class AnpoNews:
    selector: str
    text: str  # the watched text: one normalised line per entry
    entries: tuple[AnpoEntry, ...]
    title: str | None = None  # the page's <title> (else its first <h1>), for reports


def _link_kind(url: str) -> str:
    path = urlsplit(url).path.lower()
    if path.endswith(".pdf"):
        return "pdf"
    return "press" if "/press/" in path else "page"


def _news_section(soup: BeautifulSoup, selector: str) -> Tag | None:
    if selector:
        found = soup.select_one(selector)
        return found if isinstance(found, Tag) else None
    for h in soup.find_all(["h2", "h3"]):
        if _NEWS_HEADING.search(h.get_text()):
            return h.parent if isinstance(h.parent, Tag) else None
    return None


def parse_anpo_news(html: str, *, url: str, selector: str = "") -> AnpoNews:
    """The dated entries of the what's-new section (dl of dt date / dd item, or li "date item")."""
    soup = BeautifulSoup(html, "lxml")
    section = _news_section(soup, selector)
    used = selector or "h2:-soup-contains(新着情報) parent"
    if section is None:
        raise ParserHealthError(url, f"no what's-new section ({used}): layout changed?")
    entries: list[AnpoEntry] = []
    for dt in section.find_all("dt"):
        dd = dt.find_next_sibling("dd")
        d = _date_of(dt.get_text(" "))
        if dd is not None and d is not None:
            entries.append(_entry(d, _clean(dt.get_text(" ")), dd, url))
    if not entries:
        for li in section.find_all("li"):
            text = _clean(li.get_text(" "))
            m = re.match(r"^(\S+?日|R\d+\.\d+\.\d+|\d{4}[./]\d{1,2}[./]\d{1,2})\s*", text)
            d = _date_of(m.group(1)) if m else None
            if d is not None:
                entries.append(_entry(d, m.group(1), li, url))
    if not entries:
        raise ParserHealthError(url, f"what's-new section ({used}) has no dated entries: layout changed?")
    text = "\n".join(f"{e.listed_date.isoformat()} {e.title}" for e in entries)
    heading = soup.title or soup.find("h1")
    title = _clean(heading.get_text(" ")) if heading is not None else ""
    return AnpoNews(used, text, tuple(entries), title or None)


def _entry(d: date, date_text: str, el: Tag, base: str) -> AnpoEntry:
    links = tuple(AnpoLink(u, _clean(a.get_text(" ")), _link_kind(u))
                  for a in el.find_all("a", href=True) if (u := _join(base, a["href"])) is not None)
    title = _clean(el.get_text(""))  # Japanese: no spaces between inline pieces
    if title.startswith(date_text):
        title = title[len(date_text):].strip()
    return AnpoEntry(d, date_text, title, links)


def page_main_text(html: str) -> str:
    """Watched text of an ordinary anpo page: the main column without navigation chrome."""
    soup = BeautifulSoup(html, "lxml")
    main = soup.find(id="main") or soup.body or soup
    for junk in main.find_all(class_=re.compile(r"side|menu|banner|breadcrumb")):
        junk.decompose()
    lines = [_clean(s) for s in main.get_text("\n").split("\n")]
    return "\n".join(line for line in lines if line)
