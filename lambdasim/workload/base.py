"""The contract between arrival sources and the model.

A source yields `ArrivalChunk`s: blocks of arrivals sorted by time, at most a few tens
of thousands of rows each, so that a trace of millions of invocations never sits in
memory as Python objects. Times are seconds from the start of the run.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

CHUNK_ROWS = 65_536


class InvocationType(enum.IntEnum):
    """How Lambda is invoked, which decides what a throttle does to the request."""

    SYNC = 0
    ASYNC = 1
    POLL = 2


@dataclass(frozen=True)
class ArrivalChunk:
    """A block of arrivals, sorted by `time_s` (ties keep their order).

    Attributes:
        time_s: Arrival times in seconds from the start of the run, non-decreasing.
        function_index: Index of the target function for each arrival (int32).
        duration_s: Handler duration per arrival when the trace gives it (seconds),
            else None and the model samples the function's duration model.
        invocation_type: `InvocationType` value per arrival (int8), or None for
            synchronous calls.
    """

    time_s: npt.NDArray[np.float64]
    function_index: npt.NDArray[np.int32]
    duration_s: npt.NDArray[np.float64] | None = None
    invocation_type: npt.NDArray[np.int8] | None = None

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


class ArrivalSource(Protocol):
    """Anything that can produce arrival chunks for a run of `horizon_s` seconds."""

    def chunks(
        self, horizon_s: float, rng: np.random.Generator
    ) -> Iterator[ArrivalChunk]:
        """Yield chunks with arrival times in [0, horizon_s), in time order."""
        ...
