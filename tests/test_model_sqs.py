"""SQS event source mappings: pollers, batches, visibility timeout, dead letters.

Event-order tests use constant durations and hand-worked timelines; the case tests
follow ../shared/reference/cases.md A2 (reserved concurrency 10 under a fan-out,
maxReceiveCount 1) and A3 (a retry storm against a downstream token bucket).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdasim.distributions import ExponentialSpec
from lambdasim.model import AccountConfig, Simulation
from lambdasim.model.sqs import (
    LEGACY_POLLER_SCALING,
    DownstreamLimit,
    EventSourceConfig,
)
from lambdasim.report.summary import summarise
from lambdasim.report.timeseries import timeseries
from lambdasim.results import BatchOutcome, MessageFate, Status
from lambdasim.workload.base import ArrivalChunk, InvocationType
from tests.conftest import constant, function


def run_queue(fn, times, config, horizon_s, *, sync_times=()):
    """Send messages at `times` to the queue of `fn` (function 0); run; summarise."""
    times = np.asarray(times, dtype=float)
    chunk = ArrivalChunk(
        times,
        np.zeros(times.shape, dtype=np.int32),
        None,
        np.full(times.shape, InvocationType.POLL, dtype=np.int8),
    )
    simulation = Simulation(
        AccountConfig(scale_up=None), [fn], seed=1, horizon_s=horizon_s
    )
    simulation.add_event_source(0, config)
    simulation.add_arrivals([chunk])
    if len(sync_times):
        sync = np.asarray(sync_times, dtype=float)
        simulation.add_arrivals([ArrivalChunk(sync, np.zeros(sync.shape, np.int32))])
    records = simulation.run()
    summary = summarise(records, scenario="t", seed=1, scenario_sha256="", version="")
    return records, summary["total"]


def starts_per_second(records):
    """{t: number of invocations arriving at t} for whole-second arrival times."""
    times, counts = np.unique(records.invocations["arrival_s"], return_counts=True)
    return dict(zip(times.tolist(), counts.tolist(), strict=True))


# -- pollers ------------------------------------------------------------------------


def test_pollers_current_rule_start_at_5_and_add_5_a_second_while_messages_wait():
    """100 messages at t=0, batches of 1, 10 s each, no concurrency limit.

    t=0: 5 batches. Each second while messages remain visible the mapping adds 5
    (300 per minute): 5 more start at t=1 ... t=9 (50 by then). From t=10 the first
    batches end and their pollers take new ones at once, plus 5 from the tick: 10
    a second at t=10..14 (100). Then the queue is empty and the pollers fall by 5 a
    second towards the batches in hand, 70 at t=15 (75 - 5) down to 5 at t=28.
    """
    records, total = run_queue(
        function(duration_s=10.0), [0.0] * 100, EventSourceConfig(batch_size=1), 100.0
    )

    expected = {float(t): 5 for t in range(10)} | {float(t): 10 for t in range(10, 15)}
    assert starts_per_second(records) == expected
    pollers = records.sqs_pollers
    assert pollers["time_s"].tolist() == [float(t) for t in range(29)]
    assert pollers["pollers"].tolist() == [*range(5, 80, 5), *range(70, 0, -5)]
    assert total["messages_delivered"] == 100
    assert total["message_receives"] == 100
    assert total["invocations_per_message"] == 1.0


def test_pollers_legacy_rule_add_1_a_second():
    """Legacy rule (+60 per minute): 5 at t=0, then one more each second.

    20 messages of 10 s: 5 start at t=0, one at each of t=1..9 (14), and at t=10 the
    5 pollers freed by the first batches plus the tick's one take the last 6.
    """
    config = EventSourceConfig(batch_size=1, scaling=LEGACY_POLLER_SCALING)
    records, _ = run_queue(function(duration_s=10.0), [0.0] * 20, config, 100.0)

    expected = {0.0: 5} | {float(t): 1 for t in range(1, 10)} | {10.0: 6}
    assert starts_per_second(records) == expected


def test_maximum_concurrency_caps_the_pollers():
    config = EventSourceConfig(batch_size=1, maximum_concurrency=7)
    records, total = run_queue(function(duration_s=10.0), [0.0] * 100, config, 500.0)

    # Up to 7; the last 2 messages leave at t=140 (14 rounds of 7 before), and at
    # the next tick (queue empty) the pollers fall back to the floor of 5.
    assert records.sqs_pollers["pollers"].tolist() == [5, 7, 5]
    assert total["max_concurrency"] == 7
    # 7 at a time, 10 s each: 100 messages take ceil(100 / 7) = 15 rounds.
    assert records.invocations["end_s"].max() == 150.0


# -- batches ------------------------------------------------------------------------


def test_batching_window_gathers_a_partial_batch_and_a_full_batch_goes_at_once():
    """Window 5 s, batch size 10: messages at 0, 1, 2 leave as one batch at t=5;
    10 messages at t=6 fill a batch and leave at once.
    """
    config = EventSourceConfig(batch_size=10, batching_window_s=5.0)
    records, _ = run_queue(
        function(duration_s=1.0), [0.0, 1.0, 2.0, *[6.0] * 10], config, 60.0
    )

    assert records.invocations["arrival_s"].tolist() == [5.0, 6.0]
    assert records.sqs_batches["messages"].tolist() == [3, 10]


def test_batch_without_window_takes_what_is_visible():
    # Batch size 10, no window: a free poller takes what is visible at once, after
    # every message of that instant is in: 1 message at t=0, then 2 at t=0.5.
    config = EventSourceConfig(batch_size=10)
    records, _ = run_queue(function(duration_s=1.0), [0.0, 0.5, 0.5], config, 60.0)

    assert records.invocations["arrival_s"].tolist() == [0.0, 0.5]
    assert records.sqs_batches["messages"].tolist() == [1, 2]


def test_batch_duration_is_base_plus_one_draw_per_message():
    # 1 s per invocation plus 0.5 s per message: a batch of 4 runs 3 s.
    config = EventSourceConfig(batch_size=4, per_message_duration=constant(0.5))
    records, _ = run_queue(function(duration_s=1.0), [0.0] * 4, config, 60.0)

    assert records.invocations["duration_s"].tolist() == [3.0]


# -- failures, throttles and the dead-letter queue --------------------------------


def test_failed_batch_reappears_after_visibility_timeout_until_dead_lettered():
    """Every invocation fails; visibility 30 s, maxReceiveCount 3.

    Receives at t=0, 30 and 60 (each when the previous one's timeout ends); after
    the third the message reappears at t=90 having been received 3 times: dead
    letter.
    """
    fn = replace(function(duration_s=1.0), error_probability=1.0)
    config = EventSourceConfig(
        batch_size=1, visibility_timeout_s=30.0, max_receive_count=3
    )
    records, total = run_queue(fn, [0.0], config, 200.0)

    inv = records.invocations
    assert inv["arrival_s"].tolist() == [0.0, 30.0, 60.0]
    assert inv["status"].tolist() == [Status.ERROR] * 3
    messages = records.sqs_messages
    assert messages["gone_s"].tolist() == [90.0]
    assert messages["fate"].tolist() == [MessageFate.DEAD_LETTERED]
    assert messages["receives"].tolist() == [3]
    assert total["dlq_messages"] == 1
    assert total["message_receives"] == 3
    assert total["receives_per_message"] == 3.0


def test_throttled_batches_retry_inside_visibility_timeout_then_dead_letter():
    """Reserved concurrency 1, five 10-s messages at t=0, visibility 20 s,
    maxReceiveCount 1.

    t=0: the 5 pollers take one message each; one runs (0-10), 4 are throttled and
    retried after 1, 2, 4, 8 s: throttled at t=1, 3, 7 (the slot is busy) and at
    t=15 one gets the slot freed at 10 (15-25) and 3 are throttled again. Their
    next retry (t=31) would fall after the visibility timeout (0 + 20 s): their
    pollers let go at 15, and at 20 the messages reappear, received once already:
    dead letter. Throttles: 4 + 4 + 4 + 4 + 3 = 19.
    """
    fn = function(duration_s=10.0, reserved=1, timeout_s=10.0)
    config = EventSourceConfig(
        batch_size=1, visibility_timeout_s=20.0, max_receive_count=1
    )
    records, total = run_queue(fn, [0.0] * 5, config, 100.0)

    inv = records.invocations
    ok, throttled = Status.OK, Status.THROTTLED
    rows = zip(inv["arrival_s"].tolist(), inv["status"].tolist(), strict=True)
    assert list(rows) == [
        (0.0, ok),
        *[(0.0, throttled)] * 4,
        *[(1.0, throttled)] * 4,
        *[(3.0, throttled)] * 4,
        *[(7.0, throttled)] * 4,
        (15.0, ok),
        *[(15.0, throttled)] * 3,
    ]
    messages = records.sqs_messages
    assert messages["gone_s"].tolist() == [10.0, 25.0, 20.0, 20.0, 20.0]
    assert messages["fate"].tolist() == [1, 1, 2, 2, 2]
    batches = records.sqs_batches
    assert batches["end_s"].tolist() == [10.0, 15.0, 15.0, 15.0, 25.0]
    assert batches["attempts"].tolist() == [1, 5, 5, 5, 5]
    assert total["throttles"] == 19
    assert total["throttled_receives"] == 3
    assert total["dlq_messages"] == 3
    # Poll batches have no waiting caller: no failed synchronous requests.
    assert total["failed_requests"] == 0


def test_messages_still_queued_at_the_horizon_are_left_in_the_queue():
    # Maximum concurrency 2, 10-s batches, 6 messages, horizon 15 s: 2 delivered at
    # 10, 2 taken at 10 and delivered at 20 (in flight at the horizon), 2 left.
    config = EventSourceConfig(batch_size=1, maximum_concurrency=2)
    records, total = run_queue(function(duration_s=10.0), [0.0] * 6, config, 15.0)

    assert total["messages_delivered"] == 4
    assert total["messages_in_queue"] == 2
    assert np.isnan(records.sqs_messages["gone_s"][4:]).all()


def test_sync_invocations_of_the_same_function_share_its_concurrency():
    # Reserved 1: a synchronous call at t=0 holds the slot until 10; the message
    # at 0.5 is throttled at 0.5, retried at 1.5, 3.5, 7.5 and runs at 15.5.
    fn = function(duration_s=10.0, reserved=1, timeout_s=10.0)
    config = EventSourceConfig(batch_size=1, visibility_timeout_s=60.0)
    records, total = run_queue(fn, [0.5], config, 100.0, sync_times=[0.0])

    inv = records.invocations
    assert inv["arrival_s"].tolist() == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5]
    assert total["messages_delivered"] == 1


# -- levels and summaries -----------------------------------------------------------


def test_queue_levels_and_message_ages_in_time_series_and_summary():
    """Two messages at t=0, both taken at once, deleted at t=10 (10-s batches).

    Steps of 5 s over 20 s: depth 2, 2, 0, 0 (intervals [0, 10)); oldest age at the
    step ends 5, 10, 15, 20: 5 s, then 0 (gone at 10); pollers 5 throughout (the
    floor); batches in flight 2, 2, 0, 0; both delivered in the step at 10.
    """
    records, total = run_queue(
        function(duration_s=10.0), [0.0, 0.0], EventSourceConfig(batch_size=1), 20.0
    )
    frame = timeseries(records, 5.0, dense=True)
    fn = frame[frame["function"] == "fn"]

    assert fn["queue_depth"].tolist() == [2.0, 2.0, 0.0, 0.0]
    assert fn["oldest_message_age_s"].tolist() == [5.0, 0.0, 0.0, 0.0]
    assert fn["pollers"].tolist() == [5.0] * 4
    assert fn["batches_in_flight"].tolist() == [2.0, 2.0, 0.0, 0.0]
    assert fn["messages_sent"].tolist() == [2, 0, 0, 0]
    assert fn["messages_delivered"].tolist() == [0, 0, 2, 0]
    assert fn["dlq_messages"].tolist() == [0, 0, 0, 0]
    assert total["max_queue_depth"] == 2
    assert total["max_message_age_ms"] == 10_000.0
    assert total["delivery_latency_ms"]["p50"] == 10_000.0


def test_no_event_source_gives_zero_sqs_keys():
    simulation = Simulation(
        AccountConfig(scale_up=None), [function()], seed=1, horizon_s=10.0
    )
    simulation.add_arrivals([ArrivalChunk(np.array([1.0]), np.zeros(1, np.int32))])
    records = simulation.run()
    total = summarise(records, scenario="t", seed=1, scenario_sha256="", version="")[
        "total"
    ]

    assert total["messages_sent"] == 0
    assert total["invocations_per_message"] == 0.0
    assert total["max_message_age_ms"] == 0.0
    frame = timeseries(records, 5.0)
    assert frame["queue_depth"].sum() == 0.0
    assert frame["pollers"].sum() == 0.0


def test_message_for_function_without_event_source_is_an_error():
    simulation = Simulation(
        AccountConfig(scale_up=None), [function()], seed=1, horizon_s=10.0
    )
    chunk = ArrivalChunk(
        np.array([1.0]), np.zeros(1, np.int32), None, np.array([2], dtype=np.int8)
    )
    simulation.add_arrivals([chunk])
    with pytest.raises(ValueError, match="no SQS event source"):
        simulation.run()


# -- Little's law and case A3 ------------------------------------------------------


@pytest.mark.parametrize(("duration_s", "rate_per_s"), [(2.0, 2.5), (0.5, 10.0)])
def test_throughput_under_reserved_concurrency_is_r_over_duration(
    duration_s, rate_per_s
):
    """Case A3: a reservation of 5 gives 5 / 2 s = 2.5 messages/s, 5 / 0.5 s = 10.

    A backlog of 2,000 messages keeps all 5 slots busy; maximum concurrency 5
    keeps the pollers from being throttled. Deliveries in [10, 110) s: rate x 100.
    """
    fn = function(duration_s=duration_s, reserved=5)
    config = EventSourceConfig(batch_size=1, maximum_concurrency=5)
    records, _ = run_queue(fn, [0.0] * 2000, config, 200.0)

    gone_s = records.sqs_messages["gone_s"]
    delivered_in_window = int(((gone_s >= 10.0) & (gone_s < 110.0)).sum())
    assert delivered_in_window == pytest.approx(rate_per_s * 100.0, abs=5)


def test_throughput_without_maximum_concurrency_stays_within_r_over_duration():
    # Pollers ramp past the reservation; the extra batches are throttled, so the
    # function still completes at most R / D = 2.5 messages/s.
    fn = function(duration_s=2.0, reserved=5)
    records, total = run_queue(fn, [0.0] * 2000, EventSourceConfig(batch_size=1), 200.0)

    gone_s = records.sqs_messages["gone_s"]
    delivered_in_window = int(((gone_s >= 10.0) & (gone_s < 110.0)).sum())
    assert delivered_in_window <= 250
    assert total["throttles"] > 0


STORM_LIMIT = DownstreamLimit(burst=5.0, refill_per_s=2.0, failure_duration_s=0.1)


def test_retry_storm_rates_match_littles_law_with_a_token_bucket():
    """Case A3 in steady state: R = 5, D = 0.5 s per call, bucket 5 at 2/s.

    While a backlog lasts, 5 batches are always in flight. Successes are limited
    to the refill, r = 2/s; the rest fail after d = 0.1 s and return after the
    visibility timeout. Little's law, R = X * mean duration with X attempts/s:
    5 = 2 * 0.5 + (X - 2) * 0.1, so X = 42 invocations/s: 21 per delivered message
    and 40 downstream throttles/s. Measured over [20, 180) s (3,000 messages keep
    the backlog visible: ~42 x 18 s are invisible at a time).
    """
    fn = function(duration_s=0.5, reserved=5, timeout_s=3.0)
    config = EventSourceConfig(
        batch_size=1,
        maximum_concurrency=5,
        visibility_timeout_s=18.0,
        downstream=STORM_LIMIT,
    )
    records, total = run_queue(fn, [0.0] * 3000, config, 200.0)

    inv = records.invocations
    window = (inv["arrival_s"] >= 20.0) & (inv["arrival_s"] < 180.0)
    invocations_per_s = window.sum() / 160.0
    gone_s = records.sqs_messages["gone_s"]
    delivered_per_s = ((gone_s >= 20.0) & (gone_s < 180.0)).sum() / 160.0
    assert invocations_per_s == pytest.approx(42.0, rel=0.03)
    assert delivered_per_s == pytest.approx(2.0, rel=0.03)
    failed = window & (inv["status"] == Status.ERROR)
    assert failed.sum() / 160.0 == pytest.approx(40.0, rel=0.03)
    assert total["downstream_throttles"] == int((inv["status"] == Status.ERROR).sum())


def test_retry_storm_inflates_invocations_per_message_by_an_order_of_magnitude():
    """Case A3 as reported: 122 queued messages against the bucket (5, 2/s).

    Without the bucket each message takes one invocation. With it, while a backlog
    lasts, about 21 invocations run per delivered message (previous test); all 122
    end up delivered, so invocations per message is at least 10 (a message's
    visibility timeout of 1 s keeps the failed ones coming back quickly).
    """
    fn = function(duration_s=0.5, reserved=5, timeout_s=1.0)
    calm = EventSourceConfig(
        batch_size=1, maximum_concurrency=5, visibility_timeout_s=1.0
    )
    stormy = replace(calm, downstream=STORM_LIMIT)

    _, calm_total = run_queue(fn, [0.0] * 122, calm, 600.0)
    _, storm_total = run_queue(fn, [0.0] * 122, stormy, 600.0)

    assert calm_total["invocations_per_message"] == 1.0
    assert storm_total["messages_delivered"] == 122
    assert storm_total["invocations_per_message"] >= 10.0
    assert storm_total["downstream_throttles"] == storm_total["completed"] - 122
    assert storm_total["errors"] == storm_total["downstream_throttles"]


def test_throttled_invoke_gives_back_its_downstream_tokens():
    # Reserved 1, a bucket of 2 tokens that never refills (in 100 s): the first
    # batch takes a token and runs; the second takes the other but is throttled,
    # so its call is never made and the token goes back. Without that, its retry
    # would find the bucket empty and fail downstream.
    fn = function(duration_s=1.0, reserved=1, timeout_s=1.0)
    limit = DownstreamLimit(burst=2.0, refill_per_s=1e-9, failure_duration_s=0.1)
    config = EventSourceConfig(
        batch_size=1, visibility_timeout_s=10.0, downstream=limit
    )
    records, total = run_queue(fn, [0.0, 0.0], config, 100.0)

    # t=0: first runs (token 1 of 2); second throttled (token returned); t=1 its
    # retry runs with the second token.
    inv = records.invocations
    assert inv["arrival_s"].tolist() == [0.0, 0.0, 1.0]
    assert inv["status"].tolist() == [Status.OK, Status.THROTTLED, Status.OK]
    assert total["downstream_throttles"] == 0


# -- case A2 ------------------------------------------------------------------------


def fanout(reserved, maximum_concurrency=None):
    """50 audits at once, 30 s each, visibility timeout 60 s, maxReceiveCount 1."""
    fn = function(duration_s=30.0, reserved=reserved, timeout_s=60.0)
    config = EventSourceConfig(
        batch_size=1,
        visibility_timeout_s=60.0,
        max_receive_count=1,
        maximum_concurrency=maximum_concurrency,
    )
    return run_queue(fn, [0.0] * 50, config, 600.0)


def test_case_a2_reserved_10_fanout_throttled_receives_end_in_dead_letter_queue():
    """Reserved concurrency 10: at t=2 the pollers reach 15, so batches beyond 10
    are throttled; with maxReceiveCount 1 a throttled receive whose retries all
    fail within the visibility timeout is dead-lettered, never retried.
    """
    records, total = fanout(reserved=10)

    assert total["throttles"] > 0
    assert total["dlq_messages"] > 0
    assert total["dlq_messages"] == total["throttled_receives"]
    assert total["messages_delivered"] + total["dlq_messages"] == 50
    batches = records.sqs_batches
    dead = records.sqs_messages["fate"] == MessageFate.DEAD_LETTERED
    assert dead.sum() == (batches["outcome"] == BatchOutcome.THROTTLED).sum()


def test_case_a2_reserved_50_absorbs_the_fanout():
    """Reserved 50: the pollers reach 50 at t=9, when the last 5 of the 50 messages
    are received (5 + 5 x 9), and grow no further: nothing is throttled.
    """
    records, total = fanout(reserved=50)

    assert max(records.sqs_pollers["pollers"]) == 50
    assert total["throttles"] == 0
    assert total["dlq_messages"] == 0
    assert total["messages_delivered"] == 50


def test_case_a2_maximum_concurrency_at_reserved_drives_dead_letters_to_zero():
    _, total = fanout(reserved=10, maximum_concurrency=10)

    assert total["throttles"] == 0
    assert total["dlq_messages"] == 0
    assert total["messages_delivered"] == 50


# -- invariants ---------------------------------------------------------------------


@st.composite
def queue_runs(draw):
    fn = replace(
        function(
            duration_s=ExponentialSpec(mean=draw(st.floats(0.2, 5.0))).sampler(),
            reserved=draw(st.one_of(st.none(), st.integers(1, 6))),
            timeout_s=draw(st.sampled_from([2.0, 10.0])),
        ),
        error_probability=draw(st.sampled_from([0.0, 0.3])),
    )
    downstream = draw(
        st.sampled_from([None, DownstreamLimit(burst=2.0, refill_per_s=0.5)])
    )
    config = EventSourceConfig(
        batch_size=draw(st.integers(1, 5)),
        batching_window_s=draw(st.sampled_from([0.0, 1.0])),
        maximum_concurrency=draw(st.one_of(st.none(), st.integers(2, 8))),
        visibility_timeout_s=draw(st.sampled_from([10.0, 30.0])),
        max_receive_count=draw(st.one_of(st.none(), st.integers(1, 3))),
        downstream=downstream,
    )
    times = sorted(draw(st.lists(st.floats(0.0, 60.0), min_size=1, max_size=80)))
    return fn, times, config


@settings(max_examples=60, deadline=None)
@given(queue_runs())
def test_invariants_every_message_is_accounted_for(run):
    """Sent = delivered + dead-lettered + still queued; receives match batches; a
    dead-lettered message was received exactly max_receive_count times; the
    mapping never runs more batches than its pollers or its cap allow.
    """
    fn, times, config = run
    records, total = run_queue(fn, times, config, 80.0)

    messages, batches = records.sqs_messages, records.sqs_batches
    fate = messages["fate"]
    assert total["messages_sent"] == len(times)
    assert total["messages_delivered"] + total["dlq_messages"] + total[
        "messages_in_queue"
    ] == len(times)
    assert batches["messages"].sum() == messages["receives"].sum()
    assert np.all(messages["receives"][fate != MessageFate.QUEUED] >= 1)
    if config.max_receive_count is not None:
        dead = fate == MessageFate.DEAD_LETTERED
        assert np.all(messages["receives"][dead] == config.max_receive_count)
        assert np.all(messages["receives"] <= config.max_receive_count)
    else:
        assert total["dlq_messages"] == 0
    gone = ~np.isnan(messages["gone_s"])
    assert np.all(messages["gone_s"][gone] >= messages["sent_s"][gone])
    assert np.all(batches["messages"] <= config.batch_size)
    cap = min(1250, config.maximum_concurrency or 1250)
    assert records.sqs_pollers["pollers"].max() <= cap
    assert total["max_concurrency"] <= min(cap, fn.reserved_concurrency or cap)
