"""Result tables and output files: labels, units, round trips, atomic writes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lambdasim.report import summarise, timeseries
from lambdasim.results import (
    INSTANCE_COLUMNS,
    INVOCATION_COLUMNS,
    RunRecords,
    billing_column,
    instances_frame,
    invocations_frame,
    write_outputs,
)


def make_records(*, with_costs: bool = True) -> RunRecords:
    """Two functions: a cold start, a warm timeout and a throttle; two instances.

    Row 0: "api", sync, arrives 1.0, cold (0.1 s overhead, 0.4 s init), runs 0.5 s.
    Row 1: "api", async, arrives 2.0, warm, hits the 3 s timeout.
    Row 2: "etl", poll, throttled by the scale-up rate at 2.5.
    """
    inv: dict[str, Any] = {
        "function_index": [0, 0, 1],
        "invocation_type": [0, 1, 2],
        "arrival_s": [1.0, 2.0, 2.5],
        "is_cold": [1, 0, 0],
        "platform_overhead_s": [0.1, 0.0, 0.0],
        "init_s": [0.4, 0.0, 0.0],
        "duration_s": [0.5, 3.0, 0.0],
        "status": [0, 2, 1],
        "throttle_reason": [0, 0, 3],
        "instance_id": [0, 0, -1],
        "served_by": [0, 0, 0],
    }
    columns = {
        name: np.array(inv[name], dtype=np.dtype(code))
        for name, code in INVOCATION_COLUMNS.items()
    }
    if with_costs:
        columns["billed_ms"] = np.array([500, 3000, 0], dtype=np.int64)
        columns["request_usd"] = np.array([2e-7, 2e-7, 0.0])
        columns["compute_usd"] = np.array([8.3e-6, 5e-5, 0.0])
        columns["gb_seconds"] = np.array([0.5, 3.0, 0.0])
    ins: dict[str, Any] = {
        "instance_id": [0, 1],
        "function_index": [0, 1],
        "created_s": [1.0, 0.5],
        "ready_s": [1.5, 0.7],
        "reaped_s": [4.5, math.nan],
        "reap_reason": [1, 0],
        "invocations": [2, 0],
        "init_s": [0.4, 0.2],
        "is_provisioned": [0, 0],
    }
    instances = {
        name: np.array(ins[name], dtype=np.dtype(code))
        for name, code in INSTANCE_COLUMNS.items()
    }
    return RunRecords(("api", "etl"), columns, instances, 10.0)


def test_invocations_frame_labels_units_and_costs() -> None:
    frame = invocations_frame(make_records())
    assert frame["function"].tolist() == ["api", "api", "etl"]
    assert list(frame["function"].cat.categories) == ["api", "etl"]
    assert frame["invocation_type"].tolist() == ["sync", "async", "poll"]
    assert frame["status"].tolist() == ["ok", "timeout", "throttled"]
    assert frame["throttle_reason"].tolist() == ["none", "none", "scale_up_rate"]
    assert frame["is_cold"].tolist() == [True, False, False]
    # Row 0: start 1.0 + 0.1 + 0.4 = 1.5, end 2.0, so latency 1000 ms.
    assert frame["start_s"].tolist() == pytest.approx([1.5, 2.0, 2.5])
    assert frame["end_s"].tolist() == pytest.approx([2.0, 5.0, 2.5])
    assert frame["latency_ms"].tolist() == pytest.approx([1000.0, 3000.0, 0.0])
    assert frame["init_ms"].tolist() == pytest.approx([400.0, 0.0, 0.0])
    assert frame["platform_overhead_ms"].tolist() == pytest.approx([100.0, 0, 0])
    assert frame["duration_ms"].tolist() == pytest.approx([500.0, 3000.0, 0.0])
    assert frame["billed_ms"].dtype == np.int64
    assert frame["gb_seconds"].tolist() == [0.5, 3.0, 0.0]


def test_invocations_frame_without_billing_columns_zero_costs() -> None:
    run = make_records(with_costs=False)
    frame = invocations_frame(run)
    assert frame["billed_ms"].tolist() == [0, 0, 0]
    assert frame["compute_usd"].tolist() == [0.0, 0.0, 0.0]
    assert billing_column(run, "request_usd").dtype == np.float64


def test_billing_column_unknown_name_raises() -> None:
    with pytest.raises(KeyError):
        billing_column(make_records(), "duration_usd")


def test_instances_frame_alive_instance_nan_reaped_and_label() -> None:
    frame = instances_frame(make_records())
    assert frame["function"].tolist() == ["api", "etl"]
    assert frame["reap_reason"].tolist() == ["keep_alive", "alive"]
    assert math.isnan(frame.loc[1, "reaped_s"])
    assert frame["invocations"].tolist() == [2, 0]


def outputs(tmp_path: Path) -> tuple[dict[str, Any], RunRecords, pd.DataFrame]:
    run = make_records()
    summary = summarise(
        run, scenario="demo", seed=42, scenario_sha256="cafe", version="0.1.0"
    )
    return summary, run, timeseries(run, 1.0)


def test_write_outputs_round_trip_tables_and_summary(tmp_path: Path) -> None:
    summary, run, series = outputs(tmp_path)
    directory = tmp_path / "results" / "demo"
    paths = write_outputs(directory, summary, run, series)

    names = ["summary.json", "invocations.parquet", "instances.parquet"]
    assert [p.name for p in paths] == [*names, "timeseries.parquet"]
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in paths)
    text = (directory / "summary.json").read_text()
    assert json.loads(text) == summary
    assert text.startswith('{\n  "functions"')  # sorted keys, indent 2
    for path, frame in (
        (paths[1], invocations_frame(run)),
        (paths[2], instances_frame(run)),
        (paths[3], series),
    ):
        pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
        provenance = json.loads(pq.read_schema(path).metadata[b"lambdasim"])
        assert provenance == {
            "scenario": "demo",
            "seed": 42,
            "scenario_sha256": "cafe",
            "lambdasim_version": "0.1.0",
        }


def test_write_outputs_parquet_failure_keeps_previous_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary, run, series = outputs(tmp_path)
    write_outputs(tmp_path, summary, run, series)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", fail)
    changed = dict(summary, seed=43)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(tmp_path, changed, run, series)

    # Same files, same bytes, no temporary files left behind.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_write_outputs_nan_in_summary_raises_before_writing(tmp_path: Path) -> None:
    summary, run, series = outputs(tmp_path)
    broken = dict(summary, horizon_s=math.nan)
    with pytest.raises(ValueError, match="JSON"):
        write_outputs(tmp_path / "out", broken, run, series)
    assert not (tmp_path / "out").exists()
