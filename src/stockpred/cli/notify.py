"""``stockpred notify``: the Slack and email notices that could not be delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from stockpred.cli.layout import FittedTable
from stockpred.cli.runtime import Runtime, runtime_of
from stockpred.settings import Settings

# The store (SQLAlchemy) and the channels (httpx) load in the commands, so that `--help` does
# not pay for them.
if TYPE_CHECKING:
    from stockpred.notify.dispatch import Sent
    from stockpred.notify.notice_store import NoticeDeadLetter

__all__ = ["notify_app"]

notify_app = typer.Typer(
    help="Notices to Slack and email (notify_routes): what could not be delivered.",
    no_args_is_help=True,
    epilog="Example: stockpred notify dead-letters --retry",
)


def _record(letter: NoticeDeadLetter, sent: Sent | None = None) -> dict[str, Any]:
    # The target is left out: a Slack webhook URL is a secret; the destination is its host.
    record: dict[str, Any] = {
        "id": letter.id,
        "channel": letter.channel,
        "destination": letter.destination,
        "title": letter.title,
        "attempts": letter.attempts,
        "last_error": letter.last_error,
        "first_attempt_at": letter.first_attempt_at.isoformat(),
        "parked_at": letter.parked_at.isoformat(),
    }
    if sent is not None:
        record["retry"] = {"outcome": sent.outcome, "attempts": sent.attempts, "error": sent.error}
    return record


@notify_app.command(
    "dead-letters",
    epilog="Example: stockpred notify dead-letters --json  |  stockpred notify dead-letters "
    "--retry --id ndl_abc123",
)
def dead_letters(
    ctx: typer.Context,
    retry: bool = typer.Option(
        False,
        "--retry",
        help="Send them again (with the retry policy): delivered ones leave the list, the "
        "others stay with their new error. Exits 1 when any is still undelivered.",
    ),
    ids: list[str] | None = typer.Option(None, "--id", help="Only this dead letter (repeatable)."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List the notices parked after their last try (newest first), or send them again."""
    from stockpred.notify.notice_store import NoticeStore

    runtime = runtime_of(ctx)
    store = NoticeStore(runtime.settings.api_database_url)
    try:
        letters = store.dead_letters(limit=limit)
    finally:
        store.close()
    if ids:
        wanted = set(ids)
        letters = [letter for letter in letters if letter.id in wanted]
        missing = wanted - {letter.id for letter in letters}
        if missing:
            from stockpred.domain.errors import NotFoundError

            raise NotFoundError(
                f"no dead letter {sorted(missing)[0]!r} among the newest {limit}; list them "
                "with `stockpred notify dead-letters`"
            )
    results: list[Sent | None] = [None] * len(letters)
    if retry and letters:
        results = list(asyncio.run(_redeliver(runtime.settings, letters, runtime.clock)))
    if as_json:
        runtime.print_json(
            [_record(letter, sent) for letter, sent in zip(letters, results, strict=True)]
        )
    else:
        _print_table(runtime, letters, results, retried=retry)
    if retry and any(s is not None and s.outcome != "delivered" for s in results):
        raise typer.Exit(1)


async def _redeliver(
    settings: Settings, letters: list[NoticeDeadLetter], clock: Callable[[], datetime]
) -> list[Sent]:
    from stockpred.compose import notifier

    dispatcher = notifier(settings, clock=clock)
    try:
        return [await dispatcher.redeliver(letter) for letter in letters]
    finally:
        await dispatcher.aclose()


def _print_table(
    runtime: Runtime, letters: list[NoticeDeadLetter], results: list[Sent | None], *, retried: bool
) -> None:
    if not letters:
        runtime.err.print("No dead letters: every notice was delivered.")
        return
    table = FittedTable(title="undelivered notices", title_justify="left", header_style="bold")
    for name in ("id", "parked", "to", "title", "tries", "last error"):
        table.add_column(name, overflow="fold")
    if retried:
        table.add_column("retry", overflow="fold")
    for letter, sent in zip(letters, results, strict=True):
        row = [
            letter.id,
            letter.parked_at.strftime("%Y-%m-%d %H:%M:%SZ"),
            f"{letter.channel} {letter.destination}",
            letter.title,
            str(letter.attempts),
            letter.last_error,
        ]
        if retried:
            row.append("-" if sent is None else sent.outcome)
        table.add_row(*row)
    runtime.out.print(table, markup=False, highlight=False)
