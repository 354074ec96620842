"""The polite client against a real server on 127.0.0.1: statuses, retries, bounds, redirects."""

from __future__ import annotations

import gzip
import time
import zlib
from email.utils import formatdate

import pytest
from sqlalchemy import select

from fetch.server import Reply
from regwatch.db.session import transaction
from regwatch.db.tables import FetchLog
from regwatch.errors import FetchError
from regwatch.fetch.context import save_validators
from regwatch.fetch.http import Validators, _retry_after, mirrored
from regwatch.fetch.snapshots import sha256_hex

HTML = "text/html; charset=utf-8"


def log_rows(fetcher, engine):
    fetcher.flush()
    with engine.connect() as conn:
        return conn.execute(select(FetchLog).order_by(FetchLog.id)).mappings().all()


def page_rows(fetcher, engine):
    return [r for r in log_rows(fetcher, engine) if not r["url"].endswith("/robots.txt")]


# ---------------------------------------------------------------- success, conditional, log


def test_200_stores_snapshot_and_logs_one_row(server, make_fetcher, store, engine):
    server.route("/a", body="<p>héllo</p>", headers={"Content-Type": HTML})
    f = make_fetcher(engine)
    res = f.fetch(server.url("/a"))
    assert res.status == 200 and res.content == "<p>héllo</p>".encode()
    assert res.text == "<p>héllo</p>" and res.encoding == "utf-8 (header)"
    assert store.get(res.sha256) == res.content
    assert not res.unchanged and not res.not_modified
    (row,) = page_rows(f, engine)
    assert row["url"] == server.url("/a") and row["status"] == 200 and row["attempts"] == 1
    assert row["bytes"] == len(res.content) and row["content_sha256"] == res.sha256
    assert row["error"] is None and row["elapsed_ms"] >= 0 and row["encoding"] == "utf-8 (header)"
    assert server.requests("/a")[0].headers["user-agent"] == "regwatch-test/1.0 (+tests)"


def test_304_with_stored_validators_is_unchanged(server, make_fetcher, engine):
    server.route("/a", body="v1", etag='"e1"', headers={"Content-Type": "text/plain"})
    f = make_fetcher(engine)
    first = f.fetch(server.url("/a"))
    assert first.etag == '"e1"'
    with transaction(engine) as s:
        save_validators(s, server.url("/a"), first.etag, first.last_modified, first.sha256,
                        __import__("datetime").datetime.now(__import__("datetime").UTC))
    second = f.fetch(server.url("/a"))
    assert second.not_modified and second.unchanged and second.status == 304
    assert second.content is None and second.snapshot is None and second.etag == '"e1"'
    assert server.requests("/a")[1].headers["if-none-match"] == '"e1"'
    rows = page_rows(f, engine)
    assert [r["status"] for r in rows] == [200, 304] and rows[1]["bytes"] == 0



def test_304_and_redirects_keep_the_connection(server, make_fetcher):
    # A 304 (or a redirect) left unread makes httpcore close the connection: a re-check of
    # thousands of pages would then open a TCP (and TLS) connection per page.
    server.route("/a", body="v1", etag='"e1"')
    server.route("/old", status=301, body="moved there", headers={"Location": "/a"})
    f = make_fetcher(respect_robots=False, max_connections=1)
    for _ in range(3):
        assert f.fetch(server.url("/a"), validators=Validators(etag='"e1"')).status == 304
    assert f.fetch(server.url("/old"), validators=Validators(etag='"e1"')).not_modified
    assert f.fetch(server.url("/a"), conditional=False).status == 200
    assert len({r.client for r in server.requests()}) == 1

def test_last_modified_sent_back(server, make_fetcher):
    lm = formatdate(0, usegmt=True)
    server.route("/a", body="x", last_modified=lm)
    f = make_fetcher()
    res = f.fetch(server.url("/a"), validators=Validators(last_modified=lm))
    assert res.not_modified
    assert server.requests("/a")[0].headers["if-modified-since"] == lm


def test_same_bytes_after_200_is_unchanged(server, make_fetcher):
    server.route("/a", body="same")
    f = make_fetcher()
    res = f.fetch(server.url("/a"), validators=Validators(sha256=sha256_hex(b"same")))
    assert res.status == 200 and res.unchanged and not res.not_modified


def test_unconditional_sends_no_validators(server, make_fetcher):
    server.route("/a", body="x", etag='"e"')
    res = make_fetcher().fetch(server.url("/a"), conditional=False, validators=Validators(etag='"e"'))
    assert res.status == 200
    assert "if-none-match" not in server.requests("/a")[0].headers


# ---------------------------------------------------------------- client errors: no retry


