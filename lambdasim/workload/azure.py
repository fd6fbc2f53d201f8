"""Readers for the Azure Functions public traces (2019 per-minute, 2021 per-call).

Azure Functions Trace 2019 (Shahrad et al., USENIX ATC 2020) gives, per function, the
number of invocations in each minute of a day, plus per-function duration
percentiles and per-application memory. `Azure2019Trace` lists the functions and
`Azure2019Source` turns the counts into arrivals, each minute's count spread
uniformly at random over that minute.

Azure Functions Invocation Trace 2021 (Zhang et al., SOSP 2021) gives one row per
invocation with its end time and duration; `Azure2021Source` replays it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lambdasim.errors import ScenarioError, TraceFormatError
from lambdasim.workload._blocks import (
    FloatArray,
    IntArray,
    check_horizon,
    split_chunks,
)
from lambdasim.workload._files import (
    FileKind,
    column_names,
    file_kind,
    iter_batches,
    require_columns,
    where,
)
from lambdasim.workload.base import CHUNK_ROWS, ArrivalChunk, InvocationType

__all__ = [
    "AZURE_2019_PERCENTILES",
    "Azure2019Source",
    "Azure2019Trace",
    "Azure2021Source",
    "AzureFunction",
    "azure2019_memory_mb",
    "azure2021_functions",
]

logger = logging.getLogger(__name__)

INVOCATIONS_FILE = "invocations.csv"
DURATIONS_FILE = "durations.csv"
MEMORY_FILE = "memory.csv"
ID_COLUMNS = ("HashOwner", "HashApp", "HashFunction", "Trigger")
AZURE_2019_PERCENTILES = (0.0, 1.0, 25.0, 50.0, 75.0, 99.0, 100.0)
MEMORY_COLUMN = "AverageAllocatedMb_pct100"
MEMORY_STEP_MB = 64
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10_240
NAME_HEX_DIGITS = 12
SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True)
class AzureFunction:
    """One function of the Azure 2019 trace, with what a scenario needs to model it.

    Attributes:
        name: ``"azure-"`` plus the first 12 hex digits of `hash_function`; a
            repeated prefix gets ``"-2"``, ``"-3"``... in file order, so names are
            unique within a trace.
        hash_owner: Owner id (HMAC-SHA256 hex).
        hash_app: Application id.
        hash_function: Function id.
        trigger: Azure trigger: http, timer, queue, orchestration, event, storage
            or others.
        invocation_type: SYNC for http triggers, ASYNC for every other trigger.
        duration_percentiles_s: Execution-time percentiles in seconds keyed by
            percent (0, 1, 25, 50, 75, 99, 100). Azure computes them over 30-second
            averages, not single invocations. Empty if durations.csv has no row.
        memory_mb: Lambda memory setting derived by `azure2019_memory_mb`.
        total_invocations: Invocations in the minutes the trace object reads.
    """

    name: str
    hash_owner: str
    hash_app: str
    hash_function: str
    trigger: str
    invocation_type: InvocationType
    duration_percentiles_s: dict[float, float] = field(hash=False)
    memory_mb: int
    total_invocations: int


# Assumption A-13 (memory rule, uniform spread within a minute, trigger mapping).
def azure2019_memory_mb(allocated_mb: float | None) -> int:
    """Return a Lambda memory setting for an Azure application's allocated memory.

    The rule: the application's maximum average allocation (`AverageAllocatedMb_pct100`)
    rounded up to a multiple of 64 MB, then clamped to Lambda's range of 128 to
    10240 MB. Lambda sizes memory per function, Azure reports it per application, so
    every function of an app gets the app's value. Missing data gives 128 MB.

    >>> azure2019_memory_mb(378.0), azure2019_memory_mb(2.4), azure2019_memory_mb(None)
    (384, 128, 128)
    """
    if allocated_mb is None or not math.isfinite(allocated_mb):
        return MIN_MEMORY_MB
    rounded_mb = math.ceil(allocated_mb / MEMORY_STEP_MB) * MEMORY_STEP_MB
    return int(min(MAX_MEMORY_MB, max(MIN_MEMORY_MB, rounded_mb)))


def _invocation_type(trigger: str) -> InvocationType:
    # Only HTTP callers wait for the response. Queue, event and storage triggers are
    # closer to Lambda's poll-based event sources, but the trace cannot tell how the
    # function was wired, so all non-HTTP triggers are modelled as asynchronous.
    return InvocationType.SYNC if trigger == "http" else InvocationType.ASYNC


class Azure2019Trace:
    """A directory holding Azure 2019 `invocations.csv`, `durations.csv`, `memory.csv`.

    `invocations.csv` has the columns HashOwner, HashApp, HashFunction, Trigger and
    then one column per minute of the day, named by minute number; minute column
    ``k`` starts at ``(k - first_minute) * 60`` seconds of the run.

    Args:
        directory: The directory with the three files.
        minutes: Read only the minute columns less than `minutes` minutes after the
            first one; None reads them all.

    Raises:
        TraceFormatError: If invocations.csv is missing or its header is not the
            Azure 2019 layout.
        ScenarioError: If `minutes` is not a positive integer.
    """

    def __init__(self, directory: str | Path, minutes: int | None = None) -> None:
        self.directory = Path(directory)
        if minutes is not None and (
            isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1
        ):
            raise ScenarioError(
                f"Azure2019Trace: minutes is {minutes!r}; expected a positive integer"
            )
        self.invocations_path = self.directory / INVOCATIONS_FILE
        present = column_names(self.invocations_path, file_kind(self.invocations_path))
        require_columns(self.invocations_path, present, ID_COLUMNS)
        self.minute_columns, self.minute_offsets_s = _minute_columns(
            self.invocations_path, present, minutes
        )
        self._functions: list[AzureFunction] | None = None

    def functions(self) -> list[AzureFunction]:
        """Return the trace's functions in file order (index i is row i).

        Streams invocations.csv once (cached afterwards) and joins durations.csv and
        memory.csv; functions missing from those files get no percentiles or 128 MB,
        with a warning.

        Raises:
            TraceFormatError: If a file is missing or malformed.
        """
        if self._functions is None:
            self._functions = self._read_functions()
        return list(self._functions)

    def source(self, function_indices: Sequence[int] | None = None) -> Azure2019Source:
        """Return an arrival source for some or all functions of the trace.

        Args:
            function_indices: Rows of the trace (indices into `functions()`) to
                replay. Arrivals of row ``function_indices[j]`` carry function index
                ``j``. None replays every row with its own row index.

        Raises:
            ScenarioError: If an index is negative or repeated (an index past the
                last row is reported when the source reads the file).
        """
        return Azure2019Source(self, function_indices)

    def _read_functions(self) -> list[AzureFunction]:
        rows = _read_invocation_ids(self)
        durations = _read_durations(self.directory / DURATIONS_FILE)
        memory, memory_key_width = _read_memory(self.directory / MEMORY_FILE)
        names = _unique_names([row[2] for row in rows])
        functions = []
        missing_durations = missing_memory = 0
        for (owner, app, function, trigger, total), name in zip(
            rows, names, strict=True
        ):
            percentiles_s = durations.get((owner, app, function))
            missing_durations += percentiles_s is None
            allocated_mb = memory.get((owner, app, function)[:memory_key_width])
            missing_memory += allocated_mb is None
            functions.append(
                AzureFunction(
                    name=name,
                    hash_owner=owner,
                    hash_app=app,
                    hash_function=function,
                    trigger=trigger,
                    invocation_type=_invocation_type(trigger),
                    duration_percentiles_s=dict(percentiles_s or {}),
                    memory_mb=azure2019_memory_mb(allocated_mb),
                    total_invocations=total,
                )
            )
        if missing_durations or missing_memory:
            logger.warning(
                "%s: %d functions have no row in %s and %d none in %s",
                self.directory,
                missing_durations,
                DURATIONS_FILE,
                missing_memory,
                MEMORY_FILE,
            )
        return functions


def _minute_columns(
    path: Path, present: Sequence[str], minutes: int | None
) -> tuple[list[str], FloatArray]:
    """Return the minute column names to read and each one's start time in seconds."""
    names = [name for name in present if name not in ID_COLUMNS]
    bad = [name for name in names if not name.isdigit()]
    if bad or not names:
        raise TraceFormatError(
            f"{path}: column(s) {', '.join(map(repr, bad[:5])) or '(none)'} are not "
            f"minute numbers; expected {', '.join(ID_COLUMNS)} then one integer-named "
            "column per minute"
        )
    numbers = np.array([int(name) for name in names], dtype=np.int64)
    if np.any(np.diff(numbers) <= 0):
        raise TraceFormatError(
            f"{path}: minute columns are not in increasing order; expected e.g. "
            "480, 481, 482, ..."
        )
    offsets_min = numbers - numbers[0]
    keep = offsets_min < (minutes if minutes is not None else np.inf)
    offsets_s = offsets_min[keep].astype(np.float64) * SECONDS_PER_MINUTE
    return [name for name, kept in zip(names, keep, strict=True) if kept], offsets_s


