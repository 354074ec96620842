"""Trade-press feeds and articles: parsing, boilerplate removal, relevance, claims, CLI output."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from regwatch.errors import ParseError
from regwatch.normalise.press import extract_files, parse_feed, script_language
from regwatch.normalise.press_claims import sentences

from ._press_data import ARTICLES, FEEDS, PAGES, nikkei_headline, page


def values(article, field):
    return article.claim_values(field)


# ------------------------------------------------------------------ feeds

@pytest.mark.parametrize("name, version, language, titles, published", [
    ("japantimes.rss", "rss20", "en", 3, [date(2024, 5, 8), date(2024, 4, 26), date(2023, 5, 23)]),
    ("nippon-en.atom", "atom10", "en", 3, [date(2025, 3, 14), date(2024, 4, 26), date(2023, 5, 23)]),
    ("sangyo-ja.rdf", "rss10", "ja", 2, [date(2024, 4, 26), date(2024, 4, 26)]),
    ("nikkei-asia.rss", "rss20", "en", 2, [date(2024, 4, 25), date(2024, 4, 25)]),
])
def test_feed_formats(name, version, language, titles, published):
    feed = parse_feed((FEEDS / name).read_bytes(), url=f"https://feeds.test/{name}")
    assert feed.version == version
    assert feed.problem is None
    assert len(feed.entries) == titles
    assert [e.published_on for e in feed.entries] == published
    assert {e.language for e in feed.entries} == {language}
    assert all(e.link.startswith("https://") and e.title for e in feed.entries)
    assert all("<" not in e.summary for e in feed.entries)  # HTML summaries come out as text


def test_published_date_is_the_publishers_own():
    # 2024-04-26T01:00+09:00 is still the 25th in UTC: the story's date is the 26th.
    xml = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
           b'<entry><title>x</title><link href="https://a.test/1"/><id>1</id>'
           b'<published>2024-04-26T01:00:00+09:00</published></entry></feed>')
    entry = parse_feed(xml, url="https://a.test/feed").entries[0]
    assert entry.published_on == date(2024, 4, 26)
    assert entry.published_at == "2024-04-26T01:00:00+09:00"


def test_truncated_feed_is_salvaged_and_flagged():
    feed = parse_feed((FEEDS / "kyodo-truncated.xml").read_bytes(), url="https://english.kyodonews.net/rss/news.xml")
    assert feed.problem and "not well-formed" in feed.problem
    assert [e.title for e in feed.entries][0] == "Japan, U.S. & Netherlands discuss chip tool curbs"


def test_html_error_page_is_not_a_feed():
    with pytest.raises(ParseError) as err:
        parse_feed((FEEDS / "nhk-notfound.html").read_bytes(), url="https://www3.nhk.or.jp/nhkworld/en/news/all.rss")
    assert err.value.source == "https://www3.nhk.or.jp/nhkworld/en/news/all.rss"
    assert "not an RSS or Atom feed" in err.value.reason


# ------------------------------------------------------------------ articles

def test_boilerplate_is_removed():
    a = page("jt2024")
    assert a.title == "Japan to add quantum computers and chip tools to export control list"
    assert a.outlet == "The Japan Times" and a.language == "en" and a.published_on == date(2024, 4, 26)
    assert "scanning electron microscopes used to image integrated circuits" in a.text
    for junk in ("cookies", "Advertisement", "Related stories", "Sign up", "Most read", "BREAKING",
                 "Privacy policy", "Share on", "Kishida"):
        assert junk not in a.text, junk


def test_japanese_article():
    a = page("ja2024")
    assert (a.language, a.outlet, a.published_on) == ("ja", "日刊産業新聞", date(2024, 4, 26))
    assert "関連記事" not in a.text and "クッキー" not in a.text and "ランキング" not in a.text
    assert a.relevant and {"quantum", "electron_microscopy", "semiconductor"} <= set(a.categories)
    assert a.jurisdiction == "JP"
    assert values(a, "announced_on") == ["2024-04-26"]  # "経済産業省は２６日、…発表した"
    assert 4 in values(a, "item_count")
    assert values(a, "outside_wassenaar") and all(values(a, "outside_wassenaar"))
    assert ["all"] in values(a, "destinations")
    assert "403M50000400049" in a.instruments  # 貨物等省令


def test_claims_of_the_2023_story_with_quotes():
    a = page("jt2023")
    assert a.jurisdiction == "JP"
    assert values(a, "effective_on") == ["2023-07-23"]
    assert sorted(values(a, "announced_on")) == ["2023-03-31", "2023-05-23"]  # "on March 31", "said Tuesday"
    assert set(values(a, "item_count")) == {23} and values(a, "country_count") == [42]
    eff = next(c for c in a.claims if c.field == "effective_on")
    assert "from July 23" in eff.quote and eff.quote in a.text
    count = next(c for c in a.claims if c.field == "country_count")
    assert count.quote.startswith("Exports to 42 countries and regions")


def test_claims_of_the_2024_stories():
    jt, jiji = page("jt2024"), page("jiji2024")
    assert values(jt, "announced_on") == ["2024-04-26"]  # "said Friday", published Friday
    assert values(jt, "effective_on") == []  # "as early as July" is no date
    assert 4 in values(jt, "item_count") and values(jt, "outside_wassenaar") == [True]
    assert values(jt, "country_count") == []  # "some 40 other countries" is approximate
    assert values(jiji, "effective_on") == ["2024-07-01"]
    assert values(jiji, "announced_on") == ["2024-04-26"]  # not the dateline, the "on Friday"


def test_us_rule_is_a_us_story():
    a = page("us2024")
    assert a.relevant and a.jurisdiction == "US"
    assert values(a, "effective_on") == ["2024-09-06"]
    assert values(a, "announced_on") == ["2024-09-05"]  # "on Thursday", story of Friday 6 Sept


def test_unrelated_story_is_seen_and_ignored():
    a = page("toyota")
    assert not a.relevant and a.claims == () and a.categories == ()
    assert a.title.startswith("Toyota posts record")


def test_rumour_is_attributed_to_sources():
    a = page("rumour2025")
    assert a.relevant and a.jurisdiction == "JP"
    assert values(a, "reported_by_sources") == [True]
    assert values(a, "announced_on") == []  # "sources said Friday" announces nothing


def test_headline_only_entry():
    a = nikkei_headline()
    assert a.headline_only and a.published_on == date(2024, 4, 25)
    assert a.relevant and a.jurisdiction == "JP" and values(a, "item_count") == [4]
    assert values(a, "reported_by_sources") == [True]  # "Nikkei has learned"


def test_sentences_keep_abbreviations():
    assert sentences("Exports to the U.S. and Taiwan are exempt. It takes effect Sept. 6 in the U.S.") == [
        "Exports to the U.S. and Taiwan are exempt.", "It takes effect Sept. 6 in the U.S."]
    assert sentences("経産省は発表した。施行は９月。") == ["経産省は発表した。", "施行は９月。"]


def test_script_language():
    assert script_language("経済産業省は26日、発表した") == "ja"
    assert script_language("Japan said on Friday") == "en"
    assert script_language("2024 — 42") is None


# ------------------------------------------------------------------ regwatch extract

def test_extract_cli_prints_articles_and_clusters():
    from regwatch.cli import cli

    files = [str(ARTICLES / PAGES[n]) for n in ("jt2024", "jiji2024", "ja2024", "toyota", "us2024")]
    files.append(str(FEEDS / "nikkei-asia.rss"))
    result = CliRunner().invoke(cli, ["extract", "--kind", "press", *files])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    by_file = {a["file"]: a for a in out["articles"]}
    assert set(by_file) == set(files[:-1]) | {f"{files[-1]}#1", f"{files[-1]}#2"}
    for a in out["articles"]:
        assert {"file", "relevant", "title", "published_on", "claims"} <= set(a)
    assert by_file[files[3]]["relevant"] is False
    assert by_file[f"{files[-1]}#1"]["published_on"] == "2024-04-25"
    clusters = sorted(sorted(c) for c in out["clusters"])
    assert sorted(files[:3] + [f"{files[-1]}#1"]) in clusters
    assert [files[4]] in clusters
    assert all(files[3] not in c for c in clusters)


def test_extract_is_deterministic():
    paths = sorted(ARTICLES.glob("*.html")) + sorted(FEEDS.glob("*.rss"))
    first, again, reverse = extract_files(paths), extract_files(paths), extract_files(paths[::-1])
    assert json.dumps(first) == json.dumps(again)
    assert sorted(map(sorted, first["clusters"])) == sorted(map(sorted, reverse["clusters"]))
