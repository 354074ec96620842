"""METI news releases → announcement records, every field with the quote it came from.

What an official announcement says that the law text does not: the stage of the action
(public comment, cabinet decision, promulgation, enforcement), its dates, the instruments and
appended tables it changes, the kinds of change, destinations, whether it implements a
multilateral regime or is Japan's own measure, stated item counts and METI item references.
A field the page does not state is null (or empty), never guessed. Unrelated releases are
returned with `relevant=False` and nothing else extracted. Pure: no I/O, no clock
(`extract_files` alone reads files, for `regwatch extract`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from regwatch.normalise import meti_rules as R
from regwatch.normalise.dates_ja import find_dates
from regwatch.normalise.meti_page import Link, Page, Sentence, parse_page
from regwatch.normalise.meti_refs import find_meti_refs
from regwatch.normalise.taxonomy import Taxonomy, fold

PARSER_VERSION = "meti_press/1"
STAGES = ("public_comment", "cabinet_decision", "promulgation", "enforcement", "other")


@dataclass(frozen=True)
class StatedDate:
    role: str  # promulgation | enforcement | comment_deadline | decision
    date: date
    quote: str


@dataclass(frozen=True)
class Announcement:
    url: str
    language: str
    title: str
    announced_on: date | None
    relevant: bool
    stage: str | None = None
    instruments: tuple[str, ...] = ()
    amendment_law_num: str | None = None
    appended_tables: tuple[dict[str, Any], ...] = ()
    change_types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    promulgated_on: date | None = None
    decided_on: date | None = None
    effective_on: date | None = None
    public_comment_deadline: date | None = None
    destinations: dict[str, Any] | None = None
    regime: str = "unknown"
    regime_basis: str | None = None  # multilateral | unilateral | None (not stated)
    outside_wassenaar: bool | None = None
    item_count: int | None = None
    item_refs: tuple[dict[str, Any], ...] = ()
    stated_dates: tuple[StatedDate, ...] = ()
    links: tuple[Link, ...] = ()
    evidence: dict[str, str] = field(default_factory=dict)
    parser_version: str = PARSER_VERSION

    def to_json(self) -> dict[str, Any]:
        def iso(d: date | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "url": self.url, "language": self.language, "title": self.title,
            "announced_on": iso(self.announced_on), "relevant": self.relevant, "stage": self.stage,
            "instruments": list(self.instruments), "amendment_law_num": self.amendment_law_num,
            "appended_tables": [dict(t) for t in self.appended_tables],
            "change_types": list(self.change_types), "categories": list(self.categories),
            "promulgated_on": iso(self.promulgated_on), "decided_on": iso(self.decided_on),
            "effective_on": iso(self.effective_on),
            "public_comment_deadline": iso(self.public_comment_deadline),
            "destinations": self.destinations, "regime": self.regime,
            "regime_basis": self.regime_basis, "outside_wassenaar": self.outside_wassenaar,
            "item_count": self.item_count, "item_refs": [dict(r) for r in self.item_refs],
            "stated_dates": [{"role": s.role, "date": s.date.isoformat(), "quote": s.quote}
                             for s in self.stated_dates],
            "links": [link.to_json() for link in self.links],
            "evidence": dict(self.evidence), "parser_version": self.parser_version,
        }


# ---------------------------------------------------------------------------- helpers


def _first(sentences: Iterable[Sentence], pattern: re.Pattern[str],
           context: bool = False) -> Sentence | None:
    for s in sentences:
        if pattern.search(fold(s.text)) or (context and s.heading and pattern.search(fold(s.heading))):
            return s
    return None


def _nearest_dates(text: str, keyword: re.Pattern[str], url: str) -> list[date]:
    """For each keyword occurrence, the date written closest to it in the same sentence."""
    dates = find_dates(text, source=url)
    out: list[date] = []
    for m in keyword.finditer(fold(text)):
        if dates:
            best = min(dates, key=lambda d: min(abs(d.start - m.end()), abs(d.end - m.start())))
            if best.date not in out:
                out.append(best.date)
    return out


def _role_dates(sentences: list[Sentence], keyword: re.Pattern[str], announced: date | None,
                url: str, role: str, stated: list[StatedDate], evidence: dict[str, str],
                pick: Callable[[list[date]], date] = min) -> date | None:
    found: list[tuple[date, str]] = []
    for s in sentences:
        folded = fold(s.text)
        if not keyword.search(folded):
            continue
        label = R.LABEL_LINE.match(folded)
        if label and keyword.search(label.group(1)):
            ds = [d.date for d in find_dates(s.text, source=url)]  # 施行：1.(1)…、1.(2)…
        else:
            ds = _nearest_dates(s.text, keyword, url)
            if not ds and announced and R.TODAY.search(folded) and not R.FUTURE_PLAN.search(folded):
                ds = [announced]
        for d in ds:
            found.append((d, s.text))
            stated.append(StatedDate(role, d, s.text))
    if not found:
        return None
    chosen = pick([d for d, _ in found])
    evidence[role_field(role)] = next(q for d, q in found if d == chosen)
    return chosen


def role_field(role: str) -> str:
    return {"promulgation": "promulgated_on", "enforcement": "effective_on",
            "decision": "decided_on", "comment_deadline": "public_comment_deadline"}[role]


# ---------------------------------------------------------------------------- fields


def _stage(page: Page, body: list[Sentence], evidence: dict[str, str]) -> str:
    title = fold(page.title)
    for stage, pattern in R.STAGE_TITLE:
        if pattern.search(title):
            evidence["stage"] = page.title
            return stage
    for s in body:  # "本日、…を公布しました" / "Today, METI promulgated" / "On <date>, a Cabinet Decision"
        folded = fold(s.text)
        if not (R.TODAY.search(folded) or R.ON_DATE.match(folded)):
            continue
        for stage, pattern in R.STAGE_BODY:
            if pattern.search(folded):
                evidence["stage"] = s.text
                return stage
    return "other"


def _instruments(page: Page, body: list[Sentence], tax: Taxonomy,
                 evidence: dict[str, str]) -> tuple[str, ...]:
    for s in body:
        if R.AMENDS.search(fold(s.text)):
            found = tax.instruments_in(R.strip_tables(s.text))
            if found:
                evidence["instruments"] = s.text
                return found
    found = tax.instruments_in(page.title)
    if found:
        evidence["instruments"] = page.title
    return found


def _tagged(body: list[Sentence], rules: Iterable[tuple[str, re.Pattern[str]]],
            evidence: dict[str, str], prefix: str) -> tuple[str, ...]:
    out: list[str] = []
    for tag, pattern in rules:
        s = _first(body, pattern)
        if s is not None:
            out.append(tag)
            evidence[f"{prefix}.{tag}"] = s.text
    return tuple(out)


def _categories(page: Page, body: list[Sentence], tax: Taxonomy,
                evidence: dict[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    for s in [Sentence(page.title, None), *body]:
        for cat in tax.categories_in(s.text):
            if cat not in out:
                out.append(cat)
                evidence[f"categories.{cat}"] = s.text
    return tuple(out)


def _destinations(body: list[Sentence], evidence: dict[str, str]) -> dict[str, Any] | None:
    for scope, pattern in R.DESTINATIONS:
        s = _first(body, pattern)
        if s is not None:
            evidence["destinations"] = s.text
            return {"scope": scope, "countries": []}
    countries: list[str] = []
    quote = None
    for s in body:
        for name, pattern in R.COUNTRIES:
            if pattern.search(fold(s.text)) and name not in countries:
                countries.append(name)
                quote = quote or s.text
    if countries and quote:
        evidence["destinations"] = quote
        return {"scope": "named", "countries": countries}
    return None


def _regime(body: list[Sentence], evidence: dict[str, str]) -> tuple[str, str | None, bool | None]:
    s = _first(body, R.OUTSIDE_WASSENAAR)
    if s is not None:
        evidence["regime"] = evidence["outside_wassenaar"] = s.text
        return "unilateral", "unilateral", True
    s = _first(body, R.OWN_MEASURE)
    if s is not None:
        evidence["regime"] = s.text
        return "unilateral", "unilateral", None
    for regime, pattern in R.NAMED_REGIME_BASIS:
        s = _first(body, pattern)
        if s is not None:
            evidence["regime"] = s.text
            outside = False if regime == "wassenaar" else None
            if outside is not None:
                evidence["outside_wassenaar"] = s.text
            return regime, "multilateral", outside
    s = _first(body, R.GENERIC_REGIME_BASIS)
    if s is not None:  # "based on agreements in the regimes": which regime is not said
        evidence["regime_basis"] = s.text
        return "unknown", "multilateral", None
    return "unknown", None, None


def _item_count(page: Page, body: list[Sentence], evidence: dict[str, str]) -> int | None:
    for s in [Sentence(page.title, None), *body]:
        n = R.item_count(s.text)
        if n is not None:
            evidence["item_count"] = s.text
            return n
    return None


def _law_num(body: list[Sentence], evidence: dict[str, str]) -> str | None:
    for s in body:
        num = R.amendment_law_num(s.text)
        if num:
            evidence["amendment_law_num"] = s.text
            return num
    return None


def _tables(body: list[Sentence], tax: Taxonomy, evidence: dict[str, str]) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for s in body:
        for table in R.appended_tables(s.text, tax):
            if table not in out:
                out.append(table)
                evidence[f"appended_tables.{table['law_id'] or '?'}:{table['table']}"] = s.text
    return tuple(out)


# ---------------------------------------------------------------------------- entry points


def extract_announcement(html: str, *, url: str, taxonomy: Taxonomy,
                         listed_date: date | None = None) -> Announcement:
    """One detail page → one Announcement. Raises ParserHealthError on an unknown layout."""
    page = parse_page(html, url=url)
    evidence: dict[str, str] = {"title": page.title}
    announced = page.date
    if page.date_line:
        evidence["announced_on"] = page.date_line
    elif listed_date is not None:
        announced = listed_date
        evidence["announced_on"] = f"(date listed in the index: {listed_date.isoformat()})"
    relevant = taxonomy.is_relevant(page.title + "\n" + page.body_text)
    base = Announcement(url=url, language=page.language, title=page.title, announced_on=announced,
                        relevant=relevant, links=page.links)
    if not relevant:
        return replace(base, evidence=evidence)

    body = [s for s in page.sentences if not s.purpose]
    stated: list[StatedDate] = []
    stage = _stage(page, body, evidence)
    regulatory = stage != "other"
    regime, basis, outside = _regime(body, evidence)
    refs = [r for s in body for r in find_meti_refs(s.text)]
    change_types = list(_tagged(body, R.CHANGE_TYPES, evidence, "change_types")) if regulatory else []
    for ref in refs:  # 【…の追加】 names its action
        if ref.action and ref.action not in change_types:
            change_types.append(ref.action)
            evidence[f"change_types.{ref.action}"] = ref.quote
    return replace(
        base, evidence=evidence,
        stage=stage,
        instruments=_instruments(page, body, taxonomy, evidence) if regulatory else (),
        amendment_law_num=_law_num(body, evidence),
        appended_tables=_tables(body, taxonomy, evidence) if regulatory else (),
        change_types=tuple(change_types),
        categories=_categories(page, body, taxonomy, evidence),
        promulgated_on=_role_dates(body, R.PROMULGATION, announced, url, "promulgation", stated, evidence),
        decided_on=_role_dates(body, R.DECISION, announced, url, "decision", stated, evidence),
        effective_on=_role_dates(body, R.ENFORCEMENT, None, url, "enforcement", stated, evidence),
        public_comment_deadline=_deadline(body, url, stated, evidence),
        destinations=_destinations(body, evidence) if regulatory else None,
        regime=regime, regime_basis=basis, outside_wassenaar=outside,
        item_count=_item_count(page, body, evidence) if regulatory else None,
        item_refs=tuple(r.to_json() for r in refs),
        stated_dates=tuple(stated),
    )


def _deadline(body: list[Sentence], url: str, stated: list[StatedDate],
              evidence: dict[str, str]) -> date | None:
    for s in body:
        in_context = R.PUBLIC_COMMENT.search(fold(s.text)) or (
            s.heading and R.PUBLIC_COMMENT.search(fold(s.heading)))
        if not in_context:
            continue
        for d in find_dates(s.text, source=url):
            after, before = fold(s.text[d.end:d.end + 12]), fold(s.text[max(0, d.start - 12):d.start])
            if R.UNTIL_AFTER.match(after) or R.UNTIL_BEFORE.search(before):
                stated.append(StatedDate("comment_deadline", d.date, s.text))
                evidence["public_comment_deadline"] = s.text
                return d.date
    return None


def extract_files(paths: list[Path]) -> list[dict[str, Any]]:
    """`regwatch extract --kind meti_press FILE…`: one record per file (bytes decoded as fetched
    pages are: header-less, so BOM, <meta charset>, then detection)."""
    from regwatch.fetch.encoding import decode
    from regwatch.normalise.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    out = []
    for path in paths:
        text = decode(Path(path).read_bytes(), "text/html").text
        out.append(extract_announcement(text, url=Path(path).resolve().as_uri(), taxonomy=taxonomy).to_json())
    return out
