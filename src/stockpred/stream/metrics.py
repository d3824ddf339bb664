"""What the stream processor reports as it goes, behind a small protocol: the processor is
handed one (``monitor/stream_metrics.py`` holds the Prometheus one) or None, and never imports a
metrics library itself."""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["ForecastKind", "StreamMetrics"]

# Provisional: a nowcast of a session still open (never stored); committed: a closed session's.
ForecastKind = Literal["provisional", "committed"]


class StreamMetrics(Protocol):
    """Counts and timings of the processor; each call is cheap (no I/O, no lock held long)."""

    def bars_taken(self, count: int) -> None:
        """``count`` bars (daily or intraday) taken from a batch of deliveries."""
        ...

    def forecasts_published(self, kind: ForecastKind, count: int) -> None:
        """``count`` forecasts of ``kind`` published on ``predictions``."""
        ...

    def session_committed(self) -> None:
        """One session's rows, bars and forecasts written and its deliveries acknowledged."""
        ...

    def bar_to_forecast(self, kind: ForecastKind, seconds: float) -> None:
        """Seconds from bars in hand to their forecasts published: a batch of intraday bars
        fetched to its nowcasts, or a complete session to its committed forecasts."""
        ...
