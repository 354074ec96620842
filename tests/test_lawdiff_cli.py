"""`regwatch diff --old --new` and `regwatch extract --kind egov_law` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from lxml import html as lxml_html

from regwatch.cli import main
from regwatch.lawdiff import render_changes
from regwatch.normalise.law_diff import ProvisionChange, Span

EGOV = Path(__file__).parent / "fixtures" / "egov"
BEFORE = str(EGOV / "403M50000400049_20221206_before.xml")
AFTER = str(EGOV / "403M50000400049_20230723_after.xml")

CHANGE_RECORD = {
    "type": "object",
    "required": ["id", "jurisdiction", "instrument", "provision", "list_entry", "change_type",
                 "categories", "regime", "outside_wassenaar", "before_text", "after_text", "event",
                 "sources", "renumbered_from"],
    "properties": {
        "id": {"type": "string", "minLength": 8},
        "jurisdiction": {"const": "JP"},
        "instrument": {"type": "object", "required": ["law_id", "title"]},
        "provision": {"type": "object", "required": ["path", "citation_ja", "citation_en"]},
        "change_type": {"enum": ["added", "removed", "amended", "renumbered"]},
        "categories": {"type": "array"}, "sources": {"type": "array"},
        "regime": {"const": "unknown"}, "outside_wassenaar": {"type": "null"},
        "announced_on": {"type": "null"}, "effective_on": {"type": "null"},
        "event": {"type": "null"},
    },
}


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REGWATCH_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_diff_json_change_records(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", "--old", BEFORE, "--new", AFTER, "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert len(records) == 78
    for r in records:
        jsonschema.validate(r, CHANGE_RECORD)
    assert len({r["id"] for r in records}) == 78
    first = records[0]
    assert first["instrument"]["law_id"] == "403M50000400049"
    assert first["provision"] == {"path": "art6.para1.item17", "citation_ja": "第六条第一項第十七号",
                                  "citation_en": "Article 6(1)(xvii)"}
    assert first["list_entry"] == "Export Trade Control Order, Appended Table 1, row 7"
    assert first["change_type"] == "amended"
    assert records[-3]["renumbered_from"]["path"] == "art6.para1.item17-2"
    # stable ids: the same diff twice gives the same ids
    _, again, _ = run(capsys, "diff", "--old", BEFORE, "--new", AFTER, "--format", "json")
    assert [r["id"] for r in json.loads(again)] == [r["id"] for r in records]


def test_diff_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "diff", "--old", BEFORE, "--new", AFTER)
    assert code == 0
    assert "78 changes (73 added, 2 amended, 3 renumbered)" in out
    assert "[amended] 第六条第一項第十七号 — Article 6(1)(xvii)" in out
    assert "（ホ{+及びレ+}において" in out
    assert "renumbered from 第六条第一項第十七号の二 — Article 6(1)(xvii-2)" in out
    target = tmp_path / "out" / "d.txt"
    code, out, _ = run(capsys, "diff", "--old", BEFORE, "--new", BEFORE, "-o", str(target))
    assert code == 0 and out == "" and "0 changes" in target.read_text(encoding="utf-8")


def test_diff_html_is_escaped_and_self_contained(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", "--old", BEFORE, "--new", AFTER, "--format", "html")
    assert code == 0
    doc = lxml_html.fromstring(out)
    assert len(doc.cssselect("div.change")) == 78
    assert doc.cssselect("div.change ins")[0].text == "及びレ"
    assert "<script" not in out and "http" not in out.split("</style>")[1]
    evil = ProvisionChange("amended", "art1", "<b>第一条</b>", "Article 1", None, "a<script>x</script>",
                           "b&", (Span("replace", "a<script>x</script>", "b&"),), None)
    page = render_changes([evil], "html", old_title="<i>old</i>", new_title="new")
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;" in page


def test_diff_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "diff", "--old", str(tmp_path / "missing.xml"), "--new", AFTER)
    assert code == 2 and "missing.xml" in err
    code, _, err = run(capsys, "diff", "--old", str(EGOV / "malformed.xml"), "--new", AFTER)
    assert code == 1 and "malformed.xml" in err and "malformed XML" in err
    code, _, err = run(capsys, "diff", "--old", str(EGOV / "xxe.xml"), "--new", AFTER)
    assert code == 1 and "xxe.xml" in err
    code, _, err = run(capsys, "diff", "--old", BEFORE)
    assert code == 2


def test_extract_egov_law(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "extract", "--kind", "egov_law", BEFORE, str(EGOV / "crafted_order_v1.xml"))
    assert code == 0
    data = json.loads(out)
    assert [d["law_id"] for d in data] == ["403M50000400049", None]
    paths = [p["path"] for p in data[1]["provisions"]]
    assert "appdx1.row7.g10-2.s5-2" in paths
    assert data[1]["suppl_provisions"][0]["path"] == "suppl[original]"
