"""The channels notices go out on: a Slack incoming webhook and an SMTP server.

Each channel renders a notice to the payload it sends (kept as is in the dead letters, so a
second send is identical) and makes one try per :meth:`send`; the dispatcher (:mod:`.dispatch`)
retries with :class:`~stockpred.notify.retry.RetryPolicy` and parks what still failed.

Slack answers ``200 ok``; 408, 429 (with Retry-After), 5xx, timeouts and broken connections
are retried; any other answer (400 ``invalid_blocks``, 403 ``action_prohibited``, 404
``no_service``, 410 ``channel_is_archived``...) is final, and so is a redirect. The webhook
URL is a secret and is never logged: only its scheme and host are.

SMTP: STARTTLS is required unless turned off (``starttls=False``); a server that does not
offer it is a final error that says so, as are credentials given without STARTTLS. A 4xx
reply, a dropped or refused connection and a timeout are retried; a 5xx reply, a certificate
that does not verify and a refused login are final.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import httpx

from stockpred.domain.errors import ConfigurationError
from stockpred.notify.messages import Notice, email_message, slack_blocks
from stockpred.notify.retry import DeliveryError, RetryableDeliveryError, retry_after_seconds
from stockpred.notify.routing import safe_destination

__all__ = ["Channel", "EmailChannel", "SlackChannel", "parse_recipients"]

_USER_AGENT = "stockpred-notify/1"
# Slack's error answers are short snake_case codes; anything else is not repeated.
_SLACK_CODE = re.compile(r"^[a-z_]{1,60}$")
_SMTP_TEXT = 100


class Channel(Protocol):
    """Where notices of one route go: renders a notice to its payload, sends a payload once."""

    @property
    def destination(self) -> str:
        """The destination fit to show and log (no secret)."""
        ...

    def render(self, notice: Notice) -> str:
        """The payload of ``notice`` as this channel sends it."""
        ...

    async def send(self, payload: str) -> None:
        """One try: returns when delivered, raises RetryableDeliveryError or DeliveryError."""
        ...


class SlackChannel:
    """A Slack incoming webhook (``https://hooks.slack.com/services/...``): the notice as Block
    Kit JSON in one POST. ``client`` is for tests; by default each send opens its own client
    (no proxy variables or ~/.netrc: the URL is the credential), so a channel may be used from
    any event loop."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not url.strip().lower().startswith(("https://", "http://")):
            raise ConfigurationError(
                "a Slack route's target must be the incoming webhook's URL, "
                "https://hooks.slack.com/services/...; check notify_routes"
            )
        self._url = url.strip()
        self._client = client
        self._timeout_seconds = timeout_seconds
        self._clock = clock

    @property
    def destination(self) -> str:
        return safe_destination("slack", self._url)

    def render(self, notice: Notice) -> str:
        return json.dumps(slack_blocks(notice), ensure_ascii=False, separators=(",", ":"))

    async def send(self, payload: str) -> None:
        if self._client is not None:
            await self._post(self._client, payload)
            return
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, headers={"User-Agent": _USER_AGENT}
        ) as client:
            await self._post(client, payload)

    async def _post(self, client: httpx.AsyncClient, payload: str) -> None:
        try:
            async with asyncio.timeout(self._timeout_seconds):
                response = await client.post(
                    self._url,
                    content=payload.encode("utf-8"),
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=self._timeout_seconds,
                )
        except (httpx.TransportError, TimeoutError) as exc:
            # The exception's text may quote the URL: only its class is kept.
            raise RetryableDeliveryError(type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(type(exc).__name__) from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        code = response.text[:80].strip()
        reason = f"HTTP {status}" + (f" {code}" if _SLACK_CODE.match(code) else "")
        if status in (408, 429) or status >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), self._clock())
            raise RetryableDeliveryError(reason, retry_after=retry_after)
        if 300 <= status < 400:
            reason += " (redirects are not followed; configure the final URL)"
        raise DeliveryError(reason)


