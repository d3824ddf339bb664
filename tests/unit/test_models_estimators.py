"""The estimators (ridge, elastic net, histogram GB, LightGBM, XGBoost), their per-ticker
variants, the catalogue, and save/load: each learns a planted signal, explains its predictions
additively, is deterministic under a seed, and reads back bit for bit."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.errors import ModelError
from stockpred.models.base import Model
from stockpred.models.catalog import MODELS, PARAM_GRIDS, load_model, make_model
from stockpred.models.estimators import PerTicker
from stockpred.models.linear import LinearModel, RidgeModel

POOLED = ("ridge", "elastic_net", "hist_gradient_boosting", "lightgbm", "xgboost")
PER_TICKER = tuple(f"{kind}_per_ticker" for kind in POOLED)
EXPLAINED = ("ridge", "elastic_net", "lightgbm", "xgboost")
SUBSAMPLED = ("hist_gradient_boosting", "lightgbm", "xgboost")
TICKERS = ("AAA", "BBB", "CCC", "DDD")
FEATURES = ("f1", "f2", "f3", "f4", "f5")


def make_panel(*, tickers: tuple[str, ...] = TICKERS, days: int = 1000, seed: int = 7):
    """A design frame where y = 0.3 f1 - 0.2 f2 + noise, with 10% of the features NaN (the
    target uses the values before they were blanked), sorted by ticker then ts."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2019-01-02 21:00", periods=days, freq="B", tz="UTC")
    n = len(tickers) * days
    values = rng.normal(size=(n, len(FEATURES)))
    y = 0.3 * values[:, 0] - 0.2 * values[:, 1] + rng.normal(scale=0.5, size=n)
    values[rng.random(values.shape) < 0.1] = np.nan
    X = pd.DataFrame({"ticker": np.repeat(tickers, days), "ts": np.tile(ts, len(tickers))})
    for column, name in enumerate(FEATURES):
        X[name] = values[:, column]
    return X, pd.Series(y, name="y")


X_ALL, Y_ALL = make_panel()
# The held-out block is the last quarter of the dates: it comes after everything fitted on.
CUTOFF = X_ALL["ts"].sort_values().iloc[int(0.75 * len(X_ALL))]
TRAIN = (X_ALL["ts"] < CUTOFF).to_numpy()
X_TRAIN, Y_TRAIN = X_ALL[TRAIN].reset_index(drop=True), Y_ALL[TRAIN].reset_index(drop=True)
X_TEST, Y_TEST = X_ALL[~TRAIN].reset_index(drop=True), Y_ALL[~TRAIN].reset_index(drop=True)


# Tests fit on one thread (the determinism test uses two on purpose): a 2-thread OpenMP
# fit on a machine whose cores are busy spin-waits, and the thread count changes no result here.
ONE_THREAD = 1


@cache
def fitted(kind: str) -> Model:
    """``kind`` with its defaults, fitted on the training block (shared; never refitted)."""
    model = make_model(kind, n_jobs=ONE_THREAD)
    model.fit(X_TRAIN, Y_TRAIN)
    return model


def mse(prediction: np.ndarray, actual: pd.Series) -> float:
    return float(np.mean((prediction - actual.to_numpy()) ** 2))


def files_under(directory: Path) -> set[Path]:
    return {p.relative_to(directory) for p in directory.rglob("*")}


# -- learning ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", POOLED + PER_TICKER)
def test_every_kind_beats_predicting_zero_in_sample_and_on_a_later_block(kind: str) -> None:
    model = fitted(kind)
    assert mse(model.predict(X_TRAIN), Y_TRAIN) < 0.9 * mse(np.zeros(len(Y_TRAIN)), Y_TRAIN)
    assert mse(model.predict(X_TEST), Y_TEST) < 0.9 * mse(np.zeros(len(Y_TEST)), Y_TEST)


@pytest.mark.parametrize("kind", ["ridge", "elastic_net"])
def test_linear_models_find_the_planted_coefficients_signs(kind: str) -> None:
    model = fitted(kind)
    assert isinstance(model, LinearModel)
    coefficients = model.coefficients
    assert coefficients["f1"] > 0.1
    assert coefficients["f2"] < -0.05
    assert max(abs(coefficients[name]) for name in ("f3", "f4", "f5")) < 0.05