@pytest.mark.parametrize("status", [404, 410, 403])
def test_client_errors_fail_once_and_are_logged(server, make_fetcher, engine, sleeps, status):
    server.route("/gone", status=status, body="no")
    f = make_fetcher(engine)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/gone"))
    assert err.value.status == status and err.value.attempts == 1
    assert f"HTTP {status}" in err.value.reason
    assert len(server.requests("/gone")) == 1 and sleeps == []
    (row,) = page_rows(f, engine)
    assert row["status"] == status and row["error"] == f"HTTP {status}" and row["attempts"] == 1


# ---------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_retried_with_backoff_then_succeeds(server, make_fetcher, engine, sleeps, status):
    server.route("/f", [Reply(status=status), Reply(status=status), Reply(body="ok")])
    f = make_fetcher(engine, retries=3, backoff_s=1.0)
    res = f.fetch(server.url("/f"))
    assert res.content == b"ok" and res.attempts == 3
    assert sleeps == [1.0, 2.0]  # backoff 1, 2 (jitter pinned at 1.0x)
    (row,) = page_rows(f, engine)
    assert row["attempts"] == 3 and row["status"] == 200 and row["error"] is None


def test_5xx_gives_up_after_retries(server, make_fetcher, engine, sleeps):
    server.route("/f", status=500)
    f = make_fetcher(engine, retries=2)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/f"))
    assert err.value.attempts == 3 and err.value.status == 500
    assert len(server.requests("/f")) == 3 and len(sleeps) == 2
    (row,) = page_rows(f, engine)
    assert row["attempts"] == 3 and row["error"] == "HTTP 500" and row["status"] == 500


def test_429_honours_retry_after_seconds(server, make_fetcher, sleeps):
    server.route("/r", [Reply(status=429, headers={"Retry-After": "7"}), Reply(body="ok")])
    res = make_fetcher(backoff_s=0.01).fetch(server.url("/r"))
    assert res.content == b"ok" and sleeps == [7.0]


def test_retry_after_http_date():
    assert _retry_after(formatdate(1000 + 30, usegmt=True), now=1000.0) == pytest.approx(30, abs=1)
    assert _retry_after("garbage") is None and _retry_after("12") == 12.0


def test_retry_after_too_long_fails_without_waiting(server, make_fetcher, engine, sleeps):
    server.route("/r", status=503, headers={"Retry-After": "86400"})
    f = make_fetcher(engine, max_retry_after_s=60)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/r"))
    assert "exceeds max_retry_after_s" in err.value.reason and sleeps == []
    assert len(server.requests("/r")) == 1


def test_slow_response_times_out_and_is_retried(server, make_fetcher, engine, sleeps):
    server.route("/slow", [Reply(delay=1.5, body="late"), Reply(body="ok")])
    f = make_fetcher(engine, timeout_s=0.5)
    res = f.fetch(server.url("/slow"))
    assert res.content == b"ok" and res.attempts == 2 and len(sleeps) == 1


def test_trickling_body_hits_total_deadline(server, make_fetcher, engine):
    server.route("/drip", body=b"x" * 20_000, trickle=0.1)
    f = make_fetcher(engine, timeout_s=0.5, retries=0)
    t0 = time.monotonic()
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/drip"))
    assert "timeout" in err.value.reason and time.monotonic() - t0 < 1.5
    assert page_rows(f, engine)[0]["error"].startswith("timeout")


def test_connection_reset_retried(server, make_fetcher, sleeps):
    server.route("/x", [Reply(reset=True), Reply(body="ok")])
    res = make_fetcher().fetch(server.url("/x"))
    assert res.content == b"ok" and res.attempts == 2


def test_connection_reset_every_time_fails(server, make_fetcher, engine):
    server.route("/x", reset=True)
    f = make_fetcher(engine, retries=1)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/x"))
    assert err.value.attempts == 2 and "connection error" in err.value.reason
    assert page_rows(f, engine)[0]["attempts"] == 2


def test_truncated_body_is_an_error_not_content(server, make_fetcher, store):
    server.route("/t", body=b"y" * 5000, truncate=1000)
    f = make_fetcher(retries=1)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/t"))
    assert err.value.attempts == 2 and "connection error" in err.value.reason
    assert not store.root.exists() or not any(store.root.rglob("*.gz"))


def test_truncated_gzip_without_length_is_an_error(server, make_fetcher):
    blob = gzip.compress(b"z" * 10_000)[:-20]
    server.route("/tg", body=blob, headers={"Content-Encoding": "gzip"}, content_length=False)
    with pytest.raises(FetchError) as err:
        make_fetcher(retries=0).fetch(server.url("/tg"))
    assert "truncated gzip" in err.value.reason


