"""Property-based fuzzing of every parser and the Japanese date and numeral converters.

The property: whatever the input, only the project's own error types (RegwatchError and
its subclasses: ParseError, DateParseError, ...) may come out — never IndexError,
RecursionError, UnicodeDecodeError, lxml's XMLSyntaxError and the like — and what does
come out is well-formed (real dates, round-trips of numerals).

Inputs: arbitrary text and bytes, Japanese-looking dates and numerals built from the real
alphabet (eras, 元, kanji and full-width digits), and mutations (truncation, byte flips,
inserted markup) of the real recorded documents in src/regwatch/demo_data.

Profiles (REGWATCH_FUZZ_PROFILE): `ci` (default: a bounded, derandomised number of
examples, seconds in all) and `deep` (thousands per parser, random each time):

    REGWATCH_FUZZ_PROFILE=deep ./dev.sh test tests/reliability/test_fuzz.py
"""

from __future__ import annotations

import json
import os
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regwatch.errors import RegwatchError

settings.register_profile("regwatch-ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("regwatch-deep", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = os.environ.get("REGWATCH_FUZZ_PROFILE", "ci")
FUZZ = settings(settings.get_profile(f"regwatch-{PROFILE}"))

DEMO = Path(__file__).resolve().parents[2] / "src" / "regwatch" / "demo_data"
URL = "https://www.meti.go.jp/press/fuzz.html"


@cache
def taxonomy():
    from regwatch.normalise.taxonomy import load_taxonomy

    return load_taxonomy(None)


@cache
def corpus(kind: str) -> tuple[bytes, ...]:
    pattern = {"law": "egov/*.xml", "meti": "meti/*.html", "atom": "meti/atom.xml",
               "feed": "press/feeds/*", "article": "press/articles/*.html"}[kind]
    return tuple(p.read_bytes() for p in sorted(DEMO.glob(pattern)))


def call(fn, *args, **kw):
    """fn(*args, **kw), failing the test on any exception but the project's own."""
    try:
        return fn(*args, **kw)
    except RegwatchError:
        return None
    except Exception as exc:  # noqa: BLE001 — that is the property under test
        shown = [a[:200] if isinstance(a, str | bytes) else a for a in args]
        pytest.fail(f"{fn.__module__}.{fn.__qualname__} raised {type(exc).__name__}: {exc} "
                    f"for {shown!r}")


@st.composite
def mutated(draw, kind: str) -> bytes:
    """A real document of `kind`, cut, with bytes flipped or markup inserted."""
    docs = corpus(kind)
    data = bytearray(draw(st.sampled_from(docs)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "cut":
            data = data[:i]
        elif op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([
                b"<", b">", b"&", b"&amp;", b"<![CDATA[", b"]]>", b"<!--", b"\x00", b"\xff\xfe",
                b"<div>" * 50, b"</p></div></table>", "令和99年13月40日".encode(), b"\xe3\x81",
                b'<!DOCTYPE x [<!ENTITY a "aaaa">]>', b"&a;", b"<Item>", b"</Law>",
                b'<a href="http://[x/y.pdf">x</a>', b'<link href="http://[::1"/>']))
        else:
            data[i:i + draw(st.integers(1, 64))] = b""
    return bytes(data)


def texts(kind: str):
    return st.one_of(st.text(max_size=400), mutated(kind).map(lambda b: b.decode("utf-8", "replace")))


def blobs(kind: str):
    return st.one_of(st.binary(max_size=400), mutated(kind))


# ---------------------------------------------------------------- Japanese dates and numerals

ERAS = ["明治", "大正", "昭和", "平成", "令和", "M", "T", "S", "H", "R", "r", "慶応", "西暦"]
KANJI = "〇一二三四五六七八九十百千万億兆"
DIGITS = "0123456789０１２３４５６７８９"


def numeral():
    return st.one_of(st.integers(-5, 10**7).map(str), st.text(alphabet=KANJI, min_size=1, max_size=8),
                     st.text(alphabet=DIGITS, min_size=1, max_size=6), st.just("元"))


@st.composite
def era_dates(draw) -> str:
    sep = draw(st.sampled_from(["", " ", "　"]))
    y, m, d = draw(numeral()), draw(numeral()), draw(numeral())
    weekday = draw(st.sampled_from(["", "（金）", "(月)", "（火曜日）"]))
    return f"{draw(st.sampled_from(ERAS))}{sep}{y}年{m}月{d}日{weekday}"


@st.composite
def western_dates(draw) -> str:
    y, m, d = draw(numeral()), draw(numeral()), draw(numeral())
    return draw(st.sampled_from([f"{y}年{m}月{d}日", f"{y}/{m}/{d}", f"{y}-{m}-{d}", f"{y}.{m}.{d}",
                                 f"April {d}, {y}", f"{d} July {y}", f"Sept. {d}, {y}"]))


DATE_TEXT = st.one_of(era_dates(), western_dates(), st.text(max_size=60),
                      st.just("令和99年13月40日"), st.just("令和元年5月1日"), st.just("平成31年5月1日"))


@FUZZ
@given(DATE_TEXT)
def test_parse_date_gives_a_real_date_or_date_parse_error(text):
    from regwatch.normalise.dates_ja import parse_date

    d = call(parse_date, text, source="fuzz")
    assert d is None or isinstance(d, date)


@FUZZ
@given(st.lists(DATE_TEXT, max_size=5).map("、".join))
def test_find_dates_in_running_text(text):
    from regwatch.normalise.dates_ja import find_dates

    for m in call(find_dates, text, source="fuzz") or []:
        assert isinstance(m.date, date) and text[m.start:m.end] == m.matched


@FUZZ
@given(st.sampled_from(ERAS), numeral(), st.integers(-3, 200))
def test_era_years(era, year_text, year):
    from regwatch.normalise.dates_ja import era_year_to_gregorian, parse_era_year

    call(parse_era_year, f"{era}{year_text}年", source="fuzz")
    call(era_year_to_gregorian, era, year, source="fuzz")


def test_reiwa_99_13_40_is_a_clear_date_parse_error():
    from regwatch.errors import DateParseError
    from regwatch.normalise.dates_ja import find_dates, parse_date

    with pytest.raises(DateParseError, match="令和99年13月40日"):
        parse_date("令和99年13月40日", source="notice")
    assert find_dates("施行日は令和99年13月40日とする。") == []  # skipped, never guessed


@FUZZ
@given(st.one_of(st.text(alphabet=KANJI + DIGITS + "のノ壱弐参拾", max_size=12), st.text(max_size=12)))
def test_kanji_numerals(text):
    from regwatch.normalise.text_ja import branch_number, kanji_to_int

    n = call(kanji_to_int, text)
    assert n is None or (isinstance(n, int) and n >= 0)
    call(branch_number, text)


@FUZZ
@given(st.integers(0, 10**16 - 1))
def test_kanji_numeral_round_trip(n):
    from regwatch.normalise.text_ja import int_to_kanji, int_to_positional_kanji, kanji_to_int

    assert kanji_to_int(int_to_kanji(n)) == n
    assert kanji_to_int(int_to_positional_kanji(n)) == n


@FUZZ
@given(st.one_of(st.integers(-10, 5000), st.text(alphabet="ivxlcdmIVXLCDMｉｖ", max_size=10), st.text(max_size=5)))
def test_roman_and_iroha(value):
    from regwatch.normalise.text_ja import iroha_index, iroha_kana, roman_to_int, to_roman

    if isinstance(value, int):
        r = call(to_roman, value)
        assert r is None or roman_to_int(r) == value
        k = call(iroha_kana, value)
        assert k is None or iroha_index(k) == value
    else:
        call(roman_to_int, value)
        call(iroha_index, value)


# ---------------------------------------------------------------- law XML and e-Gov responses


@FUZZ
@given(blobs("law"))
def test_parse_law_xml(data):
    from regwatch.normalise.egov_law import parse_law_xml

    call(parse_law_xml, data, source="fuzz.xml")


@FUZZ
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
                    lambda kids: st.one_of(st.lists(kids, max_size=4),
                                           st.dictionaries(st.sampled_from(["tag", "attr", "children", "x"]),
                                                           kids, max_size=4)), max_leaves=30))
