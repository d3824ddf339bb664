"""Scoring out-of-sample predictions: hand-checked figures, HAC and Diebold-Mariano against
independent computations, bootstrap intervals, and refusal of bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stockpred.models.metrics import (
    PREDICTION_COLUMNS,
    RETURN_UNIT_FIGURES,
    diebold_mariano,
    long_run_variance,
    moving_block_indices,
    score,
    score_by_fold,
    validate_predictions,
)
from stockpred.pipeline.evaluate import interval_coverage

TICKERS = ("A", "B", "C", "D", "E")
DATES = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"], tz="UTC")
# The hand-checked case, in percent: actual and the model's prediction per date and ticker.
ACTUAL = [[2, -1, 3, -2, 1], [-1, 2, 0, 1, -3], [1, 1, -2, 3, 0]]
PREDICTED = [[3, 1, 2, -1, -1], [0, 1, 2, 0, -2], [-1, 0, -1, 2, 1]]


def frame_of(
    actual: np.ndarray,
    models: dict[str, np.ndarray],
    *,
    dates: pd.DatetimeIndex,
    tickers: tuple[str, ...],
    horizon: int = 1,
    intervals: dict[str, float] | None = None,
    folds: np.ndarray | None = None,
) -> pd.DataFrame:
    """A predictions frame from (dates, tickers) arrays; ``intervals``: model -> half-width."""
    keys = pd.MultiIndex.from_product([dates, tickers], names=["ts", "ticker"]).to_frame(
        index=False
    )
    parts = []
    for name, prediction in {"random_walk": np.zeros_like(actual), **models}.items():
        part = keys.copy()
        part["horizon"] = horizon
        part["model"] = name
        part["prediction"] = np.asarray(prediction, dtype=float).ravel()
        half = (intervals or {}).get(name)
        part["lower"] = part["prediction"] - half if half is not None else np.nan
        part["upper"] = part["prediction"] + half if half is not None else np.nan
        part["actual"] = np.asarray(actual, dtype=float).ravel()
        part["next_return"] = part["actual"] / horizon
        part["fold"] = 0 if folds is None else np.repeat(folds, len(tickers))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[list(PREDICTION_COLUMNS)]


def hand_case() -> pd.DataFrame:
    return frame_of(
        np.array(ACTUAL) * 0.01,
        {"model": np.array(PREDICTED) * 0.01},
        dates=DATES,
        tickers=TICKERS,
        intervals={"model": 0.015},
    )


def synthetic(
    *, dates: int = 250, tickers: int = 20, horizon: int = 5, seed: int = 7
) -> pd.DataFrame:
    """``good`` carries a real signal, ``noise`` none."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, 0.01, (dates, tickers))
    actual = signal + rng.normal(0, 0.03, (dates, tickers))
    return frame_of(
        actual,
        {"good": signal, "noise": rng.normal(0, 0.01, (dates, tickers))},
        dates=pd.bdate_range("2022-01-03", periods=dates, tz="UTC"),
        tickers=tuple(f"T{i:02d}" for i in range(tickers)),
        horizon=horizon,
        folds=np.arange(dates) // 100,
    )


def row(scores: pd.DataFrame, model: str) -> pd.Series:
    return scores.set_index("model").loc[model]


def test_hand_checked_point_accuracy_and_direction() -> None:
    figures = row(score(hand_case()), "model")

    # Errors in percent: d1 +1 +2 -1 +1 -2, d2 +1 -1 +2 -1 +1, d3 -2 -1 +1 -1 +1.
    # Sum of squared errors 27, absolute 19, squared actuals 49, over 15 rows.
    assert figures["rmse"] == pytest.approx(np.sqrt(27 / 15) * 0.01, rel=1e-12)
    assert figures["mae"] == pytest.approx(19 / 15 * 0.01, rel=1e-12)
    assert figures["theil_u"] == pytest.approx(np.sqrt(27 / 49), rel=1e-12)
    assert figures["r2_oos"] == pytest.approx(22 / 49, rel=1e-12)
    # Zero prediction or actual on 5 rows; 7 of the other 10 signs agree.
    assert figures["da_rows"] == 10
    assert figures["da_excluded"] == 5
    assert figures["da"] == pytest.approx(0.7)
    # Two-sided exact test: P(X >= 7) + P(X <= 3) for Binomial(10, 1/2) = 2 * 176 / 1024.
    assert figures["da_p_value"] == pytest.approx(2 * 176 / 1024, rel=1e-9)
    assert (figures["n_rows"], figures["n_dates"]) == (15, 3)


