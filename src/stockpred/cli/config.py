"""``stockpred config``: the effective settings."""

from __future__ import annotations

import dataclasses

import typer
from rich.text import Text

from stockpred.cli.layout import FittedTable
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
    wide: bool = typer.Option(
        False,
        "--wide",
        help="One column each for setting, value, origin and meaning (the default view puts "
        "the meaning under the setting and the origin under the value, to fit 80 columns).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Print every setting, its value (secrets masked) and where it came from."""
    runtime = runtime_of(ctx)
    rows = describe_settings(runtime.settings)
    if as_json:
        runtime.print_json([dataclasses.asdict(r) for r in rows])
        return
    table = FittedTable(title="stockpred settings", title_justify="left", header_style="bold")
    if wide:
        for name in ("setting", "value", "from", "meaning"):
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(row.name, row.value, row.origin, row.description)
    else:
        table.show_lines = True  # each setting spans lines; a rule keeps them apart
        # As wide as the longest name: the values (paths, URLs) get the rest.
        table.add_column(
            "setting: meaning", overflow="fold", max_width=max(len(r.name) for r in rows)
        )
        table.add_column("value (from)", overflow="fold")
        for row in rows:
            table.add_row(
                Text.assemble((row.name, "bold"), "\n", (row.description, "dim")),
                Text.assemble(row.value, "\n", (row.origin, "dim")),
            )
    runtime.out.print(table)
