"""The leaderboard of an evaluation: ``leaderboard.json``, a self-contained ``leaderboard.html``
and ``equity.png``.

Inputs are the frames of :func:`stockpred.models.metrics.score` and
:func:`~stockpred.models.metrics.score_by_fold` and a
:class:`~stockpred.models.backtest.BacktestResult`. Models and baselines sit side by side,
sorted by mean daily rank IC, every figure with its 95% interval (or standard error, t or
p-value). matplotlib (``stockpred[plot]``) draws the equity curves; without it the page is
written without charts and says so.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Protocol

import numpy as np
import pandas as pd

from stockpred.domain.errors import MissingExtraError
from stockpred.extras import import_optional
from stockpred.models.backtest import PORTFOLIO_KINDS, BacktestResult

__all__ = [
    "PAGE_STYLE",
    "SORT_KEY",
    "JsonValue",
    "LeaderboardFiles",
    "figure_png",
    "fold_records",
    "leaderboard_records",
    "load_pyplot",
    "png_image",
    "render_equity_chart",
    "render_leaderboard_html",
    "write_leaderboard",
]

JsonValue = str | int | float | bool | None
SORT_KEY = "rank_ic_mean"


@dataclass(frozen=True, slots=True)
class _Column:
    """A table column: ``key``'s value, then ``[<interval>_low, <interval>_high]`` and ``extra``
    written as ``(extra)``, ``± extra`` or ``/ extra`` (``style``)."""

    header: str
    key: str
    interval: str | None = None
    extra: str | None = None
    style: str = "({})"


_SCORE_TABLE = (
    _Column("rank IC [95%] (t)", "rank_ic_mean", "rank_ic", "rank_ic_t"),
    _Column("IC [95%] (t)", "ic_mean", "ic", "ic_t"),
    _Column("rank ICIR", "rank_icir"),
    _Column("ICIR", "icir"),
    _Column("RMSE [95%]", "rmse", "rmse"),
    _Column("MAE [95%]", "mae", "mae"),
    _Column("Theil's U [95%]", "theil_u", "theil_u"),
    _Column("OOS R² [95%]", "r2_oos", "r2_oos"),
    _Column("direction [95%] (p)", "da", "da", "da_p_value"),
    _Column("DM vs random walk (p)", "dm_statistic", None, "dm_p_value"),
    _Column("lower loss", "dm_better"),
    _Column("coverage [95%]", "coverage", "coverage"),
    _Column("interval width", "interval_width"),
    _Column("rows / dates", "n_rows", None, "n_dates", "/ {}"),
)
_PORTFOLIO_TABLE = (
    _Column("Sharpe net (± se)", "sharpe_net", None, "sharpe_se_net", "± {}"),
    _Column("Sharpe gross (± se)", "sharpe_gross", None, "sharpe_se_gross", "± {}"),
    _Column("ann. return net", "ann_return_net"),
    _Column("ann. return gross", "ann_return_gross"),
    _Column("ann. volatility net", "ann_volatility_net"),
    _Column("max drawdown net", "max_drawdown_net"),
    _Column("hit rate net", "hit_rate_net"),
    _Column("total return net", "total_return_net"),
    _Column("daily turnover", "turnover"),
    _Column("days (skipped)", "days", None, "skipped_dates"),
)
_NOTES = (
    "Out-of-sample rows only. Intervals are 95%: RMSE, MAE, Theil's U, OOS R² and direction "
    "from a moving-block bootstrap over dates; IC from a Newey-West standard error with h-1 "
    "lags; coverage from a Wilson interval.",
    "Theil's U < 1, OOS R² > 0 and a negative Diebold-Mariano statistic mean a lower squared "
    "error than the random walk. With overlapping labels (h > 1) the binomial p-value of the "
    "direction is optimistic; read its bootstrap interval.",
    "Portfolios rebalance daily and hold one bar; net returns pay cost_bps per unit of turnover. "
    "Sharpe standard errors follow Lo (2002), assuming i.i.d. returns.",
    "A - marks a figure that is missing or has no meaning: the portfolios of a model whose "
    "forecasts are equal across tickers on (nearly) every date pick nothing (the random walk), "
    "and a model fitted on the rank target has no figures in return units (errors, direction, "
    "Diebold-Mariano, coverage).",
)

PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px;margin-bottom:2em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left;font-weight:600}
.note{color:#555;font-size:13px;max-width:60em}.warning{color:#a33}
"""


