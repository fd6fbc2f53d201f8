"""Arrival sources: counts against rate integrals, trace totals, and bad input.

Statistical checks use a tolerance of 4 Poisson standard deviations (sqrt of the
expected count), which a correct generator fails about once in 16,000 runs; every
test uses a fixed seed, so a pass is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pa_parquet
import pytest

from lambdasim.errors import ScenarioError, TraceFormatError
from lambdasim.workload.azure import (
    Azure2019Trace,
    Azure2021Source,
    azure2019_memory_mb,
    azure2021_functions,
    azure2021_key,
)
from lambdasim.workload.base import (
    CHUNK_ROWS,
    ArrivalChunk,
    ArrivalSource,
    InvocationType,
)
from lambdasim.workload.replay import ReplaySource, replay_function_names
from lambdasim.workload.synthetic import (
    BurstSource,
    PiecewiseRateSource,
    PoissonSource,
    SineRateSource,
)

DATA_DIR = Path(__file__).parents[2] / "shared" / "data"
AZURE_2019_DIR = DATA_DIR / "azure-functions-2019-sample-500fn"
AZURE_2021_FILE = (
    DATA_DIR
    / "azure-functions-2021-invocation-head"
    / "AzureFunctionsInvocationTrace2021_head998.csv"
)
needs_azure_2019 = pytest.mark.skipif(
    not (AZURE_2019_DIR / "invocations.csv").is_file(),
    reason=f"shared Azure 2019 sample not found at {AZURE_2019_DIR}",
)
needs_azure_2021 = pytest.mark.skipif(
    not AZURE_2021_FILE.is_file(),
    reason=f"shared Azure 2021 head not found at {AZURE_2021_FILE}",
)
EIGHT_HOURS_S = 8 * 3600.0


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)


def within_sigmas(count: int, expected: float, sigmas: float = 4.0) -> bool:
    return abs(count - expected) <= sigmas * math.sqrt(expected)


def check_chunks(
    chunks: Iterable[ArrivalChunk], horizon_s: float
) -> Iterator[ArrivalChunk]:
    """Pass chunks through, asserting the contract on each one."""
    last_s = -math.inf
    for chunk in chunks:
        assert 0 < len(chunk) <= CHUNK_ROWS
        assert chunk.time_s.dtype == np.float64
        assert chunk.function_index.dtype == np.int32
        assert len(chunk.function_index) == len(chunk)
        assert chunk.time_s[0] >= last_s
        assert np.all(np.diff(chunk.time_s) >= 0)
        assert chunk.time_s[0] >= 0 and chunk.time_s[-1] < horizon_s
        last_s = float(chunk.time_s[-1])
        yield chunk


def collect(
    source: ArrivalSource, horizon_s: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Run a source and concatenate its chunks, checking the contract."""
    chunks = list(check_chunks(source.chunks(horizon_s, rng), horizon_s))
    if not chunks:
        return {"time_s": np.zeros(0), "function_index": np.zeros(0, np.int32)}
    result = {
        "time_s": np.concatenate([c.time_s for c in chunks]),
        "function_index": np.concatenate([c.function_index for c in chunks]),
    }
    if chunks[0].duration_s is not None:
        result["duration_s"] = np.concatenate([c.duration_s for c in chunks])
    if chunks[0].invocation_type is not None:
        result["invocation_type"] = np.concatenate([c.invocation_type for c in chunks])
    return result


def count_in(times_s: np.ndarray, start_s: float, end_s: float) -> int:
    return int(np.count_nonzero((times_s >= start_s) & (times_s < end_s)))


# Synthetic sources


def test_poisson_long_horizon_count_within_four_sigma(rng: np.random.Generator):
    arrivals = collect(PoissonSource(3, rate_per_s=50.0), 20_000.0, rng)

    assert within_sigmas(len(arrivals["time_s"]), 50.0 * 20_000.0)
    assert np.all(arrivals["function_index"] == 3)


