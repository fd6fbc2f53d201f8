"""Synchronous callers that retry throttles, and callers that stop waiting."""

from __future__ import annotations

import numpy as np
import pytest

from lambdasim.model import AccountConfig, ClientPolicy, Simulation
from lambdasim.report.summary import summarise
from lambdasim.results import Status
from tests.conftest import arrivals, function


def run(functions, sources, horizon_s):
    """sources: list of (times, client policy or None)."""
    simulation = Simulation(
        AccountConfig(scale_up=None), functions, seed=1, horizon_s=horizon_s
    )
    for number, (times, client) in enumerate(sources):
        simulation.add_arrivals(arrivals(times), client, name=f"s{number}")
    records = simulation.run()
    summary = summarise(records, scenario="t", seed=1, scenario_sha256="", version="")
    return records, summary


def test_throttled_request_retried_with_exponential_backoff_until_served():
    # Reserved concurrency 1; a 5 s call holds it from t=0. A request at t=1 from a
    # caller with 4 attempts and no jitter: 429 at 1, retry after 1 s (t=2, 429),
    # after 2 s (t=4, 429), after 4 s (t=8): served, ending at 8 + 5 = 13.
    fn = function(duration_s=5.0, reserved=1)
    policy = ClientPolicy(max_attempts=4, base_delay_s=1.0, has_jitter=False)
    records, summary = run([fn], [([0.0], None), ([1.0], policy)], horizon_s=5.0)
    inv = records.invocations
    assert list(inv["arrival_s"]) == [0.0, 1.0, 2.0, 4.0, 8.0]
    assert list(inv["status"]) == [Status.OK] + [Status.THROTTLED] * 3 + [Status.OK]
    assert list(inv["request_id"]) == [0, 1, 1, 1, 1]
    assert list(inv["attempt"]) == [1, 1, 2, 3, 4]
    total = summary["total"]
    assert (total["invocations"], total["requests"], total["retries"]) == (5, 2, 3)
    assert total["failed_requests"] == 0
    # Caller latencies: 5 s for the first request, 13 - 1 = 12 s for the second.
    assert total["caller_latency_ms"]["max"] == pytest.approx(12_000.0)
    assert total["caller_latency_ms"]["p50"] == pytest.approx(8_500.0)


def test_request_throttled_on_every_attempt_fails_after_max_attempts():
    fn = function(duration_s=100.0, reserved=1)
    policy = ClientPolicy(max_attempts=3, base_delay_s=1.0, has_jitter=False)
    records, summary = run([fn], [([0.0], None), ([1.0], policy)], horizon_s=5.0)
    # Attempts at 1, 2 and 4; the caller gets its last 429 at 4: 3 s after asking.
    assert list(records.invocations["arrival_s"]) == [0.0, 1.0, 2.0, 4.0]
    total = summary["total"]
    assert total["failed_requests"] == 1
    assert total["caller_latency_ms"]["max"] == pytest.approx(100_000.0)
    assert summary["total"]["retries"] == 2


def test_backoff_capped_at_max_delay_and_full_jitter_below_it():
    policy = ClientPolicy(max_attempts=10, base_delay_s=1.0, max_delay_s=20.0)
    assert policy.backoff_s(8, draw=0.999) == pytest.approx(19.98)  # 2**7 capped at 20
    assert policy.backoff_s(1, draw=0.25) == pytest.approx(0.25)


def test_upstream_timeout_ends_caller_wait_while_function_runs_and_is_billed():
    # API Gateway waits 29 s; the function runs 40 s. The caller sees 29 s and a
    # failure; the invocation itself ends ok at 40 s (it is billed for all of it).
    fn = function(duration_s=40.0)
    gateway = ClientPolicy(max_attempts=1, upstream_timeout_s=29.0)
    records, summary = run([fn], [([0.0], gateway)], horizon_s=1.0)
    assert records.invocations["status"][0] == Status.OK
    assert records.invocations["end_s"][0] == pytest.approx(40.0)
    total = summary["total"]
    assert (total["upstream_timeouts"], total["failed_requests"]) == (1, 1)
    assert total["caller_latency_ms"]["max"] == pytest.approx(29_000.0)
    assert total["latency_ms"]["max"] == pytest.approx(40_000.0)


def test_callers_without_policy_every_invocation_is_its_own_request():
    fn = function(duration_s=1.0, reserved=1)
    records, summary = run([fn], [([0.0, 0.5, 2.0], None)], horizon_s=5.0)
    total = summary["total"]
    assert total["requests"] == total["invocations"] == 3
    assert total["retries"] == 0
    assert total["failed_requests"] == 1  # the throttled one
    assert np.array_equal(records.invocations["request_id"], [0, 1, 2])
