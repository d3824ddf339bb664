"""The words and table rows of the daily report, shared by its HTML page, its PDF and its
Slack and email summary, so that all of them say the same thing.

Pure: a :class:`~.daily_report.DailyReport` in, strings out. Figures are printed as a desk
reads them: expected returns and intervals in percent of log return over the horizon, the
probability of a rise in percent, rank IC with its sign.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from stockpred.models.baselines import BASELINES
from stockpred.pipeline.daily_report import (
    DailyReport,
    DriftFigure,
    Forecast,
    HorizonReport,
    TickerHealth,
)

__all__ = [
    "DRIFT_HEADER",
    "DRIFT_ROWS",
    "FORECAST_HEADER",
    "HEALTH_HEADER",
    "HEALTH_ROWS",
    "NO_PROVIDERS",
    "PROVIDER_HEADER",
    "SECTIONS",
    "ReportSummary",
    "Section",
    "drift_rows",
    "drift_sentence",
    "forecast_rows",
    "forecasts_caption",
    "health_rows",
    "health_sentence",
    "horizon_title",
    "more_rows",
    "more_tickers",
    "no_champion_text",
    "no_forecasts_text",
    "provider_rows",
    "report_title",
    "summarize",
    "verdict",
    "without_champion",
]


@dataclass(frozen=True, slots=True)
class Section:
    """A section of the report: its anchor and heading."""

    key: str
    title: str


SECTIONS = (
    Section("forecasts", "Today's forecasts"),
    Section("performance", "Performance against the baselines"),
    Section("drift", "Drift"),
    Section("health", "Data health"),
)
FORECAST_HEADER = ("ticker", "expected", "interval", "P(up)", "model")
DRIFT_HEADER = ("column", "PSI", "PSI limit", "KS", "KS limit", "drifted")
HEALTH_HEADER = ("ticker", "last bar", "sessions behind", "bars", "source", "state")
PROVIDER_HEADER = ("provider", "last success", "last failure", "last error")
# Rows of the long tables shown; the rest are counted in a line under them.
DRIFT_ROWS = 15
HEALTH_ROWS = 40


def _percent(value: float, *, signed: bool = True) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value * 100:+.2f}%" if signed else f"{value * 100:.0f}%"


def _figure(value: float, digits: int = 4, *, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _name(model: str | None) -> str:
    """A model or baseline as people say it: ``mean_drift`` -> mean drift."""
    return (model or "?").replace("_", " ")


def report_title(report: DailyReport) -> str:
    return f"stockpred daily report, {report.calendar} session of {report.session:%Y-%m-%d}"


def horizon_title(horizon: HorizonReport) -> str:
    """``Horizon 5 sessions: stockpred-h5 v3 (ridge)``, or that it has no champion."""
    if horizon.champion is None:
        return f"Horizon {horizon.horizon} sessions: no champion"
    kind = horizon.model_kind or "unknown kind"
    if kind in BASELINES:
        kind += ", a baseline: no model beat it"
    return (
        f"Horizon {horizon.horizon} sessions: {horizon.champion} v{horizon.model_version} ({kind})"
    )


def without_champion(report: DailyReport) -> str | None:
    """The served horizons that have no champion, and how to train one; None when all do."""
    missing = [h.horizon for h in report.horizons if h.champion is None]
    if not missing:
        return None
    listed = ", ".join(str(h) for h in missing)
    return (
        f"served horizon{'s' if len(missing) > 1 else ''} without a champion: {listed} "
        f"(nothing to forecast, score or measure; `stockpred train --horizon {missing[0]}` "
        "trains one)"
    )


def no_champion_text(report: DailyReport) -> str:
    """What a section says when no served horizon has a champion."""
    if not report.horizons:
        return "no horizon is served (the setting api_horizons is empty)"
    listed = ", ".join(str(h.horizon) for h in report.horizons)
    return f"no champion for any served horizon ({listed}): run `stockpred train`"


def no_forecasts_text(horizon: HorizonReport) -> str:
    """Why the horizon shows no forecast."""
    if horizon.champion is None:
        return (
            f"no champion for horizon {horizon.horizon}, so no forecast: train one with "
            f"`stockpred train --horizon {horizon.horizon}`"
        )
    return horizon.forecasts_note or "no forecast in the ledger"


def forecasts_caption(horizon: HorizonReport) -> str:
    """The line above a horizon's forecast tables."""
    count = len(horizon.forecasts)
    return (
        f"{count} ticker{'s' if count != 1 else ''} forecast as of the session: expected log "
        f"return over {horizon.horizon} sessions, its interval and the probability of a rise"
    )


