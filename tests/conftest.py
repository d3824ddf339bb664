"""Fixtures shared by every test: an isolated environment and the real data in ../shared/data."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()

_ENV_PREFIX = "STOCKPRED_"
# Variables of the test suite itself (service URLs and the like) survive the isolation.
_TEST_ENV_PREFIX = "STOCKPRED_TEST_"


def isolate_environment(monkeypatch: pytest.MonkeyPatch, *, home: Path, cwd: Path) -> None:
    """Point STOCKPRED_HOME at ``home``, work in ``cwd`` and drop every other STOCKPRED_* setting.

    Run from ``cwd`` so that no ``stockpred.toml`` of the developer's working directory leaks in.
    """
    for key in list(os.environ):
        upper = key.upper()
        if upper.startswith(_ENV_PREFIX) and not upper.startswith(_TEST_ENV_PREFIX):
            monkeypatch.delenv(key)
    monkeypatch.setenv("STOCKPRED_HOME", str(home))
    monkeypatch.chdir(cwd)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_environment(monkeypatch, home=tmp_path / "home", cwd=tmp_path)


@pytest.fixture(scope="session")
def isolate() -> Callable[..., None]:
    """:func:`isolate_environment`, for module-scoped fixtures that use their own MonkeyPatch."""
    return isolate_environment


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data beside the repository (../shared/data); tests using it skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (a sibling of the repository)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def dev_prices(shared_data: Path) -> Path:
    """sp500_5yr_dev.csv: 294,890 daily bars of 241 tickers, a few of them bad (real data)."""
    path = shared_data / "prices" / "sp500_5yr_dev.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def dev_defects(dev_prices: Path) -> pd.DataFrame:
    """Every defect of the dev file as (row, field), found with plain pandas, independently of
    stockpred: a missing price or volume, a high below max(open, close), a low above
    min(open, close). ``row`` is the CSV line number (header = 1)."""
    raw = pd.read_csv(dev_prices)
    raw["row"] = np.arange(2, len(raw) + 2)
    flagged = {field: raw[field].isna() for field in ("open", "high", "low", "close", "volume")}
    flagged["high"] |= raw["high"] < np.fmax(raw["open"], raw["close"])
    flagged["low"] |= raw["low"] > np.fmin(raw["open"], raw["close"])
    defects = pd.concat(
        [raw.loc[mask, ["row"]].assign(field=field) for field, mask in flagged.items()],
        ignore_index=True,
    )
    return defects.sort_values(["row", "field"]).reset_index(drop=True)
