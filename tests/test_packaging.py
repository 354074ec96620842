"""The wheel carries the default config, templates, migrations and demo data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (the test extra)")
    wheels = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
                    "-w", str(wheels), str(ROOT)], check=True, timeout=300)
    (wheel,) = wheels.glob("regwatch-*.whl")
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, timeout=300)
    return target


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("REGWATCH_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "regwatch.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_installed_wheel_runs_from_anywhere(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([sys.executable, "-c", "import regwatch; print(regwatch.__file__)"],
                           env={**os.environ, "PYTHONPATH": str(installed)}, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(installed))  # the wheel, not the checkout
    init = _run(installed, tmp_path, "init")
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "regwatch-data" / "regwatch.db").exists()
    status = _run(installed, tmp_path, "status")
    assert status.returncode == 0 and "egov-law" in status.stdout
    demo = _run(installed, tmp_path, "demo", "--out", str(tmp_path / "demo"))
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "outside the Wassenaar Arrangement" in demo.stdout
    assert (tmp_path / "demo" / "report.html").exists()
