"""CloudWatch Logs REPORT records of Lambda: read them into columns.

Lambda writes one REPORT record per invocation, in one of two formats
(aws-lambda-facts.md section 8):

- **Text** (``LogFormat=Text``): ``REPORT RequestId: <id><TAB>Duration: 8.40
  ms<TAB>Billed Duration: 9 ms<TAB>Memory Size: 128 MB<TAB>Max Memory Used: 66
  MB<TAB>Init Duration: 170.13 ms``. Fields are separated by tabs, or by runs of
  spaces in copies of it; console and ``aws logs`` exports put a timestamp or
  log-stream prefix in front.
  SnapStart cold starts carry ``Restore Duration`` and ``Billed Restore Duration``
  instead of ``Init Duration``.
- **JSON** (``LogFormat=JSON``, and the Telemetry API): one object a line with
  ``"type": "platform.report"`` and ``record.metrics.{durationMs, billedDurationMs,
  memorySizeMB, initDurationMs?, restoreDurationMs?, billedRestoreDurationMs?}``; a
  CloudWatch Logs subscription payload wraps records as JSON strings in
  ``logEvents[].message``.

Other lines (START, END, XRAY, INIT_START, the function's own output) are skipped;
INIT_REPORT lines (failed or suppressed inits, which have no Billed Duration) are
counted. Lines starting with ``#`` are comments. The day a record was logged is kept
when the line says it (a text line's leading ISO timestamp, a JSON event's ``time``,
a subscription log event's ``timestamp``), since the billing step depends on it.

A REPORT record is a `TraceFormatError` naming the file and line when it lacks
Duration, Billed Duration or Memory Size, repeats one of them, or holds a value Lambda
never writes: a negative or non-finite time, a fractional Billed Duration, a Memory
Size outside 128-10,240 MB. So is a line that starts like JSON but is not, and a file
with no REPORT record at all (nothing to bill is more likely the wrong file).
"""

from __future__ import annotations

import datetime
import gzip
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lambdasim.errors import TraceFormatError

__all__ = ["ReportLog", "read_reports"]

_TEXT_FIELD = re.compile(
    r"\b((?:Billed )?(?:Restore )?Duration|Init Duration|Memory Size|Max Memory Used)"
    r":\s*([-+0-9.eEinfINFaA]+)\s*([A-Za-z]+)\b"
)
_REQUEST_ID = re.compile(r"RequestId:\s*(\S+)")
# A text REPORT starts its line, or follows a tab-separated timestamp prefix.
_TEXT_REPORT = re.compile(r"(?:^|\t)(REPORT\b)")
_LEADING_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})T\d")
_MEMORY_MB = (128.0, 10240.0)  # Lambda's memory range (aws-lambda-facts.md section 4)
_TEXT_NAMES = {
    "Duration": "duration_ms",
    "Billed Duration": "billed_ms",
    "Memory Size": "memory_mb",
    "Init Duration": "init_ms",
    "Restore Duration": "restore_ms",
    "Billed Restore Duration": "billed_restore_ms",
}
_JSON_NAMES = {
    "durationMs": "duration_ms",
    "billedDurationMs": "billed_ms",
    "memorySizeMB": "memory_mb",
    "initDurationMs": "init_ms",
    "restoreDurationMs": "restore_ms",
    "billedRestoreDurationMs": "billed_restore_ms",
}
_REQUIRED = ("duration_ms", "billed_ms", "memory_mb")
_SHOWN = {column: name for name, column in _TEXT_NAMES.items()}
_COLUMNS = (*_REQUIRED, "init_ms", "restore_ms", "billed_restore_ms")


@dataclass(frozen=True)
class ReportLog:
    """The REPORT records of one log file, as columns (NaN where a field is absent).

    Attributes:
        path: The file read.
        line: Line number of each record (1-based).
        request_id: RequestId of each record.
        duration_ms: Duration.
        billed_ms: Billed Duration.
        memory_mb: Memory Size.
        init_ms: Init Duration (NaN on warm starts).
        restore_ms: Restore Duration (SnapStart cold starts).
        billed_restore_ms: Billed Restore Duration (SnapStart cold starts).
        day: The day each record was logged (NaT where the line does not say).
        init_reports: INIT_REPORT records seen (no Billed Duration of their own).
    """

    path: Path
    line: npt.NDArray[np.int64]
    request_id: tuple[str, ...]
    duration_ms: npt.NDArray[np.float64]
    billed_ms: npt.NDArray[np.float64]
    memory_mb: npt.NDArray[np.float64]
    init_ms: npt.NDArray[np.float64]
    restore_ms: npt.NDArray[np.float64]
    billed_restore_ms: npt.NDArray[np.float64]
    day: npt.NDArray[np.datetime64]
    init_reports: int

    def __len__(self) -> int:
        return int(self.line.size)


