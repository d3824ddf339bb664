"""A typed client of the stockpred REST API, over an injected ``httpx.Client``.

It authenticates as an OAuth2 client (``POST /v1/token``, client credentials), keeps the token
and asks for a new one shortly before it expires (or once, when the API refuses it). Every
failure, the API's own ``{code, message}`` answers and a connection that fails alike, comes out
as one :class:`ApiError` carrying the API's message, so a page can show it and go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pandas as pd

from stockpred.dashboard.records import (
    BatchFailure,
    Forecast,
    Leaderboard,
    ModelHistory,
    Performance,
    Readiness,
    ServedModel,
    ServiceStatus,
    TickerInfo,
    forecast_from_json,
    mapping,
    now_utc,
    records_frame,
    sequence,
    table_frame,
)
from stockpred.domain.errors import DataSourceError

__all__ = ["ApiClient", "ApiError", "BatchResult", "Credentials"]

# A token is renewed this long before the API says it expires, so no call carries one that
# lapses on the way.
_RENEW_BEFORE = timedelta(seconds=60)


class ApiError(DataSourceError):
    """The API refused or failed a call: ``status`` (None when it could not be reached),
    the API's ``api_code`` and its message."""

    code = "api_error"

    def __init__(self, message: str, *, status: int | None, api_code: str) -> None:
        super().__init__(message)
        self.status = status
        self.api_code = api_code

    @property
    def not_found(self) -> bool:
        return self.status == 404


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API client's id and secret (``stockpred clients create``)."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret='***')"


@dataclass(frozen=True, slots=True)
class BatchResult:
    forecasts: tuple[Forecast, ...]
    failures: tuple[BatchFailure, ...]


