"""The benchmarks in bench/ are deliverables too: each must still run, at a toy size, from a
clean checkout (they import regwatch's internals, which move). Only that they run and print
their figures is checked here; the figures themselves are for people (bench/*.py docstrings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(name: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_fetch_bench_runs_and_detects_every_change(tmp_path: Path) -> None:
    out = run_bench("fetch_bench.py", "--pages", "40", "--latency-ms", "1", "--skip-urlwatch",
                    "--workdir", str(tmp_path))
    assert "regwatch changes detected: 4 of 4 true" in out and "EXACT" in out
    assert "Shift_JIS diff" in out and ": readable:" in out
    assert "regwatch peak RSS" in out


@pytest.mark.parametrize("pipeline", [False, True], ids=["bulk", "pipeline"])
def test_fetch_bench_pipeline_mode(tmp_path: Path, pipeline: bool) -> None:
    extra = ["--pipeline"] if pipeline else []
    out = run_bench("fetch_bench.py", "--pages", "20", "--latency-ms", "1", "--skip-urlwatch",
                    "--workdir", str(tmp_path), *extra)
    assert "EXACT" in out


def test_report_bench_runs(tmp_path: Path) -> None:
    out = run_bench("report_bench.py", "--changes", "3000", "--render", "40", "--repeat", "2",
                    "--db", str(tmp_path / "b.db"))
    assert '"since ' in out and "by any" in out
    assert "HTML report of 40 changes" in out


def test_lawdiff_bench_runs() -> None:
    out = run_bench("lawdiff_bench.py", "--articles", "2")
    assert "changes found: 50 {'amended': 50} (expected 50 amended)" in out


def test_load_bench_runs() -> None:
    out = run_bench("load_bench.py", "--sources", "6", "--pages", "2", "--hosts", "2")
    assert "run results         {'ok': 6}" in out
    assert "documents stored    12 of 12 (correct)" in out
