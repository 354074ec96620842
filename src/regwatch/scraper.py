"""The Scraper base class: a kind, an Options dataclass, one `scrape` method.

A scraper knows one kind of source. It fetches only through the FetchContext it is
given, yields Documents, and never touches the database. Parsing belongs in
`regwatch.normalise`; a scraper only decides what to fetch next.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from regwatch.errors import ConfigError

if TYPE_CHECKING:
    from regwatch.config import SourceConfig
    from regwatch.fetch.context import FetchContext
    from regwatch.models import Document


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """A scraper kind without options of its own."""


class Scraper:
    kind: ClassVar[str]
    Options: ClassVar[type] = NoOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.__dict__.get("kind"), str):
            raise TypeError(f"{cls.__name__} must declare `kind = \"...\"`")
        if not dataclasses.is_dataclass(cls.Options):
            raise TypeError(f"{cls.__name__}.Options must be a dataclass")

    def __init__(self, source: SourceConfig):
        self.source = source
        self.options = parse_options(self.Options, source.options, source.name)

    def scrape(self, ctx: FetchContext) -> Iterator[Document]:
        raise NotImplementedError


def parse_options(cls: type, raw: dict[str, Any], source_name: str) -> Any:
    """Build the Options dataclass from a [[source]] table, naming any bad key."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        if key not in fields:
            expected = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"unknown key for this scraper; its keys are: {expected}",
                              key=f"source.{source_name}.{key}")
        _check(value, hints[key], f"source.{source_name}.{key}")
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ConfigError(str(exc), key=f"source.{source_name}") from None


def _check(value: Any, kind: Any, key: str) -> None:
    origin = typing.get_origin(kind)
    if origin is typing.Union or type(kind).__name__ == "UnionType":
        if any(_ok(value, k) for k in typing.get_args(kind)):
            return
    elif _ok(value, kind):
        return
    raise ConfigError(f"wrong type {type(value).__name__}, expected {kind}", key=key)


def _ok(value: Any, kind: Any) -> bool:
    if kind is type(None):
        return value is None
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    origin = typing.get_origin(kind) or kind
    if origin in (list, tuple):
        args = typing.get_args(kind)
        return isinstance(value, list) and (not args or all(_ok(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, origin) and not (origin is int and isinstance(value, bool))
