"""What notices look like (Block Kit within Slack's limits, the email's MIME structure), who
receives them (routes_for), what an alert becomes, and that a Slack URL never shows."""

from __future__ import annotations

import json

import pytest

from stockpred.notify.messages import Attachment, Notice, email_message, slack_blocks
from stockpred.notify.notices import alert_notice, retrain_notice
from stockpred.notify.routing import Route, routes_for
from stockpred.settings import describe_settings, load_settings
from support.slack import block_kit_problems

SLACK_URL = "https://hooks.slack.com/services/T0AAA/B0BBB/s3cr3tT0k3nV4lu3"


def _notice(**changes: object) -> Notice:
    base: dict[str, object] = {
        "kind": "alert",
        "title": "FeatureDrift: rsi_14 drifted",
        "text": "PSI 0.41 > 0.25",
        "severity": "warning",
        "fields": (("feature", "rsi_14"),),
        "tickers": ("AAPL",),
        "alert_kind": "drift",
    }
    return Notice(**{**base, **changes})  # type: ignore[arg-type]


def test_slack_blocks_are_header_text_fields_and_context_with_a_fallback() -> None:
    message = slack_blocks(_notice())

    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "context"]  # type: ignore[attr-defined,index]
    assert message["text"] == "FeatureDrift: rsi_14 drifted: PSI 0.41 > 0.25"
    blocks = message["blocks"]
    assert blocks[1]["text"] == {"type": "mrkdwn", "text": "PSI 0.41 &gt; 0.25"}  # type: ignore[index]
    assert blocks[2]["fields"] == [{"type": "mrkdwn", "text": "*feature*\nrsi_14"}]  # type: ignore[index]
    context = blocks[3]["elements"][0]["text"]  # type: ignore[index]
    assert "warning" in context
    assert "drift" in context
    assert "AAPL" in context
    assert block_kit_problems(message) == []


def test_slack_blocks_keep_every_limit_of_an_oversized_notice() -> None:
    huge = _notice(
        title="T" * 400,
        text=("line of text & <more>\n" * 20_000),
        fields=tuple((f"name {i}", "v" * 5000) for i in range(37)),
    )

    message = slack_blocks(huge)

    assert block_kit_problems(message) == []
    blocks = message["blocks"]
    assert len(blocks) == 50  # type: ignore[arg-type]
    assert len(blocks[0]["text"]["text"]) == 150  # type: ignore[index]
    sections = [b for b in blocks if b["type"] == "section"]  # type: ignore[attr-defined,index]
    assert all(len(s["fields"]) <= 10 for s in sections if "fields" in s)
    assert all(len(f["text"]) <= 2000 for s in sections for f in s.get("fields", []))
    assert all(len(s["text"]["text"]) <= 3000 for s in sections if "text" in s)
    # Text that did not fit says so, and no entity is cut in half.
    last_text = next(s for s in reversed(sections) if "text" in s)["text"]["text"]
    assert last_text.endswith("…")
    assert "&amp" not in last_text[-6:-1] or last_text[-6:-1].endswith(";")
    assert len(str(message["text"])) <= 3000


def test_a_notice_without_text_or_fields_is_a_header_and_a_context() -> None:
    message = slack_blocks(_notice(text="", fields=()))

    assert [b["type"] for b in message["blocks"]] == ["header", "context"]  # type: ignore[attr-defined,index]
    assert block_kit_problems(message) == []


def test_an_email_is_mixed_with_text_and_html_alternatives_and_the_pdf_attached() -> None:
    pdf = b"%PDF-1.4 fake"
    notice = _notice(
        kind="report",
        title="Weekly\r\nBcc: victim@example.com",
        attachments=(Attachment("weekly.pdf", "application/pdf", pdf),),
    )

    message = email_message(notice, sender="bot@example.com", recipients=["a@x.com", "b@x.com"])

    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html = alternative.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert "rsi_14" in plain.get_content()  # type: ignore[attr-defined]
    assert "<th align='left'>feature</th>" in html.get_content()  # type: ignore[attr-defined]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "weekly.pdf"
    assert attachment.get_payload(decode=True) == pdf
    assert message["To"] == "a@x.com, b@x.com"
    # The title's line break does not make a header of its own.
    assert message["Subject"] == "[warning] Weekly Bcc: victim@example.com"
    assert message["Bcc"] is None