def parse_recipients(target: str) -> tuple[str, ...]:
    """Comma-separated email addresses, stripped, or ConfigurationError naming the bad one."""
    addresses = tuple(part.strip() for part in target.split(",") if part.strip())
    if not addresses:
        raise ConfigurationError("an email route needs at least one address in its target")
    for address in addresses:
        _, parsed = email.utils.parseaddr(address)
        if "@" not in parsed or any(c.isspace() for c in parsed):
            raise ConfigurationError(
                f"{address[:100]!r} in an email route's target is not an email address; "
                "send e.g. 'ops@example.com, desk@example.com'"
            )
    return addresses


class EmailChannel:
    """An SMTP server (submission, port 587 with STARTTLS by default). ``tls_context`` verifies
    the server's certificate (default: the system's trust store, host name checked); tests give
    one that trusts their own certificate. Each send is one SMTP session, in a thread."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout_seconds: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not host:
            raise ConfigurationError(
                "an email route needs an SMTP server; set STOCKPRED_SMTP_HOST (and "
                "STOCKPRED_SMTP_SENDER)"
            )
        if not sender or "@" not in sender:
            raise ConfigurationError(
                "an email route needs a sender address; set STOCKPRED_SMTP_SENDER, e.g. "
                "stockpred@example.com"
            )
        if username and not starttls:
            raise ConfigurationError(
                "SMTP credentials are not sent over a connection without STARTTLS; set "
                "STOCKPRED_SMTP_STARTTLS=true or unset STOCKPRED_SMTP_USERNAME"
            )
        self._host = host
        self._port = port
        self._sender = sender
        self._recipients = tuple(recipients)
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout_seconds = timeout_seconds
        self._tls_context = tls_context
        self._clock = clock

    @property
    def destination(self) -> str:
        return ", ".join(self._recipients)

    def render(self, notice: Notice) -> str:
        domain = self._sender.rpartition("@")[2].strip(" >") or "stockpred.invalid"
        message = email_message(
            notice,
            sender=self._sender,
            recipients=self._recipients,
            sent_at=self._clock(),
            # The domain is given: make_msgid would otherwise look up this host's name.
            message_id=make_msgid(domain=domain),
        )
        return message.as_string(policy=email.policy.SMTP)

    async def send(self, payload: str) -> None:
        await asyncio.to_thread(self._send, payload)

    def _send(self, payload: str) -> None:
        message = email.message_from_string(payload, _class=EmailMessage, policy=email.policy.SMTP)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_seconds) as smtp:
                smtp.ehlo()
                if self._starttls:
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(
                            f"the SMTP server {self._host}:{self._port} does not offer STARTTLS, "
                            "which is required; use a server that does, or set "
                            "STOCKPRED_SMTP_STARTTLS=false for a trusted local relay"
                        )
                    smtp.starttls(context=self._tls_context or ssl.create_default_context())
                    smtp.ehlo()
                if self._username:
                    smtp.login(self._username, self._password or "")
                refused = smtp.send_message(
                    message, from_addr=self._sender, to_addrs=list(self._recipients)
                )
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            _raise_for_codes(codes, "recipients refused")
        except smtplib.SMTPResponseException as exc:
            _raise_for_codes([exc.smtp_code], _smtp_text(exc.smtp_error))
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(
                f"the SMTP server's certificate did not verify ({exc.verify_message})"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP: {exc}") from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # OSError covers refused connections, timeouts and TLS failures mid-way.
            raise RetryableDeliveryError(f"SMTP {type(exc).__name__}") from exc
        if refused:
            # Some recipients took it: sending again would duplicate it for them.
            codes = sorted({code for code, _ in refused.values()})
            raise DeliveryError(f"SMTP: {len(refused)} recipient(s) refused ({codes})")


def _smtp_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:_SMTP_TEXT]


def _raise_for_codes(codes: Sequence[int], text: str) -> None:
    """Retry when every reply is transient (4xx), else fail for good."""
    shown = ",".join(str(c) for c in sorted(set(codes))) or "?"
    reason = f"SMTP {shown} {text}".strip()
    if codes and all(400 <= code < 500 for code in codes):
        raise RetryableDeliveryError(reason)
    raise DeliveryError(reason)
