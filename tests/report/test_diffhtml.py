"""Character-level diffs: segments rebuild both texts; the HTML escapes everything."""

from __future__ import annotations

from bs4 import BeautifulSoup
from hypothesis import given
from hypothesis import strategies as st

from regwatch.report.diffhtml import (
    CHAR_DIFF_LIMIT,
    Segment,
    char_segments,
    inline_html,
    side_by_side_html,
)


def rebuild(segments: list[Segment]) -> tuple[str, str]:
    before = "".join(s.text for s in segments if s.op != "insert")
    after = "".join(s.text for s in segments if s.op != "delete")
    return before, after


@given(st.text(max_size=60), st.text(max_size=60))
def test_segments_rebuild_both_texts(a: str, b: str) -> None:
    segments = char_segments(a, b)
    assert rebuild(segments) == (a, b)
    assert all(s.text for s in segments)
    assert all(x.op != y.op for x, y in zip(segments, segments[1:], strict=False))


def test_japanese_character_diff() -> None:
    segments = char_segments("第六条第十八号", "第六条第十九号")
    assert segments == [Segment("equal", "第六条第十"), Segment("delete", "八"),
                        Segment("insert", "九"), Segment("equal", "号")]


def test_multiline_and_long_texts() -> None:
    a = "一行目\n二行目：変更前\n三行目\n"
    b = "一行目\n二行目：変更後\n三行目\n"
    segments = char_segments(a, b)
    assert rebuild(segments) == (a, b)
    assert [s.text for s in segments if s.op != "equal"] == ["前", "後"]
    long_a, long_b = "あ" * (CHAR_DIFF_LIMIT + 1), "い" * (CHAR_DIFF_LIMIT + 1)
    assert char_segments(long_a, long_b) == [Segment("delete", long_a), Segment("insert", long_b)]


def test_missing_sides() -> None:
    assert char_segments(None, "追加") == [Segment("insert", "追加")]
    assert char_segments("削除", None) == [Segment("delete", "削除")]
    assert char_segments(None, None) == []
    side = BeautifulSoup(side_by_side_html(None, "追加"), "html.parser")
    assert side.select_one(".diff-before").get_text() == "(none)"
    assert side.select_one(".diff-after ins").get_text() == "追加"


def test_html_is_escaped() -> None:
    before, after = "<b>x</b>", "<script>alert(1)</script><b>x</b>"
    for html in (inline_html(before, after), side_by_side_html(before, after)):
        soup = BeautifulSoup(str(html), "html.parser")
        assert soup.find_all(["script", "b"]) == []
        assert "<script>alert(1)</script>" in soup.get_text()
    soup = BeautifulSoup(str(inline_html(before, after)), "html.parser")
    assert [i.get_text() for i in soup.select("ins.diff-ins")] == ["<script>alert(1)</script>"]


def test_inline_and_side_by_side_share_one_diff(monkeypatch):
    """The two views of one change come from one character diff (computed once)."""
    import regwatch.report.diffhtml as diffhtml

    calls = []
    real = diffhtml.char_segments
    monkeypatch.setattr(diffhtml, "char_segments", lambda a, b: calls.append((a, b)) or real(a, b))
    diffhtml._tagged.cache_clear()
    before, after = "第十七号　極端紫外を用いる<装置>", "第十七号の二　極端紫外を用いる<装置>又は試験装置"
    inline = str(diffhtml.inline_html(before, after))
    side = str(diffhtml.side_by_side_html(before, after))
    assert calls == [(before, after)]
    assert "&lt;装置&gt;" in inline and "&lt;装置&gt;" in side
    assert '<ins class="diff-ins">の二</ins>' in inline and '<ins class="diff-ins">の二</ins>' in side
