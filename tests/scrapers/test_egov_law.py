"""The e-Gov scraper and the law history it feeds, against recorded responses on 127.0.0.1."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fetch.server import LocalServer, Reply
from sqlalchemy import func, select, text

from regwatch.app import App
from regwatch.config import Config, FetchConfig, SourceConfig, SubscriberConfig
from regwatch.db.queries import select_changes, select_date_corrections
from regwatch.db.tables import (
    ControlChange,
    DocumentRow,
    DocumentVersion,
    Evidence,
    LawRevision,
    Provision,
    SourceRun,
)
from regwatch.digest.command import digest_content
from regwatch.digest.compose import Recipient, compose_digest
from regwatch.digest.period import period_containing
from regwatch.health import source_health
from regwatch.normalise.egov_law import parse_law_xml
from regwatch.pipeline import run_sources

EGOV = Path(__file__).parents[1] / "fixtures" / "egov"
LAW = "403M50000400049"
REV_2022 = f"{LAW}_20221206_504M60000400078"
REV_2023 = f"{LAW}_20230723_505M60000400025"
REV_2026 = f"{LAW}_20260401_508M60000400001"
T1 = datetime(2023, 5, 24, 3, 0, tzinfo=UTC)
T2 = datetime(2023, 5, 25, 3, 0, tzinfo=UTC)
T3 = datetime(2023, 5, 26, 3, 0, tzinfo=UTC)
REPROCESSED = datetime(2023, 6, 14, 9, 30, tzinfo=UTC)  # three weeks after T1


def record(rev_id: str, effective: str, promulgated: str | None, num: str, *, status: str,
           updated: str = "2023-05-23T15:00:00+09:00") -> dict:
    return {"law_revision_id": rev_id, "law_type": "MinisterialOrdinance",
            "law_title": "輸出貿易管理令別表第一及び外国為替令別表の規定に基づき貨物又は技術を定める省令",
            "updated": updated, "amendment_promulgate_date": promulgated,
            "amendment_enforcement_date": effective, "amendment_law_num": num,
            "amendment_law_id": rev_id.rsplit("_", 1)[1], "amendment_type": "3",
            "current_revision_status": status}


def law_data(xml: bytes, rec: dict) -> Reply:
    body = {"law_info": {"law_id": LAW}, "revision_info": rec,
            "law_full_text": base64.b64encode(xml).decode()}
    return Reply(body=json.dumps(body, ensure_ascii=False).encode(),
                 headers={"Content-Type": "application/json"})


def listing(*recs: dict) -> Reply:
    return Reply(body=json.dumps({"law_info": {"law_id": LAW}, "revisions": list(recs)},
                                 ensure_ascii=False).encode(),
                 headers={"Content-Type": "application/json"})


def data_path(rev: str, fmt: str = "xml") -> str:
    return f"/api/2/law_data/{rev}?law_full_text_format={fmt}"


R2022 = record(REV_2022, "2022-12-06", None, "令和四年経済産業省令第七十八号", status="PreviousEnforced")
R2023 = record(REV_2023, "2023-07-23", "2023-05-23", "令和五年経済産業省令第二十五号", status="UnEnforced")


@pytest.fixture
def world(engine, tmp_path):
    with LocalServer() as server:
        server.route("/robots.txt", body=b"User-agent: *\nAllow: /\n")
        server.route(f"/api/2/law_revisions/{LAW}", listing(R2023, R2022))
        server.route(data_path(REV_2022),
                     law_data((EGOV / f"{LAW}_20221206_before.xml").read_bytes(), R2022))
        server.route(data_path(REV_2023),
                     law_data((EGOV / f"{LAW}_20230723_after.xml").read_bytes(), R2023))
        source = SourceConfig(name="egov-law", scraper="egov_law", url=server.url("/api/2"),
                              allowed_hosts=["127.0.0.1"], options={"law_ids": [LAW]})
        config = dataclasses.replace(
            Config(), data_dir=str(tmp_path / "data"), sources=(source,),
            fetch=FetchConfig(min_interval_s=0.0, retries=0, timeout_s=5.0),
            database=dataclasses.replace(Config().database, url=engine.url.render_as_string(False)))
        app = App(config)
        app.__dict__["engine"] = engine  # share the test engine
        yield server, app, source


def run(app: App, at: datetime):
    (result,) = run_sources(app, [], now=at)
    return result


def unable_to_read(monkeypatch, rev_id: str) -> None:
    """A law parser that fails on every version of one revision (an older parser that does
    not know an element of it, or a newer one that regressed)."""
    import regwatch.normalise.egov_law as egov_law
    from regwatch.errors import ParseError

    readable = egov_law.parse_law_xml

    def parse(data, source=None):
        if rev_id in (source or ""):
            raise ParseError(source, "an element this parser does not know")
        return readable(data, source=source)

    monkeypatch.setattr(egov_law, "parse_law_xml", parse)


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_revisions_become_history_with_exact_changes(world, engine) -> None:
    server, app, _ = world
    result = run(app, T1)
    assert result.status == "ok" and result.documents_changed == 3  # listing + two revisions
    with engine.connect() as conn:
        revs = {r.law_revision_id: r for r in conn.execute(select(LawRevision))}
        kinds = dict(conn.execute(select(ControlChange.change_type, func.count())
                                  .group_by(ControlChange.change_type)).all())
        change = conn.execute(select(ControlChange).where(ControlChange.change_type == "amended")
                              .order_by(ControlChange.path)).first()
    assert revs[REV_2023].effective_on == date(2023, 7, 23)
    assert revs[REV_2023].promulgated_on == date(2023, 5, 23)
    assert revs[REV_2023].status == "not_yet_in_force"  # a future effective date is kept as such
    assert revs[REV_2023].amendment_law_num == "令和五年経済産業省令第二十五号"
    assert kinds == {"added": 73, "amended": 2, "renumbered": 3}
    assert change.effective_on == date(2023, 7, 23) and change.observed_at == T1
    assert change.citation_ja == "第六条第一項第十七号"


def test_text_of_a_provision_on_a_date_is_one_query(world, engine) -> None:
    _, app, _ = world
    run(app, T1)
    sql = text("SELECT p.text FROM provisions p JOIN instruments i ON i.id = p.instrument_id "
               "WHERE i.law_id = :law AND p.path = :path AND p.valid_from <= :d "
               "AND (p.valid_to IS NULL OR p.valid_to > :d)")
    with engine.connect() as conn:
        before = conn.execute(sql, {"law": LAW, "path": "art6.para1.item17-2", "d": date(2023, 1, 1)}).scalar_one()
        after = conn.execute(sql, {"law": LAW, "path": "art6.para1.item17-2", "d": date(2023, 8, 1)}).scalar_one()
        mask = conn.execute(sql, {"law": LAW, "path": "art6.para1.item17-3", "d": date(2023, 8, 1)}).scalar_one()
    assert before.startswith("マスクの製造に用いられる基材")  # 十七の二 before 2023 …
    assert after.startswith("ペリクル")  # … is pellicles after, the mask blanks moved to 十七の三
    assert mask.startswith("マスクの製造に用いられる基材")


def test_stored_revisions_are_not_fetched_again(world, engine) -> None:
    server, app, source = world
    run(app, T1)
    server.clear_log()
    second = run(app, T2)
    assert second.documents_changed == 0
    assert [r.path for r in server.requests() if "law_data" in r.path] == []
    versions, changes = count(engine, DocumentVersion), count(engine, ControlChange)
    run(app, T2)
    assert (count(engine, DocumentVersion), count(engine, ControlChange)) == (versions, changes)


def test_a_moved_updated_stamp_refetches_and_a_new_revision_is_added(world, engine) -> None:
    server, app, _ = world
    run(app, T1)
    corrected = dict(R2023, updated="2023-06-01T10:00:00+09:00")
    future = record(REV_2026, "2026-04-01", "2026-01-15", "令和八年経済産業省令第一号", status="UnEnforced",
                    updated="2026-01-15T10:00:00+09:00")
    xml_2026 = (EGOV / f"{LAW}_20230723_after.xml").read_bytes().replace(
        "ペリクルであって".encode(), "ペリクル又はその部分品であって".encode())
    server.route(f"/api/2/law_revisions/{LAW}", listing(future, corrected, R2022))
    server.route(data_path(REV_2026), law_data(xml_2026, future))
    server.clear_log()
    run(app, T2)
    fetched = sorted(r.path for r in server.requests() if "law_data" in r.path)
    assert fetched == [data_path(REV_2023), data_path(REV_2026)]
    with engine.connect() as conn:
        (c,) = conn.execute(select(ControlChange).join(LawRevision)
                            .where(LawRevision.law_revision_id == REV_2026)).all()
    assert c.change_type == "amended" and c.effective_on == date(2026, 4, 1)
    assert "又はその部分品" in c.after_text and c.observed_at == T2


def test_json_node_tree_gives_the_same_provisions(world, engine) -> None:
    server, app, source = world
    xml = (EGOV / f"{LAW}_20230723_after.xml").read_bytes()
    expected = parse_law_xml(xml, source="xml")
    from lxml import etree

    def node(el) -> dict:  # the e-Gov JSON shape: {tag, attr, children} with text children
        children: list = [el.text] if el.text else []
        for child in el:
            children.append(node(child))
            if child.tail:
                children.append(child.tail)
        return {"tag": el.tag, "attr": dict(el.attrib), "children": children}

    tree = node(etree.fromstring(xml))
    server.route(data_path(REV_2023, "json"), Reply(
        body=json.dumps({"law_info": {}, "revision_info": R2023, "law_full_text": tree},
                        ensure_ascii=False).encode(), headers={"Content-Type": "application/json"}))
    app.config = dataclasses.replace(app.config, sources=(dataclasses.replace(
        source, options={"law_ids": [LAW], "full_text_format": "json"}),))
    run(app, T1)
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Provision.path, Provision.text)
                                   .join(LawRevision, LawRevision.id == Provision.revision_id)
                                   .where(LawRevision.law_revision_id == REV_2023)).all())
    assert {p.path: p.text for p in expected.provisions if p.path in stored} == stored
    assert len(stored) > 70


def test_malformed_revision_is_an_error_and_derives_nothing(world, engine) -> None:
    server, app, _ = world
    bad = b"<Law><LawBody><MainProvision><Article Num='1'>"  # cut off
    server.route(data_path(REV_2023), law_data(bad, R2023))
    result = run(app, T1)
    assert result.status == "partial" and REV_2023 in result.error
    assert "not well-formed" in result.error or "XML" in result.error
    with engine.connect() as conn:
        revs = set(conn.execute(select(LawRevision.law_revision_id)).scalars())
    assert revs == {REV_2022}  # the good revision is still history
    assert count(engine, ControlChange) == 0


def test_a_malformed_new_version_of_a_revision_loses_no_derived_history(world, engine) -> None:
    """e-Gov serves a broken copy of a revision it served well before: an error names it,
    and the history stays as derived from the last version that parses (its changes keep
    their IDs and times, so nothing is retracted now and announced again later)."""
    server, app, _ = world
    run(app, T1)
    with engine.connect() as conn:
        before = conn.execute(select(ControlChange.id, ControlChange.observed_at,
                                     ControlChange.recorded_at, ControlChange.after_text)
                              .order_by(ControlChange.id)).all()
    broken = dict(R2023, updated="2023-05-24T10:00:00+09:00")
    server.route(f"/api/2/law_revisions/{LAW}", listing(broken, R2022))
    server.route(data_path(REV_2023), law_data(b"<Law><LawBody><MainProvision>", broken))
    result = run(app, T2)
    assert result.status == "partial" and REV_2023 in result.error
    assert "history stands on the version observed 2023-05-24 03:00 UTC" in result.error
    with engine.connect() as conn:
        after = conn.execute(select(ControlChange.id, ControlChange.observed_at,
                                    ControlChange.recorded_at, ControlChange.after_text)
                             .order_by(ControlChange.id)).all()
    assert after == before and len(before) == 78
    # Every run says so until a version parses again; then all is as before.
    assert REV_2023 in run(app, T3).error
    fixed = dict(R2023, updated="2023-05-26T10:00:00+09:00")
    server.route(f"/api/2/law_revisions/{LAW}", listing(fixed, R2022))
    server.route(data_path(REV_2023), law_data((EGOV / f"{LAW}_20230723_after.xml").read_bytes(), fixed))
    assert run(app, T3 + timedelta(days=1)).status == "ok"
    with engine.connect() as conn:
        again = conn.execute(select(ControlChange.id, ControlChange.observed_at,
                                    ControlChange.recorded_at, ControlChange.after_text)
                             .order_by(ControlChange.id)).all()
    assert again == before


def test_diff_law_from_stored_history(world, engine, capsys, tmp_path) -> None:
    from regwatch.lawdiff import diff_stored

    _, app, _ = world
    run(app, T1)
    out = json.loads(diff_stored(app, LAW, date(2023, 1, 1), date(2023, 8, 1), "json"))
    assert {c["change_type"] for c in out} == {"added", "amended", "renumbered"} and len(out) == 78
    assert diff_stored(app, LAW, date(2023, 1, 1), date(2023, 2, 1), "json").strip() == "[]"


def test_reprocess_rederives_from_snapshots_and_reports_parser_changes(world, engine) -> None:
    from regwatch.reprocess import reprocess

    server, app, _ = world
    run(app, T1)
    with engine.begin() as conn:  # what an older, buggy parser might have stored
        cid = conn.execute(select(ControlChange.id).where(ControlChange.change_type == "amended")
                           .order_by(ControlChange.path)).scalars().first()
        good = conn.execute(select(ControlChange.after_text).where(ControlChange.id == cid)).scalar_one()
        conn.execute(ControlChange.__table__.update().where(ControlChange.id == cid)
                     .values(after_text="garbled"))
        conn.execute(ControlChange.__table__.delete().where(ControlChange.change_type == "renumbered"))
    server.clear_log()
    outcome = reprocess(app, [], now=REPROCESSED)
    assert server.requests() == []
    assert outcome.modified == [cid] and len(outcome.added) == 3 and outcome.removed == []
    assert "parser changes" in outcome.summary() and "found late" in outcome.summary()
    with engine.connect() as conn:
        row = conn.execute(select(ControlChange).where(ControlChange.id == cid)).one()
        times = {r.id: (r.observed_at, r.recorded_at) for r in conn.execute(
            select(ControlChange.id, ControlChange.observed_at, ControlChange.recorded_at))}
    assert row.after_text == good
    # Every re-derived record keeps the time its snapshot was observed; the ones the old
    # parser had (the modified one too) keep when they were recorded, the ones it missed
    # are recorded now.
    assert {t[0] for t in times.values()} == {T1}
    assert {i for i, t in times.items() if t[1] == REPROCESSED} == set(outcome.added)
    assert {t[1] for i, t in times.items() if i not in outcome.added} == {T1}
    again = reprocess(app, [], now=REPROCESSED + timedelta(days=1))
    assert (again.added, again.removed, again.modified) == ([], [], [])
    with engine.connect() as conn:
        assert {r.id: (r.observed_at, r.recorded_at) for r in conn.execute(
            select(ControlChange.id, ControlChange.observed_at, ControlChange.recorded_at))} == times


def test_a_change_whose_id_a_parser_change_moved_is_not_news(world, engine) -> None:
    """A new path scheme gives every change a new ID: the same change of the same revision
    with the same text keeps its times (one for one), so no digest reports it again."""
    from regwatch.reprocess import reprocess

    server, app, _ = world
    run(app, T1)
    table = ControlChange.__table__
    with engine.begin() as conn:  # an older parser with another path scheme
        moved = conn.execute(select(table).where(table.c.change_type == "added")
                             .order_by(table.c.path)).mappings().first()
        conn.execute(table.delete().where(table.c.id == moved["id"]))
        conn.execute(table.insert().values({**moved, "id": "old-scheme", "path": "old/scheme"}))
    outcome = reprocess(app, [], now=REPROCESSED)
    assert (outcome.added, outcome.removed) == ([moved["id"]], ["old-scheme"])
    with engine.connect() as conn:
        times = conn.execute(select(ControlChange.observed_at, ControlChange.recorded_at)
                             .where(ControlChange.id == moved["id"])).one()
    assert tuple(times) == (T1, T1)
    with engine.connect() as conn:  # nor is the old ID withdrawn: it is the same change
        assert conn.execute(select(func.count()).select_from(ControlChange)
                            .where(ControlChange.id == "old-scheme")).scalar_one() == 0


def test_changes_an_earlier_parse_missed_reach_the_next_digest_marked_found_late(world, engine) -> None:
    """Missing a change is the worst failure: one found only by a fixed parser must reach
    people, in the digest of the week it was found, and not be in replays of before."""
    from regwatch.reprocess import reprocess

    server, app, _ = world
    run(app, T1)
    with engine.begin() as conn:  # an older parser that missed the renumberings
        conn.execute(ControlChange.__table__.delete().where(ControlChange.change_type == "renumbered"))
    with engine.connect() as conn:
        seen_then = set(conn.execute(select(ControlChange.id)).scalars())
    found = reprocess(app, [], now=REPROCESSED).added
    assert len(found) == 3
    tz = app.config.tz
    sub = SubscriberConfig(email="officer@example.com")

    def digest_of(moment: datetime, as_known_at: datetime | None = None):
        period = period_containing(moment, tz=tz)
        content = digest_content(engine, app.config, sub, period, (), as_known_at)
        message = compose_digest(content, Recipient(sub.email, "en", ""), sender="rw@example.com",
                                 report_url="", tz=tz, sent_at=period.end)
        return content, message.get_body(("plain",)).get_content()

    week_found, text_found = digest_of(REPROCESSED)
    assert {c.id for c in week_found.changes} == set(found)
    assert all(c.observed_at == T1 for c in week_found.changes)
    assert text_found.count("[found late: in a text observed before this period]") == 3
    week_observed, text_observed = digest_of(T1)  # as that week's digest was: without them
    assert {c.id for c in week_observed.changes} == seen_then
    assert "found late" not in text_observed
    # Replays: unknown before they were found, known after; a report by any date has them.
    assert {c.id for c in select_changes(engine, as_known_at=REPROCESSED - timedelta(seconds=1))} \
        == seen_then
    assert {c.id for c in select_changes(engine, as_known_at=REPROCESSED)} == seen_then | set(found)


def test_a_change_no_longer_found_is_retracted_in_the_digest_and_kept_for_replays(world, engine) -> None:
    """The mirror of found late: a change an older parser invented, already sent in a digest,
    is withdrawn when a fixed parser no longer finds it. The next digest says so; current
    reports and v_changes leave it out; a replay of the moment it was shown still shows it."""
    from regwatch.reprocess import reprocess

    server, app, _ = world
    run(app, T1)
    table = ControlChange.__table__
    with engine.begin() as conn:  # what an older, buggy parser made up
        real = conn.execute(select(table).where(table.c.change_type == "added")
                            .order_by(table.c.path)).mappings().first()
        conn.execute(table.insert().values({**real, "id": "bogus", "path": real["path"] + ".bogus",
                                            "citation_ja": "第九十九条", "after_text": "架空の規定"}))
        conn.execute(Evidence.__table__.insert().values(
            change_id="bogus", url="https://laws.e-gov.go.jp/x", kind="egov_law", title="e-Gov",
            quote="架空", field="effective_on"))
    tz = app.config.tz
    sub = SubscriberConfig(email="officer@example.com")
    shown = period_containing(T1, tz=tz)
    assert "bogus" in {c.id for c in digest_content(engine, app.config, sub, shown, (),
                                                    shown.end).changes}

    outcome = reprocess(app, [], now=REPROCESSED)
    assert outcome.removed == ["bogus"] and outcome.added == [] and "retracted" in outcome.summary()
    with engine.connect() as conn:
        assert conn.execute(select(table.c.retracted_at).where(table.c.id == "bogus")).scalar_one() \
            == REPROCESSED
        assert conn.execute(text("SELECT count(*) FROM v_changes WHERE id = 'bogus'")).scalar() == 0
    assert "bogus" not in {c.id for c in select_changes(engine)}
    [then] = [c for c in select_changes(engine, as_known_at=REPROCESSED - timedelta(seconds=1))
              if c.id == "bogus"]
    assert then.after_text == "架空の規定" and [s.quote for s in then.sources] == ["架空"]
    assert "bogus" not in {c.id for c in select_changes(engine, as_known_at=REPROCESSED)}
    # The digest that listed it replays as it was; the week of the reprocess withdraws it.
    assert "bogus" in {c.id for c in digest_content(engine, app.config, sub, shown, (),
                                                    shown.end).changes}
    week = period_containing(REPROCESSED, tz=tz)
    content = digest_content(engine, app.config, sub, week, ())
    assert [c.id for c in content.retracted] == ["bogus"] and content.changes == ()
    message = compose_digest(content, Recipient(sub.email, "en", ""), sender="rw@example.com",
                             report_url="", tz=tz, sent_at=week.end)
    body = message.get_body(("plain",)).get_content()
    assert "1 retracted" in message["Subject"]
    assert "== Retracted: changes reported earlier that regwatch no longer finds ==" in body
    assert "架空の規定" in body and "found late" not in body
    assert digest_content(engine, app.config, sub, week, (), REPROCESSED - timedelta(seconds=1)
                          ).retracted == ()
    # Withdrawn once: later runs and reprocesses keep it as it is.
    again = reprocess(app, [], now=REPROCESSED + timedelta(days=1))
    assert (again.added, again.removed, again.modified) == ([], [], [])
    run(app, REPROCESSED + timedelta(days=2))
    with engine.connect() as conn:
        assert conn.execute(select(table.c.retracted_at).where(table.c.id == "bogus")).scalar_one() \
            == REPROCESSED


def test_a_retracted_change_found_again_is_news_again_and_replays_stay_exact(
        world, engine, monkeypatch) -> None:
    """A change withdrawn (a parser that lost it) and found again (the fix) must not come
    back silently with its old times: it is a new record, in the digest of the week it came
    back, and replays of the weeks between show it as withdrawn then."""
    import regwatch.normalise.law_diff as law_diff
    from regwatch.reprocess import reprocess

    server, app, _ = world
    run(app, T1)
    table = ControlChange.__table__
    with engine.connect() as conn:
        lost = conn.execute(select(table).where(table.c.change_type == "added")
                            .order_by(table.c.path)).mappings().first()
    diff = law_diff.diff_laws
    with monkeypatch.context() as buggy:
        buggy.setattr(law_diff, "diff_laws", lambda old, new: [
            ch for ch in diff(old, new) if ch.path != lost["path"]])
        assert reprocess(app, [], now=REPROCESSED).removed == [lost["id"]]
    back = REPROCESSED + timedelta(days=9)
    outcome = reprocess(app, [], now=back)
    [again] = outcome.added
    assert again != lost["id"] and outcome.removed == [] and "found late" in outcome.summary()
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(table).where(table.c.path == lost["path"]))}
    assert set(rows) == {lost["id"], again}
    assert (rows[lost["id"]].recorded_at, rows[lost["id"]].retracted_at) == (T1, REPROCESSED)
    assert (rows[again].observed_at, rows[again].recorded_at, rows[again].retracted_at) \
        == (T1, back, None)
    assert rows[again].after_text == lost["after_text"]

    def known(at: datetime | None) -> set[str]:
        return {c.id for c in select_changes(engine, as_known_at=at)} & set(rows)

    assert known(REPROCESSED - timedelta(seconds=1)) == {lost["id"]}
    assert known(back - timedelta(seconds=1)) == set()
    assert known(back) == known(None) == {again}
    tz = app.config.tz
    sub = SubscriberConfig(email="officer@example.com")
    week_back = digest_content(engine, app.config, sub, period_containing(back, tz=tz), ())
    assert [c.id for c in week_back.changes] == [again] and week_back.retracted == ()
    for lang, badge in (("en", "[found again: retracted on 2023-06-14]"),
                        ("ja", "[再検出（2023-06-14に取消し）]")):
        message = compose_digest(week_back, Recipient(sub.email, lang, ""), sender="rw@example.com",
                                 report_url="", tz=tz, sent_at=week_back.period.end)
        body = message.get_body(("plain",)).get_content()
        assert badge in body and "found late" not in body
        html = message.get_body(("html",)).get_content()
        assert badge.strip("[]") in html
    week_lost = digest_content(engine, app.config, sub, period_containing(REPROCESSED, tz=tz), ())
    assert [c.id for c in week_lost.retracted] == [lost["id"]]
    # Found again once: later rebuilds keep the new record and its times.
    later = reprocess(app, [], now=back + timedelta(days=1))
    assert (later.added, later.removed, later.modified) == ([], [], [])
    with engine.connect() as conn:
        assert {r.id: (r.recorded_at, r.retracted_at) for r in conn.execute(
            select(table).where(table.c.path == lost["path"]))} == {
            lost["id"]: (T1, REPROCESSED), again: (back, None)}


def test_a_parser_regression_withdraws_nothing(world, engine, monkeypatch) -> None:
    """A parser that can no longer read any version of a revision (a regression in an
    upgrade) leaves that revision's changes and record as they were: an error, not a
    retraction."""
    from regwatch.reprocess import reprocess

    server, app, _ = world
    run(app, T1)
    table = ControlChange.__table__
    with engine.connect() as conn:
        before = conn.execute(select(table).order_by(table.c.id)).all()
    unable_to_read(monkeypatch, REV_2023)
    outcome = reprocess(app, [], now=REPROCESSED)
    assert (outcome.added, outcome.removed, outcome.modified) == ([], [], [])
    assert any(REV_2023 in p for p in outcome.problems)
    with engine.connect() as conn:
        assert conn.execute(select(table).order_by(table.c.id)).all() == before
        assert set(conn.execute(select(LawRevision.law_revision_id)).scalars()) == {REV_2022, REV_2023}


def with_2026(server) -> None:
    """e-Gov lists a third revision (2026), one provision amended from the 2023 text."""
    future = record(REV_2026, "2026-04-01", "2026-01-15", "令和八年経済産業省令第一号",
                    status="UnEnforced", updated="2026-01-15T10:00:00+09:00")
    xml_2026 = (EGOV / f"{LAW}_20230723_after.xml").read_bytes().replace(
        "ペリクルであって".encode(), "ペリクル又はその部分品であって".encode())
    server.route(f"/api/2/law_revisions/{LAW}", listing(future, R2023, R2022))
    server.route(data_path(REV_2026), law_data(xml_2026, future))


def changes_of(engine, rev_id: str) -> list[tuple]:
    c = ControlChange
    with engine.connect() as conn:
        return conn.execute(select(c.id, c.path, c.change_type, c.before_text, c.after_text,
                                   c.effective_on, c.observed_at, c.recorded_at, c.retracted_at)
                            .join(LawRevision).where(LawRevision.law_revision_id == rev_id)
                            .order_by(c.id)).all()


def test_a_revision_after_an_unreadable_one_keeps_its_changes(world, engine, monkeypatch) -> None:
    """When a revision in the middle stops parsing (a parser regression), the next one must
    not be diffed from the one before: it would take on the middle one's changes too, under
    its own dates. Its changes stand as derived before, and the run says why."""
    from regwatch.reprocess import reprocess

    server, app, _ = world
    run(app, T1)
    with_2026(server)
    run(app, T2)
    table = ControlChange.__table__
    with engine.connect() as conn:
        before = conn.execute(select(table).order_by(table.c.id)).all()
    assert len(changes_of(engine, REV_2026)) == 1
    unable_to_read(monkeypatch, REV_2023)
    outcome = reprocess(app, [], now=REPROCESSED)
    assert (outcome.added, outcome.removed, outcome.modified) == ([], [], [])
    assert any(f"changes of {REV_2026} stand as derived before" in p for p in outcome.problems)
    with engine.connect() as conn:
        assert conn.execute(select(table).order_by(table.c.id)).all() == before


def test_a_corrected_revision_after_an_unreadable_one_shows_the_correction(
        world, engine, monkeypatch) -> None:
    """Its changes stand as derived before only while its text is the one they were derived
    from: a corrected copy of it is read again (from the last readable text, less what the
    unreadable one's kept changes say), so the correction is not missed."""
    server, app, _ = world
    run(app, T1)
    with_2026(server)
    run(app, T2)
    [pellicle] = changes_of(engine, REV_2026)
    unable_to_read(monkeypatch, REV_2023)
    corrected = record(REV_2026, "2026-04-01", "2026-01-15", "令和八年経済産業省令第一号",
                       status="UnEnforced", updated="2026-02-01T10:00:00+09:00")
    xml = (EGOV / f"{LAW}_20230723_after.xml").read_bytes().replace(
        "ペリクルであって".encode(), "ペリクル又はその部分品であって".encode()).replace(
        "カーボンハードマスクを".encode(), "カーボンハードマスク又はその部分品を".encode())
    assert xml.count("又はその部分品".encode()) == 2
    server.route(f"/api/2/law_revisions/{LAW}", listing(corrected, R2023, R2022))
    server.route(data_path(REV_2026), law_data(xml, corrected))
    result = run(app, T3)
    assert REV_2023 in result.error and f"changes of {REV_2026} stand" not in result.error
    got = {r[1]: r for r in changes_of(engine, REV_2026)}
    assert len(got) == 2 and got[pellicle[1]] == pellicle  # the same change: same ID and times
    [(cid, path, kind, old, new, effective, observed, recorded, _)] = [
        r for p, r in got.items() if p != pellicle[1]]
    assert kind == "amended" and old.replace("マスクを", "マスク又はその部分品を") == new
    assert (observed, recorded) == (T3, T3)


def test_a_new_revision_after_an_unreadable_one_has_only_its_own_changes(
        world, engine, monkeypatch) -> None:
    """A new revision arrives while the one before it does not parse: diffed from the last
    readable text, less what the unreadable one's kept changes already say, it has exactly
    the changes a diff from the unreadable one gives."""
    server, app, _ = world
    run(app, T1)
    kept_2023 = changes_of(engine, REV_2023)
    unable_to_read(monkeypatch, REV_2023)
    with_2026(server)
    result = run(app, T2)
    assert result.status == "partial" and REV_2023 in result.error
    assert changes_of(engine, REV_2023) == kept_2023
    [(_, path, kind, old, new, effective, *_)] = changes_of(engine, REV_2026)
    assert (kind, effective) == ("amended", date(2026, 4, 1))
    assert "ペリクルであって" in old and "ペリクル又はその部分品であって" in new
    assert old.replace("ペリクルであって", "ペリクル又はその部分品であって") == new


def test_changes_across_unreadable_revisions_start_from_the_text_they_left() -> None:
    from regwatch.derive.law_history import past_unread
    from regwatch.normalise.law_diff import ProvisionChange

    def ch(kind: str, path: str, before: str | None, after: str | None,
           moved_from: str | None = None) -> ProvisionChange:
        return ProvisionChange(change_type=kind, path=path, citation_ja="", citation_en="",
                               list_entry=None, before_text=before, after_text=after, spans=(),
                               renumbered_from={"path": moved_from} if moved_from else None)

    kept = [{"path": "a", "change_type": "amended", "after_text": "甲乙"},
            {"path": "b", "change_type": "amended", "after_text": "丙丁"},
            {"path": "c", "change_type": "removed", "after_text": None},
            {"path": "d", "change_type": "added", "after_text": "戊"},
            {"path": "f", "change_type": "amended", "after_text": "一"},  # two unreadable
            {"path": "f", "change_type": "amended", "after_text": "一二"},  # revisions: the later
            {"path": "g2", "change_type": "renumbered", "after_text": "乙",
             "renumbered_from": {"path": "g1"}},
            {"path": "h1", "change_type": "amended", "after_text": "丁二"}]
    got = past_unread([ch("amended", "a", "甲", "甲乙"),  # the unreadable one's own change
                       ch("amended", "b", "丙", "丙丁戊"),  # changed again after it
                       ch("amended", "c", "己", "己庚"),  # removed by it, back after it
                       ch("added", "e", None, "辛"),  # untouched by it
                       ch("amended", "f", "〇", "一二"),  # what the later one left
                       ch("renumbered", "g2", "甲", "乙丙", moved_from="g1"),  # moved by it
                       ch("renumbered", "h2", "丁", "丁二", moved_from="h1")], kept)  # amended by it
    # d: added by the unreadable revision and removed after it: not in a diff from before it
    assert [(c.change_type, c.path, c.before_text, c.after_text) for c in got] == [
        ("amended", "b", "丙丁", "丙丁戊"), ("added", "c", None, "己庚"), ("added", "e", None, "辛"),
        ("amended", "g2", "乙", "乙丙"), ("renumbered", "h2", "丁二", "丁二")]
    assert got[3].renumbered_from is None and got[4].renumbered_from == {"path": "h1"}
    assert "".join(s.after_text for s in got[0].spans if s.op != "equal") == "戊"


def test_a_revision_an_older_parser_could_not_read_yields_news_of_the_run_that_reads_it(
        world, engine, monkeypatch) -> None:
    """After an upgrade, a run that fetches nothing new still derives the revision the old
    parser failed on: its changes are recorded by that run, not at the old fetch."""
    server, app, _ = world
    with monkeypatch.context() as older_parser:
        unable_to_read(older_parser, REV_2023)
        assert run(app, T1).status == "partial"
        assert count(engine, ControlChange) == 0
    result = run(app, REPROCESSED)
    assert (result.status, result.documents_changed) == ("ok", 0)
    with engine.connect() as conn:
        times = set(conn.execute(select(ControlChange.observed_at, ControlChange.recorded_at)).all())
    assert times == {(T1, REPROCESSED)}
    week = select_changes(engine, learned_from=datetime(2023, 6, 12, tzinfo=UTC),
                          learned_to=datetime(2023, 6, 19, tzinfo=UTC))
    assert len(week) == count(engine, ControlChange) > 0


def test_a_corrected_record_with_the_same_text_is_stored_once_and_moves_the_dates(world, engine) -> None:
    """e-Gov postpones an enforcement date (正誤 of the record, `updated` moves) while the law
    text stays the same to the byte: the new date must replace the old one, the changes keep
    their first observation, and the revision is not fetched again on every run after."""
    server, app, _ = world
    run(app, T1)
    postponed = dict(R2023, amendment_enforcement_date="2023-08-01", updated="2023-06-01T10:00:00+09:00")
    server.route(f"/api/2/law_revisions/{LAW}", listing(postponed, R2022))
    server.route(data_path(REV_2023), law_data((EGOV / f"{LAW}_20230723_after.xml").read_bytes(), postponed))
    assert run(app, T2).documents_changed == 2  # the listing and the revision's record
    with engine.connect() as conn:
        rows = conn.execute(select(ControlChange.effective_on, ControlChange.observed_at).join(LawRevision)
                            .where(LawRevision.law_revision_id == REV_2023)).all()
        rev = conn.execute(select(LawRevision).where(LawRevision.law_revision_id == REV_2023)).one()
    assert {r.effective_on for r in rows} == {date(2023, 8, 1)} and rev.effective_on == date(2023, 8, 1)
    assert {r.observed_at for r in rows} == {T1}  # the provisions changed as first seen
    server.clear_log()
    assert run(app, T3).documents_changed == 0
    assert [r.path for r in server.requests() if "law_data" in r.path] == []


def test_a_record_that_changed_without_a_new_updated_stamp_is_refetched(world, engine) -> None:
    """The stamp is the API's signal, the record is the content: a status or date that
    moved under an unchanged `updated` is still taken in."""
    server, app, _ = world
    run(app, T1)
    enforced = dict(R2023, current_revision_status="CurrentEnforced")
    server.route(f"/api/2/law_revisions/{LAW}", listing(enforced, R2022))
    server.route(data_path(REV_2023), law_data((EGOV / f"{LAW}_20230723_after.xml").read_bytes(), enforced))
    server.clear_log()
    run(app, T2)
    assert [r.path for r in server.requests() if "law_data" in r.path] == [data_path(REV_2023)]
    with engine.connect() as conn:
        status = conn.execute(select(LawRevision.status).where(LawRevision.law_revision_id == REV_2023)).scalar()
    assert status == "in_force"


def egov_sources(engine, **kw) -> set[str]:
    """The titles of the e-Gov sources of every change in a report."""
    return {s.title for c in select_changes(engine, **kw) for s in c.sources if s.kind == "egov_law"}


def egov_quotes(engine, **kw) -> set[str]:
    """The enforcement part of the e-Gov quotes ("施行 2023-07-23") of every change."""
    return {s.quote.split("; ")[1].split(",")[0] for c in select_changes(engine, **kw)
            for s in c.sources if s.kind == "egov_law"}


def test_as_known_at_before_a_correction_shows_the_date_then_known(world, engine) -> None:
    """An audit replay of a report made between the first observation and the correction
    shows the enforcement date that report showed, and matches --by effective on it."""
    server, app, _ = world
    run(app, T1)
    postponed = dict(R2023, amendment_enforcement_date="2023-08-01", updated="2023-06-01T10:00:00+09:00")
    server.route(f"/api/2/law_revisions/{LAW}", listing(postponed, R2022))
    server.route(data_path(REV_2023), law_data((EGOV / f"{LAW}_20230723_after.xml").read_bytes(), postponed))
    run(app, T2)
    between = T1 + (T2 - T1) / 2

    def effective(**kw) -> set:
        return {c.effective_on for c in select_changes(engine, **kw)}

    assert effective(as_known_at=between) == {date(2023, 7, 23)}
    assert effective(as_known_at=T2) == effective() == {date(2023, 8, 1)}
    # ... and the e-Gov source that report quoted, not the corrected quote nor no source
    assert egov_quotes(engine, as_known_at=between) == {"施行 2023-07-23"}
    assert egov_quotes(engine, as_known_at=T2) == egov_quotes(engine) == {"施行 2023-08-01"}
    july23 = dict(since=date(2023, 7, 23), until=date(2023, 7, 23), by="effective")
    assert len(select_changes(engine, **july23, as_known_at=between)) == 78
    assert select_changes(engine, **july23, as_known_at=T2) == select_changes(engine, **july23) == []
    assert select_changes(engine, as_known_at=T1 - (T2 - T1)) == []


# e-Gov's revision IDs carry the enforcement date (<law>_<YYYYMMDD>_<amending law>): a stage
# whose enforcement is postponed can come back under a new ID, the old one gone from the list.
REV_2023_MOVED = f"{LAW}_20230801_505M60000400025"
MOVED = record(REV_2023_MOVED, "2023-08-01", "2023-05-23", "令和五年経済産業省令第二十五号",
               status="UnEnforced", updated="2023-06-01T10:00:00+09:00")


def change_rows(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {r.id: (r.effective_on, r.observed_at) for r in conn.execute(
            select(ControlChange.id, ControlChange.effective_on, ControlChange.observed_at))}


def test_a_revision_relisted_under_a_new_id_moves_its_changes_dates(world, engine) -> None:
    """The same changes, same IDs and first observation, with the new enforcement date: a
    date correction, not the old date kept (nor 78 new changes beside 78 stale ones)."""
    server, app, _ = world
    run(app, T1)
    before = change_rows(engine)
    server.route(f"/api/2/law_revisions/{LAW}", listing(MOVED, R2022))
    server.route(data_path(REV_2023_MOVED), law_data((EGOV / f"{LAW}_20230723_after.xml").read_bytes(), MOVED))
    result = run(app, T2)
    assert result.status == "ok"
    after = change_rows(engine)
    assert set(after) == set(before) and len(after) == 78
    assert {v for v in after.values()} == {(date(2023, 8, 1), T1)}
    with engine.connect() as conn:
        assert set(conn.scalars(select(LawRevision.law_revision_id))) == {REV_2022, REV_2023_MOVED}
        old_doc = conn.execute(select(DocumentRow.removed_at).where(DocumentRow.key == REV_2023)).scalar_one()
    assert old_doc == T2
    (correction,) = select_date_corrections(engine)
    assert (correction.field, correction.old_value, correction.new_value, correction.known_at) == (
        "effective_on", date(2023, 7, 23), date(2023, 8, 1), T2)
    assert len(correction.provisions) == 78
    between = T1 + (T2 - T1) / 2
    assert {c.effective_on for c in select_changes(engine, as_known_at=between)} == {date(2023, 7, 23)}
    assert egov_sources(engine, as_known_at=between) == {f"e-Gov revision {REV_2023}"}
    assert egov_sources(engine) == {f"e-Gov revision {REV_2023_MOVED}"}
    server.clear_log()
    assert run(app, T3).documents_changed == 0
    assert [r.path for r in server.requests() if "law_data" in r.path] == []
    # a later revision rebuilds the law: the moved changes keep their IDs and observation
    future = record(REV_2026, "2026-04-01", "2026-01-15", "令和八年経済産業省令第一号", status="UnEnforced")
    xml_2026 = (EGOV / f"{LAW}_20230723_after.xml").read_bytes().replace(
        "ペリクルであって".encode(), "ペリクル又はその部分品であって".encode())
    server.route(f"/api/2/law_revisions/{LAW}", listing(future, MOVED, R2022))
    server.route(data_path(REV_2026), law_data(xml_2026, future))
    run(app, T3 + (T3 - T2))
    later = change_rows(engine)
    assert {k: v for k, v in later.items() if k in before} == after and len(later) == 79


def test_the_old_revision_stays_when_its_successor_cannot_be_fetched(world, engine) -> None:
    server, app, _ = world
    run(app, T1)
    before = change_rows(engine)
    server.route(f"/api/2/law_revisions/{LAW}", listing(MOVED, R2022))
    server.route(data_path(REV_2023_MOVED), status=500, body=b"busy")
    assert run(app, T2).status == "partial"
    assert change_rows(engine) == before


def test_a_revision_no_longer_listed_is_a_warning_and_keeps_its_changes(world, engine) -> None:
    """An amendment withdrawn before taking effect, or a listing e-Gov got wrong, cannot be
    told apart from the list alone: nothing is dropped, and every run says so."""
    server, app, _ = world
    run(app, T1)
    before = change_rows(engine)
    server.route(f"/api/2/law_revisions/{LAW}", listing(R2022))
    result = run(app, T2)
    assert result.status == "ok" and change_rows(engine) == before
    with engine.connect() as conn:
        issues = conn.execute(select(SourceRun.issues).where(SourceRun.id == result.run_id)).scalar()
    (issue,) = issues
    assert issue["level"] == "warning" and REV_2023 in issue["message"]
    assert "no longer in e-Gov's revision list" in issue["message"]
    (health,) = source_health(engine)  # shown by `status` and in the digest's source problems
    assert any(REV_2023 in flag for flag in health.flags)


def test_unlisted_revisions_are_replaced_only_by_a_new_revision_of_the_same_amendment() -> None:
    from scrapers.egov_law import unlisted

    def rec(rev_id: str) -> dict:
        return {"law_revision_id": rev_id, "amendment_law_id": rev_id.rsplit("_", 1)[1]}

    stage1, stage2 = f"{LAW}_20250101_507M1", f"{LAW}_20250401_507M1"
    stage1_moved, other = f"{LAW}_20250201_507M1", f"{LAW}_20250101_507M2"
    stored = {r: {"revision": rec(r)} for r in (stage1, stage2, other)}
    # two stages of one amendment, both still listed: nothing is missing
    assert unlisted([rec(stage1), rec(stage2), rec(other)], stored, set()) == ({}, [])
    # stage 1 moved: replaced by the new ID; the other amendment's revision only reported
    listing = [rec(stage1_moved), rec(stage2)]
    assert unlisted(listing, stored, {stage1_moved, stage2}) == ({stage1: [stage1_moved]}, [other])
    # the new revision was not taken (its fetch failed): the old one stays, reported
    assert unlisted(listing, stored, {stage2}) == ({}, [stage1, other])
    # a stored revision listed again is never "new", even when taken
    assert unlisted([rec(stage2)], stored, {stage2}) == ({}, [stage1, other])
