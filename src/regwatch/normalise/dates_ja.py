"""Dates in the forms Japanese and English official sources use, to datetime.date.

Forms: era with Arabic or kanji numerals (令和6年4月26日, 令和六年四月二十六日, 令和元年5月1日),
abbreviated era (R6.4.26, H31.4.30), Western with 年月日 (2024年4月26日), ISO (2024-04-26),
slashes (2024/4/26), compact (20240426), and English ("April 26, 2024", "26 April 2024",
"Apr. 26, 2024", "Friday, April 26, 2024"). Full-width digits are accepted everywhere.

Era boundaries are enforced to the day: Heisei ended 2019-04-30 and Reiwa began 2019-05-01,
so 平成31年5月1日 and 令和元年4月30日 are errors, never silently shifted. A weekday given with
a date must agree with it. Pure: no clock, no locale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from regwatch.errors import DateParseError, ParseError
from regwatch.normalise.text_ja import int_to_kanji, kanji_to_int


@dataclass(frozen=True)
class Era:
    name: str      # 令和
    romaji: str    # Reiwa
    letter: str    # R
    start: date    # first day of the era (year 1 = start.year)
    end: date | None  # last day, None for the current era


# Meiji's start is the Gregorian 1868-01-25 (the era was proclaimed back to the new year of
# the lunar calendar); law texts only use Meiji for post-1873 (Gregorian) dates anyway.
ERAS = (
    Era("明治", "Meiji", "M", date(1868, 1, 25), date(1912, 7, 29)),
    Era("大正", "Taisho", "T", date(1912, 7, 30), date(1926, 12, 24)),
    Era("昭和", "Showa", "S", date(1926, 12, 25), date(1989, 1, 7)),
    Era("平成", "Heisei", "H", date(1989, 1, 8), date(2019, 4, 30)),
    Era("令和", "Reiwa", "R", date(2019, 5, 1), None),
)
_BY_NAME = {e.name: e for e in ERAS} | {e.letter: e for e in ERAS} | {e.romaji.lower(): e for e in ERAS}

_MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_WEEKDAYS_EN = {d: i for i, d in enumerate("monday tuesday wednesday thursday friday saturday sunday".split())}
_WEEKDAYS_EN.update({d[:3]: i for d, i in list(_WEEKDAYS_EN.items())})
_WEEKDAYS_JA = {c: i for i, c in enumerate("月火水木金土日")}

# Length-preserving folding so that match offsets in find_dates point into the original text.
_FOLD = str.maketrans(
    {chr(0xFF10 + i): str(i) for i in range(10)}
    | {chr(0xFF21 + i): chr(0x41 + i) for i in range(26)}
    | {chr(0xFF41 + i): chr(0x61 + i) for i in range(26)}
    | {"．": ".", "／": "/", "－": "-", "，": ",", "\u3000": " ", "（": "(", "）": ")",
       "‐": "-", "−": "-"}
)

_KNUM = "[〇一二三四五六七八九十百千]"
_NUM = rf"(?:\d+|{_KNUM}+)"
_JA_WEEKDAY = r"(?:\s*\(\s*(?P<wdja>[月火水木金土日])(?:曜日?)?\s*\))?"
_ERA_NAMES = "|".join(e.name for e in ERAS)
_EN_MONTH = (r"(?P<mon>january|february|march|april|may|june|july|august|september|october|"
             r"november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?")
_EN_WEEKDAY = (r"(?:(?P<wden>monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
               r"mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\.?,?\s+)?")

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(p, re.IGNORECASE)) for kind, p in (
        ("era", rf"(?P<era>{_ERA_NAMES})\s*(?P<y>元|{_NUM})\s*年\s*(?P<m>{_NUM})\s*月\s*(?P<d>{_NUM})\s*日{_JA_WEEKDAY}"),
        ("western_ja", rf"(?<![\d〇一二三四五六七八九十百千])(?P<y>\d{{4}}|[〇一二三四五六七八九]{{4}})\s*年\s*(?P<m>{_NUM})\s*月\s*(?P<d>{_NUM})\s*日{_JA_WEEKDAY}"),
        ("era_letter", r"(?<![A-Za-z0-9])(?P<era>[MTSHR])\s?(?P<y>\d{1,2})\.(?P<m>\d{1,2})\.(?P<d>\d{1,2})(?![\d.])"),
        ("iso", r"(?<![\d/.-])(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?![\d/.-]\d|\d)"),
        ("compact", r"(?<![\d])(?P<y>(?:1[89]|20|21)\d{2})(?P<m>\d{2})(?P<d>\d{2})(?!\d)"),
        ("en_mdy", rf"(?<![A-Za-z]){_EN_WEEKDAY}{_EN_MONTH}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})(?!\d)"),
        ("en_dmy", rf"(?<![A-Za-z\d]){_EN_WEEKDAY}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+{_EN_MONTH},?\s+(?P<y>\d{{4}})(?!\d)"),
    )
)


@dataclass(frozen=True)
class DateMatch:
    """A date found in running text: `text[start:end] == matched`."""

    date: date
    start: int
    end: int
    matched: str


def _num(s: str, source: str) -> int:
    try:
        return kanji_to_int(s)
    except ParseError as exc:
        raise DateParseError(source, f"bad numeral {s!r}: {exc.reason}") from None


def _era(name: str, source: str) -> Era:
    era = _BY_NAME.get(name) or _BY_NAME.get(name.upper()) or _BY_NAME.get(name.lower())
    if era is None:
        raise DateParseError(source, f"unknown era {name!r}")
    return era


def era_year_to_gregorian(era_name: str, year: int, *, source: str = "<era>") -> int:
    """令和 + 6 → 2024. Rejects year 0 and years after the era ended."""
    era = _era(era_name, source)
    if year < 1:
        raise DateParseError(source, f"{era.name} year {year} does not exist")
    gregorian = era.start.year + year - 1
    if era.end is not None and gregorian > era.end.year:
        raise DateParseError(source, f"{era.name} ended in its year {era.end.year - era.start.year + 1}")
    return gregorian


_ERA_YEAR = re.compile(rf"^\s*(?P<era>{_ERA_NAMES}|[MTSHR])\s*(?P<y>元|{_NUM})\s*年?", re.IGNORECASE)


def parse_era_year(text: str, *, source: str = "<text>") -> int:
    """The Gregorian year of an era year at the start of `text`: 令和元年 → 2019,
    平成三十一年 → 2019, 令和五年経済産業省令第二十五号 → 2023, R6 → 2024."""
    m = _ERA_YEAR.match(text.translate(_FOLD)) if isinstance(text, str) else None
    if not m:
        raise DateParseError(source, "no era year (e.g. 令和6年) at the start")
    y = 1 if m["y"] == "元" else _num(m["y"], source)
    return era_year_to_gregorian(m["era"], y, source=source)


def _build(kind: str, m: re.Match[str], source: str) -> date:
    g = m.groupdict()
    if kind in ("en_mdy", "en_dmy"):
        month = _MONTHS[g["mon"].lower().rstrip(".")]
    else:
        month = _num(g["m"], source)
    day = _num(g["d"], source)
    if kind in ("era", "era_letter"):
        era = _era(g["era"], source)
        year = 1 if g["y"] == "元" else _num(g["y"], source)
        if year < 1:
            raise DateParseError(source, f"{era.name} year {year} does not exist")
        gregorian = era.start.year + year - 1
    else:
        era, gregorian = None, _num(g["y"], source)
    try:
        d = date(gregorian, month, day)
    except (ValueError, OverflowError) as exc:
        raise DateParseError(source, f"impossible date {m.group(0)!r}: {exc}") from None
    if era is not None and not (era.start <= d and (era.end is None or d <= era.end)):
        span = f"{era.start.isoformat()}…{era.end.isoformat() if era.end else ''}"
        raise DateParseError(source, f"{m.group(0)!r} is outside the {era.name} era ({span})")
    wd = g.get("wdja") or g.get("wden")
    if wd:
        expected = _WEEKDAYS_JA.get(wd)
        if expected is None:
            key = wd.lower().rstrip(".")
            expected = _WEEKDAYS_EN.get(key[:3] if key not in _WEEKDAYS_EN else key)
        if expected is not None and d.weekday() != expected:
            raise DateParseError(source, f"{m.group(0)!r}: {d.isoformat()} is not a {wd}")
    return d


def parse_date(text: str, *, source: str = "<text>") -> date:
    """The date written in `text` (the whole string, surrounding space ignored)."""
    if not isinstance(text, str):
        raise DateParseError(source, "not a string")
    folded = text.translate(_FOLD).strip()
    for kind, pattern in _PATTERNS:
        m = pattern.fullmatch(folded)
        if m:
            return _build(kind, m, source)
    raise DateParseError(source, f"not a date in a known form: {text[:80]!r}")


def find_dates(text: str, *, source: str = "<text>") -> list[DateMatch]:
    """Every valid date inside running text, in order of position. Impossible or
    inconsistent dates (令和99年13月40日) are skipped, not guessed."""
    folded = text.translate(_FOLD)
    found: list[DateMatch] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(folded):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            try:
                d = _build(kind, m, source)
            except DateParseError:
                taken.append(m.span())  # an invalid era date must not re-match as a Western one
                continue
            taken.append(m.span())
            found.append(DateMatch(d, m.start(), m.end(), text[m.start():m.end()]))
    found.sort(key=lambda dm: dm.start)
    return found


def format_date_ja(d: date, *, kanji: bool = False) -> str:
    """The era form of a date: 2024-04-26 → 令和6年4月26日 (kanji=True: 令和六年四月二十六日).
    The first year of an era is written 元年."""
    era = next((e for e in reversed(ERAS) if e.start <= d), None)
    if era is None:
        raise DateParseError(d.isoformat(), "before the Meiji era")
    year = d.year - era.start.year + 1
    num = int_to_kanji if kanji else str
    return f"{era.name}{'元' if year == 1 else num(year)}年{num(d.month)}月{num(d.day)}日"


def fiscal_year_of(d: date) -> int:
    """Japanese fiscal year (April–March): 2026-03-31 → 2025, 2026-04-01 → 2026."""
    return d.year if d.month >= 4 else d.year - 1
