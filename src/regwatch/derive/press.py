"""Press articles from stored stories, and their clusters linked to official events."""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from regwatch.db.tables import PressArticle
from regwatch.derive.versions import pending

log = logging.getLogger(__name__)

KIND = "press_article"


def derive_pending(session: Session, store, taxonomy) -> list:
    from regwatch.derive import Problem
    from regwatch.errors import ParseError
    from regwatch.normalise.press import PARSER_VERSION, article_from_document

    problems = []
    for p in pending(session, KIND, PressArticle.document_version_id):
        content = p.text if p.text is not None else (
            store.get(p.snapshot_sha256) if p.snapshot_sha256 else None)
        try:
            article = article_from_document(url=p.url, content=content, metadata=p.metadata,
                                            taxonomy=taxonomy)
        except ParseError as exc:
            problems.append(Problem(p.source, p.url, str(exc)))
            session.add(PressArticle(document_version_id=p.version_id, url=p.url,
                                     title=p.metadata.get("feed_title"), relevant=False,
                                     record={"error": str(exc)}, parser_version=PARSER_VERSION))
            continue
        session.add(PressArticle(
            document_version_id=p.version_id, url=p.url, outlet=article.outlet,
            title=article.title, published_on=article.published_on, language=article.language,
            relevant=article.relevant, record=article.to_json(with_text=True),
            parser_version=PARSER_VERSION))
    session.flush()
    return problems


def relevant_articles(session: Session) -> list[tuple[PressArticle, object]]:
    """(row, Article) for the latest version of every relevant story."""
    rows = session.scalars(select(PressArticle).where(PressArticle.relevant.is_(True))
                           .order_by(PressArticle.document_version_id)).all()
    latest: dict[str, PressArticle] = {}
    for row in rows:  # later versions of the same URL replace earlier ones
        latest[row.url] = row
    return [(row, article_from_record(row.record)) for row in latest.values()]


def article_from_record(record: dict):
    """The Article a stored record was made from (the inverse of Article.to_json)."""
    from regwatch.normalise.press import Article
    from regwatch.normalise.press_claims import Claim

    return Article(
        url=record["url"], outlet=record.get("outlet"), title=record.get("title"),
        published_on=date.fromisoformat(record["published_on"]) if record.get("published_on") else None,
        language=record.get("language"), text=record.get("text") or "",
        relevant=bool(record.get("relevant")), categories=tuple(record.get("categories") or ()),
        instruments=tuple(record.get("instruments") or ()),
        claims=tuple(Claim(c["field"], c["value"], c["quote"]) for c in record.get("claims") or ()),
        headline_only=bool(record.get("headline_only")),
        parser_version=record.get("parser_version") or "")
