"""Events: announcements of one regulatory action and the law revisions implementing it, joined.

One action goes through stages (public comment → cabinet decision → promulgation →
enforcement), each announced in Japanese and often in English, and lands as one or more
e-Gov revisions (staged enforcement: one amending law, several revision IDs). Joining rules,
in order (union-find, so the result does not depend on input order):

1. announcements naming the same amending law number (令和五年経済産業省令第二十五号);
2. announcements with the same stage, an instrument in common, a category in common and
   dates within 14 days (the English version of a Japanese release, published days later);
3. announcements with an instrument in common and the same stated effective date;
4. a public-comment announcement and the first later decision/promulgation/enforcement group
   within 400 days with an instrument and a category in common and, when both state one, the
   same item count (the 23 items consulted on are the 23 items promulgated);
5. a revision whose amending law number is the group's, or else whose law ID is among the
   group's instruments and whose effective date is one the group states.
A revision that no announcement matches becomes an event of its own (regime unknown).

Pure: no I/O except `load_regime_map`, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from regwatch.errors import ConfigError
from regwatch.normalise.meti_press import Announcement

REGIMES = ("wassenaar", "nsg", "ag", "mtcr", "cwc", "unilateral", "unknown")
LATE_STAGES = ("cabinet_decision", "promulgation", "enforcement")
_STAGE_ORDER = {"public_comment": 0, "cabinet_decision": 1, "promulgation": 2, "enforcement": 3}


@dataclass(frozen=True)
class Revision:
    """What the joiner needs of an e-Gov revision (law_revisions record)."""

    law_id: str
    law_revision_id: str
    amendment_law_num: str | None
    promulgated_on: date | None
    effective_on: date | None


@dataclass(frozen=True)
class EventDraft:
    key: str
    title: str | None
    jurisdiction: str
    law_ids: tuple[str, ...]
    amendment_law_num: str | None
    announced_on: date | None
    public_comment_on: date | None
    public_comment_deadline: date | None
    decided_on: date | None
    promulgated_on: date | None
    effective_on: date | None
    regime: str
    outside_wassenaar: bool | None
    categories: tuple[str, ...]
    announcement_urls: tuple[str, ...]
    revision_ids: tuple[str, ...]
    evidence: dict[str, tuple[str, str]] = field(default_factory=dict)  # field → (url, quote)
    previous_keys: tuple[str, ...] = ()  # keys this event had before it gained its law number
    status: str = "official"
    title_ja: str | None = None  # the latest Japanese announcement's title, for Japanese readers

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k, v in out.items():
            if isinstance(v, date):
                out[k] = v.isoformat()
            elif isinstance(v, tuple):
                out[k] = list(v)
        out["evidence"] = {k: {"url": u, "quote": q} for k, (u, q) in self.evidence.items()}
        return out


# ---------------------------------------------------------------------------- joining


class _Groups:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def members(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return out


def _near(a: date | None, b: date | None, days: int) -> bool:
    return a is not None and b is not None and abs((a - b).days) <= days


def join_events(announcements: list[Announcement], revisions: list[Revision]) -> list[EventDraft]:
    anns = sorted((a for a in announcements if a.relevant and a.stage in _STAGE_ORDER),
                  key=lambda a: (a.announced_on or date.max, a.url))
    g = _Groups(len(anns))
    for i, a in enumerate(anns):
        for j in range(i + 1, len(anns)):
            b = anns[j]
            common_law = set(a.instruments) & set(b.instruments)
            if a.amendment_law_num and a.amendment_law_num == b.amendment_law_num:
                g.union(i, j)
            elif (a.stage == b.stage and common_law and set(a.categories) & set(b.categories)
                  and _near(a.announced_on, b.announced_on, 14)):
                g.union(i, j)
            elif common_law and a.effective_on and a.effective_on == b.effective_on:
                g.union(i, j)
    _attach_public_comments(anns, g)

    groups = sorted(g.members().values(), key=lambda m: min(m))
    rev_taken: set[str] = set()
    events: list[EventDraft] = []
    for members in groups:
        group = [anns[i] for i in members]
        matched = [r for r in revisions if r.law_revision_id not in rev_taken and _matches(group, r)]
        rev_taken.update(r.law_revision_id for r in matched)
        events.append(_event(group, matched))
    for r in revisions:
        if r.law_revision_id not in rev_taken:
            rev_taken.add(r.law_revision_id)
            same = [x for x in revisions if x.law_revision_id not in rev_taken and x.amendment_law_num
                    and x.amendment_law_num == r.amendment_law_num]
            rev_taken.update(x.law_revision_id for x in same)
            events.append(_event([], [r, *same]))
    return events


def _attach_public_comments(anns: list[Announcement], g: _Groups) -> None:
    for i, pc in enumerate(anns):
        if pc.stage != "public_comment" or pc.announced_on is None:
            continue
        candidates = []
        for j, later in enumerate(anns):
            if later.stage not in LATE_STAGES or later.announced_on is None:
                continue
            days = (later.announced_on - pc.announced_on).days
            if not 0 < days <= 400:
                continue
            if not (set(pc.instruments) & set(later.instruments) and set(pc.categories) & set(later.categories)):
                continue
            if pc.item_count is not None and later.item_count is not None and pc.item_count != later.item_count:
                continue
            candidates.append((later.announced_on, j))
        if candidates:
            g.union(i, min(candidates)[1])


def _matches(group: list[Announcement], r: Revision) -> bool:
    nums = {a.amendment_law_num for a in group if a.amendment_law_num}
    if r.amendment_law_num and nums:
        return r.amendment_law_num in nums
    laws = {law for a in group for law in a.instruments}
    stated = {s.date for a in group for s in a.stated_dates if s.role == "enforcement"}
    stated |= {a.effective_on for a in group if a.effective_on}
    return r.law_id in laws and r.effective_on is not None and r.effective_on in stated


def _first(group: list[Announcement], attr: str, stage: str | None = None):
    """Earliest value of `attr` over the group (optionally only from one stage), with its source."""
    best = None
    for a in group:
        value = getattr(a, attr)
        if value is None or (stage and a.stage != stage):
            continue
        if best is None or value < best[0]:
            best = (value, a)
    return best


def _event(group: list[Announcement], revs: list[Revision]) -> EventDraft:
    ev: dict[str, tuple[str, str]] = {}

    def take(name: str, found, evidence_key: str) -> Any:
        if found is None:
            return None
        value, a = found
        ev[name] = (a.url, a.evidence.get(evidence_key, a.title))
        return value

    announced = take("announced_on", _first(group, "announced_on"), "announced_on")
    pc = take("public_comment_on", _first(group, "announced_on", "public_comment"), "announced_on")
    deadline = take("public_comment_deadline", _first(group, "public_comment_deadline"), "public_comment_deadline")
    decided = take("decided_on", _first(group, "decided_on"), "decided_on")
    promulgated = take("promulgated_on", _first(group, "promulgated_on"), "promulgated_on")
    effective = take("effective_on", _first(group, "effective_on"), "effective_on")
    # e-Gov is the record of promulgation and enforcement once the revision exists
    rev_prom = min((r.promulgated_on for r in revs if r.promulgated_on), default=None)
    rev_eff = min((r.effective_on for r in revs if r.effective_on), default=None)
    if rev_prom:
        promulgated = rev_prom
        ev["promulgated_on"] = (f"e-Gov law revision {min(r.law_revision_id for r in revs)}",
                                f"promulgated {rev_prom.isoformat()}")
    if rev_eff:
        effective = rev_eff
        rid = min((r for r in revs if r.effective_on == rev_eff), key=lambda r: r.law_revision_id).law_revision_id
        ev["effective_on"] = (f"e-Gov law revision {rid}", f"in force {rev_eff.isoformat()}")

    regime, outside = _regime(group, ev)
    law_num = next((a.amendment_law_num for a in group if a.amendment_law_num), None) or next(
        (r.amendment_law_num for r in revs if r.amendment_law_num), None)
    law_ids = tuple(dict.fromkeys([*(law for a in group for law in a.instruments), *(r.law_id for r in revs)]))
    categories = tuple(dict.fromkeys(c for a in group for c in a.categories))
    # The English title where METI published one (reports are in English), else the Japanese.
    title = (_title([a for a in group if a.language == "en"]) or _title(group)
             or (f"{law_num}" if law_num else None))
    base_date = pc or announced or effective
    fallback_key = f"jp/{law_ids[0] if law_ids else 'unknown'}/{base_date.isoformat() if base_date else 'undated'}"
    key = f"jp/{law_num}" if law_num else fallback_key
    return EventDraft(
        key=key, title=title, jurisdiction="JP", law_ids=law_ids, amendment_law_num=law_num,
        announced_on=announced, public_comment_on=pc, public_comment_deadline=deadline, decided_on=decided,
        promulgated_on=promulgated, effective_on=effective, regime=regime, outside_wassenaar=outside,
        categories=categories, announcement_urls=tuple(a.url for a in group),
        revision_ids=tuple(sorted(r.law_revision_id for r in revs)), evidence=ev,
        previous_keys=(fallback_key,) if key != fallback_key else (),
        title_ja=_title([a for a in group if a.language == "ja"]),
    )


def _title(group: list[Announcement]) -> str | None:
    """The title of the latest stage's announcement (the English one where there are both)."""
    if not group:
        return None
    latest = max(group, key=lambda a: (_STAGE_ORDER.get(a.stage or "", -1), a.language == "en"))
    return latest.title


