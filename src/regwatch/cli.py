"""The `regwatch` command line. Commands only parse options and delegate.

Exit codes: 0 success, 1 failure, 2 bad usage or configuration. Logs go to stderr,
data to stdout or `-o FILE`.
"""

from __future__ import annotations

import importlib
import logging
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from regwatch import __version__
from regwatch.app import App, setup_logging
from regwatch.config import load_config
from regwatch.errors import ConfigError, RegwatchError, UsageError

log = logging.getLogger(__name__)


def _delegate(target: str, *args: Any, **kwargs: Any) -> Any:
    """Call "module:function" (imported only when the command runs, to keep start-up fast)."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(*args, **kwargs)


def _app(ctx: click.Context) -> App:
    return ctx.find_object(App)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        log.info("wrote %s", output)


class _Date(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: Any, ctx: Any) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date in the form YYYY-MM-DD", param, ctx)


class _DateTime(click.ParamType):
    name = "DATETIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date-time (e.g. 2024-09-01T09:00+09:00)",
                      param, ctx)


DATE, DATETIME = _Date(), _DateTime()
OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                      help="Write to FILE instead of standard output.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="REGWATCH_CONFIG",
              help="TOML file merged over the defaults (it need only name what differs).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.version_option(__version__, prog_name="regwatch")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """regwatch: track changes to export-control lists, dated and sourced.

    Scrapes official sources (e-Gov law texts, METI releases) and trade press, keeps a
    history database, and reports what changed as diffs, digests and exports.
    """
    config = load_config(config_path)
    setup_logging("DEBUG" if verbose else config.log_level, [config.smtp_password or ""])
    app = App(config)
    ctx.obj = app
    ctx.call_on_close(app.close)


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the history database, or upgrade it to the current schema."""
    from regwatch.db.session import current_revision, upgrade

    app = _app(ctx)
    upgrade(app.engine)
    click.echo(f"database ready at schema {current_revision(app.engine)}: "
               f"{app.engine.url.render_as_string(hide_password=True)}")


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("regwatch-demo"), show_default=True,
              help="Folder for the demo database, report and digest e-mails.")
@click.pass_context
def demo(ctx: click.Context, out_dir: Path) -> None:
    """Replay the bundled recorded sources through the whole pipeline (no network).

    Serves recorded METI, e-Gov and press responses from a local HTTP server on
    127.0.0.1, runs them week by week on a fresh SQLite database, and writes the HTML and
    JSON report and the digest e-mails to --out.
    """
    _delegate("regwatch.demo:run_demo", _app(ctx).config, out_dir)


@cli.command()
@click.option("--source", "sources", multiple=True, metavar="NAME",
              help="Run only this source (repeatable). Default: every enabled source.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: only on a terminal).")
