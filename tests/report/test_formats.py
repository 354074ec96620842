"""Every report format over the fixture history: content, schema, escaping of scraped text."""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import date

import feedparser
import jsonschema
import pytest
from bs4 import BeautifulSoup
from lxml import etree
from markdown_it import MarkdownIt

from regwatch.errors import UsageError
from regwatch.report.base import Reporter, file_formats, get_reporter, reporters
from regwatch.report.json_report import load_schema

from . import history as h
from .conftest import report_data
from .history import at

VALIDATOR = jsonschema.Draft202012Validator(load_schema(),
                                            format_checker=jsonschema.FormatChecker())


def render(fmt: str, data) -> str:
    return get_reporter(fmt).render(data)


def test_registry_lists_the_file_formats() -> None:
    assert file_formats() == ["atom", "csv", "html", "json", "md"]
    assert {f: c.extension for f, c in reporters().items()}.items() >= {("html", "html"), ("md", "md")}
    with pytest.raises(UsageError, match="unknown report format 'pdf'"):
        get_reporter("pdf")
    with pytest.raises(TypeError, match="must declare a `format`"):
        type("Nameless", (Reporter,), {})


def test_registry_refuses_two_reporters_for_one_format() -> None:
    clash = type("ClashingJson", (Reporter,), {"format": "json"})
    try:
        with pytest.raises(TypeError, match="two reporters claim format 'json'"):
            reporters()
    finally:
        del clash
        import gc

        gc.collect()
    assert "json" in reporters()


def test_summary_and_headlines(hist_engine) -> None:
    data = report_data(hist_engine)
    s = data.summary()
    assert s.total == 10
    assert [x.text for x in s.headlines] == [
        "1 category added outside the Wassenaar Arrangement, effective 2023-07-23",
        "4 categories added outside the Wassenaar Arrangement, effective 2024-09-08",
        "1 category changed, effective 2025-01-01",
    ]
    assert [x.not_yet_in_force for x in s.headlines] == [False, True, True]
    assert s.by_instrument[0] == (h.ORDINANCE, data.changes[0].instrument["title"], 8)
    assert dict(s.by_change_type) == {"added": 6, "amended": 3, "renumbered": 1}
    assert dict(s.by_category)["quantum-computer"] == 3
    assert (s.not_yet_in_force, s.press_items, s.discrepancies, s.page_changes) == (6, 1, 1, 5)
    # the Order's row 8 was reported before the notice that gave its effective date
    assert s.date_corrections == 1
    assert s.totals_text() == ("10 provision changes, 6 not yet in force; 1 press-only report, "
                               "1 discrepancy, 5 watched-page changes, 1 date correction.")
    assert s.totals_text() in render("md", data)
    # replaying 2024-05-01: nothing of 2024 was known, so the 2023 story is all there is
    old = report_data(hist_engine, as_known_at=at("2024-05-01T00:00")).summary()
    assert [x.event_key for x in old.headlines] == [h.EVENT_2023]
    assert old.not_yet_in_force == 0


@pytest.mark.parametrize("kw", [
    {}, {"as_known_at": at("2024-08-15T00:00")}, {"by": "effective", "since": date(2024, 9, 1)},
    {"categories": ["quantum-computer"]}, {"since": date(2030, 1, 1), "until": date(2030, 1, 2)},
])
def test_json_report_validates_and_matches_the_query(hist_engine, kw) -> None:
    data = report_data(hist_engine, **kw)
    doc = json.loads(render("json", data))
    VALIDATOR.validate(doc)
    assert [c["id"] for c in doc["changes"]] == [c.id for c in data.changes]
    assert len(doc["documents"]) == len(data.documents)
    assert doc["window"]["by"] == kw.get("by")


def test_json_report_content_as_known_at(hist_engine) -> None:
    doc = json.loads(render("json", report_data(hist_engine, since=date(2024, 1, 1),
                                                as_known_at=at("2024-08-15T00:00"))))
    by_id = {c["id"]: c for c in doc["changes"]}
    assert set(by_id) == h.C24
    assert by_id[h.C24_ORDER]["effective_on"] is None
    assert by_id[h.C24_SEM]["effective_on"] == "2024-09-08"
    assert by_id[h.C24_SEM]["instrument"] == {"law_id": h.ORDINANCE,
                                              "title": by_id[h.C24_SEM]["instrument"]["title"]}
    assert doc["as_known_at"] == "2024-08-15T00:00:00Z"
    assert [d["url"] for d in doc["documents"]] == [
        "https://www.meti.go.jp/policy/anpo/law_document/notice_2024.html", h.ANPO_PAGE]
    assert [p["key"] for p in doc["press_items"]] == [h.EVENT_2024]


