"""The Markdown report. Every scraped string is escaped so that it stays text.

Markdown renderers pass raw HTML through, so ``<``, ``>`` and ``&`` become entities, and
Markdown's own punctuation is backslash-escaped so a quote cannot open a link, an image
or emphasis. Only http(s) URLs become links; diffs use ``~~deleted~~`` and
``**inserted**`` around escaped text.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from regwatch.db.queries import DateCorrection
from regwatch.models import ChangeRecord, DocumentChange, Source
from regwatch.report.base import (
    ReportData,
    Reporter,
    correction_scope,
    correction_text,
    http_url,
    is_press,
    utc_iso,
)
from regwatch.report.diffhtml import char_segments

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:\"'])")
_BLANKS = re.compile(r"\s+")


def md_escape(text: object) -> str:
    """Escape untrusted text for inline Markdown (one line; no HTML, no markup)."""
    if text is None:
        return ""
    s = _BLANKS.sub(" ", str(text)).strip()
    s = _SPECIAL.sub(r"\\\1", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_link(url: str | None, label: str | None = None) -> str:
    safe = http_url(url)
    if safe is None:
        return md_escape(label or url or "")
    # Percent-encode what could end the link target early or confuse the parser.
    target = quote(safe, safe=":/?#[]@!$&'*+,;=%~-._")
    target = target.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
    return f"[{md_escape(label or safe)}](<{target}>)"


def md_diff(before: str | None, after: str | None) -> str:
    parts = []
    for s in char_segments(before, after):
        text = md_escape(s.text)
        if not text:
            continue
        if s.op == "insert":
            parts.append(f"**{text}**")
        elif s.op == "delete":
            parts.append(f"~~{text}~~")
        else:
            parts.append(text)
    return "".join(parts) if parts else "_(no text)_"


def _date(value: object) -> str:
    return str(value) if value else "unknown"


def _sources(sources: tuple[Source, ...]) -> list[str]:
    lines = []
    for s in sources:
        tag = "press" if is_press(s.kind) else "official"
        line = f"- [{tag}] {md_escape(s.kind)}: {md_link(s.url, s.title)}"
        if s.quote:
            line += f"\n  > {md_escape(s.quote)}"
        lines.append(line)
    return lines or ["- no sources known"]


def _change(c: ChangeRecord, data: ReportData) -> list[str]:
    flags = [f"**{c.change_type}**", md_escape(c.regime)]
    if c.outside_wassenaar:
        flags.append("**outside Wassenaar**")
    elif c.outside_wassenaar is None:
        flags.append("Wassenaar status unknown")
    if data.not_yet_in_force(c):
        flags.append("**not yet in force**")
    if data.found_late(c):  # so recorded_at is set
        flags.append(f"**found late: recorded {utc_iso(c.recorded_at)}**")
    if c.status == "reported_unofficial":
        flags.append("**reported, not official**")
    lines = [
        f"### {md_escape(c.provision.get('citation_ja') or c.provision.get('path'))} / "
        f"{md_escape(c.provision.get('citation_en') or c.provision.get('path'))}",
        "",
        f"{md_escape(c.instrument.get('title'))} ({md_escape(c.instrument.get('law_id'))})"
        + (f" · {md_escape(c.list_entry)}" if c.list_entry else "")
        + f" · `{c.id.replace('`', '')}`",
        "",
        " · ".join(flags) + (" · categories: " + ", ".join(md_escape(x) for x in c.categories)
                             if c.categories else ""),
        "",
        f"Announced {_date(c.announced_on)} · promulgated {_date(c.promulgated_on)} · "
        f"effective {_date(c.effective_on)} · observed {utc_iso(c.observed_at)}",
        "",
    ]
    if c.renumbered_from:
        lines += [f"Renumbered from {md_escape(c.renumbered_from.get('citation_ja'))} "
                  f"({md_escape(c.renumbered_from.get('citation_en'))})", ""]
    lines += [f"Diff: {md_diff(c.before_text, c.after_text)}", "", "Sources:", "",
              *_sources(c.sources), ""]
    return lines


def _correction(d: DateCorrection) -> list[str]:
    event = f" · {md_escape(d.event_title)}" if d.event_title else ""
    return [f"### {md_escape(correction_text(d))}", "",
            f"{md_escape(d.instrument_title or '')} ({md_escape(d.law_id)}){event} · "
            f"{'learnt' if d.old_value is None else 'corrected'} {utc_iso(d.known_at)}, for "
            f"{correction_scope(d)}:", "",
            *(f"- {md_escape(p['citation_ja'] or p['path'])}"
              + (f" / {md_escape(p['citation_en'])}" if p["citation_en"] else "")
              for p in d.provisions), ""]


def _page(d: DocumentChange) -> list[str]:
    return [f"### {md_escape(d.title or d.url)}", "",
            f"Page {md_escape(d.change_type)} · {md_escape(d.source)} · observed "
            f"{utc_iso(d.observed_at)} · {md_link(d.url)}", "",
            f"Diff: {md_diff(d.before_text, d.after_text)}", ""]


class MarkdownReporter(Reporter):
    format = "md"
    media_type = "text/markdown"
    extension = "md"

    def render(self, data: ReportData) -> str:
        s = data.summary()
        w = data.window
        out = [f"# Export-control changes {w.since or '…'} – {w.until or '…'}", "",
               f"- Window: {w.describe()}", f"- Generated: {utc_iso(data.generated_at)}"]
        if data.as_known_at:
            out.append(f"- As known at: {utc_iso(data.as_known_at)}")
        for name, values in data.filters.items():
            if values:
                out.append(f"- {name.capitalize()}: {', '.join(md_escape(v) for v in values)}")
        out += ["", "## Summary", "", s.totals_text(), ""]
        out += [f"- **{md_escape(h.text)}**{' (not yet in force)' if h.not_yet_in_force else ''}"
                f" — {md_escape(h.event_title or 'no event')}"
                for h in s.headlines]
        out += ["", "| Instrument | Changes |", "|---|---:|"]
        out += [f"| {md_escape(t or k)} ({md_escape(k)}) | {n} |" for k, t, n in s.by_instrument]
        out += ["", "| Category | Changes |", "|---|---:|"]
        out += [f"| {md_escape(k)} | {n} |" for k, n in s.by_category]
        out += ["", "| Change type | Changes |", "|---|---:|"]
        out += [f"| {md_escape(k)} | {n} |" for k, n in s.by_change_type]
        out.append("")
        for g in data.groups():
            out += [f"## {md_escape(g.title or 'Changes not linked to an announced event')}", ""]
            for c in g.changes:
                out += _change(c, data)
        if data.date_corrections:
            out += ["## Date corrections", ""]
            for d in data.date_corrections:
                out += _correction(d)
        if data.announcements:
            out += ["## Announcements without a list change yet", ""]
            for a in data.announcements:
                out += [f"### {md_escape(a.title or a.key)}", "",
                        f"Announced {a.announced_on or 'unknown'}; effective "
                        f"{a.effective_on or 'unknown'}; first observed "
                        f"{a.first_observed_at.isoformat()}", "", *_sources(a.sources), ""]
        if data.press_items:
            out += ["## Press reports and discrepancies", ""]
            for p in data.press_items:
                status = ("press only, not confirmed by an official source"
                          if p.status == "reported_unofficial" else "official")
                out += [f"### {md_escape(p.title or p.key)}", "", f"**{status}**", ""]
                for d in p.discrepancies:
                    out += [f"- Discrepancy in {md_escape(d.field)}: official "
                            f"{md_escape(d.official_value)} ({md_link(d.official_url)}) vs. press "
                            f"{md_escape(d.press_value)} ({md_link(d.press_url)})"]
                out += ["", *_sources(p.sources), ""]
        if data.documents:
            out += ["## Watched pages", ""]
            for d in data.documents:
                out += _page(d)
        return "\n".join(out).rstrip("\n") + "\n"
