"""The monitor on the real sample: a champion trained on data up to mid-2011 forecasts every
session after it into the ledger; the monitor's rolling figures equal the offline evaluation's
on the same predictions, the baselines are scored on the same rows, and a feature whose scale
changes is the one that drifts."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from stockpred.features.sets import get_feature_set
from stockpred.models.baselines import BASELINES
from stockpred.models.drift import PREDICTION_SUBJECT, PSI_SIGNIFICANT
from stockpred.models.metrics import score
from stockpred.models.targets import forward_returns, target_column
from stockpred.monitor.accuracy import BASELINE_ROLE, CHAMPION_ROLE
from stockpred.monitor.session import monitor_champion
from stockpred.store.duckdb import DuckDBStore
from stockpred.store.schema import MODEL_DRIFT, MODEL_PERFORMANCE
from support.monitored import serve_champion_after

CUT = pd.Timestamp("2011-06-30", tz="UTC")
UNTIL = pd.Timestamp("2012-06-29", tz="UTC")
NOW = datetime(2012, 7, 20, tzinfo=UTC)
HORIZON = 5
WINDOW = 63
SHIFTED = "rsi_14"


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A champion trained by CUT, its forecasts of every session after, up to UNTIL."""
    home = tmp_path_factory.mktemp("monitor")
    served = serve_champion_after(
        home, cut=CUT, until=UNTIL, now=NOW, store_name="store.duckdb", cache="cache"
    )
    return {
        "home": home,
        "store": served.store,
        "registry": served.registry,
        "version": served.version,
        "ledger": served.ledger,
        "bars": served.store.read_bars(),
    }


def _run(monitored: dict[str, object], **kwargs: object) -> object:
    return monitor_champion(
        monitored["store"],  # type: ignore[arg-type]
        monitored["registry"],  # type: ignore[arg-type]
        horizon=HORIZON,
        calendar="XNYS",
        now=NOW,
        cache=monitored["home"] / "cache",  # type: ignore[operator]
        window=WINDOW,
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_rolling_figures_equal_the_offline_evaluation_on_the_same_predictions(
    monitored: dict[str, object],
) -> None:
    result = _run(monitored, catch_up=3)
    assert len(result.sessions_scored) == 3  # type: ignore[attr-defined]
    store: DuckDBStore = monitored["store"]  # type: ignore[assignment]
    stored = store.read_monitoring(MODEL_PERFORMANCE.name, horizon=HORIZON)
    latest = stored[stored["session"] == stored["session"].max()]
    champion = latest[latest["role"] == CHAMPION_ROLE].iloc[0]
    assert set(latest.loc[latest["role"] == BASELINE_ROLE, "model"]) == set(BASELINES)
    assert int(champion["window_sessions"]) == WINDOW

    # The offline path, on its own: labels from the bars, the same window, score().
    ledger: pd.DataFrame = monitored["ledger"]  # type: ignore[assignment]
    labels = forward_returns(monitored["bars"], horizons=[HORIZON], calendar="XNYS")  # type: ignore[arg-type]
    labels = labels.rename(columns={target_column(HORIZON): "actual"})
    frame = ledger.rename(columns={"as_of": "ts", "value": "prediction"}).merge(
        labels, on=["ticker", "ts"]
    )
    frame = frame[frame["actual"].notna() & (frame[f"known_at_{HORIZON}"] <= pd.Timestamp(NOW))]
    dates = pd.DatetimeIndex(frame["ts"].unique()).sort_values()
    assert dates[-1] == champion["session"]
    frame = frame[frame["ts"].isin(dates[-WINDOW:])].assign(model="ridge", fold=0)
    walk = frame.assign(model="random_walk", prediction=0.0, lower=math.nan, upper=math.nan)
    offline = score(pd.concat([frame, walk]), resamples=10).set_index("model").loc["ridge"]

    assert int(champion["n_rows"]) == int(offline["n_rows"])
    assert int(champion["n_dates"]) == int(offline["n_dates"]) == WINDOW
    for mine, theirs in (
        ("rank_ic", "rank_ic_mean"),
        ("hit_rate", "da"),
        ("mae", "mae"),
        ("coverage", "coverage"),
    ):
        assert champion[mine] == pytest.approx(offline[theirs], rel=1e-12, abs=1e-12), mine


def test_a_second_run_scores_only_the_sessions_not_scored_yet(
    monitored: dict[str, object],
) -> None:
    _run(monitored, catch_up=4)
    again = _run(monitored, catch_up=4)
    assert again.sessions_scored == []  # type: ignore[attr-defined]
    assert again.matured_rows > 0  # type: ignore[attr-defined]


def test_every_feature_and_the_forecasts_get_drift_figures(monitored: dict[str, object]) -> None:
    result = _run(monitored, catch_up=1)
    store: DuckDBStore = monitored["store"]  # type: ignore[assignment]
    drift = store.read_monitoring(MODEL_DRIFT.name, horizon=HORIZON)
    drift = drift[drift["session"] == result.drift_session]  # type: ignore[attr-defined]
    version = monitored["version"]
    features = set(__import__("json").loads(version.metadata["features"]))  # type: ignore[attr-defined]
    assert set(drift["subject"]) == features | {PREDICTION_SUBJECT}
    prediction = drift[drift["subject"] == PREDICTION_SUBJECT].iloc[0]
    assert np.isfinite(prediction["psi"])
    assert 0.0 <= prediction["ks_statistic"] <= 1.0


def test_a_feature_whose_scale_changes_is_the_one_that_drifts(
    monitored: dict[str, object],
) -> None:
    store: DuckDBStore = monitored["store"]  # type: ignore[assignment]
    fs = get_feature_set("daily_v1")
    before = _run(monitored, catch_up=1)
    assert SHIFTED not in before.drifted  # type: ignore[attr-defined]
    rows = store.read_features(feature_set=fs.key)
    recent = rows[rows["ts"] > rows["ts"].max() - pd.Timedelta(days=45)].copy()
    original = recent.copy()
    recent[SHIFTED] = recent[SHIFTED] * 3.0
    store.write_features(fs.key, recent)
    try:
        after = _run(monitored, catch_up=1)
    finally:
        store.write_features(fs.key, original)
    assert SHIFTED in after.drifted  # type: ignore[attr-defined]
    drift = store.read_monitoring(MODEL_DRIFT.name, horizon=HORIZON)
    latest = drift[drift["session"] == after.drift_session].set_index("subject")  # type: ignore[attr-defined]
    assert latest.loc[SHIFTED, "psi"] > PSI_SIGNIFICANT
    assert latest.loc[SHIFTED, "ks_statistic"] > 0.3
