"""Notices made from what the service learns: an Alertmanager alert, a retrain's decision.

Pure: labels and results in, a :class:`~.messages.Notice` out.
"""

from __future__ import annotations

from collections.abc import Mapping

from stockpred.notify.messages import Notice, Severity

__all__ = ["alert_notice", "retrain_notice", "severity_of"]

# Labels shown elsewhere in the message (title, context line) rather than as fields.
_SHOWN_ELSEWHERE = frozenset({"alertname", "severity"})
_SEVERITY_LABELS: dict[str, Severity] = {
    "critical": "critical",
    "page": "critical",
    "error": "critical",
    "warning": "warning",
    "info": "info",
    "none": "info",
}
# Result values a retrain notice shows, in this order, when present.
_RETRAIN_FIELDS = ("champion_before", "challenger", "champion_rank_ic", "challenger_rank_ic")


def severity_of(label: str | None) -> Severity:
    """An alert's ``severity`` label as a notice severity: critical (or page, error), warning,
    info (or none); anything else, or none, is a warning."""
    return _SEVERITY_LABELS.get((label or "").strip().lower(), "warning")


def alert_notice(
    *, status: str, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> Notice:
    """The notice of one Alertmanager alert: titled by its ``alertname`` and ``summary``
    annotation (``Resolved:`` first once resolved), its ``description`` as the text, its
    ``severity`` and ``kind`` labels, its ``ticker`` label if any, its other labels as
    fields."""
    name = labels.get("alertname", "alert")
    summary = annotations.get("summary", "").strip()
    title = f"{name}: {summary}" if summary else name
    if status == "resolved":
        title = f"Resolved: {title}"
    text = annotations.get("description", "").strip() or summary
    ticker = labels.get("ticker", "").strip().upper()
    fields = [("status", status)] + [
        (key, value) for key, value in sorted(labels.items()) if key not in _SHOWN_ELSEWHERE
    ]
    return Notice(
        kind="alert",
        title=title,
        text=text,
        severity=severity_of(labels.get("severity")),
        fields=tuple(fields),
        tickers=(ticker,) if ticker else (),
        alert_kind=labels.get("kind") or None,
    )


def retrain_notice(*, horizon: int, trigger: str, result: Mapping[str, object] | None) -> Notice:
    """The notice of a retrain's end: promoted, champion kept, or failed (``result`` None)."""
    if result is None:
        return Notice(
            kind="retrain",
            title=f"Retrain of horizon {horizon} failed",
            text="The retrain failed; the API's log has the details.",
            severity="warning",
            fields=(("horizon", str(horizon)), ("trigger", trigger)),
        )
    outcome = "challenger promoted" if result.get("promoted") else "champion kept"
    fields = [("trigger", trigger)] + [
        (key, str(result[key]))
        for key in _RETRAIN_FIELDS
        if key in result and isinstance(result[key], str | int | float | bool)
    ]
    return Notice(
        kind="retrain",
        title=f"Retrain of horizon {horizon}: {outcome}",
        text=str(result.get("reason") or outcome),
        severity="info",
        fields=tuple(fields),
    )
