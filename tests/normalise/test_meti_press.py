"""METI releases → announcement records, on the fixtures of tests/fixtures/meti_press."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from regwatch.errors import ParserHealthError
from regwatch.fetch.encoding import decode
from regwatch.normalise.meti_press import extract_announcement, extract_files
from regwatch.normalise.meti_rules import amendment_law_num, item_count
from regwatch.normalise.taxonomy import load_taxonomy

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "meti_press"
URLS = {v: k for k, v in json.loads((FIX / "urls.json").read_text(encoding="utf-8")).items()}
ORD = "403M50000400049"
ORDER = "324CO0000000378"


@pytest.fixture(scope="module")
def tax():
    return load_taxonomy()


def extract(name, tax, **kw):
    text = decode((FIX / name).read_bytes(), "text/html").text
    return extract_announcement(text, url=URLS[name], taxonomy=tax, **kw)


# name: (language, announced_on, stage, instruments, effective_on, deadline, destinations scope,
#        regime, outside_wassenaar, item_count, amendment_law_num)
EXPECTED = {
    "ja_20230331_public_comment.html": ("ja", "2023-03-31", "public_comment", (ORD,), None, "2023-04-29",
                                        "all", "unknown", None, 23, None),
    "en_20230331_public_comment.html": ("en", "2023-03-31", "public_comment", (ORD,), None, "2023-04-29",
                                        "all", "unknown", None, 23, None),
    "ja_20230523_promulgation.html": ("ja", "2023-05-23", "promulgation", (ORD,), "2023-07-23", None,
                                      "all_except_group_a", "unknown", None, 23, "令和五年経済産業省令第二十五号"),
    "en_20230523_promulgation.html": ("en", "2023-05-23", "promulgation", (ORD,), "2023-07-23", None,
                                      "all_except_group_a", "unknown", None, 23, "令和五年経済産業省令第二十五号"),
    "ja_20230721_enforcement_sjis.html": ("ja", "2023-07-21", "enforcement", (ORD,), "2023-07-23", None,
                                          "all_except_group_a", "unknown", None, 23, "令和五年経済産業省令第二十五号"),
    "ja_20240426_public_comment.html": ("ja", "2024-04-26", "public_comment", (ORD,), None, "2024-05-25",
                                        "all", "unilateral", True, 4, None),
    "en_20240426_public_comment.html": ("en", "2024-04-26", "public_comment", (ORD,), None, "2024-05-25",
                                        "all", "unilateral", True, 4, None),
    "ja_20240708_promulgation.html": ("ja", "2024-07-08", "promulgation", (ORD,), "2024-09-08", None,
                                      "all", "unilateral", True, 4, "令和六年経済産業省令第四十四号"),
    "en_20240708_promulgation.html": ("en", "2024-07-09", "promulgation", (ORD,), "2024-09-08", None,
                                      "all", "unilateral", True, 4, "令和六年経済産業省令第四十四号"),
    "ja_20251111_cabinet_decision.html": ("ja", "2025-11-11", "cabinet_decision", (ORDER,), "2025-11-15", None,
                                          None, "unknown", None, None, None),
    "en_20251111_cabinet_decision.html": ("en", "2025-11-11", "cabinet_decision", (ORDER,), "2025-11-15", None,
                                          None, "unknown", None, None, None),
    "en_20240610_seminar.html": ("en", "2024-06-10", "other", (), None, None, None, "unknown", None, None, None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_releases(tax, name):
    (lang, announced, stage, instruments, effective, deadline, scope, regime, outside, count,
     law_num) = EXPECTED[name]
    a = extract(name, tax)
    assert a.relevant
    assert (a.language, a.announced_on.isoformat(), a.stage) == (lang, announced, stage)
    assert a.instruments == instruments
    assert (a.effective_on.isoformat() if a.effective_on else None) == effective
    assert (a.public_comment_deadline.isoformat() if a.public_comment_deadline else None) == deadline
    assert (a.destinations or {}).get("scope") == scope
    assert (a.regime, a.outside_wassenaar, a.item_count, a.amendment_law_num) == (regime, outside, count, law_num)
    # every extracted field carries its quote, and the quote is really on the page
    page = decode((FIX / name).read_bytes(), "text/html").text
    for key in ("title", "announced_on"):
        assert a.evidence[key]
    assert ("stage" in a.evidence) == (stage != "other")  # "other" = no stage wording at all
    for key, quote in a.evidence.items():
        assert quote.startswith("(date listed") or all(part in page for part in quote.split()), key
    for key, value in (("effective_on", effective), ("public_comment_deadline", deadline),
                       ("destinations", scope), ("item_count", count), ("instruments", instruments or None)):
        assert (key in a.evidence) == bool(value), key


def test_2024_additions_are_outside_wassenaar_because_the_release_says_so(tax):
    a = extract("ja_20240426_public_comment.html", tax)
    assert "ワッセナー・アレンジメントにおいて規制対象となっていない" in a.evidence["outside_wassenaar"]
    assert set(a.categories) >= {"semiconductor", "quantum", "electron_microscopy"}
    assert a.change_types == ("addition",)
    assert [link.url for link in a.links if link.kind == "pdf"][-1].endswith("20240426001-2.pdf")


def test_stage_dates_and_meti_item_references(tax):
    a = extract("ja_20251111_cabinet_decision.html", tax)
    assert a.decided_on == date(2025, 11, 11) and a.promulgated_on == date(2025, 11, 14)
    roles = {(s.role, s.date.isoformat()) for s in a.stated_dates}
    assert {("enforcement", "2026-02-14"), ("enforcement", "2025-11-15")} <= roles
    assert a.regime_basis == "multilateral" and a.regime == "unknown"  # which regime is not said
    paths = [p["path"] for r in a.item_refs for p in r["provisions"]]
    assert paths == ["appdx1.row7.g10-2", "appdx1.row3-2.g2.s10", "appdx1.row5.g20"]
    assert a.item_refs[0]["provisions"][0]["citation_ja"] == "輸出貿易管理令別表第一の七の項（十の二）"
    assert set(a.change_types) == {"addition", "amendment"}
    assert {"law_id": ORDER, "table": "別表第二", "table_en": "Appended Table 2"} in a.appended_tables


def test_shift_jis_page_declared_only_by_meta(tax):
    raw = (FIX / "ja_20230721_enforcement_sjis.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    decoded = decode(raw, "text/html")
    assert decoded.encoding == "cp932" and decoded.source == "meta"
    a = extract("ja_20230721_enforcement_sjis.html", tax)
    assert a.title == "先端半導体製造装置に係る改正省令が施行されます"
    assert a.promulgated_on == date(2023, 5, 23)


@pytest.mark.parametrize("name", ["ja_20240426_unrelated_nexi.html", "en_20240426_unrelated_energy.html"])
def test_unrelated_news_is_not_extracted(tax, name):
    a = extract(name, tax)
    assert not a.relevant
    assert a.stage is None and a.instruments == () and a.categories == () and a.effective_on is None
    assert set(a.evidence) == {"title", "announced_on"}


def test_layout_change_is_a_parser_health_error(tax):
    with pytest.raises(ParserHealthError) as err:
        extract("ja_layout_changed.html", tax)
    assert URLS["ja_layout_changed.html"] in str(err.value) and "layout changed" in str(err.value)


def test_title_without_body_is_a_parser_health_error(tax):
    html = "<html lang='ja'><body><h1>輸出管理の省令改正</h1><p class='date'>2024年4月26日</p></body></html>"
    with pytest.raises(ParserHealthError, match="no body text"):
        extract_announcement(html, url="https://example.test/x", taxonomy=tax)


@pytest.mark.parametrize("date_line, expected", [
    ("令和6年4月26日", date(2024, 4, 26)), ("令和元年7月1日", date(2019, 7, 1)),
    ("平成31年4月26日", date(2019, 4, 26)), ("R6.4.26", date(2024, 4, 26)),
    ("2024年4月26日", date(2024, 4, 26)), ("２０２４年４月２６日", date(2024, 4, 26)),
    ("April 26, 2024", date(2024, 4, 26)), ("26 April 2024", date(2024, 4, 26)),
    ("令和六年四月二十六日", date(2024, 4, 26)),
])
def test_every_date_form_on_the_date_line(tax, date_line, expected):
    html = (f"<html><body><h1>輸出管理に関するお知らせ</h1><p>{date_line}</p>"
            "<p>外為法に基づく輸出管理の説明会を開催します。</p></body></html>")
    a = extract_announcement(html, url="https://example.test/x", taxonomy=tax)
    assert a.announced_on == expected and a.evidence["announced_on"] == date_line


def test_listed_date_used_only_when_the_page_has_none(tax):
    html = "<html><body><h1>Export control briefing</h1><p>METI explains export controls.</p></body></html>"
    a = extract_announcement(html, url="https://example.test/x", taxonomy=tax, listed_date=date(2024, 6, 7))
    assert a.announced_on == date(2024, 6, 7) and "listed" in a.evidence["announced_on"]
    b = extract_announcement(html, url="https://example.test/x", taxonomy=tax)
    assert b.announced_on is None and "announced_on" not in b.evidence


@pytest.mark.parametrize("text, n", [
    ("先端半導体製造装置等２３品目を追加", 23), ("二十三品目を追加", 23), ("十七項目", 17),
    ("Twenty-three items of equipment", 23), ("four categories of items", 4), ("no count here", None),
])
def test_item_counts_with_kanji_and_words(text, n):
    assert item_count(text) == n


@pytest.mark.parametrize("text, num", [
    ("（令和５年経済産業省令第２５号）", "令和五年経済産業省令第二十五号"),
    ("令和元年経済産業省令第十七号", "令和元年経済産業省令第十七号"),
    ("平成三十一年政令第十一号", "平成三十一年政令第十一号"),
    ("(METI Ordinance No. 44 of 2024)", "令和六年経済産業省令第四十四号"),
    ("Cabinet Order No. 376 of 2025", "令和七年政令第三百七十六号"),
    ("METI Ordinance No. 3 of 2019", None),  # Heisei 31 or Reiwa 1: not guessed
])
def test_amending_law_numbers_in_e_gov_form(text, num):
    assert amendment_law_num(text) == num


def test_extract_files_json(tmp_path):
    out = extract_files([FIX / "ja_20240708_promulgation.html", FIX / "en_20240426_unrelated_energy.html"])
    assert [o["relevant"] for o in out] == [True, False]
    json.dumps(out, ensure_ascii=False)  # plain JSON values only
    required = {"title", "announced_on", "stage", "instruments", "appended_tables", "change_types",
                "categories", "effective_on", "public_comment_deadline", "destinations", "regime",
                "outside_wassenaar", "item_count", "relevant", "evidence"}
    assert required <= set(out[0])
