"""Streaming access to CSV and Parquet trace files through pyarrow.

Readers yield pyarrow record batches together with the position of their first row,
so errors can name the line (CSV) or row (Parquet) at fault. Line numbers assume one
record per line (no quoted newlines), which holds for every trace format used here.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet

from lambdasim.errors import TraceFormatError

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst")
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_BLOCK_BYTES = 1 << 20


class FileKind(enum.Enum):
    """Container format of a trace file, chosen by its suffix."""

    CSV = "csv"
    PARQUET = "parquet"


def file_kind(path: Path) -> FileKind:
    """Return the format of `path`, checking that the file exists.

    Raises:
        TraceFormatError: If the file is missing or its suffix is not known.
    """
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        kind = FileKind.CSV
    elif name.endswith(PARQUET_SUFFIXES):
        kind = FileKind.PARQUET
    else:
        allowed = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
        raise TraceFormatError(
            f"{path}: unknown trace file type; expected a name ending in {allowed}"
        )
    if not path.is_file():
        raise TraceFormatError(
            f"{path}: trace file not found; expected a {kind.value.upper()} file"
        )
    return kind


def column_names(path: Path, kind: FileKind) -> list[str]:
    """Return the column names of a trace file without reading its rows.

    Raises:
        TraceFormatError: If the file is empty or unreadable.
    """
    try:
        if kind is FileKind.PARQUET:
            return list(pa_parquet.ParquetFile(path).schema_arrow.names)
        with pa.input_stream(str(path), compression="detect") as stream:
            first_line = io.TextIOWrapper(stream, encoding="utf-8").readline()
    except (OSError, pa.ArrowException, UnicodeDecodeError) as error:
        raise TraceFormatError(f"{path}: cannot read the trace: {error}") from error
    if not first_line.strip():
        raise TraceFormatError(f"{path}: line 1 is empty; expected a header row")
    return [name.strip() for name in next(csv.reader([first_line]))]


def require_columns(path: Path, present: Sequence[str], wanted: Sequence[str]) -> None:
    """Raise `TraceFormatError` naming every wanted column that `path` lacks."""
    missing = [name for name in wanted if name not in present]
    if missing:
        raise TraceFormatError(
            f"{path}: missing column(s) {', '.join(map(repr, missing))}; the file "
            f"has {', '.join(map(repr, present))}; expected "
            f"{', '.join(map(repr, wanted))}"
        )


def where(path: Path, kind: FileKind, row: int) -> str:
    """Describe 0-based data row `row` as `file: line N` (CSV) or `file: row N`."""
    if kind is FileKind.CSV:
        return f"{path}: line {row + 2}"
    return f"{path}: row {row + 1}"


def iter_batches(
    path: Path,
    kind: FileKind,
    columns: Sequence[str],
    csv_types: Mapping[str, Any] | None = None,
    batch_rows: int = 65_536,
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Yield `(first_row, batch)` for the given columns, streaming the file.

    Args:
        path: The trace file.
        kind: Its format.
        columns: Columns to read, in this order.
        csv_types: pyarrow types to parse CSV columns as (default: inferred from
            the first block). Parquet columns keep their stored types.
        batch_rows: Rows per batch for Parquet; CSV batches follow the block size.

    Raises:
        TraceFormatError: If pyarrow cannot parse the file.
    """
    first_row = 0
    try:
        for batch in _raw_batches(path, kind, columns, csv_types, batch_rows):
            yield first_row, batch
            first_row += batch.num_rows
    except pa.ArrowException as error:
        raise TraceFormatError(
            f"{path}: cannot parse the trace after row {first_row}: {error}"
        ) from error


def _raw_batches(
    path: Path,
    kind: FileKind,
    columns: Sequence[str],
    csv_types: Mapping[str, Any] | None,
    batch_rows: int,
) -> Iterator[pa.RecordBatch]:
    if kind is FileKind.PARQUET:
        parquet = pa_parquet.ParquetFile(path)
        yield from parquet.iter_batches(batch_size=batch_rows, columns=list(columns))
        return
    reader = pa_csv.open_csv(
        str(path),
        read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        convert_options=pa_csv.ConvertOptions(
            include_columns=list(columns),
            column_types=dict(csv_types or {}),
            strings_can_be_null=True,
        ),
    )
    yield from reader