def test_poisson_start_s_nothing_before_start(rng: np.random.Generator):
    arrivals = collect(PoissonSource(0, rate_per_s=10.0, start_s=500.0), 1500.0, rng)

    assert arrivals["time_s"].min() >= 500.0
    assert within_sigmas(len(arrivals["time_s"]), 10.0 * 1000.0)


def test_poisson_same_seed_identical_arrivals():
    source = PoissonSource(0, rate_per_s=5.0, invocation_type=InvocationType.ASYNC)
    first = collect(source, 1000.0, np.random.default_rng(7))
    second = collect(source, 1000.0, np.random.default_rng(7))

    np.testing.assert_array_equal(first["time_s"], second["time_s"])
    assert np.all(first["invocation_type"] == InvocationType.ASYNC)


def test_poisson_zero_rate_no_arrivals(rng: np.random.Generator):
    assert len(collect(PoissonSource(0, rate_per_s=0.0), 1000.0, rng)["time_s"]) == 0


def test_piecewise_step_segment_counts_equal_rate_integral(rng: np.random.Generator):
    points = [(0.0, 10.0), (1000.0, 50.0), (3000.0, 0.0), (4000.0, 20.0)]
    source = PiecewiseRateSource(1, points, shape="step")

    times_s = collect(source, 6000.0, rng)["time_s"]

    # Integral of the rate per segment: 10*1000, 50*2000, 0, then 20 held to 6000 s.
    assert within_sigmas(count_in(times_s, 0, 1000), 10_000)
    assert within_sigmas(count_in(times_s, 1000, 3000), 100_000)
    assert count_in(times_s, 3000, 4000) == 0
    assert within_sigmas(count_in(times_s, 4000, 6000), 40_000)


def test_piecewise_linear_segment_counts_equal_ramp_integral(
    rng: np.random.Generator,
):
    points = [(0.0, 0.0), (1000.0, 100.0), (2000.0, 100.0), (3000.0, 20.0)]
    source = PiecewiseRateSource(0, points, shape="linear")

    times_s = collect(source, 4000.0, rng)["time_s"]

    # Ramp 0->100 over 1000 s: 50,000; its first half (slope 0.1/s^2): 0.05*500^2.
    assert within_sigmas(count_in(times_s, 0, 500), 12_500)
    assert within_sigmas(count_in(times_s, 0, 1000), 50_000)
    assert within_sigmas(count_in(times_s, 1000, 2000), 100_000)
    # Ramp 100->20 over 1000 s: (100 + 20) / 2 * 1000; then 20/s held.
    assert within_sigmas(count_in(times_s, 2000, 3000), 60_000)
    assert within_sigmas(count_in(times_s, 3000, 4000), 20_000)
    assert source.expected_count(4000.0) == pytest.approx(230_000)


@pytest.mark.parametrize(
    ("points", "match"),
    [
        ([], "points is empty"),
        ([(10.0, 1.0)], r"points\[0\] time is 10.0; expected 0"),
        ([(0.0, 1.0), (0.0, 2.0)], r"points\[1\] time is 0.0; expected a finite"),
        ([(0.0, -1.0)], r"points\[0\] rate is -1.0; expected >= 0"),
    ],
)
def test_piecewise_bad_points_raises_scenario_error(points, match):
    with pytest.raises(ScenarioError, match=match):
        PiecewiseRateSource(0, points, shape="step")


def test_piecewise_unknown_shape_raises_scenario_error():
    with pytest.raises(ScenarioError, match="shape is 'cubic'; expected 'step'"):
        PiecewiseRateSource(0, [(0.0, 1.0)], shape="cubic")


def test_sine_whole_periods_mean_rate_and_half_period_counts(
    rng: np.random.Generator,
):
    source = SineRateSource(
        0, mean_rate_per_s=20.0, amplitude_per_s=15.0, period_s=1000
    )

    times_s = collect(source, 50_000.0, rng)["time_s"]

    assert within_sigmas(len(times_s), 20.0 * 50_000)
    # Rising half of each period: mean * P/2 + amplitude * P/pi, over 50 periods.
    rising = int(np.count_nonzero(np.mod(times_s, 1000.0) < 500.0))
    assert within_sigmas(rising, 50 * (20.0 * 500 + 15.0 * 1000 / math.pi))


