"""Event-order tests: deterministic micro-scenarios with constant durations.

Each test lists the exact (t, event, id) sequence worked out by hand from the rules
in DESIGN.md section 2.
"""

from __future__ import annotations

import pytest

from lambdasim.model import AccountConfig
from lambdasim.results import ReapReason, Status, ThrottleReason
from tests.conftest import arrivals, constant, function, run_model


def trace_of(functions, times, *, horizon_s, account=None, indices=0):
    events: list[tuple[float, str, int]] = []

    def observe(t: float, event: str, entity: int) -> None:
        events.append((round(t, 9), event, entity))

    records = run_model(
        functions,
        arrivals(times, indices),
        horizon_s=horizon_s,
        account=account,
        observer=observe,
    )
    return events, records


def test_lifecycle_cold_warm_reap_then_cold_again():
    # overhead 0.1 + init 0.2 + handler 1.0: the cold start ends at 1.3. The warm
    # start at 5 ends at 6; keep-alive 10 s reaps at 16; the arrival at 20 is cold
    # on a new instance (id 1), which ends at 21.3 and is reaped at 31.3.
    fn = function(duration_s=1.0, init_s=0.2, overhead_s=0.1, keep_alive_s=10.0)
    events, records = trace_of([fn], [0.0, 5.0, 20.0], horizon_s=40.0)
    assert events == [
        (0.0, "cold_start", 0),
        (1.3, "end", 0),
        (5.0, "warm_start", 0),
        (6.0, "end", 0),
        (16.0, "reaped", 0),
        (20.0, "cold_start", 1),
        (21.3, "end", 1),
        (31.3, "reaped", 1),
    ]
    assert list(records.invocations["is_cold"]) == [1, 0, 1]
    assert list(records.instances["reap_reason"]) == [ReapReason.KEEP_ALIVE] * 2


def test_timeout_resets_instance_next_invocation_reinitialises():
    # Handler 5 s against a 2 s timeout: ends at 0.5 + 2 = 2.5 as a timeout; the
    # instance survives but the next invocation on it (t=3) runs INIT again inside
    # its invoke phase, so the 0.5 s re-init counts against its 2 s: it times out
    # at 3 + 2 = 5.0, its Duration 2 s and no INIT phase of its own.
    fn = function(duration_s=5.0, init_s=0.5, timeout_s=2.0, keep_alive_s=100.0)
    events, records = trace_of([fn], [0.0, 3.0], horizon_s=110.0)
    assert events == [
        (0.0, "cold_start", 0),
        (2.5, "end", 0),
        (3.0, "cold_start", 0),
        (5.0, "end", 0),
        (105.0, "reaped", 0),
    ]
    assert list(records.invocations["status"]) == [Status.TIMEOUT, Status.TIMEOUT]
    assert list(records.invocations["duration_s"]) == [2.0, 2.0]
    assert list(records.invocations["init_s"]) == [0.5, 0.0]
    assert list(records.invocations["is_cold"]) == [1, 1]


def test_reserved_concurrency_one_second_simultaneous_call_throttled():
    fn = function(duration_s=1.0, reserved=1)
    events, records = trace_of(
        [fn], [0.0, 0.0, 0.5, 1.0], horizon_s=5.0, account=AccountConfig(scale_up=None)
    )
    # t=0 two calls: one cold start, one 429; t=0.5 still busy: 429; t=1.0 the first
    # has ended (completions scheduled earlier run first at equal times): warm start.
    assert events[:5] == [
        (0.0, "cold_start", 0),
        (0.0, "throttle", 0),
        (0.5, "throttle", 0),
        (1.0, "end", 0),
        (1.0, "warm_start", 0),
    ]
    assert list(records.invocations["throttle_reason"]) == [
        0,
        ThrottleReason.RESERVED_CONCURRENCY,
        ThrottleReason.RESERVED_CONCURRENCY,
        0,
    ]


