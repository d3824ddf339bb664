"""Stacked states equal per-ticker kernel states bit for bit: over histories of several tickers
(different first sessions, gaps, sessions some tickers miss), every update's outputs, every peek
and the values held are those of each ticker's own ``KernelState``s, for every indicator of the
default feature set and for every ``KernelState`` class."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockpred.domain.errors import FeatureError
from stockpred.features import incremental
from stockpred.features.catalog import CATALOG
from stockpred.features.incremental import KernelState
from stockpred.features.library import INPUTS, Indicator
from stockpred.features.sets import DEFAULT_FEATURE_SET, get_feature_set
from stockpred.features.stacked import FRESH, StackedStates

Session = dict[str, dict[str, float]]

# Every kind with windows short enough for the generated histories to fill them.
SHORT_PARAMS: dict[str, dict[str, int | float]] = {
    "high_low_distance": {"period": 6},
    "max_drawdown": {"period": 7},
    "momentum_skip": {"period": 9, "skip": 3},
    "macd": {"fast": 3, "slow": 6, "signal": 4},
    "bollinger": {"period": 5, "width": 1.5},
}


def every_kind(*, short: bool) -> list[Indicator]:
    """One indicator of every catalogue kind: its default parameters, or short windows."""
    if not short:
        return [CATALOG[kind]() for kind in sorted(CATALOG)]
    return [CATALOG[kind](**SHORT_PARAMS.get(kind, {"period": 5})) for kind in sorted(CATALOG)]


def generated_sessions(
    *, seed: int, tickers: int, sessions: int, gap: float, absent: float, staggered: bool = True
) -> list[Session]:
    """Random-walk bars of ``tickers`` tickers: each starts on its own session (``staggered``)
    or on the first, misses a session with probability ``absent``; a bar is a gap (all NaN),
    has one NaN input or lacks one input with probability ``gap`` each."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, max(1, sessions // 3) if staggered else 1, tickers)
    closes = rng.uniform(20.0, 200.0, tickers)
    out: list[Session] = []
    for day in range(sessions):
        session: Session = {}
        for t in range(tickers):
            closes[t] *= math.exp(rng.normal(0.0, 0.02))
            if day < starts[t] or rng.random() < absent:
                continue
            close = float(closes[t])
            open_ = close * math.exp(rng.normal(0.0, 0.005))
            bar = {
                "open": open_,
                "high": max(open_, close) * math.exp(abs(rng.normal(0.0, 0.01))),
                "low": min(open_, close) * math.exp(-abs(rng.normal(0.0, 0.01))),
                "close": close,
                "volume": float(rng.lognormal(13.0, 0.4)),
            }
            draw = rng.random()
            if draw < gap:
                bar = dict.fromkeys(INPUTS, math.nan)
            elif draw < 2 * gap:
                bar[str(rng.choice(INPUTS))] = math.nan
            elif draw < 3 * gap:
                del bar[str(rng.choice(INPUTS))]
            session[f"T{t}"] = bar
        out.append(session)
    return out


def kernel_states(indicators: list[Indicator]) -> list[KernelState]:
    """A ticker's own fresh states, one per indicator."""
    states = [ind.incremental() for ind in indicators]
    assert all(isinstance(state, KernelState) for state in states)
    return states  # type: ignore[return-value]


def kernel_row(indicators: list[Indicator], states: list[KernelState]) -> np.ndarray:
    """One ticker's outputs as ``SessionFeatures`` lays them out: indicator by indicator."""
    return np.asarray(
        [
            state.value[name]
            for ind, state in zip(indicators, states, strict=True)
            for name in ind.outputs
        ]
    )


def kernel_peek(
    indicators: list[Indicator], states: list[KernelState], bar: dict[str, float]
) -> np.ndarray:
    return np.asarray(
        [
            state.peek(bar)[name]
            for ind, state in zip(indicators, states, strict=True)
            for name in ind.outputs
        ]
    )


def columns(bars: list[dict[str, float]]) -> dict[str, np.ndarray]:
    """Bars as input arrays, a missing key as NaN (as ``KernelState`` reads it)."""
    return {name: np.asarray([b.get(name, math.nan) for b in bars]) for name in INPUTS}


def assert_bits_equal(actual: np.ndarray, expected: np.ndarray, where: str) -> None:
    assert actual.shape == expected.shape, where
    assert np.array_equal(actual.view(np.uint64), expected.view(np.uint64)), (
        f"{where}: stacked {actual} != kernel states {expected}"
    )


def replay_both(
    indicators: list[Indicator],
    sessions: list[Session],
    *,
    capacity: int,
    peek_every: int,
) -> None:
    """Steps each ticker's own kernel states and one stacked state through ``sessions``,
    asserting at every session that updates, peeks and held values agree bit for bit."""
    stacked = StackedStates(indicators, capacity=capacity)
    own: dict[str, list[KernelState]] = {}
    for day, session in enumerate(sessions):
        if peek_every and day % peek_every == 0 and session:
            # A partial bar for every ticker of the session, and one never seen.
            partial = {t: {k: v * 1.001 for k, v in b.items()} for t, b in session.items()}
            partial["NEW"] = next(iter(partial.values()))
            names = sorted(partial)
            rows = [stacked.row_of(t) for t in names]
            peeked = stacked.peek(
                np.asarray([FRESH if r is None else r for r in rows]),
                columns([partial[t] for t in names]),
            )
            for i, ticker in enumerate(names):
                states = own.get(ticker) or kernel_states(indicators)
                assert_bits_equal(
                    peeked[i],
                    kernel_peek(indicators, states, partial[ticker]),
                    f"peek {ticker} session {day}",
                )
        names = sorted(session)
        for ticker in names:
            if ticker not in own:
                own[ticker] = kernel_states(indicators)
                stacked.add(ticker)
            for state in own[ticker]:
                state.update(session[ticker])
        rows = np.asarray([stacked.row_of(t) for t in names], dtype=np.int64)
        out = stacked.update(rows, columns([session[t] for t in names]))
        for i, ticker in enumerate(names):
            assert_bits_equal(
                out[i], kernel_row(indicators, own[ticker]), f"update {ticker} session {day}"
            )
        held = sorted(own)
        values = stacked.values([stacked.row_of(t) for t in held])
        for i, ticker in enumerate(held):
            assert_bits_equal(
                values[i], kernel_row(indicators, own[ticker]), f"values {ticker} session {day}"
            )


