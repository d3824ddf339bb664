"""``--metrics-textfile`` for the long CLI jobs (train, retrain, features build, ingest): one
decorator adds the option (or env ``STOCKPRED_METRICS_TEXTFILE``) to a command and reports its
run, outcome and duration when it ends (``monitor/process_metrics.py``), to the textfile, or to
the Pushgateway at env ``STOCKPRED_PUSHGATEWAY_URL`` when that is set."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Optional, TypeVar

import typer

__all__ = ["PUSHGATEWAY_ENV", "TEXTFILE_ENV", "reports_job"]

TEXTFILE_ENV = "STOCKPRED_METRICS_TEXTFILE"
# Read here, not in the settings: only these commands use it, at their end.
PUSHGATEWAY_ENV = "STOCKPRED_PUSHGATEWAY_URL"

Command = TypeVar("Command", bound=Callable[..., None])


def reports_job(job: str) -> Callable[[Command], Command]:
    """Give the command ``--metrics-textfile PATH`` and report its run as ``job``; apply it
    under ``@app.command()``."""

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command)
        option = inspect.Parameter(
            "metrics_textfile",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(
                None,
                "--metrics-textfile",
                envvar=TEXTFILE_ENV,
                dir_okay=False,
                help="At the end, write the run's outcome and duration here in the "
                "node-exporter textfile format (or push them to STOCKPRED_PUSHGATEWAY_URL).",
            ),
            # The framework reads parameter types from the signature: a real type, not a string.
            annotation=Optional[Path],  # noqa: UP045
        )

        @functools.wraps(command)
        def run(*args: object, metrics_textfile: Path | None = None, **kwargs: object) -> None:
            from stockpred.monitor.process_metrics import job_report

            pushgateway = os.environ.get(PUSHGATEWAY_ENV) or None
            with job_report(job, textfile=metrics_textfile, pushgateway=pushgateway):
                command(*args, **kwargs)

        run.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), option]
        )
        run.__annotations__ = {**command.__annotations__, "metrics_textfile": Optional[Path]}  # noqa: UP045
        return run  # type: ignore[return-value]

    return decorate
