"""Joining announcements and law revisions into events; the regime of a control change."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import pytest

from regwatch.errors import ConfigError
from regwatch.fetch.encoding import decode
from regwatch.normalise.events import (
    Revision,
    join_events,
    load_regime_map,
    regime_for_change,
    regime_for_provision,
)
from regwatch.normalise.meti_press import extract_announcement
from regwatch.normalise.taxonomy import load_taxonomy

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "meti_press"
URLS = {v: k for k, v in json.loads((FIX / "urls.json").read_text(encoding="utf-8")).items()}
ORD = "403M50000400049"
REV_2023 = Revision(ORD, "403M50000400049_20230723_000000000000000", "令和五年経済産業省令第二十五号",
                    date(2023, 5, 23), date(2023, 7, 23))
REV_2024 = Revision(ORD, "403M50000400049_20240908_000000000000000", "令和六年経済産業省令第四十四号",
                    None, date(2024, 9, 8))
REV_OTHER = Revision(ORD, "403M50000400049_20240201_000000000000000", "令和五年経済産業省令第五十三号",
                     date(2023, 12, 1), date(2024, 2, 1))


@pytest.fixture(scope="module")
def announcements():
    tax = load_taxonomy()
    out = []
    for name, url in URLS.items():
        if name.endswith(".html") and ("_20" in name) and "layout" not in name:
            html = decode((FIX / name).read_bytes(), "text/html").text
            out.append(extract_announcement(html, url=url, taxonomy=tax))
    return out


def by_key(events):
    return {e.key: e for e in events}


def test_the_story_joins_into_three_events_plus_an_unannounced_revision(announcements):
    events = by_key(join_events(announcements, [REV_2024, REV_2023, REV_OTHER]))
    assert set(events) == {"jp/令和五年経済産業省令第二十五号", "jp/令和六年経済産業省令第四十四号",
                           "jp/令和五年経済産業省令第五十三号", "jp/324CO0000000378/2025-11-11"}
    e23 = events["jp/令和五年経済産業省令第二十五号"]
    assert (e23.public_comment_on, e23.public_comment_deadline, e23.promulgated_on, e23.effective_on) == (
        date(2023, 3, 31), date(2023, 4, 29), date(2023, 5, 23), date(2023, 7, 23))
    assert e23.revision_ids == (REV_2023.law_revision_id,)
    assert len(e23.announcement_urls) == 5  # ja+en public comment, ja+en promulgation, ja enforcement (Shift_JIS)
    assert e23.regime == "unknown" and e23.outside_wassenaar is None  # no release states it
    assert e23.previous_keys == ("jp/403M50000400049/2023-03-31",)
    # enforcement was announced in Japanese only: the English title is the latest English one
    assert e23.title == "Ministerial Ordinance Amended to Add Advanced Semiconductor Manufacturing Equipment to Export Controls"
    assert e23.title_ja == "先端半導体製造装置に係る改正省令が施行されます"

    e24 = events["jp/令和六年経済産業省令第四十四号"]
    assert (e24.announced_on, e24.public_comment_on, e24.public_comment_deadline) == (
        date(2024, 4, 26), date(2024, 4, 26), date(2024, 5, 25))
    assert (e24.promulgated_on, e24.effective_on) == (date(2024, 7, 8), date(2024, 9, 8))
    assert e24.effective_on == date(2024, 9, 8) and e24.evidence["effective_on"][0].startswith("e-Gov")
    assert (e24.regime, e24.outside_wassenaar) == ("unilateral", True)
    url, quote = e24.evidence["outside_wassenaar"]
    assert url in e24.announcement_urls and ("Wassenaar" in quote or "ワッセナー" in quote)
    assert set(e24.categories) >= {"quantum", "semiconductor", "electron_microscopy"}
    # the title in English where there is one (latest stage), and in Japanese for Japanese readers
    assert e24.title == "Ministerial Ordinance Amended to Add Quantum Computers and Related Items to Export Controls"
    assert e24.title_ja == "量子コンピュータ等を輸出管理の対象に追加する省令改正を行いました"
    assert e24.title == "Ministerial Ordinance Amended to Add Quantum Computers and Related Items to Export Controls"

    e25 = events["jp/324CO0000000378/2025-11-11"]  # cabinet decision, no law number stated yet
    assert (e25.decided_on, e25.promulgated_on, e25.effective_on) == (
        date(2025, 11, 11), date(2025, 11, 14), date(2025, 11, 15))
    assert e25.revision_ids == () and len(e25.announcement_urls) == 2

    lone = events["jp/令和五年経済産業省令第五十三号"]
    assert lone.announcement_urls == () and lone.regime == "unknown" and lone.effective_on == date(2024, 2, 1)


def test_unrelated_and_non_regulatory_news_make_no_event(announcements):
    urls = {u for e in join_events(announcements, []) for u in e.announcement_urls}
    assert URLS["en_20240610_seminar.html"] not in urls
    assert URLS["ja_20240426_unrelated_nexi.html"] not in urls


def test_staged_enforcement_revisions_join_by_amending_law_number(announcements):
    num = "令和七年政令第三百七十六号"
    revs = [Revision("324CO0000000378", f"324CO0000000378_{d}_000000000000000", num, date(2025, 11, 14),
                     date(int(d[:4]), int(d[4:6]), int(d[6:]))) for d in ("20251115", "20251201", "20260214")]
    events = join_events(announcements, revs)
    e25 = next(e for e in events if e.decided_on == date(2025, 11, 11))
    # the release stated no law number, but its stated enforcement dates match two revisions …
    assert set(e25.revision_ids) == {revs[0].law_revision_id, revs[2].law_revision_id}
    # … and the third revision of the same amending order joins the lone revision event
    assert any(revs[1].law_revision_id in e.revision_ids for e in events)


def test_order_of_inputs_does_not_matter(announcements):
    baseline = [e.to_json() for e in join_events(announcements, [REV_2023, REV_2024])]
    shuffled = list(announcements)
    random.Random(7).shuffle(shuffled)
    assert [e.to_json() for e in join_events(shuffled, [REV_2024, REV_2023])] == baseline


def test_regime_of_a_change_announcement_then_map_then_unknown(announcements):
    rmap = load_regime_map()
    events = by_key(join_events(announcements, [REV_2023, REV_2024]))
    e24, e23 = events["jp/令和六年経済産業省令第四十四号"], events["jp/令和五年経済産業省令第二十五号"]
    d = regime_for_change(e24, rmap, ORD, "art7.para1.item1")
    assert (d.regime, d.outside_wassenaar, d.basis) == ("unilateral", True, "announcement") and d.quote
    # 2023: no release states it; the 23 items are national additions kept unknown by the map
    assert regime_for_change(e23, rmap, ORD, "art6.para1.item17.sub1-11.sub2-1").regime == "unknown"
    assert regime_for_change(e23, rmap, ORD, "art6.para1.item17-2").regime == "unknown"
    # an older row-7 entry falls back to the curated row default, quoting the rule
    old = regime_for_change(e23, rmap, ORD, "art6.para1.item17.sub1-6")
    assert (old.regime, old.outside_wassenaar, old.basis) == ("wassenaar", False, "regime_map")
    assert regime_for_change(None, rmap, "324CO0000000378", "appdx1.row3-2.g2.s10").regime == "ag"
    assert regime_for_change(None, rmap, "324CO0000000378", "appdx1.row16").regime == "unknown"


def test_prefix_rules_respect_path_segments():
    rmap = load_regime_map()
    assert regime_for_provision(rmap, "324CO0000000378", "appdx1.row1.g1").regime == "wassenaar"
    assert regime_for_provision(rmap, "324CO0000000378", "appdx1.row16") is None  # not row1 + "6"
    assert regime_for_provision(rmap, "324CO0000000378", "appdx1.row3").regime == "ag"


def test_bad_regime_map_names_the_rule(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('[[rule]]\nlaw_id = "x"\npath = "a"\nregime = "nato"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="rule\\[0\\].regime"):
        load_regime_map(p)
