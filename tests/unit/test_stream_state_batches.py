"""The stream state steps a call's bars as one stacked update, yet takes them as it would one
by one: two closes of a ticker in one call step in order, and a call refused part-way keeps the
bars before the refused one."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.errors import FeatureError
from stockpred.features.sets import get_feature_set
from stockpred.stream.features import SessionFeatures, bars_of

TICKERS, SESSIONS = 5, 80


def _bars() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    days = pd.bdate_range("2022-01-03", periods=SESSIONS, tz="UTC") + pd.Timedelta(hours=21)
    frames = []
    for name in ["^GSPC", *(f"S{i}" for i in range(TICKERS))]:
        close = 40 * np.exp(np.cumsum(rng.normal(0, 0.02, SESSIONS)))
        frames.append(
            pd.DataFrame(
                {
                    "ticker": name, "ts": days, "open": close * 1.002, "high": close * 1.01,
                    "low": close * 0.99, "close": close, "adj_close": close,
                    "volume": rng.integers(1_000, 9_000, SESSIONS).astype(float),
                }
            )
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _sessions() -> list[pd.DataFrame]:
    return [s for _, s in _bars().groupby("ts", sort=True)]


def _warmed(sessions: list[pd.DataFrame]) -> SessionFeatures:
    state = SessionFeatures(get_feature_set("daily_v1"))
    state.warm(pd.concat(sessions, ignore_index=True))
    return state


def test_two_closes_of_a_ticker_in_one_call_step_in_order() -> None:
    *history, first, second, third = _sessions()
    one_by_one = _warmed(history)
    one_by_one.close_session(bars_of(first))
    one_by_one.close_session(bars_of(second))
    together = _warmed(history)
    together.close_session(bars_of(pd.concat([first, second], ignore_index=True)))
    pd.testing.assert_frame_equal(
        together.close_session(bars_of(third)),
        one_by_one.close_session(bars_of(third)),
        check_exact=True,
    )


def test_a_close_refused_for_an_intraday_bar_keeps_the_bars_before_it() -> None:
    *history, session, following = _sessions()
    bars = bars_of(session)
    refused = next(b for b in bars if b.ticker == "S3")
    # Taken index first, then by ticker: S3's intraday bar stops the call before S3 and S4.
    kept = [b for b in bars if b.ticker in {"^GSPC", "S0", "S1", "S2"}]
    one_by_one = _warmed(history)
    one_by_one.close_session(kept)
    partly = _warmed(history)
    with pytest.raises(FeatureError, match="takes daily bars"):
        partly.close_session(
            [*(b for b in bars if b is not refused), dataclasses.replace(refused, interval="1m")]
        )
    for ticker in ("S2", "S3", "S4"):
        assert partly.last_ts(ticker) == one_by_one.last_ts(ticker), ticker
    pd.testing.assert_frame_equal(
        partly.close_session(bars_of(following)),
        one_by_one.close_session(bars_of(following)),
        check_exact=True,
    )
