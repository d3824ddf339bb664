"""``stockpred config``: the effective settings."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from stockpred.cli.runtime import runtime_of
from stockpred.settings import describe_settings

__all__ = ["config_app"]

config_app = typer.Typer(
    help="Inspect the effective settings.",
    no_args_is_help=True,
    epilog="Example: stockpred config show --json",
)


@config_app.command("show", epilog="Example: STOCKPRED_CALENDAR=XLON stockpred config show")
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Print every setting, its value (secrets masked) and where it came from."""
    runtime = runtime_of(ctx)
    rows = describe_settings(runtime.settings)
    if as_json:
        runtime.print_json([dataclasses.asdict(r) for r in rows])
        return
    table = Table(title="stockpred settings", title_justify="left", header_style="bold")
    for name in ("setting", "value", "from", "meaning"):
        table.add_column(name)
    for row in rows:
        table.add_row(row.name, row.value, row.origin, row.description)
    runtime.out.print(table)
