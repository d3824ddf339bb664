"""Prediction intervals from a GARCH(1,1) volatility forecast, the second method beside split
conformal.

Per ticker, a zero-mean GARCH(1,1) with Student-t errors (``arch``) is fitted on the daily log
returns of the training window only. With those parameters fixed, the conditional variance is
filtered forward through each later day, and the variance of the h-day return is the sum of
the 1..h-step-ahead forecasts made at each forecast origin, so a test-block interval at date t
uses returns up to t and nothing after. The interval is prediction ± z·sigma_h with z the normal
quantile of the nominal coverage (the Student-t of the daily shocks is not carried to the h-day
sum; the empirical coverage reported beside it shows how much that matters).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from arch import arch_model
from scipy.stats import norm

__all__ = ["garch_sigma", "interval_halfwidth"]

# Fewer training returns than this and a ticker gets no GARCH interval (NaN).
MIN_RETURNS = 250
# arch works best on returns in percent.
_SCALE = 100.0


def garch_sigma(
    returns: pd.DataFrame,
    *,
    train_end: pd.Timestamp,
    horizon: int,
) -> pd.DataFrame:
    """sigma of the ``horizon``-day log return forecast at each date after ``train_end``.

    ``returns``: ticker, ts, ret (daily log return from the previous bar to ts), sorted or not.
    Parameters are estimated per ticker on rows with ``ts <= train_end``; the result has
    ticker, ts, sigma for every later row (NaN where a ticker has too little history or the
    fit fails).
    """
    pieces = []
    for ticker, group in returns.sort_values(["ticker", "ts"]).groupby("ticker", sort=False):
        rows = group.dropna(subset=["ret"])
        ts = pd.DatetimeIndex(rows["ts"])
        values = rows["ret"].to_numpy(dtype="float64") * _SCALE
        split = int(ts.searchsorted(train_end, side="right"))
        later = ts[split:]
        if len(later) == 0:
            continue
        sigma = np.full(len(later), np.nan)
        if split >= MIN_RETURNS:
            sigma = _forecast(values, split, horizon)
        pieces.append(pd.DataFrame({"ticker": ticker, "ts": later, "sigma": sigma}))
    if not pieces:
        return pd.DataFrame({"ticker": [], "ts": [], "sigma": []})
    return pd.concat(pieces, ignore_index=True)


def _forecast(values: np.ndarray, split: int, horizon: int) -> np.ndarray:
    """sigma_h at each origin from ``split`` on, parameters fitted on ``values[:split]``."""
    model = arch_model(values, mean="Zero", vol="GARCH", p=1, q=1, dist="t", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fitted = model.fit(last_obs=split, disp="off", show_warning=False)
            forecast = fitted.forecast(horizon=horizon, start=split, reindex=False)
        except (ValueError, np.linalg.LinAlgError, RuntimeError):
            return np.full(len(values) - split, np.nan)
    variance = forecast.variance.to_numpy(dtype="float64").sum(axis=1)
    sigma: np.ndarray = np.sqrt(variance) / _SCALE
    return sigma


def interval_halfwidth(sigma: np.ndarray | pd.Series, coverage: float) -> np.ndarray:
    """z * sigma for a two-sided normal interval of ``coverage``."""
    if not 0.0 < coverage < 1.0 or math.isnan(coverage):
        raise ValueError(f"coverage must be between 0 and 1, got {coverage}")
    scaled: np.ndarray = np.asarray(sigma, dtype="float64") * float(norm.ppf(0.5 + coverage / 2))
    return scaled
