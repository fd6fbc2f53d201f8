"""Lambda price tables: versioned JSON files read strictly into frozen dataclasses.

The package ships one table per Region in ``lambdasim/prices/<region>.json``; a user
can point a scenario at a table of their own (``billing.price_table``), for example
with negotiated prices: copy a shipped file and edit it. Every price names its AWS
Price List SKU and the date from which the price list states it.

Reading is strict: an unknown key, a missing key, a value of the wrong type or a
negative price is an error, and every problem in a file is reported at once, each as
``<file>: <key path> is <found>; expected <allowed>``.

Format version 2 (version 1 had only requests and duration)::

    format_version, region, currency, source
    architectures.<x86_64|arm64>:
        requests              {sku, effective, usd_per_million}
        duration              {sku, effective, tiers: [tier, ...]}, each tier
                              {up_to_gb_s_per_month (null: open), usd_per_gb_s}
        provisioned_allocated {sku, effective, usd_per_gb_s}   (optional)
        provisioned_duration  {sku, effective, usd_per_gb_s}   (optional)
        ephemeral_storage     {sku, effective, usd_per_gb_s}   (optional)
        snapstart_cache       {sku, effective, usd_per_gb_s}   (optional)
        snapstart_restore     {sku, effective, usd_per_gb}     (optional)
    free_tier: {requests_per_month, gb_s_per_month, source}
    rds_proxy: {usd_per_vcpu_hour, minimum_vcpus, usd_per_acu_hour, minimum_acus,
                source}                                       (optional)
    aurora_serverless_v2: {usd_per_acu_hour, sku, source}     (optional)

An optional price that a run needs but the table lacks is an error before the run,
naming the table and the key (`lambdasim.runner.check_prices`).

A table's prices apply on every billing date (Assumption A-65): each ``effective``
date records when the AWS Price List stated that price, it does not switch prices
by date. What changes with the scenario's ``billing_date`` are the billing rules
(`lambdasim.pricing.BILLING_RULES`); to price another era's list prices, give a
table of your own.
"""

from __future__ import annotations

import datetime
import difflib
import enum
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from lambdasim.errors import ScenarioError

DEFAULT_REGION = "us-east-1"
CURRENCY = "USD"
PRICE_FORMAT_VERSION = 2


class Architecture(enum.StrEnum):
    """Instruction set a function runs on; each has its own prices."""

    X86_64 = "x86_64"
    ARM64 = "arm64"


class PackageType(enum.StrEnum):
    """How a function's code is deployed (Lambda's ``PackageType``)."""

    ZIP = "zip"
    IMAGE = "image"


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
        return self.usd_per_million / 1_000_000


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
    """Price of billed on-demand duration, by monthly volume tier.

    Attributes:
        tiers: Tiers in ascending order of volume; at least one, the last open.
        sku: AWS Price List SKU of this price (shared by its tiers).
        effective: Date from which the price list states this price.
    """

    tiers: tuple[PriceTier, ...]
    sku: str
    effective: datetime.date


@dataclass(frozen=True)
class Rate:
    """A flat price per unit (GB-s of provisioned concurrency, GB restored, ...).

    Attributes:
        usd: Price of one unit.
        unit: The unit, as in the file's key (``gb_s`` or ``gb``).
        sku: AWS Price List SKU of this price.
        effective: Date from which the price list states this price.
    """

    usd: float
    unit: str
    sku: str
    effective: datetime.date


class RateName(enum.StrEnum):
    """The optional flat prices of an architecture, named as in the file."""

    PROVISIONED_ALLOCATED = "provisioned_allocated"
    PROVISIONED_DURATION = "provisioned_duration"
    EPHEMERAL_STORAGE = "ephemeral_storage"
    SNAPSTART_CACHE = "snapstart_cache"
    SNAPSTART_RESTORE = "snapstart_restore"


# The unit key of each flat price in the file.
_RATE_UNITS: dict[RateName, str] = {
    RateName.PROVISIONED_ALLOCATED: "gb_s",
    RateName.PROVISIONED_DURATION: "gb_s",
    RateName.EPHEMERAL_STORAGE: "gb_s",
    RateName.SNAPSTART_CACHE: "gb_s",
    RateName.SNAPSTART_RESTORE: "gb",
}


@dataclass(frozen=True)
class ArchitecturePrices:
    """Prices of one architecture in one price table.

    Attributes:
        architecture: The architecture these prices are for.
        requests: Request price.
        duration: On-demand duration price (tiered).
        rates: The flat prices the table gives (see `RateName`).
        table: Name of the table, for error messages.
    """

    architecture: Architecture
    requests: RequestPrice
    duration: DurationPrice
    rates: dict[RateName, Rate]
    table: str = ""

    def rate(self, name: RateName) -> Rate:
        """Return the flat price `name`.

        Raises:
            ScenarioError: If the table has no such price for this architecture.
        """
        found = self.rates.get(name)
        if found is None:
            raise ScenarioError(
                f"{self.table}: architectures.{self.architecture.value}.{name.value} "
                "is missing, and this run needs it; add it to the table (or use a "
                "table of your own: billing.price_table)"
            )
        return found


