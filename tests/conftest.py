"""Shared fixtures: a fixed-seed rng and a tiny builder of model runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from lambdasim.distributions import ConstantSpec, Sampler
from lambdasim.model import AccountConfig, FunctionConfig, Simulation
from lambdasim.results import RunRecords
from lambdasim.workload.base import ArrivalChunk

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261203)


def constant(value_s: float) -> Sampler:
    return ConstantSpec(value=value_s).sampler()


def function(
    name: str = "fn",
    *,
    duration_s: float | Sampler = 1.0,
    init_s: float = 0.0,
    overhead_s: float = 0.0,
    keep_alive_s: float = 600.0,
    timeout_s: float = 900.0,
    reserved: int | None = None,
    max_lifetime: Sampler | None = None,
    memory_mb: int = 1024,
) -> FunctionConfig:
    """A function with constant durations unless a sampler is given."""
    duration = duration_s if isinstance(duration_s, Sampler) else constant(duration_s)
    return FunctionConfig(
        name=name,
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        duration=duration,
        init=constant(init_s),
        platform_overhead=constant(overhead_s),
        keep_alive=constant(keep_alive_s),
        max_lifetime=max_lifetime,
        reserved_concurrency=reserved,
    )


def arrivals(
    times_s: Sequence[float], function_index: int | Sequence[int] = 0
) -> list[ArrivalChunk]:
    times = np.asarray(times_s, dtype=np.float64)
    if isinstance(function_index, int):
        indices = np.full(times.shape, function_index, dtype=np.int32)
    else:
        indices = np.asarray(function_index, dtype=np.int32)
    return [ArrivalChunk(times, indices)]


def run_model(
    functions: Sequence[FunctionConfig],
    chunks: list[ArrivalChunk] | object,
    *,
    horizon_s: float,
    account: AccountConfig | None = None,
    seed: int = 1,
    observer: object = None,
) -> RunRecords:
    simulation = Simulation(
        account or AccountConfig(scale_up=None),
        functions,
        seed=seed,
        horizon_s=horizon_s,
        observer=observer,  # type: ignore[arg-type]
    )
    simulation.add_arrivals(chunks)  # type: ignore[arg-type]
    return simulation.run()
