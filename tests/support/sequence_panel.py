"""A synthetic design frame for the sequence models (the PyTorch and the Keras LSTM)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def generated_panel(
    tickers: int = 20, days: int = 400, *, seed: int = 7
) -> tuple[pd.DataFrame, pd.Series]:
    """A design frame whose target depends on the last three rows of ``signal``, so only a
    model that reads history can explain it all. ``gappy`` is NaN a fifth of the time."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2020-01-01 21:00", periods=days, freq="B", tz="UTC")
    frames, targets = [], []
    for i in range(tickers):
        signal = rng.normal(size=days)
        lagged = signal + 0.8 * np.r_[0.0, signal[:-1]] + 0.6 * np.r_[0.0, 0.0, signal[:-2]]
        gappy = rng.normal(size=days)
        gappy[rng.random(days) < 0.2] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "ticker": f"T{i:02d}",
                    "ts": ts,
                    "signal": signal,
                    "noise": rng.normal(size=days),
                    "gappy": gappy,
                }
            )
        )
        targets.append(0.01 * lagged + 0.005 * rng.normal(size=days))
    return pd.concat(frames, ignore_index=True), pd.Series(np.concatenate(targets), name="target")
