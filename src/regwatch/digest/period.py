"""Digest periods: configured weeks as half-open intervals of aware datetimes.

A period is [start, end): a change observed exactly at `end` belongs to the next digest,
so consecutive periods tile time and nothing falls between two digests. Both ends are
local wall-clock times in the configured zone (e.g. Monday 09:00 Asia/Tokyo); across a
daylight-saving switch a week is then 167 or 169 hours long, never shifted by an hour.
Pure: the clock comes in as `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from regwatch.errors import ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Period:
    """One digest week; `start` and `end` are aware datetimes in the configured zone."""

    start: datetime
    end: datetime

    @property
    def label(self) -> date:
        """The local date the week starts on: 'week of 2024-09-02'."""
        return self.start.date()

    # Compared in UTC: Python compares and subtracts datetimes that share a tzinfo by
    # wall clock, which is wrong across a DST switch.
    def contains(self, moment: datetime) -> bool:
        return _u(self.start) <= _u(moment) < _u(self.end)

    def has_ended(self, now: datetime) -> bool:
        return _u(now) >= _u(self.end)

    @property
    def duration(self) -> timedelta:
        return _u(self.end) - _u(self.start)


def _u(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def parse_start_day(value: str) -> int:
    try:
        return WEEKDAYS.index(value.strip().lower())
    except ValueError:
        raise ConfigError(f"unknown weekday {value!r}; expected one of {', '.join(WEEKDAYS)}",
                          key="digest.week_start_day") from None


def parse_start_time(value: str | time) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"not a time of day (HH:MM): {value!r}",
                          key="digest.week_start_time") from None


def _local(day: date, at: time, tz: tzinfo) -> datetime:
    """Wall-clock `day at` in `tz`; a time skipped by a DST switch moves forward past the gap."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz)
    # A non-existent local time does not survive the UTC round trip unchanged:
    # normalising yields the instant just after the gap.
    return aware.astimezone(UTC).astimezone(tz)


def _week_starting(day: date, tz: tzinfo, at: time) -> Period:
    return Period(_local(day, at, tz), _local(day + timedelta(days=7), at, tz))


def digest_period(week_of: date | None, *, tz: tzinfo, start_day: str | int = "monday",
                  start_time: str | time = "09:00", now: datetime | None = None) -> Period:
    """The digest week for `week_of`, or the last completed week when `week_of` is None.

    With a date: the week whose start day is `week_of` or the nearest start day before it
    (any day Monday..Sunday of a Monday-based week names that week).
    Without: the most recent week that has ended by `now` — the digest that is due.
    """
    wd = start_day if isinstance(start_day, int) else parse_start_day(start_day)
    at = parse_start_time(start_time)
    if week_of is not None:
        return _week_starting(week_of - timedelta(days=(week_of.weekday() - wd) % 7), tz, at)
    if now is None or now.tzinfo is None:
        raise ValueError("digest_period needs an aware `now` when no week is given")
    return _week_starting(_start_day_of(now, tz, wd, at) - timedelta(days=7), tz, at)


def period_containing(moment: datetime, *, tz: tzinfo, start_day: str | int = "monday",
                      start_time: str | time = "09:00") -> Period:
    """The week that contains the instant `moment` (aware)."""
    wd = start_day if isinstance(start_day, int) else parse_start_day(start_day)
    at = parse_start_time(start_time)
    return _week_starting(_start_day_of(moment, tz, wd, at), tz, at)


def _start_day_of(moment: datetime, tz: tzinfo, wd: int, at: time) -> date:
    local = moment.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - wd) % 7)
    if _u(_local(day, at, tz)) > _u(moment):
        day -= timedelta(days=7)
    return day
