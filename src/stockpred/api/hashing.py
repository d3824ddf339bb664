"""Where client secrets are checked: a few threads of their own, at the lowest CPU priority.

Each check is an argon2id hash (64 MiB, t = 3): tens to hundreds of milliseconds of CPU. Run in
the event loop's shared thread pool, a flood of token requests (from many addresses, each within
its budget) took every core from the prediction routes. Here they run in at most
``concurrency`` threads of their own, each lowered to nice 19 on Linux (``setpriority`` on the
thread id), so the scheduler gives the cores to the event loop first and to hashing what is
left; a token request waits longer under load instead of slowing every forecast. At most
``max_waiting`` checks queue; beyond that the request is refused with 429 at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from stockpred.domain.errors import RateLimitedError

__all__ = ["HashPool"]

T = TypeVar("T")
_LOWEST_PRIORITY = 19


def _lower_priority() -> None:
    """Nice this worker thread to 19 (Linux schedules threads as tasks; elsewhere a no-op)."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None:
        return
    with contextlib.suppress(OSError):
        setpriority(os.PRIO_PROCESS, threading.get_native_id(), _LOWEST_PRIORITY)


class HashPool:
    def __init__(self, *, concurrency: int, max_waiting: int = 256) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=concurrency,
            thread_name_prefix="stockpred-hash",
            initializer=_lower_priority,
        )
        self._concurrency = concurrency
        self._max_waiting = max_waiting
        self._in_flight = 0
        self.most_in_flight = 0

    async def run(self, function: Callable[[], T]) -> T:
        """``function()`` in a hashing thread; ``RateLimitedError`` when the queue is full."""
        if self._in_flight >= self._concurrency + self._max_waiting:
            raise RateLimitedError(
                "too many token requests are waiting for their secret to be checked; retry in 1 s",
                retry_after=1,
            )
        self._in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function)
        finally:
            self._in_flight -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
