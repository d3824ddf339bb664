"""What every command receives: the settings built once at start-up, consoles and a clock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from stockpred.settings import Settings

__all__ = ["Runtime", "runtime_of"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Runtime:
    """Settings, stdout for results, stderr for progress and messages, and the clock."""

    settings: Settings
    out: Console
    err: Console
    clock: Callable[[], datetime] = _utc_now

    def print_json(self, payload: Any) -> None:
        # Plain print: scripts read this, so no wrapping or markup.
        self.out.file.write(json.dumps(payload, indent=2, default=str) + "\n")

    @contextmanager
    def progress(self) -> Iterator[Progress]:
        """A progress display on stderr that disappears when done."""
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
            # Not a terminal (a pipe, CI, a log file): no progress, not even a blank line.
            disable=not self.err.is_terminal,
        ) as progress:
            yield progress


def runtime_of(ctx: typer.Context) -> Runtime:
    runtime = ctx.find_root().obj
    assert isinstance(runtime, Runtime), "the root callback sets the runtime"
    return runtime
