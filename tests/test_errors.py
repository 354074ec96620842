"""Errors name their source; records that keep the URL in a field of their own say it once."""

from __future__ import annotations

from regwatch.derive import Problem
from regwatch.errors import ParserHealthError, without_url

URL = "https://www.meti.go.jp/press/2024/07/20240709001/20240709001.html"


def test_without_url_strips_only_a_leading_url() -> None:
    err = ParserHealthError(URL, "no <h1> title on the page: layout changed?")
    assert str(err) == f"{URL}: no <h1> title on the page: layout changed?"
    assert without_url(str(err), URL) == "no <h1> title on the page: layout changed?"
    assert without_url(str(err), "https://other.example/") == str(err)
    assert without_url("timeout fetching " + URL, URL) == "timeout fetching " + URL
    assert without_url(str(err), None) == str(err)


def test_derivation_problems_name_their_url_once() -> None:
    p = Problem("meti-press-ja", URL, str(ParserHealthError(URL, "no <h1> title on the page")))
    assert (p.url, p.message) == (URL, "no <h1> title on the page")
