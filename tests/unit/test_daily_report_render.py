"""The daily report's pure rendering: its sections in order, the top and bottom forecasts in
their order, a verdict that says so when the champion loses, sections without data that say
why, an HTML page that needs no other file, and an A4 PDF with the same sections."""

from __future__ import annotations

import html
import re
import zlib

import pytest

from stockpred.cli.report import report_notice
from stockpred.domain.errors import MissingExtraError
from stockpred.notify.messages import email_message, slack_blocks
from stockpred.pipeline import daily_report_files
from stockpred.pipeline.daily_report import DriftFigure
from stockpred.pipeline.daily_report_charts import DailyCharts
from stockpred.pipeline.daily_report_files import render_daily_report
from stockpred.pipeline.daily_report_html import render_daily_html
from stockpred.pipeline.daily_report_pdf import bundled_font, render_daily_pdf
from stockpred.pipeline.daily_report_text import SECTIONS, summarize, verdict
from support.daily_report import TICKERS, accuracy, forecasts, horizon, report
from support.slack import block_kit_problems

pytest.importorskip("fpdf", reason="the report extra (fpdf2) draws the PDF")

NO_CHARTS = DailyCharts()
# A column name with Greek letters, an en dash and a sign latin-1 does not have.
ODD = "\u03c3_20 \u2013 \u2265 \u03bb"


def _positions(page: str, needles: list[str]) -> list[int]:
    found = [page.find(needle) for needle in needles]
    assert all(p >= 0 for p in found), [n for n, p in zip(needles, found, strict=True) if p < 0]
    return found


def test_the_four_sections_come_in_order() -> None:
    page = render_daily_html(report(), charts=NO_CHARTS)

    positions = _positions(page, [f"<h2 id='{s.key}'>{html.escape(s.title)}" for s in SECTIONS])
    assert positions == sorted(positions)


def test_the_top_is_highest_first_and_the_bottom_lowest_first() -> None:
    page = render_daily_html(report(), charts=NO_CHARTS, top=3)

    top, bottom = page.index("<h4>Top 3</h4>"), page.index("<h4>Bottom 3</h4>")
    assert _positions(page[top:bottom], ["AAPL", "MSFT", "NVDA"]) == sorted(
        _positions(page[top:bottom], ["AAPL", "MSFT", "NVDA"])
    )
    lowest_first = _positions(page[bottom:], ["PG", "KO", "IBM"])
    assert lowest_first == sorted(lowest_first)
    # The middle of the ranking is in neither table.
    assert "TSLA" not in page[top : page.index("Performance against")]
    assert "+3.00%" in page  # AAPL's expected return, in percent of log return
    assert "[-1.00%, +7.00%]" in page  # its interval
    assert "65%" in page  # its probability of a rise


def test_top_and_bottom_never_share_a_ticker() -> None:
    five = horizon(
        forecasts=forecasts(dict(zip(TICKERS[:5], [0.03, 0.02, 0.01, 0.0, -0.01], strict=True)))
    )

    best, worst = five.top(5), five.bottom(5)
    assert [f.ticker for f in best] == ["AAPL", "MSFT", "NVDA"]
    assert [f.ticker for f in worst] == ["GOOG", "AMZN"]


def test_the_verdict_says_the_champion_trails_when_it_loses() -> None:
    losing = horizon(accuracy=accuracy(champion=0.012, baseline=0.046, sessions=12))

    text = verdict(losing)
    assert text.startswith("ridge trails mean drift on rank IC for 12 scored sessions in a row")
    assert "+0.0120 against +0.0460" in text
    assert "leads" not in text
    page = render_daily_html(report(horizons=(losing,)), charts=NO_CHARTS)
    assert "ridge trails mean drift" in page
    assert summarize(report(horizons=(losing,))).attention


def test_the_streak_counts_only_the_latest_sessions_in_a_row() -> None:
    points = (
        *accuracy(champion=0.05, baseline=0.01, sessions=3),
        *accuracy(champion=0.01, baseline=0.02, sessions=2),
    )

    assert "for 2 scored sessions in a row" in verdict(horizon(accuracy=points))


def test_the_verdict_says_the_champion_leads_and_warns_of_a_negative_rank_ic() -> None:
    winning = verdict(horizon(accuracy=accuracy(champion=0.05, baseline=0.01)))
    below_chance = verdict(horizon(accuracy=accuracy(champion=-0.01, baseline=-0.02)))

    assert winning.startswith("ridge leads the best baseline, mean drift, on rank IC")
    assert "its hit rate is lower" in winning  # 51% against 53%
    assert "negative" not in winning
    assert "its rank IC is negative" in below_chance


def test_sections_without_data_say_why() -> None:
    bare = horizon(
        forecasts=(),
        forecasts_note="no forecast of stockpred-h5 v7 as of 2024-03-15 in the ledger",
        accuracy=(),
        drift_session=None,
        drift=(),
    )
    page = render_daily_html(report(horizons=(bare,), tickers=(), providers=()), charts=NO_CHARTS)

    for text in (
        "no forecast of stockpred-h5 v7 as of 2024-03-15 in the ledger",
        "no realised accuracy yet: the monitor has not scored this champion (stockpred-h5 v7)",
        "no drift measured yet: the monitor has not run for stockpred-h5 v7",
        "no bars stored",
        "no provider has run yet",
    ):
        assert text in page, text
    positions = _positions(page, [f"<h2 id='{s.key}'>" for s in SECTIONS])
    assert positions == sorted(positions)


