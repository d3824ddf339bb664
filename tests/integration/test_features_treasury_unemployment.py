"""daily_v1's 10-year yield, term spread (10y - 3m) and unemployment change on real FRED series
(../shared/data/macro: DGS10, DGS3MO, UNRATE), stored as the macro ingest stores FRED points and
built over the real sample's S&P 500 bars; every value is checked against the series read and
joined here independently, as of each point's release time. The points go through the store
(``write_macro``, then ``read_macro(as_of=...)``) as ingested FRED points do before a build.

The files are FRED CSV downloads (``DATE,<id>``, a day without a value written ``.``) and carry
no vintages, so release times come from conservative rules, as the packaged sample's do:

* DGS10, DGS3MO (H.15 daily): the Fed publishes day D's yields on the next business day; like
  the FRED adapter, the end of that day in New York is taken.
* UNRATE (Employment Situation): month M is published in early M+1 (22 October in the 2013
  shutdown); the end of M+1 at 08:30 New York is never early.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.features.panel import build_panel
from stockpred.features.sets import get_feature_set
from stockpred.pipeline.ingest import ingest_sample
from stockpred.store.duckdb import DuckDBStore

NOW = datetime(2026, 1, 5, tzinfo=UTC)
NEW_YORK = "America/New_York"
SERIES = ("DGS10", "DGS3MO", "UNRATE")
INDEX = "^GSPC"  # the sample's S&P 500 bars, 1999-2018


def _next_business_day_end(period: pd.DatetimeIndex) -> pd.DatetimeIndex:
    day = period + pd.offsets.BDay(1)
    return (day + pd.Timedelta(hours=23, minutes=59, seconds=59)).tz_localize(NEW_YORK)


def _end_of_next_month(period: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return (period + pd.offsets.MonthEnd(2) + pd.Timedelta(hours=8, minutes=30)).tz_localize(
        NEW_YORK
    )


RELEASE = {
    "DGS10": _next_business_day_end,
    "DGS3MO": _next_business_day_end,
    "UNRATE": _end_of_next_month,
}


def read_fred_csv(path: Path, series_id: str) -> pd.DataFrame:
    """Macro points (series_id, period, released_at UTC, value, source) of a FRED CSV file;
    days without a value are left out, as the FRED adapter leaves them out."""
    raw = pd.read_csv(path, na_values=["."])
    raw.columns = ["date", "value"]
    raw = raw.dropna(subset=["value"])
    period = pd.DatetimeIndex(pd.to_datetime(raw["date"], format="%Y-%m-%d"))
    return pd.DataFrame(
        {
            "series_id": series_id,
            "period": period.date,
            "released_at": RELEASE[series_id](period).tz_convert("UTC"),
            "value": raw["value"].to_numpy(dtype=float),
            "source": "fred",
        }
    )


@pytest.fixture(scope="module")
def points(shared_data: Path) -> dict[str, pd.DataFrame]:
    found = {}
    for series_id in SERIES:
        path = shared_data / "macro" / f"{series_id}.csv"
        if not path.is_file():
            pytest.skip(f"{path} not found (FRED {series_id} from ../shared/data/macro)")
        found[series_id] = read_fred_csv(path, series_id)
    return found


@pytest.fixture(scope="module")
def built(
    points: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> pd.DataFrame:
    """daily_v1's panel of the sample's ^GSPC, with the FRED series stored beside the sample's
    own macro and read back as a build reads them: ts by feature."""
    path = tmp_path_factory.mktemp("treasury") / "store.duckdb"
    with DuckDBStore(path) as store:
        ingest_sample(store, calendar="XNYS", now=NOW)
        store.write_macro(pd.concat(points.values(), ignore_index=True))
        as_of = pd.Timestamp(NOW)
        bars = store.read_bars(tickers=[INDEX], as_of=as_of)
        macro = store.read_macro(as_of=as_of)
    panel = build_panel(bars, get_feature_set("daily_v1"), macro=macro, as_of=as_of)
    assert not any(s in w for w in panel.warnings for s in SERIES), panel.warnings
    frame = panel.frame.set_index("ts")
    frame.index = pd.DatetimeIndex(frame.index).tz_convert("UTC")
    return frame


def known_at(points: pd.DataFrame, ts: pd.DatetimeIndex) -> np.ndarray:
    """The value of the latest point released at or before each ``ts`` (NaN before the first)."""
    ordered = points.sort_values("released_at")
    released = pd.DatetimeIndex(ordered["released_at"]).as_unit("ns").asi8
    position = np.searchsorted(released, ts.as_unit("ns").asi8, side="right") - 1
    values = ordered["value"].to_numpy(dtype=float)
    return np.where(position >= 0, values[np.maximum(position, 0)], np.nan)


def test_term_spread_is_10y_minus_3m_as_released_at_every_bar(
    built: pd.DataFrame, points: dict[str, pd.DataFrame]
) -> None:
    ts = pd.DatetimeIndex(built.index)
    expected = known_at(points["DGS10"], ts) - known_at(points["DGS3MO"], ts)

    assert len(ts) > 4000
    assert built["term_spread_10y_3m"].notna().all()
    np.testing.assert_allclose(built["term_spread_10y_3m"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(built["yield_10y"], known_at(points["DGS10"], ts), rtol=0)


def test_unemployment_change_is_the_latest_released_month_minus_the_one_before(
    built: pd.DataFrame, points: dict[str, pd.DataFrame]
) -> None:
    ts = pd.DatetimeIndex(built.index)
    unrate = points["UNRATE"].sort_values("period")
    changes = unrate.assign(value=unrate["value"].diff())

    np.testing.assert_allclose(
        built["unemployment_change"], known_at(changes, ts), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize(
    ("session", "yield_10y", "term_spread", "unemployment_change"),
    [
        # 28 Feb 2007: Monday 26th's yields (4.63, 5.19) are the latest released; Tuesday's
        # come out after the close. The curve is inverted.
        ("2007-02-28", 4.63, 4.63 - 5.19, None),
        # 5 Dec 2008: 3 Dec yields (2.67, 0.02); October's unemployment (6.5) against
        # September's (6.1) is the latest known, November's is not yet.
        ("2008-12-05", 2.67, 2.67 - 0.02, 6.5 - 6.1),
        # 25 Jun 2013: Friday 21st's yields (2.52, 0.05).
        ("2013-06-25", 2.52, 2.52 - 0.05, None),
    ],
)
def test_values_read_off_the_files_by_hand(
    built: pd.DataFrame,
    session: str,
    yield_10y: float,
    term_spread: float,
    unemployment_change: float | None,
) -> None:
    day = pd.Timestamp(session).date()
    row = built.loc[next(t for t in built.index if t.tz_convert(NEW_YORK).date() == day)]
    assert row["yield_10y"] == pytest.approx(yield_10y, abs=1e-12)
    assert row["term_spread_10y_3m"] == pytest.approx(term_spread, abs=1e-12)
    if unemployment_change is not None:
        assert row["unemployment_change"] == pytest.approx(unemployment_change, abs=1e-12)
