"""Alpaca's historical minute bars (``GET /v2/stocks/bars``): what fills a live feed's gap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailableError,
)
from stockpred.domain.records import Bar
from stockpred.sources.feeds.alpaca.wire import KEY_SETTINGS, PROVIDER, bar_from_wire

__all__ = ["AlpacaHistory"]

_PAGE_LIMIT = 10_000
# A gap of days across many symbols is a few dozen pages; more means a server in a loop.
_MAX_PAGES = 1_000


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AlpacaHistory:
    """Minute bars of several symbols over a time range, every page of them.

    Transient failures (network errors, timeouts, 429, 5xx) raise ProviderUnavailableError for
    the caller to retry; refused keys raise ProviderAuthError; anything else ProviderError.
    """

    def __init__(
        self,
        *,
        rest_url: str,
        key_id: str,
        secret_key: str,
        feed: str | None,
        timeout_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=rest_url.rstrip("/"),
            headers={"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret_key},
            timeout=timeout_s,
        )
        self._feed = feed
        self._clock = clock

    async def aclose(self) -> None:
        await self._client.aclose()

    async def minute_bars(
        self, symbols: Sequence[str], *, start: datetime, end: datetime
    ) -> list[Bar]:
        """Bars of ``symbols`` starting in [start, end] (Alpaca's ``t`` is a bar's start; the
        domain bars close a minute later), in the order Alpaca sends them."""
        params = {
            "symbols": ",".join(symbols),
            "timeframe": "1Min",
            "start": _rfc3339(start),
            "end": _rfc3339(end),
            "limit": str(_PAGE_LIMIT),
        }
        if self._feed:
            params["feed"] = self._feed
        bars: list[Bar] = []
        token: str | None = None
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = await self._get({**params, "page_token": token} if token else params)
            bars.extend(self._parse_page(page))
            next_token = page.get("next_page_token")
            if next_token is None:
                return bars
            if not isinstance(next_token, str) or next_token in seen:
                raise MalformedResponseError(
                    f"alpaca /v2/stocks/bars sent next_page_token={next_token!r} twice or not as a "
                    "string; cannot page further",
                    provider=PROVIDER,
                )
            seen.add(next_token)
            token = next_token
        raise MalformedResponseError(
            f"alpaca /v2/stocks/bars sent more than {_MAX_PAGES} pages", provider=PROVIDER
        )

    async def _get(self, params: dict[str, str]) -> dict[str, object]:
        try:
            response = await self._client.get("/v2/stocks/bars", params=params)
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(
                f"alpaca /v2/stocks/bars did not answer: {type(exc).__name__}", provider=PROVIDER
            ) from exc
        status = response.status_code
        if status in (401, 403):
            raise ProviderAuthError(
                f"alpaca /v2/stocks/bars refused the keys (HTTP {status}: "
                f"{response.text[:200]!r}); set {KEY_SETTINGS} to a key pair whose plan "
                f"includes the {self._feed or 'default'} feed",
                provider=PROVIDER,
            )
        if status == 429 or status >= 500:
            raise ProviderUnavailableError(
                f"alpaca /v2/stocks/bars answered HTTP {status}", provider=PROVIDER
            )
        if status != 200:
            raise ProviderError(
                f"alpaca /v2/stocks/bars answered HTTP {status}: {response.text[:200]!r}",
                provider=PROVIDER,
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise MalformedResponseError(
                f"alpaca /v2/stocks/bars answered with non-JSON: {response.text[:200]!r}",
                provider=PROVIDER,
            ) from exc
        if not isinstance(body, dict):
            raise MalformedResponseError(
                f"alpaca /v2/stocks/bars answered {response.text[:200]!r}; expected an object",
                provider=PROVIDER,
            )
        return body

    def _parse_page(self, page: dict[str, object]) -> list[Bar]:
        by_symbol = page.get("bars")
        if by_symbol is None:
            return []
        if not isinstance(by_symbol, dict):
            raise MalformedResponseError(
                f"alpaca /v2/stocks/bars sent bars={by_symbol!r}; expected an object of "
                "symbol: [bar, ...]",
                provider=PROVIDER,
            )
        now = self._clock()
        out: list[Bar] = []
        for symbol, items in by_symbol.items():
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise MalformedResponseError(
                    f"alpaca /v2/stocks/bars sent bars[{symbol!r}]={items!r:.200}; expected a "
                    "list of bars",
                    provider=PROVIDER,
                    symbol=str(symbol),
                )
            out.extend(bar_from_wire(item, symbol=str(symbol), ingested_at=now) for item in items)
        return out
