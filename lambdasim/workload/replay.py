"""Replay of a recorded per-invocation trace (CSV or Parquet).

A replay trace has one row per invocation: an arrival time, and optionally the
function name and the handler duration. The file is streamed in pyarrow batches, so
memory stays at one batch whatever the trace length.

Rows must already be sorted by time: an out-of-order row is a `TraceFormatError`
naming its line. Sorting inside a bounded window would accept some unsorted files but
silently reorder (or reject) others depending on the window, and a sort that always
works needs the whole file in memory; an explicit error keeps replay streaming and
predictable. Sort the file beforehand (e.g. ``sort -t, -k1,1 -g``) when needed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lambdasim.errors import ScenarioError, TraceFormatError
from lambdasim.units import SECONDS_PER_UNIT
from lambdasim.workload._blocks import (
    FloatArray,
    IntArray,
    check_function_index,
    check_horizon,
    split_chunks,
)
from lambdasim.workload._files import (
    column_names,
    file_kind,
    iter_batches,
    require_columns,
    where,
)
from lambdasim.workload.base import ArrivalChunk, InvocationType

__all__ = ["ReplaySource", "replay_function_names"]

logger = logging.getLogger(__name__)

_NUMERIC = "numeric"


class ReplaySource:
    """Arrivals read from a per-invocation trace file, in file order.

    Times are either numbers (seconds, or `time_unit`, from the start of the trace,
    used as they are) or ISO-8601 datetimes, which are made relative to the first
    row (so the first row arrives at 0 s). Datetimes must be all naive or all with
    a UTC offset. Rows with a time at or after the horizon end the replay.

    Args:
        path: A `.csv` (optionally `.gz`/`.bz2`/`.zst` compressed) or `.parquet` file.
        time_column: Column holding the arrival times.
        function_column: Column naming the target function, or None to send every
            arrival to `default_function_index`.
        duration_column: Column holding handler durations, or None to let the model
            sample each function's duration model.
        function_names: Maps each function name in the trace to a function index.
            None numbers the distinct names in order of first appearance, which is
            the order `replay_function_names` returns.
        default_function_index: Function of every arrival when `function_column` is
            None.
        time_unit: Unit of numeric times: one of ms, s, m, min, h, d.
        duration_unit: Unit of the durations: one of ms, s, m, min, h, d.
        invocation_type: How every arrival is invoked.

    Raises:
        TraceFormatError: If the file is missing, has an unknown suffix or lacks a
            named column (checked here; row values are checked while streaming).
        ScenarioError: If a unit or index parameter is invalid.
    """

    def __init__(
        self,
        path: str | Path,
        time_column: str = "timestamp",
        function_column: str | None = None,
        duration_column: str | None = None,
        function_names: Mapping[str, int] | None = None,
        default_function_index: int = 0,
        time_unit: str = "s",
        duration_unit: str = "s",
        invocation_type: InvocationType = InvocationType.SYNC,
    ) -> None:
        check_function_index("ReplaySource", default_function_index)
        self.path = Path(path)
        self.time_column = time_column
        self.function_column = function_column
        self.duration_column = duration_column
        self.function_names = None if function_names is None else dict(function_names)
        self.default_function_index = default_function_index
        self.time_unit_s = _unit_s("time_unit", time_unit)
        self.duration_unit_s = _unit_s("duration_unit", duration_unit)
        self.invocation_type = InvocationType(invocation_type)
        self._kind = file_kind(self.path)
        wanted = [time_column]
        wanted += [name for name in (function_column, duration_column) if name]
        require_columns(self.path, column_names(self.path, self._kind), wanted)
        self._columns = wanted

    def chunks(
        self, horizon_s: float, rng: np.random.Generator
    ) -> Iterator[ArrivalChunk]:
        """Yield the trace's arrivals in [0, horizon_s), in time order.

        `rng` is unused: a replay is deterministic.

        Raises:
            TraceFormatError: On a bad time, an out-of-order row, an unknown
                function name or a bad duration, naming the line and value.
        """
        horizon = check_horizon(horizon_s)
        reader = _BatchDecoder(self)
        csv_types = {name: pa.string() for name in self._columns}
        batches = iter_batches(self.path, self._kind, self._columns, csv_types)
        for first_row, batch in batches:
            if batch.num_rows == 0:
                continue
            times_s = reader.times_s(batch.column(0), first_row)
            stop = int(np.searchsorted(times_s, horizon, side="left"))
            yield from self._decode(batch, first_row, times_s, stop, reader)
            if stop < batch.num_rows:
                return

    def _decode(
        self,
        batch: pa.RecordBatch,
        first_row: int,
        times_s: FloatArray,
        stop: int,
        reader: _BatchDecoder,
    ) -> Iterator[ArrivalChunk]:
        if stop == 0:
            return
        rows = batch.slice(0, stop)
        position = 1
        if self.function_column is None:
            functions = np.full(stop, self.default_function_index, dtype=np.int32)
        else:
            functions = reader.function_indices(rows.column(position), first_row)
            position += 1
        durations_s = None
        if self.duration_column is not None:
            durations_s = reader.durations_s(rows.column(position), first_row)
        types = None
        if self.invocation_type is not InvocationType.SYNC:
            types = np.full(stop, int(self.invocation_type), dtype=np.int8)
        yield from split_chunks(times_s[:stop], functions, durations_s, types)


class _BatchDecoder:
    """Turns the columns of successive batches into arrays, checking every row.

    Holds the state that spans batches: the time format chosen from the first row,
    the datetime origin, the last time seen and the names numbered so far.
    """

    def __init__(self, source: ReplaySource) -> None:
        self.source = source
        self.time_type: pa.DataType | str | None = None
        self.origin_ns = 0
        self.last_s = -np.inf
        self.names = dict(source.function_names or {})
        self.is_numbering = source.function_names is None

    def where(self, row: int) -> str:
        return where(self.source.path, self.source._kind, row)

    def times_s(self, column: pa.Array, first_row: int) -> FloatArray:
        """Return times in seconds, checking they are valid and non-decreasing."""
        _check_no_nulls(column, first_row, self, self.source.time_column)
        if self.time_type is None:
            self.time_type = _time_type(column, self.where(first_row))
        if self.time_type == _NUMERIC:
            values = _to_float(column, first_row, self, self.source.time_column)
            times_s = values * self.source.time_unit_s
        else:
            stamps = _to_timestamps(column, self.time_type, first_row, self)
            if first_row == 0:
                self.origin_ns = int(stamps[0])
            times_s = (stamps - self.origin_ns).astype(np.float64) / 1e9
        self._check_order(times_s, first_row)
        return np.asarray(times_s, dtype=np.float64)

    def _check_order(self, times_s: FloatArray, first_row: int) -> None:
        previous = np.concatenate(([self.last_s], times_s[:-1]))
        bad = np.flatnonzero((times_s < previous) | ~np.isfinite(times_s))
        if bad.shape[0]:
            row = int(bad[0])
            if not np.isfinite(times_s[row]):
                problem = f"time is {times_s[row]}; expected a finite number"
            else:
                problem = (
                    f"time {times_s[row]:.6f} s comes before the previous row's "
                    f"{previous[row]:.6f} s; rows must be sorted by time "
                    "(hint: sort the file by its time column first)"
                )
            raise TraceFormatError(f"{self.where(first_row + row)}: {problem}")
        if times_s.shape[0] and times_s[0] < 0:
            raise TraceFormatError(
                f"{self.where(first_row)}: time is {times_s[0]} s; expected a time "
                ">= 0 s from the start of the trace"
            )
        self.last_s = float(times_s[-1])

    def function_indices(self, column: pa.Array, first_row: int) -> IntArray:
        """Return the function index of each row, numbering or mapping names."""
        name_column = self.source.function_column or ""
        _check_no_nulls(column, first_row, self, name_column)
        encoded = pc.dictionary_encode(column.cast(pa.string()))
        distinct = encoded.dictionary.to_pylist()
        lookup = np.empty(len(distinct), dtype=np.int32)
        for code, name in enumerate(distinct):
            if name not in self.names:
                if not self.is_numbering:
                    self._raise_unknown(column, first_row, name)
                self.names[name] = len(self.names)
            lookup[code] = self.names[name]
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        return np.asarray(lookup[codes], dtype=np.int32)

    def _raise_unknown(self, column: pa.Array, first_row: int, name: str) -> None:
        row = int(pc.index(column.cast(pa.string()), name).as_py())
        known = sorted(self.names)
        shown = ", ".join(map(repr, known[:10])) + (", ..." if len(known) > 10 else "")
        raise TraceFormatError(
            f"{self.where(first_row + row)}: unknown function {name!r} in column "
            f"{self.source.function_column!r}; expected one of {shown}"
        )

    def durations_s(self, column: pa.Array, first_row: int) -> FloatArray:
        """Return durations in seconds, checking they are finite and >= 0."""
        duration_column = self.source.duration_column or ""
        # Empty cells become NaN: the first bad row, empty or not, is reported.
        values = _to_float(column, first_row, self, duration_column)
        bad = np.flatnonzero(~(np.isfinite(values) & (values >= 0)))
        if bad.shape[0]:
            row = int(bad[0])
            found = "empty (or NaN)" if np.isnan(values[row]) else f"{values[row]:g}"
            raise TraceFormatError(
                f"{self.where(first_row + row)}: {duration_column} is {found}; "
                "expected a finite duration >= 0"
            )
        return np.asarray(values * self.source.duration_unit_s, dtype=np.float64)


def _unit_s(name: str, unit: str) -> float:
    if unit not in SECONDS_PER_UNIT:
        allowed = ", ".join(SECONDS_PER_UNIT)
        raise ScenarioError(
            f"ReplaySource: {name} is {unit!r}; expected one of {allowed}"
        )
    return SECONDS_PER_UNIT[unit]


def _check_no_nulls(
    column: pa.Array, first_row: int, decoder: _BatchDecoder, name: str
) -> None:
    if column.null_count:
        row = int(pc.index(column.is_null(), True).as_py())
        raise TraceFormatError(
            f"{decoder.where(first_row + row)}: {name} is empty (or NaN, N/A, null); "
            "expected a value"
        )


def _time_type(column: pa.Array, location: str) -> pa.DataType | str:
    """Choose how to read the time column from its type or its first value."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return _NUMERIC
    if pa.types.is_timestamp(column.type):
        return column.type
    first = column.slice(0, 1).cast(pa.string())
    for candidate in (pa.float64(), pa.timestamp("ns"), pa.timestamp("ns", tz="UTC")):
        try:
            first.cast(candidate)
        except pa.ArrowInvalid:
            continue
        return _NUMERIC if candidate == pa.float64() else candidate
    raise TraceFormatError(
        f"{location}: time is {first[0].as_py()!r}; expected a number of seconds or "
        "an ISO-8601 datetime such as 2021-01-31T00:00:00"
    )