def _count_matrix(
    batch: pa.RecordBatch, first_column: int, path: Path, first_row: int
) -> npt.NDArray[np.int64]:
    """Return a batch's minute counts as an int64 (rows x minutes) matrix."""
    columns = batch.columns[first_column:]
    for position, column in enumerate(columns):
        if column.null_count:
            row = int(pc.index(column.is_null(), True).as_py())
            raise TraceFormatError(
                f"{where(path, FileKind.CSV, first_row + row)}: minute column "
                f"{batch.schema.names[first_column + position]!r} is empty; "
                "expected an invocation count"
            )
    if not columns:
        return np.zeros((batch.num_rows, 0), dtype=np.int64)
    counts = np.column_stack([column.to_numpy() for column in columns])
    if np.any(counts < 0):
        row, column_at = (int(value) for value in np.argwhere(counts < 0)[0])
        raise TraceFormatError(
            f"{where(path, FileKind.CSV, first_row + row)}: minute column "
            f"{batch.schema.names[first_column + column_at]!r} is "
            f"{counts[row, column_at]}; expected a count >= 0"
        )
    return np.asarray(counts, dtype=np.int64)


def _read_invocation_ids(
    trace: Azure2019Trace,
) -> list[tuple[str, str, str, str, int]]:
    path = trace.invocations_path
    columns = list(ID_COLUMNS) + trace.minute_columns
    types = {name: pa.string() for name in ID_COLUMNS}
    types.update({name: pa.int64() for name in trace.minute_columns})
    rows: list[tuple[str, str, str, str, int]] = []
    for first_row, batch in iter_batches(path, FileKind.CSV, columns, types):
        totals = _count_matrix(batch, len(ID_COLUMNS), path, first_row).sum(axis=1)
        ids = [batch.column(i).to_pylist() for i in range(len(ID_COLUMNS))]
        for row, values in enumerate(zip(*ids, strict=True)):
            if any(value is None for value in values):
                raise TraceFormatError(
                    f"{where(path, FileKind.CSV, first_row + row)}: an id or "
                    f"Trigger is empty; expected values in {', '.join(ID_COLUMNS)}"
                )
            owner, app, function, trigger = values
            rows.append((owner, app, function, trigger, int(totals[row])))
    return rows


