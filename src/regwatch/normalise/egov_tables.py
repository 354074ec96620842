"""Appended tables (別表) and other appendices of a law, as provisions.

Control lists are appended tables whose rows are numbered in the first column (一, 三の二,
二二 …) and whose goods column flattens the hierarchy into text prefixes: each Sentence may
start with a label and an ideographic space — `（十の二）　…` (goods entry, path `g10-2`)
and below it `１　…` / `５の２　…` (path `s5-2`). A Sentence without a prefix continues the
entry before it (or is the row's lead-in). So Appended Table 1, row 7, (x-2) is
`appdx1.row7.g10-2`, cited `別表第一の七の項（十の二）` / `Appended Table 1, row 7, (x-2)`.

Other tables become one provision per row (`appdx2.r5`, cells joined by " | "), with
`rowspan`/`colspan` expanded first so that a spanned cell counts in every row it covers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lxml import etree

from regwatch.normalise.egov_law import (
    _flat,
    _num_key,
    _sentence,
    _Text,
    parse_label,
)
from regwatch.normalise.text_ja import kanji_to_int, nfkc

if TYPE_CHECKING:
    from regwatch.normalise.egov_law import _Walk

_K = "〇一二三四五六七八九十百千"
_TABLE_TITLE = re.compile(rf"^(?P<base>別表(?:第(?P<n>[{_K}]+))?(?P<br>(?:の[{_K}]+)*))(?:[（(].*)?$")
_ROW_LABEL = re.compile(rf"^[{_K}]+(?:の[{_K}]+)*$")
_GOODS = re.compile(rf"^[（(]([{_K}]+(?:の[{_K}]+)*)[）)](?:[\u3000 ]|$)")
_SUB = re.compile(r"^([0-9０-９]+(?:の[0-9０-９]+)*)[\u3000 ]")
_OTHER_EN = {"AppdxNote": "Appended Note", "AppdxStyle": "Appended Form",
             "AppdxFormat": "Appended Format", "AppdxFig": "Appended Figure",
             "Appdx": "Appendix"}

Cell = list[_Text]


def _join(parts: list[_Text], sep: str = "") -> _Text:
    out = _Text()
    for p in parts:
        out.add(p, sep)
    return out


def _cell(tc: etree._Element) -> Cell:
    sentences = [_sentence(s) for s in tc.iter("Sentence")]
    if not sentences:
        t = _flat(tc).strip()
        sentences = [_Text(t, t)] if t else []
    return [s for s in sentences if s.text.strip() or s.ruby]


def _int_attr(el: etree._Element, name: str) -> int:
    v = (el.get(name) or "1").strip()
    return max(1, min(int(v), 1000)) if v.isdigit() else 1


def expand_grid(table: etree._Element) -> list[list[Cell]]:
    """Rows of cells with rowspan/colspan expanded: a spanned cell appears in each row
    it covers (colspan leaves empty cells after it)."""
    rows: list[list[Cell]] = []
    pending: dict[int, list] = {}  # column → [rows still to cover, cell]
    for tr in table:
        if tr.tag not in ("TableRow", "TableHeaderRow"):
            continue
        row: list[Cell] = []

        def fill(row: list[Cell] = row) -> None:
            while len(row) in pending:
                slot = pending[len(row)]
                row.append(slot[1])
                slot[0] -= 1
                if slot[0] <= 0:
                    del pending[len(row) - 1]

        for tc in tr:
            if tc.tag not in ("TableColumn", "TableHeaderColumn"):
                continue
            fill()
            cell = _cell(tc)
            rowspan, colspan = _int_attr(tc, "rowspan"), _int_attr(tc, "colspan")
            for k in range(colspan):
                if rowspan > 1:
                    pending[len(row)] = [rowspan - 1, cell if k == 0 else []]
                row.append(cell if k == 0 else [])
        while pending and max(pending) >= len(row):
            if len(row) in pending:
                fill()
            else:
                row.append([])
        rows.append(row)
    return rows


def _cell_text(cell: Cell) -> str:
    return "".join(s.text for s in cell).strip()


def _row_nums(label: str) -> tuple[int, ...]:
    return tuple(kanji_to_int(p) for p in label.split("の"))


def _appendix_names(el: etree._Element, w: _Walk) -> tuple[str, str, str]:
    """(path key, Japanese base citation, English base citation)."""
    tag = el.tag.removeprefix("SupplProvision")
    prefix = "suppl-" if el.tag.startswith("SupplProvision") else ""
    title_el = next((c for c in el if c.tag.endswith("Title")), None)
    title = nfkc(_flat(title_el)).strip() if title_el is not None else ""
    m = _TABLE_TITLE.match(title) if tag == "AppdxTable" else None
    if m:
        nums = ([kanji_to_int(m["n"])] if m["n"] else []) + \
            [kanji_to_int(p) for p in m["br"].split("の")[1:]]
        key = "-".join(map(str, nums))
        en = "Appended Table" + (f" {key}" if key else "")
        ja = _flat(title_el).strip()[: len(m["base"])]
        return f"{prefix}appdx{key}", ja, en
    num = _num_key(el.get("Num")) if el.get("Num") else ""
    return f"{prefix}{tag.lower()}{num}", title or tag, f"{_OTHER_EN.get(tag, tag)} {num}".strip()


def walk_appendix(w: _Walk, el: etree._Element) -> None:
    key, ja, en = _appendix_names(el, w)
    related = el.find("RelatedArticleNum")
    rel = _flat(related).strip() if related is not None else ""
    title_el = next((c for c in el if c.tag.endswith("Title")), None)
    title = _flat(title_el).strip() if title_el is not None else ""
    kind = "appended_table" if el.tag.endswith("AppdxTable") else "appendix"
    if kind == "appendix":
        body = [_sentence(s) for s in el.iter("Sentence")]
        w.add(path=key, cja=ja, cen=en, label=title, text=_join(body, "\n"), kind=kind,
              parent=None, entry=None)
        return
    path = w.add(path=key, cja=ja, cen=en, label=title, text=_Text(rel, rel), kind=kind,
                 parent=None, entry=None)
    structs = el.findall("TableStruct")
    for i, ts in enumerate(structs, 1):
        tpath = path if len(structs) == 1 else f"{path}.t{i}"
        table = ts.find("Table")
        if table is not None:
            _table(w, table, tpath, ja, en, path)
        for remarks in ts.findall("Remarks"):
            _remarks(w, remarks, tpath, ja, en, path)
    for remarks in el.findall("Remarks"):
        _remarks(w, remarks, path, ja, en, path)
    w.items(el, path, ja, en + ", ", None)


def _remarks(w: _Walk, el: etree._Element, tpath: str, ja: str, en: str, parent: str) -> None:
    label_el = el.find("RemarksLabel")
    label = _flat(label_el).strip() if label_el is not None else "備考"
    text = _join([_sentence(s) for s in el if s.tag == "Sentence"])
    rpath = w.add(path=f"{tpath}.remarks", cja=f"{ja}{label}", cen=f"{en}, Remarks", label=label,
                  text=text, kind="remarks", parent=parent, entry=None)
    w.items(el, rpath, f"{ja}{label}", f"{en}, Remarks ", None)


def _own_entry(w: _Walk, ja_table: str, en_table: str, row_label: str, nums: tuple[int, ...]
               ) -> tuple[str, str] | None:
    """A control-list instrument's own table rows are list entries themselves."""
    if w.own_instrument is None:
        return None
    _ja, en_name, abbrevs = w.own_instrument
    row = "-".join(map(str, nums))
    return f"{en_name}, {en_table}, row {row}", f"{(abbrevs or (_ja,))[0]}{ja_table}の{row_label}の項"


