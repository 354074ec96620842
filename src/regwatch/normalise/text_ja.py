"""Japanese text primitives: NFKC, kanji numerals, iroha order, roman numerals.

Two kanji numeral styles occur in Japanese law text and both must be read:
- multiplier style in law numbers and labels: 三百七十八 = 378, 十七 = 17, 二千二十四 = 2024;
- positional style with 〇 in tables and quantities: 三五 = 35, 一〇 = 10, 二〇二四 = 2024.
Full-width and ASCII digits are accepted anywhere a digit is.

Everything here is pure and raises only regwatch.errors.ParseError on bad input.
"""

from __future__ import annotations

import re
import unicodedata

from regwatch.errors import ParseError

_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
           "八": 8, "九": 9}
_DIGITS.update({str(i): i for i in range(10)})
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG_UNITS = {"万": 10**4, "億": 10**8, "兆": 10**12}
_KANJI_DIGITS = "〇一二三四五六七八九"

# The 47 kana of the iroha poem: the order of Subitem1 labels (イ ロ ハ …).
IROHA = ("イロハニホヘトチリヌルヲワカヨタレソツネナラムウヰノオクヤマケフコエテアサキユメミシヱヒモセス")
_IROHA_ROMAJI = (
    "i ro ha ni ho he to chi ri nu ru wo wa ka yo ta re so tsu ne na ra mu u wi no o ku ya ma "
    "ke fu ko e te a sa ki yu me mi shi we hi mo se su"
).split()
assert len(IROHA) == len(_IROHA_ROMAJI) == 47

_ROMAN = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
          (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))


def nfkc(s: str) -> str:
    """NFKC-normalise: full-width digits/letters to ASCII, half-width kana to full-width."""
    return unicodedata.normalize("NFKC", s)


def _bad(s: object, reason: str) -> ParseError:
    return ParseError(f"numeral {s!r}", reason)


def _positional(s: str, whole: str) -> int:
    value = 0
    for ch in s:
        if ch not in _DIGITS:
            raise _bad(whole, f"unexpected character {ch!r}")
        value = value * 10 + _DIGITS[ch]
    return value


def _below_man(s: str, whole: str) -> int:
    """A group below 万: digits and 千/百/十 in decreasing order (三百七十八, 2千5百)."""
    total, last_unit, run = 0, 10**4, ""
    for ch in s:
        if ch in _SMALL_UNITS:
            unit = _SMALL_UNITS[ch]
            if unit >= last_unit:
                raise _bad(whole, f"{ch} out of order")
            coef = _positional(run, whole) if run else 1
            if run and not 0 < coef < 10:
                raise _bad(whole, f"bad coefficient {run!r} before {ch}")
            total += coef * unit
            last_unit, run = unit, ""
        elif ch in _DIGITS:
            run += ch
        else:
            raise _bad(whole, f"unexpected character {ch!r}")
    if run:
        tail = _positional(run, whole)
        if last_unit != 10**4 and tail >= last_unit:
            raise _bad(whole, f"trailing {run!r} too large after a unit")
        total += tail
    return total


def kanji_to_int(s: str) -> int:
    """Read a Japanese numeral in either style (see module doc). Raises ParseError."""
    if not isinstance(s, str):
        raise _bad(s, "not a string")
    t = nfkc(s).strip()
    if not t:
        raise _bad(s, "empty")
    if not any(ch in _SMALL_UNITS or ch in _BIG_UNITS for ch in t):
        return _positional(t, s)
    total, rest, last_big = 0, t, 10**16
    for big_ch, big in sorted(_BIG_UNITS.items(), key=lambda kv: -kv[1]):
        if big_ch in rest:
            head, _, rest = rest.partition(big_ch)
            if big_ch in rest or big >= last_big:
                raise _bad(s, f"{big_ch} repeated or out of order")
            if not head:
                raise _bad(s, f"{big_ch} without a coefficient")
            coef = _below_man(head, s)
            if coef == 0:
                raise _bad(s, f"zero before {big_ch}")
            total += coef * big
            last_big = big
    if rest:
        total += _below_man(rest, s)
    return total


