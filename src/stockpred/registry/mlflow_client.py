"""The slice of the MLflow client the registry adapter uses, typed, and MLflow imported quietly.

MLflow is imported on first use with its telemetry (a thread that would try the network), its
logging set-up (handlers it installs on the mlflow, alembic and sqlalchemy loggers) and its
coding-agent hints switched off, for that import only; :func:`quiet` then keeps its INFO chatter
and warnings out of the output while one call runs. The protocols below describe only what the
adapter reads, so nothing untyped crosses into it.
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Protocol

__all__ = [
    "Client",
    "ExperimentRecord",
    "RegisteredModelRecord",
    "RunRecord",
    "VersionPage",
    "VersionRecord",
    "error_code",
    "errors",
    "first_line",
    "open_client",
    "quiet",
]

# Environment for the first ``import mlflow`` only: no telemetry thread (it would try the
# network), no handlers installed on the mlflow/alembic/sqlalchemy loggers, no agent hints.
_IMPORT_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_CONFIGURE_LOGGING": "false",
    "MLFLOW_DISABLE_AGENT_HINT": "1",
}
_NOISY_LOGGERS = ("mlflow", "alembic", "sqlalchemy.engine")
_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


class VersionRecord(Protocol):
    name: str
    version: str | int
    run_id: str | None
    source: str
    creation_timestamp: int
    tags: dict[str, str]


class RegisteredModelRecord(Protocol):
    name: str
    aliases: dict[str, str | int]
    tags: dict[str, str]


class ExperimentRecord(Protocol):
    experiment_id: str
    artifact_location: str
    lifecycle_stage: str


class RunInfoRecord(Protocol):
    run_id: str


class RunRecord(Protocol):
    info: RunInfoRecord


class VersionPage(Protocol):
    token: str | None

    def __iter__(self) -> Iterator[VersionRecord]: ...


class Client(Protocol):
    def get_experiment_by_name(self, name: str) -> ExperimentRecord | None: ...
    def create_experiment(self, name: str, artifact_location: str | None = None) -> str: ...
    def create_run(
        self, experiment_id: str, start_time: int | None = None, tags: dict[str, str] | None = None
    ) -> RunRecord: ...
    def log_artifacts(
        self, run_id: str, local_dir: str, artifact_path: str | None = None
    ) -> None: ...
    def log_metric(
        self, run_id: str, key: str, value: float, timestamp: int | None = None
    ) -> None: ...
    def set_terminated(self, run_id: str, status: str | None = None) -> None: ...
    def create_registered_model(self, name: str, description: str | None = None) -> object: ...
    def get_registered_model(self, name: str) -> RegisteredModelRecord: ...
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        await_creation_for: int = 0,
    ) -> VersionRecord: ...
    def get_model_version(self, name: str, version: str) -> VersionRecord: ...
    def search_model_versions(
        self, filter_string: str | None = None, page_token: str | None = None
    ) -> VersionPage: ...
    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...
    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str: ...


@contextmanager
def _import_environment() -> Iterator[None]:
    added = [key for key in _IMPORT_ENVIRONMENT if key not in os.environ]
    for key in added:
        os.environ[key] = _IMPORT_ENVIRONMENT[key]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


@contextmanager
def quiet() -> Iterator[None]:
    """MLflow's INFO chatter (table creation, migrations) and its warnings, silenced for the
    duration of one call; the loggers' levels are put back afterwards."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    # MLflow draws a progress bar on stderr for every download, read at call time.
    bar = os.environ.get(_PROGRESS_BAR)
    os.environ[_PROGRESS_BAR] = "false"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"(mlflow|alembic|sqlalchemy)(\.|$)")
            warnings.filterwarnings("ignore", category=FutureWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if bar is None:
            os.environ.pop(_PROGRESS_BAR, None)
        else:
            os.environ[_PROGRESS_BAR] = bar


def _import_mlflow() -> ModuleType:
    with _import_environment(), quiet():
        importlib.import_module("mlflow")
        return importlib.import_module("mlflow.tracking")


def errors() -> tuple[type[Exception], ...]:
    """The exception types the client raises (MLflow's, SQLAlchemy's, OSError), to translate."""
    _import_mlflow()
    exceptions = importlib.import_module("mlflow.exceptions")
    sqlalchemy_exc = importlib.import_module("sqlalchemy.exc")
    return (exceptions.MlflowException, sqlalchemy_exc.SQLAlchemyError, OSError)


def open_client(tracking_uri: str) -> Client:
    """An MLflow client whose tracking and registry live in the database ``tracking_uri``
    (MLflow creates or migrates its tables there); raises what :func:`errors` names."""
    tracking = _import_mlflow()
    with quiet():
        client: Client = tracking.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    return client


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (MLflow's carry a ``message``)."""
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def error_code(exc: BaseException) -> str | None:
    """MLflow's error code of ``exc`` (RESOURCE_DOES_NOT_EXIST ...), None for other errors."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None