def test_json_schema_is_not_vacuous(hist_engine) -> None:
    doc = json.loads(render("json", report_data(hist_engine)))
    for mutate in (lambda d: d["changes"][0].pop("effective_on"),
                   lambda d: d["changes"][0].update(change_type="deleted"),
                   lambda d: d["changes"][0].update(announced_on="23 May 2023"),
                   lambda d: d["changes"][0].update(extra=1),
                   lambda d: d["documents"][0].update(observed_at="yesterday"),
                   lambda d: d.pop("documents")):
        bad = copy.deepcopy(doc)
        mutate(bad)
        assert not VALIDATOR.is_valid(bad)


def test_csv_report(hostile_engine) -> None:
    text = render("csv", report_data(hostile_engine, since=date(2024, 1, 1)))
    rows = list(csv.DictReader(io.StringIO(text)))
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == h.C24 | {h.C24_FX, h.HOSTILE}
    sem = by_id[h.C24_SEM]
    assert (sem["effective_on"], sem["announced_on"], sem["categories"]) == (
        "2024-09-08", "2024-04-26", "sem-ic-imaging")
    assert sem["source_urls"].split() == [h.EGOV_2024, h.METI_2024, h.PRESS_2024]
    assert by_id[h.C24_FX]["announced_on"] == "" and by_id[h.C24_FX]["outside_wassenaar"] == ""
    # a formula in scraped text opens as text in a spreadsheet
    assert by_id[h.HOSTILE]["before_text"].startswith("'=HYPERLINK(")
    assert json.loads(sem["sources_json"])[0]["url"] == h.EGOV_2024


def test_markdown_keeps_payloads_inert(hostile_engine) -> None:
    text = render("md", report_data(hostile_engine))
    assert "4 categories added outside the Wassenaar Arrangement" in text
    assert "<script" not in text and "<img" not in text
    assert "](javascript" not in text
    # rendered by a CommonMark renderer that passes raw HTML through
    html = MarkdownIt("commonmark", {"html": True}).render(text)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find_all(["script", "img"]) == []
    assert all(not a["href"].lower().startswith("javascript") for a in soup.find_all("a"))
    assert all(not k.startswith("on") for tag in soup.find_all(True) for k in tag.attrs)
    shown = soup.get_text()
    assert "<script>document.title='PWNED'" in shown
    assert "onerror=" in shown and "javascript:document.title" in shown
    links = {a["href"] for a in soup.find_all("a")}
    assert h.EGOV_2024 in links


def test_markdown_diff_marks_characters(hist_engine) -> None:
    text = render("md", report_data(hist_engine, since=date(2023, 1, 1), until=date(2023, 12, 31)))
    [line] = [x for x in text.splitlines() if "又は試験" in x and x.startswith("Diff:")]
    assert "~~" not in line  # an insertion only
    assert line.replace("**", "") == "Diff: 半導体製造装置又は試験装置であって、次のいずれかに該当するもの"
    assert line.count("**") == 2 and "又は試験" in line.split("**")[1]


def test_atom_one_entry_per_event(hostile_engine) -> None:
    data = report_data(hostile_engine)
    text = render("atom", data)
    etree.fromstring(text.encode())  # well-formed XML
    feed = feedparser.parse(text)
    assert not feed.bozo, feed.get("bozo_exception")
    ids = [e.id for e in feed.entries]
    assert ids == ["urn:regwatch:event:" + k for k in (h.EVENT_2023, h.EVENT_2024)] + [
        "urn:regwatch:event:change%3A" + h.C24_FX, "urn:regwatch:event:change%3A" + h.HOSTILE,
        "urn:regwatch:date-correction:324CO0000000378:jp-2024-outside-wassenaar:effective_on:"
        "2024-08-20T09:00:00Z:None:2024-09-08"]
    assert feed.entries[4].title.startswith("Effective date unknown → 2024-09-08 — ")
    e24 = feed.entries[1]
    assert "4 categories added outside the Wassenaar Arrangement, effective 2024-09-08" in e24.summary
    assert {t.term for t in e24.tags} == {"sem-ic-imaging", "gaa-transistor", "cryo-cmos",
                                          "quantum-computer"}
    assert e24.link == h.METI_2024
    hostile = feed.entries[3]
    assert "link" not in hostile or not hostile.link.startswith("javascript")
    # the HTML content carries the payload as escaped text, not markup
    content = hostile.content[0].value
    soup = BeautifulSoup(content, "html.parser")
    assert soup.find_all(["script", "img"]) == []
    assert "<script>document.title='PWNED'" in soup.get_text()


