"""Who receives what: routes from the settings (``notify_routes``), and the pure rule that picks
the routes of a notice.

A route matches a notice when every filter it sets lets the notice through:

- ``kinds``: the notice's kind (alert, report, retrain); empty means every kind;
- ``alert_kinds``: for alerts only, the alert's ``kind`` label (drift, accuracy, staleness...);
  an alert without one does not pass a route that names some; reports and retrain decisions
  are not filtered by it; empty means every alert;
- ``tickers``: one of the notice's tickers; a notice about no ticker (the service is down) does
  not pass a route that names some; empty means every notice;
- ``min_severity``: info < warning < critical.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from stockpred.notify.messages import Notice, Severity, severity_rank

__all__ = ["ChannelKind", "Route", "routes_for", "safe_destination"]

ChannelKind = Literal["slack", "email"]


@dataclass(frozen=True, slots=True)
class Route:
    """One destination and the notices it wants. ``target`` is a Slack incoming-webhook URL (a
    secret: whoever has it can post to the channel, so it is left out of ``repr``) or email
    addresses; show it with :func:`safe_destination`."""

    channel: ChannelKind
    target: str = field(repr=False)
    kinds: frozenset[str] = frozenset()
    alert_kinds: frozenset[str] = frozenset()
    tickers: frozenset[str] = frozenset()
    min_severity: Severity = "info"

    def wants(self, notice: Notice) -> bool:
        """Whether ``notice`` goes to this route (the rules of the module's docstring)."""
        if self.kinds and notice.kind not in self.kinds:
            return False
        if (
            self.alert_kinds
            and notice.kind == "alert"
            and notice.alert_kind not in self.alert_kinds
        ):
            return False
        if self.tickers and not self.tickers.intersection(t.upper() for t in notice.tickers):
            return False
        return severity_rank(notice.severity) >= severity_rank(self.min_severity)

    @property
    def destination(self) -> str:
        """The target as it may be shown and logged."""
        return safe_destination(self.channel, self.target)


def routes_for(notice: Notice, routes: Iterable[Route]) -> list[Route]:
    """The routes that receive ``notice``, in their configured order."""
    return [route for route in routes if route.wants(notice)]


def safe_destination(channel: str, target: str) -> str:
    """``target`` fit to show: a Slack webhook URL as its scheme and host only (the path is the
    secret), email addresses as they are."""
    if channel != "slack":
        return target
    try:
        parts = urlsplit(target.strip())
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a Slack webhook URL)"
    return f"{parts.scheme or '?'}://{host}{port}/****"
