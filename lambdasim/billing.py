"""The whole bill of a run: every Lambda charge, per invocation, function and month.

`bill_run` takes a run's invocation columns and what each function is (memory,
architecture, storage, SnapStart, INIT billing) and returns per-invocation charges and,
per function and in total, a breakdown of the cost into `COMPONENTS`. Charges that the
model does not produce on this branch (provisioned concurrency, RDS Proxy) enter as
explicit inputs (`ProvisionedUsage`, `proxy_usd`) and are priced by the pure functions
in `lambdasim.pricing`.

Monthly projection (Assumption A-40). Volume tiers and the free tier are monthly and
per account, so a run shorter than a month is first projected to a month: every
quantity of the run (requests, GB-s, allocated provisioned GB-s, cache time) is
multiplied by ``factor = MONTH_S / horizon_s``, as if the simulated window repeated
for the whole month. Tiers and the free tier apply to those monthly totals, and the
resulting monthly charges are divided by the factor again, so the cost reported for
the run is its share of that month, and ``monthly_usd = total x factor``. A run whose
traffic has a daily cycle should cover whole days for this to be fair. With
``project_to_month`` off the run is taken as the whole month (factor 1).

The free tier (1 M requests, 400,000 GB-s a month, shared by both architectures)
credits requests and on-demand duration (handler and INIT) of functions without
provisioned concurrency; a function is one Lambda function with all its qualifiers
(``name:qualifier``), so provisioned concurrency on any qualifier makes all of them
ineligible. The credit is shared among eligible functions in proportion to their
requests and GB-s, and priced at the tier-1 rate of each function's architecture
(the free GB-s are the month's first) (Assumption A-41). It appears as a negative
`free_tier_credit`, so the components always add up to `total`.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lambdasim import pricing
from lambdasim.price_tables import Architecture, PriceTable, PriceTier, RateName

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MONTH_S = 730.0 * 3600.0
"""A billing month: 730 hours, as in AWS's pricing examples (730 h x 1 GB PC)."""

COMPONENTS = (
    "requests",
    "compute",
    "init",
    "provisioned_allocated",
    "provisioned_executing",
    "storage",
    "snapstart",
    "proxy",
    "free_tier_credit",
)
"""The parts of `cost_usd`, in order; `total` is their sum."""

INVOCATION_COST_COLUMNS = (
    "request_usd",
    "compute_usd",
    "init_usd",
    "provisioned_usd",
    "storage_usd",
    "snapstart_usd",
)
"""Per-invocation charges; `cost_usd` of a row is their sum."""

SERVED_BY_PROVISIONED = 1
"""The value of the model's `served_by` column for a provisioned environment."""


@dataclass(frozen=True)
class BillingOptions:
    """How a run is billed.

    Attributes:
        free_tier: Apply Lambda's monthly free tier (turn off when other functions
            of the account already use it).
        project_to_month: Project the run to a 730-hour month before tiers and the
            free tier apply; off, the run is taken as the month's whole usage.
    """

    free_tier: bool = True
    project_to_month: bool = True

    def factor(self, horizon_s: float) -> float:
        """Return the projection factor of a run of `horizon_s` seconds."""
        if not self.project_to_month or horizon_s <= 0:
            return 1.0
        return MONTH_S / horizon_s


@dataclass(frozen=True)
class SnapStartBilling:
    """How a SnapStart function's cold starts are billed.

    Attributes:
        billed_restore_fraction: Billed Restore Duration as a share of Restore
            Duration (the model records Restore Duration as the cold start's INIT).
        has_snapstart_charges: Whether cache and restore charges apply (Python and
            .NET; Java SnapStart has none).
    """

    billed_restore_fraction: float
    has_snapstart_charges: bool


@dataclass(frozen=True)
class FunctionBilling:
    """What billing needs to know about one (model) function.

    Attributes:
        name: Function name; ``name:qualifier`` for a qualifier of ``name``.
        memory_mb: Configured memory.
        architecture: Architecture.
        ephemeral_storage_mb: Configured /tmp size (512 is free).
        is_init_billed: Whether on-demand cold starts bill their INIT.
        snapstart: SnapStart billing, or None when SnapStart is off.
    """

    name: str
    memory_mb: float
    architecture: Architecture
    ephemeral_storage_mb: float = 512.0
    is_init_billed: bool = False
    snapstart: SnapStartBilling | None = None


