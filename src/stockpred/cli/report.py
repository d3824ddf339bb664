"""``stockpred report``: the daily report of a session, written as HTML and PDF and, with
``--send``, sent through the notify routes that take reports (Slack: a summary; email: the
page as its body and the PDF attached)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockpred.cli.runtime import Runtime, runtime_of
from stockpred.domain.errors import InvalidInputError
from stockpred.settings import Settings

# The store, the registry, matplotlib and fpdf2 load in the command, so `--help` does not pay.
if TYPE_CHECKING:
    from stockpred.notify.dispatch import Sent
    from stockpred.notify.messages import Notice
    from stockpred.pipeline.daily_report_files import RenderedReport

__all__ = [
    "report_app",
    "report_notice",
    "routes_take_reports",
    "run_daily_report",
    "send_report",
]

report_app = typer.Typer(
    help="Reports for people: the daily report of a session, as HTML and PDF.",
    no_args_is_help=True,
    epilog="Example: stockpred report daily --out reports/ --send",
)


def report_notice(rendered: RenderedReport) -> Notice:
    """The notice of a rendered report: its summary as text and fields (what Slack shows),
    the HTML page as the email's body and the PDF attached; a warning when the summary says
    something needs a look (a champion trailing its baseline, drift, stale data)."""
    from stockpred.notify.messages import Attachment, Notice

    summary = rendered.summary
    return Notice(
        kind="report",
        title=summary.title,
        text=summary.text,
        severity="warning" if summary.attention else "info",
        fields=summary.fields,
        tickers=summary.tickers,
        html=rendered.html,
        attachments=(Attachment(rendered.pdf_name, "application/pdf", rendered.pdf),),
    )


def routes_take_reports(settings: Settings) -> bool:
    """Whether any of ``notify_routes`` takes reports (names them, or no kind at all)."""
    return any(not route.kinds or "report" in route.kinds for route in settings.notify_routes)


def send_report(
    settings: Settings, rendered: RenderedReport, *, clock: Callable[[], datetime]
) -> list[Sent]:
    """Send ``rendered`` to every route that wants it (retried, parked in the dead letters
    when it still fails); one result per route."""
    from stockpred.compose import notifier

    notice = report_notice(rendered)

    async def deliver() -> list[Sent]:
        dispatcher = notifier(settings, clock=clock)
        try:
            return await dispatcher.dispatch(notice)
        finally:
            await dispatcher.aclose()

    return asyncio.run(deliver())


def run_daily_report(
    runtime: Runtime, *, out: Path, session: date | None = None, top: int = 5, send: bool = False
) -> tuple[RenderedReport, Path, Path, list[Sent] | None]:
    """Gather, render and write the daily report of ``session`` under ``out``; send it when
    ``send``. Returns the report, its two paths and the deliveries (None when not sent)."""
    from stockpred.compose import daily_report_with
    from stockpred.pipeline.daily_report_files import render_daily_report, write_daily_report

    report = daily_report_with(runtime.settings, now=runtime.clock(), session=session)
    rendered = render_daily_report(report, top=top)
    html_path, pdf_path = write_daily_report(out, rendered)
    sent = send_report(runtime.settings, rendered, clock=runtime.clock) if send else None
    return rendered, html_path, pdf_path, sent


def _session(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"give a date as YYYY-MM-DD, got {text!r}", param_hint="--date"
        ) from None


@report_app.command(
    "daily",
    short_help="A session's report as HTML and PDF: forecasts, accuracy against the "
    "baselines, drift, data health.",
    epilog="Examples: stockpred report daily --out /tmp/reports  |  stockpred report daily "
    "--date 2013-02-28 --out reports --send",
)
def daily_command(
    ctx: typer.Context,
    day: str | None = typer.Option(
        None,
        "--date",
        help="The session, YYYY-MM-DD (default: the latest closed session the store has).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        file_okay=False,
        help="Folder of daily-YYYY-MM-DD.html and .pdf (default: HOME/reports/daily).",
    ),
    send: bool = typer.Option(
        False,
        "--send",
        help="Send it through the notify routes that take reports (Slack: a summary; email: "
        "the page and the PDF). Exits 1 when a delivery was parked.",
    ),
    top: int = typer.Option(5, "--top", min=1, max=25, help="Forecasts shown at each end."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """The daily report of a session: each served champion's top and bottom forecasts of the
    session from the prediction ledger (interval, probability of a rise, model version), its
    realised rolling rank IC and hit rate against the best baseline with a plain verdict, its
    latest drift figures, and the data's health (each ticker's last bar against the session,
    the providers' last runs). Written as a self-contained HTML page and an A4 PDF."""
    runtime = runtime_of(ctx)
    settings = runtime.settings
    if send and not routes_take_reports(settings):
        raise InvalidInputError(
            "--send: no notify route takes reports; add one to notify_routes, e.g. "
            'STOCKPRED_NOTIFY_ROUTES=\'[{"channel": "email", "target": "desk@example.com", '
            '"kinds": ["report"]}]\''
        )
    folder = out if out is not None else settings.reports_path / "daily"
    rendered, html_path, pdf_path, sent = run_daily_report(
        runtime, out=folder, session=_session(day), top=top, send=send
    )
    undelivered = [s for s in sent or [] if s.outcome != "delivered"]
    if as_json:
        runtime.print_json(
            {
                "session": rendered.stem.removeprefix("daily-"),
                "html": str(html_path),
                "pdf": str(pdf_path),
                "summary": rendered.summary.text,
                "fields": dict(rendered.summary.fields),
                "chart_note": rendered.chart_note,
                "sent": None
                if sent is None
                else [
                    {
                        "channel": s.channel,
                        "destination": s.destination,
                        "outcome": s.outcome,
                        "attempts": s.attempts,
                        "error": s.error,
                    }
                    for s in sent
                ],
            }
        )
    else:
        _print(runtime, rendered, html_path, pdf_path, sent)
    if undelivered:
        raise typer.Exit(1)


def _print(
    runtime: Runtime,
    rendered: RenderedReport,
    html_path: Path,
    pdf_path: Path,
    sent: list[Sent] | None,
) -> None:
    out = runtime.out
    out.print(f"wrote {html_path}", markup=False, highlight=False)
    out.print(f"wrote {pdf_path}", markup=False, highlight=False)
    for line in rendered.summary.text.splitlines():
        out.print(f"  {line}", markup=False, highlight=False)
    if rendered.chart_note:
        runtime.err.print(f"note: no charts: {rendered.chart_note}", markup=False)
    for delivery in sent or []:
        text = f"sent to {delivery.channel} {delivery.destination}: {delivery.outcome}"
        if delivery.outcome != "delivered":
            text += (
                f" after {delivery.attempts} attempt(s) ({delivery.error}); see "
                "`stockpred notify dead-letters`"
            )
        (out if delivery.outcome == "delivered" else runtime.err).print(
            text, markup=False, highlight=False
        )
    if sent == []:
        runtime.err.print(
            "no route wanted this report (check the routes' min_severity and tickers)",
            markup=False,
        )
