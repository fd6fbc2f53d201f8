"""Database and RDS Proxy metrics of a run: the summary block and time-series columns.

Reads the database tables of `RunRecords` (connections, queries, borrows, errors;
see docs/results-schema.md). A run without a database has none of them: the summary
has no `database` block and the time-series columns are 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lambdasim.report._levels import group_max, sweep, time_in_steps, time_in_window
from lambdasim.results import ConnectionKind, DbErrorReason, RunRecords, Status

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Intervals = tuple[FloatArray, FloatArray, IntArray]

# Time-series columns, in order: (1 + n_functions, n_steps) arrays, total first.
DATABASE_TIMESERIES_COLUMNS: tuple[str, ...] = (
    "db_connections",
    "db_client_connections",
    "db_pinned_connections",
    "db_queries_in_flight",
    "db_borrows_waiting",
    "db_errors",
    *(f"db_errors_{reason.name.lower()}" for reason in DbErrorReason if reason),
    "db_borrow_wait_p50_ms",
    "db_borrow_wait_p99_ms",
)
_WAIT_COLUMNS = {"db_borrow_wait_p50_ms": 50.0, "db_borrow_wait_p99_ms": 99.0}
BORROW_WAIT_STATS = ("p50", "p99", "max")
QUERY_STATS = ("p50", "p99")
_PERCENTILES = {"p50": 50.0, "p99": 99.0}
_REASONS = tuple(r for r in DbErrorReason if r is not DbErrorReason.NONE)


def _connections(records: RunRecords, kinds: tuple[ConnectionKind, ...]) -> Intervals:
    """Intervals of the connections of `kinds`, one per connection (counts expanded).

    The proxy's own database connections belong to no function: group -1.
    """
    table = records.database["connections"]
    rows = np.isin(table["kind"], [int(kind) for kind in kinds])
    count = table["count"][rows].astype(np.int64)
    return (
        np.repeat(table["opened_s"][rows].astype(np.float64), count),
        np.repeat(table["closed_s"][rows].astype(np.float64), count),
        np.repeat(table["function_index"][rows].astype(np.int64), count),
    )


def _levels(records: RunRecords) -> dict[str, Intervals]:
    """Each level's intervals, keyed by its time-series column."""
    queries = records.database["queries"]
    borrows = records.database["borrows"]
    requested_s = borrows["requested_s"].astype(np.float64)
    return {
        "db_connections": _connections(
            records, (ConnectionKind.DIRECT, ConnectionKind.BACKEND)
        ),
        "db_client_connections": _connections(records, (ConnectionKind.CLIENT,)),
        "db_pinned_connections": _connections(records, (ConnectionKind.PINNED,)),
        "db_queries_in_flight": (
            queries["start_s"].astype(np.float64),
            queries["end_s"].astype(np.float64),
            queries["function_index"].astype(np.int64),
        ),
        "db_borrows_waiting": (
            requested_s,
            requested_s + borrows["wait_s"].astype(np.float64),
            borrows["function_index"].astype(np.int64),
        ),
    }


def _peak_and_mean(intervals: Intervals, horizon_s: float) -> tuple[int, float]:
    """Exact peak and time-weighted mean over `[0, horizon_s]`, all groups together."""
    start_s, end_s, _ = intervals
    group = np.zeros(start_s.shape, dtype=np.int64)
    _, total = sweep(start_s, end_s, group, 1)
    covered_s = time_in_window(start_s, end_s, group, 1, (0.0, horizon_s))
    mean = float(covered_s[0]) / horizon_s if horizon_s > 0 else math.nan
    return int(group_max(total)[0]), mean


def _statistics(values_ms: FloatArray, names: tuple[str, ...]) -> dict[str, Any]:
    if values_ms.size == 0:
        return dict.fromkeys(names)
    result: dict[str, Any] = {}
    for name in names:
        if name == "max":
            result[name] = float(values_ms.max())
        else:
            result[name] = float(np.percentile(values_ms, _PERCENTILES[name]))
    return result


def database_summary(records: RunRecords) -> dict[str, Any] | None:
    """Return the summary's `database` block, or None for a run without a database.

    Keys are documented in docs/results-schema.md.
    """
    info = records.database_info
    if not info:
        return None
    horizon_s = float(records.horizon_s)
    block: dict[str, Any] = {
        "max_connections": int(info["max_connections"]),
        "usable_connections": int(info["usable_connections"]),
        "vcpus": float(info["vcpus"]),
        "has_proxy": "proxy_connection_cap" in info,
        "proxy_connection_cap": (
            int(info["proxy_connection_cap"])
            if "proxy_connection_cap" in info
            else None
        ),
    }
    for column, intervals in _levels(records).items():
        name = column.removeprefix("db_")
        peak, mean = _peak_and_mean(intervals, horizon_s)
        block[f"peak_{name}"], block[f"mean_{name}"] = peak, mean
    errors = records.database["errors"]["reason"].astype(np.int64)
    block["db_errors"] = {
        reason.name.lower(): int(np.count_nonzero(errors == reason))
        for reason in _REASONS
    }
    borrows = records.database["borrows"]
    block["borrows"] = int(borrows["wait_s"].shape[0])
    block["borrow_wait_ms"] = _statistics(
        borrows["wait_s"].astype(np.float64) * 1000.0, BORROW_WAIT_STATS
    )
    queries = records.database["queries"]
    block["queries"] = int(queries["start_s"].shape[0])
    block["query_ms"] = _statistics(
        (queries["end_s"] - queries["start_s"]).astype(np.float64) * 1000.0,
        QUERY_STATS,
    )
    # Priced by the bill (Assumption A-60); the runner fills it in.
    block["proxy_cost_usd"] = 0.0
    return block


