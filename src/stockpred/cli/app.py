"""The ``stockpred`` command: builds the settings once, then dispatches to a command group.

Errors that stockpred raises on purpose print one line and exit 1; anything else is a bug and
shows its traceback.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import typer

# typer vendors click as typer._click; TyperGroup's methods take and return its classes.
from typer._click import Command, Context, HelpFormatter
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup

from stockpred import __version__
from stockpred.domain.errors import StockpredError

__all__ = ["app", "main", "run"]


@dataclass(frozen=True, slots=True)
class _Lazy:
    """A sub-command imported only when it runs: module, attribute (a ``typer.Typer`` group or a
    command function), the one-line help shown in ``stockpred --help``, and an example."""

    module: str
    attribute: str
    summary: str
    example: str = ""


# In the order `stockpred --help` lists them. A command's module is imported only to run it or
# show its help, and loads pandas, the store, the models or the API stack inside its commands, so
# no `--help` pays for them (tests/unit/test_cli_startup.py checks every command).
_COMMANDS: dict[str, _Lazy] = {
    "ingest": _Lazy("stockpred.cli.ingest", "ingest_app", "Bring data into the store."),
    "data": _Lazy("stockpred.cli.data", "data_app", "Look at the stored data."),
    "config": _Lazy("stockpred.cli.config", "config_app", "Inspect the effective settings."),
    "sources": _Lazy(
        "stockpred.cli.sources",
        "sources_command",
        "List the data providers, their keys, limits and last runs.",
        "stockpred sources --json",
    ),
    "scheduler": _Lazy(
        "stockpred.cli.scheduler",
        "scheduler_command",
        "Run the feeds on their schedules until stopped.",
        "stockpred scheduler --list",
    ),
    "sentiment": _Lazy(
        "stockpred.cli.sentiment", "sentiment_app", "Score the sentiment of financial text."
    ),
    "features": _Lazy(
        "stockpred.cli.features", "features_app", "Build feature sets and describe them."
    ),
    "evaluate": _Lazy(
        "stockpred.cli.evaluate",
        "evaluate_command",
        "Walk-forward evaluation of the models beside the baselines.",
        "stockpred evaluate  |  stockpred evaluate --horizon 1 --models "
        "ridge,lightgbm,xgboost --export oos.parquet",
    ),
    "train": _Lazy(
        "stockpred.cli.models",
        "train_command",
        "Evaluate, fit and register the models; the best one serves.",
        "stockpred train --horizon 5 --models ridge,lightgbm",
    ),
    "train-sagemaker": _Lazy(
        "stockpred.cli.sagemaker",
        "train_sagemaker_command",
        "A SageMaker training job: /opt/ml in, the champion's files out.",
        "SM_BASE_DIR=./ml stockpred train-sagemaker",
    ),
    "retrain": _Lazy(
        "stockpred.cli.models",
        "retrain_command",
        "Challenge the champion on recent data; promote only a winner.",
        "stockpred retrain --horizon 5 --recent 63",
    ),
    "monitor": _Lazy(
        "stockpred.cli.monitor",
        "monitor_command",
        "Score matured forecasts beside the baselines and measure drift.",
        "stockpred monitor --horizons 5",
    ),
    "report": _Lazy(
        "stockpred.cli.report",
        "report_app",
        "The daily report of a session as HTML and PDF; send it.",
    ),
    "models": _Lazy(
        "stockpred.cli.models", "models_app", "Trained models: list, show, promote, roll back."
    ),
    "predict": _Lazy(
        "stockpred.cli.models",
        "predict_command",
        "The champion's forecast for a ticker.",
        "stockpred predict AAPL --horizon 5",
    ),
    "serve": _Lazy(
        "stockpred.cli.serve",
        "serve_command",
        "Serve forecasts over REST and websockets.",
        "stockpred serve --port 8000",
    ),
    "dashboard": _Lazy(
        "stockpred.cli.dashboard",
        "dashboard_command",
        "The analysts' dashboard (Streamlit) on the API.",
        "stockpred dashboard --api-url http://127.0.0.1:8000 --port 8501",
    ),
    "stream": _Lazy(
        "stockpred.cli.stream",
        "stream_command",
        "Features and forecasts as bars arrive (a replay, a live feed, the bus).",
        "stockpred stream --from 2012-03-01 --fast",
    ),
    "clients": _Lazy("stockpred.cli.clients", "clients_app", "API clients and their scopes."),
    "notify": _Lazy(
        "stockpred.cli.notify", "notify_app", "Slack and email notices that were not delivered."
    ),
}


class _LazyGroup(TyperGroup):
    """The root group: lists every command from ``_COMMANDS`` and imports one only to run it
    (or to show its own help). Listing them in ``--help`` imports nothing."""

    _listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in _COMMANDS if n not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        known = self.commands.get(cmd_name)
        if known is not None or cmd_name not in _COMMANDS:
            return known
        lazy = _COMMANDS[cmd_name]
        if self._listing:
            return TyperCommand(cmd_name, help=lazy.summary, short_help=lazy.summary)
        command = _load(cmd_name, lazy)
        self.add_command(command, cmd_name)
        return command

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            # The framework suggests only commands already imported.
            matches = get_close_matches(args[0], list(_COMMANDS)) if args else []
            if matches and "Did you mean" not in exc.message:
                suggestions = ", ".join(repr(m) for m in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _load(name: str, lazy: _Lazy) -> Command:
    """The click command of ``lazy``: a Typer group as it is, a function as a one-command app."""
    target: Any = getattr(importlib.import_module(lazy.module), lazy.attribute)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        return group
    single = typer.Typer(rich_markup_mode="rich", add_completion=False)
    single.command(name, epilog=f"Example: {lazy.example}" if lazy.example else None)(target)
    return typer.main.get_command(single)


app = typer.Typer(
    name="stockpred",
    cls=_LazyGroup,
    help="Stock-price prediction as a service: ingest market data, build features, evaluate, "
    "train and serve forecasts.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    epilog="Example: stockpred ingest sample && stockpred data list",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stockpred {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        help="TOML settings file (default: ./stockpred.toml or $STOCKPRED_CONFIG).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Build the settings once; every command gets them through the context."""
    from rich.console import Console

    from stockpred.cli.runtime import Runtime
    from stockpred.settings import load_settings, make_private

    settings = load_settings(config_file=config)
    make_private(settings)
    runtime = Runtime(
        settings=settings,
        out=Console(),
        err=Console(stderr=True),
    )
    ctx.obj = runtime
    ctx.call_on_close(runtime.close)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 error, 2 usage)."""
    try:
        # Standalone mode: the framework prints usage errors and help and exits; only our own
        # errors (and bugs) come out of it.
        app(args=argv, prog_name="stockpred")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except StockpredError as exc:
        # One plain line, whatever the terminal width, so scripts and people read the same.
        message = " ".join(str(exc).split())
        sys.stderr.write(f"error: {message}\n")
        return 1
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
