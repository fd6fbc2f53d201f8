"""Lambda billing rules and charges: what each billed quantity costs.

Two kinds of knowledge live here and in `lambdasim.price_tables`, each kept as data so
that it can grow:

- **Prices** per region, in versioned package data files
  ``lambdasim/prices/<region>.json`` (read by `lambdasim.price_tables`, re-exported
  here): requests, tiered on-demand duration, provisioned concurrency (allocated and
  executing), ephemeral storage, SnapStart cache and restore, the free tier and RDS
  Proxy, each with its AWS Price List SKU and effective date.
- **Billing rules** by date, in `BILLING_RULES`: how Billed Duration is rounded and
  whether the INIT phase is billed, for the simulated billing date.

The charge functions are pure and vectorised with numpy: they take explicit
quantities (billed ms, memory, allocation steps, hours) and return dollars, so a run of
millions of invocations is priced in a few calls, and features the model does not
produce yet (provisioned concurrency, RDS Proxy) are priced the same way once their
quantities exist. `lambdasim.billing` puts them together into the bill of a run.

A gigabyte is 1,024 MB here, as in AWS's own pricing examples ("3,000,000 seconds *
512MB/1024 = 1,500,000 GB-s", https://aws.amazon.com/lambda/pricing/).
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lambdasim.errors import ScenarioError
from lambdasim.price_tables import (
    DEFAULT_REGION,
    Architecture,
    ArchitecturePrices,
    PackageType,
    PriceTable,
    PriceTier,
    RateName,
    RdsProxyPrices,
    load_price_table,
    load_price_table_file,
    price_table_regions,
)

__all__ = [
    "BILLING_RULES",
    "DEFAULT_REGION",
    "PC_BLOCK_S",
    "Architecture",
    "ArchitecturePrices",
    "BillingRules",
    "PackageType",
    "PriceTable",
    "ProxyTarget",
    "RateName",
    "billed_duration_ms",
    "billing_rules_on",
    "ephemeral_storage_gb_s",
    "gb_seconds",
    "is_init_billed",
    "load_price_table",
    "load_price_table_file",
    "price_table_regions",
    "provisioned_allocated_gb_s",
    "provisioned_allocated_usd",
    "provisioned_executing_usd",
    "provisioned_init_usd",
    "aurora_serverless_usd",
    "rds_proxy_usd",
    "snapstart_cache_usd",
    "snapstart_restore_usd",
    "tiered_duration_usd",
]

MB_PER_GB = 1024
MS_PER_S = 1000
US_PER_MS = 1000
S_PER_HOUR = 3600
REQUESTS_PER_MILLION = 1_000_000
FloatArray = npt.NDArray[np.float64]

PC_BLOCK_S = 300.0
"""Provisioned concurrency is billed from enable to disable, rounded up to this."""


@dataclass(frozen=True)
class BillingRules:
    """Lambda's duration billing rules in force from one date on.

    Attributes:
        effective: First day on which these rules apply.
        granularity_ms: Billed Duration is rounded up to a multiple of this.
        is_managed_zip_init_billed: Whether the INIT phase of on-demand zip functions
            on managed runtimes is billed. Other configurations always bill INIT.
        source: Where the rule is documented.
        is_tiered: Whether on-demand duration is priced by monthly volume tiers;
            before, every GB-s cost the first tier's price.
    """

    effective: datetime.date
    granularity_ms: int
    is_managed_zip_init_billed: bool
    source: str
    is_tiered: bool = True


BILLING_RULES: tuple[BillingRules, ...] = (
    BillingRules(
        effective=datetime.date.min,
        granularity_ms=100,
        is_managed_zip_init_billed=False,
        source="REPORT logs before Dec 2020, e.g. 4157.16 ms billed as 4200 ms",
        is_tiered=False,
    ),
    BillingRules(
        effective=datetime.date(2020, 12, 1),
        granularity_ms=1,
        is_managed_zip_init_billed=False,
        source="AWS News Blog, 1 ms billing granularity (re:Invent, 2020-12-01)",
        is_tiered=False,
    ),
    BillingRules(
        # Assumption A-64: from the first day of the month they were announced in.
        effective=datetime.date(2022, 8, 1),
        granularity_ms=1,
        is_managed_zip_init_billed=False,
        source="AWS Compute Blog, 'Introducing tiered pricing for AWS Lambda'",
    ),
    BillingRules(
        effective=datetime.date(2025, 8, 1),
        granularity_ms=1,
        is_managed_zip_init_billed=True,
        source="AWS Compute Blog, 'AWS Lambda standardizes billing for INIT Phase'",
    ),
)
"""Billing rules, oldest first; the last one whose date has come applies."""


def billing_rules_on(billing_date: datetime.date) -> BillingRules:
    """Return the billing rules in force on `billing_date`."""
    if isinstance(billing_date, datetime.datetime):
        # A datetime does not compare with a date; only the day matters here.
        billing_date = billing_date.date()
    in_force = [rules for rules in BILLING_RULES if rules.effective <= billing_date]
    return in_force[-1]


def is_init_billed(
    runtime_kind: str,
    package_type: str,
    billing_date: datetime.date,
    provisioned: bool = False,
) -> bool:
    """Return whether Lambda bills the INIT phase of a function's cold starts.

    Container images, custom runtimes and provisioned concurrency have always billed
    INIT; on-demand zip functions on managed runtimes bill it only from 2025-08-01.

    Args:
        runtime_kind: ``"managed"`` or ``"custom"``, or a Lambda runtime identifier
            such as ``"python3.12"`` or ``"provided.al2023"`` (``provided*`` is a
            custom runtime, anything else managed).
        package_type: ``"zip"`` or ``"image"`` (case-insensitive).
        billing_date: Date whose billing rules apply.
        provisioned: Whether the instance belongs to provisioned concurrency.

    Raises:
        ScenarioError: If `package_type` is neither zip nor image.
    """
    package = _package_type(package_type)
    if provisioned or package is PackageType.IMAGE or _is_custom(runtime_kind):
        return True
    return billing_rules_on(billing_date).is_managed_zip_init_billed


def billed_duration_ms(
    duration_ms: npt.ArrayLike,
    init_ms: npt.ArrayLike | None,
    *,
    init_billed: bool | npt.NDArray[np.bool_],
    billing_date: datetime.date,
    restore_ms: npt.ArrayLike | None = None,
) -> npt.NDArray[np.int64]:
    """Return the Billed Duration Lambda reports for each invocation.

    Billed Duration = Duration, plus Init Duration where INIT is billed, plus Billed
    Restore Duration (SnapStart), the sum rounded up to the billing granularity of
    `billing_date` (1 ms from 2020-12-01, 100 ms before). The sum is rounded, not
    each part: 3923.569 + 145.399 ms bills 4069 ms, not 3924 + 146. The minimum is
    one step (1 ms, or 100 ms before 2020-12-01), even for a 0 ms Duration.

    Float noise: every part is first rounded to the nearest microsecond and the rest
    is integer arithmetic. Lambda reports durations to at most 1 us (three decimals
    in ms), so this never moves a reported value, but it keeps a sum such as
    ``(10.3 - 10.0) * 1000 = 300.0000000000007`` from billing 301 ms. Consequently a
    simulated duration less than 0.5 us above a billing step does not reach the next.

    Args:
        duration_ms: Duration of each invocation (the handler, as in REPORT).
        init_ms: Init Duration of each invocation; 0 or NaN for warm starts. None
            when no invocation had an INIT phase.
        init_billed: Whether INIT is billed, for all invocations or per invocation
            (see `is_init_billed`).
        billing_date: Date whose billing rules apply.
        restore_ms: Billed Restore Duration of SnapStart cold starts (not Restore
            Duration); 0 or NaN elsewhere. None when SnapStart is off.

    Returns:
        Billed duration in whole ms, broadcast over the inputs.

    Raises:
        ValueError: If a duration is negative or infinite, or a Duration is NaN.
    """
    granularity_ms = billing_rules_on(billing_date).granularity_ms
    # Assumption A-11: whole microseconds before the ceiling.
    total_us = _to_whole_us(duration_ms, "duration_ms", allow_nan=False)
    if init_ms is not None:
        init_us = _to_whole_us(init_ms, "init_ms", allow_nan=True)
        total_us = total_us + np.where(init_billed, init_us, 0)
    if restore_ms is not None:
        total_us = total_us + _to_whole_us(restore_ms, "restore_ms", allow_nan=True)

    step_us = granularity_ms * US_PER_MS
    steps = -(-total_us // step_us)  # ceiling division, exact on integers
    # An invocation that ran is billed at least one step: REPORT lines of
    # sub-millisecond handlers read "Billed Duration: 1 ms" (100 ms before 2020-12).
    steps = np.maximum(steps, 1)
    return np.asarray(steps * granularity_ms, dtype=np.int64)


def gb_seconds(
    billed_ms: npt.ArrayLike, memory_mb: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Return billed compute in GB-s: memory_mb / 1024 * billed_ms / 1000."""
    memory_gb = np.asarray(memory_mb, dtype=np.float64) / MB_PER_GB
    billed_s = np.asarray(billed_ms, dtype=np.float64) / MS_PER_S
    return np.asarray(memory_gb * billed_s, dtype=np.float64)


