"""Fetch-layer benchmark: regwatch's page watcher against urlwatch on the same local corpus.

Run (urlwatch is a benchmark-only tool, not a project dependency):

    .venv/bin/pip install urlwatch
    .venv/bin/python bench/fetch_bench.py [--pages 2000] [--latency-ms 20] [--workdir DIR]

What it does:
1. Generates 2,000 pages (5–60 KB each; every fifth is Shift_JIS, declared only in <meta>
   and served as plain `text/html`; the rest UTF-8 with a charset header). Each page is a
   list of dated items in <ul id="items"> plus navigation and a footer.
2. Serves them from a separate process on 127.0.0.1 with 20 ms latency per request,
   ETag/If-None-Match (304) and gzip when asked, counting body bytes sent.
3. regwatch, pass 1: the `page` scraper (selector "#items") through FetchContext/Fetcher,
   into a fresh SQLite history database; the Documents' texts and validators are written in
   bulk by a stand-in for the pipeline's storage, or, with --pipeline, by the real pipeline
   (regwatch.pipeline.run_sources, what `regwatch fetch` runs). Run in a child process so
   its peak RSS is its own.
4. Changes 10% of the pages (items added, amended or removed: the truth) and, as noise, the
   footer timestamp of another 5% (outside the selector: not a change).
5. regwatch, pass 2 (conditional re-check), then compares the 'changed' versions with the truth.
6. urlwatch, both passes, same server, same corpus state, jobs `css: "#items"` + `html2text`,
   its own cache in a temp folder; its report is checked for the changed pages and for
   readable Japanese in the Shift_JIS diffs.
It prints pages/s per pass, bytes transferred, detection against the truth, peak RSS and the
ratios. Fetch settings used for the local server are printed (politeness is off: it is ours).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import gzip
import hashlib
import json
import multiprocessing
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SELECTOR = "#items"
BENCH_FETCH = dict(max_connections=32, per_host_connections=32, min_interval_s=0.0, retries=1,
                   timeout_s=30.0, respect_robots=True)
if os.environ.get("BENCH_CONNECTIONS"):  # set by --connections, read by the child processes too
    BENCH_FETCH.update(max_connections=int(os.environ["BENCH_CONNECTIONS"]),
                       per_host_connections=int(os.environ["BENCH_CONNECTIONS"]))

JA_WORDS = ["輸出貿易管理令", "外国為替令", "半導体製造装置", "量子コンピュータ", "極低温", "電子顕微鏡",
            "該非判定", "包括許可", "キャッチオール規制", "リスト規制", "役務取引", "仕向地", "改正",
            "政令", "省令", "告示", "通達", "施行", "公布", "パブリックコメント", "経済産業省", "安全保障"]
EN_WORDS = ["export", "control", "semiconductor", "equipment", "licence", "amendment", "order",
            "ministry", "technology", "quantum", "cryogenic", "microscope", "regulation", "list",
            "destination", "catch-all", "review", "notice", "effective", "public", "comment"]


# ---------------------------------------------------------------------- corpus


def is_sjis(i: int) -> bool:
    return i % 5 == 0


def item_text(rng: random.Random, sjis: bool) -> str:
    words = JA_WORDS if sjis else EN_WORDS
    sep = "" if sjis else " "
    day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return day + " " + sep.join(rng.choice(words) for _ in range(rng.randint(8, 30)))


def render(i: int, items: list[str], stamp: str) -> bytes:
    sjis = is_sjis(i)
    head = ('<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">' if sjis
            else '<meta name="viewport" content="width=device-width">')
    lis = "\n".join(f'<li class="item"><span class="date">{t[:10]}</span> {t[11:]}</li>' for t in items)
    html = (f"<!DOCTYPE html>\n<html><head>{head}<title>Page {i}</title>"
            "<style>li{margin:0}</style><script>var analytics = 1;</script></head><body>"
            '<div id="nav"><a href="/">Home</a> | <a href="/news">News</a></div>'
            f'<h1>Watched page {i}</h1><ul id="items">\n{lis}\n</ul>'
            f'<div id="footer">generated {stamp}</div></body></html>')
    return html.encode("cp932" if sjis else "utf-8")


def make_corpus(n: int, seed: int = 7) -> dict[int, list[str]]:
    rng = random.Random(seed)
    pages = {}
    for i in range(n):
        target = rng.randint(5_000, 60_000)
        items: list[str] = []
        size = 600
        while size < target:
            t = item_text(rng, is_sjis(i))
            items.append(t)
            size += len(t.encode("cp932" if is_sjis(i) else "utf-8")) + 45
        pages[i] = items
    return pages


def write_page(root: Path, i: int, items: list[str], stamp: str) -> None:
    body = render(i, items, stamp)
    (root / f"{i:05d}.html").write_bytes(body)
    (root / f"{i:05d}.html.gz").write_bytes(gzip.compress(body, 6, mtime=0))


def mutate(pages: dict[int, list[str]], root: Path, seed: int = 11) -> tuple[dict[int, str], set[int]]:
    """Change 10% of pages (the truth: op per page) and touch the footer of 5% more (noise)."""
    rng = random.Random(seed)
    ids = list(pages)
    rng.shuffle(ids)
    n = len(ids)
    if not any(is_sjis(i) for i in ids[: max(n // 10, 1)]):  # a small corpus: show one anyway
        sjis = next(i for i in ids if is_sjis(i))
        ids.remove(sjis)
        ids.insert(0, sjis)
    changed, noise = ids[: max(n // 10, 1)], ids[max(n // 10, 1): n // 10 + n // 20]
    truth: dict[int, str] = {}
    for k, i in enumerate(changed):
        items = list(pages[i])
        op = ("added", "amended", "removed")[k % 3]
        if op == "added":
            items.insert(0, item_text(rng, is_sjis(i)))
        elif op == "amended":
            j = rng.randrange(len(items))
            items[j] = items[j][:11] + ("【訂正】" if is_sjis(i) else "[corrected] ") + items[j][11:]
        else:
            del items[rng.randrange(len(items))]
        pages[i] = items
        truth[i] = op
        write_page(root, i, items, "2024-06-02")
    for i in noise:
        write_page(root, i, pages[i], "2024-06-02 (regenerated)")
    return truth, set(noise)


# ---------------------------------------------------------------------- server (own process)


def serve(root: str, latency: float, port_q, stop_ev, stats) -> None:
    etags: dict[str, tuple[float, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle and the client's
        # delayed ACK add ~40 ms to every keep-alive request, on top of the 20 ms latency.
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802
            time.sleep(latency)
            name = self.path.rsplit("/", 1)[-1]
            path = Path(root) / name
            if not name.endswith(".html") or not path.is_file():
                self._send(404, b"not found", {"Content-Type": "text/plain"})
                return
            mtime = path.stat().st_mtime_ns
            cached = etags.get(name)
            if cached is None or cached[0] != mtime:
                cached = (mtime, '"' + hashlib.sha1(path.read_bytes()).hexdigest()[:20] + '"')
                etags[name] = cached
            etag = cached[1]
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", {"ETag": etag})
                return
            ctype = "text/html" if is_sjis(int(name[:5])) else "text/html; charset=utf-8"
            headers = {"Content-Type": ctype, "ETag": etag}
            if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                body = (Path(root) / (name + ".gz")).read_bytes()
                headers["Content-Encoding"] = "gzip"
            else:
                body = path.read_bytes()
            self._send(200, body, headers)

        def _send(self, status, body, headers):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and status != 304:
                self.wfile.write(body)
            with stats.get_lock():
                stats[0] += len(body)
                stats[1] += 1

    class Server(ThreadingHTTPServer):
        request_queue_size = 256
        daemon_threads = True

        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a client closing keep-alive
                super().handle_error(request, client_address)

    httpd = Server(("127.0.0.1", 0), Handler)
    port_q.put(httpd.server_address[1])
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    stop_ev.wait()
    httpd.shutdown()


# ---------------------------------------------------------------------- regwatch pass (child process)


def regwatch_pass(workdir: Path, urls_file: Path, first_url: str, label: str, pipeline: bool) -> dict:
    """One pass of the page watcher; runs in its own process.

    Storage stands in for the pipeline's with bulk writes (text sha per URL, http_cache
    validators), so the numbers measure the fetch layer and the scraper; with `pipeline`
    the real pipeline run stores every Document (what a user's `regwatch fetch` costs).
    """
    t_start = time.perf_counter()
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    from sqlalchemy import text

    from regwatch.config import FetchConfig, SourceConfig
    from regwatch.db.session import make_engine, transaction, upgrade
    from regwatch.fetch.http import Fetcher
    from regwatch.fetch.snapshots import SnapshotStore
    from scrapers.page import Page

    fresh = not (workdir / "regwatch.db").exists()
    engine = make_engine(f"sqlite:///{workdir / 'regwatch.db'}")
    if fresh:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_texts (url TEXT PRIMARY KEY, sha TEXT, text TEXT)"))
    store = SnapshotStore(workdir / "snapshots")
    cfg = dataclasses.replace(FetchConfig(), **BENCH_FETCH)
    now = datetime.now(UTC)
    source = SourceConfig(name="bench-pages", scraper="page", url=first_url,
                          options={"urls_file": str(urls_file), "selector": SELECTOR})
    t0 = time.perf_counter()
    pages = 0
    changed: dict[str, list[str | None]] = {}
    issues: list[dict] = []
    if pipeline:
        pages, errors, issues = _run_pipeline(workdir, cfg, source)
    else:
        with Fetcher(cfg, engine, store) as fetcher:
            scraper = Page(source)
            from regwatch.fetch.context import FetchContext

            ctx = FetchContext(fetcher, source, scraper.options, now=now, engine=engine, progress=False)
            docs = scraper.scrape(ctx)
            with engine.connect() as conn:
                known = dict(conn.execute(text("SELECT url, sha FROM bench_texts")).all())
            texts, validators = [], []
            for doc in docs:
                pages += 1
                if doc.unchanged or doc.metadata.get("gone"):
                    continue
                sha = hashlib.sha256(doc.text.encode()).hexdigest()
                if doc.url in known and known[doc.url] != sha:
                    changed[doc.url] = [None, doc.text]
                texts.append({"url": doc.url, "sha": sha, "text": doc.text})
                http = doc.metadata["http"]
                validators.append({"url": http["url"], "etag": http["etag"], "lm": http["last_modified"],
                                   "sha": doc.snapshot.sha256, "now": now})
            with transaction(engine) as s:
                for url in changed:  # the previous text, for the diff
                    changed[url][0] = s.execute(text("SELECT text FROM bench_texts WHERE url = :u"),
                                                {"u": url}).scalar()
                if texts:
                    s.execute(text("INSERT OR REPLACE INTO bench_texts VALUES (:url, :sha, :text)"), texts)
                if validators:
                    s.execute(text("INSERT OR REPLACE INTO http_cache (source_id, url, etag, last_modified, "
                                   "content_sha256, checked_at) VALUES (0, :url, :etag, :lm, :sha, :now)"),
                              validators)
            errors = len(ctx.issues)
            issues = [i.to_json() for i in ctx.issues[:5]]
    elapsed = time.perf_counter() - t0
    if pipeline:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT d.url, v.text, (SELECT p.text FROM document_versions p WHERE p.document_id = d.id "
                "AND p.version = v.version - 1) FROM document_versions v "
                "JOIN documents d ON d.id = v.document_id WHERE v.change_type = 'changed'")).all()
        changed = {u: [old, new] for u, new, old in rows}
    return {"label": label, "seconds": elapsed, "process_seconds": time.perf_counter() - t_start,
            "pages": pages, "errors": errors, "issues": issues,
            "changed": changed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cpu_seconds": time.process_time()}


def _run_pipeline(workdir: Path, cfg, source) -> tuple[int, int, list[dict]]:
    """The real thing: `regwatch fetch` for this one source (regwatch.pipeline.run_sources:
    lease, run record, store_document per Document, validators, derivation catch-up)."""
    from regwatch.app import App
    from regwatch.config import Config
    from regwatch.pipeline import run_sources

    app = App(Config(data_dir=str(workdir), fetch=cfg, sources=(source,)))
    try:
        (result,) = run_sources(app, [source.name], progress=False)
        with app.engine.connect() as conn:
            from sqlalchemy import select

            from regwatch.db.tables import SourceRun
            issues = conn.execute(select(SourceRun.issues).where(SourceRun.id == result.run_id)).scalar()
    finally:
        app.close()
    if result.status not in ("ok", "partial"):
        raise SystemExit(f"pipeline run {result.status}: {result.error}")
    return result.documents_seen, result.errors, (issues or [])[:5]


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[int, str, str, float, float]:
    """(returncode, stdout, stderr, wall seconds, peak RSS MB) of one child process alone."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode("utf-8", "replace"),
                err.read().decode("utf-8", "replace"), wall, usage.ru_maxrss / 1024)


