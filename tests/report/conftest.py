"""Fixtures for report tests: the fixture history (and a hostile variant) on each backend."""

from __future__ import annotations

from datetime import UTC, date

import pytest

from regwatch.report.base import ReportData
from regwatch.report.command import collect

from .history import add_hostile, at, build_history

GENERATED = at("2024-08-15T00:00")


@pytest.fixture
def hist_engine(engine):
    build_history(engine)
    return engine


@pytest.fixture
def hostile_engine(hist_engine):
    add_hostile(hist_engine)
    return hist_engine


def report_data(engine, *, since=date(2023, 1, 1), until=date(2024, 12, 31), by=None,
                as_known_at=None, categories=(), instruments=(), tz=UTC,
                generated_at=GENERATED) -> ReportData:
    return collect(engine, since=since, until=until, by=by, as_known_at=as_known_at,
                   categories=list(categories), instruments=list(instruments), tz=tz,
                   generated_at=generated_at)
