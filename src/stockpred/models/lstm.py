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
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.extras import import_optional
from stockpred.models.base import TrainingWindow, as_target, feature_columns
from stockpred.models.walkforward import inner_split

if TYPE_CHECKING:
    import torch

__all__ = ["EpochCallback", "LSTMForecaster", "load_lstm"]

# (epoch from 1, mean training loss, validation loss or NaN without validation)
EpochCallback = Callable[[int, float, float], None]

_KIND = "lstm"
_FORMAT = 1
_WEIGHTS = "weights.pt"
_MANIFEST = "model.json"
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
        positive = {
            "horizon": horizon,
            "sequence_length": sequence_length,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "batch_size": batch_size,
            "epochs": epochs,
            "patience": patience,
            "threads": threads,
        }
        for key, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"lstm {key} must be a whole number >= 1, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ModelError(f"lstm dropout must be in [0, 1), got {dropout!r}")
        if not 0.0 <= validation_fraction < 0.5:
            raise ModelError(
                f"lstm validation_fraction must be in [0, 0.5), got {validation_fraction!r}"
            )
        if not (learning_rate > 0.0 and weight_decay >= 0.0 and clip > 0.0):
            raise ModelError(
                "lstm learning_rate and clip must be > 0 and weight_decay >= 0, got "
                f"{learning_rate!r}, {clip!r}, {weight_decay!r}"
            )
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
        self._mean = np.zeros(0)
        self._scale = np.ones(0)
        self._masked = np.zeros(0, dtype=bool)
        self._target_mean = 0.0
        self._target_scale = 1.0
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

        target = as_target(y)
        if len(target) != len(X):
            raise ModelError(f"X has {len(X)} rows but y has {len(target)}; align them first")
        if len(X) == 0:
            raise ModelError("the lstm cannot be fitted on an empty training window")
        features = feature_columns(X)
        if not features:
            raise ModelError("the design frame has no feature columns besides ticker and ts")
        order, starts = _layout(X)
        values = _raw_values(X, features)[order]
        with warnings.catch_warnings():
            # An all-NaN column has no mean; it standardises to 0 below.
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=0)
            scale = np.nanstd(values, axis=0)
        usable = np.isfinite(scale) & (scale > 0.0)
        self._mean = np.where(np.isfinite(mean), mean, 0.0)
        self._scale = np.where(usable, scale, 1.0)
        self._masked = (
            np.isnan(values).any(axis=0) if self._nan_mask else np.zeros(len(features), bool)
        )
        self._features = features
        sorted_target = target[order]
        self._target_mean = float(sorted_target.mean())
        spread = float(sorted_target.std())
        self._target_scale = spread if math.isfinite(spread) and spread > 0.0 else 1.0
        train_rows, validation_rows = self._split(X, order)

        with _torch_session(threads=self._threads, seed=self._seed):
            device = _device(self._device)
            inputs = torch.from_numpy(self._standardise(values)).to(device)
            labels = torch.from_numpy(
                ((sorted_target - self._target_mean) / self._target_scale).astype(np.float32)
            ).to(device)
            first = torch.from_numpy(starts).to(device)
            network = self._build().to(device)
            self._train(
                network,
                inputs=inputs,
                labels=labels,
                starts=first,
                train_rows=torch.from_numpy(train_rows).to(device),
                validation_rows=torch.from_numpy(validation_rows).to(device),
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

        missing = [c for c in self._features if c not in X.columns]
        if missing:
            raise ModelError(
                f"the lstm was fitted on feature(s) the design frame lacks: {', '.join(missing)}"
            )
        if len(X) == 0:
            return np.zeros(0)
        order, starts = _layout(X)
        values = _raw_values(X, self._features)[order]
        out = np.empty(len(X), dtype=np.float64)
        with _torch_session(threads=self._threads, seed=self._seed), torch.no_grad():
            device = _device(self._device)
            network.to(device).eval()
            inputs = torch.from_numpy(self._standardise(values)).to(device)
            first = torch.from_numpy(starts).to(device)
            rows = torch.arange(len(X), device=device)
            chunks = [
                _forward(network, inputs[self._index(rows[a : a + _PREDICT_BATCH], first)])
                for a in range(0, len(X), _PREDICT_BATCH)
            ]
            predicted = torch.cat(chunks).double().cpu().numpy()
            network.cpu()
        out[order] = predicted * self._target_scale + self._target_mean
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
        manifest = {
            "kind": _KIND,
            "format": _FORMAT,
            "params": self._params,
            "feature_names": list(self._features),
            "window": {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "rows": window.rows,
                "tickers": list(window.tickers),
            },
            "scaler": {
                "mean": self._mean.tolist(),
                "scale": self._scale.tolist(),
                "masked": self._masked.tolist(),
            },
            "target": {"mean": self._target_mean, "scale": self._target_scale},
            "training": {
                "best_epoch": self._best_epoch,
                "history": [list(entry) for entry in self._history],
            },
        }
        text = json.dumps(manifest, indent=2, allow_nan=True)
        (directory / _MANIFEST).write_text(text, encoding="utf-8")

    # -- internals ----------------------------------------------------------------------------

    def _fitted(self) -> torch.nn.ModuleDict:
        if self._network is None or self._window is None:
            raise ModelError("the lstm is not fitted; call fit first (or load_lstm)")
        return self._network

    def _split(self, X: pd.DataFrame, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (in sorted order) of the rows trained on and of the validation rows:
        the last ``validation_fraction`` of the dates, after a purge of ``horizon`` dates.
        Too few dates for that: every row trains and there is no validation."""
        ts = pd.DatetimeIndex(X["ts"])[order]
        everything = np.arange(len(order), dtype=np.int64)
        dates = ts.unique().sort_values()
        holdout = round(self._validation_fraction * len(dates))
        if holdout < 1:
            return everything, everything[:0]
        try:
            fit_dates, holdout_dates = inner_split(dates, holdout=holdout, gap=self._horizon)
        except ModelError:
            return everything, everything[:0]
        train = everything[ts.isin(fit_dates)]
        validation = everything[ts.isin(holdout_dates)]
        if len(train) == 0 or len(validation) == 0:
            return everything, everything[:0]
        return train, validation

    def _standardise(self, values: np.ndarray) -> np.ndarray:
        """Raw feature values (rows, features) -> network inputs (rows, features + masks),
        float32."""
        missing = np.isnan(values)
        scaled = np.clip((values - self._mean) / self._scale, -self._clip, self._clip)
        scaled[missing] = 0.0
        if self._masked.any():
            scaled = np.concatenate([scaled, missing[:, self._masked]], axis=1)
        return np.ascontiguousarray(scaled, dtype=np.float32)

    def _index(self, rows: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """For sorted row positions ``rows`` (n,), the positions of their sequences (n, L):
        the L rows ending at each row, never before its ticker's first row (padding repeats
        that first row)."""
        import torch

        steps = torch.arange(
            1 - self.sequence_length, 1, device=rows.device, dtype=rows.dtype
        ).unsqueeze(0)
        return torch.maximum(rows.unsqueeze(1) + steps, starts[rows].unsqueeze(1))

    def _build(self) -> torch.nn.ModuleDict:
        from torch import nn

        inputs = len(self._features) + int(self._masked.sum())
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
        best_loss = math.inf
        best_state: dict[str, torch.Tensor] | None = None
        stale = 0
        self._history = []
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
            self._history.append((epoch, train_loss, validation_loss))
            if self._on_epoch is not None:
                self._on_epoch(epoch, train_loss, validation_loss)
            if math.isnan(validation_loss):
                self._best_epoch = epoch
                continue
            if validation_loss < best_loss:
                best_loss, stale, self._best_epoch = validation_loss, 0, epoch
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            else:
                stale += 1
                if stale >= self._patience:
                    break
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

    manifest_path, weights_path = directory / _MANIFEST, directory / _WEIGHTS
    if not manifest_path.is_file() or not weights_path.is_file():
        raise ModelError(
            f"{str(directory)!r} holds no saved lstm ({_MANIFEST} and {_WEIGHTS} expected); "
            "save a fitted LSTMForecaster there first"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("kind") != _KIND or manifest.get("format") != _FORMAT:
        raise ModelError(
            f"{str(manifest_path)!r} describes kind {manifest.get('kind')!r} format "
            f"{manifest.get('format')!r}, not an lstm of format {_FORMAT}"
        )
    model = LSTMForecaster(**manifest["params"])
    model._features = tuple(str(name) for name in manifest["feature_names"])
    window = manifest["window"]
    model._window = TrainingWindow(
        start=pd.Timestamp(window["start"]),
        end=pd.Timestamp(window["end"]),
        rows=int(window["rows"]),
        tickers=tuple(str(t) for t in window["tickers"]),
    )
    scaler = manifest["scaler"]
    model._mean = np.asarray(scaler["mean"], dtype=np.float64)
    model._scale = np.asarray(scaler["scale"], dtype=np.float64)
    model._masked = np.asarray(scaler["masked"], dtype=bool)
    model._target_mean = float(manifest["target"]["mean"])
    model._target_scale = float(manifest["target"]["scale"])
    training = manifest["training"]
    model._best_epoch = int(training["best_epoch"])
    model._history = [(int(e), float(t), float(v)) for e, t, v in training["history"]]
    network = model._build()
    network.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    model._network = network
    return model


def _forward(network: torch.nn.ModuleDict, sequences: torch.Tensor) -> torch.Tensor:
    """(batch, L, inputs) -> (batch,): the head on the LSTM's last hidden state."""
    output, _ = network["lstm"](sequences)
    result: torch.Tensor = network["head"](network["dropout"](output[:, -1, :])).squeeze(-1)
    return result


def _layout(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``X`` sorted by ticker then ts: ``order`` (sorted position -> row of X) and
    ``starts`` (sorted position -> sorted position of its ticker's first row), both int64."""
    for column in ("ticker", "ts"):
        if column not in X.columns:
            raise ModelError(f"the design frame lacks the {column!r} column")
    codes, _ = pd.factorize(X["ticker"].astype(str), sort=False)
    ts = pd.DatetimeIndex(X["ts"])
    stamps = ts.asi8 if ts.tz is None else ts.tz_convert("UTC").asi8
    order = np.lexsort((stamps, codes)).astype(np.int64)
    sorted_codes, sorted_stamps = codes[order], stamps[order]
    new_ticker = np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]
    repeated = ~new_ticker & np.r_[False, sorted_stamps[1:] == sorted_stamps[:-1]]
    if repeated.any():
        at = order[int(np.flatnonzero(repeated)[0])]
        raise ModelError(
            f"the design frame holds (ticker, ts) {X['ticker'].iloc[at]!r}, "
            f"{X['ts'].iloc[at]} more than once; drop duplicate rows first"
        )
    starts = np.maximum.accumulate(np.where(new_ticker, np.arange(len(order)), 0))
    return order, starts.astype(np.int64)


def _raw_values(X: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """The feature columns as float64 (rows, features), infinities as NaN."""
    values = X.loc[:, list(features)].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


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