def run_child(args: list[str]) -> tuple[dict, float]:
    code, out, err, wall, _ = run_measured([sys.executable, __file__, *args])
    if os.environ.get("BENCH_PROFILE") or code != 0:
        sys.stderr.write(err)
    if code != 0:
        raise SystemExit(f"regwatch pass failed ({code})")
    return json.loads(out.strip().splitlines()[-1]), wall


# ---------------------------------------------------------------------- urlwatch


def urlwatch_setup(tmp: Path, urls: list[str]) -> list[str]:
    jobs = "\n---\n".join(f"name: p{i:05d}\nurl: {u}\nfilter:\n  - css: '{SELECTOR}'\n  - html2text\n"
                          for i, u in enumerate(urls))
    (tmp / "urls.yaml").write_text(jobs, encoding="utf-8")
    (tmp / "urlwatch.yaml").write_text(
        "display: {new: false, error: true, unchanged: false, empty-diff: false}\n"
        "report:\n  text: {details: true, footer: false, line_length: 75, minimal: false}\n"
        "  stdout: {enabled: true, color: false}\n  email: {enabled: false}\n"
        "  html: {diff: unified}\n", encoding="utf-8")
    (tmp / "hooks.py").write_text("", encoding="utf-8")
    exe = shutil.which("urlwatch", path=str(Path(sys.executable).parent)) or shutil.which("urlwatch")
    if exe is None:
        raise SystemExit("urlwatch is not installed: .venv/bin/pip install urlwatch")
    return [exe, "--urls", str(tmp / "urls.yaml"), "--config", str(tmp / "urlwatch.yaml"),
            "--hooks", str(tmp / "hooks.py"), "--cache", str(tmp / "cache.db")]


