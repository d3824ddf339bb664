"""Which Alertmanager alerts retrain which champion (DESIGN.md: drift is answered by retraining).

Alertmanager posts its webhook payload (version 4: ``status``, ``alerts`` with ``labels``,
``annotations``, ``startsAt``, ``fingerprint``) to the API. An alert asks for a retrain when it
is *firing*, its ``kind`` is ``drift`` or ``accuracy`` (the rules in
``deploy/prometheus/rules``), and its ``horizon`` and ``model_version`` labels name the champion
serving now: an alert about a version already replaced is stale, and is said to be. One request
per horizon, whatever the number of alerts; a horizon whose retrain is already queued or running
gets none (the running one will judge the same data).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["RETRAIN_KINDS", "AlertDecision", "decide_retrains"]

RETRAIN_KINDS = frozenset({"drift", "accuracy"})


@dataclass(frozen=True)
class AlertDecision:
    """``retrain``: horizon -> the reason (the alerts that asked, with their summaries);
    ``ignored``: one line per alert that asked for nothing, saying why."""

    retrain: dict[int, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def _describe(labels: Mapping[str, str], notes: Mapping[str, str]) -> str:
    name = labels.get("alertname", "alert")
    summary = notes.get("summary")
    return f"{name}: {summary}" if summary else name


def decide_retrains(
    alerts: Sequence[tuple[str, Mapping[str, str], Mapping[str, str]]],
    *,
    champions: Mapping[int, str],
    busy: Collection[int] = (),
) -> AlertDecision:
    """What to retrain for ``alerts`` (status, labels, annotations), given the served
    ``champions`` (horizon -> version) and the horizons whose retrain is ``busy``."""
    asked: dict[int, list[str]] = {}
    ignored: list[str] = []
    for status, labels, notes in alerts:
        what = _describe(labels, notes)
        kind = labels.get("kind", "")
        if status != "firing":
            ignored.append(f"{what}: {status}, not firing")
            continue
        if kind not in RETRAIN_KINDS:
            ignored.append(f"{what}: kind {kind or 'unset'!r} does not retrain")
            continue
        horizon_text = labels.get("horizon", "")
        if not horizon_text.isdigit() or int(horizon_text) not in champions:
            ignored.append(f"{what}: no champion serves horizon {horizon_text or 'unset'!r}")
            continue
        horizon = int(horizon_text)
        version = labels.get("model_version")
        if version != champions[horizon]:
            ignored.append(
                f"{what}: about version {version}, but version {champions[horizon]} serves "
                f"horizon {horizon} now"
            )
            continue
        if horizon in busy:
            ignored.append(f"{what}: a retrain of horizon {horizon} is already under way")
            continue
        asked.setdefault(horizon, []).append(what)
    reasons = {h: "alert " + "; ".join(dict.fromkeys(whats)) for h, whats in asked.items()}
    return AlertDecision(reasons, ignored)
