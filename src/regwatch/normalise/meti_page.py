"""The parts of a METI news-release page: title, date line, body sentences, links.

METI detail pages (SOURCES.md §3.1, §3.2) put the title in the first ``h1``, a date line right
after it (``2024年4月26日`` or ``April 26, 2024``), then the body: a fixed purpose paragraph,
numbered sections (``1.改正の概要``, ``2.今後の予定`` / "Outline of the revision") and a
contact section (``担当`` / "Division in Charge") where the body ends. Anything else is a
layout we do not know, reported as ParserHealthError so that it is never read as "no news".
Pure: HTML text in, frozen records out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

from regwatch.errors import DateParseError, ParserHealthError
from regwatch.normalise.dates_ja import parse_date

_BLOCKS = ("p", "li", "dt", "dd", "td", "th", "h2", "h3", "h4", "h5")
_HEADINGS = ("h2", "h3", "h4", "h5")
_CHROME = re.compile(r"header|footer|breadcrumb|gnavi|side|menu|banner|pankuzu", re.I)
_STOP = re.compile(r"^\s*(担当|お問合せ|お問い合わせ|問い合わせ先|Division in Charge|Contact|Inquiries)\s*$",
                   re.I)
_KANA = re.compile(r"[\u3040-\u30ff]")
# Sentence ends: Japanese full stop (not one inside （以下「…」という。）), or an English full stop before a capital/opening bracket.
_SENTENCE = re.compile(r"(?<=。)(?![）)」』])|(?<=[.!?])\s+(?=[A-Z(\"“])")
_PURPOSE = re.compile(r"国際的な平和及び安全の維持|maintaining international peace and security", re.I)


@dataclass(frozen=True)
class Sentence:
    text: str  # as written (whitespace collapsed)
    heading: str | None  # the section heading above it, for context ("2.意見募集期間")
    purpose: bool = False  # part of the fixed purpose boilerplate


@dataclass(frozen=True)
class Link:
    url: str
    title: str
    kind: str  # pdf | page

    def to_json(self) -> dict:
        return {"url": self.url, "title": self.title, "kind": self.kind}


@dataclass(frozen=True)
class Page:
    url: str
    language: str  # ja | en
    title: str
    date_line: str | None
    date: date | None
    sentences: tuple[Sentence, ...]
    links: tuple[Link, ...]

    @property
    def body_text(self) -> str:
        return "\n".join(s.text for s in self.sentences)


def _clean(text: str) -> str:
    return re.sub(r"[ \t\r\f\v\u00a0]+", " ", text).strip()


def _in_chrome(tag: Tag) -> bool:
    for parent in [tag, *tag.parents]:
        if not isinstance(parent, Tag):
            continue
        ident = " ".join([parent.get("id") or "", *(parent.get("class") or [])])
        if ident and _CHROME.search(ident):
            return True
        if parent.name in ("header", "footer", "nav", "script", "style", "noscript"):
            return True
    return False


def _language(soup: BeautifulSoup, title: str) -> str:
    html = soup.find("html")
    lang = (html.get("lang") or "").lower() if isinstance(html, Tag) else ""
    if lang.startswith(("ja", "en")):
        return lang[:2]
    return "ja" if _KANA.search(title) else "en"


def _split(text: str) -> list[str]:
    out: list[str] = []
    for line in text.split("\n"):
        out.extend(p for p in (_clean(s) for s in _SENTENCE.split(line)) if p)
    return out


def parse_page(html: str, *, url: str) -> Page:
    """Split a detail page into its parts. Raises ParserHealthError on an unknown layout."""
    soup = BeautifulSoup(html, "lxml")
    h1 = next((h for h in soup.find_all("h1") if not _in_chrome(h) and _clean(h.get_text())), None)
    if h1 is None:
        raise ParserHealthError(url, "no <h1> title on the page: layout changed?")
    title = _clean(h1.get_text(" "))
    language = _language(soup, title)

    date_line: str | None = None
    the_date: date | None = None
    start: Tag = h1
    # The date line is one of the few elements right after the title.
    for el in list(h1.find_all_next(["p", "div", "span", "time"], limit=6)):
        text = _clean(el.get_text(" "))
        try:
            the_date = parse_date(text, source=url)
        except DateParseError:
            continue
        date_line, start = text, el
        break

    sentences: list[Sentence] = []
    links: list[Link] = []
    heading: str | None = None
    seen_links: set[str] = set()
    for el in start.find_all_next(list(_BLOCKS) + ["a"]):
        if _in_chrome(el):
            continue
        if el.name == "a":
            href = el.get("href")
            if href and not href.startswith(("#", "mailto:", "javascript:")):
                try:
                    absolute = urljoin(url, href)
                    scheme = urlsplit(absolute).scheme
                except ValueError:  # not a usable URL ("http://[x"): not a link we can follow
                    continue
                if absolute not in seen_links and scheme in ("http", "https"):
                    seen_links.add(absolute)
                    kind = "pdf" if urlsplit(absolute).path.lower().endswith(".pdf") else "page"
                    links.append(Link(absolute, _clean(el.get_text(" ")), kind))
            continue
        if el.find(list(_BLOCKS)):
            continue  # only leaf blocks, so no text is read twice
        text = el.get_text("\n")
        if el.name in _HEADINGS:
            heading = _clean(text)
            if _STOP.match(heading):
                break
            continue
        purpose = bool(_PURPOSE.search(text))
        for s in _split(text):
            sentences.append(Sentence(s, heading, purpose))
    if not sentences:
        raise ParserHealthError(url, "title found but no body text after it: layout changed?")
    return Page(url, language, title, date_line, the_date, tuple(sentences), tuple(links))
