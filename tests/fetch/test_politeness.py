"""Politeness against a real server: robots.txt, per-host spacing and limits, the global limit."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fetch.server import Reply
from regwatch.errors import FetchError


class InFlight:
    """A route that answers slowly and remembers the most requests it served at once."""

    def __init__(self, delay: float):
        self.delay = delay
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, req) -> Reply:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
        return Reply(body=b"ok")


def test_robots_disallow_is_recorded_and_nothing_fetched(server, make_fetcher, engine):
    server.route("/robots.txt", body="User-agent: *\nDisallow: /private\n")
    server.route("/private/a", body="secret")
    server.route("/public", body="fine")
    f = make_fetcher(engine)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/private/a"))
    assert err.value.reason == "disallowed by robots.txt"
    assert f.fetch(server.url("/public")).content == b"fine"
    assert server.requests("/private/a") == [] and len(server.requests("/robots.txt")) == 1


def test_robots_agent_specific_rules(server, make_fetcher):
    server.route("/robots.txt", body="User-agent: regwatch-test\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    server.route("/a", body="x")
    with pytest.raises(FetchError, match="robots"):
        make_fetcher().fetch(server.url("/a"))
    assert make_fetcher(user_agent="otherbot/1.0").fetch(server.url("/a")).content == b"x"


@pytest.mark.parametrize("reply", [Reply(status=404), Reply(status=500), Reply(reset=True)])
def test_missing_or_failing_robots_allows(server, make_fetcher, reply):
    server.route("/robots.txt", reply)
    server.route("/a", body="x")
    assert make_fetcher(retries=0).fetch(server.url("/a")).content == b"x"


def test_robots_can_be_switched_off(server, make_fetcher):
    server.route("/robots.txt", body="User-agent: *\nDisallow: /\n")
    server.route("/a", body="x")
    assert make_fetcher(respect_robots=False).fetch(server.url("/a")).content == b"x"
    assert server.requests("/robots.txt") == []


def test_min_interval_spaces_requests_to_one_host(server, make_fetcher):
    for i in range(5):
        server.route(f"/p{i}", body="x")
    f = make_fetcher(min_interval_s=0.15, per_host_connections=4, respect_robots=False)
    with ThreadPoolExecutor(5) as pool:
        list(pool.map(f.fetch, [server.url(f"/p{i}") for i in range(5)]))
    starts = sorted(r.at for r in server.requests())
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) == 4 and min(gaps) >= 0.12 and starts[-1] - starts[0] >= 0.57, gaps


def test_crawl_delay_from_robots(server, make_fetcher):
    server.route("/robots.txt", body="User-agent: *\nCrawl-delay: 1\n")
    server.route("/a", body="x")
    server.route("/b", body="x")
    f = make_fetcher()
    f.fetch(server.url("/a"))
    f.fetch(server.url("/b"))
    a, b = server.requests("/a")[0].at, server.requests("/b")[0].at
    assert b - a >= 0.95  # whole seconds: urllib.robotparser reads integers


def test_per_host_connection_limit(server, make_fetcher):
    route = InFlight(0.2)
    for i in range(6):
        server.route(f"/s{i}", route)
    f = make_fetcher(per_host_connections=2, max_connections=8, respect_robots=False)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(f.fetch, [server.url(f"/s{i}") for i in range(6)]))
    assert route.peak == 2


def test_global_connection_limit_across_hosts(server, make_fetcher):
    route = InFlight(0.2)
    for i in range(8):
        server.route(f"/g{i}", route)
    # 127.0.0.1 and localhost are two hosts for the per-host gate, one server here.
    urls = [server.url(f"/g{i}").replace("127.0.0.1", "localhost" if i % 2 else "127.0.0.1")
            for i in range(8)]
    f = make_fetcher(per_host_connections=4, max_connections=3, respect_robots=False)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(f.fetch, urls))
    assert route.peak == 3


def test_global_limit_holds_across_client_shards(server, make_fetcher):
    # 20 connections are served by three httpx clients (at most 8 each); the limit is still 20.
    route = InFlight(0.3)
    for i in range(40):
        server.route(f"/h{i}", route)
    f = make_fetcher(per_host_connections=40, max_connections=20, respect_robots=False)
    with ThreadPoolExecutor(40) as pool:
        list(pool.map(f.fetch, [server.url(f"/h{i}") for i in range(40)]))
    # (the test server's accept backlog may keep the peak a little under the limit)
    assert 8 < route.peak <= 20
    assert len({r.client for r in server.requests()}) <= 20


def test_a_cookie_is_sent_back_whichever_client_shard_sends(server, make_fetcher):
    server.route("/login", body="ok", headers={"Set-Cookie": "session=abc; Path=/"})
    for i in range(24):
        server.route(f"/c{i}", Reply(body="x", delay=0.05))
    f = make_fetcher(per_host_connections=24, max_connections=24, respect_robots=False)
    f.fetch(server.url("/login"))
    with ThreadPoolExecutor(24) as pool:  # all three shards are busy at once
        list(pool.map(f.fetch, [server.url(f"/c{i}") for i in range(24)]))
    cookies = [server.requests(f"/c{i}")[0].headers.get("cookie") for i in range(24)]
    assert cookies == ["session=abc"] * 24
    assert len({r.client for r in server.requests()}) > 8  # more than one shard was used
