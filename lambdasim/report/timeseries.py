"""Levels and counts of a run on a fixed time step, as a tidy DataFrame.

One row per (step, function), plus a `total` pseudo-function over all functions. A
function's row is left out of a step in which it had nothing going on (no instance
alive, nothing in flight, no arrival), which keeps 500 mostly idle functions cheap;
pass `dense=True` to keep every row. Columns are documented in
docs/results-schema.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from lambdasim.report._levels import (
    allocation_units,
    step_peaks,
    sweep,
    time_in_steps,
)
from lambdasim.report.database import (
    DATABASE_TIMESERIES_COLUMNS,
    database_step_columns,
)
from lambdasim.results import (
    MessageFate,
    RunRecords,
    ServedBy,
    Status,
    categorical,
    has_run,
)
from lambdasim.workload.base import InvocationType

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_Scalar = TypeVar("_Scalar", bound=np.generic)

TOTAL = "total"
"""Name of the pseudo-function that sums all functions in the timeseries."""

TIMESERIES_COLUMNS: tuple[str, ...] = (
    "t_s",
    "function",
    "concurrency",
    "max_concurrency",
    "instances_initialising",
    "instances_busy",
    "instances_idle",
    "instances_alive",
    "invocations",
    "cold_starts",
    "throttles",
    "async_queue_depth",
    "provisioned_concurrency",
    "provisioned_in_use",
    "spillover_invocations",
    "queue_depth",
    "oldest_message_age_s",
    "pollers",
    "batches_in_flight",
    "messages_sent",
    "messages_delivered",
    "dlq_messages",
    *DATABASE_TIMESERIES_COLUMNS,
)


def step_boundaries(horizon_s: float, step_s: float) -> FloatArray:
    """Return step boundaries 0, step_s, 2 step_s, ..., horizon_s.

    The last step is shorter when `horizon_s` is not a multiple of `step_s`.

    >>> step_boundaries(2.5, 1.0).tolist()
    [0.0, 1.0, 2.0, 2.5]
    """
    if not (math.isfinite(step_s) and step_s > 0):
        raise ValueError(f"step_s is {step_s}; expected a finite number > 0")
    # Rounded to the nanosecond, so that 3 x 0.1 is 0.3 and an arrival at 0.3 s falls
    # in the step that starts there.
    starts = np.round(np.arange(math.ceil(horizon_s / step_s)) * step_s, 9)
    # A start within rounding error of the horizon is the horizon itself (2.1 is
    # three steps of 0.7, though 3 * 0.7 = 2.0999999999999996).
    starts = starts[starts < horizon_s * (1.0 - 1e-12)]
    return np.append(starts, max(float(horizon_s), 0.0))


def timeseries(
    records: RunRecords, step_s: float, *, dense: bool = False
) -> pd.DataFrame:
    """Sample the run's levels and counts on steps of `step_s` seconds.

    Step k covers `[t_s, t_s + step_s)`, clipped to the horizon. Levels are
    time-weighted means over the step (`max_concurrency` is the peak within it);
    counts are of arrivals within it.

    Args:
        records: The run's records.
        step_s: Step length in seconds.
        dense: Keep a row for every function in every step, even an idle one.

    Returns:
        A DataFrame with `TIMESERIES_COLUMNS`, sorted by `t_s`, the `total` row
        first within each step, then functions in `function_index` order.

    Raises:
        ValueError: If `step_s` is not positive, or a function is named `total`.
    """
    names = records.function_names
    if TOTAL in names:
        raise ValueError(
            f"a function is named {TOTAL!r}, which the timeseries uses for the sum "
            "over all functions; rename the function"
        )
    boundaries_s = step_boundaries(records.horizon_s, step_s)
    columns = _step_columns(records, boundaries_s)
    n_rows, n_steps = columns["concurrency"].shape
    # Rows are laid out step-major: (step 0: total, f0, f1, ...), (step 1: ...).
    frame = pd.DataFrame(
        {
            "t_s": np.repeat(boundaries_s[:-1], n_rows),
            "function": categorical(
                np.tile(np.arange(n_rows), n_steps), [TOTAL, *names]
            ),
            **{name: values.T.reshape(-1) for name, values in columns.items()},
        },
        columns=list(TIMESERIES_COLUMNS),
    )
    if not dense:
        is_active = (
            (frame["instances_alive"] > 0)
            | (frame["max_concurrency"] > 0)
            | (frame["invocations"] > 0)
            | (frame["async_queue_depth"] > 0)
            | (frame["provisioned_concurrency"] > 0)
            | (frame["queue_depth"] > 0)
            | (frame["pollers"] > 0)
        )
        frame = frame[is_active | (frame["function"] == TOTAL)]
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class _Steps:
    """The invocation columns a timeseries needs, and the steps to bin them into."""

    n_functions: int
    boundaries_s: FloatArray
    function: IntArray
    arrival_s: FloatArray
    start_s: FloatArray
    end_s: FloatArray
    has_run: npt.NDArray[np.bool_]
    is_cold: npt.NDArray[np.bool_]
    is_throttled: npt.NDArray[np.bool_]

    @classmethod
    def from_records(cls, records: RunRecords, boundaries_s: FloatArray) -> _Steps:
        inv = records.invocations
        status = inv["status"].astype(np.int64)
        ran = has_run(status)
        return cls(
            n_functions=len(records.function_names),
            boundaries_s=boundaries_s,
            function=inv["function_index"].astype(np.int64),
            arrival_s=inv["arrival_s"].astype(np.float64),
            start_s=inv["start_s"].astype(np.float64),
            end_s=inv["end_s"].astype(np.float64),
            has_run=ran,
            is_cold=ran & inv["is_cold"].astype(bool),
            is_throttled=status == Status.THROTTLED,
        )

    def mean_level(
        self, start_s: FloatArray, end_s: FloatArray, group: IntArray
    ) -> FloatArray:
        """Time-weighted mean number of open intervals per step, total first."""
        covered_s = time_in_steps(
            start_s, end_s, group, self.n_functions, self.boundaries_s
        )
        return _with_total(covered_s) / np.diff(self.boundaries_s)

    def arrivals(self, mask: npt.NDArray[np.bool_]) -> IntArray:
        """Number of masked arrivals per step, total first."""
        return self.events(self.arrival_s[mask], self.function[mask])

    def events(self, time_s: FloatArray, group: IntArray) -> IntArray:
        """Number of events (times, NaN for never) per step and group, total first."""
        n_steps = self.boundaries_s.shape[0] - 1
        step = np.searchsorted(self.boundaries_s, time_s, side="right") - 1
        keep = ~np.isnan(time_s) & (step >= 0) & (step < n_steps)
        flat = np.bincount(
            group[keep] * n_steps + step[keep],
            minlength=self.n_functions * n_steps,
        )
        return _with_total(flat.reshape(self.n_functions, n_steps).astype(np.int64))


def _step_columns(
    records: RunRecords, boundaries_s: FloatArray
) -> dict[str, npt.NDArray[np.generic]]:
    """Return each column as an array (1 + n_functions, n_steps), total row first."""
    steps = _Steps.from_records(records, boundaries_s)
    ran, cold = steps.has_run, steps.is_cold
    # Assumptions: in flight from arrival to end; steps stop at the
    # horizon, so time past it is cut.
    concurrency = steps.mean_level(
        steps.arrival_s[ran], steps.end_s[ran], steps.function[ran]
    )
    # A cold start is initialising from arrival to handler start (platform overhead
    # and INIT): for a new instance that is exactly created_s..ready_s, and it also
    # covers the INIT again after a timeout reset the instance.
    initialising = steps.mean_level(
        steps.arrival_s[cold], steps.start_s[cold], steps.function[cold]
    )
    ins = records.instances
    alive = steps.mean_level(
        ins["created_s"].astype(np.float64),
        ins["reaped_s"].astype(np.float64),
        ins["function_index"].astype(np.int64),
    )
    grouped, total = sweep(
        steps.arrival_s[ran], steps.end_s[ran], steps.function[ran], steps.n_functions
    )
    peaks = np.vstack(
        [step_peaks(total, boundaries_s), step_peaks(grouped, boundaries_s)]
    )
    # Every in-flight invocation holds one instance, so the other live instances
    # are idle. Clip float noise from the subtractions at zero.
    return {
        "concurrency": concurrency,
        "max_concurrency": peaks,
        "instances_initialising": initialising,
        "instances_busy": np.maximum(concurrency - initialising, 0.0),
        "instances_idle": np.maximum(alive - concurrency, 0.0),
        "instances_alive": alive,
        "invocations": steps.arrivals(np.ones_like(ran)),
        "cold_starts": steps.arrivals(cold),
        "throttles": steps.arrivals(steps.is_throttled),
        "async_queue_depth": steps.mean_level(*async_waits(records)),
        **_provisioned_columns(records, steps),
        **database_step_columns(records, boundaries_s),
    }


def _provisioned_columns(
    records: RunRecords, steps: _Steps
) -> dict[str, npt.NDArray[np.generic]]:
    """PC allocated and in use (time-weighted means) and spillover counts."""
    served_by = records.invocations["served_by"]
    on_pc = steps.has_run & (served_by == ServedBy.PROVISIONED)
    start_s, end_s, group = allocation_units(records.allocations, records.horizon_s)
    return {
        "provisioned_concurrency": steps.mean_level(start_s, end_s, group),
        "provisioned_in_use": steps.mean_level(
            steps.arrival_s[on_pc], steps.end_s[on_pc], steps.function[on_pc]
        ),
        "spillover_invocations": steps.arrivals(
            steps.has_run & (served_by == ServedBy.SPILLOVER)
        ),
        **_sqs_columns(records, steps),
    }


def _sqs_columns(records: RunRecords, steps: _Steps) -> dict[str, npt.NDArray[Any]]:
    """Queue levels, pollers and message counts of SQS event source mappings."""
    messages, batches = records.sqs_messages, records.sqs_batches
    empty = np.zeros(0)
    function = messages.get("function_index", empty).astype(np.int64)
    sent_s = messages.get("sent_s", empty).astype(np.float64)
    gone_s = messages.get("gone_s", empty).astype(np.float64)
    fate = messages.get("fate", empty)
    gone = np.where(fate == MessageFate.QUEUED, np.nan, gone_s)
    return {
        # Messages sent and not yet deleted or dead-lettered: visible or in flight.
        "queue_depth": steps.mean_level(sent_s, gone_s, function),
        "oldest_message_age_s": _oldest_age(sent_s, gone_s, function, steps),
        "pollers": _mean_pollers(records, steps),
        "batches_in_flight": steps.mean_level(
            batches.get("receive_s", empty).astype(np.float64),
            batches.get("end_s", empty).astype(np.float64),
            batches.get("function_index", empty).astype(np.int64),
        ),
        "messages_sent": steps.events(sent_s, function),
        "messages_delivered": steps.events(
            np.where(fate == MessageFate.DELIVERED, gone, np.nan), function
        ),
        "dlq_messages": steps.events(
            np.where(fate == MessageFate.DEAD_LETTERED, gone, np.nan), function
        ),
    }


def _oldest_age(
    sent_s: FloatArray, gone_s: FloatArray, function: IntArray, steps: _Steps
) -> FloatArray:
    """Age of the oldest message in each queue at the end of each step, total first.

    Messages are recorded in the order they were sent, so within one function the
    first message still there at time t (sent at or before t, gone after t) is the
    oldest. A running maximum of the leave times finds it by binary search.
    """
    ends_s = steps.boundaries_s[1:]
    ages = np.zeros((steps.n_functions, ends_s.shape[0]))
    for index in np.unique(function):
        mine = function == index
        sent = sent_s[mine]
        left = np.maximum.accumulate(
            np.where(np.isnan(gone_s[mine]), np.inf, gone_s[mine])
        )
        first = np.searchsorted(left, ends_s, side="right")
        found = first < sent.shape[0]
        oldest = sent[np.minimum(first, sent.shape[0] - 1)]
        ages[index] = np.where(found & (oldest <= ends_s), ends_s - oldest, 0.0)
    return np.vstack([ages.max(axis=0, initial=0.0, keepdims=True), ages])


def _mean_pollers(records: RunRecords, steps: _Steps) -> FloatArray:
    """Time-weighted mean of each mapping's concurrent batches, total first.

    A mapping's poller count is a step function recorded at each change.
    """
    pollers = records.sqs_pollers
    boundaries_s = steps.boundaries_s
    means = np.zeros((steps.n_functions, boundaries_s.shape[0] - 1))
    if not pollers:
        return _with_total(means)
    function = pollers["function_index"].astype(np.int64)
    for index in np.unique(function):
        mine = function == index
        times_s = pollers["time_s"][mine].astype(np.float64)
        levels = pollers["pollers"][mine].astype(np.float64)
        # Area under the step function up to each change, then to each boundary.
        area = np.concatenate([[0.0], np.cumsum(levels[:-1] * np.diff(times_s))])
        at = np.searchsorted(times_s, boundaries_s, side="right") - 1
        known = at >= 0
        clipped = np.maximum(at, 0)
        integral = np.where(
            known,
            area[clipped] + levels[clipped] * (boundaries_s - times_s[clipped]),
            0.0,
        )
        means[index] = np.diff(integral) / np.diff(boundaries_s)
    return _with_total(means)


def async_waits(records: RunRecords) -> tuple[FloatArray, FloatArray, IntArray]:
    """Return (start, end, function) of every wait of an event in Lambda's queue.

    An asynchronous event waits between the end of an attempt (its 429, for a
    throttle) and the arrival of its next attempt.
    """
    inv = records.invocations
    request_id = inv["request_id"].astype(np.int64)
    # Rows of one request are in attempt order already (each retry comes later).
    order = np.argsort(request_id, kind="stable")
    same = request_id[order][1:] == request_id[order][:-1]
    earlier, later = order[:-1][same], order[1:][same]
    is_async = inv["invocation_type"][later] == InvocationType.ASYNC
    earlier, later = earlier[is_async], later[is_async]
    return (
        inv["end_s"][earlier].astype(np.float64),
        inv["arrival_s"][later].astype(np.float64),
        inv["function_index"][later].astype(np.int64),
    )


def _with_total(per_function: npt.NDArray[_Scalar]) -> npt.NDArray[_Scalar]:
    """Stack the column sums (the total) on top of the per-function rows."""
    return np.vstack([per_function.sum(axis=0, keepdims=True), per_function])
