"""``stockpred clients create/list/revoke`` on the API database of an isolated data home.

The commands run under a local root that builds the runtime the way cli/app.py does, so they are
tested whether or not the group is wired into the main command yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from stockpred.api.clients import ClientStore
from stockpred.cli.clients import clients_app
from stockpred.cli.runtime import Runtime
from stockpred.domain.errors import StockpredError
from stockpred.settings import load_settings

root = typer.Typer()
root.add_typer(clients_app, name="clients")


@root.callback()
def _root(ctx: typer.Context) -> None:
    ctx.obj = Runtime(
        settings=load_settings(), out=Console(width=200), err=Console(stderr=True, width=200)
    )


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    error: BaseException | None

    def json(self) -> Any:
        return json.loads(self.out)


def _run(*args: str) -> Run:
    result = CliRunner().invoke(root, list(args))
    error = result.exception if not isinstance(result.exception, SystemExit) else None
    return Run(result.exit_code, result.stdout, result.stderr, error)


def _store() -> ClientStore:
    return ClientStore(load_settings().api_database_url, clock=lambda: datetime.now(UTC))


def test_create_prints_the_id_and_the_secret_once_with_a_warning() -> None:
    run = _run("clients", "create", "--name", "trading desk", "--scopes", "predictions:read")

    assert run.code == 0, run.error
    lines = dict(line.split(":", 1) for line in run.out.strip().splitlines())
    client_id = lines["client_id"].strip()
    secret = lines["client_secret"].strip()
    assert lines["scopes"].strip() == "predictions:read"
    assert "cannot be shown again" in run.err
    with _store() as store:
        assert store.authenticate(client_id, secret).name == "trading desk"


def test_create_json_gives_scripts_the_secret_and_the_scopes() -> None:
    run = _run(
        "clients", "create", "--name", "bot", "--scopes", "stream:read,predictions:read", "--json"
    )

    assert run.code == 0, run.error
    body = run.json()
    assert body["client_id"].startswith("cl_")
    assert body["scopes"] == ["predictions:read", "stream:read"]
    assert body["active"] is True
    with _store() as store:
        assert store.authenticate(body["client_id"], body["client_secret"]).active


def test_create_with_an_unknown_scope_fails_listing_the_valid_ones() -> None:
    run = _run("clients", "create", "--name", "bot", "--scopes", "predictions:read,everything")

    assert run.code != 0
    assert isinstance(run.error, StockpredError)
    assert "'everything'" in str(run.error)
    assert "models:write" in str(run.error)


def test_list_shows_clients_without_their_secrets() -> None:
    created = _run("clients", "create", "--name", "desk", "--scopes", "admin", "--json").json()

    table = _run("clients", "list")
    listed = _run("clients", "list", "--json")

    assert table.code == 0, table.error
    assert created["client_id"] in table.out
    assert "desk" in table.out
    assert "active" in table.out
    assert created["client_secret"] not in table.out + listed.out
    assert [c["client_id"] for c in listed.json()] == [created["client_id"]]
    assert "client_secret" not in listed.json()[0]


def test_list_with_no_clients_says_how_to_create_one() -> None:
    run = _run("clients", "list")

    assert run.code == 0, run.error
    assert run.out == ""
    assert "stockpred clients create" in run.err


def test_revoke_stops_the_client_getting_tokens() -> None:
    created = _run("clients", "create", "--name", "desk", "--scopes", "admin", "--json").json()

    run = _run("clients", "revoke", created["client_id"])

    assert run.code == 0, run.error
    assert f"revoked {created['client_id']}" in run.out
    assert "until they expire" in run.out
    listed = _run("clients", "list", "--json").json()
    assert listed[0]["active"] is False
    assert listed[0]["revoked_at"] is not None


def test_revoke_of_an_unknown_client_names_the_list_command() -> None:
    run = _run("clients", "revoke", "cl_nobody")

    assert run.code != 0
    assert isinstance(run.error, StockpredError)
    assert "stockpred clients list" in str(run.error)


def test_the_database_lands_in_the_data_home(tmp_path: Path) -> None:
    # conftest points STOCKPRED_HOME at tmp_path / "home".
    run = _run("clients", "create", "--name", "desk", "--scopes", "admin")

    assert run.code == 0, run.error
    assert (tmp_path / "home" / "api.db").is_file()


@pytest.mark.parametrize("command", ["create", "list", "revoke"])
def test_every_command_has_help(command: str) -> None:
    run = _run("clients", command, "--help")

    assert run.code == 0
    assert "Example" in run.out
