"""The HTML report: one self-contained file (inline CSS, no scripts, no external requests).

Templates live in ``reports/`` (``report.html.j2`` and its partials). Autoescaping is on,
so every scraped string is escaped; diffs arrive as Markup built from escaped segments,
and only http(s) URLs become links.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from regwatch.report.base import (
    ReportData,
    Reporter,
    anchor_slug,
    change_anchor,
    correction_scope,
    correction_text,
    http_url,
    is_press,
    utc_iso,
)
from regwatch.report.diffhtml import inline_html, side_by_side_html
from regwatch.resources import resource_dir

CHANGE_TYPE_LABELS = {"added": "Added", "removed": "Removed", "amended": "Amended",
                      "renumbered": "Renumbered"}
REGIME_LABELS = {"wassenaar": "Wassenaar Arrangement", "nsg": "Nuclear Suppliers Group",
                 "ag": "Australia Group", "mtcr": "MTCR", "cwc": "Chemical Weapons Convention",
                 "unilateral": "Japan's own (unilateral)", "unknown": "Regime unknown"}


@lru_cache(maxsize=4)
def environment(folder: str | None = None) -> Environment:
    """The Jinja2 environment over the bundled templates (autoescape on for HTML and XML)."""
    env = Environment(
        loader=FileSystemLoader(folder or str(resource_dir("reports"))),
        autoescape=select_autoescape(enabled_extensions=("html", "xml", "j2"),
                                     default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(http_url=http_url, utc_iso=utc_iso, anchor=change_anchor, slug=anchor_slug,
                       inline_diff=inline_html, side_diff=side_by_side_html,
                       correction_text=correction_text, correction_scope=correction_scope)
    env.tests["press"] = is_press
    env.globals.update(change_type_labels=CHANGE_TYPE_LABELS, regime_labels=REGIME_LABELS)
    return env


class HtmlReporter(Reporter):
    format = "html"
    media_type = "text/html"
    extension = "html"

    def render(self, data: ReportData) -> str:
        template = environment().get_template("report.html.j2")
        return template.render(data=data, summary=data.summary(), groups=data.groups())
