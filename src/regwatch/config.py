"""Configuration: TOML defaults, merged with a user file and REGWATCH_* environment variables.

Every setting is declared once, as a dataclass field with a default and a ``help`` text;
validation, the README's key table and the meta-test all read those declarations.
Secrets never live in files: the SMTP password comes only from REGWATCH_SMTP_PASSWORD.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from regwatch.errors import ConfigError
from regwatch.resources import default_config_path, resource_dir

SECRET_ENV = {"smtp.password": "REGWATCH_SMTP_PASSWORD"}


def _help(text: str, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": text}, **kw)
    return field(default=default, metadata={"help": text}, **kw)


@dataclass(frozen=True)
class FetchConfig:
    user_agent: str = _help(
        "User-Agent sent with every request; name the operator and a contact.",
        "regwatch/0.1 (export-control change tracker; +https://github.com/regwatch/regwatch)",
    )
    max_connections: int = _help("Global limit of requests in flight.", 8)
    per_host_connections: int = _help("Limit of requests in flight to one host.", 1)
    min_interval_s: float = _help("Minimum seconds between two requests to one host.", 2.0)
    timeout_s: float = _help("Total time allowed for one request (connect, read, body).", 30.0)
    connect_timeout_s: float = _help("Time allowed to connect.", 10.0)
    max_body_bytes: int = _help("Largest body accepted; a larger one is aborted.", 20_000_000)
    retries: int = _help("Retries after the first attempt on timeouts, 429, 5xx.", 3)
    backoff_s: float = _help("First retry delay; doubles each retry, with jitter.", 1.0)
    max_retry_after_s: float = _help("Longest Retry-After honoured; longer waits fail the URL.", 120.0)
    respect_robots: bool = _help("Honour robots.txt (cached per host).", True)
    mirrors: dict[str, str] = _help(
        "Fetch the URLs of an origin from a mirror, e.g. {\"https://www.meti.go.jp\" = "
        "\"http://127.0.0.1:8080/www.meti.go.jp\"}: the path follows the mirror's base; "
        "documents, links, allowed_hosts and robots.txt keep the original URLs.", {})


FETCH_KEYS = tuple(f.name for f in dataclasses.fields(FetchConfig))


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = _help(
        "SQLAlchemy URL of the history database; empty means sqlite:///<data_dir>/regwatch.db.", ""
    )


@dataclass(frozen=True)
class SmtpConfig:
    host: str = _help("SMTP server host.", "localhost")
    port: int = _help("SMTP server port.", 587)
    security: str = _help("starttls, tls (implicit) or none.", "starttls")
    username: str = _help("SMTP user; the password comes from REGWATCH_SMTP_PASSWORD.", "")
    sender: str = _help("From address of digests.", "regwatch@localhost")
    timeout_s: float = _help("SMTP connection timeout.", 30.0)


@dataclass(frozen=True)
class DigestConfig:
    week_start_day: str = _help("Weekday a digest week starts on.", "monday")
    week_start_time: str = _help("Local time (HH:MM, in `timezone`) a digest week starts.", "09:00")
    schedule: str = _help("Cron schedule of the digest job in `regwatch run`.", "5 9 * * mon")
    empty_week: str = _help("send (a short 'no changes' note) or skip.", "send")
    report_url: str = _help("Link to the full report shown in digests; empty: none.", "")
    max_attempts: int = _help("Sending attempts per subscriber and period before giving up.", 5)


@dataclass(frozen=True)
class SchedulerConfig:
    misfire_grace_time_s: int = _help("A job that missed its time by less than this still runs.", 3600)
    lock_ttl_s: int = _help("Seconds after which a silent scheduler's lock may be taken over.", 120)
    stop_grace_s: float = _help("On SIGTERM/SIGINT, how long runs in progress may take to finish.", 30.0)


@dataclass(frozen=True)
class SourceConfig:
    name: str = _help("Unique kebab-case name of the source.")
    scraper: str = _help("Scraper kind: the module name in scrapers/.")
    url: str = _help("Base or index URL (or use `urls`).", "")
    urls: list[str] = _help("Several URLs (page watcher, feeds).", [])
    allowed_hosts: list[str] = _help("Hosts that fetches and redirects may reach.", [])
    schedule: str = _help("Cron schedule (5 fields) in `timezone`.", "0 6 * * *")
    enabled: bool = _help("Set false to keep a source configured but idle.", True)
    # Filled from the flat [[source]] table: [fetch] keys go to `fetch`, the rest to `options`.
    fetch: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def fetch_config(self, base: FetchConfig) -> FetchConfig:
        return dataclasses.replace(base, **self.fetch)

    def all_urls(self) -> list[str]:
        return [u for u in [self.url, *self.urls] if u]


@dataclass(frozen=True)
class SubscriberConfig:
    email: str = _help("Recipient address.")
    language: str = _help("en or ja.", "en")
    categories: list[str] = _help("Only changes with one of these category tags.", [])
    jurisdictions: list[str] = _help("Only these jurisdictions (e.g. JP).", [])
    instruments: list[str] = _help("Only these law IDs.", [])
    name: str = _help("Display name.", "")


@dataclass(frozen=True)
class Config:
    data_dir: str = _help("Folder for the SQLite database and the snapshot store.", "regwatch-data")
    timezone: str = _help("Time zone for schedules and digest weeks.", "Asia/Tokyo")
    taxonomy: str = _help("Taxonomy TOML (categories, instruments); empty: bundled.", "")
    regime_map: str = _help("Provision → regime mapping TOML; empty: bundled.", "")
    log_level: str = _help("DEBUG, INFO, WARNING or ERROR.", "INFO")
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    sources: tuple[SourceConfig, ...] = ()
    subscribers: tuple[SubscriberConfig, ...] = ()
    base_dir: Path = field(default=Path("."), metadata={"internal": True})
    file: str = field(default="", metadata={"internal": True})  # named in error messages

    @property
    def data_path(self) -> Path:
        p = Path(self.data_dir).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_path / 'regwatch.db'}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def smtp_password(self) -> str | None:
        return os.environ.get(SECRET_ENV["smtp.password"]) or None

    def taxonomy_path(self) -> Path:
        return self._path_or_bundled(self.taxonomy, "taxonomy.toml")

    def regime_map_path(self) -> Path:
        return self._path_or_bundled(self.regime_map, "regime_map.toml")

    def _path_or_bundled(self, value: str, default_name: str) -> Path:
        if not value:
            return resource_dir("config") / default_name
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError(f"no source named {name!r}; configured: "
                          + ", ".join(s.name for s in self.sources), key="source")


SECTIONS: dict[str, type] = {
    "database": DatabaseConfig,
    "fetch": FetchConfig,
    "smtp": SmtpConfig,
    "digest": DigestConfig,
    "scheduler": SchedulerConfig,
}
SOURCE_KEYS = {f.name for f in dataclasses.fields(SourceConfig)} - {"fetch", "options"}


# ---------------------------------------------------------------- loading


def load_config(path: str | Path | None = None, *, env: dict[str, str] | None = None) -> Config:
    """Defaults, then the user's file (only what differs), then REGWATCH_* variables."""
    env = os.environ if env is None else env
    default_file = default_config_path()
    raw = read_toml(default_file)
    base_dir = Path.cwd()
    user_file: Path | None = None
    if path is None and env.get("REGWATCH_CONFIG"):
        path = env["REGWATCH_CONFIG"]
    if path is not None:
        user_file = Path(path)
        user = read_toml(user_file)
        raw = _merge(raw, user)
        base_dir = user_file.resolve().parent
    raw = _apply_env(raw, env)
    return _build(raw, str(user_file or default_file), base_dir)


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is a ConfigError naming it."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; arrays of tables ([[source]]) replace the default list."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _apply_env(raw: dict[str, Any], env: typing.Mapping[str, str]) -> dict[str, Any]:
    """REGWATCH_<SECTION>_<KEY> or REGWATCH_<KEY> overrides a scalar setting."""
    out = _merge(raw, {})
    top_keys = {f.name for f in dataclasses.fields(Config)} - set(SECTIONS) - {"base_dir", "file", "sources",
                                                                                "subscribers"}
    for name, value in env.items():
        if not name.startswith("REGWATCH_") or name in SECRET_ENV.values() or name == "REGWATCH_CONFIG":
            continue
        rest = name[len("REGWATCH_"):].lower()
        for section, cls in SECTIONS.items():
            key = rest[len(section) + 1:]
            if rest.startswith(section + "_") and key in {f.name for f in dataclasses.fields(cls)}:
                out.setdefault(section, {})
                out[section] = {**out[section], key: _coerce_env(value, cls, key, name)}
                break
        else:
            if rest in top_keys:
                out[rest] = value
    return out


