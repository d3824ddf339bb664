"""The dispatcher with in-memory channels and dead letters: routes are independent, retries
follow the policy (a Retry-After honoured), and what is cut short at shutdown is parked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from stockpred.notify.dispatch import Dispatcher
from stockpred.notify.messages import Notice
from stockpred.notify.notice_store import NoticeDeadLetter
from stockpred.notify.retry import DeliveryError, RetryableDeliveryError, RetryPolicy
from stockpred.notify.routing import Route

NOTICE = Notice(kind="alert", title="Down", text="the API is down", severity="critical")
NOW = datetime(2024, 5, 3, 12, tzinfo=UTC)


class Letters:
    def __init__(self) -> None:
        self.parked: list[NoticeDeadLetter] = []

    def park(self, letter: NoticeDeadLetter) -> None:
        self.parked.append(letter)

    def dead_letters(self, *, limit: int = 100) -> list[NoticeDeadLetter]:
        return self.parked[:limit]

    def count(self) -> int:
        return len(self.parked)

    def remove(self, letter_id: str) -> None:
        self.parked = [p for p in self.parked if p.id != letter_id]

    def record_failure(
        self, letter_id: str, *, attempts: int, last_error: str, parked_at: datetime
    ) -> None:
        return None

    def check(self) -> None:
        return None

    def close(self) -> None:
        return None


class Scripted:
    """A channel whose tries raise ``failures`` in turn, then succeed (or hang)."""

    def __init__(self, failures: list[Exception], *, hang: bool = False) -> None:
        self.failures = list(failures)
        self.sent: list[str] = []
        self.hang = hang

    @property
    def destination(self) -> str:
        return "scripted"

    def render(self, notice: Notice) -> str:
        return notice.title

    async def send(self, payload: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        if self.hang:
            await asyncio.Event().wait()
        self.sent.append(payload)


def _dispatcher(channels: dict[str, Scripted], letters: Letters, sleeps: list[float]) -> Dispatcher:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return Dispatcher(
        [Route("slack", name) for name in channels],
        {"slack": lambda name: channels[name]},
        dead_letters=letters,
        clock=lambda: NOW,
        policy=RetryPolicy(attempts=3, backoff_seconds=1.0, sleep=sleep, jitter=lambda: 0.5),
    )


def test_a_channel_that_raises_does_not_stop_the_others_and_its_notice_is_parked() -> None:
    channels = {"a": Scripted([RuntimeError("bug")]), "b": Scripted([])}
    letters = Letters()

    outcomes = asyncio.run(_dispatcher(channels, letters, []).dispatch(NOTICE))

    assert [s.outcome for s in outcomes] == ["parked", "delivered"]
    assert channels["b"].sent == ["Down"]
    assert [letter.last_error for letter in letters.parked] == ["unexpected RuntimeError"]


def test_retries_back_off_with_jitter_and_honour_retry_after_then_park() -> None:
    failing = Scripted(
        [
            RetryableDeliveryError("HTTP 429 rate_limited", retry_after=7.0),
            RetryableDeliveryError("HTTP 503"),
            DeliveryError("HTTP 400 invalid_blocks"),
        ]
    )
    letters, sleeps = Letters(), []

    (sent,) = asyncio.run(_dispatcher({"a": failing}, letters, sleeps).dispatch(NOTICE))

    # 7 s asked by the 429, then half (jitter) of 1 s * 2**1.
    assert sleeps == [7.0, 1.0]
    assert (sent.outcome, sent.attempts) == ("parked", 3)
    (letter,) = letters.parked
    assert (letter.last_error, letter.payload, letter.attempts) == (
        "HTTP 400 invalid_blocks",
        "Down",
        3,
    )


def test_a_notice_still_sending_at_shutdown_is_parked() -> None:
    letters = Letters()

    async def scenario() -> None:
        dispatcher = _dispatcher({"a": Scripted([], hang=True)}, letters, [])
        dispatcher.submit(NOTICE)
        await asyncio.sleep(0.01)
        await dispatcher.aclose()

    asyncio.run(scenario())

    (letter,) = letters.parked
    assert letter.last_error == "cancelled at shutdown"
