"""Structural diff: added / amended / removed / renumbered, on the real 2023 slices and crafted texts."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

from regwatch.normalise.egov_law import LawText, parse_law_xml, read_law_file
from regwatch.normalise.law_diff import Span, char_spans, diff_laws

EGOV = Path(__file__).parents[1] / "fixtures" / "egov"
BEFORE = EGOV / "403M50000400049_20221206_before.xml"
AFTER = EGOV / "403M50000400049_20230723_after.xml"
INLINE = EGOV / "403M50000400049_20221206_inline_ruby.xml"
I17 = "art6.para1.item17"

# How the expected list below was established: reading the two slices side by side
# (`diff` of the files with closing tags stripped, then element by element):
# - item 十七's lead sentence gains "及びレ" and "（次号に該当するものを除く。）"; its イ gains
#   "（ウに該当するものを除く。）"; everything else already there is unchanged (including the
#   sentence with the displaced Ruby 砒/燐, identical in both files);
# - after ヌ, twenty-two new Subitem1 entries ル … フ (Num 11–32) follow, with these children:
#   カ (一)(二){１２３}; タ (一)(二); レ (一)…(十) with (三){１２} (四){１２３} (五){１２}
#   (六){１{一二} ２{一二}} (七){１２３} (八){１２}; ソ (一)(二); ツ (一)(二); ナ (一)(二)(三);
#   ラ (一)(二)(三); ウ (一)(二)(三); ク (一)(二);
# - the old 十七の二 (EUV mask blanks, with イ and ロ) is unchanged but now numbered 十七の三,
#   and a new 十七の二 (EUV pellicles) takes its number;
# - 十六の二 and 十八 with its sub-items are unchanged; nothing is removed.
# 22 new sub-items of 十七 plus the new 十七の二 are the "23 kinds" of equipment of the 2023 change.
_CHILDREN = {
    11: [], 12: [], 13: [], 14: ["sub2-1", "sub2-2", "sub2-2.sub3-1", "sub2-2.sub3-2", "sub2-2.sub3-3"],
    15: [], 16: ["sub2-1", "sub2-2"],
    17: ["sub2-1", "sub2-2", "sub2-3", "sub2-3.sub3-1", "sub2-3.sub3-2", "sub2-4", "sub2-4.sub3-1",
         "sub2-4.sub3-2", "sub2-4.sub3-3", "sub2-5", "sub2-5.sub3-1", "sub2-5.sub3-2", "sub2-6",
         "sub2-6.sub3-1", "sub2-6.sub3-1.sub4-1", "sub2-6.sub3-1.sub4-2", "sub2-6.sub3-2",
         "sub2-6.sub3-2.sub4-1", "sub2-6.sub3-2.sub4-2", "sub2-7", "sub2-7.sub3-1", "sub2-7.sub3-2",
         "sub2-7.sub3-3", "sub2-8", "sub2-8.sub3-1", "sub2-8.sub3-2", "sub2-9", "sub2-10"],
    18: ["sub2-1", "sub2-2"], 19: ["sub2-1", "sub2-2"], 20: [], 21: ["sub2-1", "sub2-2", "sub2-3"],
    22: ["sub2-1", "sub2-2", "sub2-3"], 23: [], 24: ["sub2-1", "sub2-2", "sub2-3"], 25: [], 26: [],
    27: [], 28: ["sub2-1", "sub2-2"], 29: [], 30: [], 31: [], 32: [],
}
EXPECTED_2023 = (
    [("amended", I17, None), ("amended", f"{I17}.sub1-1", None)]
    + [("added", p, None) for n, kids in _CHILDREN.items()
       for p in [f"{I17}.sub1-{n}", *(f"{I17}.sub1-{n}.{k}" for k in kids)]]
    + [("added", "art6.para1.item17-2", None),
       ("renumbered", "art6.para1.item17-3", "art6.para1.item17-2"),
       ("renumbered", "art6.para1.item17-3.sub1-1", "art6.para1.item17-2.sub1-1"),
       ("renumbered", "art6.para1.item17-3.sub1-2", "art6.para1.item17-2.sub1-2")]
)


def summary(changes):
    return [(c.change_type, c.path, c.renumbered_from["path"] if c.renumbered_from else None)
            for c in changes]


def test_real_2023_revision_exact_changes() -> None:
    changes = diff_laws(read_law_file(BEFORE), read_law_file(AFTER))
    assert len(EXPECTED_2023) == 78
    assert summary(changes) == EXPECTED_2023
    first = changes[0]
    assert first.citation_ja == "第六条第一項第十七号" and first.citation_en == "Article 6(1)(xvii)"
    assert first.list_entry == "Export Trade Control Order, Appended Table 1, row 7"
    assert [s for s in first.spans if s.op != "equal"] == [
        Span("insert", "", "及びレ"), Span("insert", "", "（次号に該当するものを除く。）")]
    moved = changes[-3]
    assert moved.renumbered_from == {"path": "art6.para1.item17-2", "citation_ja": "第六条第一項第十七号の二",
                                     "citation_en": "Article 6(1)(xvii-2)"}
    assert moved.citation_ja == "第六条第一項第十七号の三"
    assert moved.before_text == moved.after_text and moved.spans == ()
    pellicle = changes[-4]
    assert pellicle.after_text.startswith("ペリクルであって") and pellicle.before_text is None


def test_no_spurious_changes() -> None:
    for f in (BEFORE, AFTER, INLINE):
        assert diff_laws(read_law_file(f), read_law_file(f)) == []
    # Ruby moved after the sentence (converted fixtures) vs inline (real e-Gov XML): no change
    assert diff_laws(read_law_file(BEFORE), read_law_file(INLINE)) == []
    assert diff_laws(read_law_file(INLINE), read_law_file(BEFORE)) == []
    # …and the real revision diffs the same whichever form the old text came in
    assert summary(diff_laws(read_law_file(INLINE), read_law_file(AFTER))) == EXPECTED_2023
    # whitespace between elements is not text
    compact = re.sub(r">\s+<", "><", BEFORE.read_text(encoding="utf-8"))
    assert diff_laws(read_law_file(BEFORE), parse_law_xml(compact, source="compact")) == []


def test_a_changed_ruby_kanji_is_a_change() -> None:
    text = INLINE.read_text(encoding="utf-8").replace("<Ruby>砒<Rt>ひ</Rt></Ruby>素", "<Ruby>燐<Rt>りん</Rt></Ruby>素")
    changes = diff_laws(read_law_file(INLINE), parse_law_xml(text, source="edited"))
    assert summary(changes) == [("amended", f"{I17}.sub1-1.sub2-2", None)]
    assert [s for s in changes[0].spans if s.op != "equal"] == [Span("replace", "砒", "燐")]


def test_crafted_revision() -> None:
    changes = diff_laws(read_law_file(EGOV / "crafted_order_v1.xml"), read_law_file(EGOV / "crafted_order_v2.xml"))
    assert summary(changes) == [
        ("added", "art1.para1.item2", None),
        ("renumbered", "art1.para1.item3", "art1.para1.item2"),
        ("renumbered", "art1.para1.item4", "art1.para1.item3"),
        ("amended", "art1.para2", None),
        ("removed", "art17-2.para1.item10-2.sub1-2", None),  # text → 削除
        ("added", "art17-3", None),
        ("added", "art17-3.para1", None),
        ("amended", "appdx1.row3-2.g2.s10", None),
        ("added", "appdx1.row7.g10-2.s5-3", None),
        ("added", "appdx1.row7.g10-3", None),
        ("amended", "appdx1.row7.g11", None),
        ("removed", "appdx2.row35-2", None),  # row → 削除
        ("removed", "appdx2.row35-2.c3", None),  # its region cell emptied
        ("amended", "appdx3.r2", None),  # one rowspan cell changed: every row it covers
        ("amended", "appdx3.r3", None),
        ("amended", "appdx3.r4", None),
        ("added", "suppl[令和六年政令第十号]", None),
        ("added", "suppl[令和六年政令第十号].para1", None),
    ]
    by = {c.path: c for c in changes}
    removed = by["art17-2.para1.item10-2.sub1-2"]
    assert (removed.before_text, removed.after_text) == ("ヒドラジン", "削除")
    assert by["appdx1.row7.g10-3"].citation_en == "Appended Table 1, row 7, (x-3)"
    assert by["appdx1.row7.g10-3"].list_entry == "Export Trade Control Order, Appended Table 1, row 7"
    amended = by["art1.para2"]
    assert [s for s in amended.spans if s.op != "equal"] == [Span("insert", "", "様式及び")]
    # the displaced Ruby in v2 (ヤ) is not a change; the deleted 第三条 stays deleted: no change
    assert "art17-2.para1.item10-2.sub1-29" not in by and "art3.para1" not in by


def test_renumbered_with_amendment_and_plain_removal() -> None:
    def law(*items: tuple[str, str]) -> LawText:
        body = "".join(f"<Item><ItemTitle>{t}</ItemTitle><ItemSentence><Sentence>{s}</Sentence></ItemSentence></Item>"
                       for t, s in items)
        return parse_law_xml(f"<Law><LawNum>n</LawNum><LawBody><LawTitle>t</LawTitle><MainProvision>"
                             f"<Article Num='1'><ArticleTitle>第一条</ArticleTitle><Paragraph Num='1'>"
                             f"<ParagraphSentence><Sentence>柱書</Sentence></ParagraphSentence>{body}"
                             f"</Paragraph></Article></MainProvision></LawBody></Law>", source="t")
    long_a = "周波数が一〇ギガヘルツを超えるマイクロ波用の増幅器であって、出力が一〇ワットを超えるもの"
    long_b = "ガスタービンエンジンの部分品であって、冷却のための通路を有する単結晶のブレード"
    old = law(("一", "シリコン"), ("二", long_a), ("三", long_b))
    new = law(("一", long_a.replace("一〇ワット", "二〇ワット")), ("二", long_b))
    changes = diff_laws(old, new)
    assert summary(changes) == [
        ("removed", "art1.para1.item1", None),  # before the first surviving provision
        ("renumbered", "art1.para1.item1", "art1.para1.item2"),  # moved and amended
        ("renumbered", "art1.para1.item2", "art1.para1.item3")]
    assert changes[0].before_text == "シリコン" and changes[0].after_text is None
    assert [s for s in changes[1].spans if s.op != "equal"] == [Span("replace", "一", "二")]
    assert changes[2].spans == ()


def test_char_spans() -> None:
    assert char_spans("輸出令", "輸出令") == [Span("equal", "輸出令", "輸出令")]
    spans = char_spans("七五ミリメートル", "七〇ミリメートル")
    assert "".join(s.before_text for s in spans) == "七五ミリメートル"
    assert "".join(s.after_text for s in spans) == "七〇ミリメートル"
    assert Span("replace", "五", "〇") in spans
    assert char_spans("", "削除") == [Span("insert", "", "削除")]


def test_deterministic_and_fast() -> None:
    old, new = read_law_file(BEFORE), read_law_file(AFTER)
    # scale: 60 copies of the article as articles 1..60, one changed sentence in each
    def scaled(law: LawText, tag: str) -> LawText:
        provs = []
        for k in range(1, 61):
            for p in law.provisions:
                text = p.text + (f"（{tag}{k}）" if tag and p.kind == "subitem3" and k % 2 else "")
                provs.append(replace(p, path=p.path.replace("art6", f"art{k}", 1), text=text,
                                     match_text=text, position=len(provs)))
        return replace(law, provisions=tuple(provs))
    big_old, big_new = scaled(old, ""), scaled(new, "改")
    assert len(big_new.provisions) > 7000
    t0 = time.perf_counter()
    first = diff_laws(big_old, big_new)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0  # typically ~0.1 s; generous for slow CI machines
    assert first == diff_laws(big_old, big_new)


def test_shift_among_texts_repeated_across_articles() -> None:
    """The same wording in two articles: an insertion in one list renumbers its siblings
    only, matched under their own parent (global exact matching is ambiguous here)."""
    def art(n: int, items: list[str]) -> str:
        body = "".join(f"<Item><ItemTitle>{t}</ItemTitle><ItemSentence><Sentence>{s}</Sentence>"
                       f"</ItemSentence></Item>" for t, s in zip("一二三四", items, strict=False))
        return (f"<Article Num='{n}'><ArticleTitle>第{'一二'[n - 1]}条</ArticleTitle><Paragraph Num='1'>"
                f"<ParagraphSentence><Sentence>柱書</Sentence></ParagraphSentence>{body}</Paragraph></Article>")

    def law(*arts: str) -> LawText:
        return parse_law_xml("<Law><LawNum>n</LawNum><LawBody><LawTitle>t</LawTitle><MainProvision>"
                             + "".join(arts) + "</MainProvision></LawBody></Law>", source="t")
    same = ["シリコン", "ゲルマニウム", "炭化けい素"]
    old = law(art(1, same), art(2, same))
    new = law(art(1, same), art(2, ["ダイヤモンド", *same]))
    assert summary(diff_laws(old, new)) == [
        ("added", "art2.para1.item1", None),
        ("renumbered", "art2.para1.item2", "art2.para1.item1"),
        ("renumbered", "art2.para1.item3", "art2.para1.item2"),
        ("renumbered", "art2.para1.item4", "art2.para1.item3")]
