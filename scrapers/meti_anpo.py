"""METI security export control pages (安全保障貿易管理, https://www.meti.go.jp/policy/anpo/).

These pages have no feed. Each configured URL is watched as a `page` Document whose text is
the what's-new section only (one normalised line per dated entry), so restyled navigation is
not a change; the entries themselves go in metadata. A page whose what's-new section cannot
be found is an issue (ParserHealthError), never an empty section: an outage or a redesign
must not read as "all news removed".
When the page changed, the entries' links are followed: PDFs become `pdf` Documents and
pages under /policy/anpo/ become `page` Documents (their main text); links to news releases
are left to the meti_press sources.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from regwatch.fetch.context import FetchContext
from regwatch.models import Document
from regwatch.normalise.meti_index import page_main_text, parse_anpo_news
from regwatch.scraper import Scraper


@dataclass(frozen=True)
class Options:
    selector: str = ""  # CSS selector of the what's-new section; empty: the block under 新着情報
    max_entries: int = 20  # newest entries whose links are followed
    follow_pages: bool = True
    fetch_pdfs: bool = True


class MetiAnpo(Scraper):
    kind = "meti_anpo"
    Options = Options

    def scrape(self, ctx: FetchContext) -> Iterator[Document]:
        for url in self.source.all_urls():
            with ctx.item(url):
                yield from self._page(ctx, url)

    def _page(self, ctx: FetchContext, url: str) -> Iterator[Document]:
        result = ctx.fetch(url)
        if result.content is None:  # 304
            yield ctx.document(url, kind="page", result=result, metadata={"selector": self.options.selector})
            return
        news = parse_anpo_news(result.text or "", url=url, selector=self.options.selector)
        doc = ctx.document(url, kind="page", result=result, title=news.title,
                           metadata={"selector": news.selector, "entries": [e.to_json() for e in news.entries]})
        yield dataclasses.replace(doc, text=news.text)
        if doc.unchanged:
            return
        done: set[str] = {url}
        anpo_root = urlsplit(url).path.rsplit("/", 1)[0] + "/"
        for entry in news.entries[: self.options.max_entries]:
            for link in entry.links:
                if link.url in done:
                    continue
                done.add(link.url)
                if link.kind == "pdf" and self.options.fetch_pdfs and not ctx.is_stored(link.url):
                    with ctx.item(link.url):
                        yield ctx.document(link.url, kind="pdf", title=link.title or None,
                                           metadata={"media_type": "application/pdf",
                                                     "listed_date": entry.listed_date.isoformat()},
                                           linked_from=url)
                elif (link.kind == "page" and self.options.follow_pages
                      and urlsplit(link.url).path.startswith(anpo_root)):
                    with ctx.item(link.url):
                        res = ctx.fetch(link.url)
                        sub = ctx.document(link.url, kind="page", title=link.title or None, result=res,
                                           metadata={"selector": "#main", "listed_date": entry.listed_date.isoformat()},
                                           linked_from=url)
                        text = page_main_text(res.text) if res.text else None
                        yield dataclasses.replace(sub, text=text) if text else sub