def _read_durations(
    path: Path,
) -> dict[tuple[str, str, str], dict[float, float]]:
    percentile_columns = [
        f"percentile_Average_{percent:g}" for percent in AZURE_2019_PERCENTILES
    ]
    id_columns = list(ID_COLUMNS[:3])
    require_columns(
        path, column_names(path, file_kind(path)), id_columns + percentile_columns
    )
    types = {name: pa.string() for name in id_columns}
    types.update({name: pa.float64() for name in percentile_columns})
    durations: dict[tuple[str, str, str], dict[float, float]] = {}
    batches = iter_batches(path, FileKind.CSV, id_columns + percentile_columns, types)
    for _, batch in batches:
        table = batch.to_pydict()
        owners, apps, functions = (table[name] for name in id_columns)
        for row in range(batch.num_rows):
            durations[(owners[row], apps[row], functions[row])] = {
                percent: float(table[column][row]) / 1000.0
                for percent, column in zip(
                    AZURE_2019_PERCENTILES, percentile_columns, strict=True
                )
                if table[column][row] is not None
            }
    return durations


def _read_memory(path: Path) -> tuple[dict[tuple[str, ...], float], int]:
    """Return allocated memory keyed by (owner, app[, function]) and the key width.

    The original Azure memory files are per application; some redistributions add a
    HashFunction column, which is then used to match rows exactly.
    """
    present = column_names(path, file_kind(path))
    id_columns = ["HashOwner", "HashApp"]
    if "HashFunction" in present:
        id_columns.append("HashFunction")
    require_columns(path, present, id_columns + [MEMORY_COLUMN])
    types = {name: pa.string() for name in id_columns}
    types[MEMORY_COLUMN] = pa.float64()
    memory: dict[tuple[str, ...], float] = {}
    batches = iter_batches(path, FileKind.CSV, id_columns + [MEMORY_COLUMN], types)
    for _, batch in batches:
        table = batch.to_pydict()
        for row in range(batch.num_rows):
            value = table[MEMORY_COLUMN][row]
            if value is not None:
                memory[tuple(table[name][row] for name in id_columns)] = float(value)
    return memory, len(id_columns)


