"""Era, Western, ISO, compact and English dates; era boundaries; dates in running text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwatch.errors import DateParseError, ParseError
from regwatch.normalise.dates_ja import (
    era_year_to_gregorian,
    find_dates,
    fiscal_year_of,
    format_date_ja,
    parse_date,
    parse_era_year,
)

D = date(2024, 4, 26)


@pytest.mark.parametrize(("text", "expected"), [
    ("令和6年4月26日", D), ("令和六年四月二十六日", D), ("令和 6 年 4 月 26 日", D),
    ("令和６年４月２６日", D), ("令和元年5月1日", date(2019, 5, 1)),
    ("平成31年4月30日", date(2019, 4, 30)), ("平成三十一年四月三十日", date(2019, 4, 30)),
    ("平成元年1月8日", date(1989, 1, 8)), ("昭和64年1月7日", date(1989, 1, 7)),
    ("昭和二十四年十二月一日", date(1949, 12, 1)), ("大正15年12月24日", date(1926, 12, 24)),
    ("明治45年7月29日", date(1912, 7, 29)),
    ("R6.4.26", D), ("H31.4.30", date(2019, 4, 30)), ("Ｒ６．４．２６", D),
    ("2024年4月26日", D), ("２０２４年４月２６日", D), ("二〇二四年四月二六日", D),
    ("2024年4月26日（金）", D), ("2024-04-26", D), ("2024/4/26", D), ("20240426", D),
    ("April 26, 2024", D), ("26 April 2024", D), ("Apr. 26, 2024", D), ("Apr 26 2024", D),
    ("Friday, April 26, 2024", D), ("Fri., 26 April 2024", D), ("Sept. 8, 2024", date(2024, 9, 8)),
    ("  2024-04-26\n", D),
])
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("平成31年5月1日", "outside the 平成 era"), ("令和元年4月30日", "outside the 令和 era"),
    ("令和99年13月40日", "impossible"), ("February 30, 2024", "impossible"),
    ("2023-02-29", "impossible"), ("令和0年1月1日", "does not exist"),
    ("Thursday, April 26, 2024", "is not a Thursday"), ("2024年4月26日（月）", "is not a 月"),
    ("", "not a date"), ("令和6年4月", "not a date"), ("tomorrow", "not a date"),
    ("H32.1.1", "outside"),
])
def test_parse_date_rejects(text: str, reason: str) -> None:
    with pytest.raises(DateParseError) as info:
        parse_date(text, source="release.html")
    assert info.value.source == "release.html"
    assert reason in info.value.reason


def test_era_years() -> None:
    assert parse_era_year("令和元年") == 2019
    assert parse_era_year("平成三十一年") == 2019
    assert parse_era_year("令和五年経済産業省令第二十五号") == 2023
    assert parse_era_year("R6") == 2024
    assert era_year_to_gregorian("昭和", 24) == 1949
    with pytest.raises(DateParseError):
        parse_era_year("平成三十二年")
    with pytest.raises(DateParseError):
        era_year_to_gregorian("天平", 1)


def test_find_dates_in_running_text() -> None:
    text = ("公布：令和7年11月14日、施行：令和8年2月14日。On Friday, April 26, 2024 METI "
            "(see 2024-09-08, revision 403M50000400049_20240908) 令和99年13月40日 and "
            "平成31年5月1日 are not dates; URL /press/2025/11/20251111001/.")
    found = find_dates(text)
    assert [m.date for m in found] == [date(2025, 11, 14), date(2026, 2, 14), D,
                                       date(2024, 9, 8), date(2024, 9, 8)]
    for m in found:
        assert text[m.start:m.end] == m.matched
    assert found[2].matched == "Friday, April 26, 2024"
    assert find_dates("２０２４年４月２６日") == [find_dates("２０２４年４月２６日")[0]]
    assert find_dates("２０２４年４月２６日")[0].matched == "２０２４年４月２６日"


def test_format_and_fiscal_year() -> None:
    assert format_date_ja(date(2019, 5, 1)) == "令和元年5月1日"
    assert format_date_ja(date(2019, 4, 30), kanji=True) == "平成三十一年四月三十日"
    assert fiscal_year_of(date(2026, 3, 31)) == 2025
    assert fiscal_year_of(date(2026, 4, 1)) == 2026


@given(st.dates(min_value=date(1873, 1, 1), max_value=date(2200, 12, 31)), st.booleans())
def test_era_round_trip(d: date, kanji: bool) -> None:
    assert parse_date(format_date_ja(d, kanji=kanji)) == d


@given(st.dates(min_value=date(1800, 1, 1), max_value=date(2199, 12, 31)))
def test_iso_and_compact_round_trip(d: date) -> None:
    assert parse_date(d.isoformat()) == d
    assert parse_date(d.strftime("%Y%m%d")) == d
    assert parse_date(f"{d:%B} {d.day}, {d.year}") == d


@given(st.text(max_size=40) | st.text(alphabet=st.sampled_from(
    list("令和平成元年月日0123456789０１２〇一二三十百.-/RH ()（）金April,")), max_size=25))
def test_only_regwatch_errors_escape(s: str) -> None:
    try:
        parse_date(s)
    except ParseError:
        pass
    for m in find_dates(s):
        assert s[m.start:m.end] == m.matched
