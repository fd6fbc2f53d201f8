"""Helpers shared by the arrival sources: chunk splitting and parameter checks."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from lambdasim.errors import ScenarioError
from lambdasim.workload.base import CHUNK_ROWS, ArrivalChunk, InvocationType

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]


def split_chunks(
    time_s: FloatArray,
    function_index: IntArray,
    duration_s: FloatArray | None = None,
    invocation_type: npt.NDArray[np.int8] | None = None,
) -> Iterator[ArrivalChunk]:
    """Yield time-sorted arrays as chunks of at most `CHUNK_ROWS` rows.

    The slices are views: no arrival data is copied.
    """
    for start in range(0, int(time_s.shape[0]), CHUNK_ROWS):
        stop = start + CHUNK_ROWS
        yield ArrivalChunk(
            time_s=time_s[start:stop],
            function_index=function_index[start:stop],
            duration_s=None if duration_s is None else duration_s[start:stop],
            invocation_type=(
                None if invocation_type is None else invocation_type[start:stop]
            ),
        )


def single_function_chunks(
    time_s: FloatArray, function_index: int, invocation_type: InvocationType
) -> Iterator[ArrivalChunk]:
    """Yield chunks for arrivals that all target one function with one type.

    Synchronous arrivals leave `invocation_type` as None, as the contract allows.
    """
    count = int(time_s.shape[0])
    functions = np.full(count, function_index, dtype=np.int32)
    types = None
    if invocation_type is not InvocationType.SYNC:
        types = np.full(count, int(invocation_type), dtype=np.int8)
    yield from split_chunks(time_s, functions, None, types)


def check_function_index(owner: str, function_index: int) -> None:
    """Raise `ScenarioError` unless `function_index` is a non-negative integer."""
    if isinstance(function_index, bool) or not isinstance(function_index, int):
        raise ScenarioError(
            f"{owner}: function_index is {function_index!r}; "
            "expected a non-negative integer"
        )
    if function_index < 0:
        raise ScenarioError(
            f"{owner}: function_index is {function_index}; "
            "expected a non-negative integer"
        )


def check_non_negative(owner: str, name: str, value: float) -> float:
    """Return `value` as a float, or raise `ScenarioError` if not finite and >= 0."""
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ScenarioError(
            f"{owner}: {name} is {value!r}; expected a finite number >= 0"
        )
    return number


def check_horizon(horizon_s: float) -> float:
    """Return the horizon as a float, or raise `ValueError` if it is negative.

    A bad horizon is a caller bug, not user input, hence the plain `ValueError`.
    """
    horizon = float(horizon_s)
    if math.isnan(horizon) or horizon < 0:
        raise ValueError(f"horizon_s is {horizon_s!r}; expected a number >= 0")
    return horizon
