"""The decode chain: header → BOM → meta/XML declaration → detection, and the recorded choice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwatch.fetch.encoding import decode, normalise_charset, sniff_declared

JA = "輸出貿易管理令の一部を改正する政令（令和５年）について。半導体製造装置を追加します。"
JA_EXT = JA + "①髙橋㈱"  # NEC/IBM extensions: only in CP932, not in plain Shift_JIS


def page(charset_meta: str | None, body: str) -> str:
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    return f"<html><head>{meta}<title>t</title></head><body><p>{body}</p></body></html>"


def test_header_charset_wins():
    d = decode(JA_EXT.encode("cp932"), "text/html; charset=Shift_JIS")
    assert d.text == JA_EXT and d.encoding == "cp932" and d.source == "header" and d.label == "cp932 (header)"


def test_header_that_does_not_fit_falls_through_to_meta():
    data = page("Shift_JIS", JA).encode("cp932")
    d = decode(data, "text/html; charset=utf-8")
    assert JA in d.text and d.source == "meta" and "header utf-8 did not fit" in d.note


def test_bom():
    d = decode(b"\xef\xbb\xbf" + JA.encode(), "text/html")
    assert d.text == JA and d.source == "bom"
    d16 = decode("\ufeff".encode("utf-16-le") + JA.encode("utf-16-le"))
    assert d16.text == JA and d16.encoding == "utf-16-le"


@pytest.mark.parametrize("declared,codec", [("Shift_JIS", "cp932"), ("shift-jis", "cp932"),
                                            ("x-sjis", "cp932"), ("EUC-JP", "euc_jp"),
                                            ("windows-31j", "cp932")])
def test_meta_charset_only(declared, codec):
    d = decode(page(declared, JA).encode(codec), "text/html")
    assert JA in d.text and d.encoding == codec and d.source == "meta"


def test_meta_http_equiv_and_xml_declaration():
    html = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=euc-jp">'
            f"</head><body>{JA}</body></html>")
    assert decode(html.encode("euc_jp")).label == "euc_jp (meta)"
    xml = f'<?xml version="1.0" encoding="Shift_JIS"?><law>{JA}</law>'
    d = decode(xml.encode("cp932"), "application/xml")
    assert JA in d.text and d.label == "cp932 (xml)"
    assert sniff_declared(b"<p>no declaration</p>") is None


@pytest.mark.parametrize("codec", ["cp932", "euc_jp", "utf-8"])
def test_undeclared_japanese_is_detected(codec):
    d = decode(page(None, JA * 3).encode(codec), "text/html")
    assert JA in d.text and d.encoding == codec and d.source == "detected"


def test_short_undeclared_shift_jis():
    text = "お知らせ：令和6年改正"
    d = decode(text.encode("cp932"), None)
    assert d.text == text and d.encoding == "cp932"


def test_garbage_never_raises_and_says_so():
    d = decode(bytes(range(256)) * 3, "text/html; charset=nonsense-charset")
    assert isinstance(d.text, str)
    assert "header nonsense-charset did not fit" in d.note


def test_normalise_charset():
    assert normalise_charset("SJIS") == "cp932" and normalise_charset("utf8") == "utf-8"
    assert normalise_charset("iso-8859-1") == "cp1252" and normalise_charset("bogus") is None


@given(st.binary(max_size=400), st.sampled_from([None, "text/html", "text/html; charset=utf-8",
                                                 "text/html; charset=shift_jis", "text/plain; charset=x"]))
def test_decode_total(data, content_type):
    d = decode(data, content_type)
    assert isinstance(d.text, str) and d.encoding and d.source
