"""A small, realistic history for report tests, written through the ORM tables.

Two official stories and one press-only item, with observation times chosen so every
window, --by and --as-known-at case has an exact expected set of change IDs:

2023  METI announces 23 semiconductor manufacturing items (release observed 2023-05-23
      06:00Z); the e-Gov ordinance revision is observed 2023-05-24 00:00Z → changes C23_*,
      announced/promulgated 2023-05-23, effective 2023-07-23.
2024  METI announces four categories outside the Wassenaar Arrangement (release observed
      2024-04-26 07:00Z; the press says "as early as July" on 2024-04-30); the e-Gov
      revision is observed 2024-08-10 00:00Z → changes C24_*, announced 2024-04-26,
      promulgated 2024-08-09, effective 2024-09-08. The Export Order change C24_ORDER
      learns its effective date only from a METI notice observed 2024-08-20 09:00Z.
      The press disagrees with the official effective date (a discrepancy).
2024  An amendment of the Foreign Exchange Order with no event, no announcement date and
      unknown regime, observed 2024-11-20 16:00Z (= 2024-11-21 01:00 in Tokyo).
2024  A press-only report (status reported_unofficial) observed 2024-10-15 03:00Z, a
      second outlet 2024-10-16 03:00Z.
Watched pages: the METI anpo page added 2023-05-01, changed 2024-04-26 09:00Z and
2024-08-20 09:00Z; a notice page added 2024-02-01 and removed 2024-10-01.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine, update

from regwatch.db.session import transaction
from regwatch.db.tables import (
    ChangeCategory,
    ControlChange,
    DocumentRow,
    DocumentVersion,
    Event,
    Evidence,
    Instrument,
    LawRevision,
    SourceRow,
)
from regwatch.derive import date_history

ORDINANCE = "403M50000400049"
ORDER = "324CO0000000378"
FX_ORDER = "355CO0000000260"

C23_ADD_20 = "c23-ord-6-20-added"
C23_ADD_21 = "c23-ord-6-21-added"
C23_AMEND_3 = "c23-ord-6-3-amended"
C23_RENUM = "c23-ord-6-19-renumbered"
C24_SEM = "c24-ord-6-23-sem"
C24_CRYO = "c24-ord-6-24-cryocmos"
C24_QC = "c24-ord-7-1_2-quantum"
C24_GAA = "c24-ord-19-5-gaa"
C24_ORDER = "c24-order-t1-8-amended"
C24_FX = "c24-fxorder-t-8-amended"

C23 = {C23_ADD_20, C23_ADD_21, C23_AMEND_3, C23_RENUM}
C24_ORDINANCE = {C24_SEM, C24_CRYO, C24_QC, C24_GAA}
C24 = C24_ORDINANCE | {C24_ORDER}

EVENT_2023 = "jp-2023-semiconductor-equipment"
EVENT_2024 = "jp-2024-outside-wassenaar"
EVENT_PRESS = "press-2024-hbm-rumour"

METI_2023 = "https://www.meti.go.jp/english/press/2023/0523_001.html"
METI_2024 = "https://www.meti.go.jp/press/2024/04/20240426002/20240426002.html"
METI_2024_NOTICE = "https://www.meti.go.jp/policy/anpo/law_document/tutatu/20240820.html"
EGOV_2023 = f"https://laws.e-gov.go.jp/api/2/law_data/{ORDINANCE}_20230723_505M60000400025"
EGOV_2024 = f"https://laws.e-gov.go.jp/api/2/law_data/{ORDINANCE}_20240908_506M60000400044"
EGOV_2024_ORDER = f"https://laws.e-gov.go.jp/api/2/law_data/{ORDER}_20240908_506CO0000000250"
EGOV_FX = f"https://laws.e-gov.go.jp/api/2/law_data/{FX_ORDER}_20250101_506CO0000000300"
PRESS_2024 = "https://www.exportcompliancedaily.com/article/2024/04/30/japan-proposes-controls"
PRESS_HBM_1 = "https://news.example.com/2024/10/15/japan-weighs-hbm-controls"
PRESS_HBM_2 = "https://trade.example.org/articles/2024-10-16-hbm"
CISTEC = "https://www.cistec.or.jp/service/semiconductor2023.html"
ANPO_PAGE = "https://www.meti.go.jp/policy/anpo/index.html"
NOTICE_PAGE = "https://www.meti.go.jp/policy/anpo/law_document/notice_2024.html"


def at(text: str) -> datetime:
    """An aware UTC moment from 'YYYY-MM-DDTHH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class History:
    version_ids: dict[str, int]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build_history(engine: Engine) -> History:
    """Insert the history described in the module docstring; return the version IDs by name."""
    versions: dict[str, int] = {}
    with transaction(engine) as s:
        src = {}
        for name, scraper in (("egov-law", "egov_law"), ("meti-press", "meti_press"),
                              ("press-feeds", "press"), ("meti-anpo", "page")):
            src[name] = SourceRow(name=name, scraper=scraper, created_at=at("2023-01-01T00:00"))
            s.add(src[name])
        s.flush()

        def doc(name: str, source: str, url: str, kind: str, title: str,
                texts: list[tuple[str, str, str | None]]) -> None:
            row = DocumentRow(source_id=src[source].id, key=url, url=url, kind=kind, title=title,
                              first_seen_at=at(texts[0][0]), last_seen_at=at(texts[-1][0]),
                              removed_at=None)
            s.add(row)
            s.flush()
            for n, (moment, change_type, text) in enumerate(texts, start=1):
                v = DocumentVersion(document_id=row.id, version=n, snapshot_sha256=None,
                                    content_sha256=_sha(f"{url}{n}{text}"),
                                    observed_at=at(moment), title=title, text=text,
                                    encoding="utf-8", doc_metadata={}, change_type=change_type)
                s.add(v)
                s.flush()
                versions[name if len(texts) == 1 else f"{name}#{n}"] = v.id

        doc("meti2023", "meti-press", METI_2023, "meti_press",
            "Amendment of the Ministerial Ordinance on export control of 23 items",
            [("2023-05-23T06:00", "added", None)])
        doc("egov2023", "egov-law", EGOV_2023, "egov_law_revision",
            "貨物等省令 令和五年経済産業省令第二十五号", [("2023-05-24T00:00", "added", None)])
        doc("meti2024", "meti-press", METI_2024, "meti_press",
            "輸出貿易管理令別表第一及び外国為替令別表の規定に基づき貨物又は技術を定める省令の一部を改正する省令案について",
            [("2024-04-26T07:00", "added", None)])
        doc("press2024", "press-feeds", PRESS_2024, "press_article",
            "Japan Proposes Controls on Quantum Computers, Chip Tools",
            [("2024-04-30T12:00", "added", None)])
        doc("egov2024", "egov-law", EGOV_2024, "egov_law_revision",
            "貨物等省令 令和六年経済産業省令第四十四号", [("2024-08-10T00:00", "added", None)])
        doc("egov2024order", "egov-law", EGOV_2024_ORDER, "egov_law_revision",
            "輸出貿易管理令 令和六年政令第二百五十号", [("2024-08-10T00:00", "added", None)])
        doc("notice2024", "meti-press", METI_2024_NOTICE, "meti_press",
            "Notice on the enforcement date of the amended Export Trade Control Order",
            [("2024-08-20T09:00", "added", None)])
        doc("hbm1", "press-feeds", PRESS_HBM_1, "press_article",
            "Japan weighs export controls on high-bandwidth memory",
            [("2024-10-15T03:00", "added", None)])
        doc("hbm2", "press-feeds", PRESS_HBM_2, "press_article",
            "Tokyo said to consider HBM curbs", [("2024-10-16T03:00", "added", None)])
        doc("egovfx", "egov-law", EGOV_FX, "egov_law_revision",
            "外国為替令 令和六年政令第三百号", [("2024-11-20T16:00", "added", None)])
        doc("anpo", "meti-anpo", ANPO_PAGE, "page", "安全保障貿易管理",
            [("2023-05-01T00:00", "added", "最新情報：輸出令の改正について（令和5年5月23日）"),
             ("2024-04-26T09:00", "changed",
              "最新情報：貨物等省令の改正案について（令和6年4月26日）"),
             ("2024-08-20T09:00", "changed",
              "最新情報：改正貨物等省令の施行について（令和6年9月8日施行）")])
        doc("notice", "meti-anpo", NOTICE_PAGE, "page", "Notices 2024",
            [("2024-02-01T00:00", "added", "Notice: list review scheduled"),
             ("2024-10-01T00:00", "removed", None)])

        inst = {}
        for law_id, title, title_en, num in (
            (ORDINANCE, "輸出貿易管理令別表第一及び外国為替令別表の規定に基づき貨物又は技術を定める省令",
             "Ministerial Ordinance Specifying Goods and Technologies", "平成三年通商産業省令第四十九号"),
            (ORDER, "輸出貿易管理令", "Export Trade Control Order", "昭和二十四年政令第三百七十八号"),
            (FX_ORDER, "外国為替令", "Foreign Exchange Order", "昭和五十五年政令第二百六十号"),
        ):
            inst[law_id] = Instrument(law_id=law_id, jurisdiction="JP", title=title,
                                      title_en=title_en, law_num=num)
            s.add(inst[law_id])
        s.flush()

        rev = {}
        for name, law_id, rid, prom, eff, num, vname in (
            ("r23", ORDINANCE, f"{ORDINANCE}_20230723_505M60000400025", date(2023, 5, 23),
             date(2023, 7, 23), "令和五年経済産業省令第二十五号", "egov2023"),
            ("r24", ORDINANCE, f"{ORDINANCE}_20240908_506M60000400044", date(2024, 8, 9),
             date(2024, 9, 8), "令和六年経済産業省令第四十四号", "egov2024"),
            ("r24o", ORDER, f"{ORDER}_20240908_506CO0000000250", date(2024, 8, 9),
             date(2024, 9, 8), "令和六年政令第二百五十号", "egov2024order"),
            ("rfx", FX_ORDER, f"{FX_ORDER}_20250101_506CO0000000300", None,
             date(2025, 1, 1), "令和六年政令第三百号", "egovfx"),
        ):
            rev[name] = LawRevision(instrument_id=inst[law_id].id, law_revision_id=rid,
                                    promulgated_on=prom, effective_on=eff,
                                    amendment_law_num=num, status="in_force",
                                    document_version_id=versions[vname],
                                    observed_at=s.get(DocumentVersion, versions[vname]).observed_at,
                                    parser_version="test")
            s.add(rev[name])

        ev = {
            EVENT_2023: Event(
                key=EVENT_2023, jurisdiction="JP", status="official",
                title="Addition of 23 items of advanced semiconductor manufacturing equipment",
                law_ids=[ORDINANCE], amendment_law_num="令和五年経済産業省令第二十五号",
                categories=["semiconductor-equipment"], regime="unilateral",
                outside_wassenaar=True, announced_on=date(2023, 5, 23),
                promulgated_on=date(2023, 5, 23), effective_on=date(2023, 7, 23),
                first_observed_at=at("2023-05-23T06:00"), details={}, parser_version="test"),
            EVENT_2024: Event(
                key=EVENT_2024, jurisdiction="JP", status="official",
                title="Four categories added outside the Wassenaar Arrangement: SEMs for IC "
                      "imaging, GAA transistor technology, cryogenic CMOS, quantum computers",
                law_ids=[ORDINANCE, ORDER], amendment_law_num="令和六年経済産業省令第四十四号",
                categories=["sem-ic-imaging", "gaa-transistor", "cryo-cmos", "quantum-computer"],
                regime="unilateral", outside_wassenaar=True, announced_on=date(2024, 4, 26),
                promulgated_on=date(2024, 8, 9), effective_on=date(2024, 9, 8),
                first_observed_at=at("2024-04-26T07:00"),
                details={"discrepancies": [{
                    "field": "effective_on", "official_value": "2024-09-08",
                    "official_quote": "この省令は、令和六年九月八日から施行する。",
                    "official_url": EGOV_2024, "press_value": "2024-07",
                    "press_quote": "The rules could take effect as early as July.",
                    "press_url": PRESS_2024}]},
                parser_version="test"),
            EVENT_PRESS: Event(
                key=EVENT_PRESS, jurisdiction="JP", status="reported_unofficial",
                title="Japan weighs export controls on high-bandwidth memory (press reports)",
                law_ids=[ORDINANCE], categories=["hbm"], regime="unknown",
                outside_wassenaar=None, first_observed_at=at("2024-10-15T03:00"), details={},
                parser_version="test"),
        }
        s.add_all(ev.values())
        s.flush()
        s.add_all([
            Evidence(event_id=ev[EVENT_2024].id, document_version_id=versions["press2024"],
                     url=PRESS_2024, kind="press", title="Export Compliance Daily",
                     quote="The rules could take effect as early as July.",
                     field="effective_on"),
            Evidence(event_id=ev[EVENT_2024].id, document_version_id=versions["egov2024"],
                     url=EGOV_2024, kind="egov_law", title="e-Gov",
                     quote="この省令は、令和六年九月八日から施行する。", field="effective_on"),
            Evidence(event_id=ev[EVENT_PRESS].id, document_version_id=versions["hbm1"],
                     url=PRESS_HBM_1, kind="press", title="News Example",
                     quote="Japan is weighing export controls on high-bandwidth memory chips."),
            Evidence(event_id=ev[EVENT_PRESS].id, document_version_id=versions["hbm2"],
                     url=PRESS_HBM_2, kind="press", title="Trade Example",
                     quote="Tokyo is said to be considering curbs on HBM exports."),
        ])

        def change(cid: str, *, event: str | None, revision: str, law_id: str, title: str,
                   path: str, ja: str, en: str, entry: str | None, change_type: str,
                   regime: str, outside: bool | None, announced: date | None,
                   promulgated: date | None, effective: date | None, observed: str,
                   before: str | None, after: str | None, categories: list[str],
                   evidence: list[tuple[str | None, str, str, str, str | None]],
                   renumbered_from: dict | None = None) -> None:
            s.add(ControlChange(
                id=cid, event_id=ev[event].id if event else None, revision_id=rev[revision].id,
                jurisdiction="JP", law_id=law_id, instrument_title=title, path=path,
                citation_ja=ja, citation_en=en, list_entry=entry, change_type=change_type,
                regime=regime, outside_wassenaar=outside, announced_on=announced,
                promulgated_on=promulgated, effective_on=effective, observed_at=at(observed),
                before_text=before, after_text=after, renumbered_from=renumbered_from,
                status="official", parser_version="test"))
            s.flush()
            s.add_all(ChangeCategory(change_id=cid, category=c) for c in categories)
            for vname, url, kind, quote, fld in evidence:
                s.add(Evidence(change_id=cid,
                               document_version_id=versions[vname] if vname else None,
                               url=url, kind=kind, title=None, quote=quote, field=fld))

        ord_title = inst[ORDINANCE].title
        ev23 = [("egov2023", EGOV_2023, "egov_law", "この省令は、令和五年七月二十三日から施行する。",
                 "effective_on"),
                ("meti2023", METI_2023, "meti_press",
                 "METI amended the Ministerial Ordinance on 23 May 2023.", "announced_on")]
        common23 = dict(event=EVENT_2023, revision="r23", law_id=ORDINANCE, title=ord_title,
                        announced=date(2023, 5, 23), promulgated=date(2023, 5, 23),
                        effective=date(2023, 7, 23), observed="2023-05-24T00:00")
        change(C23_ADD_20, path="Article_6/Item_20", ja="第六条第二十号",
               en="Article 6, item (xx)", entry="Appended Table 1, row 7",
               change_type="added", regime="unilateral", outside=True, before=None,
               after="半導体基板上にエピタキシャル成長させるために設計した装置であって、次のいずれかに該当するもの",
               categories=["semiconductor-equipment"], evidence=ev23, **common23)
        change(C23_ADD_21, path="Article_6/Item_21", ja="第六条第二十一号",
               en="Article 6, item (xxi)", entry="Appended Table 1, row 7",
               change_type="added", regime="unilateral", outside=True, before=None,
               after="極端紫外線を用いる露光装置のためのペリクル",
               categories=["semiconductor-equipment"], evidence=ev23, **common23)
        change(C23_AMEND_3, path="Article_6/Item_3", ja="第六条第三号",
               en="Article 6, item (iii)", entry="Appended Table 1, row 7",
               change_type="amended", regime="unilateral", outside=True,
               before="半導体製造装置であって、次のいずれかに該当するもの",
               after="半導体製造装置又は試験装置であって、次のいずれかに該当するもの",
               categories=["semiconductor-equipment"],
               evidence=[*ev23, (None, CISTEC, "pdf", "改正の概要（CISTEC解説）", None)],
               **common23)
        change(C23_RENUM, path="Article_6/Item_19", ja="第六条第十九号",
               en="Article 6, item (xix)", entry="Appended Table 1, row 7",
               change_type="renumbered", regime="wassenaar", outside=False,
               before="集積回路の製造用のマスク", after="集積回路の製造用のマスク",
               categories=[], evidence=ev23[:1],
               renumbered_from={"path": "Article_6/Item_18", "citation_ja": "第六条第十八号",
                                "citation_en": "Article 6, item (xviii)"},
               **common23)

        ev24 = [("egov2024", EGOV_2024, "egov_law", "この省令は、令和六年九月八日から施行する。",
                 "effective_on"),
                ("meti2024", METI_2024, "meti_press",
                 "令和6年4月26日 経済産業省は省令案を公表しました。", "announced_on")]
        common24 = dict(event=EVENT_2024, revision="r24", law_id=ORDINANCE, title=ord_title,
                        change_type="added", regime="unilateral", outside=True,
                        announced=date(2024, 4, 26), promulgated=date(2024, 8, 9),
                        effective=date(2024, 9, 8), observed="2024-08-10T00:00", before=None)
        change(C24_SEM, path="Article_6/Item_23", ja="第六条第二十三号",
               en="Article 6, item (xxiii)", entry="Appended Table 1, row 7",
               after="集積回路の画像を取得するために設計した走査型電子顕微鏡",
               categories=["sem-ic-imaging"],
               evidence=[*ev24, ("press2024", PRESS_2024, "press",
                                 "The rules could take effect as early as July.", None)],
               **common24)
        change(C24_CRYO, path="Article_6/Item_24", ja="第六条第二十四号",
               en="Article 6, item (xxiv)", entry="Appended Table 1, row 7",
               after="極低温で動作するように設計した相補型金属酸化膜半導体集積回路",
               categories=["cryo-cmos"], evidence=ev24, **common24)
        change(C24_QC, path="Article_7/Item_1_2", ja="第七条第一号の二",
               en="Article 7, item (i)-2", entry="Appended Table 1, row 8",
               after="量子コンピュータであって、次のいずれかに該当するもの",
               categories=["quantum-computer"], evidence=ev24, **common24)
        change(C24_GAA, path="Article_19/Item_5", ja="第十九条第五号",
               en="Article 19, item (v)", entry="Foreign Exchange Order Appended Table, row 7",
               after="ゲートオールアラウンド構造を有する電界効果トランジスタの製造に必要な技術",
               categories=["gaa-transistor"], evidence=ev24, **common24)
        change(C24_ORDER, event=EVENT_2024, revision="r24o", law_id=ORDER,
               title="輸出貿易管理令", path="AppdxTable_1/Row_8", ja="別表第一の八の項",
               en="Appended Table 1, row 8", entry="Appended Table 1, row 8",
               change_type="amended", regime="unilateral", outside=True,
               announced=date(2024, 4, 26), promulgated=date(2024, 8, 9),
               effective=date(2024, 9, 8), observed="2024-08-10T00:00",
               before="電子計算機若しくはその附属装置又はこれらの部分品",
               after="電子計算機若しくはその附属装置、量子コンピュータ又はこれらの部分品",
               categories=["quantum-computer"],
               evidence=[("egov2024order", EGOV_2024_ORDER, "egov_law", "別表第一の八の項", None),
                         ("meti2024", METI_2024, "meti_press",
                          "令和6年4月26日 経済産業省は政令案を公表しました。", "announced_on"),
                         ("notice2024", METI_2024_NOTICE, "meti_press",
                          "改正政令は令和6年9月8日から施行されます。", "effective_on")])
        change(C24_FX, event=None, revision="rfx", law_id=FX_ORDER, title="外国為替令",
               path="AppdxTable/Row_8", ja="別表の八の項", en="Appended Table, row 8",
               entry=None, change_type="amended", regime="unknown", outside=None,
               announced=None, promulgated=None, effective=date(2025, 1, 1),
               observed="2024-11-20T16:00",
               before="電子計算機の設計、製造又は使用に係る技術",
               after="電子計算機又は量子コンピュータの設計、製造又は使用に係る技術",
               categories=["quantum-computer"],
               evidence=[("egovfx", EGOV_FX, "egov_law", "別表の八の項", "effective_on")])
        s.flush()
        date_history.record(s)  # as derivation does after every run: what as-known-at reads
    return History(version_ids=versions)


