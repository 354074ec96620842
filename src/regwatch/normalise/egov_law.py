"""Japanese standard law XML (e-Gov Law API v2) → a flat tree of provisions.

Each provision (article, paragraph, item, sub-item, appended-table row or goods entry,
supplementary-provision paragraph …) becomes one `ProvisionText` with a stable path built
from its printed label, Japanese and English citations, and its own text only (children are
separate provisions, so a change to a child never shows as a change to its parent).

Paths: `art6.para1.item17-2.sub1-29.sub2-1.sub3-1`; tables `appdx1.row7.g10-2.s5-2`;
supplementary provisions `suppl[令和五年経済産業省令第二十五号].para1`.
Labels are read from the *Title elements (十七の二 → 17-2, ヤ → 29, （一） → 1, １ → 1);
`Num` attributes are only a fallback, since they are positional in places (Remarks).

English citations follow one rule by label form: kanji numerals → lower roman (item 十七 →
(xvii), （十の二） → (x-2)), iroha kana → romaji ((ya)), Arabic digits → Arabic ((1)),
paragraphs → Arabic: `Article 6(1)(xvii)(ya)(i)(1)`,
`Appended Table 1, row 7, (x-2)(5-2)`.

Ruby (rare kanji with a reading): the reading (Rt) is dropped and the base kept in place.
Some converted XML (see tests/fixtures/egov/README.md) moved every Ruby element after the
sentence text; such a displaced Ruby (trailing, with no text after it) has no known place,
so its base is left out of `text` and kept in `ruby`. The diff compares `match_text` (the
text without any Ruby base) plus `ruby`, which are the same for inline and displaced forms.

Parsing is safe: no DTD, no entities, no network; anything else raises ParseError.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from regwatch.errors import ParseError
from regwatch.normalise.text_ja import (
    IROHA,
    int_to_kanji,
    iroha_romaji,
    kanji_to_int,
    nfkc,
    roman_to_int,
    to_roman,
)

log = logging.getLogger(__name__)

PARSER_VERSION = "egov_law/1"
TOMBSTONE = "削除"

# Instruments whose appended tables are control lists: Japanese title → (English name,
# abbreviations used when other instruments cite them). Used to read list-entry references.
INSTRUMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "輸出貿易管理令": ("Export Trade Control Order", ("輸出令",)),
    "外国為替令": ("Foreign Exchange Order", ("外為令",)),
}

_KANJI_NUM = "〇一二三四五六七八九十百千"
_TEXT_SKIP = {"Rt"}


@dataclass(frozen=True)
class ProvisionText:
    path: str
    citation_ja: str
    citation_en: str
    label: str
    text: str
    kind: str
    list_entry: str | None
    position: int
    parent_path: str | None
    list_entry_ja: str | None = None
    ruby: tuple[str, ...] = ()
    match_text: str = ""  # text without Ruby bases: what the diff compares (with `ruby`)

    @property
    def is_tombstone(self) -> bool:
        return self.text == TOMBSTONE

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ruby"] = list(self.ruby)
        del d["match_text"]
        return d


@dataclass(frozen=True)
class LawText:
    law_num: str
    title: str
    law_id: str | None
    provisions: tuple[ProvisionText, ...]
    suppl_provisions: tuple[ProvisionText, ...]
    parser_version: str = PARSER_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"law_id": self.law_id, "law_num": self.law_num, "title": self.title,
                "parser_version": self.parser_version,
                "provisions": [p.to_json() for p in self.provisions],
                "suppl_provisions": [p.to_json() for p in self.suppl_provisions]}


# ---------------------------------------------------------------- safe XML in

_PARSER_OPTS = dict(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                    dtd_validation=False, remove_comments=True, remove_pis=True)


def _load_xml(data: bytes | str, source: str) -> etree._Element:
    if isinstance(data, str):
        data = re.sub(r"^\s*<\?xml[^>]*\?>", "", data, count=1).encode("utf-8")
    if not data or not data.strip():
        raise ParseError(source, "empty document")
    # Law XML never declares a DTD; refusing one outright stops entity expansion
    # (billion laughs) and external entities (XXE) before the parser sees them.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ParseError(source, "DTD or entity declarations are not allowed in law XML")
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTS))
    except etree.XMLSyntaxError as exc:
        raise ParseError(source, f"malformed XML: {exc}") from None
    except ValueError as exc:
        raise ParseError(source, f"unreadable XML: {exc}") from None
    if root is None:
        raise ParseError(source, "no root element")
    if root.tag != "Law":
        raise ParseError(source, f"root element is <{root.tag}>, expected <Law>")
    return root


def law_json_to_xml(node: Any, *, source: str = "<json>") -> bytes:
    """The e-Gov JSON tree ({tag, attr, children} with strings mixed in) as XML bytes,
    keeping every text exactly where it was among the elements (text/tail)."""
    def build(n: Any, depth: int) -> etree._Element:
        if depth > 200:
            raise ParseError(source, "JSON law tree nested too deeply")
        if not isinstance(n, dict) or not isinstance(n.get("tag"), str):
            raise ParseError(source, f"expected a {{tag, attr, children}} node, got {type(n).__name__}")
        attr = n.get("attr") or {}
        if not isinstance(attr, dict):
            raise ParseError(source, f"<{n['tag']}>: attr must be an object or \"\"")
        try:
            el = etree.Element(n["tag"], {str(k): str(v) for k, v in attr.items()})
        except ValueError as exc:
            raise ParseError(source, f"bad tag or attribute: {exc}") from None
        last: etree._Element | None = None
        children = n.get("children") or []
        if not isinstance(children, list):
            raise ParseError(source, f"<{n['tag']}>: children must be a list")
        for child in children:
            if isinstance(child, str):
                if last is None:
                    el.text = (el.text or "") + child
                else:
                    last.tail = (last.tail or "") + child
            else:
                last = build(child, depth + 1)
                el.append(last)
        return el

    if isinstance(node, dict) and "law_full_text" in node:
        node = node["law_full_text"]
    try:
        return etree.tostring(build(node, 0), encoding="utf-8", xml_declaration=True)
    except ValueError as exc:  # e.g. control characters lxml refuses to serialise
        raise ParseError(source, f"cannot write XML: {exc}") from None


# ---------------------------------------------------------------- text

def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _ruby_base(ruby: etree._Element) -> str:
    parts = [ruby.text or ""]
    for c in ruby:
        if c.tag not in _TEXT_SKIP:
            parts.append(_flat(c))
        parts.append(c.tail or "")
    return "".join(parts)


def _flat(el: etree._Element) -> str:
    """All text inside an element, Ruby bases in place, readings dropped."""
    parts = [el.text or ""]
    for c in el:
        if c.tag == "Ruby":
            parts.append(_ruby_base(c))
        elif c.tag not in _TEXT_SKIP:
            parts.append(_flat(c))
        parts.append(c.tail or "")
    return "".join(parts)


@dataclass
class _Text:
    text: str = ""
    bare: str = ""  # without any Ruby base
    ruby: list[str] = field(default_factory=list)

    def add(self, other: _Text, sep: str = "") -> None:
        if self.text and other.text:
            self.text += sep
            self.bare += sep
        self.text += other.text
        self.bare += other.bare
        self.ruby.extend(other.ruby)


def _sentence(el: etree._Element) -> _Text:
    """One Sentence-like element. Displaced Ruby (trailing, nothing after) is left out."""
    children = list(el)
    trailing = len(children)
    while trailing > 0 and children[trailing - 1].tag == "Ruby" and \
            not (children[trailing - 1].tail or "").strip():
        trailing -= 1
    has_text_before = bool((el.text or "").strip()) or trailing > 0
    if trailing == len(children) or not has_text_before:
        trailing = len(children)
    out = _Text(el.text or "", el.text or "")
    for i, c in enumerate(children):
        if c.tag == "Ruby":
            base = _ruby_base(c)
            out.ruby.append(base)
            if i < trailing:
                out.text += base
        elif c.tag not in _TEXT_SKIP:
            inner = _sentence(c)
            out.text += inner.text
            out.bare += inner.bare
            out.ruby.extend(inner.ruby)
        out.text += c.tail or ""
        out.bare += c.tail or ""
    return out


def _sentences(container: etree._Element | None) -> _Text:
    """Sentences of a *Sentence element joined (main + proviso directly; columns by U+3000)."""
    out = _Text()
    if container is None:
        return out
    for c in container:
        if c.tag == "Sentence":
            out.add(_sentence(c))
        elif c.tag == "Column":
            col = _Text()
            for s in c.iter("Sentence"):
                col.add(_sentence(s))
            out.add(col, "\u3000")
        elif c.tag not in _TEXT_SKIP:
            out.add(_sentence(c))
    return out


def _block_text(el: etree._Element) -> _Text:
    """Text of an auxiliary block (List, TableStruct, Remarks …) inside an item."""
    out = _Text()
    for s in el.iter("Sentence"):
        out.add(_sentence(s), "\n")
    return out


# ---------------------------------------------------------------- labels

@dataclass(frozen=True)
class Label:
    nums: tuple[int, ...]
    style: str  # kanji | kana | arabic | roman | latin
    paren: bool

    @property
    def key(self) -> str:
        return "-".join(str(n) for n in self.nums)

    @cached_property
    def en(self) -> str:
        first, rest = self.nums[0], self.nums[1:]
        head = {"kanji": to_roman, "kana": lambda n: iroha_romaji(IROHA[n - 1]),
                "arabic": str, "roman": to_roman, "latin": lambda n: chr(96 + n)}[self.style](first)
        return "-".join([head, *(str(n) for n in rest)])


_PAREN = re.compile(r"^[（(](.+)[）)]$")


@lru_cache(maxsize=4096)  # labels repeat thousands of times in a law; pure, so cache
def parse_label(title: str) -> Label | None:
    """（十の二） → Label((10, 2), kanji, paren); ヤ → ((29,), kana); ５の２ → ((5, 2), arabic)."""
    t = nfkc(title).strip()
    m = _PAREN.match(t)
    inner = m.group(1).strip() if m else t
    parts = inner.split("の")
    if not inner or any(not p for p in parts):
        return None
    first = parts[0]
    try:
        if len(first) == 1 and first in IROHA:
            nums, style = [IROHA.index(first) + 1], "kana"
        elif first.isascii() and first.isdigit():
            nums, style = [int(first)], "arabic"
        elif all(ch in _KANJI_NUM for ch in first):
            nums, style = [kanji_to_int(first)], "kanji"
        elif first.isascii() and first.isalpha() and set(first.lower()) <= set("ivxlcdm") \
                and (len(first) > 1 or first.lower() in "ivx"):
            nums, style = [roman_to_int(first)], "roman"  # （ｉ）（ｉｉ） in deep sub-items
        elif len(first) == 1 and first.isascii() and first.isalpha():
            nums, style = [ord(first.lower()) - 96], "latin"
        else:
            return None
        nums += [kanji_to_int(p) for p in parts[1:]]
    except ParseError:
        return None
    if nums[0] <= 0 or (style == "kanji" and nums[0] >= 4000):
        return None
    return Label(tuple(nums), style, bool(m))


def _num_key(num: str | None) -> str:
    return (num or "0").replace("_", "-").replace(":", "to")


_ARTICLE = re.compile(r"^第(.+?)条((?:の[^の]+)*)$")
_RANGE = re.compile(r"^(.+?)から(.+?)まで$")


def _article_label(title: str, num: str | None) -> tuple[str, str]:
    """(key, English) for 第十七条の二 → ("17-2", "17-2"); ranges 第五条から第七条まで → 5to7."""
    t = nfkc(title).strip()
    r = _RANGE.match(t)
    try:
        if r:
            a, b = (_article_label(x, None)[0] for x in r.groups())
            return f"{a}to{b}", f"{a} to {b}"
        m = _ARTICLE.match(t)
        if m:
            nums = [kanji_to_int(m.group(1))] + [kanji_to_int(p) for p in m.group(2).split("の")[1:]]
            key = "-".join(map(str, nums))
            return key, key
    except ParseError:
        pass
    key = _num_key(num)
    return key, key


# ---------------------------------------------------------------- the walk

_SUBITEM = re.compile(r"^Subitem(\d+)$")
_LIST_REF = re.compile(
    r"(?P<instr>{names})別表(?:第(?P<table>[{k}]+))?(?:の(?P<row>[{k}]+(?:の[{k}]+)*)の項)?"
    .replace("{k}", _KANJI_NUM))


class _Walk:
    """Collects provisions in document order (one instance per parse; not shared)."""

    def __init__(self, source: str, title: str):
        self.source = source
        self.out: list[ProvisionText] = []
        self.seen: set[str] = set()
        self.refs = self._reference_pattern(title)
        self.own_instrument = next(((ja, *v) for ja, v in INSTRUMENTS.items() if title == ja), None)

    @staticmethod
    def _reference_pattern(title: str) -> re.Pattern[str]:
        names = []
        for ja, (_en, abbrevs) in INSTRUMENTS.items():
            names += [ja, *abbrevs]
        return re.compile(_LIST_REF.pattern.replace("{names}", "|".join(map(re.escape, names))))

    def list_entry_in(self, text: str) -> tuple[str, str] | None:
        """(English, Japanese) for the first control-list row cited: 輸出令別表第一の七の項."""
        for m in self.refs.finditer(text):
            if not m["row"]:
                continue
            instr = m["instr"]
            en_name = next(en for ja, (en, ab) in INSTRUMENTS.items() if instr == ja or instr in ab)
            table = f" {kanji_to_int(m['table'])}" if m["table"] else ""
            row = "-".join(str(kanji_to_int(p)) for p in m["row"].split("の"))
            return f"{en_name}, Appended Table{table}, row {row}", m.group(0)
        return None

    def add(self, *, path: str, cja: str, cen: str, label: str, text: _Text, kind: str,
            parent: str | None, entry: tuple[str, str] | None) -> str:
        if path in self.seen:
            k = 2
            while f"{path}~{k}" in self.seen:
                k += 1
            log.warning("%s: duplicate provision path %s; kept as %s~%d", self.source, path, path, k)
            path = f"{path}~{k}"
        self.seen.add(path)
        self.out.append(ProvisionText(
            path=path, citation_ja=cja, citation_en=cen, label=_nfc(label), text=_nfc(text.text),
            kind=kind, list_entry=entry[0] if entry else None, position=len(self.out),
            parent_path=parent, list_entry_ja=entry[1] if entry else None,
            ruby=tuple(_nfc(r) for r in text.ruby), match_text=_nfc(text.bare)))
        return path

    # -- main provision
    def container(self, el: etree._Element, prefix: str, cja: str, cen: str,
                  parent: str | None) -> None:
        for c in el:
            tag = c.tag
            if tag in ("Part", "Chapter", "Section", "Subsection", "Division"):
                t = c.find(f"{tag}Title")
                title = _flat(t).strip() if t is not None else ""
                num = _num_key(c.get("Num"))
                self.add(path=f"{prefix}{tag.lower()}{num}", cja=title, cen=f"{tag} {num}",
                         label=title, text=_Text(title, title), kind=tag.lower(), parent=parent,
                         entry=None)
                self.container(c, prefix, cja, cen, parent)
            elif tag == "Article":
                self.article(c, prefix, cja, cen, parent)
            elif tag == "Paragraph":
                self.paragraph(c, prefix, cja, f"{cen}, paragraph " if cen else "Paragraph ",
                               parent, None)

    def article(self, el: etree._Element, prefix: str, cja: str, cen: str,
                parent: str | None) -> None:
        title_el = el.find("ArticleTitle")
        title = _flat(title_el).strip() if title_el is not None else ""
        key, en = _article_label(title, el.get("Num"))
        caption_el = el.find("ArticleCaption")
        caption = _flat(caption_el).strip() if caption_el is not None else ""
        first = el.find("Paragraph/ParagraphSentence")
        entry = self.list_entry_in(_sentences(first).text) if first is not None else None
        base_ja = f"{cja}{title}"
        base_en = f"{cen}{', ' if cen else ''}Article {en}"
        path = self.add(path=f"{prefix}art{key}", cja=base_ja, cen=base_en, label=title,
                        text=_Text(caption, caption), kind="article", parent=parent, entry=entry)
        for p in el.findall("Paragraph"):
            self.paragraph(p, path + ".", base_ja, base_en, path, entry)

    def paragraph(self, el: etree._Element, prefix: str, cja: str, cen: str, parent: str | None,
                  entry: tuple[str, str] | None) -> None:
        """`cen` ends where "(1)" goes: "Article 6" or "…, paragraph "."""
        num_el = el.find("ParagraphNum")
        printed = _flat(num_el).strip() if num_el is not None else ""
        lab = parse_label(printed) if printed else None
        num_attr = el.get("Num") or ""
        n = lab.nums[0] if lab else (int(num_attr) if num_attr.isdigit() else None)
        key = str(n) if n is not None else _num_key(num_attr)
        text = _sentences(el.find("ParagraphSentence"))
        caption = el.find("ParagraphCaption")
        if caption is not None:
            cap = _flat(caption).strip()
            text = _Text(cap, cap) if not text.text else _Text(
                f"{cap}\u3000{text.text}", f"{cap}\u3000{text.bare}", text.ruby)
        entry = self.list_entry_in(text.text) or entry
        pja = f"{cja}第{int_to_kanji(n)}項" if n is not None else f"{cja}{printed}"
        pen = f"{cen}({key})"
        path = self.add(path=f"{prefix}para{key}", cja=pja, cen=pen, label=printed, text=text,
                        kind="paragraph", parent=parent, entry=entry)
        self.items(el, path, pja, pen, entry)

    def items(self, el: etree._Element, parent: str, cja: str, cen: str,
              entry: tuple[str, str] | None) -> None:
        for c in el:
            if c.tag == "Item":
                self.item(c, "item", "Item", parent, cja, cen, entry)
            else:
                m = _SUBITEM.match(c.tag)
                if m:
                    self.item(c, f"sub{m.group(1)}", c.tag, parent, cja, cen, entry)

    def item(self, el: etree._Element, key_prefix: str, tag: str, parent: str, cja: str, cen: str,
             entry: tuple[str, str] | None) -> None:
        title_el = el.find(f"{tag}Title")
        printed = _flat(title_el).strip() if title_el is not None else ""
        lab = parse_label(printed) if printed else None
        if lab is None and printed:
            log.debug("%s: unreadable label %r under %s; using Num", self.source, printed, parent)
        key = lab.key if lab else _num_key(el.get("Num"))
        text = _sentences(el.find(f"{tag}Sentence"))
        for c in el:
            if c.tag in ("TableStruct", "List", "FigStruct", "StyleStruct", "Remarks"):
                text.add(_block_text(c), "\n")
        if tag == "Item" and lab is not None and lab.style == "kanji" and not lab.paren:
            head, _, rest = printed.partition("の")
            ija = f"{cja}第{head}号" + (f"の{rest}" if rest else "")
        else:
            ija = f"{cja}{printed}"
        ien = f"{cen}({lab.en if lab else key})"
        path = self.add(path=f"{parent}.{key_prefix}-{key}" if key_prefix != "item" else f"{parent}.item{key}",
                        cja=ija, cen=ien, label=printed, text=text,
                        kind="item" if tag == "Item" else tag.lower(), parent=parent, entry=entry)
        self.items(el, path, ija, ien, entry)

    # -- appended tables and other appendices
    def appendix(self, el: etree._Element) -> None:
        from regwatch.normalise.egov_tables import walk_appendix

        walk_appendix(self, el)


def _law_title(root: etree._Element) -> str:
    t = root.find("LawBody/LawTitle")
    return _nfc(_flat(t).strip()) if t is not None else ""


def parse_law_xml(data: bytes | str, *, source: str, law_id: str | None = None) -> LawText:
    """Parse one revision's law XML into its provisions (see module doc)."""
    root = _load_xml(data, source)
    title = _law_title(root)
    law_num_el = root.find("LawNum")
    law_num = _nfc(_flat(law_num_el).strip()) if law_num_el is not None else ""
    body = root.find("LawBody")
    if body is None:
        raise ParseError(source, "no <LawBody>")
    walk = _Walk(source, title)
    enact = body.find("EnactStatement")
    if enact is not None:
        walk.add(path="enact", cja="制定文", cen="Enacting statement", label="", kind="enact_statement",
                 text=_sentence(enact), parent=None, entry=None)
    main = body.find("MainProvision")
    if main is not None:
        walk.container(main, "", "", "", None)
    for appdx in body:
        if appdx.tag.startswith("Appdx"):
            walk.appendix(appdx)
    provisions = tuple(walk.out)
    suppl = _Walk(source, title)
    suppl.seen = set(walk.seen)
    for sp in body.findall("SupplProvision"):
        amend = sp.get("AmendLawNum") or ""
        label_el = sp.find("SupplProvisionLabel")
        label = _flat(label_el).strip() if label_el is not None else "附則"
        prefix = f"suppl[{amend or 'original'}]"
        cja = "附則" + (f"（{amend}）" if amend else "")
        cen = "Supplementary Provisions" + (f" ({amend})" if amend else "")
        path = suppl.add(path=prefix, cja=cja, cen=cen, label=label, text=_Text(), kind="suppl_provision",
                         parent=None, entry=None)
        suppl.container(sp, path + ".", cja, cen, path)
        for c in sp:
            if c.tag.startswith("SupplProvisionAppdx"):
                suppl.appendix(c)
    log.debug("%s: %d provisions, %d supplementary", source, len(provisions), len(suppl.out))
    return LawText(law_num=law_num, title=title, law_id=law_id, provisions=provisions,
                   suppl_provisions=tuple(suppl.out))


def iter_all(law: LawText) -> Iterator[ProvisionText]:
    yield from law.provisions
    yield from law.suppl_provisions


_LAW_ID_IN_NAME = re.compile(r"^(\d{3}[A-Z][0-9A-Z]{11})(?=[_.])")


def law_id_from_filename(path: Path) -> str | None:
    """403M50000400049_20221206_before.xml → 403M50000400049 (e-Gov law IDs are 15 chars)."""
    m = _LAW_ID_IN_NAME.match(path.name)
    return m.group(1) if m else None


def read_law_file(path: Path) -> LawText:
    """Read a law file: XML, or the e-Gov JSON (a node tree or a law_data response)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            node = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(str(path), f"bad JSON: {exc}") from None
        data = law_json_to_xml(node, source=str(path))
    return parse_law_xml(data, source=str(path), law_id=law_id_from_filename(path))


def extract_files(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """`regwatch extract --kind egov_law`: the provision tree of each file."""
    return [{"file": str(p), **read_law_file(Path(p)).to_json()} for p in paths]
