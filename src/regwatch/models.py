"""Typed records that cross module boundaries (scraper → pipeline → reporter).

They hold plain values only (str, int, date, datetime, tuples, dicts of JSON values)
so that every layer can be tested without the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """Raw bytes as received, stored once under their sha256."""

    sha256: str
    size: int
    media_type: str | None = None


@dataclass(frozen=True)
class Document:
    """What a scraper yields: one artefact at one URL, as fetched in this run.

    `key` identifies the document within its source across runs (usually the URL; the
    law revision ID for e-Gov). `kind` names the normaliser that reads it.
    `unchanged` is true when the server said 304 or sent the same bytes as last time:
    the pipeline then records that the document was seen, and nothing else.
    """

    source: str
    key: str
    url: str
    kind: str
    fetched_at: datetime
    snapshot: Snapshot | None
    text: str | None = None
    encoding: str | None = None
    title: str | None = None
    unchanged: bool = False
    metadata: JSON = field(default_factory=dict)
    linked_from: str | None = None


@dataclass(frozen=True)
class Source:
    """One source of a change record's evidence."""

    url: str
    kind: str  # egov_law | meti_press | press | page | pdf
    title: str | None = None
    quote: str | None = None


@dataclass(frozen=True)
class ChangeRecord:
    """The change record of DESIGN.md: one row of the `v_changes` view."""

    id: str
    jurisdiction: str
    instrument: JSON  # {law_id, title}
    provision: JSON  # {path, citation_ja, citation_en}
    list_entry: str | None
    change_type: str  # added | removed | amended | renumbered
    categories: tuple[str, ...]
    regime: str  # wassenaar|nsg|ag|mtcr|cwc|unilateral|unknown
    outside_wassenaar: bool | None
    announced_on: date | None
    promulgated_on: date | None
    effective_on: date | None
    observed_at: datetime
    before_text: str | None
    after_text: str | None
    event: JSON | None  # {key, title}
    sources: tuple[Source, ...]
    renumbered_from: JSON | None = None  # {path, citation_ja, citation_en}
    status: str = "official"  # official | reported_unofficial
    # When regwatch recorded it: observed_at, or later for a change an earlier parse missed
    # ("found late"). None only for a record not read from the database.
    recorded_at: datetime | None = None

    def to_json(self) -> JSON:
        out = asdict(self)
        for key in ("announced_on", "promulgated_on", "effective_on"):
            out[key] = out[key].isoformat() if out[key] else None
        out["observed_at"] = self.observed_at.isoformat()
        out["recorded_at"] = self.recorded_at.isoformat() if self.recorded_at else None
        out["categories"] = list(self.categories)
        out["sources"] = [asdict(s) for s in self.sources]
        return out


@dataclass(frozen=True)
class DocumentChange:
    """A change of a watched page: one row of `v_document_changes`."""

    source: str
    url: str
    title: str | None
    change_type: str  # added | changed | removed
    observed_at: datetime
    before_text: str | None = None
    after_text: str | None = None

    def to_json(self) -> JSON:
        out = asdict(self)
        out["observed_at"] = self.observed_at.isoformat()
        return out
