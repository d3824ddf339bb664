"""Price charts as PNG files: close (and adjusted close), volume, detected splits and gaps.

matplotlib is an optional extra (``stockpred[plot]``); it is imported only when a chart is asked
for, with the non-interactive Agg backend so it works without a screen.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stockpred.extras import import_optional

__all__ = ["render_price_chart"]


def render_price_chart(
    bars: pd.DataFrame,
    *,
    ticker: str,
    path: Path,
    splits: pd.DataFrame,
    missing: pd.DatetimeIndex,
) -> Path:
    """Write a two-panel chart (prices on a log scale above, volume below) to ``path``.

    bars: date, close, adj_close, volume (one ticker, sorted). Splits are drawn as dashed lines
    with their ratio; missing sessions as red ticks under the price.
    """
    matplotlib = import_optional("matplotlib", extra="plot", purpose="plotting a price chart")
    matplotlib.use("Agg")
    pyplot = import_optional("matplotlib.pyplot", extra="plot", purpose="plotting a price chart")

    figure, (top, bottom) = pyplot.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    dates = pd.DatetimeIndex(bars["date"])
    top.plot(dates, bars["close"], linewidth=1.0, label="close")
    if bars["adj_close"].notna().any():
        top.plot(dates, bars["adj_close"], linewidth=0.8, linestyle="--", label="adjusted close")
    top.set_yscale("log")
    top.set_ylabel("price (log scale)")
    for day, ratio in zip(pd.DatetimeIndex(splits["date"]), splits["ratio"], strict=True):
        top.axvline(day, color="tab:orange", linestyle=":", linewidth=1.0)
        top.annotate(
            f"split {ratio}",
            xy=(day, 0.98),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color="tab:orange",
        )
    if len(missing):
        top.plot(
            missing,
            [bars["close"].min()] * len(missing),
            linestyle="none",
            marker="|",
            markersize=10,
            color="tab:red",
            label=f"missing sessions ({len(missing)})",
        )
    top.legend(loc="best", fontsize=8)
    top.grid(alpha=0.3)
    bottom.bar(dates, bars["volume"], width=1.0, color="tab:gray")
    bottom.set_ylabel("volume")
    bottom.grid(alpha=0.3)
    first, last = dates.min().date(), dates.max().date()
    top.set_title(f"{ticker}: {len(bars):,} sessions, {first} to {last}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path
