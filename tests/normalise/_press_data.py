"""The recorded trade-press fixtures as Article records, shared by the press tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from regwatch.normalise.press import Article, article_from_entry, extract_article, parse_feed
from regwatch.normalise.taxonomy import Taxonomy, load_taxonomy

PRESS = Path(__file__).parents[1] / "fixtures" / "press"
ARTICLES = PRESS / "articles"
FEEDS = PRESS / "feeds"

# short name → article page (URL from the page's og:url, as a crawler would have it)
PAGES = {
    "jt2024": "japantimes-2024-04-26-quantum-export-controls.html",
    "jiji2024": "nippon-jiji-2024-04-26-export-curbs.html",
    "ja2024": "sangyo-ja-2024-04-26-yushutsu-kanri.html",
    "jt2023": "japantimes-2023-05-23-chip-equipment.html",
    "kyodo2023": "nippon-kyodo-2023-05-23-syndicated.html",
    "us2024": "supplychain-2024-09-06-bis-rule.html",
    "toyota": "japantimes-2024-05-10-toyota-earnings.html",
    "rumour2025": "nippon-2025-03-14-rumoured-hbm-controls.html",
}


@cache
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def page(name: str) -> Article:
    path = ARTICLES / PAGES[name]
    return extract_article(path.read_bytes(), url=f"https://press.test/{path.name}", taxonomy=taxonomy())


def nikkei_headline() -> Article:
    """The paywalled Nikkei-like item, known only from its feed entry (published a day early)."""
    feed = parse_feed((FEEDS / "nikkei-asia.rss").read_bytes(), url="https://asia.nikkei.com/rss/feed/nar")
    e = feed.entries[0]
    return article_from_entry(url=e.link, title=e.title, summary=e.summary, published_on=e.published_on,
                              outlet="Nikkei Asia", language=e.language, taxonomy=taxonomy())


def all_articles() -> list[Article]:
    return [page(n) for n in PAGES] + [nikkei_headline()]
