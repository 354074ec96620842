"""The taxonomy: relevance, categories and instruments, as data users can extend."""

from __future__ import annotations

from pathlib import Path

import pytest

from regwatch.errors import ConfigError
from regwatch.normalise.taxonomy import load_taxonomy

BUNDLED = Path(__file__).resolve().parents[2] / "config" / "taxonomy.toml"


@pytest.fixture(scope="module")
def tax():
    return load_taxonomy(BUNDLED)


def test_default_path_is_the_bundled_file(tax):
    assert load_taxonomy() == tax


@pytest.mark.parametrize("text", [
    "安全保障貿易管理に関する省令改正について",
    "外為法に基づく輸出管理の見直し",
    "輸出貿易管理令の一部を改正する政令が閣議決定されました",
    "METI Amends the Export Trade Control Order",
    "Public comments on export controls for quantum computers",
    "ＥＸＰＯＲＴ　ＣＯＮＴＲＯＬ",  # full-width letters and space
])
def test_export_control_texts_are_relevant(tax, text):
    assert tax.is_relevant(text)


@pytest.mark.parametrize("text", [
    "日本貿易保険による海外投資保険の引受について",
    "次世代半導体の量産に向けた支援を決定しました",  # category term only: not export control
    "NEXI expands export credit insurance for SMEs",
    "Energy efficiency standards for air conditioners revised",
])
def test_other_news_is_not_relevant(tax, text):
    assert not tax.is_relevant(text)


def test_categories_in_both_languages(tax):
    ja = "走査型電子顕微鏡、ゲートオールアラウンド（ＧＡＡ）トランジスタ技術、極低温ＣＭＯＳ回路、量子コンピュータ"
    en = ("scanning electron microscopes, gate all around transistor technology, "
          "cryogenic CMOS circuits and quantum computers")
    for text in (ja, en):
        assert set(tax.categories_in(text)) >= {"semiconductor", "electron_microscopy", "quantum"}


def test_latin_terms_need_boundaries(tax):
    assert tax.categories_in("GAAP accounting rules") == ()
    assert "semiconductor" in tax.categories_in("GAAトランジスタ")


def test_longest_instrument_name_wins(tax):
    text = ("輸出貿易管理令別表第一及び外国為替令別表の規定に基づき貨物又は技術を定める省令の一部を"
            "改正する省令を公布しました。あわせて輸出貿易管理令も改正します。")
    assert tax.instruments_in(text) == ("403M50000400049", "324CO0000000378")
    assert tax.instruments_in("Appended Table 1 of the Export Order") == ("324CO0000000378",)


def test_users_extend_without_code(tmp_path):
    path = tmp_path / "taxonomy.toml"
    path.write_text(BUNDLED.read_text(encoding="utf-8") + """
[[category]]
id = "biotech"
label_en = "Biotechnology"
label_ja = "バイオ"
terms_ja = ["遺伝子合成"]
terms_en = ["gene synthesis"]
""", encoding="utf-8")
    tax = load_taxonomy(path)
    assert tax.categories_in("遺伝子合成装置の輸出管理") == ("biotech",)
    assert tax.category("biotech").label_en == "Biotechnology"


@pytest.mark.parametrize("body, key", [
    ('[[category]]\nid = "Bad Id"\nterms_ja = []\nterms_en = []\n', "category[0].id"),
    ('[relevance]\nterms = ["x"]\n', "relevance.terms"),
    ('[[instrument]]\nlaw_id = "1"\nnames_ja = [""]\n', "instrument[0].names_ja"),
    ('colour = 1\n', "colour"),
])
def test_bad_taxonomy_names_the_key(tmp_path, body, key):
    path = tmp_path / "t.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_taxonomy(path)
    assert err.value.key == key and err.value.file == str(path)
