"""Models: the champions served, the evaluation that chose each (beside the baselines, with
equity curves), how it has done since (realised accuracy and drift), and its version and
retrain history."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from stockpred.dashboard.charts import equity_chart, performance_chart
from stockpred.dashboard.client import ApiClient
from stockpred.dashboard.context import current
from stockpred.dashboard.present import attempt, format_time, in_percent, percent_column
from stockpred.dashboard.records import ServedModel

__all__ = ["render"]

# The leaderboard's headline figures, in this order (the rest is one click away).
_LEADERBOARD = {
    "model": st.column_config.TextColumn("candidate"),
    "family": st.column_config.TextColumn("family"),
    "rank_ic_mean": st.column_config.NumberColumn("rank IC", format="%.4f"),
    "rank_ic_interval": st.column_config.TextColumn("rank IC 95% interval"),
    "rank_icir": st.column_config.NumberColumn("rank ICIR", format="%.3f"),
    "da": percent_column("direction right", signed=False),
    "coverage": percent_column("coverage", signed=False),
    "long_short_sharpe_net": st.column_config.NumberColumn("L/S Sharpe (net)", format="%.2f"),
    "long_short_ann_return_net": percent_column("L/S return p.a. (net)"),
    "long_short_max_drawdown_net": percent_column("L/S max DD"),
}


def _champions(models: list[ServedModel]) -> None:
    rows = [
        {
            "horizon": m.horizon,
            "model": f"{m.name} v{m.version}",
            "kind": m.kind,
            "family": m.family,
            "feature set": m.feature_set,
            "trained on": f"{_day(m.trained_from)} → {_day(m.trained_to)}",
            "registered": m.registered_at,
            "rank IC": m.metrics.get("rank_ic_mean"),
        }
        for m in models
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "registered": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "rank IC": st.column_config.NumberColumn(format="%.4f"),
        },
    )
    for m in models:
        if m.promotion_reason:
            st.caption(f"Why {m.name} v{m.version} serves: {m.promotion_reason}")
    for m in models:
        if m.family == "baseline":
            st.warning(
                f"Horizon {m.horizon}: a baseline ({m.kind}) serves: no model beat it out of "
                "sample."
            )


def _day(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d")


def _leaderboard(api: ApiClient, model: ServedModel) -> None:
    st.subheader("Leaderboard: the evaluation that chose it")
    board = attempt(
        lambda: api.leaderboard(model.name, model.version),
        what=f"leaderboard of {model.name} v{model.version}",
    )
    if board is None:
        st.caption(
            "Versions trained before leaderboards were kept have none; the next "
            "`stockpred train` or retrain records one."
        )
        return
    records = board.records.copy()
    if {"rank_ic_low", "rank_ic_high"} <= set(records.columns):
        records["rank_ic_interval"] = [
            "" if pd.isna(low) or pd.isna(high) else f"{low:+.4f} to {high:+.4f}"
            for low, high in zip(records["rank_ic_low"], records["rank_ic_high"], strict=True)
        ]
    if records.empty:
        st.info("The leaderboard has no candidates.")
        return
    shown = [c for c in _LEADERBOARD if c in records.columns]
    baselines = int((records["family"] == "baseline").sum())
    st.caption(
        f"{len(records)} candidates ({baselines} baselines), out of sample, best rank IC "
        "first; portfolio figures net of costs."
    )
    percents = ["da", "coverage", "long_short_ann_return_net", "long_short_max_drawdown_net"]
    st.dataframe(
        in_percent(records.loc[:, shown], percents),
        hide_index=True,
        column_config={k: v for k, v in _LEADERBOARD.items() if k in shown},
    )
    with st.expander("Every figure"):
        st.dataframe(records, hide_index=True)
    if board.equity.empty:
        st.info("No equity curves were kept with this leaderboard.")
        return
    families = {str(m): str(f) for m, f in zip(records["model"], records["family"], strict=True)}
    cost = "" if board.cost_bps is None else f", net of {board.cost_bps:g} bps"
    kind = board.kind.replace("_", "-") or "portfolio"
    st.markdown(f"**Equity: cumulative {kind} return{cost}** (baselines dashed)")
    st.altair_chart(equity_chart(board.equity, families=families), width="stretch")


def _performance(api: ApiClient, model: ServedModel) -> None:
    st.subheader("Since then: realised accuracy and drift")
    report = attempt(
        lambda: api.performance(model.name, model.version),
        what=f"performance of {model.name} v{model.version}",
    )
    if report is None:
        return
    columns = st.columns(4)
    columns[0].metric("Matured sessions scored", len(report.sessions))
    columns[1].metric("Sessions below the best baseline", report.sessions_below_baseline)
    columns[2].metric("Drifted columns", len(report.drifted))
    columns[3].metric("Drift measured", format_time(report.drift_session)[:10])
    if report.sessions.empty:
        st.info(
            "No matured forecasts scored yet: `stockpred monitor` scores them once their "
            "horizon has passed."
        )
    else:
        left, right = st.columns(2)
        with left:
            st.altair_chart(
                performance_chart(report.sessions, figure="rank_ic", title="rolling rank IC"),
                width="stretch",
            )
        with right:
            st.altair_chart(
                performance_chart(report.sessions, figure="hit_rate", title="rolling hit rate"),
                width="stretch",
            )
    if report.drift.empty:
        st.caption("No drift measured yet.")
        return
    drift = report.drift.sort_values(["drifted", "psi"], ascending=[False, False])
    st.dataframe(
        drift,
        hide_index=True,
        height=min(420, 36 * (len(drift) + 1)),
        column_config={
            "psi": st.column_config.NumberColumn("PSI", format="%.3f"),
            "psi_threshold": st.column_config.NumberColumn("PSI limit", format="%.3f"),
            "ks_statistic": st.column_config.NumberColumn("KS", format="%.3f"),
            "ks_threshold": st.column_config.NumberColumn("KS limit", format="%.3f"),
            "drifted": st.column_config.CheckboxColumn("drifted"),
        },
    )


def _versions(api: ApiClient, model: ServedModel) -> None:
    st.subheader("Versions and retrain history")
    history = attempt(lambda: api.versions(model.name), what=f"versions of {model.name}")
    if history is None:
        return
    versions = history.versions.copy()
    if not versions.empty:
        versions["rank IC"] = [
            (m or {}).get("rank_ic_mean") if isinstance(m, dict) else None
            for m in versions["metrics"]
        ]
        versions = versions.drop(columns=["metrics"]).sort_values("version", ascending=False)
        versions["promotion_reason"] = versions["promotion_reason"].fillna("")
    st.dataframe(
        versions,
        hide_index=True,
        column_config={
            "created_at": st.column_config.DatetimeColumn("registered", format="YYYY-MM-DD HH:mm"),
            "champion": st.column_config.CheckboxColumn("champion"),
            "data_start": st.column_config.DatetimeColumn("data from", format="YYYY-MM-DD"),
            "data_end": st.column_config.DatetimeColumn("data to", format="YYYY-MM-DD"),
            "rank IC": st.column_config.NumberColumn(format="%.4f"),
            "promotion_reason": st.column_config.TextColumn("reason", width="large"),
        },
    )
    if history.history.empty:
        st.caption("No promotions or rollbacks recorded.")
        return
    st.dataframe(
        history.history.sort_values("at", ascending=False).fillna(""),
        hide_index=True,
        column_config={
            "at": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm"),
            "reason": st.column_config.TextColumn(width="large"),
        },
    )


def render() -> None:
    st.title("Models")
    dashboard = current()
    if dashboard is None:
        return
    api = dashboard.api
    models = attempt(api.models, what="served models")
    if not models:
        if models is not None:
            st.warning("No champion is served: train one with `stockpred train`.")
        return
    st.subheader("Champions served")
    _champions(models)
    by_label = {f"h{m.horizon}: {m.name} v{m.version} ({m.kind})": m for m in models}
    labels = list(by_label)
    default = next((i for i, m in enumerate(models) if m.horizon == 5), 0)
    label = st.selectbox("Model", labels, index=default, key="models_model")
    assert label is not None
    model = by_label[label]
    _leaderboard(api, model)
    _performance(api, model)
    _versions(api, model)


if __name__ == "__main__":
    render()
