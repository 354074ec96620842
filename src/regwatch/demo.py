"""`regwatch demo`: the embedded default, with no network.

Replays the bundled recorded sources (demo_data/story.toml) week by week through the
production pipeline — same scrapers, fetcher, normaliser, database and reporters — from
a loopback server, on a fresh SQLite database in the output folder. Then writes the HTML
and JSON report and each week's digest e-mails.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from datetime import date
from pathlib import Path

import click

from regwatch.app import App
from regwatch.config import Config, SourceConfig, SubscriberConfig
from regwatch.demo_server import ReplayServer, load_story, mirrors

log = logging.getLogger(__name__)

DEMO_DATA = Path(__file__).parent / "demo_data"


def demo_config(base: Config, out_dir: Path, server: ReplayServer) -> Config:
    """The production configuration, fetching from the replay server (as a mirror of the
    real sites: their URLs are what is stored and shown)."""
    story = server.story
    sources = (
        SourceConfig(name="egov-law", scraper="egov_law", url=story.egov_base,
                     options={"law_ids": sorted({r.law_id for r in story.revisions})}),
        SourceConfig(name="meti-press-ja", scraper="meti_press",
                     url="https://www.meti.go.jp/ml_index_release_atom.xml",
                     options={"language": "ja"}),
        SourceConfig(name="meti-press-en", scraper="meti_press",
                     url="https://www.meti.go.jp/english/press/index.html",
                     options={"language": "en"}),
        SourceConfig(name="meti-anpo", scraper="meti_anpo",
                     url="https://www.meti.go.jp/policy/anpo/index.html"),
        *(SourceConfig(name=f"press-{f.file.split('/')[-1].split('.')[0]}", scraper="press",
                       urls=[f.url], options=_press_options(f.file))
          for f in story.feeds if f.file.startswith("press/")),
    )
    # The replay server is on loopback: no need to be gentle with it.
    fetch = dataclasses.replace(base.fetch, min_interval_s=0.0, per_host_connections=4,
                                retries=1, backoff_s=0.05, timeout_s=10.0,
                                mirrors=mirrors(story, server.base))
    subscribers = (
        SubscriberConfig(email="compliance-team@example.com", language="en", name="Compliance team"),
        SubscriberConfig(email="anpo-tantou@example.jp", language="ja", name="安全保障貿易管理担当",
                         categories=["semiconductor", "quantum"]),
    )
    digest = dataclasses.replace(base.digest, report_url=(out_dir / "report.html").resolve().as_uri())
    return dataclasses.replace(
        base, data_dir=str(out_dir / "data"), database=dataclasses.replace(
            base.database, url=f"sqlite:///{(out_dir / 'regwatch.db').resolve()}"),
        fetch=fetch, sources=sources, subscribers=subscribers, digest=digest,
        base_dir=out_dir)


def explore_config(config: Config) -> str:
    """A config naming the demo database and subscribers, so that every other command can
    look at the demo history (`digest --dry-run DIR --as-known-at T` replays its digests).
    Values are written as JSON strings and arrays, which TOML reads alike."""
    q = json.dumps
    lines = ["# Written by `regwatch demo`: point other commands at the demo history.",
             f"data_dir = {q(config.data_dir)}", "", "[database]", f"url = {q(config.database.url)}",
             "", "[digest]", f"report_url = {q(config.digest.report_url)}"]
    for sub in config.subscribers:
        lines += ["", "[[subscriber]]", f"email = {q(sub.email)}", f"language = {q(sub.language)}",
                  f"name = {q(sub.name, ensure_ascii=False)}",
                  f"categories = {q(list(sub.categories), ensure_ascii=False)}"]
    return "\n".join(lines) + "\n"


def _press_options(file: str) -> dict:
    name = file.split("/")[-1]
    options = {"outlet": _OUTLETS.get(name.split(".")[0], name.split(".")[0])}
    if name.startswith("nikkei"):
        options["headline_only"] = True  # paywalled: headline, summary and link only
    return options


_OUTLETS = {"japantimes": "The Japan Times", "nikkei-asia": "Nikkei Asia",
            "nippon-en": "nippon.com", "sangyo-ja": "産業新聞", "kyodo-truncated": "Kyodo News"}


def run_demo(base: Config, out_dir: Path) -> None:
    from regwatch.db.session import upgrade
    from regwatch.digest.command import run_digest
    from regwatch.pipeline import run_sources
    from regwatch.report.command import build_report

    started = time.monotonic()
    out_dir = out_dir.resolve()
    for stale in ("regwatch.db", "regwatch.db-wal", "regwatch.db-shm", "data", "digests"):
        target = out_dir / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    story = load_story(DEMO_DATA)
    with ReplayServer(story, etags=True) as server:  # METI answers conditional requests
        config = demo_config(base, out_dir, server)
        app = App(config)
        try:
            upgrade(app.engine)
            for step in story.steps:
                click.echo(f"== {step.at:%Y-%m-%d} {step.label}", err=True)
                server.set_moment(step.at)
                for result in run_sources(app, [], progress=False, now=step.at):
                    click.echo(f"   {result.summary()}", err=True)
                week_dir = out_dir / "digests" / f"{step.at:%Y-%m-%d}"
                outcome = run_digest(app, week_of=step.at.date(), dry_run_dir=week_dir, send=False,
                                     now=step.at)
                click.echo(f"   digest: {outcome.summary()}", err=True)
            since, until = date(2022, 1, 1), story.steps[-1].at.date()
            for fmt in ("html", "json", "md"):
                text = build_report(app, since=since, until=until, by=None, as_known_at=None,
                                    categories=[], instruments=[], fmt=fmt)
                (out_dir / f"report.{fmt}").write_text(text, encoding="utf-8")
            summary = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
        finally:
            app.close()
    (out_dir / "regwatch.toml").write_text(explore_config(config), encoding="utf-8")
    changes = summary.get("changes", [])
    outside = [c for c in changes if c.get("outside_wassenaar")]
    emls = sorted((out_dir / "digests").rglob("*.eml"))
    click.echo(f"regwatch demo finished in {time.monotonic() - started:.1f} s")
    click.echo(f"  report:   {out_dir / 'report.html'}")
    click.echo(f"  json:     {out_dir / 'report.json'}")
    click.echo(f"  digests:  {len(emls)} e-mails under {out_dir / 'digests'}")
    click.echo(f"  database: {out_dir / 'regwatch.db'}")
    click.echo(f"  explore:  regwatch --config {out_dir / 'regwatch.toml'} status | report | query | diff")
    click.echo(f"  {len(changes)} control-list changes; {len(outside)} outside the Wassenaar "
               "Arrangement")
