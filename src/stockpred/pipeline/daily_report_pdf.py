"""The daily report as an A4 PDF, drawn with fpdf2 (pure Python, the ``report`` extra): the
same sections, sentences, tables and PNG charts as the HTML page, each section a bookmark,
page numbers at the foot.

fpdf2's core fonts know only latin-1: with a TrueType font (``font``, e.g. the DejaVu Sans that
matplotlib ships, :func:`bundled_font`) any text is drawn; without one the text is reduced to
latin-1 first (an unknown character becomes ``?``), so a ticker or a column name never breaks
the PDF.

Pure but for reading the font file: the report and its charts in, bytes out.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stockpred.extras import import_optional
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

__all__ = ["bundled_font", "render_daily_pdf"]

_PURPOSE = "the daily report's PDF"
_FAMILY = "DejaVu"
_ASCII = str.maketrans(
    {
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2026": "...",
        "\u2265": ">=",
        "\u2264": "<=",
        "\u00b1": "+/-",
        "\u2192": "->",
        "\u2019": "'",
    }
)
# Millimetres: A4 is 210 x 297; a chart is kept below this height so two nearly fit a page.
_MARGIN = 15.0
_CHART_HEIGHT = 110.0
_GREY = (102, 102, 102)
_RED = (170, 51, 51)
_BLUE = (31, 78, 156)


def bundled_font() -> tuple[Path, Path] | None:
    """DejaVu Sans and DejaVu Sans Bold as matplotlib ships them, or None without matplotlib
    (or with a build that left them out)."""
    try:
        import matplotlib
    except ImportError:
        return None
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    return (regular, bold) if regular.is_file() and bold.is_file() else None


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels from the PNG's IHDR chunk."""
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


class _Writer:
    """One PDF being drawn: text, headings, tables and images in the flow of the page."""

    def __init__(self, fpdf: Any, *, title: str, font: tuple[Path, Path] | None) -> None:
        self._fpdf = fpdf
        footer = f"{title} - page "

        class Document(fpdf.FPDF):  # type: ignore[misc]
            def footer(self) -> None:
                self.set_y(-10)
                self.set_font(size=7)
                self.set_text_color(*_GREY)
                self.cell(0, 5, f"{footer}{self.page_no()}/{{nb}}", align="C")

        pdf = Document(orientation="P", unit="mm", format="A4")
        pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
        pdf.set_auto_page_break(auto=True, margin=_MARGIN)
        self._unicode = font is not None
        if font is not None:
            pdf.add_font(_FAMILY, style="", fname=str(font[0]))
            pdf.add_font(_FAMILY, style="B", fname=str(font[1]))
            self._family = _FAMILY
        else:
            self._family = "Helvetica"
        pdf.set_title(self.text(title))
        pdf.set_creator("stockpred")
        pdf.add_page()
        self.pdf = pdf

    def text(self, value: str) -> str:
        if self._unicode:
            return value
        return value.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")

    def font(
        self, size: float, *, bold: bool = False, color: tuple[int, int, int] = (34, 34, 34)
    ) -> None:
        self.pdf.set_font(self._family, style="B" if bold else "", size=size)
        self.pdf.set_text_color(*color)

    def paragraph(
        self,
        value: str,
        *,
        size: float = 9,
        color: tuple[int, int, int] = (34, 34, 34),
        bold: bool = False,
    ) -> None:
        self.font(size, bold=bold, color=color)
        self.pdf.multi_cell(
            0, size * 0.5, self.text(value), align="L", new_x="LMARGIN", new_y="NEXT"
        )
        self.pdf.ln(1.5)

    def heading(self, value: str, *, level: int, keep: float = 40) -> None:
        """A title (0), a section's heading (1, a bookmark; on this page only when ``keep`` mm
        fit under it) or a horizon's (2)."""
        size = (16, 13, 10.5)[level]
        if level == 1:
            self.keep_together(keep)
            self.pdf.ln(2)
            self.pdf.start_section(self.text(value), level=0)
        self.font(size, bold=True, color=_BLUE if level < 2 else (34, 34, 34))
        self.pdf.multi_cell(
            0, size * 0.5, self.text(value), align="L", new_x="LMARGIN", new_y="NEXT"
        )
        if level == 1:
            y = self.pdf.get_y()
            self.pdf.set_draw_color(*_BLUE)
            self.pdf.line(_MARGIN, y, self.pdf.w - _MARGIN, y)
        self.pdf.ln(2)

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        widths: Sequence[float],
        flagged: Sequence[bool] = (),
        more: str | None = None,
    ) -> None:
        """``rows`` under ``header`` (``flagged`` rows in bold red), then ``more`` (what was
        left out) when given."""
        fonts = import_optional("fpdf.fonts", extra="report", purpose=_PURPOSE)
        self.font(7.5)
        self.pdf.set_draw_color(170, 170, 170)
        flag = fonts.FontFace(emphasis="BOLD", color=_RED)
        head = fonts.FontFace(emphasis="BOLD", fill_color=(236, 236, 236))
        with self.pdf.table(
            col_widths=tuple(widths),
            width=min(self.pdf.epw, sum(widths)),
            align="LEFT",
            headings_style=head,
            line_height=4.2,
            padding=0.8,
            text_align="LEFT",
        ) as table:
            cells = table.row()
            for name in header:
                cells.cell(self.text(name))
            for index, row in enumerate(rows):
                style = flag if index < len(flagged) and flagged[index] else None
                cells = table.row()
                for value in row:
                    cells.cell(self.text(value), style=style)
        self.pdf.ln(3)
        if more:
            self.paragraph(more, size=8, color=_GREY)

    def image_size(self, png: bytes) -> tuple[float, float]:
        """The width and height (mm) ``png`` is drawn at: the page's width at most, and at
        most ``_CHART_HEIGHT`` high."""
        width, height = _png_size(png)
        shown_width = min(self.pdf.epw, _CHART_HEIGHT * width / height)
        return shown_width, shown_width * height / width

    def keep_together(self, height: float) -> None:
        """Start a new page unless ``height`` mm still fit on this one."""
        if self.pdf.will_page_break(height):
            self.pdf.add_page()

    def image(self, png: bytes) -> None:
        shown_width, shown_height = self.image_size(png)
        if self.pdf.will_page_break(shown_height):
            self.pdf.add_page()
        x = _MARGIN + (self.pdf.epw - shown_width) / 2
        self.pdf.image(io.BytesIO(png), x=x, w=shown_width, h=shown_height)
        self.pdf.ln(3)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def _forecasts(writer: _Writer, horizon: HorizonReport, charts: DailyCharts, *, top: int) -> None:
    writer.heading(horizon_title(horizon), level=2)
    if not horizon.forecasts:
        writer.paragraph(no_forecasts_text(horizon), color=_GREY)
        return
    writer.paragraph(forecasts_caption(horizon) + ".", size=8, color=_GREY)
    widths = (18, 20, 40, 14, 50)
    best, worst = horizon.top(top), horizon.bottom(top)
    writer.paragraph(f"Top {len(best)}", size=9, bold=True)
    writer.table(FORECAST_HEADER, forecast_rows(best), widths=widths)
    if worst:
        writer.paragraph(f"Bottom {len(worst)}", size=9, bold=True)
        writer.table(FORECAST_HEADER, forecast_rows(worst), widths=widths)
    chart = charts.forecasts.get(horizon.horizon)
    if chart is not None:
        writer.image(chart)


