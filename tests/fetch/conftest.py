"""Fixtures of the fetch-layer tests: a local server, a snapshot store, fetchers on the test DB."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetch.server import LocalServer
from regwatch.config import FetchConfig
from regwatch.fetch.http import Fetcher
from regwatch.fetch.snapshots import SnapshotStore

# Fast and strict for tests: no politeness waits unless a test asks, short timeouts.
TEST_FETCH = FetchConfig(user_agent="regwatch-test/1.0 (+tests)", min_interval_s=0.0,
                         timeout_s=2.0, connect_timeout_s=1.0, retries=2, backoff_s=0.01,
                         max_retry_after_s=30.0, max_connections=8, per_host_connections=4)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "snapshots")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_fetcher(request, store, sleeps):
    """make_fetcher(engine=None, **FetchConfig overrides) → Fetcher, closed after the test
    and before the engine fixture drops its database (a node finalizer added late runs first)."""

    def make(engine=None, **overrides) -> Fetcher:
        f = Fetcher(dataclasses.replace(TEST_FETCH, **overrides), engine, store,
                    sleep=sleeps.append, rand=lambda: 0.5)
        request.node.addfinalizer(f.close)
        return f

    return make