def test_hand_checked_ic_and_rank_ic_are_means_of_per_date_correlations() -> None:
    figures = row(score(hand_case()), "model")

    ic = np.array([np.corrcoef(p, a)[0, 1] for p, a in zip(PREDICTED, ACTUAL, strict=True)])
    rank_ic = np.array(
        [stats.spearmanr(p, a).statistic for p, a in zip(PREDICTED, ACTUAL, strict=True)]
    )
    for prefix, series, ratio in (("ic", ic, "icir"), ("rank_ic", rank_ic, "rank_icir")):
        # h = 1: no overlap, the Newey-West standard error is the plain one with 1/n variance.
        se = np.sqrt(np.mean((series - series.mean()) ** 2) / 3)
        assert figures[f"{prefix}_mean"] == pytest.approx(series.mean(), rel=1e-12)
        assert figures[f"{prefix}_std"] == pytest.approx(series.std(ddof=1), rel=1e-12)
        assert figures[ratio] == pytest.approx(series.mean() / series.std(ddof=1), rel=1e-12)
        assert figures[f"{prefix}_t"] == pytest.approx(series.mean() / se, rel=1e-12)
        assert figures[f"{prefix}_low"] == pytest.approx(series.mean() - 1.959964 * se, rel=1e-6)
    assert (figures["ic_dates"], figures["ic_skipped"]) == (3, 0)


def test_hand_checked_coverage_counts_rows_inside_the_interval() -> None:
    scores = score(hand_case())
    figures = row(scores, "model")

    # Half-width 1.5%: the 4 rows with a 2% error fall outside.
    low, high = stats.binomtest(11, 15).proportion_ci(0.95, method="wilson")
    assert figures["coverage"] == pytest.approx(11 / 15)
    assert figures["interval_width"] == pytest.approx(0.03)
    assert figures["interval_rows"] == 15
    assert (figures["coverage_low"], figures["coverage_high"]) == pytest.approx((low, high))
    assert np.isnan(row(scores, "random_walk")["coverage"])
    assert row(scores, "random_walk")["interval_rows"] == 0


def test_random_walk_is_its_own_reference() -> None:
    figures = row(score(hand_case()), "random_walk")

    assert figures["theil_u"] == pytest.approx(1.0)
    assert figures["r2_oos"] == pytest.approx(0.0)
    assert figures["da_rows"] == 0
    assert np.isnan(figures["da"])
    assert figures["ic_skipped"] == 3  # constant predictions have no correlation
    assert np.isnan(figures["rank_ic_mean"])
    assert (figures["dm_statistic"], figures["dm_p_value"], figures["dm_better"]) == (
        0.0,
        1.0,
        "tie",
    )


def test_figures_in_return_units_are_nan_for_a_model_fitted_on_ranks() -> None:
    # The same predictions, read as percentiles (a model fitted on the rank target).
    returns = score(hand_case())

    ranks = score(hand_case(), return_units=False)

    model, walk = row(ranks, "model"), row(returns, "random_walk")
    numbers = [n for n in RETURN_UNIT_FIGURES if n != "dm_better"]
    assert model[numbers].isna().all(), model[numbers]
    assert pd.isna(model["dm_better"])
    assert {"rmse", "r2_oos", "da", "dm_p_value", "coverage"} <= set(RETURN_UNIT_FIGURES)
    # Correlations do not depend on units; the random walk's zero is a return in any units.
    assert model["rank_ic_mean"] == row(returns, "model")["rank_ic_mean"]
    assert model["ic_mean"] == row(returns, "model")["ic_mean"]
    pd.testing.assert_series_equal(row(ranks, "random_walk"), walk)


def test_fold_figures_in_return_units_are_nan_for_a_model_fitted_on_ranks() -> None:
    folds = score_by_fold(hand_case(), return_units=False).set_index("model")

    assert folds.loc["model", ["rmse", "mae", "theil_u", "r2_oos", "da", "coverage"]].isna().all()
    assert np.isfinite(folds.loc["model", "rank_ic_mean"])
    assert np.isfinite(folds.loc["random_walk", "rmse"])


def test_interval_coverage_is_nan_where_the_interval_is_not_of_the_return() -> None:
    frame = hand_case()
    frame.loc[frame["model"] == "random_walk", ["lower", "upper"]] = [-0.02, 0.02]

    returns = interval_coverage(frame, coverage=0.9).set_index("model")
    ranks = interval_coverage(frame, coverage=0.9, return_units=False).set_index("model")

    assert returns.loc["model", "coverage"] == pytest.approx(11 / 15)
    assert np.isnan(ranks.loc["model", "coverage"])
    assert np.isnan(ranks.loc["model", "mean_width"])
    assert ranks.loc["model", "rows"] == 15
    assert ranks.loc["random_walk", "coverage"] == returns.loc["random_walk", "coverage"]


