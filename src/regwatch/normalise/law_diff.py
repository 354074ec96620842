"""Structural diff of two revisions of one law, provision by provision.

Provisions are matched in phases, cheapest first, so 5,000+ provisions diff in milliseconds:
1. same path and same text (compared as `match_text` + `ruby`, so Ruby placement never
   counts as a change) → unchanged;
2. same text under a different path, when that text is unique on both sides (law-wide, or
   else among the siblings under the parent's new self) and not a 削除 tombstone →
   renumbered; the children of a renumbered provision follow it
   (old `…item17-2.sub1-1` → new `…item17-3.sub1-1`) even when their text changed;
3. among what is left, the best of: the same path (amended) or a near-identical text under
   another path (similarity ≥ RENUMBER_SIMILARITY → renumbered with amendments);
4. 削除 tombstones left over under the same parent pair up in order (they shifted with
   their siblings); the rest: removed (old only) or added (new only).
Text replaced by 削除 (or emptied, like the region cell of a deleted table row) is reported
as `removed` with before and after text kept; a 削除 or empty slot that gets text again is
`added`. A parent is reported only when its own text changed.
Changes come out in the new revision's document order; removals sit where they were.
"""

from __future__ import annotations

import bisect
import difflib
import logging
from dataclasses import dataclass
from typing import Any

from regwatch.normalise.egov_law import LawText, ProvisionText, iter_all

log = logging.getLogger(__name__)

RENUMBER_SIMILARITY = 0.85
SAME_PATH_BONUS = 0.1
MAX_FUZZY_PAIRS = 250_000  # above this, fuzzy renumber search stays within one parent


@dataclass(frozen=True)
class Span:
    op: str  # equal | insert | delete | replace
    before_text: str
    after_text: str

    def to_json(self) -> dict[str, str]:
        return {"op": self.op, "before_text": self.before_text, "after_text": self.after_text}


@dataclass(frozen=True)
class ProvisionChange:
    change_type: str  # added | removed | amended | renumbered
    path: str
    citation_ja: str
    citation_en: str
    list_entry: str | None
    before_text: str | None
    after_text: str | None
    spans: tuple[Span, ...]
    renumbered_from: dict[str, str] | None
    list_entry_ja: str | None = None
    kind: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"change_type": self.change_type, "path": self.path,
                "citation_ja": self.citation_ja, "citation_en": self.citation_en,
                "list_entry": self.list_entry, "list_entry_ja": self.list_entry_ja,
                "kind": self.kind, "before_text": self.before_text, "after_text": self.after_text,
                "spans": [s.to_json() for s in self.spans],
                "renumbered_from": self.renumbered_from}


def char_spans(before: str, after: str) -> list[Span]:
    """Character-level diff (Japanese has no spaces to split words on)."""
    sm = difflib.SequenceMatcher(None, before, after, autojunk=False)
    return [Span(op, before[i1:i2], after[j1:j2]) for op, i1, i2, j1, j2 in sm.get_opcodes()]


def change_spans(before: str | None, after: str | None) -> tuple[Span, ...]:
    """The character diff a change shows: none when a side is missing or nothing changed."""
    if before is None or after is None or before == after:
        return ()
    return tuple(char_spans(before, after))


def _same(a: ProvisionText, b: ProvisionText) -> bool:
    return a.match_text == b.match_text and a.ruby == b.ruby


def _similarity(a: ProvisionText, b: ProvisionText) -> float:
    x, y = a.match_text, b.match_text
    if not x or not y:
        return 1.0 if x == y else 0.0
    if min(len(x), len(y)) / max(len(x), len(y)) < RENUMBER_SIMILARITY:
        return 0.0
    sm = difflib.SequenceMatcher(None, x, y, autojunk=False)
    if sm.real_quick_ratio() < RENUMBER_SIMILARITY or sm.quick_ratio() < RENUMBER_SIMILARITY:
        return 0.0
    return sm.ratio()