@dataclass(frozen=True)
class ProvisionedUsage:
    """What provisioned concurrency did in a run, as the model records it.

    Attributes:
        function_index: Function of each allocation change.
        time_s: Time of each change (s on the simulation clock).
        allocated: Environments allocated from then on.
        init_function_index: Function of each INIT run by a provisioned environment.
        init_ms: Init Duration of each of those INITs.
    """

    function_index: npt.ArrayLike
    time_s: npt.ArrayLike
    allocated: npt.ArrayLike
    init_function_index: npt.ArrayLike = field(default_factory=lambda: np.zeros(0))
    init_ms: npt.ArrayLike = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class RunBill:
    """The bill of one run.

    Attributes:
        columns: Per-invocation columns: `billed_ms`, `billed_init_ms`,
            `gb_seconds`, the charges in `INVOCATION_COST_COLUMNS` and `cost_usd`.
        breakdown: Component (`COMPONENTS` and ``total``) -> dollars of the run per
            function, with the total over functions appended (length n + 1).
        billed_requests: Invocations that ran, per function and in total.
        factor: Projection factor from the run to a month.
        options: The options the run was billed with.
        price_table: The price table used (its file).
    """

    columns: dict[str, npt.NDArray[Any]]
    breakdown: dict[str, FloatArray]
    billed_requests: IntArray
    factor: float
    options: BillingOptions
    price_table: str = ""

    def summary_blocks(self) -> list[dict[str, Any]]:
        """Return, per function and then for the total, the summary's cost keys."""
        blocks = []
        for i, requests in enumerate(self.billed_requests.tolist()):
            total = float(self.breakdown["total"][i])
            blocks.append(
                {
                    "cost_usd": {
                        name: float(values[i])
                        for name, values in self.breakdown.items()
                    },
                    "monthly_usd": total * self.factor,
                    "cost_per_million_invocations": (
                        total / requests * 1e6 if requests else None
                    ),
                }
            )
        return blocks

    def describe(self, horizon_s: float) -> dict[str, Any]:
        """Return the projection and free-tier settings, for summary.json."""
        return {
            "price_table": self.price_table,
            "free_tier": self.options.free_tier,
            "project_to_month": self.options.project_to_month,
            "month_hours": MONTH_S / 3600.0,
            "projection_factor": self.factor,
            "method": (
                f"the {horizon_s:g} s run is projected to a {MONTH_S / 3600:g}-hour "
                f"month (x {self.factor:.6g}) before volume tiers and the free tier "
                "apply; cost_usd is the run's share of that month"
                if self.options.project_to_month
                else "the run is taken as the whole month: tiers and the free tier "
                "apply to its own totals"
            ),
        }


@dataclass(frozen=True)
class _Rows:
    """Per-invocation quantities shared by the billing steps."""

    function: IntArray
    ran: BoolArray
    is_provisioned: BoolArray
    billed_ms: IntArray
    billed_init_ms: IntArray
    restores: BoolArray
    memory_mb: FloatArray