def _unique_names(hash_functions: Sequence[str]) -> list[str]:
    """Return ``azure-<12 hex>`` names, suffixing repeats with -2, -3... in order."""
    used: set[str] = set()
    names = []
    for hash_function in hash_functions:
        base = f"azure-{hash_function[:NAME_HEX_DIGITS]}"
        name, copy = base, 1
        while name in used:
            copy += 1
            name = f"{base}-{copy}"
        used.add(name)
        names.append(name)
    return names


class Azure2019Source:
    """Arrivals from Azure 2019 per-minute counts, uniform within each minute.

    Made by `Azure2019Trace.source`. Each `chunks` call streams invocations.csv once,
    keeping only the selected rows' counts for the minutes before the horizon: an
    int32 matrix of 4 bytes per function-minute (265 MB for a full 1440-minute day
    of 46,000 functions; select functions to shrink it). Arrivals exist only for one
    block of minutes at a time, sized to about `CHUNK_ROWS` arrivals. A horizon
    shorter than the trace truncates it; a longer one simply ends with the trace.

    The random draws depend on which functions are selected (they share blocks), so
    common random numbers hold only between runs with the same selection.
    """

    def __init__(
        self, trace: Azure2019Trace, function_indices: Sequence[int] | None = None
    ) -> None:
        self.trace = trace
        self.function_indices = (
            None if function_indices is None else _check_indices(function_indices)
        )

    def chunks(
        self, horizon_s: float, rng: np.random.Generator
    ) -> Iterator[ArrivalChunk]:
        """Yield arrivals in [0, horizon_s), in time order, with invocation types.

        Raises:
            TraceFormatError: If invocations.csv is malformed.
            ScenarioError: If a selected row index is past the last row.
        """
        horizon = check_horizon(horizon_s)
        offsets_s = self.trace.minute_offsets_s
        used = int(np.searchsorted(offsets_s, horizon, side="left"))
        counts, types = self._read_counts(used)
        minute_totals = counts.sum(axis=0)
        bounds = np.concatenate(([0], np.cumsum(minute_totals)))
        start = 0
        while start < used:
            target = bounds[start] + CHUNK_ROWS
            stop = max(start + 1, int(np.searchsorted(bounds, target, "right")) - 1)
            if bounds[stop] > bounds[start]:
                yield from self._block(counts, types, start, stop, horizon, rng)
            start = stop

    def _block(
        self,
        counts: npt.NDArray[np.int32],
        types: npt.NDArray[np.int8],
        start: int,
        stop: int,
        horizon_s: float,
        rng: np.random.Generator,
    ) -> Iterator[ArrivalChunk]:
        """Yield the arrivals of minutes [start, stop), spread within each minute."""
        functions_count = counts.shape[0]
        flat = counts[:, start:stop].T.ravel()
        cells = np.flatnonzero(flat)
        repeats = flat[cells]
        minute = np.repeat(cells // functions_count + start, repeats)
        function = np.repeat((cells % functions_count).astype(np.int32), repeats)
        time_s = self.trace.minute_offsets_s[minute] + SECONDS_PER_MINUTE * rng.random(
            minute.shape[0]
        )
        order = np.argsort(time_s, kind="stable")
        time_s, function = time_s[order], function[order]
        kept = int(np.searchsorted(time_s, horizon_s, side="left"))
        yield from split_chunks(
            time_s[:kept], function[:kept], None, types[function[:kept]]
        )

    def _read_counts(
        self, minutes: int
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int8]]:
        """Return (selected rows x minutes) int32 counts and each row's type."""
        path = self.trace.invocations_path
        minute_columns = self.trace.minute_columns[:minutes]
        types = {name: pa.int64() for name in minute_columns}
        types["Trigger"] = pa.string()
        blocks: list[npt.NDArray[np.int32]] = []
        triggers: list[str] = []
        positions: list[npt.NDArray[np.int64]] = []
        selected = self.function_indices
        rows_seen = 0
        columns = ["Trigger", *minute_columns]
        for first_row, batch in iter_batches(path, FileKind.CSV, columns, types):
            rows_seen = first_row + batch.num_rows
            rows = np.arange(first_row, rows_seen)
            if selected is not None:
                rows = rows[np.isin(rows, selected)]
                if rows.shape[0] == 0:
                    continue
                batch = batch.take(pa.array(rows - first_row))
            matrix = _count_matrix(batch, 1, path, first_row)
            if matrix.size and matrix.max() > np.iinfo(np.int32).max:
                raise TraceFormatError(f"{path}: a minute count exceeds 2**31 - 1")
            blocks.append(matrix.astype(np.int32))
            triggers.extend(batch.column(0).to_pylist())
            positions.append(rows)
        return self._arrange(blocks, triggers, positions, rows_seen, minutes)

    def _arrange(
        self,
        blocks: list[npt.NDArray[np.int32]],
        triggers: list[str],
        positions: list[npt.NDArray[np.int64]],
        rows_seen: int,
        minutes: int,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int8]]:
        """Stack the row blocks and put them in `function_indices` order."""
        counts = np.concatenate(blocks) if blocks else np.zeros((0, minutes), np.int32)
        types = np.array(
            [int(_invocation_type(trigger)) for trigger in triggers], dtype=np.int8
        )
        if self.function_indices is None:
            return counts, types
        too_big = [index for index in self.function_indices if index >= rows_seen]
        if too_big:
            raise ScenarioError(
                f"Azure2019Source: function_indices include {too_big[:5]}; "
                f"{self.trace.invocations_path} has {rows_seen} functions "
                f"(indices 0 to {rows_seen - 1})"
            )
        # Rows were kept in file order, so each index's position is a binary search.
        order = np.searchsorted(np.concatenate(positions), self.function_indices)
        return np.ascontiguousarray(counts[order]), types[order]


