"""Lambda prices and billing rules: what a run's invocations cost.

Two kinds of knowledge live here, each kept as data so that it can grow:

- **Prices** per region, in package data files ``lambdasim/prices/<region>.json``
  (request price and duration price per architecture, each with its AWS Price List SKU
  and effective date; duration prices as a list of monthly volume tiers).
- **Billing rules** by date, in `BILLING_RULES`: how Billed Duration is rounded and
  whether the INIT phase is billed, for the simulated billing date.

All array functions are vectorised with numpy so a run of millions of invocations is
priced in one call. Only billed invocations may be passed in: a throttled invocation
never reached an instance, so Lambda charges neither its request nor any duration.

A gigabyte is 1,024 MB here, as in AWS's own pricing examples ("3,000,000 seconds *
512MB/1024 = 1,500,000 GB-s", https://aws.amazon.com/lambda/pricing/).

TODO: monthly volume tiers, the free tier, provisioned concurrency, SnapStart cache and
restore charges, ephemeral storage and RDS Proxy are not priced yet; every GB-s is
charged at the tier-1 rate, which overstates compute cost for accounts above 6 billion
(x86_64) or 7.5 billion (arm64) GB-s a month and ignores free-tier savings.
"""

from __future__ import annotations

import datetime
import difflib
import enum
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from lambdasim.errors import ScenarioError

MB_PER_GB = 1024
MS_PER_S = 1000
US_PER_MS = 1000
REQUESTS_PER_MILLION = 1_000_000
DEFAULT_REGION = "us-east-1"

_PRICE_FORMAT_VERSION = 1


class Architecture(enum.StrEnum):
    """Instruction set a function runs on; each has its own prices."""

    X86_64 = "x86_64"
    ARM64 = "arm64"


class PackageType(enum.StrEnum):
    """How a function's code is deployed (Lambda's ``PackageType``)."""

    ZIP = "zip"
    IMAGE = "image"


@dataclass(frozen=True)
class BillingRules:
    """Lambda's duration billing rules in force from one date on.

    Attributes:
        effective: First day on which these rules apply.
        granularity_ms: Billed Duration is rounded up to a multiple of this.
        is_managed_zip_init_billed: Whether the INIT phase of on-demand zip functions
            on managed runtimes is billed. Other configurations always bill INIT.
        source: Where the rule is documented.
    """

    effective: datetime.date
    granularity_ms: int
    is_managed_zip_init_billed: bool
    source: str


BILLING_RULES: tuple[BillingRules, ...] = (
    BillingRules(
        effective=datetime.date.min,
        granularity_ms=100,
        is_managed_zip_init_billed=False,
        source="REPORT logs before Dec 2020, e.g. 4157.16 ms billed as 4200 ms",
    ),
    BillingRules(
        effective=datetime.date(2020, 12, 1),
        granularity_ms=1,
        is_managed_zip_init_billed=False,
        source="AWS News Blog, 1 ms billing granularity (re:Invent, 2020-12-01)",
    ),
    BillingRules(
        effective=datetime.date(2025, 8, 1),
        granularity_ms=1,
        is_managed_zip_init_billed=True,
        source="AWS Compute Blog, 'AWS Lambda standardizes billing for INIT Phase'",
    ),
)
"""Billing rules, oldest first; the last one whose date has come applies."""


@dataclass(frozen=True)
class RequestPrice:
    """Price of requests.

    Attributes:
        usd_per_million: Price of one million requests.
        sku: AWS Price List SKU of this price.
        effective: Date from which the price list states this price.
    """

    usd_per_million: float
    sku: str
    effective: datetime.date

    @property
    def usd_per_request(self) -> float:
        """Price of a single request."""
        return self.usd_per_million / REQUESTS_PER_MILLION


@dataclass(frozen=True)
class PriceTier:
    """One monthly volume tier of the duration price.

    Attributes:
        up_to_gb_s_per_month: Monthly GB-s (per account, architecture and region)
            up to which this tier applies, or None for no upper bound.
        usd_per_gb_s: Price of one GB-s within the tier.
    """

    up_to_gb_s_per_month: float | None
    usd_per_gb_s: float