def _message(response: httpx.Response) -> tuple[str, str]:
    """The API's (code, message) of a refusal; its OAuth2 fields on /v1/token."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        code = body.get("code") or body.get("error") or f"http_{response.status_code}"
        message = body.get("message") or body.get("error_description") or body.get("detail")
        if isinstance(message, list):  # FastAPI's validation errors
            message = "; ".join(str(m.get("msg", m)) for m in message if isinstance(m, Mapping))
        if message:
            return str(code), str(message)
    return f"http_{response.status_code}", f"{response.request.url.path} answered HTTP " + str(
        response.status_code
    )


class ApiClient:
    """One method per API route the dashboard reads, each returning plain records or frames.

    ``http`` has the API's base URL (``httpx.Client(base_url=...)``; FastAPI's TestClient in
    tests). Safe to share between threads: the token is guarded by a lock.
    """

    def __init__(
        self,
        *,
        http: httpx.Client,
        credentials: Credentials,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._http = http
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires: datetime | None = None

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    def close(self) -> None:
        self._http.close()

    # --- authentication -------------------------------------------------------------------

    def token(self, *, renew: bool = False) -> str:
        """A valid access token, asked for anew when ``renew`` or when it is about to expire."""
        with self._lock:
            now = self._clock()
            if (
                renew
                or self._token is None
                or self._expires is None
                or now >= self._expires - _RENEW_BEFORE
            ):
                self._token, self._expires = self._fetch_token(now)
            return self._token

    def _fetch_token(self, now: datetime) -> tuple[str, datetime]:
        response = self._send(
            "POST",
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self._credentials.client_id,
                "client_secret": self._credentials.client_secret,
            },
        )
        if response.status_code != 200:
            code, message = _message(response)
            raise ApiError(
                f"the API refused the dashboard's client {self._credentials.client_id!r}: "
                f"{message}",
                status=response.status_code,
                api_code=code,
            )
        body = mapping(response.json(), what="token")
        token = body.get("access_token")
        if not isinstance(token, str):
            raise ApiError("POST /v1/token answered no access_token", status=200, api_code="token")
        seconds = float(str(body.get("expires_in", 300)))
        return token, now + timedelta(seconds=seconds)

    # --- transport ------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: object = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return self._http.request(
                method, path, params=params, json=json, data=data, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ApiError(
                f"cannot reach the API at {self.base_url} ({type(exc).__name__}: {exc}); "
                "is `stockpred serve` running?",
                status=None,
                api_code="unreachable",
            ) from exc

    def _get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        method: str = "GET",
        json: object = None,
        authenticated: bool = True,
        accept: Sequence[int] = (200,),
    ) -> object:
        headers = {"Authorization": f"Bearer {self.token()}"} if authenticated else None
        response = self._send(method, path, params=params, json=json, headers=headers)
        if response.status_code == 401 and authenticated:
            # Revoked or expired early (a restarted API with a new key): ask once more.
            headers = {"Authorization": f"Bearer {self.token(renew=True)}"}
            response = self._send(method, path, params=params, json=json, headers=headers)
        if response.status_code not in accept:
            code, message = _message(response)
            raise ApiError(message, status=response.status_code, api_code=code)
        try:
            body: object = response.json()
        except ValueError as exc:
            raise ApiError(
                f"{path} answered something that is not JSON",
                status=response.status_code,
                api_code="malformed",
            ) from exc
        return body

    # --- routes ---------------------------------------------------------------------------

    def tickers(self) -> list[TickerInfo]:
        """``GET /v1/tickers``: every ticker held, served or not."""
        body = mapping(self._get_json("/v1/tickers"), what="tickers")
        rows = sequence(body.get("tickers"), what="tickers")
        return [TickerInfo.from_json(row) for row in rows]

    def served_tickers(self) -> list[str]:
        """The tickers with a forecast, sorted."""
        return sorted(t.ticker for t in self.tickers() if t.served)

    def bars(self, ticker: str, *, limit: int = 500) -> pd.DataFrame:
        """``GET /v1/tickers/{t}/bars``: ts (UTC), open, high, low, close, adj_close, volume."""
        body = self._get_json(f"/v1/tickers/{ticker}/bars", params={"limit": limit})
        return table_frame(mapping(body, what="bars"))

    def features(self, ticker: str, *, limit: int = 250) -> pd.DataFrame:
        """``GET /v1/tickers/{t}/features``: ts and one column per feature of the served set."""
        body = self._get_json(f"/v1/tickers/{ticker}/features", params={"limit": limit})
        return table_frame(mapping(body, what="features"))

    def news(self, ticker: str, *, limit: int = 20) -> pd.DataFrame:
        """``GET /v1/tickers/{t}/news``: published_at, source, title, url, sentiment, newest
        first."""
        body = mapping(
            self._get_json(f"/v1/tickers/{ticker}/news", params={"limit": limit}), what="news"
        )
        return records_frame(
            body.get("rows", []),
            what="news.rows",
            columns=("published_at", "source", "title", "url", "sentiment"),
            times=("published_at",),
        )

    def forecast(self, ticker: str, *, horizon: int) -> Forecast:
        """``GET /v1/predictions/{t}``: the champion's forecast, with its contributions."""
        body = self._get_json(f"/v1/predictions/{ticker}", params={"horizon": horizon})
        return forecast_from_json(body)

    def forecasts(self, tickers: Sequence[str], *, horizon: int) -> BatchResult:
        """``POST /v1/predictions:batch``: each ticker's forecast, and those that failed."""
        body = mapping(
            self._get_json(
                "/v1/predictions:batch",
                method="POST",
                json={"tickers": list(tickers), "horizon": horizon},
            ),
            what="batch",
        )
        predictions = sequence(body.get("predictions"), what="batch.predictions")
        errors = [
            mapping(e, what="batch.errors")
            for e in sequence(body.get("errors"), what="batch.errors")
        ]
        return BatchResult(
            forecasts=tuple(forecast_from_json(p) for p in predictions),
            failures=tuple(
                BatchFailure(
                    ticker=str(e.get("ticker", "")),
                    code=str(e.get("code", "")),
                    message=str(e.get("message", "")),
                )
                for e in errors
            ),
        )

    def history(self, ticker: str, *, horizon: int, limit: int = 500) -> pd.DataFrame:
        """``GET /v1/predictions/{t}/history``: as_of, horizon, log_return, lower, upper,
        direction_prob, model, model_version, created_at, realised (NaN until known)."""
        body = mapping(
            self._get_json(
                f"/v1/predictions/{ticker}/history", params={"horizon": horizon, "limit": limit}
            ),
            what="history",
        )
        frame = records_frame(
            body.get("rows", []),
            what="history.rows",
            columns=(
                "as_of",
                "horizon",
                "log_return",
                "lower",
                "upper",
                "direction_prob",
                "model",
                "model_version",
                "created_at",
                "realised",
            ),
            times=("as_of", "created_at"),
        )
        for column in ("log_return", "lower", "upper", "direction_prob", "realised"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        return frame

    def models(self) -> list[ServedModel]:
        """``GET /v1/models``: the champion of each horizon."""
        body = mapping(self._get_json("/v1/models"), what="models")
        rows = sequence(body.get("models"), what="models")
        return [ServedModel.from_json(row) for row in rows]

    def leaderboard(self, name: str, version: str) -> Leaderboard:
        """``GET /v1/models/{name}/{version}/leaderboard``; ApiError (404) for a version
        trained before leaderboards were kept."""
        return Leaderboard.from_json(self._get_json(f"/v1/models/{name}/{version}/leaderboard"))

    def performance(self, name: str, version: str) -> Performance:
        """``GET /v1/models/{name}/{version}/performance``: realised accuracy and drift."""
        return Performance.from_json(self._get_json(f"/v1/models/{name}/{version}/performance"))

    def versions(self, name: str) -> ModelHistory:
        """``GET /v1/models/{name}/versions``: every version and the promotion history."""
        return ModelHistory.from_json(self._get_json(f"/v1/models/{name}/versions"))

    def readiness(self) -> Readiness:
        """``GET /readyz`` (no token): the API's checks; a 503 answer is a readiness too."""
        body = self._get_json("/readyz", authenticated=False, accept=(200, 503))
        return Readiness.from_json(body)

    def status(self) -> ServiceStatus:
        """``GET /v1/status``: sources, freshness per ticker, recent alerts, dead letters."""
        return ServiceStatus.from_json(self._get_json("/v1/status"))
