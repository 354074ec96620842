"""Character-level diffs of two texts, as segments and as escaped HTML (inline, side by side).

Japanese has no spaces, so words are no unit: the diff is on characters. Long texts are
first aligned by lines and only changed line blocks are compared character by character,
which keeps difflib's quadratic worst case away from whole pages.

Written here (no `regwatch.normalise.law_diff.char_spans` existed when the reporter was
built); pure functions, no I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from difflib import SequenceMatcher

from markupsafe import Markup, escape

# Above this many characters on either side a changed block is shown as deleted + inserted
# rather than compared character by character.
CHAR_DIFF_LIMIT = 5000


@dataclass(frozen=True)
class Segment:
    op: str  # equal | insert | delete
    text: str


def char_segments(before: str | None, after: str | None) -> list[Segment]:
    """Segments that turn `before` into `after`; a missing side counts as empty."""
    a, b = before or "", after or ""
    if a == b:
        return [Segment("equal", a)] if a else []
    if "\n" in a or "\n" in b:
        out: list[Segment] = []
        la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
            block_a, block_b = "".join(la[i1:i2]), "".join(lb[j1:j2])
            if tag == "equal":
                out.append(Segment("equal", block_a))
            else:
                out.extend(_chars(block_a, block_b))
        return _merge(out)
    return _merge(_chars(a, b))


def _chars(a: str, b: str) -> list[Segment]:
    if not a or not b or max(len(a), len(b)) > CHAR_DIFF_LIMIT:
        return [s for s in (Segment("delete", a), Segment("insert", b)) if s.text]
    out = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(Segment("equal", a[i1:i2]))
        else:
            if i2 > i1:
                out.append(Segment("delete", a[i1:i2]))
            if j2 > j1:
                out.append(Segment("insert", b[j1:j2]))
    return out


def _merge(segments: list[Segment]) -> list[Segment]:
    """Join neighbours with the same op, so the markup has one tag per run."""
    out: list[Segment] = []
    for s in segments:
        if out and out[-1].op == s.op:
            out[-1] = Segment(s.op, out[-1].text + s.text)
        elif s.text:
            out.append(s)
    return out


def _tag(segment: Segment) -> str:
    text = escape(segment.text)
    if segment.op == "insert":
        return f'<ins class="diff-ins">{text}</ins>'
    if segment.op == "delete":
        return f'<del class="diff-del">{text}</del>'
    return str(text)


@functools.lru_cache(maxsize=2)
def _tagged(before: str | None, after: str | None) -> tuple[tuple[str, str], ...]:
    """(op, escaped markup) per segment. A report shows each change inline and then side by
    side: with the last two pairs cached, the character diff (most of a big report's time)
    and the escaping are done once for both, and no more than two diffs stay in memory."""
    return tuple((s.op, _tag(s)) for s in char_segments(before, after))


def inline_html(before: str | None, after: str | None) -> Markup:
    """One run of text with deletions in <del> and insertions in <ins>, all text escaped."""
    body = "".join(html for _, html in _tagged(before, after))
    return Markup(f'<div class="diff diff-inline">{body}</div>')


def side_by_side_html(before: str | None, after: str | None) -> Markup:
    """A two-column table: the old text with deletions marked, the new with insertions."""
    tagged = _tagged(before, after)
    left = "".join(html for op, html in tagged if op != "insert")
    right = "".join(html for op, html in tagged if op != "delete")
    absent = '<span class="diff-absent">(none)</span>'
    return Markup(
        '<table class="diff diff-side"><thead><tr><th scope="col">Before</th>'
        '<th scope="col">After</th></tr></thead><tbody><tr>'
        f'<td class="diff-before">{left if before is not None else absent}</td>'
        f'<td class="diff-after">{right if after is not None else absent}</td>'
        '</tr></tbody></table>')