def read_reports(path: str | Path) -> ReportLog:
    """Read every REPORT record of a CloudWatch log file (text or JSON format).

    Raises:
        TraceFormatError: If the file cannot be read or holds no REPORT record, or
            a REPORT record or a JSON line is malformed (with the file and line).
    """
    file = Path(path)
    try:
        data = file.read_bytes()
        # CloudWatch Logs exports to S3 (create-export-task) are gzip files.
        text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode()
    except FileNotFoundError:
        raise TraceFormatError(f"{file}: log file not found") from None
    except UnicodeDecodeError as error:
        line_number = error.object[: error.start].count(b"\n") + 1
        byte = error.object[error.start]
        raise TraceFormatError(
            f"{file}: line {line_number}: byte 0x{byte:02x} is not UTF-8 text; "
            "expected a CloudWatch log (text, JSON lines or gzip)"
        ) from None
    except (OSError, EOFError) as error:
        raise TraceFormatError(f"{file}: cannot read the log: {error}") from None
    rows: list[tuple[int, _Report]] = []
    init_reports = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{file}: line {number}"
        if line.startswith("{"):
            found, inits = _json_line(line, where)
            rows += [(number, report) for report in found]
            init_reports += inits
        elif "INIT_REPORT" in line:
            init_reports += 1
        elif (report := _text_report(line, where)) is not None:
            rows.append((number, report))
    if not rows:
        only = f" (only {init_reports} INIT_REPORT)" if init_reports else ""
        raise TraceFormatError(
            f"{file}: no REPORT record found{only}; expected text REPORT lines or "
            "JSON platform.report events"
        )
    return ReportLog(
        path=file,
        line=np.array([number for number, _ in rows], dtype=np.int64),
        request_id=tuple(report.request_id for _, report in rows),
        day=np.array([report.day or "NaT" for _, report in rows], "datetime64[D]"),
        init_reports=init_reports,
        **{
            name: np.array(
                [report.fields.get(name, math.nan) for _, report in rows], dtype=float
            )
            for name in _COLUMNS
        },
    )


@dataclass(frozen=True)
class _Report:
    """One REPORT record: its RequestId, its fields by column, its day if known."""

    request_id: str
    fields: dict[str, float]
    day: str | None = None


def _text_report(line: str, where: str, day: str | None = None) -> _Report | None:
    """Parse a text REPORT line (wherever it starts in `line`), or None if none."""
    start = line.find("REPORT RequestId:")
    if start < 0:
        found = _TEXT_REPORT.search(line)
        if found is None:
            return None
        start = found.start(1)
    report = line[start:]
    request_id = _REQUEST_ID.search(report)
    fields: dict[str, float] = {}
    for name, value, unit in _TEXT_FIELD.findall(report):
        if name not in _TEXT_NAMES:
            continue  # Max Memory Used: not needed for the bill
        wanted = "MB" if name == "Memory Size" else "ms"
        if unit != wanted:
            raise TraceFormatError(
                f"{where}: REPORT field {name!r} is {value} {unit}; Lambda writes it "
                f"in {wanted}"
            )
        try:
            number = float(value)
        except ValueError:
            raise TraceFormatError(
                f"{where}: REPORT field {name!r} is {value!r} {unit}; expected a number"
            ) from None
        if _TEXT_NAMES[name] in fields:
            raise TraceFormatError(f"{where}: REPORT field {name!r} appears twice")
        fields[_TEXT_NAMES[name]] = number
    _check_fields(
        fields, where, "REPORT line", "Duration, Billed Duration, Memory Size"
    )
    return _Report(
        request_id.group(1) if request_id else "", fields, _iso_day(line) or day
    )


