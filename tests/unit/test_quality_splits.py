"""detect_splits: real splits in real prices, confirmed by the adjusted close; no false alarms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockpred.quality.splits import SPLIT_COLUMNS, detect_splits


@pytest.fixture(scope="module")
def sample_stocks() -> pd.DataFrame:
    from bokeh_sampledata.stocks import data

    return data.loc[:, ["ticker", "date", "open", "high", "low", "close", "volume", "adj_close"]]


def series(ticker: str, closes: list[float], adj: list[float] | None = None) -> pd.DataFrame:
    """Closes on consecutive weekdays from 2013-12-02."""
    frame = pd.DataFrame(
        {
            "ticker": ticker,
            "date": pd.bdate_range("2013-12-02", periods=len(closes)),
            "close": closes,
        }
    )
    if adj is not None:
        frame["adj_close"] = adj
    return frame


def found(splits: pd.DataFrame) -> list[tuple[str, str, str, bool]]:
    return [
        (row.ticker, pd.Timestamp(row.date).date().isoformat(), row.ratio, bool(row.confirmed))
        for row in splits.rename(columns={"confirmed_by_adj_close": "confirmed"}).itertuples()
    ]


def test_sample_stocks_yield_exactly_the_three_real_splits(sample_stocks: pd.DataFrame) -> None:
    # Apple split 2-for-1 on 21 June 2000 and 28 February 2005, Microsoft on 18 February 2003;
    # Google, IBM and Facebook did not split between 2000 and March 2013.
    splits = detect_splits(sample_stocks)

    assert found(splits) == [
        ("AAPL", "2000-06-21", "2:1", True),
        ("AAPL", "2005-02-28", "2:1", True),
        ("MSFT", "2003-02-18", "2:1", True),
    ]
    assert tuple(splits.columns) == SPLIT_COLUMNS


def test_split_reports_the_raw_closes_around_it(sample_stocks: pd.DataFrame) -> None:
    splits = detect_splits(sample_stocks).set_index(["ticker", "date"])

    apple_2000 = splits.loc[("AAPL", pd.Timestamp("2000-06-21"))]
    # Raw closes on 20 and 21 June 2000: the price halves (plus the day's 10% rise).
    assert apple_2000["close_before"] == pytest.approx(101.25)
    assert apple_2000["close_after"] == pytest.approx(55.63)


def test_split_is_found_whatever_the_row_order(sample_stocks: pd.DataFrame) -> None:
    shuffled = sample_stocks.sample(frac=1.0, random_state=7)

    assert found(detect_splits(shuffled)) == found(detect_splits(sample_stocks))


def test_reverse_split_without_adjusted_close_is_found_unconfirmed() -> None:
    # 1:10 reverse split: ten old shares become one, the price goes up tenfold.
    bars = series("XYZ", [1.00, 1.02, 10.10, 10.00, 9.90])

    splits = detect_splits(bars)

    assert found(splits) == [("XYZ", "2013-12-04", "1:10", False)]
    assert splits.loc[0, "close_before"] == pytest.approx(1.02)
    assert splits.loc[0, "close_after"] == pytest.approx(10.10)


def test_reverse_split_with_smooth_adjusted_close_is_confirmed() -> None:
    bars = series("XYZ", [1.00, 1.02, 10.10, 10.00], adj=[10.00, 10.20, 10.10, 10.00])

    assert found(detect_splits(bars)) == [("XYZ", "2013-12-04", "1:10", True)]


def test_two_for_one_without_adjusted_close_is_a_possible_split() -> None:
    bars = series("XYZ", [100.0, 101.0, 50.8, 51.0])

    assert found(detect_splits(bars)) == [("XYZ", "2013-12-04", "2:1", False)]


def test_three_for_two_confirmed_by_adjusted_close() -> None:
    # Factor close/adj_close goes from 1.5 to 1.0 while the adjusted price rises 1%.
    bars = series("XYZ", [150.0, 151.5, 102.0], adj=[100.0, 101.0, 102.0])

    assert found(detect_splits(bars)) == [("XYZ", "2013-12-04", "3:2", True)]


def test_ordinary_25_percent_drop_is_not_a_split() -> None:
    assert detect_splits(series("XYZ", [100.0, 100.0, 75.0, 74.0])).empty


def test_ordinary_25_percent_drop_shared_by_adjusted_close_is_not_a_split() -> None:
    bars = series("XYZ", [100.0, 100.0, 75.0], adj=[50.0, 50.0, 37.5])

    assert detect_splits(bars).empty


def test_crash_of_half_shared_by_adjusted_close_is_not_a_split() -> None:
    # Without an adjusted close a 50% fall would look like 2:1; the adjusted close falls too.
    bars = series("XYZ", [100.0, 100.0, 50.0], adj=[90.0, 90.0, 45.0])

    assert detect_splits(bars).empty


def test_jump_between_two_tickers_is_not_a_split() -> None:
    bars = pd.concat([series("AAA", [100.0, 101.0]), series("BBB", [10.0, 10.1])])

    assert detect_splits(bars).empty


def test_split_where_the_provider_changes_carries_a_note() -> None:
    bars = series("XYZ", [100.0, 101.0, 50.8])
    bars["source"] = ["alpha", "alpha", "beta"]

    splits = detect_splits(bars)

    assert len(splits) == 1
    assert "alpha" in splits.loc[0, "note"]
    assert "beta" in splits.loc[0, "note"]


def test_no_bars_give_no_splits() -> None:
    splits = detect_splits(pd.DataFrame(columns=["ticker", "date", "close", "adj_close"]))

    assert splits.empty
    assert tuple(splits.columns) == SPLIT_COLUMNS


def test_missing_adjusted_close_on_one_day_falls_back_to_the_raw_jump() -> None:
    bars = series("XYZ", [100.0, 101.0, 50.8], adj=[100.0, np.nan, 50.8])

    assert found(detect_splits(bars)) == [("XYZ", "2013-12-04", "2:1", False)]