def test_a_monitor_run_without_matured_forecasts_is_told_apart_from_no_run() -> None:
    text = verdict(horizon(accuracy=()))

    assert text.startswith("no realised accuracy yet: the monitor has not scored this champion")
    assert "it ran on 2024-03-15 and found no forecast dated after the champion's training" in text


def test_without_any_champion_every_section_says_so() -> None:
    page = render_daily_html(report(horizons=(horizon(champion=None),)), charts=NO_CHARTS)

    assert page.count("no champion for any served horizon (5)") == 3


def test_horizons_without_a_champion_are_named_once() -> None:
    page = render_daily_html(report(), charts=NO_CHARTS)

    assert page.count("without a champion: 1") == 1
    assert "Horizon 1 sessions" not in page


def test_the_page_embeds_its_charts_and_links_nothing_outside() -> None:
    rendered = render_daily_report(report())

    page = rendered.html
    assert page.count("src='data:image/png;base64,") == 2  # forecasts and accuracy
    assert not re.search(r"https?://", page)
    assert "<script" not in page
    assert "<link" not in page
    assert rendered.chart_note is None


def test_without_matplotlib_the_report_is_written_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(*_: object, **__: object) -> DailyCharts:
        raise MissingExtraError("drawing the daily report's charts needs the optional dependency")

    monkeypatch.setattr(daily_report_files, "render_daily_charts", missing)
    rendered = render_daily_report(report())

    assert "data:image/png" not in rendered.html
    assert "No charts: drawing the daily report" in rendered.html
    assert rendered.pdf.startswith(b"%PDF-")


def _pages(pdf: bytes) -> int:
    counts = [int(n) for n in re.findall(rb"/Type /Pages\s*/Kids \[[^\]]*\]\s*/Count (\d+)", pdf)]
    if not counts:
        counts = [int(n) for n in re.findall(rb"/Count (\d+)\s*/Kids", pdf)]
    assert counts, "no page tree found"
    return counts[0]


def test_the_pdf_is_a4_with_a_bookmark_per_section_and_the_charts() -> None:
    rendered = render_daily_report(report())
    pdf = rendered.pdf

    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert rendered.pdf_name == "daily-2024-03-15.pdf"
    assert b"/MediaBox [0 0 595.28 841.89]" in pdf  # A4 portrait, in points
    titles = re.findall(rb"/Title \((.*?)\)\n", pdf)
    assert [t.decode() for t in titles[: len(SECTIONS)]] == [s.title for s in SECTIONS]
    assert pdf.count(b"/Subtype /Image") == 2
    assert 1 <= _pages(pdf) <= 4


def test_long_tables_flow_onto_more_pages() -> None:
    many = {f"T{i:03d}": 0.01 - i * 0.0001 for i in range(120)}
    long = report(horizons=(horizon(forecasts=forecasts(many)),), tickers=report().tickers * 40)

    short_pages = _pages(render_daily_pdf(report(), charts=NO_CHARTS, top=5))
    long_pages = _pages(render_daily_pdf(long, charts=NO_CHARTS, top=25))
    assert long_pages > short_pages


def _page_text_streams(pdf: bytes) -> bytes:
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.DOTALL)
    out = b""
    for raw in streams:
        try:
            out += zlib.decompress(raw)
        except zlib.error:
            continue
    return out


def test_text_outside_latin1_is_drawn_with_the_bundled_font_and_reduced_without_it() -> None:
    odd = report(
        horizons=(horizon(drift=(DriftFigure(ODD, 0.5, 0.25, 0.3, 0.1, drifted=True),)),),
    )
    font = bundled_font()
    if font is None:
        pytest.skip("matplotlib (the report extra) ships the DejaVu font")

    with_font = render_daily_pdf(odd, charts=NO_CHARTS, font=font)
    without = render_daily_pdf(odd, charts=NO_CHARTS, font=None)

    assert b"/FontFile2" in with_font  # the TrueType font is embedded
    assert b"/FontFile2" not in without
    # The core font draws text as latin-1 strings: the column survives, its Greek as '?'.
    assert b"?_20 - >= ?" in _page_text_streams(without)


def test_the_notice_carries_the_summary_the_page_and_the_pdf() -> None:
    rendered = render_daily_report(report())
    notice = report_notice(rendered)

    assert notice.kind == "report"
    assert notice.severity == "warning"  # the champion trails, columns drifted, IBM is stale
    assert notice.html == rendered.html
    (attachment,) = notice.attachments
    assert (attachment.filename, attachment.content_type) == (
        "daily-2024-03-15.pdf",
        "application/pdf",
    )
    fields = dict(notice.fields)
    assert fields["h5 top"].startswith("AAPL +3.00%, MSFT +2.50%")
    assert fields["h5 bottom"].startswith("PG -2.50%, KO -2.00%")
    assert fields["h5 drift"].startswith("2 of 3 columns past their PSI and KS thresholds")
    assert fields["stale tickers"] == "IBM"
    assert "h5: ridge trails mean drift" in notice.text
    message = slack_blocks(notice)
    assert block_kit_problems(message) == []
    assert "IBM" in str(message)
    mail = email_message(notice, sender="stockpred@example.com", recipients=["desk@example.com"])
    assert [p.get_content_type() for p in mail.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]


def test_a_report_with_nothing_to_flag_is_info() -> None:
    calm = report(
        horizons=(horizon(accuracy=accuracy(champion=0.05, baseline=0.01), drift=()),),
        tickers=report().tickers[1:],
    )

    summary = summarize(calm)
    assert not summary.attention
    assert dict(summary.fields)["stale tickers"] == "none"
