"""`regwatch report` end to end: options, time zone of --as-known-at, errors, -o FILE."""

from __future__ import annotations

import json

import jsonschema

from regwatch.cli import main
from regwatch.report.json_report import load_schema

from . import history as h
from .history import build_history


def run(config_file, *args: str) -> int:
    return main(["--config", str(config_file), "report", *args])


def test_report_json_to_file(engine, config_file, tmp_path) -> None:
    build_history(engine)
    out = tmp_path / "out" / "report.json"
    assert run(config_file, "--since", "2024-01-01", "--format", "json", "-o", str(out)) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    assert {c["id"] for c in doc["changes"]} == h.C24 | {h.C24_FX}


def test_report_as_known_at_is_read_in_the_configured_time_zone(engine, config_file, capsys) -> None:
    build_history(engine)
    # 2024-08-20 18:00 in Tokyo (the default time zone) is 09:00Z, when the notice arrived
    for moment, expected in (("2024-08-20T17:59", h.C24_ORDINANCE), ("2024-08-20T18:00", h.C24)):
        assert run(config_file, "--since", "2024-09-01", "--until", "2024-09-30", "--by",
                   "effective", "--as-known-at", moment, "--format", "json") == 0
        doc = json.loads(capsys.readouterr().out)
        assert {c["id"] for c in doc["changes"]} == expected
        assert doc["window"] == {"since": "2024-09-01", "until": "2024-09-30", "by": "effective"}


def test_report_filters_and_formats(engine, config_file, capsys) -> None:
    build_history(engine)
    assert run(config_file, "--since", "2023-01-01", "--instrument", h.ORDER, "--format", "csv") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and h.C24_ORDER in lines[1]
    assert run(config_file, "--since", "2023-01-01", "--category", "cryo-cmos",
               "--category", "gaa-transistor", "--format", "md") == 0
    md = capsys.readouterr().out
    assert "第六条第二十四号" in md and "第十九条第五号" in md and "第六条第二十三号" not in md
    assert run(config_file, "--since", "2023-01-01") == 0  # html is the default
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")


def test_report_refuses_bad_requests(engine, config_file, capsys) -> None:
    assert run(config_file, "--since", "2024-02-01", "--until", "2024-01-01") == 2
    assert "is after --until" in capsys.readouterr().err
    assert run(config_file, "--since", "1 May 2024") == 2
    assert run(config_file, "--since", "2024-01-01", "--by", "promulgated") == 2


def test_report_needs_an_initialised_database(config_file, capsys) -> None:
    assert run(config_file, "--since", "2024-01-01") == 2
    assert "regwatch init" in capsys.readouterr().err
