"""Summarise a run's records into a JSON-ready dict, per function and in total.

Every key is documented in docs/results-schema.md. Counting is vectorised with
`np.bincount` on `function_index`; percentiles loop over functions on slices of one
group-sorted array, never over rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lambdasim.billing import COMPONENTS
from lambdasim.report._levels import (
    allocation_units,
    group_codes,
    group_max,
    group_offsets,
    sweep,
    time_in_window,
)
from lambdasim.report.database import database_summary
from lambdasim.results import (
    BatchOutcome,
    MessageFate,
    RunRecords,
    ServedBy,
    Status,
    ThrottleReason,
    billing_column,
    has_run,
)
from lambdasim.workload.base import InvocationType

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Statistics of each distribution in a summary block; `pNN` is a percentile.
LATENCY_STATS = ("mean", "p50", "p90", "p99", "p999", "max")
INIT_STATS = ("p50", "p99")
DURATION_STATS = ("mean", "p50", "p99")
_PERCENTILE_OF = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}

_ERROR_STATUSES = (Status.ERROR, Status.INIT_ERROR, Status.DB_ERROR)
_THROTTLE_REASONS = tuple(r for r in ThrottleReason if r is not ThrottleReason.NONE)


def summarise(
    records: RunRecords,
    *,
    scenario: str,
    seed: int,
    scenario_sha256: str,
    version: str,
    costs: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Summarise a run per function and in total.

    Args:
        records: The run's records.
        scenario: Scenario name (or path) to record in the summary.
        seed: Root seed of the run.
        scenario_sha256: Hex SHA-256 of the scenario file.
        version: The lambdasim version that produced the run.
        costs: The bill's cost keys per function, then for the total
            (`lambdasim.billing.RunBill.summary_blocks`); they replace the costs
            summed from the invocation columns, which lack the charges that are not
            per invocation (provisioned allocation, SnapStart cache, proxy, free
            tier) and the monthly projection.

    Returns:
        A dict of plain Python values (NaN becomes None) ready for `json.dump`,
        with the keys listed in docs/results-schema.md.
    """
    columns = _Columns.from_records(records)
    stats = _per_function_stats(columns)
    stats.update(_request_stats(records, columns.n_functions))
    stats.update(_provisioned_stats(records, columns.n_functions))
    stats.update(_sqs_stats(records, columns.n_functions))
    names = records.function_names
    blocks = [_block(stats, i) for i in range(len(names) + 1)]
    if costs is not None:
        for block, cost in zip(blocks, costs, strict=True):
            block.update(cost)
    summary = {
        "scenario": scenario,
        "seed": int(seed),
        "scenario_sha256": scenario_sha256,
        "lambdasim_version": version,
        "horizon_s": float(records.horizon_s),
        "total": blocks[-1],
        "functions": dict(zip(names, blocks[:-1], strict=True)),
    }
    database = database_summary(records)
    if database is not None:
        summary["database"] = database
    return summary


# Per-invocation cost columns and the `cost_usd` component each one sums into.
_COST_COLUMNS = {
    "requests": "request_usd",
    "compute": "compute_usd",
    "init": "init_usd",
    "provisioned_executing": "provisioned_usd",
    "storage": "storage_usd",
    "snapstart": "snapstart_usd",
}


@dataclass(frozen=True)
class _Columns:
    """The invocation and instance columns a summary needs, with derived masks."""

    n_functions: int
    horizon_s: float
    function: IntArray
    status: IntArray
    throttle_reason: IntArray
    is_cold: npt.NDArray[np.bool_]
    has_run: npt.NDArray[np.bool_]
    arrival_s: FloatArray
    end_s: FloatArray
    init_s: FloatArray
    duration_s: FloatArray
    sums: dict[str, FloatArray]
    instance_function: IntArray
    created_s: FloatArray
    reaped_s: FloatArray

    @classmethod
    def from_records(cls, records: RunRecords) -> _Columns:
        inv, ins = records.invocations, records.instances
        status = inv["status"].astype(np.int64)
        sums = {
            name: billing_column(records, name).astype(np.float64)
            for name in (*_COST_COLUMNS.values(), "gb_seconds")
        }
        return cls(
            n_functions=len(records.function_names),
            horizon_s=float(records.horizon_s),
            function=inv["function_index"].astype(np.int64),
            status=status,
            throttle_reason=inv["throttle_reason"].astype(np.int64),
            is_cold=inv["is_cold"].astype(bool),
            has_run=has_run(status),
            arrival_s=inv["arrival_s"].astype(np.float64),
            end_s=inv["end_s"].astype(np.float64),
            init_s=inv["init_s"].astype(np.float64),
            duration_s=inv["duration_s"].astype(np.float64),
            sums=sums,
            instance_function=ins["function_index"].astype(np.int64),
            created_s=ins["created_s"].astype(np.float64),
            reaped_s=ins["reaped_s"].astype(np.float64),
        )


