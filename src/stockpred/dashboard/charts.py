"""The dashboard's charts (Altair, which Streamlit bundles): frames in, chart specs out.

Nothing here calls the API or Streamlit; the pages hand in the frames and draw what comes
back with ``st.altair_chart``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

__all__ = [
    "contributions_chart",
    "equity_chart",
    "forecast_targets",
    "performance_chart",
    "price_chart",
]

_TARGET = "#f58518"
_HIT = "#2ca02c"
_MISS = "#d62728"


def forecast_targets(bars: pd.DataFrame, history: pd.DataFrame, *, horizon: int) -> pd.DataFrame:
    """Each stored forecast as a price target: the close at its ``as_of`` compounded by the
    forecast (``target``) and by its interval's ends (``low``, ``high``), dated ``horizon``
    sessions later (on the stored sessions; past the last one, on weekdays), with the
    ``realised`` price once known and whether it fell ``inside`` the interval.

    bars: ts (UTC), close. history: as_of (UTC), log_return, lower, upper, realised.
    """
    columns = ["as_of", "date", "close", "target", "low", "high", "realised", "inside"]
    if bars.empty or history.empty:
        return pd.DataFrame(columns=columns)
    sessions = pd.DatetimeIndex(bars["ts"]).normalize()
    closes = pd.Series(bars["close"].to_numpy(dtype=float), index=sessions)
    closes = closes[~closes.index.duplicated(keep="last")]
    days = pd.DatetimeIndex(history["as_of"]).normalize()
    position = closes.index.get_indexer(days)
    known = position >= 0
    rows = history.loc[known].copy()
    position = position[known]
    close = closes.to_numpy()[position]
    ahead = position + horizon
    last = len(closes) - 1
    dates = [
        closes.index[int(p)] if p <= last else closes.index[-1] + pd.offsets.BDay(int(p - last))
        for p in ahead
    ]
    rows["date"] = pd.DatetimeIndex(dates)
    rows["close"] = close
    rows["target"] = close * np.exp(rows["log_return"].astype(float))
    rows["low"] = close * np.exp(rows["lower"].astype(float))
    rows["high"] = close * np.exp(rows["upper"].astype(float))
    realised = rows["realised"].astype(float)
    rows["realised"] = close * np.exp(realised)
    inside = (realised >= rows["lower"].astype(float)) & (realised <= rows["upper"].astype(float))
    rows["inside"] = np.where(realised.isna(), "pending", np.where(inside, "inside", "outside"))
    return rows.loc[:, columns].reset_index(drop=True)


def price_chart(bars: pd.DataFrame, targets: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """The close as a line; each forecast's target as a dot with its interval as a bar at the
    date it is for; the realised close once known, green inside the interval, red outside."""
    price = (
        alt.Chart(bars.loc[:, ["ts", "close"]])
        .mark_line(color="#4c78a8", strokeWidth=1.5)
        .encode(
            x=alt.X("ts:T", title=None, axis=alt.Axis(format="%b %Y", tickCount="month")),
            y=alt.Y("close:Q", title="price", scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("ts:T", title="session"), alt.Tooltip("close:Q", format=",.2f")],
        )
    )
    layers: list[alt.Chart] = [price]
    if not targets.empty:
        base = alt.Chart(targets)
        tooltip = [
            alt.Tooltip("as_of:T", title="forecast made"),
            alt.Tooltip("date:T", title="for"),
            alt.Tooltip("target:Q", format=",.2f"),
            alt.Tooltip("low:Q", format=",.2f"),
            alt.Tooltip("high:Q", format=",.2f"),
            alt.Tooltip("realised:Q", format=",.2f"),
            alt.Tooltip("inside:N", title="realised"),
        ]
        layers.append(
            base.mark_rule(color=_TARGET, opacity=0.25, strokeWidth=2).encode(
                x="date:T", y="low:Q", y2="high:Q", tooltip=tooltip
            )
        )
        layers.append(
            base.mark_point(color=_TARGET, size=16, filled=True, opacity=0.9).encode(
                x="date:T", y="target:Q", tooltip=tooltip
            )
        )
        matured = targets[targets["inside"] != "pending"]
        if not matured.empty:
            layers.append(
                alt.Chart(matured)
                .mark_point(shape="diamond", size=22, filled=True)
                .encode(
                    x="date:T",
                    y="realised:Q",
                    color=alt.Color(
                        "inside:N",
                        title="realised vs interval",
                        scale=alt.Scale(domain=["inside", "outside"], range=[_HIT, _MISS]),
                    ),
                    tooltip=tooltip,
                )
            )
    chart = alt.layer(*layers).properties(height=380)
    return chart.interactive(bind_y=False)


def contributions_chart(contributions: Sequence[tuple[str, float]], *, top: int = 10) -> alt.Chart:
    """The ``top`` features that moved the forecast most (by size), in log-return units."""
    frame = pd.DataFrame(list(contributions), columns=["feature", "value"])
    frame = frame.reindex(frame["value"].abs().sort_values(ascending=False).index).head(top)
    frame["direction"] = np.where(frame["value"] >= 0, "raises", "lowers")
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title="contribution (log return)", axis=alt.Axis(format=".2%")),
            y=alt.Y("feature:N", sort=frame["feature"].tolist(), title=None),
            color=alt.Color(
                "direction:N",
                scale=alt.Scale(domain=["raises", "lowers"], range=[_HIT, _MISS]),
                legend=None,
            ),
            tooltip=["feature:N", alt.Tooltip("value:Q", format=".4%")],
        )
        .properties(height=max(120, 26 * len(frame)))
    )
    return chart


def equity_chart(equity: pd.DataFrame, *, families: Mapping[str, str]) -> alt.Chart:
    """Each candidate's cumulative net return by date, baselines dashed.

    equity: date, model, cumulative_return. families: model -> baseline, model or ensemble.
    """
    frame = equity.copy()
    frame["family"] = frame["model"].map(lambda m: families.get(str(m), "model"))
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_line(strokeWidth=1.6)
        .encode(
            x=alt.X("date:T", title=None, axis=alt.Axis(format="%Y", tickCount="year")),
            y=alt.Y(
                "cumulative_return:Q", title="cumulative net return", axis=alt.Axis(format="%")
            ),
            color=alt.Color("model:N", title="candidate"),
            strokeDash=alt.StrokeDash(
                "family:N",
                title="family",
                scale=alt.Scale(
                    domain=["model", "ensemble", "baseline"], range=[[1, 0], [1, 0], [5, 3]]
                ),
            ),
            tooltip=[
                "model:N",
                "family:N",
                alt.Tooltip("date:T"),
                alt.Tooltip("cumulative_return:Q", format=".2%"),
            ],
        )
        .properties(height=340)
        .interactive(bind_y=False)
    )
    return chart


def performance_chart(sessions: pd.DataFrame, *, figure: str, title: str) -> alt.Chart:
    """The model's rolling ``figure`` (rank_ic, hit_rate, ...) beside the best baseline's on
    the same rows, by matured session."""
    columns = {f"champion_{figure}": "this model", f"baseline_{figure}": "best baseline"}
    present = [c for c in columns if c in sessions.columns]
    long = sessions.melt(
        id_vars=["session"], value_vars=present, var_name="series", value_name="value"
    )
    long["series"] = long["series"].map(columns)
    chart: alt.Chart = (
        alt.Chart(long.dropna(subset=["value"]))
        .mark_line(point=alt.OverlayMarkDef(size=20))
        .encode(
            x=alt.X("session:T", title=None),
            y=alt.Y("value:Q", title=title),
            color=alt.Color(
                "series:N",
                title=None,
                scale=alt.Scale(domain=list(columns.values()), range=["#4c78a8", "#9d9d9d"]),
            ),
            tooltip=["series:N", alt.Tooltip("session:T"), alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=260)
    )
    return chart
