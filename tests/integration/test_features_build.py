"""Building a feature set on the real sample data into a DuckDB store: what is written, that a
second build writes nothing, and that one new day of bars recomputes only that day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.errors import NotFoundError
from stockpred.features.sets import get_feature_set
from stockpred.pipeline.features import FeatureBuild, build_features
from stockpred.pipeline.ingest import ingest_sample
from stockpred.store.duckdb import DuckDBStore

NOW = datetime(2026, 1, 5, tzinfo=UTC)
# AAPL's last sample bar is 2013-03-01; the next XNYS session closes 2013-03-04 21:00 UTC.
NEW_TS = pd.Timestamp("2013-03-04 21:00", tz="UTC")


def sample_store(path: Path) -> DuckDBStore:
    store = DuckDBStore(path)
    ingest_sample(store, calendar="XNYS", now=NOW)
    return store


def new_aapl_bar(store: DuckDBStore) -> pd.DataFrame:
    last = store.read_bars(tickers=["AAPL"]).iloc[-1]
    bar = pd.DataFrame([last])
    bar["ts"] = [NEW_TS]
    for column in ("open", "high", "low", "close", "adj_close"):
        bar[column] = bar[column] * 1.02
    return bar.reset_index(drop=True)


def wide(store: DuckDBStore, key: str, ticker: str) -> pd.DataFrame:
    return store.read_features(feature_set=key, tickers=[ticker]).set_index("ts")


@pytest.fixture(scope="module")
def first_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FeatureBuild]:
    """A sample store with daily_v1 built once; tests copy it so each starts from the same."""
    path = tmp_path_factory.mktemp("features") / "store.duckdb"
    with sample_store(path) as store:
        result = build_features(store, get_feature_set("daily_v1"), now=NOW)
    return path, result


@pytest.fixture
def built(first_build: tuple[Path, FeatureBuild]) -> Path:
    return first_build[0]


def copy_of(built: Path, tmp_path: Path) -> DuckDBStore:
    target = tmp_path / "copy.duckdb"
    target.write_bytes(built.read_bytes())
    return DuckDBStore(target)


def test_first_build_writes_every_feature_of_every_stock_bar_and_none_for_indices(
    first_build: tuple[Path, FeatureBuild], tmp_path: Path
) -> None:
    fs = get_feature_set("daily_v1")
    built, result = first_build
    with copy_of(built, tmp_path) as store:
        bars = store.read_bars()
        stocks = bars[~bars["ticker"].str.startswith("^")]
        assert result.feature_set == "daily_v1@3"
        assert result.rows == len(stocks)
        assert set(result.new_rows) == {"AAPL", "FB", "GOOG", "IBM", "MSFT"}
        assert result.new_rows["AAPL"] == int((bars["ticker"] == "AAPL").sum())
        assert result.written.inserted == len(stocks)
        # the indices are read as market context: the stocks' market features are filled
        assert set(store.feature_coverage(fs.key)["ticker"]) == set(result.new_rows)
        assert result.written.updated == 0
        # the sample has no headlines: sentiment is NaN and said so
        assert any("sentiment" in w for w in result.warnings)
        assert store.feature_sets() == {fs.key: fs.outputs}
        aapl = wide(store, fs.key, "AAPL")
        assert list(aapl.columns) == ["ticker", *fs.outputs]
    # spot checks against plain arithmetic on the stored bars
    a = bars[bars["ticker"] == "AAPL"].set_index("ts")
    log_close = np.log(a["adj_close"])
    np.testing.assert_allclose(
        aapl["log_return_5"].iloc[5:], (log_close - log_close.shift(5)).iloc[5:], rtol=1e-9
    )
    assert aapl["rsi_14"].dropna().between(0, 100).all()
    assert aapl["beta_60"].dropna().between(-1.0, 5.0).all()
    assert aapl["credit_spread"].notna().all()
    assert aapl["vix"].isna().all()  # the sample's VIX starts in 2014, after AAPL's bars


def test_second_build_writes_nothing(built: Path, tmp_path: Path) -> None:
    with copy_of(built, tmp_path) as store:
        before = len(store.read_features(feature_set="daily_v1@3"))
        result = build_features(store, get_feature_set("daily_v1"), now=NOW)
        assert result.rows == 0
        assert result.written.written == 0
        assert result.written.inserted == 0
        assert len(store.read_features(feature_set="daily_v1@3")) == before


def test_one_new_day_recomputes_only_that_day_and_matches_a_full_build(
    built: Path, tmp_path: Path
) -> None:
    fs = get_feature_set("daily_v1")
    with copy_of(built, tmp_path) as store:
        bar = new_aapl_bar(store)
        store.write_bars(bar)
        result = build_features(store, fs, now=NOW)
        assert result.rows == 1
        assert result.new_rows["AAPL"] == 1
        assert sum(n for t, n in result.new_rows.items() if t != "AAPL") == 0
        assert result.written.inserted == 1
        assert result.written.updated == 0
        incremental = wide(store, fs.key, "AAPL").loc[NEW_TS]
        again = build_features(store, fs, now=NOW)
        assert again.written.written == 0

    with sample_store(tmp_path / "full.duckdb") as full:
        full.write_bars(new_aapl_bar(full))
        build_features(full, fs, tickers=["AAPL", "^GSPC", "MSFT"], now=NOW)
        reference = wide(full, fs.key, "AAPL").loc[NEW_TS]
    # Recursive indicators (EMA, Wilder) restart from the lookback window; their seed has
    # decayed below 1e-7 after 252 bars.
    np.testing.assert_allclose(
        incremental[list(fs.outputs)].to_numpy(dtype=float),
        reference[list(fs.outputs)].to_numpy(dtype=float),
        rtol=1e-7,
        atol=1e-12,
        equal_nan=True,
    )


def test_features_of_a_set_are_only_built_for_known_tickers(tmp_path: Path) -> None:
    with (
        sample_store(tmp_path / "s.duckdb") as store,
        pytest.raises(NotFoundError, match="ZZZZ"),
    ):
        build_features(store, get_feature_set("daily_v1"), tickers=["ZZZZ"], now=NOW)


def test_a_store_without_the_index_or_macro_builds_with_nan_context(tmp_path: Path) -> None:
    fs = get_feature_set("daily_v1")
    with DuckDBStore(tmp_path / "bare.duckdb") as store, sample_store(tmp_path / "s.duckdb") as src:
        store.write_bars(src.read_bars(tickers=["IBM"]))
        result = build_features(store, fs, now=NOW)
        assert result.rows > 3000
        ibm = wide(store, fs.key, "IBM")
    assert ibm[["beta_60", "mkt_return", "credit_spread", "vix"]].isna().all().all()
    assert ibm["rsi_14"].notna().sum() > 3000
    assert any("^GSPC" in w for w in result.warnings)
    assert any("macro" in w for w in result.warnings)


def test_ranks_of_one_ticker_built_alone_are_across_every_stored_ticker(
    built: Path, tmp_path: Path
) -> None:
    fs = get_feature_set("daily_v1")
    ranks = [name for name in fs.outputs if name.startswith("rank_")]
    with copy_of(built, tmp_path) as store:
        everything = wide(store, fs.key, "IBM")[ranks]
    with sample_store(tmp_path / "alone.duckdb") as store:
        result = build_features(store, fs, tickers=["IBM"], now=NOW)
        alone = wide(store, fs.key, "IBM")[ranks]
        assert set(store.feature_coverage(fs.key)["ticker"]) == {"IBM"}
    assert result.new_rows == {"IBM": len(alone)}
    assert alone.notna().sum().sum() > 10_000
    pd.testing.assert_frame_equal(alone, everything, check_exact=True)