@pytest.mark.parametrize("kind", POOLED + PER_TICKER)
def test_predictions_are_finite_float64_one_per_row(kind: str) -> None:
    prediction = fitted(kind).predict(X_TEST)
    assert prediction.dtype == np.float64
    assert prediction.shape == (len(X_TEST),)
    assert np.isfinite(prediction).all()


# -- contributions ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", EXPLAINED + tuple(f"{kind}_per_ticker" for kind in EXPLAINED))
def test_contributions_sum_to_the_prediction(kind: str) -> None:
    model = fitted(kind)
    X = pd.concat([X_TEST, X_TEST.assign(ticker="NEW")], ignore_index=True)
    contributions = model.contributions(X)
    assert contributions is not None
    assert list(contributions.columns) == [*FEATURES, "bias"]
    assert contributions.index.equals(X.index)
    np.testing.assert_allclose(
        contributions.sum(axis=1).to_numpy(), model.predict(X), rtol=0, atol=1e-6
    )
    assert (contributions[["f1", "f2"]].abs().mean() > 0).all()


def test_ridge_contribution_is_coefficient_times_standardised_imputed_value() -> None:
    model = fitted("ridge")
    assert isinstance(model, RidgeModel)
    training = X_TRAIN["f1"]
    median = training.median()
    mean, std = training.fillna(median).mean(), training.fillna(median).std(ddof=0)
    rows = X_TEST.head(50)
    expected = model.coefficients["f1"] * (rows["f1"].fillna(median) - mean) / std
    contributions = model.contributions(rows)
    assert contributions is not None
    assert rows["f1"].isna().any()
    np.testing.assert_allclose(contributions["f1"].to_numpy(), expected.to_numpy(), atol=1e-12)


def test_hist_gradient_boosting_offers_no_contributions() -> None:
    assert fitted("hist_gradient_boosting").contributions(X_TEST) is None
    assert fitted("hist_gradient_boosting").contributions(X_TEST.head(0)) is None
    assert fitted("hist_gradient_boosting_per_ticker").contributions(X_TEST) is None
    zero_fallback = make_model(
        "hist_gradient_boosting_per_ticker", fallback="zero", max_iter=5, n_jobs=ONE_THREAD
    )
    zero_fallback.fit(X_TRAIN, Y_TRAIN)
    assert zero_fallback.contributions(X_TEST.assign(ticker="NEW")) is None


# -- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [*POOLED, "lightgbm_per_ticker"])
def test_two_fits_with_the_same_seed_predict_identically(kind: str) -> None:
    # Two threads: the thread count changes the order of sums, so pin it and check it holds.
    first, second = make_model(kind, seed=3, n_jobs=2), make_model(kind, seed=3, n_jobs=2)
    first.fit(X_TRAIN, Y_TRAIN)
    second.fit(X_TRAIN, Y_TRAIN)
    assert np.array_equal(first.predict(X_TEST), second.predict(X_TEST))


@pytest.mark.parametrize("kind", SUBSAMPLED)
def test_another_seed_draws_other_subsamples(kind: str) -> None:
    other = make_model(kind, seed=1, n_jobs=ONE_THREAD)
    other.fit(X_TRAIN, Y_TRAIN)
    assert not np.array_equal(other.predict(X_TEST), fitted(kind).predict(X_TEST))


# -- save and load ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [*POOLED, "ridge_per_ticker", "xgboost_per_ticker"])
def test_a_saved_model_loads_back_and_predicts_identically(kind: str, tmp_path: Path) -> None:
    model = fitted(kind)
    directory = tmp_path / "models" / kind
    before = files_under(tmp_path)
    model.save(directory)
    assert {p for p in files_under(tmp_path) - before if p.parts[0] != "models"} == set()

    loaded = load_model(directory)
    X = pd.concat([X_TEST, X_TEST.assign(ticker="NEW")], ignore_index=True)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    original, restored = model.contributions(X), loaded.contributions(X)
    if original is None:
        assert restored is None
    else:
        assert restored is not None
        pd.testing.assert_frame_equal(restored, original, check_exact=True)
    assert loaded.name == model.name
    assert dict(loaded.params) == dict(model.params)
    assert loaded.feature_names == model.feature_names
    assert loaded.window == model.window


