"""The daily report as one self-contained HTML page: the charts are embedded as PNG data URIs
and nothing is fetched from elsewhere (no fonts, scripts or style sheets), so the page reads
the same from a disk, an email or an archive.

Pure: the report and its charts in, a string out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from stockpred.pipeline.daily_report import DailyReport, HorizonReport
from stockpred.pipeline.daily_report_charts import DailyCharts
from stockpred.pipeline.daily_report_text import (
    DRIFT_HEADER,
    DRIFT_ROWS,
    FORECAST_HEADER,
    HEALTH_HEADER,
    HEALTH_ROWS,
    NO_PROVIDERS,
    PROVIDER_HEADER,
    SECTIONS,
    drift_rows,
    drift_sentence,
    forecast_rows,
    forecasts_caption,
    health_rows,
    health_sentence,
    horizon_title,
    more_rows,
    more_tickers,
    no_champion_text,
    no_forecasts_text,
    provider_rows,
    report_title,
    verdict,
    without_champion,
)
from stockpred.pipeline.report import PAGE_STYLE, png_image

__all__ = ["render_daily_html"]

_STYLE = (
    PAGE_STYLE
    + """
h2{border-bottom:2px solid #1f4e9c;padding-bottom:2px;margin-top:1.6em}
h3{margin-bottom:.4em}.verdict{font-size:15px;max-width:60em}
.empty{color:#666;font-style:italic}.flag td{color:#a33;font-weight:600}
img{max-width:100%;height:auto;display:block;margin:.5em 0 1em}
.pair{display:flex;gap:2em;flex-wrap:wrap}
"""
)


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, flagged: Sequence[bool] = ()
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for index, row in enumerate(rows):
        mark = " class='flag'" if index < len(flagged) and flagged[index] else ""
        cells = "".join(f"<td>{html.escape(cell)}</td>" for cell in row)
        body.append(f"<tr{mark}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _empty(text: str) -> str:
    return f"<p class='empty'>{html.escape(text)}</p>"


def _more(text: str | None) -> str:
    return f"<p class='note'>{html.escape(text)}</p>" if text else ""


def _forecasts(horizon: HorizonReport, charts: DailyCharts, *, top: int) -> list[str]:
    parts = [f"<h3>{html.escape(horizon_title(horizon))}</h3>"]
    if not horizon.forecasts:
        return [*parts, _empty(no_forecasts_text(horizon))]
    best, worst = horizon.top(top), horizon.bottom(top)
    parts.append(f"<p class='note'>{html.escape(forecasts_caption(horizon))}.</p>")
    parts.append("<div class='pair'>")
    parts.append(
        f"<div><h4>Top {len(best)}</h4>{_table(FORECAST_HEADER, forecast_rows(best))}</div>"
    )
    if worst:
        table = _table(FORECAST_HEADER, forecast_rows(worst))
        parts.append(f"<div><h4>Bottom {len(worst)}</h4>{table}</div>")
    parts.append("</div>")
    chart = charts.forecasts.get(horizon.horizon)
    if chart is not None:
        parts.append(png_image(chart, alt=f"top and bottom forecasts, horizon {horizon.horizon}"))
    return parts


def _performance(horizon: HorizonReport, charts: DailyCharts) -> list[str]:
    parts = [
        f"<h3>{html.escape(horizon_title(horizon))}</h3>",
        f"<p class='verdict'>{html.escape(verdict(horizon))}.</p>",
    ]
    chart = charts.accuracy.get(horizon.horizon)
    if chart is not None:
        parts.append(png_image(chart, alt=f"realised accuracy, horizon {horizon.horizon}"))
    return parts


def _drift(horizon: HorizonReport) -> list[str]:
    parts = [
        f"<h3>{html.escape(horizon_title(horizon))}</h3>",
        f"<p>{html.escape(drift_sentence(horizon))}.</p>",
    ]
    if horizon.drift:
        shown = horizon.drift[:DRIFT_ROWS]
        parts.append(_table(DRIFT_HEADER, drift_rows(shown), flagged=[f.drifted for f in shown]))
        parts.append(
            _more(more_rows(len(shown), len(horizon.drift), "columns within their thresholds"))
        )
    return parts


def render_daily_html(report: DailyReport, *, charts: DailyCharts, top: int = 5) -> str:
    """The page of ``report``: the four sections of :data:`SECTIONS` in order, each horizon in
    each, with the charts of ``charts`` (or ``charts.note`` saying why there are none)."""
    title = report_title(report)
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='note'>Made {report.generated_at:%Y-%m-%d %H:%M} UTC from the prediction "
        "ledger, the monitor's stored figures and the store's bars.</p>",
    ]
    if charts.note:
        parts.append(f"<p class='note warning'>No charts: {html.escape(charts.note)}</p>")
    forecasts, performance, drift, health = SECTIONS
    champions = report.champions
    missing = without_champion(report)
    if missing:
        parts.append(f"<p class='note'>{html.escape(missing.capitalize())}.</p>")
    nothing = [] if champions else [_empty(no_champion_text(report))]
    parts.append(f"<h2 id='{forecasts.key}'>{html.escape(forecasts.title)}</h2>")
    for horizon in champions:
        parts += _forecasts(horizon, charts, top=top)
    parts += nothing
    parts.append(f"<h2 id='{performance.key}'>{html.escape(performance.title)}</h2>")
    for horizon in champions:
        parts += _performance(horizon, charts)
    parts += nothing
    parts.append(f"<h2 id='{drift.key}'>{html.escape(drift.title)}</h2>")
    for horizon in champions:
        parts += _drift(horizon)
    parts += nothing
    parts.append(f"<h2 id='{health.key}'>{html.escape(health.title)}</h2>")
    parts.append(f"<p>{html.escape(health_sentence(report))}.</p>")
    if report.tickers:
        shown = report.tickers[:HEALTH_ROWS]
        parts.append(_table(HEALTH_HEADER, health_rows(shown), flagged=[t.stale for t in shown]))
        parts.append(_more(more_tickers(report)))

    parts.append("<h3>Providers</h3>")
    if report.providers:
        parts.append(_table(PROVIDER_HEADER, provider_rows(report)))
    else:
        parts.append(_empty(NO_PROVIDERS))
    parts.append("</body></html>")
    return "\n".join(parts)