def test_sine_amplitude_above_mean_clips_rate_at_zero(rng: np.random.Generator):
    source = SineRateSource(0, mean_rate_per_s=10.0, amplitude_per_s=20.0, period_s=600)

    times_s = collect(source, 6000.0, rng)["time_s"]

    # sin < -1/2 on (7/12, 11/12) of each period, where the rate is clipped to 0.
    phase = np.mod(times_s, 600.0) / 600.0
    assert not np.any((phase > 7 / 12) & (phase < 11 / 12))
    assert len(times_s) > 0


def test_burst_no_window_exact_count_at_instant(rng: np.random.Generator):
    arrivals = collect(BurstSource(2, at_s=30.0, count=150_000), 100.0, rng)

    assert len(arrivals["time_s"]) == 150_000
    assert np.all(arrivals["time_s"] == 30.0)


def test_burst_window_exact_count_uniform_in_window(rng: np.random.Generator):
    source = BurstSource(0, at_s=100.0, count=200_000, window_s=10.0)

    times_s = collect(source, 1000.0, rng)["time_s"]

    assert len(times_s) == 200_000
    assert times_s.min() >= 100.0 and times_s.max() < 110.0
    # Binomial(200000, 1/2) in the first half: std sqrt(n/4) = 224.
    assert abs(count_in(times_s, 100, 105) - 100_000) <= 4 * 224


def test_burst_window_past_horizon_truncated(rng: np.random.Generator):
    source = BurstSource(0, at_s=100.0, count=1000, window_s=10.0)

    times_s = collect(source, 105.0, rng)["time_s"]

    assert 0 < len(times_s) < 1000 and times_s.max() < 105.0
    assert len(collect(source, 100.0, rng)["time_s"]) == 0


def test_burst_negative_count_raises_scenario_error():
    with pytest.raises(ScenarioError, match="count is -1; expected a non-negative"):
        BurstSource(0, at_s=0.0, count=-1)


# Azure 2019 per-minute counts


@pytest.fixture(scope="module")
def azure_2019_trace() -> Azure2019Trace:
    return Azure2019Trace(AZURE_2019_DIR)


@pytest.fixture(scope="module")
def azure_2019_counts() -> pd.DataFrame:
    return pd.read_csv(AZURE_2019_DIR / "invocations.csv")


@pytest.fixture(scope="module")
def azure_2019_arrivals(azure_2019_trace: Azure2019Trace) -> dict[str, np.ndarray]:
    source = azure_2019_trace.source()
    return collect(source, EIGHT_HOURS_S, np.random.default_rng(3))


@needs_azure_2019
def test_azure2019_sample_full_8h_total_equals_readme(azure_2019_arrivals):
    assert len(azure_2019_arrivals["time_s"]) == 3_037_902


@needs_azure_2019
def test_azure2019_sample_per_function_totals_equal_row_sums(
    azure_2019_arrivals, azure_2019_counts
):
    row_sums = azure_2019_counts.iloc[:, 4:].sum(axis=1).to_numpy()

    per_function = np.bincount(azure_2019_arrivals["function_index"], minlength=500)

    np.testing.assert_array_equal(per_function, row_sums)


@needs_azure_2019
def test_azure2019_busiest_function_minute_histogram_equals_row(
    azure_2019_arrivals, azure_2019_counts
):
    minute_counts = azure_2019_counts.iloc[:, 4:].to_numpy()
    busiest = int(np.argmax(minute_counts.sum(axis=1)))
    mine = azure_2019_arrivals["function_index"] == busiest

    histogram, _ = np.histogram(
        azure_2019_arrivals["time_s"][mine], bins=np.arange(481) * 60.0
    )

    np.testing.assert_array_equal(histogram, minute_counts[busiest])


