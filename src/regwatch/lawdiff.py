"""`regwatch diff`: provision-by-provision diff of two law texts, as text, JSON or HTML.

`render_changes` is the reusable part: the stored-history variant (`diff_stored`, owned by
the pipeline) renders through it too. Everything rendered is escaped: law text is data.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from regwatch.errors import UsageError
from regwatch.normalise.egov_law import LawText, read_law_file
from regwatch.normalise.law_diff import ProvisionChange, diff_laws

log = logging.getLogger(__name__)

FORMATS = ("text", "json", "html")


def change_id(law_key: str, c: ProvisionChange) -> str:
    """Stable id: the same change between the same texts always gets the same id."""
    parts = [law_key, c.change_type, c.path, (c.renumbered_from or {}).get("path"),
             c.before_text, c.after_text]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()[:24]


def change_record(c: ProvisionChange, *, law_id: str | None, title: str) -> dict[str, Any]:
    """One change as DESIGN.md's change record (fields unknown here are null or empty)."""
    return {
        "id": change_id(law_id or title, c),
        "jurisdiction": "JP",
        "instrument": {"law_id": law_id, "title": title},
        "provision": {"path": c.path, "citation_ja": c.citation_ja, "citation_en": c.citation_en},
        "list_entry": c.list_entry,
        "change_type": c.change_type,
        "categories": [],
        "regime": "unknown",
        "outside_wassenaar": None,
        "announced_on": None,
        "promulgated_on": None,
        "effective_on": None,
        "observed_at": None,
        "before_text": c.before_text,
        "after_text": c.after_text,
        "event": None,
        "sources": [],
        "renumbered_from": c.renumbered_from,
    }


def _marked(c: ProvisionChange) -> str:
    """Inline character diff in plain text: [-deleted-]{+inserted+}."""
    out = []
    for s in c.spans:
        if s.op == "equal":
            out.append(s.before_text)
        else:
            out.append((f"[-{s.before_text}-]" if s.before_text else "")
                       + (f"{{+{s.after_text}+}}" if s.after_text else ""))
    return "".join(out)


def _summary(changes: Sequence[ProvisionChange]) -> str:
    counts = Counter(c.change_type for c in changes)
    parts = [f"{counts[k]} {k}" for k in ("added", "amended", "removed", "renumbered") if counts[k]]
    return f"{len(changes)} change{'s' * (len(changes) != 1)}" + (f" ({', '.join(parts)})" if parts else "")


def _render_text(changes: Sequence[ProvisionChange], old_title: str, new_title: str) -> str:
    lines = [f"--- {old_title}", f"+++ {new_title}", _summary(changes), ""]
    for c in changes:
        lines.append(f"[{c.change_type}] {c.citation_ja} — {c.citation_en}  ({c.path})")
        if c.renumbered_from:
            r = c.renumbered_from
            lines.append(f"  renumbered from {r['citation_ja']} — {r['citation_en']}  ({r['path']})")
        if c.list_entry:
            ja = f" ({c.list_entry_ja})" if c.list_entry_ja else ""
            lines.append(f"  list entry: {c.list_entry}{ja}")
        if c.before_text is not None and c.before_text != c.after_text:
            lines.append(f"  - {c.before_text}")
        if c.after_text is not None and c.before_text != c.after_text:
            lines.append(f"  + {c.after_text}")
        if c.spans:
            lines.append(f"  ~ {_marked(c)}")
        lines.append("")
    return "\n".join(lines)


_CSS = """body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.6}
.change{border-top:1px solid #ccc;padding:.6em 0}.type{font-weight:bold;text-transform:uppercase;
font-size:.8em;padding:.1em .4em;border-radius:.3em;background:#eee}.added{background:#dfd}
.removed{background:#fdd}.amended{background:#ffd}.renumbered{background:#def}
del{background:#fcc;text-decoration:line-through}ins{background:#cfc;text-decoration:none}
.path,.meta{color:#555;font-size:.9em}.text{white-space:pre-wrap}"""


def _html_text(c: ProvisionChange) -> str:
    e = html.escape
    if c.spans:
        return "".join(e(s.before_text) if s.op == "equal" else
                       (f"<del>{e(s.before_text)}</del>" if s.before_text else "")
                       + (f"<ins>{e(s.after_text)}</ins>" if s.after_text else "")
                       for s in c.spans)
    if c.before_text is None:
        return f"<ins>{e(c.after_text or '')}</ins>"
    if c.after_text is None:
        return f"<del>{e(c.before_text)}</del>"
    return e(c.after_text)


