"""The research protocol's cells: disjoint ticker groups x disjoint test periods.

A claim of skill holds only when it holds in several cells (DESIGN.md, invariant 4). The ticker
groups come from a fixed hash of the symbol (not from anything about the stock), so nobody can
pick a favourable split; the periods are consecutive test years. Each cell is scored by the mean
daily rank IC of a model's out-of-sample predictions there, with its Newey-West t.

Pure: frames in, frames out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.models.metrics import long_run_variance

__all__ = [
    "cell_table",
    "daily_rank_ic",
    "period_labels",
    "pooled_table",
    "ticker_group",
    "wins_against_baselines",
]

# Fewer tickers than this on a date and its rank IC is not counted.
_MIN_TICKERS = 5


def ticker_group(ticker: str, *, groups: int = 2) -> int:
    """The group (0 .. groups-1) of ``ticker``: the first 8 bytes of SHA-256 of the upper-case
    symbol, modulo ``groups``. Fixed forever, so a split cannot be chosen after the fact."""
    if groups < 1:
        raise ModelError(f"groups must be at least 1, got {groups}")
    digest = hashlib.sha256(ticker.strip().upper().encode()).digest()
    return int.from_bytes(digest[:8], "big") % groups


def period_labels(ts: pd.Series, starts: Sequence[pd.Timestamp]) -> pd.Series:
    """The period label of each timestamp: ``P1`` from ``starts[0]``, ``P2`` from ``starts[1]``,
    ...; NaN before the first start. ``starts`` must be increasing."""
    bounds = pd.DatetimeIndex(list(starts))
    if len(bounds) == 0 or not bounds.is_monotonic_increasing:
        raise ModelError(f"period starts must be a non-empty increasing list, got {list(starts)}")
    stamps = pd.DatetimeIndex(ts)
    position = bounds.searchsorted(stamps, side="right")
    labels = np.array([f"P{i}" if i > 0 else None for i in position], dtype=object)
    return pd.Series(labels, index=ts.index)


def daily_rank_ic(predictions: pd.DataFrame, *, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per model, date (and ``by`` columns): the Spearman correlation of ``prediction`` with
    ``actual`` across tickers. Dates with fewer than 5 tickers, or where either side is
    constant, are left out. Columns: model, *by, ts, rank_ic."""
    keys = ["model", *by, "ts"]
    frame = predictions.loc[:, [*keys, "prediction", "actual"]].dropna(subset=["actual"])
    grouped = frame.groupby(keys, sort=True)
    ranked = frame.assign(
        p=grouped["prediction"].rank(method="average"), a=grouped["actual"].rank(method="average")
    )
    ranked["pa"] = ranked["p"] * ranked["a"]
    ranked["pp"] = ranked["p"] ** 2
    ranked["aa"] = ranked["a"] ** 2
    sums = ranked.groupby(keys, sort=True)[["p", "a", "pa", "pp", "aa"]].sum()
    n = ranked.groupby(keys, sort=True).size()
    cov = sums["pa"] - sums["p"] * sums["a"] / n
    var_p = sums["pp"] - sums["p"] ** 2 / n
    var_a = sums["aa"] - sums["a"] ** 2 / n
    usable = (n >= _MIN_TICKERS) & (var_p > 1e-12) & (var_a > 1e-12)
    ic = (cov / np.sqrt(var_p * var_a)).where(usable)
    return pd.DataFrame(ic.dropna().rename("rank_ic").reset_index())


def _summary(values: np.ndarray, horizon: int) -> tuple[float, float, int]:
    """Mean, Newey-West t (lags horizon - 1, the overlap of h-day labels) and count."""
    n = len(values)
    if n < 2:
        return (float(values.mean()) if n else float("nan"), float("nan"), n)
    se = float(np.sqrt(long_run_variance(values, lags=max(horizon - 1, 0)) / n))
    mean = float(values.mean())
    return mean, (mean / se if se > 0 else float("nan")), n


def cell_table(daily: pd.DataFrame, *, horizon: int) -> pd.DataFrame:
    """Per model and cell (``group``, ``period``): mean daily rank IC, its Newey-West t and the
    dates. ``daily``: the output of :func:`daily_rank_ic` with ``by=("group", "period")``."""
    rows = []
    for (model, group, period), cell in daily.groupby(["model", "group", "period"], sort=True):
        mean, t, n = _summary(cell["rank_ic"].to_numpy(np.float64), horizon)
        rows.append(
            {"model": model, "group": group, "period": period, "rank_ic": mean, "t": t, "dates": n}
        )
    return pd.DataFrame(rows, columns=["model", "group", "period", "rank_ic", "t", "dates"])


def pooled_table(daily: pd.DataFrame, *, horizon: int) -> pd.DataFrame:
    """Per model over every cell: the mean over dates of the groups' mean daily rank IC (each
    date counts once), its Newey-West t and the dates."""
    per_date = daily.groupby(["model", "ts"], sort=True)["rank_ic"].mean().reset_index()
    rows = []
    for model, series in per_date.groupby("model", sort=True):
        mean, t, n = _summary(series["rank_ic"].to_numpy(np.float64), horizon)
        rows.append({"model": model, "rank_ic": mean, "t": t, "dates": n})
    return pd.DataFrame(rows, columns=["model", "rank_ic", "t", "dates"])


def wins_against_baselines(cells: pd.DataFrame, *, baselines: Sequence[str]) -> pd.DataFrame:
    """Per model that is not a baseline: in how many cells its rank IC is above the best
    baseline's in that same cell (chosen after the fact, the strictest comparison), out of how
    many. Columns: model, wins, cells."""
    if cells.empty:
        return pd.DataFrame(columns=["model", "wins", "cells"])
    table = cells.pivot_table(index=["group", "period"], columns="model", values="rank_ic")
    present = [b for b in baselines if b in table.columns]
    if not present:
        raise ModelError("no baseline in the cell table; evaluate the baselines too")
    best = table[present].max(axis=1)
    rows = []
    for model in table.columns:
        if model in baselines:
            continue
        beats = table[model] > best
        rows.append({"model": model, "wins": int(beats.sum()), "cells": len(table)})
    return pd.DataFrame(rows, columns=["model", "wins", "cells"])
