"""Load benchmark: 1,000 page-watcher sources × 20 pages on local servers, one full run.

    .venv/bin/python bench/load_bench.py [--sources 1000] [--pages 20] [--hosts 10]
                                         [--interval 0.01] [--db sqlite|URL]

Each "host" is a loopback HTTP server on its own port (the fetch layer's per-host gate is per
origin), serving every source's pages and recording when each request arrived. Printed:
wall time, peak RSS of this process (the whole pipeline runs in it), per-host request
spacing as measured by the servers (minimum, 1st percentile, median; violations of
min_interval_s) and the most requests in flight at once per host, and whether the fetch log
(one row per request) and the health view (one row per source, last run ok, the right
document count) are correct. Figures only; nothing is asserted by a timed test.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import text

from regwatch.app import App
from regwatch.config import SourceConfig, load_config
from regwatch.db.session import make_engine, upgrade
from regwatch.pipeline import run_sources


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.starts: dict[int, list[float]] = defaultdict(list)
        self.inflight: dict[int, int] = defaultdict(int)
        self.peak: dict[int, int] = defaultdict(int)
        self.count = 0


def make_server(rec: Recorder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            port = self.server.server_address[1]
            with rec.lock:
                rec.starts[port].append(time.monotonic())
                rec.inflight[port] += 1
                rec.peak[port] = max(rec.peak[port], rec.inflight[port])
                rec.count += 1
            try:
                if self.path == "/robots.txt":
                    body, status = b"User-agent: *\nAllow: /\n", 200
                else:
                    body = (f"<html><head><title>{self.path}</title></head><body><div id=main>"
                            f"<h1>Notice {self.path}</h1>" + "<p>輸出貿易管理令 export control text.</p>" * 30
                            + "</div></body></html>").encode()
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                with rec.lock:
                    rec.inflight[port] -= 1

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, default=1000)
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--interval", type=float, default=0.01, help="min_interval_s per host")
    ap.add_argument("--db", default="sqlite", help="sqlite (a temporary file) or a database URL")
    args = ap.parse_args()

    rec = Recorder()
    servers = [make_server(rec) for _ in range(args.hosts)]
    bases = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    with tempfile.TemporaryDirectory(prefix="regwatch-load-") as tmp:
        db_url = f"sqlite:///{tmp}/load.db" if args.db == "sqlite" else args.db
        sources = tuple(
            SourceConfig(name=f"load-{i:04d}", scraper="page",
                         urls=[f"{bases[i % args.hosts]}/s{i}/p{j}.html" for j in range(args.pages)],
                         options={"selector": "#main"})
            for i in range(args.sources))
        cfg = load_config(None, env={})
        cfg = dataclasses.replace(
            cfg, data_dir=f"{tmp}/data", database=dataclasses.replace(cfg.database, url=db_url),
            sources=sources, fetch=dataclasses.replace(cfg.fetch, min_interval_s=args.interval,
                                                       per_host_connections=1, retries=0))
        engine = make_engine(db_url)
        upgrade(engine)
        app = App(cfg)
        started = time.monotonic()
        results = run_sources(app, [], progress=False)
        wall = time.monotonic() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with engine.connect() as conn:
            fetch_rows = conn.execute(text("SELECT count(*) FROM fetch_log")).scalar_one()
            fetch_errors = conn.execute(text("SELECT count(*) FROM fetch_log WHERE error IS NOT NULL")).scalar_one()
            documents = conn.execute(text("SELECT count(*) FROM documents")).scalar_one()
            health = conn.execute(text("SELECT source, last_status, last_documents_seen FROM v_source_health")).all()
        app.close()
        engine.dispose()
    for s in servers:
        s.shutdown()

    statuses = defaultdict(int)
    for r in results:
        statuses[r.status] += 1
    expected_docs = args.sources * args.pages
    print(f"sources {args.sources} × pages {args.pages} on {args.hosts} hosts, "
          f"min_interval_s {args.interval}, database {'sqlite' if args.db == 'sqlite' else 'url'}")
    print(f"wall time           {wall:8.1f} s   ({rec.count / wall:.0f} requests/s)")
    print(f"peak RSS            {peak_mb:8.1f} MB  ({'under' if peak_mb < 500 else 'OVER'} 500 MB)")
    print(f"run results         {dict(statuses)}")
    print(f"server requests     {rec.count}")
    all_gaps, violations, peaks = [], 0, []
    for port, starts in rec.starts.items():
        starts.sort()
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        all_gaps += gaps
        violations += sum(g < args.interval * 0.9 for g in gaps)  # 10 % for timer granularity
        peaks.append(rec.peak[port])
    if all_gaps:
        q = statistics.quantiles(all_gaps, n=100)
        print(f"request spacing     min {min(all_gaps) * 1000:.1f} ms, p1 {q[0] * 1000:.1f} ms, "
              f"median {statistics.median(all_gaps) * 1000:.1f} ms; "
              f"{violations} gaps under {args.interval * 1000:.0f} ms (-10%)")
    print(f"in flight per host  at most {max(peaks)} (per_host_connections 1)")
    print(f"fetch_log           {fetch_rows} rows for {rec.count} requests "
          f"({'correct' if fetch_rows == rec.count else 'WRONG'}), {fetch_errors} with errors")
    ok_health = [h for h in health if h.last_status == "ok" and h.last_documents_seen == args.pages]
    print(f"health view         {len(health)} sources, {len(ok_health)} ok with {args.pages} documents "
          f"({'correct' if len(ok_health) == args.sources == len(health) else 'WRONG'})")
    print(f"documents stored    {documents} of {expected_docs} "
          f"({'correct' if documents == expected_docs else 'WRONG'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
