"""The ranks across tickers: one date's fast path equals the grid's scipy ranks exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from stockpred.features.panel import add_ranks

values = st.lists(
    st.one_of(st.none(), st.integers(0, 6).map(float), st.floats(-5, 5, allow_nan=False)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_one_dates_ranks_equal_scipys_average_ranks_ties_and_gaps_included(
    column: list[float | None],
) -> None:
    x = np.array([np.nan if v is None else v for v in column])
    tickers = [f"S{i:02d}" for i in range(len(x))]
    day = pd.Timestamp("2024-03-01 21:00", tz="UTC")
    frame = pd.DataFrame({"ticker": [*tickers, "^GSPC"], "ts": day, "x": [*x, 1.0]})

    ranked = add_ranks(frame, ["x"])["rank_x"].to_numpy()

    count = int(np.sum(~np.isnan(x)))
    want = rankdata(x, nan_policy="omit") / count if count else np.full(len(x), np.nan)
    assert np.array_equal(ranked[:-1], want, equal_nan=True)
    assert np.isnan(ranked[-1])  # the index is left out


def test_two_dates_rank_each_date_on_its_own() -> None:
    days = pd.to_datetime(["2024-03-01 21:00", "2024-03-04 21:00"], utc=True)
    frame = pd.DataFrame(
        {"ticker": ["A", "B", "A", "B"], "ts": days.repeat(2), "x": [1.0, 2.0, 5.0, 3.0]}
    )
    assert list(add_ranks(frame, ["x"])["rank_x"]) == [0.5, 1.0, 1.0, 0.5]


@settings(max_examples=200, deadline=None)
@given(st.lists(values, min_size=1, max_size=5), st.integers(1, 40))
def test_several_columns_rank_each_on_its_own_at_once(
    columns: list[list[float | None]], length: int
) -> None:
    # Columns of one length, each with its own ties and gaps (all NaN included).
    grid = np.array(
        [[np.nan if v is None else v for v in (c * length)[:length]] for c in columns]
    ).T
    day = pd.Timestamp("2024-03-01 21:00", tz="UTC")
    names = [f"x{j}" for j in range(grid.shape[1])]
    frame = pd.DataFrame(grid, columns=names)
    frame.insert(0, "ts", day)
    frame.insert(0, "ticker", [f"S{i:02d}" for i in range(length)])

    ranked = add_ranks(frame, names)

    for j, name in enumerate(names):
        x = grid[:, j]
        count = int(np.sum(~np.isnan(x)))
        want = rankdata(x, nan_policy="omit") / count if count else np.full(len(x), np.nan)
        assert np.array_equal(ranked[f"rank_{name}"].to_numpy(), want, equal_nan=True)
