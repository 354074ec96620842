"""Benchmark: "what changed since X" over a large history, and rendering a big HTML report.

    .venv/bin/python bench/report_bench.py [--changes 1000000] [--render 10000]
                                           [--db PATH | --url DATABASE_URL]

Builds (or reuses, if it already holds --changes rows) a history of control changes spread
over ten years, each with a category and an evidence row, inserted in order of observation
as regwatch records them, then prints:
  * the latency of `select_changes(since=X)` for a one-day and a one-week window, by each
    date and by any (target < 50 ms on SQLite with the indexes): median and fastest of
    --repeat runs, with the SQL-only time and the query plan's index use;
  * the time to render a 10,000-change HTML report (target < 3 s);
  * peak RSS after each phase.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

from regwatch.db.queries import select_changes
from regwatch.db.session import make_engine, upgrade
from regwatch.db.tables import ChangeCategory, ControlChange, Event, Evidence
from regwatch.report.base import ReportData, Window
from regwatch.report.html import HtmlReporter

LAWS = ("403M50000400049", "324CO0000000378", "355CO0000000260", "324AC0000000228")
CATEGORIES = ("semiconductor-equipment", "sem-ic-imaging", "gaa-transistor", "cryo-cmos",
              "quantum-computer", "hbm", "additive-manufacturing", "cryptography")
START = date(2015, 1, 1)
DAYS = 3650
BASE_TEXT = "半導体製造装置であって、次のいずれかに該当するもの（第{n}号に掲げるものを除く。）"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def populate(engine, n: int, batch: int = 20_000) -> None:
    rng = random.Random(7)
    events = max(1, n // 1000)
    with engine.begin() as conn:
        conn.execute(insert(Event), [
            {"id": i + 1, "key": f"bench-event-{i}", "title": f"Bench event {i}",
             "jurisdiction": "JP", "status": "official", "regime": "unilateral",
             "first_observed_at": datetime(2015, 1, 1, tzinfo=UTC), "parser_version": "bench"}
            for i in range(events)])
    # regwatch records a change when it observes it, so the table's rows (and their
    # categories and evidence) lie in order of observation: the bench inserts them so too.
    moments = sorted(rng.randrange(DAYS * 86400) for _ in range(n))  # seconds from START
    done = 0
    t0 = time.perf_counter()
    while done < n:
        changes, cats, evidence = [], [], []
        for i in range(done, min(n, done + batch)):
            observed_at = datetime.combine(START, datetime.min.time(), UTC) + timedelta(
                seconds=moments[i])
            observed = observed_at.date()
            announced = observed - timedelta(days=rng.randrange(0, 60))
            effective = observed + timedelta(days=rng.randrange(0, 120))
            cid = f"bench-{i:08d}"
            k = rng.randrange(1000)
            changes.append({
                "id": cid, "event_id": i // 1000 + 1 if i // 1000 < events else events,
                "jurisdiction": "JP", "law_id": LAWS[i % len(LAWS)],
                "instrument_title": "輸出貿易管理令別表第一及び外国為替令別表の規定に基づき貨物又は技術を定める省令",
                "path": f"Article_{k % 20 + 1}/Item_{k}", "citation_ja": f"第{k % 20 + 1}条第{k}号",
                "citation_en": f"Article {k % 20 + 1}, item {k}", "list_entry": "Appended Table 1, row 7",
                "change_type": ("added", "amended", "removed", "renumbered")[k % 4],
                "regime": "unilateral", "outside_wassenaar": True, "announced_on": announced,
                "promulgated_on": announced, "effective_on": effective,
                "observed_at": observed_at,
                "before_text": BASE_TEXT.format(n=k), "after_text": BASE_TEXT.format(n=k + 1)
                + "又は試験装置", "status": "official", "parser_version": "bench"})
            cats.append({"change_id": cid, "category": CATEGORIES[k % len(CATEGORIES)]})
            evidence.append({"change_id": cid, "url": f"https://www.meti.go.jp/press/{k}.html",
                             "kind": "meti_press", "title": "METI", "quote": "施行する。",
                             "field": "effective_on"})
        with engine.begin() as conn:
            conn.execute(insert(ControlChange), changes)
            conn.execute(insert(ChangeCategory), cats)
            conn.execute(insert(Evidence), evidence)
        done += len(changes)
        rate = done / (time.perf_counter() - t0)
        print(f"\r  inserted {done:,}/{n:,} ({rate:,.0f}/s)", end="", file=sys.stderr)
    print(file=sys.stderr)
    with engine.begin() as conn:  # planner statistics, on either backend
        conn.execute(text("ANALYZE"))


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Median and fastest of `repeat` calls, in ms, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        result = None  # the previous result is freed outside the timed call
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--render", type=int, default=10_000)
    ap.add_argument("--db", type=Path, help="SQLite file to build or reuse")
    ap.add_argument("--url", help="database URL instead of --db (e.g. PostgreSQL)")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)

    url = args.url or f"sqlite:///{args.db or Path(tempfile.mkdtemp()) / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(ControlChange)).scalar_one()
    if have != args.changes:
        if have:
            sys.exit(f"{url} holds {have:,} changes, not {args.changes:,}: use a fresh --db")
        t0 = time.perf_counter()
        populate(engine, args.changes)
        print(f"built history of {args.changes:,} changes in {time.perf_counter() - t0:.1f} s")
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    print(f"peak RSS after build: {peak_rss_mb():.0f} MB")

    until = START + timedelta(days=DAYS - 1)  # the last day observed
    # The cost is the index search plus ~17 µs per returned record on SQLite (two thirds of
    # it SQLite reading the change, category and evidence rows, the rest building records);
    # a day and a week of a history this dense (~270 changes observed per day) show both.
    for days in (1, 7):
        since = until - timedelta(days=days - 1)
        for by in ("observed", "announced", "effective", None):
            ms, fastest, rows = timed(lambda by=by, since=since: select_changes(
                engine, since=since, until=until, by=by), args.repeat)
            verdict = "OK" if ms < 50 else "over target"
            each = f"{ms * 1000 / len(rows):4.0f} µs a change" if rows else ""
            print(f'"since {since}" by {by or "any":9}: {len(rows):5,} changes, median '
                  f"{ms:7.1f} ms, fastest {fastest:6.1f} ms, {each} (target < 50 ms: {verdict})")
    if engine.dialect.name == "sqlite":
        c = ControlChange.__table__
        stmt = select(c.c.id).where(c.c.observed_at >= datetime.combine(since, datetime.min.time(), UTC))
        with engine.connect() as conn:
            sql_ms, _, _ = timed(lambda: conn.execute(stmt).all(), args.repeat)
            plan = conn.execute(text("EXPLAIN QUERY PLAN " + str(stmt.compile(
                compile_kwargs={"literal_binds": True})))).all()
        print(f"  SQL only (ids by observed_at): median {sql_ms:.1f} ms; plan: "
              + "; ".join(str(r[-1]) for r in plan))
    print(f"peak RSS after queries: {peak_rss_mb():.0f} MB")

    wide_since = until - timedelta(days=max(7, args.render * DAYS // max(args.changes, 1) + 30))
    changes = select_changes(engine, since=wide_since, until=until, by="observed")[:args.render]
    data = ReportData(window=Window(wide_since, until, "observed"),
                      generated_at=datetime.now(UTC), changes=tuple(changes))
    t0 = time.perf_counter()
    html = HtmlReporter().render(data)
    secs = time.perf_counter() - t0
    verdict = "OK" if secs < 3 else "over target"
    print(f"HTML report of {len(changes):,} changes: {secs:.2f} s, {len(html) / 1e6:.1f} MB "
          f"(target < 3 s: {verdict})")
    print(f"peak RSS after render: {peak_rss_mb():.0f} MB")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
