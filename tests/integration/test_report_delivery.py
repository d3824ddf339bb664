"""The daily report delivered to real servers on loopback: a Slack incoming webhook that checks
Block Kit as Slack does (tests/support/slack.py) gets the summary, an SMTP server (aiosmtpd)
that requires STARTTLS gets the page as the HTML body and the PDF attached; receivers that
keep failing are retried, then the report is parked and `stockpred notify dead-letters` lists
it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from stockpred.cli.app import main
from stockpred.cli.report import report_notice
from stockpred.notify.notice_store import NoticeStore
from stockpred.notify.routing import Route
from stockpred.pipeline.daily_report_files import RenderedReport, render_daily_report
from stockpred.settings import load_settings
from support.daily_report import report
from support.notify import loopback_dispatcher
from support.slack import slack_receiver
from support.smtp import smtp_server, trusting

pytest.importorskip("aiosmtpd.controller", reason="needs the dev extra")
pytest.importorskip("cryptography.x509")
pytest.importorskip("fpdf", reason="the report extra (fpdf2) draws the PDF")

ATTEMPTS = 3


@pytest.fixture(scope="module")
def rendered() -> RenderedReport:
    return render_daily_report(report())


@pytest.fixture
def store() -> Iterator[NoticeStore]:
    """The dead letters where the CLI looks for them: the API database under the home."""
    notice_store = NoticeStore(load_settings().api_database_url)
    yield notice_store
    notice_store.close()


def _routes(slack_url: str) -> list[Route]:
    return [
        Route("slack", slack_url, kinds=frozenset({"report"})),
        Route("email", "desk@example.com", kinds=frozenset({"report"})),
        # A route for alerts only does not get the report.
        Route("email", "pager@example.com", kinds=frozenset({"alert"})),
    ]


def test_slack_gets_the_summary_and_email_the_page_with_the_pdf(
    tmp_path: Path, store: NoticeStore, rendered: RenderedReport
) -> None:
    with slack_receiver() as receiver, smtp_server(tmp_path) as (mailbox, port, cert):
        dispatcher = loopback_dispatcher(
            _routes(receiver.url), store=store, port=port, tls=trusting(cert), attempts=ATTEMPTS
        )
        sent = asyncio.run(dispatcher.dispatch(report_notice(rendered)))

    assert [(s.channel, s.outcome) for s in sent] == [
        ("slack", "delivered"),
        ("email", "delivered"),
    ]
    assert receiver.refused == []
    (message,) = receiver.messages
    blocks = json.dumps(message)
    assert message["blocks"][0]["text"]["text"] == rendered.summary.title  # type: ignore[index]
    for shown in (
        "AAPL +3.00%",  # the top forecast
        "PG -2.50%",  # the bottom one
        "ridge trails mean drift on rank IC for 12 scored sessions in a row",
        "2 of 3 columns past their PSI and KS thresholds",
        "*stale tickers*\\nIBM",
    ):
        assert shown in blocks, shown
    assert "base64" not in blocks  # Slack carries no file

    assert mailbox.over_tls == [True]
    assert mailbox.envelopes == [("stockpred@example.com", ["desk@example.com"])]
    (mail,) = mailbox.messages
    assert mail["Subject"] == f"[warning] {rendered.summary.title}"
    assert mail.get_content_type() == "multipart/mixed"
    alternative, attachment = mail.iter_parts()
    plain, page = alternative.iter_parts()
    assert [plain.get_content_type(), page.get_content_type()] == ["text/plain", "text/html"]
    assert isinstance(page, EmailMessage)
    # SMTP carries lines ending in CRLF.
    assert page.get_content().replace("\r\n", "\n").rstrip("\n") == rendered.html
    assert "data:image/png;base64," in page.get_content()
    assert "ridge trails mean drift" in plain.get_content()  # type: ignore[attr-defined]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "daily-2024-03-15.pdf"
    assert attachment.get_payload(decode=True) == rendered.pdf
    assert rendered.pdf.startswith(b"%PDF-")
    assert store.dead_letters() == []


def test_receivers_that_keep_failing_are_retried_then_parked_and_listed(
    tmp_path: Path,
    store: NoticeStore,
    rendered: RenderedReport,
    capsys: pytest.CaptureFixture[str],
) -> None:
    failing = [(500, "service_unavailable")] * ATTEMPTS
    with slack_receiver(failing) as receiver, smtp_server(tmp_path) as (mailbox, port, cert):
        mailbox.answers = ["451 4.3.0 mailbox busy, try again later"] * ATTEMPTS
        dispatcher = loopback_dispatcher(
            _routes(receiver.url), store=store, port=port, tls=trusting(cert), attempts=ATTEMPTS
        )
        sent = asyncio.run(dispatcher.dispatch(report_notice(rendered)))

    assert [(s.channel, s.outcome, s.attempts) for s in sent] == [
        ("slack", "parked", ATTEMPTS),
        ("email", "parked", ATTEMPTS),
    ]
    assert receiver.posts == ATTEMPTS
    assert mailbox.data_commands == ATTEMPTS
    assert mailbox.messages == []

    capsys.readouterr()
    assert main(["notify", "dead-letters", "--json"]) == 0
    listed = {letter["channel"]: letter for letter in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"slack", "email"}
    for letter in listed.values():
        assert letter["title"] == rendered.summary.title
        assert letter["attempts"] == ATTEMPTS
    assert listed["slack"]["last_error"] == "HTTP 500 service_unavailable"
    assert listed["email"]["last_error"].startswith("SMTP 451")
    assert "XXXXSECRET" not in json.dumps(listed)
    # What is parked is what would have been sent: the email still holds the PDF.
    (parked,) = [letter for letter in store.dead_letters() if letter.channel == "email"]
    assert 'filename="daily-2024-03-15.pdf"' in parked.payload
