"""The taxonomy: which texts are export-control news, which instruments and categories they name.

Loaded from config/taxonomy.toml (see the comments there for the format and the matching
rules). Pure after loading: every query takes a text and returns tags, with the matched
terms available for evidence quotes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regwatch.errors import ConfigError

_EDGE = "A-Za-z0-9"
_JOINERS = re.compile(r"[\s\-\u2010-\u2015・]+")  # space/hyphen/nakaguro runs inside a term
_JOIN_PATTERN = r"[\s\-\u2010-\u2015・]*"


def fold(text: str) -> str:
    """NFKC (full-width ASCII → half-width, compatibility kanji) and casefold, length-stable enough
    for matching; quotes are always taken from the original text, never from this."""
    return unicodedata.normalize("NFKC", text).casefold()


def _term_pattern(term: str) -> str:
    t = fold(term).strip()
    parts = [re.escape(p) for p in _JOINERS.split(t) if p]
    body = _JOIN_PATTERN.join(parts) if len(parts) > 1 else re.escape(t)
    if t and re.match(f"[{_EDGE}]", t[0]):
        body = f"(?<![{_EDGE}])" + body
    if t and re.match(f"[{_EDGE}]", t[-1]):
        body += f"(?![{_EDGE}])"
    return body


def _compile(terms: list[tuple[str, str]]) -> re.Pattern[str] | None:
    """One alternation of named targets, longest term first so that it wins at one position."""
    if not terms:
        return None
    ordered = sorted(terms, key=lambda tt: len(fold(tt[0])), reverse=True)
    return re.compile("|".join(f"(?:{_term_pattern(t)})" for t, _ in ordered))


@dataclass(frozen=True)
class Match:
    term: str  # the text as matched (folded form)
    target: str  # category id, law ID, or "relevance"
    start: int
    end: int


@dataclass(frozen=True)
class Category:
    id: str
    label_en: str
    label_ja: str
    terms_ja: tuple[str, ...]
    terms_en: tuple[str, ...]


@dataclass(frozen=True)
class Instrument:
    law_id: str
    names_ja: tuple[str, ...]
    names_en: tuple[str, ...]

    @property
    def title_ja(self) -> str:
        return self.names_ja[0] if self.names_ja else self.law_id

    @property
    def title_en(self) -> str:
        return self.names_en[0] if self.names_en else self.law_id


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[Category, ...]
    instruments: tuple[Instrument, ...]
    relevance_terms: tuple[str, ...]
    exclude_terms: tuple[str, ...] = ()
    _patterns: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        # Compiled once per taxonomy; the dict is private to this instance (no module state).
        names = [(n, i.law_id) for i in self.instruments for n in (*i.names_ja, *i.names_en)]
        self._patterns["instrument"] = _compile(names)
        self._patterns["relevance"] = _compile(
            [(t, "relevance") for t in self.relevance_terms] + names)
        self._patterns["exclude"] = _compile([(t, "exclude") for t in self.exclude_terms])
        self._patterns["targets"] = {fold(n).strip(): i.law_id for n, i in
                                     ((n, i) for i in self.instruments
                                      for n in (*i.names_ja, *i.names_en))}
        for c in self.categories:
            self._patterns[f"category:{c.id}"] = _compile(
                [(t, c.id) for t in (*c.terms_ja, *c.terms_en)])

    # ------------------------------------------------------------------ queries

    def categories_in(self, text: str) -> tuple[str, ...]:
        """Category ids whose terms occur in `text`, in taxonomy order."""
        folded = self._masked(text)
        return tuple(c.id for c in self.categories
                     if (p := self._patterns[f"category:{c.id}"]) and p.search(folded))

    def instruments_in(self, text: str) -> tuple[str, ...]:
        """Law IDs named in `text`, in order of first mention, longest name winning overlaps."""
        out: list[str] = []
        for m in self.find_instruments(text):
            if m.target not in out:
                out.append(m.target)
        return tuple(out)

    def find_instruments(self, text: str) -> list[Match]:
        pattern = self._patterns["instrument"]
        if pattern is None:
            return []
        folded = self._masked(text)
        return [Match(m.group(0), self._target_of(m.group(0)), m.start(), m.end())
                for m in pattern.finditer(folded)]

    def relevance_matches(self, text: str) -> list[Match]:
        pattern = self._patterns["relevance"]
        if pattern is None:
            return []
        return [Match(m.group(0), "relevance", m.start(), m.end())
                for m in pattern.finditer(self._masked(text))]

    def is_relevant(self, text: str) -> bool:
        """True when `text` uses an export-control term or names a controlled instrument."""
        return bool(self.relevance_matches(text))

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def instrument(self, law_id: str) -> Instrument | None:
        return next((i for i in self.instruments if i.law_id == law_id), None)

    # ------------------------------------------------------------------ helpers

    def _masked(self, text: str) -> str:
        folded = fold(text)
        ex = self._patterns["exclude"]
        return ex.sub(lambda m: " " * len(m.group(0)), folded) if ex else folded

    def _target_of(self, matched: str) -> str:
        key = matched.strip()
        targets: dict[str, str] = self._patterns["targets"]
        if key in targets:
            return targets[key]
        # Matched with different spacing/hyphenation: compare with joiners removed.
        squeeze = _JOINERS.sub("", key)
        for name, law_id in targets.items():
            if _JOINERS.sub("", name) == squeeze:
                return law_id
        raise AssertionError(f"matched instrument name without a target: {matched!r}")


# ---------------------------------------------------------------------- loading


def _strings(table: dict[str, Any], key: str, where: str, file: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError("must be a list of non-empty strings", file=file, key=f"{where}.{key}")
    return tuple(value)


def _string(table: dict[str, Any], key: str, where: str, file: str, required: bool = True) -> str:
    value = table.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ConfigError("must be a non-empty string", file=file, key=f"{where}.{key}")
    return value


def parse_taxonomy(raw: dict[str, Any], *, file: str = "<taxonomy>") -> Taxonomy:
    known_top = {"relevance", "instrument", "category"}
    for key in raw:
        if key not in known_top:
            raise ConfigError(f"unknown key; expected one of: {', '.join(sorted(known_top))}",
                              file=file, key=key)
    rel = raw.get("relevance", {})
    if not isinstance(rel, dict):
        raise ConfigError("must be a table", file=file, key="relevance")
    for key in rel:
        if key not in {"terms_ja", "terms_en", "exclude_ja", "exclude_en"}:
            raise ConfigError("unknown key", file=file, key=f"relevance.{key}")
    instruments = []
    for n, t in enumerate(raw.get("instrument", [])):
        where = f"instrument[{n}]"
        _only(t, {"law_id", "names_ja", "names_en"}, where, file)
        instruments.append(Instrument(_string(t, "law_id", where, file),
                                      _strings(t, "names_ja", where, file),
                                      _strings(t, "names_en", where, file)))
    categories = []
    seen: set[str] = set()
    for n, t in enumerate(raw.get("category", [])):
        where = f"category[{n}]"
        _only(t, {"id", "label_en", "label_ja", "terms_ja", "terms_en"}, where, file)
        cid = _string(t, "id", where, file)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", cid):
            raise ConfigError("category ids are snake_case ([a-z][a-z0-9_]*)", file=file, key=f"{where}.id")
        if cid in seen:
            raise ConfigError(f"duplicate category id {cid!r}", file=file, key=f"{where}.id")
        seen.add(cid)
        categories.append(Category(cid, _string(t, "label_en", where, file, False) or cid,
                                   _string(t, "label_ja", where, file, False) or cid,
                                   _strings(t, "terms_ja", where, file),
                                   _strings(t, "terms_en", where, file)))
    return Taxonomy(
        categories=tuple(categories),
        instruments=tuple(instruments),
        relevance_terms=_strings(rel, "terms_ja", "relevance", file) + _strings(rel, "terms_en", "relevance", file),
        exclude_terms=_strings(rel, "exclude_ja", "relevance", file) + _strings(rel, "exclude_en", "relevance", file),
    )


def _only(table: Any, keys: set[str], where: str, file: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError("must be a table", file=file, key=where)
    for key in table:
        if key not in keys:
            raise ConfigError(f"unknown key; expected one of: {', '.join(sorted(keys))}",
                              file=file, key=f"{where}.{key}")


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load a taxonomy TOML; None means the bundled config/taxonomy.toml."""
    if path is None:
        from regwatch.resources import resource_dir

        path = resource_dir("config") / "taxonomy.toml"
    from regwatch.config import read_toml

    return parse_taxonomy(read_toml(path), file=str(path))