def _regime(group: list[Announcement], ev: dict[str, tuple[str, str]]) -> tuple[str, bool | None]:
    stated = [(a.regime, a) for a in group if a.regime != "unknown"]
    regimes = {r for r, _ in stated}
    if len(regimes) != 1:  # none stated, or announcements disagree: not ours to pick
        return "unknown", None
    regime, a = stated[0]
    ev["regime"] = (a.url, a.evidence.get("regime", ""))
    outside = next((x for x in group if x.outside_wassenaar is not None), None)
    if outside is not None:
        ev["outside_wassenaar"] = (outside.url, outside.evidence.get("outside_wassenaar", ""))
        return regime, outside.outside_wassenaar
    return regime, None


# ---------------------------------------------------------------------------- regime of a change


@dataclass(frozen=True)
class RegimeRule:
    law_id: str
    path: str
    regime: str
    note: str
    source: str


@dataclass(frozen=True)
class RegimeDecision:
    regime: str
    outside_wassenaar: bool | None
    basis: str  # announcement | regime_map | none
    url: str | None = None
    quote: str | None = None


def load_regime_map(path: str | Path | None = None) -> tuple[RegimeRule, ...]:
    if path is None:
        from regwatch.resources import resource_dir

        path = resource_dir("config") / "regime_map.toml"
    from regwatch.config import read_toml

    raw = read_toml(path)
    rules: list[RegimeRule] = []
    for i, r in enumerate(raw.get("rule", [])):
        where = f"rule[{i}]"
        unknown = set(r) - {"law_id", "path", "paths", "regime", "note", "source"}
        if unknown:
            raise ConfigError(f"unknown key {sorted(unknown)[0]!r}", file=str(path), key=where)
        if r.get("regime") not in REGIMES:
            raise ConfigError(f"regime must be one of {', '.join(REGIMES)}", file=str(path), key=f"{where}.regime")
        paths = r.get("paths") or ([r["path"]] if r.get("path") else [])
        if not paths or not r.get("law_id"):
            raise ConfigError("needs law_id and path (or paths)", file=str(path), key=where)
        rules.extend(RegimeRule(r["law_id"], p, r["regime"], r.get("note", ""), r.get("source", "")) for p in paths)
    return tuple(rules)


def _covers(prefix: str, path: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def regime_for_provision(regime_map: tuple[RegimeRule, ...], law_id: str, path: str) -> RegimeRule | None:
    """The most specific rule covering the provision, or None."""
    hits = [r for r in regime_map if r.law_id == law_id and _covers(r.path, path)]
    return max(hits, key=lambda r: len(r.path)) if hits else None


def regime_for_change(event: EventDraft | None, regime_map: tuple[RegimeRule, ...], law_id: str,
                      path: str) -> RegimeDecision:
    """A control change takes its event's stated basis (with the announcement's quote); else the
    curated map decides (its note as the quote); else unknown."""
    if event is not None and event.regime != "unknown":
        url, quote = event.evidence.get("regime", (None, None))
        return RegimeDecision(event.regime, event.outside_wassenaar, "announcement", url, quote)
    rule = regime_for_provision(regime_map, law_id, path)
    if rule is None or rule.regime == "unknown":
        return RegimeDecision("unknown", None, "none")
    outside = False if rule.regime == "wassenaar" else (True if rule.regime == "unilateral" else None)
    return RegimeDecision(rule.regime, outside, "regime_map", "config/regime_map.toml",
                          f"{rule.note} ({rule.source})")