def test_an_email_without_attachments_is_still_mixed_and_uses_the_given_html() -> None:
    message = email_message(
        _notice(html="<p>custom</p>"), sender="bot@example.com", recipients=["a@x.com"]
    )

    assert message.get_content_type() == "multipart/mixed"
    (alternative,) = message.iter_parts()
    _, html = alternative.iter_parts()
    assert html.get_content().strip() == "<p>custom</p>"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("route", "wanted"),
    [
        (Route("slack", SLACK_URL), True),
        (Route("slack", SLACK_URL, kinds=frozenset({"report"})), False),
        (Route("slack", SLACK_URL, alert_kinds=frozenset({"drift", "accuracy"})), True),
        (Route("slack", SLACK_URL, alert_kinds=frozenset({"staleness"})), False),
        (Route("slack", SLACK_URL, tickers=frozenset({"AAPL"})), True),
        (Route("slack", SLACK_URL, tickers=frozenset({"MSFT"})), False),
        (Route("slack", SLACK_URL, min_severity="warning"), True),
        (Route("slack", SLACK_URL, min_severity="critical"), False),
    ],
)
def test_routes_for_applies_each_filter(route: Route, wanted: bool) -> None:
    assert routes_for(_notice(), [route]) == ([route] if wanted else [])


def test_alert_kinds_do_not_filter_reports_and_tickers_need_a_ticker() -> None:
    drift_only = Route("email", "ops@x.com", alert_kinds=frozenset({"drift"}))
    aapl_only = Route("email", "desk@x.com", tickers=frozenset({"AAPL"}))
    report = _notice(kind="report", alert_kind=None, tickers=())
    unlabelled_alert = _notice(alert_kind=None)

    assert routes_for(report, [drift_only, aapl_only]) == [drift_only]
    assert routes_for(unlabelled_alert, [drift_only, aapl_only]) == [aapl_only]


def test_an_alert_becomes_a_notice_with_its_labels() -> None:
    notice = alert_notice(
        status="firing",
        labels={
            "alertname": "PredictionsStale",
            "severity": "critical",
            "kind": "staleness",
            "ticker": "msft",
            "horizon": "5",
        },
        annotations={"summary": "No forecast for 2 sessions", "description": "Check the feed"},
    )

    assert notice.kind == "alert"
    assert notice.title == "PredictionsStale: No forecast for 2 sessions"
    assert notice.text == "Check the feed"
    assert notice.severity == "critical"
    assert notice.alert_kind == "staleness"
    assert notice.tickers == ("MSFT",)
    assert dict(notice.fields) == {
        "status": "firing",
        "horizon": "5",
        "kind": "staleness",
        "ticker": "msft",
    }
    resolved = alert_notice(status="resolved", labels={"alertname": "X"}, annotations={})
    assert resolved.title == "Resolved: X"
    assert resolved.severity == "warning"


def test_a_retrain_notice_says_what_was_decided() -> None:
    kept = retrain_notice(
        horizon=5, trigger="FeatureDrift", result={"promoted": False, "reason": "champion kept"}
    )
    failed = retrain_notice(horizon=5, trigger="FeatureDrift", result=None)

    assert (kept.kind, kept.title) == ("retrain", "Retrain of horizon 5: champion kept")
    assert ("trigger", "FeatureDrift") in kept.fields
    assert failed.title == "Retrain of horizon 5 failed"
    assert failed.severity == "warning"


def test_config_show_masks_a_slack_url_and_shows_email_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    routes = [
        {"channel": "slack", "target": SLACK_URL, "kinds": ["alert"], "min_severity": "warning"},
        {"channel": "email", "target": "ops@example.com", "alert_kinds": ["drift"]},
    ]
    monkeypatch.setenv("STOCKPRED_NOTIFY_ROUTES", json.dumps(routes))
    monkeypatch.setenv("STOCKPRED_SMTP_PASSWORD", "smtp-pass-value")
    settings = load_settings()

    rows = {row.name: row.value for row in describe_settings(settings)}

    shown = rows["notify_routes"]
    assert "s3cr3tT0k3n" not in shown
    assert "https://hooks.slack.com/****" in shown
    assert "ops@example.com" in shown
    assert "alert_kinds=drift" in shown
    assert rows["smtp_password"] == "********"
    assert "s3cr3tT0k3n" not in repr(settings)
    assert all("s3cr3tT0k3n" not in row.value for row in describe_settings(settings))


def test_a_bad_route_is_refused_without_repeating_its_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stockpred.domain.errors import ConfigurationError

    bad = [{"channel": "teams", "target": SLACK_URL}]
    monkeypatch.setenv("STOCKPRED_NOTIFY_ROUTES", json.dumps(bad))

    with pytest.raises(ConfigurationError, match="notify_routes") as raised:
        load_settings()

    assert "s3cr3tT0k3n" not in str(raised.value)
