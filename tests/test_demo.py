"""The embedded default: the demo replays the recorded story through the real pipeline."""

from __future__ import annotations

import email
import json
from datetime import date
from email import policy
from pathlib import Path

import pytest

from regwatch.cli import main


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out


def _changes(out: Path) -> list[dict]:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))["changes"]


def test_demo_writes_report_json_and_digests(demo_out: Path, capsys) -> None:
    assert (demo_out / "report.html").stat().st_size > 10_000
    assert (demo_out / "regwatch.db").exists()
    emls = sorted((demo_out / "digests").rglob("*.eml"))
    assert len(emls) >= 10
    msg = email.message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    # the week the 2024 ordinance was promulgated, for the Japanese-speaking subscriber
    (ja,) = (demo_out / "digests").rglob("digest-2024-07-08-*anpo-tantou*.eml")
    text = email.message_from_bytes(ja.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
    assert "量子コンピュータ等を輸出管理の対象に追加する省令改正を行いました" in text
    assert "Ministerial Ordinance Amended" not in text
    # The replay server is a mirror: what is stored and shown links to the real sites.
    assert "https://www.meti.go.jp/press/2024/" in text
    for shown in [demo_out / "report.html", demo_out / "report.json", *emls]:
        assert b"127.0.0.1" not in shown.read_bytes(), shown


def test_2024_four_categories_added_outside_wassenaar(demo_out: Path) -> None:
    changes = [c for c in _changes(demo_out) if c["effective_on"] == "2024-09-08"]
    cites = {c["provision"]["citation_ja"] for c in changes}
    # The four categories: SEM for IC imaging, cryogenic CMOS, quantum computers, GAA technology.
    assert {"第六条第一項第十七号コ", "第六条第一項第十八号の二", "第七条第一項第二号",
            "第十九条第一項第二号"} <= cites
    for c in changes:
        assert c["change_type"] == "added"
        assert c["outside_wassenaar"] is True and c["regime"] == "unilateral"
        assert (c["announced_on"], c["promulgated_on"]) == ("2024-04-26", "2024-07-08")
        kinds = {s["kind"] for s in c["sources"]}
        assert {"egov_law", "meti_press", "press"} <= kinds
        regime = [s for s in c["sources"] if s["kind"] == "meti_press" and "Wassenaar" in (s["quote"] or "")]
        assert regime and all(s["title"] for s in regime)  # the release is named, not a bare URL
    report = (demo_out / "report.html").read_text(encoding="utf-8")
    assert "4 categories added outside the Wassenaar Arrangement, effective 2024-09-08" in report


def test_2023_additions_are_dated_and_exact(demo_out: Path) -> None:
    changes = [c for c in _changes(demo_out) if c["effective_on"] == "2023-07-23"]
    by_type: dict[str, int] = {}
    for c in changes:
        by_type[c["change_type"]] = by_type.get(c["change_type"], 0) + 1
        assert c["announced_on"] == "2023-03-31" and c["promulgated_on"] == "2023-05-23"
    assert by_type == {"added": 73, "amended": 2, "renumbered": 3}
    report = (demo_out / "report.html").read_text(encoding="utf-8")
    assert "23 categories added, effective 2023-07-23" in report  # the count METI states


def test_watched_anpo_pages_show_as_page_changes(demo_out: Path) -> None:
    docs = json.loads((demo_out / "report.json").read_text(encoding="utf-8"))["documents"]
    index = [d for d in docs if d["url"].endswith("/policy/anpo/index.html")]
    assert [d["change_type"] for d in index] == ["added", "changed", "changed", "changed"]
    assert {d["title"] for d in index} == {"安全保障貿易管理（METI/経済産業省）"}


def test_press_ahead_wrong_date_and_unofficial_reports(demo_out: Path) -> None:
    report = json.loads((demo_out / "report.json").read_text(encoding="utf-8"))
    items = {p["key"]: p for p in report["press_items"]}
    official = items["jp/令和六年経済産業省令第四十四号"]
    (wrong,) = [d for d in official["discrepancies"] if d["field"] == "effective_on"]
    assert wrong["official_value"] == "2024-09-08" and "July 1" in wrong["press_quote"]
    unofficial = [p for p in items.values() if p["status"] == "reported_unofficial"]
    titles = " ".join(p["title"] for p in unofficial)
    assert "High-Bandwidth Memory" in titles  # a rumour: no official source
    assert "BIS" in titles  # a US rule is not tied to the Japanese event
    # The Nikkei scoop came a day before METI's release and is tied to the official event.
    sources = {s["url"] for c in report["changes"] if c["effective_on"] == "2024-09-08"
               for s in c["sources"]}
    assert any("asia.nikkei.com" in u for u in sources)


def test_shift_jis_page_and_broken_page(demo_out: Path, capsys) -> None:
    cfg = demo_out / "regwatch.toml"  # written by the demo for exploring its history
    assert main(["--config", str(cfg), "query",
                 "SELECT d.url, v.encoding, v.title FROM documents d JOIN document_versions v "
                 "ON v.document_id = d.id WHERE d.url LIKE '%20230721003.html'", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["encoding"].startswith(("cp932", "shift_jis")) and "施行" in row["title"]
    assert main(["--config", str(cfg), "query",
                 "SELECT error FROM source_runs WHERE error LIKE '%layout changed%'", "--format", "json"]) == 0
    errors = [r["error"] for r in json.loads(capsys.readouterr().out)]
    assert errors, "the page whose layout changed must be a recorded error"
    url = errors[0].split(": ", 1)[0]
    assert url.endswith("/20240709001.html") and errors[0].count(url) == 1  # named once


def test_the_baseline_amendment_is_history_not_an_announcement(demo_out: Path) -> None:
    """The 2022 amendment e-Gov listed when regwatch started watching produced the text in
    force then: no digest announces it. Its first observation stays the first one, though
    its e-Gov record moved in July 2023 (status UnEnforced → CurrentEnforced: a new version)."""
    import sqlite3

    for path in sorted((demo_out / "digests").rglob("*.eml")):
        assert "令和四年経済産業省令第七十八号" not in _parts(path)["plain"], path.name
    report = json.loads((demo_out / "report.json").read_text(encoding="utf-8"))
    assert [a["key"] for a in report["announcements"]] == []  # every other event has changes
    with sqlite3.connect(demo_out / "regwatch.db") as conn:
        (first,) = conn.execute("SELECT first_observed_at FROM events WHERE key = ?",
                                ("jp/令和四年経済産業省令第七十八号",)).fetchone()
    assert first.startswith("2023-03-31 10:00")


def _parts(path: Path) -> dict[str, str]:
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    out = {h: str(msg[h]) for h in ("Subject", "Date", "From", "To", "Message-ID")}
    out.update({kind: msg.get_body((kind,)).get_content() for kind in ("plain", "html")})
    return out


def test_each_demo_digest_is_rebuilt_exactly_as_known_at_its_moment(demo_out: Path,
                                                                      tmp_path: Path) -> None:
    """The audit replay: every digest the demo built during its story (each from what the
    pipeline knew at that step) comes back the same from the finished history with
    `regwatch digest --as-known-at` that step's moment — changes, dates, sources,
    corrections, announcements and source problems — through the config the demo writes."""
    from regwatch.demo import DEMO_DATA
    from regwatch.demo_server import load_story

    story = load_story(DEMO_DATA)
    last_step_of_day = {step.at.date(): step for step in story.steps}  # a day's folder: its last
    compared = 0
    for day, step in last_step_of_day.items():
        built = sorted((demo_out / "digests" / f"{day:%Y-%m-%d}").glob("*.eml"))
        out = tmp_path / str(day)
        assert main(["--config", str(demo_out / "regwatch.toml"), "digest", "--week-of", str(day),
                     "--dry-run", str(out), "--as-known-at", step.at.isoformat()]) == 0
        replayed = sorted(out.glob("*.eml"))
        assert [p.name for p in replayed] == [p.name for p in built]
        for original, replay in zip(built, replayed, strict=True):
            assert _parts(replay) == _parts(original), original.name
            compared += 1
    assert compared >= 10


def test_each_report_during_the_story_is_rebuilt_exactly_as_known_at_its_moment(
        tmp_path: Path) -> None:
    """The audit replay of reports: the story replayed step by step, a full JSON report taken
    after each step (what an officer saw then), then each rebuilt from the finished history
    with `--as-known-at` that step's moment — changes, dates, sources, events, press items,
    page changes and date corrections must be the same."""
    from regwatch.app import App
    from regwatch.config import load_config
    from regwatch.db.session import upgrade
    from regwatch.demo import DEMO_DATA, demo_config
    from regwatch.demo_server import ReplayServer, load_story
    from regwatch.pipeline import run_sources
    from regwatch.report.command import build_report

    story = load_story(DEMO_DATA)
    window = dict(since=date(2022, 1, 1), until=date(2026, 12, 31), fmt="json")
    taken = []
    with ReplayServer(story, etags=True) as server:
        app = App(demo_config(load_config(None), tmp_path, server))
        try:
            upgrade(app.engine)
            for step in story.steps:
                server.set_moment(step.at)
                list(run_sources(app, [], progress=False, now=step.at))
                taken.append((step.at, json.loads(build_report(app, generated_at=step.at, **window))))
            replays = [(at, json.loads(build_report(app, generated_at=at, as_known_at=at, **window)))
                       for at, _ in taken]
        finally:
            app.close()
    compared = 0
    for (at, original), (_, replay) in zip(taken, replays, strict=True):
        assert replay.pop("as_known_at") is not None and original.pop("as_known_at") is None
        for key in sorted(set(original) | set(replay)):
            assert replay.get(key) == original.get(key), f"{at}: {key}"
        compared += len(original["changes"])
    assert compared > 100


def test_a_digest_replay_is_only_written_and_only_of_the_past(demo_out: Path, tmp_path: Path,
                                                               capsys) -> None:
    config = ["--config", str(demo_out / "regwatch.toml"), "digest"]
    assert main([*config, "--send", "--as-known-at", "2024-04-26T21:00:00+09:00"]) == 2
    assert "use it with --dry-run DIR" in capsys.readouterr().err
    assert main([*config, "--dry-run", str(tmp_path), "--as-known-at", "2999-01-01T00:00"]) == 2
    assert "is in the future" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_status_as_known_at_shows_health_as_it_stood(demo_out: Path, capsys) -> None:
    """The METI release page whose layout changed (July 2024): partial from then on."""
    config = ["--config", str(demo_out / "regwatch.toml"), "status", "--format", "json"]
    assert main([*config, "--as-known-at", "2024-07-01T00:00+09:00"]) == 0
    before = {h["source"]: h for h in json.loads(capsys.readouterr().out)}
    assert main([*config, "--as-known-at", "2024-07-10T00:00+09:00"]) == 0
    after = {h["source"]: h for h in json.loads(capsys.readouterr().out)}
    assert before["meti-press-ja"]["last_status"] == "ok" and before["meti-press-ja"]["flags"] == ""
    assert after["meti-press-ja"]["last_status"] == "partial"
    assert "last run partial" in after["meti-press-ja"]["flags"]
    assert main([*config, "--as-known-at", "2023-01-01T00:00+09:00"]) == 0
    early = json.loads(capsys.readouterr().out)  # nothing had run: only configured sources
    assert early and all(h["last_attempt_at"] is None and h["flags"] == "never run" for h in early)