def _check_indices(function_indices: Sequence[int]) -> list[int]:
    indices = [int(index) for index in function_indices]
    problems = [
        f"Azure2019Source: function_indices[{position}] is {index}; expected >= 0"
        for position, index in enumerate(indices)
        if index < 0
    ]
    if len(set(indices)) != len(indices):
        problems.append(
            "Azure2019Source: function_indices has repeated rows; expected each "
            "trace row at most once"
        )
    if problems:
        raise ScenarioError(problems)
    return indices


AZURE_2021_COLUMNS = ("app", "func", "end_timestamp", "duration")
KEY_HEX_DIGITS = 8


def azure2021_key(app: str, func: str) -> str:
    """Return the function key of an (app, func) pair of the Azure 2021 trace.

    The key is the first 8 hex digits of each id: ``"<app[:8]>-<func[:8]>"``.
    Function ids are unique only within an application, hence both parts.

    >>> azure2021_key("7b2c43a2bc30f6bb", "e3cdb48830f66eb8")
    '7b2c43a2-e3cdb488'
    """
    return f"{app[:KEY_HEX_DIGITS]}-{func[:KEY_HEX_DIGITS]}"


class _PairKeys:
    """Maps each distinct (app, func) pair to a key and a function index.

    Keys are checked to be unique: two pairs sharing 8-digit prefixes on both ids
    would silently merge two functions, so that is a `TraceFormatError` instead.
    """

    def __init__(
        self, path: Path, kind: FileKind, function_names: Mapping[str, int] | None
    ) -> None:
        self.path = path
        self.kind = kind
        self.indices = dict(function_names or {})
        self.is_numbering = function_names is None
        self.pair_of_key: dict[str, tuple[str, str]] = {}

    def codes(self, batch: pa.RecordBatch, first_row: int) -> IntArray:
        """Return the function index of every row of a batch with app, func first."""
        for position in (0, 1):
            _check_no_nulls(self.path, self.kind, batch, position, first_row)
        joined = pc.binary_join_element_wise(
            batch.column(0).cast(pa.string()), batch.column(1).cast(pa.string()), "/"
        )
        encoded = pc.dictionary_encode(joined)
        lookup = np.empty(len(encoded.dictionary), dtype=np.int32)
        for code, pair in enumerate(encoded.dictionary.to_pylist()):
            app, func = pair.split("/", 1)
            key = self._key(app, func)
            if key not in self.indices:
                if not self.is_numbering:
                    row = int(pc.index(joined, pair).as_py())
                    raise TraceFormatError(
                        f"{where(self.path, self.kind, first_row + row)}: unknown "
                        f"function {key!r} (app {app[:16]}..., func {func[:16]}...); "
                        "expected a key listed by azure2021_functions()"
                    )
                self.indices[key] = len(self.indices)
            lookup[code] = self.indices[key]
        return np.asarray(lookup[encoded.indices.to_numpy()], dtype=np.int32)

    def _key(self, app: str, func: str) -> str:
        key = azure2021_key(app, func)
        known = self.pair_of_key.setdefault(key, (app, func))
        if known != (app, func):
            raise TraceFormatError(
                f"{self.path}: functions ({known[0]}, {known[1]}) and ({app}, {func}) "
                f"share the key {key!r}; the 8-digit prefixes cannot tell them apart"
            )
        return key