@dataclass(frozen=True, slots=True)
class LeaderboardFiles:
    """What :func:`write_leaderboard` wrote; ``chart`` is None when no chart could be drawn."""

    json: Path
    html: Path
    chart: Path | None


def _json_value(value: object) -> JsonValue:
    """A JSON-ready scalar: NaN and infinities become None, numpy scalars Python ones."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool):
        return value
    return str(value)


def _records(frame: pd.DataFrame) -> list[dict[str, JsonValue]]:
    return [
        {str(column): _json_value(value) for column, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def fold_records(folds: pd.DataFrame) -> list[dict[str, JsonValue]]:
    """The per-fold frame as JSON-ready dicts (NaN -> None), sorted by model and fold."""
    return _records(folds.sort_values(["model", "fold"], kind="stable"))


def leaderboard_records(
    scores: pd.DataFrame, *, backtest: BacktestResult | None = None
) -> list[dict[str, JsonValue]]:
    """One JSON-ready dict per model (NaN -> None), best mean rank IC first (undefined last).

    Each holds the model's score columns and, with ``backtest``, its portfolio figures
    flattened as ``<kind>_<column>`` (e.g. ``long_short_sharpe_net``).
    """
    if "model" not in scores.columns or SORT_KEY not in scores.columns:
        raise ValueError(f"the score frame needs 'model' and {SORT_KEY!r} columns")
    records = _records(scores)
    if backtest is not None:
        by_model: dict[str, dict[str, JsonValue]] = {}
        for row in _records(backtest.summary):
            flat = by_model.setdefault(str(row["model"]), {})
            flat |= {f"{row['kind']}_{c}": v for c, v in row.items() if c not in ("model", "kind")}
        records = [r | by_model.get(str(r["model"]), {}) for r in records]

    def order(record: dict[str, JsonValue]) -> tuple[bool, float, str]:
        value = record.get(SORT_KEY)
        number = float(value) if isinstance(value, int | float) else math.nan
        return math.isnan(number), -number if not math.isnan(number) else 0.0, str(record["model"])

    return sorted(records, key=order)


class Figure(Protocol):
    """What :func:`figure_png` needs of a matplotlib figure."""

    def savefig(self, fname: IO[bytes], *, format: str, dpi: int) -> None: ...


def load_pyplot(purpose: str, *, extra: str = "plot") -> ModuleType:
    """matplotlib's pyplot on the Agg backend (no screen needed), or MissingExtraError naming
    ``extra``; ``purpose`` completes "<purpose> needs ..."."""
    matplotlib = import_optional("matplotlib", extra=extra, purpose=purpose)
    matplotlib.use("Agg")
    return import_optional("matplotlib.pyplot", extra=extra, purpose=purpose)


def figure_png(pyplot: ModuleType, figure: Figure, *, dpi: int = 110) -> bytes:
    """``figure`` as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    pyplot.close(figure)
    return buffer.getvalue()


def png_image(png: bytes, *, alt: str) -> str:
    """An ``<img>`` holding ``png`` as a data URI: the page needs no other file."""
    encoded = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{encoded}'>"


def render_equity_chart(daily: pd.DataFrame, *, cost_bps: float) -> bytes:
    """A PNG with one panel per portfolio kind: compounded net equity of every model.

    daily: the ``daily`` frame of a backtest. Raises MissingExtraError without matplotlib.
    """
    pyplot = load_pyplot("drawing the equity curves")
    kinds = [kind for kind in PORTFOLIO_KINDS if (daily["kind"] == kind).any()]
    figure, axes = pyplot.subplots(1, max(1, len(kinds)), figsize=(6 * max(1, len(kinds)), 4.2))
    for axis, kind in zip(np.atleast_1d(axes), kinds, strict=False):
        for model, rows in daily[daily["kind"] == kind].groupby("model", sort=True):
            axis.plot(pd.DatetimeIndex(rows["ts"]), rows["equity"], linewidth=1.0, label=model)
        axis.axhline(1.0, color="gray", linewidth=0.6)
        axis.set_title(f"{kind.replace('_', '-')}, net of {cost_bps:g} bps")
        axis.set_ylabel("equity (start = 1)")
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize=7)
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure_png(pyplot, figure)


def _number(value: JsonValue) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _cell(record: dict[str, JsonValue], column: _Column) -> str:
    value = record.get(column.key)
    text = _number(value)
    if value is not None and column.interval is not None:
        low = _number(record.get(f"{column.interval}_low"))
        high = _number(record.get(f"{column.interval}_high"))
        text += f" [{low}, {high}]"
    if value is not None and column.extra is not None:
        text += " " + column.style.format(_number(record.get(column.extra)))
    return f"<td>{text}</td>"