def _to_float(
    column: pa.Array, first_row: int, decoder: _BatchDecoder, name: str
) -> FloatArray:
    try:
        floats = column.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row, value = _first_uncastable(column, pa.float64())
        raise TraceFormatError(
            f"{decoder.where(first_row + row)}: {name} is {value!r}; expected a number"
        ) from None
    return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)


def _to_timestamps(
    column: pa.Array,
    time_type: pa.DataType | str,
    first_row: int,
    decoder: _BatchDecoder,
) -> npt.NDArray[np.int64]:
    """Return datetimes as int64 nanoseconds since the epoch (UTC when zoned)."""
    if not isinstance(time_type, pa.DataType):
        raise TypeError("datetime decoding needs a timestamp type")
    target = pa.timestamp("ns", tz=time_type.tz)
    try:
        stamps = column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        row, value = _first_uncastable(column, target)
        zone = "with a UTC offset" if time_type.tz else "without a UTC offset"
        raise TraceFormatError(
            f"{decoder.where(first_row + row)}: {decoder.source.time_column} is "
            f"{value!r}; expected an ISO-8601 datetime {zone}, like the first row"
        ) from None
    return np.asarray(stamps.cast(pa.int64()).to_numpy(), dtype=np.int64)


def _first_uncastable(column: pa.Array, target: pa.DataType) -> tuple[int, object]:
    # Only runs on the error path, so a per-row scan costs nothing in normal use.
    for row in range(len(column)):
        try:
            column.slice(row, 1).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return row, column[row].as_py()
    return 0, column[0].as_py()


def replay_function_names(path: str | Path, function_column: str) -> list[str]:
    """Return the distinct function names of a trace in order of first appearance.

    Streams the one column, so memory grows with the number of distinct names only.
    `ReplaySource` with `function_names=None` numbers functions in this order.

    Raises:
        TraceFormatError: If the file or column is missing or a name is empty.
    """
    trace = Path(path)
    kind = file_kind(trace)
    require_columns(trace, column_names(trace, kind), [function_column])
    names: dict[str, None] = {}
    csv_types = {function_column: pa.string()}
    for first_row, batch in iter_batches(trace, kind, [function_column], csv_types):
        column = batch.column(0)
        if column.null_count:
            row = int(pc.index(column.is_null(), True).as_py())
            raise TraceFormatError(
                f"{where(trace, kind, first_row + row)}: {function_column} is empty; "
                "expected a function name"
            )
        names.update(dict.fromkeys(pc.unique(column.cast(pa.string())).to_pylist()))
    logger.debug("read %d function names from %s", len(names), trace)
    return list(names)
