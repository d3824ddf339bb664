"""``stockpred clients``: the API's clients (OAuth2 client credentials) and their scopes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from stockpred.api.principals import SCOPES
from stockpred.cli.layout import FittedTable
from stockpred.cli.runtime import runtime_of

# The client store (SQLAlchemy, and pandas through the store package) loads in the commands, so
# that `--help` does not pay for it.
if TYPE_CHECKING:
    from stockpred.api.clients import Client

__all__ = ["clients_app"]

clients_app = typer.Typer(
    help="API clients: who may get tokens from POST /v1/token, with which scopes.",
    no_args_is_help=True,
    epilog="Example: stockpred clients create --name dashboard --scopes predictions:read",
)


def _record(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "scopes": list(client.scopes),
        "created_at": client.created_at.isoformat(),
        "revoked_at": client.revoked_at.isoformat() if client.revoked_at else None,
        "active": client.active,
    }


@clients_app.command(
    "create",
    epilog="Example: stockpred clients create --name trading-desk "
    "--scopes predictions:read,stream:read --json",
)
def create(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="Who the client is, e.g. trading-desk."),
    scopes: str = typer.Option(
        ...,
        "--scopes",
        help=f"Comma-separated scopes: {', '.join(SCOPES)} (admin implies all).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Register a client and print its id and secret; the secret is shown only this once."""
    from stockpred.api.clients import ClientStore

    runtime = runtime_of(ctx)
    with ClientStore(runtime.settings.api_database_url, clock=runtime.clock) as store:
        created = store.create(name=name, scopes=scopes.split(","))
    client = created.client
    if as_json:
        runtime.print_json({**_record(client), "client_secret": created.secret})
    else:
        # Plain lines, no markup or highlighting: people copy these.
        runtime.out.print(f"client_id:     {client.client_id}", markup=False, highlight=False)
        runtime.out.print(f"client_secret: {created.secret}", markup=False, highlight=False)
        runtime.out.print(
            f"scopes:        {' '.join(client.scopes)}", markup=False, highlight=False
        )
    runtime.err.print(
        "Store the secret now: it cannot be shown again (only its hash is kept). "
        "Lost it? Revoke the client and create a new one.",
        markup=False,
        highlight=False,
    )


@clients_app.command("list", epilog="Example: stockpred clients list --json")
def list_clients(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Every client, revoked ones included, oldest first (secrets are never shown)."""
    from stockpred.api.clients import ClientStore

    runtime = runtime_of(ctx)
    with ClientStore(runtime.settings.api_database_url, clock=runtime.clock) as store:
        clients = store.list()
    if as_json:
        runtime.print_json([_record(client) for client in clients])
        return
    if not clients:
        runtime.err.print(
            "No API clients yet. Try: stockpred clients create --name NAME "
            "--scopes predictions:read",
            markup=False,
        )
        return
    active = sum(client.active for client in clients)
    table = FittedTable(
        title=f"{len(clients)} API clients, {active} active",
        title_justify="left",
        header_style="bold",
    )
    for column in ("client_id", "name", "scopes", "created (UTC)", "status"):
        # The id is what `clients revoke` takes: it never wraps.
        table.add_column(column, no_wrap=column == "client_id", overflow="fold")
    for client in clients:
        status = (
            "active" if client.revoked_at is None else f"revoked {client.revoked_at:%Y-%m-%d %H:%M}"
        )
        table.add_row(
            client.client_id,
            client.name,
            " ".join(client.scopes),
            f"{client.created_at:%Y-%m-%d %H:%M}",
            status,
        )
    runtime.out.print(table)


@clients_app.command("revoke", epilog="Example: stockpred clients revoke cl_AbCdEfGhIjKlMnOp")
def revoke(
    ctx: typer.Context,
    client_id: str = typer.Argument(
        ..., help="The client's id, as `stockpred clients list` shows."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Revoke a client: it gets no new tokens (tokens already issued live until they expire)."""
    from stockpred.api.clients import ClientStore

    runtime = runtime_of(ctx)
    with ClientStore(runtime.settings.api_database_url, clock=runtime.clock) as store:
        client = store.revoke(client_id)
    if as_json:
        runtime.print_json(_record(client))
        return
    minutes = runtime.settings.api_token_minutes
    runtime.out.print(
        f"revoked {client.client_id} ({client.name}); tokens it already holds stay valid until "
        f"they expire, within {minutes} minutes",
        markup=False,
        highlight=False,
    )
