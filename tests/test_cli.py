"""Every command has --help, and the README documents every command."""

from __future__ import annotations

from pathlib import Path

import pytest

from regwatch.cli import cli, main

COMMANDS = sorted(cli.commands)


def test_the_documented_commands_exist() -> None:
    assert COMMANDS == ["demo", "diff", "digest", "extract", "fetch", "init", "query", "report",
                        "reprocess", "run", "status"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_describes_every_option(command: str, capsys) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: regwatch " + command)
    for param in cli.commands[command].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("-"):
                assert opt in out, f"{command}: {opt} missing from --help"


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_documents_every_command(command: str) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"`regwatch {command}" in readme


def test_bad_usage_exits_2(capsys) -> None:
    assert main(["report"]) == 2  # --since is required
    assert main(["nosuchcommand"]) == 2
    assert main(["digest", "--send", "--dry-run", "/tmp/x"]) == 2
    assert main(["diff", "--law", "X"]) == 2
