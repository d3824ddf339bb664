"""What the API's routes are given: one ``ApiServices`` built at start-up (``api/app.py``) and
the small protocols its parts implement, so tests can swap any of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from stockpred.api.principals import TokenVerifier
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.registry.base import ModelRegistry
from stockpred.settings import Settings

if TYPE_CHECKING:
    from stockpred.api.clients import ClientStore
    from stockpred.api.fanout import Fanout, SeenIds
    from stockpred.api.hashing import HashPool
    from stockpred.api.jobs import JobRunner
    from stockpred.api.metrics import ApiMetrics
    from stockpred.api.rendering import RenderCache
    from stockpred.api.security import TokenIssuer
    from stockpred.bus.base import Bus
    from stockpred.notify.alert_log import AlertLog
    from stockpred.notify.dispatch import Dispatcher
    from stockpred.notify.webhooks import WebhookService
    from stockpred.pipeline.serving import ServedLog, ServingState, StaleRefresher, StoreOpener
    from stockpred.sources.providers.status import StatusFile

__all__ = [
    "ApiServices",
    "AuthBudget",
    "RateLimiter",
]


class RateLimiter(Protocol):
    """Per-client request budget. ``hit`` raises ``RateLimitedError`` (with ``retry_after``) when
    the client is over it; ``check`` raises when the limiter's backend is unreachable."""

    async def hit(self, key: str) -> None: ...

    async def check(self) -> None: ...

    async def aclose(self) -> None: ...


class AuthBudget(Protocol):
    """Authentication budgets per client id and source address (``api/ratelimit.py``,
    ``AuthThrottle``): ``attempt`` admits and counts one secret check, ``failed`` counts one
    failure; both raise ``RateLimitedError`` when over budget."""

    async def attempt(self, *, address: str, client_id: str) -> None: ...

    async def failed(self, *, address: str | None = None, client_id: str | None = None) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class ApiServices:
    """Everything a route may use, built once per process from the settings."""

    settings: Settings
    # Opens the store for one use and closes it: the embedded DuckDB file admits one writing
    # process, and ingest/train must run beside the API (pipeline/serving.py).
    open_store: StoreOpener
    registry: ModelRegistry
    # The champions and forecast table; what was served, to store; rendered answers.
    serving: ServingState
    served_log: ServedLog
    renders: RenderCache
    verifier: TokenVerifier
    # None when an external identity provider issues the tokens (settings.api_jwks_url).
    issuer: TokenIssuer | None
    clients: ClientStore
    limiter: RateLimiter
    auth_throttle: AuthBudget
    # Client secrets are checked in these few low-priority threads only (api/hashing.py):
    # each check is an argon2id hash, and a flood of them must not take the cores.
    hash_pool: HashPool
    # The event bus (bus_url): new forecasts go out on it; the writers' events come in.
    bus: Bus
    # This process's websocket clients, and the forecasts already handed to them.
    fanout: Fanout
    seen: SeenIds
    webhooks: WebhookService
    jobs: JobRunner
    # Runs one retrain (pipeline/retrain.py) for a horizon and returns what it decided.
    retrain: Callable[..., Mapping[str, object]]
    metrics: ApiMetrics
    clock: Callable[[], datetime]
    # Every alert Alertmanager sent (POST /v1/monitoring/*), for GET /v1/status.
    alerts: AlertLog
    # Set when settings.api_refresh_stale: brings a stale ticker up to date in the background.
    refresher: StaleRefresher | None = None
    # A token that changes when another process writes the store (the embedded DuckDB file's
    # stat, compose.store_changes); None when writers announce their writes on the bus.
    store_changes: Callable[[], object] | None = None
    # The instrument kinds modelled and forecast; the others are market context.
    universe: Universe = STOCKS
    # This process's consumer group and consumer name on the bus (api-HOST-PID).
    instance: str = "api"
    # Sends alerts and retrain decisions to the Slack and email routes (compose.notifier).
    notifier: Dispatcher | None = None
    # Each provider's last success and failure (compose.provider_status); None: not kept.
    provider_status: StatusFile | None = None
    # Background tasks the services started (kept so they are not garbage-collected mid-run).
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
