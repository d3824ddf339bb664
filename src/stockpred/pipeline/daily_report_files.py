"""The daily report rendered (HTML page, PDF, summary) and written as
``daily-YYYY-MM-DD.html`` and ``daily-YYYY-MM-DD.pdf``: the one place that writes them."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from stockpred.domain.errors import MissingExtraError
from stockpred.extras import import_optional
from stockpred.pipeline.daily_report import DailyReport
from stockpred.pipeline.daily_report_charts import DailyCharts, render_daily_charts
from stockpred.pipeline.daily_report_html import render_daily_html
from stockpred.pipeline.daily_report_pdf import bundled_font, render_daily_pdf
from stockpred.pipeline.daily_report_text import ReportSummary, summarize

__all__ = ["RenderedReport", "render_daily_report", "write_daily_report"]


@dataclass(frozen=True, slots=True)
class RenderedReport:
    """The report as it is written and sent: ``stem`` names its files (``daily-2013-03-01``)."""

    stem: str
    html: str = field(repr=False)
    pdf: bytes = field(repr=False)
    summary: ReportSummary
    chart_note: str | None = None

    @property
    def pdf_name(self) -> str:
        return f"{self.stem}.pdf"

    @property
    def html_name(self) -> str:
        return f"{self.stem}.html"


def render_daily_report(report: DailyReport, *, top: int = 5) -> RenderedReport:
    """HTML, PDF and summary of ``report`` with ``top`` forecasts at each end. Without
    matplotlib they are made without charts and say so; without fpdf2 a MissingExtraError
    names the ``report`` extra."""
    # Checked first: without fpdf2 nothing is drawn for nothing.
    import_optional("fpdf", extra="report", purpose="the daily report's PDF")
    try:
        charts = render_daily_charts(report, top=top)
    except MissingExtraError as exc:
        charts = DailyCharts(note=str(exc))
    return RenderedReport(
        stem=f"daily-{report.session:%Y-%m-%d}",
        html=render_daily_html(report, charts=charts, top=top),
        pdf=render_daily_pdf(report, charts=charts, top=top, font=bundled_font()),
        summary=summarize(report, top=top),
        chart_note=charts.note,
    )


def _replace(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file, so no reader sees half."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_daily_report(directory: Path, rendered: RenderedReport) -> tuple[Path, Path]:
    """Write the HTML page and the PDF under ``directory`` (created if missing), replacing a
    report of the same session; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    html_path, pdf_path = directory / rendered.html_name, directory / rendered.pdf_name
    _replace(html_path, rendered.html.encode("utf-8"))
    _replace(pdf_path, rendered.pdf)
    return html_path, pdf_path
