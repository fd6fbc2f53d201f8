"""Arrival sources: synthetic processes and trace readers.

Sources yield `ArrivalChunk`s (see `lambdasim.workload.base`). Only the contract and
the synthetic sources are re-exported here, so that the model, which imports
`lambdasim.workload.base`, does not pull in pyarrow. Import the trace readers from
their modules: `lambdasim.workload.replay` and `lambdasim.workload.azure`.
"""

from lambdasim.workload.base import (
    CHUNK_ROWS,
    ArrivalChunk,
    ArrivalSource,
    InvocationType,
)
from lambdasim.workload.synthetic import (
    BurstSource,
    PiecewiseRateSource,
    PoissonSource,
    RateShape,
    SineRateSource,
)

__all__ = [
    "CHUNK_ROWS",
    "ArrivalChunk",
    "ArrivalSource",
    "BurstSource",
    "InvocationType",
    "PiecewiseRateSource",
    "PoissonSource",
    "RateShape",
    "SineRateSource",
]