def _render_html(changes: Sequence[ProvisionChange], old_title: str, new_title: str) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="ja"><head><meta charset="utf-8">',
           f"<title>{e(new_title)} — changes</title><style>{_CSS}</style></head><body>",
           f"<h1>{e(new_title)}</h1>",
           f'<p class="meta">compared with: {e(old_title)}<br>{e(_summary(changes))}</p>']
    for c in changes:
        out.append(f'<div class="change"><span class="type {e(c.change_type)}">{e(c.change_type)}</span> '
                   f'<strong lang="ja">{e(c.citation_ja)}</strong> — <span lang="en">{e(c.citation_en)}</span>'
                   f' <span class="path">{e(c.path)}</span>')
        if c.renumbered_from:
            r = c.renumbered_from
            out.append(f'<div class="meta">renumbered from {e(r["citation_ja"])} — {e(r["citation_en"])}</div>')
        if c.list_entry:
            out.append(f'<div class="meta">list entry: {e(c.list_entry)}'
                       + (f" ({e(c.list_entry_ja)})" if c.list_entry_ja else "") + "</div>")
        out.append(f'<div class="text" lang="ja">{_html_text(c)}</div></div>')
    if not changes:
        out.append("<p>No changes.</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def render_changes(changes: Sequence[ProvisionChange], fmt: str, *, old_title: str,
                   new_title: str, law_id: str | None = None) -> str:
    """Render a diff as text, JSON (a list of change records) or a self-contained HTML page."""
    if fmt == "text":
        return _render_text(changes, old_title, new_title)
    if fmt == "json":
        records = [change_record(c, law_id=law_id, title=new_title) for c in changes]
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if fmt == "html":
        return _render_html(changes, old_title, new_title)
    raise UsageError(f"unknown diff format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _describe(law: LawText, path: Path) -> str:
    return f"{law.title}（{law.law_num}）[{path.name}]" if law.law_num else f"{law.title} [{path.name}]"


def diff_files(old: Path, new: Path, fmt: str) -> str:
    """`regwatch diff --old A.xml --new B.xml`: parse both files (XML or e-Gov JSON) and diff."""
    old_law, new_law = read_law_file(Path(old)), read_law_file(Path(new))
    changes = diff_laws(old_law, new_law)
    log.info("%s → %s: %s", old, new, _summary(changes))
    if fmt == "json":
        return render_changes(changes, fmt, old_title=old_law.title, new_title=new_law.title,
                              law_id=new_law.law_id or old_law.law_id)
    return render_changes(changes, fmt, old_title=_describe(old_law, Path(old)),
                          new_title=_describe(new_law, Path(new)),
                          law_id=new_law.law_id or old_law.law_id)


def diff_stored(app, law_id: str, from_date, to_date, fmt: str) -> str:
    """`regwatch diff --law LAW_ID --from D1 --to D2`: the text in force on D1 against the text
    in force on D2, both re-read from their stored snapshots with the current parser."""
    from regwatch.db.session import require_schema, transaction
    from regwatch.derive.law_history import stored_revisions
    from regwatch.fetch.snapshots import SnapshotStore
    from regwatch.normalise.egov_law import parse_law_xml

    require_schema(app.engine)
    with transaction(app.engine) as session:
        revisions = stored_revisions(session).get(law_id)
    if not revisions:
        raise UsageError(f"no stored revisions of {law_id}: run `regwatch fetch` with an "
                         "egov_law source that lists it")
    store = SnapshotStore(app.config.data_path / "snapshots")

    def in_force(day):
        found = [r for r in revisions if r.effective_on and r.effective_on <= day]
        if not found:
            first = min((r.effective_on for r in revisions if r.effective_on), default=None)
            raise UsageError(f"no stored revision of {law_id} was in force on {day.isoformat()}"
                             + (f" (the earliest stored took effect {first.isoformat()})" if first else ""))
        rev = found[-1]
        return rev, parse_law_xml(store.get(rev.snapshot_sha256), source=rev.url, law_id=law_id)

    (old_rev, old_law), (new_rev, new_law) = in_force(from_date), in_force(to_date)
    changes = [] if old_rev.law_revision_id == new_rev.law_revision_id else diff_laws(old_law, new_law)
    log.info("%s %s → %s: %s", law_id, from_date, to_date, _summary(changes))
    if fmt == "json":
        return render_changes(changes, fmt, old_title=old_law.title, new_title=new_law.title,
                              law_id=law_id)
    return render_changes(
        changes, fmt, law_id=law_id,
        old_title=f"{old_law.title} — {old_rev.law_revision_id} (in force {old_rev.effective_on})",
        new_title=f"{new_law.title} — {new_rev.law_revision_id} (in force {new_rev.effective_on})")