def forecast_rows(forecasts: Sequence[Forecast]) -> list[tuple[str, ...]]:
    """Rows under :data:`FORECAST_HEADER`."""
    return [
        (
            f.ticker,
            _percent(f.value),
            f"[{_percent(f.lower)}, {_percent(f.upper)}]",
            _percent(f.direction_prob, signed=False),
            f"{f.model} v{f.model_version}",
        )
        for f in forecasts
    ]


def verdict(horizon: HorizonReport) -> str:
    """One plain sentence on the champion's realised accuracy against the best baseline at its
    latest scored session: who leads, by how much, and for how long it has trailed."""
    if horizon.champion is None:
        return f"no champion for horizon {horizon.horizon}, so nothing to score"
    label = f"{horizon.champion} v{horizon.model_version}"
    if not horizon.accuracy:
        why = (
            f"it ran on {horizon.drift_session:%Y-%m-%d} and found no forecast dated after the "
            "champion's training data that had matured"
            if horizon.drift_session is not None
            else f"its forecasts are scored {horizon.horizon} sessions after they are made, by "
            "`stockpred monitor` (the scheduler's monitor job)"
        )
        return (
            f"no realised accuracy yet: the monitor has not scored this champion ({label}); {why}"
        )
    point = horizon.accuracy[-1]
    kind = _name(horizon.model_kind)
    window = f"over its last {point.n_dates} matured sessions to {point.session:%Y-%m-%d}"
    if not math.isfinite(point.rank_ic):
        return f"{kind} has no rank IC {window} (too few tickers or forecasts to rank)"
    if point.baseline is None or not math.isfinite(point.baseline_rank_ic):
        return (
            f"{kind}: rolling rank IC {_figure(point.rank_ic, signed=True)} {window}; "
            "no baseline could be scored beside it"
        )
    figures = (
        f"rank IC {_figure(point.rank_ic, signed=True)} against "
        f"{_figure(point.baseline_rank_ic, signed=True)}"
    )
    if math.isfinite(point.hit_rate) and math.isfinite(point.baseline_hit_rate):
        figures += (
            f", hit rate {_percent(point.hit_rate, signed=False)} against "
            f"{_percent(point.baseline_hit_rate, signed=False)}"
        )
    baseline = _name(point.baseline)
    if point.rank_ic < point.baseline_rank_ic:
        streak = horizon.below_baseline
        sentence = (
            f"{kind} trails {baseline} on rank IC for {streak} scored session"
            f"{'s' if streak != 1 else ''} in a row: {figures} {window}"
        )
    else:
        behind = sum(1 for p in horizon.accuracy if p.rank_ic < p.baseline_rank_ic)
        sentence = f"{kind} leads the best baseline, {baseline}, on rank IC: {figures} {window}"
        if point.hit_rate < point.baseline_hit_rate:
            sentence += "; its hit rate is lower"
        if behind:
            sentence += f"; it trailed in {behind} of the {len(horizon.accuracy)} scored sessions"
    if point.rank_ic < 0:
        sentence += "; its rank IC is negative: it orders the tickers worse than chance"
    return sentence


def drift_sentence(horizon: HorizonReport) -> str:
    """How many columns drifted at the latest drift session, worst first, or why none is
    known."""
    if horizon.champion is None:
        return f"no champion for horizon {horizon.horizon}, so no drift to measure"
    if horizon.drift_session is None:
        return (
            f"no drift measured yet: the monitor has not run for {horizon.champion} "
            f"v{horizon.model_version} (`stockpred monitor`)"
        )
    past = horizon.drifted
    text = (
        f"{len(past)} of {len(horizon.drift)} columns past their PSI and KS thresholds as of "
        f"{horizon.drift_session:%Y-%m-%d}"
    )
    if past:
        text += ": " + ", ".join(f.subject for f in past[:5]) + (", ..." if len(past) > 5 else "")
    return text


def drift_rows(figures: Sequence[DriftFigure]) -> list[tuple[str, ...]]:
    """Rows under :data:`DRIFT_HEADER`."""
    return [
        (
            f.subject,
            _figure(f.psi, 3),
            _figure(f.psi_threshold, 2),
            _figure(f.ks_statistic, 3),
            _figure(f.ks_threshold, 2),
            "yes" if f.drifted else "no",
        )
        for f in figures
    ]


