"""Digest weeks: configured start, half-open, contiguous, DST-safe."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwatch.digest.period import digest_period, period_containing
from regwatch.errors import ConfigError

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


@pytest.mark.parametrize("day", range(2, 9))
def test_any_day_of_the_week_names_the_monday_0900_week(day: int) -> None:
    p = digest_period(date(2024, 9, day), tz=TOKYO)
    assert p.start == jst(2024, 9, 2, 9, 0)
    assert p.end == jst(2024, 9, 9, 9, 0)
    assert p.label == date(2024, 9, 2)


def test_default_is_the_last_completed_week() -> None:
    just_after = jst(2024, 9, 9, 9, 5)
    assert digest_period(None, tz=TOKYO, now=just_after).start == jst(2024, 9, 2, 9, 0)
    # At 08:59 on Monday the week of 2 September is still running: the due one is older.
    just_before = jst(2024, 9, 9, 8, 59)
    assert digest_period(None, tz=TOKYO, now=just_before).start == jst(2024, 8, 26, 9, 0)


def test_the_end_instant_belongs_to_the_next_week() -> None:
    p = digest_period(date(2024, 9, 2), tz=TOKYO)
    assert p.contains(p.start) and not p.contains(p.end)
    assert period_containing(p.end, tz=TOKYO).start == p.end


def test_configured_start_day_and_time() -> None:
    p = digest_period(date(2024, 9, 4), tz=TOKYO, start_day="sunday", start_time="18:30")
    assert p.start == jst(2024, 9, 1, 18, 30) and p.end == jst(2024, 9, 8, 18, 30)
    with pytest.raises(ConfigError):
        digest_period(date(2024, 9, 4), tz=TOKYO, start_day="funday")
    with pytest.raises(ConfigError):
        digest_period(date(2024, 9, 4), tz=TOKYO, start_time="nine")


def test_dst_weeks_keep_wall_clock_boundaries() -> None:
    # New York springs forward on Sunday 10 March 2024 and falls back on 3 November 2024.
    spring = digest_period(date(2024, 3, 6), tz=NEW_YORK)
    assert spring.duration == timedelta(hours=167)
    assert spring.end.astimezone(NEW_YORK).hour == 9
    autumn = digest_period(date(2024, 10, 30), tz=NEW_YORK)
    assert autumn.duration == timedelta(hours=169)


def test_a_start_time_inside_the_dst_gap_moves_past_it() -> None:
    p = digest_period(date(2024, 3, 10), tz=NEW_YORK, start_day="sunday", start_time="02:30")
    assert p.start.astimezone(NEW_YORK).hour == 3  # 02:30 did not exist that night
    nxt = period_containing(p.end, tz=NEW_YORK, start_day="sunday", start_time="02:30")
    assert nxt.start == p.end


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                    timezones=st.just(UTC)),
       st.sampled_from([TOKYO, NEW_YORK, ZoneInfo("Europe/London"), ZoneInfo("Australia/Lord_Howe")]),
       st.sampled_from(["monday", "sunday", "friday"]),
       st.sampled_from(["00:00", "02:30", "09:00", "23:59"]))
def test_weeks_tile_time_without_gaps(moment, tz, day, at) -> None:
    moment = moment.astimezone(tz)  # a local moment: comparisons must still be by instant
    p = period_containing(moment, tz=tz, start_day=day, start_time=at)
    assert p.contains(moment)
    after = period_containing(p.end, tz=tz, start_day=day, start_time=at)
    assert after.start == p.end
    before = period_containing(p.start.astimezone(UTC) - timedelta(microseconds=1), tz=tz, start_day=day,
                               start_time=at)
    assert before.end == p.start
    assert timedelta(hours=166) <= p.duration <= timedelta(hours=170)
    # The due digest is always a finished week that ends at or before now.
    due = digest_period(None, tz=tz, start_day=day, start_time=at, now=moment)
    assert due.end == p.start and due.has_ended(moment)