def _coerce_env(value: str, cls: type, key: str, var: str) -> Any:
    kind = typing.get_type_hints(cls)[key]
    try:
        if kind is bool:
            if value.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(value)
            return value.lower() in {"1", "true", "yes"}
        if typing.get_origin(kind) in (dict, list):  # a JSON object or array
            return json.loads(value)
        return kind(value) if kind in (int, float, str) else value
    except ValueError:
        name = {dict: "a JSON object", list: "a JSON array"}.get(typing.get_origin(kind))
        raise ConfigError(f"environment variable {var}={value!r} is not "
                          f"{name or _kind_name(kind)}") from None


def _build(raw: dict[str, Any], file: str, base_dir: Path) -> Config:
    raw = dict(raw)
    if "password" in raw.get("smtp", {}):
        raise ConfigError("secrets do not belong in files; set REGWATCH_SMTP_PASSWORD",
                          file=file, key="smtp.password")
    sections = {name: _section(cls, raw.pop(name, {}), file, name) for name, cls in SECTIONS.items()}
    sources = tuple(_source(s, file, i) for i, s in enumerate(_table_list(raw.pop("source", []), file, "source")))
    subscribers = tuple(
        _section(SubscriberConfig, s, file, f"subscriber[{i}]")
        for i, s in enumerate(_table_list(raw.pop("subscriber", []), file, "subscriber"))
    )
    top = _section(Config, raw, file, "", exclude={"base_dir", "file", "sources", "subscribers", *SECTIONS})
    cfg = dataclasses.replace(top, **sections, sources=sources, subscribers=subscribers, base_dir=base_dir,
                              file=file)
    _check(cfg, file)
    return cfg


