"""GARCH intervals: about the nominal coverage on GARCH returns, and point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockpred.models.garch import garch_sigma, interval_halfwidth


def simulated(n: int = 1500, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 1e-6, 0.08, 0.9
    variance = np.empty(n)
    returns = np.empty(n)
    variance[0] = omega / (1 - alpha - beta)
    for t in range(n):
        if t > 0:
            variance[t] = omega + alpha * returns[t - 1] ** 2 + beta * variance[t - 1]
        returns[t] = np.sqrt(variance[t]) * rng.standard_t(6) / np.sqrt(1.5)
    ts = pd.date_range("2010-01-01", periods=n, freq="B", tz="UTC")
    return pd.DataFrame({"ticker": "AAA", "ts": ts, "ret": returns})


def test_five_day_intervals_cover_about_the_nominal_share_out_of_sample() -> None:
    frame = simulated()
    ts = pd.DatetimeIndex(frame["ts"])

    sigma = garch_sigma(frame, train_end=ts[999], horizon=5)

    assert sigma["ts"].iloc[0] == ts[1000]
    forward = frame["ret"].rolling(5).sum().shift(-5).to_numpy()[1000:]
    half = interval_halfwidth(sigma["sigma"], 0.9)
    usable = ~np.isnan(forward)
    share = np.mean(np.abs(forward[usable]) <= half[usable])
    assert 0.86 < share < 0.94


def test_sigma_at_t_ignores_returns_after_t() -> None:
    frame = simulated()
    ts = pd.DatetimeIndex(frame["ts"])
    changed = frame.copy()
    changed.loc[1200:, "ret"] *= 5.0

    before = garch_sigma(frame, train_end=ts[999], horizon=5).set_index("ts")["sigma"]
    after = garch_sigma(changed, train_end=ts[999], horizon=5).set_index("ts")["sigma"]

    np.testing.assert_allclose(before.loc[: ts[1199]], after.loc[: ts[1199]], rtol=1e-12)
    assert (after.loc[ts[1201] :] > before.loc[ts[1201] :]).mean() > 0.9


def test_a_ticker_with_too_little_history_gets_no_interval() -> None:
    frame = simulated(300)
    ts = pd.DatetimeIndex(frame["ts"])

    sigma = garch_sigma(frame, train_end=ts[99], horizon=1)

    assert sigma["sigma"].isna().all()
