"""Claims a news story makes, each with the sentence that makes it.

Fields: jurisdiction (whose rule: JP, US, ...), announced_on, effective_on, item_count,
country_count, categories, instruments, outside_wassenaar, destinations. News writes dates
relative to its own date ("said Friday", "from July 23", "２６日"), so a story's published
date anchors them; without it such dates stay unknown. Hedged or approximate statements
("as early as July", "some 40 countries") make no claim. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from regwatch.normalise.dates_ja import find_dates
from regwatch.normalise.taxonomy import Taxonomy
from regwatch.normalise.text_ja import kanji_to_int


@dataclass(frozen=True)
class Claim:
    field: str
    value: Any  # JSON value: str, int, bool, ISO date string, list of str
    quote: str

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "quote": self.quote}


# ------------------------------------------------------------------ sentences

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"'”’」』]?\s+|(?<=[。！？])|\n+")
_ABBREV_END = re.compile(r"(?:\b[A-Z]|\bU\.S|\bSept?|\bJan|\bFeb|\bAug|\bOct|\bNov|\bDec|\bNo|\bMr|\bMs|\bDr|\bPct|\bInc|\bCo)\.$")


def sentences(text: str) -> list[str]:
    """Sentences of English or Japanese text; abbreviations (U.S., Sept.) do not end one."""
    out: list[str] = []
    buf = ""
    for part in _SENTENCE_END.split(text):
        if not part or not part.strip():
            continue
        buf = f"{buf} {part.strip()}" if buf else part.strip()
        if not _ABBREV_END.search(buf):
            out.append(buf)
            buf = ""
    if buf:
        out.append(buf)
    return out


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


# ------------------------------------------------------------------ jurisdiction

# (pattern, jurisdiction, weight): regulators weigh most, a country acting as subject less.
_JURISDICTION_CUES: tuple[tuple[re.Pattern[str], str, int], ...] = tuple(
    (re.compile(p, re.IGNORECASE), j, w) for p, j, w in (
        (r"\bMETI\b|Ministry of Economy,? Trade and Industry|経済産業省|経産省|経済産業大臣", "JP", 3),
        (r"\b(?:Japanese|Japan's) (?:government|industry ministry|trade ministry|ministry)|日本政府", "JP", 2),
        (r"\b(?:Japan|Tokyo)\s+(?:said|says|will|would|is|was|has|had|plans?|to|on|announced|unveiled|"
         r"weighs|considers|decided|moved|moves|added|adds|restricts|tightens)\b", "JP", 2),
        (r"\bBureau of Industry and Security\b|(?-i:\bBIS\b)|Commerce Department|Department of Commerce|"
         r"Export Administration Regulations|Commerce Control List|Federal Register|米商務省|米商務省産業安全保障局", "US", 3),
        (r"\b(?:U\.S\.|US|American|United States) (?:government|administration)|米政府|\bBiden administration|"
         r"\bTrump administration", "US", 2),
        (r"\b(?:the U\.S\.|the United States|Washington)\s+(?:said|says|will|would|is|has|plans?|on|announced|"
         r"unveiled|issued|released|added|adds|restricts|tightens)\b|(?-i:\bWASHINGTON\b)", "US", 2),
        (r"\bDutch government|Netherlands government|Government of the Netherlands|オランダ政府", "NL", 3),
        (r"\bMinistry of Commerce of China|\bMOFCOM\b|China's commerce ministry|中国商務省", "CN", 3),
        (r"\bEuropean Commission|\bEU dual-use regulation|欧州委員会", "EU", 3),
        (r"\bMinistry of Trade,? Industry and Energy|韓国産業通商資源省", "KR", 3),
    )
)
_TITLE_SUBJECT = (
    (re.compile(r"^\s*(?:Japan|Tokyo)\b|^\s*(?:日本|政府|経産省|経済産業省)"), "JP"),
    (re.compile(r"^\s*(?:U\.S\.|US|BIS|Commerce|Washington)\b|^\s*米"), "US"),
)


def jurisdiction_claim(title: str, body: list[str]) -> Claim | None:
    """The jurisdiction whose rule the story is about: highest cue score, ties unknown."""
    scores: dict[str, int] = {}
    first: dict[str, tuple[int, int, str]] = {}  # jurisdiction → (-weight, position, sentence)
    for j_pattern, j, weight in _JURISDICTION_CUES:
        for pos, sent in enumerate([title, *body]):
            hits = len(j_pattern.findall(sent))
            if hits:
                scores[j] = scores.get(j, 0) + weight * hits * (2 if pos == 0 else 1)
                first[j] = min(first.get(j, (0, 10**6, "")), (-weight, pos, sent))
    for pattern, j in _TITLE_SUBJECT:
        if pattern.search(title):
            scores[j] = scores.get(j, 0) + 3
            first.setdefault(j, (-3, 0, title))
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    j = ranked[0][0]
    return Claim("jurisdiction", j, first[j][2])


# ------------------------------------------------------------------ dates

_MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())} | {"sept": 9})
_MON = r"(?P<mon>January|February|March|April|May|June|July|August|September|October|November|December|" \
       r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
_YEARLESS_EN = re.compile(rf"(?<![A-Za-z]){_MON}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\d|,?\s+\d{{4}})")
_YEARLESS_JA = re.compile(r"(?<![\d年])(?P<m>\d{1,2})月(?P<d>\d{1,2})日")
_DAY_ONLY_JA = re.compile(r"(?<![\d月])(?P<d>\d{1,2})日(?:[、,]|に|から|付)")
_WEEKDAY = re.compile(r"\b(?:on\s+)?(?P<wd>Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b")
_WEEKDAYS = {d: i for i, d in enumerate(
    "monday tuesday wednesday thursday friday saturday sunday".split())}

_ANNOUNCE = re.compile(r"\b(?:said|says|announced|unveiled|released|issued|decided|revealed|introduced)\b"
                       r"|発表|公表|決定|明らかにした|閣議決定", re.IGNORECASE)
_EFFECT = re.compile(r"\b(?:take|takes|took|taking|come|comes|came|go|goes|went|put)\s+(?:into\s+)?"
                     r"(?:effect|force)\b|\beffective\b|\bin force\b|\benforced?\b"
                     r"|施行|発効|適用|効力", re.IGNORECASE)
_FROM_DATE_CONTROL = re.compile(r"\b(?:restrict|curb|control|require|ban|limit)\w*\b[^.]*?"
                                r"\b(?:from|starting|beginning|as of)\s+$", re.IGNORECASE)


@dataclass(frozen=True)
class _Dated:
    date: date
    start: int
    end: int


def dates_in(sentence: str, published_on: date | None, *, forward: bool) -> list[_Dated]:
    """Dates in one sentence: full ones as written; yearless ones and weekdays anchored on the
    story's date (forward: the next occurrence, for effective dates; else the last one)."""
    s = _fold(sentence)
    found = [_Dated(m.date, m.start, m.end) for m in find_dates(s, source="press")]
    taken = [(d.start, d.end) for d in found]

    def free(m: re.Match[str]) -> bool:
        return not any(m.start() < e and b < m.end() for b, e in taken)

    if published_on is None:
        return found
    for pattern in (_YEARLESS_EN, _YEARLESS_JA):
        for m in pattern.finditer(s):
            if not free(m):
                continue
            month = _MONTHS[m["mon"].lower().rstrip(".")] if "mon" in m.groupdict() else int(m["m"])
            d = _anchor_year(month, int(m["d"]), published_on, forward)
            if d:
                found.append(_Dated(d, m.start(), m.end()))
                taken.append(m.span())
    for m in _DAY_ONLY_JA.finditer(s):
        if free(m) and not forward:
            d = _anchor_day(int(m["d"]), published_on)
            if d:
                found.append(_Dated(d, m.start(), m.end()))
    if not forward:
        for m in _WEEKDAY.finditer(s):
            if free(m):
                back = (published_on.weekday() - _WEEKDAYS[m["wd"].lower()]) % 7
                found.append(_Dated(published_on - timedelta(days=back), m.start(), m.end()))
    return sorted(found, key=lambda d: d.start)


