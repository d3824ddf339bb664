"""The command line starts without importing what its commands use (lazy sub-commands)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from stockpred.cli.app import _COMMANDS, app

_HEAVY = ("pandas", "numpy", "scipy", "duckdb", "sklearn", "fastapi", "stockpred.store")


def _modules_after(arguments: list[str]) -> list[str]:
    code = (
        "import sys\n"
        "from stockpred.cli.app import main\n"
        f"code = main({arguments!r})\n"
        f"print(sorted(m for m in {_HEAVY!r} if m in sys.modules), code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip().splitlines()


@pytest.mark.parametrize(("arguments", "code"), [(["--version"], 0), (["--help"], 0), ([], 2)])
def test_version_and_help_import_none_of_the_heavy_libraries(
    arguments: list[str], code: int
) -> None:
    lines = _modules_after(arguments)

    assert lines[-1] == f"[] {code}"


def test_the_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"})

    assert result.exit_code == 0
    for name, lazy in _COMMANDS.items():
        assert name in result.output
        assert lazy.summary[:30] in result.output


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_each_command_loads_and_shows_its_own_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.output
    assert f"stockpred {name}" in result.output
    assert "--install-completion" not in result.output


def test_a_mistyped_command_is_refused_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["ingst"], env={"COLUMNS": "80"})

    assert result.exit_code == 2
    assert "Did you mean 'ingest'?" in result.output