@dataclass(frozen=True)
class FreeTier:
    """Lambda's monthly free tier (per account, shared by both architectures).

    Attributes:
        requests_per_month: Free requests a month.
        gb_s_per_month: Free GB-s of on-demand duration a month.
        source: Where it is documented.
    """

    requests_per_month: float
    gb_s_per_month: float
    source: str


@dataclass(frozen=True)
class RdsProxyPrices:
    """RDS Proxy prices.

    Attributes:
        usd_per_vcpu_hour: Price per vCPU-hour of a provisioned target instance.
        minimum_vcpus: Fewest vCPUs charged per proxy.
        usd_per_acu_hour: Price per ACU-hour of an Aurora Serverless v2 target, or
            None where no verified price is known.
        minimum_acus: Fewest ACUs charged per proxy (Aurora Serverless v2).
        source: Where the prices come from.
    """

    usd_per_vcpu_hour: float
    minimum_vcpus: float
    usd_per_acu_hour: float | None
    minimum_acus: float
    source: str


@dataclass(frozen=True)
class AuroraServerlessPrices:
    """Aurora Serverless v2 capacity price.

    Attributes:
        usd_per_acu_hour: Price per ACU-hour (Aurora Standard storage option).
        sku: Its AWS Price List SKU.
        source: Where it is documented.
    """

    usd_per_acu_hour: float
    sku: str
    source: str


@dataclass(frozen=True)
class PriceTable:
    """Lambda prices of one region.

    Attributes:
        region: AWS region code, e.g. ``us-east-1``.
        currency: ISO currency code of every price.
        source: Where the prices come from.
        architectures: Prices per architecture.
        free_tier: The monthly free tier.
        rds_proxy: RDS Proxy prices, or None if the table has none.
        aurora_serverless_v2: Aurora Serverless v2 capacity price, or None.
        where: The file the table was read from (for messages).
    """

    region: str
    currency: str
    source: str
    architectures: tuple[ArchitecturePrices, ...]
    free_tier: FreeTier
    rds_proxy: RdsProxyPrices | None = None
    aurora_serverless_v2: AuroraServerlessPrices | None = None
    where: str = ""

    def for_architecture(self, architecture: Architecture | str) -> ArchitecturePrices:
        """Return the prices of `architecture`.

        Raises:
            ScenarioError: If the architecture is unknown or has no prices here.
        """
        wanted = parse_architecture(architecture)
        for prices in self.architectures:
            if prices.architecture is wanted:
                return prices
        raise ScenarioError(f"price table {self.region}: no prices for {wanted.value}")


def parse_architecture(architecture: Architecture | str) -> Architecture:
    """Return `architecture` as an `Architecture` (case-insensitive).

    Raises:
        ScenarioError: If it names no architecture.
    """
    try:
        return Architecture(architecture.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in Architecture)
        raise ScenarioError(
            f"architecture {architecture!r} is unknown; expected one of: {allowed}"
        ) from None


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
    text = folder.joinpath(f"{region}.json").read_text(encoding="utf-8")
    return parse_price_table(_json(text, where), where)