def _table(w: _Walk, table: etree._Element, tpath: str, ja: str, en: str, parent: str) -> None:
    rows = expand_grid(table)
    labels = [_cell_text(r[0]) if r else "" for r in rows]
    labelled = [i for i, lab in enumerate(labels) if _ROW_LABEL.match(nfkc(lab))]
    body_rows = [i for i, r in enumerate(rows) if any(_cell_text(c) for c in r)]
    is_list = bool(labelled) and len(labelled) * 2 >= len(body_rows) - 1 and \
        all(len(r) >= 2 for i, r in enumerate(rows) if i in labelled)
    if not is_list:
        for i, r in enumerate(rows, 1):
            w.add(path=f"{tpath}.r{i}", cja=f"{ja}（第{i}行）", cen=f"{en}, table row {i}",
                  label=str(i), text=_join([_join(c) for c in r], " | "), kind="table_row",
                  parent=parent, entry=None)
        return
    first = labelled[0]
    header = [_cell_text(c) for c in rows[first - 1]] if first > 0 else []
    if first > 0:
        w.add(path=f"{tpath}.header", cja=f"{ja}（表頭）", cen=f"{en}, header", label="",
              text=_join([_join(c) for row in rows[:first] for c in row], " | "),
              kind="table_header", parent=parent, entry=None)
    for i in range(first, len(rows)):
        r = rows[i]
        label = nfkc(labels[i])
        if i not in labelled:
            w.add(path=f"{tpath}.r{i + 1}", cja=f"{ja}（第{i + 1}行）", cen=f"{en}, table row {i + 1}",
                  label="", text=_join([_join(c) for c in r], " | "), kind="table_row",
                  parent=parent, entry=None)
            continue
        _list_row(w, r, labels[i], _row_nums(label), header, tpath, ja, en, parent)


