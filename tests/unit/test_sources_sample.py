"""The offline sample: real prices of five stocks and two indices, and point-in-time macro."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockpred.quality.bars import validate_bars
from stockpred.sources.sample import load_sample_bars, load_sample_macro

MONTHLY = ("CPILFESL", "AAA", "BAA")


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_sample_bars()


@pytest.fixture(scope="module")
def macro() -> pd.DataFrame:
    return load_sample_macro()


def close_on(bars: pd.DataFrame, ticker: str, day: str) -> float:
    (close,) = bars.loc[
        (bars["ticker"] == ticker) & (bars["date"] == pd.Timestamp(day)), "close"
    ].to_numpy()
    return float(close)


def test_sample_bars_hold_five_stocks_and_two_indices(bars: pd.DataFrame) -> None:
    assert set(bars["ticker"]) == {"AAPL", "FB", "GOOG", "IBM", "MSFT", "^GSPC", "^IXIC"}


@pytest.mark.parametrize(
    ("ticker", "day", "close"),
    [
        # Apple's record close before its 2014 split, unadjusted.
        ("AAPL", "2012-09-19", 702.10),
        # Apple the day before its 2-for-1 split of 21 June 2000, unadjusted.
        ("AAPL", "2000-06-20", 101.25),
        # S&P 500 record close before the 2008 crisis, and the 9% fall of 15 October 2008.
        ("^GSPC", "2007-10-09", 1565.15),
        ("^GSPC", "2008-10-15", 907.84),
        # NASDAQ Composite at the top of the dot-com bubble.
        ("^IXIC", "2000-03-10", 5048.62),
    ],
)
def test_sample_bars_hold_real_historical_closes(
    bars: pd.DataFrame, ticker: str, day: str, close: float
) -> None:
    assert close_on(bars, ticker, day) == pytest.approx(close, abs=0.005)


def test_sample_bars_have_canonical_columns_and_unique_rows_per_file(bars: pd.DataFrame) -> None:
    assert {"file", "row", "ticker", "date", "open", "high", "low", "close", "adj_close"} <= set(
        bars.columns
    )
    assert "volume" in bars.columns
    assert not bars.duplicated(["file", "row"]).any()
    assert not bars.duplicated(["ticker", "date"]).any()
    assert set(bars.loc[bars["ticker"] == "^GSPC", "file"]) == {"arch:sp500"}


def test_sample_bars_all_pass_validation(bars: pd.DataFrame) -> None:
    result = validate_bars(bars, calendar="XNYS")

    assert result.rejects.empty
    assert len(result.clean) == len(bars)


def test_sample_macro_holds_the_four_series(macro: pd.DataFrame) -> None:
    assert set(macro["series_id"]) == {"VIXCLS", "CPILFESL", "AAA", "BAA"}
    assert list(macro.columns) == ["series_id", "period", "released_at", "value", "source"]
    assert np.isfinite(macro["value"].to_numpy(dtype=float)).all()
    assert str(macro["released_at"].dt.tz) == "UTC"


@pytest.mark.parametrize("series_id", MONTHLY)
def test_monthly_value_is_released_strictly_after_its_month_ends(
    macro: pd.DataFrame, series_id: str
) -> None:
    points = macro[macro["series_id"] == series_id]
    period = pd.DatetimeIndex(pd.to_datetime(points["period"]))
    # Monthly periods are named by their first day.
    assert (period.day == 1).all()
    # The month ends at midnight New York time at the start of the next month.
    month_end = (period + pd.offsets.MonthBegin(1)).tz_localize("America/New_York")

    released = pd.DatetimeIndex(points["released_at"])

    assert (released > month_end.tz_convert("UTC")).all()


def test_september_2013_core_cpi_is_not_known_before_its_late_release(
    macro: pd.DataFrame,
) -> None:
    # The October 2013 shutdown delayed the September CPI release to 30 October, 08:30 ET.
    (released,) = macro.loc[
        (macro["series_id"] == "CPILFESL") & (macro["period"] == pd.Timestamp("2013-09-01").date()),
        "released_at",
    ]

    assert released >= pd.Timestamp("2013-10-30 08:30", tz="America/New_York")


def test_vix_close_is_known_only_after_the_market_closes(macro: pd.DataFrame) -> None:
    vix = macro[macro["series_id"] == "VIXCLS"]
    session_close = pd.DatetimeIndex(pd.to_datetime(vix["period"])) + pd.Timedelta(hours=16)

    released = pd.DatetimeIndex(vix["released_at"])

    assert (released > session_close.tz_localize("America/New_York").tz_convert("UTC")).all()
    assert (
        released.tz_convert("America/New_York").normalize().tz_localize(None)
        == pd.DatetimeIndex(pd.to_datetime(vix["period"]))
    ).all()
