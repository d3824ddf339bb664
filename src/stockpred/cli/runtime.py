"""What every command receives: the settings built once at start-up, consoles and a clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from stockpred.bus.blocking import Announcer

__all__ = ["Runtime", "StepProgress", "runtime_of"]

# Off a terminal, a progress line at most this often (seconds), and at the end.
_LOG_EVERY_SECONDS = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Runtime:
    """Settings, stdout for results, stderr for progress and messages, and the clock."""

    settings: Settings
    out: Console
    err: Console
    clock: Callable[[], datetime] = _utc_now
    # What the command opened for its whole run (the announcer); closed when it ends.
    _resources: ExitStack = field(default_factory=ExitStack, repr=False)
    _held: dict[str, Any] = field(default_factory=dict, repr=False)

    def announcer(self) -> Announcer | None:
        """What this command tells the servers once it has committed (feature rows, champion
        moves; ``compose.announcements``): opened on first use, closed when the command ends.
        None on the in-process bus."""
        if "announcer" not in self._held:
            from stockpred.compose import announcements

            self._held["announcer"] = self._resources.enter_context(announcements(self.settings))
        announcer: Announcer | None = self._held["announcer"]
        return announcer

    def close(self) -> None:
        """Release what the command opened; idempotent."""
        self._resources.close()

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

    @contextmanager
    def steps(self, label: str) -> Iterator[StepProgress]:
        """:class:`StepProgress` for a job of counted steps (e.g. a walk-forward)."""
        with self.progress() as progress:
            steps = StepProgress(progress, self.err, label)
            try:
                yield steps
            finally:
                steps.close()


class StepProgress:
    """Progress of a job of counted steps: a live bar on a terminal; off a terminal (a pipe,
    CI, a log file), a plain line on stderr at least every 10 s (from a heartbeat thread, so
    one long step is not silent either) and at the end."""

    def __init__(self, progress: Progress, err: Console, label: str) -> None:
        self._progress = progress
        self._err = err
        self._label = label
        self._task = progress.add_task(label, total=None)
        self._total: int | None = None
        self._done = 0
        self._started = time.monotonic()
        self._logged = self._started
        self._description = "starting"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        if not err.is_terminal:
            self._heartbeat = threading.Thread(target=self._beat, daemon=True)
            self._heartbeat.start()

    def start(self, total: int) -> None:
        """The job has ``total`` steps."""
        self._total = total
        self._progress.update(self._task, total=total)

    def advance(self, description: str) -> None:
        """One step done; ``description`` says which."""
        with self._lock:
            self._done += 1
            self._description = description
        self._progress.update(self._task, advance=1, description=description)
        if self._err.is_terminal:
            return
        now = time.monotonic()
        if now - self._logged >= _LOG_EVERY_SECONDS or self._done == self._total:
            self._log(now)

    def close(self) -> None:
        """Stop the heartbeat (the job is over)."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(1.0):
            now = time.monotonic()
            if now - self._logged >= _LOG_EVERY_SECONDS:
                self._log(now, running=True)

    def _log(self, now: float, *, running: bool = False) -> None:
        with self._lock:
            self._logged = now
            total = "?" if self._total is None else str(self._total)
            what = f"at {self._description}" if running else self._description
            line = (
                f"{self._label}: {self._done}/{total} steps ({what}), {now - self._started:.0f} s"
            )
        self._err.print(line, markup=False, highlight=False)


def runtime_of(ctx: typer.Context) -> Runtime:
    runtime = ctx.find_root().obj
    assert isinstance(runtime, Runtime), "the root callback sets the runtime"
    return runtime
