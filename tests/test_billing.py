"""The whole bill against hand calculations and AWS's own pricing examples.

Prices are us-east-1 (aws-lambda-facts.md section 5). Every expected value is worked
out in the test from those prices, not taken from the code.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from lambdasim.billing import (
    COMPONENTS,
    MONTH_S,
    BillingOptions,
    FunctionBilling,
    ProvisionedUsage,
    SnapStartBilling,
    bill_run,
)
from lambdasim.errors import ScenarioError
from lambdasim.price_tables import Architecture, load_price_table
from lambdasim.pricing import (
    provisioned_allocated_gb_s,
    provisioned_allocated_usd,
    provisioned_executing_usd,
    provisioned_init_usd,
    rds_proxy_usd,
    tiered_duration_usd,
)

PRICES = load_price_table()
X86, ARM = Architecture.X86_64, Architecture.ARM64
ON = date(2026, 1, 15)
HOUR_S = 3600.0

# us-east-1 prices used in the hand calculations below.
REQUEST = 0.20 / 1e6
X86_TIERS = (0.0000166667, 0.0000150000, 0.0000133334)
ARM_TIER1 = 0.0000133334
PC_ALLOCATED_X86 = 0.0000041667
PC_DURATION_X86 = 0.0000097222
STORAGE = 0.0000000309
SNAP_CACHE = 0.0000015046
SNAP_RESTORE = 0.0001397998


def fn(
    name: str = "fn",
    memory_mb: float = 1024,
    architecture: Architecture = X86,
    **changes: object,
) -> FunctionBilling:
    return FunctionBilling(name, memory_mb, architecture, **changes)  # type: ignore[arg-type]


def warm_run(
    count: int,
    duration_s: float,
    functions: list[FunctionBilling],
    *,
    horizon_s: float,
    options: BillingOptions | None = None,
    function_index: np.ndarray | None = None,
    **kwargs: object,
):
    index = (
        np.zeros(count, dtype=np.int64) if function_index is None else function_index
    )
    return bill_run(
        index,
        np.ones(count, dtype=bool),
        np.full(count, duration_s),
        np.zeros(count),
        functions,
        PRICES,
        horizon_s=horizon_s,
        options=options,
        **{"billing_date": ON, **kwargs},  # type: ignore[arg-type]
    )


def assert_components_add_up(bill) -> None:
    parts = np.sum([bill.breakdown[name] for name in COMPONENTS], axis=0)
    np.testing.assert_allclose(parts, bill.breakdown["total"], rtol=1e-12)


# --- volume tiers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gb_s", "expected_usd"),
    [
        (1e6, 1e6 * 0.0000166667),
        (6e9, 6e9 * 0.0000166667),  # exactly the tier-1 ceiling
        # 6 B at tier 1 + 1 B at tier 2: $100,000.20 + $15,000.
        (7e9, 100_000.2 + 15_000.0),
        # 6 B + 9 B at tier 2 ($135,000) + 5 B at tier 3 ($66,667).
        (20e9, 100_000.2 + 135_000.0 + 66_667.0),
    ],
)
def test_tiered_duration_x86_crosses_6b_and_15b_boundaries(
    gb_s: float, expected_usd: float
) -> None:
    tiers = PRICES.for_architecture(X86).duration.tiers
    assert float(tiered_duration_usd(gb_s, tiers)) == pytest.approx(expected_usd)


def test_tiered_duration_arm64_boundary_is_7_5b() -> None:
    # 7.5 B x $0.0000133334 + 0.5 B x $0.0000120001 = $100,000.50 + $6,000.05.
    tiers = PRICES.for_architecture(ARM).duration.tiers
    assert float(tiered_duration_usd(8e9, tiers)) == pytest.approx(106_000.55)


def test_bill_tier_boundary_crossed_within_a_projected_month() -> None:
    # 1,000 invocations of 10,240 MB (10 GB) x 900 s in one hour = 9,000,000 GB-s;
    # x 730 = 6.57 B GB-s a month: 6 B at tier 1, 0.57 B at tier 2.
    bill = warm_run(
        1000,
        900.0,
        [fn(memory_mb=10240)],
        horizon_s=HOUR_S,
        options=BillingOptions(free_tier=False),
    )
    monthly = 6e9 * X86_TIERS[0] + 0.57e9 * X86_TIERS[1]

    assert bill.factor == pytest.approx(730.0)
    assert bill.breakdown["compute"][-1] == pytest.approx(monthly / 730)
    assert bill.breakdown["total"][-1] * bill.factor == pytest.approx(
        monthly + 730 * 1000 * REQUEST
    )
    # Without the projection the hour is the month: all of it at tier 1.
    flat = warm_run(
        1000,
        900.0,
        [fn(memory_mb=10240)],
        horizon_s=HOUR_S,
        options=BillingOptions(free_tier=False, project_to_month=False),
    )
    assert flat.breakdown["compute"][-1] == pytest.approx(9e6 * X86_TIERS[0])


@pytest.mark.parametrize(
    ("billing_date", "is_tiered"),
    [
        (date(2022, 7, 31), False),  # before tiered pricing (2022-08)
        (date(2022, 8, 1), True),
    ],
)
def test_volume_tiers_apply_from_august_2022(billing_date, is_tiered) -> None:
    # The same 6.57 B GB-s a month as above; before August 2022 every GB-s cost the
    # single price of the time, $0.0000166667 (tier 1 today).
    bill = warm_run(
        1000,
        900.0,
        [fn(memory_mb=10240)],
        horizon_s=HOUR_S,
        options=BillingOptions(free_tier=False),
        billing_date=billing_date,
    )
    monthly = (
        6e9 * X86_TIERS[0] + 0.57e9 * X86_TIERS[1]
        if is_tiered
        else 6.57e9 * X86_TIERS[0]
    )
    assert bill.breakdown["compute"][-1] == pytest.approx(monthly / 730)


# --- AWS pricing page examples ----------------------------------------------------


def test_aws_example_1_512mb_3m_invocations_1s_with_free_tier() -> None:
    # lambda/pricing Example 1: 3 M x 1 s x 512 MB = 1,500,000 GB-s; minus 400,000
    # free = 1,100,000 x $0.0000166667 = $18.3334; requests (3 M - 1 M) x $0.2/M =
    # $0.40. AWS prints $18.34 + $0.40 = $18.74 with the rate rounded to $0.00001667.
    bill = warm_run(
        3_000_000,
        1.0,
        [fn(memory_mb=512)],
        horizon_s=MONTH_S,
        options=BillingOptions(project_to_month=False),
    )
    total = bill.breakdown["total"][-1]

    assert total == pytest.approx(1_100_000 * 0.0000166667 + 0.40, rel=1e-9)
    assert total == pytest.approx(18.74, abs=0.01)
    assert bill.breakdown["free_tier_credit"][-1] == pytest.approx(
        -(400_000 * 0.0000166667 + 0.20)
    )
    assert_components_add_up(bill)


def test_aws_example_2_projected_from_a_tenth_of_the_month() -> None:
    # lambda/pricing Example 2: 30 M x 200 ms x 128 MB a month = 750,000 GB-s;
    # (750,000 - 400,000) x $0.0000166667 = $5.8333; requests 29 M x $0.2/M = $5.80;
    # $11.63. Here a tenth of the month (73 h, 3 M invocations) is projected.
    bill = warm_run(3_000_000, 0.2, [fn(memory_mb=128)], horizon_s=MONTH_S / 10)
    monthly = 350_000 * 0.0000166667 + 5.80

    assert bill.factor == pytest.approx(10.0)
    assert bill.summary_blocks()[-1]["monthly_usd"] == pytest.approx(monthly)
    assert bill.breakdown["total"][-1] == pytest.approx(monthly / 10)


def test_aws_provisioned_example_1000_pc_2_hours_1_2m_invocations() -> None:
    # lambda/pricing PC example: 1,024 MB, PC 1,000 for 2 hours, 1.2 M invocations
    # of 1 s, all on provisioned environments. PC: 1,000 x 1 GB x 7,200 s x
    # $0.0000041667 = $30.00; duration 1.2 M GB-s x $0.0000097222 = $11.67; requests
    # 1.2 M x $0.2/M = $0.24; total $41.91. No free tier with PC.
    count = 1_200_000
    bill = warm_run(
        count,
        1.0,
        [fn(memory_mb=1024)],
        horizon_s=2 * HOUR_S,
        served_by=np.ones(count, dtype=np.int8),
        provisioned=ProvisionedUsage([0], [0.0], [1000]),
    )
    total = bill.breakdown

    assert total["provisioned_allocated"][-1] == pytest.approx(7.2e6 * PC_ALLOCATED_X86)
    assert total["provisioned_allocated"][-1] == pytest.approx(30.00, abs=0.005)
    assert total["provisioned_executing"][-1] == pytest.approx(1.2e6 * PC_DURATION_X86)
    assert total["compute"][-1] == 0.0
    assert total["requests"][-1] == pytest.approx(0.24)
    assert total["free_tier_credit"][-1] == 0.0
    assert total["total"][-1] == pytest.approx(41.91, abs=0.01)


# --- provisioned concurrency as pure functions ------------------------------------


def test_provisioned_month_of_1gb_1_unit_is_10_95_x86() -> None:
    # 1 GB x 1 x 730 h = 2,628,000 GB-s x $0.0000041667 = $10.9501.
    gb_s = provisioned_allocated_gb_s([0], [0.0], [1], [1024], MONTH_S)

    assert gb_s.tolist() == [2_628_000.0]
    usd = provisioned_allocated_usd(gb_s, "x86_64", PRICES)
    assert float(usd[0]) == pytest.approx(2_628_000 * PC_ALLOCATED_X86)
    assert float(usd[0]) == pytest.approx(10.95, abs=0.001)


@pytest.mark.parametrize(
    ("times", "counts", "expected_gb_s"),
    [
        # Enabled 7 min, disabled: billed 10 min = 600 s.
        ([0.0, 420.0], [1, 0], 600.0),
        # Exactly 5 min: no rounding.
        ([0.0, 300.0], [1, 0], 300.0),
        # 2 for 100 s then 1 for 320 s, disabled at 420 s: 200 + 320 + 1 x 180 = 700.
        ([0.0, 100.0, 420.0], [2, 1, 0], 700.0),
        # Two spans of 1 min each: each rounded to 5 min.
        ([0.0, 60.0, 1000.0, 1060.0], [1, 0, 1, 0], 600.0),
        # Enabled at 30 min, never disabled: to the horizon (1 h), unrounded.
        ([1800.0], [3], 3 * 1800.0),
        # Disabled after the horizon: the span is cut at the horizon, unrounded.
        ([3500.0, 3700.0], [1, 0], 100.0),
        # A change to the same count mid-span adds nothing.
        ([0.0, 100.0, 200.0], [1, 1, 0], 300.0),
    ],
)
def test_provisioned_allocated_gb_s_rounds_enable_to_disable_up_to_5_minutes(
    times: list[float], counts: list[int], expected_gb_s: float
) -> None:
    index = [0] * len(times)
    gb_s = provisioned_allocated_gb_s(index, times, counts, [1024], HOUR_S)
    assert gb_s.tolist() == pytest.approx([expected_gb_s])


def test_provisioned_allocated_gb_s_per_function_unsorted_input() -> None:
    # fn 1 (512 MB): 4 environments for the whole hour = 0.5 x 4 x 3600 = 7200.
    # fn 0 (2048 MB): 1 from 600 s to 720 s -> 300 s billed x 2 GB = 600.
    gb_s = provisioned_allocated_gb_s(
        [1, 0, 0], [0.0, 720.0, 600.0], [4, 0, 1], [2048, 512], HOUR_S
    )
    assert gb_s.tolist() == pytest.approx([600.0, 7200.0])


def test_provisioned_allocated_gb_s_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="out of range"):
        provisioned_allocated_gb_s([2], [0.0], [1], [1024], HOUR_S)
    with pytest.raises(ValueError, match="allocated must be >= 0"):
        provisioned_allocated_gb_s([0], [0.0], [-1], [1024], HOUR_S)


def test_provisioned_executing_only_where_served_by_provisioned() -> None:
    # 2 GB x 0.5 s = 1 GB-s x $0.0000097222 for the provisioned row only.
    usd = provisioned_executing_usd(
        [500, 500], 2048, np.array([True, False]), "x86_64", PRICES
    )
    assert usd.tolist() == pytest.approx([PC_DURATION_X86, 0.0])


def test_provisioned_init_billed_rounded_at_pc_rate() -> None:
    # ceil(250.3) = 251 ms x 4 GB = 1.004 GB-s x $0.0000097222; 0 ms -> nothing.
    usd = provisioned_init_usd([250.3, 0.0], 4096, "x86_64", PRICES, ON)
    assert usd.tolist() == pytest.approx([1.004 * PC_DURATION_X86, 0.0])


def test_bill_pc_inits_and_allocation_enter_the_function_block() -> None:
    # PC 2 x 1 GB over the hour: 7,200 GB-s x $0.0000041667; two INITs of 1 s at the
    # PC rate: 2 GB-s x $0.0000097222. No invocations.
    bill = bill_run(
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=bool),
        np.zeros(0),
        np.zeros(0),
        [fn(name="api:live")],
        PRICES,
        billing_date=ON,
        horizon_s=HOUR_S,
        provisioned=ProvisionedUsage([0], [0.0], [2], [0, 0], [1000.0, 1000.0]),
    )

    assert bill.breakdown["provisioned_allocated"][0] == pytest.approx(
        7200 * PC_ALLOCATED_X86
    )
    assert bill.breakdown["provisioned_executing"][0] == pytest.approx(
        2 * PC_DURATION_X86
    )
    assert bill.summary_blocks()[0]["cost_per_million_invocations"] is None


# --- free tier ----------------------------------------------------------------------


def test_free_tier_not_for_functions_with_pc_nor_their_other_qualifiers() -> None:
    # "api" and "api:live" are one Lambda function; PC on api:live makes both
    # ineligible. "other" (no PC) gets the whole free tier: 1,000 requests of 1 GB x
    # 1 s in a month-long run are fully covered.
    functions = [fn(name="api"), fn(name="api:live"), fn(name="other")]
    index = np.array([0] * 1000 + [1] * 1000 + [2] * 1000)
    bill = warm_run(
        3000,
        1.0,
        functions,
        horizon_s=MONTH_S,
        function_index=index,
        provisioned=ProvisionedUsage([1], [0.0], [1]),
    )
    credit = bill.breakdown["free_tier_credit"]

    assert credit[0] == 0.0
    assert credit[1] == 0.0
    assert credit[2] == pytest.approx(-(1000 * REQUEST + 1000 * X86_TIERS[0]))
    assert bill.breakdown["total"][2] == pytest.approx(0.0, abs=1e-12)
    assert bill.breakdown["total"][0] == pytest.approx(1000 * (REQUEST + X86_TIERS[0]))


def test_free_tier_shared_in_proportion_when_exceeded() -> None:
    # Two functions, each 600,000 requests and 300,000 GB-s in a month: 1 M free
    # requests and 400,000 free GB-s are split half and half.
    functions = [fn(name="a"), fn(name="b", memory_mb=512)]
    index = np.repeat([0, 1], 600_000)
    durations = np.where(index == 0, 0.5, 1.0)  # 1 GB x 0.5 s and 0.5 GB x 1 s
    bill = bill_run(
        index,
        np.ones(index.size, dtype=bool),
        durations,
        np.zeros(index.size),
        functions,
        PRICES,
        billing_date=ON,
        horizon_s=MONTH_S,
    )
    half = -(500_000 * REQUEST + 200_000 * X86_TIERS[0])

    assert bill.breakdown["free_tier_credit"][:2].tolist() == pytest.approx(
        [half, half]
    )


def test_free_tier_off_gives_no_credit() -> None:
    bill = warm_run(
        10, 1.0, [fn()], horizon_s=HOUR_S, options=BillingOptions(free_tier=False)
    )
    assert bill.breakdown["free_tier_credit"][-1] == 0.0
    assert bill.breakdown["total"][-1] == pytest.approx(10 * (REQUEST + X86_TIERS[0]))


# --- architectures, storage, SnapStart, INIT --------------------------------------


def test_arm64_against_x86_64_same_traffic_compute_in_price_ratio() -> None:
    options = BillingOptions(free_tier=False)
    x86 = warm_run(
        1000, 0.25, [fn(architecture=X86)], horizon_s=HOUR_S, options=options
    )
    arm = warm_run(
        1000, 0.25, [fn(architecture=ARM)], horizon_s=HOUR_S, options=options
    )

    # 1000 x 0.25 GB-s = 250 GB-s at each architecture's tier-1 rate.
    assert x86.breakdown["compute"][-1] == pytest.approx(250 * X86_TIERS[0])
    assert arm.breakdown["compute"][-1] == pytest.approx(250 * ARM_TIER1)
    assert arm.breakdown["requests"][-1] == x86.breakdown["requests"][-1]
    assert arm.breakdown["total"][-1] < x86.breakdown["total"][-1]


def test_ephemeral_storage_above_512_mb_billed_per_gb_s() -> None:
    # 10,240 MB of /tmp: 9,728 MB above the free 512 = 9.5 GB; 4 x 1 s billed =
    # 38 GB-s x $0.0000000309.
    bill = warm_run(
        4,
        1.0,
        [fn(ephemeral_storage_mb=10240)],
        horizon_s=HOUR_S,
        options=BillingOptions(free_tier=False),
    )
    assert bill.breakdown["storage"][-1] == pytest.approx(38 * STORAGE)
    assert bill.columns["storage_usd"].tolist() == pytest.approx([9.5 * STORAGE] * 4)


def snapstart_run(has_charges: bool):
    # One cold start (Restore Duration 500 ms) and one warm start, 100 ms each, 2 GB,
    # for one hour; Billed Restore = 0.27 x 500 = 135 ms.
    return bill_run(
        np.array([0, 0]),
        np.array([True, True]),
        np.array([0.1, 0.1]),
        np.array([0.5, 0.0]),
        [fn(memory_mb=2048, snapstart=SnapStartBilling(0.27, has_charges))],
        PRICES,
        billing_date=ON,
        horizon_s=HOUR_S,
        options=BillingOptions(free_tier=False),
    )


def test_snapstart_python_bills_restore_duration_restore_and_cache() -> None:
    bill = snapstart_run(True)

    assert bill.columns["billed_ms"].tolist() == [235, 100]
    assert bill.columns["billed_init_ms"].tolist() == [135, 0]
    # Restore: 1 x 2 GB x $0.0001397998; cache: 2 GB x 3,600 s x $0.0000015046.
    restore = 2 * SNAP_RESTORE
    cache = 2 * 3600 * SNAP_CACHE
    assert bill.columns["snapstart_usd"].tolist() == pytest.approx([restore, 0.0])
    assert bill.breakdown["snapstart"][-1] == pytest.approx(restore + cache)
    assert bill.breakdown["init"][-1] == pytest.approx(2 * 0.135 * X86_TIERS[0])


def test_snapstart_java_bills_restore_duration_without_snapstart_charges() -> None:
    bill = snapstart_run(False)

    assert bill.columns["billed_ms"].tolist() == [235, 100]
    assert bill.breakdown["snapstart"][-1] == 0.0


def test_init_billed_split_from_handler_and_rows_sum_to_components() -> None:
    # Custom runtime: ceil(100.2 + 250.5) = 351 ms billed, of which ceil(100.2) =
    # 101 handler and 250 INIT; 1 GB.
    bill = bill_run(
        np.array([0]),
        np.array([True]),
        np.array([0.1002]),
        np.array([0.2505]),
        [fn(is_init_billed=True)],
        PRICES,
        billing_date=ON,
        horizon_s=HOUR_S,
        options=BillingOptions(free_tier=False),
    )

    assert bill.columns["billed_ms"].tolist() == [351]
    assert bill.columns["billed_init_ms"].tolist() == [250]
    assert bill.breakdown["compute"][-1] == pytest.approx(0.101 * X86_TIERS[0])
    assert bill.breakdown["init"][-1] == pytest.approx(0.250 * X86_TIERS[0])
    assert bill.columns["cost_usd"].sum() == pytest.approx(bill.breakdown["total"][-1])


def test_throttled_attempts_cost_nothing() -> None:
    bill = bill_run(
        np.array([0, 0]),
        np.array([True, False]),
        np.array([1.0, 0.0]),
        np.array([0.0, 0.0]),
        [fn()],
        PRICES,
        billing_date=ON,
        horizon_s=HOUR_S,
    )
    assert bill.columns["billed_ms"].tolist() == [1000, 0]
    assert bill.columns["cost_usd"][1] == 0.0
    assert bill.billed_requests.tolist() == [1, 1]


def test_proxy_charge_enters_breakdown_and_total() -> None:
    # A 4-vCPU target for the 1-hour run: 4 x 1 h x $0.015 = $0.06.
    proxy = rds_proxy_usd([4], [1.0], "vcpu", PRICES)
    bill = warm_run(1, 1.0, [fn()], horizon_s=HOUR_S, proxy_usd=proxy)

    assert float(proxy[0]) == pytest.approx(0.06)
    assert bill.breakdown["proxy"][-1] == pytest.approx(0.06)
    assert_components_add_up(bill)


# --- RDS Proxy ----------------------------------------------------------------------


def test_rds_proxy_minimum_2_vcpus() -> None:
    # A 1-vCPU target is charged as 2: 2 x 730 h x $0.015 = $21.90.
    usd = rds_proxy_usd([1, 8], [730, 10], "vcpu", PRICES)
    assert usd.tolist() == pytest.approx([21.90, 8 * 10 * 0.015])


def test_rds_proxy_acu_without_verified_rate_raises_naming_key() -> None:
    with pytest.raises(ScenarioError, match=r"rds_proxy\.usd_per_acu_hour is null"):
        rds_proxy_usd(4, 1.0, "acu", PRICES)


def test_rds_proxy_acu_minimum_8_with_own_rate() -> None:
    assert PRICES.rds_proxy is not None
    own = replace(PRICES, rds_proxy=replace(PRICES.rds_proxy, usd_per_acu_hour=0.01))
    # 2 ACUs are charged as 8: 8 x 5 h x $0.01 = $0.40.
    assert float(rds_proxy_usd(2, 5, "acu", own)) == pytest.approx(0.40)
