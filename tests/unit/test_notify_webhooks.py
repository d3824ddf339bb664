"""Webhook registration and delivery, against a real HTTP receiver on loopback, and the guard
that keeps deliveries away from internal addresses in production (signing has its own tests).

The receiver checks every signature itself with the hmac module (not with stockpred's code), so
a wrong signature fails the tests even if sign() and verify_signature() agreed on a mistake.
Services reach those loopback receivers with allow_private_addresses=True, as outside production.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import pytest

from stockpred.domain.errors import InvalidInputError, NotFoundError
from stockpred.notify.webhooks import (
    Webhook,
    WebhookService,
    encode_event,
    verify_signature,
)

NOW = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
SECRET = "whsec-0123456789abcdef-TEST"
EVENT = {"ticker": "AAPL", "horizon": "1d", "value": 0.0042, "model_version": "7"}
_T = TypeVar("_T")


def _clock() -> datetime:
    return NOW


@dataclass
class Delivery:
    path: str
    body: bytes
    headers: dict[str, str]
    signature_valid: bool


@dataclass
class Receiver:
    """A trading platform's endpoint: checks the signature, records, answers as scripted."""

    secret: str
    url: str = ""
    # Answers in order; once used up, 200.
    statuses: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event | None = None

    def check(self, headers: dict[str, str], body: bytes) -> bool:
        fields = dict(part.split("=", 1) for part in headers["X-Stockpred-Signature"].split(","))
        expected = hmac.new(
            self.secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return (
            hmac.compare_digest(expected, fields["v1"])
            and headers["X-Stockpred-Timestamp"] == fields["t"]
            and int(fields["t"]) == int(NOW.timestamp())
        )


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def start(secret: str = SECRET, **options: object) -> Receiver:
        receiver = Receiver(secret=secret, **options)  # type: ignore[arg-type]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                receiver.deliveries.append(
                    Delivery(self.path, body, headers, receiver.check(headers, body))
                )
                receiver.arrived.set()
                if receiver.release is not None:
                    receiver.release.wait(10)
                if receiver.delay_seconds:
                    threading.Event().wait(receiver.delay_seconds)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                try:
                    self.send_response(status)
                    for name, value in receiver.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (timeout and shutdown tests)

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/stockpred"
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_service(tmp_path: Path, sleeps: list[float]) -> Callable[..., WebhookService]:
    def make(**options: object) -> WebhookService:
        async def record_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        settings: dict[str, object] = {
            "sleep": record_sleep,
            "attempts": 3,
            "allow_private_addresses": True,
        }
        settings.update(options)
        return WebhookService(
            f"sqlite:///{tmp_path / 'api.db'}",
            clock=_clock,
            **settings,  # type: ignore[arg-type]
        )

    return make


