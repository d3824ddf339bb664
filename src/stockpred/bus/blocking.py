"""Publishing from synchronous code (a CLI command, the scheduler, a use case run in a thread):
a private event loop on a thread of its own drives the asynchronous bus.

``Announcer`` is what the writers are given: it tells the other processes what was committed.
The commit is the truth and the event only a hint to follow it sooner, so a bus that cannot
take the event is logged and the writer carries on: the servers catch up on their next poll
(``api_model_poll_seconds``) or their next start.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from stockpred.bus.base import Bus, Record
from stockpred.bus.topics import FEATURES, MODELS
from stockpred.domain.errors import BusError
from stockpred.domain.records import FeaturesWritten, ModelPromoted

__all__ = ["Announcer", "BlockingPublisher"]

_LOG = logging.getLogger("stockpred.bus")


class BlockingPublisher:
    """``publish`` returns once the broker has stored the record (or raises BusError)."""

    def __init__(self, bus: Bus, *, timeout: float = 10.0) -> None:
        self._bus = bus
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="stockpred-bus-publisher", daemon=True
        )
        self._thread.start()
        self._closed = False

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            future.result(timeout=self._timeout)
        except TimeoutError as exc:
            future.cancel()
            raise BusError(f"the bus did not take the record within {self._timeout:g} s") from exc

    def publish(self, topic: str, *, key: str, record: Record) -> None:
        if self._closed:
            raise BusError("the publisher is closed")
        self._run(self._bus.publish(topic, key=key, record=record))

    def close(self) -> None:
        """Close the bus and stop the thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._bus.close())
        except BusError as exc:
            _LOG.warning("closing the bus failed: %s", exc)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=self._timeout)
            self._loop.close()

    def __enter__(self) -> BlockingPublisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Announcer:
    """Tells the other processes what a writer committed: feature rows (``features``) and
    champion moves (``models``). Never raises: see the module's docstring."""

    def __init__(self, publisher: BlockingPublisher) -> None:
        self._publisher = publisher
        self.failures = 0

    def features_written(self, event: FeaturesWritten) -> None:
        self._send(FEATURES, event.feature_set, event)

    def model_promoted(self, event: ModelPromoted) -> None:
        self._send(MODELS, event.name, event)

    def _send(self, topic: str, key: str, record: Record) -> None:
        try:
            self._publisher.publish(topic, key=key, record=record)
        except BusError as exc:
            self.failures += 1
            _LOG.warning(
                "could not announce on %r (servers catch up on their next poll): %s", topic, exc
            )
