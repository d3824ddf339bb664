"""An LSTM forecaster: each row's forward log return from the sequence of its ticker's last rows.

Input: for a row of ticker T at ts t, the ``sequence_length`` rows of T at or before t (rows
ordered by ts within the ticker), each one the row's features standardised with the mean and
standard deviation of the training window, clipped to +-``clip`` and with NaN set to 0 after
standardising. With ``nan_mask`` every feature that was ever NaN in the training window adds a
channel that is 1 where the value was missing, so "missing" and "average" stay apart. Sequences
of all tickers are pooled into one network.

A row with fewer than ``sequence_length - 1`` predecessors (of its ticker, in the frame given) is
padded at the front by repeating that ticker's earliest row. The walk-forward evaluator prepends
``sequence_length - 1`` context dates before a test block and drops their predictions, so the
padding only reaches a ticker's first rows of history.

Network: a 1-2 layer LSTM, dropout on its last hidden state, a linear head. The target is
standardised by its training mean and standard deviation; the loss is Huber (delta 1 in those
units) or MSE; Adam, shuffled mini-batches, gradients clipped to norm 1. Early stopping watches the
last ``validation_fraction`` of the training window's dates, after dropping the ``horizon`` dates
before them whose labels reach into it (:func:`stockpred.models.walkforward.inner_split`); the
weights of the best validation epoch are kept. Nothing after the training window is ever read.

Deterministic on CPU for a given ``seed`` and ``threads``: torch's global random state, thread
count and deterministic-algorithms flag are set for the duration of ``fit``/``predict`` and
restored afterwards. torch is optional (the ``torch`` extra): importing this module works without
it, ``fit``, ``predict`` and :func:`load_lstm` raise :class:`MissingExtraError`.

The framework-free parts (layout, scaling, validation tail, early stopping, manifest) live in
:mod:`stockpred.models.sequences`, shared with the Keras LSTM (:mod:`stockpred.models.keras_lstm`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.extras import import_optional
from stockpred.models.base import TrainingWindow
from stockpred.models.sequences import (
    EarlyStopping,
    EpochCallback,
    Scaling,
    SequenceManifest,
    Verdict,
    check_features,
    check_sequence_parameters,
    layout,
    raw_values,
    read_manifest,
    training_rows,
    validation_split,
    write_manifest,
)

if TYPE_CHECKING:
    import torch

__all__ = ["EpochCallback", "LSTMForecaster", "load_lstm"]

_KIND = "lstm"
_FORMAT = 1
_WEIGHTS = "weights.pt"
_LOSSES = ("huber", "mse")
_DEVICES = ("auto", "cpu", "cuda")
# Rows per forward pass when predicting: memory, not results, depends on it.
_PREDICT_BATCH = 4096


def _require_torch() -> None:
    import_optional("torch", extra="torch", purpose="the LSTM model")


class LSTMForecaster:
    """An LSTM over each row's recent history of its own ticker; see the module docstring.

    ``horizon``: sessions the target looks ahead (the purge before the validation tail).
    ``sequence_length``: rows per sequence (the row itself and its predecessors); public so that
    an evaluator knows how many context rows to prepend. ``on_epoch`` is called after every
    epoch with (epoch from 1, training loss, validation loss); losses are in standardised-target
    units. ``threads``: torch's intra-op threads during fit and predict; two are ~25% faster than
    one on two idle cores, but OpenMP's spinning threads slow down up to tenfold when other
    work shares the cores, where one thread is the safer choice.
    """

    def __init__(
        self,
        *,
        horizon: int = 5,
        sequence_length: int = 20,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.1,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 512,
        epochs: int = 20,
        patience: int = 3,
        validation_fraction: float = 0.1,
        loss: str = "huber",
        nan_mask: bool = True,
        clip: float = 5.0,
        seed: int = 0,
        threads: int = 1,
        device: str = "auto",
        on_epoch: EpochCallback | None = None,
    ) -> None:
        check_sequence_parameters(
            _KIND,
            whole={
                "horizon": horizon,
                "sequence_length": sequence_length,
                "hidden_size": hidden_size,
                "num_layers": num_layers,
                "batch_size": batch_size,
                "epochs": epochs,
                "patience": patience,
                "threads": threads,
            },
            dropout=dropout,
            validation_fraction=validation_fraction,
            learning_rate=learning_rate,
            clip=clip,
        )
        if not weight_decay >= 0.0:
            raise ModelError(f"lstm weight_decay must be >= 0, got {weight_decay!r}")
        if loss not in _LOSSES:
            raise ModelError(f"lstm loss must be one of {', '.join(_LOSSES)}, got {loss!r}")
        if device not in _DEVICES:
            raise ModelError(f"lstm device must be one of {', '.join(_DEVICES)}, got {device!r}")
        self.sequence_length = sequence_length
        self._params: dict[str, object] = {
            "horizon": horizon,
            "sequence_length": sequence_length,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": float(dropout),
            "learning_rate": float(learning_rate),
            "weight_decay": float(weight_decay),
            "batch_size": batch_size,
            "epochs": epochs,
            "patience": patience,
            "validation_fraction": float(validation_fraction),
            "loss": loss,
            "nan_mask": bool(nan_mask),
            "clip": float(clip),
            "seed": seed,
            "threads": threads,
            "device": device,
        }
        self._horizon = horizon
        self._hidden = hidden_size
        self._layers = num_layers
        self._dropout = float(dropout)
        self._learning_rate = float(learning_rate)
        self._weight_decay = float(weight_decay)
        self._batch_size = batch_size
        self._epochs = epochs
        self._patience = patience
        self._validation_fraction = float(validation_fraction)
        self._loss = loss
        self._nan_mask = bool(nan_mask)
        self._clip = float(clip)
        self._seed = seed
        self._threads = threads
        self._device = device
        self._on_epoch = on_epoch
        self._features: tuple[str, ...] = ()
        self._window: TrainingWindow | None = None
        self._scaling = Scaling(
            mean=np.zeros(0), scale=np.ones(0), masked=np.zeros(0, dtype=bool), clip=self._clip
        )
        self._history: list[tuple[int, float, float]] = []
        self._best_epoch = 0
        self._network: torch.nn.ModuleDict | None = None

    # -- the Model protocol -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return _KIND

    @property
    def params(self) -> Mapping[str, object]:
        return dict(self._params)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._features

    @property
    def window(self) -> TrainingWindow | None:
        return self._window

    @property
    def history(self) -> tuple[tuple[int, float, float], ...]:
        """(epoch, training loss, validation loss) of the last ``fit``, one per epoch run."""
        return tuple(self._history)

    @property
    def best_epoch(self) -> int:
        """The epoch whose weights were kept (the last one without validation); 0 before fit."""
        return self._best_epoch

    def fit(self, X: pd.DataFrame, y: pd.Series) -> None:
        """Fit on the training window ``X`` (design frame) and ``y`` (same rows, no NaN)."""
        _require_torch()
        import torch

        rows = training_rows(
            _KIND, X, y, validation_fraction=self._validation_fraction, horizon=self._horizon
        )
        self._features = rows.features
        self._scaling = Scaling.fit(
            rows.values, rows.target, nan_mask=self._nan_mask, clip=self._clip
        )

        with _torch_session(threads=self._threads, seed=self._seed):
            device = _device(self._device)
            network = self._build().to(device)
            self._train(
                network,
                inputs=torch.from_numpy(self._scaling.inputs(rows.values)).to(device),
                labels=torch.from_numpy(self._scaling.labels(rows.target)).to(device),
                starts=torch.from_numpy(rows.starts).to(device),
                train_rows=torch.from_numpy(rows.train).to(device),
                validation_rows=torch.from_numpy(rows.validation).to(device),
            )
        self._network = network.cpu()
        self._window = TrainingWindow.of(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted forward log return per row of ``X``: float64, shape (len(X),).

        Each row's sequence is built from ``X`` itself: the row and the preceding rows of the
        same ticker, padded by repeating the ticker's earliest row of ``X``. Prepend
        ``sequence_length - 1`` rows of history to get full sequences, then drop their
        predictions.
        """
        network = self._fitted()
        _require_torch()
        import torch

        check_features(_KIND, X, self._features)
        if len(X) == 0:
            return np.zeros(0)
        order, starts = layout(X)
        values = raw_values(X, self._features)[order]
        out = np.empty(len(X), dtype=np.float64)
        with _torch_session(threads=self._threads, seed=self._seed), torch.no_grad():
            device = _device(self._device)
            network.to(device).eval()
            inputs = torch.from_numpy(self._scaling.inputs(values)).to(device)
            first = torch.from_numpy(starts).to(device)
            rows = torch.arange(len(X), device=device)
            chunks = [
                _forward(network, inputs[self._index(rows[a : a + _PREDICT_BATCH], first)])
                for a in range(0, len(X), _PREDICT_BATCH)
            ]
            predicted = torch.cat(chunks).double().cpu().numpy()
            network.cpu()
        out[order] = self._scaling.returns(predicted)
        return out

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """None: an LSTM has no additive per-feature decomposition."""
        return None

    def save(self, directory: Path) -> None:
        """Write ``weights.pt`` (the state dict) and ``model.json`` (kind, params, feature
        names, training window, scaler statistics) under ``directory``."""
        network = self._fitted()
        window = self._window
        assert window is not None  # _fitted checks it
        _require_torch()
        import torch

        directory.mkdir(parents=True, exist_ok=True)
        torch.save(network.state_dict(), directory / _WEIGHTS)
        write_manifest(
            directory,
            kind=_KIND,
            format_version=_FORMAT,
            manifest=SequenceManifest(
                params=self._params,
                features=self._features,
                window=window,
                scaling=self._scaling,
                best_epoch=self._best_epoch,
                history=tuple(self._history),
            ),
        )

    # -- internals ----------------------------------------------------------------------------

    def _fitted(self) -> torch.nn.ModuleDict:
        if self._network is None or self._window is None:
            raise ModelError("the lstm is not fitted; call fit first (or load_lstm)")
        return self._network

    def _split(self, X: pd.DataFrame, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (in sorted order) of the rows trained on and of the validation rows
        (:func:`stockpred.models.sequences.validation_split`)."""
        return validation_split(
            pd.DatetimeIndex(X["ts"])[order],
            validation_fraction=self._validation_fraction,
            horizon=self._horizon,
        )

    def _index(self, rows: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """:func:`stockpred.models.sequences.sequence_positions` on the tensors' device."""
        import torch

        steps = torch.arange(
            1 - self.sequence_length, 1, device=rows.device, dtype=rows.dtype
        ).unsqueeze(0)
        return torch.maximum(rows.unsqueeze(1) + steps, starts[rows].unsqueeze(1))

    def _build(self) -> torch.nn.ModuleDict:
        from torch import nn

        inputs = self._scaling.width
        return nn.ModuleDict(
            {
                "lstm": nn.LSTM(
                    input_size=inputs,
                    hidden_size=self._hidden,
                    num_layers=self._layers,
                    batch_first=True,
                    # torch applies it between layers only; one layer would just warn.
                    dropout=self._dropout if self._layers > 1 else 0.0,
                ),
                "dropout": nn.Dropout(self._dropout),
                "head": nn.Linear(self._hidden, 1),
            }
        )

    def _train(
        self,
        network: torch.nn.ModuleDict,
        *,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        starts: torch.Tensor,
        train_rows: torch.Tensor,
        validation_rows: torch.Tensor,
    ) -> None:
        import torch
        from torch.nn import functional

        def criterion(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            if self._loss == "huber":
                return functional.huber_loss(prediction, target, delta=1.0)
            return functional.mse_loss(prediction, target)

        optimizer = torch.optim.Adam(
            network.parameters(), lr=self._learning_rate, weight_decay=self._weight_decay
        )
        shuffle = torch.Generator().manual_seed(self._seed)
        best_state: dict[str, torch.Tensor] | None = None
        stopping = EarlyStopping(patience=self._patience, on_epoch=self._on_epoch)
        for epoch in range(1, self._epochs + 1):
            network.train()
            permutation = train_rows[torch.randperm(len(train_rows), generator=shuffle)]
            total = 0.0
            for a in range(0, len(permutation), self._batch_size):
                rows = permutation[a : a + self._batch_size]
                optimizer.zero_grad()
                loss = criterion(_forward(network, inputs[self._index(rows, starts)]), labels[rows])
                loss.backward()  # type: ignore[no-untyped-call]
                torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimizer.step()
                total += float(loss.item()) * len(rows)
            train_loss = total / len(permutation)
            validation_loss = self._evaluate(network, inputs, labels, starts, validation_rows)
            verdict = stopping.record(epoch, train_loss, validation_loss)
            if verdict is Verdict.BEST:
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            elif verdict is Verdict.STOP:
                break
        self._history, self._best_epoch = stopping.history, stopping.best_epoch
        if best_state is not None:
            network.load_state_dict(best_state)

    def _evaluate(
        self,
        network: torch.nn.ModuleDict,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        starts: torch.Tensor,
        rows: torch.Tensor,
    ) -> float:
        """Mean loss over ``rows`` in evaluation mode; NaN when there are none."""
        import torch
        from torch.nn import functional

        if len(rows) == 0:
            return math.nan
        network.eval()
        total = 0.0
        with torch.no_grad():
            for a in range(0, len(rows), _PREDICT_BATCH):
                chunk = rows[a : a + _PREDICT_BATCH]
                prediction = _forward(network, inputs[self._index(chunk, starts)])
                if self._loss == "huber":
                    loss = functional.huber_loss(prediction, labels[chunk], reduction="sum")
                else:
                    loss = functional.mse_loss(prediction, labels[chunk], reduction="sum")
                total += float(loss.item())
        return total / len(rows)


def load_lstm(directory: Path) -> LSTMForecaster:
    """The :class:`LSTMForecaster` that ``save`` wrote under ``directory``; it predicts
    exactly what the saved one did."""
    _require_torch()
    import torch

    manifest = read_manifest(directory, kind=_KIND, format_version=_FORMAT, weights=_WEIGHTS)
    model = LSTMForecaster(**manifest.params)  # type: ignore[arg-type]
    model._features = manifest.features
    model._window = manifest.window
    model._scaling = manifest.scaling
    model._best_epoch = manifest.best_epoch
    model._history = list(manifest.history)
    network = model._build()
    weights = torch.load(directory / _WEIGHTS, map_location="cpu", weights_only=True)
    network.load_state_dict(weights)
    model._network = network
    return model


def _forward(network: torch.nn.ModuleDict, sequences: torch.Tensor) -> torch.Tensor:
    """(batch, L, inputs) -> (batch,): the head on the LSTM's last hidden state."""
    output, _ = network["lstm"](sequences)
    result: torch.Tensor = network["head"](network["dropout"](output[:, -1, :])).squeeze(-1)
    return result


def _device(choice: str) -> torch.device:
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise ModelError("the lstm was asked for device 'cuda' but CUDA is not available")
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


@contextmanager
def _torch_session(*, threads: int, seed: int) -> Iterator[None]:
    """Seed, thread count and deterministic algorithms for one fit or predict; torch's global
    settings and random state are restored afterwards."""
    import torch

    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    warn_only_before = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        # warn_only: a CUDA kernel without a deterministic variant warns instead of failing.
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic_before, warn_only=warn_only_before)
            torch.set_num_threads(threads_before)
