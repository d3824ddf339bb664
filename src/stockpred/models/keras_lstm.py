"""The LSTM forecaster on Keras 3 with the TensorFlow backend: the same model as
:mod:`stockpred.models.lstm` (PyTorch) for teams whose training and serving run on TensorFlow.

Inputs, scaling, padding, target standardisation, the purged validation tail and early stopping
are shared with the PyTorch LSTM (:mod:`stockpred.models.sequences`): a row of ticker T at ts t
reads the ``sequence_length`` rows of T at or before t, standardised with the training window's
statistics, clipped, NaN set to 0 plus a mask channel per feature that was ever NaN.

Network: ``num_layers`` stacked ``keras.layers.LSTM`` (dropout between them and on the last
hidden state), a ``Dense(1)`` head. Huber (delta 1 in standardised-target units) or MSE loss,
Adam with the global gradient norm clipped to 1, shuffled mini-batches, a custom
``tf.GradientTape`` loop so that the validation loss, patience and the kept best epoch work
exactly as in the PyTorch LSTM. There is no ``weight_decay``: Keras' Adam decays weights
decoupled (AdamW), not as torch's L2 term, and the same name would promise the same model.

Deterministic on CPU for a given ``seed``: ``keras.utils.set_random_seed`` seeds the weights,
dropout and shuffling (Python's and NumPy's global random states are restored afterwards), and
``tf.config.experimental.enable_op_determinism`` is switched on; TensorFlow offers no way to
switch it off again, so it stays on for the rest of the process. TensorFlow's thread pools are
fixed when its runtime starts: the first fit or predict of this model in a process sets them to
``threads`` intra-op threads and one inter-op thread, later values cannot change them.

Keras is optional (the ``tensorflow`` extra, ``tensorflow-cpu``): importing this module works
without it; ``fit``, ``predict`` and :func:`load_keras_lstm` raise :class:`MissingExtraError`.
``KERAS_BACKEND`` is set to ``tensorflow`` before Keras is first imported, and TensorFlow's C++
start-up logs (and its oneDNN notice) are silenced unless the environment already says otherwise.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

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
    sequence_positions,
    training_rows,
    write_manifest,
)

if TYPE_CHECKING:
    import keras

__all__ = ["KerasLSTMForecaster", "load_keras_lstm"]

_KIND = "keras_lstm"
_FORMAT = 1
# The whole Keras model (architecture and weights): TensorFlow tooling can open it alone.
_NETWORK = "network.keras"
_LOSSES = ("huber", "mse")
# Rows per forward pass when predicting: memory, not results, depends on it.
_PREDICT_BATCH = 4096
_PURPOSE = "the Keras LSTM model"


def _import_keras() -> tuple[ModuleType, ModuleType]:
    """(keras, tensorflow), Keras 3 on the TensorFlow backend, quiet; MissingExtraError
    naming the ``tensorflow`` extra when either is missing."""
    if "keras" not in sys.modules:
        # Keras reads its backend once, at its first import.
        os.environ["KERAS_BACKEND"] = "tensorflow"
    # Level 2 hides TensorFlow's C++ info and warnings at start-up; oneDNN off also removes
    # its notice that results may differ by round-off from the default kernels.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    tensorflow = import_optional("tensorflow", extra="tensorflow", purpose=_PURPOSE)
    keras_module = import_optional("keras", extra="tensorflow", purpose=_PURPOSE)
    version = str(getattr(keras_module, "__version__", "0"))
    if int(version.split(".", maxsplit=1)[0]) < 3:
        raise ModelError(
            f"{_PURPOSE} needs Keras 3, found keras {version}; "
            "install the extra: pip install 'stockpred[tensorflow]'"
        )
    backend = keras_module.backend.backend()
    if backend != "tensorflow":
        raise ModelError(
            f"{_PURPOSE} runs on Keras' TensorFlow backend, but Keras was imported with the "
            f"{backend!r} backend; set KERAS_BACKEND=tensorflow before anything imports keras"
        )
    return keras_module, tensorflow


class KerasLSTMForecaster:
    """An LSTM over each row's recent history of its own ticker, on Keras 3 / TensorFlow; see
    the module docstring.

    The parameters mean what they mean for :class:`stockpred.models.lstm.LSTMForecaster`:
    ``horizon`` sessions the target looks ahead (the purge before the validation tail),
    ``sequence_length`` rows per sequence (public, so an evaluator knows how many context rows
    to prepend), ``on_epoch`` called after every epoch with (epoch from 1, training loss,
    validation loss) in standardised-target units, ``threads`` TensorFlow's intra-op threads.
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
        batch_size: int = 512,
        epochs: int = 20,
        patience: int = 3,
        validation_fraction: float = 0.1,
        loss: str = "huber",
        nan_mask: bool = True,
        clip: float = 5.0,
        seed: int = 0,
        threads: int = 1,
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
        if loss not in _LOSSES:
            raise ModelError(f"{_KIND} loss must be one of {', '.join(_LOSSES)}, got {loss!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ModelError(f"{_KIND} seed must be a whole number >= 0, got {seed!r}")
        self.sequence_length = sequence_length
        self._params: dict[str, object] = {
            "horizon": horizon,
            "sequence_length": sequence_length,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": float(dropout),
            "learning_rate": float(learning_rate),
            "batch_size": batch_size,
            "epochs": epochs,
            "patience": patience,
            "validation_fraction": float(validation_fraction),
            "loss": loss,
            "nan_mask": bool(nan_mask),
            "clip": float(clip),
            "seed": seed,
            "threads": threads,
        }
        self._horizon = horizon
        self._hidden = hidden_size
        self._layers = num_layers
        self._dropout = float(dropout)
        self._learning_rate = float(learning_rate)
        self._batch_size = batch_size
        self._epochs = epochs
        self._patience = patience
        self._validation_fraction = float(validation_fraction)
        self._loss = loss
        self._nan_mask = bool(nan_mask)
        self._clip = float(clip)
        self._seed = seed
        self._threads = threads
        self._on_epoch = on_epoch
        self._features: tuple[str, ...] = ()
        self._window: TrainingWindow | None = None
        self._scaling = Scaling(
            mean=np.zeros(0), scale=np.ones(0), masked=np.zeros(0, dtype=bool), clip=self._clip
        )
        self._history: list[tuple[int, float, float]] = []
        self._best_epoch = 0
        self._network: keras.Model | None = None
        self._predict_step: Any = None

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
        keras_module, tensorflow = _import_keras()
        rows = training_rows(
            _KIND, X, y, validation_fraction=self._validation_fraction, horizon=self._horizon
        )
        self._features = rows.features
        self._scaling = Scaling.fit(
            rows.values, rows.target, nan_mask=self._nan_mask, clip=self._clip
        )
        inputs = self._scaling.inputs(rows.values)
        labels = self._scaling.labels(rows.target)
        with _keras_session(keras_module, tensorflow, seed=self._seed, threads=self._threads):
            network = self._build(keras_module)
            self._network = network
            self._predict_step = None
            self._train(
                keras_module,
                tensorflow,
                network,
                inputs=inputs,
                labels=labels,
                starts=rows.starts,
                train_rows=rows.train,
                validation_rows=rows.validation,
            )
        self._window = TrainingWindow.of(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted forward log return per row of ``X``: float64, shape (len(X),).

        Each row's sequence is built from ``X`` itself, as for the PyTorch LSTM: prepend
        ``sequence_length - 1`` rows of history to get full sequences, then drop their
        predictions.
        """
        network = self._fitted()
        _, tensorflow = _import_keras()
        check_features(_KIND, X, self._features)
        if len(X) == 0:
            return np.zeros(0)
        order, starts = layout(X)
        inputs = self._scaling.inputs(raw_values(X, self._features)[order])
        _configure(tensorflow, threads=self._threads)
        rows = np.arange(len(X), dtype=np.int64)
        with _python_logs_at_error(tensorflow):
            step = self._predictor(tensorflow, network)
            chunks = [
                np.asarray(step(self._sequences(inputs, rows[a : a + _PREDICT_BATCH], starts)))
                for a in range(0, len(X), _PREDICT_BATCH)
            ]
        out = np.empty(len(X), dtype=np.float64)
        out[order] = self._scaling.returns(np.concatenate(chunks))
        return out

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """None: an LSTM has no additive per-feature decomposition."""
        return None

    def save(self, directory: Path) -> None:
        """Write ``network.keras`` (the Keras model: architecture and weights) and
        ``model.json`` (kind, params, feature names, training window, scaler statistics, epoch
        history) under ``directory``."""
        network = self._fitted()
        window = self._window
        assert window is not None  # _fitted checks it
        _import_keras()
        directory.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # Keras 3.15 converts TensorFlow variables with np.array(x), which NumPy 2 flags
            # as a deprecation of theirs; the weights are written correctly.
            warnings.filterwarnings(
                "ignore", message="__array__ implementation doesn't accept a copy keyword"
            )
            network.save(directory / _NETWORK)
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

    def _fitted(self) -> keras.Model:
        if self._network is None or self._window is None:
            raise ModelError(f"the {_KIND} is not fitted; call fit first (or load_keras_lstm)")
        return self._network

    def _sequences(self, inputs: np.ndarray, rows: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """The network inputs of sorted rows ``rows``: float32 (len(rows), L, width)."""
        sequences: np.ndarray = inputs[sequence_positions(rows, starts, self.sequence_length)]
        return sequences

    def _build(self, keras_module: ModuleType) -> keras.Model:
        layers = keras_module.layers
        sequences = keras_module.Input(
            shape=(self.sequence_length, self._scaling.width), name="sequences"
        )
        hidden = sequences
        for layer in range(1, self._layers + 1):
            last = layer == self._layers
            hidden = layers.LSTM(self._hidden, return_sequences=not last, name=f"lstm_{layer}")(
                hidden
            )
            # Like torch's nn.LSTM dropout: between layers, and on the last hidden state.
            hidden = layers.Dropout(self._dropout, name=f"dropout_{layer}")(hidden)
        forecast = layers.Dense(1, name="head")(hidden)
        return keras_module.Model(inputs=sequences, outputs=forecast, name=_KIND)

    def _loss_function(self, keras_module: ModuleType, *, reduction: str) -> Any:
        if self._loss == "huber":
            return keras_module.losses.Huber(delta=1.0, reduction=reduction)
        return keras_module.losses.MeanSquaredError(reduction=reduction)

    def _predictor(self, tensorflow: ModuleType, network: keras.Model) -> Any:
        """A compiled (batch, L, width) -> (batch,) forward pass in inference mode."""
        if self._predict_step is None:
            signature = [
                tensorflow.TensorSpec(
                    (None, self.sequence_length, self._scaling.width), tensorflow.float32
                )
            ]

            @tensorflow.function(input_signature=signature)  # type: ignore[untyped-decorator]
            def forward(sequences: Any) -> Any:
                return network(sequences, training=False)[:, 0]

            self._predict_step = forward
        return self._predict_step

    def _train(
        self,
        keras_module: ModuleType,
        tensorflow: ModuleType,
        network: keras.Model,
        *,
        inputs: np.ndarray,
        labels: np.ndarray,
        starts: np.ndarray,
        train_rows: np.ndarray,
        validation_rows: np.ndarray,
    ) -> None:
        optimizer = keras_module.optimizers.Adam(
            # torch's Adam epsilon, and its clip_grad_norm_ over all weights at once.
            learning_rate=self._learning_rate,
            epsilon=1e-8,
            global_clipnorm=1.0,
        )
        mean_loss = self._loss_function(keras_module, reduction="sum_over_batch_size")
        summed_loss = self._loss_function(keras_module, reduction="sum")
        batch = tensorflow.TensorSpec(
            (None, self.sequence_length, self._scaling.width), tensorflow.float32
        )
        targets = tensorflow.TensorSpec((None,), tensorflow.float32)

        @tensorflow.function(input_signature=[batch, targets])  # type: ignore[untyped-decorator]
        def train_step(sequences: Any, target: Any) -> Any:
            with tensorflow.GradientTape() as tape:
                # (batch, 1) both: Keras' losses average over the last axis first.
                loss = mean_loss(target[:, None], network(sequences, training=True))
            weights = network.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
            return loss

        @tensorflow.function(input_signature=[batch, targets])  # type: ignore[untyped-decorator]
        def validation_step(sequences: Any, target: Any) -> Any:
            return summed_loss(target[:, None], network(sequences, training=False))

        # Shuffling from its own generator, seeded by the model's seed alone.
        shuffle = np.random.default_rng(self._seed)
        stopping = EarlyStopping(patience=self._patience, on_epoch=self._on_epoch)
        best_weights: list[np.ndarray] | None = None
        for epoch in range(1, self._epochs + 1):
            permutation = train_rows[shuffle.permutation(len(train_rows))]
            total = 0.0
            for a in range(0, len(permutation), self._batch_size):
                rows = permutation[a : a + self._batch_size]
                loss = train_step(self._sequences(inputs, rows, starts), labels[rows])
                total += float(loss) * len(rows)
            train_loss = total / len(permutation)
            validation_loss = float("nan")
            if len(validation_rows):
                summed = sum(
                    float(validation_step(self._sequences(inputs, chunk, starts), labels[chunk]))
                    for chunk in np.array_split(
                        validation_rows, -(-len(validation_rows) // _PREDICT_BATCH)
                    )
                )
                validation_loss = summed / len(validation_rows)
            verdict = stopping.record(epoch, train_loss, validation_loss)
            if verdict is Verdict.BEST:
                best_weights = [np.array(w, copy=True) for w in network.get_weights()]
            elif verdict is Verdict.STOP:
                break
        self._history, self._best_epoch = stopping.history, stopping.best_epoch
        if best_weights is not None:
            network.set_weights(best_weights)


def load_keras_lstm(directory: Path) -> KerasLSTMForecaster:
    """The :class:`KerasLSTMForecaster` that ``save`` wrote under ``directory``; it predicts
    exactly what the saved one did."""
    keras_module, _ = _import_keras()
    manifest = read_manifest(directory, kind=_KIND, format_version=_FORMAT, weights=_NETWORK)
    model = KerasLSTMForecaster(**manifest.params)  # type: ignore[arg-type]
    model._features = manifest.features
    model._window = manifest.window
    model._scaling = manifest.scaling
    model._best_epoch = manifest.best_epoch
    model._history = list(manifest.history)
    # compile=False: the file is only read for inference; nothing of ours needs an optimizer.
    model._network = keras_module.saving.load_model(directory / _NETWORK, compile=False)
    return model


def _configure(tensorflow: ModuleType, *, threads: int) -> None:
    """Thread pools and op determinism. The pools can only be set before TensorFlow's runtime
    starts; after that the first setting holds for the process."""
    threading = tensorflow.config.threading
    if threading.get_intra_op_parallelism_threads() != threads:
        try:
            threading.set_intra_op_parallelism_threads(threads)
            threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # the runtime has started: its pools stay as they are
    tensorflow.config.experimental.enable_op_determinism()


@contextmanager
def _keras_session(
    keras_module: ModuleType, tensorflow: ModuleType, *, seed: int, threads: int
) -> Iterator[None]:
    """Threads, op determinism and the seeds for one fit; Python's and NumPy's global random
    states are restored afterwards (Keras' set_random_seed sets them too)."""
    _configure(tensorflow, threads=threads)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    keras_module.utils.set_random_seed(seed)
    try:
        with _python_logs_at_error(tensorflow):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


@contextmanager
def _python_logs_at_error(tensorflow: ModuleType) -> Iterator[None]:
    """TensorFlow's Python logger at ERROR for one fit or predict, then as it was.

    Each fit builds a new network and traces its step functions once; after five such fits
    TensorFlow warns about "excessive retracing", which here is the intended cost of a refit.
    """
    logger: logging.Logger = tensorflow.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
