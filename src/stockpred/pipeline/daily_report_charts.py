"""The daily report's charts as PNG bytes: each horizon's top and bottom forecasts as bars
with their intervals, and the champion's realised rolling rank IC and hit rate beside the best
baseline's.

matplotlib comes with the ``report`` extra; without it every chart function raises
MissingExtraError, which :mod:`.daily_report_files` turns into a note in place of the charts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from stockpred.pipeline.daily_report import DailyReport, HorizonReport
from stockpred.pipeline.report import figure_png, load_pyplot

__all__ = ["DailyCharts", "render_accuracy_chart", "render_daily_charts", "render_forecast_chart"]

_EXTRA = "report"
_RISE, _FALL, _CHAMPION, _BASELINE = "#2e7d32", "#c62828", "#1f4e9c", "#9e9e9e"


@dataclass(frozen=True, slots=True)
class DailyCharts:
    """PNG charts per horizon (absent where there is nothing to draw); ``note`` says why there
    are no charts at all (matplotlib missing), else None."""

    forecasts: dict[int, bytes] = field(default_factory=dict)
    accuracy: dict[int, bytes] = field(default_factory=dict)
    note: str | None = None


def render_forecast_chart(horizon: HorizonReport, *, top: int) -> bytes:
    """Horizontal bars of the top and bottom ``top`` expected returns (percent of log return),
    highest at the top, each with its interval as an error bar."""
    pyplot = load_pyplot("drawing the daily report's charts", extra=_EXTRA)
    best, worst = horizon.top(top), horizon.bottom(top)
    shown = [*best, *reversed(worst)]
    values = [f.value * 100 for f in shown]
    low = [max(0.0, (f.value - f.lower) * 100) for f in shown]
    high = [max(0.0, (f.upper - f.value) * 100) for f in shown]
    figure, axis = pyplot.subplots(figsize=(7.0, 0.45 * len(shown) + 1.3))
    positions = list(range(len(shown)))[::-1]
    axis.barh(
        positions,
        values,
        color=[_RISE if v >= 0 else _FALL for v in values],
        xerr=[low, high],
        error_kw={"ecolor": "#555555", "elinewidth": 0.8, "capsize": 2},
        height=0.6,
    )
    axis.set_yticks(positions, [f.ticker for f in shown])
    axis.axvline(0.0, color="#333333", linewidth=0.8)
    axis.set_xlabel(f"expected log return over {horizon.horizon} sessions, % (interval)")
    axis.set_title(
        f"{horizon.champion} v{horizon.model_version} ({horizon.model_kind}): "
        f"top {len(best)} and bottom {len(worst)} forecasts",
        fontsize=10,
    )
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure_png(pyplot, figure)


def render_accuracy_chart(horizon: HorizonReport) -> bytes:
    """Two panels over the scored sessions: the champion's rolling rank IC beside the best
    baseline's (whichever baseline was best that session), and their hit rates."""
    pyplot = load_pyplot("drawing the daily report's charts", extra=_EXTRA)
    points = horizon.accuracy
    days = [p.session for p in points]
    figure, (upper, lower) = pyplot.subplots(2, 1, figsize=(7.0, 4.6), sharex=True)
    kind = horizon.model_kind or "champion"
    names = sorted({p.baseline for p in points if p.baseline})
    best = f"best baseline ({names[0]})" if len(names) == 1 else "best baseline of each session"
    upper.plot(days, [p.rank_ic for p in points], color=_CHAMPION, label=f"{kind} (champion)")
    upper.plot(
        days,
        [p.baseline_rank_ic for p in points],
        color=_BASELINE,
        linestyle="--",
        label=best,
    )
    upper.axhline(0.0, color="#333333", linewidth=0.6)
    upper.set_ylabel("rolling rank IC")
    window = points[-1].n_dates if points else 0
    upper.set_title(
        f"{horizon.champion} v{horizon.model_version}: realised over the last {window} matured "
        "sessions, per scored session",
        fontsize=10,
    )
    upper.legend(loc="best", fontsize=8)
    upper.grid(alpha=0.3)
    hits = [p.hit_rate * 100 for p in points]
    if any(math.isfinite(h) for h in hits):
        lower.plot(days, hits, color=_CHAMPION)
    lower.plot(days, [p.baseline_hit_rate * 100 for p in points], color=_BASELINE, linestyle="--")
    lower.axhline(50.0, color="#333333", linewidth=0.6)
    lower.set_ylabel("hit rate, %")
    lower.grid(alpha=0.3)
    if len(points) == 1:
        for axis in (upper, lower):
            for line in axis.get_lines():
                line.set_marker("o")
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure_png(pyplot, figure)


def render_daily_charts(report: DailyReport, *, top: int) -> DailyCharts:
    """Every chart of ``report``: a forecast chart per horizon with forecasts, an accuracy
    chart per horizon with scored sessions. Raises MissingExtraError without matplotlib."""
    forecasts: dict[int, bytes] = {}
    accuracy: dict[int, bytes] = {}
    for horizon in report.horizons:
        if horizon.forecasts:
            forecasts[horizon.horizon] = render_forecast_chart(horizon, top=top)
        if horizon.accuracy:
            accuracy[horizon.horizon] = render_accuracy_chart(horizon)
    return DailyCharts(forecasts=forecasts, accuracy=accuracy)
