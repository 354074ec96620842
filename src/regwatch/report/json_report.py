"""The JSON report: change records (DESIGN.md) and watched-page changes in one object.

Its shape is pinned by ``reports/change-report.schema.json`` (JSON Schema 2020-12), which
tests validate every rendered report against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from regwatch.report.base import ReportData, Reporter, utc_iso
from regwatch.resources import resource_dir

SCHEMA_NAME = "change-report.schema.json"
REPORT_VERSION = 1


def schema_path() -> Path:
    return resource_dir("reports") / SCHEMA_NAME


def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def report_json(data: ReportData) -> dict[str, Any]:
    """The report as plain JSON values."""
    return {
        "report_version": REPORT_VERSION,
        "generated_at": utc_iso(data.generated_at),
        "window": {"since": _iso(data.window.since), "until": _iso(data.window.until),
                   "by": data.window.by},
        "as_known_at": utc_iso(data.as_known_at) if data.as_known_at else None,
        "filters": {k: list(v) for k, v in data.filters.items()},
        "summary": data.summary().to_json(),
        "changes": [c.to_json() for c in data.changes],
        "documents": [d.to_json() for d in data.documents],
        "press_items": [p.to_json() for p in data.press_items],
        "announcements": [a.to_json() for a in data.announcements],
        "date_corrections": [d.to_json() for d in data.date_corrections],
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


class JsonReporter(Reporter):
    format = "json"
    media_type = "application/json"
    extension = "json"

    def render(self, data: ReportData) -> str:
        return json.dumps(report_json(data), ensure_ascii=False, indent=2) + "\n"
