"""SQS event sources in scenario files: validation, defaults, the shipped scenario."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import lambdasim
from lambdasim.cli import main
from lambdasim.errors import ScenarioError
from lambdasim.results import Status
from lambdasim.scenario import load_scenario
from tests.conftest import REPO_ROOT

SQS_YAML = """\
name: queue
seed: 3
horizon: 10m
billing_date: 2026-12-01
functions:
  worker:
    runtime: python3.12
    memory_mb: 512
    timeout_s: 10
    duration: 1s
    sqs:
      batch_size: 10
      max_receive_count: 3
workload:
  - type: burst
    function: worker
    at: 0
    count: 20
    invocation_type: sqs
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


MISTAKES = {
    "batch_size_above_10_without_window": (
        ("batch_size: 10", "batch_size: 100"),
        "batch_size: 100",
        r"functions\.worker\.sqs\.batch_size is 100; a batch size above 10 needs "
        r"batching_window_s of at least 1 s \(found 0 s\)",
    ),
    "batch_size_above_10_with_short_window": (
        ("batch_size: 10", "batch_size: 50\n      batching_window_s: 500ms"),
        "batch_size: 50",
        r"functions\.worker\.sqs\.batch_size is 50; a batch size above 10 needs "
        r"batching_window_s of at least 1 s \(found 0\.5 s\)",
    ),
    "batch_size_above_limit": (
        ("batch_size: 10", "batch_size: 20000"),
        "batch_size: 20000",
        r"functions\.worker\.sqs\.batch_size is 20000; expected an integer from 1 "
        r"to 10000",
    ),
    "window_above_300_s": (
        ("batch_size: 10", "batch_size: 10\n      batching_window_s: 10m"),
        "batching_window_s: 10m",
        r"functions\.worker\.sqs\.batching_window_s is '10m' \(= 600 s\); expected "
        r"a time from 0 to 300 s",
    ),
    "maximum_concurrency_below_2": (
        ("batch_size: 10", "batch_size: 10\n      maximum_concurrency: 1"),
        "maximum_concurrency: 1",
        r"functions\.worker\.sqs\.maximum_concurrency is 1; expected an integer "
        r"from 2 to 1000",
    ),
    "visibility_timeout_below_function_timeout": (
        ("batch_size: 10", "batch_size: 10\n      visibility_timeout_s: 5s"),
        "visibility_timeout_s: 5s",
        r"functions\.worker\.sqs\.visibility_timeout_s is 5 s; Lambda refuses a "
        r"queue whose visibility timeout is below the function timeout "
        r"\(timeout_s 10 s\)",
    ),
    "unknown_sqs_key": (
        ("batch_size: 10", "batch_size: 10\n      max_receives: 3"),
        "max_receives: 3",
        r"unknown key 'max_receives' in functions\.worker\.sqs \(did you mean "
        r"'max_receive_count'\?\)",
    ),
    "sqs_source_to_function_without_queue": (
        ("    sqs:\n      batch_size: 10\n      max_receive_count: 3\n", ""),
        "invocation_type: sqs",
        r"workload\[0\]\.invocation_type is 'sqs', but function 'worker' has no "
        r"SQS queue: add an 'sqs' block to functions\.worker",
    ),
    "downstream_limit_without_queue": (
        (
            "    sqs:\n      batch_size: 10\n      max_receive_count: 3\n"
            "workload:\n  - type: burst\n    function: worker\n    at: 0\n"
            "    count: 20\n    invocation_type: sqs\n",
            "    downstream_rate_limit: {burst: 5, refill_per_s: 2}\n"
            "workload:\n  - type: burst\n    function: worker\n    at: 0\n"
            "    count: 20\n",
        ),
        "downstream_rate_limit:",
        r"functions\.worker\.downstream_rate_limit applies to the batches of an SQS "
        r"event source mapping, and the function has none",
    ),
    "retry_on_sqs_source": (
        ("invocation_type: sqs", "invocation_type: sqs\n    retry: sdk"),
        "- type: burst",
        r"workload\[0\]: retry and upstream_timeout describe a synchronous "
        r"caller; a message sent "
        r"to SQS is retried by its queue",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_load_sqs_mistake_reports_line_and_message(tmp_path, mistake):
    (old, new), located_at, pattern = mistake
    assert old in SQS_YAML
    text = SQS_YAML.replace(old, new)
    line = line_of(text, located_at)

    with pytest.raises(ScenarioError, match=rf"/s\.yaml:{line}: {pattern}") as caught:
        load_scenario(write(tmp_path, text))

    assert len(caught.value.problems) == 1


def test_validate_bad_batch_size_exits_2_with_location(tmp_path, capsys):
    text = SQS_YAML.replace("batch_size: 10", "batch_size: 100")
    path = write(tmp_path, text)

    status = main(["validate", str(path)])

    assert status == 2
    err = capsys.readouterr().err
    assert f"s.yaml:{line_of(text, 'batch_size: 100')}: " in err
    assert "batching_window_s of at least 1 s" in err
    assert "Traceback" not in err


def test_bad_override_of_sqs_field_exits_2(tmp_path, capsys):
    status = main(
        [
            "run",
            str(write(tmp_path, SQS_YAML)),
            "--set",
            "functions.worker.sqs.visibility_timeout_s=2",
            "-o",
            str(tmp_path / "out"),
        ]
    )

    assert status == 2
    assert "--set functions.worker.sqs.visibility_timeout_s=2" in (
        capsys.readouterr().err
    )


def test_default_visibility_timeout_is_six_function_timeouts(tmp_path):
    """Every batch fails; timeout 10 s, so the visibility timeout is 60 s.

    With maxReceiveCount 3 the message is received at 0, 60 and 120 s and
    dead-lettered when it reappears at 180 s.
    """
    text = SQS_YAML.replace("duration: 1s", "duration: 1s\n    error_probability: 1")
    text = text.replace("count: 20", "count: 1")
    result = lambdasim.simulate(load_scenario(write(tmp_path, text)))

    inv = result.records.invocations
    assert inv["arrival_s"].tolist() == [0.0, 60.0, 120.0]
    assert set(inv["status"].tolist()) == {Status.ERROR}
    assert result.records.sqs_messages["gone_s"].tolist() == [180.0]
    assert result.summary["total"]["dlq_messages"] == 1


def test_per_message_duration_scales_with_memory(tmp_path):
    # 100 ms per message measured at 1,024 MB, fully CPU-bound: 200 ms at 512 MB.
    # A batch of 10 runs the 1 s base plus 10 x 0.2 s = 3 s.
    text = SQS_YAML.replace(
        "max_receive_count: 3",
        "max_receive_count: 3\n      per_message_duration: {kind: constant, "
        "value: 100ms, reference_memory_mb: 1024, cpu_fraction: 1}",
    )
    text = text.replace("count: 20", "count: 10")
    result = lambdasim.simulate(load_scenario(write(tmp_path, text)))

    assert result.records.invocations["duration_s"].tolist() == pytest.approx([3.0])


def test_maximum_concurrency_above_reserved_warns(tmp_path, caplog):
    text = SQS_YAML.replace(
        "timeout_s: 10",
        "timeout_s: 10\n    reserved_concurrency: 5",
    ).replace("batch_size: 10", "batch_size: 10\n      maximum_concurrency: 8")

    with caplog.at_level(logging.WARNING, logger="lambdasim.runner"):
        lambdasim.simulate(load_scenario(write(tmp_path, text)))

    assert "maximum_concurrency (8) is above its reserved_concurrency (5)" in (
        caplog.text
    )


def test_downstream_rate_limit_fails_batches_over_the_bucket(tmp_path):
    # 20 messages, batches of 1, 5 pollers at t=0; a bucket of 3 that refills 1e-6
    # a second: 3 batches make their call, 2 are refused and fail after 50 ms.
    text = SQS_YAML.replace("batch_size: 10", "batch_size: 1").replace(
        "    sqs:",
        "    downstream_rate_limit: {burst: 3, refill_per_s: 0.000001, "
        "failure_duration_s: 50ms}\n    sqs:",
    )
    text = text.replace("count: 20", "count: 5")
    result = lambdasim.simulate(load_scenario(write(tmp_path, text)))

    inv = result.records.invocations
    first = inv["arrival_s"] == 0.0
    assert inv["status"][first].tolist() == [Status.OK] * 3 + [Status.ERROR] * 2
    assert inv["duration_s"][first].tolist() == [1.0] * 3 + [0.05] * 2
    assert result.summary["total"]["downstream_throttles"] >= 2


SCENARIO = REPO_ROOT / "scenarios" / "sqs-fanout.yaml"


def summary_of(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def test_sqs_fanout_scenario_runs_through_cli_and_shows_the_dead_letters(
    tmp_path, capsys
):
    """Case A2 as shipped: reserved 10, maxReceiveCount 1, three hourly fan-outs.

    Throttled receives end in the dead-letter queue; capping the mapping's
    maximum concurrency at the reservation sends none there.
    """
    out, capped = tmp_path / "out", tmp_path / "capped"

    assert main(["run", str(SCENARIO), "-o", str(out)]) == 0
    table = capsys.readouterr().out
    assert (
        main(
            [
                "run",
                str(SCENARIO),
                "-o",
                str(capped),
                "-q",
                "--set",
                "functions.audit.sqs.maximum_concurrency=10",
            ]
        )
        == 0
    )

    total = summary_of(out)["total"]
    assert total["messages_sent"] == 1200
    assert total["dlq_messages"] > 0
    assert total["dlq_messages"] == total["throttled_receives"]
    assert total["messages_delivered"] + total["dlq_messages"] == 1200
    header = table.splitlines()[0]
    assert "dlq" in header and "msgs sent" in header
    capped_total = summary_of(capped)["total"]
    assert capped_total["dlq_messages"] == 0
    assert capped_total["throttles"] == 0
    assert capped_total["messages_delivered"] == 1200


@pytest.mark.parametrize(
    "fix",
    [
        ["functions.audit.reserved_concurrency=100"],
        [
            "functions.audit.reserved_concurrency=50",
            "functions.audit.sqs.visibility_timeout_s=30m",
        ],
    ],
)
def test_case_a2_a_reservation_for_the_fanout_drives_dead_letters_to_zero(fix):
    # Case A2: raising R drives the DLQ count to 0. 100 environments clear each
    # hour's 400 audits of about 40 s in under 3 minutes, well inside the 5-minute
    # visibility timeout; with 50 it takes over 5 minutes, so throttled batches need
    # the longer timeout AWS advises (6 x the function timeout) to get their turn.
    result = lambdasim.simulate(load_scenario(SCENARIO, overrides=fix))
    total = result.summary["total"]
    assert total["throttles"] > 0
    assert (total["dlq_messages"], total["messages_delivered"]) == (0, 1200)


def test_sqs_fanout_time_series_has_queue_columns(tmp_path):
    result = lambdasim.simulate(load_scenario(SCENARIO, overrides=["horizon=30m"]))
    frame = result.timeseries
    audit = frame[frame["function"] == "audit"]

    # 400 messages at t=0: the first step's depth is at most 400 and above 0.
    first = audit.iloc[0]
    assert 0 < first["queue_depth"] <= 400
    assert first["messages_sent"] == 400
    assert first["pollers"] >= 5
    assert np.all(audit["oldest_message_age_s"] >= 0)
    assert audit["dlq_messages"].sum() == result.summary["total"]["dlq_messages"]