# -- on-demand duration: monthly volume tiers ---------------------------------------


def tiered_duration_usd(
    gb_s_per_month: npt.ArrayLike, tiers: tuple[PriceTier, ...]
) -> FloatArray:
    """Return the duration charge of monthly volumes under volume tiers.

    Tiers apply to an account's aggregate monthly GB-s per architecture and Region
    (AWS Compute Blog, "Introducing tiered pricing for AWS Lambda", 2022-08): the
    first 6 billion GB-s of x86_64 at tier 1, the next 9 billion at tier 2, the rest
    at tier 3. Pass the whole month's volume (see `lambdasim.billing` for projecting
    a shorter run), not one function's.

    Args:
        gb_s_per_month: Monthly on-demand GB-s, one or many.
        tiers: The architecture's tiers (`DurationPrice.tiers`).

    Returns:
        Dollars, broadcast over `gb_s_per_month`.
    """
    volume = np.asarray(gb_s_per_month, dtype=np.float64)
    if (volume < 0).any():
        raise ValueError("gb_s_per_month contains negative values; expected >= 0")
    cost = np.zeros(volume.shape)
    lower = 0.0
    for tier in tiers:
        upper = (
            np.inf if tier.up_to_gb_s_per_month is None else tier.up_to_gb_s_per_month
        )
        cost = cost + np.clip(volume - lower, 0.0, upper - lower) * tier.usd_per_gb_s
        lower = upper
    return np.asarray(cost, dtype=np.float64)