def test_html_static_structure(hostile_engine) -> None:
    text = render("html", report_data(hostile_engine))
    soup = BeautifulSoup(text, "html.parser")
    assert soup.find_all(["script", "img", "link", "iframe", "object", "embed"]) == []
    assert all(not k.startswith("on") for tag in soup.find_all(True) for k in tag.attrs)
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert all(x.startswith(("#", "https://", "http://")) for x in hrefs)
    ids = [t["id"] for t in soup.find_all(id=True)]
    assert len(ids) == len(set(ids))
    assert "@media print" in soup.style.string
    assert "url(" not in soup.style.string and "@import" not in soup.style.string
    assert "javascript:document.title='PWNED-LINK'" in soup.get_text()


def test_html_anchors_stay_unique_for_japanese_event_keys(hist_engine) -> None:
    """The pipeline keys events by their law number ("jp/令和五年経済産業省令第二十五号"):
    two such keys of one length must not share an anchor, or the contents lead astray."""
    import dataclasses

    data = report_data(hist_engine)
    keys = {h.EVENT_2023: "jp/令和五年経済産業省令第二十五号", h.EVENT_2024: "jp/令和六年経済産業省令第四十四号"}
    changes = tuple(dataclasses.replace(c, event={**c.event, "key": keys.get(c.event["key"], c.event["key"])})
                    if c.event else c for c in data.changes)
    soup = BeautifulSoup(render("html", dataclasses.replace(data, changes=changes)), "html.parser")
    ids = [t["id"] for t in soup.find_all(id=True)]
    assert len(ids) == len(set(ids))
    assert all(soup.find(id=a["href"][1:]) is not None for a in soup.select('a[href^="#"]'))
    event_links = [a["href"] for a in soup.select("#toc > ol > li > a")]
    assert len(event_links) == len(set(event_links)) >= 2


def test_html_event_shows_its_japanese_title(hist_engine) -> None:
    import dataclasses

    data = report_data(hist_engine)
    ja = "量子コンピュータ等を輸出管理の対象に追加する省令改正を行いました"
    changes = tuple(dataclasses.replace(c, event={**c.event, "title_ja": ja})
                    if c.event and c.event["key"] == h.EVENT_2024 else c for c in data.changes)
    soup = BeautifulSoup(render("html", dataclasses.replace(data, changes=changes)), "html.parser")
    [shown] = soup.select("section.event .event-title-ja")
    assert shown.get_text() == ja and shown["lang"] == "ja"


def test_a_change_found_late_is_marked_in_every_format(hist_engine) -> None:
    h.found_late(hist_engine)
    data = report_data(hist_engine, since=date(2024, 11, 1), until=date(2024, 11, 30),
                       generated_at=at("2024-12-01T00:00"))
    late = [c for c in data.changes if data.found_late(c)]
    assert [c.id for c in late] == [h.C23_ADD_20]  # the FX change observed then is not late
    assert data.summary().found_late == 1
    assert "1 found late" in data.summary().totals_text()

    doc = json.loads(render("json", data))
    VALIDATOR.validate(doc)
    assert doc["summary"]["found_late"] == 1
    [j] = [c for c in doc["changes"] if c["id"] == h.C23_ADD_20]
    assert (j["observed_at"], j["recorded_at"]) == ("2023-05-24T00:00:00+00:00",
                                                    "2024-11-25T03:00:00+00:00")
    soup = BeautifulSoup(render("html", data), "html.parser")
    badges = soup.select(".badge-late")
    assert len(badges) == 1 and badges[0].get_text() == "found late — recorded 2024-11-25T03:00:00Z"
    assert "第六条第二十号" in badges[0].find_parent("article").get_text()  # on its change
    assert soup.select_one(".totals .found-late").get_text() == "1"
    md = render("md", data)
    assert md.count("**found late: recorded 2024-11-25T03:00:00Z**") == 1
    rows = list(csv.DictReader(io.StringIO(render("csv", data))))
    assert {r["id"]: r["recorded_at"] for r in rows}[h.C23_ADD_20] == "2024-11-25T03:00:00+00:00"