def found_late(engine: Engine) -> None:
    """A reprocess on 2024-11-25 finds the 2023 addition of item 20, which the parse of its
    text (observed 2023-05-24) had missed."""
    with transaction(engine) as s:
        s.execute(update(ControlChange).where(ControlChange.id == C23_ADD_20)
                  .values(recorded_at=at("2024-11-25T03:00")))


SCRIPT = "<script>document.title='PWNED';document.body.appendChild(document.createElement('pwned-script'))</script>"
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','onerror')\">"
JS_URL = "javascript:document.title='PWNED-LINK'"
MD_LINK = "[click me](javascript:alert(1)) ![tracker](http://evil.example/pixel.png)"
FORMULA = "=HYPERLINK(\"http://evil.example\",\"x\")"
HOSTILE = "hostile-1"


def add_hostile(engine: Engine) -> None:
    """A change, a page version and a press event whose scraped text carries payloads."""
    with transaction(engine) as s:
        src = s.query(SourceRow).filter_by(name="meti-anpo").one()
        doc = DocumentRow(source_id=src.id, key="hostile", url=f"https://www.meti.go.jp/{SCRIPT}",
                          kind="page", title=f"Page {SCRIPT}", first_seen_at=at("2024-06-01T00:00"),
                          last_seen_at=at("2024-06-02T00:00"), removed_at=None)
        s.add(doc)
        s.flush()
        for n, (moment, kind, text) in enumerate(
                [("2024-06-01T00:00", "added", "safe text"),
                 ("2024-06-02T00:00", "changed", f"safe {IMG} text {SCRIPT}")], start=1):
            s.add(DocumentVersion(document_id=doc.id, version=n, content_sha256=_sha(text),
                                  observed_at=at(moment), title=None, text=text,
                                  change_type=kind, doc_metadata={}))
        ev = Event(key="hostile-event", jurisdiction="JP", status="reported_unofficial",
                   title=f"Rumour {SCRIPT}", law_ids=[ORDINANCE], categories=["hbm"],
                   regime="unknown", first_observed_at=at("2024-06-01T00:00"),
                   details={"discrepancies": [{"field": "effective_on", "official_value": IMG,
                                               "official_url": JS_URL, "press_value": SCRIPT,
                                               "press_url": "https://news.example.com/x"}]},
                   parser_version="test")
        s.add(ev)
        s.flush()
        s.add(Evidence(event_id=ev.id, url=JS_URL, kind="press", title=f"Outlet {IMG}",
                       quote=MD_LINK))
        s.add(ControlChange(
            id=HOSTILE, jurisdiction="JP", law_id=ORDINANCE, instrument_title=f"省令 {SCRIPT}",
            path="Article_6/Item_99", citation_ja=f"第六条{SCRIPT}", citation_en=f"Art. {IMG}",
            list_entry=MD_LINK, change_type="amended", regime="unknown", outside_wassenaar=None,
            announced_on=None, promulgated_on=None, effective_on=None,
            observed_at=at("2024-06-01T00:00"), before_text=f"{FORMULA} 旧 {IMG}",
            after_text=f"{FORMULA} 新 {SCRIPT} {MD_LINK}", status="official",
            parser_version="test"))
        s.flush()
        s.add(ChangeCategory(change_id=HOSTILE, category=f"cat{IMG}"))
        s.add(Evidence(change_id=HOSTILE, url=JS_URL, kind="meti_press", title=f"T {SCRIPT}",
                       quote=f"Q {IMG} {MD_LINK}"))
        s.add(Evidence(change_id=HOSTILE, url="https://www.meti.go.jp/ok?a=1&b=<2>",
                       kind="press", title=None, quote=None))