def test_dates_with_fewer_than_five_tickers_are_skipped_for_ic() -> None:
    frame = hand_case()
    small = frame[~((frame["ts"] == DATES[1]) & (frame["ticker"] == "E"))]

    figures = row(score(small), "model")

    assert (figures["ic_dates"], figures["ic_skipped"]) == (2, 1)
    expected = np.mean([np.corrcoef(PREDICTED[i], ACTUAL[i])[0, 1] for i in (0, 2)])
    assert figures["ic_mean"] == pytest.approx(expected, rel=1e-12)


def loop_long_run_variance(x: np.ndarray, lags: int, *, bartlett: bool) -> float:
    """gamma_0 + 2 sum w_l gamma_l as a double sum over every pair of dates."""
    n = len(x)
    u = x - x.mean()
    total = 0.0
    for t in range(n):
        for s in range(n):
            distance = abs(t - s)
            if distance <= lags:
                weight = 1 - distance / (lags + 1) if bartlett else 1.0
                total += weight * u[t] * u[s]
    return total / n


@pytest.mark.parametrize("lags", [0, 1, 4])
@pytest.mark.parametrize("kernel", ["bartlett", "uniform"])
def test_long_run_variance_matches_a_double_loop(lags: int, kernel: str) -> None:
    x = np.random.default_rng(lags).normal(size=40).cumsum() % 3

    expected = loop_long_run_variance(x, lags, bartlett=kernel == "bartlett")

    assert long_run_variance(x, lags=lags, kernel=kernel) == pytest.approx(expected, rel=1e-12)


def test_newey_west_standard_error_matches_statsmodels_hac() -> None:
    sm = pytest.importorskip("statsmodels.api")
    x = np.random.default_rng(3).normal(size=200)
    x = x + 0.6 * np.r_[0.0, x[:-1]]

    fitted = sm.OLS(x, np.ones_like(x)).fit(
        cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": False}
    )

    assert np.sqrt(long_run_variance(x, lags=4) / len(x)) == pytest.approx(fitted.bse[0])


def test_ic_t_statistic_uses_newey_west_with_h_minus_one_lags() -> None:
    frame = synthetic(horizon=5)
    good = frame[frame["model"] == "good"]
    daily_ic = good.groupby("ts")[["prediction", "actual"]].apply(
        lambda g: g["prediction"].corr(g["actual"])
    )
    ic = daily_ic.to_numpy()
    se = np.sqrt(loop_long_run_variance(ic, 4, bartlett=True) / len(ic))

    assert row(score(frame), "good")["ic_t"] == pytest.approx(ic.mean() / se, rel=1e-10)


def loop_diebold_mariano(d: np.ndarray, h: int) -> tuple[float, float]:
    """DM (1995) with the truncated uniform kernel and the HLN (1997) correction, spelled out."""
    n = len(d)
    mean = sum(d) / n
    gamma = [sum((d[t] - mean) * (d[t - k] - mean) for t in range(k, n)) / n for k in range(h)]
    variance = (gamma[0] + 2 * sum(gamma[1:])) / n
    statistic = mean / np.sqrt(variance) * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return statistic, 2 * stats.t.sf(abs(statistic), df=n - 1)


@pytest.mark.parametrize("horizon", [1, 3, 5])
def test_diebold_mariano_matches_an_independent_computation(horizon: int) -> None:
    d = np.random.default_rng(horizon).normal(0.1, 1.0, size=60)

    result = diebold_mariano(d, horizon=horizon)

    statistic, p_value = loop_diebold_mariano(d, horizon)
    assert result.statistic == pytest.approx(statistic, rel=1e-10)
    assert result.p_value == pytest.approx(p_value, rel=1e-10)
    assert result.mean_difference == pytest.approx(d.mean())


def test_diebold_mariano_of_identical_losses_is_zero() -> None:
    result = diebold_mariano(np.zeros(50), horizon=5)

    assert (result.statistic, result.p_value) == (0.0, 1.0)


def test_diebold_mariano_needs_at_least_two_horizons_of_dates() -> None:
    d = np.random.default_rng(0).normal(size=9)

    assert np.isnan(diebold_mariano(d, horizon=5).statistic)
    assert np.isnan(diebold_mariano(d, horizon=5).p_value)
    assert np.isfinite(diebold_mariano(np.r_[d, 0.5], horizon=5).statistic)


def test_diebold_mariano_separates_a_clearly_better_and_a_worse_model() -> None:
    scores = score(synthetic(horizon=1))

    good, noise = row(scores, "good"), row(scores, "noise")
    assert good["dm_statistic"] < -5
    assert good["dm_p_value"] < 1e-6
    assert good["dm_better"] == "model"
    assert noise["dm_statistic"] > 3
    assert noise["dm_better"] == "random_walk"