def _list_row(w: _Walk, r: list[Cell], label: str, nums: tuple[int, ...], header: list[str],
              tpath: str, ja: str, en: str, parent: str) -> None:
    key = "-".join(map(str, nums))
    cja, cen = f"{ja}の{label}の項", f"{en}, row {key}"
    entry = _own_entry(w, ja, en, label, nums)
    lead: list[_Text] = []
    entries: list[list] = []  # [level, printed label, Label, [texts]]
    for s in (r[1] if len(r) > 1 else []):
        m = _GOODS.match(s.text) or _SUB.match(s.text)
        lab = parse_label(m.group(0).strip()) if m else None
        if m and lab is not None:
            cut = len(m.group(0))
            bare = s.bare[cut:] if s.bare.startswith(s.text[:cut]) else s.bare
            level = "g" if m.re is _GOODS else "s"
            entries.append([level, s.text[:cut].strip(), lab, [_Text(s.text[cut:], bare, s.ruby)]])
        elif entries:
            entries[-1][3].append(s)
        else:
            lead.append(s)
    rpath = w.add(path=f"{tpath}.row{key}", cja=cja, cen=cen, label=label, text=_join(lead),
                  kind="list_row", parent=parent, entry=entry)
    g_path, g_ja, g_en = None, cja, cen
    for level, printed, lab, texts in entries:
        if level == "g":
            g_ja, g_en = f"{cja}{printed}", f"{cen}, ({lab.en})"
            g_path = w.add(path=f"{rpath}.g{lab.key}", cja=g_ja, cen=g_en, label=printed,
                           text=_join(texts), kind="list_goods", parent=rpath, entry=entry)
        else:
            par = g_path or rpath
            w.add(path=f"{par}.s{lab.key}", cja=f"{g_ja}{printed}",
                  cen=f"{g_en if g_path else cen + ','}({lab.key})", label=printed,
                  text=_join(texts), kind="list_subgoods", parent=par, entry=entry)
    for j in range(2, len(r)):
        name = header[j] if j < len(header) and header[j] else ""
        w.add(path=f"{rpath}.c{j + 1}", cja=f"{cja}の{name}の欄" if name else f"{cja}（第{j + 1}欄）",
              cen=f"{cen}, column {j + 1}", label=name, text=_join(r[j]), kind="list_cell",
              parent=rpath, entry=entry)