def _per_function_stats(columns: _Columns) -> dict[str, Any]:
    """Return every statistic as an array (or list) of length n_functions + 1.

    Index n_functions holds the total over all functions.
    """
    stats = _counts(columns)
    stats.update(_levels(columns))
    ran, cold = columns.has_run, columns.is_cold
    for key, values, mask, names in (
        ("latency_ms", columns.end_s - columns.arrival_s, ran, LATENCY_STATS),
        # INIT phases that ran: a re-init inside the invoke phase (after a timeout
        # or crash) has no INIT phase of its own (init_s 0) and is left out.
        ("init_ms", columns.init_s, cold & (columns.init_s > 0.0), INIT_STATS),
        ("duration_ms", columns.duration_s, ran, DURATION_STATS),
    ):
        stats[key] = _distribution(
            values[mask] * 1000.0, columns.function[mask], columns.n_functions, names
        )
    return stats


CALLER_LATENCY_STATS = ("mean", "p50", "p99", "max")
ASYNC_AGE_STATS = ("p50", "p99")
# Final statuses of asynchronous events that exhausted Lambda's error retries.
_RETRIED_STATUSES = np.array(
    [Status.ERROR, Status.TIMEOUT, Status.INIT_ERROR, Status.DB_ERROR], dtype=np.int8
)


def _request_stats(records: RunRecords, n_functions: int) -> dict[str, Any]:
    """Count requests (a first attempt and its retries), callers' and events' fates.

    The caller's view covers synchronous requests only: an asynchronous caller has
    its 202 at once, and what becomes of its event is in `async_event_age_ms` and
    `on_failure_destination`. A dropped event's row is not an attempt, so it is no
    retry either.
    """
    inv = records.invocations
    requests = _Requests.from_records(records)
    is_attempt = inv["status"] != Status.DROPPED
    attempts = np.bincount(
        inv["function_index"][is_attempt].astype(np.int64), minlength=n_functions
    )
    counts = np.bincount(requests.function, minlength=n_functions)
    return {
        "requests": _with_total(counts),
        "retries": _with_total(attempts - counts),
        **_caller_stats(records, requests, n_functions),
        **_async_stats(records, requests, n_functions),
    }


@dataclass(frozen=True)
class _Requests:
    """Each request's first and last attempt (rows), function and last status."""

    first: IntArray
    last: IntArray
    function: IntArray
    final_status: npt.NDArray[Any]
    is_async: npt.NDArray[np.bool_]
    is_sync: npt.NDArray[np.bool_]

    @classmethod
    def from_records(cls, records: RunRecords) -> _Requests:
        inv = records.invocations
        rows = np.arange(inv["arrival_s"].shape[0], dtype=np.int64)
        request_id = inv["request_id"].astype(np.int64)
        # request_id is the row of the first attempt; retries come in later rows.
        last_row = rows.copy()
        np.maximum.at(last_row, request_id, rows)
        first = rows[request_id == rows]
        return cls(
            first=first,
            last=last_row[first],
            function=inv["function_index"][first].astype(np.int64),
            final_status=inv["status"][last_row[first]],
            is_async=inv["invocation_type"][first] == InvocationType.ASYNC,
            is_sync=inv["invocation_type"][first] == InvocationType.SYNC,
        )

    def count(self, mask: npt.NDArray[np.bool_], n_functions: int) -> IntArray:
        """Requests per function where `mask` holds, with the total appended."""
        return _with_total(np.bincount(self.function[mask], minlength=n_functions))


