"""The command line starts without importing what its commands use (lazy sub-commands), and
every command's and sub-command's ``--help`` imports none of the stacks its work needs."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer._click import Command, Context
from typer.core import TyperGroup
from typer.main import get_command_name
from typer.testing import CliRunner

from stockpred.cli.app import _COMMANDS, app

# The stacks a command loads only to do its work: data frames and arrays, the store and its
# databases, the model libraries, the API server, and stockpred's own layers built on them.
_HEAVY = (
    "pandas", "numpy", "scipy", "pyarrow", "numba", "exchange_calendars", "duckdb",
    "sqlalchemy", "sklearn", "lightgbm", "xgboost", "torch", "tensorflow", "keras", "mlflow",
    "fastapi", "starlette", "uvicorn", "stockpred.store", "stockpred.compose",
    "stockpred.pipeline", "stockpred.models.catalog", "stockpred.api.clients",
)  # fmt: skip


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


def _sub_commands(group: typer.Typer) -> list[tuple[str, ...]]:
    """The commands registered on a Typer group, by the names the command line gives them.
    (Nested groups are not read: the coverage test below fails if one appears.)"""
    return [
        (info.name or get_command_name(info.callback.__name__),)
        for info in group.registered_commands
        if info.callback is not None
    ]


def _help_paths() -> list[tuple[str, ...]]:
    """Every command of ``_COMMANDS`` and every sub-command of those that are Typer groups."""
    paths: list[tuple[str, ...]] = []
    for name, lazy in _COMMANDS.items():
        paths.append((name,))
        target = getattr(importlib.import_module(lazy.module), lazy.attribute)
        if isinstance(target, typer.Typer):
            paths.extend((name, *sub) for sub in _sub_commands(target))
    return paths


_HELP_PATHS = _help_paths()

# One interpreter loads what the root's own --help loads (and what the root's callback imports,
# the settings) once, then forks a fresh copy of itself per command: each child reports the heavy
# modules present after that command's --help, so each command is measured on its own and the
# whole check costs about one start-up.
_FORKED_HELP = """
import contextlib, io, json, os, sys

import stockpred.cli.runtime, stockpred.settings
from stockpred.cli.app import main

heavy, paths = json.loads(sys.argv[1])


def report(path, code):
    return json.dumps([path, code, sorted(m for m in heavy if m in sys.modules)])


with contextlib.redirect_stdout(io.StringIO()):
    code = main(["--help"])
print(report([], code), flush=True)
for path in paths:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read)
            sys.stdout = open(os.devnull, "w")
            os.write(write, report(path, main([*path, "--help"])).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        line = answer.read().decode()
    os.waitpid(child, 0)
    print(line or report(path, None), flush=True)
"""


@pytest.fixture(scope="module")
def help_imports(
    isolate: Callable[..., None], tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, ...], tuple[int | None, list[str]]]:
    """Per command path (the root as ``()``): the exit code of its --help and the heavy
    modules loaded by then."""
    folder: Path = tmp_path_factory.mktemp("help")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, home=folder / "home", cwd=folder)
        done = subprocess.run(
            [sys.executable, "-c", _FORKED_HELP, json.dumps([_HEAVY, _HELP_PATHS])],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    found = {}
    for line in done.stdout.splitlines():
        path, code, loaded = json.loads(line)
        found[tuple(path)] = (code, loaded)
    assert len(found) == len(_HELP_PATHS) + 1, done.stderr
    return found


def test_the_root_help_loads_none_of_the_stacks_before_the_commands_are_forked(
    help_imports: dict[tuple[str, ...], tuple[int | None, list[str]]],
) -> None:
    assert help_imports[()] == (0, [])


@pytest.mark.parametrize("path", _HELP_PATHS, ids=" ".join)
def test_every_command_and_sub_command_help_imports_none_of_the_stacks(
    help_imports: dict[tuple[str, ...], tuple[int | None, list[str]]], path: tuple[str, ...]
) -> None:
    assert help_imports[path] == (0, [])


def _click_paths(command: Command, ctx: Context, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every command path below ``command`` as the command line resolves them."""
    if not isinstance(command, TyperGroup):
        return []
    paths = []
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        assert sub is not None, (*prefix, name)
        paths.append((*prefix, name))
        paths.extend(_click_paths(sub, Context(sub, info_name=name, parent=ctx), (*prefix, name)))
    return paths


def test_the_help_test_covers_every_sub_command_of_every_group() -> None:
    root = typer.main.get_command(app)

    resolved = _click_paths(root, Context(root, info_name="stockpred"), ())

    assert len(set(_HELP_PATHS)) == len(_HELP_PATHS)
    assert sorted(_HELP_PATHS) == sorted(resolved)
