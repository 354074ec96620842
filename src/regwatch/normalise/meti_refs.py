"""METI's item references ⇄ law-text provisions of the appended tables.

METI's releases cite list entries in half-width shorthand, e.g. 【7の項(10の2)の追加】,
【3の2の項(2)10の追加】, 【5の項(20)の追加】. The law text (輸出貿易管理令 別表第一, 外国為替令
別表) writes the same entries as a row number in positional kanji (七, 三の二, 一五) and goods
sentences labelled （十の二）, （二）, then １０ (SOURCES.md §2.2, §2.4). This module converts
both ways and renders the canonical path and citations used across regwatch:

    path      appdx1.row7.g10-2             appdx1.row3-2.g2.s10      (as egov_tables writes them)
    ja        輸出貿易管理令別表第一の七の項（十の二）
    en        Export Trade Control Order, Appended Table 1, row 7, (x-2)
    meti      7の項(10の2)

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from regwatch.errors import ParseError
from regwatch.normalise.text_ja import (
    branch_number,
    int_to_kanji,
    int_to_positional_kanji,
    nfkc,
    to_roman,
)

EXPORT_ORDER = "324CO0000000378"
FOREX_ORDER = "355CO0000000260"
_TABLES = {
    EXPORT_ORDER: ("輸出貿易管理令別表第一", "Export Trade Control Order, Appended Table 1", 1),
    FOREX_ORDER: ("外国為替令別表", "Foreign Exchange Order, Appended Table", 1),
}

ACTIONS = {"追加": "addition", "削除": "removal", "改正": "amendment", "変更": "amendment",
           "新設": "addition", "見直し": "amendment"}

Branch = tuple[int, ...]


@dataclass(frozen=True)
class ItemRef:
    """One list entry: a row of an appended table, optionally its goods sentence and sub-number."""

    law_id: str
    row: Branch  # (3, 2) for 三の二
    item: Branch | None = None  # (10, 2) for （十の二）
    sub: Branch | None = None  # (10,) for １０

    @property
    def path(self) -> str:
        table = _TABLES.get(self.law_id, ("", "", 1))[2]
        parts = [f"appdx{table}", f"row{_dash(self.row)}"]
        if self.item:
            parts.append(f"g{_dash(self.item)}")
        if self.sub:
            parts.append(f"s{_dash(self.sub)}")
        return ".".join(parts)

    @property
    def row_label(self) -> str:
        """The row number as the law text writes it: 七, 三の二, 一五."""
        return "の".join(int_to_positional_kanji(n) for n in self.row)

    @property
    def item_label(self) -> str | None:
        return None if self.item is None else "（" + "の".join(int_to_kanji(n) for n in self.item) + "）"

    @property
    def sub_label(self) -> str | None:
        return None if self.sub is None else "の".join(_fullwidth(n) for n in self.sub)

    @property
    def citation_ja(self) -> str:
        table_ja = _TABLES.get(self.law_id, (self.law_id, "", 1))[0]
        return f"{table_ja}の{self.row_label}の項" + (self.item_label or "") + (self.sub_label or "")

    @property
    def citation_en(self) -> str:
        table_en = _TABLES.get(self.law_id, ("", self.law_id, 1))[1]
        out = f"{table_en}, row {_dash(self.row)}"
        if self.item:
            out += f", ({_roman(self.item)})"
        if self.sub:
            out += f"({_dash(self.sub)})"
        return out

    @property
    def meti(self) -> str:
        """METI's shorthand: 7の項(10の2), 3の2の項(2)10."""
        out = f"{_no(self.row)}の項"
        if self.item:
            out += f"({_no(self.item)})"
        if self.sub:
            out += _no(self.sub)
        return out

    def to_json(self) -> dict:
        return {"law_id": self.law_id, "path": self.path, "citation_ja": self.citation_ja,
                "citation_en": self.citation_en, "meti": self.meti, "list_entry": self.list_entry}

    @property
    def list_entry(self) -> str:
        return f"Appended Table 1, row {_dash(self.row)}"


@dataclass(frozen=True)
class MetiRef:
    """A bracketed reference as found in a release, with the action it names."""

    quote: str  # 【7の項(10の2)の追加】 exactly as written
    refs: tuple[ItemRef, ...]
    action: str | None  # addition | removal | amendment | None

    def to_json(self) -> dict:
        return {"quote": self.quote, "action": self.action, "provisions": [r.to_json() for r in self.refs]}


def _dash(b: Branch) -> str:
    return "-".join(str(n) for n in b)


def _roman(b: Branch) -> str:
    return "-".join([to_roman(b[0]), *(str(n) for n in b[1:])])


