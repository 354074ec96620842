"""A loopback HTTP server that replays recorded sources as they stood at a moment.

The demo (and tests that want a whole recorded world) set the moment; the server then
serves every recorded document published by then, feeds holding only the entries
published by then, and the e-Gov API answering with the revisions listed by then.
It serves https://www.meti.go.jp/… at http://127.0.0.1:PORT/www.meti.go.jp/… (`mirrors`
gives the fetcher's [fetch] mirrors setting for it), and bodies as recorded: the sources
keep their real URLs, so what is stored, reported and e-mailed is as in production.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

ROBOTS = b"User-agent: *\nAllow: /\n"


@dataclass(frozen=True)
class Recorded:
    url: str
    file: str
    at: datetime
    content_type: str
    title: str = ""
    japanese_date: str = ""


@dataclass(frozen=True)
class Revision:
    law_id: str
    file: str
    listed_at: datetime
    record: dict[str, Any]


@dataclass(frozen=True)
class Step:
    at: datetime
    label: str


@dataclass(frozen=True)
class Story:
    root: Path
    steps: tuple[Step, ...]
    documents: tuple[Recorded, ...]
    feeds: tuple[Recorded, ...]
    en_indexes: tuple[Recorded, ...]
    revisions: tuple[Revision, ...]
    egov_base: str
    hosts: tuple[str, ...]


def load_story(root: Path) -> Story:
    raw = tomllib.loads((root / "story.toml").read_text(encoding="utf-8"))

    def rec(d: dict[str, Any]) -> Recorded:
        return Recorded(d["url"], d.get("file", ""), datetime.fromisoformat(d["at"]),
                        d.get("content_type", "text/html; charset=utf-8"), d.get("title", ""),
                        d.get("japanese_date", ""))

    documents = tuple(rec(d) for d in raw.get("document", []))
    feeds = tuple(rec(d) for d in raw.get("feed", []))
    en_indexes = tuple(rec(d) for d in raw.get("en_index", []))
    revisions = tuple(Revision(r["law_id"], r["file"], datetime.fromisoformat(r["listed_at"]),
                               r["record"]) for r in raw.get("revision", []))
    urls = [d.url for d in (*documents, *feeds, *en_indexes)] + [raw["egov_base"]]
    hosts = tuple(sorted({urlsplit(u).netloc for u in urls}, key=len, reverse=True))
    steps = tuple(Step(datetime.fromisoformat(s["at"]), s["label"]) for s in raw["step"])
    return Story(root, steps, documents, feeds, en_indexes, revisions, raw["egov_base"], hosts)


def mirrors(story: Story, base: str) -> dict[str, str]:
    """The [fetch] mirrors setting under which the replay server at `base` serves `story`."""
    return {f"{scheme}://{host}": f"{base}/{host}" for host in story.hosts
            for scheme in ("https", "http")}


class ReplayServer:
    """Serve `story` as it stood at `moment`; `set_moment` moves the clock forward.

    With `etags`, every answer carries a strong ETag and a matching If-None-Match gets 304,
    as METI's servers do; `delay_s` slows every answer (tests that need two runs to overlap).
    """

    def __init__(self, story: Story, *, etags: bool = False, delay_s: float = 0.0):
        self.story = story
        self.etags = etags
        self.delay_s = delay_s
        self._site: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def set_moment(self, moment: datetime) -> None:
        site = build_site(self.story, moment)
        served = {self._path(url): found for url, found in site.items()}
        with self._lock:
            self._site = served

    def _path(self, url: str) -> str:
        parts = urlsplit(url)
        return f"/{parts.netloc}{parts.path}"

    def _lookup(self, path: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._site.get(path)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = urlsplit(self.path).path
                if server.delay_s:
                    time.sleep(server.delay_s)
                if path.endswith("/robots.txt"):
                    found: tuple[bytes, str] | None = (ROBOTS, "text/plain")
                else:
                    found = server._lookup(path)
                if found is None:
                    self._send(404, b"not found", "text/plain")
                    return
                body, ctype = found
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"' if server.etags else None
                if etag is not None and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self._send(200, body, ctype, etag)

            def _send(self, status: int, body: bytes, ctype: str, etag: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

        return Handler


# ---------------------------------------------------------------- the world at a moment (pure)


def build_site(story: Story, moment: datetime) -> dict[str, tuple[bytes, str]]:
    """URL → (body, content type) of everything published by `moment`."""
    site: dict[str, tuple[bytes, str]] = {}
    for d in story.documents:
        if d.at <= moment:
            site[d.url] = ((story.root / d.file).read_bytes(), d.content_type)
    for f in story.feeds:
        if f.at <= moment:
            site[f.url] = (filter_feed((story.root / f.file).read_bytes(), moment), f.content_type)
    for idx in story.en_indexes:
        if idx.at <= moment:
            site[idx.url] = (english_index(story, idx.url, moment), idx.content_type)
    site.update(egov_api(story, moment))
    return site


def _entry_time(el: etree._Element) -> datetime | None:
    for child in el:
        name = etree.QName(child).localname if isinstance(child.tag, str) else ""
        if name in ("published", "updated", "date") and child.text:
            try:
                return datetime.fromisoformat(child.text.strip().replace("Z", "+00:00"))
            except ValueError:
                continue
        if name == "pubDate" and child.text:
            try:
                return parsedate_to_datetime(child.text.strip())
            except (TypeError, ValueError):
                continue
    return None


def filter_feed(data: bytes, moment: datetime) -> bytes:
    """The feed with only the entries published by `moment` (RSS 2.0, RSS 1.0, Atom).

    A recorded feed that is not well-formed is served as recorded: it is part of the story.
    """
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return data
    for el in list(root.iter()):
        if not isinstance(el.tag, str) or etree.QName(el).localname not in ("entry", "item"):
            continue
        when = _entry_time(el)
        if when is not None and when > moment:
            el.getparent().remove(el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def english_index(story: Story, index_url: str, moment: datetime) -> bytes:
    """METI's English "News Releases" page as it stood: newest English release dates first."""
    entries = sorted((d for d in story.documents if d.at <= moment and d.title
                      and d.url.startswith(index_url.rsplit("/", 1)[0] + "/")),
                     key=lambda d: d.at, reverse=True)
    parts = ['<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="UTF-8">'
             "<title>News Releases (METI)</title></head>\n<body>\n<div id=\"main\">\n"
             '<h1>News Releases</h1>\n<div class="news">']
    for d in entries:
        href = d.url[len(index_url.rsplit("/", 1)[0]) + 1:]
        parts.append(f"<h2>{_us_date(d.at.date())}</h2>\n<p class=\"note\">(Japanese release dates below)</p>\n"
                     f'<ul class="news_list">\n<li><a href="{escape(href)}">{escape(d.title)}</a><br>\n'
                     f'<span class="jp_date">{escape(d.japanese_date or _us_date(d.at.date()))}</span></li>\n</ul>')
    parts.append("</div>\n</div>\n</body>\n</html>\n")
    return "\n".join(parts).encode("utf-8")


