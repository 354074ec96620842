"""The provision tree of e-Gov law XML: paths, labels, citations, Ruby, tables, safety."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwatch.errors import ParseError
from regwatch.normalise.egov_law import (
    extract_files,
    law_json_to_xml,
    parse_label,
    parse_law_xml,
    read_law_file,
)
from regwatch.normalise.egov_tables import expand_grid

EGOV = Path(__file__).parents[1] / "fixtures" / "egov"
BEFORE = EGOV / "403M50000400049_20221206_before.xml"
AFTER = EGOV / "403M50000400049_20230723_after.xml"
INLINE = EGOV / "403M50000400049_20221206_inline_ruby.xml"
ORDER_V1 = EGOV / "crafted_order_v1.xml"


def by_path(law):
    return {p.path: p for p in [*law.provisions, *law.suppl_provisions]}


def test_real_slice_header_and_paths() -> None:
    law = read_law_file(AFTER)
    assert law.law_id == "403M50000400049"
    assert law.law_num == "平成三年通商産業省令第四十九号"
    assert law.title.startswith("輸出貿易管理令別表第一及び外国為替令別表")
    assert len(law.provisions) == 121 and law.suppl_provisions == ()
    p = by_path(law)
    ya = p["art6.para1.item17.sub1-29"]
    assert (ya.citation_ja, ya.citation_en, ya.label, ya.kind) == (
        "第六条第一項第十七号ヤ", "Article 6(1)(xvii)(ya)", "ヤ", "subitem1")
    assert ya.text.startswith("〇・〇一パスカル以下の真空状態において、高分子残さ")
    assert ya.parent_path == "art6.para1.item17"
    deep = p["art6.para1.item17.sub1-17.sub2-6.sub3-1.sub4-2"]
    assert deep.citation_ja == "第六条第一項第十七号レ（六）１二"
    assert deep.citation_en == "Article 6(1)(xvii)(re)(vi)(1)(ii)"
    assert p["art6.para1.item17-3"].citation_ja == "第六条第一項第十七号の三"
    assert p["art6.para1.item17-3"].citation_en == "Article 6(1)(xvii-3)"
    assert p["art6.para1.item16-2"].label == "十六の二"
    # positions are document order, parents before children
    positions = [q.position for q in law.provisions]
    assert positions == list(range(len(positions)))


def test_list_entry_is_read_from_the_lead_sentence() -> None:
    law = read_law_file(BEFORE)
    for prov in law.provisions:
        assert prov.list_entry == "Export Trade Control Order, Appended Table 1, row 7"
        assert prov.list_entry_ja == "輸出令別表第一の七の項"
    changed = BEFORE.read_text(encoding="utf-8").replace("輸出令別表第一の七の項", "輸出令別表第一の八の項")
    law8 = parse_law_xml(changed, source="edited")
    assert law8.provisions[-1].list_entry == "Export Trade Control Order, Appended Table 1, row 8"
    none = parse_law_xml(BEFORE.read_text(encoding="utf-8").replace(
        "輸出令別表第一の七の項の経済産業省令で定める", "次に掲げる"), source="edited")
    assert all(q.list_entry is None for q in none.provisions)


def test_tombstones_are_kept() -> None:
    p = by_path(read_law_file(BEFORE))
    for path in ("art6.para1.item17.sub1-2.sub2-1", "art6.para1.item17.sub1-3",
                 "art6.para1.item17.sub1-6.sub2-3.sub3-2"):
        assert p[path].text == "削除" and p[path].is_tombstone


def test_ruby_inline_and_displaced_have_one_normal_form() -> None:
    moved = by_path(read_law_file(BEFORE))["art6.para1.item17.sub1-1.sub2-2"]
    inline = by_path(read_law_file(INLINE))["art6.para1.item17.sub1-1.sub2-2"]
    # real (inline) XML: the literal text with the rare kanji in place, readings dropped
    assert "インジウム、砒素、燐、アンチモン" in inline.text and "ひ" not in inline.text
    # displaced Ruby has no known place: left out of the text, kept in `ruby`
    assert "インジウム、素、、アンチモン" in moved.text and not moved.text.endswith("燐")
    assert inline.ruby == moved.ruby == ("砒", "燐")
    assert inline.match_text == moved.match_text
    assert "砒" not in moved.match_text


def test_crafted_order_structure() -> None:
    law = read_law_file(ORDER_V1)
    p = by_path(law)
    assert p["art1.para1"].text == ("別表第一中欄に掲げる貨物の輸出は、許可を受けなければならない。"
                                    "ただし、次に掲げる場合は、この限りでない。")  # main + proviso
    assert p["art1.para2"].citation_ja == "第一条第二項" and p["art1.para2"].label == "２"
    assert p["art3.para1"].is_tombstone
    assert p["art17-2"].citation_ja == "第十七条の二" and p["art17-2"].citation_en == "Article 17-2"
    assert p["art17-2"].text == "（特定貨物の仕様）"
    assert p["art17-2.para1.item10-2"].text == "定義語\u3000その意味"  # Column cells
    assert p["art17-2"].list_entry == "Foreign Exchange Order, Appended Table, row 3-2"
    five = p["art17-2.para1.item10-2.sub1-1.sub2-1.sub3-1.sub4-1.sub5-1"]
    assert five.citation_ja == "第十七条の二第一項第十号の二イ（一）１一（ｉ）"
    assert five.citation_en == "Article 17-2(1)(x-2)(i)(i)(1)(i)(i)"
    assert p["art17-2.para1.item10-2.sub1-29"].text == "砒化ガリウムの基板"
    assert p["enact"].kind == "enact_statement"
    # supplementary provisions are kept apart, keyed by the amending law
    assert not any(q.path.startswith("suppl") for q in law.provisions)
    suppl = {q.path for q in law.suppl_provisions}
    assert {"suppl[original].para1", "suppl[令和五年政令第百六十四号].para1"} <= suppl
    assert p["suppl[令和五年政令第百六十四号].para1"].citation_ja == "附則（令和五年政令第百六十四号）第一項"


def test_appended_table_grammar() -> None:
    p = by_path(read_law_file(ORDER_V1))
    row = p["appdx1.row7"]
    assert (row.citation_ja, row.citation_en) == ("別表第一の七の項", "Appended Table 1, row 7")
    assert row.text == "次に掲げる貨物であつて、経済産業省令で定める仕様のもの"  # old kana kept
    assert row.list_entry == "Export Trade Control Order, Appended Table 1, row 7"
    assert row.list_entry_ja == "輸出令別表第一の七の項"
    g = p["appdx1.row7.g10-2"]
    assert (g.citation_ja, g.citation_en) == ("別表第一の七の項（十の二）", "Appended Table 1, row 7, (x-2)")
    assert g.text == "半導体製造装置又はその部分品"  # continuation sentence joined
    assert g.label == "（十の二）"
    s = p["appdx1.row7.g10-2.s5-2"]
    assert (s.citation_ja, s.citation_en, s.text) == (
        "別表第一の七の項（十の二）５の２", "Appended Table 1, row 7, (x-2)(5-2)", "エッチング装置")
    assert s.parent_path == "appdx1.row7.g10-2"
    assert p["appdx1.row3-2"].citation_ja == "別表第一の三の二の項"
    assert p["appdx1.row3-2.g2.s10"].text == "細菌"
    assert p["appdx1.row7.c3"].text == "全地域"
    assert p["appdx1.row7.c3"].citation_ja == "別表第一の七の項の地域の欄"
    assert p["appdx1.header"].text == "貨物 | 地域"
    # positional kanji row numbers and 削除 rows in Appended Table 2
    assert p["appdx2.row22"].text == "削除" and p["appdx2.row22"].citation_en == "Appended Table 2, row 22"
    assert p["appdx2.row35-2"].citation_ja == "別表第二の三五の二の項"
    # remarks items keep their printed label even though Num is positional
    assert p["appdx2.remarks.item7-2"].citation_ja == "別表第二備考第七号の二"


def test_rowspan_is_expanded() -> None:
    p = by_path(read_law_file(ORDER_V1))
    assert p["appdx3"].citation_ja == "別表第三"
    assert [p[f"appdx3.r{i}"].text for i in (2, 3, 4, 5)] == [
        "化学的気相成長法 | 超合金 | アルミニウム化合物", "化学的気相成長法 | セラミックス | けい化物",
        "化学的気相成長法 | 炭素 | 炭化物", "溶射 | チタン合金 | 窒化物"]
    from lxml import etree
    t = etree.fromstring(
        "<Table><TableRow><TableColumn rowspan='2' colspan='2'><Sentence>A</Sentence></TableColumn>"
        "<TableColumn><Sentence>B</Sentence></TableColumn></TableRow>"
        "<TableRow><TableColumn><Sentence>C</Sentence></TableColumn></TableRow></Table>")
    grid = [[" ".join(s.text for s in cell) for cell in row] for row in expand_grid(t)]
    assert grid == [["A", "", "B"], ["A", "", "C"]]


@pytest.mark.parametrize(("title", "nums", "style", "en"), [
    ("イ", (1,), "kana", "i"), ("ヤ", (29,), "kana", "ya"), ("（一）", (1,), "kanji", "i"),
    ("（十の二）", (10, 2), "kanji", "x-2"), ("１", (1,), "arabic", "1"), ("５の２", (5, 2), "arabic", "5-2"),
    ("十七の二", (17, 2), "kanji", "xvii-2"), ("（ｉｉ）", (2,), "roman", "ii"), ("（ａ）", (1,), "latin", "a"),
])
def test_labels(title: str, nums: tuple, style: str, en: str) -> None:
    lab = parse_label(title)
    assert lab is not None and (lab.nums, lab.style, lab.en) == (nums, style, en)


def test_num_attribute_is_only_a_fallback() -> None:
    xml = ("<Law><LawNum>x</LawNum><LawBody><LawTitle>t</LawTitle><MainProvision>"
           "<Article Num='17_2'><ArticleTitle>？</ArticleTitle><Paragraph Num='1'><ParagraphNum/>"
           "<ParagraphSentence><Sentence>本文</Sentence></ParagraphSentence>"
           "<Item Num='3_2'><ItemTitle>？？</ItemTitle><ItemSentence><Sentence>a</Sentence></ItemSentence></Item>"
           "<Item Num='4'><ItemTitle>四</ItemTitle><ItemSentence><Sentence>b</Sentence></ItemSentence></Item>"
           "<Item Num='4'><ItemTitle>四</ItemTitle><ItemSentence><Sentence>c</Sentence></ItemSentence></Item>"
           "</Paragraph></Article></MainProvision></LawBody></Law>")
    paths = [q.path for q in parse_law_xml(xml, source="t").provisions]
    assert paths == ["art17-2", "art17-2.para1", "art17-2.para1.item3-2", "art17-2.para1.item4",
                     "art17-2.para1.item4~2"]


@pytest.mark.parametrize(("name", "reason"), [
    ("malformed.xml", "malformed XML"), ("billion_laughs.xml", "not allowed"), ("xxe.xml", "not allowed")])
def test_unsafe_or_broken_xml_is_a_parse_error(name: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        read_law_file(EGOV / name)
    assert info.value.source.endswith(name) and reason in info.value.reason


def test_other_parse_errors() -> None:
    for data, reason in [(b"", "empty"), (b"<Foo/>", "expected <Law>"), ("<Law><LawNum/></Law>", "LawBody"),
                         (b"\xff\xfe<", "XML")]:
        with pytest.raises(ParseError, match=reason):
            parse_law_xml(data, source="s")


def test_json_tree_keeps_inline_ruby_in_place() -> None:
    node = {"tag": "Law", "attr": {"Era": "Heisei"}, "children": [
        {"tag": "LawNum", "attr": "", "children": ["平成三年通商産業省令第四十九号"]},
        {"tag": "LawBody", "attr": {}, "children": [
            {"tag": "LawTitle", "attr": {}, "children": ["省令"]},
            {"tag": "MainProvision", "attr": {}, "children": [
                {"tag": "Paragraph", "attr": {"Num": "1"}, "children": [
                    {"tag": "ParagraphNum", "attr": {}, "children": []},
                    {"tag": "ParagraphSentence", "attr": {}, "children": [
                        {"tag": "Sentence", "attr": {"Num": "1"}, "children": [
                            "インジウム、", {"tag": "Ruby", "attr": {}, "children": [
                                "砒", {"tag": "Rt", "attr": {}, "children": ["ひ"]}]},
                            "素、", {"tag": "Ruby", "attr": "", "children": [
                                "燐", {"tag": "Rt", "attr": {}, "children": ["りん"]}]},
                            "、アンチモン"]}]}]}]}]}]}
    xml = law_json_to_xml({"law_full_text": node})
    assert "インジウム、<Ruby>砒<Rt>ひ</Rt></Ruby>素、<Ruby>燐" in xml.decode()
    law = parse_law_xml(xml, source="json")
    assert law.provisions[0].text == "インジウム、砒素、燐、アンチモン"
    assert law.provisions[0].citation_en == "Paragraph (1)"
    for bad in ([], {"tag": 3}, {"tag": "A", "attr": [1]}, {"tag": "bad tag"}, {"tag": "A", "children": "x"}):
        with pytest.raises(ParseError):
            law_json_to_xml(bad)


def test_extract_files(tmp_path: Path) -> None:
    out = extract_files([BEFORE, ORDER_V1])
    assert [d["file"] for d in out] == [str(BEFORE), str(ORDER_V1)]
    assert out[0]["law_id"] == "403M50000400049" and out[1]["law_id"] is None
    assert out[0]["provisions"][0]["path"] == "art6"
    json.dumps(out, ensure_ascii=False)  # JSON-serialisable as is
    js = tmp_path / "324CO0000000378_20240417.json"
    js.write_text(json.dumps({"tag": "Law", "attr": "", "children": [
        {"tag": "LawNum", "attr": "", "children": ["n"]},
        {"tag": "LawBody", "attr": "", "children": [{"tag": "LawTitle", "attr": "", "children": ["輸出貿易管理令"]}]}]}))
    assert extract_files([js])[0]["law_id"] == "324CO0000000378"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b"<Law>" + b))
def test_only_parse_errors_escape(data) -> None:
    try:
        parse_law_xml(data, source="fuzz")
    except ParseError:
        pass
