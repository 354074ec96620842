"""Near-duplicate and same-event clustering of press stories (English and Japanese)."""

from __future__ import annotations

import dataclasses
import random

from regwatch.normalise.cluster import cluster_articles, same_event, text_similarity

from ._press_data import all_articles, nikkei_headline, page

JA_A = ("経済産業省は２６日、量子コンピューターや先端半導体に関連する４分野の品目を、外為法に基づく輸出管理の"
        "対象に追加すると発表した。輸出先を問わず経済産業大臣の許可が必要になる。")
JA_A_REWRITE = ("経済産業省は２６日、量子コンピューターや先端半導体に関係する４分野の品目について、外為法に基づく"
                "輸出管理の対象に追加すると発表した。輸出先を問わず大臣の許可が必要となる。")
JA_OTHER = "鉄鋼大手３社の今期業績は、中国の需要低迷により減益となる見通しだ。原料価格の高止まりも響く。"


def relevant():
    return [a for a in all_articles() if a.relevant]


def members(clusters, *urls_of):
    return next(c for c in clusters if urls_of[0] in c.urls)


def test_same_event_from_several_outlets_is_one_cluster():
    arts = {n: page(n) for n in ("jt2024", "jiji2024", "ja2024")} | {"nikkei": nikkei_headline()}
    clusters = cluster_articles(relevant())
    c = members(clusters, arts["jt2024"].url)
    assert set(c.urls) == {a.url for a in arts.values()}  # four stories, three outlets + a Japanese one
    assert c.jurisdiction == "JP"
    assert c.articles[0].url == arts["nikkei"].url  # ordered by date: the scoop came first


def test_events_stay_apart():
    clusters = cluster_articles(relevant())
    assert sorted(len(c.articles) for c in clusters) == [1, 1, 2, 4]
    us = members(clusters, page("us2024").url)
    assert us.urls == (page("us2024").url,)  # same categories and season, but a US rule
    rumour = members(clusters, page("rumour2025").url)
    assert len(rumour.articles) == 1


def test_syndicated_copy_is_a_near_duplicate():
    jt, kyodo, other = page("jt2023"), page("kyodo2023"), page("jt2024")
    assert text_similarity(jt.text, kyodo.text) >= 0.6
    assert text_similarity(jt.text, other.text) < 0.2
    # Without the event signature (window < 0 and unknown jurisdiction) text alone joins them.
    anon = [dataclasses.replace(a, claims=()) for a in (jt, kyodo, other)]
    clusters = cluster_articles(anon, window_days=-1)
    assert sorted(len(c.articles) for c in clusters) == [1, 2]


def test_japanese_near_duplicates_without_segmentation():
    assert text_similarity(JA_A, JA_A_REWRITE) >= 0.5
    assert text_similarity(JA_A, JA_OTHER) < 0.1


def test_signature_needs_jurisdiction_categories_and_time():
    jt, jiji, us, jt23 = page("jt2024"), page("jiji2024"), page("us2024"), page("jt2023")
    assert same_event(jt, jiji)
    assert not same_event(jt, us)  # US vs JP
    assert not same_event(jt, jt23)  # a year apart
    far = dataclasses.replace(jiji, published_on=jt23.published_on)
    assert same_event(jt, far)  # published far apart, but both say it was announced on 2024-04-26
    undated = dataclasses.replace(far, claims=tuple(c for c in far.claims if not c.field.endswith("_on")))
    assert not same_event(jt, undated)


def test_disjoint_item_counts_veto():
    jt23, kyodo = page("jt2023"), page("kyodo2023")
    assert same_event(jt23, kyodo)
    claims = tuple(dataclasses.replace(c, value=5) if c.field == "item_count" else c for c in kyodo.claims)
    assert not same_event(jt23, dataclasses.replace(kyodo, claims=claims))


def test_keys_and_order_do_not_depend_on_input_order():
    arts = relevant()
    base = [(c.key, c.urls) for c in cluster_articles(arts)]
    for seed in range(3):
        shuffled = arts[:]
        random.Random(seed).shuffle(shuffled)
        assert [(c.key, c.urls) for c in cluster_articles(shuffled)] == base
    # adding later coverage keeps the key of the earlier cluster
    without_late = [a for a in arts if a.url != page("ja2024").url]
    keys = {c.key for c in cluster_articles(without_late)}
    assert {k for k, _ in base} == keys
