"""What is sent to people (alerts, reports, retrain decisions) and how it is rendered: a Slack
Block Kit message, or an email with a plain and an HTML body and attachments.

Pure: rendering reads nothing but the notice, and returns a dict or an ``EmailMessage`` that
the channels (:mod:`.channels`) send. Slack's documented limits are kept here, where the
blocks are made: a header of at most 150 characters, a section text of at most 3,000, at
most 10 fields per section of at most 2,000 each, at most 50 blocks.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

__all__ = [
    "SEVERITIES",
    "Attachment",
    "Notice",
    "NoticeKind",
    "Severity",
    "email_message",
    "severity_rank",
    "slack_blocks",
]

NoticeKind = Literal["alert", "report", "retrain"]
Severity = Literal["info", "warning", "critical"]
# Lowest first: a route's ``min_severity`` lets through its own rank and those after it.
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

# Slack's limits (https://api.slack.com/reference/block-kit/blocks).
MAX_HEADER_CHARS = 150
MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_FIELDS_PER_SECTION = 10
MAX_BLOCKS = 50
MAX_CONTEXT_ELEMENTS = 10
# The top-level ``text`` is what notifications and screen readers show; keep it short.
MAX_FALLBACK_CHARS = 3000
_ELLIPSIS = "…"
# A character entity cut in two at the end of a truncated mrkdwn text.
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")
_SEVERITY_EMOJI = {
    "info": ":information_source:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
}


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with an email (Slack messages carry no files): name, MIME type, bytes."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell people. ``fields`` are (name, value) pairs shown side by side;
    ``alert_kind`` is the alert's ``kind`` label (drift, accuracy, staleness...), None for
    notices that are not about an alert; ``html`` replaces the HTML body rendered from
    ``text`` and ``fields``; ``attachments`` go with emails only."""

    kind: NoticeKind
    title: str
    text: str
    severity: Severity = "info"
    fields: tuple[tuple[str, str], ...] = ()
    tickers: tuple[str, ...] = ()
    alert_kind: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()


def severity_rank(severity: str) -> int:
    """The position of ``severity`` in :data:`SEVERITIES` (unknown values rank as warning)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 1


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def _mrkdwn(text: str, limit: int) -> str:
    """``text`` escaped as Slack's mrkdwn requires (&, <, >) and cut to ``limit`` characters
    without leaving half an entity."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if len(escaped) <= limit:
        return escaped
    kept = _PARTIAL_ENTITY.sub("", escaped[: limit - len(_ELLIPSIS)])
    return kept + _ELLIPSIS


def _chunks(text: str, size: int) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, broken at a line end when one is
    in the second half of a piece."""
    pieces: list[str] = []
    rest = text
    while len(rest) > size:
        cut = rest.rfind("\n", size // 2, size)
        cut = size if cut < 0 else cut + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest.strip():
        pieces.append(rest)
    return pieces


def _context(notice: Notice) -> str:
    parts = [f"{_SEVERITY_EMOJI[notice.severity]} {notice.severity}", notice.kind]
    if notice.alert_kind:
        parts.append(notice.alert_kind)
    if notice.tickers:
        parts.append(", ".join(notice.tickers))
    return " · ".join(parts)


def slack_blocks(notice: Notice) -> dict[str, object]:
    """The Block Kit message of ``notice`` for an incoming webhook: ``text`` (the fallback of
    notifications) and ``blocks`` (a header, the text in sections, the fields ten to a section,
    a context line with severity, kind and tickers), within Slack's limits. Text too long for
    50 blocks is cut, and says so with an ellipsis."""
    title = " ".join(notice.title.split()) or notice.kind
    header = {
        "type": "header",
        "text": {"type": "plain_text", "text": _cut(title, MAX_HEADER_CHARS), "emoji": True},
    }
    context = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _mrkdwn(_context(notice), MAX_SECTION_CHARS)}],
    }
    field_objects = [
        {"type": "mrkdwn", "text": _mrkdwn(f"*{name}*\n{value}", MAX_FIELD_CHARS)}
        for name, value in notice.fields
    ]
    field_sections: list[dict[str, object]] = [
        {"type": "section", "fields": field_objects[i : i + MAX_FIELDS_PER_SECTION]}
        for i in range(0, len(field_objects), MAX_FIELDS_PER_SECTION)
    ]
    text_sections: list[dict[str, object]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(piece, MAX_SECTION_CHARS)}}
        # Escaping lengthens the text: chunks leave room for it, and _mrkdwn cuts what is over.
        for piece in _chunks(notice.text, MAX_SECTION_CHARS // 2)
    ]
    room = MAX_BLOCKS - 2  # the header and the context
    field_sections = field_sections[: max(0, room - min(len(text_sections), 1))]
    room -= len(field_sections)
    if len(text_sections) > room:
        text_sections = text_sections[:room]
        last = text_sections[-1]["text"]
        assert isinstance(last, dict)
        last["text"] = _cut(str(last["text"]), MAX_SECTION_CHARS - 1) + _ELLIPSIS
    blocks = [header, *text_sections, *field_sections, context]
    fallback = _cut(f"{title}: {notice.text}" if notice.text else title, MAX_FALLBACK_CHARS)
    return {"text": fallback, "blocks": blocks}


def _plain_body(notice: Notice) -> str:
    lines = [notice.title, "", notice.text, ""]
    lines += [f"{name}: {value}" for name, value in notice.fields]
    lines.append(_context(notice).replace(_SEVERITY_EMOJI[notice.severity] + " ", ""))
    return "\n".join(lines).strip() + "\n"


def _html_body(notice: Notice) -> str:
    if notice.html is not None:
        return notice.html
    rows = "".join(
        f"<tr><th align='left'>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in notice.fields
    )
    paragraphs = "".join(
        f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
        for p in notice.text.split("\n\n")
        if p.strip()
    )
    meta = html.escape(_context(notice).replace(_SEVERITY_EMOJI[notice.severity] + " ", ""))
    table = f"<table>{rows}</table>" if rows else ""
    return (
        "<!DOCTYPE html><html><body>"
        f"<h2>{html.escape(notice.title)}</h2>{paragraphs}{table}"
        f"<p style='color:#666'>{meta}</p></body></html>"
    )


def email_message(
    notice: Notice,
    *,
    sender: str,
    recipients: tuple[str, ...] | list[str],
    sent_at: datetime | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """The email of ``notice``: multipart/mixed holding a multipart/alternative (text/plain,
    then text/html) and one part per attachment (a PDF as application/pdf with its filename).
    The subject is ``[severity] title`` on one line; ``sent_at`` and ``message_id`` become the
    Date and Message-ID headers when given (the channel gives them; this function reads no
    clock)."""
    message = EmailMessage()
    # One line: a header value with a line break is refused (and would be header injection).
    message["Subject"] = " ".join(f"[{notice.severity}] {notice.title}".split())
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    if sent_at is not None:
        message["Date"] = format_datetime(sent_at)
    if message_id is not None:
        message["Message-ID"] = message_id
    message.set_content(_plain_body(notice), subtype="plain", charset="utf-8")
    message.add_alternative(_html_body(notice), subtype="html", charset="utf-8")
    message.make_mixed()
    for attachment in notice.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message
