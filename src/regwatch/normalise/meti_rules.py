"""The wording rules that meti_press applies to release sentences, Japanese and English.

Every pattern runs on folded text (NFKC + casefold, see taxonomy.fold): full-width digits and
brackets are already half-width, Latin letters lower-case ("グループa", "cabinet decision").
Kept apart from the extraction flow so that the vocabulary can be read and extended in one place.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from regwatch.normalise.text_ja import int_to_kanji, kanji_to_int, nfkc

if TYPE_CHECKING:
    from regwatch.normalise.taxonomy import Taxonomy


def _re(p: str) -> re.Pattern[str]:
    return re.compile(p)


# ------------------------------------------------------------------------------ stages
PUBLIC_COMMENT = _re(r"意見募集|意見公募|パブリック・?コメント|public comments?|comments are invited")
DECISION = _re(r"閣議決定|cabinet decision")
PROMULGATION = _re(r"公布|promulgat")
ENFORCEMENT = _re(r"施行|(?:come|comes|came|enter|enters|entered) into force|(?:take|takes|took) effect"
                  r"|be enforced|effective (?:from|on|as of)")

STAGE_TITLE = (  # checked in this order on the title
    ("public_comment", PUBLIC_COMMENT),
    ("cabinet_decision", DECISION),
    ("promulgation", PROMULGATION),
    ("enforcement", _re(r"施行され|施行しました|施行します|施行について|(?:comes?|came|enters?) into force"
                        r"|takes? effect")),
)
STAGE_BODY = (  # checked on sentences that speak of today ("本日、…を公布しました")
    ("public_comment", _re(r"意見募集を開始|意見公募を開始|inviting public comments|invites public comments")),
    ("cabinet_decision", DECISION),
    ("promulgation", PROMULGATION),
    ("enforcement", _re(r"施行され|施行しました|came into force|took effect")),
)
TODAY = _re(r"本日|^today\b|\btoday,")
ON_DATE = _re(r"^on [^,]{6,30},")  # "On 8 July 2024, METI promulgated …"
FUTURE_PLAN = _re(r"予定|scheduled|will be promulgated")
LABEL_LINE = _re(r"^\s*([^:\s]{1,8})\s*[:：]")  # 公布：令和5年5月23日

# ------------------------------------------------------------------------------ instruments
AMENDS = _re(r"改正|改める|amend|revision|公布|promulgat|閣議決定|cabinet decision")

# ------------------------------------------------------------------------------ change types
CHANGE_TYPES = (
    ("addition", _re(r"追加|新たに.{0,20}(?:規制|対象)|\badd(?:ed|s|ing)?\b|\baddition")),
    ("removal", _re(r"削除|除外|対象から外|\bremov|\bdelet")),
    ("amendment", _re(r"見直し|規制値|仕様の変更|\breview(?:ed)?\b|revis(?:e|ed|ion) (?:of )?the "
                      r"(?:specification|parameter)")),
    ("licensing_procedure", _re(r"包括許可|許可手続|許可申請の手続|licen[cs]ing procedure|bulk licen"
                                r"|comprehensive licen")),
    ("catch_all", _re(r"キャッチオール|補完的輸出規制|catch-all")),
    ("destination_groups", _re(r"グループ[a-d][^。]{0,20}(?:に追加|から削除|へ変更|の見直し|を見直)"
                               r"|(?:added to|removed from|moved to) group [a-d]|country groups?")),
)

# ------------------------------------------------------------------------------ destinations
DESTINATIONS = (  # first match wins: the exception before the plain "all destinations"
    ("all_except_group_a", _re(r"グループa[^。]{0,40}(?:を除く|以外)|(?:other than|except(?: for)?|excluding)"
                               r" (?:the )?(?:\d+ |forty-two )?(?:countries (?:and regions )?(?:of|in) )?"
                               r"group a")),
    ("all", _re(r"全地域|all (?:destinations|regions|countries)")),
)
COUNTRIES = tuple((name, _re(p)) for name, p in (
    ("RU", r"ロシア|\brussia"), ("BY", r"ベラルーシ|\bbelarus"), ("CN", r"中国|\bchina\b"),
    ("KP", r"北朝鮮|north korea"), ("IR", r"イラン|\biran\b"),
))

# ------------------------------------------------------------------------------ regime basis
OUTSIDE_WASSENAAR = _re(
    r"ワッセナー・?アレンジメント[^。]{0,30}(?:規制対象となっていない|対象外|対象としていない|規制されていない"
    r"|含まれていない|対象となっていない)"
    r"|not (?:yet )?(?:covered|controlled|listed)[^.]{0,20}wassenaar|wassenaar arrangement does not"
    r" (?:cover|control)|outside (?:the )?wassenaar")
OWN_MEASURE = _re(r"我が国独自|独自の規制|(?:japan's|its) own measure|unilateral")
NAMED_REGIME_BASIS = (
    ("wassenaar", _re(r"ワッセナー・?アレンジメント[^。]{0,15}(?:での|における|の)?合意"
                      r"|agreed (?:in|at|by) the wassenaar|wassenaar arrangement (?:agreed|plenary)")),
    ("nsg", _re(r"原子力供給国グループ[^。]{0,15}合意|agreed (?:in|at|by) the nuclear suppliers group")),
    ("ag", _re(r"オーストラリア・?グループ[^。]{0,15}合意|agreed (?:in|at|by) the australia group")),
    ("mtcr", _re(r"ミサイル技術管理レジーム[^。]{0,15}合意|agreed (?:in|at|by) the missile technology")),
)
GENERIC_REGIME_BASIS = _re(r"国際輸出管理レジーム[^。]{0,15}合意|agreements? (?:in|of|at) the international"
                           r" export control regimes")

# ------------------------------------------------------------------------------ deadlines
UNTIL_AFTER = _re(r"^\s*(?:\([^)]{1,6}\))?\s*(?:まで|締切|〆切|必着)")
UNTIL_BEFORE = _re(r"(?:until|by|deadline:?|締切:?|〆切:?)\s*$")

# ------------------------------------------------------------------------------ numbers
_EN_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
for _tens, _word in ((20, "twenty"), (30, "thirty"), (40, "forty")):
    for _i, _unit in enumerate("one two three four five six seven eight nine".split(), 1):
        _EN_NUMBERS[f"{_word}-{_unit}"] = _tens + _i
_EN_NUMBERS.update({"thirty": 30, "forty": 40})
_COUNT_JA = _re(r"([0-9]+|[一二三四五六七八九十百]+)\s*(?:つの)?(?:品目|項目)")
_COUNT_EN = _re(r"\b([0-9]+|" + "|".join(sorted(_EN_NUMBERS, key=len, reverse=True))
                + r")\s+(?:(?:categories|kinds|types) of\s+)?items\b")


def item_count(text: str) -> int | None:
    t = nfkc(text).casefold()
    m = _COUNT_JA.search(t) or _COUNT_EN.search(t)
    if not m:
        return None
    word = m.group(1)
    return _EN_NUMBERS[word] if word in _EN_NUMBERS else kanji_to_int(word)


# ------------------------------------------------------------------------------ law numbers
_LAW_NUM_JA = re.compile(r"(令和|平成)\s*(元|[0-9]+|[一二三四五六七八九十]+)\s*年\s*"
                         r"(経済産業省令|通商産業省令|政令|法律)\s*第\s*([0-9]+|[一二三四五六七八九十百千]+)\s*号")
_LAW_NUM_EN = re.compile(r"\b(METI|Cabinet) (?:Ordinance|Order) No\.\s*(\d+) of (\d{4})", re.I)


def amendment_law_num(text: str) -> str | None:
    """The amending law number in e-Gov's form: 令和五年経済産業省令第二十五号.

    English "METI Ordinance No. 25 of 2023" converts only when the era is certain (2019
    straddles Heisei and Reiwa, so it stays unknown)."""
    t = nfkc(text)
    m = _LAW_NUM_JA.search(t)
    if m:
        era, year, kind, num = m.groups()
        year_k = "元" if year == "元" else int_to_kanji(kanji_to_int(year))
        return f"{era}{year_k}年{kind}第{int_to_kanji(kanji_to_int(num))}号"
    m = _LAW_NUM_EN.search(t)
    if m:
        who, num, year = m.group(1).lower(), int(m.group(2)), int(m.group(3))
        if year <= 2018:
            era, n = "平成", year - 1988
        elif year >= 2020:
            era, n = "令和", year - 2018
        else:
            return None
        kind = "経済産業省令" if who == "meti" else "政令"
        return f"{era}{'元' if n == 1 else int_to_kanji(n)}年{kind}第{int_to_kanji(num)}号"
    return None


# ------------------------------------------------------------------------------ appended tables
_TABLE_JA = re.compile(r"(輸出貿易管理令|輸出令|外国為替令|外為令)?\s*別表\s*第?\s*([一二三四五六七八九十]+|[0-9]+)?")
_TABLE_EN = re.compile(r"appended table\s*(\d+)?(?:\s+of the (export (?:trade control )?order|foreign exchange"
                       r" order))?", re.I)
_LAWS = {"輸出貿易管理令": "324CO0000000378", "輸出令": "324CO0000000378", "外国為替令": "355CO0000000260",
         "外為令": "355CO0000000260", "export trade control order": "324CO0000000378",
         "export order": "324CO0000000378", "foreign exchange order": "355CO0000000260"}
_LONG_NAME_WITH_TABLE = re.compile(r"輸出貿易管理令別表第一及び外国為替令別表の規定に基づき貨物又は技術を定める省令"
                                   r"|pursuant to the provisions of the appended table 1 of the export trade"
                                   r" control order and the appended table of the foreign exchange order", re.I)


def strip_tables(text: str) -> str:
    """Text without the appended-table parts of the Ordinance's long name (they name no table)."""
    return _LONG_NAME_WITH_TABLE.sub(lambda m: m.group(0) if m.group(0).endswith("省令") else "", nfkc(text))


