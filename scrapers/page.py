"""Generic page watcher (kind "page"): any list of URLs, optionally narrowed by a CSS selector.

Each URL becomes a `page` Document whose text is the watched part of the page, one line per
block element with whitespace collapsed, so a diff reads line by line and markup or script
changes are not changes. The pipeline turns text changes into added / changed / removed
rows of v_document_changes.

- 304 or the same bytes as last time: an `unchanged` Document (nothing is parsed).
- 404 or 410: a Document with metadata {"gone": True} → "removed". A URL no longer in the
  config (but stored from earlier runs) is reported the same way.
- Any other failure, or a selector that matches nothing, is an issue of the run and never
  "removed": an outage or a redesign must not read as a deletion.
- A changed selector refetches unconditionally, so the new selection is stored at once.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from regwatch.errors import ConfigError, FetchError, ParseError, ParserHealthError
from regwatch.fetch.context import FetchContext
from regwatch.fetch.http import FetchResult
from regwatch.models import Document
from regwatch.scraper import Scraper

GONE_STATUSES = {404, 410}
_SKIP = ("script", "style", "noscript", "template", "head")
_BLOCK = {
    "address", "article", "aside", "blockquote", "br", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
    "tbody", "tfoot", "thead", "tr", "ul", "caption", "body", "html", "option",
}
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
# Control characters XML forbids: lxml keeps them in parsed text, then refuses them on write.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BREAK = "\ufdd0"  # a Unicode noncharacter: never real text, allowed in XML


@dataclass(frozen=True)
class Options:
    urls_file: str = ""  # a text file with one URL per line (# comments), besides url/urls
    selector: str = ""  # CSS selector of the watched part; empty: the whole <body>


class Page(Scraper):
    kind = "page"
    Options = Options

    def __init__(self, source):
        super().__init__(source)
        if self.options.selector:
            _compile(self.options.selector, f"source.{source.name}.selector")  # fail at config time

    def urls(self) -> list[str]:
        urls = list(self.source.all_urls())
        if self.options.urls_file:
            urls += read_urls_file(Path(self.options.urls_file), self.source.name)
        return list(dict.fromkeys(urls))  # de-duplicated, order kept

    def scrape(self, ctx: FetchContext) -> Iterator[Document]:
        urls = self.urls()
        selector = self.options.selector
        stored = ctx.stored_metadata_map(kind="page")
        # A changed selector must re-read the page even if the server says 304.
        fresh = {u for u in urls if u in stored and (stored[u] or {}).get("selector", "") != selector}
        plain = [u for u in urls if u not in fresh]
        for batch, conditional in ((plain, True), (sorted(fresh), False)):
            for url, got in ctx.fetch_many(batch, conditional=conditional):
                with ctx.item(url):
                    yield self._document(ctx, url, got, selector)
        for key in sorted(set(stored) - set(urls)):
            yield _gone(ctx, key, selector, reason="no longer configured")

    def _document(self, ctx: FetchContext, url: str, got: FetchResult | FetchError,
                  selector: str) -> Document:
        if isinstance(got, FetchError):
            if got.status in GONE_STATUSES:
                return _gone(ctx, url, selector, reason=f"HTTP {got.status}")
            raise got
        meta = {"selector": selector}
        if got.unchanged:
            return ctx.document(url, kind="page", result=got, metadata=meta)
        if got.text is None:
            raise ParseError(url, f"not a text page ({got.media_type})")
        title, text = watched_text(got.text, selector, url=url)
        doc = ctx.document(url, kind="page", result=got, title=title, metadata=meta)
        return _replace_text(doc, text)


def watched_text(html: str, selector: str = "", *, url: str = "") -> tuple[str | None, str]:
    """(title, watched text) of an HTML page: the selected elements' text, one line per block.

    Pure. ParserHealthError when the selector matches nothing.
    """
    from lxml import etree

    html = html.replace(_BREAK, " ")
    decl = _XML_DECL.match(html)  # match, not sub: sub would try every position of the page
    if decl:
        html = html[decl.end():]
    html = _CONTROL.sub("", html)
    try:
        # lxml.html's parser, without its Python element-class lookup per element touched.
        root = etree.fromstring(html or "<html></html>", _html_parser())
        if root is None:
            raise etree.ParserError("Document is empty")
    except Exception as exc:  # lxml raises several types on hopeless input
        raise ParseError(url, f"not parseable as HTML: {exc}") from None
    title_el = root.find(".//title")
    title = _collapse(_string_value(title_el)) if title_el is not None else None
    if selector:
        nodes = _compile(selector, "selector")(root)
        if not nodes:
            raise ParserHealthError(url, f"selector {selector!r} matched nothing")
    else:
        body = root.find("body")
        nodes = [body if body is not None else root]
    etree.strip_elements(root, *_SKIP, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    lines: list[str] = []
    for node in nodes:
        _mark_breaks(node)
        raw = etree.tostring(node, method="text", encoding="unicode", with_tail=False)
        # str.split() knows every Unicode space (U+3000 too) and is much faster than a regex.
        lines += [ln for ln in (" ".join(seg.split()) for seg in raw.split(_BREAK)) if ln]
    return title or None, "\n".join(lines)


_local = threading.local()


def _html_parser():
    """The parser lxml.html uses (same options), one per thread as lxml asks."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        from lxml import etree

        parser = _local.parser = etree.HTMLParser()
    return parser


@functools.cache
def _string_xpath():
    from lxml import etree

    return etree.XPath("string()")  # what lxml.html's text_content() evaluates


def _string_value(el) -> str:
    return str(_string_xpath()(el))


def _mark_breaks(node) -> None:
    """Put a break marker at the edges of block elements, keep <pre> lines, space table cells.

    The marker survives the text serialisation, where source newlines become spaces."""
    for pre in node.iter("pre"):
        for el in pre.iter():
            if el.text:
                el.text = el.text.replace("\n", _BREAK)
            if el.tail and el is not pre:
                el.tail = el.tail.replace("\n", _BREAK)
    for el in node.iter(*_BLOCK):
        el.text = _BREAK + el.text if el.text else _BREAK
        if el is not node:
            el.tail = _BREAK + el.tail if el.tail else _BREAK
    for el in node.iter("td", "th"):
        el.tail = " " + el.tail if el.tail else " "


def read_urls_file(path: Path, source_name: str) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read urls_file: {exc.strerror}", file=str(path),
                          key=f"source.{source_name}.urls_file") from None
    urls = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if bad:
        raise ConfigError(f"not an http(s) URL: {bad[0]!r}", file=str(path),
                          key=f"source.{source_name}.urls_file")
    return urls


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _compile(selector: str, key: str):
    try:
        return _css(selector)
    except ValueError as exc:
        raise ConfigError(f"invalid CSS selector {selector!r}: {exc}", key=key) from None


@functools.lru_cache(maxsize=64)
def _css(selector: str):
    """Compiled once per selector: translating CSS to XPath costs more than parsing a page."""
    from cssselect import SelectorError
    from lxml.cssselect import CSSSelector

    try:
        return CSSSelector(selector, translator="html")
    except (SelectorError, SyntaxError) as exc:
        raise ValueError(str(exc)) from None


def _gone(ctx: FetchContext, url: str, selector: str, *, reason: str) -> Document:
    return Document(source=ctx.source.name, key=url, url=url, kind="page", fetched_at=ctx.now,
                    snapshot=None, metadata={"gone": True, "reason": reason, "selector": selector})


def _replace_text(doc: Document, text: str) -> Document:
    from dataclasses import replace

    return replace(doc, text=text)
