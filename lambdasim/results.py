"""Columnar records of a run: written during the run, tables after it.

During a run the model appends one row per invocation attempt and one row per instance
lifecycle into typed `array.array` columns (a few bytes per value, no Python object per
row). Handler start and end are not stored during the run: they follow from arrival,
platform overhead, init and duration, and `RunRecords` derives them once at the end.
After the run the columns become numpy arrays and pandas DataFrames. Column names and
units are documented in docs/results-schema.md.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import uuid
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lambdasim.errors import OutputError
from lambdasim.workload.base import InvocationType


class Status(enum.IntEnum):
    """How an invocation attempt ended."""

    OK = 0
    THROTTLED = 1
    TIMEOUT = 2
    ERROR = 3
    INIT_ERROR = 4
    DB_ERROR = 5
    DROPPED = 6


class ThrottleReason(enum.IntEnum):
    """Why an attempt was throttled (0 when it was not)."""

    NONE = 0
    ACCOUNT_CONCURRENCY = 1
    RESERVED_CONCURRENCY = 2
    SCALE_UP_RATE = 3
    REQUEST_RATE = 4


class ReapReason(enum.IntEnum):
    """Why an instance ended (0 while it is still alive at the end of the run)."""

    ALIVE = 0
    KEEP_ALIVE = 1
    MAX_LIFETIME = 2
    INIT_FAILED = 3
    PROVISIONED_RECYCLED = 4
    PROVISIONED_RELEASED = 5


class ServedBy(enum.IntEnum):
    """Which kind of instance served an attempt.

    `SPILLOVER` is an on-demand instance serving a qualifier that has provisioned
    concurrency allocated (CloudWatch's ProvisionedConcurrencySpilloverInvocations).
    Throttled and dropped attempts count as `ON_DEMAND`.
    """

    ON_DEMAND = 0
    PROVISIONED = 1
    SPILLOVER = 2


class MessageFate(enum.IntEnum):
    """Where an SQS message ended up (0 while it is still in its queue)."""

    QUEUED = 0
    DELIVERED = 1
    DEAD_LETTERED = 2


class BatchOutcome(enum.IntEnum):
    """How a batch an SQS poller received was let go."""

    DELIVERED = 0
    FAILED = 1
    THROTTLED = 2
    DOWNSTREAM_THROTTLED = 3
    UNFINISHED = 4


class DbErrorReason(enum.IntEnum):
    """Why an attempt ended as `db_error` (0 when it did not)."""

    NONE = 0
    TOO_MANY_CONNECTIONS = 1
    BORROW_TIMEOUT = 2
    UNAVAILABLE = 3
    FAILOVER = 4


class ConnectionKind(enum.IntEnum):
    """What a row of the database connections table is."""

    DIRECT = 0  # an instance's own connection to the database
    CLIENT = 1  # an instance's client connection to the proxy
    BACKEND = 2  # a database connection the proxy opened
    PINNED = 3  # a proxy session holding a database connection pinned


# Column name -> array.array typecode. Order is the order of the output tables.
INVOCATION_COLUMNS: dict[str, str] = {
    "function_index": "i",
    "invocation_type": "b",
    "arrival_s": "d",
    "is_cold": "b",
    "platform_overhead_s": "d",
    "init_s": "d",
    "duration_s": "d",
    "status": "b",
    "throttle_reason": "b",
    "instance_id": "q",
    "served_by": "b",
}

# Attempts of requests from sources whose caller retries (or has an upstream
# timeout): which row is which attempt of which request. Rows not listed here are
# requests of one attempt.
ATTEMPT_COLUMNS: dict[str, str] = {
    "row": "q",
    "request_id": "q",
    "attempt": "b",
    "client_index": "h",
}

INSTANCE_COLUMNS: dict[str, str] = {
    "instance_id": "q",
    "function_index": "i",
    "created_s": "d",
    "ready_s": "d",
    "reaped_s": "d",
    "reap_reason": "b",
    "invocations": "q",
    "init_s": "d",
    "is_provisioned": "b",
}

# Changes of provisioned concurrency: from `time_s` on, `allocated` is configured on
# the qualifier `function_index`.
ALLOCATION_COLUMNS: dict[str, str] = {
    "function_index": "i",
    "time_s": "d",
    "allocated": "i",
}

# SQS event source mappings (lambdasim.model.sqs). One row per message, written when
# it is sent and updated in place when it is deleted or dead-lettered.
SQS_MESSAGE_COLUMNS: dict[str, str] = {
    "function_index": "i",
    "sent_s": "d",
    "gone_s": "d",
    "receives": "i",
    "fate": "b",
}

# One row per batch a poller received, written when the poller lets go of it.
SQS_BATCH_COLUMNS: dict[str, str] = {
    "function_index": "i",
    "receive_s": "d",
    "end_s": "d",
    "messages": "i",
    "attempts": "i",
    "outcome": "b",
}

# One row per change of a mapping's concurrent batches (its pollers).
SQS_POLLER_COLUMNS: dict[str, str] = {
    "function_index": "i",
    "time_s": "d",
    "pollers": "i",
}


# Database tables, recorded only when the scenario has a database. `count`
# connections share one row (an instance's pool opens and closes together);
# `closed_s` is NaN for connections still open at the end of the run.
DB_CONNECTION_COLUMNS: dict[str, str] = {
    "kind": "b",
    "function_index": "i",
    "count": "i",
    "opened_s": "d",
    "closed_s": "d",
}
DB_QUERY_COLUMNS: dict[str, str] = {
    "function_index": "i",
    "start_s": "d",
    "end_s": "d",
}
# Borrows of a pooled connection from the proxy: served, timed out or withdrawn.
DB_BORROW_COLUMNS: dict[str, str] = {
    "function_index": "i",
    "requested_s": "d",
    "wait_s": "d",
}
# Why each `db_error` attempt failed: its invocation row and `DbErrorReason`.
DB_ERROR_COLUMNS: dict[str, str] = {
    "row": "q",
    "reason": "b",
}


# TODO: stream long runs to Parquet in chunks; every row stays in memory until the
# run ends (about 50 bytes per invocation, 1.2 GB peak for the 3M-invocation Azure
# sample), so runs of tens of millions of invocations need tens of GB.
class ColumnRecorder:
    """Append-only typed columns; the model binds each column's `append` once.

    Attributes:
        columns: Column name -> `array.array` holding the values so far.
    """

    def __init__(self, schema: dict[str, str]) -> None:
        self.columns: dict[str, array[Any]] = {
            name: array(code) for name, code in schema.items()
        }

    def __len__(self) -> int:
        first = next(iter(self.columns.values()))
        return len(first)

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Return each column as a numpy array sharing the column's memory.

        Call it once recording has finished: the arrays are views, and an
        `array.array` refuses to grow while a view exists.
        """
        return {
            name: np.frombuffer(col, dtype=np.dtype(col.typecode))
            for name, col in self.columns.items()
        }


@dataclass(frozen=True)
class RunRecords:
    """Everything a run recorded, as numpy columns, plus what is needed to read it.

    Attributes:
        function_names: Name of each function, indexed by `function_index`.
        invocations: Invocation columns (see `INVOCATION_COLUMNS`).
        instances: Instance columns (see `INSTANCE_COLUMNS`).
        horizon_s: Length of the simulated period; arrivals fall in [0, horizon_s).
        attempts: Attempt links of retrying callers (see `ATTEMPT_COLUMNS`); the
            invocations get `request_id` and `attempt` columns from them.
        upstream_timeouts_s: Per client (`client_index`), how long its caller
            waits for a response (inf: as long as the function runs).
        allocations: Changes of provisioned concurrency (see `ALLOCATION_COLUMNS`).
        sqs_messages: SQS messages (see `SQS_MESSAGE_COLUMNS`); empty without
            event source mappings.
        sqs_batches: Batches received by SQS pollers (see `SQS_BATCH_COLUMNS`).
        sqs_pollers: Changes of each mapping's pollers (see `SQS_POLLER_COLUMNS`).
        database: The database tables (`connections`, `queries`, `borrows`,
            `errors`; see the `DB_*_COLUMNS`), empty without a database.
        database_info: The database's settings the reports need
            (`max_connections`, `usable_connections`, `vcpus`, and with a proxy
            `proxy_connection_cap`); empty without a database.
    """

    function_names: tuple[str, ...]
    invocations: dict[str, npt.NDArray[Any]]
    instances: dict[str, npt.NDArray[Any]]
    horizon_s: float
    attempts: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    upstream_timeouts_s: tuple[float, ...] = ()
    allocations: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    sqs_messages: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    sqs_batches: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    sqs_pollers: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    database: dict[str, dict[str, npt.NDArray[Any]]] = field(default_factory=dict)
    database_info: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        inv = self.invocations
        if "start_s" not in inv:
            start_s = inv["arrival_s"] + inv["platform_overhead_s"] + inv["init_s"]
            inv["start_s"] = start_s
            inv["end_s"] = start_s + inv["duration_s"]
        if "request_id" not in inv:
            # Every row is a request of one attempt, unless linked as a retry.
            count = inv["arrival_s"].shape[0]
            request_id = np.arange(count, dtype=np.int64)
            attempt = np.ones(count, dtype=np.int8)
            if self.attempts:
                rows = self.attempts["row"]
                request_id[rows] = self.attempts["request_id"]
                attempt[rows] = self.attempts["attempt"]
            inv["request_id"] = request_id
            inv["attempt"] = attempt

    @property
    def invocation_count(self) -> int:
        """Number of invocation attempts recorded."""
        return int(self.invocations["arrival_s"].shape[0])


def has_run(status: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Tell which attempts ran: all but throttled and dropped ones.

    Those two had no instance, no latency and no bill.
    """
    ran: npt.NDArray[np.bool_] = (status != Status.THROTTLED) & (
        status != Status.DROPPED
    )
    return ran


# Per-invocation billing columns, added to `RunRecords.invocations` by the caller once
# pricing has run (0 for throttled rows). Column name -> numpy dtype.
BILLING_COLUMNS: dict[str, str] = {
    "billed_ms": "int64",
    "request_usd": "float64",
    "compute_usd": "float64",
    "gb_seconds": "float64",
    "billed_init_ms": "int64",
    "init_usd": "float64",
    "provisioned_usd": "float64",
    "storage_usd": "float64",
    "snapstart_usd": "float64",
    "cost_usd": "float64",
}


def billing_column(records: RunRecords, name: str) -> npt.NDArray[Any]:
    """Return a billing column (see `BILLING_COLUMNS`), or zeros if it was not added.

    Raises:
        KeyError: If `name` is not a billing column.
    """
    dtype = BILLING_COLUMNS[name]
    column = records.invocations.get(name)
    if column is None:
        return np.zeros(records.invocation_count, dtype=dtype)
    return column.astype(dtype, copy=False)


def categorical(codes: npt.NDArray[Any], labels: list[str]) -> pd.Categorical[str]:
    """Return integer codes as a categorical whose code i is `labels[i]`.

    >>> list(categorical(np.array([1, 0, 1]), ["a", "b"]))
    ['b', 'a', 'b']
    """
    return pd.Categorical.from_codes(
        codes.astype(np.int64), categories=pd.Index(labels)
    )


def _labels(codes: npt.NDArray[Any], kind: type[enum.IntEnum]) -> pd.Categorical[str]:
    """Return enum codes as a categorical of lower-case member names."""
    members = sorted(kind, key=int)
    if [int(m) for m in members] != list(range(len(members))):
        raise ValueError(f"{kind.__name__} values must be 0..n-1 to be categories")
    return categorical(codes, [m.name.lower() for m in members])


def invocations_frame(records: RunRecords) -> pd.DataFrame:
    """Return the invocations table: one row per invocation attempt.

    Times on the simulation clock stay in seconds (`arrival_s`, `start_s`,
    `end_s`); spans are converted to milliseconds (`platform_overhead_ms`,
    `init_ms`, `duration_ms`, `latency_ms`). Enum codes become lower-case
    categoricals. Columns are documented in docs/results-schema.md.
    """
    inv = records.invocations
    arrival_s = inv["arrival_s"].astype(np.float64)
    end_s = inv["end_s"].astype(np.float64)
    frame = pd.DataFrame(
        {
            "function": categorical(
                inv["function_index"], list(records.function_names)
            ),
            "invocation_type": _labels(inv["invocation_type"], InvocationType),
            "arrival_s": arrival_s,
            "start_s": inv["start_s"].astype(np.float64),
            "end_s": end_s,
            "is_cold": inv["is_cold"].astype(bool),
            "status": _labels(inv["status"], Status),
            "throttle_reason": _labels(inv["throttle_reason"], ThrottleReason),
            "instance_id": inv["instance_id"].astype(np.int64),
            "served_by": _labels(inv["served_by"], ServedBy),
            "request_id": inv["request_id"].astype(np.int64),
            "attempt": inv["attempt"].astype(np.int64),
            "platform_overhead_ms": _ms(inv["platform_overhead_s"]),
            "init_ms": _ms(inv["init_s"]),
            "duration_ms": _ms(inv["duration_s"]),
            "latency_ms": (end_s - arrival_s) * 1000.0,
        }
    )
    if records.database:
        # Why each db_error failed; only in runs with a database.
        reasons = np.zeros(len(frame), dtype=np.int64)
        errors = records.database["errors"]
        reasons[errors["row"].astype(np.int64)] = errors["reason"]
        frame["db_error_reason"] = _labels(reasons, DbErrorReason)
    for name in BILLING_COLUMNS:
        frame[name] = billing_column(records, name)
    return frame


def _ms(seconds: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    return seconds.astype(np.float64) * 1000.0


def instances_frame(records: RunRecords) -> pd.DataFrame:
    """Return the instances table: one row per instance lifecycle.

    `reaped_s` is NaN (and `reap_reason` is `alive`) for an instance still alive at
    the end of the run. Columns are documented in docs/results-schema.md.
    """
    ins = records.instances
    return pd.DataFrame(
        {
            "instance_id": ins["instance_id"].astype(np.int64),
            "function": categorical(
                ins["function_index"], list(records.function_names)
            ),
            "created_s": ins["created_s"].astype(np.float64),
            "ready_s": ins["ready_s"].astype(np.float64),
            "reaped_s": ins["reaped_s"].astype(np.float64),
            "reap_reason": _labels(ins["reap_reason"], ReapReason),
            "invocations": ins["invocations"].astype(np.int64),
            "init_ms": _ms(ins["init_s"]),
            "is_provisioned": ins["is_provisioned"].astype(bool),
        }
    )


logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
INVOCATIONS_FILE = "invocations.parquet"
INSTANCES_FILE = "instances.parquet"
TIMESERIES_FILE = "timeseries.parquet"

# Summary keys copied into each Parquet file's schema metadata (key b"lambdasim"),
# so that every output file names its seed, scenario hash and version.
_PROVENANCE_KEYS = ("scenario", "seed", "scenario_sha256", "lambdasim_version")


def write_outputs(
    directory: Path,
    summary: Mapping[str, Any],
    records: RunRecords,
    timeseries_df: pd.DataFrame,
) -> list[Path]:
    """Write a run's output files into `directory`, creating it if needed.

    Writes `summary.json` (indent 2, sorted keys), `invocations.parquet`,
    `instances.parquet` and `timeseries.parquet`. Every file is first written in
    full to a hidden temporary name in `directory`; only when all four are written
    are they renamed over the final names (`summary.json` last). A failure removes
    the temporary files and leaves any earlier outputs untouched.

    Args:
        directory: Output folder.
        summary: The dict from `lambdasim.report.summarise`.
        records: The run's records.
        timeseries_df: The frame from `lambdasim.report.timeseries`.

    Returns:
        The paths written, in the order above.

    Raises:
        ValueError: If the summary holds a value JSON cannot represent (NaN, inf).
        OutputError: If the folder cannot be made or written to.
    """
    # Serialise first: a summary that cannot be written stops before any file I/O.
    summary_text = json.dumps(summary, indent=2, sort_keys=True, allow_nan=False)
    provenance = {key: summary.get(key) for key in _PROVENANCE_KEYS}
    writers: dict[str, Callable[[Path], None]] = {
        INVOCATIONS_FILE: _parquet_writer(invocations_frame(records), provenance),
        INSTANCES_FILE: _parquet_writer(instances_frame(records), provenance),
        TIMESERIES_FILE: _parquet_writer(timeseries_df, provenance),
        SUMMARY_FILE: lambda path: _write_text(path, summary_text + "\n"),
    }
    staged: list[tuple[Path, Path]] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, write in writers.items():
            temporary = directory / f".{name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
            staged.append((temporary, directory / name))
            write(temporary)
        for temporary, final in staged:
            os.replace(temporary, final)
    except OSError as error:
        raise OutputError(
            f"cannot write results to {directory}: {error.strerror or error}"
        ) from error
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
    logger.info("wrote %s, %s, %s and %s to %s", *writers, directory)
    order = (SUMMARY_FILE, INVOCATIONS_FILE, INSTANCES_FILE, TIMESERIES_FILE)
    return [directory / name for name in order]


def _write_text(path: Path, text: str) -> None:
    with open(path, "x", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())


def _parquet_writer(
    frame: pd.DataFrame, provenance: Mapping[str, Any]
) -> Callable[[Path], None]:
    """Return a function writing `frame` to a Parquet file with provenance metadata."""

    def write(path: Path) -> None:
        # Imported here: the model imports this module, and pyarrow.parquet loads
        # slowly.
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        metadata = dict(table.schema.metadata or {})
        metadata[b"lambdasim"] = json.dumps(provenance, sort_keys=True).encode()
        table = table.replace_schema_metadata(metadata)
        with open(path, "xb") as stream:
            pq.write_table(table, stream)
            stream.flush()
            os.fsync(stream.fileno())

    return write
