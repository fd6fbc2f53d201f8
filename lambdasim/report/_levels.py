"""Levels of overlapping intervals: peaks from event sweeps, time in fixed steps.

A level is the number of intervals `[start, end)` covering an instant, per group (a
function) and over all groups. Intervals are half-open: at an instant where one
interval ends and another starts, the ending one is removed first, so back-to-back
intervals never count twice. An `end` of +inf (or NaN) means "still open"; clipping
to a window closes it there.

Everything here is vectorised over intervals; loops run over groups at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def group_codes(
    group: npt.NDArray[np.generic], n_groups: int
) -> npt.NDArray[np.integer[Any]]:
    """Return group codes in the narrowest unsigned type, so stable sorts are radix."""
    if n_groups <= np.iinfo(np.uint8).max:
        return group.astype(np.uint8)
    if n_groups <= np.iinfo(np.uint16).max:
        return group.astype(np.uint16)
    return group.astype(np.int64)


def group_offsets(group: npt.NDArray[np.generic], n_groups: int) -> IntArray:
    """Return the `n_groups + 1` slice offsets of each group in a group-sorted array."""
    counts = np.bincount(group.astype(np.int64), minlength=n_groups)
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


@dataclass(frozen=True)
class Events:
    """Interval ends and starts sorted by (group, time, ends before starts).

    Attributes:
        time_s: Event times.
        group: Group code of each event.
        level: Level just after each event (within its group).
        offsets: Slice offsets of each group, length `n_groups + 1`.
    """

    time_s: FloatArray
    group: npt.NDArray[np.integer[Any]]
    level: IntArray
    offsets: IntArray


def sweep(
    start_s: FloatArray,
    end_s: FloatArray,
    group: npt.NDArray[np.generic],
    n_groups: int,
) -> tuple[Events, Events]:
    """Sort the +1/-1 events of the intervals, per group and over all groups.

    Args:
        start_s: Interval starts.
        end_s: Interval ends (NaN or +inf: open).
        group: Group code of each interval, in [0, n_groups).
        n_groups: Number of groups.

    Returns:
        The events per group, and the events of all intervals as one group.
    """
    n = start_s.shape[0]
    # Ends first in the array, so a stable sort by time puts an end before a start
    # at the same instant (half-open intervals).
    times = np.concatenate([end_s, start_s]).astype(np.float64, copy=False)
    times[np.isnan(times)] = np.inf
    by_time = np.argsort(times, kind="stable")
    total = _events(times[by_time], np.zeros(2 * n, np.uint8), by_time >= n, 1)
    codes = group_codes(group, n_groups)
    codes = np.concatenate([codes, codes])
    by_group = by_time[np.argsort(codes[by_time], kind="stable")]
    grouped = _events(times[by_group], codes[by_group], by_group >= n, n_groups)
    return grouped, total


def _events(
    time_s: FloatArray,
    group: npt.NDArray[np.integer[Any]],
    is_start: npt.NDArray[np.bool_],
    n_groups: int,
) -> Events:
    # Each group's +1s and -1s cancel (every interval has both events, an open one
    # at +inf), so one running sum restarts at zero at each group boundary.
    deltas = np.where(is_start, np.int8(1), np.int8(-1))
    level = np.cumsum(deltas, dtype=np.int64)
    return Events(time_s, group, level, group_offsets(group, n_groups))


def group_max(events: Events) -> IntArray:
    """Return the peak level of each group (0 for a group with no intervals)."""
    n_groups = events.offsets.shape[0] - 1
    peaks = np.zeros(n_groups, dtype=np.int64)
    starts = events.offsets[:-1]
    has_events = events.offsets[1:] > starts
    if has_events.any():
        peaks[has_events] = np.maximum.reduceat(events.level, starts[has_events])
    return peaks


def step_peaks(events: Events, boundaries_s: FloatArray) -> IntArray:
    """Return the peak level of each group within each step.

    Step k is `[boundaries_s[k], boundaries_s[k + 1])`. The peak counts the level
    carried into the step, unless an event at exactly the step's start replaces it.

    Returns:
        Array of shape (n_groups, n_steps).
    """
    n_groups = events.offsets.shape[0] - 1
    n_steps = boundaries_s.shape[0] - 1
    if n_steps == 0:
        return np.zeros((n_groups, 0), dtype=np.int64)
    step = np.searchsorted(boundaries_s, events.time_s, side="right") - 1
    # Only the level after the last event of an instant is ever in effect: the
    # levels between several ends at one instant never exist (half-open intervals).
    time_s, group = events.time_s, events.group
    is_last_at_instant = (
        np.r_[(time_s[1:] != time_s[:-1]) | (group[1:] != group[:-1]), True]
        if time_s.size
        else np.zeros(0, dtype=bool)
    )
    inside = (step >= 0) & (step < n_steps) & is_last_at_instant
    key = events.group[inside].astype(np.int64) * n_steps + step[inside]
    level = events.level[inside]
    size = n_groups * n_steps

    # Keys are non-decreasing (events are sorted by group, then time).
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else key
    event_peak = np.zeros(size, dtype=np.int64)
    last_level = np.zeros(size, dtype=np.int64)
    has_event = np.zeros(size, dtype=bool)
    if key.size:
        event_peak[key[first]] = np.maximum.reduceat(level, first)
        last = np.r_[first[1:] - 1, key.size - 1]
        last_level[key[last]] = level[last]
        has_event[key[first]] = True

    at_start = events.time_s[inside] == boundaries_s[step[inside]]
    opens_with_event = np.bincount(key[at_start], minlength=size) > 0
    carried = _carried_levels(
        last_level.reshape(n_groups, n_steps), has_event.reshape(n_groups, n_steps)
    )
    peaks = np.where(
        opens_with_event.reshape(n_groups, n_steps),
        event_peak.reshape(n_groups, n_steps),
        np.maximum(carried, event_peak.reshape(n_groups, n_steps)),
    )
    return peaks.astype(np.int64)


def _carried_levels(last_level: IntArray, has_event: npt.NDArray[np.bool_]) -> IntArray:
    """Level in effect when each step opens: the last level of an earlier step."""
    n_groups, n_steps = last_level.shape
    source = np.where(has_event, np.arange(n_steps), -1)
    source = np.maximum.accumulate(source, axis=1)
    # Shift by one step: the level entering step k is the one leaving step k - 1.
    source = np.concatenate([np.full((n_groups, 1), -1), source[:, :-1]], axis=1)
    rows = np.arange(n_groups)[:, None]
    carried = last_level[rows, np.maximum(source, 0)]
    return np.where(source >= 0, carried, 0).astype(np.int64)


def time_in_steps(
    start_s: FloatArray,
    end_s: FloatArray,
    group: npt.NDArray[np.generic],
    n_groups: int,
    boundaries_s: FloatArray,
) -> FloatArray:
    """Return the time covered by intervals within each step, summed per group.

    Intervals are clipped to `[boundaries_s[0], boundaries_s[-1]]`; dividing by the
    step widths gives the time-weighted mean level.

    Returns:
        Array of shape (n_groups, n_steps), in the unit of the times.
    """
    n_steps = boundaries_s.shape[0] - 1
    low, high = boundaries_s[0], boundaries_s[-1]
    start = np.clip(start_s, low, high)
    end = np.clip(np.where(np.isnan(end_s), np.inf, end_s), low, high)
    keep = end > start
    start, end = start[keep], end[keep]
    codes = group[keep].astype(np.int64)
    first = np.searchsorted(boundaries_s, start, side="right") - 1
    # `end` is exclusive: an interval ending on a boundary does not touch the next step.
    last = np.searchsorted(boundaries_s, end, side="left") - 1
    size = n_groups * n_steps

    same = first == last
    # Cast: `np.bincount` of no values returns integers even with weights.
    partial = np.bincount(
        codes[same] * n_steps + first[same],
        weights=end[same] - start[same],
        minlength=size,
    ).astype(np.float64)
    split = ~same
    head = codes[split] * n_steps + first[split]
    tail = codes[split] * n_steps + last[split]
    partial += np.bincount(
        head, weights=boundaries_s[first[split] + 1] - start[split], minlength=size
    )
    partial += np.bincount(
        tail, weights=end[split] - boundaries_s[last[split]], minlength=size
    )

    # Steps strictly between the first and the last are fully covered: count them
    # with a difference array and weight by each step's width.
    width = np.diff(boundaries_s)
    row = codes[split] * (n_steps + 1)
    wide = n_groups * (n_steps + 1)
    diff = np.bincount(row + first[split] + 1, minlength=wide) - np.bincount(
        row + last[split], minlength=wide
    )
    full = np.cumsum(diff.reshape(n_groups, n_steps + 1), axis=1)[:, :n_steps]
    return partial.reshape(n_groups, n_steps) + full * width


def time_in_window(
    start_s: FloatArray,
    end_s: FloatArray,
    group: npt.NDArray[np.generic],
    n_groups: int,
    window_s: tuple[float, float],
) -> FloatArray:
    """Return the time the intervals cover inside `window_s`, summed per group."""
    low, high = window_s
    start = np.clip(start_s, low, high)
    end = np.clip(np.where(np.isnan(end_s), np.inf, end_s), low, high)
    covered = np.maximum(end - start, 0.0)
    totals = np.bincount(group.astype(np.int64), weights=covered, minlength=n_groups)
    return totals.astype(np.float64)


def allocation_units(
    allocations: dict[str, npt.NDArray[Any]], horizon_s: float
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Return one interval per allocated PC unit: (start, end, function).

    Each change of allocation holds until the qualifier's next change (or the
    horizon); an allocation of n is n intervals, so counting intervals gives the
    allocation as a level.
    """
    if not allocations or allocations["time_s"].shape[0] == 0:
        empty = np.zeros(0, dtype=np.float64)
        return empty, empty.copy(), np.zeros(0, dtype=np.int64)
    group = allocations["function_index"].astype(np.int64)
    time_s = allocations["time_s"].astype(np.float64)
    allocated = allocations["allocated"].astype(np.int64)
    order = np.lexsort((time_s, group))
    group, time_s, allocated = group[order], time_s[order], allocated[order]
    next_s = np.append(time_s[1:], horizon_s)
    is_last = np.append(group[1:] != group[:-1], True)
    end_s = np.where(is_last, max(horizon_s, 0.0), next_s)
    return (
        np.repeat(time_s, allocated),
        np.repeat(end_s, allocated),
        np.repeat(group, allocated),
    )