@needs_azure_2019
def test_azure2019_invocation_type_follows_trigger(
    azure_2019_arrivals, azure_2019_counts
):
    is_http = (azure_2019_counts["Trigger"] == "http").to_numpy()
    expected = np.where(is_http, InvocationType.SYNC, InvocationType.ASYNC)

    types = azure_2019_arrivals["invocation_type"]

    np.testing.assert_array_equal(
        types, expected[azure_2019_arrivals["function_index"]]
    )


@needs_azure_2019
def test_azure2019_functions_metadata_matches_files(
    azure_2019_trace, azure_2019_counts
):
    functions = azure_2019_trace.functions()
    durations = pd.read_csv(AZURE_2019_DIR / "durations.csv").set_index("HashFunction")
    memory = pd.read_csv(AZURE_2019_DIR / "memory.csv").set_index("HashFunction")

    assert [f.hash_function for f in functions] == list(azure_2019_counts.HashFunction)
    assert len({f.name for f in functions}) == 500
    first = functions[0]
    assert first.name == "azure-" + first.hash_function[:12]
    assert first.duration_percentiles_s[50.0] == pytest.approx(
        durations.loc[first.hash_function, "percentile_Average_50"] / 1000.0
    )
    allocated_mb = memory.loc[first.hash_function, "AverageAllocatedMb_pct100"]
    assert first.memory_mb == azure2019_memory_mb(allocated_mb)
    assert sum(f.total_invocations for f in functions) == 3_037_902
    assert all(128 <= f.memory_mb <= 10240 and f.memory_mb % 64 == 0 for f in functions)


def test_azure2019_memory_rule_rounds_up_and_clamps():
    assert azure2019_memory_mb(129.0) == 192
    assert azure2019_memory_mb(64.0) == 128
    assert azure2019_memory_mb(20_000.0) == 10_240


@needs_azure_2019
def test_azure2019_short_horizon_truncates_to_whole_minutes(
    azure_2019_trace, azure_2019_counts
):
    expected = int(azure_2019_counts.iloc[:, 4:94].to_numpy().sum())

    arrivals = collect(azure_2019_trace.source(), 90 * 60.0, np.random.default_rng(1))

    assert len(arrivals["time_s"]) == expected


@needs_azure_2019
def test_azure2019_selected_rows_get_positions_as_indices(azure_2019_counts):
    trace = Azure2019Trace(AZURE_2019_DIR, minutes=30)
    row_sums = azure_2019_counts.iloc[:, 4:34].sum(axis=1).to_numpy()

    arrivals = collect(trace.source([7, 3]), EIGHT_HOURS_S, np.random.default_rng(1))

    per_function = np.bincount(arrivals["function_index"], minlength=2)
    np.testing.assert_array_equal(per_function, row_sums[[7, 3]])
    assert arrivals["time_s"].max() < 30 * 60.0


@needs_azure_2019
def test_azure2019_row_past_end_raises_scenario_error(azure_2019_trace):
    with pytest.raises(ScenarioError, match="include \\[500\\].*has 500 functions"):
        list(azure_2019_trace.source([500]).chunks(60.0, np.random.default_rng(1)))


def test_azure2019_missing_directory_raises_trace_format_error(tmp_path: Path):
    with pytest.raises(TraceFormatError, match="invocations.csv: trace file not found"):
        Azure2019Trace(tmp_path)


# Azure 2021 per-invocation


@needs_azure_2021
def test_azure2021_head_998_sorted_arrivals_end_minus_duration(
    rng: np.random.Generator,
):
    frame = pd.read_csv(AZURE_2021_FILE)
    expected_s = np.sort((frame.end_timestamp - frame.duration).to_numpy())

    arrivals = collect(Azure2021Source(AZURE_2021_FILE), 1e9, rng)

    assert len(arrivals["time_s"]) == 998
    np.testing.assert_allclose(arrivals["time_s"], expected_s)
    end_s = arrivals["time_s"] + arrivals["duration_s"]
    np.testing.assert_allclose(np.sort(end_s), np.sort(frame.end_timestamp), atol=1e-9)
    assert len(np.unique(arrivals["function_index"])) == 49


