"""Daily per-ticker sentiment aggregates: values by hand, validation, and point in time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockpred.domain.errors import DataQualityError
from stockpred.sentiment import DAILY_SENTIMENT_COLUMNS, aggregate_daily_sentiment

START = datetime(2024, 3, 1, tzinfo=UTC)


def headlines(items: list[tuple[str, datetime, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": [t for t, _, _ in items],
            "published_at": pd.to_datetime([p for _, p, _ in items], utc=True),
            "sentiment": pd.array([s for _, _, s in items], dtype="Float64").astype("float64"),
        }
    )


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def test_daily_rows_by_hand() -> None:
    frame = headlines(
        [
            ("AAPL", at(1), 0.5),
            ("AAPL", at(9), -0.25),
            ("AAPL", at(23.5), 0.0),
            ("AAPL", at(24.5), 1.0),  # next UTC day
            ("MSFT", at(2), -1.0),
        ]
    )

    daily = aggregate_daily_sentiment(frame)

    assert tuple(daily.columns) == DAILY_SENTIMENT_COLUMNS
    assert daily["ticker"].tolist() == ["AAPL", "AAPL", "MSFT"]
    assert daily["day"].tolist() == [
        pd.Timestamp("2024-03-01", tz="UTC"),
        pd.Timestamp("2024-03-02", tz="UTC"),
        pd.Timestamp("2024-03-01", tz="UTC"),
    ]
    first = daily.iloc[0]
    assert first["mean"] == pytest.approx((0.5 - 0.25 + 0.0) / 3)
    assert first["count"] == 3
    assert first["share_positive"] == pytest.approx(1 / 3)
    assert first["share_negative"] == pytest.approx(1 / 3)
    assert first["released_at"] == pd.Timestamp(at(23.5))
    assert daily.iloc[1][["mean", "count", "share_positive"]].tolist() == [1.0, 1, 1.0]
    assert daily.iloc[2]["released_at"] == pd.Timestamp(at(2))


def test_day_is_the_utc_day_whatever_the_input_time_zone() -> None:
    frame = headlines([("AAPL", at(23), 0.5)])
    frame["published_at"] = frame["published_at"].dt.tz_convert("America/New_York")

    daily = aggregate_daily_sentiment(frame)

    assert daily["day"].tolist() == [pd.Timestamp("2024-03-01", tz="UTC")]
    assert str(daily["released_at"].dt.tz) == "UTC"


def test_neutral_band_decides_which_items_count_as_positive_or_negative() -> None:
    frame = headlines([("AAPL", at(1), 0.04), ("AAPL", at(2), -0.2), ("AAPL", at(3), 0.05)])

    plain = aggregate_daily_sentiment(frame).iloc[0]
    banded = aggregate_daily_sentiment(frame, neutral_band=0.05).iloc[0]

    assert (plain["share_positive"], plain["share_negative"]) == (2 / 3, 1 / 3)
    assert (banded["share_positive"], banded["share_negative"]) == (0.0, 1 / 3)


def test_items_without_a_score_are_left_out() -> None:
    frame = headlines([("AAPL", at(1), 0.5), ("AAPL", at(5), None)])

    daily = aggregate_daily_sentiment(frame)

    assert daily.iloc[0]["count"] == 1
    assert daily.iloc[0]["released_at"] == pd.Timestamp(at(1))


def test_no_headlines_give_an_empty_frame_with_the_columns() -> None:
    daily = aggregate_daily_sentiment(headlines([]))

    assert daily.empty
    assert tuple(daily.columns) == DAILY_SENTIMENT_COLUMNS


def test_naive_publication_times_are_refused() -> None:
    frame = headlines([("AAPL", at(1), 0.5)])
    frame["published_at"] = frame["published_at"].dt.tz_localize(None)

    with pytest.raises(DataQualityError, match="timezone-aware"):
        aggregate_daily_sentiment(frame)


def test_scores_outside_minus_one_to_one_are_refused() -> None:
    with pytest.raises(DataQualityError, match=r"\[-1, 1\].*1\.5.*AAPL"):
        aggregate_daily_sentiment(headlines([("AAPL", at(1), 1.5)]))


def test_scores_that_are_not_numbers_are_refused() -> None:
    frame = headlines([("AAPL", at(1), 0.5)])
    frame["sentiment"] = ["bullish"]

    with pytest.raises(DataQualityError, match="'bullish'"):
        aggregate_daily_sentiment(frame)


def test_missing_columns_are_named() -> None:
    with pytest.raises(DataQualityError, match="sentiment"):
        aggregate_daily_sentiment(headlines([("AAPL", at(1), 0.5)]).drop(columns="sentiment"))


def test_other_score_column_can_be_aggregated() -> None:
    frame = headlines([("AAPL", at(1), 0.5)]).rename(columns={"sentiment": "vader"})

    assert aggregate_daily_sentiment(frame, score_column="vader").iloc[0]["mean"] == 0.5


# Items over five days for three tickers, scores on a grid so ties and zeros happen.
item = st.tuples(
    st.sampled_from(["AAPL", "MSFT", "IBM"]),
    st.integers(min_value=0, max_value=5 * 24 * 60).map(lambda m: START + timedelta(minutes=m)),
    st.integers(min_value=-20, max_value=20).map(lambda k: k / 20),
)


@settings(max_examples=100, deadline=None)
@given(items=st.lists(item, max_size=30), later=item, delay=st.integers(0, 3 * 24 * 60))
def test_an_item_published_later_never_changes_an_earlier_day(
    items: list[tuple[str, datetime, float]],
    later: tuple[str, datetime, float],
    delay: int,
) -> None:
    last = max((p for _, p, _ in items), default=START)
    new = (later[0], last + timedelta(minutes=delay), later[2])
    before = aggregate_daily_sentiment(headlines(items))
    after = aggregate_daily_sentiment(headlines([*items, new]))

    new_day = pd.Timestamp(new[1]).floor("D")
    untouched = (after["day"] < new_day) | (after["ticker"] != new[0])
    expected = before[(before["day"] < new_day) | (before["ticker"] != new[0])]
    pd.testing.assert_frame_equal(
        after[untouched].reset_index(drop=True), expected.reset_index(drop=True)
    )


@settings(max_examples=100, deadline=None)
@given(items=st.lists(item, max_size=30), cutoff=st.integers(0, 5 * 24 * 60))
def test_rows_released_by_t_are_the_same_without_anything_published_after_t(
    items: list[tuple[str, datetime, float]], cutoff: int
) -> None:
    t = pd.Timestamp(START + timedelta(minutes=cutoff))
    full = aggregate_daily_sentiment(headlines(items))
    known = aggregate_daily_sentiment(headlines([i for i in items if i[1] <= t]))

    # Nothing known at t claims a release after t, days before t's are complete at t, and every
    # row the full history says was released by t is exactly the row known at t.
    assert (known["released_at"] <= t).all()
    day = t.floor("D")
    pd.testing.assert_frame_equal(
        known[known["day"] < day].reset_index(drop=True),
        full[full["day"] < day].reset_index(drop=True),
    )
    released = full[full["released_at"] <= t]
    same_keys = known.merge(released[["ticker", "day"]], on=["ticker", "day"])
    pd.testing.assert_frame_equal(same_keys, released.reset_index(drop=True))


@settings(max_examples=50, deadline=None)
@given(items=st.lists(item, max_size=30), seed=st.randoms())
def test_the_order_items_arrive_in_does_not_matter(
    items: list[tuple[str, datetime, float]], seed: random.Random
) -> None:
    shuffled = list(items)
    seed.shuffle(shuffled)

    pd.testing.assert_frame_equal(
        aggregate_daily_sentiment(headlines(items)),
        aggregate_daily_sentiment(headlines(shuffled)),
    )
