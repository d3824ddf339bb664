"""Metrics every process shares: which champions it serves, its /metrics listener, and the
report a long CLI job leaves behind (a node-exporter textfile or a Pushgateway push).

prometheus_client is imported inside the functions and classes that use it, so importing this
module (the stream's and the scheduler's wiring do) costs nothing until metrics are switched on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = [
    "MODEL_INFO",
    "ModelInfo",
    "ModelInfoCollector",
    "ServedChampion",
    "job_report",
    "model_info_of",
    "start_metrics_server",
    "write_job_report",
]

MODEL_INFO = "stockpred_model_info"


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


class ServedChampion(Protocol):
    """What a served champion says of itself (``pipeline.serving.ServedModel`` is one)."""

    @property
    def horizon(self) -> int: ...

    @property
    def version(self) -> _Versioned: ...

    @property
    def kind(self) -> str: ...

    @property
    def feature_set(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The labels of one ``stockpred_model_info`` series: as a served forecast names them."""

    horizon: int
    model_version: str
    model: str
    feature_set: str


def model_info_of(champions: Iterable[ServedChampion]) -> list[ModelInfo]:
    """One ``ModelInfo`` per champion, by horizon."""
    return sorted(
        (
            ModelInfo(
                horizon=c.horizon,
                model_version=str(c.version.version),
                model=c.kind,
                feature_set=c.feature_set,
            )
            for c in champions
        ),
        key=lambda info: info.horizon,
    )


class ModelInfoCollector:
    """``stockpred_model_info{horizon,model_version,model,feature_set} 1`` for each champion
    ``champions()`` returns, read at scrape time: a promotion replaces the series by the next
    scrape, and an old version's series disappears instead of lingering at 1."""

    def __init__(self, champions: Callable[[], Iterable[ServedChampion]]) -> None:
        self._champions = champions

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            MODEL_INFO,
            "The champion served for each horizon (value 1), by model version, kind and "
            "feature set",
            labels=("horizon", "model_version", "model", "feature_set"),
        )
        for info in model_info_of(self._champions()):
            family.add_metric(
                (str(info.horizon), info.model_version, info.model, info.feature_set), 1.0
            )
        yield family

    def describe(self) -> Iterator[Metric]:
        # Described without calling ``champions()``: registering must not load a model.
        return iter(())


def start_metrics_server(registry: object, *, host: str, port: int) -> Callable[[], None]:
    """Serve ``registry`` (a ``CollectorRegistry``) on ``http://host:port/metrics`` from a daemon
    thread; returns the function that stops it. ``port`` 0 is refused: callers skip the server
    when metrics are off."""
    from prometheus_client import start_http_server

    if port <= 0:
        raise ValueError(f"a metrics port must be positive, got {port}")
    server, thread = start_http_server(port, addr=host, registry=registry)  # type: ignore[arg-type]

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def write_job_report(
    job: str,
    *,
    outcome: str,
    seconds: float,
    finished_at: float,
    textfile: Path | None,
    pushgateway: str | None,
) -> None:
    """One run of ``job`` as metrics: to ``pushgateway`` (a URL) if given, else to ``textfile``
    in the node-exporter textfile format (written to a temporary file and renamed, so the
    collector never reads half), else nowhere.

    Series: ``stockpred_job_runs_total{job,outcome}`` (1 for this run),
    ``stockpred_job_duration_seconds{job}`` and, on success,
    ``stockpred_job_last_success_timestamp_seconds{job}`` (Unix seconds, ``finished_at``).
    """
    if textfile is None and pushgateway is None:
        return
    from prometheus_client import CollectorRegistry, Counter, Gauge, push_to_gateway
    from prometheus_client import write_to_textfile as write_textfile

    registry = CollectorRegistry()
    Counter(
        "stockpred_job_runs",
        "Runs of a job, by outcome (success, failure)",
        ("task", "outcome"),
        registry=registry,
    ).labels(job, outcome).inc()
    Gauge(
        "stockpred_job_duration_seconds",
        "How long the job's last run took",
        ("task",),
        registry=registry,
    ).labels(job).set(seconds)
    if outcome == "success":
        Gauge(
            "stockpred_job_last_success_timestamp_seconds",
            "When the job last succeeded (Unix seconds)",
            ("task",),
            registry=registry,
        ).labels(job).set(finished_at)
    if pushgateway is not None:
        push_to_gateway(pushgateway, job=f"stockpred_{job}", registry=registry)
        return
    assert textfile is not None
    textfile.parent.mkdir(parents=True, exist_ok=True)
    write_textfile(str(textfile), registry)


@contextmanager
def job_report(
    job: str,
    *,
    textfile: Path | None,
    pushgateway: str | None,
    clock: Callable[[], float] = time.time,
) -> Iterator[None]:
    """Time the block and report it with :func:`write_job_report`: outcome ``success``, or
    ``failure`` when it raises (the exception goes on, the report is written first)."""
    started = clock()
    outcome = "failure"
    try:
        yield
        outcome = "success"
    finally:
        finished = clock()
        write_job_report(
            job,
            outcome=outcome,
            seconds=max(0.0, finished - started),
            finished_at=finished,
            textfile=textfile,
            pushgateway=pushgateway,
        )