def run(service: WebhookService, scenario: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``scenario`` on one event loop, then close the service on that same loop."""

    async def main() -> _T:
        try:
            return await scenario()
        finally:
            await service.aclose()

    return asyncio.run(main())


# -- registration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "tickers", "secret", "message"),
    [
        ("ftp://platform.example.com/in", [], SECRET, "scheme 'ftp' is not supported"),
        ("platform.example.com/in", [], SECRET, "scheme '(none)' is not supported"),
        ("https://", [], SECRET, "has no host name"),
        ("https://host:99999/in", [], SECRET, "cannot be parsed"),
        ("https://bob:hunter2@example.com/in", [], SECRET, "must not carry credentials"),
        ("https://example.com/a b", [], SECRET, "spaces"),
        ("https://example.com/in", [], "too-short", "has 9 characters; it needs 16"),
        ("https://example.com/in", ["AAPL", "not a ticker"], SECRET, "not a plausible symbol"),
        ("https://example.com/in", "AAPL", SECRET, "not one string"),
        ("https://example.com/in", [f"T{n}" for n in range(501)], SECRET, "at most 500"),
    ],
)
def test_register_refuses_invalid_input_saying_what_to_fix(
    make_service: Callable[..., WebhookService],
    url: str,
    tickers: list[str],
    secret: str,
    message: str,
) -> None:
    service = make_service()

    with pytest.raises(InvalidInputError, match=re.escape(message)) as caught:
        service.register(owner="desk-a", url=url, tickers=tickers, secret=secret)

    assert "hunter2" not in str(caught.value)
    assert secret not in str(caught.value)
    assert service.list() == []


def test_register_uppercases_and_deduplicates_tickers_and_hides_the_secret_from_repr(
    make_service: Callable[..., WebhookService],
) -> None:
    service = make_service()

    webhook = service.register(
        owner="desk-a",
        url="https://example.com/in",
        tickers=["aapl", "BRK.B", "AAPL "],
        secret=SECRET,
    )

    assert webhook.id.startswith("wh_")
    assert webhook.tickers == ("AAPL", "BRK.B")
    assert webhook.created_at == NOW
    assert SECRET not in repr(webhook)
    assert service.list() == [webhook]


def test_owners_list_and_delete_only_their_own_webhooks_and_admin_any(
    make_service: Callable[..., WebhookService],
) -> None:
    service = make_service()
    first = service.register(owner="desk-a", url="https://a.example/in", tickers=[], secret=SECRET)
    second = service.register(owner="desk-b", url="https://b.example/in", tickers=[], secret=SECRET)

    assert [hook.id for hook in service.list(owner="desk-a")] == [first.id]
    assert {hook.id for hook in service.list()} == {first.id, second.id}
    with pytest.raises(NotFoundError, match=first.id):
        service.delete(first.id, owner="desk-b")
    service.delete(first.id, owner="desk-a")
    service.delete(second.id, owner=None)
    assert service.list() == []
    with pytest.raises(NotFoundError):
        service.delete(first.id, owner="desk-a")


def test_webhooks_survive_a_new_service_on_the_same_database(
    make_service: Callable[..., WebhookService],
) -> None:
    webhook = make_service().register(
        owner="desk-a", url="https://a.example/in", tickers=["MSFT"], secret=SECRET
    )

    assert make_service().list() == [webhook]


# -- delivery ----------------------------------------------------------------------------------


def test_delivery_reaches_a_real_receiver_with_a_valid_signature_and_the_exact_body(
    make_service: Callable[..., WebhookService], receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory()
    service = make_service()
    service.register(owner="desk-a", url=receiver.url, tickers=["AAPL"], secret=SECRET)

    async def scenario() -> None:
        await service.publish(EVENT, ticker="AAPL")
        await service.drain()

    run(service, scenario)

    [delivery] = receiver.deliveries
    assert delivery.signature_valid
    assert delivery.body == encode_event(EVENT)
    assert json.loads(delivery.body) == EVENT
    assert delivery.path == "/hooks/stockpred"
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-Stockpred-Event-Id"].startswith("evt_")
    assert verify_signature(
        secret=SECRET,
        header=delivery.headers["X-Stockpred-Signature"],
        body=delivery.body,
        now=NOW,
    )
    assert service.dead_letters() == []


def test_receiver_failing_once_gets_two_attempts_with_the_same_event_id_and_nothing_parked(
    make_service: Callable[..., WebhookService],
    receiver_factory: Callable[..., Receiver],
    sleeps: list[float],
) -> None:
    receiver = receiver_factory(statuses=[500])
    service = make_service(attempts=5)
    webhook = service.register(owner="desk-a", url=receiver.url, tickers=[], secret=SECRET)
    body = encode_event(EVENT)

    delivered = run(service, lambda: service.deliver(webhook, event_id="evt_1", body=body))

    assert delivered
    assert len(receiver.deliveries) == 2
    assert all(delivery.signature_valid for delivery in receiver.deliveries)
    assert {d.headers["X-Stockpred-Event-Id"] for d in receiver.deliveries} == {"evt_1"}
    assert len(sleeps) == 1
    assert service.dead_letters() == []


def test_receiver_always_failing_gets_every_attempt_then_the_event_is_parked(
    make_service: Callable[..., WebhookService],
    receiver_factory: Callable[..., Receiver],
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = receiver_factory(statuses=[500] * 10)
    receiver.url += "?token=url-embedded-token"
    service = make_service(attempts=4)
    service.register(owner="desk-a", url=receiver.url, tickers=[], secret=SECRET)

    async def scenario() -> None:
        await service.publish(EVENT, ticker="AAPL")
        await service.drain()

    with caplog.at_level(logging.INFO, logger="stockpred.notify.webhooks"):
        run(service, scenario)

    assert len(receiver.deliveries) == 4
    [letter] = service.dead_letters(owner="desk-a")
    assert letter.attempts == 4
    assert letter.last_error == "HTTP 500"
    assert letter.payload.encode() == encode_event(EVENT)
    assert letter.event_id == receiver.deliveries[0].headers["X-Stockpred-Event-Id"]
    assert letter.first_attempt_at == NOW
    assert letter.parked_at == NOW
    assert "parked" in caplog.text
    assert SECRET not in caplog.text
    assert "url-embedded-token" not in caplog.text
    assert service.dead_letters(owner="desk-b") == []


def test_each_event_reports_one_outcome_delivered_or_parked(
    make_service: Callable[..., WebhookService],
    receiver_factory: Callable[..., Receiver],
) -> None:
    outcomes: list[str] = []
    good = receiver_factory(statuses=[500])
    bad = receiver_factory(statuses=[500] * 10)
    service = make_service(attempts=2, on_outcome=outcomes.append)
    service.register(owner="desk-a", url=good.url, tickers=["AAPL"], secret=SECRET)
    service.register(owner="desk-a", url=bad.url, tickers=["AAPL"], secret=SECRET)

    async def scenario() -> None:
        await service.publish(EVENT, ticker="AAPL")
        await service.drain()

    run(service, scenario)

    assert sorted(outcomes) == ["delivered", "parked"]


def test_a_400_answer_is_not_retried_and_the_event_is_parked(
    make_service: Callable[..., WebhookService],
    receiver_factory: Callable[..., Receiver],
    sleeps: list[float],
) -> None:
    receiver = receiver_factory(statuses=[400])
    service = make_service(attempts=5)
    webhook = service.register(owner="desk-a", url=receiver.url, tickers=[], secret=SECRET)

    delivered = run(
        service, lambda: service.deliver(webhook, event_id="evt_1", body=encode_event(EVENT))
    )

    assert not delivered
    assert len(receiver.deliveries) == 1
    assert sleeps == []
    [letter] = service.dead_letters()
    assert (letter.attempts, letter.last_error) == (1, "HTTP 400")


def test_a_redirect_is_not_followed(
    make_service: Callable[..., WebhookService], receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory(statuses=[302], headers={"Location": "/elsewhere"})
    service = make_service()
    webhook = service.register(owner="desk-a", url=receiver.url, tickers=[], secret=SECRET)

    delivered = run(
        service, lambda: service.deliver(webhook, event_id="evt_1", body=encode_event(EVENT))
    )

    assert not delivered
    assert [delivery.path for delivery in receiver.deliveries] == ["/hooks/stockpred"]
    assert service.dead_letters()[0].last_error.startswith("HTTP 302")


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_retryable_statuses_are_retried(
    make_service: Callable[..., WebhookService],
    receiver_factory: Callable[..., Receiver],
    status: int,
) -> None:
    receiver = receiver_factory(statuses=[status])
    service = make_service()
    webhook = service.register(owner="desk-a", url=receiver.url, tickers=[], secret=SECRET)

    assert run(service, lambda: service.deliver(webhook, event_id="e", body=b"{}"))
    assert len(receiver.deliveries) == 2


def test_a_refused_connection_is_retried_then_parked_with_the_error_class(
    make_service: Callable[..., WebhookService], closed_port_url: str, sleeps: list[float]
) -> None:
    service = make_service(attempts=3)
    webhook = service.register(owner="desk-a", url=closed_port_url, tickers=[], secret=SECRET)

    assert not run(service, lambda: service.deliver(webhook, event_id="e", body=b"{}"))

    assert len(sleeps) == 2
    [letter] = service.dead_letters()
    assert (letter.attempts, letter.last_error) == (3, "ConnectError")


def test_a_receiver_slower_than_the_timeout_is_retried(
    make_service: Callable[..., WebhookService], receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory(delay_seconds=2.0)
    service = make_service(attempts=2, timeout_seconds=0.2)
    webhook = service.register(owner="desk-a", url=receiver.url, tickers=[], secret=SECRET)

    assert not run(service, lambda: service.deliver(webhook, event_id="e", body=b"{}"))

    assert len(receiver.deliveries) == 2
    [letter] = service.dead_letters()
    assert letter.last_error in {"ReadTimeout", "TimeoutError"}


def test_a_url_with_credentials_is_never_called(
    make_service: Callable[..., WebhookService], receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory()
    service = make_service()
    stored = service.register(owner="desk-a", url=receiver.url, tickers=[], secret=SECRET)
    forged = Webhook(
        id=stored.id,
        owner="desk-a",
        url=receiver.url.replace("://", "://user:pw@"),
        tickers=(),
        created_at=NOW,
        active=True,
        secret=SECRET,
    )

    assert not run(service, lambda: service.deliver(forged, event_id="e", body=b"{}"))

    assert receiver.deliveries == []
    assert service.dead_letters()[0].last_error.startswith("refused")


def test_publish_goes_only_to_webhooks_that_follow_the_ticker(
    make_service: Callable[..., WebhookService], receiver_factory: Callable[..., Receiver]
) -> None:
    apple, microsoft, everything = receiver_factory(), receiver_factory(), receiver_factory()
    service = make_service()
    service.register(owner="a", url=apple.url, tickers=["AAPL"], secret=SECRET)
    service.register(owner="b", url=microsoft.url, tickers=["MSFT"], secret=SECRET)
    service.register(owner="c", url=everything.url, tickers=[], secret=SECRET)

    async def scenario() -> None:
        await service.publish({"ticker": "AAPL"}, ticker="aapl")
        await service.publish({"ticker": "NVDA"}, ticker="NVDA")
        await service.drain()

    run(service, scenario)

    assert [json.loads(d.body)["ticker"] for d in apple.deliveries] == ["AAPL"]
    assert microsoft.deliveries == []
    assert sorted(json.loads(d.body)["ticker"] for d in everything.deliveries) == ["AAPL", "NVDA"]


def test_deleted_webhooks_get_nothing_and_their_dead_letters_go_with_them(
    make_service: Callable[..., WebhookService], closed_port_url: str
) -> None:
    service = make_service(attempts=1)
    webhook = service.register(owner="a", url=closed_port_url, tickers=[], secret=SECRET)
    run(service, lambda: service.deliver(webhook, event_id="e", body=b"{}"))
    service = make_service(attempts=1)
    assert len(service.dead_letters()) == 1

    service.delete(webhook.id, owner="a")

    async def scenario() -> None:
        await service.publish({"ticker": "AAPL"}, ticker="AAPL")
        await service.drain()

    run(service, scenario)
    assert service.dead_letters() == []


# -- backoff -----------------------------------------------------------------------------------


def test_backoff_sleeps_double_and_stop_at_the_cap(
    make_service: Callable[..., WebhookService], closed_port_url: str, sleeps: list[float]
) -> None:
    # jitter at its top: each sleep is the full ceiling of its try.
    service = make_service(
        attempts=6, backoff_seconds=1.0, max_backoff_seconds=5.0, jitter=lambda: 1.0
    )
    webhook = service.register(owner="a", url=closed_port_url, tickers=[], secret=SECRET)

    run(service, lambda: service.deliver(webhook, event_id="e", body=b"{}"))

    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_full_jitter_sleeps_stay_under_the_exponential_ceiling(
    make_service: Callable[..., WebhookService], closed_port_url: str, sleeps: list[float]
) -> None:
    service = make_service(attempts=8, backoff_seconds=0.5, max_backoff_seconds=8.0)
    webhook = service.register(owner="a", url=closed_port_url, tickers=[], secret=SECRET)

    run(service, lambda: service.deliver(webhook, event_id="e", body=b"{}"))

    ceilings = [min(8.0, 0.5 * 2**n) for n in range(7)]
    assert len(sleeps) == 7
    assert all(0.0 <= slept <= ceiling for slept, ceiling in zip(sleeps, ceilings, strict=True))
    assert len(set(sleeps)) > 1


@pytest.mark.parametrize(("retry_after", "expected"), [("3", 3.0), ("3600", 10.0)])
def test_retry_after_of_a_429_is_honoured_and_capped(
    make_service: Callable[..., WebhookService],
    receiver_factory: Callable[..., Receiver],
    sleeps: list[float],
    retry_after: str,
    expected: float,
) -> None:
    receiver = receiver_factory(statuses=[429], headers={"Retry-After": retry_after})
    service = make_service(max_backoff_seconds=10.0, jitter=lambda: 0.0)
    webhook = service.register(owner="a", url=receiver.url, tickers=[], secret=SECRET)

    assert run(service, lambda: service.deliver(webhook, event_id="e", body=b"{}"))

    assert sleeps == [expected]


def test_retry_after_as_an_http_date_is_honoured(
    make_service: Callable[..., WebhookService],
    receiver_factory: Callable[..., Receiver],
    sleeps: list[float],
) -> None:
    receiver = receiver_factory(
        statuses=[503], headers={"Retry-After": "Mon, 05 Jan 2026 14:30:07 GMT"}
    )
    service = make_service(jitter=lambda: 0.0)
    webhook = service.register(owner="a", url=receiver.url, tickers=[], secret=SECRET)

    assert run(service, lambda: service.deliver(webhook, event_id="e", body=b"{}"))

    assert sleeps == [7.0]


# -- lifecycle ---------------------------------------------------------------------------------


def test_closing_parks_a_delivery_still_in_flight(
    make_service: Callable[..., WebhookService], receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory(release=threading.Event())
    assert receiver.release is not None
    service = make_service()
    service.register(owner="a", url=receiver.url, tickers=[], secret=SECRET)

    async def scenario() -> None:
        await service.publish(EVENT, ticker="AAPL")
        assert await asyncio.to_thread(receiver.arrived.wait, 5)
        await service.aclose()

    try:
        run(service, scenario)
    finally:
        receiver.release.set()

    reopened = make_service()
    [letter] = reopened.dead_letters()
    assert (letter.attempts, letter.last_error) == (1, "cancelled at shutdown")


def test_check_passes_on_a_reachable_database(make_service: Callable[..., WebhookService]) -> None:
    make_service().check()


@pytest.mark.parametrize(
    "options",
    [{"attempts": 0}, {"backoff_seconds": 5.0, "max_backoff_seconds": 1.0}, {"timeout_seconds": 0}],
)
def test_service_refuses_settings_that_cannot_work(
    make_service: Callable[..., WebhookService], options: dict[str, object]
) -> None:
    with pytest.raises(InvalidInputError):
        make_service(**options)


# -- private addresses (server-side request forgery) -------------------------------------------


def resolve_as(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> None:
    """Make the running loop resolve ``names`` to the given addresses (others as usual). httpx
    resolves through the same loop method, so a delivery that went ahead would reach them."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: str | bytes, port: object, **options: object) -> object:
        # anyio (under httpx) passes the name IDNA-encoded, as bytes.
        name = host.decode("idna") if isinstance(host, bytes) else host
        if name in names:
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (address, port),
                )
                for address in names[name]
            ]
        return await real(host, port, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1/", "'127.0.0.1' is a loopback address"),
        ("http://[::1]/", "'::1' is a loopback address"),
        ("http://169.254.169.254/latest", "'169.254.169.254' is a link-local"),
        ("http://10.0.0.5/", "'10.0.0.5' is a private address"),
        ("http://localhost:8080/", "'localhost' is a loopback (localhost) address"),
        ("https://api.LOCALHOST./in", "'api.localhost' is a loopback"),
        ("http://192.168.1.20/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://[fd00::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://0.0.0.0:8000/", "unspecified"),
        ("http://100.100.100.200/", "non-public"),
        ("http://127.1/", "loopback"),
        ("http://0x7f000001/", "loopback"),
    ],
)
def test_register_refuses_internal_hosts_by_default(
    tmp_path: Path, url: str, fragment: str
) -> None:
    service = WebhookService(f"sqlite:///{tmp_path / 'api.db'}", clock=_clock)

    with pytest.raises(InvalidInputError, match=re.escape(fragment)) as caught:
        service.register(owner="desk-a", url=url, tickers=[], secret=SECRET)

    assert "register the platform's public URL" in str(caught.value)
    assert service.list() == []


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/hook",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
        "https://platform.example.com/hooks/stockpred",
        "https://localhost.example.com/in",
    ],
)
def test_register_accepts_public_hosts_without_touching_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    def no_lookup(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"registration looked up {args[0]!r}")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    service = WebhookService(f"sqlite:///{tmp_path / 'api.db'}", clock=_clock)

    webhook = service.register(owner="desk-a", url=url, tickers=[], secret=SECRET)

    assert service.list() == [webhook]


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["127.0.0.1", "93.184.216.34"], ["93.184.216.34", "169.254.169.254"]],
)
def test_a_name_resolving_to_an_internal_address_is_parked_and_never_sent(
    make_service: Callable[..., WebhookService],
    receiver_factory: Callable[..., Receiver],
    monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
    addresses: list[str],
) -> None:
    receiver = receiver_factory()
    port = receiver.url.split(":")[2].split("/")[0]
    service = make_service(allow_private_addresses=False)
    # Registered as a public-looking name; DNS now points it at this machine (rebinding).
    webhook = service.register(
        owner="desk-a", url=f"http://hooks.platform.test:{port}/in", tickers=[], secret=SECRET
    )

    async def scenario() -> bool:
        resolve_as(monkeypatch, {"hooks.platform.test": addresses})
        return await service.deliver(webhook, event_id="evt_1", body=encode_event(EVENT))

    assert not run(service, scenario)

    assert receiver.deliveries == []
    assert sleeps == []
    [letter] = service.dead_letters()
    assert (letter.last_error, letter.attempts) == ("refused: private address", 0)


