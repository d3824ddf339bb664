"""The leaderboard files: valid JSON, a self-contained HTML page naming every model, the equity
chart with matplotlib and a page that says why there is none without it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.errors import MissingExtraError
from stockpred.models.backtest import BacktestResult, backtest
from stockpred.models.metrics import PREDICTION_COLUMNS, score, score_by_fold
from stockpred.pipeline import report
from stockpred.pipeline.report import leaderboard_records, write_leaderboard

MODELS = ("random_walk", "ridge", "momentum_sign", "<lstm & co>")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def predictions_frame() -> pd.DataFrame:
    """Four models on 120 dates x 8 tickers: ridge has a signal, momentum_sign a weaker one,
    the oddly named one none; only ridge has intervals."""
    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2023-01-02", periods=120, tz="UTC")
    tickers = tuple(f"T{i}" for i in range(8))
    keys = pd.MultiIndex.from_product([dates, tickers], names=["ts", "ticker"]).to_frame(
        index=False
    )
    signal = rng.normal(0, 0.01, len(keys))
    actual = signal + rng.normal(0, 0.02, len(keys))
    forecasts = {
        "random_walk": np.zeros(len(keys)),
        "ridge": signal,
        "momentum_sign": 0.01 * np.sign(signal + rng.normal(0, 0.02, len(keys))),
        "<lstm & co>": rng.normal(0, 0.01, len(keys)),
    }
    parts = []
    for name, prediction in forecasts.items():
        part = keys.copy()
        part["horizon"] = 5
        part["model"] = name
        part["prediction"] = prediction
        part["lower"] = prediction - 0.03 if name == "ridge" else np.nan
        part["upper"] = prediction + 0.03 if name == "ridge" else np.nan
        part["actual"] = actual
        part["next_return"] = signal / 5 + rng.normal(0, 0.01, len(keys))
        part["fold"] = np.repeat(np.arange(len(dates)) // 60, len(tickers))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[list(PREDICTION_COLUMNS)]


@pytest.fixture(scope="module")
def evaluated() -> tuple[pd.DataFrame, pd.DataFrame, BacktestResult]:
    frame = predictions_frame()
    return score(frame, resamples=100), score_by_fold(frame), backtest(frame, k=2)


def test_records_are_json_ready_and_sorted_by_mean_rank_ic(
    evaluated: tuple[pd.DataFrame, pd.DataFrame, BacktestResult],
) -> None:
    scores, _, result = evaluated

    records = leaderboard_records(scores, backtest=result)

    json.dumps(records, allow_nan=False)  # NaN and infinities became null
    assert records[0]["model"] == "ridge"
    assert records[-1]["model"] == "random_walk"  # no rank IC: sorted last
    assert records[-1]["rank_ic_mean"] is None
    defined = [r["rank_ic_mean"] for r in records if r["rank_ic_mean"] is not None]
    assert defined == sorted(defined, reverse=True)  # type: ignore[type-var]
    assert {r["model"] for r in records} == set(MODELS)
    ridge = records[0]
    assert ridge["long_short_k"] == 2
    assert isinstance(ridge["long_short_sharpe_net"], float)
    assert isinstance(ridge["long_only_max_drawdown_gross"], float)
    for value in ridge.values():
        assert value is None or isinstance(value, str | int | float | bool)
        assert not (isinstance(value, float) and not math.isfinite(value))


def test_writes_valid_json_html_and_the_equity_chart(
    tmp_path: Path, evaluated: tuple[pd.DataFrame, pd.DataFrame, BacktestResult]
) -> None:
    pytest.importorskip("matplotlib")
    scores, folds, result = evaluated

    files = write_leaderboard(tmp_path / "out", scores=scores, folds=folds, backtest=result)

    document = json.loads(files.json.read_text(encoding="utf-8"))
    assert document["horizon"] == 5
    assert document["sorted_by"] == "rank_ic_mean"
    assert document["backtest"] == {"k": 2, "cost_bps": 5.0, "rebalance": 1}
    assert document["models"][0]["model"] == "ridge"
    assert len(document["folds"]) == 2 * len(MODELS)
    assert document["chart"] == "equity.png"
    assert files.chart is not None
    assert files.chart.read_bytes().startswith(PNG_SIGNATURE)
    page = files.html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "data:image/png;base64," in page
    for model in ("random_walk", "ridge", "momentum_sign", "&lt;lstm &amp; co&gt;"):
        assert model in page
    assert "<lstm" not in page  # names are escaped
    assert "No charts" not in page


def test_html_shows_each_figure_with_its_interval(
    tmp_path: Path, evaluated: tuple[pd.DataFrame, pd.DataFrame, BacktestResult]
) -> None:
    scores, folds, result = evaluated

    page = write_leaderboard(tmp_path, scores=scores, folds=folds, backtest=result).html.read_text(
        encoding="utf-8"
    )

    ridge = scores.set_index("model").loc["ridge"]
    rmse = f"{ridge['rmse']:.4g} [{ridge['rmse_low']:.4g}, {ridge['rmse_high']:.4g}]"
    rank_ic = f"{ridge['rank_ic_mean']:.4g} [{ridge['rank_ic_low']:.4g}, "
    assert rmse in page
    assert rank_ic in page
    assert "Portfolio: long-short top k = 2, costs 5 bps" in page
    assert "Portfolio: long-only" in page
    assert "Per fold" in page


def test_without_matplotlib_the_page_is_written_without_charts_and_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    evaluated: tuple[pd.DataFrame, pd.DataFrame, BacktestResult],
) -> None:
    def missing(module: str, *, extra: str, purpose: str) -> ModuleType:
        raise MissingExtraError(
            f"{purpose} needs the optional dependency {module!r}, which is not installed; "
            f"install the extra: pip install 'stockpred[{extra}]'"
        )

    monkeypatch.setattr(report, "import_optional", missing)
    scores, folds, result = evaluated

    files = write_leaderboard(tmp_path, scores=scores, folds=folds, backtest=result)

    assert files.chart is None
    assert not (tmp_path / "equity.png").exists()
    document = json.loads(files.json.read_text(encoding="utf-8"))
    assert document["chart"] is None
    assert "pip install 'stockpred[plot]'" in document["chart_note"]
    page = files.html.read_text(encoding="utf-8")
    assert "No charts" in page
    assert "stockpred[plot]" in page
    assert "data:image/png" not in page
    for model in ("random_walk", "ridge", "momentum_sign"):
        assert model in page


def test_records_without_a_backtest_hold_only_scores(
    evaluated: tuple[pd.DataFrame, pd.DataFrame, BacktestResult],
) -> None:
    scores, _, _ = evaluated

    records = leaderboard_records(scores)

    assert all(not key.startswith("long_") for r in records for key in r)
    assert set(records[0]) == set(scores.columns)


def test_a_score_frame_without_rank_ic_is_refused() -> None:
    with pytest.raises(ValueError, match="'rank_ic_mean'"):
        leaderboard_records(pd.DataFrame({"model": ["random_walk"]}))