def health_sentence(report: DailyReport) -> str:
    """The tickers' freshness against the report's session, and how far the session is from
    the latest close."""
    if not report.tickers:
        return "no bars stored: run `stockpred ingest`"
    stale = report.stale
    text = (
        f"{len(report.tickers) - len(stale)} of {len(report.tickers)} tickers have a bar of the "
        f"{report.session:%Y-%m-%d} session"
    )
    if stale:
        text += "; stale: " + ", ".join(t.ticker for t in stale[:10])
        text += ", ..." if len(stale) > 10 else ""
    if report.sessions_since:
        text += (
            f". {report.sessions_since} {report.calendar} session"
            f"{'s' if report.sessions_since != 1 else ''} closed after it "
            f"(the latest on {report.latest_closed:%Y-%m-%d})"
        )
    return text


def health_rows(tickers: Sequence[TickerHealth]) -> list[tuple[str, ...]]:
    """Rows under :data:`HEALTH_HEADER`."""
    return [
        (
            t.ticker,
            f"{t.last_bar:%Y-%m-%d %H:%M}",
            str(t.sessions_behind),
            f"{t.bars:,}",
            t.sources or "-",
            "STALE" if t.stale else "ok",
        )
        for t in tickers
    ]


def _moment(text: str | None) -> str:
    """An ISO time of the status file as ``2024-03-15 20:31 UTC`` (as it is when unreadable)."""
    if not text:
        return "-"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def more_rows(shown: int, total: int, what: str) -> str | None:
    """The line under a table that shows ``shown`` of ``total`` rows, or None when all are."""
    return f"and {total - shown} more {what}" if total > shown else None


def more_tickers(report: DailyReport) -> str | None:
    """The line under the tickers' table when it is cut (stale tickers come first, so the
    rest are current unless there are more stale ones than rows)."""
    rest_stale = any(t.stale for t in report.tickers[HEALTH_ROWS:])
    what = "tickers" if rest_stale else "tickers, all current"
    return more_rows(min(len(report.tickers), HEALTH_ROWS), len(report.tickers), what)


def provider_rows(report: DailyReport) -> list[tuple[str, ...]]:
    """Rows under :data:`PROVIDER_HEADER`."""
    return [
        (p.name, _moment(p.last_success), _moment(p.last_failure), (p.last_error or "-")[:80])
        for p in report.providers
    ]


NO_PROVIDERS = (
    "no provider has run yet (the status file is empty): the data came from files or the sample"
)


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """The report in a few lines, for Slack and the plain-text email: ``fields`` (name, value)
    pairs, ``tickers`` those it names, ``attention`` whether anything needs a look (a champion
    trailing its baseline, drift, stale data)."""

    title: str
    text: str
    fields: tuple[tuple[str, str], ...]
    tickers: tuple[str, ...]
    attention: bool


def _short(forecasts: Sequence[Forecast]) -> str:
    return ", ".join(f"{f.ticker} {_percent(f.value)}" for f in forecasts) or "-"


def summarize(report: DailyReport, *, top: int = 5) -> ReportSummary:
    """The summary of ``report``: per horizon the top and bottom ``top`` forecasts, the
    verdict, the drifted column count; the stale tickers."""
    fields: list[tuple[str, str]] = []
    verdicts: list[str] = []
    named: list[str] = []
    attention = bool(report.stale)
    for horizon in report.champions:
        tag = f"h{horizon.horizon}"
        verdicts.append(f"{tag}: {verdict(horizon)}.")
        if horizon.forecasts:
            best, worst = horizon.top(top), horizon.bottom(top)
            fields.append((f"{tag} top", _short(best)))
            fields.append((f"{tag} bottom", _short(worst)))
            named += [f.ticker for f in (*best, *worst)]
        else:
            fields.append((f"{tag} forecasts", no_forecasts_text(horizon)))
        fields.append((f"{tag} drift", drift_sentence(horizon)))
        attention = attention or bool(horizon.drifted) or horizon.below_baseline > 0
    if not report.champions:
        verdicts.append(no_champion_text(report) + ".")
    stale = report.stale
    fields.append(
        ("stale tickers", ", ".join(t.ticker for t in stale[:20]) or "none")
        if report.tickers
        else ("data", "no bars stored")
    )
    named += [t.ticker for t in stale]
    text = "\n".join([*verdicts, health_sentence(report) + "."])
    return ReportSummary(
        title=report_title(report),
        text=text,
        fields=tuple(fields),
        tickers=tuple(dict.fromkeys(named)),
        attention=attention,
    )
