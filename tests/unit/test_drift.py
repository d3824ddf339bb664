"""Drift statistics: PSI and KS against a reference fitted on a training window, with
thresholds taken from the training window's own blocks of dates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stockpred.models.drift import (
    KS_SIGNIFICANT,
    PSI_SIGNIFICANT,
    DriftReference,
    drift_figures,
    drifted,
    fit_reference,
    population_stability,
)


def _frame(values: np.ndarray, tickers: int = 10) -> pd.DataFrame:
    dates = pd.bdate_range("2020-01-01", periods=len(values) // tickers, tz="UTC")
    return pd.DataFrame({"ts": np.repeat(dates, tickers), "x": values[: len(dates) * tickers]})


def test_a_sample_of_the_same_distribution_is_stable_and_a_shifted_one_is_not() -> None:
    rng = np.random.default_rng(1)
    reference = fit_reference(_frame(rng.normal(size=5000)), ["x"], start="a", end="b")
    column = reference.columns["x"]
    same = population_stability(column, rng.normal(size=2000))
    shifted = population_stability(column, rng.normal(loc=1.0, size=2000))
    assert same < 0.02
    assert shifted > PSI_SIGNIFICANT


def test_psi_is_the_textbook_sum_over_the_reference_deciles() -> None:
    rng = np.random.default_rng(2)
    train = rng.normal(size=4000)
    reference = fit_reference(_frame(train), ["x"], start="a", end="b").columns["x"]
    recent = rng.normal(loc=0.3, scale=1.2, size=800)
    edges = np.quantile(train, np.linspace(0, 1, 11)[1:-1])
    expected = np.histogram(train, bins=[-np.inf, *edges, np.inf])[0] / len(train)
    actual = np.histogram(recent, bins=[-np.inf, *edges, np.inf])[0] / len(recent)
    textbook = float(np.sum((actual - expected) * np.log(actual / expected)))
    assert population_stability(reference, recent) == pytest.approx(textbook, rel=1e-9)


def test_ks_matches_scipy_on_the_stored_sample() -> None:
    rng = np.random.default_rng(3)
    reference = fit_reference(_frame(rng.normal(size=3000)), ["x"], start="a", end="b")
    recent = pd.DataFrame({"x": rng.normal(loc=0.5, size=300)})
    row = drift_figures(reference, recent).iloc[0]
    test = stats.ks_2samp(reference.columns["x"].sample, recent["x"].to_numpy())
    assert row["ks_statistic"] == pytest.approx(test.statistic)
    assert row["ks_p_value"] == pytest.approx(test.pvalue)
    assert len(reference.columns["x"].sample) == 1000


def test_a_persistent_feature_gets_a_threshold_from_its_own_training_months() -> None:
    # Each ticker's value barely moves within a month (a 252-day return, a rank): a month of
    # it is a few distinct points, and the textbook 0.25 would flag every month.
    rng = np.random.default_rng(4)
    tickers, dates = 10, 1000
    level = np.cumsum(rng.normal(scale=0.02, size=(dates, tickers)), axis=0)
    persistent = _frame(level.reshape(-1), tickers)
    noisy = _frame(rng.normal(size=dates * tickers), tickers)
    sticky = fit_reference(persistent, ["x"], start="a", end="b").columns["x"]
    plain = fit_reference(noisy, ["x"], start="a", end="b").columns["x"]
    assert sticky.psi_threshold > 4 * PSI_SIGNIFICANT
    assert plain.psi_threshold == PSI_SIGNIFICANT
    assert plain.ks_threshold == KS_SIGNIFICANT


def test_too_few_recent_values_give_no_figure_rather_than_a_noisy_one() -> None:
    rng = np.random.default_rng(5)
    reference = fit_reference(_frame(rng.normal(size=2000)), ["x"], start="a", end="b")
    row = drift_figures(reference, pd.DataFrame({"x": [0.1] * 5 + [math.nan] * 5})).iloc[0]
    assert math.isnan(row["psi"])
    assert math.isnan(row["ks_statistic"])
    assert row["n"] == 5
    assert row["missing_share"] == 0.5


def test_the_reference_survives_json_and_scores_alike() -> None:
    rng = np.random.default_rng(6)
    frame = _frame(rng.normal(size=3000)).assign(y=lambda f: np.round(f["x"]))
    reference = fit_reference(frame, ["x", "y"], start="2020-01-01", end="2021-01-01")
    again = DriftReference.from_json(reference.to_json())
    recent = frame.tail(400)
    pd.testing.assert_frame_equal(drift_figures(reference, recent), drift_figures(again, recent))
    assert again.start == "2020-01-01"
    # Tied values (a rounded feature) give fewer, unique bin edges.
    assert len(again.columns["y"].edges) < 9
    assert np.all(np.diff(again.columns["y"].edges) > 0)


def test_fitting_on_rows_without_the_column_says_which() -> None:
    with pytest.raises(ValueError, match="lack the columns"):
        fit_reference(_frame(np.zeros(100)), ["x", "missing"], start="a", end="b")


def test_a_column_drifts_only_when_psi_and_ks_both_pass_their_thresholds() -> None:
    figures = pd.DataFrame(
        {
            # saturated PSI but values barely moved (a monthly series); both moved; only KS
            "psi": [8.4, 3.0, 0.1],
            "psi_threshold": [8.3, 1.0, 0.25],
            "ks_statistic": [0.6, 0.9, 0.5],
            "ks_threshold": [0.9, 0.5, 0.1],
        }
    )
    assert drifted(figures).tolist() == [False, True, False]
