"""The LSTM's device: CUDA when torch sees a GPU (device "auto", the default), the CPU
otherwise or when asked; "cuda" without a GPU is refused. torch.cuda.is_available is replaced,
so this runs on machines without a GPU (CI has none)."""

from __future__ import annotations

import importlib.util

import pytest

from stockpred.domain.errors import ModelError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="needs the torch extra"
)


def _with_gpu(monkeypatch: pytest.MonkeyPatch, *, present: bool) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: present)


@pytest.mark.parametrize(
    ("choice", "present", "expected"),
    [
        ("auto", True, "cuda"),
        ("auto", False, "cpu"),
        ("cpu", True, "cpu"),  # forcing the CPU on a GPU machine
        ("cpu", False, "cpu"),
        ("cuda", True, "cuda"),
    ],
)
def test_the_device_follows_the_choice_and_the_gpu(
    monkeypatch: pytest.MonkeyPatch, choice: str, present: bool, expected: str
) -> None:
    from stockpred.models.lstm import _device

    _with_gpu(monkeypatch, present=present)

    assert _device(choice).type == expected


def test_cuda_without_a_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from stockpred.models.lstm import _device

    _with_gpu(monkeypatch, present=False)

    with pytest.raises(ModelError, match="CUDA is not available"):
        _device("cuda")


def test_the_forecaster_defaults_to_auto_and_refuses_an_unknown_device() -> None:
    from stockpred.models.lstm import LSTMForecaster

    assert LSTMForecaster().params["device"] == "auto"
    with pytest.raises(ModelError, match="device must be one of auto, cpu, cuda"):
        LSTMForecaster(device="tpu")
