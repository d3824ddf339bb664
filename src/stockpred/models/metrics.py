"""Out-of-sample accuracy of return forecasts, every figure with its uncertainty.

The input is a *predictions frame*: one row per (ticker, ts, model) with the columns of
:data:`PREDICTION_COLUMNS`. ``ts`` is the forecast origin (UTC), ``prediction`` and ``actual``
are forward log returns over ``horizon`` trading days, ``lower``/``upper`` an interval (NaN when
the model has none). One horizon per frame; every model must cover exactly the rows of the
``random_walk`` reference (same tickers, dates, actuals and folds), so scores compare like
with like.

Rows of one date are cross-sectionally correlated, and for h > 1 consecutive labels overlap, so
row-level i.i.d. formulas overstate precision. Uncertainty therefore works on dates: point
accuracy uses a moving-block bootstrap over dates (blocks of ``max(h, 5)`` dates, 500 resamples,
the same resampled dates for every model), and IC and Diebold-Mariano use HAC variances with
``h - 1`` lags on daily series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "FOLD_COLUMNS",
    "PREDICTION_COLUMNS",
    "REFERENCE_MODEL",
    "RETURN_UNIT_FIGURES",
    "SCORE_COLUMNS",
    "DieboldMariano",
    "diebold_mariano",
    "long_run_variance",
    "moving_block_indices",
    "score",
    "score_by_fold",
    "validate_predictions",
]

PREDICTION_COLUMNS = (
    "ticker", "ts", "horizon", "model", "prediction", "lower", "upper", "actual", "next_return",
    "fold",
)  # fmt: skip
REFERENCE_MODEL = "random_walk"
# A cross-sectional correlation over fewer tickers than this is noise, not an IC.
MIN_IC_TICKERS = 5
# Bootstrap blocks span at least a trading week, and at least the label overlap h.
MIN_BLOCK_LENGTH = 5
CONFIDENCE = 0.95

_BOOTSTRAPPED = ("rmse", "mae", "theil_u", "r2_oos", "da")
SCORE_COLUMNS: tuple[str, ...] = (
    "model", "horizon", "n_rows", "n_dates",
    *(f"{name}{suffix}" for name in _BOOTSTRAPPED[:4] for suffix in ("", "_low", "_high")),
    "da", "da_low", "da_high", "da_p_value", "da_rows", "da_excluded",
    "ic_mean", "ic_low", "ic_high", "ic_std", "icir", "ic_t",
    "rank_ic_mean", "rank_ic_low", "rank_ic_high", "rank_ic_std", "rank_icir", "rank_ic_t",
    "ic_dates", "ic_skipped",
    "dm_statistic", "dm_p_value", "dm_mean_difference", "dm_better",
    "coverage", "coverage_low", "coverage_high", "interval_width", "interval_rows",
)  # fmt: skip
# Figures that compare a prediction with the outcome in return units (errors, signs, squared
# loss against the random walk, intervals). A model fitted on the cross-sectional rank predicts
# a percentile, not a return, so for it they mean nothing and are NaN (None for dm_better).
RETURN_UNIT_FIGURES: tuple[str, ...] = (
    *(f"{name}{suffix}" for name in _BOOTSTRAPPED for suffix in ("", "_low", "_high")),
    "da_p_value", "dm_statistic", "dm_p_value", "dm_mean_difference", "dm_better",
    "coverage", "coverage_low", "coverage_high", "interval_width",
)  # fmt: skip
FOLD_COLUMNS: tuple[str, ...] = (
    "model", "fold", "n_rows", "n_dates", "rmse", "mae", "theil_u", "r2_oos", "da",
    "ic_mean", "icir", "rank_ic_mean", "rank_icir", "coverage", "interval_width",
)  # fmt: skip


def validate_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """The predictions frame checked and sorted by (model, ts, ticker), or a ValueError.

    Refused: missing columns, no rows, naive or non-datetime ``ts``, more than one horizon, no
    ``random_walk``, NaN predictions or actuals, duplicate (model, ticker, ts) rows, and any
    model whose rows (ticker, ts, actual, fold) differ from the random walk's.
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"the predictions frame lacks columns {missing}; it needs {list(PREDICTION_COLUMNS)}"
        )
    if predictions.empty:
        raise ValueError("the predictions frame has no rows; nothing to score")
    if not isinstance(predictions["ts"].dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"ts must be UTC-aware timestamps, got dtype {predictions['ts'].dtype}; "
            "localise it with .dt.tz_localize('UTC')"
        )
    horizons = sorted(int(h) for h in pd.unique(predictions["horizon"]))
    if len(horizons) != 1 or horizons[0] < 1:
        raise ValueError(
            f"score one positive horizon at a time, got horizons {horizons}; "
            "split the frame with groupby('horizon')"
        )
    models = sorted(str(m) for m in pd.unique(predictions["model"]))
    if REFERENCE_MODEL not in models:
        raise ValueError(
            f"the predictions frame has no {REFERENCE_MODEL!r} rows (models: {models}); "
            "every evaluation must include the random-walk reference"
        )
    frame = predictions.loc[:, list(PREDICTION_COLUMNS)].copy()
    frame["ts"] = frame["ts"].dt.tz_convert("UTC")
    frame["model"] = frame["model"].astype(str)
    for column in ("prediction", "actual"):
        bad = frame.loc[frame[column].isna(), "model"]
        if len(bad):
            raise ValueError(
                f"{len(bad)} rows have NaN {column} (models {sorted(set(bad))}); "
                "drop unlabelled rows and give every row a prediction"
            )
    duplicated = frame.duplicated(["model", "ticker", "ts"])
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise ValueError(
            f"{int(duplicated.sum())} duplicate (model, ticker, ts) rows, e.g. "
            f"({first['model']}, {first['ticker']}, {first['ts']})"
        )
    frame = frame.sort_values(["model", "ts", "ticker"], kind="stable").reset_index(drop=True)
    reference = frame[frame["model"] == REFERENCE_MODEL]
    for model, rows in frame.groupby("model", sort=True):
        if model == REFERENCE_MODEL:
            continue
        same = len(rows) == len(reference) and all(
            rows[c].reset_index(drop=True).equals(reference[c].reset_index(drop=True))
            for c in ("ticker", "ts", "fold")
        )
        if not same or not np.allclose(rows["actual"], reference["actual"], rtol=0, atol=1e-12):
            raise ValueError(
                f"model {model!r} has {len(rows)} rows that do not match the "
                f"{len(reference)} {REFERENCE_MODEL} rows (ticker, ts, actual, fold); "
                "score models on the same out-of-sample rows"
            )
    return frame