def _is_empty(p: ProvisionText) -> bool:
    """A 削除 tombstone, or a provision (e.g. a table cell) whose text is gone."""
    return p.is_tombstone or not (p.text.strip() or p.ruby)


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


class _Matcher:
    def __init__(self, old: list[ProvisionText], new: list[ProvisionText]):
        self.old, self.new = old, new
        self.old_by_path = {p.path: p for p in old}
        self.new_by_path = {p.path: p for p in new}
        self.pair: dict[str, str] = {}  # old path → new path
        self.taken: set[str] = set()  # new paths paired
        self.old_children: dict[str, list[ProvisionText]] = {}
        for p in old:
            self.old_children.setdefault(p.parent_path or "", []).append(p)

    def link(self, o: str, n: str) -> None:
        self.pair[o] = n
        self.taken.add(n)

    def free_old(self) -> list[ProvisionText]:
        return [p for p in self.old if p.path not in self.pair]

    def free_new(self) -> list[ProvisionText]:
        return [p for p in self.new if p.path not in self.taken]

    def run(self) -> None:
        for o in self.old:  # 1. same path, same text
            n = self.new_by_path.get(o.path)
            if n is not None and _same(o, n):
                self.link(o.path, n.path)
        moved = self._exact_moves()  # 2.
        self._follow_children(moved)
        moved = self._best_pairs()  # 3.
        self._follow_children(moved)
        self._tombstones_in_order()

    def _new_parent(self, o: ProvisionText) -> str:
        """Where an old provision's parent went (its own path when not paired yet)."""
        parent = o.parent_path or ""
        return self.pair.get(parent, parent)

    def _exact_moves(self) -> list[tuple[str, str]]:
        def unique(items: list[ProvisionText], scope) -> dict[tuple, ProvisionText]:
            seen: dict[tuple, ProvisionText | None] = {}
            for p in items:
                if p.is_tombstone or not p.match_text:
                    continue
                k = (scope(p), p.kind, p.match_text, p.ruby)
                seen[k] = None if k in seen else p
            return {k: p for k, p in seen.items() if p is not None}

        moved = []
        # law-wide first; then texts repeated elsewhere in the law (the same wording in
        # several articles) among siblings, under the parent's new self
        for old_scope, new_scope in ((lambda p: "", lambda p: ""),
                                     (self._new_parent, lambda p: p.parent_path or "")):
            olds, news = unique(self.free_old(), old_scope), unique(self.free_new(), new_scope)
            for k, o in olds.items():
                n = news.get(k)
                if n is not None and n.path != o.path:
                    self.link(o.path, n.path)
                    moved.append((o.path, n.path))
        return moved

    def _follow_children(self, moved: list[tuple[str, str]]) -> None:
        queue = list(moved)
        while queue:
            o_parent, n_parent = queue.pop()
            for o in self.old_children.get(o_parent, ()):
                if o.path in self.pair:
                    continue
                n_path = n_parent + o.path[len(o_parent):]
                if n_path in self.new_by_path and n_path not in self.taken:
                    self.link(o.path, n_path)
                    queue.append((o.path, n_path))

    def _tombstones_in_order(self) -> None:
        """Leftover 削除 slots that shifted with their siblings: pair them in order rather
        than report a removed and an added tombstone."""
        olds: dict[str, list[ProvisionText]] = {}
        for o in self.free_old():
            if o.is_tombstone:
                olds.setdefault(self._new_parent(o), []).append(o)
        for n in self.free_new():
            if n.is_tombstone and olds.get(n.parent_path or ""):
                self.link(olds[n.parent_path or ""].pop(0).path, n.path)

    def _best_pairs(self) -> list[tuple[str, str]]:
        free_old, free_new = self.free_old(), self.free_new()
        cands: list[tuple[float, int, str, str]] = []
        for o in free_old:
            n = self.new_by_path.get(o.path)
            if n is not None and n.path not in self.taken:
                cands.append((_similarity(o, n) + SAME_PATH_BONUS, 0, o.path, n.path))
        fuzzy_old = [o for o in free_old if not o.is_tombstone and o.match_text]
        fuzzy_new = [n for n in free_new if not n.is_tombstone and n.match_text]
        whole = len(fuzzy_old) * len(fuzzy_new) <= MAX_FUZZY_PAIRS
        if not whole:
            log.info("fuzzy renumber search limited to siblings (%d × %d provisions)",
                     len(fuzzy_old), len(fuzzy_new))
        by_parent: dict[str, list[ProvisionText]] = {}
        for n in fuzzy_new:
            by_parent.setdefault(_parent(n.path), []).append(n)
        for o in fuzzy_old:
            pool = fuzzy_new if whole else by_parent.get(_parent(o.path), [])
            for n in pool:
                if n.path != o.path and n.kind == o.kind:
                    sim = _similarity(o, n)
                    if sim >= RENUMBER_SIMILARITY:
                        cands.append((sim, 1, o.path, n.path))
        # best score first; ties: same-path before moves, then document order (deterministic)
        order = {p.path: i for i, p in enumerate(self.old)}
        cands.sort(key=lambda c: (-c[0], c[1], order[c[2]], c[3]))
        moved = []
        for _score, cross, o, n in cands:
            if o in self.pair or n in self.taken:
                continue
            self.link(o, n)
            if cross:
                moved.append((o, n))
        return moved