def test_every_kernel_state_class_is_covered_by_the_catalogue() -> None:
    classes = {
        cls
        for cls in vars(incremental).values()
        if isinstance(cls, type) and issubclass(cls, KernelState) and cls is not KernelState
    }
    assert {type(ind.incremental()) for ind in every_kind(short=True)} == classes


def test_outputs_are_the_feature_sets_indicator_outputs_in_order() -> None:
    feature_set = get_feature_set(DEFAULT_FEATURE_SET)
    assert StackedStates(feature_set.built).outputs == feature_set.indicator_outputs


@pytest.mark.parametrize(
    "indicators",
    [
        pytest.param(list(get_feature_set(DEFAULT_FEATURE_SET).built), id="default_set"),
        pytest.param(every_kind(short=False), id="every_kind"),
    ],
)
def test_long_histories_equal_each_tickers_kernel_states_bit_for_bit(
    indicators: list[Indicator],
) -> None:
    # Longer than the longest window (504) and than a rolling sum's recomputation (512 bars);
    # capacity 2 makes the matrices grow while tickers join.
    sessions = generated_sessions(seed=3, tickers=4, sessions=640, gap=0.004, absent=0.02)
    replay_both(indicators, sessions, capacity=2, peek_every=37)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    tickers=st.integers(1, 6),
    sessions=st.integers(1, 90),
    gap=st.sampled_from([0.0, 0.03, 0.1]),
    absent=st.sampled_from([0.0, 0.1, 0.4]),
    capacity=st.integers(1, 8),
)
def test_generated_histories_equal_each_tickers_kernel_states_bit_for_bit(
    *, seed: int, tickers: int, sessions: int, gap: float, absent: float, capacity: int
) -> None:
    history = generated_sessions(
        seed=seed, tickers=tickers, sessions=sessions, gap=gap, absent=absent
    )
    replay_both(every_kind(short=True), history, capacity=capacity, peek_every=3)


def test_a_peek_leaves_the_state_as_it_was() -> None:
    indicators = every_kind(short=True)
    history = generated_sessions(
        seed=5, tickers=3, sessions=30, gap=0.0, absent=0.0, staggered=False
    )
    peeked = StackedStates(indicators)
    plain = StackedStates(indicators)
    for stacked in (peeked, plain):
        for ticker in sorted(history[0]):
            stacked.add(ticker)
    rows = np.arange(3)
    for session in history:
        bars = columns([session[t] for t in sorted(session)])
        before = peeked.values(rows)
        peeked.peek(rows, {k: v * 0.97 for k, v in bars.items()})
        assert_bits_equal(peeked.values(rows), before, "values after a peek")
        assert_bits_equal(peeked.update(rows, bars), plain.update(rows, bars), "update")


def test_a_reset_row_starts_over_like_a_fresh_one() -> None:
    indicators = every_kind(short=True)
    history = generated_sessions(
        seed=9, tickers=2, sessions=40, gap=0.0, absent=0.0, staggered=False
    )
    stacked = StackedStates(indicators)
    stacked.add("T0")
    stacked.add("T1")
    for session in history[:25]:
        stacked.update([0, 1], columns([session["T0"], session["T1"]]))
    stacked.reset(0)
    assert np.isnan(stacked.values([0])).all()
    fresh = StackedStates(indicators)
    fresh.add("T0")
    for session in history[25:]:
        out = stacked.update([0], columns([session["T0"]]))
        assert_bits_equal(out, fresh.update([0], columns([session["T0"]])), "after reset")


def test_an_update_that_names_a_row_twice_is_refused() -> None:
    stacked = StackedStates(every_kind(short=True))
    stacked.add("T0")
    with pytest.raises(FeatureError, match="a row repeats"):
        stacked.update([0, 0], {"close": np.ones(2)})


def test_a_row_not_added_is_refused() -> None:
    stacked = StackedStates(every_kind(short=True))
    stacked.add("T0")
    with pytest.raises(FeatureError, match=r"rows must lie in \[0, 1\)"):
        stacked.update([1], {"close": np.ones(1)})
    with pytest.raises(FeatureError, match="has a row already"):
        stacked.add("T0")


def test_an_indicator_whose_state_is_not_a_kernel_state_is_refused() -> None:
    sma = CATALOG["sma"]()
    odd = Indicator(
        name=sma.name,
        params=sma.params,
        inputs=sma.inputs,
        outputs=sma.outputs,
        lookback=sma.lookback,
        batch=sma.batch,
        incremental=object,  # type: ignore[arg-type,return-value]
    )
    with pytest.raises(FeatureError, match="stacked states step only compiled kernel states"):
        StackedStates([odd])
