"""`--metrics-textfile` (or STOCKPRED_METRICS_TEXTFILE) on a long CLI command: the decorator
adds the option and the command leaves its run in the textfile, read back by
prometheus_client's parser; a failing command reports its failure and still exits non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from stockpred.cli.job_report import TEXTFILE_ENV, reports_job


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @reports_job("features_build")
    def build(fail: bool = typer.Option(False, "--fail")) -> None:
        if fail:
            raise typer.Exit(code=1)

    return app


def _runs(path: Path) -> dict[str, float]:
    return {
        s.labels["outcome"]: s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
        if s.name == "stockpred_job_runs_total" and s.labels["task"] == "features_build"
    }


def test_the_option_writes_the_commands_run_to_the_textfile(tmp_path: Path) -> None:
    textfile = tmp_path / "build.prom"

    result = CliRunner().invoke(_app(), ["--metrics-textfile", str(textfile)])

    assert result.exit_code == 0, result.output
    assert _runs(textfile) == {"success": 1}


def test_the_environment_names_the_textfile_and_a_failure_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    textfile = tmp_path / "build.prom"
    monkeypatch.setenv(TEXTFILE_ENV, str(textfile))

    result = CliRunner().invoke(_app(), ["--fail"])

    assert result.exit_code == 1
    assert _runs(textfile) == {"failure": 1}


def test_without_a_textfile_nothing_is_written(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), [], env={TEXTFILE_ENV: ""})

    assert result.exit_code == 0, result.output
    assert not list(tmp_path.iterdir())