def bill_run(
    function_index: npt.ArrayLike,
    ran: npt.ArrayLike,
    duration_s: npt.ArrayLike,
    init_s: npt.ArrayLike,
    functions: Sequence[FunctionBilling],
    prices: PriceTable,
    *,
    billing_date: datetime.date,
    horizon_s: float,
    options: BillingOptions | None = None,
    served_by: npt.ArrayLike | None = None,
    provisioned: ProvisionedUsage | None = None,
    proxy_usd: npt.ArrayLike | None = None,
) -> RunBill:
    """Bill a run: per-invocation charges and the per-function breakdown.

    Args:
        function_index: Function of each invocation attempt.
        ran: Whether the attempt ran (throttled and dropped ones are not billed).
        duration_s: Duration of each attempt (REPORT's Duration).
        init_s: Init Duration of each attempt (0 when warm); for SnapStart
            functions the Restore Duration.
        functions: The functions, indexed by `function_index`.
        prices: Price table.
        billing_date: Date whose billing rules apply.
        horizon_s: Length of the simulated window.
        options: Free tier and projection (default: both on).
        served_by: The model's `served_by` column (0 on-demand, 1 provisioned,
            2 spillover), or None when no function has provisioned concurrency.
        provisioned: Allocation steps and provisioned INITs, or None.
        proxy_usd: RDS Proxy charge of the run per function (see
            `pricing.rds_proxy_usd`), or None.

    Returns:
        The bill.
    """
    options = options or BillingOptions()
    factor = options.factor(horizon_s)
    n = len(functions)
    rows = _rows(
        function_index, ran, duration_s, init_s, functions, served_by, billing_date
    )
    arch = np.array(
        [list(Architecture).index(f.architecture) for f in functions], dtype=np.intp
    )
    is_tiered = pricing.billing_rules_on(billing_date).is_tiered
    columns = _row_charges(rows, functions, arch, prices, factor, is_tiered)
    per_function = _function_charges(rows, columns, functions, prices, horizon_s)
    allocated, pc_init = _provisioned(
        provisioned, functions, prices, horizon_s, billing_date
    )
    per_function["provisioned_allocated"] = allocated
    per_function["provisioned_executing"] += pc_init
    per_function["proxy"] = _per_function(proxy_usd, n, "proxy_usd")
    has_pc = _has_provisioned(functions, rows, provisioned, allocated)
    per_function["free_tier_credit"] = (
        -_free_tier_credit(rows, columns, functions, prices, has_pc, factor)
        if options.free_tier
        else np.zeros(n)
    )
    breakdown = {name: per_function[name] for name in COMPONENTS}
    breakdown["total"] = np.sum([breakdown[name] for name in COMPONENTS], axis=0)
    breakdown = {name: np.append(v, v.sum()) for name, v in breakdown.items()}
    requests = np.bincount(rows.function[rows.ran], minlength=n).astype(np.int64)
    return RunBill(
        columns=columns,
        breakdown=breakdown,
        billed_requests=np.append(requests, requests.sum()),
        factor=factor,
        options=options,
        price_table=prices.where or prices.region,
    )


def _function_charges(
    rows: _Rows,
    columns: dict[str, npt.NDArray[Any]],
    functions: Sequence[FunctionBilling],
    prices: PriceTable,
    horizon_s: float,
) -> dict[str, FloatArray]:
    """Per-function sums of the invocation charges, plus the SnapStart cache."""
    n = len(functions)
    per_function: dict[str, FloatArray] = {
        name: np.bincount(rows.function, columns[column], minlength=n).astype(
            np.float64
        )
        for name, column in (
            ("requests", "request_usd"),
            ("compute", "compute_usd"),
            ("init", "init_usd"),
            ("provisioned_executing", "provisioned_usd"),
            ("storage", "storage_usd"),
            ("snapstart", "snapstart_usd"),
        )
    }
    ran = np.bincount(rows.function[rows.ran], minlength=n).astype(np.float64)
    per_function["snapstart"] += _snapstart_cache(functions, prices, horizon_s, ran)
    return per_function


def _per_function(values: npt.ArrayLike | None, n: int, name: str) -> FloatArray:
    if values is None:
        return np.zeros(n)
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.shape != (n,):
        raise ValueError(f"{name} has {array.size} values; expected one per function")
    return array