def appended_tables(text: str, tax: Taxonomy | None = None) -> list[dict[str, Any]]:
    """Appended tables a sentence refers to: [{"law_id", "table": "別表第一", "table_en"}]."""
    t = _LONG_NAME_WITH_TABLE.sub(" ", nfkc(text))
    out: list[dict[str, Any]] = []
    last_law: str | None = None
    for m in _TABLE_JA.finditer(t):
        law = _LAWS.get(m.group(1) or "") or last_law
        num = kanji_to_int(m.group(2)) if m.group(2) else None
        if law is None and num is None:
            continue
        last_law = law
        out.append(_table(law, num))
    for m in _TABLE_EN.finditer(t):
        law = _LAWS.get((m.group(2) or "").lower()) or last_law
        if m.group(2) is None and re.search(r"\bits\s*$", t[:m.start()]):
            law = last_law  # "column 35 of its Appended Table 2"
        last_law = law
        out.append(_table(law, int(m.group(1)) if m.group(1) else None))
    return [t for i, t in enumerate(out) if t not in out[:i]]


def _table(law_id: str | None, num: int | None) -> dict[str, Any]:
    ja = "別表" + (f"第{int_to_kanji(num)}" if num else "")
    en = "Appended Table" + (f" {num}" if num else "")
    return {"law_id": law_id, "table": ja, "table_en": en}
