"""Models served, their registered versions and the leaderboards that chose them, retraining
in the background, and job status."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from stockpred.api.deps import Services, require
from stockpred.api.jobs import Job
from stockpred.api.principals import Principal
from stockpred.api.routes.predictions import _ERRORS
from stockpred.models.catalog import model_family
from stockpred.monitor.report import read_report
from stockpred.pipeline.leaderboard import version_leaderboard
from stockpred.registry.base import ChampionChange, ModelVersion, horizon_of

__all__ = ["router"]

router = APIRouter(tags=["models"])
Reader = Annotated[Principal, Depends(require("predictions:read"))]
Writer = Annotated[Principal, Depends(require("models:write"))]
ModelName = Annotated[
    str,
    Path(
        max_length=64,
        pattern=r"^stockpred-h[0-9]{1,4}$",
        description="registered model: stockpred-h<horizon>",
        examples=["stockpred-h5"],
    ),
]
VersionNumber = Annotated[int, Path(ge=1, le=10**9)]


class ServedModelOut(BaseModel):
    horizon: int
    name: str
    version: str
    kind: str
    family: str = Field(description="baseline (no model beat it), model or ensemble")
    feature_set: str
    trained_from: str | None
    trained_to: str | None
    registered_at: str
    metrics: dict[str, float | None] = Field(description="out-of-sample evaluation figures")
    promotion_reason: str | None


class ModelsOut(BaseModel):
    models: list[ServedModelOut]
    last_refresh: str | None = Field(description="when the service last checked the registry")


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon: int = Field(default=5, ge=1, le=252)
    tune: bool = True


class JobOut(BaseModel):
    id: str
    kind: str
    state: str = Field(examples=["queued", "running", "succeeded", "failed"])
    requested_by: str
    parameters: dict[str, object]
    created_at: str
    started_at: str | None
    finished_at: str | None
    result: dict[str, object] | None
    error: str | None


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        state=job.state,
        requested_by=job.requested_by,
        parameters=dict(job.parameters),
        created_at=job.created_at.isoformat(),
        started_at=job.started_at.isoformat() if job.started_at else None,
        finished_at=job.finished_at.isoformat() if job.finished_at else None,
        result=json.loads(json.dumps(dict(job.result), default=str)) if job.result else None,
        error=job.error,
    )


@router.get("/v1/models", response_model=ModelsOut, responses=_ERRORS, summary="Models served")
async def list_models(services: Services, caller: Reader) -> Response:
    """The champion serving each horizon, with its training range and evaluation metrics."""
    out = []
    for horizon, served in sorted(services.serving.models.items()):
        meta: Mapping[str, str] = served.version.metadata
        out.append(
            ServedModelOut(
                horizon=horizon,
                name=served.version.name,
                version=str(served.version.version),
                kind=served.kind,
                family=model_family(served.kind),
                feature_set=served.feature_set,
                trained_from=meta.get("data_start"),
                trained_to=meta.get("data_end"),
                registered_at=served.version.created_at.isoformat(),
                metrics={k: _number(v) for k, v in served.version.metrics.items()},
                promotion_reason=meta.get("promotion_reason"),
            )
        )
    last = services.serving.last_refresh
    return _json(ModelsOut(models=out, last_refresh=last.isoformat() if last else None))


class VersionOut(BaseModel):
    version: int
    created_at: str
    champion: bool
    kind: str
    feature_set: str | None
    data_start: str | None = Field(description="first feature timestamp it was trained on")
    data_end: str | None = Field(description="last feature timestamp it was trained on")
    metrics: dict[str, float] = Field(description="evaluation figures (undefined ones left out)")
    promotion_reason: str | None


class ChampionChangeOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    at: str
    action: Literal["promote", "rollback"]
    from_version: int | None = Field(alias="from", description="null for the first promotion")
    to: int
    reason: str


class VersionsOut(BaseModel):
    name: str
    versions: list[VersionOut] = Field(description="newest first")
    history: list[ChampionChangeOut] = Field(description="champion moves, newest first")


def _version_out(version: ModelVersion) -> VersionOut:
    meta = version.metadata
    return VersionOut(
        version=version.version,
        created_at=version.created_at.isoformat(),
        champion=version.is_champion,
        kind=meta.get("model_kind", "unknown"),
        feature_set=meta.get("feature_set"),
        data_start=meta.get("data_start"),
        data_end=meta.get("data_end"),
        metrics={k: v for k, v in version.metrics.items() if math.isfinite(v)},
        promotion_reason=meta.get("promotion_reason"),
    )


def _change_out(change: ChampionChange) -> ChampionChangeOut:
    return ChampionChangeOut.model_validate(change.as_dict())


def _by_alias(model: BaseModel) -> Response:
    return Response(model.model_dump_json(by_alias=True), media_type="application/json")


@router.get(
    "/v1/models/{name}/versions",
    response_model=VersionsOut,
    responses=_ERRORS,
    summary="Every registered version of a model, and the champion's moves",
)
async def model_versions(name: ModelName, services: Services, caller: Reader) -> Response:
    """Every version of the registered model, newest first: when it was registered, whether it
    is the champion, its kind, feature set, training range, evaluation figures and why it was
    promoted; and every promotion and rollback of the champion, newest first."""

    def read() -> VersionsOut:
        versions = services.registry.versions(name)  # NotFoundError for an unknown name
        history = services.registry.history(name)
        return VersionsOut(
            name=name,
            versions=[_version_out(v) for v in reversed(versions)],
            history=[_change_out(c) for c in reversed(history)],
        )

    return _by_alias(await run_in_threadpool(read))


class EquityOut(BaseModel):
    kind: Literal["long_short"]
    cost_bps: float = Field(description="cost per unit of turnover, basis points")
    dates: list[str] = Field(description="traded dates, YYYY-MM-DD (at most 500, evenly spread)")
    series: dict[str, list[float | None]] = Field(
        description="per candidate: the cumulative net return of its portfolio on each date"
    )


class LeaderboardOut(BaseModel):
    name: str
    version: int
    horizon: int
    basis: str = Field(
        description="what was measured: the walk-forward of `stockpred train`, or a retrain's "
        "decision window"
    )
    records: list[dict[str, str | int | float | bool | None]] = Field(
        description="one per candidate, models and baselines, best mean rank IC first: model, "
        "family, rank_ic_mean [rank_ic_low, rank_ic_high], da, long_short_sharpe_net, ..."
    )
    equity: EquityOut


@router.get(
    "/v1/models/{name}/{version}/leaderboard",
    response_model=LeaderboardOut,
    responses=_ERRORS,
    summary="The leaderboard that chose a model version",
)
async def model_leaderboard(
    name: ModelName, version: VersionNumber, services: Services, caller: Reader
) -> Response:
    """The out-of-sample comparison the version was chosen by, saved when it was trained:
    every candidate's figures with their intervals, and the equity of each one's long-short
    portfolio net of costs. 404 for a version trained before leaderboards were saved."""
    document = await run_in_threadpool(
        version_leaderboard,
        services.registry,
        name=name,
        version=version,
        cache=services.serving.model_cache,
    )
    out = LeaderboardOut.model_validate({**document, "name": name, "version": version})
    return _json(out)


class ScoredOut(BaseModel):
    model: str
    n_dates: int | None = None
    n_rows: int | None = None
    rank_ic: float | None
    hit_rate: float | None
    mae: float | None
    coverage: float | None = None


class SessionOut(BaseModel):
    session: str
    champion: ScoredOut | None = None
    best_baseline: ScoredOut | None = None


class DriftOut(BaseModel):
    subject: str
    psi: float | None
    psi_threshold: float | None
    ks_statistic: float | None
    ks_threshold: float | None
    n: int
    drifted: bool


class PerformanceOut(BaseModel):
    name: str
    version: str
    horizon: int
    champion: bool
    sessions: list[SessionOut] = Field(
        description="Per matured session: the rolling figures of the model and of the best "
        "baseline on the same rows (last 63 sessions)"
    )
    sessions_below_baseline: int
    drift_session: str | None
    drift: list[DriftOut]
    drifted: list[str]


@router.get(
    "/v1/models/{name}/{version}/performance",
    response_model=PerformanceOut,
    responses=_ERRORS,
    summary="Realised accuracy beside the baselines, and drift, of a model version",
)
async def model_performance(
    name: ModelName,
    version: VersionNumber,
    services: Services,
    caller: Reader,
) -> Response:
    """What `stockpred monitor` measured of the version: for each matured session, the rolling
    rank IC, hit rate, MAE and interval coverage of its forecasts over the last 63 matured
    sessions, beside the best baseline on the same tickers and dates; the streak of sessions
    below that baseline; and the latest drift of every feature and of its forecasts against
    the reference saved when it was trained."""
    horizon = horizon_of(name)
    assert horizon is not None  # the path pattern admits only stockpred-h<horizon>

    def read() -> tuple[bool, dict[str, object]]:
        found = services.registry.get(name, version)  # NotFoundError names the versions
        with services.open_store() as store:
            report = read_report(store, horizon=horizon, model_version=str(version))
        return found.is_champion, report.to_json()

    champion, payload = await asyncio.to_thread(read)
    payload.pop("prediction_drift", None)
    payload.pop("model_version", None)
    out = {**payload, "name": name, "version": str(version), "champion": champion}
    return _json(PerformanceOut.model_validate(out))


@router.post(
    "/v1/models/retrain",
    response_model=JobOut,
    status_code=202,
    responses=_ERRORS,
    summary="Retrain a horizon's champion in the background",
)
async def retrain_model(request: RetrainRequest, services: Services, caller: Writer) -> Response:
    """Starts `stockpred retrain` for the horizon: a challenger is trained and promoted only if
    it beats the champion on a window neither saw. Answers at once with a job to poll."""
    retrain, metrics = services.retrain, services.metrics

    def work() -> Mapping[str, object]:
        try:
            result = retrain(horizon=request.horizon, tune=request.tune, trigger="manual")
        except Exception:
            metrics.record_retrain(horizon=request.horizon, outcome="failed", trigger="manual")
            raise
        outcome = "promoted" if result.get("promoted") else "kept"
        metrics.record_retrain(horizon=request.horizon, outcome=outcome, trigger="manual")
        return result

    job = services.jobs.submit(
        "retrain",
        work,
        requested_by=caller.client_id,
        parameters={"horizon": request.horizon, "tune": request.tune},
    )
    response = _json(job_out(job))
    response.status_code = 202
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return response


@router.get("/v1/jobs/{job_id}", response_model=JobOut, responses=_ERRORS, summary="A job")
async def get_job(
    job_id: Annotated[str, Path(max_length=64, pattern=r"^job_[A-Za-z0-9_\-]+$")],
    services: Services,
    caller: Writer,
) -> Response:
    """A background job's state, and its result or error once finished."""
    return _json(job_out(services.jobs.get(job_id)))