@pytest.mark.parametrize("kind", POOLED)
def test_model_json_records_kind_params_features_window_and_versions(
    kind: str, tmp_path: Path
) -> None:
    fitted(kind).save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "model.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == kind
    assert manifest["params"] == dict(fitted(kind).params)
    assert manifest["feature_names"] == list(FEATURES)
    assert manifest["window"]["start"] == "2019-01-02T21:00:00+00:00"
    assert pd.Timestamp(manifest["window"]["end"]) < CUTOFF
    assert manifest["window"]["rows"] == len(X_TRAIN)
    assert manifest["window"]["tickers"] == list(TICKERS)
    assert {"python", "numpy", "pandas"} <= set(manifest["libraries"])
    assert (tmp_path / "m" / manifest["artifact"]).is_file()


def test_load_model_from_a_directory_without_model_json_says_so(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model\.json under"):
        load_model(tmp_path)


def test_load_model_of_an_unknown_kind_names_it(tmp_path: Path) -> None:
    fitted("ridge").save(tmp_path / "m")
    path = tmp_path / "m" / "model.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["kind"] = "deep_magic"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="deep_magic"):
        load_model(tmp_path / "m")


def test_save_before_fit_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="before fit"):
        make_model("lightgbm").save(tmp_path / "m")
    assert not (tmp_path / "m" / "model.json").exists()


# -- the catalogue ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", POOLED + PER_TICKER)
def test_every_kind_is_a_model_whose_params_rebuild_it(kind: str) -> None:
    model = make_model(kind)
    assert isinstance(model, Model)
    assert model.name == kind
    assert model.feature_names == ()
    assert model.window is None
    assert dict(make_model(kind, **model.params).params) == dict(model.params)


def test_make_model_rejects_an_unknown_kind_listing_the_known_ones() -> None:
    with pytest.raises(ModelError, match=r"unknown model kind 'random_forest'.*ridge"):
        make_model("random_forest")