@dataclass(frozen=True)
class DurationPrice:
    """Price of billed duration, by monthly volume tier.

    Attributes:
        tiers: Tiers in ascending order of volume; at least one.
        sku: AWS Price List SKU of this price (shared by its tiers).
        effective: Date from which the price list states this price.
    """

    tiers: tuple[PriceTier, ...]
    sku: str
    effective: datetime.date


@dataclass(frozen=True)
class ArchitecturePrices:
    """Prices of one architecture in one region.

    Attributes:
        architecture: The architecture these prices are for.
        requests: Request price.
        duration: Duration price.
    """

    architecture: Architecture
    requests: RequestPrice
    duration: DurationPrice


@dataclass(frozen=True)
class PriceTable:
    """Lambda prices of one region.

    Attributes:
        region: AWS region code, e.g. ``us-east-1``.
        currency: ISO currency code of every price.
        source: Where the prices come from.
        architectures: Prices per architecture.
    """

    region: str
    currency: str
    source: str
    architectures: tuple[ArchitecturePrices, ...]

    def for_architecture(self, architecture: Architecture | str) -> ArchitecturePrices:
        """Return the prices of `architecture`.

        Raises:
            ScenarioError: If the architecture is unknown or has no prices here.
        """
        wanted = _architecture(architecture)
        for prices in self.architectures:
            if prices.architecture is wanted:
                return prices
        raise ScenarioError(f"price table {self.region}: no prices for {wanted.value}")


@dataclass(frozen=True)
class CostBreakdown:
    """Cost of a set of billed invocations.

    Attributes:
        requests_usd: Request charges.
        compute_usd: Duration (compute) charges.
        total_usd: Sum of request and compute charges.
        gb_seconds: Billed compute in GB-s (1 GB = 1,024 MB).
    """

    requests_usd: float
    compute_usd: float
    total_usd: float
    gb_seconds: float

    def __add__(self, other: CostBreakdown) -> CostBreakdown:
        """Return the combined cost, e.g. of two functions of one run."""
        return CostBreakdown(
            requests_usd=self.requests_usd + other.requests_usd,
            compute_usd=self.compute_usd + other.compute_usd,
            total_usd=self.total_usd + other.total_usd,
            gb_seconds=self.gb_seconds + other.gb_seconds,
        )


def price_table_regions() -> list[str]:
    """Return the Regions that have a price table in the package."""
    folder = resources.files("lambdasim").joinpath("prices")
    return sorted(
        entry.name.removesuffix(".json")
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )


def load_price_table(region: str = DEFAULT_REGION) -> PriceTable:
    """Load the Lambda price table of `region` from the package data.

    Raises:
        ScenarioError: If no price table exists for `region`; the message lists the
            regions that have one.
    """
    folder = resources.files("lambdasim").joinpath("prices")
    available = price_table_regions()
    if region not in available:
        # A high cutoff: Region names all look alike (eu-west-1 vs us-east-1).
        close = difflib.get_close_matches(region, available, n=1, cutoff=0.85)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ScenarioError(
            f"no Lambda price table for region {region!r}{hint}; "
            f"price tables exist for: {', '.join(available)}"
        )
    where = f"lambdasim/prices/{region}.json"
    data = json.loads(folder.joinpath(f"{region}.json").read_text(encoding="utf-8"))
    return _parse_price_table(data, where)


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