def _rows(
    function_index: npt.ArrayLike,
    ran: npt.ArrayLike,
    duration_s: npt.ArrayLike,
    init_s: npt.ArrayLike,
    functions: Sequence[FunctionBilling],
    served_by: npt.ArrayLike | None,
    billing_date: datetime.date,
) -> _Rows:
    """Billed durations of every attempt, with the part due to INIT or restore."""
    function = np.asarray(function_index, dtype=np.int64)
    is_ran = np.asarray(ran, dtype=bool)
    duration_ms = np.asarray(duration_s, dtype=np.float64) * 1000.0
    init_ms = np.asarray(init_s, dtype=np.float64) * 1000.0
    fraction = np.array(
        [f.snapstart.billed_restore_fraction if f.snapstart else 0.0 for f in functions]
    )
    is_snapstart = np.array([f.snapstart is not None for f in functions], dtype=bool)
    init_billed = np.array([f.is_init_billed for f in functions], dtype=bool)
    row_snapstart = is_snapstart[function] if function.size else np.zeros(0, bool)
    is_provisioned = (
        np.zeros(function.shape, dtype=bool)
        if served_by is None
        else np.asarray(served_by) == SERVED_BY_PROVISIONED
    )
    # SnapStart: the model's INIT is the Restore Duration; Billed Restore Duration,
    # a fraction of it (Assumption A-46), is billed instead of any INIT.
    restore_ms = np.where(row_snapstart, init_ms * fraction[function], 0.0)
    billed = pricing.billed_duration_ms(
        duration_ms,
        np.where(row_snapstart, 0.0, init_ms),
        init_billed=init_billed[function] | is_provisioned,
        billing_date=billing_date,
        restore_ms=restore_ms,
    )
    handler = pricing.billed_duration_ms(
        duration_ms, None, init_billed=False, billing_date=billing_date
    )
    billed = np.where(is_ran, billed, 0)
    return _Rows(
        function=function,
        ran=is_ran,
        is_provisioned=is_provisioned & is_ran,
        billed_ms=billed,
        billed_init_ms=np.where(is_ran, billed - handler, 0),
        restores=row_snapstart & (init_ms > 0) & is_ran,
        memory_mb=np.array([f.memory_mb for f in functions], dtype=np.float64)[
            function
        ],
    )


def _row_charges(
    rows: _Rows,
    functions: Sequence[FunctionBilling],
    arch: npt.NDArray[np.intp],
    prices: PriceTable,
    factor: float,
    is_tiered: bool,
) -> dict[str, npt.NDArray[Any]]:
    """Charges of each attempt; on-demand duration at the month's average tier rate.

    Before volume tiers (`BillingRules.is_tiered`), every GB-s at the first tier's.
    """
    gb_s = pricing.gb_seconds(rows.billed_ms, rows.memory_mb)
    init_gb_s = pricing.gb_seconds(rows.billed_init_ms, rows.memory_mb)
    on_demand = rows.ran & ~rows.is_provisioned
    row_arch = arch[rows.function]
    columns: dict[str, npt.NDArray[Any]] = {
        "billed_ms": rows.billed_ms,
        "billed_init_ms": rows.billed_init_ms,
        "gb_seconds": gb_s,
    }
    charges = {name: np.zeros(rows.billed_ms.shape) for name in INVOCATION_COST_COLUMNS}
    storage_mb = np.array([f.ephemeral_storage_mb for f in functions])[rows.function]
    charges_snap = np.array(
        [bool(f.snapstart and f.snapstart.has_snapstart_charges) for f in functions]
    )
    for code, architecture in enumerate(Architecture):
        here = row_arch == code
        if not (here & rows.ran).any():
            continue
        arch_prices = prices.for_architecture(architecture)
        mine = here & on_demand
        monthly_gb_s = float(gb_s[mine].sum()) * factor
        tiers = arch_prices.duration.tiers
        rate = (
            _average_rate(monthly_gb_s, tiers) if is_tiered else tiers[0].usd_per_gb_s
        )
        charges["request_usd"][here & rows.ran] = arch_prices.requests.usd_per_request
        charges["compute_usd"][mine] = (gb_s[mine] - init_gb_s[mine]) * rate
        charges["init_usd"][mine] = init_gb_s[mine] * rate
        provisioned = here & rows.is_provisioned
        if provisioned.any():
            charges["provisioned_usd"][provisioned] = pricing.provisioned_executing_usd(
                rows.billed_ms[provisioned],
                rows.memory_mb[provisioned],
                True,
                architecture,
                prices,
            )
        stored = here & rows.ran & (storage_mb > pricing.FREE_EPHEMERAL_STORAGE_MB)
        if stored.any():
            storage_rate = arch_prices.rate(RateName.EPHEMERAL_STORAGE).usd
            charges["storage_usd"][stored] = (
                storage_rate
                * pricing.ephemeral_storage_gb_s(
                    rows.billed_ms[stored], storage_mb[stored]
                )
            )
        restored = here & rows.restores & charges_snap[rows.function]
        if restored.any():
            charges["snapstart_usd"][restored] = pricing.snapstart_restore_usd(
                1, rows.memory_mb[restored], architecture, prices
            )
    columns.update(charges)
    cost_usd = np.zeros(rows.billed_ms.shape)
    for name in INVOCATION_COST_COLUMNS:
        cost_usd += charges[name]  # in place: no (columns x rows) temporary
    columns["cost_usd"] = cost_usd
    return columns


