"""Webhooks for trading platforms: registered URLs receive signed events, retried with backoff,
parked in a dead-letter list when they cannot be delivered.

A delivery is one ``POST`` of the event's JSON with the headers of :mod:`.signing`. A 2xx answer
ends it. Connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and
full jitter (a 429/503 ``Retry-After`` is honoured, capped); any other answer, redirects included
(they are never followed), is final. An event not delivered after the last try is parked in the
dead letters (:mod:`.webhook_store`), which the API shows to the webhook's owner.

Webhook URLs are chosen by API clients, so in production they must not reach the service's own
network (server-side request forgery): internal hosts are refused at registration, and every try
first resolves the host and refuses to send when any address is internal.

This module keeps the public names of the webhook package (``Webhook``, ``DeadLetter``,
``sign``, ``verify_signature``...) importable from here, wherever they now live.
"""

from __future__ import annotations

import asyncio
import builtins
import ipaddress
import logging
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState

from stockpred.domain.errors import InvalidInputError, StoreError
from stockpred.notify.retry import (
    DeliveryError,
    RetryableDeliveryError,
    RetryPolicy,
    retry_after_seconds,
)
from stockpred.notify.signing import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    encode_event,
    sign,
    signature_header,
    verify_signature,
)
from stockpred.notify.webhook_store import (
    DeadLetter,
    Webhook,
    WebhookStore,
    as_utc,
    check_owner,
    check_secret,
    check_tickers,
    check_url,
)

__all__ = [
    "EVENT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeadLetter",
    "Webhook",
    "WebhookService",
    "encode_event",
    "sign",
    "verify_signature",
]

_USER_AGENT = "stockpred-webhooks/1"
_REFUSED_PRIVATE = "refused: private address"
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOG = logging.getLogger("stockpred.notify.webhooks")


