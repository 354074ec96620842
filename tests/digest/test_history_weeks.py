"""Over a realistic two-year history: every change lands in exactly one weekly digest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from report import history as h  # the reports helper's shared history (tests/report)

from regwatch.config import SubscriberConfig
from regwatch.db.queries import select_changes
from regwatch.digest.command import digest_content, run_digest
from regwatch.digest.period import digest_period


def test_every_change_is_in_exactly_one_week(engine, make_app) -> None:
    h.build_history(engine)
    app = make_app([{"email": "all@example.com"}])
    sub = app.config.subscribers[0]
    all_ids = sorted(c.id for c in select_changes(engine))
    seen: list[str] = []
    week = digest_period(date(2023, 1, 2), tz=app.config.tz)
    while week.start.date() < date(2025, 1, 6):
        seen += [c.id for c in digest_content(engine, app.config, sub, week, ()).changes]
        week = digest_period(week.end.date() + timedelta(days=1), tz=app.config.tz)
    assert sorted(seen) == all_ids and len(all_ids) == 10


def test_weeks_of_the_2024_story(engine, make_app, tmp_path) -> None:
    import email
    import email.policy

    h.build_history(engine)
    app = make_app([{"email": "all@example.com"},
                    {"email": "quantum@example.com", "language": "ja",
                     "categories": ["quantum-computer"]},
                    {"email": "fx@example.com", "instruments": [h.FX_ORDER]}],
                   digest={"empty_week": "skip"})
    now = datetime(2025, 1, 1, tzinfo=UTC)

    def week(day: date) -> dict[str, email.message.EmailMessage]:
        out = tmp_path / day.isoformat()
        outcome = run_digest(app, week_of=day, dry_run_dir=out, now=now)
        return {r.email: email.message_from_bytes(
                    p.read_bytes(), policy=email.policy.default)
                for r, p in zip([r for r in outcome.results if r.status == "written"],
                                outcome.written, strict=True)}

    # The e-Gov revision observed 2024-08-10 09:00 JST: five changes, none yet in force.
    # The history's four sources have no runs recorded: "never run" is a source problem.
    aug = week(date(2024, 8, 10))
    assert aug["all@example.com"]["Subject"] == ("regwatch: 5 control-list changes, "
                                                 "5 not yet in force, 4 source problems"
                                                 " — week of 2024-08-05")
    assert aug["quantum@example.com"]["Subject"] == (
        "regwatch: 規制リストの変更 2件（うち未施行 2件）、情報源の異常 4件 — 2024-08-05 の週")
    assert "egov-law: never run" in aug["all@example.com"].get_body(("plain",)).get_content()
    assert set(aug) == {"all@example.com", "quantum@example.com", "fx@example.com"}
    # The Foreign Exchange Order change observed 2024-11-21 01:00 JST (20 Nov in UTC).
    nov = week(date(2024, 11, 18))
    assert set(nov) == {"all@example.com", "quantum@example.com", "fx@example.com"}
    body = nov["fx@example.com"].get_body(("plain",)).get_content()
    assert "Appended Table, row 8" in body and "Effective: 2025-01-01" in body
    # The notice of 2024-08-20 gave the Order's row 8, reported the week before without an
    # effective date, its date: a date correction for the subscribers it concerns.
    learnt = week(date(2024, 8, 20))
    assert learnt["all@example.com"]["Subject"].startswith(
        "regwatch: no control-list changes, 1 date correction")
    text = learnt["all@example.com"].get_body(("plain",)).get_content()
    assert "- Effective: not known → 2024-09-08 — 輸出貿易管理令 [324CO0000000378], 1 provision(s)" in text
    assert "date correction" not in learnt["fx@example.com"]["Subject"]  # another instrument
    # The press-only HBM report: an announcement without a list change, marked unofficial.
    oct_ = week(date(2024, 10, 14))
    text = oct_["all@example.com"].get_body(("plain",)).get_content()
    assert "high-bandwidth memory" in text and "unofficial (press report)" in text
    assert oct_["all@example.com"]["Subject"].startswith(
        "regwatch: no control-list changes, 1 announcement, 4 source problems")


def test_subscriber_filters_are_those_of_the_config(engine, make_app) -> None:
    h.build_history(engine)
    app = make_app([{"email": "x@example.com", "jurisdictions": ["US"]}])
    sub: SubscriberConfig = app.config.subscribers[0]
    content = digest_content(engine, app.config, sub,
                             digest_period(date(2024, 8, 10), tz=app.config.tz), ())
    assert content.changes == () and content.is_empty
