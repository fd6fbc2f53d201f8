"""Invariants and metamorphic relations over small random scenarios (hypothesis).

Invariants hold for every run; metamorphic relations compare two runs that share
their random numbers (same seed, same arrivals) and differ in one setting.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdasim.distributions import ExponentialSpec
from lambdasim.model import AccountConfig, ScaleUpRule
from lambdasim.report.summary import summarise
from lambdasim.results import Status
from tests.conftest import arrivals, constant, function, run_model

_FAST = settings(max_examples=60, deadline=None)


@st.composite
def small_runs(draw):
    n_functions = draw(st.integers(1, 3))
    limit = draw(st.integers(1, 8))
    reserved = [
        draw(st.one_of(st.none(), st.integers(0, 2))) for _ in range(n_functions)
    ]
    while sum(r or 0 for r in reserved) > limit:
        reserved[reserved.index(max(reserved, key=lambda r: r or 0))] = None
    functions = [
        function(
            f"f{i}",
            duration_s=ExponentialSpec(mean=draw(st.floats(0.1, 3.0))).sampler(),
            init_s=draw(st.sampled_from([0.0, 0.2, 1.0])),
            overhead_s=draw(st.sampled_from([0.0, 0.1])),
            keep_alive_s=draw(st.sampled_from([0.0, 1.0, 5.0, 50.0])),
            timeout_s=draw(st.sampled_from([1.0, 900.0])),
            reserved=reserved[i],
        )
        for i in range(n_functions)
    ]
    times = sorted(draw(st.lists(st.floats(0.0, 30.0), min_size=1, max_size=60)))
    targets = [draw(st.integers(0, n_functions - 1)) for _ in times]
    burst = draw(st.sampled_from([None, 2.0, 1000.0]))
    account = AccountConfig(
        concurrency_limit=limit,
        unreserved_minimum=0,
        scale_up=ScaleUpRule(burst=burst, refill_per_s=1.0) if burst else None,
    )
    return functions, times, targets, account


def _run(functions, times, targets, account, observer=None):
    return run_model(
        functions,
        arrivals(times, targets),
        horizon_s=31.0,
        account=account,
        observer=observer,
    )


@_FAST
@given(small_runs())
def test_invariants_hold_for_small_random_scenarios(run):
    functions, times, targets, account = run
    clock: list[float] = []
    records = _run(
        functions,
        times,
        targets,
        account,
        observer=lambda t, event, entity: clock.append(t),
    )
    inv, ins = records.invocations, records.instances
    status = inv["status"]
    ran = status != Status.THROTTLED

    # Every arrival is accounted for: it ran to an end or was throttled.
    assert records.invocation_count == len(times)
    assert np.count_nonzero(ran) + np.count_nonzero(~ran) == len(times)
    # No negative waits; the clock never goes backwards.
    assert np.all(inv["start_s"] >= inv["arrival_s"])
    assert np.all(inv["end_s"] >= inv["start_s"])
    assert all(a <= b for a, b in zip(clock, clock[1:], strict=False))
    # Cold starts: at most one per instance created, plus one per timeout reset.
    timeouts = np.count_nonzero(status == Status.TIMEOUT)
    assert np.count_nonzero(inv["is_cold"]) <= len(ins["instance_id"]) + timeouts
    # An instance serves one invocation at a time.
    for instance_id in np.unique(inv["instance_id"][ran]):
        rows = np.flatnonzero(inv["instance_id"] == instance_id)
        starts, ends = inv["arrival_s"][rows], inv["end_s"][rows]
        assert np.all(starts[1:] >= ends[:-1] - 1e-9)
    # Concurrency never exceeds the account limit, nor a reservation.
    summary = summarise(records, scenario="t", seed=1, scenario_sha256="", version="")
    assert summary["total"]["max_concurrency"] <= account.concurrency_limit
    for config in functions:
        if config.reserved_concurrency is not None:
            peak = summary["functions"][config.name]["max_concurrency"]
            assert peak <= config.reserved_concurrency


@st.composite
def unlimited_runs(draw):
    times = sorted(draw(st.lists(st.floats(0.0, 60.0), min_size=1, max_size=80)))
    mean_s = draw(st.floats(0.1, 5.0))
    init_s = draw(st.sampled_from([0.0, 0.5, 2.0]))
    return times, mean_s, init_s


@_FAST
@given(unlimited_runs(), st.floats(0.0, 20.0), st.floats(0.0, 20.0))
def test_longer_keep_alive_never_raises_cold_starts(run, keep_a, keep_b):
    times, mean_s, init_s = run
    short_s, long_s = sorted((keep_a, keep_b))
    account = AccountConfig(concurrency_limit=10_000, scale_up=None)
    base = function(duration_s=ExponentialSpec(mean=mean_s).sampler(), init_s=init_s)
    cold = []
    for keep_alive_s in (short_s, long_s):
        fn = replace(base, keep_alive=constant(keep_alive_s))
        records = _run([fn], times, [0] * len(times), account)
        cold.append(int(records.invocations["is_cold"].sum()))
    assert cold[1] <= cold[0]


@_FAST
@given(unlimited_runs(), st.integers(1, 6), st.integers(1, 6))
def test_higher_concurrency_limit_never_raises_throttles(run, limit_a, limit_b):
    times, mean_s, _ = run
    low, high = sorted((limit_a, limit_b))
    fn = function(duration_s=ExponentialSpec(mean=mean_s).sampler(), keep_alive_s=1e6)
    throttles = []
    for limit in (low, high):
        account = AccountConfig(
            concurrency_limit=limit, unreserved_minimum=0, scale_up=None
        )
        records = _run([fn], times, [0] * len(times), account)
        throttles.append(int((records.invocations["status"] == Status.THROTTLED).sum()))
    assert throttles[1] <= throttles[0]