def test_connection_refused_is_recorded(make_fetcher, engine):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    f = make_fetcher(engine, retries=1)
    with pytest.raises(FetchError) as err:
        f.fetch(f"http://127.0.0.1:{port}/x")
    assert err.value.attempts == 2
    assert "connection error" in page_rows(f, engine)[0]["error"]


# ---------------------------------------------------------------- redirects


def test_redirect_followed_within_allowed_hosts(server, make_fetcher):
    server.route("/old", status=301, headers={"Location": "/new"})
    server.route("/new", body="moved")
    res = make_fetcher().fetch(server.url("/old"), allowed_hosts={"127.0.0.1"})
    assert res.content == b"moved" and res.final_url == server.url("/new")
    assert res.redirects == (server.url("/new"),)


def test_redirect_loop_refused(server, make_fetcher, engine):
    server.route("/a", status=302, headers={"Location": "/b"})
    server.route("/b", status=302, headers={"Location": "/a"})
    f = make_fetcher(engine)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/a"))
    assert "redirect loop" in err.value.reason and err.value.attempts == 1
    assert "redirect loop" in page_rows(f, engine)[0]["error"]


def test_too_many_redirects(server, make_fetcher):
    for i in range(15):
        server.route(f"/r{i}", status=307, headers={"Location": f"/r{i + 1}"})
    with pytest.raises(FetchError) as err:
        make_fetcher().fetch(server.url("/r0"))
    assert "more than 10 redirects" in err.value.reason


def test_redirect_off_allowed_hosts_refused_and_recorded(server, make_fetcher, engine):
    server.route("/out", status=302, headers={"Location": "http://evil.example/steal"})
    f = make_fetcher(engine)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/out"), allowed_hosts={"127.0.0.1"})
    assert "evil.example" in err.value.reason and "allowed_hosts" in err.value.reason
    row = page_rows(f, engine)[0]
    assert "refused" in row["error"] and row["status"] == 302


def test_first_url_must_be_on_allowed_hosts(server, make_fetcher, engine):
    server.route("/a", body="x")
    f = make_fetcher(engine)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/a"), allowed_hosts={"www.meti.go.jp"})
    assert err.value.attempts == 0 and server.requests() == []
    assert page_rows(f, engine)[0]["attempts"] == 0


# ---------------------------------------------------------------- bodies


def test_gzip_body_is_stored_decoded(server, make_fetcher, store):
    body = "<p>圧縮</p>".encode() * 100
    server.route("/gz", body=body, gzip=True, headers={"Content-Type": HTML})
    res = make_fetcher().fetch(server.url("/gz"))
    assert res.content == body and res.content_encoding == "gzip"
    assert store.get(res.sha256) == body
    assert "gzip" in server.requests("/gz")[0].headers["accept-encoding"]
    # the gzip member from the wire is the stored file: no second compression
    assert gzip.decompress(store.path_for(res.sha256).read_bytes()) == body


def test_validators_many_reads_http_cache(make_fetcher, engine):
    from datetime import UTC, datetime

    with transaction(engine) as s:
        for i in range(3):
            save_validators(s, f"http://x/{i}", f'"e{i}"', None, str(i) * 64, datetime.now(UTC))
    got = make_fetcher(engine).validators_many([f"http://x/{i}" for i in range(5)])
    assert got == {f"http://x/{i}": Validators(f'"e{i}"', None, str(i) * 64) for i in range(3)}


def test_raw_deflate_body(server, make_fetcher):
    comp = zlib.compressobj(wbits=-15)
    blob = comp.compress(b"hello deflate") + comp.flush()
    server.route("/d", body=blob, headers={"Content-Encoding": "deflate"})
    assert make_fetcher().fetch(server.url("/d")).content == b"hello deflate"


def test_oversized_body_by_content_length(server, make_fetcher, engine):
    server.route("/big", body=b"x" * 5000)
    f = make_fetcher(engine, max_body_bytes=1000)
    with pytest.raises(FetchError) as err:
        f.fetch(server.url("/big"))
    assert "body too large" in err.value.reason and err.value.attempts == 1
    assert "body too large" in page_rows(f, engine)[0]["error"]


def test_oversized_body_without_content_length(server, make_fetcher):
    server.route("/big", body=b"x" * 300_000, content_length=False)
    with pytest.raises(FetchError) as err:
        make_fetcher(max_body_bytes=100_000).fetch(server.url("/big"))
    assert "body too large" in err.value.reason


def test_gzip_bomb_stopped_at_cap(server, make_fetcher):
    server.route("/bomb", body=b"\0" * 50_000_000, gzip=True)  # ~50 KB on the wire
    with pytest.raises(FetchError) as err:
        make_fetcher(max_body_bytes=1_000_000).fetch(server.url("/bomb"))
    assert "after gzip" in err.value.reason


