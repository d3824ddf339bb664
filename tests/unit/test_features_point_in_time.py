"""Point in time: perturbing any input after bar t leaves every output at bars <= t unchanged,
bit for bit, for every indicator, on real and generated histories."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockpred.features.catalog import CATALOG
from support.histories import History, apple_history, generated_history

APPLE = apple_history()


def perturbed(history: History, *, after: int, seed: int, with_gaps: bool) -> History:
    """A copy of ``history`` whose bars after ``after`` are scrambled (scaled, shuffled and,
    with ``with_gaps``, partly NaN)."""
    rng = np.random.default_rng(seed)
    changed = {name: values.copy() for name, values in history.items()}
    tail = slice(after + 1, None)
    for values in changed.values():
        size = values[tail].shape[0]
        values[tail] = values[tail] * rng.uniform(0.5, 2.0, size)
        values[tail] = rng.permutation(values[tail])
        if with_gaps:
            values[tail][rng.random(size) < 0.1] = np.nan
    return changed


def assert_prefix_unchanged(kind: str, history: History, *, after: int, seed: int) -> None:
    indicator = CATALOG[kind]()
    original = indicator.batch(history)
    for with_gaps in (False, True):
        changed = indicator.batch(perturbed(history, after=after, seed=seed, with_gaps=with_gaps))
        for name in indicator.outputs:
            np.testing.assert_array_equal(
                changed[name][: after + 1], original[name][: after + 1], err_msg=name
            )


@pytest.mark.parametrize("kind", sorted(CATALOG))
@settings(max_examples=25, deadline=None)
@given(after=st.integers(min_value=0, max_value=699), seed=st.integers(0, 2**32 - 1))
def test_outputs_up_to_t_ignore_generated_inputs_after_t(kind: str, after: int, seed: int) -> None:
    history = generated_history(700, seed=seed % 1000)
    assert_prefix_unchanged(kind, history, after=after, seed=seed)


@pytest.mark.parametrize("kind", sorted(CATALOG))
@settings(max_examples=15, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=len(APPLE["close"]) - 600),
    after=st.integers(min_value=0, max_value=599),
    seed=st.integers(0, 2**32 - 1),
)
def test_outputs_up_to_t_ignore_real_inputs_after_t(
    kind: str, start: int, after: int, seed: int
) -> None:
    window = {name: values[start : start + 600] for name, values in APPLE.items()}
    assert_prefix_unchanged(kind, window, after=after, seed=seed)
