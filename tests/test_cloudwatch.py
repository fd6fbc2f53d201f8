"""CloudWatch REPORT lines: reading both formats, their bill, and the Duration gap.

The shared samples (../shared/data/cloudwatch-samples) hold 13 text REPORT lines
(S01-S13; S11 has only INIT_REPORT lines) and 8 JSON platform.report records
(J101-J108). Expected values are worked out by hand from the printed fields.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lambdasim.billing import RULES, bill_reports
from lambdasim.cli import main
from lambdasim.errors import TraceFormatError
from lambdasim.price_tables import load_price_table
from lambdasim.workload.cloudwatch import ReportLog, read_reports
from tests.conftest import SHARED_DATA

SAMPLES = SHARED_DATA / "cloudwatch-samples"
TEXT = SAMPLES / "report_text_samples.log"
JSON = SAMPLES / "platform_report_json_samples.jsonl"
needs_samples = pytest.mark.skipif(
    not TEXT.is_file(), reason="../shared/data/cloudwatch-samples not present"
)
PRICES = load_price_table()
X86_TIER1 = 0.0000166667


def bill_of(log: ReportLog, architecture: str = "x86_64"):
    return bill_reports(
        log.duration_ms,
        log.billed_ms,
        log.memory_mb,
        log.init_ms,
        log.billed_restore_ms,
        log.line,
        architecture,
        PRICES,
    )


def write(tmp_path: Path, text: str, name: str = "x.log") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- reading ------------------------------------------------------------------------


@needs_samples
def test_read_text_samples_every_variant_parsed() -> None:
    log = read_reports(TEXT)

    assert len(log) == 13
    ids = [request_id[-2:] for request_id in log.request_id]
    assert ids == [f"{n:02d}" for n in range(1, 14)]
    # S01 (single spaces), S02 (stray space before the tab), S12 and S13 (prefixes).
    assert log.duration_ms[[0, 1, 11, 12]].tolist() == [718.65, 89.34, 884.70, 978.56]
    assert log.billed_ms[[0, 1, 11, 12]].tolist() == [800, 100, 885, 979]
    # S07: SnapStart fields, no Init Duration.
    assert log.restore_ms[7] == 450.46
    assert log.billed_restore_ms[7] == 83
    assert math.isnan(log.init_ms[7])
    # S09: 2,048 MB, Init 544.90.
    assert (log.memory_mb[9], log.init_ms[9]) == (2048, 544.90)
    # S10's suppressed init and S11's three failed inits have no Billed Duration.
    assert log.init_reports == 4


@needs_samples
def test_read_json_samples_including_subscription_payload() -> None:
    log = read_reports(JSON)

    # J103 appears twice (runtimeDone, then report): only the report counts.
    assert [request_id[-3:] for request_id in log.request_id] == [
        "101",
        "102",
        "103",
        "104",
        "105",
        "106",
        "107",
        "108",
    ]
    assert log.line.tolist() == [1, 2, 4, 5, 6, 7, 8, 9]
    # J108 arrives as a JSON string inside logEvents[0].message.
    assert (log.duration_ms[-1], log.billed_ms[-1], log.init_ms[-1]) == (
        1005.146,
        1006,
        491.12,
    )


def test_read_lenient_units_and_tab_prefixed_export(tmp_path: Path) -> None:
    text = (
        "2024-02-21T20:57:16.839+05:30\tREPORT RequestId: a\tDuration: 10.5ms\t"
        "Billed Duration: 11ms\tMemory Size: 256MB\tMax Memory Used: 70 MB\n"
        "START RequestId: b Version: $LATEST\n"
        "some application output: Duration: 5 ms\n"
    )
    log = read_reports(write(tmp_path, text))

    assert len(log) == 1
    assert (log.duration_ms[0], log.billed_ms[0], log.memory_mb[0]) == (10.5, 11, 256)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "END RequestId: a\nREPORT RequestId: a\tDuration: 1.0 ms\tMemory Size: "
            "128 MB\n",
            r"x\.log: line 2: REPORT line lacks Billed Duration; expected Duration, "
            r"Billed Duration, Memory Size",
        ),
        (
            "REPORT RequestId: a\tDuration: 1.2.3 ms\tBilled Duration: 2 ms\t"
            "Memory Size: 128 MB\n",
            r"x\.log: line 1: REPORT field 'Duration' is '1\.2\.3' ms; expected a "
            "number",
        ),
        (
            '\n{"type": "platform.report", "record": {"metrics": {"durationMs": 1}}\n',
            r"x\.log: line 2: not valid JSON",
        ),
        (
            '{"type": "platform.report", "record": {"requestId": "a"}}\n',
            r"x\.log: line 1: platform\.report without record\.metrics",
        ),
        (
            '{"type": "platform.report", "record": {"metrics": {"durationMs": 1, '
            '"billedDurationMs": "2", "memorySizeMB": 128}}}\n',
            r"line 1: record\.metrics\.billedDurationMs is '2'; expected a number",
        ),
        (
            '{"logEvents": [{"type": "platform.report", "message": "{\\"metrics\\": '
            '{\\"durationMs\\": 1, \\"memorySizeMB\\": 128}}"}]}\n',
            r"line 1, logEvents\[0\]: platform\.report lacks Billed Duration",
        ),
        (
            "REPORT RequestId: a Duration: inf ms Billed Duration: 11 ms "
            "Memory Size: 128 MB\n",
            r"line 1: REPORT line has Duration inf; expected a finite number >= 0",
        ),
        (
            '{"type": "platform.report", "record": {"metrics": {"durationMs": NaN, '
            '"billedDurationMs": 2, "memorySizeMB": 128}}}\n',
            r"line 1: platform\.report has Duration nan; expected a finite number",
        ),
        (
            "REPORT RequestId: a Duration: 10 ms Billed Duration: 11.5 ms "
            "Memory Size: 128 MB\n",
            r"line 1: REPORT line has Billed Duration 11\.5; expected a whole number",
        ),
        (
            "REPORT RequestId: a Duration: 10 ms Billed Duration: 11 ms "
            "Memory Size: 0 MB\n",
            r"line 1: REPORT line has Memory Size 0; expected 128 to 10240 MB",
        ),
        (
            "REPORT RequestId: a Duration: 10 ms Billed Duration: 11 ms "
            "Memory Size: 128 MB Memory Size: 256 MB\n",
            r"line 1: REPORT field 'Memory Size' appears twice",
        ),
        (
            "START RequestId: a\nREPORT garbage\n",
            r"line 2: REPORT line lacks Duration, Billed Duration, Memory Size",
        ),
        (
            "START RequestId: a\nEND RequestId: a\n",
            r"x\.log: no REPORT record found; expected text REPORT lines or JSON",
        ),
        ("", r"x\.log: no REPORT record found"),
        (
            "REPORT RequestId: a\tDuration: 9.5 ms\tBilled Duration: 5 ms\t"
            "Memory Size: 128 MB\n",
            r"line 1: REPORT line has Billed Duration 5 ms below its Duration 9\.5 ms; "
            "Lambda bills at least the Duration",
        ),
        (
            "REPORT RequestId: a\tDuration: 9.5 s\tBilled Duration: 10 ms\t"
            "Memory Size: 128 MB\n",
            r"line 1: REPORT field 'Duration' is 9\.5 s; Lambda writes it in ms",
        ),
    ],
)
def test_read_malformed_line_names_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(TraceFormatError, match=message):
        read_reports(write(tmp_path, text))


def test_read_report_without_request_id_after_a_tab_is_a_report(tmp_path: Path) -> None:
    text = "2026-01-05T10:00:00Z\tREPORT\tDuration: 9.5 ms\tBilled Duration: 10 ms\t"
    log = read_reports(write(tmp_path, text + "Memory Size: 128 MB\n"))

    assert (len(log), log.request_id, log.billed_ms[0]) == (1, ("",), 10)


def test_read_day_from_text_prefix_json_time_and_subscription_timestamp(
    tmp_path: Path,
) -> None:
    fields = "Duration: 1 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB"
    metrics = '{"durationMs": 1, "billedDurationMs": 1, "memorySizeMB": 128}'
    text = (
        f"2019-06-01T10:00:00.000Z\tREPORT RequestId: a\t{fields}\n"
        f"REPORT RequestId: b\t{fields}\n"
        '{"time": "2026-10-08T06:53:49.256Z", "type": "platform.report", '
        f'"record": {{"metrics": {metrics}}}}}\n'
        # 1,600,000,000,000 ms after the epoch is 2020-09-13 (UTC).
        '{"logEvents": [{"timestamp": 1600000000000, "message": '
        f'"REPORT RequestId: c {fields.replace(chr(9), " ")}"}}]}}\n'
    )
    log = read_reports(write(tmp_path, text))

    assert [str(day) for day in log.day] == [
        "2019-06-01",
        "NaT",
        "2026-10-08",
        "2020-09-13",
    ]


def test_bill_reports_dated_line_uses_the_step_of_its_day() -> None:
    # Duration 150.30 ms, Init 49.20 ms, billed 200 ms. Undated, the 1 ms step
    # explains it as ceil(150.30 + 49.20) = 200 with INIT billed (gap 49 ms). Logged
    # in 2019 the step was 100 ms and zip INIT free: ceil100(150.30) = 200, no gap.
    args = ([150.30], [200], [1024], [49.20], [math.nan], [1], "x86_64", PRICES)
    undated = bill_reports(*args)
    in_2019 = bill_reports(*args, day=np.array(["2019-06-01"], "datetime64[D]"))

    assert (RULES[int(undated.rule[0])], undated.billed_init_ms) == (
        "duration+init",
        49,
    )
    assert (RULES[int(in_2019.rule[0])], int(in_2019.step_ms[0])) == ("duration", 100)
    assert in_2019.billed_init_ms == 0
    assert in_2019.gap_usd == pytest.approx(0.0)


def test_read_gzipped_export_as_cloudwatch_writes_it(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "000000.gz"
    path.write_bytes(
        gzip.compress(
            b"2026-01-05T10:00:00.000Z REPORT RequestId: a\tDuration: 9.5 ms\t"
            b"Billed Duration: 10 ms\tMemory Size: 256 MB\n"
        )
    )
    log = read_reports(path)

    assert (len(log), log.billed_ms[0], log.memory_mb[0]) == (1, 10, 256)


def test_read_log_not_in_utf8_named_with_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"START RequestId: a\ncaf\xe9\n")
    with pytest.raises(
        TraceFormatError, match=r"x\.log: line 2: byte 0xe9 is not UTF-8 text"
    ):
        read_reports(path)


def test_read_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(TraceFormatError, match=r"nope\.log: log file not found"):
        read_reports(tmp_path / "nope.log")


# --- the bill and the Duration gap -------------------------------------------------


@needs_samples
def test_text_samples_rules_and_steps_by_hand() -> None:
    bill = bill_of(read_reports(TEXT))

    rules = [RULES[i] for i in bill.rule.tolist()]
    # S01/S02 100 ms steps; S05, S06, S09 bill INIT; S07 bills Billed Restore; the
    # pre-2025-08 cold starts (S03, S04, S12, S13) do not bill INIT.
    assert rules == [
        "duration",
        "duration",
        "duration",
        "duration",
        "duration",
        "duration+init",
        "duration+init",
        "duration+restore",
        "duration",
        "duration+init",
        "duration",
        "duration",
        "duration",
    ]
    assert bill.step_ms.tolist() == [100, 100] + [1] * 11
    assert bill.unexplained_lines == ()


@needs_samples
def test_text_samples_gap_equals_billed_init_times_gb_times_price() -> None:
    # Billed - ceil(Duration) on the four lines that bill INIT or restore:
    # S05 512 MB: 662 - 396 = 266 ms; S06 2,048 MB: 546 - 4 = 542 ms;
    # S07 128 MB: 1544 - 1461 = 83 ms; S09 2,048 MB: 900545 - 900000 = 545 ms.
    bill = bill_of(read_reports(TEXT))
    gap_gb_s = (266 * 0.5 + 542 * 2 + 83 * 0.125 + 545 * 2) / 1000

    assert bill.billed_init_ms == 266 + 542 + 83 + 545
    assert bill.lines_billing_init == 4
    # Their Init / Billed Restore Durations: within 1 ms per line of the billed part.
    assert bill.init_ms == pytest.approx(265.72 + 542.01 + 83 + 544.90)
    assert bill.gap_usd == pytest.approx(gap_gb_s * X86_TIER1)
    assert bill.billed_usd - bill.estimate_usd == pytest.approx(bill.gap_usd)
    assert bill.requests_usd == pytest.approx(13 * 0.2e-6)


@needs_samples
def test_json_samples_gap_counts_100ms_init_and_flags_the_odd_fixture() -> None:
    # J101 (2020, 512 MB): ceil100(101.51 + 116.67) = 300 vs ceil100(101.51) = 200.
    # J105 (2026, 256 MB): 1698 - 1234 = 464 ms. J106 fits no rule (its source warns
    # the values may be hand-made): 654 - 496 = 158 ms, unexplained.
    log = read_reports(JSON)
    bill = bill_of(log, "arm64")
    gap_gb_s = (100 * 0.5 + 464 * 0.25 + 158 * 0.5) / 1000

    assert bill.billed_init_ms == 100 + 464
    assert bill.unexplained_lines == (7,)
    assert bill.unexplained_ms == 158
    assert bill.gap_usd == pytest.approx(gap_gb_s * 0.0000133334)
    # Every billed GB-s from Billed Duration and Memory Size.
    expected_gb_s = float(np.sum(log.billed_ms * log.memory_mb / 1024 / 1000))
    assert bill.gb_seconds == pytest.approx(expected_gb_s)


def test_bill_reports_snapstart_line_billed_restore_is_the_gap() -> None:
    # cases.md C8: ceil(1460.23 + 83) = 1544; the estimate is ceil(1460.23) = 1461.
    bill = bill_reports(
        [1460.23], [1544], [128], [math.nan], [83.0], [1], "x86_64", PRICES
    )
    assert RULES[int(bill.rule[0])] == "duration+restore"
    assert bill.billed_init_ms == 83


# --- the command --------------------------------------------------------------------


@needs_samples
def test_cli_bill_logs_prints_bill_and_gap(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bill-logs", str(TEXT)]) == 0

    out = capsys.readouterr().out
    assert "13 REPORT lines (x86_64" in out
    assert "billed INIT or SnapStart restore: 1,436 ms on 4 lines" in out
    assert "4 INIT_REPORT lines without a Billed Duration" in out


def test_cli_bill_logs_malformed_line_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "REPORT RequestId: a\tDuration: 1 ms\tMemory Size: 1 MB\n")

    assert main(["bill-logs", str(path)]) == 2
    assert "x.log: line 1: REPORT line lacks Billed Duration" in capsys.readouterr().err


def test_cli_bill_logs_unknown_region_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "")

    assert main(["bill-logs", str(path), "--region", "mars-1"]) == 2
    assert "no Lambda price table for region 'mars-1'" in capsys.readouterr().err