def test_unsupported_content_encoding(server, make_fetcher):
    server.route("/br", body=b"\x0b\x02\x80hello\x03", headers={"Content-Encoding": "br"})
    with pytest.raises(FetchError) as err:
        make_fetcher().fetch(server.url("/br"))
    assert "Content-Encoding" in err.value.reason


def test_binary_body_not_decoded(server, make_fetcher):
    server.route("/f.pdf", body=b"%PDF-1.7\xff\xfe", headers={"Content-Type": "application/pdf"})
    res = make_fetcher().fetch(server.url("/f.pdf"))
    assert res.text is None and res.media_type == "application/pdf" and res.content.startswith(b"%PDF")


def test_not_http_url(make_fetcher):
    with pytest.raises(FetchError) as err:
        make_fetcher().fetch("file:///etc/passwd")
    assert "not an http(s) URL" in err.value.reason


def test_fetch_log_rows_are_written_in_few_transactions(server, make_fetcher, engine):
    from sqlalchemy import event

    server.route("/a", body="x", etag='"e"')
    f = make_fetcher(engine, respect_robots=False)
    f.flush()
    commits = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    started = time.monotonic()
    for _ in range(60):
        f.fetch(server.url("/a"), validators=Validators(etag='"e"'))
    f.flush()  # writes what is gathered at once, without waiting for the gathering to end
    assert time.monotonic() - started < 5
    assert len(page_rows(f, engine)) == 60
    # gathered for a quarter of a second at a time, not one commit per row or two
    assert len(commits) <= 2 + (time.monotonic() - started) / 0.25


def test_https_certificates_are_verified(tmp_path, make_fetcher):
    """The shared TLS context verifies: a self-signed certificate is refused, with the reason
    (nothing is fetched from a host that cannot prove who it is)."""
    from smtp_support import make_cert

    from fetch.server import LocalServer

    cert, key = make_cert(tmp_path)
    with LocalServer(tls=(str(cert), str(key))) as srv:
        srv.route("/p", body="<p>secret</p>", headers={"Content-Type": "text/html"})
        fetcher = make_fetcher(retries=0)
        with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED") as err:
            fetcher.fetch(srv.url("/p"))
        assert err.value.url.startswith("https://127.0.0.1:")
        assert srv.requests("/p") == []


# ---------------------------------------------------------------- mirrors


def test_a_mirror_serves_an_origin_and_the_original_urls_are_kept(server, make_fetcher, engine):
    """[fetch] mirrors: the wire goes to the mirror; robots.txt, redirects, allowed hosts and
    the log see the original URLs, so the history reads as if fetched from the real site."""
    server.route("/gov/robots.txt", body="User-agent: *\nDisallow: /private\n")
    server.route("/gov/old", status=301, headers={"Location": "https://www.example.gov/new?x=1"})
    server.route("/gov/new?x=1", body="<p>新</p>", headers={"Content-Type": HTML})
    f = make_fetcher(engine, respect_robots=True,
                     mirrors={"https://www.example.gov": server.url("/gov/")})
    res = f.fetch("https://www.example.gov/old", allowed_hosts={"www.example.gov"})
    assert res.status == 200 and res.text == "<p>新</p>"
    assert res.final_url == "https://www.example.gov/new?x=1"
    assert [r.path for r in server.requests()] == ["/gov/robots.txt", "/gov/old", "/gov/new?x=1"]
    with pytest.raises(FetchError, match="robots.txt"):
        f.fetch("https://www.example.gov/private/x")
    with pytest.raises(FetchError, match="not in allowed_hosts"):  # hosts are the real ones
        f.fetch("https://www.example.gov/old", allowed_hosts={"127.0.0.1"})
    assert {r["url"] for r in log_rows(f, engine)} == {
        "https://www.example.gov/robots.txt", "https://www.example.gov/old",
        "https://www.example.gov/private/x"}


def test_mirrored_urls() -> None:
    mirrors = {"https://www.meti.go.jp": "http://127.0.0.1:8080/www.meti.go.jp/"}
    assert mirrored("https://www.meti.go.jp/press/a.html?x=1", mirrors) \
        == "http://127.0.0.1:8080/www.meti.go.jp/press/a.html?x=1"
    assert mirrored("https://www.meti.go.jp", mirrors) == "http://127.0.0.1:8080/www.meti.go.jp"
    assert mirrored("https://www.meti.go.jp.evil.example/x", mirrors) \
        == "https://www.meti.go.jp.evil.example/x"  # another host, not a prefix match
    assert mirrored("http://www.meti.go.jp/x", mirrors) == "http://www.meti.go.jp/x"
    assert mirrored("HTTPS://WWW.METI.GO.JP/Press/A.html", mirrors) \
        == "http://127.0.0.1:8080/www.meti.go.jp/Press/A.html"