def _no(b: Branch) -> str:
    return "の".join(str(n) for n in b)


def _fullwidth(n: int) -> str:
    return "".join(chr(0xFF10 + int(d)) for d in str(n))


# ------------------------------------------------------------------------ METI → provisions

_NUM = r"\d+(?:の\d+)*"
_ENTRY = rf"(?P<row>{_NUM})の項(?P<rest>(?:\({_NUM}\)(?:{_NUM})?(?:(?:、|及び|,|・)\({_NUM}\)(?:{_NUM})?)*)?)"
_BRACKET = re.compile(r"【([^】]{1,120})】")
_ENTRY_RE = re.compile(_ENTRY)
_SUBPART = re.compile(rf"\((?P<item>{_NUM})\)(?P<sub>{_NUM})?")
_ACTION = re.compile("(" + "|".join(ACTIONS) + ")")


def _branch(s: str) -> Branch:
    return tuple(int(p) for p in s.split("の"))


def parse_meti_ref(text: str, *, law_id: str = EXPORT_ORDER) -> tuple[tuple[ItemRef, ...], str | None]:
    """Parse the inside of one bracket (or the bare shorthand): 7の項(10の2)の追加.

    Several entries may be joined (7の項(10の2)及び8の項(1)の追加); each row may list several
    sentences ((10)、(11)). Raises ParseError when nothing in it is an item reference."""
    t = nfkc(text).replace("（", "(").replace("）", ")")
    refs: list[ItemRef] = []
    for m in _ENTRY_RE.finditer(t):
        row = _branch(m["row"])
        rest = m["rest"] or ""
        subs = list(_SUBPART.finditer(rest))
        if not subs:
            refs.append(ItemRef(law_id, row))
        for s in subs:
            refs.append(ItemRef(law_id, row, _branch(s["item"]), _branch(s["sub"]) if s["sub"] else None))
    if not refs:
        raise ParseError(f"METI reference {text!r}", "no 〇の項 entry in it")
    action = _ACTION.search(t)
    return tuple(refs), ACTIONS[action.group(1)] if action else None


def find_meti_refs(text: str, *, law_id: str = EXPORT_ORDER) -> list[MetiRef]:
    """Every bracketed item reference 【…の項…】 in running text, in order."""
    out: list[MetiRef] = []
    for m in _BRACKET.finditer(text):
        if "の項" not in nfkc(m.group(1)):
            continue
        try:
            refs, action = parse_meti_ref(m.group(1), law_id=law_id)
        except ParseError:
            continue
        out.append(MetiRef(m.group(0), refs, action))
    return out


# ------------------------------------------------------------------------ provisions → METI

_ROW_TEXT = re.compile(r"^(?P<row>[〇一二三四五六七八九十]+(?:の[〇一二三四五六七八九十]+)*)(?:の項)?$")


def _kanji_branch(label: str, what: str) -> Branch:
    try:
        return branch_number(label)
    except ParseError:
        raise ParseError(f"{what} {label!r}", "not a (branch) number") from None


def from_law_labels(row: str, item: str | None = None, sub: str | None = None, *,
                    law_id: str = EXPORT_ORDER) -> ItemRef:
    """Build a reference from the labels as the law text writes them:
    ("七", "（十の二）") or ("三の二", "（二）", "１０") or ("一五",)."""
    m = _ROW_TEXT.match(nfkc(row).strip())
    if not m:
        raise ParseError(f"row {row!r}", "not an appended-table row number")
    row_b = _kanji_branch(m["row"], "row")
    item_b = sub_b = None
    if item is not None:
        inner = nfkc(item).strip().strip("()（）")
        item_b = _kanji_branch(inner, "item")
    if sub is not None:
        sub_b = _kanji_branch(nfkc(sub).strip(), "sub-item")
    return ItemRef(law_id, row_b, item_b, sub_b)


_PATH = re.compile(r"^appdx(?P<t>\d+)\.row(?P<row>\d+(?:-\d+)*)(?:\.g(?P<item>\d+(?:-\d+)*))?"
                   r"(?:\.s(?P<sub>\d+(?:-\d+)*))?$")


def from_path(law_id: str, path: str) -> ItemRef:
    """Inverse of ItemRef.path."""
    m = _PATH.match(path)
    if not m:
        raise ParseError(f"path {path!r}", "not an appended-table path (appdx1.row7.g10-2)")

    def b(s: str | None) -> Branch | None:
        return tuple(int(p) for p in s.split("-")) if s else None

    return ItemRef(law_id, b(m["row"]) or (), b(m["item"]), b(m["sub"]))
