"""Dates that move after their changes were reported: found from the date history, listed
in the window where regwatch learnt them, in every report format but CSV (which is one row per change record)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import feedparser
import jsonschema
from bs4 import BeautifulSoup
from sqlalchemy import insert, update

from regwatch.db.queries import select_date_corrections
from regwatch.db.session import transaction
from regwatch.db.tables import (
    ChangeCategory,
    ControlChange,
    DocumentRow,
    DocumentVersion,
    Evidence,
    SourceRow,
)
from regwatch.derive import date_history
from regwatch.report.atom import AtomReporter
from regwatch.report.command import collect
from regwatch.report.html import HtmlReporter
from regwatch.report.json_report import JsonReporter, load_schema
from regwatch.report.md import MarkdownReporter

LAW = "403M50000400049"
TITLE = "省令 <script>alert(1)</script>"
D1 = datetime(2024, 7, 1, 9, tzinfo=UTC)
D5 = datetime(2024, 7, 5, 9, tzinfo=UTC)


def _corrected_history(engine) -> None:
    """c1 and c2 reported on 1 July, effective 1 September (c1 by a notice, c2 with the
    change); c3 reported without an effective date. On 5 July a notice postpones c1 and c2
    to 1 October and gives c3 its date."""
    with engine.begin() as conn:
        conn.execute(insert(SourceRow), [{"id": 1, "name": "meti", "scraper": "meti_press",
                                          "created_at": D1}])
        conn.execute(insert(DocumentRow), [{"id": 1, "source_id": 1, "key": "n", "url": "https://www.meti.go.jp/n",
                                            "kind": "meti_press", "first_seen_at": D1, "last_seen_at": D5}])
        conn.execute(insert(DocumentVersion), [
            {"id": 1, "document_id": 1, "version": 1, "content_sha256": "a", "observed_at": D1,
             "change_type": "added"},
            {"id": 2, "document_id": 1, "version": 2, "content_sha256": "b", "observed_at": D5,
             "change_type": "changed"}])
        common = {"jurisdiction": "JP", "law_id": LAW, "instrument_title": TITLE, "change_type": "added",
                  "observed_at": D1, "parser_version": "t"}
        conn.execute(insert(ControlChange), [
            {**common, "id": "c1", "path": "art6.para1.item17", "citation_ja": "第六条第一項第十七号",
             "citation_en": "Article 6(1)(xvii)", "effective_on": date(2024, 9, 1)},
            {**common, "id": "c2", "path": "art6.para1.item2", "citation_ja": "第六条第一項第二号",
             "citation_en": "Article 6(1)(ii)", "effective_on": date(2024, 9, 1)},
            {**common, "id": "c3", "path": "art7", "citation_ja": "第七条", "citation_en": "Article 7",
             "effective_on": None}])
        conn.execute(insert(ChangeCategory), [{"change_id": "c1", "category": "hbm"},
                                              {"change_id": "c3", "category": "quantum"}])
        conn.execute(insert(Evidence), [{"change_id": "c1", "document_version_id": 1, "url": "https://www.meti.go.jp/n",
                                         "kind": "meti_press", "field": "effective_on"}])
    with transaction(engine) as s:
        date_history.record(s)
    with transaction(engine) as s:
        s.execute(update(ControlChange).values(effective_on=date(2024, 10, 1)))
        s.execute(update(Evidence).values(document_version_id=2))
        s.add(Evidence(change_id="c3", document_version_id=2, url="https://www.meti.go.jp/n",
                       kind="meti_press", field="effective_on"))
        s.flush()
        date_history.record(s)


def test_corrections_are_found_where_they_were_learnt(engine) -> None:
    _corrected_history(engine)
    july5 = dict(since=date(2024, 7, 5), until=date(2024, 7, 5))
    learnt, moved = select_date_corrections(engine, **july5)
    assert (learnt.field, learnt.old_value, learnt.new_value) == ("effective_on", None, date(2024, 10, 1))
    assert [p["change_id"] for p in learnt.provisions] == ["c3"]
    assert (moved.old_value, moved.new_value, moved.known_at) == (date(2024, 9, 1), date(2024, 10, 1), D5)
    assert [p["citation_ja"] for p in moved.provisions] == ["第六条第一項第二号", "第六条第一項第十七号"]
    assert moved.law_id == LAW and moved.instrument_title == TITLE and moved.event_key is None
    assert select_date_corrections(engine, since=date(2024, 7, 1), until=date(2024, 7, 4)) == []
    assert select_date_corrections(engine, **july5, as_known_at=D5.replace(hour=8)) == []
    assert len(select_date_corrections(engine, **july5, as_known_at=D5)) == 2
    (only,) = select_date_corrections(engine, **july5, categories=["hbm"])
    assert [p["change_id"] for p in only.provisions] == ["c1"]
    assert select_date_corrections(engine, **july5, instruments=["324CO0000000378"]) == []


def test_reports_list_the_corrections_escaped(engine) -> None:
    _corrected_history(engine)
    data = collect(engine, since=date(2024, 7, 5), until=date(2024, 7, 5), by=None, as_known_at=None,
                   generated_at=datetime(2024, 7, 6, tzinfo=UTC))
    assert data.changes == () and len(data.date_corrections) == 2
    assert data.summary().totals_text().endswith(", 2 date corrections.")
    doc = json.loads(JsonReporter().render(data))
    jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker()).validate(doc)
    assert doc["summary"]["date_corrections"] == 2
    assert [(d["old_value"], d["new_value"]) for d in doc["date_corrections"]] == [
        (None, "2024-10-01"), ("2024-09-01", "2024-10-01")]
    md = MarkdownReporter().render(data)
    assert "### Effective date 2024\\-09\\-01 → 2024\\-10\\-01" in md
    assert "<script>" not in md and "- 第六条第一項第十七号 / Article 6\\(1\\)\\(xvii\\)" in md
    page = BeautifulSoup(HtmlReporter().render(data), "html.parser")
    section = page.select_one("#date-corrections")
    assert [h.get_text() for h in section.select("h3")] == ["Effective date unknown → 2024-10-01",
                                                            "Effective date 2024-09-01 → 2024-10-01"]
    assert page.select("script") == [] and TITLE in section.get_text()
    assert page.select_one('#toc a[href="#date-corrections"]') is not None
    feed = feedparser.parse(AtomReporter().render(data))
    assert not feed.bozo and [e.title for e in feed.entries] == [
        f"Effective date unknown → 2024-10-01 — {TITLE}", f"Effective date 2024-09-01 → 2024-10-01 — {TITLE}"]
    assert "第六条第一項第十七号" in feed.entries[1].content[0].value
    assert len({e.id for e in feed.entries}) == 2
    by_effective = collect(engine, since=date(2024, 7, 5), until=date(2024, 7, 5), by="effective",
                           as_known_at=None,
                           generated_at=datetime(2024, 7, 6, tzinfo=UTC))
    assert by_effective.date_corrections == ()  # an observation, like watched pages