def _average_rate(monthly_gb_s: float, tiers: tuple[PriceTier, ...]) -> float:
    """Dollars per GB-s averaged over a month's volume (tier 1 for no volume)."""
    if monthly_gb_s <= 0:
        return tiers[0].usd_per_gb_s
    return float(pricing.tiered_duration_usd(monthly_gb_s, tiers)) / monthly_gb_s


def _snapstart_cache(
    functions: Sequence[FunctionBilling],
    prices: PriceTable,
    horizon_s: float,
    ran: FloatArray,
) -> FloatArray:
    """Cache charge of each SnapStart function over the run (Assumption A-45).

    One snapshot per function, whatever its qualifiers: its charge is shared among
    them in proportion to their invocations that ran (all on the first if none ran).
    """
    cache = np.zeros(len(functions))
    by_name: dict[str, list[int]] = {}
    for i, function in enumerate(functions):
        if function.snapstart and function.snapstart.has_snapstart_charges:
            by_name.setdefault(function.name.partition(":")[0], []).append(i)
    for indices in by_name.values():
        first = functions[indices[0]]
        usd = float(
            pricing.snapstart_cache_usd(
                horizon_s, first.memory_mb, first.architecture, prices
            )
        )
        counts = ran[indices]
        total = counts.sum()
        shares = counts / total if total > 0 else np.eye(len(indices))[0]
        cache[indices] = usd * shares
    return cache


def _provisioned(
    usage: ProvisionedUsage | None,
    functions: Sequence[FunctionBilling],
    prices: PriceTable,
    horizon_s: float,
    billing_date: datetime.date,
) -> tuple[FloatArray, FloatArray]:
    """Allocated charge and INIT charge of provisioned concurrency per function."""
    n = len(functions)
    if usage is None:
        return np.zeros(n), np.zeros(n)
    memory_mb = np.array([f.memory_mb for f in functions], dtype=np.float64)
    gb_s = pricing.provisioned_allocated_gb_s(
        usage.function_index, usage.time_s, usage.allocated, memory_mb, horizon_s
    )
    allocated = np.zeros(n)
    init = np.zeros(n)
    init_function = np.asarray(usage.init_function_index, dtype=np.int64)
    init_ms = np.asarray(usage.init_ms, dtype=np.float64)
    for i, function in enumerate(functions):
        if gb_s[i] > 0:
            allocated[i] = float(
                pricing.provisioned_allocated_usd(
                    gb_s[i], function.architecture, prices
                )
            )
        mine = init_function == i
        if mine.any():
            init[i] = float(
                pricing.provisioned_init_usd(
                    init_ms[mine],
                    function.memory_mb,
                    function.architecture,
                    prices,
                    billing_date,
                ).sum()
            )
    return allocated, init


def _has_provisioned(
    functions: Sequence[FunctionBilling],
    rows: _Rows,
    usage: ProvisionedUsage | None,
    allocated_usd: FloatArray,
) -> BoolArray:
    """Whether each function's Lambda function has provisioned concurrency.

    Qualifiers ``name:alias`` are one Lambda function with ``name``.
    """
    n = len(functions)
    used = allocated_usd > 0
    used |= np.bincount(rows.function[rows.is_provisioned], minlength=n) > 0
    if usage is not None:
        counts = np.asarray(usage.allocated, dtype=np.float64).reshape(-1)
        index = np.asarray(usage.function_index, dtype=np.int64).reshape(-1)
        used |= np.bincount(index[counts > 0], minlength=n) > 0
    base = [f.name.split(":", 1)[0] for f in functions]
    with_pc = {name for name, flag in zip(base, used.tolist(), strict=True) if flag}
    return np.array([name in with_pc for name in base], dtype=bool)


