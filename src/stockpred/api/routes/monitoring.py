"""Alertmanager's webhooks: drift and accuracy alerts retrain the champion they name (and the
retrain's decision is sent to the notify routes when it ends); every alert is counted, logged,
kept in the alert log (``GET /v1/status`` lists the last ones) and sent to the Slack and email
routes that want it (``notify_routes``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from stockpred.api.deps import Services, require
from stockpred.api.principals import Principal
from stockpred.api.routes.models import JobOut, job_out
from stockpred.api.routes.predictions import _ERRORS
from stockpred.monitor.alerts import decide_retrains
from stockpred.notify.alert_log import ReceivedAlert
from stockpred.notify.messages import Notice
from stockpred.notify.notices import alert_notice, retrain_notice

__all__ = ["router"]

_LOG = logging.getLogger("stockpred.api.alerts")
router = APIRouter(tags=["monitoring"])
# Alertmanager authenticates as an API client (OAuth2 client credentials, its http_config's
# oauth2 block) holding this scope: it may start retrains, as POST /v1/models/retrain may.
Writer = Annotated[Principal, Depends(require("models:write"))]

_MAX_ALERTS = 1000
_MAX_TEXT = 2000


class AlertIn(BaseModel):
    """One alert of Alertmanager's webhook payload (version 4)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, Annotated[str, Field(max_length=_MAX_TEXT)]] = Field(max_length=64)
    annotations: dict[str, Annotated[str, Field(max_length=_MAX_TEXT)]] = Field(
        default_factory=dict, max_length=64
    )
    startsAt: str | None = Field(default=None, max_length=64)  # noqa: N815 (Alertmanager's name)
    fingerprint: str | None = Field(default=None, max_length=64)


class AlertmanagerIn(BaseModel):
    """Alertmanager's webhook payload: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config"""

    model_config = ConfigDict(extra="ignore")

    version: str = Field(max_length=8)
    status: str = Field(max_length=16)
    receiver: str = Field(default="", max_length=256)
    alerts: list[AlertIn] = Field(max_length=_MAX_ALERTS)


class AlertsOut(BaseModel):
    received: int
    retrains: list[JobOut]
    ignored: list[str]


def _notifier_on_loop(services: Services) -> Callable[[Notice], None]:
    """What hands a notice to the notifier from any thread (the retrain job's worker): it is
    submitted on this request's event loop, which the app runs on."""
    notifier = services.notifier
    loop = asyncio.get_running_loop()

    def notify(notice: Notice) -> None:
        if notifier is None:
            return
        try:
            loop.call_soon_threadsafe(notifier.submit, notice)
        except RuntimeError:  # the loop is closed: the app is shutting down
            _LOG.warning("notice %r not sent: the API is shutting down", notice.title)

    return notify


def _retrain_job(
    services: Services,
    *,
    horizon: int,
    trigger: str,
    caller: str,
    notify: Callable[[Notice], None],
) -> Callable[[], Mapping[str, object]]:
    retrain, metrics = services.retrain, services.metrics

    def work() -> Mapping[str, object]:
        try:
            result = retrain(
                horizon=horizon, tune=services.settings.alert_retrain_tune, trigger=trigger
            )
        except Exception:
            metrics.record_retrain(horizon=horizon, outcome="failed", trigger="alert")
            _LOG.exception("the retrain of horizon %d asked by %s failed", horizon, caller)
            notify(retrain_notice(horizon=horizon, trigger=trigger, result=None))
            raise
        outcome = "promoted" if result.get("promoted") else "kept"
        metrics.record_retrain(horizon=horizon, outcome=outcome, trigger="alert")
        _LOG.warning("retrain of horizon %d (%s): %s", horizon, trigger, result.get("reason"))
        notify(retrain_notice(horizon=horizon, trigger=trigger, result=result))
        return result

    return work


async def _receive(services: Services, payload: AlertmanagerIn) -> None:
    """Count every alert and keep it in the alert log."""
    for alert in payload.alerts:
        services.metrics.record_alert(kind=alert.labels.get("kind", ""), status=alert.status)
    now = services.clock()
    received = [
        ReceivedAlert(
            received_at=now,
            status=alert.status,
            alertname=alert.labels.get("alertname", ""),
            severity=alert.labels.get("severity"),
            summary=alert.annotations.get("summary", ""),
            ticker=alert.labels.get("ticker"),
        )
        for alert in payload.alerts
    ]
    await run_in_threadpool(services.alerts.record, received)


def _json(model: BaseModel, status: int) -> Response:
    return Response(model.model_dump_json(), media_type="application/json", status_code=status)


@router.post(
    "/v1/monitoring/alerts",
    response_model=AlertsOut,
    status_code=202,
    responses=_ERRORS,
    summary="Alertmanager webhook: drift and accuracy alerts retrain the champion",
)
async def receive_alerts(payload: AlertmanagerIn, services: Services, caller: Writer) -> Response:
    """Each firing alert of kind ``drift`` or ``accuracy`` whose ``horizon`` and
    ``model_version`` name the champion serving now starts one retrain of that horizon (a
    challenger promoted only if it beats the champion); the retrain's record keeps the alerts
    that asked for it. Alerts about a replaced version, resolved ones, other kinds, and
    horizons already retraining start nothing; the answer says why for each."""
    await _receive(services, payload)
    champions = {h: str(m.version.version) for h, m in services.serving.models.items()}
    busy = {
        int(job.parameters.get("horizon", -1))  # type: ignore[call-overload]
        for job in services.jobs.list()
        if job.kind == "retrain" and job.state in ("queued", "running")
    }
    decision = decide_retrains(
        [(a.status, a.labels, a.annotations) for a in payload.alerts],
        champions=champions,
        busy=busy,
    )
    jobs = []
    notify = _notifier_on_loop(services)
    for horizon, trigger in sorted(decision.retrain.items()):
        _LOG.warning("alerts ask for a retrain of horizon %d: %s", horizon, trigger)
        jobs.append(
            services.jobs.submit(
                "retrain",
                _retrain_job(
                    services,
                    horizon=horizon,
                    trigger=trigger,
                    caller=caller.client_id,
                    notify=notify,
                ),
                requested_by=caller.client_id,
                parameters={"horizon": horizon, "trigger": trigger},
            )
        )
    out = AlertsOut(
        received=len(payload.alerts), retrains=[job_out(j) for j in jobs], ignored=decision.ignored
    )
    return _json(out, 202)


class NotificationsOut(BaseModel):
    received: int


@router.post(
    "/v1/monitoring/notifications",
    response_model=NotificationsOut,
    status_code=202,
    responses=_ERRORS,
    summary="Alertmanager webhook: alerts for the operators",
)
async def receive_notifications(
    payload: AlertmanagerIn, services: Services, caller: Writer
) -> Response:
    """Counts (``stockpred_api_alerts_received_total``) and logs each alert for the operators,
    and sends it to the Slack and email routes that want it (``notify_routes``), in the
    background: the answer does not wait for Slack or the SMTP server. Nothing is retrained."""
    await _receive(services, payload)
    for alert in payload.alerts:
        _LOG.warning(
            "alert %s (%s): %s",
            alert.labels.get("alertname", "?"),
            alert.status,
            alert.annotations.get("summary", ""),
        )
        if services.notifier is not None:
            services.notifier.submit(
                alert_notice(
                    status=alert.status, labels=alert.labels, annotations=alert.annotations
                )
            )
    return _json(NotificationsOut(received=len(payload.alerts)), 202)