class WebhookService:
    """Registers webhooks and delivers events to them.

    ``url`` is a SQLAlchemy database URL (``sqlite:///...`` or ``postgresql+psycopg://...``).
    Deliveries run as asyncio tasks tracked here: :meth:`drain` waits for them (tests, graceful
    shutdown), :meth:`aclose` cancels what is left (each cancelled event is parked, not lost).
    ``sleep`` and ``jitter`` (a fraction in [0, 1)) are injectable so tests run without waiting.

    ``allow_private_addresses`` False (the default) guards against server-side request forgery:
    a client could otherwise register ``http://169.254.169.254/...`` or ``http://10.0.0.5/admin``
    and have this service POST to its own network. Registration refuses URLs whose host is
    ``localhost`` (or ``*.localhost``) or an IP literal that is loopback, private, link-local,
    multicast, reserved, unspecified or otherwise not global; each try resolves the host first
    and parks the event (``last_error`` ``"refused: private address"``) when any address it
    resolves to is one of those, which also catches names that point (or are re-pointed, DNS
    rebinding) at internal addresses. True lets receivers on loopback or the LAN be used:
    development and tests. Wire it as ``allow_private_addresses=settings.environment !=
    "production"``.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime],
        client: httpx.AsyncClient | None = None,
        attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        timeout_seconds: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        allow_private_addresses: bool = False,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        # ``on_outcome("delivered" | "parked")`` once per event and webhook (metrics).
        self._on_outcome = on_outcome
        # Tries, full-jitter backoff and Retry-After: the policy Slack and email use too.
        self._policy = RetryPolicy(
            attempts=attempts,
            backoff_seconds=backoff_seconds,
            max_backoff_seconds=max_backoff_seconds,
            sleep=sleep,
            jitter=jitter,
        )
        if timeout_seconds <= 0:
            raise InvalidInputError(f"webhook timeout must be positive, got {timeout_seconds}")
        self._clock = clock
        self._timeout_seconds = timeout_seconds
        self._allow_private_addresses = allow_private_addresses
        self._store = WebhookStore(url)
        self._owns_client = client is None
        # trust_env=False: no proxy variables, and above all no ~/.netrc credentials sent to a
        # host a client registered.
        self._client = client or httpx.AsyncClient(
            follow_redirects=False, trust_env=False, headers={"User-Agent": _USER_AGENT}
        )
        self._tasks: set[asyncio.Task[bool]] = set()
        self._closed = False

    # -- registration and storage -------------------------------------------------------------

    def check(self) -> None:
        """Readiness: raises StoreError when the database does not answer."""
        self._store.check()

    def register(self, *, owner: str, url: str, tickers: Sequence[str], secret: str) -> Webhook:
        """Store a webhook for ``owner`` (a client id). ``tickers`` are upper-cased and
        deduplicated; empty means every ticker. Raises InvalidInputError saying what to fix,
        including for an internal host unless private addresses are allowed. No DNS lookup is
        made here: a name is checked at each delivery, where its addresses are current."""
        owner = check_owner(owner)
        url = check_url(url)
        if not self._allow_private_addresses:
            _refuse_internal_host(url)
        webhook = Webhook(
            id="wh_" + secrets.token_urlsafe(10),
            owner=owner,
            url=url,
            tickers=check_tickers(tickers),
            created_at=as_utc(self._clock()),
            active=True,
            secret=check_secret(secret),
        )
        self._store.add(webhook)
        return webhook

    def list(self, *, owner: str | None = None) -> list[Webhook]:
        """The webhooks of ``owner`` (every webhook when None), oldest first."""
        return self._store.list(owner=owner)

    def delete(self, webhook_id: str, *, owner: str | None) -> None:
        """Remove a webhook, its stored secret and its dead letters (one transaction). An owner
        may delete only its own (another's looks absent); ``owner=None`` is an administrator."""
        self._store.delete(webhook_id, owner=owner)

    def dead_letters(
        self, *, owner: str | None = None, limit: int = 100
    ) -> builtins.list[DeadLetter]:
        """Parked events of ``owner``'s webhooks (all when None), most recently parked first."""
        return self._store.dead_letters(owner=owner, limit=limit)

    def _matching(self, ticker: str) -> builtins.list[Webhook]:
        return [hook for hook in self._store.active() if hook.wants(ticker)]

    def _park(
        self,
        webhook: Webhook,
        *,
        event_id: str,
        body: bytes,
        attempts: int,
        last_error: str,
        first_attempt_at: datetime,
    ) -> None:
        letter = DeadLetter(
            id="dl_" + secrets.token_urlsafe(10),
            webhook_id=webhook.id,
            event_id=event_id,
            payload=body.decode("utf-8", errors="replace"),
            attempts=attempts,
            last_error=last_error,
            first_attempt_at=first_attempt_at,
            parked_at=as_utc(self._clock()),
        )
        self._store.park(letter)
        _LOG.warning(
            "webhook %s: event %s not delivered to %s after %d attempt(s) (%s); parked in the "
            "dead letters (GET /v1/webhooks/dead-letters)",
            webhook.id,
            event_id,
            _origin(webhook.url),
            attempts,
            last_error,
        )

    # -- delivery -----------------------------------------------------------------------------

    async def publish(
        self, event: Mapping[str, object], *, ticker: str, event_id: str | None = None
    ) -> None:
        """Schedule delivery of ``event`` to every active webhook that follows ``ticker`` (or
        every ticker). Returns once scheduled; :meth:`drain` waits for the deliveries.

        ``event_id`` (default: random) is what receivers deduplicate on: give the same id to
        the same fact published twice (several API workers each push the same new forecast).
        """
        if self._closed:
            raise StoreError("the webhook service is closed; events published now are not sent")
        body = encode_event(event)
        event_id = event_id or "evt_" + secrets.token_urlsafe(12)
        for webhook in await asyncio.to_thread(self._matching, ticker.strip().upper()):
            task = asyncio.create_task(
                self._deliver_logged(webhook, event_id=event_id, body=body),
                name=f"webhook {webhook.id} {event_id}",
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver_logged(self, webhook: Webhook, *, event_id: str, body: bytes) -> bool:
        # A task's exception would otherwise surface only as "never retrieved" at exit.
        try:
            return await self.deliver(webhook, event_id=event_id, body=body)
        except StoreError as exc:
            _LOG.error("webhook %s: event %s was lost: %s", webhook.id, event_id, exc)
        except Exception:
            _LOG.exception("webhook %s: delivery of event %s failed", webhook.id, event_id)
        return False

    async def deliver(self, webhook: Webhook, *, event_id: str, body: bytes) -> bool:
        """POST ``body`` signed to ``webhook.url`` until a 2xx or the last try; True when
        delivered, False when the event was parked in the dead letters. ``attempts`` of a dead
        letter counts the POSTs actually sent: a refused destination makes none."""
        first_attempt_at = as_utc(self._clock())
        attempts = 0
        refusal = _url_refusal(webhook.url)
        if refusal is not None:
            last_error = refusal
        else:
            retrying = self._policy.retrying(before_sleep=_log_retry)
            try:
                async for attempt in retrying:
                    with attempt:
                        # Every try, not once: what a name resolves to may change in between.
                        await self._check_destination(webhook)
                        attempts += 1
                        await self._post(webhook, event_id=event_id, body=body)
            except DeliveryError as failure:
                last_error = failure.reason
            except asyncio.CancelledError:
                # Shutdown: park it now (blocking, but brief) rather than lose it, and let the
                # cancellation go on even if the store fails.
                try:
                    self._park(
                        webhook,
                        event_id=event_id,
                        body=body,
                        attempts=attempts,
                        last_error="cancelled at shutdown",
                        first_attempt_at=first_attempt_at,
                    )
                except StoreError as exc:
                    _LOG.error("webhook %s: event %s was lost: %s", webhook.id, event_id, exc)
                raise
            else:
                self._report("delivered")
                return True
        self._report("parked")
        await asyncio.to_thread(
            self._park,
            webhook,
            event_id=event_id,
            body=body,
            attempts=attempts,
            last_error=last_error,
            first_attempt_at=first_attempt_at,
        )
        return False

    def _report(self, outcome: str) -> None:
        if self._on_outcome is not None:
            self._on_outcome(outcome)

    async def _check_destination(self, webhook: Webhook) -> None:
        """Raise DeliveryError (final) when the URL's host resolves to any internal address.

        httpx resolves the name again when it connects, so a DNS server that answers
        differently within milliseconds could still slip through; this check closes the
        practical window (a name registered public and later re-pointed) and every literal."""
        if self._allow_private_addresses:
            return
        parts = urlsplit(webhook.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            async with asyncio.timeout(self._timeout_seconds):
                resolved = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
        except (OSError, ValueError) as exc:
            # Unresolvable for now (a DNS outage, a name not yet published): worth a retry.
            # TimeoutError is an OSError; UnicodeError (a bad IDNA label) a ValueError.
            raise RetryableDeliveryError(
                f"{type(exc).__name__} (the host name did not resolve)"
            ) from exc
        for *_, address in resolved:
            text = address[0]
            parsed = _parse_address(text) if isinstance(text, str) else None
            kind = "unparsable" if parsed is None else _internal_kind(parsed)
            if kind is not None:
                _LOG.warning(
                    "webhook %s: %s resolves to %s, a %s address; not sent",
                    webhook.id,
                    _origin(webhook.url),
                    text,
                    kind,
                )
                raise DeliveryError(_REFUSED_PRIVATE)

    async def _post(self, webhook: Webhook, *, event_id: str, body: bytes) -> None:
        """One try. Raises RetryableDeliveryError or DeliveryError unless the answer is 2xx.
        The response body is never read: the status says all, and a hostile receiver cannot
        make us buffer a large answer."""
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
            EVENT_ID_HEADER: event_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(
                secret=webhook.secret, timestamp=timestamp, body=body
            ),
        }
        try:
            # httpx's timeout bounds each read; this bounds the whole try.
            async with (
                asyncio.timeout(self._timeout_seconds),
                self._client.stream(
                    "POST",
                    webhook.url,
                    content=body,
                    headers=headers,
                    follow_redirects=False,
                    timeout=self._timeout_seconds,
                ) as response,
            ):
                status = response.status_code
                retry_after = response.headers.get("Retry-After")
        except (httpx.TransportError, TimeoutError) as exc:
            raise RetryableDeliveryError(type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(type(exc).__name__) from exc
        if 200 <= status < 300:
            return
        reason = f"HTTP {status}"
        if status in (408, 429) or status >= 500:
            now = as_utc(self._clock())
            raise RetryableDeliveryError(reason, retry_after=retry_after_seconds(retry_after, now))
        if 300 <= status < 400:
            reason += " (redirects are not followed; register the final URL)"
        raise DeliveryError(reason)

    async def drain(self) -> None:
        """Wait until every scheduled delivery has finished (delivered or parked)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel deliveries still running (each parks its event), close the HTTP client if it is
        ours and the database pool. Call :meth:`drain` first for a graceful shutdown."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._owns_client:
            await self._client.aclose()
        self._store.close()


def _log_retry(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome is not None else None
    reason = failure.reason if isinstance(failure, DeliveryError) else "failure"
    _LOG.info(
        "webhook delivery try %d failed (%s); next try in %.1f s",
        state.attempt_number,
        reason,
        state.upcoming_sleep,
    )


def _origin(url: str) -> str:
    """scheme://host[:port] only: paths and queries of webhook URLs often embed tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _url_refusal(url: str) -> str | None:
    """Why a stored URL must not be called, or None. Checked again at delivery in case a row was
    written by something other than :meth:`WebhookService.register`."""
    try:
        check_url(url)
    except InvalidInputError:
        return "refused: the URL is not a plain http(s) URL without credentials"
    return None


def _refuse_internal_host(url: str) -> None:
    """InvalidInputError when the host of ``url`` (already checked by ``check_url``) is
    ``localhost`` or an internal IP literal. Names are not resolved here (see deliver)."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    kind: str | None = "loopback (localhost)"
    if host != "localhost" and not host.endswith(".localhost"):
        address = _parse_address(host)
        kind = None if address is None else _internal_kind(address)
    if kind is not None:
        raise InvalidInputError(
            f"webhook URL host {host[:100]!r} is a {kind} address, inside the service's own "
            f"network; register the platform's public URL, e.g. "
            f"'https://platform.example.com/hooks/stockpred'"
        )


def _parse_address(host: str) -> _IPAddress | None:
    """The IP address ``host`` spells, or None for a name. Besides the standard forms, the
    shorthand ones the resolver also takes ("127.1", "0x7f000001", "2130706433")."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton parses only (no lookup), in the same way getaddrinfo reads numeric hosts.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _internal_kind(address: _IPAddress) -> str | None:
    """What makes ``address`` internal (for the message), or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (where cloud metadata services answer)"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        # 100.64.0.0/10, shared (carrier-grade NAT) space: Alibaba Cloud's metadata service
        # answers at 100.100.100.200.
        return "non-public"
    return None
