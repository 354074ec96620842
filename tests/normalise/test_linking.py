"""Linking press clusters to official events; unofficial reports; discrepancies with both quotes."""

from __future__ import annotations

from datetime import date

from regwatch.normalise.cluster import cluster_articles
from regwatch.normalise.linking import (
    LINKED,
    UNOFFICIAL,
    Evidence,
    OfficialEvent,
    discrepancies,
    link_clusters,
    score_link,
)
from regwatch.normalise.press_claims import Claim

from ._press_data import all_articles, nikkei_headline, page

METI_2024 = "https://www.meti.go.jp/press/2024/04/20240426001/20240426001.html"
E2023 = OfficialEvent(
    key="jp-2023-semiconductor-equipment", jurisdiction="JP", title="23 items of semiconductor equipment",
    law_ids=("403M50000400049",), categories=("semiconductor", "semiconductor_equipment"),
    announced_on=date(2023, 3, 31), promulgated_on=date(2023, 5, 23), effective_on=date(2023, 7, 23),
    item_count=23, country_count=42, url="https://www.meti.go.jp/press/2023/05/20230523001/20230523001.html")
E2024 = OfficialEvent(
    key="jp-2024-four-categories", jurisdiction="JP", title="Four categories outside Wassenaar",
    law_ids=("403M50000400049",), categories=("semiconductor", "electron_microscopy", "quantum"),
    announced_on=date(2024, 4, 26), effective_on=date(2024, 9, 8), item_count=4, outside_wassenaar=True,
    url=METI_2024,
    evidence={"effective_on": Evidence(METI_2024, "施行：令和6年9月8日"),
              "item_count": Evidence(METI_2024, "以下の４品目を規制対象に追加")})
US2024 = OfficialEvent(
    key="us-2024-bis-advanced-technologies", jurisdiction="US", categories=("quantum", "semiconductor"),
    announced_on=date(2024, 9, 6), effective_on=date(2024, 9, 6), url="https://www.federalregister.gov/d/2024-19633")


def links_by_url(events):
    clusters = cluster_articles([a for a in all_articles() if a.relevant])
    links = link_clusters(clusters, events)
    assert [ln.cluster_key for ln in links] == [c.key for c in clusters]
    return {u: ln for c, ln in zip(clusters, links, strict=True) for u in c.urls}


def test_three_outlets_link_to_the_official_event():
    by_url = links_by_url([E2023, E2024])
    urls = [page("jt2024").url, page("jiji2024").url, page("ja2024").url, nikkei_headline().url]
    links = {by_url[u] for u in urls}
    assert len(links) == 1
    (link,) = links
    assert (link.status, link.event_key) == (LINKED, "jp-2024-four-categories")
    assert any(r.startswith("categories ") for r in link.reasons)
    assert by_url[page("jt2023").url].event_key == "jp-2023-semiconductor-equipment"
    assert by_url[page("jt2023").url].discrepancies == ()  # 23 items, 42 countries, July 23: all agree


def test_us_rule_is_not_linked_to_a_japanese_event():
    by_url = links_by_url([E2023, E2024])
    us = by_url[page("us2024").url]
    assert (us.status, us.event_key) == (UNOFFICIAL, None)
    us_cluster = next(c for c in cluster_articles([page("us2024")]))
    assert score_link(us_cluster, E2024) is None  # dates and categories fit; jurisdiction does not
    assert links_by_url([E2023, E2024, US2024])[page("us2024").url].event_key == US2024.key


def test_unofficial_report_is_flagged():
    link = links_by_url([E2023, E2024])[page("rumour2025").url]
    assert link.status == UNOFFICIAL and link.event_key is None
    assert link.to_json()["status"] == "reported_unofficial"


def test_contradicting_effective_date_is_a_discrepancy_with_both_quotes():
    link = links_by_url([E2023, E2024])[page("jt2024").url]
    assert [(d.field, d.press_url) for d in link.discrepancies] == [("effective_on", page("jiji2024").url)]
    (d,) = link.discrepancies
    assert (d.official_value, d.press_value) == ("2024-09-08", "2024-07-01")
    assert d.official_quote == "施行：令和6年9月8日" and d.official_url == METI_2024
    assert "take effect on July 1" in d.press_quote


def test_discrepancy_rules():
    url = "https://press.test/a"
    def claim(field, value):
        return Claim(field, value, f"quote {value}")
    # another count in the same story beside the official one is context, not a contradiction
    assert discrepancies([(url, claim("item_count", 4)), (url, claim("item_count", 23))], E2024) == []
    found = discrepancies([(url, claim("item_count", 5)), ("https://press.test/b", claim("outside_wassenaar", False))],
                          E2024)
    assert [(d.field, d.official_value, d.press_value, d.official_quote) for d in found] == [
        ("item_count", 4, 5, "以下の４品目を規制対象に追加"), ("outside_wassenaar", True, False, None)]
    assert found[1].official_url == METI_2024  # no field evidence: the event's own source
    assert discrepancies([(url, claim("country_count", 10))], E2024) == []  # unknown officially: nothing to contradict


def test_date_window():
    jt = page("jt2024")
    clusters = cluster_articles([jt])
    late = OfficialEvent(key="late", jurisdiction="JP", categories=("quantum",), announced_on=date(2024, 7, 1))
    assert link_clusters(clusters, [late])[0].status == UNOFFICIAL  # announced > 30 days after the story
    early = OfficialEvent(key="early", jurisdiction="JP", categories=("quantum",), announced_on=date(2024, 5, 20))
    assert link_clusters(clusters, [early])[0].event_key == "early"  # a scoop 24 days ahead still links
