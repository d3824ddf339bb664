"""Daily per-ticker sentiment aggregates, point in time.

A row for (ticker, UTC day) summarises the items of that ticker published on that day and
carries ``released_at``, the publication time of its last item: the earliest moment the row could
be known. Rows depend only on their own day's items, so an item published later never changes a
row of an earlier day, and a row with ``released_at <= t`` is the same whether or not anything
published after ``t`` is present.
"""

from __future__ import annotations

import pandas as pd

from stockpred.domain.errors import DataQualityError

__all__ = ["DAILY_SENTIMENT_COLUMNS", "aggregate_daily_sentiment"]

DAILY_SENTIMENT_COLUMNS = (
    "ticker",
    "day",
    "mean",
    "count",
    "share_positive",
    "share_negative",
    "released_at",
)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": pd.Series(dtype="str"),
            "day": pd.Series(dtype="datetime64[ns, UTC]"),
            "mean": pd.Series(dtype="float64"),
            "count": pd.Series(dtype="int64"),
            "share_positive": pd.Series(dtype="float64"),
            "share_negative": pd.Series(dtype="float64"),
            "released_at": pd.Series(dtype="datetime64[ns, UTC]"),
        }
    )


def _validated(headlines: pd.DataFrame, score_column: str) -> pd.DataFrame:
    missing = [c for c in ("ticker", "published_at", score_column) if c not in headlines.columns]
    if missing:
        raise DataQualityError(
            f"headlines lack the column(s) {missing}; they need ticker, published_at and "
            f"{score_column} (got {list(headlines.columns)})"
        )
    published = headlines["published_at"]
    if not isinstance(published.dtype, pd.DatetimeTZDtype):
        raise DataQualityError(
            f"published_at must be timezone-aware (UTC) datetimes; got dtype {published.dtype}. "
            "Localise it first, e.g. pd.to_datetime(column, utc=True)"
        )
    if headlines["ticker"].isna().any():
        row = int(headlines["ticker"].isna().to_numpy().argmax())
        raise DataQualityError(f"headline at position {row} has no ticker")
    scores = pd.to_numeric(headlines[score_column], errors="coerce").astype("float64")
    not_numbers = scores.isna() & headlines[score_column].notna()
    if not_numbers.any():
        raise DataQualityError(
            f"{score_column} must be numbers in [-1, 1]; got "
            f"{headlines[score_column][not_numbers].iloc[0]!r}"
        )
    frame = pd.DataFrame(
        {
            "ticker": headlines["ticker"].astype("object"),
            "published_at": published.dt.tz_convert("UTC"),
            "score": scores,
        }
    ).reset_index(drop=True)
    # An item not scored yet (missing score) is not part of any aggregate.
    frame = frame[frame["score"].notna()]
    outside = frame[(frame["score"] < -1) | (frame["score"] > 1)]
    if not outside.empty:
        raise DataQualityError(
            f"{score_column} must lie in [-1, 1]; got {outside['score'].iloc[0]!r} for "
            f"{outside['ticker'].iloc[0]!r} at {outside['published_at'].iloc[0]}"
        )
    return frame


def aggregate_daily_sentiment(
    headlines: pd.DataFrame, *, score_column: str = "sentiment", neutral_band: float = 0.0
) -> pd.DataFrame:
    """Per ticker and UTC day: mean score, count, share positive and negative, ``released_at``.

    ``headlines``: columns ``ticker``, ``published_at`` (timezone-aware) and ``score_column``
    (scores in [-1, 1]; rows without a score are left out). An item is positive when its score is
    above ``neutral_band``, negative when below ``-neutral_band`` (default 0: the sign; pass 0.05
    for VADER scores). Returns columns :data:`DAILY_SENTIMENT_COLUMNS`, ``day`` being midnight UTC
    of the day, sorted by ticker and day.
    """
    if neutral_band < 0:
        raise ValueError(f"neutral_band must be >= 0; got {neutral_band!r}")
    frame = _validated(headlines, score_column)
    if frame.empty:
        return _empty()
    # Within a day, a fixed order (by time, then score) makes the float sums, and so the row,
    # independent of the order the items arrived in.
    frame = frame.sort_values(["ticker", "published_at", "score"], kind="stable")
    frame = frame.assign(
        day=frame["published_at"].dt.floor("D"),
        positive=(frame["score"] > neutral_band).astype("float64"),
        negative=(frame["score"] < -neutral_band).astype("float64"),
    )
    daily = (
        frame.groupby(["ticker", "day"], sort=True)
        .agg(
            mean=("score", "mean"),
            count=("score", "size"),
            share_positive=("positive", "mean"),
            share_negative=("negative", "mean"),
            released_at=("published_at", "max"),
        )
        .reset_index()
    )
    daily["ticker"] = daily["ticker"].astype("str")
    daily["count"] = daily["count"].astype("int64")
    daily["day"] = daily["day"].astype("datetime64[ns, UTC]")
    daily["released_at"] = daily["released_at"].astype("datetime64[ns, UTC]")
    return daily.loc[:, list(DAILY_SENTIMENT_COLUMNS)]