def moving_block_indices(
    n_dates: int, *, block_length: int, resamples: int, seed: int
) -> np.ndarray:
    """Date positions of ``resamples`` moving-block bootstrap samples: int, (resamples, n_dates).

    Each sample concatenates blocks of ``block_length`` consecutive dates (capped at
    ``n_dates``) starting at uniform positions, truncated to ``n_dates``.
    """
    length = max(1, min(block_length, n_dates))
    blocks = -(-n_dates // length)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_dates - length + 1, size=(resamples, blocks))
    samples = (starts[:, :, None] + np.arange(length)).reshape(resamples, blocks * length)
    return samples[:, :n_dates]


def long_run_variance(
    values: np.ndarray, *, lags: int, kernel: Literal["bartlett", "uniform"] = "bartlett"
) -> float:
    """HAC (long-run) variance of a series: gamma_0 + 2 * sum_l w_l * gamma_l.

    gamma_l = sum_t (x_t - mean)(x_{t-l} - mean) / n. ``bartlett`` weights w_l = 1 - l/(lags+1)
    (Newey-West, never negative); ``uniform`` w_l = 1 (Diebold-Mariano's truncated kernel).
    The standard error of the mean is sqrt(long_run_variance / n). NaN for an empty series.
    """
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return float("nan")
    deviations = x - x.mean()
    total = float(deviations @ deviations) / n
    for lag in range(1, min(lags, n - 1) + 1):
        weight = 1.0 - lag / (lags + 1) if kernel == "bartlett" else 1.0
        total += 2.0 * weight * float(deviations[lag:] @ deviations[:-lag]) / n
    return total


@dataclass(frozen=True, slots=True)
class DieboldMariano:
    """A Diebold-Mariano test: ``statistic`` < 0 means the first forecast has the lower loss."""

    statistic: float
    p_value: float
    mean_difference: float
    dates: int


def diebold_mariano(loss_difference: np.ndarray, *, horizon: int) -> DieboldMariano:
    """Diebold-Mariano test with the Harvey-Leybourne-Newbold correction.

    loss_difference: float, shape (n,), one value per date (model loss minus reference loss).
    Variance: the uniform-kernel HAC with ``horizon - 1`` lags (falls back to Newey-West when
    that is not positive); statistic scaled by sqrt((n + 1 - 2h + h(h-1)/n) / n); two-sided
    p-value from Student t with n - 1 degrees of freedom. Identical losses give 0 and p = 1;
    fewer than max(2, 2h) dates give NaN (too short for h - 1 autocovariances).
    """
    d = np.asarray(loss_difference, dtype=np.float64)
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    if n < max(2, 2 * horizon):
        return DieboldMariano(float("nan"), float("nan"), mean, n)
    lags = horizon - 1
    variance = long_run_variance(d, lags=lags, kernel="uniform")
    if not variance > 0:
        variance = long_run_variance(d, lags=lags, kernel="bartlett")
    if not variance > 0:
        if mean == 0:
            return DieboldMariano(0.0, 1.0, mean, n)
        return DieboldMariano(float(np.copysign(np.inf, mean)), 0.0, mean, n)
    scale = (n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n
    if scale <= 0:
        return DieboldMariano(float("nan"), float("nan"), mean, n)
    statistic = mean / np.sqrt(variance / n) * np.sqrt(scale)
    p_value = 2.0 * float(stats.t.sf(abs(statistic), df=n - 1))
    return DieboldMariano(float(statistic), p_value, mean, n)


def _rank_within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of ``values`` within each group."""
    return pd.Series(values).groupby(groups).rank().to_numpy(np.float64)


@dataclass(frozen=True, slots=True)
class _Panel:
    """The reference rows of a validated frame, sorted by (ts, ticker), plus each model's
    predictions and intervals aligned with them."""

    horizon: int
    date_index: np.ndarray  # int, per row: position of its date
    n_dates: int
    starts: np.ndarray  # first row of each date
    actual: np.ndarray
    actual_rank: np.ndarray  # rank of actual within its date
    columns: dict[str, dict[str, np.ndarray]]  # model -> prediction/lower/upper

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Panel:
        reference = frame[frame["model"] == REFERENCE_MODEL]
        codes, dates = pd.factorize(reference["ts"], sort=True)
        columns = {
            str(model): {c: rows[c].to_numpy(np.float64) for c in ("prediction", "lower", "upper")}
            for model, rows in frame.groupby("model", sort=True)
        }
        return cls(
            horizon=int(frame["horizon"].iloc[0]),
            date_index=codes,
            n_dates=len(dates),
            starts=np.flatnonzero(np.r_[True, np.diff(codes) != 0]),
            actual=reference["actual"].to_numpy(np.float64),
            actual_rank=_rank_within(reference["actual"].to_numpy(np.float64), codes),
            columns=columns,
        )

    def per_date(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.date_index, weights=values, minlength=self.n_dates)


def _ratio_figures(totals: np.ndarray) -> dict[str, np.ndarray]:
    """Point figures from summed per-date aggregates; totals: (..., 6) in the order of
    ``_aggregates``: rows, sse, sae, sse of the reference, direction hits, direction rows."""
    rows, sse, sae, sse_reference, hits, counted = np.moveaxis(totals, -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "rmse": np.sqrt(sse / rows),
            "mae": sae / rows,
            "theil_u": np.sqrt(sse / sse_reference),
            "r2_oos": 1.0 - sse / sse_reference,
            "da": hits / counted,
        }


def _aggregates(panel: _Panel, prediction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    error = prediction - panel.actual
    reference_error = reference - panel.actual
    decided = (prediction != 0) & (panel.actual != 0)
    hits = decided & (np.sign(prediction) == np.sign(panel.actual))
    parts = (np.ones_like(error), error**2, np.abs(error), reference_error**2, hits, decided)
    return np.column_stack([panel.per_date(np.asarray(p, dtype=np.float64)) for p in parts])


def _daily_correlations(panel: _Panel, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per usable date (>= MIN_IC_TICKERS rows, neither side constant): Pearson and Spearman."""
    actual = panel.actual
    counts = np.bincount(panel.date_index, minlength=panel.n_dates)
    usable = counts >= MIN_IC_TICKERS
    for x in (prediction, actual):
        usable &= np.maximum.reduceat(x, panel.starts) > np.minimum.reduceat(x, panel.starts)

    def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        dx = x - (panel.per_date(x) / counts)[panel.date_index]
        dy = y - (panel.per_date(y) / counts)[panel.date_index]
        with np.errstate(divide="ignore", invalid="ignore"):
            r: np.ndarray = panel.per_date(dx * dy) / np.sqrt(
                panel.per_date(dx * dx) * panel.per_date(dy * dy)
            )
        return r[usable]

    rank = _rank_within(prediction, panel.date_index)
    return pearson(prediction, actual), pearson(rank, panel.actual_rank)


def _ic_summary(ic: np.ndarray, *, horizon: int, prefix: str, ratio: str) -> dict[str, float]:
    """Mean, normal 95% interval from the Newey-West standard error, std, mean/std, t."""
    nan = float("nan")
    n = len(ic)
    mean = float(ic.mean()) if n else nan
    std = float(ic.std(ddof=1)) if n > 1 else nan
    se = float(np.sqrt(long_run_variance(ic, lags=horizon - 1) / n)) if n > 1 else nan
    z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        icir, t = np.float64(mean) / std, np.float64(mean) / se
    return {
        f"{prefix}_mean": mean,
        f"{prefix}_low": mean - z * se,
        f"{prefix}_high": mean + z * se,
        f"{prefix}_std": std,
        ratio: float(icir),
        f"{prefix}_t": float(t),
    }


def _percentile_interval(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict[str, float]:
    has = np.isfinite(lower) & np.isfinite(upper)
    n = int(has.sum())
    if n == 0:
        names = ("coverage", "coverage_low", "coverage_high", "interval_width")
        return dict.fromkeys(names, float("nan")) | {"interval_rows": 0}
    inside = int(((lower[has] <= actual[has]) & (actual[has] <= upper[has])).sum())
    interval = stats.binomtest(inside, n).proportion_ci(CONFIDENCE, method="wilson")
    return {
        "coverage": inside / n,
        "coverage_low": float(interval.low),
        "coverage_high": float(interval.high),
        "interval_width": float(np.mean(upper[has] - lower[has])),
        "interval_rows": n,
    }


def _figures(panel: _Panel, model: str, samples: np.ndarray | None) -> dict[str, object]:
    columns = panel.columns[model]
    prediction = columns["prediction"]
    reference = panel.columns[REFERENCE_MODEL]["prediction"]
    daily = _aggregates(panel, prediction, reference)
    totals = daily.sum(axis=0)
    point = _ratio_figures(totals)
    figures: dict[str, object] = {
        "model": model,
        "horizon": panel.horizon,
        "n_rows": len(prediction),
        "n_dates": panel.n_dates,
    }
    if samples is not None:
        spread = _ratio_figures(daily[samples].sum(axis=1))
        for name in _BOOTSTRAPPED:
            figures[name] = float(point[name])
            figures[f"{name}_low"], figures[f"{name}_high"] = _percentile_interval(spread[name])
    else:
        figures |= {name: float(point[name]) for name in _BOOTSTRAPPED}
    decided = int(totals[5])
    figures["da_rows"], figures["da_excluded"] = decided, len(prediction) - decided
    figures["da_p_value"] = (
        float(stats.binomtest(int(totals[4]), decided, 0.5).pvalue) if decided else float("nan")
    )
    ic, rank_ic = _daily_correlations(panel, prediction)
    figures |= _ic_summary(ic, horizon=panel.horizon, prefix="ic", ratio="icir")
    figures |= _ic_summary(rank_ic, horizon=panel.horizon, prefix="rank_ic", ratio="rank_icir")
    figures["ic_dates"], figures["ic_skipped"] = len(ic), panel.n_dates - len(ic)
    loss_difference = (daily[:, 1] - daily[:, 3]) / daily[:, 0]
    test = diebold_mariano(loss_difference, horizon=panel.horizon)
    figures["dm_statistic"], figures["dm_p_value"] = test.statistic, test.p_value
    figures["dm_mean_difference"] = test.mean_difference
    better = {-1.0: "model", 1.0: REFERENCE_MODEL}.get(float(np.sign(test.mean_difference)))
    figures["dm_better"] = better or "tie"
    figures |= _coverage(panel.actual, columns["lower"], columns["upper"])
    return figures


def _without_return_units(figures: dict[str, object]) -> dict[str, object]:
    """``figures`` with :data:`RETURN_UNIT_FIGURES` blanked, except for the random walk: its
    forecast, zero, is a return whatever it was fitted on, and it is everyone's reference."""
    if figures["model"] == REFERENCE_MODEL:
        return figures
    blank = {n: (None if n == "dm_better" else float("nan")) for n in RETURN_UNIT_FIGURES}
    return figures | {n: v for n, v in blank.items() if n in figures}


def score(
    predictions: pd.DataFrame,
    *,
    seed: int = 0,
    resamples: int = 500,
    block_length: int | None = None,
    return_units: bool = True,
) -> pd.DataFrame:
    """One row per model with every figure of :data:`SCORE_COLUMNS`.

    - rmse, mae, theil_u (RMSE / RMSE of the random walk on the same rows), r2_oos
      (1 - SSE / SSE of the random walk): 95% percentile intervals (``_low``/``_high``) from a
      moving-block bootstrap of dates, blocks of ``block_length`` (default max(h, 5)) dates,
      ``resamples`` samples drawn with ``seed``; the same samples for every model.
    - da: share of rows where sign(prediction) == sign(actual), rows with either one zero
      excluded (``da_excluded``); ``da_p_value``: exact two-sided binomial test against 0.5.
      With h > 1 the labels overlap, so the rows are not independent and this p-value is
      optimistic; the block-bootstrap interval is the honest one.
    - ic / rank_ic: per-date Pearson / Spearman correlation of prediction and actual across
      tickers (dates with < 5 tickers or constant values skipped: ``ic_skipped``); mean,
      std, ICIR = mean / std, t = mean / Newey-West standard error with h - 1 lags, and a
      95% normal interval from that standard error.
    - dm_*: Diebold-Mariano test on squared error against the random walk
      (:func:`diebold_mariano` on the daily mean loss difference); ``dm_better`` names the
      model with the lower mean loss.
    - coverage: share of rows with lower <= actual <= upper among rows with an interval, a
      Wilson 95% interval and the mean width; NaN when the model has no intervals.

    ``return_units`` = False says the models predict something else than the return (the
    cross-sectional rank they were fitted on): the figures of :data:`RETURN_UNIT_FIGURES` are
    then NaN for every model but the random walk; the correlations and counts stay.
    """
    frame = validate_predictions(predictions)
    panel = _Panel.of(frame)
    length = block_length if block_length is not None else max(panel.horizon, MIN_BLOCK_LENGTH)
    if length < 1 or resamples < 1:
        raise ValueError(f"block_length and resamples must be >= 1, got {length}, {resamples}")
    samples = moving_block_indices(
        panel.n_dates, block_length=length, resamples=resamples, seed=seed
    )
    rows = [_figures(panel, model, samples) for model in panel.columns]
    if not return_units:
        rows = [_without_return_units(row) for row in rows]
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def score_by_fold(predictions: pd.DataFrame, *, return_units: bool = True) -> pd.DataFrame:
    """Point estimates per model and fold (:data:`FOLD_COLUMNS`), defined as in :func:`score`
    (``return_units`` too)."""
    frame = validate_predictions(predictions)
    rows: list[dict[str, object]] = []
    for fold, fold_rows in frame.groupby("fold", sort=True):
        panel = _Panel.of(fold_rows)
        for model in panel.columns:
            figures = _figures(panel, model, None) | {"fold": fold}
            if not return_units:
                figures = _without_return_units(figures)
            rows.append({c: figures[c] for c in FOLD_COLUMNS})
    return pd.DataFrame(rows, columns=list(FOLD_COLUMNS))