def _caller_stats(
    records: RunRecords, requests: _Requests, n_functions: int
) -> dict[str, Any]:
    """Synchronous callers: failures, give-ups and latency from the first attempt.

    A request's caller latency runs from its first attempt's arrival to its last
    attempt's end (its 429, for a request throttled on every attempt), cut at the
    caller's upstream timeout; a request fails when its last attempt did not end
    `ok` or the caller stopped waiting.
    """
    inv = records.invocations
    client = np.full(inv["arrival_s"].shape, -1, dtype=np.int64)
    if records.attempts:
        client[records.attempts["row"]] = records.attempts["client_index"]
    # Index -1 (no client) picks the appended inf: the caller waits to the end.
    timeouts_s = np.array([*records.upstream_timeouts_s, np.inf])[
        client[requests.first]
    ]
    latency_s = inv["end_s"][requests.last] - inv["arrival_s"][requests.first]
    final_status = requests.final_status
    gave_up = (latency_s > timeouts_s) & (final_status != Status.THROTTLED)
    # Batches of SQS pollers have no caller waiting: their fate is in the SQS keys.
    is_sync = requests.is_sync
    return {
        "failed_requests": requests.count(
            ((final_status != Status.OK) | gave_up) & is_sync, n_functions
        ),
        "upstream_timeouts": requests.count(gave_up & is_sync, n_functions),
        "caller_latency_ms": _distribution(
            np.minimum(latency_s, timeouts_s)[is_sync] * 1000.0,
            requests.function[is_sync],
            n_functions,
            CALLER_LATENCY_STATS,
        ),
    }


def _async_stats(
    records: RunRecords, requests: _Requests, n_functions: int
) -> dict[str, Any]:
    """Asynchronous events: their age when they run, and where failures go.

    Events Lambda gives up on end in the on-failure destination, by reason.
    """
    inv = records.invocations
    ran = (inv["invocation_type"] == InvocationType.ASYNC) & has_run(inv["status"])
    age_s = inv["arrival_s"] - inv["arrival_s"][inv["request_id"]]
    final_status = requests.final_status
    exhausted = np.isin(final_status, _RETRIED_STATUSES)
    return {
        "async_event_age_ms": _distribution(
            age_s[ran] * 1000.0,
            inv["function_index"][ran].astype(np.int64),
            n_functions,
            ASYNC_AGE_STATS,
        ),
        "destination_retries_exhausted": requests.count(
            requests.is_async & exhausted, n_functions
        ),
        "destination_max_event_age": requests.count(
            requests.is_async & (final_status == Status.DROPPED), n_functions
        ),
    }


def _provisioned_stats(records: RunRecords, n_functions: int) -> dict[str, Any]:
    """Provisioned concurrency: who served, how much was allocated and used.

    Utilisation is CloudWatch's ProvisionedConcurrencyUtilization made
    time-weighted over the run: time PC instances spent serving, over time they
    were ready (idle or busy), both within the horizon.
    """
    inv, ins = records.invocations, records.instances
    window = (0.0, float(records.horizon_s))
    function = inv["function_index"].astype(np.int64)
    served_by = inv["served_by"]
    ran = has_run(inv["status"])
    on_pc = ran & (served_by == ServedBy.PROVISIONED)
    busy_s = time_in_window(
        inv["arrival_s"][on_pc],
        inv["end_s"][on_pc],
        function[on_pc],
        n_functions,
        window,
    )
    is_pc = ins["is_provisioned"].astype(bool)
    pc_function = ins["function_index"][is_pc].astype(np.int64)
    ready_s = time_in_window(
        ins["ready_s"][is_pc], ins["reaped_s"][is_pc], pc_function, n_functions, window
    )
    units = allocation_units(records.allocations, records.horizon_s)
    allocated_s = _with_total(time_in_window(*units, n_functions, window))
    grouped, total = sweep(*units, n_functions)
    busy_s, ready_s = _with_total(busy_s), _with_total(ready_s)
    horizon_s = records.horizon_s
    return {
        "provisioned_invocations": _with_total(
            np.bincount(function[on_pc], minlength=n_functions)
        ),
        "spillover_invocations": _with_total(
            np.bincount(
                function[ran & (served_by == ServedBy.SPILLOVER)], minlength=n_functions
            )
        ),
        "provisioned_inits": _with_total(
            np.bincount(pc_function, minlength=n_functions)
        ),
        "pc_utilisation": np.divide(
            busy_s, ready_s, out=np.full(n_functions + 1, math.nan), where=ready_s > 0
        ),
        "mean_provisioned_concurrency": (
            allocated_s / horizon_s if horizon_s > 0 else np.zeros(n_functions + 1)
        ),
        "max_provisioned_concurrency": np.append(group_max(grouped), group_max(total)),
    }