def _check_no_nulls(
    path: Path, kind: FileKind, batch: pa.RecordBatch, position: int, first_row: int
) -> None:
    column = batch.column(position)
    if column.null_count:
        row = int(pc.index(column.is_null(), True).as_py())
        raise TraceFormatError(
            f"{where(path, kind, first_row + row)}: "
            f"{batch.schema.names[position]} is empty; expected a value"
        )


def _open_2021(path: str | Path) -> tuple[Path, FileKind]:
    trace = Path(path)
    kind = file_kind(trace)
    require_columns(trace, column_names(trace, kind), AZURE_2021_COLUMNS)
    return trace, kind


def azure2021_functions(path: str | Path) -> list[str]:
    """Return the function keys of an Azure 2021 trace in order of first appearance.

    `Azure2021Source` with `function_names=None` numbers functions in this order.
    Streams the app and func columns; memory grows with distinct functions only.

    Raises:
        TraceFormatError: If the file or a column is missing or an id is empty.
    """
    trace, kind = _open_2021(path)
    keys = _PairKeys(trace, kind, None)
    types = {name: pa.string() for name in AZURE_2021_COLUMNS[:2]}
    for first_row, batch in iter_batches(trace, kind, AZURE_2021_COLUMNS[:2], types):
        keys.codes(batch, first_row)
    return list(keys.indices)