def test_account_limit_throttles_unreserved_function_while_reserved_one_runs():
    # Limit 3, function a reserves 1, so b may use 2. Three calls to b at t=0: the
    # third is throttled for the account; a's call still runs on its reservation.
    account = AccountConfig(concurrency_limit=3, unreserved_minimum=0, scale_up=None)
    a = function("a", reserved=1)
    b = function("b")
    events, records = trace_of(
        [a, b],
        [0.0, 0.0, 0.0, 0.0],
        horizon_s=5.0,
        account=account,
        indices=[1, 1, 1, 0],
    )
    assert list(records.invocations["status"]) == [
        Status.OK,
        Status.OK,
        Status.THROTTLED,
        Status.OK,
    ]
    assert (
        records.invocations["throttle_reason"][2] == ThrottleReason.ACCOUNT_CONCURRENCY
    )


def test_keep_alive_zero_every_invocation_cold():
    fn = function(duration_s=0.1, keep_alive_s=0.0)
    events, records = trace_of([fn], [0.0, 1.0, 2.0], horizon_s=3.0)
    assert [e for e in events if e[1] != "end"] == [
        (0.0, "cold_start", 0),
        (0.1, "reaped", 0),
        (1.0, "cold_start", 1),
        (1.1, "reaped", 1),
        (2.0, "cold_start", 2),
        (2.1, "reaped", 2),
    ]


def test_max_lifetime_retires_busy_instance_after_its_invocation():
    # Lifetime 2 s: the instance is busy 0..3, so it is retired when that ends; the
    # call at 4 is a cold start on a new instance.
    fn = function(duration_s=3.0, max_lifetime=constant(2.0))
    events, records = trace_of([fn], [0.0, 4.0], horizon_s=5.0)
    assert events[:4] == [
        (0.0, "cold_start", 0),
        (3.0, "end", 0),
        (3.0, "reaped", 0),
        (4.0, "cold_start", 1),
    ]
    assert records.instances["reap_reason"][0] == ReapReason.MAX_LIFETIME


def test_max_lifetime_retires_idle_instance_at_its_age():
    fn = function(duration_s=1.0, keep_alive_s=100.0, max_lifetime=constant(5.0))
    events, _ = trace_of([fn], [0.0], horizon_s=6.0)
    assert events == [(0.0, "cold_start", 0), (1.0, "end", 0), (5.0, "reaped", 0)]


@pytest.mark.parametrize(
    ("policy", "expected_instance"),
    [("mru", 1), ("lru", 0), ("newest", 1)],
)
def test_dispatch_policy_picks_expected_idle_instance(policy, expected_instance):
    # Instance 0 serves 0..1, instance 1 serves 0.5..2 (created later and idle
    # later). At t=3 both are idle: MRU and newest pick 1, LRU picks 0.
    from dataclasses import replace

    from lambdasim.model import DispatchPolicy

    fn = replace(
        function(duration_s=1.0),
        dispatch=DispatchPolicy(policy),
        duration=constant(1.0),
    )
    fn0 = replace(fn, duration=_sequence([1.0, 1.5, 1.0]))
    _, records = trace_of([fn0], [0.0, 0.5, 3.0], horizon_s=5.0)
    assert records.invocations["instance_id"][2] == expected_instance


def _sequence(values):
    import numpy as np

    from lambdasim.distributions import Sampler

    def draw(rng, n):
        repeated = np.resize(np.asarray(values, dtype=float), n)
        return repeated

    return Sampler(draw, "sequence")


def test_instance_alive_at_end_recorded_alive_without_reap_time():
    fn = function(duration_s=1.0, keep_alive_s=100.0)
    events, records = trace_of([fn], [0.0], horizon_s=6.0)
    assert events == [(0.0, "cold_start", 0), (1.0, "end", 0)]
    assert records.instances["reap_reason"][0] == ReapReason.ALIVE
    assert records.instances["reaped_s"][0] != records.instances["reaped_s"][0]


def test_arrivals_at_or_after_horizon_ignored_in_flight_runs_to_end():
    fn = function(duration_s=10.0)
    _, records = trace_of([fn], [0.0, 4.9, 5.0, 6.0], horizon_s=5.0)
    assert records.invocation_count == 2
    assert records.invocations["end_s"].max() == pytest.approx(14.9)


