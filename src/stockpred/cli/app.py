"""The ``stockpred`` command: builds the settings once, then dispatches to a command group.

Errors that stockpred raises on purpose print one line and exit 1; anything else is a bug and
shows its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from stockpred import __version__
from stockpred.cli.clients import clients_app
from stockpred.cli.config import config_app
from stockpred.cli.data import data_app
from stockpred.cli.evaluate import evaluate_command
from stockpred.cli.features import features_app
from stockpred.cli.ingest import ingest_app
from stockpred.cli.models import models_app, predict_command, retrain_command, train_command
from stockpred.cli.runtime import Runtime
from stockpred.cli.scheduler import scheduler_command
from stockpred.cli.sentiment import sentiment_app
from stockpred.cli.serve import serve_command
from stockpred.cli.sources import sources_command
from stockpred.domain.errors import StockpredError
from stockpred.settings import load_settings

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="stockpred",
    help="Stock-price prediction as a service: ingest market data, build features, evaluate, "
    "train and serve forecasts.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    epilog="Example: stockpred ingest sample && stockpred data list",
)
app.add_typer(ingest_app, name="ingest")
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
app.command("sources", epilog="Example: stockpred sources --json")(sources_command)
app.command("scheduler", epilog="Example: stockpred scheduler --list")(scheduler_command)
app.add_typer(sentiment_app, name="sentiment")
app.add_typer(features_app, name="features")
app.command(
    "evaluate",
    epilog="Examples: stockpred evaluate  |  stockpred evaluate --horizon 1 --models "
    "ridge,lightgbm,xgboost --export oos.parquet",
)(evaluate_command)
app.command("train", epilog="Example: stockpred train --horizon 5 --models ridge,lightgbm")(
    train_command
)
app.command("retrain", epilog="Example: stockpred retrain --horizon 5 --recent 63")(retrain_command)
app.add_typer(models_app, name="models")
app.command("predict", epilog="Example: stockpred predict AAPL --horizon 5")(predict_command)
app.command("serve", epilog="Example: stockpred serve --port 8000")(serve_command)
app.add_typer(clients_app, name="clients")


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
    ctx.obj = Runtime(
        settings=load_settings(config_file=config),
        out=Console(),
        err=Console(stderr=True),
    )


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
