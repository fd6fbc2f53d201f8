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


def test_throttled_event_retried_after_1_2_4_s_until_served():
    # Reserved 1 held 0..6 s by the first event; an event at 0.5 is throttled and
    # retried at 1.5, 3.5, 7.5 (waits of 1, 2, 4 s): served at 7.5.
    fn = function(duration_s=6.0, reserved=1)
    records, summary = run_async([fn], [0.0, 0.5], horizon_s=10.0)
    inv = records.invocations
    assert list(inv["arrival_s"]) == [0.0, 0.5, 1.5, 3.5, 7.5]
    assert list(inv["status"]) == [Status.OK] + [Status.THROTTLED] * 3 + [Status.OK]
    assert list(inv["request_id"]) == [0, 1, 1, 1, 1]
    # Ages of the attempts that ran: 0 s and 7 s; their p99 (linear) is 0.99 x 7 s.
    assert summary["total"]["async_event_age_ms"]["p99"] == pytest.approx(6930.0)


def test_throttle_retries_stop_at_max_event_age_and_event_is_dropped():
    # Never served (a 1-hour call holds the only slot); max event age 60 s: retries
    # at +1, +3, +7, +15, +31 s, then the next (+63 s) would be too old: dropped
    # at 60 s, to the on-failure destination.
    fn = replace(
        function(duration_s=3600.0, reserved=1, timeout_s=1e6), max_event_age_s=60.0
    )
    records, summary = run_async([fn], [0.0, 0.0], horizon_s=1.0)
    inv = records.invocations
    assert list(inv["arrival_s"][1:]) == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 60.0]
    assert inv["status"][-1] == Status.DROPPED
    total = summary["total"]
    assert total["dropped"] == 1
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
    gaps = np.diff(records.invocations["arrival_s"][1:])
    assert gaps.max() == pytest.approx(300.0)
    assert list(gaps[:9]) == [1, 2, 4, 8, 16, 32, 64, 128, 256]


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
    # The throttled event waits in Lambda's queue from 0.5 s to its serving retry at
    # 7.5 s: a depth of 1 then, half of step [0, 1), all of steps 1..6, half of 7.
    from lambdasim.report.timeseries import timeseries

    fn = function(duration_s=6.0, reserved=1)
    records, _ = run_async([fn], [0.0, 0.5], horizon_s=10.0)
    frame = timeseries(records, 1.0, dense=True)
    depth = frame[frame["function"] == "total"]["async_queue_depth"].tolist()
    assert depth == pytest.approx([0.5, 1, 1, 1, 1, 1, 1, 0.5, 0, 0])