def test_end_at_arrival_instant_runs_first_whatever_the_sources():
    # An invocation ending at t=5 frees its instance for an arrival at t=5, whether
    # the arrivals come from one source or two (scheduling history must not matter).
    fn = function(duration_s=5.0, reserved=1)
    one = run_model([fn], arrivals([0.0, 5.0]), horizon_s=10.0)
    two = run_model([fn], arrivals([0.0]) + arrivals([5.0]), horizon_s=10.0)
    for records in (one, two):
        assert list(records.invocations["status"]) == [Status.OK, Status.OK]
        assert list(records.invocations["instance_id"]) == [0, 0]


def test_keep_alive_expiring_at_arrival_instant_reaps_first():
    # Idle from 1.0 with keep-alive 1 s: reaped at 2.0, so the arrival at 2.0 is a
    # cold start, with or without an unrelated arrival of another function between.
    f = function("f", duration_s=1.0, keep_alive_s=1.0)
    g = function("g", duration_s=1.0, keep_alive_s=1.0)
    alone = run_model([f, g], arrivals([0.0, 2.0], [0, 0]), horizon_s=5.0)
    mixed = run_model([f, g], arrivals([0.0, 1.5, 2.0], [0, 1, 0]), horizon_s=5.0)
    assert list(alone.invocations["is_cold"]) == [1, 1]
    assert list(mixed.invocations["is_cold"]) == [1, 1, 1]


def test_init_over_limit_fails_at_10_s_and_reruns_inside_invoke():
    # INIT takes 12 s against the 10 s limit: the INIT phase fails at 10 s, INIT runs
    # again inside the invoke phase (12 s) and the handler (1 s) follows: the call
    # ends at 10 + 12 + 1 = 23 s, ok, with Init Duration 10 s and Duration 13 s.
    fn = function(duration_s=1.0, init_s=12.0, timeout_s=30.0)
    events, records = trace_of([fn], [0.0], horizon_s=1.0)
    assert events == [(0.0, "cold_start", 0), (23.0, "end", 0)]
    inv = records.invocations
    assert (inv["init_s"][0], inv["duration_s"][0], inv["status"][0]) == (
        10.0,
        13.0,
        Status.OK,
    )
    # The instance became ready when the second INIT finished: 10 + 12 s.
    assert records.instances["ready_s"][0] == 22.0


def test_init_over_limit_and_over_timeout_is_init_error_and_instance_discarded():
    # INIT 15 s, timeout 5 s: the INIT phase fails at 10 s, the re-run inside the
    # invoke is stopped by the 5 s timeout: init_error at 15 s; the environment is
    # not reused, so the next call at 20 s starts a new instance.
    fn = function(duration_s=1.0, init_s=15.0, timeout_s=5.0)
    events, records = trace_of([fn], [0.0, 20.0], horizon_s=40.0)
    assert events[:4] == [
        (0.0, "cold_start", 0),
        (15.0, "end", 0),
        (15.0, "reaped", 0),
        (20.0, "cold_start", 1),
    ]
    assert list(records.invocations["status"]) == [Status.INIT_ERROR] * 2
    assert records.instances["reap_reason"][0] == ReapReason.INIT_FAILED


def test_error_probability_one_fails_part_way_and_keeps_instance_warm():
    from dataclasses import replace

    fn = replace(function(duration_s=2.0), error_probability=1.0)
    _, records = trace_of([fn], [0.0, 10.0], horizon_s=20.0)
    inv = records.invocations
    assert list(inv["status"]) == [Status.ERROR, Status.ERROR]
    assert list(inv["is_cold"]) == [1, 0]  # the instance survived the error
    assert all(0.0 <= d <= 2.0 for d in inv["duration_s"])


def test_crash_resets_instance_next_invocation_reinitialises():
    from dataclasses import replace

    fn = replace(function(duration_s=2.0, init_s=0.5), crash_probability=1.0)
    _, records = trace_of([fn], [0.0, 10.0], horizon_s=20.0)
    inv = records.invocations
    assert list(inv["status"]) == [Status.ERROR, Status.ERROR]
    assert list(inv["instance_id"]) == [0, 0]
    assert list(inv["is_cold"]) == [1, 1]  # re-initialised after the crash
    assert inv["init_s"][1] == 0.0  # ... inside its invoke phase