@needs_azure_2021
def test_azure2021_functions_49_keys_in_first_appearance_order():
    frame = pd.read_csv(AZURE_2021_FILE)
    first = frame.drop_duplicates(["app", "func"])

    keys = azure2021_functions(AZURE_2021_FILE)

    assert keys == [
        azure2021_key(a, f) for a, f in zip(first.app, first.func, strict=True)
    ]
    assert len(keys) == 49


@needs_azure_2021
def test_azure2021_unknown_function_raises_trace_format_error(
    rng: np.random.Generator,
):
    source = Azure2021Source(AZURE_2021_FILE, function_names={"nobody-00": 0})

    with pytest.raises(TraceFormatError, match="line 2: unknown function '7b2c43a2-"):
        list(source.chunks(1e9, rng))


# Replay of a recorded trace


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def test_replay_numeric_csv_maps_functions_and_durations(
    tmp_path: Path, rng: np.random.Generator
):
    trace = write_csv(
        tmp_path / "t.csv",
        "timestamp,fn,ms\n0.5,b,100\n1.0,a,250\n1.0,b,0\n7.25,a,1000\n",
    )
    source = ReplaySource(
        trace,
        function_column="fn",
        duration_column="ms",
        function_names={"a": 4, "b": 9},
        duration_unit="ms",
    )

    arrivals = collect(source, 100.0, rng)

    np.testing.assert_array_equal(arrivals["time_s"], [0.5, 1.0, 1.0, 7.25])
    np.testing.assert_array_equal(arrivals["function_index"], [9, 4, 9, 4])
    np.testing.assert_allclose(arrivals["duration_s"], [0.1, 0.25, 0.0, 1.0])


def test_replay_iso_times_relative_to_first_row(
    tmp_path: Path, rng: np.random.Generator
):
    trace = write_csv(
        tmp_path / "t.csv",
        "when\n2021-01-31T10:00:00\n2021-01-31 10:00:01.5\n2021-01-31T11:00:00\n",
    )

    arrivals = collect(ReplaySource(trace, time_column="when"), 3600.0, rng)

    np.testing.assert_allclose(arrivals["time_s"], [0.0, 1.5])
    np.testing.assert_array_equal(arrivals["function_index"], [0, 0])


def test_replay_zoned_iso_times_converted_to_utc(
    tmp_path: Path, rng: np.random.Generator
):
    trace = write_csv(
        tmp_path / "t.csv",
        "timestamp\n2021-01-31T10:00:00Z\n2021-01-31T12:00:30+02:00\n",
    )

    arrivals = collect(ReplaySource(trace, default_function_index=5), 100.0, rng)

    np.testing.assert_allclose(arrivals["time_s"], [0.0, 30.0])
    assert np.all(arrivals["function_index"] == 5)


def test_replay_parquet_without_names_numbers_by_first_appearance(
    tmp_path: Path, rng: np.random.Generator
):
    trace = tmp_path / "t.parquet"
    table = pa.table({"t_ms": [0, 1500, 2000], "fn": ["x", "y", "x"]})
    pa_parquet.write_table(table, trace)

    source = ReplaySource(
        trace, time_column="t_ms", function_column="fn", time_unit="ms"
    )
    arrivals = collect(source, 10.0, rng)

    np.testing.assert_allclose(arrivals["time_s"], [0.0, 1.5, 2.0])
    np.testing.assert_array_equal(arrivals["function_index"], [0, 1, 0])
    assert replay_function_names(trace, "fn") == ["x", "y"]


def test_replay_many_rows_streams_bounded_chunks_until_horizon(
    tmp_path: Path, rng: np.random.Generator
):
    times_s = np.arange(200_000) * 0.01
    trace = tmp_path / "big.csv"
    np.savetxt(trace, times_s, fmt="%.2f", header="timestamp", comments="")

    arrivals = collect(ReplaySource(trace), 1500.0, rng)

    np.testing.assert_allclose(arrivals["time_s"], times_s[:150_000])


