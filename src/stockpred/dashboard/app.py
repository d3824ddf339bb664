"""The analysts' dashboard: ``stockpred dashboard`` runs this file with ``streamlit run``.

Four pages (Ticker, Universe, Models, Health) read the REST API and its websocket as an API
client; the dashboard never opens the store.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from stockpred.dashboard.context import current
from stockpred.dashboard.present import format_age
from stockpred.dashboard.records import now_utc

__all__ = ["APP_FILE", "PAGES", "main"]

APP_FILE = Path(__file__).resolve()
PAGES = APP_FILE.parent / "views"


@st.fragment(run_every=5.0)
def _stream_status() -> None:
    dashboard = current()
    if dashboard is None:
        return
    state = dashboard.live.state()
    heard = state.last_message_at
    age = None if heard is None else (now_utc() - heard).total_seconds()
    if dashboard.feed is None:
        st.caption("stream: not connected (no live feed in this session)")
    elif state.connected:
        st.caption(
            f"stream: connected · last message {format_age(age)} · {state.received} received"
        )
    else:
        st.caption(f"stream: reconnecting · last message {format_age(age)}")
    st.caption(f"API: {dashboard.api.base_url}")


def main() -> None:
    """The page chooser and the page chosen."""
    st.set_page_config(page_title="stockpred", page_icon=":material/query_stats:", layout="wide")
    navigation = st.navigation(
        [
            st.Page(PAGES / "ticker.py", title="Ticker", icon=":material/candlestick_chart:"),
            st.Page(PAGES / "universe.py", title="Universe", icon=":material/leaderboard:"),
            st.Page(PAGES / "models.py", title="Models", icon=":material/model_training:"),
            st.Page(PAGES / "health.py", title="Health", icon=":material/monitor_heart:"),
        ]
    )
    with st.sidebar:
        _stream_status()
    navigation.run()


if __name__ == "__main__":
    main()
