"""`stockpred train-sagemaker` as a SageMaker training container runs it: a subprocess started
with `train`, the /opt/ml layout under a temporary folder (SM_BASE_DIR), the packaged sample's
bars as the `train` channel (stocks as CSV, indices as Parquet), hyperparameters as SageMaker
writes them (every value a string). The model directory it leaves is loaded and predicts; a
bad hyperparameter leaves /opt/ml/output/failure and a non-zero exit."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.models.baselines import BASELINES
from stockpred.models.catalog import load_model
from stockpred.sources.sample import load_sample_bars

HYPERPARAMETERS = {"horizon": "5", "models": "ridge", "test_size": "252"}


@dataclass(frozen=True)
class Job:
    base: Path
    done: subprocess.CompletedProcess[str]

    @property
    def model(self) -> Path:
        return self.base / "model"

    @property
    def output_data(self) -> Path:
        return self.base / "output" / "data"

    @property
    def failure(self) -> Path:
        return self.base / "output" / "failure"


def layout(root: Path, hyperparameters: dict[str, str], *, with_bars: bool = True) -> Path:
    """/opt/ml as SageMaker prepares it before the container starts."""
    base = root / "opt" / "ml"
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters), encoding="utf-8")
    if with_bars:
        channel = base / "input" / "data" / "train"
        channel.mkdir(parents=True)
        bars = load_sample_bars().drop(columns=["file", "row"])
        index = bars["ticker"].str.startswith("^")
        bars[~index].to_csv(channel / "stocks.csv", index=False)
        bars[index].to_parquet(channel / "indices.parquet", index=False)
    return base


def run_job(root: Path, base: Path) -> Job:
    environment = {
        **os.environ,
        "SM_BASE_DIR": str(base),
        # The command line's own data home; the job trains in a temporary one of its own.
        "STOCKPRED_HOME": str(root / "home"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "stockpred", "train-sagemaker", "train"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env=environment,
        cwd=root,
    )
    return Job(base, done)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Job:
    root = tmp_path_factory.mktemp("sagemaker")
    return run_job(root, layout(root, HYPERPARAMETERS))


def test_the_job_succeeds_and_leaves_no_failure(trained: Job) -> None:
    assert trained.done.returncode == 0, trained.done.stderr[-3000:]
    assert not trained.failure.exists()
    assert "ingested 22216 bars from 2 file(s)" in trained.done.stderr


def test_the_model_directory_holds_the_champion_metadata_and_leaderboard(trained: Job) -> None:
    metadata = json.loads((trained.model / "metadata.json").read_text(encoding="utf-8"))
    leaderboard = json.loads((trained.model / "leaderboard.json").read_text(encoding="utf-8"))

    assert metadata["horizon"] == 5
    assert metadata["name"] == "stockpred-h5"
    # The rule of invariant 4 chose it: ridge, or a baseline that beat it out of sample.
    assert metadata["kind"] in {"ridge", *BASELINES}
    assert metadata["promoted"] is True
    assert metadata["hyperparameters"]["test_size"] == 252
    assert metadata["hyperparameters"]["models"] == ["ridge"]
    assert math.isfinite(metadata["metrics"]["rank_ic_mean"])
    assert metadata["metadata"]["data_start"].startswith("2000-03-01")
    assert (trained.model / "model" / "drift_reference.json").is_file()
    candidates = json.dumps(leaderboard)
    assert "ridge" in candidates
    assert metadata["kind"] in candidates


def test_the_model_files_load_and_predict(trained: Job) -> None:
    metadata = json.loads((trained.model / "metadata.json").read_text(encoding="utf-8"))
    model = load_model(trained.model / "model")
    features = json.loads(metadata["metadata"]["features"])
    rng = np.random.default_rng(7)
    dates = pd.date_range("2013-03-01 21:00", periods=4, freq="D", tz="UTC")
    rows = pd.DataFrame(
        {"ticker": np.repeat(["AAPL", "MSFT"], 4), "ts": np.tile(dates, 2)}
        | {name: rng.normal(size=8) for name in features}
    )

    predicted = np.asarray(model.predict(rows), dtype=np.float64)

    assert set(model.feature_names) <= set(features)
    assert predicted.shape == (8,)
    assert np.isfinite(predicted).all()


def test_the_output_data_holds_the_leaderboard_and_metrics_printed_for_sagemaker(
    trained: Job,
) -> None:
    metrics = json.loads((trained.output_data / "metrics.json").read_text(encoding="utf-8"))

    assert (trained.output_data / "leaderboard.json").is_file()
    assert set(metrics) == {"champion", "registered"}
    assert "ridge" in metrics["registered"]
    value = metrics["champion"]["rank_ic_mean"]
    # What a job's metric definition (Regex "rank_ic_mean=(\S+)") reads from the log.
    printed = [line for line in trained.done.stdout.splitlines() if "rank_ic_mean=" in line]
    assert printed == [f"metric rank_ic_mean={value:.6g}"]


@pytest.mark.parametrize(
    ("hyperparameters", "named"),
    [
        ({"horizon": "five", "models": "ridge"}, "'horizon' must be a whole number"),
        ({"horizon": "5", "models": "ridge,prophet"}, "'prophet', which is not a model"),
        ({"horizon": "5", "learning_rate": "0.1"}, "unknown hyperparameter 'learning_rate'"),
        ({"horizon": "5", "tune": "maybe"}, "'tune' must be true or false"),
    ],
)
def test_a_bad_hyperparameter_writes_the_failure_file_and_exits_non_zero(
    tmp_path: Path, hyperparameters: dict[str, str], named: str
) -> None:
    job = run_job(tmp_path, layout(tmp_path, hyperparameters))

    assert job.done.returncode != 0
    reason = job.failure.read_text(encoding="utf-8")
    assert named in reason
    assert "Traceback" not in reason
    assert named in job.done.stderr
    assert not (job.model / "metadata.json").exists()


def test_a_missing_channel_is_a_failure_that_names_it(tmp_path: Path) -> None:
    job = run_job(tmp_path, layout(tmp_path, HYPERPARAMETERS, with_bars=False))

    assert job.done.returncode != 0
    reason = job.failure.read_text(encoding="utf-8")
    assert str(job.base / "input" / "data" / "train") in reason
    assert "'train' channel" in reason
