"""Source health: computed from the run history by the rules of `v_source_health`, and as
it stood at a past moment (for replaying a past digest)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text

from regwatch.db.tables import SourceRow, SourceRun
from regwatch.health import source_health

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STATUSES = ("ok", "ok", "partial", "failed", "failed", "abandoned", "running")


def _add_runs(engine, runs: dict[str, list[dict]]) -> None:
    with engine.begin() as conn:
        for n, (name, rows) in enumerate(runs.items(), start=1):
            conn.execute(insert(SourceRow), {"id": n, "name": name, "scraper": "page",
                                             "created_at": T0})
            if rows:
                conn.execute(insert(SourceRun), [{"source_id": n, **r} for r in rows])


def _run(hours: float, status: str, seen: int = 3, **kw) -> dict:
    started = T0 + timedelta(hours=hours)
    return {"started_at": started, "status": status, "documents_seen": seen,
            "finished_at": None if status == "running" else started + timedelta(minutes=5),
            "error": f"error at {hours}" if status in ("failed", "abandoned") else None,
            "issues": None, **kw}


def test_health_follows_the_rules_of_v_source_health(engine) -> None:
    rng = random.Random(11)
    runs = {f"s{n}": [_run(h + rng.random() / 2, rng.choice(STATUSES), rng.randrange(0, 6))
                      for h in range(rng.randrange(0, 40))] for n in range(12)}
    runs["all-failed"] = [_run(h, "failed") for h in range(5)]
    runs["recovered"] = [_run(0, "failed"), _run(1, "ok", 4), _run(2, "failed"), _run(3, "running")]
    _add_runs(engine, runs)
    mine = {h.source: h for h in source_health(engine)}
    with engine.connect() as conn:
        view = {r["source"]: r for r in conn.execute(text("SELECT * FROM v_source_health")).mappings()}
    assert set(mine) == set(view) == set(runs)
    for name, row in view.items():
        h = mine[name]
        got = (h.last_attempt_at, h.last_success_at, h.consecutive_failures, h.last_error,
               h.last_status, h.last_documents_seen, h.usual_documents_seen)
        expected = tuple(row[k] for k in ("last_attempt_at", "last_success_at", "consecutive_failures",
                                          "last_error", "last_status", "last_documents_seen",
                                          "usual_documents_seen"))
        as_dt = [datetime.fromisoformat(v).replace(tzinfo=UTC) if isinstance(v, str) else v
                 for v in expected[:2]]
        usual = None if expected[6] is None else float(expected[6])
        assert got == (*as_dt, *expected[2:6], usual), name
    assert mine["all-failed"].consecutive_failures == 5 and mine["all-failed"].last_success_at is None
    assert mine["recovered"].consecutive_failures == 1 and mine["recovered"].last_status == "failed"


def test_health_as_known_at_a_past_moment(engine) -> None:
    warning = [{"level": "warning", "url": "https://x.example/feed", "message": "feed has no entries"}]
    _add_runs(engine, {"feed": [_run(0, "ok", 3), _run(1, "ok", 3, issues=warning),
                                _run(2, "failed"), _run(3, "failed"), _run(4, "ok", 3)]})
    now = source_health(engine)[0]
    assert now.flags == [] and now.last_success_at == T0 + timedelta(hours=4)
    # At 03:02 the second failure had started but not finished: one failure in a row.
    then = source_health(engine, as_known_at=T0 + timedelta(hours=3, minutes=2))[0]
    assert then.consecutive_failures == 1 and then.last_status == "failed"
    assert then.last_attempt_at == T0 + timedelta(hours=3) and then.last_error == "error at 2"
    assert then.flags == ["failing (1 in a row)"]
    # At 01:30 the last run had warned.
    then = source_health(engine, as_known_at=T0 + timedelta(hours=1, minutes=30))[0]
    assert then.flags == ["warning: https://x.example/feed: feed has no entries"]
    # Before the source was first run it was not in the database: only configured, never run.
    assert source_health(engine, as_known_at=T0 - timedelta(hours=1)) == []
