"""Stories about the same event: near-duplicate text, or the same event signature.

Two relevant articles belong together when
- their texts are near-duplicates (a syndicated wire story under another outlet's chrome):
  MinHash estimate of the Jaccard similarity of character n-gram shingles, which needs no
  word segmentation and so works for Japanese as well as English; or
- they describe the same event in different words (or languages): same jurisdiction,
  overlapping categories, published within a window of each other (or claiming the same
  announcement or effective date), and no disjoint item counts ("23 types" vs "four").
Clusters are the connected components. Pure and deterministic (fixed hash seeds; keys from
the earliest story's URL).
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from regwatch.normalise.press import Article, script_language
from regwatch.normalise.press_claims import Claim

NUM_PERM = 64
_PRIME = (1 << 61) - 1
_rng = random.Random(20240426)  # fixed: the same signatures in every run and process
_PERMS = tuple((_rng.randrange(1, _PRIME), _rng.randrange(0, _PRIME)) for _ in range(NUM_PERM))
del _rng


@dataclass(frozen=True)
class ArticleCluster:
    key: str
    articles: tuple[Article, ...]  # ordered by (published_on, url)

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(a.url for a in self.articles)

    @property
    def jurisdiction(self) -> str | None:
        found = {a.jurisdiction for a in self.articles} - {None}
        return found.pop() if len(found) == 1 else None

    @property
    def categories(self) -> tuple[str, ...]:
        out: list[str] = []
        for a in self.articles:
            out.extend(c for c in a.categories if c not in out)
        return tuple(out)

    @property
    def instruments(self) -> tuple[str, ...]:
        out: list[str] = []
        for a in self.articles:
            out.extend(i for i in a.instruments if i not in out)
        return tuple(out)

    @property
    def published(self) -> tuple[date, ...]:
        return tuple(sorted(a.published_on for a in self.articles if a.published_on))

    def claims(self, field_name: str) -> list[tuple[Article, Claim]]:
        return [(a, c) for a in self.articles for c in a.claims if c.field == field_name]

    def to_json(self) -> dict[str, Any]:
        pub = self.published
        return {"key": self.key, "urls": list(self.urls), "jurisdiction": self.jurisdiction,
                "categories": list(self.categories), "instruments": list(self.instruments),
                "first_published": pub[0].isoformat() if pub else None,
                "last_published": pub[-1].isoformat() if pub else None}


# ------------------------------------------------------------------ text similarity

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def shingles(text: str) -> set[str]:
    """Character n-grams of the text with punctuation and spaces removed: 3-grams for
    Japanese (a kanji carries about a syllable's worth), 5-grams otherwise."""
    flat = _NON_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())
    n = 3 if script_language(text) == "ja" else 5
    if len(flat) <= n:
        return {flat} if flat else set()
    return {flat[i:i + n] for i in range(len(flat) - n + 1)}


def minhash(grams: set[str]) -> tuple[int, ...]:
    if not grams:
        return ()
    hashed = [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big") for g in grams]
    return tuple(min((a * h + b) % _PRIME for h in hashed) for a, b in _PERMS)


def similarity(sig_a: tuple[int, ...], sig_b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two MinHash signatures."""
    if not sig_a or not sig_b:
        return 0.0
    return sum(x == y for x, y in zip(sig_a, sig_b, strict=True)) / NUM_PERM


def text_similarity(a: str, b: str) -> float:
    return similarity(minhash(shingles(a)), minhash(shingles(b)))


# ------------------------------------------------------------------ event signature

def same_event(a: Article, b: Article, *, window_days: int = 10) -> bool:
    """Different words, same event: jurisdiction, categories, time and counts agree."""
    if a.jurisdiction is None or a.jurisdiction != b.jurisdiction:
        return False
    if not set(a.categories) & set(b.categories):
        return False
    counts_a, counts_b = set(a.claim_values("item_count")), set(b.claim_values("item_count"))
    if counts_a and counts_b and not counts_a & counts_b:
        return False
    close = (a.published_on is not None and b.published_on is not None
             and abs((a.published_on - b.published_on).days) <= window_days)
    for field_name in ("announced_on", "effective_on"):
        if set(a.claim_values(field_name)) & set(b.claim_values(field_name)):
            close = True
    return close


# ------------------------------------------------------------------ clustering

def cluster_articles(articles: Sequence[Article], *, text_threshold: float = 0.5,
                     window_days: int = 10) -> list[ArticleCluster]:
    """Group articles reporting the same event. Input order does not matter; clusters come
    ordered by their earliest story. Quadratic in the number of articles: call it on the
    relevant articles of a bounded period (hundreds, not millions)."""
    items = sorted({a.url: a for a in articles}.values(),
                   key=lambda a: (a.published_on or date.max, a.url))
    sigs = [minhash(shingles(f"{a.title or ''}\n{a.text}")) for a in items]
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            a, b = items[i], items[j]
            conflicting = a.jurisdiction and b.jurisdiction and a.jurisdiction != b.jurisdiction
            if (not conflicting and similarity(sigs[i], sigs[j]) >= text_threshold) \
                    or same_event(a, b, window_days=window_days):
                parent[find(j)] = find(i)
    groups: dict[int, list[Article]] = {}
    for i, a in enumerate(items):
        groups.setdefault(find(i), []).append(a)
    return [ArticleCluster(cluster_key(members), tuple(members))
            for _, members in sorted(groups.items())]


def cluster_key(members: Sequence[Article]) -> str:
    """Named after the earliest story, so adding later coverage keeps the key."""
    first = min(members, key=lambda a: (a.published_on or date.max, a.url))
    return "press-" + hashlib.sha1(first.url.encode()).hexdigest()[:12]  # noqa: S324 - a name, not security
