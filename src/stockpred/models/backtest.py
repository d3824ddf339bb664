"""Daily portfolios built from out-of-sample predictions, before and after transaction costs.

Each date, per model, the tickers are ranked by prediction and two portfolios are held for one
bar (from ``ts`` to the next bar, earning ``next_return``):

- ``long_short``: long the top k at +1/(2k) each, short the bottom k at -1/(2k) each (gross 1);
- ``long_only``: the top k at 1/k each.

k is fixed for the whole backtest: ``min(k, median tickers per date // 2)``, so a small
universe (the 5-stock sample gives k = 2) shrinks it once rather than day by day; a constant k
keeps every day's portfolio equally concentrated, so its daily returns are comparable. Dates with
fewer than 2k tickers are skipped (``skipped_dates``). Tied predictions at the edge of a leg
share its remaining slots equally rather than being picked by name: a model that predicts the
same value for every ticker (the random walk) holds nothing long-short and the equal-weight
universe long-only.

A model whose forecasts are equal across tickers on (nearly) every traded date, at least
:data:`NO_PICK_SHARE` of them (the random walk's are all zero), picks nothing: which tickers it
"holds" is an artefact of the tie rule, so its performance figures and turnover are NaN ("-" in
tables, null in JSON); ``tied_dates`` counts the dates with no spread in the forecasts. The
daily rows are kept, as the rule made them.

A held ticker whose next bar is missing (a halt or a data gap: its h-day label may still be
known) earns 0 that day rather than leaving the universe, which would use knowledge of the gap
before it happened; ``missing_returns`` counts such held positions.

Turnover on day t is sum_i |w_t,i - w_t-1,i| against the previous traded day's target weights
(price drift in between is ignored) and starts from cash, so the first day pays to enter. Costs
are turnover x cost_bps / 1e4, taken from that day's return.

``rebalance`` = n re-forms the portfolios on every n-th traded date only and keeps the weights in
between (a forecast of the h-day return is naturally held h days): turnover, and so cost, falls
about n-fold, at the price of acting on older forecasts. With n = 1 (the default) every date
trades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockpred.models.metrics import validate_predictions

__all__ = [
    "DAILY_COLUMNS",
    "NO_PICK_SHARE",
    "PORTFOLIO_KINDS",
    "SUMMARY_COLUMNS",
    "TRADING_DAYS",
    "BacktestResult",
    "backtest",
    "compute_max_drawdown",
    "hold_weights",
    "picks_nothing",
    "portfolio_weights",
]

PORTFOLIO_KINDS = ("long_short", "long_only")
TRADING_DAYS = 252
_PERFORMANCE = (
    "ann_return", "ann_volatility", "sharpe", "sharpe_se", "max_drawdown", "hit_rate",
    "total_return",
)  # fmt: skip
SUMMARY_COLUMNS: tuple[str, ...] = (
    "model", "kind", "k", "cost_bps", "rebalance", "days", "skipped_dates", "tied_dates",
    "turnover", "missing_returns",
    *(f"{name}_{basis}" for basis in ("gross", "net") for name in _PERFORMANCE),
)  # fmt: skip
DAILY_COLUMNS = ("ts", "model", "kind", "gross", "net", "turnover", "equity")
# Forecasts tied across tickers on at least this share of traded dates: the model picks nothing.
NO_PICK_SHARE = 0.95


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """``summary``: one row per (model, kind), :data:`SUMMARY_COLUMNS`; ``daily``: one row per
    (ts, model, kind) traded, :data:`DAILY_COLUMNS` (``equity``: compounded net, starting at 1)."""

    summary: pd.DataFrame
    daily: pd.DataFrame
    k: int
    cost_bps: float
    rebalance: int = 1


def compute_max_drawdown(returns: np.ndarray) -> float:
    """Largest fall of compounded equity from its running peak, as a fraction <= 0.

    returns: simple daily returns, shape (n,). Equity starts at 1 (a peak too), so a loss on
    the first day counts. 0.0 for an empty or never-falling series; -0.25 is a 25% drawdown.
    """
    r = np.asarray(returns, dtype=np.float64)
    if len(r) == 0:
        return 0.0
    equity = np.cumprod(1.0 + r)
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    return float(min(0.0, np.min(equity / peak - 1.0)))


def _leg_share(values: np.ndarray, *, k: int, descending: bool) -> np.ndarray:
    """Per cell, the share (0..1) of a slot in the k-ticker leg; NaN cells get 0."""
    frame = pd.DataFrame(values)
    low = frame.rank(axis=1, method="min", ascending=not descending).to_numpy(np.float64)
    high = frame.rank(axis=1, method="max", ascending=not descending).to_numpy(np.float64)
    ahead = low - 1.0  # tickers strictly better placed
    tied = high - low + 1.0
    share: np.ndarray = np.nan_to_num(np.clip(k - ahead, 0.0, tied) / tied, nan=0.0)
    return share


def portfolio_weights(predictions: np.ndarray, *, k: int) -> dict[str, np.ndarray]:
    """Target weights per portfolio kind from predictions (float, (dates, tickers), NaN = not
    in the universe that date); same shape, 0 where not held. See the module docstring."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    top = _leg_share(predictions, k=k, descending=True)
    bottom = _leg_share(predictions, k=k, descending=False)
    return {"long_short": (top - bottom) / (2 * k), "long_only": top / k}


