"""Summary, timeseries and text table against values worked out by hand."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lambdasim.report import TOTAL, format_summary, summarise, timeseries
from lambdasim.report.timeseries import step_boundaries
from lambdasim.results import (
    INSTANCE_COLUMNS,
    INVOCATION_COLUMNS,
    ReapReason,
    RunRecords,
    Status,
    ThrottleReason,
)

OK, THROTTLED = Status.OK, Status.THROTTLED


@dataclass(frozen=True)
class Inv:
    """One invocation row; start = arrival + overhead + init, end = start + duration."""

    function: int
    arrival_s: float
    duration_s: float = 0.0
    init_s: float = 0.0
    overhead_s: float = 0.0
    is_cold: bool = False
    status: Status = OK
    reason: ThrottleReason = ThrottleReason.NONE
    instance_id: int = 0
    served_by: int = 0
    request_usd: float = 0.0
    compute_usd: float = 0.0


def throttle(function: int, arrival_s: float, reason: ThrottleReason) -> Inv:
    return Inv(function, arrival_s, status=THROTTLED, reason=reason, instance_id=-1)


def records(
    names: list[str],
    invocations: list[Inv],
    instances: list[tuple[int, float, float]] | None = None,
    horizon_s: float = 4.0,
    *,
    with_costs: bool = True,
) -> RunRecords:
    """Build RunRecords; instances are (function, created_s, reaped_s or NaN)."""
    rows: dict[str, list[Any]] = {
        "function_index": [i.function for i in invocations],
        "invocation_type": [0] * len(invocations),
        "arrival_s": [i.arrival_s for i in invocations],
        "is_cold": [i.is_cold for i in invocations],
        "platform_overhead_s": [i.overhead_s for i in invocations],
        "init_s": [i.init_s for i in invocations],
        "duration_s": [i.duration_s for i in invocations],
        "status": [int(i.status) for i in invocations],
        "throttle_reason": [int(i.reason) for i in invocations],
        "instance_id": [i.instance_id for i in invocations],
        "served_by": [i.served_by for i in invocations],
    }
    inv = {
        name: np.array(rows[name], dtype=np.dtype(code))
        for name, code in INVOCATION_COLUMNS.items()
    }
    if with_costs:
        inv["request_usd"] = np.array([i.request_usd for i in invocations], float)
        inv["compute_usd"] = np.array([i.compute_usd for i in invocations], float)
        inv["gb_seconds"] = np.zeros(len(invocations))
        inv["billed_ms"] = np.zeros(len(invocations), np.int64)
    instances = instances or []
    ins_rows: dict[str, list[Any]] = {
        "instance_id": list(range(len(instances))),
        "function_index": [f for f, _, _ in instances],
        "created_s": [c for _, c, _ in instances],
        "ready_s": [c for _, c, _ in instances],
        "reaped_s": [r for _, _, r in instances],
        "reap_reason": [
            int(ReapReason.ALIVE if math.isnan(r) else ReapReason.KEEP_ALIVE)
            for _, _, r in instances
        ],
        "invocations": [1] * len(instances),
        "init_s": [0.0] * len(instances),
        "is_provisioned": [0] * len(instances),
    }
    ins = {
        name: np.array(ins_rows[name], dtype=np.dtype(code))
        for name, code in INSTANCE_COLUMNS.items()
    }
    return RunRecords(tuple(names), inv, ins, horizon_s)


def summary_of(run: RunRecords) -> dict[str, Any]:
    return summarise(run, scenario="s", seed=7, scenario_sha256="ab", version="0.1")


# -- summary ---------------------------------------------------------------------


def test_summarise_overlapping_invocations_mean_one_max_two() -> None:
    # [0, 2] and [1, 3] over a horizon of 4: (2 + 2) / 4 = 1.0 in flight on average,
    # and both are in flight on [1, 2].
    run = records(["f"], [Inv(0, 0.0, 2.0), Inv(0, 1.0, 2.0, instance_id=1)])
    total = summary_of(run)["total"]
    assert total["mean_concurrency"] == pytest.approx(1.0)
    assert total["max_concurrency"] == 2


def test_summarise_back_to_back_invocations_max_one() -> None:
    # [0, 1] then [1, 2]: the first ends before the second starts at t = 1.
    run = records(["f"], [Inv(0, 0.0, 1.0), Inv(0, 1.0, 1.0)])
    assert summary_of(run)["total"]["max_concurrency"] == 1


def test_summarise_invocation_crossing_horizon_clipped() -> None:
    # [3, 6] over a horizon of 4: 1 s of it lies inside, so mean 1 / 4 = 0.25; its
    # latency is still the full 3 s (it runs to completion).
    run = records(["f"], [Inv(0, 3.0, 3.0)])
    total = summary_of(run)["total"]
    assert total["mean_concurrency"] == pytest.approx(0.25)
    assert total["latency_ms"]["max"] == pytest.approx(3000.0)


def test_summarise_instance_alive_at_end_counts_until_horizon() -> None:
    # Instance 0 lives [0, 2]; instance 1 is created at 1 and never reaped, so it
    # counts until the horizon 4: (2 + 3) / 4 = 1.25; both live on [1, 2].
    run = records(["f"], [], instances=[(0, 0.0, 2.0), (0, 1.0, math.nan)])
    total = summary_of(run)["total"]
    assert total["mean_instances"] == pytest.approx(1.25)
    assert total["max_instances"] == 2
    assert total["instances_created"] == 2


def test_summarise_rates_are_fractions_of_all_invocations() -> None:
    # 4 attempts: 1 cold, 1 warm, 2 throttled (one per reason below).
    run = records(
        ["f"],
        [
            Inv(0, 0.0, 1.0, init_s=0.5, is_cold=True),
            Inv(0, 2.0, 1.0),
            throttle(0, 0.5, ThrottleReason.ACCOUNT_CONCURRENCY),
            throttle(0, 0.6, ThrottleReason.SCALE_UP_RATE),
        ],
    )
    total = summary_of(run)["total"]
    assert total["invocations"] == 4
    assert total["completed"] == 2
    assert total["ok"] == 2
    assert total["cold_starts"] == 1
    assert total["cold_start_rate"] == pytest.approx(0.25)
    assert total["throttles"] == 2
    assert total["throttle_rate"] == pytest.approx(0.5)
    assert total["throttles_by_reason"] == {
        "account_concurrency": 1,
        "reserved_concurrency": 0,
        "scale_up_rate": 1,
        "request_rate": 0,
    }


def test_summarise_timeouts_and_errors_counted_by_status() -> None:
    statuses = [Status.TIMEOUT, Status.ERROR, Status.INIT_ERROR, Status.DB_ERROR]
    statuses += [Status.DROPPED, Status.OK]
    run = records(
        ["f"], [Inv(0, 0.1 * i, 0.1, status=s) for i, s in enumerate(statuses)]
    )
    total = summary_of(run)["total"]
    assert total["timeouts"] == 1
    assert total["errors"] == 3
    assert total["dropped"] == 1
    # Dropped never ran: 6 attempts, 5 completed.
    assert total["completed"] == 5
    assert total["ok"] == 1


def test_summarise_percentiles_match_numpy_linear() -> None:
    durations_s = [0.010, 0.020, 0.050, 0.100, 0.200, 0.400, 1.000, 2.500, 7.000]
    init_s = [0.3, 0.1, 0.9]
    invocations = [
        Inv(0, 0.1 * k, d, init_s=init_s[k] if k < 3 else 0.0, is_cold=k < 3)
        for k, d in enumerate(durations_s)
    ]
    invocations.append(throttle(0, 0.05, ThrottleReason.ACCOUNT_CONCURRENCY))
    total = summary_of(records(["f"], invocations))["total"]

    # The throttled attempt is left out; cold latency includes its init.
    latency_ms = np.array(durations_s) * 1000 + np.array(init_s + [0.0] * 6) * 1000
    expected = np.percentile(latency_ms, [50, 90, 99, 99.9])
    got = [total["latency_ms"][k] for k in ("p50", "p90", "p99", "p999")]
    assert got == pytest.approx(expected.tolist())
    assert total["latency_ms"]["mean"] == pytest.approx(latency_ms.mean())
    assert total["latency_ms"]["max"] == pytest.approx(latency_ms.max())
    init_expected = np.percentile(np.array(init_s) * 1000, [50, 99])
    assert [total["init_ms"]["p50"], total["init_ms"]["p99"]] == pytest.approx(
        init_expected.tolist()
    )
    duration_ms = np.array(durations_s) * 1000
    assert total["duration_ms"]["p99"] == pytest.approx(np.percentile(duration_ms, 99))


def test_summarise_two_functions_split_per_function() -> None:
    # f "a": [0, 2], cold, $0.25; f "b": [1, 2] and [1, 3], $0.5 + $0.25 compute.
    run = records(
        ["a", "b"],
        [
            Inv(0, 0.0, 2.0, is_cold=True, request_usd=0.25),
            Inv(1, 1.0, 1.0, request_usd=0.5),
            Inv(1, 1.0, 2.0, instance_id=1, compute_usd=0.25),
        ],
        instances=[(0, 0.0, 3.0), (1, 1.0, 2.5), (1, 1.0, math.nan)],
    )
    summary = summary_of(run)
    a, b, total = summary["functions"]["a"], summary["functions"]["b"], summary["total"]
    assert (a["invocations"], b["invocations"], total["invocations"]) == (1, 2, 3)
    assert (a["cold_starts"], b["cold_starts"]) == (1, 0)
    # a: 2 / 4; b: (1 + 2) / 4; total: 5 / 4.
    assert a["mean_concurrency"] == pytest.approx(0.5)
    assert b["mean_concurrency"] == pytest.approx(0.75)
    assert total["mean_concurrency"] == pytest.approx(1.25)
    # Peaks: a 1, b 2; all three overlap on [1, 2].
    assert (a["max_concurrency"], b["max_concurrency"]) == (1, 2)
    assert total["max_concurrency"] == 3
    # Instances: a 3 / 4; b (1.5 + 3) / 4.
    assert a["mean_instances"] == pytest.approx(0.75)
    assert b["mean_instances"] == pytest.approx(1.125)
    assert total["max_instances"] == 3
    assert b["cost_usd"]["requests"] == pytest.approx(0.5)
    assert b["cost_usd"]["compute"] == pytest.approx(0.25)
    assert b["cost_usd"]["total"] == pytest.approx(0.75)
    # Charges that are not per invocation need a bill: 0 from the columns alone.
    assert b["cost_usd"]["provisioned_allocated"] == 0.0
    assert b["monthly_usd"] is None
    # $0.75 over 2 completed invocations = $375,000 per million.
    assert b["cost_per_million_invocations"] == pytest.approx(375_000)
    assert total["cost_usd"]["total"] == pytest.approx(1.0)


def test_summarise_idle_function_rates_zero_percentiles_none() -> None:
    run = records(["busy", "idle"], [Inv(0, 0.0, 1.0)])
    idle = summary_of(run)["functions"]["idle"]
    assert idle["invocations"] == 0
    assert idle["cold_start_rate"] == 0.0
    assert idle["throttle_rate"] == 0.0
    assert idle["latency_ms"]["p99"] is None
    assert idle["max_concurrency"] == 0
    assert idle["mean_concurrency"] == 0.0


def _assert_plain(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            _assert_plain(item)
    else:
        assert value is None or type(value) in (int, float, str), repr(value)


def test_summarise_result_plain_json_with_provenance() -> None:
    run = records(["f", "g"], [Inv(0, 0.0, 1.0)], with_costs=False)
    summary = summary_of(run)
    _assert_plain(summary)
    json.dumps(summary, allow_nan=False)
    assert summary["seed"] == 7
    assert summary["scenario"] == "s"
    assert summary["scenario_sha256"] == "ab"
    assert summary["lambdasim_version"] == "0.1"
    assert summary["horizon_s"] == 4.0
    # Without billing columns the costs are zero.
    assert summary["total"]["cost_usd"]["total"] == 0.0
    assert summary["total"]["gb_seconds"] == 0.0
    assert set(summary["functions"]) == {"f", "g"}
    assert set(summary["functions"]["f"]) == set(summary["total"])


# -- timeseries -------------------------------------------------------------------


def hand_example() -> RunRecords:
    """Two functions over a horizon of 4 s, worked out per 1 s step in the tests.

    f0: A arrives at 0, cold (0.25 overhead + 0.25 init), runs [0.5, 2.0) on
        instance 0 (created 0, reaped 3); B arrives at 1.5, cold (0.5 init), runs
        [2.0, 3.0) on instance 1 (created 1.5, alive at the end); C is throttled at
        2.5.
    f1: D arrives at 3, cold with no init, runs [3, 5) on instance 2 (created 3,
        alive at the end), past the horizon.
    """
    return records(
        ["f0", "f1"],
        [
            Inv(0, 0.0, 1.5, init_s=0.25, overhead_s=0.25, is_cold=True),
            Inv(0, 1.5, 1.0, init_s=0.5, is_cold=True, instance_id=1),
            throttle(0, 2.5, ThrottleReason.RESERVED_CONCURRENCY),
            Inv(1, 3.0, 2.0, is_cold=True, instance_id=2),
        ],
        instances=[(0, 0.0, 3.0), (0, 1.5, math.nan), (1, 3.0, math.nan)],
    )


def rows_of(frame: pd.DataFrame, function: str) -> pd.DataFrame:
    return frame[frame["function"] == function].set_index("t_s")


def test_timeseries_hand_example_function_rows() -> None:
    f0 = rows_of(timeseries(hand_example(), 1.0), "f0")
    assert f0.index.tolist() == [0.0, 1.0, 2.0, 3.0]
    # [0,1): A in flight all step, initialising [0, 0.5).
    # [1,2): A all step + B [1.5, 2) = 1.5; peak 2; B initialising 0.5.
    # [2,3): A ends at 2, B all step; the carried peak 2 does not count (A ends
    #        exactly at 2); instance 0 idle, instance 1 busy.
    # [3,4): B ended at 3; instance 0 reaped at 3, instance 1 idle until horizon.
    assert f0["concurrency"].tolist() == pytest.approx([1.0, 1.5, 1.0, 0.0])
    assert f0["max_concurrency"].tolist() == [1, 2, 1, 0]
    assert f0["instances_initialising"].tolist() == pytest.approx([0.5, 0.5, 0, 0])
    assert f0["instances_busy"].tolist() == pytest.approx([0.5, 1.0, 1.0, 0.0])
    assert f0["instances_alive"].tolist() == pytest.approx([1.0, 1.5, 2.0, 1.0])
    assert f0["instances_idle"].tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0])
    assert f0["invocations"].tolist() == [1, 1, 1, 0]
    assert f0["cold_starts"].tolist() == [1, 1, 0, 0]
    assert f0["throttles"].tolist() == [0, 0, 1, 0]


def test_timeseries_idle_steps_omitted_total_kept() -> None:
    frame = timeseries(hand_example(), 1.0)
    # f1 does nothing before t = 3, so only its last step has a row.
    assert rows_of(frame, "f1").index.tolist() == [3.0]
    total = rows_of(frame, TOTAL)
    assert total.index.tolist() == [0.0, 1.0, 2.0, 3.0]
    # [3,4): D in flight (clipped at the horizon), instances 1 and 2 alive.
    assert total.loc[3.0, "concurrency"] == pytest.approx(1.0)
    assert total.loc[3.0, "max_concurrency"] == 1
    assert total.loc[3.0, "instances_alive"] == pytest.approx(2.0)
    assert total.loc[3.0, "instances_idle"] == pytest.approx(1.0)
    assert total.loc[3.0, "cold_starts"] == 1
    assert total["invocations"].sum() == 4


def test_timeseries_dense_keeps_every_row_in_order() -> None:
    frame = timeseries(hand_example(), 1.0, dense=True)
    assert len(frame) == 4 * 3
    assert frame["function"].tolist()[:3] == [TOTAL, "f0", "f1"]
    assert frame["t_s"].is_monotonic_increasing
    assert list(frame["function"].cat.categories) == [TOTAL, "f0", "f1"]
    for column in ("max_concurrency", "invocations", "cold_starts", "throttles"):
        assert frame[column].dtype == np.int64
    assert frame["concurrency"].dtype == np.float64


def test_timeseries_short_last_step_weighted_by_its_width() -> None:
    # Horizon 2.5, step 1: the last step is [2, 2.5); [2, 3) fills it, so mean 1.0.
    run = records(["f"], [Inv(0, 2.0, 1.0)], horizon_s=2.5)
    frame = rows_of(timeseries(run, 1.0, dense=True), "f")
    assert frame.index.tolist() == [0.0, 1.0, 2.0]
    assert frame["concurrency"].tolist() == pytest.approx([0.0, 0.0, 1.0])


def test_timeseries_function_named_total_raises() -> None:
    with pytest.raises(ValueError, match="named 'total'"):
        timeseries(records(["total"], []), 1.0)


def test_timeseries_bad_step_raises() -> None:
    with pytest.raises(ValueError, match="step_s is 0"):
        timeseries(records(["f"], []), 0.0)


def _brute_force_peak(
    starts: np.ndarray, ends: np.ndarray, lo: float, hi: float
) -> int:
    # The level is piecewise constant between events, so checking the step start
    # and every event time inside the step finds the peak (half-open intervals).
    points = np.concatenate([[lo], starts, ends])
    points = points[(points >= lo) & (points < hi)]
    if points.size == 0:
        return 0
    levels = [np.sum((starts <= t) & (ends > t)) for t in points]
    return int(max(levels))


def test_timeseries_random_runs_agree_with_summary_and_brute_force() -> None:
    rng = np.random.default_rng(3)
    # Times on a 0.25 s grid so that ties with step boundaries occur often.
    arrivals = np.sort(rng.integers(0, 40, size=60)) * 0.25
    durations = rng.integers(0, 12, size=60) * 0.25
    functions = rng.integers(0, 3, size=60)
    run = records(
        ["a", "b", "c"],
        [
            Inv(int(f), float(t), float(d), instance_id=k)
            for k, (f, t, d) in enumerate(
                zip(functions, arrivals, durations, strict=True)
            )
        ],
        horizon_s=10.0,
    )
    frame = timeseries(run, 1.0, dense=True)
    summary = summary_of(run)
    for name, index in (("a", 0), ("b", 1), ("c", 2), (TOTAL, None)):
        rows = rows_of(frame, name)
        block = summary["total"] if index is None else summary["functions"][name]
        assert rows["concurrency"].sum() / 10.0 == pytest.approx(
            block["mean_concurrency"]
        )
        assert rows["max_concurrency"].max() == block["max_concurrency"]
        mask = np.ones(60, bool) if index is None else functions == index
        starts, ends = arrivals[mask], (arrivals + durations)[mask]
        expected = [_brute_force_peak(starts, ends, t, t + 1.0) for t in range(10)]
        assert rows["max_concurrency"].tolist() == expected


# -- table ------------------------------------------------------------------------


def test_format_summary_few_functions_lists_each_and_total() -> None:
    run = records(
        ["alpha", "beta"],
        [Inv(0, 0.0, 0.5, is_cold=True), Inv(1, 1.0, 0.25, compute_usd=0.125)],
    )
    text = format_summary(summary_of(run))
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["function", "invocations"]
    assert any(line.startswith("alpha") for line in lines)
    assert any(line.startswith("beta") for line in lines)
    assert lines[-1].startswith("total")
    # alpha: 1 invocation, 100% cold, no throttle, no timeout, p50 500 ms.
    alpha = next(line for line in lines if line.startswith("alpha")).split()
    assert alpha[1:6] == ["1", "100.00", "0.00", "0.00", "500.0"]
    assert text.isascii()
    assert len({len(line) for line in lines if not line.startswith("...")}) <= 3


def test_format_summary_many_functions_top_ten_and_total() -> None:
    names = [f"fn{k:02d}" for k in range(25)]
    # Function k gets k + 1 invocations, so fn24 .. fn15 are the top ten.
    invocations = [Inv(k, 0.01 * j, 0.1) for k in range(25) for j in range(k + 1)]
    text = format_summary(summary_of(records(names, invocations)))
    listed = [line.split()[0] for line in text.splitlines()[2:]]
    assert listed[:10] == [f"fn{k}" for k in range(24, 14, -1)]
    assert "fn14" not in text
    assert "... 15 more functions not listed" in text
    assert text.splitlines()[-1].startswith("total")


def test_format_summary_no_invocations_dashes_and_ascii_names() -> None:
    text = format_summary(summary_of(records(["caf\u00e9"], [])))
    assert "caf\\xe9" in text
    assert text.isascii()
    row = text.splitlines()[2].split()
    # No invocation: no rate of anything, no latency.
    assert row[2:7] == ["-", "-", "-", "-", "-"]


def test_timeseries_no_invocations_total_rows_of_zeros() -> None:
    frame = timeseries(records(["f"], [], horizon_s=3.0), 1.0)
    assert frame["function"].tolist() == [TOTAL] * 3
    assert frame["t_s"].tolist() == [0.0, 1.0, 2.0]
    waits = ["db_borrow_wait_p50_ms", "db_borrow_wait_p99_ms"]
    assert (frame.drop(columns=["t_s", "function", *waits]) == 0).all().all()
    assert frame[waits].isna().all().all()  # no borrow: no percentile


def test_timeseries_zero_horizon_empty_frame_with_columns() -> None:
    run = records(["f"], [Inv(0, 0.0, 1.0)], horizon_s=0.0)
    frame = timeseries(run, 1.0)
    assert frame.empty
    assert "max_concurrency" in frame.columns
    assert summary_of(run)["total"]["mean_concurrency"] is None


def test_step_boundaries_float_step_ends_at_horizon() -> None:
    # 0.3 / 0.1 is 2.9999999999999996 in floats; the horizon still closes the steps.
    assert step_boundaries(0.3, 0.1).tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert step_boundaries(2.5, 1.0).tolist() == [0.0, 1.0, 2.0, 2.5]


def test_timeseries_several_ends_at_step_start_peak_zero() -> None:
    # Three invocations [0, 60): in step [60, 120) nothing is in flight at any
    # instant, so its peak is 0 (not the passing levels 2 and 1 at t=60).
    run = records(["fn"], [Inv(0, 0.0, 60.0) for _ in range(3)], horizon_s=120.0)
    frame = timeseries(run, 60.0, dense=True)
    second = frame[(frame["t_s"] == 60.0) & (frame["function"] == "fn")]
    assert second["max_concurrency"].tolist() == [0]
    first = frame[(frame["t_s"] == 0.0) & (frame["function"] == "fn")]
    assert first["max_concurrency"].tolist() == [3]


@pytest.mark.parametrize(
    ("horizon_s", "step_s", "expected"),
    [
        (2.1, 0.7, [0.0, 0.7, 1.4, 2.1]),  # 3 x 0.7 is 2.0999999999999996 in floats
        (0.5, 0.1, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]),  # 3 x 0.1 must read 0.3
    ],
)
def test_step_boundaries_decimal_multiples_exact(horizon_s, step_s, expected) -> None:
    assert step_boundaries(horizon_s, step_s).tolist() == expected


def test_format_summary_optional_columns_only_when_non_zero() -> None:
    # One throttled request retried once, then served: "retries" appears; nothing
    # errors or is dropped, so those columns stay out.
    run = records(
        ["fn"],
        [
            Inv(0, 0.0, 1.0),
            throttle(0, 0.5, ThrottleReason.RESERVED_CONCURRENCY),
            Inv(0, 1.5, 1.0),
        ],
    )
    run.invocations["request_id"][2] = 1
    run.invocations["attempt"][2] = 2
    header = format_summary(summary_of(run)).splitlines()[0]
    assert "retries" in header
    assert "errors" not in header and "dropped" not in header
    plain = format_summary(summary_of(records(["fn"], [Inv(0, 0.0, 1.0)])))
    assert "retries" not in plain.splitlines()[0]


def test_costs_that_cancel_to_float_noise_show_no_minus_sign() -> None:
    # Free-tier credit equal to the charges leaves -1.6e-19 in float arithmetic.
    summary = summary_of(records(["f"], [Inv(0, 0.0, 1.0)]))
    for block in (summary["total"], summary["functions"]["f"]):
        block["cost_usd"] = {"total": -1.6e-19, "free_tier_credit": -1.6e-19}
        block["monthly_usd"] = -1.6e-19
    text = format_summary(summary)
    assert "-0.0" not in text
