"""Walk-forward evaluation: leakage shows (and the pipeline does not leak), tuning and
calibration never see the test block, intervals cover, baselines do what they say."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import ModelError
from stockpred.models.base import TrainingWindow, as_target, feature_columns
from stockpred.models.baselines import BASELINES, make_baseline
from stockpred.models.evaluation import Candidate, evaluate_walk_forward
from stockpred.models.walkforward import WalkForward

HORIZON = 5


def sessions(n: int) -> pd.DatetimeIndex:
    first = pd.Timestamp("2015-01-02")
    cal = get_trading_calendar("XNYS", first, first + pd.Timedelta(days=2 * n + 30))
    days = cal.sessions_between(first, first + pd.Timedelta(days=2 * n + 30))[:n]
    return cal.session_closes(days)


def panel(
    tickers: int = 12, days: int = 320, *, seed: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A design frame with a weak real signal and pure noise, and its labels."""
    rng = np.random.default_rng(seed)
    ts = sessions(days)
    rows = []
    for i in range(tickers):
        signal = rng.normal(size=days)
        actual = 0.3 * signal + rng.normal(size=days)
        rows.append(
            pd.DataFrame(
                {
                    "ticker": f"T{i:02d}",
                    "ts": ts,
                    "signal": signal,
                    "noise": rng.normal(size=days),
                    "log_return_1": rng.normal(scale=0.02, size=days),
                    f"log_return_{HORIZON}": rng.normal(scale=0.04, size=days),
                    "momentum_252_skip_21": rng.normal(scale=0.2, size=days),
                    "actual": actual,
                    "next_return": rng.normal(scale=0.01, size=days),
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    position = {t: i for i, t in enumerate(ts)}
    later = [ts[min(position[t] + HORIZON, days - 1)] for t in frame["ts"]]
    frame["known_at"] = pd.DatetimeIndex(later)
    frame.loc[frame["ts"] > ts[days - 1 - HORIZON], "actual"] = np.nan
    design = frame.drop(columns=["actual", "next_return", "known_at"])
    labels = frame.loc[:, ["ticker", "ts", "actual", "known_at", "next_return"]]
    return design, labels


class LeastSquares:
    """A plain linear regression on chosen columns (or all features), for these tests."""

    def __init__(
        self, columns: tuple[str, ...] = (), *, log: list[tuple[str, object]] | None = None
    ):
        self._columns = columns
        self._coef = np.zeros(0)
        self._window: TrainingWindow | None = None
        self._log = log

    name = "least_squares"
    params: Mapping[str, object] = {}

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._columns

    @property
    def window(self) -> TrainingWindow | None:
        return self._window

    def fit(self, X: pd.DataFrame, y: pd.Series) -> None:
        self._columns = self._columns or feature_columns(X)
        A = np.column_stack([np.ones(len(X)), X[list(self._columns)].to_numpy(dtype=float)])
        self._coef = np.linalg.lstsq(A, as_target(y), rcond=None)[0]
        self._window = TrainingWindow.of(X)
        if self._log is not None:
            self._log.append(("fit", pd.DatetimeIndex(X["ts"]).max()))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self._log is not None:
            self._log.append(("predict", pd.DatetimeIndex(X["ts"]).min()))
        A = np.column_stack([np.ones(len(X)), X[list(self._columns)].to_numpy(dtype=float)])
        return A @ self._coef

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        return None

    def save(self, directory: Path) -> None:
        raise NotImplementedError


SPEC = WalkForward(horizon=HORIZON, min_train=120, test_size=40, embargo=2)


def mean_rank_ic(predictions: pd.DataFrame, model: str) -> float:
    rows = predictions[predictions["model"] == model]
    daily = rows.groupby("ts").apply(
        lambda d: d["prediction"].rank().corr(d["actual"].rank()), include_groups=False
    )
    return float(daily.mean())


def test_a_feature_shifted_from_the_future_looks_too_good_and_the_honest_ones_do_not() -> None:
    design, labels = panel()
    leaked = design.merge(labels[["ticker", "ts", "actual"]], on=["ticker", "ts"])
    leaked = leaked.rename(columns={"actual": "future"}).fillna({"future": 0.0})
    candidates = [
        Candidate("random_walk", lambda p: make_baseline("random_walk", horizon=HORIZON)),
        Candidate("honest", lambda p: LeastSquares(("signal", "noise"))),
        Candidate("noise_only", lambda p: LeastSquares(("noise",))),
        Candidate("leaky", lambda p: LeastSquares(("future",))),
    ]

    result = evaluate_walk_forward(leaked, labels, candidates, spec=SPEC)

    assert mean_rank_ic(result.predictions, "leaky") > 0.95
    honest = mean_rank_ic(result.predictions, "honest")
    assert 0.15 < honest < 0.45  # the generated signal's true rank correlation is about 0.29
    assert abs(mean_rank_ic(result.predictions, "noise_only")) < 0.08


def test_no_fit_ever_sees_a_label_that_ends_after_the_test_block_starts() -> None:
    design, labels = panel()
    log: list[tuple[str, object]] = []
    grid = ({"columns": ("signal",)}, {"columns": ("noise",)})
    candidates = [
        Candidate("random_walk", lambda p: make_baseline("random_walk", horizon=HORIZON)),
        Candidate("spy", lambda p: LeastSquares(p["columns"], log=log), grid=grid),  # type: ignore[arg-type]
    ]

    result = evaluate_walk_forward(design, labels, candidates, spec=SPEC)

    dates = pd.DatetimeIndex(design["ts"]).unique().sort_values()
    for fold in result.folds:
        start = dates.get_loc(fold.test[0])
        assert dates.get_loc(fold.train[-1]) <= start - HORIZON - SPEC.embargo - 1
    # Every fit of a fold ends before that fold's test block, by more than the horizon.
    per_fold = result.choices[result.choices["model"] == "spy"]
    assert len(per_fold) == len(result.folds)
    fits = [when for kind, when in log if kind == "fit"]
    assert len(fits) == len(result.folds) * (len(grid) + 2)
    for fold, chunk in zip(
        result.folds, np.array_split(np.array(fits), len(result.folds)), strict=True
    ):
        assert all(dates.get_loc(t) < dates.get_loc(fold.test[0]) - HORIZON for t in chunk)
    # Tuning picked the real signal in every fold.
    assert all(p == {"columns": ("signal",)} for p in per_fold["params"])


def test_split_conformal_intervals_cover_about_the_nominal_share() -> None:
    design, labels = panel(tickers=20, days=400)
    candidates = [
        Candidate("random_walk", lambda p: make_baseline("random_walk", horizon=HORIZON)),
        Candidate("honest", lambda p: LeastSquares(("signal",))),
    ]

    result = evaluate_walk_forward(design, labels, candidates, spec=SPEC, coverage=0.8)

    rows = result.predictions
    inside = (rows["lower"] <= rows["actual"]) & (rows["actual"] <= rows["upper"])
    for model, share in inside.groupby(rows["model"]).mean().items():
        assert 0.74 < share < 0.86, model


def test_every_baseline_runs_and_random_walk_predicts_zero() -> None:
    design, labels = panel()
    candidates = [
        Candidate(name, lambda p, name=name: make_baseline(name, horizon=HORIZON))
        for name in BASELINES
    ]

    result = evaluate_walk_forward(design, labels, candidates, spec=SPEC)

    rows = result.predictions
    assert set(rows["model"]) == set(BASELINES)
    assert (rows.loc[rows["model"] == "random_walk", "prediction"] == 0).all()
    assert rows["prediction"].notna().all()
    reversal = rows[rows["model"] == "reversal"].merge(design, on=["ticker", "ts"])
    assert (np.sign(reversal["prediction"]) == -np.sign(reversal["log_return_1"])).all()


def test_mean_drift_predicts_each_tickers_training_mean() -> None:
    design, labels = panel(tickers=2, days=60)
    labels = labels.assign(actual=np.where(design["ticker"] == "T00", 0.01, -0.02))
    model = make_baseline("mean_drift", horizon=HORIZON)
    model.fit(design, labels["actual"])

    prediction = model.predict(design.assign(ticker=["T00", "T01", "ZZZ"] * 40))

    assert prediction[:3] == pytest.approx([0.01, -0.02, -0.005])


def test_a_baseline_without_its_feature_says_which() -> None:
    design, labels = panel(tickers=2, days=60)
    with pytest.raises(ModelError, match="momentum_252_skip_21"):
        make_baseline("momentum", horizon=HORIZON).fit(
            design.drop(columns="momentum_252_skip_21"), labels["actual"].fillna(0)
        )


def test_cross_sectional_targets_use_only_the_same_dates_labels() -> None:
    from stockpred.models.evaluation import cross_sectional_target

    ts = sessions(2)
    frame = pd.DataFrame(
        {
            "ts": [ts[0], ts[0], ts[0], ts[1], ts[1]],
            "actual": [0.03, 0.01, -0.01, 0.5, np.nan],
        }
    )

    excess = cross_sectional_target(frame, "excess")
    rank = cross_sectional_target(frame, "rank")

    np.testing.assert_allclose(excess.iloc[:3], [0.02, 0.0, -0.02], atol=1e-15)
    assert excess.iloc[3] == 0.0
    assert np.isnan(excess.iloc[4])
    np.testing.assert_allclose(rank.iloc[:3], [0.5, 1 / 6, -1 / 6])
    with pytest.raises(ModelError, match="target"):
        cross_sectional_target(frame, "sharpe")


def test_a_rank_target_is_scored_against_the_raw_return() -> None:
    design, labels = panel()
    candidates = [
        Candidate("random_walk", lambda p: make_baseline("random_walk", horizon=HORIZON)),
        Candidate("honest", lambda p: LeastSquares(("signal", "noise"))),
    ]

    result = evaluate_walk_forward(design, labels, candidates, spec=SPEC, target="rank")

    rows = result.predictions[result.predictions["model"] == "honest"]
    merged = rows.merge(labels, on=["ticker", "ts"], suffixes=("", "_label"))
    np.testing.assert_array_equal(merged["actual"], merged["actual_label"])
    assert rows["prediction"].abs().max() < 1.0  # on the rank scale, within +-0.5
    assert mean_rank_ic(result.predictions, "honest") > 0.15