def database_step_columns(
    records: RunRecords, boundaries_s: FloatArray
) -> dict[str, npt.NDArray[Any]]:
    """Return the database time-series columns, each (1 + n_functions, n_steps).

    Levels are time-weighted means over each step; `db_errors` counts `db_error`
    attempts arriving in it. The proxy's own connections count in the total only.
    """
    n_functions = len(records.function_names)
    n_steps = boundaries_s.shape[0] - 1
    if not records.database:
        return {
            name: (
                np.full((1 + n_functions, n_steps), np.nan)
                if name in _WAIT_COLUMNS
                else np.zeros(
                    (1 + n_functions, n_steps),
                    dtype=np.int64 if name.startswith("db_errors") else np.float64,
                )
            )
            for name in DATABASE_TIMESERIES_COLUMNS
        }
    width_s = np.diff(boundaries_s)
    columns: dict[str, npt.NDArray[Any]] = {}
    for name, (start_s, end_s, group) in _levels(records).items():
        owned = group >= 0
        per_function = time_in_steps(
            start_s[owned], end_s[owned], group[owned], n_functions, boundaries_s
        )
        shared = time_in_steps(
            start_s[~owned],
            end_s[~owned],
            np.zeros(int((~owned).sum())),
            1,
            boundaries_s,
        )
        total = per_function.sum(axis=0, keepdims=True) + shared
        columns[name] = np.vstack([total, per_function]) / width_s
    inv = records.invocations
    failed = inv["status"] == Status.DB_ERROR
    columns["db_errors"] = _count_per_step(
        inv["arrival_s"][failed],
        inv["function_index"][failed],
        n_functions,
        boundaries_s,
    )
    errors = records.database["errors"]
    error_rows = errors["row"].astype(np.int64)
    for reason in _REASONS:
        rows = error_rows[errors["reason"] == reason]
        columns[f"db_errors_{reason.name.lower()}"] = _count_per_step(
            inv["arrival_s"][rows],
            inv["function_index"][rows],
            n_functions,
            boundaries_s,
        )
    columns.update(_borrow_wait_per_step(records, boundaries_s))
    return columns


def _count_per_step(
    time_s: npt.NDArray[Any],
    function: npt.NDArray[Any],
    n_functions: int,
    boundaries_s: FloatArray,
) -> IntArray:
    """Events per step, (1 + n_functions, n_steps), total first."""
    n_steps = boundaries_s.shape[0] - 1
    step = np.searchsorted(boundaries_s, time_s, side="right") - 1
    keep = (step >= 0) & (step < n_steps)
    cells = function[keep].astype(np.int64) * n_steps + step[keep]
    counts = np.bincount(cells, minlength=n_functions * n_steps).reshape(
        n_functions, n_steps
    )
    return np.vstack([counts.sum(axis=0, keepdims=True), counts]).astype(np.int64)


def _borrow_wait_per_step(
    records: RunRecords, boundaries_s: FloatArray
) -> dict[str, FloatArray]:
    """p50 and p99 of the borrow waits requested in each step (NaN: no borrow)."""
    n_functions = len(records.function_names)
    n_steps = boundaries_s.shape[0] - 1
    borrows = records.database["borrows"]
    step = np.searchsorted(boundaries_s, borrows["requested_s"], side="right") - 1
    keep = (step >= 0) & (step < n_steps)
    frame = pd.DataFrame(
        {
            "function": borrows["function_index"][keep].astype(np.int64) + 1,
            "step": step[keep],
            "wait_ms": borrows["wait_s"][keep].astype(np.float64) * 1000.0,
        }
    )
    both = pd.concat([frame.assign(function=0), frame])
    grouped = both.groupby(["function", "step"])["wait_ms"]
    columns = {}
    for name, percentile in _WAIT_COLUMNS.items():
        cells = np.full((1 + n_functions, n_steps), np.nan)
        if len(both):
            found = grouped.quantile(percentile / 100.0)
            index = found.index.to_frame().to_numpy()
            cells[index[:, 0], index[:, 1]] = found.to_numpy()
        columns[name] = cells
    return columns


def serverless_acu(
    records: RunRecords, min_acu: float, max_acu: float, vcpus_per_acu: float
) -> tuple[FloatArray, FloatArray]:
    """Return the Aurora Serverless v2 capacity of each second of the run, in ACU.

    Returns:
        The capacity of each second, and each second's length (the last one may be
        shorter).

    Assumption A-63: each second the writer runs at the capacity its queries need,
    their mean number in flight over that second on `vcpus_per_acu` vCPUs per ACU,
    rounded up to a step of 0.5 ACU, within `[min_acu, max_acu]`.
    """
    horizon_s = float(records.horizon_s)
    boundaries = np.append(np.arange(0.0, horizon_s, 1.0), horizon_s)
    queries = records.database.get("queries", {})
    start = np.asarray(queries.get("start_s", np.zeros(0)), dtype=np.float64)
    end = np.asarray(queries.get("end_s", np.zeros(0)), dtype=np.float64)
    busy = time_in_steps(
        start, end, np.zeros(start.shape[0], dtype=np.int64), 1, boundaries
    )[0]
    widths = np.diff(boundaries)
    needed = np.ceil(busy / widths / vcpus_per_acu / 0.5 - 1e-9) * 0.5
    return np.clip(needed, min_acu, max_acu), widths