def _free_tier_credit(
    rows: _Rows,
    columns: dict[str, npt.NDArray[Any]],
    functions: Sequence[FunctionBilling],
    prices: PriceTable,
    has_pc: BoolArray,
    factor: float,
) -> FloatArray:
    """Free-tier credit of the run per function, >= 0 (Assumption A-41)."""
    n = len(functions)
    free = prices.free_tier
    on_demand = rows.ran & ~rows.is_provisioned
    requests = factor * np.bincount(rows.function[rows.ran], minlength=n).astype(
        np.float64
    )
    gb_s = factor * np.bincount(
        rows.function[on_demand], columns["gb_seconds"][on_demand], minlength=n
    ).astype(np.float64)
    eligible = ~has_pc
    request_share = _shares(np.where(eligible, requests, 0.0), free.requests_per_month)
    gb_s_share = _shares(np.where(eligible, gb_s, 0.0), free.gb_s_per_month)
    request_price = np.array(
        [
            prices.for_architecture(f.architecture).requests.usd_per_request
            for f in functions
        ]
    )
    tier1 = np.array(
        [
            prices.for_architecture(f.architecture).duration.tiers[0].usd_per_gb_s
            for f in functions
        ]
    )
    monthly = request_share * request_price + gb_s_share * tier1
    return np.asarray(monthly / factor, dtype=np.float64)


def _shares(usage: FloatArray, allowance: float) -> FloatArray:
    """Split a free allowance among users in proportion to their usage."""
    total = float(usage.sum())
    if total <= 0:
        return np.zeros(usage.shape)
    return np.asarray(usage * min(1.0, allowance / total), dtype=np.float64)


# -- bills from CloudWatch REPORT lines -----------------------------------------------

_STEP_DATES = (datetime.date(2021, 1, 1), datetime.date(2020, 1, 1))  # 1 ms, 100 ms
RULES = ("duration", "duration+init", "duration+restore")
"""What a REPORT's Billed Duration is made of, in the order they are tried."""


@dataclass(frozen=True)
class LogBill:
    """The bill of a set of REPORT lines, and what a Duration-based estimate misses.

    Attributes:
        reports: REPORT lines billed.
        requests_usd: Request charges.
        billed_usd: Duration charges from Billed Duration.
        estimate_usd: Duration charges from Duration rounded up to each line's
            billing step (what a tool that prices Duration computes).
        gap_usd: ``billed_usd - estimate_usd``.
        billed_init_ms: The billed INIT (or Billed Restore) time: Billed Duration
            minus the rounded Duration, over lines a rule explains.
        init_ms: Init Duration (or Billed Restore Duration) of those same lines.
        rule: Per line, the index in `RULES` explaining it, or -1 if none does.
        step_ms: Per line, its billing step (1 or 100 ms).
        lines_billing_init: Lines whose Billed Duration includes INIT or restore.
        unexplained_lines: File line numbers no rule explains (billed as reported).
        unexplained_ms: Their Billed Duration beyond the rounded Duration.
        gb_seconds: Billed GB-s.
    """

    reports: int
    requests_usd: float
    billed_usd: float
    estimate_usd: float
    gap_usd: float
    billed_init_ms: float
    init_ms: float
    rule: IntArray
    step_ms: IntArray
    lines_billing_init: int
    unexplained_lines: tuple[int, ...]
    unexplained_ms: float
    gb_seconds: float

    @property
    def total_usd(self) -> float:
        """Requests plus duration, from Billed Duration."""
        return self.requests_usd + self.billed_usd


