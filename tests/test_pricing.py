"""Billing rules and cost against hand calculations and real REPORT records."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from lambdasim.errors import ScenarioError
from lambdasim.pricing import (
    billed_duration_ms,
    billing_rules_on,
    is_init_billed,
)

SAMPLES_DIR = Path(__file__).parents[2] / "shared" / "data" / "cloudwatch-samples"
TEXT_SAMPLES = SAMPLES_DIR / "report_text_samples.log"
JSON_SAMPLES = SAMPLES_DIR / "platform_report_json_samples.jsonl"

BEFORE_1MS = date(2020, 11, 30)
FROM_1MS = date(2020, 12, 1)
BEFORE_INIT_BILLING = date(2025, 7, 31)
FROM_INIT_BILLING = date(2025, 8, 1)


def billed(
    duration_ms: float,
    init_ms: float | None = None,
    *,
    init_billed: bool = True,
    on: date = FROM_INIT_BILLING,
    restore_ms: float | None = None,
) -> int:
    result = billed_duration_ms(
        duration_ms,
        init_ms,
        init_billed=init_billed,
        billing_date=on,
        restore_ms=restore_ms,
    )
    return int(result)


# --- billing rules: the cases.md section C rows, by hand ------------------------------


def test_billed_duration_managed_zip_before_init_billing_is_ceil_duration() -> None:
    # S03: 976.25 ms handler, 430.47 ms INIT not billed -> ceil(976.25).
    init_billed = is_init_billed("python3.12", "zip", BEFORE_INIT_BILLING)

    assert init_billed is False
    assert billed(976.25, 430.47, init_billed=init_billed, on=date(2021, 6, 1)) == 977


def test_billed_duration_custom_runtime_before_init_billing_adds_init() -> None:
    # ceil(1000.40 + 250.30) = ceil(1250.70) = 1251.
    init_billed = is_init_billed("provided.al2023", "zip", date(2025, 5, 1))

    assert init_billed is True
    assert billed(1000.40, 250.30, init_billed=init_billed, on=date(2025, 5, 1)) == 1251


def test_billed_duration_snapstart_adds_billed_restore() -> None:
    # cases.md C8 / S07: ceil(1460.23 + 83) = 1544; Restore Duration 450.46 unused.
    assert billed(1460.23, None, on=date(2025, 5, 15), restore_ms=83) == 1544


def test_billed_duration_managed_zip_after_init_billing_adds_init() -> None:
    # open-telemetry/opentelemetry-lambda#2011: ceil(395.99 + 265.72) = 662.
    init_billed = is_init_billed("python3.12", "zip", date(2025, 10, 1))

    assert init_billed is True
    assert billed(395.99, 265.72, init_billed=init_billed, on=date(2025, 10, 1)) == 662


@pytest.mark.parametrize(
    ("duration_ms", "expected_ms"),
    [(89.34, 100), (4157.16, 4200), (718.65, 800), (100.0, 100), (0.01, 100)],
)
def test_billed_duration_before_dec_2020_rounds_up_to_100_ms(
    duration_ms: float, expected_ms: int
) -> None:
    assert billed(duration_ms, on=BEFORE_1MS) == expected_ms


def test_billed_duration_before_dec_2020_rounds_duration_plus_init() -> None:
    # JSONL sample 101 (2020-08-20): ceil100(101.51 + 116.67 = 218.18) = 300.
    assert billed(101.51, 116.67, on=date(2020, 8, 20)) == 300


@pytest.mark.parametrize(
    ("duration_ms", "init_ms", "expected_ms"),
    [
        (3923.569, 145.399, 4069),  # facts section 2; not 3924 + 146 = 4070
        (900000.00, 544.9, 900545),  # facts section 2, 2026 excerpt
        (1460.23, 83.0, 1544),
        (395.99, 265.72, 662),
        (99.7, 0.3, 100),
        (4999.7, 0.3, 5000),
    ],
)
def test_billed_duration_sum_with_init_ceils_the_sum_once(
    duration_ms: float, init_ms: float, expected_ms: int
) -> None:
    assert billed(duration_ms, init_ms, on=date(2026, 10, 8)) == expected_ms


@pytest.mark.parametrize(
    ("duration_ms", "expected_ms"),
    [
        (100.0, 100),
        (3000.0, 3000),
        ((10.3 - 10.0) * 1000, 300),  # 300.0000000000007: clock-difference noise
        (0.1 * 3 * 1000, 300),  # 300.00000000000006
        (300.001, 301),  # a real microsecond over still bills the next ms
    ],
)
def test_billed_duration_float_noise_is_not_billed(
    duration_ms: float, expected_ms: int
) -> None:
    assert billed(duration_ms, on=FROM_1MS) == expected_ms


def test_billed_duration_rule_change_days_switch_granularity() -> None:
    assert billed(89.34, on=BEFORE_1MS) == 100
    assert billed(89.34, on=FROM_1MS) == 90


def test_billed_duration_arrays_with_per_invocation_mask_price_each() -> None:
    duration_ms = np.array([395.99, 395.99, 3.10, 1013.31])
    init_ms = np.array([265.72, 265.72, np.nan, 0.0])
    init_billed = np.array([True, False, True, False])

    result = billed_duration_ms(
        duration_ms, init_ms, init_billed=init_billed, billing_date=date(2024, 1, 1)
    )

    assert result.dtype == np.int64
    assert result.tolist() == [662, 396, 4, 1014]


def test_billed_duration_datetime_billing_date_uses_its_day() -> None:
    assert billed(89.34, on=datetime(2020, 11, 30, 23, 59)) == 100


def test_billed_duration_negative_duration_raises() -> None:
    with pytest.raises(ValueError, match="duration_ms contains negative or infinite"):
        billed(-1.0)


def test_billed_duration_infinite_init_raises() -> None:
    with pytest.raises(ValueError, match="init_ms contains negative or infinite"):
        billed(1.0, float("inf"))


def test_billed_duration_nan_duration_raises() -> None:
    with pytest.raises(ValueError, match="duration_ms contains NaN"):
        billed(float("nan"))


def test_billing_rules_on_change_dates_are_inclusive() -> None:
    assert billing_rules_on(BEFORE_1MS).granularity_ms == 100
    assert billing_rules_on(FROM_1MS).granularity_ms == 1
    assert billing_rules_on(BEFORE_INIT_BILLING).is_managed_zip_init_billed is False
    assert billing_rules_on(FROM_INIT_BILLING).is_managed_zip_init_billed is True


# --- is_init_billed -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime_kind", "package_type", "provisioned"),
    [
        ("provided.al2", "zip", False),
        ("provided", "zip", False),
        ("custom", "zip", False),
        ("python3.12", "image", False),
        ("managed", "Image", False),
        ("nodejs20.x", "zip", True),
    ],
)
def test_is_init_billed_image_custom_or_provisioned_before_2025_is_true(
    runtime_kind: str, package_type: str, provisioned: bool
) -> None:
    assert is_init_billed(runtime_kind, package_type, date(2019, 1, 1), provisioned)


def test_is_init_billed_managed_zip_on_demand_switches_on_2025_08_01() -> None:
    assert not is_init_billed("java21", "zip", BEFORE_INIT_BILLING)
    assert is_init_billed("java21", "zip", FROM_INIT_BILLING)
    assert is_init_billed("managed", "Zip", FROM_INIT_BILLING)


def test_is_init_billed_unknown_package_type_raises() -> None:
    with pytest.raises(ScenarioError, match=r"package type 'jar' .*zip, image"):
        is_init_billed("java21", "jar", FROM_INIT_BILLING)


# --- real REPORT records --------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """One REPORT / platform.report record, keyed by its request-id number."""

    number: int
    duration_ms: float
    billed_ms: int
    memory_mb: int
    init_ms: float | None
    billed_restore_ms: float | None


@dataclass(frozen=True)
class Context:
    """What a sample's comment or _source says about when and how it ran.

    None means the comment does not say. Year- or month-only dates use the first day
    of the period; no billing rule changed inside any such period used here.
    """

    label: str
    billing_date: date | None
    runtime_kind: str | None = None
    package_type: str | None = None


# Keyed by the last three digits of the (synthetic) request id.
CONTEXTS: dict[int, Context] = {
    1: Context("S01", date(2014, 1, 1)),
    2: Context("S02", date(2019, 1, 1)),
    3: Context("S03", date(2021, 1, 1), "managed", "zip"),
    4: Context("S04 cold", date(2024, 1, 1), "python3.9"),  # package type not stated
    5: Context("S04 warm", date(2024, 1, 1), "python3.9"),
    6: Context("S05", date(2025, 10, 1)),
    7: Context("S06", None),
    8: Context("S07", date(2025, 5, 1), "java", "zip"),  # SnapStart is zip-only
    9: Context("S08", date(2024, 10, 3)),
    10: Context("S09", None),
    11: Context("S10", None),
    12: Context("S12", date(2024, 2, 21), "python"),  # package type not stated
    13: Context("S13", date(2024, 4, 23)),
    101: Context("J101", date(2020, 8, 20)),
    102: Context("J102", date(2022, 10, 12)),
    103: Context("J103", date(2024, 7, 1)),
    104: Context("J104", date(2025, 1, 7)),
    105: Context("J105", date(2026, 10, 8)),
    106: Context("J106", date(2026, 4, 8)),
    107: Context("J107", date(2022, 10, 21)),
    108: Context("J108", None),  # timestamp was made up by the source script
}

J106_REASON = (
    "J106: billedDurationMs 654 for durationMs 495.138 with no init or restore; the "
    "_source warns the fixture values may be hand-made (ceil would give 496)"
)

_FIELD = re.compile(r"\b([A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*):\s*([0-9.]+)\s*(?:ms|MB)")


def _text_report(line: str) -> Report:
    fields = {name: float(value) for name, value in _FIELD.findall(line)}
    request_id = re.search(r"RequestId:\s*(\S+)", line)
    assert request_id is not None
    return Report(
        number=int(request_id.group(1)[-3:]),
        duration_ms=fields["Duration"],
        billed_ms=int(fields["Billed Duration"]),
        memory_mb=int(fields["Memory Size"]),
        init_ms=fields.get("Init Duration"),
        billed_restore_ms=fields.get("Billed Restore Duration"),
    )


def _json_report(record: dict[str, object]) -> Report:
    metrics = record["metrics"]
    assert isinstance(metrics, dict)
    return Report(
        number=int(str(record["requestId"])[-3:]),
        duration_ms=float(metrics["durationMs"]),
        billed_ms=int(metrics["billedDurationMs"]),
        memory_mb=int(metrics["memorySizeMB"]),
        init_ms=metrics.get("initDurationMs"),
        billed_restore_ms=metrics.get("billedRestoreDurationMs"),
    )


def _json_reports(line: str) -> list[Report]:
    event = json.loads(line)
    if "logEvents" in event:  # subscription payload: the record is a JSON string
        return [
            _json_report(json.loads(log_event["message"]))
            for log_event in event["logEvents"]
            if log_event.get("type") == "platform.report"
        ]
    if event["type"] != "platform.report":
        return []
    return [_json_report(event["record"])]


@pytest.fixture(scope="module")
def reports() -> dict[int, Report]:
    if not (TEXT_SAMPLES.is_file() and JSON_SAMPLES.is_file()):
        pytest.skip(f"shared CloudWatch samples not found under {SAMPLES_DIR}")
    found: list[Report] = []
    for line in TEXT_SAMPLES.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#") and "REPORT RequestId:" in line:
            found.append(_text_report(line))
    for line in JSON_SAMPLES.read_text(encoding="utf-8").splitlines():
        if line.strip():
            found.extend(_json_reports(line))
    return {report.number: report for report in found}


def _init_billed(report: Report, context: Context, on: date) -> bool | None:
    """Return whether INIT is billed, or None if the unknown configuration decides."""
    if report.init_ms is None:
        return False  # nothing to bill, so the configuration does not matter
    if context.runtime_kind is not None and context.package_type is not None:
        return is_init_billed(context.runtime_kind, context.package_type, on)
    every_config = [
        is_init_billed(runtime, package, on)
        for runtime in ("managed", "custom")
        for package in ("zip", "image")
    ]
    return True if all(every_config) else None


def test_samples_parsed_each_report_has_a_context(reports: dict[int, Report]) -> None:
    assert sorted(reports) == sorted(CONTEXTS)


@pytest.mark.parametrize(
    "number",
    [
        pytest.param(number, marks=pytest.mark.xfail(strict=True, reason=J106_REASON))
        if number == 106
        else number
        for number in CONTEXTS
    ],
    ids=[context.label for context in CONTEXTS.values()],
)
def test_billed_duration_sample_with_known_date_and_config_matches_report(
    reports: dict[int, Report], number: int
) -> None:
    report, context = reports[number], CONTEXTS[number]
    if context.billing_date is None:
        pytest.skip(f"{context.label}: the source gives no date, so no rule applies")
    init_billed = _init_billed(report, context, context.billing_date)
    if init_billed is None:
        pytest.skip(
            f"{context.label}: runtime or package type not stated and INIT billing "
            "depends on it before 2025-08-01 (see the fits-one-rule test)"
        )

    result = billed_duration_ms(
        report.duration_ms,
        report.init_ms,
        init_billed=init_billed,
        billing_date=context.billing_date,
        restore_ms=report.billed_restore_ms,
    )

    assert int(result) == report.billed_ms


@pytest.mark.parametrize(
    "number",
    [
        pytest.param(number, marks=pytest.mark.xfail(strict=True, reason=J106_REASON))
        if number == 106
        else number
        for number in CONTEXTS
    ],
    ids=[context.label for context in CONTEXTS.values()],
)
def test_billed_duration_every_sample_fits_one_init_rule(
    reports: dict[int, Report], number: int
) -> None:
    # Weaker check for samples whose date or configuration is unknown: the billed value
    # must be what some configuration (INIT billed or not) gives on some possible date.
    report, context = reports[number], CONTEXTS[number]
    dates = [context.billing_date] if context.billing_date else [BEFORE_1MS, FROM_1MS]
    candidates = {
        int(
            billed_duration_ms(
                report.duration_ms,
                report.init_ms,
                init_billed=init_billed,
                billing_date=on,
                restore_ms=report.billed_restore_ms,
            )
        )
        for on in dates
        for init_billed in (False, True)
    }

    assert report.billed_ms in candidates


@pytest.mark.parametrize(
    ("billing_date", "duration_ms", "expected_ms"),
    [
        # A handler that returns at once is still billed one step.
        (date(2026, 1, 1), 0.0, 1),
        (date(2026, 1, 1), 0.0004, 1),
        (date(2020, 6, 1), 0.0, 100),
    ],
)
def test_billed_duration_sub_millisecond_handler_billed_one_step(
    billing_date, duration_ms, expected_ms
):
    billed = billed_duration_ms(
        [duration_ms], None, init_billed=False, billing_date=billing_date
    )
    assert billed.tolist() == [expected_ms]
