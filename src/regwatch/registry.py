"""The table of contents of what regwatch can scrape: kind → Scraper class.

`discover()` imports every module of the `scrapers` package and returns a fresh mapping
(no global registry), refusing two classes with the same kind.
"""

from __future__ import annotations

import importlib
import pkgutil

from regwatch.config import Config, SourceConfig
from regwatch.errors import ConfigError
from regwatch.scraper import Scraper


def discover(package: str = "scrapers", names: set[str] | None = None) -> dict[str, type[Scraper]]:
    """`names`: import only these modules (a kind is its module's name), not every scraper."""
    pkg = importlib.import_module(package)
    kinds: dict[str, type[Scraper]] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_") or (names is not None and info.name not in names):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Scraper) and obj is not Scraper \
                    and obj.__module__ == module.__name__:
                if obj.kind in kinds and kinds[obj.kind] is not obj:
                    raise TypeError(f"two scrapers declare kind {obj.kind!r}: "
                                    f"{kinds[obj.kind].__module__} and {obj.__module__}")
                kinds[obj.kind] = obj
    return kinds


def build_scraper(source: SourceConfig, kinds: dict[str, type[Scraper]] | None = None) -> Scraper:
    kinds = discover() if kinds is None else kinds
    if source.scraper not in kinds:
        raise ConfigError(f"unknown scraper {source.scraper!r}; available: {', '.join(sorted(kinds))}",
                          key=f"source.{source.name}.scraper")
    return kinds[source.scraper](source)


def check_sources(config: Config, kinds: dict[str, type[Scraper]] | None = None) -> None:
    """Build every enabled source's scraper once, so bad options fail before any work,
    naming the configuration file."""
    kinds = discover() if kinds is None else kinds
    for source in config.sources:
        if not source.enabled:
            continue
        try:
            build_scraper(source, kinds)
        except ConfigError as exc:
            raise ConfigError(exc.reason, file=exc.file or config.file or None, key=exc.key) from None
