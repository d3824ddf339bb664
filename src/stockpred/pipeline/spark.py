"""The Spark engine for feature builds: the same kernels, grouped by ticker, on a Spark cluster
(``local[*]`` on one machine by default).

The work splits as the in-process panel splits it (``features/panel.py``):

1. the per-date context (index return and volatility, macro values as of release, calendar
   parts) is built once on the driver from the distinct bar closes and the index's bars, which
   are small, and shipped to the workers with the task;
2. each ticker's bars (and its daily sentiment, co-grouped) go to one pandas function on a
   worker, which adjusts them and runs every indicator kernel (:func:`ticker_features`);
3. cross-sectional ranks group the result by date (:func:`add_ranks`).

Each step calls the very functions the in-process engine calls, so both produce the same
values; ``tests/integration/test_spark_engine.py`` holds them to that. PySpark is optional:
install the ``spark`` extra; Spark needs a Java runtime (17 or newer).
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stockpred.domain.errors import FeatureError, MissingExtraError
from stockpred.extras import import_optional
from stockpred.features.panel import (
    DateContext,
    Panel,
    add_ranks,
    date_context,
    prepare_bars,
    ticker_features,
    ticker_outputs,
)
from stockpred.features.sets import FeatureSet

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

__all__ = ["SparkEngine", "spark_session"]

_BAR_INPUTS = ("ticker", "ts", "open", "high", "low", "close", "adj_close", "volume")
_SENTIMENT_INPUTS = (
    "ticker",
    "released_at",
    "mean",
    "count",
    "share_positive",
    "share_negative",
)


# pyspark warns that it does not fully support pandas 3, once per worker and call; the equality
# test against the in-process engine is what vouches for the results.
_QUIET = "ignore::FutureWarning"


@contextmanager
def spark_session(
    master: str = "local[*]", *, driver_memory: str = "4g", app_name: str = "stockpred"
) -> Iterator[SparkSession]:
    """A Spark session in UTC with Arrow transfers on; stopped on exit.

    ``master``: ``local[*]`` (every core of this machine), ``local[2]``, or a cluster URL such
    as ``spark://host:7077`` or ``k8s://...``.
    """
    import_optional("pyspark", extra="spark", purpose="the Spark feature engine")
    if shutil.which("java") is None:
        raise MissingExtraError(
            "the Spark feature engine needs a Java runtime (17 or newer) on PATH; install one "
            "(e.g. apt install openjdk-17-jre-headless) or build with --engine local"
        )
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if master.startswith("local"):
        # Local workers run this interpreter, which has stockpred (Spark reads the variable
        # when it starts its workers; its config key is not honoured for local workers). On a
        # cluster every worker image needs stockpred installed, the driver's version.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYTHONWARNINGS", _QUIET)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*")
        session = (
            builder.master(master)
            .appName(app_name)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.driver.memory", driver_memory)
            .config("spark.driver.maxResultSize", "0")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.executorEnv.PYTHONWARNINGS", _QUIET)
            .config("spark.sql.shuffle.partitions", "8")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()


def _with_aware_ts(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(ts=_aware(frame["ts"]))


def _naive_utc(values: pd.Series) -> pd.Series:
    """UTC timestamps without a zone, as Spark hands them to and takes them from pandas."""
    return pd.to_datetime(values, utc=True).dt.tz_convert(None).astype("datetime64[us]")


def _aware(values: pd.Series) -> pd.Series:
    """Timestamps from Spark (naive, in the session's UTC) as UTC-aware ones."""
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is None:
        return stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert("UTC")


class SparkEngine:
    """Builds a feature panel on Spark; a drop-in for :func:`build_panel` (same arguments, same
    result) so ``build_features`` can use either."""

    def __init__(self, session: SparkSession) -> None:
        self._spark = session

    def build_panel(
        self,
        bars: pd.DataFrame,
        feature_set: FeatureSet,
        *,
        macro: pd.DataFrame | None = None,
        sentiment: pd.DataFrame | None = None,
        as_of: pd.Timestamp | None = None,
        on_ticker: Callable[[str], None] | None = None,
    ) -> Panel:
        """The panel of ``bars`` computed on Spark, back on the driver as pandas.

        ``on_ticker`` is called once per ticker when the result is back (workers cannot report
        to the driver's progress bar as they go).
        """
        frame = bars.loc[:, [c for c in _BAR_INPUTS if c in bars.columns]].copy()
        frame["ts"] = _naive_utc(frame["ts"])
        if as_of is not None:
            cut = pd.Timestamp(as_of)
            if cut.tzinfo is None:
                raise FeatureError(f"as_of {cut} has no time zone; pass a UTC-aware timestamp")
            frame = frame[frame["ts"] <= cut.tz_convert("UTC").tz_localize(None)]
        # The context is small and the bars are here: build it on the driver, no Spark job.
        index = feature_set.context.index_ticker
        index_rows = frame[frame["ticker"] == index] if index is not None else frame.iloc[:0]
        context = date_context(
            pd.DatetimeIndex(_aware(frame["ts"])).as_unit("ns").asi8,
            feature_set,
            index_bars=None if index_rows.empty else prepare_bars(_with_aware_ts(index_rows)),
            macro=macro,
            as_of=as_of,
        )
        # Object strings: pyspark takes pandas 3's Arrow-backed ones three times slower.
        spark_bars = self._spark.createDataFrame(frame.astype({"ticker": object}))
        spark_sentiment = None
        if sentiment is not None and feature_set.context.sentiment_outputs:
            daily = sentiment
            if "scorer" in daily.columns:
                daily = daily[daily["scorer"] == feature_set.context.sentiment_scorer]
            if as_of is not None:
                daily = daily[daily["released_at"] <= pd.Timestamp(as_of)]
            if not daily.empty:
                rows = daily.loc[:, list(_SENTIMENT_INPUTS)].copy()
                rows["released_at"] = _naive_utc(rows["released_at"])
                rows[list(_SENTIMENT_INPUTS[2:])] = rows[list(_SENTIMENT_INPUTS[2:])].astype(
                    "float64"
                )
                spark_sentiment = self._spark.createDataFrame(rows.astype({"ticker": object}))
        result, warnings = self._compute(
            spark_bars, feature_set, context, sentiment=spark_sentiment, ranks=False
        )
        panel = result.toPandas()
        panel["ts"] = _aware(panel["ts"])
        panel = panel.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)
        # The panel is on the driver anyway: ranking it here spares the cluster a shuffle of
        # every feature by date.
        panel = add_ranks(panel, feature_set.context.ranks)
        if on_ticker is not None:
            for ticker in panel["ticker"].unique():
                on_ticker(str(ticker))
        return Panel(panel, warnings)

    def build(
        self,
        bars: SparkFrame,
        feature_set: FeatureSet,
        *,
        macro: pd.DataFrame | None = None,
        sentiment: SparkFrame | None = None,
        as_of: pd.Timestamp | None = None,
        ranks: bool = True,
    ) -> tuple[SparkFrame, tuple[str, ...]]:
        """The panel as a Spark frame (ticker, ts, then the set's outputs), unsorted, and the
        warnings about missing context. ``bars``: the bars contract with ts in UTC (already
        cut at ``as_of``); ``sentiment``: ticker, released_at, mean, count, share_positive,
        share_negative. For data that stays on the cluster (e.g. Parquet in, Parquet out).
        Without ``ranks`` the rank columns are left out (the caller ranks by date)."""
        from pyspark.sql import functions as sql

        ctx = feature_set.context
        distinct = bars.select("ts").distinct().toPandas()["ts"]
        stamps = pd.DatetimeIndex(_aware(distinct)).as_unit("ns").asi8
        index_bars = None
        if ctx.index_ticker is not None:
            index_rows = bars.filter(sql.col("ticker") == ctx.index_ticker).toPandas()
            if not index_rows.empty:
                index_bars = prepare_bars(_with_aware_ts(index_rows))
        context = date_context(stamps, feature_set, index_bars=index_bars, macro=macro, as_of=as_of)
        return self._compute(bars, feature_set, context, sentiment=sentiment, ranks=ranks)

    def _compute(
        self,
        bars: SparkFrame,
        feature_set: FeatureSet,
        context: DateContext,
        *,
        sentiment: SparkFrame | None,
        ranks: bool,
    ) -> tuple[SparkFrame, tuple[str, ...]]:
        from pyspark.sql.types import DoubleType, StringType, StructField, StructType
        from pyspark.sql.types import TimestampType as SparkTimestamp

        ctx = feature_set.context
        names = ticker_outputs(feature_set)
        key_fields = [
            StructField("ticker", StringType(), False),
            StructField("ts", SparkTimestamp(), False),
        ]
        schema = StructType(key_fields + [StructField(n, DoubleType(), True) for n in names])
        compute = _per_ticker(feature_set, context)
        if sentiment is None:
            grouped = bars.groupBy("ticker").applyInPandas(lambda g: compute(g, None), schema)
        else:
            grouped = (
                bars.groupBy("ticker")
                .cogroup(sentiment.groupBy("ticker"))
                .applyInPandas(compute, schema)
            )
        warnings = list(context.warnings)
        if ctx.sentiment_outputs and sentiment is None:
            warnings.append(
                f"no daily sentiment ({ctx.sentiment_scorer}) held; "
                f"{', '.join(ctx.sentiment_outputs)} are NaN"
            )
        if not ctx.ranks or not ranks:
            return grouped, tuple(warnings)
        ranked_fields = [StructField(f"rank_{n}", DoubleType(), True) for n in ctx.ranks]
        ranked_names = tuple(ctx.ranks)

        def rank(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            # A partition holds whole dates (repartitioned by ts); one call ranks them all.
            rows = [batch for batch in batches if not batch.empty]
            if rows:
                ranked = add_ranks(pd.concat(rows, ignore_index=True), ranked_names)
                # pandas 3 strings are chunked Arrow arrays, which pyspark cannot send back.
                yield ranked.assign(ticker=ranked["ticker"].astype(object))

        partitions = max(1, self._spark.sparkContext.defaultParallelism)
        ranked = grouped.repartition(partitions, "ts").mapInPandas(
            rank, StructType(schema.fields + ranked_fields)
        )
        return ranked, tuple(warnings)


def _per_ticker(
    feature_set: FeatureSet, context: DateContext
) -> Callable[[pd.DataFrame, pd.DataFrame | None], pd.DataFrame]:
    """The function each worker runs on one ticker's bars (and its sentiment rows)."""
    names = list(ticker_outputs(feature_set))

    def compute(group: pd.DataFrame, sentiment: pd.DataFrame | None) -> pd.DataFrame:
        if group.empty:
            return pd.DataFrame(columns=["ticker", "ts", *names])
        group = group.assign(ts=_aware(group["ts"]))
        prepared = prepare_bars(group)
        daily = None
        if sentiment is not None and not sentiment.empty:
            daily = sentiment.drop(columns="ticker").assign(
                released_at=_aware(sentiment["released_at"])
            )
            daily = daily.sort_values("released_at", kind="stable").reset_index(drop=True)
        values = ticker_features(
            pd.DatetimeIndex(prepared["ts"]).as_unit("ns").asi8,
            {c: prepared[c].to_numpy(dtype="float64") for c in _PRICES},
            feature_set,
            context,
            sentiment=daily,
        )
        out = pd.DataFrame(np.ascontiguousarray(values), columns=names)
        out.insert(0, "ts", _naive_utc(prepared["ts"]).to_numpy())
        out.insert(0, "ticker", prepared["ticker"].to_numpy())
        return out

    return compute


_PRICES = ("open", "high", "low", "close", "volume")