def test_dm_score_uses_the_daily_cross_sectional_mean_loss_difference() -> None:
    frame = synthetic(horizon=3)
    good = frame[frame["model"] == "good"]
    loss = (good["prediction"] - good["actual"]) ** 2 - good["actual"] ** 2
    daily = loss.groupby(good["ts"]).mean().to_numpy()

    statistic, p_value = loop_diebold_mariano(daily, 3)

    figures = row(score(frame), "good")
    assert figures["dm_statistic"] == pytest.approx(statistic, rel=1e-9)
    assert figures["dm_p_value"] == pytest.approx(p_value, rel=1e-6, abs=1e-300)


def test_bootstrap_intervals_contain_the_estimate_and_repeat_with_the_seed() -> None:
    frame = synthetic()

    first, again, other = score(frame, seed=1), score(frame, seed=1), score(frame, seed=2)

    pd.testing.assert_frame_equal(first, again)
    for name in ("rmse", "mae", "theil_u", "r2_oos", "da"):
        for model in ("good", "noise"):
            figures = row(first, model)
            assert figures[f"{name}_low"] <= figures[name] <= figures[f"{name}_high"], name
            assert figures[f"{name}_low"] < figures[f"{name}_high"], name
    assert not np.isclose(row(first, "good")["rmse_low"], row(other, "good")["rmse_low"])


def test_bootstrap_interval_separates_signal_from_noise() -> None:
    scores = score(synthetic())

    assert row(scores, "good")["r2_oos_low"] > 0
    assert row(scores, "noise")["r2_oos_high"] < 0  # noise only adds error
    assert row(scores, "noise")["da_low"] < 0.5 < row(scores, "noise")["da_high"]


def test_moving_block_indices_are_runs_of_consecutive_dates() -> None:
    samples = moving_block_indices(23, block_length=5, resamples=50, seed=0)

    assert samples.shape == (50, 23)
    assert samples.min() >= 0
    assert samples.max() <= 22
    blocks = samples[:, :20].reshape(50, 4, 5)
    assert (np.diff(blocks, axis=2) == 1).all()
    again = moving_block_indices(23, block_length=5, resamples=50, seed=0)
    np.testing.assert_array_equal(samples, again)


def test_block_longer_than_the_sample_is_capped() -> None:
    samples = moving_block_indices(3, block_length=10, resamples=4, seed=0)

    np.testing.assert_array_equal(samples, np.tile(np.arange(3), (4, 1)))


def test_score_by_fold_equals_score_on_each_folds_rows() -> None:
    frame = synthetic()

    folds = score_by_fold(frame)

    assert len(folds) == 3 * 3  # three folds, three models
    for fold in (0, 2):
        whole = score(frame[frame["fold"] == fold], resamples=10)
        per_fold = folds[folds["fold"] == fold]
        for column in ("rmse", "theil_u", "r2_oos", "da", "rank_ic_mean", "icir", "n_rows"):
            np.testing.assert_allclose(
                per_fold.set_index("model")[column].sort_index().to_numpy(dtype=float),
                whole.set_index("model")[column].sort_index().to_numpy(dtype=float),
                rtol=1e-12,
            )


def broken(change: str) -> pd.DataFrame:
    frame = hand_case()
    if change == "missing column":
        return frame.drop(columns=["next_return"])
    if change == "no random walk":
        return frame[frame["model"] != "random_walk"]
    if change == "missing rows":
        return frame.drop(index=frame.index[-1])
    if change == "different actual":
        frame.loc[frame.index[-1], "actual"] += 0.01
        return frame
    if change == "naive ts":
        frame["ts"] = frame["ts"].dt.tz_localize(None)
        return frame
    if change == "two horizons":
        frame.loc[frame.index[0], "horizon"] = 5
        return frame
    if change == "nan prediction":
        frame.loc[frame.index[-1], "prediction"] = np.nan
        return frame
    if change == "duplicate row":
        return pd.concat([frame, frame.iloc[[-1]]], ignore_index=True)
    if change == "empty":
        return frame.iloc[:0]
    raise AssertionError(change)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing column", "lacks columns \\['next_return'\\]"),
        ("no random walk", "no 'random_walk' rows"),
        ("missing rows", "model 'model' has 14 rows that do not match the 15 random_walk rows"),
        ("different actual", "do not match"),
        ("naive ts", "UTC-aware"),
        ("two horizons", "one positive horizon at a time, got horizons \\[1, 5\\]"),
        ("nan prediction", "1 rows have NaN prediction \\(models \\['model'\\]\\)"),
        ("duplicate row", "1 duplicate \\(model, ticker, ts\\) rows"),
        ("empty", "no rows"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_problem(change: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_predictions(broken(change))
    with pytest.raises(ValueError, match=message):
        score(broken(change))