def render_daily_pdf(
    report: DailyReport,
    *,
    charts: DailyCharts,
    top: int = 5,
    font: tuple[Path, Path] | None = None,
) -> bytes:
    """The PDF of ``report``: A4 portrait, the four sections of :data:`SECTIONS` as the HTML
    page has them, each a bookmark. ``font``: regular and bold TrueType files (default: the
    core Helvetica, latin-1 only). Raises MissingExtraError without fpdf2."""
    fpdf = import_optional("fpdf", extra="report", purpose=_PURPOSE)
    title = report_title(report)
    writer = _Writer(fpdf, title=title, font=font)
    writer.pdf.set_creation_date(report.generated_at)
    writer.heading(title, level=0)
    writer.paragraph(
        f"Made {report.generated_at:%Y-%m-%d %H:%M} UTC from the prediction ledger, the "
        "monitor's stored figures and the store's bars.",
        size=8,
        color=_GREY,
    )
    if charts.note:
        writer.paragraph(f"No charts: {charts.note}", size=8, color=_RED)
    forecasts, performance, drift, health = SECTIONS
    champions = report.champions
    missing = without_champion(report)
    if missing:
        writer.paragraph(missing.capitalize() + ".", size=8, color=_GREY)

    writer.heading(forecasts.title, level=1)
    for horizon in champions:
        _forecasts(writer, horizon, charts, top=top)
    if not champions:
        writer.paragraph(no_champion_text(report), color=_GREY)

    first = next(
        (charts.accuracy[h.horizon] for h in champions if h.horizon in charts.accuracy), None
    )
    writer.heading(
        performance.title,
        level=1,
        keep=40 if first is None else writer.image_size(first)[1] + 45,
    )
    for horizon in champions:
        chart = charts.accuracy.get(horizon.horizon)
        if chart is not None:
            # The heading and the verdict stay on the chart's page.
            writer.keep_together(writer.image_size(chart)[1] + 30)
        writer.heading(horizon_title(horizon), level=2)
        writer.paragraph(verdict(horizon) + ".", size=9.5)
        if chart is not None:
            writer.image(chart)
    if not champions:
        writer.paragraph(no_champion_text(report), color=_GREY)

    writer.heading(drift.title, level=1)
    for horizon in champions:
        writer.heading(horizon_title(horizon), level=2)
        writer.paragraph(drift_sentence(horizon) + ".")
        if horizon.drift:
            shown = horizon.drift[:DRIFT_ROWS]
            writer.table(
                DRIFT_HEADER,
                drift_rows(shown),
                widths=(60, 18, 18, 18, 18, 16),
                flagged=[f.drifted for f in shown],
                more=more_rows(len(shown), len(horizon.drift), "columns within their thresholds"),
            )
    if not champions:
        writer.paragraph(no_champion_text(report), color=_GREY)
    writer.heading(health.title, level=1)
    writer.paragraph(health_sentence(report) + ".")
    if report.tickers:
        shown_tickers = report.tickers[:HEALTH_ROWS]
        writer.table(
            HEALTH_HEADER,
            health_rows(shown_tickers),
            widths=(20, 32, 24, 20, 40, 16),
            flagged=[t.stale for t in shown_tickers],
            more=more_tickers(report),
        )
    writer.heading("Providers", level=2)
    if report.providers:
        writer.table(PROVIDER_HEADER, provider_rows(report), widths=(28, 40, 40, 72))
    else:
        writer.paragraph(NO_PROVIDERS, color=_GREY)
    return writer.output()
