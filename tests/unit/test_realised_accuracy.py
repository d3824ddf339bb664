"""Realised accuracy: matured forecasts only, the offline figures on a window, and the streak
of sessions the champion trailed the best baseline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from stockpred.models.metrics import score
from stockpred.monitor.accuracy import (
    BASELINE_ROLE,
    CHAMPION_ROLE,
    below_baseline_streak,
    matured,
    window_scores,
)

DATES = pd.bdate_range("2024-01-01", periods=30, tz="UTC")
TICKERS = [f"T{i}" for i in range(8)]


def _rows(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame([(t, d) for d in DATES for t in TICKERS], columns=["ticker", "ts"])
    frame["actual"] = rng.normal(0, 0.02, len(frame))
    frame["prediction"] = 0.5 * frame["actual"] + rng.normal(0, 0.02, len(frame))
    frame["lower"] = frame["prediction"] - 0.03
    frame["upper"] = frame["prediction"] + 0.03
    frame["next_return"] = frame["actual"]
    return frame


def test_only_forecasts_whose_label_is_known_by_now_are_scored() -> None:
    rows = _rows()
    ledger = rows.rename(columns={"ts": "as_of", "prediction": "value"})
    labels = rows.loc[:, ["ticker", "ts", "actual", "next_return"]].assign(
        known_at=rows["ts"] + pd.Timedelta(days=7)
    )
    now = DATES[10] + pd.Timedelta(days=7)
    got = matured(ledger, labels, now=now)
    assert got["ts"].max() == DATES[10]
    assert len(got) == 11 * len(TICKERS)


def test_window_figures_are_the_offline_score_of_the_same_rows() -> None:
    rows = _rows()
    baselines = {"mean_drift": np.full(len(rows), 0.001), "reversal": -rows["actual"].to_numpy()}
    got = window_scores(rows, baselines, horizon=1, champion="ridge", return_units=True)
    frames = [rows.assign(model="ridge")]
    for name, values in baselines.items():
        frames.append(rows.assign(model=name, prediction=values, lower=math.nan, upper=math.nan))
    frames.append(rows.assign(model="random_walk", prediction=0.0, lower=math.nan, upper=math.nan))
    offline = score(pd.concat(frames).assign(horizon=1, fold=0), resamples=5).set_index("model")
    mine = got.set_index("model")
    assert set(mine.index) == {"ridge", "mean_drift", "reversal"}
    assert mine.loc["ridge", "role"] == CHAMPION_ROLE
    assert mine.loc["reversal", "role"] == BASELINE_ROLE
    for name in mine.index:
        # A constant forecast (mean drift here) ranks nothing: NaN on both sides.
        assert mine.loc[name, "rank_ic"] == pytest.approx(
            offline.loc[name, "rank_ic_mean"], nan_ok=True
        )
        assert mine.loc[name, "mae"] == pytest.approx(offline.loc[name, "mae"])
    assert mine.loc["ridge", "coverage"] == pytest.approx(offline.loc["ridge", "coverage"])
    # A perfect contrarian of the outcome has a rank IC of -1.
    assert mine.loc["reversal", "rank_ic"] == pytest.approx(-1.0)


def test_a_rank_target_champion_has_no_figures_in_return_units() -> None:
    got = window_scores(_rows(), {}, horizon=1, champion="ridge", return_units=False)
    ridge = got.set_index("model").loc["ridge"]
    assert math.isfinite(ridge["rank_ic"])
    assert math.isnan(ridge["mae"])
    assert math.isnan(ridge["hit_rate"])


def _history(champion: list[float], baseline: list[float]) -> pd.DataFrame:
    rows = []
    for day, (mine, theirs) in enumerate(zip(champion, baseline, strict=True)):
        rows.append({"session": DATES[day], "role": CHAMPION_ROLE, "model": "m", "rank_ic": mine})
        rows.append({"session": DATES[day], "role": BASELINE_ROLE, "model": "b", "rank_ic": theirs})
    return pd.DataFrame(rows)


def test_the_streak_counts_the_latest_sessions_in_a_row_below_the_best_baseline() -> None:
    history = _history([0.1, 0.0, 0.01, 0.02, 0.0], [0.05, 0.05, 0.05, 0.05, 0.05])
    assert below_baseline_streak(history, list(DATES[:5])) == 4
    history = _history([0.0, 0.0, 0.09, 0.0, 0.0], [0.05] * 5)
    assert below_baseline_streak(history, list(DATES[:5])) == 2


def test_a_session_without_figures_ends_the_streak() -> None:
    history = _history([0.0, math.nan, 0.0], [0.05, 0.05, 0.05])
    assert below_baseline_streak(history, list(DATES[:3])) == 1


def test_a_baseline_that_serves_is_scored_once_as_the_champion_against_the_others() -> None:
    rows = _rows()
    baselines = {
        "ar1": rows["prediction"].to_numpy(),
        "random_walk": np.zeros(len(rows)),
        "reversal": -rows["actual"].to_numpy(),
    }
    for champion in ("ar1", "random_walk"):
        got = window_scores(rows, baselines, horizon=1, champion=champion, return_units=True)
        assert got["model"].tolist().count(champion) == 1
        assert got.set_index("model").loc[champion, "role"] == CHAMPION_ROLE
        assert set(got["model"]) == set(baselines)
