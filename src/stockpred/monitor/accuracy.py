"""Realised accuracy: the prediction ledger scored against what happened, beside the baselines.

A stored forecast (ticker, as_of, horizon) *matures* when its label is known: the close
``horizon`` sessions after ``as_of`` (``known_at`` of ``models/targets.forward_returns``). Each
session the monitor takes the last ``window`` matured dates of a model version and scores them
with the offline evaluation's own code (``models/metrics.score_by_fold`` on one fold): the same
rank IC, hit rate (``da``), MAE and interval coverage that ``stockpred evaluate`` prints for
the same predictions, so live and offline figures are comparable by construction.

Beside the champion, every baseline predicts the same rows (fitted on the champion's training
window, so they are as out of sample as it is). The *best baseline* of a session is the one with
the highest rolling rank IC on that window: chosen after the fact, so the comparison is, if
anything, unfair to the champion, never flattering.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from stockpred.models.metrics import REFERENCE_MODEL, score_by_fold

__all__ = [
    "BASELINE_ROLE",
    "CHAMPION_ROLE",
    "PERFORMANCE_COLUMNS",
    "below_baseline_streak",
    "best_baseline",
    "matured",
    "window_scores",
]

CHAMPION_ROLE = "champion"
BASELINE_ROLE = "baseline"
PERFORMANCE_COLUMNS = (
    "model", "role", "n_dates", "n_rows", "rank_ic", "hit_rate", "mae", "coverage",
)  # fmt: skip


def matured(ledger: pd.DataFrame, labels: pd.DataFrame, *, now: pd.Timestamp) -> pd.DataFrame:
    """The ledger rows whose label is known by ``now``, with ``actual`` and ``next_return``.

    ``ledger``: ticker, as_of, value, lower, upper (one model version and horizon, one row per
    ticker and as_of). ``labels``: ticker, ts, actual, known_at, next_return for that horizon.
    Returns ticker, ts, prediction, lower, upper, actual, next_return, sorted by ts, ticker.
    """
    frame = ledger.rename(columns={"as_of": "ts", "value": "prediction"}).loc[
        :, ["ticker", "ts", "prediction", "lower", "upper"]
    ]
    joined = frame.merge(labels, on=["ticker", "ts"], how="inner", validate="one_to_one")
    known = joined["actual"].notna() & (pd.DatetimeIndex(joined["known_at"]) <= now)
    out = joined.loc[known.to_numpy(), :].drop(columns=["known_at"])
    return out.sort_values(["ts", "ticker"], kind="stable").reset_index(drop=True)


def window_scores(
    rows: pd.DataFrame,
    baselines: Mapping[str, np.ndarray],
    *,
    horizon: int,
    champion: str,
    return_units: bool,
) -> pd.DataFrame:
    """The figures of :data:`PERFORMANCE_COLUMNS` for the champion and each baseline on the
    matured ``rows`` of one window (:func:`matured`'s columns), ``baselines`` giving each
    baseline's prediction of those rows in the same order.

    ``return_units`` False (a champion fitted on the cross-sectional rank): its hit rate, MAE
    and coverage are NaN, as offline; the baselines' stay (they predict returns). A champion
    that is itself a baseline (``ar1`` serving because no model beat it) is scored once, as the
    champion, against the other baselines.
    """
    if rows.empty:
        return pd.DataFrame(columns=list(PERFORMANCE_COLUMNS))
    # A baseline may serve (no model beat it): it is the champion, compared with the others.
    baselines = {name: values for name, values in baselines.items() if name != champion}
    base = rows.assign(horizon=horizon, fold=0)
    frames = [base.assign(model=champion)]
    nan = np.full(len(rows), math.nan)
    for name, prediction in baselines.items():
        if len(prediction) != len(rows):
            raise ValueError(f"baseline {name} predicts {len(prediction)} of {len(rows)} rows")
        frames.append(base.assign(model=name, prediction=prediction, lower=nan, upper=nan))
    if REFERENCE_MODEL not in baselines and champion != REFERENCE_MODEL:
        frames.append(base.assign(model=REFERENCE_MODEL, prediction=0.0, lower=nan, upper=nan))
    figures = score_by_fold(pd.concat(frames, ignore_index=True))
    out = pd.DataFrame(
        {
            "model": figures["model"],
            "role": np.where(figures["model"] == champion, CHAMPION_ROLE, BASELINE_ROLE),
            "n_dates": figures["n_dates"],
            "n_rows": figures["n_rows"],
            "rank_ic": figures["rank_ic_mean"],
            "hit_rate": figures["da"],
            "mae": figures["mae"],
            "coverage": figures["coverage"],
        }
    )
    if not return_units:
        mine = out["model"] == champion
        out.loc[mine, ["hit_rate", "mae", "coverage"]] = math.nan
    keep = out["model"].isin([champion, *baselines])
    return out.loc[keep.to_numpy(), list(PERFORMANCE_COLUMNS)].reset_index(drop=True)


def best_baseline(scores: pd.DataFrame) -> pd.Series | None:
    """The baseline row of ``scores`` with the highest rank IC (None when none has one)."""
    baselines = scores[(scores["role"] == BASELINE_ROLE) & scores["rank_ic"].notna()]
    if baselines.empty:
        return None
    return baselines.iloc[int(np.argmax(baselines["rank_ic"].to_numpy(dtype="float64")))]


def below_baseline_streak(history: pd.DataFrame, sessions: Sequence[pd.Timestamp]) -> int:
    """How many of the latest ``sessions`` in a row (newest first) have the champion's rank IC
    below the best baseline's, from ``history`` (session, role, rank_ic rows). A session without
    both figures ends the streak: no evidence is not evidence of losing."""
    streak = 0
    for session in sorted(sessions, reverse=True):
        day = history[history["session"] == session]
        champion = day.loc[day["role"] == CHAMPION_ROLE, "rank_ic"].dropna()
        best = best_baseline(day)
        if champion.empty or best is None or not float(champion.iloc[0]) < float(best["rank_ic"]):
            break
        streak += 1
    return streak
