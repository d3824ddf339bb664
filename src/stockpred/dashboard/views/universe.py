"""Universe: every served ticker's forecast, ranked by expected return, updated as the
stream delivers new ones."""

from __future__ import annotations

import streamlit as st
from streamlit.elements.lib.column_types import ColumnConfig

from stockpred.dashboard.client import ApiClient
from stockpred.dashboard.context import Dashboard, current
from stockpred.dashboard.present import (
    attempt,
    choose_horizon,
    format_age,
    in_percent,
    percent_column,
)
from stockpred.dashboard.ranking import Fetched, ranked
from stockpred.dashboard.records import now_utc

__all__ = ["render"]

_REFRESH_SECONDS = 2.0
# The REST answer is kept this long per session; the stream keeps it current meanwhile.
_KEEP_SECONDS = 300.0
_STATE_KEY = "universe_batch"


def _batch(api: ApiClient, horizon: int, *, reload: bool) -> Fetched | None:
    held = st.session_state.get(_STATE_KEY)
    now = now_utc()
    if (
        not reload
        and isinstance(held, Fetched)
        and held.horizon == horizon
        and (now - held.at).total_seconds() < _KEEP_SECONDS
    ):
        return held
    tickers = attempt(api.served_tickers, what="tickers")
    if tickers is None:
        return None
    result = attempt(lambda: api.forecasts(tickers, horizon=horizon), what="forecasts")
    if result is None:
        return None
    fetched = Fetched(horizon=horizon, at=now, result=result)
    st.session_state[_STATE_KEY] = fetched
    return fetched


_COLUMNS: dict[str, ColumnConfig | str] = {
    "ticker": st.column_config.TextColumn("ticker"),
    "expected_return": percent_column(
        "expected return", help="forecast log return over the horizon"
    ),
    "price_target": st.column_config.NumberColumn("price target", format="%.2f"),
    "interval": st.column_config.TextColumn("interval (price)"),
    "last_close": st.column_config.NumberColumn("last close", format="%.2f"),
    "direction_prob": percent_column("P(up)", signed=False),
    "model": st.column_config.TextColumn("model", width="small"),
    "as_of": st.column_config.DatetimeColumn("features as of", format="YYYY-MM-DD HH:mm"),
    "freshness": st.column_config.TextColumn("freshness"),
    "source": st.column_config.TextColumn(
        "from",
        help="the REST answer or the websocket stream; provisional: a nowcast of a session "
        "still open",
    ),
}


@st.fragment(run_every=_REFRESH_SECONDS)
def _live_table(dashboard: Dashboard, fetched: Fetched) -> None:
    state = dashboard.live.state()
    table = ranked(
        fetched.result.forecasts, state.forecasts, horizon=fetched.horizon, fetched_at=fetched.at
    )
    now = now_utc()
    heard = state.last_message_at
    age = None if heard is None else (now - heard).total_seconds()
    streamed = int(table["source"].str.startswith("stream").sum()) if not table.empty else 0
    if dashboard.feed is None and heard is None:
        st.caption("Live updates: no stream in this session.")
    else:
        connection = "connected" if state.connected else "reconnecting"
        st.caption(
            f"Live: stream {connection}, last heard {format_age(age)}; {streamed} of "
            f"{len(table)} rows updated by the stream since the table loaded "
            f"({format_age((now - fetched.at).total_seconds())})."
        )
        if state.error and not state.connected:
            st.caption(f"Stream: {state.error}")
    if table.empty:
        st.info("No forecasts to rank.")
        return
    up = int((table["expected_return"] > 0).sum())
    columns = st.columns(4)
    columns[0].metric("Tickers", len(table))
    columns[1].metric("Expected up", f"{up} of {len(table)}")
    columns[2].metric("Stale", int(table["stale"].sum()))
    columns[3].metric("Provisional", int(table["provisional"].sum()))
    shown = in_percent(table, ["expected_return", "direction_prob"])
    order = list(_COLUMNS)
    if table["model"].nunique() == 1:
        # One model serves them all: said once, and the table keeps its width for the rest.
        order.remove("model")
        st.caption(f"Every row from {table['model'].iloc[0]}.")
    st.dataframe(
        shown,
        hide_index=True,
        column_config=_COLUMNS,
        column_order=order,
        height=min(900, 35 * (len(table) + 1) + 3),
    )


def render() -> None:
    st.title("Universe")
    dashboard = current()
    if dashboard is None:
        return
    left, right, _ = st.columns([1, 1, 4])
    horizon = choose_horizon(dashboard.api, into=left, key="universe_horizon")
    right.write("")
    reload = right.button("Reload", key="universe_reload", help="ask the API again")
    fetched = _batch(dashboard.api, horizon, reload=reload)
    if fetched is None:
        return
    st.caption(
        f"Today's {horizon}-session forecasts of the served tickers, best expected return "
        "first; price target = last close x exp(expected return), interval likewise."
    )
    _live_table(dashboard, fetched)
    for failure in fetched.result.failures:
        st.warning(f"{failure.ticker}: {failure.message}")


if __name__ == "__main__":
    render()
