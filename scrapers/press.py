"""Trade press: RSS/Atom feeds and the article pages they link to.

Each feed in `urls` becomes a `press_feed` Document; each entry (up to `max_entries`) a
`press_article` Document keyed by its link. The article page is fetched once, when the
outlet's terms allow it (`headline_only = false`) and `fetch_articles` is on; otherwise the
Document carries only what the feed says (title, summary, link, date), stored as a small
JSON snapshot so it can be re-derived like any other. A malformed feed is an issue naming
the feed and the reason; the other feeds go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from regwatch.fetch.context import FetchContext
from regwatch.models import Document
from regwatch.normalise.press import FeedEntry, ParsedFeed, parse_feed
from regwatch.scraper import Scraper


@dataclass(frozen=True)
class Options:
    outlet: str = ""  # display name; empty: the feed's own title
    headline_only: bool = False  # the outlet's terms allow headline, summary and link only
    fetch_articles: bool = True
    max_entries: int = 200  # per feed and run, newest first as the feed lists them
    language: str = ""  # en | ja; empty: from the feed or the page


class Press(Scraper):
    kind = "press"
    Options = Options

    def scrape(self, ctx: FetchContext) -> Iterator[Document]:
        for feed_url in self.source.all_urls():
            with ctx.item(feed_url):
                yield from self._feed(ctx, feed_url)

    def _feed(self, ctx: FetchContext, feed_url: str) -> Iterator[Document]:
        result = ctx.fetch(feed_url, accept="application/rss+xml, application/atom+xml, "
                                            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1")
        outlet = self.options.outlet
        yield ctx.document(feed_url, kind="press_feed", result=result, metadata={"outlet": outlet or None})
        if result.not_modified or result.content is None:
            return  # 304: nothing new in the feed
        feed = parse_feed(result.content, url=feed_url)  # ParseError → issue via ctx.item
        if feed.problem:
            ctx.issue(f"malformed feed: {feed.problem}", url=feed_url, level="warning")
        if not feed.entries:
            ctx.issue("feed has no entries", url=feed_url, level="warning")
        if len(feed.entries) > self.options.max_entries:
            ctx.issue(f"feed lists {len(feed.entries)} entries; only the first {self.options.max_entries} "
                      "are read (max_entries)", url=feed_url, level="warning")
        for entry in feed.entries[: self.options.max_entries]:
            if not entry.link:
                ctx.issue(f"feed entry without a link: {entry.title[:80]!r}", url=feed_url, level="warning")
                continue
            with ctx.item(entry.link):
                yield self._entry(ctx, feed, entry, outlet or feed.title or "")

    def _entry(self, ctx: FetchContext, feed: ParsedFeed, entry: FeedEntry, outlet: str) -> Document:
        headline_only = self.options.headline_only or not self.options.fetch_articles
        meta = {
            "outlet": outlet or None, "feed_url": feed.url, "feed_title": entry.title,
            "feed_published": entry.published_at, "summary": entry.summary,
            "headline_only": self.options.headline_only,
            "language": self.options.language or entry.language,
        }
        stored = ctx.stored_metadata(entry.link) if ctx.is_stored(entry.link) else None
        if not headline_only:
            if stored is not None and not stored.get("headline_only") and stored.get("fetched_page"):
                # Articles are fetched once: stories rarely change, and outlets are many.
                return self._unchanged(ctx, entry, meta | {"fetched_page": True})
            return ctx.document(entry.link, kind="press_article", title=entry.title,
                                metadata=meta | {"fetched_page": True}, linked_from=feed.url)
        if stored is not None and all(stored.get(k) == meta[k] for k in ("feed_title", "summary")):
            return self._unchanged(ctx, entry, meta)
        # No page fetch: the feed's own words are the document (the terms allow no more).
        body = json.dumps({"link": entry.link, "title": entry.title, "summary": entry.summary,
                           "published": entry.published_at}, ensure_ascii=False, sort_keys=True)
        snapshot = ctx.fetcher.store.put(body.encode(), "application/json")
        return Document(source=self.source.name, key=entry.link, url=entry.link, kind="press_article",
                        fetched_at=ctx.now, snapshot=snapshot, text=f"{entry.title}\n\n{entry.summary}".strip(),
                        encoding="utf-8", title=entry.title, metadata=meta, linked_from=feed.url)

    def _unchanged(self, ctx: FetchContext, entry: FeedEntry, meta: dict) -> Document:
        return Document(source=self.source.name, key=entry.link, url=entry.link, kind="press_article",
                        fetched_at=ctx.now, snapshot=None, title=entry.title, unchanged=True, metadata=meta)