def load_price_table_file(path: str | Path) -> PriceTable:
    """Load a price table of the user's own (same format as the shipped ones).

    Raises:
        ScenarioError: If the file is missing, not JSON or not a valid table; every
            problem is listed with the file and key path.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{file}: price table file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(f"{file}: cannot read the price table: {error}") from None
    return parse_price_table(_json(text, str(file)), str(file))


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ScenarioError(
            f"{where}:{error.lineno}: not valid JSON: {error.msg} "
            f"(column {error.colno})"
        ) from None


def parse_price_table(data: Any, where: str) -> PriceTable:
    """Build a `PriceTable` from the JSON document read from `where`.

    Raises:
        ScenarioError: Listing every problem found, each with `where` and key path.
    """
    reader = _Reader(where)
    table = reader.mapping(data, "", _TOP_KEYS, _TOP_OPTIONAL)
    version = table.get("format_version")
    if "format_version" in table and version != PRICE_FORMAT_VERSION:
        reader.problem(
            "format_version",
            f"is {version!r}; expected {PRICE_FORMAT_VERSION} (this lambdasim reads "
            f"format {PRICE_FORMAT_VERSION}; compare with lambdasim/prices/"
            f"{DEFAULT_REGION}.json)",
        )
        raise ScenarioError(reader.problems, subject="the price table")
    architectures = _architectures(reader, table.get("architectures"))
    free_tier = _free_tier(reader, table.get("free_tier"))
    proxy = table.get("rds_proxy")
    rds_proxy = _rds_proxy(reader, proxy) if proxy is not None else None
    aurora = table.get("aurora_serverless_v2")
    aurora_serverless_v2 = (
        _aurora_serverless(reader, aurora) if aurora is not None else None
    )
    strings = {key: reader.text(table, key, "") for key in ("region", "currency")}
    if "currency" in table and strings["currency"] not in ("", CURRENCY):
        reader.problem(
            "currency",
            f"is {strings['currency']!r}; expected {CURRENCY!r} (lambdasim reports "
            "every cost in US dollars: convert the prices)",
        )
    source = reader.text(table, "source", "")
    if reader.problems or free_tier is None:
        raise ScenarioError(
            reader.problems or [f"{where}: free_tier is missing"],
            subject="the price table",
        )
    return PriceTable(
        region=strings["region"],
        currency=strings["currency"],
        source=source,
        architectures=tuple(
            ArchitecturePrices(a.architecture, a.requests, a.duration, a.rates, where)
            for a in architectures
        ),
        free_tier=free_tier,
        rds_proxy=rds_proxy,
        aurora_serverless_v2=aurora_serverless_v2,
        where=where,
    )


_TOP_KEYS = (
    "format_version",
    "region",
    "currency",
    "source",
    "architectures",
    "free_tier",
)
_TOP_OPTIONAL = ("rds_proxy", "aurora_serverless_v2")
_PRICED_KEYS = ("sku", "effective")


def _architectures(reader: _Reader, data: Any) -> list[ArchitecturePrices]:
    if data is None:
        return []
    allowed = tuple(member.value for member in Architecture)
    entries = reader.mapping(data, "architectures", (), allowed)
    if not entries and isinstance(data, dict):
        reader.problem("architectures", f"is empty; expected prices for {allowed}")
    found = []
    for name, entry in entries.items():
        parsed = _architecture_prices(reader, name, entry)
        if parsed is not None:
            found.append(parsed)
    return found


def _architecture_prices(
    reader: _Reader, name: str, data: Any
) -> ArchitecturePrices | None:
    path = f"architectures.{name}"
    optional = tuple(member.value for member in RateName)
    entry = reader.mapping(data, path, ("requests", "duration"), optional)
    requests = _requests(reader, entry.get("requests"), f"{path}.requests")
    duration = _duration(reader, entry.get("duration"), f"{path}.duration")
    rates: dict[RateName, Rate] = {}
    for rate_name in RateName:
        if rate_name.value in entry:
            rate = _rate(reader, entry[rate_name.value], f"{path}.{rate_name.value}")
            if rate is not None:
                rates[rate_name] = rate
    if requests is None or duration is None:
        return None
    return ArchitecturePrices(Architecture(name), requests, duration, rates)


def _requests(reader: _Reader, data: Any, path: str) -> RequestPrice | None:
    if data is None:
        return None
    entry = reader.mapping(data, path, (*_PRICED_KEYS, "usd_per_million"), ())
    price = reader.number(entry, "usd_per_million", path)
    sku, effective = reader.text(entry, "sku", path), reader.date(entry, path)
    if price is None or effective is None:
        return None
    return RequestPrice(price, sku, effective)


def _duration(reader: _Reader, data: Any, path: str) -> DurationPrice | None:
    if data is None:
        return None
    entry = reader.mapping(data, path, (*_PRICED_KEYS, "tiers"), ())
    sku, effective = reader.text(entry, "sku", path), reader.date(entry, path)
    raw_tiers = entry.get("tiers")
    if "tiers" in entry and (not isinstance(raw_tiers, list) or not raw_tiers):
        reader.problem(
            f"{path}.tiers",
            f"is {raw_tiers!r}; expected a list of >= 1 tier "
            "{up_to_gb_s_per_month, usd_per_gb_s}",
        )
        return None
    tiers = []
    for index, raw in enumerate(raw_tiers or []):
        tier_path = f"{path}.tiers[{index}]"
        tier = reader.mapping(raw, tier_path, ("up_to_gb_s_per_month", "usd_per_gb_s"))
        bound = reader.number(tier, "up_to_gb_s_per_month", tier_path, nullable=True)
        price = reader.number(tier, "usd_per_gb_s", tier_path)
        if price is not None:
            tiers.append(PriceTier(bound, price))
    # No tiers at all (the key is missing) is already reported by `mapping`.
    if not tiers or len(tiers) != len(raw_tiers or []) or effective is None:
        return None
    _check_tier_order(reader, tiers, f"{path}.tiers")
    return DurationPrice(tuple(tiers), sku, effective)


def _check_tier_order(reader: _Reader, tiers: list[PriceTier], path: str) -> None:
    bounds = [tier.up_to_gb_s_per_month for tier in tiers]
    if bounds[-1] is not None:
        reader.problem(
            f"{path}[{len(tiers) - 1}].up_to_gb_s_per_month",
            f"is {bounds[-1]:g}; expected null: the last tier has no upper bound",
        )
    closed = bounds[:-1]
    if any(bound is None for bound in closed):
        reader.problem(path, "has an open (null) bound before the last tier")
        return
    numbers = [float(bound) for bound in closed if bound is not None]
    if numbers != sorted(set(numbers)):
        reader.problem(path, f"bounds {numbers} are not strictly increasing")


def _rate(reader: _Reader, data: Any, path: str) -> Rate | None:
    unit = _RATE_UNITS[RateName(path.rsplit(".", 1)[-1])]
    key = f"usd_per_{unit}"
    entry = reader.mapping(data, path, (*_PRICED_KEYS, key), ())
    price = reader.number(entry, key, path)
    sku, effective = reader.text(entry, "sku", path), reader.date(entry, path)
    if price is None or effective is None:
        return None
    return Rate(price, unit, sku, effective)


def _free_tier(reader: _Reader, data: Any) -> FreeTier | None:
    if data is None:
        return None
    keys = ("requests_per_month", "gb_s_per_month", "source")
    entry = reader.mapping(data, "free_tier", keys, ())
    requests = reader.number(entry, "requests_per_month", "free_tier")
    gb_s = reader.number(entry, "gb_s_per_month", "free_tier")
    source = reader.text(entry, "source", "free_tier")
    if requests is None or gb_s is None:
        return None
    return FreeTier(requests, gb_s, source)


def _rds_proxy(reader: _Reader, data: Any) -> RdsProxyPrices | None:
    keys = (
        "usd_per_vcpu_hour",
        "minimum_vcpus",
        "usd_per_acu_hour",
        "minimum_acus",
        "source",
    )
    entry = reader.mapping(data, "rds_proxy", keys, ())
    vcpu = reader.number(entry, "usd_per_vcpu_hour", "rds_proxy")
    min_vcpus = reader.number(entry, "minimum_vcpus", "rds_proxy")
    acu = reader.number(entry, "usd_per_acu_hour", "rds_proxy", nullable=True)
    min_acus = reader.number(entry, "minimum_acus", "rds_proxy")
    source = reader.text(entry, "source", "rds_proxy")
    if vcpu is None or min_vcpus is None or min_acus is None:
        return None
    return RdsProxyPrices(vcpu, min_vcpus, acu, min_acus, source)


def _aurora_serverless(reader: _Reader, data: Any) -> AuroraServerlessPrices | None:
    path = "aurora_serverless_v2"
    entry = reader.mapping(data, path, ("usd_per_acu_hour", "sku", "source"), ())
    rate = reader.number(entry, "usd_per_acu_hour", path)
    sku, source = reader.text(entry, "sku", path), reader.text(entry, "source", path)
    return AuroraServerlessPrices(rate, sku, source) if rate is not None else None


class _Reader:
    """Collect every problem of one file while reading it."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{self.where}: {path or 'the file'} {message}")

    def mapping(
        self,
        data: Any,
        path: str,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Return `data` if it is an object; report missing and unknown keys."""
        if not isinstance(data, dict):
            self.problem(path, f"is {_show(data)}; expected an object {{...}}")
            return {}
        allowed = (*required, *optional)
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.problem(
                    _join(path, key),
                    f"is an unknown key{hint}; expected one of: {', '.join(allowed)}",
                )
        for key in required:
            if key not in data:
                self.problem(_join(path, key), "is missing (required)")
        return {key: value for key, value in data.items() if key in allowed}

    def number(
        self, entry: dict[str, Any], key: str, path: str, *, nullable: bool = False
    ) -> float | None:
        """Return a number >= 0 (or None when `nullable` and null)."""
        if key not in entry:
            return None
        value = entry[key]
        if value is None and nullable:
            return None
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or value != value or value < 0 or value == float("inf"):
            expected = "a number >= 0" + (" or null" if nullable else "")
            self.problem(_join(path, key), f"is {_show(value)}; expected {expected}")
            return None
        return float(value)

    def text(self, entry: dict[str, Any], key: str, path: str) -> str:
        value = entry.get(key, "")
        if not isinstance(value, str):
            self.problem(_join(path, key), f"is {_show(value)}; expected a string")
            return ""
        return value

    def date(self, entry: dict[str, Any], path: str) -> datetime.date | None:
        value = entry.get("effective")
        if "effective" not in entry:
            return None
        try:
            return datetime.date.fromisoformat(str(value) if value is not None else "")
        except ValueError:
            self.problem(
                _join(path, "effective"),
                f"is {_show(value)}; expected a date as YYYY-MM-DD",
            )
            return None


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)
