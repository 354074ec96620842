"""Reports: change records rendered as HTML, JSON, CSV, Markdown or Atom (no I/O here).

`base.reporters()` is the table of contents of formats; `command.build_report` is what the
CLI calls.
"""

from regwatch.report.base import ReportData, Reporter, Window, file_formats, get_reporter, reporters

__all__ = ["ReportData", "Reporter", "Window", "file_formats", "get_reporter", "reporters"]
