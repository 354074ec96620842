"""Decode fetched bytes to text: HTTP header, then BOM, then <meta>/XML declaration, then detection.

Pure: bytes and the Content-Type in, `Decoded` out. A declared charset is used only when the
bytes really decode under it (government sites often send a server-default `charset=ISO-8859-1`
on Shift_JIS pages); otherwise the next step is tried and the reason is kept. Shift_JIS is
read as CP932, its Microsoft superset, so NEC/IBM extension characters (①, ㈱, 髙) survive.
Nothing here raises on bad input: the last resort decodes with replacement and says so.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

# Labels that mean "Shift_JIS as Windows writes it": decode all of them as cp932.
_ALIASES = {
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "s_jis": "cp932", "ms_kanji": "cp932", "csshiftjis": "cp932", "windows-31j": "cp932",
    "ms932": "cp932", "cp932": "cp932", "x-ms-cp932": "cp932",
    "euc-jp": "euc_jp", "x-euc-jp": "euc_jp", "eucjp": "euc_jp", "euc_jp": "euc_jp",
    "iso-2022-jp": "iso2022_jp", "csiso2022jp": "iso2022_jp",
    # WHATWG: latin-1 labels mean windows-1252.
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252",
    "ascii": "cp1252",
}

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_META = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_:.\-]{1,40})", re.I)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9_.\-]{1,40})[\"']", re.I)
_CT_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9_:.\-]+)", re.I)
_SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # Python codec name actually used, e.g. "cp932"
    source: str  # header | bom | meta | xml | detected | fallback
    note: str = ""  # e.g. "header utf-8 did not fit", "invalid bytes replaced"

    @property
    def label(self) -> str:
        """What goes in fetch_log / document_versions.encoding, e.g. "cp932 (meta)"."""
        return f"{self.encoding} ({self.source})"[:40]


def normalise_charset(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when unknown."""
    if not label:
        return None
    key = label.strip().strip("\"'").lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        name = codecs.lookup(key).name
    except LookupError:
        return None
    return _ALIASES.get(name, name)


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = _CT_CHARSET.search(content_type)
    return m.group(1) if m else None


def media_type_of(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def is_text_type(content_type: str | None) -> bool:
    """Types worth decoding to text (HTML, XML, JSON, feeds, plain text)."""
    media = media_type_of(content_type)
    if media is None:
        return True  # unknown: try, the decode chain never fails
    return (media.startswith("text/") or media.endswith(("+xml", "/xml", "+json", "/json"))
            or media in {"application/javascript", "application/xhtml+xml"})


def sniff_declared(data: bytes) -> tuple[str, str] | None:
    """The charset declared inside the document: (label, "xml" | "meta"), or None."""
    head = data[:_SNIFF_BYTES]
    m = _XML_DECL.match(head)
    if m:
        return m.group(1).decode("ascii"), "xml"
    m = _META.search(head)
    if m:
        return m.group(1).decode("ascii"), "meta"
    return None


def decode(data: bytes, content_type: str | None = None) -> Decoded:
    """Text of `data` with the encoding chosen and why. Never raises."""
    notes: list[str] = []

    declared = charset_from_content_type(content_type)
    if declared:
        got = _try(data, declared)
        if got is not None:
            return Decoded(got[0], got[1], "header")
        mostly = _mostly_utf8(data) if normalise_charset(declared) == "utf-8" else None
        if mostly is not None:
            return Decoded(mostly[0], "utf-8", "header", _replaced(mostly[0]) + f" ({mostly[1]})")
        notes.append(f"header {declared} did not fit")

    for bom, name in _BOMS:
        if data.startswith(bom):
            text = data[len(bom):].decode(name, errors="replace")
            return Decoded(text, name, "bom", _join(notes, _replaced(text)))

    inner = sniff_declared(data)
    if inner:
        label, where = inner
        # An ASCII-compatible document cannot really be UTF-16 (HTML spec: read as UTF-8).
        if label.lower().startswith(("utf-16", "utf16")):
            label = "utf-8"
        got = _try(data, label)
        if got is not None:
            return Decoded(got[0], got[1], where, _join(notes, ""))
        notes.append(f"{where} {label} did not fit")

    got = detect(data)
    if got is not None:
        return Decoded(got[0], got[1], "detected", _join(notes, ""))

    text = data.decode("utf-8", errors="replace")
    return Decoded(text, "utf-8", "fallback", _join(notes, "invalid bytes replaced"))


def detect(data: bytes) -> tuple[str, str] | None:
    """(text, codec) by detection, preferring UTF-8 and then the Japanese encodings."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    fits = []
    for name in ("cp932", "euc_jp", "iso2022_jp"):
        try:
            fits.append((data.decode(name), name))
        except UnicodeDecodeError:
            continue
    if fits:
        return max(fits, key=lambda tc: _japanese_score(tc[0]))
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        return None
    name = normalise_charset(best.encoding) or best.encoding
    try:
        return data.decode(name), name
    except (UnicodeDecodeError, LookupError):
        return None


def _mostly_utf8(data: bytes) -> tuple[str, str] | None:
    """UTF-8 with a few stray bytes replaced, when the server said UTF-8 and the rest is
    clearly UTF-8 (ten valid multi-byte characters or more per invalid sequence): otherwise
    detection would read a whole Japanese page as CP932 mojibake because one byte broke.
    None when that is not clear (a mislabelled Shift_JIS page has few valid sequences)."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
    multibyte = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    if bad and multibyte >= 10 * bad:
        return text.removeprefix("\ufeff"), f"{bad} invalid byte sequence{'s' * (bad != 1)}"
    return None


def _try(data: bytes, label: str) -> tuple[str, str] | None:
    name = normalise_charset(label)
    if name is None:
        return None
    if name == "utf-8":
        name = "utf-8-sig"  # a BOM after a utf-8 header is not text
    try:
        text = data.decode(name)
    except UnicodeDecodeError:
        return None
    return text, "utf-8" if name == "utf-8-sig" else name


def _japanese_score(text: str) -> float:
    """Share of characters that real Japanese prose is made of.

    EUC-JP bytes often also decode as CP932, but into half-width katakana and odd kanji;
    hiragana, full-width katakana, common punctuation and ASCII dominate real text.
    """
    if not text:
        return 0.0
    good = 0
    for ch in text:
        o = ord(ch)
        if o < 0x80 or 0x3040 <= o <= 0x30FF or 0x3000 <= o <= 0x303F or 0xFF01 <= o <= 0xFF5E:
            good += 1
        elif 0x4E00 <= o <= 0x9FFF:
            good += 0.5
    return good / len(text)


def _replaced(text: str) -> str:
    return "invalid bytes replaced" if "\ufffd" in text else ""


def _join(notes: list[str], extra: str) -> str:
    return "; ".join([*notes, extra] if extra else notes)
