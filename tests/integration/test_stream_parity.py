"""Online equals offline for the whole feature set (DESIGN.md, invariant 2): the packaged
sample taken one session close at a time by the stream's state gives the feature rows
`features build` computes over the whole history, context and ranks included."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.cli.app import main
from stockpred.domain.frames import bars_of
from stockpred.features.sets import get_feature_set
from stockpred.store.duckdb import DuckDBStore
from stockpred.stream.features import SessionFeatures
from support.bench_report import report

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, isolate: Callable[..., None]) -> Path:
    root = tmp_path_factory.mktemp("parity")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, home=root / "home", cwd=root)
        assert main(["ingest", "sample", "--json"]) == 0
        assert main(["features", "build", "--json"]) == 0
    return root / "home" / "stockpred.duckdb"


def _streamed(store: DuckDBStore, *, warm_until: pd.Timestamp | None = None) -> pd.DataFrame:
    feature_set = get_feature_set("daily_v1")
    now = pd.Timestamp(datetime.now(UTC))
    state = SessionFeatures(feature_set, macro=store.read_macro(as_of=now))
    bars = store.read_bars(as_of=now)
    if warm_until is not None:
        state.warm(bars[bars["ts"] <= warm_until])
        bars = bars[bars["ts"] > warm_until]
    rows = [
        state.close_session(bars_of(session))
        for _, session in bars.sort_values(["ts", "ticker"]).groupby("ts", sort=True)
    ]
    return pd.concat([r for r in rows if not r.empty], ignore_index=True)


def _compare(streamed: pd.DataFrame, stored: pd.DataFrame) -> float:
    """The largest absolute difference, after checking both hold the same rows and NaNs."""
    key = ["ticker", "ts"]
    streamed = streamed.sort_values(key).reset_index(drop=True)
    stored = stored.sort_values(key).reset_index(drop=True)
    assert list(streamed["ticker"]) == list(stored["ticker"])
    assert (pd.DatetimeIndex(streamed["ts"]) == pd.DatetimeIndex(stored["ts"])).all()
    names = [c for c in stored.columns if c not in key]
    assert list(streamed.columns) == list(stored.columns)
    a = streamed[names].to_numpy(dtype="float64")
    b = stored[names].to_numpy(dtype="float64")
    mismatched = np.isnan(a) != np.isnan(b)
    where = sorted({names[j] for j in np.nonzero(mismatched)[1]})
    assert not mismatched.any(), f"NaN in one and not the other: {where}"
    both = ~np.isnan(a)
    scale = np.maximum(1.0, np.abs(b))
    diff = np.abs(a - b) / scale
    worst = np.nanmax(np.where(both, diff, 0.0), axis=0)
    off = {names[j]: float(worst[j]) for j in np.nonzero(worst > TOLERANCE)[0]}
    assert not off, f"features off by more than {TOLERANCE}: {off}"
    report(
        "parity",
        {
            "rows": len(stored),
            "features": len(names),
            "max_abs_diff": float(np.nanmax(np.where(both, np.abs(a - b), 0.0))),
            "max_rel_diff": float(worst.max()),
        },
    )
    return float(worst.max())


def test_the_stream_state_gives_the_rows_features_build_stored(built: Path) -> None:
    with DuckDBStore(built) as store:
        stored = store.read_features(feature_set=get_feature_set("daily_v1").key)
        streamed = _streamed(store)

    worst = _compare(streamed, stored)

    print(f"\nparity over {len(stored)} rows x {stored.shape[1] - 2} features: {worst:.2e}")
    assert len(stored) > 12_000


def test_a_state_warmed_on_the_stored_history_continues_with_the_same_rows(built: Path) -> None:
    with DuckDBStore(built) as store:
        stored = store.read_features(feature_set=get_feature_set("daily_v1").key)
        cut = pd.Timestamp("2012-06-29 20:00", tz="UTC")
        streamed = _streamed(store, warm_until=cut)

    later = stored[pd.DatetimeIndex(stored["ts"]) > cut]
    _compare(streamed, later)
    assert len(later) > 800
