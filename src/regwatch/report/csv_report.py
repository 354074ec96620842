"""The CSV report: one row per change record, flattened (categories and source URLs joined).

Scraped text may start with ``=``, ``+``, ``-`` or ``@``, which spreadsheets run as a
formula; such cells get a leading apostrophe so they open as text.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from regwatch.models import ChangeRecord
from regwatch.report.base import ReportData, Reporter

COLUMNS = (
    "id", "jurisdiction", "instrument_law_id", "instrument_title", "provision_path",
    "citation_ja", "citation_en", "list_entry", "change_type", "categories", "regime",
    "outside_wassenaar", "announced_on", "promulgated_on", "effective_on", "observed_at",
    "before_text", "after_text", "event_key", "event_title", "renumbered_from_path", "status",
    "source_urls", "sources_json", "recorded_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def row(c: ChangeRecord) -> list[Any]:
    j = c.to_json()
    return [
        c.id, c.jurisdiction, c.instrument.get("law_id"), c.instrument.get("title"),
        c.provision.get("path"), c.provision.get("citation_ja"), c.provision.get("citation_en"),
        c.list_entry, c.change_type, ";".join(c.categories), c.regime,
        "" if c.outside_wassenaar is None else str(c.outside_wassenaar).lower(),
        j["announced_on"], j["promulgated_on"], j["effective_on"], j["observed_at"],
        c.before_text, c.after_text, (c.event or {}).get("key"), (c.event or {}).get("title"),
        (c.renumbered_from or {}).get("path"), c.status,
        " ".join(s.url for s in c.sources),
        json.dumps(j["sources"], ensure_ascii=False), j["recorded_at"],
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class CsvReporter(Reporter):
    format = "csv"
    media_type = "text/csv"
    extension = "csv"

    def render(self, data: ReportData) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for c in data.changes:
            writer.writerow([_cell(v) for v in row(c)])
        return buf.getvalue()
