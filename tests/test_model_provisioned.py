"""Provisioned concurrency: event-order tests with constant durations.

Every expected time, count and allocation below is worked out by hand in the test's
comments from the rules in ProvisionedConfig / TargetTracking (AWS Lambda docs,
"Configuring provisioned concurrency"; cases.md B5).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lambdasim.model import AccountConfig, FunctionConfig
from lambdasim.model.config import ProvisionedConfig, ScheduledChange, TargetTracking
from lambdasim.results import ReapReason, RunRecords, ServedBy, Status, ThrottleReason
from tests.conftest import arrivals, constant, function, run_model

PROVISIONED = int(ServedBy.PROVISIONED)
SPILLOVER = int(ServedBy.SPILLOVER)
ON_DEMAND = int(ServedBy.ON_DEMAND)
NEVER = 1e12  # a recycle interval longer than any test


def with_pc(
    config: FunctionConfig, qualifier: str = "live", **settings: object
) -> FunctionConfig:
    """`config` as the qualifier `qualifier` with provisioned concurrency."""
    settings.setdefault("recycle_interval", constant(NEVER))
    settings.setdefault("initial", 0)
    pc = ProvisionedConfig(**settings)  # type: ignore[arg-type]
    return replace(config, qualifier=qualifier, provisioned=pc)


def rows_of(records: RunRecords, index: int) -> dict[str, np.ndarray]:
    inv = records.invocations
    mask = inv["function_index"] == index
    return {name: column[mask] for name, column in inv.items()}


def allocations_of(records: RunRecords) -> list[tuple[float, int]]:
    alloc = records.allocations
    return [
        (round(float(t), 9), int(n))
        for t, n in zip(alloc["time_s"], alloc["allocated"], strict=True)
    ]


def test_pc_alias_never_cold_while_latest_cold_starts():
    # cases.md B5 (serverless #10514): PC = 1 on alias `live`, init busy-waits 3 s,
    # handler 100 ms. Invocations of `live` (t = 1, 2, 3) all run on the PC instance
    # at once: latency 0.1 s, no init. Invocations of $LATEST never use it: the one
    # at t = 1 cold-starts (3 s init, ends 4.1); the one at t = 2 finds that instance
    # still initialising and cold-starts a second one.
    base = function("api", duration_s=0.1, init_s=3.0)
    live = with_pc(base, initial=1)
    records = run_model(
        [base, live],
        arrivals([1.0, 1.0, 2.0, 2.0, 3.0], [1, 0, 1, 0, 1]),
        horizon_s=10.0,
    )
    assert records.function_names == ("api", "api:live")
    alias, latest = rows_of(records, 1), rows_of(records, 0)
    assert alias["is_cold"].tolist() == [0, 0, 0]
    assert alias["served_by"].tolist() == [PROVISIONED] * 3
    assert (alias["end_s"] - alias["arrival_s"]).tolist() == pytest.approx([0.1] * 3)
    assert latest["is_cold"].tolist() == [1, 1]
    assert latest["init_s"].tolist() == [3.0, 3.0]
    assert latest["served_by"].tolist() == [ON_DEMAND, ON_DEMAND]
    # `api:$LATEST` is plain `api` (runner level: see test_runner).
    ins = records.instances
    # The PC instance was initialised before the run: its INIT is on its row.
    pc_rows = ins["is_provisioned"].astype(bool)
    assert pc_rows.sum() == 1
    assert ins["init_s"][pc_rows].tolist() == [3.0]


def test_spillover_only_when_pc_busy_and_reservation_caps_it():
    # Reserved 3 with PC 2 on `live`: on-demand capacity is 3 - 2 = 1. Handler 1 s,
    # init 0.5 s. t=0 and 0.1 take the two PC instances; t=0.2 spills over (cold,
    # the one on-demand slot); t=0.3 finds PC busy and the slot taken: throttled
    # (reserved). At t=1.5 PC is free again, so the arrival is served by PC, not
    # by the warm on-demand instance.
    base = function("api", duration_s=1.0, init_s=0.5, reserved=3)
    live = with_pc(base, initial=2)
    records = run_model(
        [base, live],
        arrivals([0.0, 0.1, 0.2, 0.3, 1.5], 1),
        horizon_s=10.0,
    )
    inv = records.invocations
    assert inv["served_by"].tolist() == [
        PROVISIONED,
        PROVISIONED,
        SPILLOVER,
        ON_DEMAND,
        PROVISIONED,
    ]
    assert inv["status"].tolist()[3] == Status.THROTTLED
    assert inv["throttle_reason"].tolist()[3] == ThrottleReason.RESERVED_CONCURRENCY
    assert inv["is_cold"].tolist() == [0, 0, 1, 0, 0]


def test_pc_request_rate_quota_spills_over():
    # PC 1 with 10 requests/s per unit: a bucket of 10 tokens refilled at 10/s.
    # Arrivals every 0.03 s with a 10 ms handler always find the PC instance idle.
    # Before arrival k the bucket holds 10 - k + 0.3 k = 10 - 0.7 k tokens: at
    # least 1 up to k = 12 (1.6), then 0.9 at k = 13 (spills, no token taken) and
    # 1.2 at k = 14 (PC again).
    base = function("api", duration_s=0.01)
    live = with_pc(base, initial=1)
    times = [0.03 * k for k in range(15)]
    records = run_model([base, live], arrivals(times, 1), horizon_s=10.0)
    expected = [PROVISIONED] * 13 + [SPILLOVER, PROVISIONED]
    assert records.invocations["served_by"].tolist() == expected


def test_scheduled_allocation_waits_for_delay_rate_and_init():
    # At t=100 PC goes 0 -> 3: starts after the 60 s delay at 1 per second (160,
    # 161, 162), each ready 2 s later (162, 163, 164). At t=200 PC goes to 1: two
    # idle PC instances leave at once.
    base = function("api", duration_s=0.1, init_s=2.0)
    live = with_pc(
        base,
        schedule=(ScheduledChange(100.0, 3), ScheduledChange(200.0, 1)),
        allocation_rate_per_s=1.0,
    )
    # 161: PC allocated but none ready -> spillover (cold). 162.5: one ready.
    records = run_model([base, live], arrivals([161.0, 162.5], 1), horizon_s=300.0)
    assert allocations_of(records) == [(100.0, 3), (200.0, 1)]
    assert records.invocations["served_by"].tolist() == [SPILLOVER, PROVISIONED]
    ins = records.instances
    pc = ins["is_provisioned"].astype(bool)
    assert sorted(ins["created_s"][pc].tolist()) == [160.0, 161.0, 162.0]
    assert sorted(ins["ready_s"][pc].tolist()) == [162.0, 163.0, 164.0]
    released = ins["reap_reason"][pc] == ReapReason.PROVISIONED_RELEASED
    assert released.sum() == 2
    assert ins["reaped_s"][pc][released].tolist() == [200.0, 200.0]


def test_pc_recycled_in_background_old_instance_leaves_when_idle():
    # PC 1, recycled every 100 s, init 5 s. The first instance (ready at 0) gets a
    # replacement started at 100, ready at 105. An invocation at 104 (3 s) still
    # runs on the old instance, which leaves at its end, 107. The replacement is
    # recycled at 205: its successor is ready at 210 and it leaves then (idle).
    base = function("api", duration_s=3.0, init_s=5.0)
    live = with_pc(base, initial=1, recycle_interval=constant(100.0))
    records = run_model([base, live], arrivals([104.0], 1), horizon_s=250.0)
    ins = records.instances
    order = np.argsort(ins["instance_id"])
    assert ins["created_s"][order].tolist() == [0.0, 100.0, 205.0]
    assert ins["ready_s"][order].tolist() == [0.0, 105.0, 210.0]
    assert ins["reaped_s"][order][:2].tolist() == [107.0, 210.0]
    recycled = int(ReapReason.PROVISIONED_RECYCLED)
    assert ins["reap_reason"][order].tolist() == [recycled, recycled, 0]
    assert records.invocations["instance_id"].tolist() == [0]
    assert records.invocations["served_by"].tolist() == [PROVISIONED]


def steady_load(rate_per_s: float, until_s: float, offset_s: float = 0.0):
    step = 1.0 / rate_per_s
    return [offset_s + step * k for k in range(int(until_s * rate_per_s))]


def test_target_tracking_scales_out_after_three_minutes_above_target():
    # Target 0.6, min 1, max 10, delay 60 s, init 0. Load: an arrival every 0.25 s
    # of 1 s each, i.e. exactly 4 busy. With 1 PC, utilisation is 1.0 each minute:
    # datapoints at 60, 120, 180 -> at 180 PC = ceil(1 x 1.0 / 0.6) = 2. The alarm
    # starts afresh; the new instance is ready at 240 and both stay busy, so at 360
    # PC = ceil(2 / 0.6) = 4, and at 540 ceil(4 / 0.6) = 7. With 7, utilisation is
    # 4/7 = 0.57: under 0.6, above the scale-in threshold 0.54; no more changes.
    base = function("api", duration_s=1.0)
    tracking = TargetTracking(target=0.6, min_capacity=1, max_capacity=10)
    live = with_pc(base, initial=1, target_tracking=tracking)
    times = steady_load(4.0, 900.0)
    records = run_model([base, live], arrivals(times, 1), horizon_s=900.0)
    assert allocations_of(records) == [(0.0, 1), (180.0, 2), (360.0, 4), (540.0, 7)]


def test_target_tracking_ignores_burst_shorter_than_three_minutes():
    # The same load for 2 minutes only: datapoints 1.0 at 60 and 120, then 0 at
    # 180. Three in a row above target never happen; scale-in cannot go below min.
    base = function("api", duration_s=1.0)
    tracking = TargetTracking(target=0.6, min_capacity=1, max_capacity=10)
    live = with_pc(base, initial=1, target_tracking=tracking)
    times = steady_load(4.0, 120.0)
    records = run_model([base, live], arrivals(times, 1), horizon_s=1200.0)
    assert allocations_of(records) == [(0.0, 1)]


def test_target_tracking_scales_in_in_small_steps_every_fifteen_minutes():
    # PC 5 with 1 busy (an arrival at k + 0.5 of 1 s each): utilisation 0.2, below
    # 0.9 x 0.6 = 0.54. After 15 datapoints (t = 900) the policy wants
    # ceil(5 x 0.2 / 0.6) = 2 but one scale-in removes at most max(1, 10 % of 5) =
    # 1: PC 4, one idle instance leaves at 900. Utilisation 0.25 is still low, and
    # 15 datapoints later (t = 1800) PC goes to 3.
    base = function("api", duration_s=1.0)
    tracking = TargetTracking(target=0.6, min_capacity=1, max_capacity=10)
    live = with_pc(base, initial=5, target_tracking=tracking)
    times = steady_load(1.0, 2000.0, offset_s=0.5)
    records = run_model([base, live], arrivals(times, 1), horizon_s=2000.0)
    assert allocations_of(records) == [(0.0, 5), (900.0, 4), (1800.0, 3)]
    ins = records.instances
    released = ins["reap_reason"] == ReapReason.PROVISIONED_RELEASED
    assert sorted(ins["reaped_s"][released].tolist()) == [900.0, 1800.0]


def test_pc_counts_against_unreserved_account_concurrency():
    # Account limit 10, no unreserved minimum. `a:live` holds PC 4 of it, so
    # function `b` (no reservation) can have 10 - 4 = 6 in flight: of 8 long
    # invocations 2 are throttled for account concurrency.
    a = with_pc(function("a"), initial=4)
    b = function("b", duration_s=100.0)
    account = AccountConfig(concurrency_limit=10, unreserved_minimum=0, scale_up=None)
    records = run_model(
        [a, b],
        arrivals([0.1 * k for k in range(8)], 1),
        horizon_s=50.0,
        account=account,
    )
    reasons = records.invocations["throttle_reason"].tolist()
    assert reasons.count(ThrottleReason.ACCOUNT_CONCURRENCY) == 2


def test_qualifiers_share_the_function_reservation():
    # Reservation 2 on `api`: one invocation each on $LATEST and `blue` fill it, a
    # third on either is throttled (AWS: reserved concurrency is per function).
    base = function("api", duration_s=10.0, reserved=2)
    blue = replace(base, qualifier="blue")
    records = run_model(
        [base, blue], arrivals([0.0, 0.1, 0.2], [0, 1, 1]), horizon_s=20.0
    )
    assert records.invocations["status"].tolist() == [
        Status.OK,
        Status.OK,
        Status.THROTTLED,
    ]