def test_replay_unsorted_row_in_later_batch_raises_with_its_line(
    tmp_path: Path, rng: np.random.Generator
):
    times_s = np.arange(200_000) * 0.01
    times_s[[180_000, 180_001]] = times_s[[180_001, 180_000]]
    trace = tmp_path / "big.csv"
    np.savetxt(trace, times_s, fmt="%.2f", header="timestamp", comments="")

    with pytest.raises(TraceFormatError, match=r"big.csv: line 180003: time 1800.00"):
        list(ReplaySource(trace).chunks(1e9, rng))


def test_replay_unsorted_rows_raises_with_line(
    tmp_path: Path, rng: np.random.Generator
):
    trace = write_csv(tmp_path / "t.csv", "timestamp\n1.0\n2.0\n1.5\n3.0\n")

    with pytest.raises(
        TraceFormatError, match=r"t.csv: line 4: time 1.500000 s comes before .* sorted"
    ):
        list(ReplaySource(trace).chunks(100.0, rng))


def test_replay_unknown_function_raises_with_line_and_value(
    tmp_path: Path, rng: np.random.Generator
):
    trace = write_csv(tmp_path / "t.csv", "timestamp,fn\n1,a\n2,zzz\n3,a\n")
    source = ReplaySource(trace, function_column="fn", function_names={"a": 0})

    with pytest.raises(
        TraceFormatError, match=r"t.csv: line 3: unknown function 'zzz' in column 'fn'"
    ):
        list(source.chunks(100.0, rng))


def test_replay_missing_column_raises_listing_columns(tmp_path: Path):
    trace = write_csv(tmp_path / "t.csv", "time,fn\n1,a\n")

    with pytest.raises(
        TraceFormatError,
        match=r"t.csv: missing column\(s\) 'timestamp'; the file has 'time', 'fn'",
    ):
        ReplaySource(trace, function_column="fn")


def test_replay_missing_file_raises_trace_format_error(tmp_path: Path):
    with pytest.raises(TraceFormatError, match=r"nope.csv: trace file not found"):
        ReplaySource(tmp_path / "nope.csv")


def test_replay_bad_time_value_raises_with_line(
    tmp_path: Path, rng: np.random.Generator
):
    trace = write_csv(tmp_path / "t.csv", "timestamp\n1\n2\nsoon\n")

    with pytest.raises(TraceFormatError, match=r"line 4: timestamp is 'soon'"):
        list(ReplaySource(trace).chunks(100.0, rng))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        # The first bad row in file order, whether negative or empty.
        ("1,0.2\n2,-1\n3,nan\n", r"line 3: dur is -1; expected a finite duration"),
        ("1,0.2\n2,nan\n3,-1\n", r"line 3: dur is empty \(or NaN\); expected"),
        ("1,0.2\n2,\n", r"line 3: dur is empty \(or NaN\); expected"),
    ],
)
def test_replay_bad_duration_first_in_file_order(
    tmp_path: Path, rng: np.random.Generator, rows: str, message: str
):
    trace = write_csv(tmp_path / "t.csv", "timestamp,dur\n" + rows)

    with pytest.raises(TraceFormatError, match=message):
        list(ReplaySource(trace, duration_column="dur").chunks(100.0, rng))


def test_replay_function_names_streams_first_appearance(tmp_path: Path):
    trace = write_csv(tmp_path / "t.csv", "timestamp,fn\n1,b\n2,a\n3,b\n4,c\n")

    assert replay_function_names(trace, "fn") == ["b", "a", "c"]


def test_piecewise_ramp_down_to_zero_arrivals_sorted_and_inside_segments():
    # A ramp from 50/s to 0 over 100 s: about 2,500 arrivals, all in [0, 100), sorted,
    # including those pushed to the very end of the ramp by rounding.
    source = PiecewiseRateSource(0, [(0.0, 50.0), (100.0, 0.0)], "linear")
    times = np.concatenate(
        [c.time_s for c in source.chunks(200.0, np.random.default_rng(11))]
    )
    assert np.all(np.diff(times) >= 0)
    assert times.min() >= 0.0 and times.max() < 100.0
    assert times.size == pytest.approx(2500, abs=4 * 2500**0.5)
