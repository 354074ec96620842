"""The HTML report as a person sees it: opened in real headless Chromium (Debian's).

The DOM Chromium dumps after loading is checked for the summary, contents, badges and
diffs, and for payloads in scraped text that must have stayed inert; a screenshot and a
PDF print are written too. Set REGWATCH_TEST_ARTIFACTS=DIR to keep them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from regwatch.db.session import make_engine, upgrade
from regwatch.report.base import change_anchor
from regwatch.report.html import HtmlReporter

from . import history as h
from .conftest import report_data
from .history import add_hostile, build_history

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium)"),
]


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, dict[str, object]]:
    tmp = tmp_path_factory.mktemp("chromium")
    engine = make_engine(f"sqlite:///{tmp / 'history.db'}")
    try:
        upgrade(engine)
        build_history(engine)
        add_hostile(engine)
        data = report_data(engine)
    finally:
        engine.dispose()
    page = tmp / "report.html"
    page.write_text(HtmlReporter().render(data), encoding="utf-8")
    return page, {"data": data}


@pytest.fixture(scope="module")
def dom(rendered, tmp_path_factory) -> BeautifulSoup:
    page, _ = rendered
    tmp = tmp_path_factory.mktemp("dom")
    # a virtual-time budget lets any (wrongly) live handler such as onerror run first
    out = chromium(tmp, page.as_uri(), "--dump-dom", "--virtual-time-budget=3000")
    return BeautifulSoup(out.stdout, "html.parser")


def test_payloads_stayed_inert(dom: BeautifulSoup) -> None:
    assert "PWNED" not in (dom.title.string or "")
    assert dom.find_all("script") == []
    assert dom.find("pwned-script") is None
    assert dom.body.get("data-pwned") is None
    assert dom.find_all("img") == []
    assert all(not a["href"].lower().startswith("javascript") for a in dom.find_all("a"))
    hostile = dom.find(id=change_anchor_id(h.HOSTILE))
    text = hostile.get_text()
    assert "<script>document.title='PWNED'" in text
    assert "onerror=\"document.body.setAttribute" in text
    assert "javascript:document.title='PWNED-LINK'" in text  # shown, not linked
    assert "[click me](javascript:alert(1))" in text


def change_anchor_id(change_id: str) -> str:
    return "change-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in change_id)


def test_summary_toc_and_sections(dom: BeautifulSoup, rendered) -> None:
    data = rendered[1]["data"]
    summary = dom.find(id="summary")
    headlines = [li.find(class_="headline-text").get_text() for li in summary.select("li.headline")]
    assert "4 categories added outside the Wassenaar Arrangement, effective 2024-09-08" in headlines
    assert summary.find(class_="total-changes").get_text() == str(len(data.changes))
    counts = {tr.th.get_text(" ", strip=True): tr.td.get_text()
              for tr in summary.select("#count-type tr")}
    assert counts == {"Added": "6", "Amended": "4", "Renumbered": "1"}
    toc_targets = [a["href"][1:] for a in dom.select("nav#toc a")]
    assert {change_anchor(c) for c in data.changes} <= set(toc_targets)
    assert all(dom.find(id=t) is not None for t in toc_targets)  # no dangling link
    assert dom.find(id="press") is not None and dom.find(id="pages") is not None


def test_change_badges_dates_and_diffs(dom: BeautifulSoup) -> None:
    sem = dom.find(id=change_anchor_id(h.C24_SEM))
    badges = {b.get_text(strip=True) for b in sem.select(".badge")}
    assert {"Added", "outside Wassenaar", "not yet in force", "sem-ic-imaging"} <= badges
    assert sem.find(class_="citation-ja").get_text() == "第六条第二十三号"
    assert sem.find(class_="citation-en").get_text() == "Article 6, item (xxiii)"
    assert sem.select_one("dd.announced time")["datetime"] == "2024-04-26"
    assert sem.select_one("dd.effective time")["datetime"] == "2024-09-08"
    press = [li for li in sem.select("ul.sources li") if li.select(".badge-press")]
    assert [li.a["href"] for li in press] == [h.PRESS_2024]

    amended = dom.find(id=change_anchor_id(h.C23_AMEND_3))
    assert "not yet in force" not in amended.get_text()
    inline = amended.select_one(".diff-inline")
    assert "又は試験" in "".join(i.get_text() for i in inline.select("ins"))
    assert inline.select("del") == []
    side = amended.select_one("table.diff-side")
    assert side.select(".diff-before ins") == [] and side.select(".diff-after ins")
    cistec = [li for li in amended.select("ul.sources li") if h.CISTEC in li.get_text()]
    assert cistec and cistec[0].a["href"] == h.CISTEC

    fx = dom.find(id=change_anchor_id(h.C24_FX))
    assert fx.select_one("dd.announced").get_text(strip=True) == "unknown"
    assert "Wassenaar status unknown" in fx.get_text()

    pages = dom.find(id="pages")
    changed = [a for a in pages.select("article.page-change") if h.ANPO_PAGE in a.get_text()]
    assert changed and changed[1].select("ins") and changed[1].select("del")


def test_press_only_and_discrepancies(dom: BeautifulSoup) -> None:
    press = dom.find(id="press")
    rumour = press.find(id="press-" + h.EVENT_PRESS)
    assert "press only" in rumour.get_text()
    # a rumour's date is when it was reported; an official event's is its announcement
    assert [dt.get_text() for dt in rumour.select("dl.dates dt")][0] == "Reported"
    official_item = press.find(id="press-" + h.EVENT_2024)
    assert [dt.get_text() for dt in official_item.select("dl.dates dt")][0] == "Announced"
    assert [a["href"] for a in rumour.select("ul.sources a")] == [h.PRESS_HBM_1, h.PRESS_HBM_2]
    row = press.find(id="press-" + h.EVENT_2024).select_one("tr.discrepancy")
    assert row.th.get_text() == "effective_on"
    official, reported = row.find_all("td")
    assert "2024-09-08" in official.get_text() and official.a["href"] == h.EGOV_2024
    assert "2024-07" in reported.get_text() and reported.a["href"] == h.PRESS_2024


def test_screenshot_and_print(rendered, tmp_path: Path) -> None:
    page, _ = rendered
    shot, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    chromium(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1280,2000",
             "--hide-scrollbars")
    chromium(tmp_path, page.as_uri(), f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    body = pdf.read_bytes()
    assert body[:5] == b"%PDF-"
    assert len(re.findall(rb"/Type\s*/Page(?!s)", body)) > 2  # printed across pages
    keep = os.environ.get("REGWATCH_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for f in (shot, pdf, page):
            shutil.copy(f, Path(keep) / f.name)
