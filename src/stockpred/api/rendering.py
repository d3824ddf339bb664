"""Answers rendered once: the JSON of a forecast is built on its first request and reused while
the forecast and its freshness stay the same (a request then costs a lookup and a copy)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from stockpred.pipeline.serving import ServedForecast

__all__ = ["RenderCache"]


@dataclass(frozen=True, slots=True)
class _Rendered:
    served: ServedForecast
    body: bytes


class RenderCache:
    """The rendered body of each (ticker, horizon), valid while the forecast object and the
    freshness object it was rendered from are the ones served (both are replaced, never
    mutated, when they change)."""

    def __init__(self) -> None:
        self._bodies: dict[tuple[str, int], _Rendered] = {}
        self._lock = threading.Lock()

    def body(self, served: ServedForecast, render: Callable[[ServedForecast], bytes]) -> bytes:
        """``render(served)``, computed once per forecast and freshness."""
        key = (served.forecast.ticker, served.forecast.horizon)
        found = self._bodies.get(key)
        if (
            found is not None
            and found.served.forecast is served.forecast
            and found.served.freshness is served.freshness
        ):
            return found.body
        body = render(served)
        with self._lock:
            self._bodies[key] = _Rendered(served, body)
        return body
