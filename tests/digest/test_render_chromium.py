"""The HTML part as a person's mail client would show it: rendered by headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import lxml.html
import pytest

from regwatch.digest.compose import DigestContent, EventNote, Recipient, compose_digest
from regwatch.digest.period import digest_period
from regwatch.health import SourceHealth
from regwatch.models import ChangeRecord, Source

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                       "(apt-get install -y chromium)"),
]

TOKYO = ZoneInfo("Asia/Tokyo")
PWN = "document.documentElement.setAttribute('data-pwned', '1')"
EVIL = (f"<script>{PWN}</script><img src=x onerror=\"{PWN}\">"
        f"<a href=\"javascript:{PWN}\">x</a>\r\nBcc: v@example.net")


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--virtual-time-budget=3000", *args],
        capture_output=True, timeout=90, check=True)


def _message_html(lang: str) -> str:
    change = ChangeRecord(
        id="c24-sem", jurisdiction="JP",
        instrument={"law_id": "403M50000400049", "title": "貨物等省令"},
        provision={"path": "Article_6/Item_23", "citation_ja": "第六条第二十三号",
                   "citation_en": "Article 6, item (xxiii)"},
        list_entry="Appended Table 1, row 7", change_type="added", categories=("sem",),
        regime="unilateral", outside_wassenaar=True, announced_on=date(2024, 4, 26),
        promulgated_on=date(2024, 8, 9), effective_on=date(2024, 9, 8),
        observed_at=datetime(2024, 8, 10, tzinfo=UTC), before_text=None,
        after_text="集積回路の画像を取得するために設計した走査型電子顕微鏡" + EVIL,
        event={"key": "ev", "title": "Four categories outside Wassenaar " + EVIL},
        sources=(Source(f"javascript:{PWN}", "press", "bad link"),
                 Source("https://www.meti.go.jp/press/2024/04/20240426002/20240426002.html",
                        "meti_press", "経済産業省 報道発表")))
    note = EventNote("hbm", "HBM " + EVIL, "reported_unofficial", None, None)
    health = (SourceHealth("meti-press-en" + EVIL, datetime(2024, 8, 9, tzinfo=UTC), None, 2,
                           "HTTP 503 " + EVIL, 0, 10.0),)
    content = DigestContent(digest_period(date(2024, 8, 5), tz=TOKYO), (change,), (note,),
                            health)
    msg = compose_digest(content, Recipient("team@example.com", lang), sender="regwatch@example.org",
                         report_url="https://reports.example/r.html", tz=TOKYO,
                         sent_at=datetime(2024, 8, 12, 1, tzinfo=UTC))
    return msg.get_body(("html",)).get_content()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_html_part_renders_inert_in_chromium(lang: str, tmp_path: Path) -> None:
    page = tmp_path / f"digest-{lang}.html"
    page.write_text(_message_html(lang), encoding="utf-8")
    dom = _chromium(["--dump-dom", page.as_uri()], tmp_path).stdout.decode("utf-8")
    tree = lxml.html.document_fromstring(dom)
    # Nothing scraped ran or became active content.
    assert tree.get("data-pwned") is None and tree.xpath("//@data-pwned") == []
    assert tree.xpath("//script | //img | //iframe | //object | //embed") == []
    assert all(h.startswith("https://") for h in tree.xpath("//a/@href"))
    text = tree.text_content()
    assert f"<script>{PWN}</script>" in text  # shown literally, as the source had it
    assert "走査型電子顕微鏡" in text and "貨物等省令" in text
    if lang == "ja":
        assert "週次ダイジェスト" in text and "未施行" in text  # effective 8 Sep, after the week
    else:
        assert "Article 6, item (xxiii)" in text and "national (unilateral)" in text
        assert "not yet in force" in text
    assert tree.xpath("//*[@id='change-c24-sem']")
    # And it paints: a screenshot of a real layout, not an empty page.
    shot = tmp_path / "shot.png"
    _chromium([f"--screenshot={shot}", "--window-size=800,1200", page.as_uri()], tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