DELIVERY_LATENCY_STATS = ("mean", "p50", "p99", "max")


def _sqs_stats(records: RunRecords, n_functions: int) -> dict[str, Any]:
    """Messages of SQS event source mappings: their fates, receives and age.

    A receive is one message handed to the function in a batch (SQS's receive
    count); a throttled receive is one whose batch was throttled on every attempt
    until its poller let it go. Downstream throttles are batches that failed on a
    refused downstream call.
    """
    messages, batches = records.sqs_messages, records.sqs_batches
    empty = np.zeros(0)
    function = messages.get("function_index", empty).astype(np.int64)
    fate = messages.get("fate", empty)
    sent_s = messages.get("sent_s", empty).astype(np.float64)
    gone_s = messages.get("gone_s", empty).astype(np.float64)
    batch_function = batches.get("function_index", empty).astype(np.int64)
    outcome = batches.get("outcome", empty)
    size = batches.get("messages", empty).astype(np.float64)

    def count(mask: npt.NDArray[np.bool_], group: IntArray = function) -> IntArray:
        return _with_total(np.bincount(group[mask], minlength=n_functions))

    def total(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return _with_total(np.bincount(function, values, minlength=n_functions))

    inv = records.invocations
    polled = (inv["invocation_type"] == InvocationType.POLL) & has_run(inv["status"])
    delivered = fate == MessageFate.DELIVERED
    # Assumption A-12: a message still queued at the end is aged up to the horizon.
    age_s = np.where(np.isnan(gone_s), records.horizon_s, gone_s) - sent_s
    peaks = _peak_depth(sent_s, gone_s, function, n_functions)
    return {
        "messages_sent": count(np.ones(function.shape, dtype=bool)),
        "messages_delivered": count(delivered),
        "dlq_messages": count(fate == MessageFate.DEAD_LETTERED),
        "messages_in_queue": count(fate == MessageFate.QUEUED),
        "message_receives": total(messages.get("receives", empty).astype(float)),
        "throttled_receives": _with_total(
            np.bincount(
                batch_function,
                np.where(outcome == BatchOutcome.THROTTLED, size, 0.0),
                minlength=n_functions,
            )
        ),
        "poll_invocations": _with_total(
            np.bincount(
                inv["function_index"][polled].astype(np.int64), minlength=n_functions
            )
        ),
        "downstream_throttles": count(
            outcome == BatchOutcome.DOWNSTREAM_THROTTLED, batch_function
        ),
        "max_queue_depth": peaks,
        "max_message_age_ms": _distribution(
            age_s * 1000.0, function, n_functions, ("max",)
        ),
        "delivery_latency_ms": _distribution(
            (gone_s - sent_s)[delivered] * 1000.0,
            function[delivered],
            n_functions,
            DELIVERY_LATENCY_STATS,
        ),
    }


def _peak_depth(
    sent_s: FloatArray, gone_s: FloatArray, function: IntArray, n_functions: int
) -> IntArray:
    """Exact peak of messages in each queue (visible or in flight), and the total."""
    grouped, total = sweep(sent_s, gone_s, function, n_functions)
    return np.append(group_max(grouped), group_max(total))


def _per_message(numerator: float, messages: int) -> float:
    return numerator / messages if messages else 0.0


def _with_total(per_function: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.append(per_function, per_function.sum())


def _counts(columns: _Columns) -> dict[str, Any]:
    """Count attempts by status, reason and start kind, and sum the costs."""
    n = columns.n_functions
    n_status = max(Status) + 1
    by_status = np.bincount(
        columns.function * n_status + columns.status, minlength=n * n_status
    ).reshape(n, n_status)
    by_status = np.vstack([by_status, by_status.sum(axis=0)])
    throttled = columns.status == Status.THROTTLED
    n_reason = max(ThrottleReason) + 1
    by_reason = np.bincount(
        columns.function[throttled] * n_reason + columns.throttle_reason[throttled],
        minlength=n * n_reason,
    ).reshape(n, n_reason)
    by_reason = np.vstack([by_reason, by_reason.sum(axis=0)])
    stats: dict[str, Any] = {
        "by_status": by_status,
        "by_reason": by_reason,
        "cold_starts": _with_total(
            np.bincount(columns.function[columns.is_cold], minlength=n)
        ),
    }
    for name, values in columns.sums.items():
        stats[name] = _with_total(np.bincount(columns.function, values, minlength=n))
    return stats


def _levels(columns: _Columns) -> dict[str, Any]:
    """Time-weighted means and exact peaks of concurrency and live instances."""
    n, horizon_s = columns.n_functions, columns.horizon_s
    ran = columns.has_run
    # Assumption A-09: in flight from arrival (overhead and INIT included) to end.
    in_flight = (columns.arrival_s[ran], columns.end_s[ran], columns.function[ran])
    alive = (columns.created_s, columns.reaped_s, columns.instance_function)
    stats: dict[str, Any] = {
        "instances_created": _with_total(
            np.bincount(columns.instance_function, minlength=n)
        )
    }
    for prefix, (start_s, end_s, group) in (
        ("concurrency", in_flight),
        ("instances", alive),
    ):
        # Assumption A-12: time past the horizon (the drain, instances never reaped)
        # is cut from the levels.
        covered_s = time_in_window(start_s, end_s, group, n, (0.0, horizon_s))
        covered_s = _with_total(covered_s)
        stats[f"mean_{prefix}"] = (
            covered_s / horizon_s if horizon_s > 0 else np.full(n + 1, math.nan)
        )
        grouped, total = sweep(start_s, end_s, group, n)
        stats[f"max_{prefix}"] = np.append(group_max(grouped), group_max(total))
    return stats


def _distribution(
    values: FloatArray, group: IntArray, n_groups: int, names: tuple[str, ...]
) -> list[dict[str, float]]:
    """Return the named statistics per group, then over all values (NaN if none).

    Percentiles use numpy's default linear interpolation.
    """
    order = np.argsort(group_codes(group, n_groups), kind="stable")
    by_group = values[order]
    offsets = group_offsets(group, n_groups)
    slices = [by_group[offsets[i] : offsets[i + 1]] for i in range(n_groups)]
    quantiles = [name for name in names if name in _PERCENTILE_OF]
    levels = [_PERCENTILE_OF[name] for name in quantiles]
    result = []
    for sample in [*slices, values]:
        if sample.size == 0:
            result.append(dict.fromkeys(names, math.nan))
            continue
        found = np.percentile(sample, levels).tolist() if levels else []
        entry = dict(zip(quantiles, found, strict=True))
        if "mean" in names:
            entry["mean"] = float(sample.mean())
        if "max" in names:
            entry["max"] = float(sample.max())
        result.append({name: entry[name] for name in names})
    return result


def _block(stats: dict[str, Any], i: int) -> dict[str, Any]:
    """Assemble the summary block of function `i` (or the total at n_functions)."""
    by_status = stats["by_status"][i]
    invocations = int(by_status.sum())
    throttles = int(by_status[Status.THROTTLED])
    dropped = int(by_status[Status.DROPPED])
    cold_starts = int(stats["cold_starts"][i])
    cost_usd = {
        name: float(stats[_COST_COLUMNS[name]][i]) if name in _COST_COLUMNS else 0.0
        for name in COMPONENTS
    }
    cost_usd["total"] = sum(cost_usd.values())
    completed = invocations - throttles - dropped
    return {
        "invocations": invocations,
        "completed": completed,
        "ok": int(by_status[Status.OK]),
        "cold_starts": cold_starts,
        "cold_start_rate": _rate(cold_starts, invocations),
        "throttles": throttles,
        "throttle_rate": _rate(throttles, invocations),
        "throttles_by_reason": {
            reason.name.lower(): int(stats["by_reason"][i][reason])
            for reason in _THROTTLE_REASONS
        },
        "dropped": dropped,
        "timeouts": int(by_status[Status.TIMEOUT]),
        "errors": int(sum(by_status[s] for s in _ERROR_STATUSES)),
        "db_errors": int(by_status[Status.DB_ERROR]),
        "latency_ms": _json_floats(stats["latency_ms"][i]),
        "init_ms": _json_floats(stats["init_ms"][i]),
        "duration_ms": _json_floats(stats["duration_ms"][i]),
        "max_concurrency": int(stats["max_concurrency"][i]),
        "mean_concurrency": _json_float(stats["mean_concurrency"][i]),
        "instances_created": int(stats["instances_created"][i]),
        "mean_instances": _json_float(stats["mean_instances"][i]),
        "max_instances": int(stats["max_instances"][i]),
        # Without a bill (`costs`): the invocation columns' charges, not projected.
        "cost_usd": cost_usd,
        "monthly_usd": None,
        "cost_per_million_invocations": (
            cost_usd["total"] / completed * 1e6 if completed else None
        ),
        "gb_seconds": float(stats["gb_seconds"][i]),
        "requests": int(stats["requests"][i]),
        "retries": int(stats["retries"][i]),
        "failed_requests": int(stats["failed_requests"][i]),
        "upstream_timeouts": int(stats["upstream_timeouts"][i]),
        "caller_latency_ms": _json_floats(stats["caller_latency_ms"][i]),
        "async_event_age_ms": _json_floats(stats["async_event_age_ms"][i]),
        "provisioned_invocations": int(stats["provisioned_invocations"][i]),
        "spillover_invocations": int(stats["spillover_invocations"][i]),
        "provisioned_inits": int(stats["provisioned_inits"][i]),
        "pc_utilisation": _json_float(stats["pc_utilisation"][i]),
        "mean_provisioned_concurrency": float(stats["mean_provisioned_concurrency"][i]),
        "max_provisioned_concurrency": int(stats["max_provisioned_concurrency"][i]),
        "on_failure_destination": {
            "retries_exhausted": int(stats["destination_retries_exhausted"][i]),
            "max_event_age": int(stats["destination_max_event_age"][i]),
        },
        **_sqs_block(stats, i),
    }


def _sqs_block(stats: dict[str, Any], i: int) -> dict[str, Any]:
    """The SQS keys of a summary block (all 0 without event source mappings)."""
    sent = int(stats["messages_sent"][i])
    receives = int(stats["message_receives"][i])
    return {
        "messages_sent": sent,
        "messages_delivered": int(stats["messages_delivered"][i]),
        "dlq_messages": int(stats["dlq_messages"][i]),
        "messages_in_queue": int(stats["messages_in_queue"][i]),
        "message_receives": receives,
        "throttled_receives": int(stats["throttled_receives"][i]),
        "receives_per_message": _per_message(receives, sent),
        "invocations_per_message": _per_message(
            int(stats["poll_invocations"][i]), sent
        ),
        "downstream_throttles": int(stats["downstream_throttles"][i]),
        "max_queue_depth": int(stats["max_queue_depth"][i]),
        "max_message_age_ms": _json_float(stats["max_message_age_ms"][i]["max"]) or 0.0,
        "delivery_latency_ms": _json_floats(stats["delivery_latency_ms"][i]),
    }


def _rate(count: int, invocations: int) -> float:
    return count / invocations if invocations else 0.0


def _json_float(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _json_floats(values: dict[str, float]) -> dict[str, float | None]:
    return {key: _json_float(value) for key, value in values.items()}