def _us_date(d: date) -> str:
    return f"{d.strftime('%B')} {d.day}, {d.year}"


def egov_api(story: Story, moment: datetime) -> dict[str, tuple[bytes, str]]:
    """`/law_revisions/{law_id}` and `/law_data/{revision_id}` as e-Gov answered at `moment`."""
    out: dict[str, tuple[bytes, str]] = {}
    base = story.egov_base.rstrip("/")
    by_law: dict[str, list[Revision]] = {}
    for r in story.revisions:
        if r.listed_at <= moment:
            by_law.setdefault(r.law_id, []).append(r)
    for law_id, revs in by_law.items():
        revs.sort(key=lambda r: r.record["amendment_enforcement_date"] or "", reverse=True)
        records = _statuses_at([r.record for r in revs], moment.date())
        body = {"law_info": {"law_id": law_id, "law_type": records[0].get("law_type")},
                "revisions": records}
        out[f"{base}/law_revisions/{law_id}"] = (json.dumps(body, ensure_ascii=False).encode(),
                                                 "application/json")
        for r, record in zip(revs, records, strict=True):
            xml = (story.root / r.file).read_bytes()
            data = {"law_info": body["law_info"], "revision_info": record,
                    "law_full_text": base64.b64encode(xml).decode("ascii")}
            out[f"{base}/law_data/{record['law_revision_id']}"] = (
                json.dumps(data, ensure_ascii=False).encode(), "application/json")
    return out


def _statuses_at(records: list[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    """e-Gov evaluates `current_revision_status` against today (records newest first)."""
    out, current_seen = [], False
    for record in records:
        effective = record.get("amendment_enforcement_date")
        if effective and date.fromisoformat(effective) > today:
            status = "UnEnforced"
        elif not current_seen:
            status, current_seen = "CurrentEnforced", True
        else:
            status = "PreviousEnforced"
        out.append({**record, "current_revision_status": status})
    return out
