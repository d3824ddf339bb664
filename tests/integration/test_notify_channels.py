"""The Slack and email channels against real servers on loopback: a Slack incoming webhook that
checks Block Kit as Slack does (tests/support/slack.py), and an SMTP server (aiosmtpd) that
requires STARTTLS with a certificate made here; retried failures recover, final ones are parked
and listed (and sent again) by `stockpred notify dead-letters`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockpred.cli.app import main
from stockpred.notify.messages import Attachment, Notice
from stockpred.notify.notice_store import NoticeStore
from stockpred.notify.routing import Route
from stockpred.settings import load_settings
from support.notify import loopback_dispatcher
from support.slack import slack_receiver
from support.smtp import smtp_server, trusting

pytest.importorskip("aiosmtpd.controller", reason="needs the dev extra")
pytest.importorskip("cryptography.x509")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
NOTICE = Notice(
    kind="report",
    title="Weekly report",
    text="Champions held up this week.\n\nDetails attached.",
    severity="info",
    fields=(("horizon", "5"), ("rank IC", "0.031")),
    tickers=("AAPL",),
    attachments=(Attachment("report-2024-05-03.pdf", "application/pdf", PDF),),
)
ALERT = Notice(
    kind="alert",
    title="FeatureDrift: rsi_14 drifted",
    text="PSI 0.41 over the threshold 0.25",
    severity="warning",
    fields=(("feature", "rsi_14"), ("horizon", "5")),
    alert_kind="drift",
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[NoticeStore]:
    """The dead letters where the CLI looks for them: the API database under the home."""
    notice_store = NoticeStore(load_settings().api_database_url)
    yield notice_store
    notice_store.close()


# -- Slack --------------------------------------------------------------------------------------


def test_a_slack_message_arrives_as_valid_block_kit(store: NoticeStore) -> None:
    with slack_receiver() as receiver:
        dispatcher = loopback_dispatcher([Route("slack", receiver.url)], store=store)
        (sent,) = asyncio.run(dispatcher.dispatch(ALERT))

    assert sent.outcome == "delivered", sent
    assert receiver.refused == []
    (message,) = receiver.messages
    assert message["text"].startswith("FeatureDrift")  # type: ignore[union-attr]
    header = message["blocks"][0]  # type: ignore[index]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": ALERT.title, "emoji": True},
    }
    assert "XXXXSECRET" not in sent.destination


def test_slack_5xx_twice_is_retried_until_ok(store: NoticeStore) -> None:
    with slack_receiver([(500, "rollup_error"), (503, "service_unavailable")]) as receiver:
        dispatcher = loopback_dispatcher([Route("slack", receiver.url)], store=store)
        (sent,) = asyncio.run(dispatcher.dispatch(ALERT))

    assert (sent.outcome, sent.attempts) == ("delivered", 3)
    assert receiver.posts == 3
    assert len(receiver.messages) == 1
    assert store.dead_letters() == []


def test_slack_invalid_blocks_is_final_and_parked_without_the_url(
    store: NoticeStore, capsys: pytest.CaptureFixture[str]
) -> None:
    with slack_receiver([(400, "invalid_blocks")]) as receiver:
        dispatcher = loopback_dispatcher([Route("slack", receiver.url)], store=store)
        (sent,) = asyncio.run(dispatcher.dispatch(ALERT))

    assert (sent.outcome, sent.attempts, sent.error) == ("parked", 1, "HTTP 400 invalid_blocks")
    assert receiver.posts == 1
    (letter,) = store.dead_letters()
    assert letter.last_error == "HTTP 400 invalid_blocks"
    assert json.loads(letter.payload)["blocks"][0]["type"] == "header"
    capsys.readouterr()
    assert main(["notify", "dead-letters", "--json"]) == 0
    listed = capsys.readouterr().out
    assert json.loads(listed)[0]["id"] == letter.id
    assert "XXXXSECRET" not in listed


def test_a_failing_channel_does_not_stop_the_others(store: NoticeStore) -> None:
    with slack_receiver([(404, "no_service")]) as broken, slack_receiver() as working:
        dispatcher = loopback_dispatcher(
            [Route("slack", broken.url), Route("slack", working.url)], store=store
        )
        outcomes = asyncio.run(dispatcher.dispatch(ALERT))

    assert [s.outcome for s in outcomes] == ["parked", "delivered"]
    assert len(working.messages) == 1


# -- email ---------------------------------------------------------------------------------------


def test_an_email_arrives_over_starttls_as_mixed_alternative_and_pdf(
    tmp_path: Path, store: NoticeStore
) -> None:
    with smtp_server(tmp_path) as (mailbox, port, cert):
        dispatcher = loopback_dispatcher(
            [Route("email", "ops@example.com, desk@example.com")],
            store=store,
            tls=trusting(cert),
            port=port,
        )
        (sent,) = asyncio.run(dispatcher.dispatch(NOTICE))

    assert sent.outcome == "delivered", sent
    assert mailbox.over_tls == [True]
    assert mailbox.envelopes == [("stockpred@example.com", ["ops@example.com", "desk@example.com"])]
    (message,) = mailbox.messages
    assert message["Subject"] == "[info] Weekly report"
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    plain, html = alternative.iter_parts()
    assert "Champions held up" in plain.get_content()  # type: ignore[attr-defined]
    assert "<h2>Weekly report</h2>" in html.get_content()  # type: ignore[attr-defined]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "report-2024-05-03.pdf"
    assert attachment.get_payload(decode=True) == PDF


def test_an_smtp_451_is_retried_until_accepted(tmp_path: Path, store: NoticeStore) -> None:
    with smtp_server(tmp_path) as (mailbox, port, cert):
        mailbox.answers = ["451 4.3.0 try again later"]
        dispatcher = loopback_dispatcher(
            [Route("email", "ops@example.com")], store=store, tls=trusting(cert), port=port
        )
        (sent,) = asyncio.run(dispatcher.dispatch(ALERT))

    assert (sent.outcome, sent.attempts) == ("delivered", 2)
    assert mailbox.data_commands == 2
    assert len(mailbox.messages) == 1
    assert store.dead_letters() == []


def test_an_smtp_554_is_final_parked_listed_and_sent_again_by_the_cli(
    tmp_path: Path,
    store: NoticeStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with smtp_server(tmp_path) as (mailbox, port, cert):
        mailbox.answers = ["554 5.7.1 rejected by policy"]
        dispatcher = loopback_dispatcher(
            [Route("email", "ops@example.com")], store=store, tls=trusting(cert), port=port
        )
        (sent,) = asyncio.run(dispatcher.dispatch(ALERT))
        assert (sent.outcome, sent.attempts) == ("parked", 1)
        assert mailbox.data_commands == 1

        capsys.readouterr()
        assert main(["notify", "dead-letters", "--json"]) == 0
        (listed,) = json.loads(capsys.readouterr().out)
        assert listed["channel"] == "email"
        assert listed["destination"] == "ops@example.com"
        assert listed["last_error"].startswith("SMTP 554")

        # The server accepts now; the operator sends the parked notice again.
        monkeypatch.setenv("STOCKPRED_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("STOCKPRED_SMTP_PORT", str(port))
        monkeypatch.setenv("STOCKPRED_SMTP_SENDER", "stockpred@example.com")
        monkeypatch.setenv("STOCKPRED_SMTP_CA_FILE", str(cert))
        assert main(["notify", "dead-letters", "--retry", "--json"]) == 0
        (retried,) = json.loads(capsys.readouterr().out)

    assert retried["retry"]["outcome"] == "delivered"
    assert len(mailbox.messages) == 1
    assert mailbox.messages[0]["Subject"] == "[warning] FeatureDrift: rsi_14 drifted"
    assert store.dead_letters() == []


def test_a_server_without_starttls_is_a_clear_final_error(
    tmp_path: Path, store: NoticeStore
) -> None:
    with smtp_server(tmp_path, starttls=False) as (mailbox, port, _):
        dispatcher = loopback_dispatcher(
            [Route("email", "ops@example.com")], store=store, port=port
        )
        (sent,) = asyncio.run(dispatcher.dispatch(ALERT))

    assert (sent.outcome, sent.attempts) == ("parked", 1)
    assert sent.error is not None
    assert "does not offer STARTTLS" in sent.error
    assert mailbox.data_commands == 0