def test_law_json_to_xml(node):
    from regwatch.normalise.egov_law import law_json_to_xml

    call(law_json_to_xml, node, source="fuzz.json")


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 st.builds(lambda v: json.dumps({"revisions": v}).encode(),
                           st.lists(st.dictionaries(st.sampled_from(["law_revision_id", "updated"]),
                                                    st.one_of(st.text(max_size=5), st.integers())),
                                    max_size=3)),
                 st.builds(lambda v: json.dumps({"law_full_text": v}).encode(),
                           st.one_of(st.text(max_size=50), st.integers(), st.none()))))
def test_egov_responses(body):
    from scrapers.egov_law import full_text_xml, parse_revision_list

    call(parse_revision_list, body, source="fuzz")
    call(full_text_xml, body, source="fuzz")


# ---------------------------------------------------------------- METI pages and indexes


@FUZZ
@given(texts("meti"))
def test_meti_release_page_and_announcement(html):
    from regwatch.normalise.meti_page import parse_page
    from regwatch.normalise.meti_press import extract_announcement

    call(parse_page, html, url=URL)
    call(extract_announcement, html, url=URL, taxonomy=taxonomy())


@FUZZ
@given(blobs("atom"), texts("meti"))
def test_meti_indexes(atom, html):
    from regwatch.normalise.meti_index import (
        page_main_text,
        parse_anpo_news,
        parse_atom,
        parse_en_index,
    )

    call(parse_atom, atom, url=URL)
    call(parse_en_index, html, url=URL)
    call(parse_anpo_news, html, url=URL)
    call(page_main_text, html)


