"""Summarise a run's records into a JSON-ready dict, per function and in total.

Every key is documented in docs/results-schema.md. Counting is vectorised with
`np.bincount` on `function_index`; percentiles loop over functions on slices of one
group-sorted array, never over rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lambdasim.report._levels import (
    group_codes,
    group_max,
    group_offsets,
    sweep,
    time_in_window,
)
from lambdasim.report.database import database_summary
from lambdasim.results import (
    RunRecords,
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
) -> dict[str, Any]:
    """Summarise a run per function and in total.

    Args:
        records: The run's records.
        scenario: Scenario name (or path) to record in the summary.
        seed: Root seed of the run.
        scenario_sha256: Hex SHA-256 of the scenario file.
        version: The lambdasim version that produced the run.

    Returns:
        A dict of plain Python values (NaN becomes None) ready for `json.dump`,
        with the keys listed in docs/results-schema.md.
    """
    columns = _Columns.from_records(records)
    stats = _per_function_stats(columns)
    stats.update(_request_stats(records, columns.n_functions))
    names = records.function_names
    summary = {
        "scenario": scenario,
        "seed": int(seed),
        "scenario_sha256": scenario_sha256,
        "lambdasim_version": version,
        "horizon_s": float(records.horizon_s),
        "total": _block(stats, len(names)),
        "functions": {name: _block(stats, i) for i, name in enumerate(names)},
    }
    database = database_summary(records)
    if database is not None:
        summary["database"] = database
    return summary


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
            for name in ("request_usd", "compute_usd", "gb_seconds")
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
    is_sync = ~requests.is_async
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
    request_usd = float(stats["request_usd"][i])
    compute_usd = float(stats["compute_usd"][i])
    return {
        "invocations": invocations,
        "completed": invocations - throttles - dropped,
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
        "cost_usd": {
            "requests": request_usd,
            "compute": compute_usd,
            "total": request_usd + compute_usd,
        },
        "gb_seconds": float(stats["gb_seconds"][i]),
        "requests": int(stats["requests"][i]),
        "retries": int(stats["retries"][i]),
        "failed_requests": int(stats["failed_requests"][i]),
        "upstream_timeouts": int(stats["upstream_timeouts"][i]),
        "caller_latency_ms": _json_floats(stats["caller_latency_ms"][i]),
        "async_event_age_ms": _json_floats(stats["async_event_age_ms"][i]),
        "on_failure_destination": {
            "retries_exhausted": int(stats["destination_retries_exhausted"][i]),
            "max_event_age": int(stats["destination_max_event_age"][i]),
        },
    }


def _rate(count: int, invocations: int) -> float:
    return count / invocations if invocations else 0.0


def _json_float(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _json_floats(values: dict[str, float]) -> dict[str, float | None]:
    return {key: _json_float(value) for key, value in values.items()}