def _table(
    records: Sequence[dict[str, JsonValue]], columns: Sequence[_Column], *, prefix: str = ""
) -> str:
    head = "".join(f"<th>{html.escape(column.header)}</th>" for column in columns)
    body = []
    for record in records:
        view = {k.removeprefix(prefix): v for k, v in record.items() if k.startswith(prefix)}
        cells = "".join(_cell(view, column) for column in columns)
        body.append(f"<tr><td>{html.escape(str(record['model']))}</td>{cells}</tr>")
    return f"<table><tr><th>model</th>{head}</tr>{''.join(body)}</table>"


def render_leaderboard_html(
    records: Sequence[dict[str, JsonValue]],
    *,
    folds: Sequence[dict[str, JsonValue]],
    chart_png: bytes | None,
    chart_note: str | None = None,
    title: str = "stockpred leaderboard",
) -> str:
    """A self-contained HTML page: the leaderboard, one portfolio table per kind, the equity
    chart embedded as a data URI (or ``chart_note`` saying why there is none), per-fold figures."""
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{PAGE_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        "<h2>Forecast accuracy, sorted by mean rank IC</h2>",
        _table(records, _SCORE_TABLE),
    ]
    for kind in PORTFOLIO_KINDS:
        if any(f"{kind}_days" in record for record in records):
            first = next(r for r in records if f"{kind}_days" in r)
            parts.append(
                f"<h2>Portfolio: {kind.replace('_', '-')} top k = {_number(first[f'{kind}_k'])}, "
                f"costs {_number(first[f'{kind}_cost_bps'])} bps</h2>"
            )
            parts.append(_table(records, _PORTFOLIO_TABLE, prefix=f"{kind}_"))
    parts.append("<h2>Equity curves</h2>")
    if chart_png is not None:
        parts.append(png_image(chart_png, alt="equity curves"))
    else:
        note = chart_note or "no chart was drawn"
        parts.append(f"<p class='note warning'>No charts: {html.escape(note)}</p>")
    if folds:
        columns = [str(c) for c in folds[0] if c not in ("model", "fold")]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ("model", "fold", *columns))
        rows = "".join(
            f"<tr><td>{html.escape(str(f['model']))}</td><td>{_number(f['fold'])}</td>"
            + "".join(f"<td>{_number(f.get(c))}</td>" for c in columns)
            + "</tr>"
            for f in folds
        )
        parts.append(f"<h2>Per fold (point estimates)</h2><table><tr>{head}</tr>{rows}</table>")
    parts.extend(f"<p class='note'>{html.escape(note)}</p>" for note in _NOTES)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_leaderboard(
    directory: Path,
    *,
    scores: pd.DataFrame,
    folds: pd.DataFrame,
    backtest: BacktestResult,
    title: str = "stockpred leaderboard",
) -> LeaderboardFiles:
    """Write ``leaderboard.json``, ``leaderboard.html`` and (with matplotlib) ``equity.png``
    under ``directory`` (created if missing); return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    records = leaderboard_records(scores, backtest=backtest)
    per_fold = fold_records(folds)
    chart_png: bytes | None = None
    chart_note: str | None = None
    chart_path: Path | None = None
    if backtest.daily.empty:
        chart_note = "the backtest traded no day"
    else:
        try:
            chart_png = render_equity_chart(backtest.daily, cost_bps=backtest.cost_bps)
        except MissingExtraError as exc:
            chart_note = str(exc)
    if chart_png is not None:
        chart_path = directory / "equity.png"
        chart_path.write_bytes(chart_png)
    horizons = sorted({int(h) for h in scores["horizon"]}) if "horizon" in scores else []
    document = {
        "title": title,
        "horizon": horizons[0] if len(horizons) == 1 else horizons,
        "sorted_by": SORT_KEY,
        "backtest": {
            "k": backtest.k,
            "cost_bps": backtest.cost_bps,
            "rebalance": backtest.rebalance,
        },
        "chart": chart_path.name if chart_path is not None else None,
        "chart_note": chart_note,
        "notes": list(_NOTES),
        "models": records,
        "folds": per_fold,
    }
    json_path = directory / "leaderboard.json"
    json_path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    html_path = directory / "leaderboard.html"
    page = render_leaderboard_html(
        records, folds=per_fold, chart_png=chart_png, chart_note=chart_note, title=title
    )
    html_path.write_text(page, encoding="utf-8")
    return LeaderboardFiles(json=json_path, html=html_path, chart=chart_path)
