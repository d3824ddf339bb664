"""Off a terminal, long work logs a progress line at least every 10 s, even within one step."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console
from rich.progress import Progress

from stockpred.cli import runtime
from stockpred.cli.runtime import StepProgress


def test_a_long_step_off_a_terminal_still_logs_heartbeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "_LOG_EVERY_SECONDS", 0.2)
    buffer = io.StringIO()
    err = Console(file=buffer, force_terminal=False, width=80)
    steps = StepProgress(Progress(disable=True), err, "walk-forward")
    steps.start(3)
    steps.advance("fold 0 ridge")
    time.sleep(2.5)  # one slow step: only the heartbeat can speak
    steps.advance("fold 1 ridge")
    steps.advance("fold 2 ridge")
    steps.close()

    lines = buffer.getvalue().splitlines()
    beats = [line for line in lines if "(at fold 0 ridge)" in line]
    assert len(beats) >= 2
    assert lines[-1].startswith("walk-forward: 3/3 steps (fold 2 ridge)")


def test_the_default_interval_is_at_most_ten_seconds() -> None:
    assert runtime._LOG_EVERY_SECONDS <= 10.0