def _json_line(line: str, where: str) -> tuple[list[_Report], int]:
    """Parse one JSON line: a platform event, or a subscription payload of them."""
    event = _loads(line, where)
    if not isinstance(event, dict):
        return [], 0
    if isinstance(event.get("logEvents"), list):
        return _subscription(event["logEvents"], where)
    return _event(event, where)


def _subscription(log_events: list[Any], where: str) -> tuple[list[_Report], int]:
    found: list[_Report] = []
    inits = 0
    for index, log_event in enumerate(log_events):
        here = f"{where}, logEvents[{index}]"
        message = log_event.get("message") if isinstance(log_event, dict) else None
        if not isinstance(message, str):
            continue
        day = _epoch_ms_day(log_event.get("timestamp"))
        text = message.strip()
        if not text.startswith("{"):
            if "INIT_REPORT" in text:
                inits += 1
            elif (report := _text_report(text, here, day)) is not None:
                found.append(report)
            continue
        inner = _loads(text, here)
        if not isinstance(inner, dict):
            continue
        if log_event.get("type") == "platform.report" and "type" not in inner:
            found.append(_record(inner, here, day))  # the message is the record
            continue
        more, more_inits = _event(inner, here, day)
        found += more
        inits += more_inits
    return found, inits


def _event(
    event: dict[str, Any], where: str, day: str | None = None
) -> tuple[list[_Report], int]:
    kind = event.get("type")
    if kind == "platform.report":
        time = event.get("time")
        day = (_iso_day(time) if isinstance(time, str) else None) or day
        return [_record(event.get("record"), where, day)], 0
    return [], int(kind == "platform.initReport")


def _record(record: Any, where: str, day: str | None) -> _Report:
    if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict):
        raise TraceFormatError(
            f"{where}: platform.report without record.metrics; expected "
            "record.metrics.{durationMs, billedDurationMs, memorySizeMB}"
        )
    metrics = record["metrics"]
    fields: dict[str, float] = {}
    for key, name in _JSON_NAMES.items():
        value = metrics.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TraceFormatError(
                f"{where}: record.metrics.{key} is {value!r}; expected a number"
            )
        fields[name] = float(value)
    _check_fields(
        fields,
        where,
        "platform.report",
        "record.metrics.durationMs, billedDurationMs, memorySizeMB",
    )
    return _Report(str(record.get("requestId", "")), fields, day)


def _iso_day(text: str) -> str | None:
    """The day of an ISO 8601 timestamp that `text` starts with, or None."""
    found = _LEADING_DAY.match(text)
    if found is None:
        return None
    try:
        return datetime.date.fromisoformat(found.group(1)).isoformat()
    except ValueError:
        return None


def _epoch_ms_day(timestamp: Any) -> str | None:
    """The UTC day of a CloudWatch Logs event timestamp (ms since the epoch)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    if not math.isfinite(timestamp):
        return None
    return str(np.datetime64(int(timestamp), "ms").astype("datetime64[D]"))


def _check_fields(fields: dict[str, float], where: str, what: str, wanted: str) -> None:
    missing = [_SHOWN[name] for name in _REQUIRED if name not in fields]
    if missing:
        raise TraceFormatError(
            f"{where}: {what} lacks {', '.join(missing)}; expected {wanted}"
        )
    for name, value in fields.items():
        if not (math.isfinite(value) and value >= 0):
            raise TraceFormatError(
                f"{where}: {what} has {_SHOWN[name]} {value:g}; expected a finite "
                "number >= 0"
            )
    billed = fields["billed_ms"]
    if billed < fields["duration_ms"] - 1e-6:
        raise TraceFormatError(
            f"{where}: {what} has Billed Duration {billed:g} ms below its Duration "
            f"{fields['duration_ms']:g} ms; Lambda bills at least the Duration"
        )
    if billed != int(billed):
        raise TraceFormatError(
            f"{where}: {what} has Billed Duration {billed:g}; expected a whole "
            "number of ms"
        )
    low, high = _MEMORY_MB
    if not low <= fields["memory_mb"] <= high:
        raise TraceFormatError(
            f"{where}: {what} has Memory Size {fields['memory_mb']:g}; expected "
            f"{low:.0f} to {high:.0f} MB"
        )


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TraceFormatError(
            f"{where}: not valid JSON: {error.msg} (column {error.colno})"
        ) from None