@FUZZ
@given(st.text(max_size=200))
def test_meti_refs_and_rules(text):
    from regwatch.normalise.meti_refs import find_meti_refs, parse_meti_ref
    from regwatch.normalise.meti_rules import amendment_law_num, appended_tables, item_count

    call(parse_meti_ref, text)
    call(find_meti_refs, text)
    call(item_count, text)
    call(amendment_law_num, text)
    call(appended_tables, text, taxonomy())


# ---------------------------------------------------------------- press feeds and articles


@FUZZ
@given(blobs("feed"), st.sampled_from(["application/xml", "application/rss+xml", "text/html", ""]))
def test_parse_feed(data, ctype):
    from regwatch.normalise.press import parse_feed

    call(parse_feed, data, url=URL, content_type=ctype)


@FUZZ
@given(texts("article"), st.booleans())
def test_press_articles_and_claims(html, headline_only):
    from regwatch.normalise.press import article_from_document, extract_article
    from regwatch.normalise.press_claims import extract_claims

    call(extract_article, html, url=URL, taxonomy=taxonomy())
    call(article_from_document, url=URL, content=html,
         metadata={"headline_only": headline_only, "feed_title": html[:40], "summary": html[:80],
                   "feed_published": None}, taxonomy=taxonomy())
    call(extract_claims, html[:60], html, published_on=date(2024, 4, 26), taxonomy=taxonomy())


# ---------------------------------------------------------------- bytes → text, page watcher


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated("meti")),
       st.sampled_from([None, "text/html", "text/html; charset=utf-8", "text/html; charset=shift_jis",
                        "text/html; charset=bogus-9", "application/xml", "text/plain; charset=euc-jp"]))
def test_decode_never_fails(data, ctype):
    from regwatch.fetch.encoding import decode

    decoded = call(decode, data, ctype)
    assert decoded is not None and isinstance(decoded.text, str)


@FUZZ
@given(texts("meti"), st.sampled_from(["", "#main", "div.news > ul li", "h1", "[", "div:has(", "::x"]))
def test_page_watcher_text(html, selector):
    from scrapers.page import watched_text

    call(watched_text, html, selector, url=URL)
