"""What every page reads through: the API client, the live buffer and the feed filling it.

One :class:`Dashboard` serves every browser session of a dashboard process (one token, one
websocket), built from the settings the first time a page asks. A test, or an embedding
program, puts its own in ``st.session_state[SESSION_KEY]`` before the first run.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import streamlit as st

from stockpred.dashboard.client import ApiClient, ApiError, Credentials
from stockpred.dashboard.live import LiveBuffer, LiveFeed, websocket_connector
from stockpred.domain.errors import ConfigurationError

__all__ = ["SESSION_KEY", "Dashboard", "current", "from_settings"]

SESSION_KEY = "stockpred_dashboard"


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The API client, the buffer of streamed forecasts, and the feed (None: no stream)."""

    api: ApiClient
    live: LiveBuffer
    feed: LiveFeed | None = None


def from_settings() -> Dashboard:
    """A dashboard on the API and client the settings name (STOCKPRED_DASHBOARD_API_URL,
    _CLIENT_ID, _CLIENT_SECRET), its feed started. ConfigurationError without a client."""
    from stockpred.settings import load_settings

    settings = load_settings()
    secret = settings.dashboard_client_secret
    if not settings.dashboard_client_id or secret is None:
        raise ConfigurationError(
            "the dashboard needs an API client: set STOCKPRED_DASHBOARD_CLIENT_ID and "
            "STOCKPRED_DASHBOARD_CLIENT_SECRET (or pass --client-id/--client-secret to "
            "`stockpred dashboard`); `stockpred serve --demo` prints one, `stockpred clients "
            "create --name dashboard --scopes predictions:read,stream:read` makes one"
        )
    api = ApiClient(
        http=httpx.Client(base_url=settings.dashboard_api_url, timeout=15.0),
        credentials=Credentials(
            client_id=settings.dashboard_client_id, client_secret=secret.get_secret_value()
        ),
    )
    live = LiveBuffer()
    feed = LiveFeed(
        connect=websocket_connector(settings.dashboard_api_url),
        token=lambda renew: api.token(renew=renew),
        tickers=api.served_tickers,
        buffer=live,
    )
    feed.start()
    return Dashboard(api=api, live=live, feed=feed)


@st.cache_resource(show_spinner=False)
def _shared() -> Dashboard:
    return from_settings()


def current() -> Dashboard | None:
    """This session's dashboard; None (and the reason shown) when it cannot be built."""
    injected = st.session_state.get(SESSION_KEY)
    if isinstance(injected, Dashboard):
        return injected
    try:
        return _shared()
    except (ConfigurationError, ApiError) as exc:
        st.error(str(exc))
        return None
