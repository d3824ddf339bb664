"""The research protocol's cells: a fixed ticker split, consecutive test periods, daily rank IC
per cell, and wins counted against the best baseline of each cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.errors import ModelError
from stockpred.models.cells import (
    cell_table,
    daily_rank_ic,
    period_labels,
    pooled_table,
    ticker_group,
    wins_against_baselines,
)


def test_the_ticker_split_is_a_fixed_hash_of_the_symbol() -> None:
    # Pinned: changing the hash would silently re-cut every published cell.
    assert [ticker_group(t) for t in ("AAPL", "MSFT", "XOM", "JPM")] == [
        ticker_group("aapl "),
        ticker_group("msft"),
        ticker_group("XOM"),
        ticker_group("JPM"),
    ]
    groups = [ticker_group(f"T{i:03d}") for i in range(400)]
    assert 160 < sum(groups) < 240  # about half in each group
    assert {ticker_group(f"T{i:03d}", groups=3) for i in range(50)} == {0, 1, 2}
    with pytest.raises(ModelError):
        ticker_group("AAPL", groups=0)


def test_the_split_of_known_symbols_does_not_change() -> None:
    assert {t: ticker_group(t) for t in ("AAPL", "MSFT", "NVDA", "XOM")} == {
        "AAPL": 1,
        "MSFT": 1,
        "NVDA": 0,
        "XOM": 1,
    }


def test_periods_are_labelled_from_their_starts_and_earlier_dates_have_none() -> None:
    ts = pd.Series(
        pd.to_datetime(["2015-06-30", "2015-07-01", "2016-07-05", "2017-07-03"], utc=True)
    )
    starts = [pd.Timestamp(s, tz="UTC") for s in ("2015-07-01", "2016-07-01", "2017-07-01")]
    labels = period_labels(ts, starts)
    assert labels.isna().tolist() == [True, False, False, False]
    assert list(labels[1:]) == ["P1", "P2", "P3"]
    with pytest.raises(ModelError, match="increasing"):
        period_labels(ts, starts[::-1])


def predictions(n_dates: int = 30, tickers: int = 8, *, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2016-01-04 21:00", periods=n_dates, freq="B", tz="UTC")
    rows = []
    for t in ts:
        actual = rng.normal(size=tickers)
        for model, prediction in (
            ("oracle", actual),
            ("contrarian", -actual),
            ("noise", rng.normal(size=tickers)),
            ("mean_drift", actual + rng.normal(scale=3.0, size=tickers)),
        ):
            rows.append(
                pd.DataFrame(
                    {
                        "model": model,
                        "ts": t,
                        "ticker": [f"T{i}" for i in range(tickers)],
                        "prediction": prediction,
                        "actual": actual,
                        "group": 0,
                        "period": "P1" if t < ts[15] else "P2",
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_daily_rank_ic_is_one_for_a_perfect_ranking_and_minus_one_for_its_reverse() -> None:
    daily = daily_rank_ic(predictions())
    by_model = daily.groupby("model")["rank_ic"]
    assert by_model.min()["oracle"] == pytest.approx(1.0)
    assert by_model.max()["contrarian"] == pytest.approx(-1.0)
    assert abs(by_model.mean()["noise"]) < 0.2
    # A date with a constant forecast is left out rather than counted as zero.
    flat = predictions()
    flat.loc[(flat["model"] == "noise") & (flat["ts"] == flat["ts"].min()), "prediction"] = 1.0
    assert len(daily_rank_ic(flat).query("model == 'noise'")) == 29


def test_cells_pooled_and_wins_count_what_they_say() -> None:
    daily = daily_rank_ic(predictions(), by=("group", "period"))
    cells = cell_table(daily, horizon=1)
    assert set(cells["period"]) == {"P1", "P2"}
    assert cells.set_index(["model", "period"]).loc[("oracle", "P1"), "dates"] == 15
    pooled = pooled_table(daily, horizon=1).set_index("model")
    assert pooled.loc["oracle", "rank_ic"] == pytest.approx(1.0)
    wins = wins_against_baselines(cells, baselines=("mean_drift",)).set_index("model")
    assert wins.loc["oracle", "wins"] == 2
    assert wins.loc["contrarian", "wins"] == 0
    assert "mean_drift" not in wins.index
    assert (wins["cells"] == 2).all()
    with pytest.raises(ModelError, match="baseline"):
        wins_against_baselines(cells, baselines=("ar1",))
