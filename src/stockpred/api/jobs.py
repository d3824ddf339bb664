"""Background jobs the API starts (retraining) and their status.

One worker thread runs jobs in order: a retrain is CPU-heavy, and two at once would only slow
both and the requests beside them. Jobs live in this process's memory; a restart forgets them
(the registry keeps what a retrain decided, with its reason).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from stockpred.domain.errors import NotFoundError, StockpredError

__all__ = ["Job", "JobRunner"]

_LOG = logging.getLogger("stockpred.api.jobs")
JobState = Literal["queued", "running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class Job:
    """One job: what it does, who asked, its state and, when done, its result or error."""

    id: str
    kind: str
    requested_by: str
    parameters: Mapping[str, object]
    state: JobState
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: Mapping[str, object] | None = None
    error: str | None = None


class JobRunner:
    """Runs submitted callables on one worker thread and keeps each job's status."""

    def __init__(self, *, clock: Callable[[], datetime], keep: int = 200) -> None:
        self._clock = clock
        self._keep = keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stockpred-job")

    def submit(
        self,
        kind: str,
        work: Callable[[], Mapping[str, object]],
        *,
        requested_by: str,
        parameters: Mapping[str, object],
    ) -> Job:
        job = Job(
            id="job_" + secrets.token_urlsafe(9),
            kind=kind,
            requested_by=requested_by,
            parameters=dict(parameters),
            state="queued",
            created_at=self._clock(),
        )
        self._set(job)
        self._executor.submit(self._run, job.id, work)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"no job {job_id!r} in this process (jobs are kept in memory until a restart)"
            )
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)

    def shutdown(self, *, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=True)

    def _run(self, job_id: str, work: Callable[[], Mapping[str, object]]) -> None:
        self._update(job_id, state="running", started_at=self._clock())
        try:
            result = work()
        except StockpredError as exc:
            self._update(job_id, state="failed", finished_at=self._clock(), error=str(exc))
        except Exception:
            # The details are for the operators' log, not for the API's clients.
            _LOG.exception("job %s failed unexpectedly", job_id)
            self._update(
                job_id,
                state="failed",
                finished_at=self._clock(),
                error="the job failed unexpectedly; the service log has the details",
            )
        else:
            self._update(job_id, state="succeeded", finished_at=self._clock(), result=result)

    def _set(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
            if len(self._jobs) > self._keep:
                finished = [j for j in self._jobs.values() if j.finished_at is not None]
                excess = len(self._jobs) - self._keep
                for old in sorted(finished, key=lambda j: j.created_at)[:excess]:
                    del self._jobs[old.id]

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)  # type: ignore[arg-type]