def _anchor_year(month: int, day: int, published_on: date, forward: bool) -> date | None:
    try:
        d = date(published_on.year, month, day)
    except ValueError:
        return None
    if forward and d < published_on - timedelta(days=45):
        d = d.replace(year=d.year + 1)
    if not forward and d > published_on + timedelta(days=1):
        d = d.replace(year=d.year - 1)
    return d


def _anchor_day(day: int, published_on: date) -> date | None:
    """Japanese news writes the day only ("２６日") for days of the current month."""
    y, m = published_on.year, published_on.month
    if day > published_on.day:
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    try:
        return date(y, m, day)
    except ValueError:
        return None


_DATELINE = re.compile(r"^\s*[A-Z][A-Za-z .]+,\s+[A-Z][a-z]+\.?\s+\d{1,2}\s*\([^)]*\)\s*[-—–]+\s*")
_SOURCES = re.compile(r"\b(?:sources? (?:said|say|says|familiar)|people (?:familiar|with knowledge)|has learned|"
                      r"according to (?:people|sources))\b|関係者によると|ことが分かった|ことがわかった", re.IGNORECASE)


def date_claims(body: list[str], published_on: date | None) -> list[Claim]:
    """Effective dates (forward from the story's date) and announcement dates (backward);
    a wire dateline ("Tokyo, April 26 (Jiji Press)--") and what unnamed sources say are not
    announcements."""
    out: list[Claim] = []
    for sent in body:
        s = _fold(sent)
        skip = _DATELINE.match(s)
        start = skip.end() if skip else 0
        effective_spans = []
        for d in dates_in(sent, published_on, forward=True):
            if d.start < start:
                continue
            if _EFFECT.search(s) or _FROM_DATE_CONTROL.search(s[:d.start]):
                out.append(Claim("effective_on", d.date.isoformat(), sent))
                effective_spans.append((d.start, d.end))
        if _ANNOUNCE.search(s) and not _SOURCES.search(s):
            for d in dates_in(sent, published_on, forward=False):
                if d.start >= start and (d.start, d.end) not in effective_spans:
                    out.append(Claim("announced_on", d.date.isoformat(), sent))
    return out


