"""The SageMaker training contract of cli/sagemaker.py without a job: hyperparameters as
SageMaker writes them, and where each path comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockpred.cli.sagemaker import Hyperparameters, TrainingPaths, parse_hyperparameters
from stockpred.domain.errors import InvalidInputError


def test_string_values_and_json_encoded_strings_are_both_read() -> None:
    # The generic Estimator writes str(value); the framework estimators json.dumps it.
    parsed = parse_hyperparameters(
        {"horizon": "1", "models": '"ridge,lightgbm"', "tune": "false", "min_train": "252.0"}
    )

    assert parsed.horizon == 1
    assert parsed.models == ("ridge", "lightgbm")
    assert parsed.tune is False
    assert parsed.min_train == 252


def test_sagemakers_own_hyperparameters_are_ignored() -> None:
    parsed = parse_hyperparameters(
        {"sagemaker_program": '"train.py"', "sagemaker_region": '"us-east-1"', "seed": "3"}
    )

    assert parsed == Hyperparameters(seed=3)


def test_none_given_means_the_train_commands_defaults() -> None:
    assert parse_hyperparameters({}) == Hyperparameters()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"horizon": "0"}, "'horizon' must be a whole number of at least 1, got 0"),
        ({"horizon": "true"}, "'horizon' must be a whole number"),
        ({"test_size": "2.5"}, "'test_size' must be a whole number"),
        ({"models": " , "}, "'models' is empty"),
        ({"force": ""}, "'force' is empty"),
    ],
)
def test_a_bad_value_says_what_is_accepted(raw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_hyperparameters(raw)


def test_the_paths_follow_the_base_directory(tmp_path: Path) -> None:
    paths = TrainingPaths.of({"SM_BASE_DIR": str(tmp_path)}, channel="history")

    assert paths.hyperparameters == tmp_path / "input" / "config" / "hyperparameters.json"
    assert paths.channel == tmp_path / "input" / "data" / "history"
    assert paths.model == tmp_path / "model"
    assert paths.output_data == tmp_path / "output" / "data"
    assert paths.failure == tmp_path / "output" / "failure"


def test_the_training_toolkits_variables_win_over_the_base(tmp_path: Path) -> None:
    paths = TrainingPaths.of(
        {
            "SM_BASE_DIR": str(tmp_path),
            "SM_CHANNEL_TRAIN": "/data/bars",
            "SM_MODEL_DIR": "/models",
            "SM_OUTPUT_DATA_DIR": "/out",
            "SM_INPUT_CONFIG_DIR": "/config",
        }
    )

    assert paths.channel == Path("/data/bars")
    assert paths.model == Path("/models")
    assert paths.output_data == Path("/out")
    assert paths.hyperparameters == Path("/config/hyperparameters.json")
    assert paths.failure == tmp_path / "output" / "failure"


def test_without_a_base_it_is_opt_ml() -> None:
    assert TrainingPaths.of({}).model == Path("/opt/ml/model")


def test_the_lstm_device_is_auto_unless_the_job_forces_the_cpu() -> None:
    assert Hyperparameters().lstm_device == "auto"
    assert parse_hyperparameters({"lstm_device": '"cpu"'}).lstm_device == "cpu"
    with pytest.raises(InvalidInputError, match="'lstm_device' must be auto, cpu or cuda"):
        parse_hyperparameters({"lstm_device": "gpu"})
