"""Online equals offline: every indicator's incremental state, fed a history bar by bar,
reproduces its batch kernel's value at every bar (to 1e-9 relative; NaN where batch is NaN)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stockpred.features.catalog import CATALOG
from stockpred.features.library import Indicator
from support.histories import History, apple_history, generated_history

HISTORIES = {
    "apple": apple_history,
    "generated_with_gaps": lambda: generated_history(1200, seed=7),
}


def replay(indicator: Indicator, history: History) -> dict[str, np.ndarray]:
    """The incremental state's value after each bar, by output."""
    n = len(history["close"])
    state = indicator.incremental()
    values = {name: np.empty(n) for name in indicator.outputs}
    readiness = np.empty(n, dtype=bool)
    for i in range(n):
        state.update({name: float(history[name][i]) for name in indicator.inputs})
        for name, value in state.value.items():
            values[name][i] = value
        readiness[i] = state.ready
    values["_ready"] = readiness
    return values


@pytest.mark.parametrize("history_name", sorted(HISTORIES))
@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_incremental_state_reproduces_batch_values_at_every_bar(
    kind: str, history_name: str
) -> None:
    indicator = CATALOG[kind]()
    history = HISTORIES[history_name]()
    batch = indicator.batch(history)
    online = replay(indicator, history)
    for name in indicator.outputs:
        np.testing.assert_allclose(
            online[name], batch[name], rtol=1e-9, atol=0.0, equal_nan=True, err_msg=name
        )
    defined = np.all([~np.isnan(batch[name]) for name in indicator.outputs], axis=0)
    np.testing.assert_array_equal(online["_ready"], defined)


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_reset_state_starts_over_like_a_fresh_one(kind: str) -> None:
    indicator = CATALOG[kind]()
    history = generated_history(400, seed=3, gaps=False)
    state = indicator.incremental()
    for i in range(300):
        state.update({name: float(history[name][i]) for name in indicator.inputs})
    assert state.ready
    state.reset()
    assert not state.ready
    assert all(math.isnan(value) for value in state.value.values())
    tail = {name: values[300:] for name, values in history.items()}
    online = replay(indicator, tail)
    batch = indicator.batch(tail)
    for name in indicator.outputs:
        np.testing.assert_allclose(online[name], batch[name], rtol=1e-9, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_first_defined_value_comes_after_the_lookback(kind: str) -> None:
    indicator = CATALOG[kind]()
    history = generated_history(400, seed=5, gaps=False)
    batch = indicator.batch(history)
    for name in indicator.outputs:
        assert np.isnan(batch[name][: indicator.lookback]).all(), name
        assert not np.isnan(batch[name][indicator.lookback :]).any(), name


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_a_gap_resets_the_indicator_and_it_recovers_after_its_lookback(kind: str) -> None:
    indicator = CATALOG[kind]()
    history = generated_history(600, seed=11, gaps=False)
    gap = 400
    for name in indicator.inputs:
        history[name][gap] = np.nan
    batch = indicator.batch(history)
    restart = gap + 1
    for name in indicator.outputs:
        assert not np.isnan(batch[name][gap - 1]), name
        assert np.isnan(batch[name][gap : restart + indicator.lookback]).all(), name
        assert not np.isnan(batch[name][restart + indicator.lookback :]).any(), name
        # After the gap the indicator is exactly the one started fresh after it.
        fresh = indicator.batch({k: v[restart:] for k, v in history.items()})
        np.testing.assert_array_equal(batch[name][restart:], fresh[name])