def _performance(returns: np.ndarray) -> dict[str, float]:
    """Annualised return and volatility, Sharpe with its Lo (2002) i.i.d. standard error,
    max drawdown, share of positive days and compounded total return."""
    n = len(returns)
    nan = float("nan")
    if n == 0:
        return dict.fromkeys(_PERFORMANCE, nan)
    mean = float(returns.mean())
    std = float(returns.std(ddof=1)) if n > 1 else nan
    daily_sharpe = mean / std if std > 0 else nan
    return {
        "ann_return": mean * TRADING_DAYS,
        "ann_volatility": std * np.sqrt(TRADING_DAYS),
        "sharpe": daily_sharpe * np.sqrt(TRADING_DAYS),
        "sharpe_se": float(np.sqrt((1 + daily_sharpe**2 / 2) / n * TRADING_DAYS)),
        "max_drawdown": compute_max_drawdown(returns),
        "hit_rate": float(np.mean(returns > 0)),
        "total_return": float(np.prod(1.0 + returns) - 1.0),
    }


def _tied(forecast: np.ndarray) -> np.ndarray:
    """Per date (row), whether every forecast (NaN = not in the universe) is the same."""
    present = np.isfinite(forecast)
    if forecast.size == 0:
        return np.zeros(len(forecast), dtype=bool)
    high = np.max(np.where(present, forecast, -np.inf), axis=1)
    low = np.min(np.where(present, forecast, np.inf), axis=1)
    scale = np.maximum(np.abs(high), np.abs(low))
    return np.asarray(present.any(axis=1) & (high - low <= 1e-12 * np.maximum(scale, 1.0)))


def picks_nothing(*, tied_dates: int, days: int) -> bool:
    """Whether forecasts tied across tickers on ``tied_dates`` of ``days`` traded dates pick
    nothing (see the module docstring); no traded date picks nothing either."""
    return tied_dates >= NO_PICK_SHARE * days


def _effective_k(counts: np.ndarray, k: int) -> int:
    return max(1, min(k, int(np.median(counts)) // 2))


def hold_weights(weights: np.ndarray, *, rebalance: int) -> np.ndarray:
    """Weights (dates, tickers) re-formed only on rows 0, n, 2n, ...; other rows repeat the last
    re-formed row. ``rebalance`` = 1 returns ``weights`` unchanged."""
    if rebalance < 1:
        raise ValueError(f"rebalance must be >= 1, got {rebalance}")
    if rebalance == 1:
        return weights
    formed = (np.arange(len(weights)) // rebalance) * rebalance
    held: np.ndarray = weights[formed]
    return held


def backtest(
    predictions: pd.DataFrame, *, k: int = 10, cost_bps: float = 5.0, rebalance: int = 1
) -> BacktestResult:
    """Long-short and long-only top-k portfolios per model, gross and net of ``cost_bps``
    (basis points per unit of turnover), re-formed every ``rebalance`` traded dates. See the
    module docstring for the rules."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if rebalance < 1:
        raise ValueError(f"rebalance must be >= 1 (dates between re-forming), got {rebalance}")
    if not np.isfinite(cost_bps) or cost_bps < 0:
        raise ValueError(f"cost_bps must be a finite number >= 0, got {cost_bps}")
    frame = validate_predictions(predictions)
    summaries: list[dict[str, object]] = []
    dailies: list[pd.DataFrame] = []
    k_used = k
    for model, rows in frame.groupby("model", sort=True):
        wide = rows.pivot(index="ts", columns="ticker", values=["prediction", "next_return"])
        forecast = wide["prediction"].to_numpy(np.float64)
        next_return = wide["next_return"].to_numpy(np.float64)
        realised = np.nan_to_num(next_return, nan=0.0)
        unknown = np.isnan(next_return)
        counts = np.isfinite(forecast).sum(axis=1)
        k_used = _effective_k(counts, k)
        traded = counts >= 2 * k_used
        dates = wide.index[traded]
        tied = int(_tied(forecast[traded]).sum())
        picks = not picks_nothing(tied_dates=tied, days=int(traded.sum()))
        weights = portfolio_weights(forecast[traded], k=k_used)
        for kind in PORTFOLIO_KINDS:
            held = hold_weights(weights[kind], rebalance=rebalance)
            previous = np.vstack([np.zeros((1, held.shape[1])), held[:-1]])
            turnover = np.abs(held - previous).sum(axis=1)
            gross = (held * realised[traded]).sum(axis=1)
            missing = int(((held != 0) & unknown[traded]).sum())
            net = gross - turnover * cost_bps / 1e4
            dailies.append(
                pd.DataFrame(
                    {
                        "ts": dates,
                        "model": str(model),
                        "kind": kind,
                        "gross": gross,
                        "net": net,
                        "turnover": turnover,
                        "equity": np.cumprod(1.0 + net),
                    }
                )
            )
            summary: dict[str, object] = {
                "model": str(model),
                "kind": kind,
                "k": k_used,
                "cost_bps": float(cost_bps),
                "rebalance": rebalance,
                "days": int(traded.sum()),
                "skipped_dates": int((~traded).sum()),
                "tied_dates": tied,
                "turnover": float(turnover.mean()) if len(turnover) and picks else float("nan"),
                "missing_returns": missing,
            }
            for basis, returns in (("gross", gross), ("net", net)):
                figures = _performance(returns)
                if not picks:
                    figures = dict.fromkeys(figures, float("nan"))
                summary |= {f"{n}_{basis}": v for n, v in figures.items()}
            summaries.append(summary)
    daily = pd.concat(dailies, ignore_index=True).loc[:, list(DAILY_COLUMNS)]
    return BacktestResult(
        summary=pd.DataFrame(summaries, columns=list(SUMMARY_COLUMNS)),
        daily=daily,
        k=k_used,
        cost_bps=float(cost_bps),
        rebalance=rebalance,
    )