def attribution_claims(body: list[str]) -> list[Claim]:
    """Unnamed sources or a scoop ("Nikkei has learned"): the story is not an announcement."""
    return [Claim("reported_by_sources", True, s) for s in body if _SOURCES.search(_fold(s))][:1]


# ------------------------------------------------------------------ counts

_WORD_NUMS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_APPROX = r"(?<!some )(?<!about )(?<!around )(?<!nearly )(?<!roughly )(?<!over )(?<!than )(?<!almost )"
_NUM_EN = rf"{_APPROX}\b(?P<n>\d{{1,3}}|{'|'.join(_WORD_NUMS)})"
_ITEM_EN = re.compile(rf"{_NUM_EN}\s+(?:[A-Za-z-]+\s+){{0,2}}?(?:types?|kinds?|categories|items|products|"
                      r"technologies|fields|classes)\b", re.IGNORECASE)
_COUNTRY_EN = re.compile(rf"{_NUM_EN}\s+(?:[A-Za-z-]+\s+){{0,1}}?(?:countries|nations)\b", re.IGNORECASE)
_JA_NUM = r"(?P<n>\d{1,3}|[一二三四五六七八九十]+)"
_ITEM_JA = re.compile(rf"(?<![約\d]){_JA_NUM}\s*(?:品目|分野|項目|種類|類型)")
_COUNTRY_JA = re.compile(rf"(?<![約\d]){_JA_NUM}\s*(?:か国|カ国|ヶ国|ケ国|箇国|国・地域)")


def _count(raw: str) -> int | None:
    raw = raw.lower()
    if raw in _WORD_NUMS:
        return _WORD_NUMS[raw]
    if raw.isdigit():
        return int(raw)
    try:
        return kanji_to_int(raw)
    except Exception:  # noqa: BLE001 - not a numeral after all: no claim
        return None


