"""When a ticker has no feature rows, predict says why and what would help."""

from __future__ import annotations

import pandas as pd

from stockpred.features.sets import get_feature_set
from stockpred.pipeline.predict import _why_no_features


class Bars:
    def __init__(self, count: int) -> None:
        self.count = count

    def read_bars(self, *, tickers: list[str]) -> pd.DataFrame:
        ts = pd.date_range("2024-01-02", periods=self.count, freq="B", tz="UTC")
        return pd.DataFrame({"ticker": tickers[0], "ts": ts, "close": 1.0})


def test_a_short_history_is_told_how_many_bars_it_has_and_needs() -> None:
    key = get_feature_set("daily_v1").key
    needed = get_feature_set("daily_v1").lookback

    message = _why_no_features(Bars(30), "NEWCO", key)  # type: ignore[arg-type]

    assert f"NEWCO has 30 bars and {key} needs more than {needed}" in message
    assert "ingest prices --tickers NEWCO --start" in message


def test_an_unknown_ticker_is_told_to_ingest_it() -> None:
    message = _why_no_features(Bars(0), "NOPE", "daily_v1@3")  # type: ignore[arg-type]

    assert message.startswith("no bars stored for NOPE")


def test_a_long_enough_history_is_told_to_build_features() -> None:
    message = _why_no_features(Bars(2000), "OLDCO", "daily_v1@3")  # type: ignore[arg-type]

    assert "features build" in message
    assert "2000 bars held" in message