def _table_list(value: Any, file: str, key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"must be an array of tables ([[{key}]])", file=file, key=key)
    return value


def _section(cls: type, table: Any, file: str, prefix: str, exclude: set[str] | frozenset = frozenset()):
    if not isinstance(table, dict):
        raise ConfigError("must be a table", file=file, key=prefix)
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in exclude}
    values: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in known:
            raise ConfigError(f"unknown key; expected one of: {', '.join(sorted(known))}",
                              file=file, key=dotted)
        values[key] = _check_type(value, hints[key], file, dotted)
    missing = [n for n, f in known.items() if f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and n not in values]
    if missing:
        raise ConfigError("required key missing", file=file, key=f"{prefix}.{missing[0]}" if prefix else missing[0])
    return cls(**values)


def _check_mirrors(mirrors: dict[str, Any], file: str, key: str) -> None:
    from urllib.parse import urlsplit

    for origin, base in mirrors.items():
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ConfigError(f"{origin!r} is not an origin (scheme://host[:port])", file=file,
                              key=key)
        if not isinstance(base, str) or urlsplit(base).scheme not in ("http", "https"):
            raise ConfigError(f"mirror of {origin} must be an http(s) URL, got {base!r}",
                              file=file, key=key)


def _check_type(value: Any, kind: Any, file: str, key: str) -> Any:
    origin = typing.get_origin(kind)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, str, bool, float):
        if type(value) is not kind:
            raise ConfigError(f"must be {_kind_name(kind)}, got {value!r}", file=file, key=key)
        return value
    if origin is list:
        (item,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ConfigError(f"must be a list of {_kind_name(item)}", file=file, key=key)
        return [_check_type(v, item, file, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError("must be a table", file=file, key=key)
        return value
    if isinstance(kind, types.UnionType):
        return value
    return value


def _kind_name(kind: Any) -> str:
    return {int: "an integer", str: "a string", bool: "true or false", float: "a number"}.get(kind, str(kind))


def _source(table: dict[str, Any], file: str, index: int) -> SourceConfig:
    prefix = f"source[{index}]" if "name" not in table else f"source.{table['name']}"
    common = {k: v for k, v in table.items() if k in SOURCE_KEYS}
    fetch = {k: v for k, v in table.items() if k in FETCH_KEYS}
    options = {k: v for k, v in table.items() if k not in SOURCE_KEYS and k not in FETCH_KEYS}
    if "fetch" in table or "options" in table:
        raise ConfigError("put fetch overrides and scraper options directly in the [[source]] table",
                          file=file, key=f"{prefix}.{'fetch' if 'fetch' in table else 'options'}")
    hints = typing.get_type_hints(FetchConfig)
    fetch = {k: _check_type(v, hints[k], file, f"{prefix}.{k}") for k, v in fetch.items()}
    src = _section(SourceConfig, common, file, prefix)
    return dataclasses.replace(src, fetch=fetch, options=options)


def _check(cfg: Config, file: str) -> None:
    try:
        ZoneInfo(cfg.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {cfg.timezone!r}", file=file, key="timezone") from None
    if cfg.smtp.security not in {"starttls", "tls", "none"}:
        raise ConfigError("must be starttls, tls or none", file=file, key="smtp.security")
    if cfg.digest.empty_week not in {"send", "skip"}:
        raise ConfigError("must be send or skip", file=file, key="digest.empty_week")
    if cfg.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("must be DEBUG, INFO, WARNING or ERROR", file=file, key="log_level")
    _check_cron(cfg.digest.schedule, file, "digest.schedule", cfg.timezone)
    _check_mirrors(cfg.fetch.mirrors, file, "fetch.mirrors")
    seen: set[str] = set()
    for src in cfg.sources:
        key = f"source.{src.name}"
        if src.name in seen:
            raise ConfigError("duplicate source name", file=file, key=key + ".name")
        seen.add(src.name)
        if not src.all_urls() and not src.options.get("urls_file"):
            raise ConfigError("needs `url`, `urls` or (page sources) `urls_file`", file=file, key=key)
        _check_cron(src.schedule, file, key + ".schedule", cfg.timezone)
        _check_mirrors(src.fetch.get("mirrors", {}), file, key + ".mirrors")
    for i, sub in enumerate(cfg.subscribers):
        if "@" not in sub.email or any(c in sub.email for c in "\r\n<>,; "):
            raise ConfigError("not an e-mail address", file=file, key=f"subscriber[{i}].email")
        if sub.language not in {"en", "ja"}:
            raise ConfigError("must be en or ja", file=file, key=f"subscriber[{i}].language")


def _check_cron(expr: str, file: str, key: str, tz: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expr, timezone=tz)
    except ValueError as exc:
        raise ConfigError(f"invalid cron expression {expr!r}: {exc}", file=file, key=key) from None


def settings_help() -> list[tuple[str, str, str]]:
    """(key, default, help) for every setting: the README table is checked against this."""
    rows: list[tuple[str, str, str]] = []
    for prefix, cls in [("", Config), *SECTIONS.items(), ("source", SourceConfig), ("subscriber", SubscriberConfig)]:
        for f in dataclasses.fields(cls):
            if "help" not in f.metadata:
                continue
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else "(required)")
            rows.append((f"{prefix}.{f.name}" if prefix else f.name, repr(default), f.metadata["help"]))
    return rows
