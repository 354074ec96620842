"""The digest message: structure, subject counts, Japanese, header safety, inert HTML."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import lxml.html

from regwatch.db.queries import DateCorrection
from regwatch.digest.compose import (
    DigestContent,
    EventNote,
    Recipient,
    compose_digest,
    header_text,
    message_id,
)
from regwatch.digest.period import digest_period
from regwatch.health import SourceHealth
from regwatch.models import ChangeRecord, Source

TOKYO = ZoneInfo("Asia/Tokyo")
PERIOD = digest_period(date(2024, 9, 2), tz=TOKYO)
EVIL = 'Evil\r\nBcc: victim@example.net\r\n\r\n<script>alert(1)</script><img src=x onerror="alert(2)">'


def change(cid: str, *, event: tuple[str, str] | None = ("ev-a", "Four categories added"),
           effective: date | None = date(2024, 9, 8), **kw) -> ChangeRecord:
    base = dict(
        id=cid, jurisdiction="JP",
        instrument={"law_id": "403M50000400049", "title": "貨物等省令"},
        provision={"path": f"Article_6/Item_{cid}", "citation_ja": "第六条第二十三号",
                   "citation_en": "Article 6, item (xxiii)"},
        list_entry="Appended Table 1, row 7", change_type="added", categories=("sem",),
        regime="unilateral", outside_wassenaar=True, announced_on=date(2024, 4, 26),
        promulgated_on=date(2024, 8, 9), effective_on=effective,
        observed_at=datetime(2024, 9, 3, 0, 0, tzinfo=UTC), before_text=None,
        after_text="集積回路の画像を取得するために設計した走査型電子顕微鏡",
        event={"key": event[0], "title": event[1]} if event else None,
        sources=(Source("https://www.meti.go.jp/press/2024/04/x.html", "meti_press", "METI"),))
    base.update(kw)
    return ChangeRecord(**base)


def build(content: DigestContent, lang: str = "en", name: str = "",
          sent_at: datetime = datetime(2024, 9, 9, 0, 10, tzinfo=UTC)):
    msg = compose_digest(content, Recipient("team@example.com", lang, name),
                         sender="regwatch@example.org", report_url="https://reports.example/r.html",
                         tz=TOKYO, sent_at=sent_at)
    raw = msg.as_bytes()
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def test_multipart_alternative_with_text_then_inlined_html() -> None:
    raw, msg = build(DigestContent(PERIOD, (change("a"),)))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    html = parts[1].get_content()
    assert "<style" not in html and 'style="' in html  # CSS inlined for mail clients
    assert "<img" not in html and "<script" not in html
    text = parts[0].get_content()
    assert "Article 6, item (xxiii)" in text and "走査型電子顕微鏡" in text
    assert "https://reports.example/r.html#change-a" in text
    assert "Effective: 2024-09-08" in text and "[national (unilateral)]" in text
    assert max(len(line) for line in raw.splitlines()) <= 998  # RFC 5322 line limit


def test_subject_counts_changes_and_not_yet_in_force() -> None:
    content = DigestContent(PERIOD, (
        change("a"), change("b", effective=date(2024, 9, 1)), change("c", effective=None)))
    _, msg = build(content)
    # Effective 8 September, after the week ending 9 September 09:00? No: 8 < 9 → in force.
    assert msg["Subject"] == "regwatch: 3 control-list changes — week of 2024-09-02"
    content = DigestContent(PERIOD, (change("a", effective=date(2024, 10, 1)),
                                     change("b", effective=date(2024, 9, 1)), change("c")))
    _, msg = build(content)
    assert msg["Subject"] == ("regwatch: 3 control-list changes, 1 not yet in force"
                              " — week of 2024-09-02")
    _, msg = build(DigestContent(PERIOD, (change("a"),)))
    assert msg["Subject"] == "regwatch: 1 control-list change — week of 2024-09-02"


def test_a_subject_longer_than_a_line_reads_back_exactly() -> None:
    # Folded just before the dash's encoded word: CPython's folder alone reads back
    # "… 5 source problems  — week of …" (two spaces), as mail clients showed it.
    problems = tuple(SourceHealth(f"source-{n}", None, None, 0, None, None, None) for n in range(5))
    note = EventNote("ev-b", "Public comment invited", "official", date(2024, 9, 3), None)
    content = DigestContent(PERIOD, announcements=(note,), health=problems)
    raw, msg = build(content)
    assert msg["Subject"] == ("regwatch: no control-list changes, 1 announcement, 5 source problems"
                              " — week of 2024-09-02")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"5 source problems\r\n =?utf-8?" in head  # the fold this test is about
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    _, msg = build(content, lang="ja")  # encoded words only: read back as before
    assert msg["Subject"] == "regwatch: 規制リストの変更なし、発表 1件、情報源の異常 5件 — 2024-09-02 の週"


def test_japanese_subject_and_body_round_trip_as_utf8() -> None:
    content = DigestContent(PERIOD, (change("a", effective=date(2024, 10, 1)),))
    raw, msg = build(content, lang="ja", name="輸出管理チーム")
    assert msg["Subject"] == "regwatch: 規制リストの変更 1件（うち未施行 1件） — 2024-09-02 の週"
    assert msg["To"].addresses[0].display_name == "輸出管理チーム"
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # headers are RFC 2047-encoded, 7-bit clean
    assert b"=?utf-8?" in head
    text = msg.get_body(("plain",)).get_content()
    assert "週次ダイジェスト" in text and "施行日: 2024-10-01" in text and "[未施行]" in text
    assert "第六条第二十三号" in text  # the Japanese citation for a Japanese reader
    assert msg["Content-Language"] == "ja"


def test_message_id_is_deterministic_per_subscriber_and_period() -> None:
    content = DigestContent(PERIOD, (change("a"),))
    _, first = build(content, sent_at=datetime(2024, 9, 9, 0, 10, tzinfo=UTC))
    _, again = build(content, sent_at=datetime(2024, 9, 10, 5, 0, tzinfo=UTC))
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Date"] != again["Date"]
    assert first["Message-ID"] == message_id("team@example.com", PERIOD, "example.org")
    assert message_id("TEAM@example.com", PERIOD, "example.org") == first["Message-ID"]
    assert message_id("other@example.com", PERIOD, "example.org") != first["Message-ID"]
    later = digest_period(date(2024, 9, 9), tz=TOKYO)
    assert message_id("team@example.com", later, "example.org") != first["Message-ID"]


def test_crlf_in_scraped_text_cannot_inject_headers() -> None:
    bad = change("a", event=("ev-x", EVIL), list_entry="row\r\nX-Injected: 1",
                 provision={"path": "p", "citation_en": "Art. 1\r\nCc: cc@example.net",
                            "citation_ja": "第一条"},
                 sources=(Source("https://x.example/a\r\nBcc: b@example.net", "press", EVIL),))
    note = EventNote("ev-n", "Note\nTo: other@example.net", "reported_unofficial", None, None)
    raw, msg = build(DigestContent(PERIOD, (bad,), (note,)), name="Team\r\nBcc: x@example.net")
    assert sorted(k.lower() for k in msg.keys()) == sorted(
        ["subject", "from", "to", "date", "message-id", "auto-submitted", "mime-version",
         "content-type", "content-language"])
    assert [a.addr_spec for a in msg["To"].addresses] == ["team@example.com"]
    text = msg.get_body(("plain",)).get_content()
    # The title survives as one line of text in the body, not as a header anywhere.
    assert "Evil Bcc: victim@example.net <script>alert(1)</script>" in text
    assert "\nBcc:" not in text and "\nX-Injected" not in text and "\nCc:" not in text
    assert header_text("a\r\nb\x00c\u2028d\x85e") == "a b c d e"


def test_html_payloads_stay_inert() -> None:
    bad = change("a", event=("ev-x", EVIL), after_text=EVIL,
                 sources=(Source("javascript:alert(3)", "press", "click me"),
                          Source('https://ok.example/"><script>alert(4)</script>', "press", "q")))
    _, msg = build(DigestContent(PERIOD, (bad,)))
    html = msg.get_body(("html",)).get_content()
    tree = lxml.html.document_fromstring(html)
    assert tree.xpath("//script | //img | //iframe | //object | //embed | //form") == []
    assert [a for el in tree.iter() for a in el.attrib if a.lower().startswith("on")] == []
    hrefs = tree.xpath("//a/@href")
    assert hrefs and all(h.startswith(("https://", "http://")) for h in hrefs)
    assert "https://ok.example/%22%3E%3Cscript%3Ealert(4)%3C/script%3E" in hrefs
    body = tree.text_content()
    assert "<script>alert(1)</script>" in body  # shown as text
    assert "click me" in body


def test_headline_events_first_then_other_changes_then_admin() -> None:
    changes = (change("s1", event=("small", "Small event")),
               change("b1", event=("big", "Big event")), change("b2", event=("big", "Big event")),
               change("o1", event=None))
    health = (SourceHealth("meti-press-en", datetime(2024, 9, 8, tzinfo=UTC), None, 3, "HTTP 503", 0, 12.0,
                           "failed"),
              SourceHealth("meti-press-ja", datetime(2024, 9, 8, tzinfo=UTC), datetime(2024, 9, 8, tzinfo=UTC),
                           0, None, 0, 12.0, "ok"),
              SourceHealth("egov-law", datetime(2024, 9, 8, tzinfo=UTC), datetime(2024, 9, 8, tzinfo=UTC), 0, None, 5, 5.0,
                           "ok"))
    _, msg = build(DigestContent(PERIOD, changes, (), health))
    text = msg.get_body(("plain",)).get_content()
    order = [text.index(s) for s in ("== Headlines ==", "- Big event: 2 change(s)",
                                     "- Small event: 1 change(s)", "--- Big event ---",
                                     "--- Small event ---", "== Other changes",
                                     "== Admin: source health ==")]
    assert order == sorted(order)
    assert "meti-press-en: failing (3 in a row)" in text
    assert "meti-press-ja: parser may be broken" in text
    assert "egov-law" not in text  # healthy sources are not listed
    assert "may be incomplete" in text
    assert msg["Subject"].endswith("4 control-list changes, 2 source problems — week of 2024-09-02")


def test_an_empty_week_says_so() -> None:
    _, msg = build(DigestContent(PERIOD))
    assert msg["Subject"] == "regwatch: no control-list changes — week of 2024-09-02"
    assert "No control-list changes were found this week." in msg.get_body(("plain",)).get_content()
    _, msg = build(DigestContent(PERIOD), lang="ja")
    assert "今週は規制リストの変更はありませんでした。" in msg.get_body(("html",)).get_content()


def test_announcements_without_changes_are_listed() -> None:
    note = EventNote("hbm", "Japan weighs export controls on HBM", "reported_unofficial",
                     None, None, sources=(Source("https://news.example/hbm", "press", "News"),))
    _, msg = build(DigestContent(PERIOD, (), (note,)))
    assert msg["Subject"] == "regwatch: no control-list changes, 1 announcement — week of 2024-09-02"
    text = msg.get_body(("plain",)).get_content()
    assert "Japan weighs export controls on HBM" in text and "unofficial (press report)" in text
    assert "No control-list changes" not in text


def test_a_page_quoted_twice_is_one_source_line() -> None:
    """The digest links sources without their quotes: one page backing the date and the
    regime statement is listed once, under one "Sources:" heading."""
    page = "https://www.meti.go.jp/english/press/2024/0426_001.html"
    sources = (Source(page, "meti_press", "Public Comments Invited", "April 26, 2024"),
               Source(page, "meti_press", "Public Comments Invited", "These items are not covered"),
               Source("https://laws.e-gov.go.jp/law/403M50000400049", "egov_law", None, "施行"))
    _, msg = build(DigestContent(PERIOD, (change("a", sources=sources),)))
    text, html = (p.get_content() for p in msg.iter_parts())
    assert text.count("Public Comments Invited") == 1 and text.count("Sources:") == 1
    assert "  - Public Comments Invited <https://www.meti.go.jp/english/press/2024/0426_001.html>" in text
    assert "  - https://laws.e-gov.go.jp/law/403M50000400049\n" in text.replace("\r\n", "\n")
    links = lxml.html.fromstring(html).xpath("//p[contains(@class, 'sources')]/a/@href")
    assert links == [page, "https://laws.e-gov.go.jp/law/403M50000400049"]


def test_a_japanese_reader_gets_the_japanese_event_title() -> None:
    ev = {"key": "jp/令和六年経済産業省令第四十四号", "title": "Quantum Computers Added",
          "title_ja": "量子コンピュータ等を輸出管理の対象に追加する省令改正を行いました"}
    note = EventNote("jp/x", "Catch-all Guidance Revised", "official", date(2024, 9, 2), None,
                     title_ja="キャッチオール規制の運用を改正します")
    import dataclasses

    content = DigestContent(PERIOD, (dataclasses.replace(change("a"), event=ev),), (note,))
    _, ja = build(content, lang="ja")
    text = ja.get_body(("plain",)).get_content()
    assert ev["title_ja"] in text and "Quantum Computers Added" not in text
    assert note.title_ja in text and "Catch-all Guidance Revised" not in text
    _, en = build(content, lang="en")
    text = en.get_body(("plain",)).get_content()
    assert "Quantum Computers Added" in text and ev["title_ja"] not in text
    assert "Catch-all Guidance Revised" in text


def test_a_postponed_effective_date_is_told_in_the_week_it_was_learnt() -> None:
    """Changes reported in an earlier week whose enforcement date moved: a week with no new
    change still has something to tell, in the reader's language, with every citation
    escaped and the long list cut short."""
    moved = DateCorrection(
        field="effective_on", old_value=date(2024, 9, 8), new_value=date(2024, 10, 1),
        known_at=datetime(2024, 9, 4, tzinfo=UTC), law_id="403M50000400049",
        instrument_title="貨物等省令", event_key=None, event_title=None,
        provisions=tuple({"change_id": f"c{i}", "path": f"art6.item{i}", "citation_ja": f"第六条第{i}号",
                          "citation_en": EVIL if i == 0 else f"Article 6, item {i}"} for i in range(14)))
    content = DigestContent(PERIOD, date_corrections=(moved,))
    assert not content.is_empty
    _, msg = build(content)
    assert msg["Subject"] == "regwatch: no control-list changes, 1 date correction — week of 2024-09-02"
    text, html = (p.get_content() for p in msg.iter_parts())
    assert "== Date corrections (changes reported earlier) ==" in text
    assert "- Effective: 2024-09-08 → 2024-10-01 — 貨物等省令 [403M50000400049], 14 provision(s)" in text
    assert "Article 6, item 11; and 2 more" in text and "No control-list changes" not in text
    assert "<script" not in html and "&lt;script&gt;" in html
    _, ja = build(content, lang="ja")
    assert ja["Subject"] == "regwatch: 規制リストの変更なし、日付の訂正 1件 — 2024-09-02 の週"
    assert "施行日: 2024-09-08 → 2024-10-01" in ja.get_body(("plain",)).get_content()