def invocation_cost_usd(
    billed_ms: npt.ArrayLike,
    memory_mb: npt.ArrayLike,
    architecture: Architecture | str,
    prices: PriceTable,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return the request and compute charge of each billed invocation.

    Pass billed invocations only: throttled invocations are not charged at all.

    Args:
        billed_ms: Billed Duration of each invocation (see `billed_duration_ms`).
        memory_mb: Configured memory, per invocation or for all.
        architecture: Architecture of the function.
        prices: Price table of the function's region.

    Returns:
        ``(request_usd, compute_usd)``, both broadcast over the inputs.

    Raises:
        ScenarioError: If the architecture is unknown or has no prices.
    """
    arch_prices = prices.for_architecture(architecture)
    compute_gb_s = gb_seconds(billed_ms, memory_mb)
    # TODO: volume tiers apply to an account's monthly total per architecture; until
    # they are modelled every GB-s is charged at the tier-1 rate.
    compute_usd = compute_gb_s * arch_prices.duration.tiers[0].usd_per_gb_s
    request_usd = np.full(compute_gb_s.shape, arch_prices.requests.usd_per_request)
    return request_usd, compute_usd


def cost_breakdown(
    billed_ms: npt.ArrayLike,
    memory_mb: npt.ArrayLike,
    architecture: Architecture | str,
    prices: PriceTable,
) -> CostBreakdown:
    """Return the total cost of a run's billed invocations of one architecture.

    Arguments as for `invocation_cost_usd`; pass billed invocations only, since
    throttled ones are not charged. Add the breakdowns of several functions or
    architectures with ``+``.
    """
    request_usd, compute_usd = invocation_cost_usd(
        billed_ms, memory_mb, architecture, prices
    )
    requests_total_usd = float(request_usd.sum())
    compute_total_usd = float(compute_usd.sum())
    return CostBreakdown(
        requests_usd=requests_total_usd,
        compute_usd=compute_total_usd,
        total_usd=requests_total_usd + compute_total_usd,
        gb_seconds=float(gb_seconds(billed_ms, memory_mb).sum()),
    )


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


def _architecture(architecture: Architecture | str) -> Architecture:
    try:
        return Architecture(architecture.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in Architecture)
        raise ScenarioError(
            f"architecture {architecture!r} is unknown; expected one of: {allowed}"
        ) from None


def _parse_price_table(data: dict[str, Any], where: str) -> PriceTable:
    """Build a `PriceTable` from the JSON document read from `where`."""
    version = data.get("format_version")
    if version != _PRICE_FORMAT_VERSION:
        raise ScenarioError(
            f"{where}: format_version is {version!r}; expected {_PRICE_FORMAT_VERSION}"
        )
    architectures = tuple(
        _parse_architecture(name, entry, f"{where}: architectures.{name}")
        for name, entry in data["architectures"].items()
    )
    return PriceTable(
        region=str(data["region"]),
        currency=str(data["currency"]),
        source=str(data["source"]),
        architectures=architectures,
    )


def _parse_architecture(
    name: str, entry: dict[str, Any], where: str
) -> ArchitecturePrices:
    requests = entry["requests"]
    duration = entry["duration"]
    tiers = tuple(
        PriceTier(
            up_to_gb_s_per_month=(
                None
                if tier["up_to_gb_s_per_month"] is None
                else float(tier["up_to_gb_s_per_month"])
            ),
            usd_per_gb_s=float(tier["usd_per_gb_s"]),
        )
        for tier in duration["tiers"]
    )
    if not tiers:
        raise ScenarioError(f"{where}.duration.tiers is empty; expected >= 1 tier")
    return ArchitecturePrices(
        architecture=_architecture(name),
        requests=RequestPrice(
            usd_per_million=float(requests["usd_per_million"]),
            sku=str(requests["sku"]),
            effective=datetime.date.fromisoformat(requests["effective"]),
        ),
        duration=DurationPrice(
            tiers=tiers,
            sku=str(duration["sku"]),
            effective=datetime.date.fromisoformat(duration["effective"]),
        ),
    )


# -- RDS Proxy ----------------------------------------------------------------------

# RDS Proxy for provisioned targets: per vCPU-hour of the target instance, at least
# 2 vCPUs (https://aws.amazon.com/rds/proxy/pricing/, us-east-1; aws-lambda-facts.md
# section 5).
RDS_PROXY_USD_PER_VCPU_HOUR = 0.015
RDS_PROXY_MIN_VCPUS = 2.0
SECONDS_PER_HOUR = 3600.0


def rds_proxy_cost_usd(target_vcpus: float, seconds: float) -> float:
    """Return what RDS Proxy costs in front of a provisioned instance for `seconds`.

    >>> round(rds_proxy_cost_usd(2, 3600.0 * 730), 2)  # a t3.micro for a month
    21.9
    >>> rds_proxy_cost_usd(1, 3600.0) == rds_proxy_cost_usd(2, 3600.0)
    True
    """
    vcpus = max(target_vcpus, RDS_PROXY_MIN_VCPUS)
    return vcpus * RDS_PROXY_USD_PER_VCPU_HOUR * seconds / SECONDS_PER_HOUR