@pytest.mark.parametrize("kind", ["ridge", "lightgbm", "xgboost_per_ticker"])
def test_an_unknown_parameter_is_an_error_naming_it(kind: str) -> None:
    message = r"unknown parameter\(s\) alhpa; accepted: .*seed"
    with pytest.raises(ModelError, match=message):
        make_model(kind, alhpa=1.0)
    with pytest.raises(ModelError, match=message):
        MODELS[kind](alhpa=1.0, seed=0)


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("ridge", {"alpha": -1.0}, "alpha must lie in"),
        ("elastic_net", {"l1_ratio": 1.5}, "l1_ratio must lie in"),
        ("lightgbm", {"num_leaves": 1}, "num_leaves must be at least 2"),
        ("lightgbm", {"subsample": 0.0}, "subsample must lie in"),
        ("xgboost", {"n_jobs": 0}, "n_jobs must be at least 1"),
        ("hist_gradient_boosting", {"seed": "one"}, "seed must be an integer"),
        ("ridge_per_ticker", {"fallback": "mean"}, "fallback must be 'pooled' or 'zero'"),
        ("ridge_per_ticker", {"alpha": float("nan")}, "alpha must lie in"),
    ],
)
def test_make_model_rejects_a_value_out_of_range(
    kind: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        make_model(kind, **params)


def test_param_grids_cover_every_kind_with_at_most_eight_valid_candidates() -> None:
    assert set(PARAM_GRIDS) == set(MODELS)
    for kind, grid in PARAM_GRIDS.items():
        assert 1 <= len(grid) <= 8, kind
        assert len({json.dumps(candidate, sort_keys=True) for candidate in grid}) == len(grid)
        for candidate in grid:
            params = make_model(kind, **candidate).params
            assert all(params[name] == value for name, value in candidate.items())


# -- misuse and the design-frame convention ---------------------------------------------------


@pytest.mark.parametrize("kind", [*POOLED, "ridge_per_ticker"])
def test_predict_before_fit_is_an_error(kind: str) -> None:
    with pytest.raises(ModelError, match="predict called before fit"):
        make_model(kind).predict(X_TEST)


@pytest.mark.parametrize("kind", ["ridge", "lightgbm", "xgboost_per_ticker"])
def test_a_missing_feature_column_is_an_error_naming_it(kind: str) -> None:
    with pytest.raises(ModelError, match=r"lacks 2 of the 5 feature columns .*: f2, f4"):
        fitted(kind).predict(X_TEST.drop(columns=["f2", "f4"]))


@pytest.mark.parametrize("kind", POOLED)
def test_extra_and_reordered_columns_are_ignored(kind: str) -> None:
    shuffled = X_TEST.assign(extra=1e9, other="text")[["other", "f5", "extra", *X_TEST.columns]]
    shuffled = shuffled.loc[:, ~shuffled.columns.duplicated()]
    model = fitted(kind)
    assert np.array_equal(model.predict(shuffled), model.predict(X_TEST))


@pytest.mark.parametrize("kind", POOLED)
def test_ticker_and_ts_are_never_features(kind: str) -> None:
    model = fitted(kind)
    assert model.feature_names == FEATURES
    relabelled = X_TRAIN.assign(ticker="ZZZ", ts=X_TRAIN["ts"] + pd.Timedelta(days=3650)).sample(
        frac=1.0, random_state=0
    )
    other = make_model(kind, n_jobs=ONE_THREAD)
    other.fit(relabelled.sort_index(), Y_TRAIN)
    assert np.array_equal(other.predict(X_TEST), model.predict(X_TEST))
    keyless = X_TEST.drop(columns=["ticker", "ts"])
    assert np.array_equal(model.predict(keyless), model.predict(X_TEST))


def test_fit_needs_the_key_columns() -> None:
    with pytest.raises(ModelError, match="missing: ts"):
        make_model("ridge").fit(X_TRAIN.drop(columns=["ts"]), Y_TRAIN)


def test_fit_rejects_a_target_with_nan() -> None:
    y = Y_TRAIN.copy()
    y.iloc[3] = np.nan
    with pytest.raises(ModelError, match="target holds NaN"):
        make_model("lightgbm").fit(X_TRAIN, y)


def test_fit_rejects_misaligned_lengths() -> None:
    with pytest.raises(ModelError, match=r"X has \d+ rows but y has \d+"):
        make_model("ridge").fit(X_TRAIN, Y_TRAIN.iloc[:-1])


def test_a_non_numeric_feature_is_an_error_naming_it() -> None:
    with pytest.raises(ModelError, match="not numeric: sector"):
        make_model("ridge").fit(X_TRAIN.assign(sector="tech"), Y_TRAIN)


@pytest.mark.parametrize("kind", POOLED)
def test_infinite_values_count_as_missing(kind: str) -> None:
    model = fitted(kind)
    with_inf = X_TEST.assign(f1=X_TEST["f1"].where(X_TEST.index % 7 != 0, np.inf))
    with_nan = X_TEST.assign(f1=X_TEST["f1"].where(X_TEST.index % 7 != 0, np.nan))
    assert np.array_equal(model.predict(with_inf), model.predict(with_nan))
    assert np.isinf(with_inf["f1"]).sum() == (X_TEST.index % 7 == 0).sum()  # X left as it was


@pytest.mark.parametrize("kind", EXPLAINED)
def test_a_feature_never_observed_in_training_is_tolerated(kind: str) -> None:
    model = make_model(kind, n_jobs=ONE_THREAD)
    model.fit(X_TRAIN.assign(f5=np.nan), Y_TRAIN)
    prediction = model.predict(X_TEST)
    assert np.isfinite(prediction).all()
    contributions = model.contributions(X_TEST)
    assert contributions is not None
    np.testing.assert_allclose(contributions.sum(axis=1), prediction, atol=1e-6)


@pytest.mark.parametrize("kind", ["lightgbm", "ridge_per_ticker"])
def test_an_empty_frame_predicts_an_empty_array(kind: str) -> None:
    assert fitted(kind).predict(X_TEST.head(0)).shape == (0,)
    contributions = fitted(kind).contributions(X_TEST.head(0))
    assert contributions is not None
    assert contributions.shape == (0, len(FEATURES) + 1)


# -- per ticker -------------------------------------------------------------------------------


def test_per_ticker_fits_each_ticker_on_its_own_rows() -> None:
    model = fitted("ridge_per_ticker")
    assert isinstance(model, PerTicker)
    assert sorted(model.models) == list(TICKERS)
    rows = (X_TRAIN["ticker"] == "BBB").to_numpy()
    alone = make_model("ridge", n_jobs=ONE_THREAD)
    alone.fit(X_TRAIN[rows], Y_TRAIN[rows])
    mine = X_TEST[X_TEST["ticker"] == "BBB"]
    np.testing.assert_allclose(model.predict(mine), alone.predict(mine), rtol=0, atol=1e-12)
    assert not np.allclose(model.predict(mine), fitted("ridge").predict(mine))


def test_per_ticker_serves_an_unseen_ticker_with_the_pooled_model() -> None:
    model = fitted("lightgbm_per_ticker")
    assert isinstance(model, PerTicker)
    unseen = X_TEST.assign(ticker="NEW")
    assert model.pooled is not None
    assert np.array_equal(model.predict(unseen), fitted("lightgbm").predict(unseen))
    mixed = pd.concat([X_TEST.head(30), unseen.head(30)], ignore_index=True)
    expected = np.concatenate(
        [model.predict(X_TEST.head(30)), fitted("lightgbm").predict(unseen.head(30))]
    )
    assert np.array_equal(model.predict(mixed), expected)


def test_per_ticker_with_zero_fallback_predicts_zero_for_an_unseen_ticker() -> None:
    model = make_model("ridge_per_ticker", fallback="zero", n_jobs=ONE_THREAD)
    model.fit(X_TRAIN, Y_TRAIN)
    assert isinstance(model, PerTicker)
    assert model.pooled is None
    unseen = X_TEST.assign(ticker="NEW")
    assert np.array_equal(model.predict(unseen), np.zeros(len(unseen)))
    contributions = model.contributions(unseen)
    assert contributions is not None
    assert (contributions.to_numpy() == 0).all()
    assert np.count_nonzero(model.predict(X_TEST)) == len(X_TEST)


def test_per_ticker_gives_a_ticker_with_too_few_rows_the_fallback() -> None:
    few = X_TRAIN[(X_TRAIN["ticker"] != "DDD") | (X_TRAIN["ts"] < X_TRAIN["ts"].iloc[100])]
    model = make_model("ridge_per_ticker", min_rows=500, n_jobs=ONE_THREAD)
    model.fit(few, Y_TRAIN[few.index])
    assert isinstance(model, PerTicker)
    assert sorted(model.models) == ["AAA", "BBB", "CCC"]
    ddd = X_TEST[X_TEST["ticker"] == "DDD"]
    assert model.pooled is not None
    assert np.array_equal(model.predict(ddd), model.pooled.predict(ddd))


def test_per_ticker_predict_needs_the_ticker_column() -> None:
    with pytest.raises(ModelError, match="needs a ticker column"):
        fitted("ridge_per_ticker").predict(X_TEST.drop(columns=["ticker"]))


def test_per_ticker_params_name_the_inner_model_and_the_fallback() -> None:
    model = make_model("lightgbm_per_ticker", num_leaves=31, fallback="zero", min_rows=100)
    assert model.params["num_leaves"] == 31
    assert model.params["fallback"] == "zero"
    assert model.params["min_rows"] == 100


def test_hist_gradient_boosting_fits_with_a_feature_that_has_no_value_at_all() -> None:
    rng = np.random.default_rng(5)
    n = 600
    X = pd.DataFrame(
        {
            "ticker": "AAA",
            "ts": pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
            "signal": rng.normal(size=n),
            "missing": np.nan,
        }
    )
    y = pd.Series(0.5 * X["signal"] + rng.normal(scale=0.1, size=n))
    model = make_model("hist_gradient_boosting")

    model.fit(X, y)

    assert np.isfinite(model.predict(X)).all()