def _change(kind: str, o: ProvisionText | None, n: ProvisionText | None) -> ProvisionChange:
    cur = n or o
    assert cur is not None
    before, after = (o.text if o else None), (n.text if n else None)
    spans = change_spans(before, after)
    moved_from = None
    if kind == "renumbered" and o is not None:
        moved_from = {"path": o.path, "citation_ja": o.citation_ja, "citation_en": o.citation_en}
    return ProvisionChange(change_type=kind, path=cur.path, citation_ja=cur.citation_ja,
                           citation_en=cur.citation_en, list_entry=cur.list_entry,
                           before_text=before, after_text=after, spans=spans,
                           renumbered_from=moved_from, list_entry_ja=cur.list_entry_ja,
                           kind=cur.kind)


def diff_laws(old: LawText, new: LawText) -> list[ProvisionChange]:
    """What changed from `old` to `new`, in the new text's document order."""
    olds, news = list(iter_all(old)), list(iter_all(new))
    m = _Matcher(olds, news)
    m.run()
    new_pos = {p.path: i for i, p in enumerate(news)}
    keyed: list[tuple[tuple, ProvisionChange]] = []
    for o in olds:
        n_path = m.pair.get(o.path)
        if n_path is None:
            continue
        n = m.new_by_path[n_path]
        if n_path != o.path:
            kind = "renumbered"
        elif _same(o, n):
            continue
        elif _is_empty(n) and not _is_empty(o):
            kind = "removed"
        elif _is_empty(o) and not _is_empty(n):
            kind = "added"
        else:
            kind = "amended"
        keyed.append(((new_pos[n_path], 0, 0), _change(kind, o, n)))
    for n in news:
        if n.path not in m.taken:
            keyed.append(((new_pos[n.path], 0, 0), _change("added", None, n)))
    # a removal sits after the new position of the nearest earlier old provision that survived
    paired_old = [i for i, o in enumerate(olds) if o.path in m.pair]
    for i, o in enumerate(olds):
        if o.path in m.pair:
            continue
        k = bisect.bisect_left(paired_old, i) - 1
        anchor = new_pos[m.pair[olds[paired_old[k]].path]] if k >= 0 else -1
        keyed.append(((anchor, 1, i), _change("removed", o, None)))
    keyed.sort(key=lambda kc: kc[0])
    return [c for _k, c in keyed]