def bill_reports(
    duration_ms: npt.ArrayLike,
    billed_ms: npt.ArrayLike,
    memory_mb: npt.ArrayLike,
    init_ms: npt.ArrayLike,
    billed_restore_ms: npt.ArrayLike,
    line: npt.ArrayLike,
    architecture: Architecture | str,
    prices: PriceTable,
    day: npt.ArrayLike | None = None,
) -> LogBill:
    """Bill REPORT lines from their Billed Duration and compare with Duration.

    Each line is explained by the first rule of `RULES` and billing step (1 ms, then
    100 ms) under which rounding reproduces its Billed Duration (Assumption A-49);
    a line whose date is known is tried only with the step in force that day.
    The Duration-based estimate prices Duration rounded up to that step, so the gap
    is exactly the billed INIT or restore (cases.md C9: cost tools that read Duration
    under-report when INIT is billed). Prices are tier-1 list prices of
    `architecture`, without projection or free tier.

    Args:
        duration_ms: Duration of each line.
        billed_ms: Billed Duration.
        memory_mb: Memory Size.
        init_ms: Init Duration (NaN where absent).
        billed_restore_ms: Billed Restore Duration (NaN where absent).
        line: File line number of each record (for unexplained lines).
        architecture: Architecture of the functions that wrote the log.
        prices: Price table.
        day: The day each line was logged (``datetime64[D]``, NaT where unknown),
            or None when no line is dated.
    """
    duration = np.asarray(duration_ms, dtype=np.float64)
    billed = np.asarray(billed_ms, dtype=np.float64)
    memory = np.asarray(memory_mb, dtype=np.float64)
    extras = (
        np.zeros(duration.shape),
        np.nan_to_num(np.asarray(init_ms, dtype=np.float64)),
        np.nan_to_num(np.asarray(billed_restore_ms, dtype=np.float64)),
    )
    rule, step = _explain_reports(duration, billed, extras, day)
    estimate = np.where(
        step == 1,
        pricing.billed_duration_ms(
            duration, None, init_billed=False, billing_date=_STEP_DATES[0]
        ),
        pricing.billed_duration_ms(
            duration, None, init_billed=False, billing_date=_STEP_DATES[1]
        ),
    ).astype(np.float64)
    arch = prices.for_architecture(architecture)
    rate = arch.duration.tiers[0].usd_per_gb_s
    billed_usd = float(pricing.gb_seconds(billed, memory).sum()) * rate
    estimate_usd = float(pricing.gb_seconds(estimate, memory).sum()) * rate
    explained = rule >= 0
    with_init = rule > 0
    used_extra = np.choose(np.maximum(rule, 0), extras)
    unexplained = ~explained
    return LogBill(
        reports=int(duration.size),
        requests_usd=duration.size * arch.requests.usd_per_request,
        billed_usd=billed_usd,
        estimate_usd=estimate_usd,
        gap_usd=billed_usd - estimate_usd,
        billed_init_ms=float((billed - estimate)[explained].sum()),
        init_ms=float(used_extra[with_init].sum()),
        rule=rule,
        step_ms=step,
        lines_billing_init=int(with_init.sum()),
        unexplained_lines=tuple(np.asarray(line)[unexplained].tolist()),
        unexplained_ms=float((billed - estimate)[unexplained].sum()),
        gb_seconds=float(pricing.gb_seconds(billed, memory).sum()),
    )


def _explain_reports(
    duration: FloatArray,
    billed: FloatArray,
    extras: tuple[FloatArray, ...],
    day: npt.ArrayLike | None,
) -> tuple[IntArray, IntArray]:
    """Each line's rule (index in `RULES`, -1 if none fits) and billing step in ms.

    The first rule and step whose rounding reproduces the Billed Duration wins; a
    dated line is tried only with the step in force on its day.
    """
    rule = np.full(duration.shape, -1, dtype=np.int64)
    dated_step = _step_on_day(day, duration.shape)
    step = np.where(dated_step > 0, dated_step, 1)
    for on in _STEP_DATES:
        granularity = pricing.billing_rules_on(on).granularity_ms
        allowed = (dated_step == 0) | (dated_step == granularity)
        for index, extra in enumerate(extras):
            candidate = pricing.billed_duration_ms(
                duration + extra, None, init_billed=False, billing_date=on
            )
            fits = (rule < 0) & allowed & (candidate == billed)
            rule[fits] = index
            step[fits] = granularity
    return rule, step


def _step_on_day(
    day: npt.ArrayLike | None, shape: tuple[int, ...]
) -> npt.NDArray[np.int64]:
    """The billing step in force on each line's day, 0 where the day is unknown."""
    steps = np.zeros(shape, dtype=np.int64)
    if day is None:
        return steps
    days = np.asarray(day, dtype="datetime64[D]")
    known = ~np.isnat(days)
    for value in np.unique(days[known]):
        on = value.astype(datetime.date)
        steps[days == value] = pricing.billing_rules_on(on).granularity_ms
    return steps
