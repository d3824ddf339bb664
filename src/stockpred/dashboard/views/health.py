"""Health: whether the API can answer, the data sources' last runs, how fresh each ticker's
data is, recent alerts, undelivered notices, and the dashboard's own stream."""

from __future__ import annotations

import streamlit as st

from stockpred.dashboard.context import Dashboard, current
from stockpred.dashboard.present import attempt, format_age, format_time
from stockpred.dashboard.records import now_utc

__all__ = ["render"]


def _readiness(dashboard: Dashboard) -> None:
    st.subheader("API readiness")
    readiness = attempt(dashboard.api.readiness, what="readiness (/readyz)")
    if readiness is None:
        return
    if readiness.ready:
        st.success(f"Ready: all {len(readiness.checks)} checks pass.")
    else:
        failing = ", ".join(c.name for c in readiness.checks if not c.ok)
        st.error(f"Not ready: {failing} failing.")
    st.dataframe(
        [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in readiness.checks],
        hide_index=True,
        column_config={
            "ok": st.column_config.CheckboxColumn("ok"),
            "detail": st.column_config.TextColumn(width="large"),
        },
    )


def _stream(dashboard: Dashboard) -> None:
    st.subheader("Live stream (this dashboard)")
    state = dashboard.live.state()
    heard = state.last_message_at
    age = None if heard is None else (now_utc() - heard).total_seconds()
    summary = f"last message {format_age(age)}, {state.received} forecasts received"
    if dashboard.feed is None:
        st.info("No live stream in this session.")
    elif state.connected:
        st.success(f"Connected to /v1/stream: {summary}.")
    else:
        st.warning(f"Reconnecting to /v1/stream: {summary}.")
    if state.error and not state.connected:
        st.caption(f"Last stream error: {state.error}")


def _status(dashboard: Dashboard) -> None:
    status = attempt(dashboard.api.status, what="service status (/v1/status)")
    if status is None:
        return
    stale = int(status.freshness["stale"].fillna(False).astype(bool).sum())
    alerts = len(status.alerts)
    firing = int((status.alerts["status"] == "firing").sum()) if not status.alerts.empty else 0
    columns = st.columns(4)
    columns[0].metric("Tickers tracked", len(status.freshness))
    columns[1].metric("Stale tickers", stale)
    columns[2].metric("Recent alerts", alerts, help=f"{firing} firing")
    columns[3].metric("Dead letters", status.dead_letters)
    st.caption(f"Checked {format_time(status.checked_at)}.")

    st.subheader("Data sources")
    if status.sources.empty:
        st.info("No source has run yet (`stockpred scheduler` runs the feeds).")
    else:
        st.dataframe(
            status.sources,
            hide_index=True,
            column_config={
                "last_success": st.column_config.DatetimeColumn(
                    "last success", format="YYYY-MM-DD HH:mm"
                ),
                "last_failure": st.column_config.DatetimeColumn(
                    "last failure", format="YYYY-MM-DD HH:mm"
                ),
                "last_error": st.column_config.TextColumn("last error", width="large"),
            },
        )

    st.subheader("Freshness per ticker")
    if status.freshness.empty:
        st.info("No ticker tracked.")
    else:
        freshness = status.freshness.sort_values(
            ["stale", "sessions_behind", "ticker"], ascending=[False, False, True]
        )
        st.dataframe(
            freshness,
            hide_index=True,
            height=min(420, 35 * (len(freshness) + 1) + 3),
            column_config={
                "last_bar": st.column_config.DatetimeColumn("last bar", format="YYYY-MM-DD"),
                "expected": st.column_config.DatetimeColumn("expected by now", format="YYYY-MM-DD"),
                "sessions_behind": st.column_config.NumberColumn("sessions behind"),
                "stale": st.column_config.CheckboxColumn("stale"),
            },
        )

    st.subheader("Recent alerts")
    if status.alerts.empty:
        st.info("No alerts received.")
    else:
        st.dataframe(
            status.alerts,
            hide_index=True,
            column_config={
                "received_at": st.column_config.DatetimeColumn(
                    "received", format="YYYY-MM-DD HH:mm"
                ),
                "summary": st.column_config.TextColumn(width="large"),
            },
        )
    if status.dead_letters:
        st.warning(
            f"{status.dead_letters} notices were not delivered: `stockpred notify "
            "dead-letters` lists them, `--retry` resends."
        )


def render() -> None:
    st.title("Health")
    dashboard = current()
    if dashboard is None:
        return
    left, right = st.columns(2)
    with left:
        _readiness(dashboard)
    with right:
        _stream(dashboard)
    _status(dashboard)


if __name__ == "__main__":
    render()