def _group_to_kanji(n: int) -> str:
    """1..9999 in multiplier style, omitting 一 before 十/百/千 (as law numbers do)."""
    out = []
    for unit, ch in ((1000, "千"), (100, "百"), (10, "十")):
        q, n = divmod(n, unit)
        if q:
            out.append(("" if q == 1 else _KANJI_DIGITS[q]) + ch)
    if n:
        out.append(_KANJI_DIGITS[n])
    return "".join(out)


def int_to_kanji(n: int) -> str:
    """Multiplier-style kanji numeral for citations: 378 → 三百七十八, 0 → 〇."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0 or n >= 10**16:
        raise _bad(n, "only integers 0 ≤ n < 10^16 can be written in kanji")
    if n == 0:
        return "〇"
    parts = []
    for unit, ch in ((10**12, "兆"), (10**8, "億"), (10**4, "万")):
        q, n = divmod(n, unit)
        if q:
            parts.append(_group_to_kanji(q) + ch)
    if n:
        parts.append(_group_to_kanji(n))
    return "".join(parts)


def int_to_positional_kanji(n: int) -> str:
    """Positional kanji (as in appended-table row numbers): 35 → 三五, 10 → 一〇."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise _bad(n, "only non-negative integers")
    return "".join(_KANJI_DIGITS[int(d)] for d in str(n))


_BRANCH_SPLIT = re.compile(r"の")


def branch_number(s: str) -> tuple[int, ...]:
    """A label with branch numbers: 十七の二 → (17, 2); ５の２ → (5, 2); 三の二の三 → (3, 2, 3)."""
    t = nfkc(s).strip()
    parts = _BRANCH_SPLIT.split(t)
    if not t or any(not p for p in parts):
        raise _bad(s, "empty part in a branch number")
    return tuple(kanji_to_int(p) for p in parts)


def _katakana(s: str) -> str:
    t = nfkc(s).strip()
    if len(t) == 1 and "ぁ" <= t <= "ゖ":  # hiragana → katakana
        t = chr(ord(t) + 0x60)
    return t


def iroha_index(kana: str) -> int:
    """1-based position of a kana in iroha order: イ → 1, ロ → 2, ヤ → 29."""
    t = _katakana(kana) if isinstance(kana, str) else ""
    if len(t) != 1 or t not in IROHA:
        raise ParseError(f"iroha {kana!r}", "not one of the 47 iroha kana")
    return IROHA.index(t) + 1


def iroha_kana(index: int) -> str:
    """Inverse of iroha_index: 1 → イ."""
    if not isinstance(index, int) or not 1 <= index <= len(IROHA):
        raise ParseError(f"iroha index {index!r}", "out of range 1..47")
    return IROHA[index - 1]


def iroha_romaji(kana: str) -> str:
    """Hepburn-style romaji of an iroha label, for English citations: ヤ → "ya"."""
    return _IROHA_ROMAJI[iroha_index(kana) - 1]


def to_roman(n: int) -> str:
    """Lower-case roman numeral for English citations: 17 → "xvii"."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n < 4000:
        raise ParseError(f"roman {n!r}", "only integers 1..3999 have a roman numeral")
    out = []
    for value, sym in _ROMAN:
        q, n = divmod(n, value)
        out.append(sym * q)
    return "".join(out)


def roman_to_int(s: str) -> int:
    """Inverse of to_roman for canonical numerals (case-insensitive, full-width allowed)."""
    t = nfkc(s).strip().lower() if isinstance(s, str) else ""
    values = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
    if not t or any(ch not in values for ch in t):
        raise ParseError(f"roman {s!r}", "not a roman numeral")
    total = 0
    for a, b in zip(t, t[1:] + " ", strict=True):
        v = values[a]
        total += -v if b != " " and values[b] > v else v
    if not 0 < total < 4000 or to_roman(total) != t:
        raise ParseError(f"roman {s!r}", "not a canonical roman numeral")
    return total