def test_the_same_name_is_delivered_when_private_addresses_are_allowed(
    make_service: Callable[..., WebhookService],
    receiver_factory: Callable[..., Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The control of the test above: the faked resolution really leads to the receiver.
    receiver = receiver_factory()
    port = receiver.url.split(":")[2].split("/")[0]
    service = make_service(allow_private_addresses=True)
    webhook = service.register(
        owner="desk-a", url=f"http://hooks.platform.test:{port}/in", tickers=[], secret=SECRET
    )

    async def scenario() -> bool:
        resolve_as(monkeypatch, {"hooks.platform.test": ["127.0.0.1"]})
        return await service.deliver(webhook, event_id="evt_1", body=encode_event(EVENT))

    assert run(service, scenario)
    assert [delivery.path for delivery in receiver.deliveries] == ["/in"]


def test_a_stored_loopback_url_is_refused_at_delivery_by_a_production_service(
    make_service: Callable[..., WebhookService], receiver_factory: Callable[..., Receiver]
) -> None:
    receiver = receiver_factory()
    # Registered while allowed (a development database promoted, or a row written by hand).
    webhook = make_service().register(owner="a", url=receiver.url, tickers=[], secret=SECRET)
    service = make_service(allow_private_addresses=False)

    async def scenario() -> None:
        await service.publish(EVENT, ticker="AAPL")
        await service.drain()

    run(service, scenario)

    assert receiver.deliveries == []
    [letter] = service.dead_letters()
    assert (letter.webhook_id, letter.last_error) == (webhook.id, "refused: private address")


def test_a_name_that_does_not_resolve_is_retried_then_parked(
    make_service: Callable[..., WebhookService],
    monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
) -> None:
    service = make_service(attempts=3, allow_private_addresses=False)
    webhook = service.register(
        owner="a", url="https://hooks.platform.test/in", tickers=[], secret=SECRET
    )

    async def scenario() -> bool:
        async def unresolvable(*args: object, **kwargs: object) -> object:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", unresolvable)
        return await service.deliver(webhook, event_id="e", body=b"{}")

    assert not run(service, scenario)

    assert len(sleeps) == 2
    [letter] = service.dead_letters()
    assert letter.attempts == 0
    assert letter.last_error == "gaierror (the host name did not resolve)"
