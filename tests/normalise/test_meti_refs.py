"""METI shorthand ⇄ law-text labels of the appended tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwatch.errors import ParseError
from regwatch.normalise.meti_refs import (
    FOREX_ORDER,
    ItemRef,
    find_meti_refs,
    from_law_labels,
    from_path,
    parse_meti_ref,
)


@pytest.mark.parametrize("meti, row, item, sub, path, ja", [
    ("7の項(10の2)の追加", "七", "（十の二）", None, "appdx1.row7.g10-2",
     "輸出貿易管理令別表第一の七の項（十の二）"),
    ("3の2の項(2)10の追加", "三の二", "（二）", "１０", "appdx1.row3-2.g2.s10",
     "輸出貿易管理令別表第一の三の二の項（二）１０"),
    ("5の項(20)の追加", "五", "（二十）", None, "appdx1.row5.g20",
     "輸出貿易管理令別表第一の五の項（二十）"),
    ("15の項(10)の改正", "一五", "（十）", None, "appdx1.row15.g10",
     "輸出貿易管理令別表第一の一五の項（十）"),
])
def test_the_release_examples_map_both_ways(meti, row, item, sub, path, ja):
    (ref,), _ = parse_meti_ref(meti)
    assert ref.path == path
    assert ref.citation_ja == ja
    assert ref.row_label == row and ref.item_label == item and ref.sub_label == sub
    assert from_law_labels(row, item, sub) == ref
    assert from_path(ref.law_id, path) == ref
    assert ref.meti + "の" + meti.rsplit("の", 1)[1] == meti


def test_actions_and_full_width_forms():
    (ref,), action = parse_meti_ref("７の項（１０の２）の追加")
    assert ref.path == "appdx1.row7.g10-2" and action == "addition"
    assert parse_meti_ref("8の項(1)の削除")[1] == "removal"
    assert parse_meti_ref("2の項(12)の改正")[1] == "amendment"
    assert parse_meti_ref("16の項")[1] is None


def test_several_entries_in_one_bracket():
    refs, action = parse_meti_ref("7の項(18)、(19)及び8の項(2)の追加")
    assert [r.path for r in refs] == ["appdx1.row7.g18", "appdx1.row7.g19", "appdx1.row8.g2"]
    assert action == "addition"


def test_find_in_running_text_keeps_the_quote():
    text = ("・量子コンピュータ等【8の項(2)の追加】\n・走査型電子顕微鏡【7の項(17の4)の追加】"
            "【参考】のような括弧は無視する")
    found = find_meti_refs(text)
    assert [f.quote for f in found] == ["【8の項(2)の追加】", "【7の項(17の4)の追加】"]
    assert found[1].refs[0].citation_en == "Export Trade Control Order, Appended Table 1, row 7, (xvii-4)"


def test_technology_table():
    (ref,), _ = parse_meti_ref("8の項(2)の追加", law_id=FOREX_ORDER)
    assert ref.citation_ja == "外国為替令別表の八の項（二）"


@pytest.mark.parametrize("bad", ["参考資料", "7の", ""])
def test_not_a_reference(bad):
    with pytest.raises(ParseError):
        parse_meti_ref(bad)


@pytest.mark.parametrize("row, item", [("七x", None), ("七", "（十ア）")])
def test_bad_law_labels(row, item):
    with pytest.raises(ParseError):
        from_law_labels(row, item)


branch = st.lists(st.integers(1, 60), min_size=1, max_size=3).map(tuple)


@given(branch, st.none() | branch, st.none() | branch)
def test_roundtrip(row, item, sub):
    if item is None:
        sub = None
    ref = ItemRef("324CO0000000378", row, item, sub)
    assert from_path(ref.law_id, ref.path) == ref
    assert from_law_labels(ref.row_label, ref.item_label, ref.sub_label) == ref
    assert parse_meti_ref(ref.meti)[0] == (ref,)
