"""What the monitor stored of a model version, read back as one report: the rolling accuracy of
its recent sessions beside the baselines', its latest drift figures, and the streak of sessions
it trailed the best baseline. The CLI prints it, the API serves it and exposes it as metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from stockpred.models.drift import PREDICTION_SUBJECT, drifted
from stockpred.monitor.accuracy import CHAMPION_ROLE, below_baseline_streak, best_baseline
from stockpred.store.base import Store
from stockpred.store.schema import MODEL_DRIFT, MODEL_PERFORMANCE

__all__ = ["MonitorReport", "read_report"]


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


@dataclass(frozen=True)
class MonitorReport:
    """``performance``: the model_performance rows of the last sessions (ascending);
    ``drift``: the model_drift rows of the latest drift session."""

    horizon: int
    model_version: str
    performance: pd.DataFrame
    drift: pd.DataFrame
    below_baseline: int

    @property
    def empty(self) -> bool:
        return self.performance.empty and self.drift.empty

    @property
    def latest_session(self) -> pd.Timestamp | None:
        if self.performance.empty:
            return None
        return pd.Timestamp(self.performance["session"].max())

    @property
    def drift_session(self) -> pd.Timestamp | None:
        if self.drift.empty:
            return None
        return pd.Timestamp(self.drift["session"].max())

    def latest(self) -> pd.DataFrame:
        """The latest session's rows: the champion and each baseline."""
        session = self.latest_session
        if session is None:
            return self.performance
        return self.performance[self.performance["session"] == session].reset_index(drop=True)

    def drifted(self) -> pd.DataFrame:
        """The latest drift rows past their column's threshold, worst (PSI over threshold)
        first."""
        drift = self.drift
        over = drift[drifted(drift)]
        order = (over["psi"] / over["psi_threshold"]).sort_values(ascending=False).index
        return over.loc[order].reset_index(drop=True)

    def versus_baseline(self) -> pd.DataFrame:
        """One row per scored session (ascending): session, window_sessions, n_dates, the
        champion's model, rank_ic and hit_rate, and the best baseline's (``baseline``,
        ``baseline_rank_ic``, ``baseline_hit_rate``; None and NaN when no baseline has a rank
        IC that session)."""
        rows = []
        for session, day in self.performance.groupby("session", sort=True):
            champion = day[day["role"] == CHAMPION_ROLE]
            best = best_baseline(day)
            first = champion.iloc[0] if not champion.empty else None
            rows.append(
                {
                    "session": pd.Timestamp(str(session)),
                    "window_sessions": int(day["window_sessions"].iloc[0]),
                    "n_dates": int(first["n_dates"]) if first is not None else 0,
                    "model": str(first["model"]) if first is not None else None,
                    "rank_ic": _number(first["rank_ic"]) if first is not None else None,
                    "hit_rate": _number(first["hit_rate"]) if first is not None else None,
                    "baseline": str(best["model"]) if best is not None else None,
                    "baseline_rank_ic": _number(best["rank_ic"]) if best is not None else None,
                    "baseline_hit_rate": _number(best["hit_rate"]) if best is not None else None,
                }
            )
        columns = [
            "session", "window_sessions", "n_dates", "model", "rank_ic", "hit_rate",
            "baseline", "baseline_rank_ic", "baseline_hit_rate",
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready summary: per session the champion's and best baseline's figures, and
        the latest drift per subject."""
        sessions = []
        for session, day in self.performance.groupby("session", sort=True):
            champion = day[day["role"] == CHAMPION_ROLE]
            best = best_baseline(day)
            entry: dict[str, object] = {"session": pd.Timestamp(str(session)).isoformat()}
            if not champion.empty:
                row = champion.iloc[0]
                entry["champion"] = {
                    "model": str(row["model"]),
                    "n_dates": int(row["n_dates"]),
                    "n_rows": int(row["n_rows"]),
                    **{k: _number(row[k]) for k in ("rank_ic", "hit_rate", "mae", "coverage")},
                }
            if best is not None:
                entry["best_baseline"] = {
                    "model": str(best["model"]),
                    **{k: _number(best[k]) for k in ("rank_ic", "hit_rate", "mae")},
                }
            sessions.append(entry)
        past = drifted(self.drift).tolist()
        drift = [
            {
                "subject": str(row["subject"]),
                "psi": _number(row["psi"]),
                "psi_threshold": _number(row["psi_threshold"]),
                "ks_statistic": _number(row["ks_statistic"]),
                "ks_threshold": _number(row["ks_threshold"]),
                "n": int(row["n"]),
                "drifted": bool(past[position]),
            }
            for position, (_, row) in enumerate(self.drift.iterrows())
        ]
        return {
            "horizon": self.horizon,
            "model_version": self.model_version,
            "sessions": sessions,
            "sessions_below_baseline": self.below_baseline,
            "drift_session": None if self.drift_session is None else self.drift_session.isoformat(),
            "drift": drift,
            "drifted": [str(s) for s in self.drifted()["subject"]],
            "prediction_drift": next(
                (d for d in drift if d["subject"] == PREDICTION_SUBJECT), None
            ),
        }


def read_report(
    store: Store, *, horizon: int, model_version: str, sessions: int = 63
) -> MonitorReport:
    """The report of ``model_version`` of ``horizon`` over its last ``sessions`` scored
    sessions."""
    performance = store.read_monitoring(
        MODEL_PERFORMANCE.name, horizon=horizon, model_version=model_version
    )
    days = pd.DatetimeIndex(performance["session"].unique()).sort_values()
    streak = below_baseline_streak(performance, list(days)) if len(days) else 0
    if len(days) > sessions:
        performance = performance[performance["session"] >= days[-sessions]]
    drift = store.read_monitoring(MODEL_DRIFT.name, horizon=horizon, model_version=model_version)
    if not drift.empty:
        drift = drift[drift["session"] == drift["session"].max()]
    return MonitorReport(
        horizon,
        model_version,
        performance.reset_index(drop=True),
        drift.reset_index(drop=True),
        streak,
    )