@click.pass_context
def fetch(ctx: click.Context, sources: tuple[str, ...], progress: bool | None) -> None:
    """Run the pipeline once: fetch, store, normalise, derive changes."""
    results = _delegate("regwatch.pipeline:run_sources", _app(ctx), list(sources),
                        progress=progress)
    failed = [r for r in results if r.status == "failed"]
    for r in results:
        click.echo(r.summary())
    if failed:
        raise SystemExit(1)


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the scheduler service: each source on its cron schedule, the weekly digest."""
    _delegate("regwatch.service:run_service", _app(ctx))


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--as-known-at", type=DATETIME,
              help="Health as it stood at this moment (audit replay): runs finished by then.")
@click.pass_context
def status(ctx: click.Context, fmt: str, as_known_at: datetime | None) -> None:
    """Show per-source health: last attempt and success, failures, last error."""
    from regwatch.db.session import require_schema
    from regwatch.health import format_health, scheduler_line, source_health

    app = _app(ctx)
    require_schema(app.engine)
    if as_known_at is not None and as_known_at.tzinfo is None:
        as_known_at = as_known_at.replace(tzinfo=app.config.tz)
    click.echo(format_health(source_health(app.engine, app.config, as_known_at=as_known_at), fmt),
               nl=False)
    if fmt == "table" and as_known_at is None:  # the lease is now, not then
        click.echo(scheduler_line(app.engine), nl=False)


@cli.command()
@click.option("--since", required=True, type=DATE, help="Start of the window (inclusive).")
@click.option("--until", type=DATE, help="End of the window (inclusive). Default: today.")
@click.option("--by", type=click.Choice(["announced", "effective", "observed"]),
              help="Which date the window applies to. Default: any of the three. A change "
                   "an earlier parse missed counts as observed when regwatch found it.")
@click.option("--as-known-at", type=DATETIME,
              help="Only what regwatch had observed by this moment (audit replay).")
@click.option("--category", "categories", multiple=True, metavar="TAG",
              help="Only changes with this category tag (repeatable).")
@click.option("--instrument", "instruments", multiple=True, metavar="LAW_ID",
              help="Only changes to this instrument (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["html", "json", "csv", "md", "atom"]),
              default="html", show_default=True)
@OUTPUT
@click.pass_context
def report(ctx: click.Context, since: date, until: date | None, by: str | None,
           as_known_at: datetime | None, categories: tuple[str, ...],
           instruments: tuple[str, ...], fmt: str, output: Path | None) -> None:
    """Report what changed in a window of dates."""
    text = _delegate("regwatch.report.command:build_report", _app(ctx), since=since,
                     until=until, by=by, as_known_at=as_known_at, categories=list(categories),
                     instruments=list(instruments), fmt=fmt)
    _write(text, output)


@cli.command()
@click.option("--week-of", type=DATE, help="Any date in the digest week. Default: the last week that has ended.")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR", help="Write each subscriber's message as .eml to DIR; send nothing.")
@click.option("--send", is_flag=True, help="Send by SMTP and record each delivery.")
@click.option("--as-known-at", type=DATETIME,
              help="With --dry-run: the digest as regwatch built it at this moment (audit "
                   "replay). Default week: the last one ended by then.")
@click.pass_context
def digest(ctx: click.Context, week_of: date | None, dry_run: Path | None, send: bool,
           as_known_at: datetime | None) -> None:
    """Build the weekly digest for every subscriber; write it (--dry-run) or send it."""
    if bool(dry_run) == send:
        raise UsageError("give exactly one of --dry-run DIR or --send")
    outcome = _delegate("regwatch.digest.command:run_digest", _app(ctx), week_of=week_of,
                        dry_run_dir=dry_run, send=send, as_known_at=as_known_at)
    click.echo(outcome.summary())
    if outcome.failed:
        raise SystemExit(1)


@cli.command()
@click.option("--old", "old_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Law XML of the older revision.")
@click.option("--new", "new_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Law XML of the newer revision.")
@click.option("--law", "law_id", metavar="LAW_ID", help="A law ID in the history database.")
@click.option("--from", "from_date", type=DATE, help="With --law: the text in force on this date…")
@click.option("--to", "to_date", type=DATE, help="…compared with the text in force on this date.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text",
              show_default=True)
@OUTPUT
@click.pass_context
def diff(ctx: click.Context, old_file: Path | None, new_file: Path | None, law_id: str | None,
         from_date: date | None, to_date: date | None, fmt: str, output: Path | None) -> None:
    """Structural, provision-by-provision diff of two law texts.

    Either two files (--old A.xml --new B.xml) or the stored history of one law between
    two dates (--law LAW_ID --from DATE --to DATE).
    """
    if old_file and new_file and not law_id:
        text = _delegate("regwatch.lawdiff:diff_files", old_file, new_file, fmt)
    elif law_id and from_date and to_date and not (old_file or new_file):
        text = _delegate("regwatch.lawdiff:diff_stored", _app(ctx), law_id, from_date, to_date, fmt)
    else:
        raise UsageError("give either --old FILE --new FILE, or --law LAW_ID --from DATE --to DATE")
    _write(text, output)


@cli.command()
@click.option("--kind", required=True, type=click.Choice(["meti_press", "press", "egov_law"]),
              help="Which normaliser reads the files.")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@OUTPUT
def extract(kind: str, files: tuple[Path, ...], output: Path | None) -> None:
    """Print what a normaliser extracts from FILES, as JSON (no database)."""
    _write(_delegate("regwatch.extract:extract_files", kind, list(files)), output)


@cli.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@OUTPUT
@click.pass_context
def query(ctx: click.Context, sql: str, fmt: str, output: Path | None) -> None:
    """Run one read-only SQL statement against the history database.

    The views v_changes, v_document_changes and v_source_health are made for this.
    Writes of any kind are refused (exit code 2).
    """
    from regwatch.db.readonly import run_read_only
    from regwatch.output import format_rows

    result = run_read_only(_app(ctx).config.database_url, sql)
    _write(format_rows(result.columns, result.rows, fmt), output)


@cli.command()
@click.option("--source", "sources", multiple=True, metavar="NAME",
              help="Only documents of this source (repeatable).")
@click.pass_context
def reprocess(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Re-derive every record from stored snapshots with the current parsers (no fetching).

    Differences are reported as parser changes. A change the earlier parse missed is
    recorded now: this week's digest lists it, marked "found late". A change regwatch had
    shown and no longer finds is retracted: this week's digest lists it as such.
    """
    outcome = _delegate("regwatch.reprocess:reprocess", _app(ctx), list(sources))
    click.echo(outcome.summary())


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="regwatch", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except (ConfigError, UsageError) as exc:
        click.echo(f"regwatch: error: {exc}", err=True)
        return 2
    except RegwatchError as exc:
        click.echo(f"regwatch: failed: {exc}", err=True)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
