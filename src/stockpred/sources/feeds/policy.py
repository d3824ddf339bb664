"""How hard a live feed tries: heartbeats, timeouts and the backoff between reconnects."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StreamPolicy"]


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """Timings of a websocket feed, in seconds. Defaults suit a live session; tests shorten them.

    ``ping_interval_s``/``ping_timeout_s``: a websocket ping every interval, and a connection
    that leaves one unanswered this long is dead (a silent network failure is detected, not
    waited on forever). ``backoff_*``: the wait before reconnect attempt n is
    ``min(backoff_max_s, backoff_initial_s * 2 ** (n - 1))``. ``max_attempts``: consecutive
    failed connection attempts before the feed gives up (None: it never does, a live feed
    rides out a provider's outage). ``tick_s``: how often a feed that builds bars from trades
    checks the clock to close a quiet minute.
    """

    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    open_timeout_s: float = 10.0
    close_timeout_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_attempts: int | None = None
    rest_timeout_s: float = 15.0
    tick_s: float = 1.0
    # Trades of a minute may still arrive this long after it ended (late reports).
    trade_grace_s: float = 2.0
    max_message_bytes: int = 16 * 1024 * 1024

    def backoff(self, attempt: int) -> float:
        """The wait before reconnect attempt ``attempt`` (1, 2, ...), capped."""
        return float(min(self.backoff_max_s, self.backoff_initial_s * 2 ** max(0, attempt - 1)))
