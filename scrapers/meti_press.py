"""METI news releases: the Japanese Atom feed or the English index and back-issue pages.

index → dated entries → detail pages → PDFs linked from them.

- Each index page (feed, English index, followed back-issue pages) is a `meti_index` Document;
  its metadata lists every entry seen, with `fetched` true or false, so entries that were
  looked at and ignored are on record.
- Detail pages are fetched only for entries whose listed title looks like export control
  (taxonomy terms, or a category term with regulatory wording: `meti_index.looks_relevant`),
  or for every entry with `details = "all"`. Unrelated METI news (dozens a week) is thus never
  fetched. Each detail request is conditional, so an unchanged page costs a 304 and comes back
  `unchanged`; the extractor decides final relevance from the full text.
- PDFs linked from a detail page (概要, 新旧対照表) are `pdf` Documents, fetched when the page
  is new or changed (not on every run), each at most once per run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from regwatch.errors import ConfigError, ParserHealthError
from regwatch.fetch.context import FetchContext
from regwatch.models import Document
from regwatch.normalise.meti_index import IndexEntry, looks_relevant, parse_atom, parse_en_index
from regwatch.normalise.meti_page import parse_page
from regwatch.normalise.taxonomy import Taxonomy, load_taxonomy
from regwatch.scraper import Scraper

FEED_ACCEPT = "application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"


@dataclass(frozen=True)
class Options:
    language: str = "ja"  # ja: `url` is the Atom feed; en: `url` is the English news-release index
    max_entries: int = 60  # entries considered per run, newest first
    details: str = "relevant"  # relevant | all: which entries get their detail page fetched
    back_issues: int = 1  # en: back-issue pages linked from the index to read as well
    fetch_pdfs: bool = True
    taxonomy: str = ""  # taxonomy TOML for the title filter; empty: the bundled one


class MetiPress(Scraper):
    kind = "meti_press"
    Options = Options

    def __init__(self, source):
        super().__init__(source)
        if self.options.language not in ("ja", "en"):
            raise ConfigError("must be ja or en", key=f"source.{source.name}.language")
        if self.options.details not in ("relevant", "all"):
            raise ConfigError("must be relevant or all", key=f"source.{source.name}.details")

    def scrape(self, ctx: FetchContext) -> Iterator[Document]:
        taxonomy = load_taxonomy(self.options.taxonomy or None)
        entries: list[tuple[IndexEntry, str]] = []
        for url in self.source.all_urls():
            with ctx.item(url):
                yield from self._index(ctx, url, entries, taxonomy)
        if len(entries) > self.options.max_entries:
            ctx.issue(f"indexes list {len(entries)} entries; only the first {self.options.max_entries} "
                      "are considered (max_entries)", level="warning")
        seen: set[str] = set()
        for entry, index_url in entries[: self.options.max_entries]:
            if entry.url in seen or not self._wanted(entry, taxonomy):
                continue
            seen.add(entry.url)
            with ctx.item(entry.url):
                yield from self._detail(ctx, entry, index_url)

    def _wanted(self, entry: IndexEntry, taxonomy: Taxonomy) -> bool:
        return self.options.details == "all" or looks_relevant(entry.title, taxonomy)

    def _index(self, ctx: FetchContext, url: str, out: list[tuple[IndexEntry, str]],
               taxonomy: Taxonomy) -> Iterator[Document]:
        en = self.options.language == "en"
        result = ctx.fetch(url, accept=None if en else FEED_ACCEPT)
        if result.content is None:  # 304: nothing new listed
            yield ctx.document(url, kind="meti_index", result=result, metadata={"language": self.options.language})
            return
        if en:
            found, back = parse_en_index(result.text or "", url=url)
        else:
            found, back = parse_atom(result.content, url=url), []
        yield self._index_doc(ctx, url, result, found, taxonomy)
        out.extend((e, url) for e in found)
        for back_url in back[: self.options.back_issues]:
            with ctx.item(back_url):
                res = ctx.fetch(back_url)
                if res.content is None:
                    yield ctx.document(back_url, kind="meti_index", result=res,
                                       metadata={"language": "en"}, linked_from=url)
                    continue
                more, _ = parse_en_index(res.text or "", url=back_url)
                yield self._index_doc(ctx, back_url, res, more, taxonomy, linked_from=url)
                out.extend((e, back_url) for e in more)

    def _index_doc(self, ctx, url, result, entries, taxonomy, linked_from=None) -> Document:
        listed = [e.to_json() | {"fetched": self._wanted(e, taxonomy)} for e in entries]
        ignored = sum(not e["fetched"] for e in listed)
        if ignored:
            ctx.log.debug("%s: %d of %d entries look unrelated, not fetched", url, ignored, len(listed))
        return ctx.document(url, kind="meti_index", result=result, linked_from=linked_from,
                            metadata={"language": self.options.language, "entries": listed})

    def _detail(self, ctx: FetchContext, entry: IndexEntry, index_url: str) -> Iterator[Document]:
        meta = {"language": self.options.language,
                "listed_date": entry.listed_date.isoformat() if entry.listed_date else None,
                "listed_title": entry.title,
                "japanese_date": entry.japanese_date.isoformat() if entry.japanese_date else None}
        doc = ctx.document(entry.url, kind="meti_press", title=entry.title, metadata=meta,
                           linked_from=index_url)
        yield doc
        if doc.unchanged or not doc.text or not self.options.fetch_pdfs:
            return
        try:
            page = parse_page(doc.text, url=entry.url)
        except ParserHealthError as exc:  # the page is stored; say loudly that we cannot read it
            ctx.issue(str(exc), url=entry.url)
            return
        for link in page.links:
            if link.kind != "pdf":
                continue
            with ctx.item(link.url):
                yield ctx.document(link.url, kind="pdf", title=link.title or None,
                                   metadata={"media_type": "application/pdf"}, linked_from=entry.url)
