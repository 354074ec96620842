"""Kanji numerals (both styles), iroha order, roman numerals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwatch.errors import ParseError
from regwatch.normalise.text_ja import (
    IROHA,
    branch_number,
    int_to_kanji,
    int_to_positional_kanji,
    iroha_index,
    iroha_kana,
    iroha_romaji,
    kanji_to_int,
    nfkc,
    to_roman,
)


@pytest.mark.parametrize(("text", "value"), [
    ("三百七十八", 378), ("二十三", 23), ("十七", 17), ("百六十五", 165), ("十", 10),
    ("千九百八十九", 1989), ("二千二十四", 2024), ("一万", 10000), ("二万三千四", 23004),
    ("三五", 35), ("一〇", 10), ("二〇二四", 2024), ("〇", 0), ("六〇〇", 600),
    ("１７", 17), ("17", 17), ("０", 0), ("2千5百", 2500),
])
def test_kanji_to_int(text: str, value: int) -> None:
    assert kanji_to_int(text) == value


@pytest.mark.parametrize("junk", ["", " ", "十十", "百千", "十二三", "abc", "三a", "万", "一〇十",
                                  "-1", "1.5", "の"])
def test_kanji_to_int_rejects_junk(junk: str) -> None:
    with pytest.raises(ParseError):
        kanji_to_int(junk)


@pytest.mark.parametrize(("value", "text"), [
    (0, "〇"), (1, "一"), (10, "十"), (17, "十七"), (110, "百十"), (378, "三百七十八"),
    (1000, "千"), (2019, "二千十九"), (10000, "一万"), (123456789, "一億二千三百四十五万六千七百八十九"),
])
def test_int_to_kanji(value: int, text: str) -> None:
    assert int_to_kanji(value) == text


def test_positional_and_branch_numbers() -> None:
    assert int_to_positional_kanji(35) == "三五"
    assert int_to_positional_kanji(10) == "一〇"
    assert branch_number("十七の二") == (17, 2)
    assert branch_number("三の二") == (3, 2)
    assert branch_number("５の２") == (5, 2)
    assert branch_number("三十五の四") == (35, 4)
    with pytest.raises(ParseError):
        branch_number("三の")


def test_iroha() -> None:
    assert len(IROHA) == 47
    assert iroha_index("イ") == 1 and iroha_index("ロ") == 2 and iroha_index("ヤ") == 29
    assert iroha_index("ス") == 47
    assert iroha_index("や") == 29  # hiragana
    assert iroha_index("ﾔ") == 29  # half-width katakana
    assert iroha_romaji("ヤ") == "ya" and iroha_romaji("チ") == "chi" and iroha_romaji("ヰ") == "wi"
    assert iroha_kana(29) == "ヤ"
    for bad in ("", "ン", "イロ", "A"):
        with pytest.raises(ParseError):
            iroha_index(bad)


def test_roman_and_nfkc() -> None:
    assert [to_roman(n) for n in (1, 4, 9, 14, 17, 40, 90, 400, 1994)] == [
        "i", "iv", "ix", "xiv", "xvii", "xl", "xc", "cd", "mcmxciv"]
    with pytest.raises(ParseError):
        to_roman(0)
    assert nfkc("１２３ＡＢＣ") == "123ABC"


@given(st.integers(min_value=0, max_value=10**16 - 1))
def test_kanji_round_trip(n: int) -> None:
    assert kanji_to_int(int_to_kanji(n)) == n
    assert kanji_to_int(int_to_positional_kanji(n)) == n


@given(st.text(alphabet=st.sampled_from(list("〇一二三四五六七八九十百千万億兆の0１xア ")), max_size=12)
       | st.text(max_size=12))
def test_only_parse_errors_escape(s: str) -> None:
    for fn in (kanji_to_int, branch_number, iroha_index, iroha_romaji):
        try:
            fn(s)
        except ParseError:
            pass
