"""The Spark engine (PySpark in local mode, a real JVM) against the in-process engine: the same
values, exactly, on the real sample data with macro, sentiment, gaps and an ``as_of`` cut; and a
store build through Spark equal to one built in process."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from stockpred.cli.app import main
from stockpred.features.panel import build_panel
from stockpred.features.sets import get_feature_set
from stockpred.pipeline.features import build_features
from stockpred.pipeline.ingest import ingest_sample
from stockpred.store.duckdb import DuckDBStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None,
        reason="pyspark is not installed (pip install 'stockpred[spark]')",
    ),
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime"),
]

NOW = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from stockpred.pipeline.spark import spark_session

    with spark_session("local[2]", driver_memory="1g") as session:
        yield session


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    with DuckDBStore(tmp_path_factory.mktemp("spark") / "store.duckdb") as store:
        ingest_sample(store, calendar="XNYS", now=NOW)
        return store.read_bars(), store.read_macro()


def daily_sentiment(bars: pd.DataFrame, tickers: tuple[str, ...]) -> pd.DataFrame:
    """Daily aggregates released the morning after each of 300 sessions (generated)."""
    rng = np.random.default_rng(7)
    days = pd.DatetimeIndex(bars.loc[bars["ticker"] == tickers[0], "ts"]).normalize()[200:500]
    rows = [
        {
            "ticker": ticker,
            "day": day,
            "scorer": "loughran_mcdonald",
            "mean": rng.normal(),
            "count": int(rng.integers(1, 9)),
            "share_positive": rng.random(),
            "share_negative": rng.random(),
            "released_at": day + pd.Timedelta(hours=13),
        }
        for ticker in tickers
        for day in days
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "as_of", [None, pd.Timestamp("2011-06-01", tz="UTC")], ids=["everything", "as-of-2011"]
)
def test_spark_panel_equals_the_in_process_panel_exactly(
    spark: SparkSession, sample: tuple[pd.DataFrame, pd.DataFrame], as_of: pd.Timestamp | None
) -> None:
    from stockpred.pipeline.spark import SparkEngine

    bars, macro = sample
    # Gaps: 150 MSFT sessions missing.
    bars = bars.drop(bars[bars["ticker"] == "MSFT"].sample(150, random_state=3).index)
    sentiment = daily_sentiment(bars, ("AAPL", "IBM"))
    fs = get_feature_set("daily_v1")

    on_spark = SparkEngine(spark).build_panel(
        bars, fs, macro=macro, sentiment=sentiment, as_of=as_of
    )
    in_process = build_panel(bars, fs, macro=macro, sentiment=sentiment, as_of=as_of)

    assert on_spark.warnings == in_process.warnings
    assert len(on_spark.frame) > 10_000
    assert on_spark.frame["sentiment_mean"].notna().sum() > 100
    assert on_spark.frame["rank_log_return_20"].notna().sum() > 1_000
    pd.testing.assert_frame_equal(
        on_spark.frame, in_process.frame, check_exact=True, check_dtype=False
    )


def test_the_cluster_path_ranks_by_date_on_spark_and_equals_the_in_process_panel(
    spark: SparkSession, sample: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """``build`` keeps the data on the cluster (context from Spark queries, ranks by date on
    Spark), as a job reading and writing Parquet would."""
    from stockpred.pipeline.spark import SparkEngine

    bars, macro = sample
    bars = bars[bars["ticker"].isin(["AAPL", "IBM", "MSFT", "^GSPC"])]
    fs = get_feature_set("daily_v1")
    columns = ["ticker", "ts", "open", "high", "low", "close", "adj_close", "volume"]
    frame = bars.loc[:, columns].astype({"ticker": object})
    frame["ts"] = frame["ts"].dt.tz_convert(None)

    result, warnings = SparkEngine(spark).build(spark.createDataFrame(frame), fs, macro=macro)
    on_spark = result.toPandas()
    on_spark["ts"] = on_spark["ts"].dt.tz_localize("UTC")
    on_spark = on_spark.sort_values(["ticker", "ts"]).reset_index(drop=True)
    in_process = build_panel(bars, fs, macro=macro)

    assert warnings == in_process.warnings
    assert on_spark["rank_log_return_20"].notna().sum() > 5_000
    pd.testing.assert_frame_equal(on_spark, in_process.frame, check_exact=True, check_dtype=False)


def test_a_build_through_spark_stores_what_an_in_process_build_stores(
    spark: SparkSession, tmp_path: Path
) -> None:
    from stockpred.pipeline.spark import SparkEngine

    fs = get_feature_set("daily_v1")
    frames = []
    for name, engine in (("local", build_panel), ("spark", SparkEngine(spark).build_panel)):
        with DuckDBStore(tmp_path / f"{name}.duckdb") as store:
            ingest_sample(store, calendar="XNYS", now=NOW)
            result = build_features(
                store, fs, tickers=["AAPL", "IBM", "^GSPC"], now=NOW, engine=engine
            )
            assert result.rows > 9_000
            frames.append(store.read_features(feature_set=fs.key))

    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)


def test_features_build_engine_spark_on_the_command_line(
    spark: SparkSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Last in the module: the command stops the Spark session it shares with the tests above.
    monkeypatch.setenv("STOCKPRED_SPARK_MASTER", "local[2]")
    monkeypatch.setenv("STOCKPRED_SPARK_DRIVER_MEMORY", "1g")
    assert main(["ingest", "sample", "--json"]) == 0
    capsys.readouterr()

    code = main(["features", "build", "--engine", "spark", "--tickers", "FB", "--json"])

    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["engine"] == "spark"
    assert result["new_rows"]["FB"] == result["rows"] > 0