def urlwatch_pass(cmd: list[str], home: Path) -> tuple[float, str, float]:
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home), "XDG_CACHE_HOME": str(home)}
    code, out, err, wall, rss = run_measured(cmd, env)
    if code not in (0, 1):
        raise SystemExit(f"urlwatch failed ({code}): {err[-2000:]}")
    return wall, out, rss


def urlwatch_changed(report: str) -> set[int]:
    return {int(line.split("CHANGED: p", 1)[1][:5]) for line in report.splitlines()
            if "CHANGED: p" in line}


def urlwatch_section(report: str, i: int) -> str:
    marker = f"CHANGED: p{i:05d}"
    parts = report.split(marker)
    return parts[-1].split("CHANGED: p", 1)[0] if len(parts) > 1 else ""


# ---------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--workdir", type=Path, default=None, help="kept afterwards when given")
    ap.add_argument("--skip-urlwatch", action="store_true")
    ap.add_argument("--connections", type=int, default=None,
                    help="regwatch max_connections = per_host_connections (default 32)")
    ap.add_argument("--pipeline", action="store_true",
                    help="run the real pipeline (regwatch.pipeline.run_sources) instead of bulk storage")
    ap.add_argument("--child", nargs=4, metavar=("WORKDIR", "URLS_FILE", "FIRST_URL", "LABEL"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.connections:
        os.environ["BENCH_CONNECTIONS"] = str(args.connections)
        BENCH_FETCH.update(max_connections=args.connections, per_host_connections=args.connections)
    if args.child:
        w, f, u, label = args.child
        if os.environ.get("BENCH_PROFILE"):  # BENCH_PROFILE=1: cProfile of each regwatch pass
            import cProfile
            import pstats

            prof = cProfile.Profile()
            out = prof.runcall(regwatch_pass, Path(w), Path(f), u, label, args.pipeline)
            pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        else:
            out = regwatch_pass(Path(w), Path(f), u, label, args.pipeline)
        print(json.dumps(out, ensure_ascii=False))
        return

    work = args.workdir or Path(tempfile.mkdtemp(prefix="regwatch-bench-"))
    corpus, rw_dir, uw_dir = work / "corpus", work / "regwatch", work / "urlwatch"
    for d in (corpus, rw_dir, uw_dir):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    print(f"corpus: {args.pages} pages, {args.latency_ms:g} ms latency, workdir {work}")
    pages = make_corpus(args.pages)
    for i, items in pages.items():
        write_page(corpus, i, items, "2024-06-01")
    sizes = [(corpus / f"{i:05d}.html").stat().st_size for i in pages]
    print(f"page sizes {min(sizes) / 1024:.1f}–{max(sizes) / 1024:.1f} KB, "
          f"{sum(map(is_sjis, pages))} Shift_JIS (meta only), total {sum(sizes) / 1e6:.1f} MB")

    ctx = multiprocessing.get_context("spawn")
    port_q, stop_ev, stats = ctx.Queue(), ctx.Event(), ctx.Array("q", 2)
    server = ctx.Process(target=serve, args=(str(corpus), args.latency_ms / 1000, port_q, stop_ev, stats),
                         daemon=True)
    server.start()
    port = port_q.get(timeout=30)
    urls = [f"http://127.0.0.1:{port}/p/{i:05d}.html" for i in pages]
    urls_file = work / "urls.txt"
    urls_file.write_text("\n".join(urls) + "\n", encoding="utf-8")
    print("regwatch fetch settings:", ", ".join(f"{k}={v}" for k, v in BENCH_FETCH.items()),
          f"selector={SELECTOR!r}")

    def traffic() -> tuple[int, int]:
        with stats.get_lock():
            got = (stats[0], stats[1])
            stats[0] = stats[1] = 0
        return got

    try:
        traffic()
        extra = ["--pipeline"] if args.pipeline else []
        rw1, rw1_wall = run_child([*extra, "--child", str(rw_dir), str(urls_file), urls[0], "first"])
        rw1["bytes"], rw1["requests"] = traffic()
        uw = None
        if not args.skip_urlwatch:
            cmd = urlwatch_setup(uw_dir, urls)
            uw1_s, _, uw1_rss = urlwatch_pass(cmd, uw_dir)
            uw1_bytes, uw1_req = traffic()

        truth, noise = mutate(pages, corpus)

        rw2, rw2_wall = run_child([*extra, "--child", str(rw_dir), str(urls_file), urls[0], "recheck"])
        rw2["bytes"], rw2["requests"] = traffic()
        if not args.skip_urlwatch:
            uw2_s, report, uw_rss = urlwatch_pass(cmd, uw_dir)
            uw2_bytes, uw2_req = traffic()
            uw = dict(first=uw1_s, recheck=uw2_s, report=report, rss=max(uw1_rss, uw_rss),
                      bytes=(uw1_bytes, uw2_bytes), requests=(uw1_req, uw2_req))
    finally:
        stop_ev.set()
        server.join(timeout=10)

    n = args.pages
    truth_urls = {urls[i] for i in truth}
    detected = set(rw2["changed"])
    print()
    print(f"{'':24}{'pass 1 (all new)':>22}{'pass 2 (re-check)':>22}")
    print(f"{'regwatch pages/s':24}{n / rw1['seconds']:>22.0f}{n / rw2['seconds']:>22.0f}"
          f"   (in-process {rw1['seconds']:.2f}s / {rw2['seconds']:.2f}s)")
    print(f"{'regwatch process wall':24}{rw1_wall:>21.2f}s{rw2_wall:>21.2f}s")
    print(f"{'regwatch bytes in':24}{rw1['bytes'] / 1e6:>20.2f}MB{rw2['bytes'] / 1e6:>20.2f}MB"
          f"   requests {rw1['requests']} / {rw2['requests']}")
    print(f"regwatch errors: {rw1['errors']} / {rw2['errors']} {rw1['issues'] or ''}{rw2['issues'] or ''}")
    print(f"regwatch CPU time (process): {rw1['cpu_seconds']:.2f}s / {rw2['cpu_seconds']:.2f}s")
    print(f"regwatch peak RSS: {max(rw1['peak_rss_mb'], rw2['peak_rss_mb']):.0f} MB")
    missed, extra = truth_urls - detected, detected - truth_urls
    exact = not missed and not extra
    print(f"regwatch changes detected: {len(detected)} of {len(truth)} true "
          f"({sum(1 for v in truth.values() if v == 'added')} added, "
          f"{sum(1 for v in truth.values() if v == 'amended')} amended, "
          f"{sum(1 for v in truth.values() if v == 'removed')} removed items; "
          f"{len(noise)} pages changed outside the selector): "
          f"{'EXACT' if exact else f'missed {len(missed)}, extra {len(extra)}'}")
    sj = next(i for i in sorted(truth) if is_sjis(i))
    old, new = rw2["changed"].get(urls[sj], ["", ""])
    rw_diff = [ln for ln in difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(),
                                                 lineterm="", n=0) if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    expected = set(pages[sj]) ^ set(make_corpus(n)[sj])  # the items that differ
    rw_readable = bool(rw_diff) and all(any(e[11:25] in ln for ln in rw_diff) for e in expected)
    print(f"regwatch Shift_JIS diff (page {sj}, {truth[sj]}): "
          f"{'readable' if rw_readable else 'NOT readable'}: {rw_diff[:2]}")
    if uw is None:
        return
    uw_detected = urlwatch_changed(uw["report"])
    section = urlwatch_section(uw["report"], sj)
    uw_lines = [ln for ln in section.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    uw_readable = bool(uw_lines) and all(any(e[11:25] in ln for ln in uw_lines) for e in expected)
    print()
    print(f"{'urlwatch pages/s':24}{n / uw['first']:>22.0f}{n / uw['recheck']:>22.0f}"
          f"   ({uw['first']:.2f}s / {uw['recheck']:.2f}s, process wall)")
    print(f"{'urlwatch bytes in':24}{uw['bytes'][0] / 1e6:>20.2f}MB{uw['bytes'][1] / 1e6:>20.2f}MB"
          f"   requests {uw['requests'][0]} / {uw['requests'][1]}")
    print(f"urlwatch peak RSS: {uw['rss']:.0f} MB")
    print(f"urlwatch changes reported: {len(uw_detected)} of {len(truth)} true "
          f"({len(uw_detected & set(truth))} right, {len(uw_detected - set(truth))} extra)")
    print(f"urlwatch Shift_JIS diff (page {sj}): {'readable' if uw_readable else 'MOJIBAKE'}: "
          f"{[ln[:60] for ln in uw_lines[:2]]}")
    print()
    r1 = uw["first"] / rw1_wall
    r2 = uw["recheck"] / rw2_wall
    r1_in = uw["first"] / rw1["seconds"]
    r2_in = uw["recheck"] / rw2["seconds"]
    print(f"speed vs urlwatch (process wall, both include start-up): first pass {r1:.1f}x "
          f"(target >= 3), re-check {r2:.1f}x (target >= 10)")
    print(f"speed vs urlwatch (regwatch pass time in-process):     first pass {r1_in:.1f}x, "
          f"re-check {r2_in:.1f}x")
    print(f"detection exact: {exact}; Shift_JIS diffs readable: {rw_readable}; "
          f"peak RSS < 300 MB: {max(rw1['peak_rss_mb'], rw2['peak_rss_mb']) < 300}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