# -- provisioned concurrency -------------------------------------------------------


def provisioned_allocated_gb_s(
    function_index: npt.ArrayLike,
    time_s: npt.ArrayLike,
    allocated: npt.ArrayLike,
    memory_mb: npt.ArrayLike,
    horizon_s: float,
) -> FloatArray:
    """Return the billed allocated provisioned-concurrency GB-s of each function.

    The allocation of each function is a step function: from each change time on,
    `allocated` environments are provisioned, until the function's next change. AWS
    bills provisioned concurrency "from the time you enable it on your function until
    it is disabled, rounded up to the nearest 5 minutes", as memory x concurrency x
    time (https://aws.amazon.com/lambda/pricing/). Here every span from an enable
    (allocation rising from 0) to a disable (back to 0) is billed as the integral of
    memory x allocation over it, and its length is rounded up to a multiple of 5
    minutes at the allocation in force just before the disable (Assumption A-42). A
    span still enabled at `horizon_s` ends there without rounding: the run is a
    window of a longer period. Changes before 0 count from 0; changes at or after
    the horizon are ignored.

    Args:
        function_index: Function of each change (0..len(memory_mb) - 1).
        time_s: Time of each change, in s on the simulation clock.
        allocated: Environments allocated from that time on (>= 0).
        memory_mb: Configured memory of each function.
        horizon_s: End of the billed window.

    Returns:
        Billed GB-s per function (1 GB = 1,024 MB), length ``len(memory_mb)``.

    Raises:
        ValueError: If the arrays differ in length, an index is out of range, or a
            count is negative.
    """
    memory_gb = np.asarray(memory_mb, dtype=np.float64).reshape(-1) / MB_PER_GB
    steps = _allocation_steps(function_index, time_s, allocated, len(memory_gb))
    function, start_s, count = steps
    is_last = np.append(function[1:] != function[:-1], True)
    next_s = np.append(start_s[1:], np.inf)
    end_s = np.where(is_last, horizon_s, next_s)
    start_s = np.clip(start_s, 0.0, horizon_s)
    end_s = np.clip(end_s, start_s, horizon_s)
    unit_s = count * (end_s - start_s)  # environment-seconds of each step
    is_on = count > 0
    was_on = np.append(False, is_on[:-1]) & ~np.append(True, is_last[:-1])
    span = np.cumsum(is_on & ~was_on)  # span number of each step (when on)
    # A disable at or after the horizon leaves the span open: no rounding.
    closes = is_on & ~is_last & ~np.append(is_on[1:], False) & (next_s < horizon_s)
    span_s = np.bincount(span, weights=np.where(is_on, end_s - start_s, 0.0))
    closing_span = span[closes]
    short_s = np.ceil(span_s[closing_span] / PC_BLOCK_S - 1e-9) * PC_BLOCK_S
    extra_s = short_s - span_s[closing_span]
    unit_s[closes] += count[closes] * np.maximum(extra_s, 0.0)
    per_function = np.bincount(function, weights=unit_s, minlength=len(memory_gb))
    return np.asarray(per_function * memory_gb, dtype=np.float64)


