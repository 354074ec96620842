"""Tie each press cluster to the official event it reports, or flag it as not yet official.

Press items are signals, never the source of truth (SOURCES.md §4): a cluster links to an
event of the same jurisdiction whose dates bracket the coverage (from `before_days` before
its first official date to `after_days` after its last), whose categories overlap the
cluster's, scored by agreeing dates, counts and instruments. A cluster with no such event is
"reported_unofficial". Where a story contradicts the official record (another effective
date, another item or country count, another regime), a Discrepancy carries both quotes.
Pure: events are plain dataclasses the caller builds (e.g. from the `events` table).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from regwatch.normalise.cluster import ArticleCluster
from regwatch.normalise.press_claims import Claim

LINKED = "linked"
UNOFFICIAL = "reported_unofficial"
_DATE_FIELDS = ("announced_on", "public_comment_on", "decided_on", "promulgated_on", "effective_on")
# Fields a story can get wrong against the record, and how its claim values read.
_COMPARED = ("effective_on", "item_count", "country_count", "outside_wassenaar")


@dataclass(frozen=True)
class Evidence:
    url: str | None
    quote: str | None


@dataclass(frozen=True)
class OfficialEvent:
    key: str
    jurisdiction: str
    title: str | None = None
    law_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    announced_on: date | None = None
    public_comment_on: date | None = None
    decided_on: date | None = None
    promulgated_on: date | None = None
    effective_on: date | None = None
    item_count: int | None = None
    country_count: int | None = None
    outside_wassenaar: bool | None = None
    url: str | None = None  # the main official source
    evidence: Mapping[str, Evidence] = field(default_factory=dict)  # field → where the record says so

    def dates(self) -> list[date]:
        return [d for d in (getattr(self, f) for f in _DATE_FIELDS) if d]

    def official(self, field_name: str) -> Any:
        value = getattr(self, field_name)
        return value.isoformat() if isinstance(value, date) else value


@dataclass(frozen=True)
class Discrepancy:
    field: str
    official_value: Any
    official_quote: str | None
    official_url: str | None
    press_value: Any
    press_quote: str
    press_url: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Link:
    cluster_key: str
    event_key: str | None
    status: str  # linked | reported_unofficial
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    discrepancies: tuple[Discrepancy, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"cluster_key": self.cluster_key, "event_key": self.event_key, "status": self.status,
                "score": self.score, "reasons": list(self.reasons),
                "discrepancies": [d.to_json() for d in self.discrepancies]}


def score_link(cluster: ArticleCluster, event: OfficialEvent, *, before_days: int = 30,
               after_days: int = 30) -> tuple[float, tuple[str, ...]] | None:
    """How well a cluster fits an event, with the reasons; None when it cannot be that event."""
    if cluster.jurisdiction is None or cluster.jurisdiction != event.jurisdiction:
        return None
    official_dates = event.dates()
    published = cluster.published
    if not official_dates or not published:
        return None
    lo, hi = min(official_dates) - timedelta(days=before_days), max(official_dates) + timedelta(days=after_days)
    if not any(lo <= p <= hi for p in published):
        return None
    reasons = [f"jurisdiction {event.jurisdiction}", f"published within {lo.isoformat()}…{hi.isoformat()}"]
    score = 1.0
    if event.categories and cluster.categories:
        shared = set(event.categories) & set(cluster.categories)
        if not shared:
            return None
        score += 3 * len(shared) / len(set(event.categories) | set(cluster.categories))
        reasons.append("categories " + ", ".join(sorted(shared)))
    if set(event.law_ids) & set(cluster.instruments):
        score += 1
        reasons.append("instruments " + ", ".join(sorted(set(event.law_ids) & set(cluster.instruments))))
    claimed = {c.value for f in ("announced_on", "effective_on") for _, c in cluster.claims(f)}
    matched = sorted(claimed & {d.isoformat() for d in official_dates})
    if matched:
        score += 2
        reasons.append("dates " + ", ".join(matched))
    for f in ("item_count", "country_count"):
        if getattr(event, f) is not None and getattr(event, f) in {c.value for _, c in cluster.claims(f)}:
            score += 1
            reasons.append(f"{f} {getattr(event, f)}")
    # nearer coverage wins ties between events of similar shape
    gap = min(abs((p - d).days) for p in published for d in official_dates)
    return round(score - gap / 1000, 3), tuple(reasons)


def link_clusters(clusters: Sequence[ArticleCluster], events: Sequence[OfficialEvent], *,
                  before_days: int = 30, after_days: int = 30) -> list[Link]:
    """One Link per cluster, in cluster order: the best-scoring event, or reported_unofficial."""
    links = []
    ordered = sorted(events, key=lambda e: e.key)  # equal scores: the first key wins
    for cluster in clusters:
        best: tuple[float, OfficialEvent, tuple[str, ...]] | None = None
        for event in ordered:
            scored = score_link(cluster, event, before_days=before_days, after_days=after_days)
            if scored and (best is None or scored[0] > best[0]):
                best = (scored[0], event, scored[1])
        if best is None:
            links.append(Link(cluster.key, None, UNOFFICIAL))
        else:
            found = discrepancies(cluster_claims(cluster), best[1])
            links.append(Link(cluster.key, best[1].key, LINKED, best[0], best[2], tuple(found)))
    return links


def cluster_claims(cluster: ArticleCluster) -> list[tuple[str, Claim]]:
    return [(a.url, c) for a in cluster.articles for c in a.claims]


def discrepancies(claims: Iterable[tuple[str, Claim]], event: OfficialEvent) -> list[Discrepancy]:
    """Claims (article URL, claim) that contradict the official record, one per story and field.
    A story that also states the official value is taken to mean something else by its
    other values (last year's count, a related rule) and is not reported."""
    by_story: dict[tuple[str, str], list[Claim]] = {}
    for url, claim in claims:
        if claim.field in _COMPARED:
            by_story.setdefault((url, claim.field), []).append(claim)
    out = []
    for (url, field_name), found in by_story.items():
        official = event.official(field_name)
        if official is None or any(c.value == official for c in found):
            continue
        ev = event.evidence.get(field_name)
        out.append(Discrepancy(field_name, official, ev.quote if ev else None,
                               (ev.url if ev else None) or event.url,
                               found[0].value, found[0].quote, url))
    return sorted(out, key=lambda d: (d.field, d.press_url))
