"""The `lambdasim` command: exit codes, printed output and written results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lambdasim.cli import main
from tests.conftest import REPO_ROOT, SHARED_DATA

TINY_YAML = """\
name: tiny
seed: 7
horizon: 10m
billing_date: 2026-12-01
functions:
  checkout:
    runtime: python3.12
    memory_mb: 512
    timeout_s: 10
    duration: {kind: lognormal, median: 60ms, p99: 450ms}
workload:
  - type: poisson
    function: checkout
    rate_per_s: 0.5
"""

BAD_YAML = TINY_YAML.replace("memory_mb: 512", "memory_mb: 64")

OUTPUT_FILES = (
    "summary.json",
    "invocations.parquet",
    "instances.parquet",
    "timeseries.parquet",
)

FUNCTION_KEYS = {
    "invocations",
    "completed",
    "cold_starts",
    "cold_start_rate",
    "throttles",
    "throttle_rate",
    "timeouts",
    "errors",
    "latency_ms",
    "init_ms",
    "max_concurrency",
    "mean_concurrency",
    "instances_created",
    "mean_instances",
    "cost_usd",
    "gb_seconds",
}

AZURE_2019 = SHARED_DATA / "azure-functions-2019-sample-500fn"


def write(folder: Path, text: str, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def summary_of(folder: Path) -> dict[str, object]:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def run_subprocess(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdasim.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_run_tiny_scenario_prints_table_and_writes_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    status = main(["run", str(write(tmp_path, TINY_YAML)), "-o", str(out)])

    assert status == 0
    printed = capsys.readouterr().out
    assert "checkout" in printed
    assert "invocations simulated" in printed
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name


def test_run_summary_json_has_documented_keys(tmp_path: Path) -> None:
    out = tmp_path / "out"

    assert main(["run", str(write(tmp_path, TINY_YAML)), "-o", str(out), "-q"]) == 0

    summary = summary_of(out)
    assert {"scenario", "seed", "lambdasim_version", "horizon_s", "total"} <= set(
        summary
    )
    assert summary["scenario"] == "tiny"
    assert summary["seed"] == 7
    assert summary["horizon_s"] == 600.0
    functions = summary["functions"]
    assert isinstance(functions, dict)
    assert set(functions) == {"checkout"}
    checkout = functions["checkout"]
    assert set(checkout) >= FUNCTION_KEYS
    assert set(checkout["latency_ms"]) >= {"mean", "p50", "p90", "p99", "p999", "max"}
    assert set(checkout["init_ms"]) >= {"p50", "p99"}
    assert set(checkout["cost_usd"]) >= {"requests", "compute", "total"}
    # About 300 arrivals in 10 min at 0.5 per second.
    assert 200 < checkout["invocations"] < 400
    assert checkout["completed"] == checkout["invocations"]


def test_run_seed_option_changes_seed_in_summary(tmp_path: Path) -> None:
    path = write(tmp_path, TINY_YAML)

    assert main(["run", str(path), "-o", str(tmp_path / "a"), "-q"]) == 0
    assert main(["run", str(path), "-o", str(tmp_path / "b"), "-q", "--seed", "3"]) == 0

    assert summary_of(tmp_path / "a")["seed"] == 7
    assert summary_of(tmp_path / "b")["seed"] == 3


def test_run_set_option_changes_scenario_value(tmp_path: Path) -> None:
    path = write(tmp_path, TINY_YAML)
    out = tmp_path / "out"

    status = main(["run", str(path), "-o", str(out), "-q", "--set", "horizon=5m"])

    assert status == 0
    assert summary_of(out)["horizon_s"] == 300.0


def test_run_bad_scenario_exits_2_with_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", str(write(tmp_path, BAD_YAML)), "-o", str(tmp_path / "o")])

    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("lambdasim: error: ")
    assert "functions.checkout.memory_mb is 64" in captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "o").exists()


def test_run_bad_override_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, TINY_YAML)

    status = main(["run", str(path), "--set", "horizon", "-o", str(tmp_path / "o")])

    assert status == 2
    assert "expected key.path=value" in capsys.readouterr().err


def test_run_failure_keeps_previous_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, TINY_YAML)), "-o", str(out), "-q"]) == 0
    before = (out / "summary.json").read_bytes()
    bad = write(tmp_path, BAD_YAML, "bad.yaml")

    status = main(["run", str(bad), "-o", str(out), "-q"])

    assert status == 2
    assert "error" in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == before
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name


def test_validate_good_file_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["validate", str(write(tmp_path, TINY_YAML))])

    assert status == 0
    assert "ok (1 declared function, 1 workload source)" in capsys.readouterr().out


def test_validate_bad_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["validate", str(write(tmp_path, BAD_YAML))])

    assert status == 2
    err = capsys.readouterr().err
    assert "tiny.yaml:8: functions.checkout.memory_mb is 64" in err
    assert "Traceback" not in err


def test_validate_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["validate", str(tmp_path / "missing.yaml")])

    assert status == 2
    assert "scenario file not found" in capsys.readouterr().err


def test_run_quiet_prints_nothing_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, TINY_YAML)

    assert main(["run", str(path), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert main(["validate", str(path), "-q"]) == 0

    assert capsys.readouterr().out == ""


def test_main_repeated_calls_do_not_stack_log_handlers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, TINY_YAML)

    for _ in range(3):
        assert main(["run", str(path), "-o", str(tmp_path / "out"), "-v"]) == 0

    # One INFO line per run; handlers stacked by earlier calls would repeat it.
    assert capsys.readouterr().err.count("scenario tiny loaded") == 3


def test_subprocess_run_exits_0_and_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "out"

    done = run_subprocess("run", write(tmp_path, TINY_YAML), "-o", out, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "checkout" in done.stdout
    assert "Traceback" not in done.stderr
    assert (out / "summary.json").is_file()


def test_subprocess_bad_scenario_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, BAD_YAML)

    done = run_subprocess("run", bad, "-o", tmp_path / "out", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"lambdasim: error: {bad}:8: functions.checkout.memory_mb is 64; "
                     "expected an integer from 128 to 10240"]  # fmt: skip


def test_subprocess_validate_bad_file_exits_2(tmp_path: Path) -> None:
    done = run_subprocess("validate", write(tmp_path, BAD_YAML), cwd=tmp_path)

    assert done.returncode == 2
    assert "error" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "path",
    sorted((REPO_ROOT / "scenarios").glob("*.yaml")),
    ids=lambda path: path.name,
)
def test_smoke_shipped_scenario_runs_short(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if "azure" in path.name and not AZURE_2019.is_dir():
        pytest.skip(f"needs the Azure 2019 sample at {AZURE_2019}")
    out = tmp_path / "out"

    status = main(["run", str(path), "--set", "horizon=10m", "-o", str(out), "-q"])

    assert status == 0, capsys.readouterr().err
    assert summary_of(out)["horizon_s"] == 600.0
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name


def test_run_output_folder_that_cannot_be_made_exits_2_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")

    status = main(["run", str(write(tmp_path, TINY_YAML)), "-o", str(blocker / "out")])

    assert status == 2
    captured = capsys.readouterr()
    assert "cannot create the results folder" in captured.err
    assert "invocations simulated" not in captured.out


def test_run_log_file_in_missing_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "missing" / "run.log"

    status = main(["run", str(write(tmp_path, TINY_YAML)), "--log-file", str(log_file)])

    assert status == 2
    assert "cannot open the log file" in capsys.readouterr().err
