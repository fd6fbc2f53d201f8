"""Asynchronous invocations: Lambda's internal queue and its retries."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lambdasim.model import AccountConfig, Simulation
from lambdasim.report.summary import summarise
from lambdasim.results import Status
from lambdasim.workload.base import ArrivalChunk, InvocationType
from tests.conftest import function


def run_async(functions, times, horizon_s, kinds=None):
    times = np.asarray(times, dtype=float)
    kinds = np.full(times.shape, InvocationType.ASYNC) if kinds is None else kinds
    chunk = ArrivalChunk(
        times,
        np.zeros(times.shape, dtype=np.int32),
        None,
        np.asarray(kinds, dtype=np.int8),
    )
    simulation = Simulation(
        AccountConfig(scale_up=None), functions, seed=1, horizon_s=horizon_s
    )
    simulation.add_arrivals([chunk])
    records = simulation.run()
    summary = summarise(records, scenario="t", seed=1, scenario_sha256="", version="")
    return records, summary


def check_throttle_gaps(arrivals_s):
    """Gap k (1-based) between attempts lies in [I/2, I], I = min(2**(k-1), 300) s."""
    gaps = np.diff(arrivals_s)
    intervals = np.minimum(2.0 ** np.arange(gaps.size), 300.0)
    assert np.all(gaps >= intervals / 2 - 1e-9), gaps
    assert np.all(gaps <= intervals + 1e-9), gaps


def test_throttled_event_retried_with_doubling_intervals_until_served():
    # Reserved 1 held 0..6 s by the first event; an event at 0.5 is throttled and
    # retried after waits within [0.5, 1], [1, 2], [2, 4] ... s until the slot is
    # free at 6 s; the attempt that is served is the first one at or after 6 s.
    fn = function(duration_s=6.0, reserved=1)
    records, summary = run_async([fn], [0.0, 0.5], horizon_s=10.0)
    inv = records.invocations
    attempts = inv["arrival_s"][1:]
    check_throttle_gaps(attempts)
    assert list(inv["request_id"]) == [0] + [1] * attempts.size
    assert list(inv["status"][1:-1]) == [Status.THROTTLED] * (attempts.size - 1)
    assert inv["status"][-1] == Status.OK
    assert attempts[-2] < 6.0 <= attempts[-1]
    # Ages of the attempts that ran: 0 s and (last - 0.5) s; p99 (linear) is 0.99 x.
    age_ms = (attempts[-1] - 0.5) * 1000.0
    assert summary["total"]["async_event_age_ms"]["p99"] == pytest.approx(0.99 * age_ms)
    # An async caller has no caller latency of its own (it got its 202 at once).
    assert summary["total"]["caller_latency_ms"]["max"] is None


def test_throttle_retries_stop_at_max_event_age_and_event_is_dropped():
    # Never served (a 1-hour call holds the only slot); max event age 60 s: retried
    # with doubling intervals, then dropped at exactly 60 s, to the on-failure
    # destination. The drop is not an attempt, so not a retry either.
    fn = replace(
        function(duration_s=3600.0, reserved=1, timeout_s=1e6), max_event_age_s=60.0
    )
    records, summary = run_async([fn], [0.0, 0.0], horizon_s=1.0)
    inv = records.invocations
    check_throttle_gaps(inv["arrival_s"][1:-1])
    assert inv["arrival_s"][-1] == 60.0
    assert inv["status"][-1] == Status.DROPPED
    total = summary["total"]
    assert total["dropped"] == 1
    assert total["retries"] == records.invocation_count - 2 - 1
    assert total["on_failure_destination"] == {
        "retries_exhausted": 0,
        "max_event_age": 1,
    }


def test_backoff_between_throttle_retries_capped_at_5_minutes():
    fn = replace(
        function(duration_s=21600.0, reserved=1, timeout_s=1e6),
        max_event_age_s=3000.0,
    )
    records, _ = run_async([fn], [0.0, 0.0], horizon_s=1.0)
    attempts = records.invocations["arrival_s"][1:-1]
    check_throttle_gaps(attempts)
    assert np.diff(attempts)[10:].min() >= 150.0  # capped intervals, half at least


def test_request_rate_throttle_of_async_event_not_queued():
    # Over the request-rate quota the Invoke call itself is refused: no retry.
    fn = function(duration_s=0.1)
    times = np.zeros(3)
    chunk = ArrivalChunk(
        times,
        np.zeros(3, dtype=np.int32),
        None,
        np.full(3, InvocationType.ASYNC, dtype=np.int8),
    )
    simulation = Simulation(
        AccountConfig(scale_up=None, request_rate_per_s=2.0),
        [fn],
        seed=1,
        horizon_s=1.0,
    )
    simulation.add_arrivals([chunk])
    records = simulation.run()
    assert records.invocation_count == 3
    assert list(records.invocations["status"]) == [
        Status.OK,
        Status.OK,
        Status.THROTTLED,
    ]


def test_function_error_retried_twice_1_then_2_minutes_after_failing():
    # Every attempt errors after (part of) 1 s: retries 60 s and then 120 s after
    # the failed attempts end; then the on-failure destination.
    fn = replace(function(duration_s=1.0), error_probability=1.0)
    records, summary = run_async([fn], [0.0], horizon_s=1.0)
    inv = records.invocations
    assert list(inv["status"]) == [Status.ERROR] * 3
    assert inv["arrival_s"][1] == pytest.approx(inv["end_s"][0] + 60.0)
    assert inv["arrival_s"][2] == pytest.approx(inv["end_s"][1] + 120.0)
    assert summary["total"]["on_failure_destination"]["retries_exhausted"] == 1
    assert summary["total"]["retries"] == 2


def test_error_retry_past_max_event_age_dropped_at_that_age():
    # Each attempt errors part way through its 5 s; max event age 100 s. The first
    # retry runs 60 s after the first attempt ends (before 65 s) and ends before
    # 70 s; the second would run 120 s after that, past 100 s, so the event is
    # dropped at 100 s, to the destination as too old (not as retries exhausted).
    fn = replace(
        function(duration_s=5.0, timeout_s=10.0),
        error_probability=1.0,
        max_event_age_s=100.0,
    )
    records, summary = run_async([fn], [0.0], horizon_s=1.0)
    inv = records.invocations
    assert list(inv["status"]) == [Status.ERROR, Status.ERROR, Status.DROPPED]
    assert inv["arrival_s"][1] == pytest.approx(inv["end_s"][0] + 60.0)
    assert inv["arrival_s"][2] == 100.0
    assert summary["total"]["on_failure_destination"] == {
        "retries_exhausted": 0,
        "max_event_age": 1,
    }


def test_max_retry_attempts_zero_sends_failed_event_straight_to_destination():
    fn = replace(function(duration_s=1.0), error_probability=1.0, max_retry_attempts=0)
    records, summary = run_async([fn], [0.0], horizon_s=1.0)
    assert records.invocation_count == 1
    assert summary["total"]["on_failure_destination"]["retries_exhausted"] == 1


def test_synchronous_throttle_not_retried_by_lambda():
    fn = function(duration_s=5.0, reserved=1)
    kinds = [InvocationType.SYNC, InvocationType.SYNC]
    records, _ = run_async([fn], [0.0, 1.0], horizon_s=10.0, kinds=kinds)
    assert records.invocation_count == 2


def test_async_queue_depth_counts_events_waiting_for_a_retry():
    # The throttled event waits in Lambda's queue from 0.5 s until its serving
    # retry: the depth integrates to exactly that wait over 1 s steps.
    from lambdasim.report.timeseries import timeseries

    fn = function(duration_s=6.0, reserved=1)
    records, _ = run_async([fn], [0.0, 0.5], horizon_s=20.0)
    served_s = records.invocations["arrival_s"][-1]
    frame = timeseries(records, 1.0, dense=True)
    depth = frame[frame["function"] == "total"]["async_queue_depth"].to_numpy()
    assert depth.sum() == pytest.approx(served_s - 0.5)
    assert depth.max() == pytest.approx(1.0)
    assert depth[0] == pytest.approx(0.5)


def test_throttle_backoff_after_an_error_retry_starts_again_at_one_second():
    # Reserved 1, timeout 5 s, handler 10 s: every attempt times out after 5 s.
    # Event A (async, t=0) times out at 5 and is retried at 5 + 60 = 65. A sync
    # invocation B at 64 holds the slot until 69, so A's retry is throttled: its
    # first throttle, so it comes back within [0.5, 1) s, i.e. in [65.5, 66). (Had
    # the backoff counted the error retry too, the wait would be in [1, 2) s.)
    fn = function(duration_s=10.0, timeout_s=5.0, reserved=1)
    kinds = [InvocationType.ASYNC, InvocationType.SYNC]
    records, _ = run_async([fn], [0.0, 64.0], horizon_s=200.0, kinds=kinds)
    inv = records.invocations
    attempts_of_a = inv["arrival_s"][inv["request_id"] == 0]
    assert attempts_of_a[:2].tolist() == [0.0, 65.0]
    assert inv["status"][inv["request_id"] == 0][1] == Status.THROTTLED
    assert 65.5 <= attempts_of_a[2] < 66.0
