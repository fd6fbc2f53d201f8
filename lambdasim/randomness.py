"""Random streams with a stable mapping from (function, purpose) to a seed.

Each random element of a run draws from its own `numpy.random.Generator`, spawned from
the run's root seed and a key derived from the function name and the purpose. The key
does not depend on the order of functions in the scenario, so two scenarios that
differ in one setting (or in one extra function) see the same arrivals, durations and
keep-alives for the functions they share: common random numbers.
"""

from __future__ import annotations

import enum
import zlib

import numpy as np


class Purpose(enum.IntEnum):
    """What a random stream is used for; values are part of the stable key."""

    ARRIVALS = 1
    DURATION = 2
    INIT = 3
    PLATFORM_OVERHEAD = 4
    KEEP_ALIVE = 5
    LIFETIME = 6
    DISPATCH = 7
    ERRORS = 8
    RETRIES = 9
    PROVISIONED = 10
    QUERIES = 11
    PINNING = 12


def stable_key(name: str) -> int:
    """Return a 32-bit key for `name` that is the same in every Python process.

    >>> stable_key("api") == stable_key("api")
    True
    """
    return zlib.crc32(name.encode("utf-8"))


def stream(root_seed: int, name: str, purpose: Purpose) -> np.random.Generator:
    """Return the generator for one named element (function or source) and purpose."""
    sequence = np.random.SeedSequence(
        entropy=root_seed, spawn_key=(stable_key(name), int(purpose))
    )
    return np.random.Generator(np.random.PCG64(sequence))