def count_claims(body: list[str]) -> list[Claim]:
    out: list[Claim] = []
    for sent in body:
        s = _fold(sent)
        for field_name, patterns in (("item_count", (_ITEM_EN, _ITEM_JA)),
                                     ("country_count", (_COUNTRY_EN, _COUNTRY_JA))):
            for pattern in patterns:
                for m in pattern.finditer(s):
                    n = _count(m["n"])
                    if n:
                        out.append(Claim(field_name, n, sent))
    return out


# ------------------------------------------------------------------ regime, destinations

_WASSENAAR = re.compile(r"Wassenaar|ワッセナー", re.IGNORECASE)
_OUTSIDE = re.compile(r"\b(?:not|none|no|outside|beyond|isn't|aren't|doesn't|don't|without)\b|対象外|以外|含まれない"
                      r"|対象となっていない|枠外", re.IGNORECASE)
_INSIDE = re.compile(r"\b(?:agreed|in line with|implement\w*|based on|under the)\b|合意|に基づ", re.IGNORECASE)


def wassenaar_claims(body: list[str]) -> list[Claim]:
    out = []
    for sent in body:
        if _WASSENAAR.search(sent):
            if _OUTSIDE.search(sent):
                out.append(Claim("outside_wassenaar", True, sent))
            elif _INSIDE.search(sent):
                out.append(Claim("outside_wassenaar", False, sent))
    return out


_ALL_DESTINATIONS = re.compile(r"\b(?:any|all)\s+(?:destinations?|countr(?:y|ies)|regions)\b|輸出先を問わず|全地域"
                               r"|すべての国", re.IGNORECASE)
_DESTINATION_CUE = re.compile(r"\b(?:exports?|shipments?|ship|shipping|destinations?)\b[^.]*\bto\b|向け|輸出先",
                              re.IGNORECASE)
_COUNTRIES = (("China", r"\bChina\b|中国"), ("Russia", r"\bRussia\b|ロシア"), ("North Korea", r"\bNorth Korea\b|北朝鮮"),
              ("Iran", r"\bIran\b|イラン"), ("South Korea", r"\bSouth Korea\b|韓国"), ("Taiwan", r"\bTaiwan\b|台湾"),
              ("United States", r"\bUnited States\b|\bU\.S\.|米国"), ("Netherlands", r"\bNetherlands\b|オランダ"),
              ("Hong Kong", r"\bHong Kong\b|香港"))


def destination_claims(body: list[str]) -> list[Claim]:
    out = []
    for sent in body:
        if _ALL_DESTINATIONS.search(sent):
            out.append(Claim("destinations", ["all"], sent))
        elif _DESTINATION_CUE.search(sent):
            named = [name for name, p in _COUNTRIES if re.search(p, sent)]
            if named:
                out.append(Claim("destinations", named, sent))
    return out


# ------------------------------------------------------------------ taxonomy claims

def taxonomy_claims(body: list[str], taxonomy: Taxonomy) -> list[Claim]:
    """Categories and instruments, each quoted by the sentence naming most of them."""
    out: list[Claim] = []
    for field_name, find in (("categories", taxonomy.categories_in), ("instruments", taxonomy.instruments_in)):
        found: list[str] = []
        best: tuple[int, str] = (0, "")
        for sent in body:
            tags = find(sent)
            found.extend(t for t in tags if t not in found)
            if len(tags) > best[0]:
                best = (len(tags), sent)
        if found:
            out.append(Claim(field_name, found, best[1]))
    return out


def extract_claims(title: str, text: str, *, published_on: date | None, taxonomy: Taxonomy) -> tuple[Claim, ...]:
    """Every claim of a story (title and text), in field order, each with its sentence."""
    body = [s for s in sentences(f"{title}\n{text}") if s.strip()]
    claims: list[Claim] = []
    j = jurisdiction_claim(title, sentences(text))
    if j:
        claims.append(j)
    claims += date_claims(body, published_on)
    claims += attribution_claims(body)
    claims += count_claims(body)
    claims += wassenaar_claims(body)
    claims += destination_claims(body)
    claims += taxonomy_claims(body, taxonomy)
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for c in claims:  # the same claim in the title and the lead sentence counts once per quote
        key = (c.field, repr(c.value), c.quote)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return tuple(unique)