def _allocation_steps(
    function_index: npt.ArrayLike,
    time_s: npt.ArrayLike,
    allocated: npt.ArrayLike,
    n_functions: int,
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Return the allocation changes sorted by function, then time."""
    function = np.asarray(function_index, dtype=np.int64).reshape(-1)
    times = np.asarray(time_s, dtype=np.float64).reshape(-1)
    counts = np.asarray(allocated, dtype=np.float64).reshape(-1)
    if not function.shape == times.shape == counts.shape:
        raise ValueError("function_index, time_s and allocated differ in length")
    if function.size and (function.min() < 0 or function.max() >= n_functions):
        raise ValueError(f"function_index out of range 0..{n_functions - 1}")
    if (counts < 0).any() or np.isnan(times).any():
        raise ValueError("allocated must be >= 0 and times must not be NaN")
    order = np.lexsort((times, function))
    return function[order], times[order], counts[order]


def provisioned_allocated_usd(
    gb_s: npt.ArrayLike, architecture: Architecture | str, prices: PriceTable
) -> FloatArray:
    """Return the charge for allocated provisioned-concurrency GB-s.

    Example: 1 GB x 1 environment x 730 h = 2,628,000 GB-s x $0.0000041667 = $10.95
    a month on x86_64 (aws-lambda-facts.md section 5).
    """
    rate = prices.for_architecture(architecture).rate(RateName.PROVISIONED_ALLOCATED)
    return np.asarray(np.asarray(gb_s, dtype=np.float64) * rate.usd, dtype=np.float64)


def provisioned_executing_usd(
    billed_ms: npt.ArrayLike,
    memory_mb: npt.ArrayLike,
    is_provisioned: npt.ArrayLike,
    architecture: Architecture | str,
    prices: PriceTable,
) -> FloatArray:
    """Return the duration charge of invocations served by provisioned concurrency.

    An invocation served by a provisioned environment pays the lower provisioned
    duration rate on its billed duration; spillover and on-demand invocations pay
    nothing here (they pay the on-demand rate, `tiered_duration_usd`). Requests are
    charged as usual in both cases.

    Args:
        billed_ms: Billed Duration of each invocation.
        memory_mb: Configured memory, per invocation or for all.
        is_provisioned: True where a provisioned environment served the invocation
            (``served_by == 1``).
        architecture: Architecture of the function.
        prices: Price table.

    Returns:
        Dollars per invocation (0 where not provisioned).
    """
    rate = prices.for_architecture(architecture).rate(RateName.PROVISIONED_DURATION)
    billed = gb_seconds(billed_ms, memory_mb)
    mask = np.asarray(is_provisioned, dtype=bool)
    return np.asarray(np.where(mask, billed * rate.usd, 0.0), dtype=np.float64)


def provisioned_init_usd(
    init_ms: npt.ArrayLike,
    memory_mb: npt.ArrayLike,
    architecture: Architecture | str,
    prices: PriceTable,
    billing_date: datetime.date,
) -> FloatArray:
    """Return the charge of INIT phases run by provisioned environments.

    Lambda bills these always, even when the environment never serves a request:
    at allocation and each time it recycles provisioned environments (pricing page
    footnote; LDG provisioned-concurrency.md). Each INIT is rounded up like a Billed
    Duration and charged at the provisioned duration rate (Assumption A-43).

    Args:
        init_ms: Init Duration of each provisioned environment's INIT.
        memory_mb: Configured memory, per INIT or for all.
        architecture: Architecture of the function.
        prices: Price table.
        billing_date: Date whose rounding rule applies.

    Returns:
        Dollars per INIT.
    """
    billed_ms = billed_duration_ms(
        init_ms, None, init_billed=False, billing_date=billing_date
    )
    billed_ms = np.where(np.asarray(init_ms, dtype=np.float64) > 0, billed_ms, 0)
    rate = prices.for_architecture(architecture).rate(RateName.PROVISIONED_DURATION)
    return np.asarray(gb_seconds(billed_ms, memory_mb) * rate.usd, dtype=np.float64)


# -- ephemeral storage and SnapStart -----------------------------------------------

FREE_EPHEMERAL_STORAGE_MB = 512


def ephemeral_storage_gb_s(
    billed_ms: npt.ArrayLike, ephemeral_storage_mb: npt.ArrayLike
) -> FloatArray:
    """Return the billed ephemeral-storage GB-s: storage above 512 MB x billed time.

    Lambda includes 512 MB of /tmp; storage configured above it is charged per
    GB-s of billed duration (https://aws.amazon.com/lambda/pricing/; Assumption A-44
    for which duration).
    """
    extra_mb = np.maximum(
        np.asarray(ephemeral_storage_mb, dtype=np.float64) - FREE_EPHEMERAL_STORAGE_MB,
        0.0,
    )
    return gb_seconds(billed_ms, extra_mb)


def snapstart_restore_usd(
    restores: npt.ArrayLike,
    memory_mb: npt.ArrayLike,
    architecture: Architecture | str,
    prices: PriceTable,
) -> FloatArray:
    """Return the SnapStart restore charge: restores x GB of memory x price per GB.

    Python and .NET SnapStart functions pay it; Java SnapStart carries no SnapStart
    charge (aws-lambda-facts.md section 5), so do not call this for Java.
    """
    rate = prices.for_architecture(architecture).rate(RateName.SNAPSTART_RESTORE)
    gigabytes = np.asarray(memory_mb, dtype=np.float64) / MB_PER_GB
    usd = np.asarray(restores, dtype=np.float64) * gigabytes * rate.usd
    return np.asarray(usd, dtype=np.float64)


def snapstart_cache_usd(
    cached_s: npt.ArrayLike,
    memory_mb: npt.ArrayLike,
    architecture: Architecture | str,
    prices: PriceTable,
) -> FloatArray:
    """Return the SnapStart cache charge of one function version: GB x s x price.

    The snapshot of a Python or .NET version is charged while the version is active;
    its size is taken as the function's memory (Assumption A-45).
    """
    rate = prices.for_architecture(architecture).rate(RateName.SNAPSTART_CACHE)
    gb_s = np.asarray(memory_mb, dtype=np.float64) / MB_PER_GB
    usd = gb_s * np.asarray(cached_s, dtype=np.float64) * rate.usd
    return np.asarray(usd, dtype=np.float64)


# -- RDS Proxy ---------------------------------------------------------------------


class ProxyTarget(enum.StrEnum):
    """What an RDS Proxy's price is counted on."""

    VCPU = "vcpu"  # a provisioned DB instance: its vCPUs
    ACU = "acu"  # Aurora Serverless v2: its capacity units


def rds_proxy_usd(
    capacity: npt.ArrayLike,
    hours: npt.ArrayLike,
    target: ProxyTarget | str,
    prices: PriceTable,
) -> FloatArray:
    """Return the RDS Proxy charge of proxies in front of DB targets.

    A proxy costs $0.015 per vCPU-hour of its target instance, at least 2 vCPUs;
    for Aurora Serverless v2 targets it is charged per ACU-hour, at least 8 ACUs
    (https://aws.amazon.com/rds/proxy/pricing/). The per-ACU rate is unverified and
    absent from the shipped table: pricing an ACU target then raises, naming the key
    to set in a table of one's own.

    Args:
        capacity: The target's vCPUs (or ACUs: for a serverless target, the
            capacity in each hour, so pass hourly averages with hours 1 each).
        hours: Hours the proxy runs (per entry of `capacity`).
        target: ``vcpu`` or ``acu``.
        prices: Price table.

    Returns:
        Dollars per entry.

    Raises:
        ScenarioError: If the table has no RDS Proxy prices, or no per-ACU price.
    """
    kind = ProxyTarget(target)
    proxy = _proxy_prices(prices)
    if kind is ProxyTarget.VCPU:
        rate, minimum = proxy.usd_per_vcpu_hour, proxy.minimum_vcpus
    else:
        if proxy.usd_per_acu_hour is None:
            raise ScenarioError(
                f"{prices.where or prices.region}: rds_proxy.usd_per_acu_hour is null "
                "(AWS's per-ACU RDS Proxy rate is unverified); set it in a price "
                "table of your own (billing.price_table) to price a proxy in front "
                "of Aurora Serverless v2"
            )
        rate, minimum = proxy.usd_per_acu_hour, proxy.minimum_acus
    billed = np.maximum(np.asarray(capacity, dtype=np.float64), minimum)
    usd = billed * np.asarray(hours, dtype=np.float64) * rate
    return np.asarray(usd, dtype=np.float64)


def aurora_serverless_usd(acu_hours: float, prices: PriceTable) -> float:
    """Return the capacity charge of an Aurora Serverless v2 writer.

    $0.12 per ACU-hour in us-east-1 with Aurora Standard storage (AWS Price List
    SKU AVKW7ZJP8D72HNQC); storage and I/O are not priced.

    Raises:
        ScenarioError: If the table has no Aurora Serverless v2 price.
    """
    if prices.aurora_serverless_v2 is None:
        raise ScenarioError(
            f"{prices.where or prices.region}: aurora_serverless_v2 is missing; add "
            "its usd_per_acu_hour to the table to price Aurora Serverless v2"
        )
    return acu_hours * prices.aurora_serverless_v2.usd_per_acu_hour


def _proxy_prices(prices: PriceTable) -> RdsProxyPrices:
    if prices.rds_proxy is None:
        raise ScenarioError(
            f"{prices.where or prices.region}: rds_proxy is missing; add RDS Proxy "
            "prices to the table to price a proxy"
        )
    return prices.rds_proxy


def _to_whole_us(
    values_ms: npt.ArrayLike, name: str, *, allow_nan: bool
) -> npt.NDArray[np.int64]:
    """Return `values_ms` as whole microseconds (NaN as 0 if allowed)."""
    values = np.asarray(values_ms, dtype=np.float64)
    if np.isnan(values).any():
        if not allow_nan:
            raise ValueError(f"{name} contains NaN; every invocation needs a duration")
        values = np.nan_to_num(values, nan=0.0)
    if (values < 0).any() or np.isinf(values).any():
        raise ValueError(
            f"{name} contains negative or infinite values; expected >= 0 ms"
        )
    return np.rint(values * US_PER_MS).astype(np.int64)


def _is_custom(runtime_kind: str) -> bool:
    """Return whether `runtime_kind` names a custom (OS-only) runtime."""
    kind = runtime_kind.strip().lower()
    return kind == "custom" or kind.startswith("provided")


def _package_type(package_type: str) -> PackageType:
    try:
        return PackageType(package_type.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in PackageType)
        raise ScenarioError(
            f"package type {package_type!r} is unknown; expected one of: {allowed}"
        ) from None
