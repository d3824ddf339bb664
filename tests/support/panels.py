"""A synthetic cross-section for the model tests: per-stock drift, a per-date signal only a
cross-sectional model can read, and a market move shared by every stock."""

from __future__ import annotations

import numpy as np
import pandas as pd

HORIZON = 5


def drift_panel(
    tickers: int = 30, days: int = 360, *, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stocks with a persistent drift each (what mean drift finds) plus a per-date signal that
    only a cross-sectional model can read (``rank_signal``), and a raw column ``market`` that is
    the same for every stock on a date and moves every return that day."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2015-01-05 21:00", periods=days, freq="B", tz="UTC")
    market = rng.normal(scale=0.02, size=days)
    rows = []
    drifts = rng.normal(scale=0.004, size=tickers)
    for i in range(tickers):
        signal = rng.normal(size=days)
        actual = drifts[i] + 0.004 * signal + market + rng.normal(scale=0.02, size=days)
        rows.append(
            pd.DataFrame(
                {
                    "ticker": f"T{i:02d}",
                    "ts": ts,
                    "signal": signal,
                    "market": market,
                    "log_return_1": rng.normal(scale=0.02, size=days),
                    f"log_return_{HORIZON}": rng.normal(scale=0.04, size=days),
                    "momentum_252_skip_21": rng.normal(scale=0.2, size=days),
                    "actual": actual,
                    "next_return": rng.normal(scale=0.01, size=days),
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    frame["rank_signal"] = frame.groupby("ts")["signal"].rank(pct=True)
    frame["rank_noise"] = rng.uniform(size=len(frame))
    position = {t: i for i, t in enumerate(ts)}
    frame["known_at"] = [ts[min(position[t] + HORIZON, days - 1)] for t in frame["ts"]]
    frame.loc[frame["ts"] > ts[days - 1 - HORIZON], "actual"] = np.nan
    design = frame.drop(columns=["actual", "next_return", "known_at"])
    labels = frame.loc[:, ["ticker", "ts", "actual", "known_at", "next_return"]]
    return design, labels
