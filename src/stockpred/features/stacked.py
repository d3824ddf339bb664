"""Many instruments' indicator states at once, each indicator stepped by one compiled call.

A :class:`~stockpred.features.incremental.KernelState` holds one instrument's state of one
indicator and costs one Python-to-numba call per bar. :class:`StackedStates` holds the same
state arrays for many instruments as matrices (a row per instrument, zero when fresh) and steps
a batch of rows with one call per indicator: a driver, compiled once per step function and
arity, loops over the rows and calls the *same* compiled step on each row's views, in place. So
a row's outputs equal its instrument's ``KernelState`` values bit for bit, gaps included
(``tests/unit/test_stacked_states.py``).

The drivers are generated source (the step functions differ in how many parameters, state
arrays, inputs and outputs they take) compiled by numba on first use, in memory: numba cannot
cache a function that has no source file, so each process pays the compilation once per step
function (``benchmarks/stacked_states.py`` reports it).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import numpy as np
import numpy.typing as npt
from numba import njit

from stockpred.domain.errors import FeatureError
from stockpred.features.incremental import KernelState
from stockpred.features.library import Indicator

__all__ = ["FRESH", "StackedStates"]

# A row that ``StackedStates.peek`` reads as a state that has taken nothing: an instrument not
# added yet.
FRESH = -1

Driver = Callable[..., None]


class _Layer:
    """One indicator: its driver, parameters, state matrices and output columns."""

    def __init__(
        self,
        *,
        driver: Driver,
        params: tuple[int | float, ...],
        sizes: tuple[int, ...],
        inputs: tuple[str, ...],
        columns: npt.NDArray[np.int64],
        capacity: int,
    ) -> None:
        self.driver = driver
        self.params = params
        self.inputs = inputs
        self.columns = columns
        self.arrays = [np.zeros((capacity, size)) for size in sizes]
        # Where a peek steps a row's copy: one vector per state array, reused.
        self.scratch = tuple(np.zeros(size) for size in sizes)
        self.head: tuple[object, ...] = (*params, *self.arrays, *self.scratch)

    def grow(self, capacity: int, used: int) -> None:
        """Room for ``capacity`` rows, the first ``used`` kept and the rest zero."""
        grown = []
        for array in self.arrays:
            bigger = np.zeros((capacity, array.shape[1]))
            bigger[:used] = array[:used]
            grown.append(bigger)
        self.arrays = grown
        self.head = (*self.params, *self.arrays, *self.scratch)


class StackedStates:
    """The incremental states of ``indicators`` (a feature set's ``built``) for many
    instruments: a row per instrument, each indicator's state arrays as matrices of
    ``capacity`` rows (grown when full).

    Every indicator's ``incremental()`` must be a :class:`KernelState`. Outputs are columns in
    the order of ``outputs``: each indicator's ``outputs``, indicator by indicator. Not safe
    for concurrent use (a peek steps copies in buffers the instance owns).
    """

    def __init__(self, indicators: Sequence[Indicator], *, capacity: int = 64) -> None:
        if capacity < 1:
            raise FeatureError(f"stacked states need a capacity of at least 1, got {capacity}")
        self._layers: list[_Layer] = []
        outputs: list[str] = []
        for indicator in indicators:
            state = indicator.incremental()
            if not isinstance(state, KernelState):
                raise FeatureError(
                    f"indicator {indicator.name} {dict(indicator.params)} has a state of type "
                    f"{type(state).__name__}; stacked states step only compiled kernel states "
                    "(features/incremental.py's KernelState)"
                )
            spec = state.spec
            if sorted(spec.outputs) != sorted(indicator.outputs):
                raise FeatureError(
                    f"indicator {indicator.name} declares outputs {indicator.outputs} but its "
                    f"state returns {spec.outputs}"
                )
            first = len(outputs)
            columns = np.asarray(
                [first + indicator.outputs.index(name) for name in spec.outputs], dtype=np.int64
            )
            outputs += indicator.outputs
            self._layers.append(
                _Layer(
                    driver=_driver(
                        spec.step,
                        len(spec.params),
                        len(spec.array_sizes),
                        len(spec.inputs),
                        len(spec.outputs),
                    ),
                    params=spec.params,
                    sizes=spec.array_sizes,
                    inputs=spec.inputs,
                    columns=columns,
                    capacity=capacity,
                )
            )
        self._outputs = tuple(outputs)
        self._inputs = tuple(dict.fromkeys(name for layer in self._layers for name in layer.inputs))
        self._capacity = capacity
        self._values = np.full((capacity, len(outputs)), math.nan)
        self._rows: dict[str, int] = {}

    @property
    def outputs(self) -> tuple[str, ...]:
        """The output columns of ``update``, ``peek`` and ``values``."""
        return self._outputs

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input series the indicators read (of open, high, low, close, volume)."""
        return self._inputs

    @property
    def row_size(self) -> int:
        """The float64 values of state one row holds (every indicator's arrays)."""
        return sum(array.shape[1] for layer in self._layers for array in layer.arrays)

    def __len__(self) -> int:
        """The rows added."""
        return len(self._rows)

    def add(self, key: str) -> int:
        """A fresh row for ``key`` (an instrument): its index."""
        if key in self._rows:
            raise FeatureError(f"{key!r} has a row already ({self._rows[key]}); use row_of")
        row = len(self._rows)
        if row == self._capacity:
            self._grow(2 * self._capacity)
        self._rows[key] = row
        return row

    def row_of(self, key: str) -> int | None:
        """The row of ``key``, or None when it has none."""
        return self._rows.get(key)

    def update(self, rows: npt.ArrayLike, inputs: Mapping[str, npt.ArrayLike]) -> np.ndarray:
        """Take one bar for each of ``rows`` (distinct added rows, int, shape (n,)).

        ``inputs``: float64 arrays of shape (n,) by name (open, high, low, close, volume), row
        for row; NaN, or a name left out, is a gap. Returns the outputs, float64 of shape
        (n, len(outputs)), which ``values`` returns from then on.
        """
        checked = self._checked(rows, peek=False)
        out = self._step(checked, inputs, commit=True)
        self._values[checked] = out
        return out

    def peek(self, rows: npt.ArrayLike, inputs: Mapping[str, npt.ArrayLike]) -> np.ndarray:
        """What ``update(rows, inputs)`` would return, the state left as it is (each row steps
        on a copy). A row may repeat, and ``FRESH`` stands for a state that has taken nothing."""
        return self._step(self._checked(rows, peek=True), inputs, commit=False)

    def values(self, rows: npt.ArrayLike) -> np.ndarray:
        """The outputs of the last update of each of ``rows``, shape (n, len(outputs)); NaN for
        a row not updated since it was added or reset."""
        return self._values[self._checked(rows, peek=True, fresh=False)]

    def reset(self, row: int) -> None:
        """Forget ``row``'s history: its state is a fresh one's."""
        (checked,) = self._checked([row], peek=True, fresh=False)
        for layer in self._layers:
            for array in layer.arrays:
                array[checked] = 0.0
        self._values[checked] = math.nan

    # -- internals ---------------------------------------------------------------------------

    def _step(
        self, rows: npt.NDArray[np.int64], inputs: Mapping[str, npt.ArrayLike], *, commit: bool
    ) -> np.ndarray:
        n = rows.shape[0]
        out = np.empty((n, len(self._outputs)))
        if n == 0:
            return out
        series = {name: _series(inputs, name, n) for name in self._inputs}
        for layer in self._layers:
            layer.driver(
                *layer.head,
                *[series[name] for name in layer.inputs],
                rows,
                out,
                layer.columns,
                commit,
            )
        return out

    def _checked(
        self, rows: npt.ArrayLike, *, peek: bool, fresh: bool = True
    ) -> npt.NDArray[np.int64]:
        checked = np.ascontiguousarray(rows, dtype=np.int64)
        if checked.ndim != 1:
            raise FeatureError(f"rows must be one-dimensional, got shape {checked.shape}")
        if not checked.shape[0]:
            return checked
        lowest = FRESH if peek and fresh else 0
        if checked.min() < lowest or checked.max() >= len(self._rows):
            raise FeatureError(
                f"rows must lie in [{lowest}, {len(self._rows)}) (the rows added); got "
                f"{checked.min()} .. {checked.max()}"
            )
        if not peek and np.unique(checked).shape[0] != checked.shape[0]:
            raise FeatureError("an update takes one bar per row; a row repeats in rows")
        return checked

    def _grow(self, capacity: int) -> None:
        used = len(self._rows)
        for layer in self._layers:
            layer.grow(capacity, used)
        values = np.full((capacity, len(self._outputs)), math.nan)
        values[:used] = self._values[:used]
        self._values = values
        self._capacity = capacity


def _series(inputs: Mapping[str, npt.ArrayLike], name: str, n: int) -> npt.NDArray[np.float64]:
    """Input ``name`` as a contiguous float64 array of shape (n,); all NaN when absent."""
    given = inputs.get(name)
    if given is None:
        return np.full(n, math.nan)
    series = np.ascontiguousarray(given, dtype=np.float64)
    if series.shape != (n,):
        raise FeatureError(
            f"input {name!r} must have shape ({n},), one per row; got {series.shape}"
        )
    return series


@functools.cache
def _driver(
    step: Callable[..., object], n_params: int, n_arrays: int, n_inputs: int, n_outputs: int
) -> Driver:
    """The compiled loop of ``step`` over rows: ``driver(*params, *matrices, *scratch, *inputs,
    rows, out, columns, commit)`` steps row ``rows[k]`` of every matrix with ``inputs[j][k]``,
    in place when ``commit``, else on a copy in ``scratch`` (one vector per matrix; zeros for
    ``FRESH``), and writes output ``i`` to ``out[k, columns[i]]``. Memoised: one compilation
    per step function and arity."""
    source = _driver_source(n_params, n_arrays, n_inputs, n_outputs)
    namespace: dict[str, object] = {"copy_row": _copy_row, "step": step}
    exec(compile(source, f"<stacked driver of {step}>", "exec"), namespace)
    drive = cast(Driver, namespace["drive"])
    return njit(error_model="numpy")(drive)


def _driver_source(n_params: int, n_arrays: int, n_inputs: int, n_outputs: int) -> str:
    params = [f"p{i}" for i in range(n_params)]
    arrays = [f"a{i}" for i in range(n_arrays)]
    scratch = [f"s{i}" for i in range(n_arrays)]
    inputs = [f"x{i}" for i in range(n_inputs)]
    values = [f"{x}[k]" for x in inputs]
    in_place = ", ".join([*params, *(f"{a}[r]" for a in arrays), *values])
    on_copy = ", ".join([*params, *scratch, *values])
    arguments = ", ".join([*params, *arrays, *scratch, *inputs, "rows", "out", "columns", "commit"])
    lines = [
        f"def drive({arguments}):",
        "    for k in range(rows.shape[0]):",
        "        r = rows[k]",
        "        if commit:",
        f"            result = step({in_place})",
        "        else:",
        *(f"            copy_row({a}, r, {s})" for a, s in zip(arrays, scratch, strict=True)),
        f"            result = step({on_copy})",
    ]
    if n_outputs == 1:
        lines.append("        out[k, columns[0]] = result")
    else:
        lines += [f"        out[k, columns[{i}]] = result[{i}]" for i in range(n_outputs)]
    return "\n".join(lines) + "\n"


@njit(cache=True, error_model="numpy")
def _copy_row(matrix: npt.NDArray[np.float64], row: int, out: npt.NDArray[np.float64]) -> None:
    """``matrix[row]`` into ``out``, or zeros for ``FRESH`` (any negative row). A loop, as a
    slice assignment costs every driver's compilation a second more."""
    if row < 0:
        for j in range(out.shape[0]):
            out[j] = 0.0
    else:
        for j in range(out.shape[0]):
            out[j] = matrix[row, j]