class Azure2021Source:
    """Replays the Azure 2021 per-invocation trace, with the traced durations.

    Arrival time is ``end_timestamp - duration`` (seconds from the trace start) and
    each arrival carries its `duration` as `duration_s`. Invocations that started
    before the trace start (negative arrival) are dropped with a warning. The trace
    has no trigger information, so every arrival is synchronous.

    The file is ordered by function, not by time, so `chunks` must sort it: it
    streams the file once, keeping three numpy arrays (arrival float64, duration
    float64, function int32: 20 bytes per row before the horizon, about 36 at the
    moment of sorting), never one Python object per row.

    Args:
        path: CSV (optionally compressed) or Parquet file with the columns app, func,
            end_timestamp, duration.
        function_names: Maps function keys (see `azure2021_key`) to function indices;
            None numbers keys in order of first appearance, like
            `azure2021_functions`.

    Raises:
        TraceFormatError: If the file or a column is missing.
    """

    def __init__(
        self, path: str | Path, function_names: Mapping[str, int] | None = None
    ) -> None:
        self.path, self._kind = _open_2021(path)
        self.function_names = None if function_names is None else dict(function_names)

    def chunks(
        self, horizon_s: float, rng: np.random.Generator
    ) -> Iterator[ArrivalChunk]:
        """Yield arrivals in [0, horizon_s), in time order; `rng` is unused.

        Raises:
            TraceFormatError: On an empty or non-numeric value or an unknown function.
        """
        horizon = check_horizon(horizon_s)
        arrival_s, duration_s, function = self._read(horizon)
        order = np.argsort(arrival_s, kind="stable")
        arrival_s = arrival_s[order]
        duration_s = duration_s[order]
        function = function[order]
        del order
        yield from split_chunks(arrival_s, function, duration_s, None)

    def _read(self, horizon_s: float) -> tuple[FloatArray, FloatArray, IntArray]:
        keys = _PairKeys(self.path, self._kind, self.function_names)
        types = {name: pa.string() for name in AZURE_2021_COLUMNS[:2]}
        types.update({name: pa.float64() for name in AZURE_2021_COLUMNS[2:]})
        arrivals, durations, functions = [], [], []
        dropped = 0  # Assumption A-14
        batches = iter_batches(self.path, self._kind, AZURE_2021_COLUMNS, types)
        for first_row, batch in batches:
            for position in (2, 3):
                _check_no_nulls(self.path, self._kind, batch, position, first_row)
            function = keys.codes(batch, first_row)
            end_s = batch.column(2).to_numpy().astype(np.float64)
            duration_s = batch.column(3).to_numpy().astype(np.float64)
            self._check_durations(duration_s, first_row)
            arrival_s = end_s - duration_s
            dropped += int(np.count_nonzero(arrival_s < 0))
            keep = (arrival_s >= 0) & (arrival_s < horizon_s)
            arrivals.append(arrival_s[keep])
            durations.append(duration_s[keep])
            functions.append(function[keep])
        if dropped:
            # Those invocations were already running when the trace began.
            logger.warning(
                "%s: dropped %d invocations that started before the trace start",
                self.path,
                dropped,
            )
        return (
            np.concatenate(arrivals) if arrivals else np.zeros(0),
            np.concatenate(durations) if durations else np.zeros(0),
            np.concatenate(functions) if functions else np.zeros(0, np.int32),
        )

    def _check_durations(self, duration_s: FloatArray, first_row: int) -> None:
        bad = np.flatnonzero(~(np.isfinite(duration_s) & (duration_s >= 0)))
        if bad.shape[0]:
            row = int(bad[0])
            raise TraceFormatError(
                f"{where(self.path, self._kind, first_row + row)}: duration is "
                f"{duration_s[row]}; expected a finite number of seconds >= 0"
            )
