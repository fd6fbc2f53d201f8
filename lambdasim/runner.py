"""Turn a validated scenario into a model run, then price and summarise it.

This is the one place that knows both the scenario schema and the model: it resolves
functions (declared ones and those a trace creates), builds samplers and arrival
sources, runs the `Simulation`, adds billing columns and hands the records to the
report layer.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from lambdasim import billing, pricing
from lambdasim._version import __version__
from lambdasim.distributions import (
    ConstantSpec,
    EmpiricalSpec,
    LognormalSpec,
    Sampler,
    SpecBase,
)
from lambdasim.errors import ScenarioError
from lambdasim.init_presets import find_init_preset, platform_overhead, runtime_kind
from lambdasim.model import (
    AccountConfig,
    ClientPolicy,
    FunctionConfig,
    ScaleUpRule,
    Simulation,
)
from lambdasim.model.config import (
    LATEST,
    ProvisionedConfig,
    ScheduledChange,
    TargetTracking,
    legacy_scale_up_rule,
    memory_scale_factor,
)
from lambdasim.model.database import (
    ConnectMode,
    DatabaseConfig,
    DatabaseUsage,
    Failover,
)
from lambdasim.model.db_classes import (
    VCPUS_PER_ACU,
)
from lambdasim.model.proxy import ProxyConfig
from lambdasim.model.sqs import (
    CURRENT_POLLER_SCALING,
    LEGACY_POLLER_SCALING,
    DownstreamLimit,
    EventSourceConfig,
)
from lambdasim.randomness import Purpose, stream
from lambdasim.report.database import serverless_acu
from lambdasim.report.summary import summarise
from lambdasim.report.timeseries import timeseries
from lambdasim.results import (
    BILLING_COLUMNS,
    RunRecords,
    has_run,
    instances_frame,
    invocations_frame,
    write_outputs,
)
from lambdasim.scenario import schema
from lambdasim.scenario.advice import late_bursts, scenario_warnings
from lambdasim.scenario.loader import scenario_sha256
from lambdasim.workload.azure import (
    Azure2019Trace,
    Azure2021Source,
    azure2021_functions,
)
from lambdasim.workload.base import ArrivalChunk, InvocationType
from lambdasim.workload.replay import ReplaySource
from lambdasim.workload.synthetic import (
    BurstSource,
    PiecewiseRateSource,
    PoissonSource,
    SineRateSource,
)

logger = logging.getLogger(__name__)

# Azure 2021 gives a duration per invocation; this only fills the model's slot.
_UNUSED_DURATION = ConstantSpec(value=0.0)
_AZURE_2021_MEMORY_MB = 128


@dataclass(frozen=True)
class ResolvedFunction:
    """A function with everything needed to model and bill it.

    Attributes:
        name: Unique name: the function's, or ``function:qualifier``.
        spec: Its settings (declared, or trace data merged into defaults).
        duration: Handler duration at its own memory.
        qualifier: The qualifier invoked (``$LATEST`` for the plain name).
    """

    name: str
    spec: schema.FunctionSpec
    duration: Sampler
    qualifier: str = LATEST

    @property
    def function_name(self) -> str:
        """The function's own name, without the qualifier."""
        return self.name.partition(":")[0]

    @property
    def uses_snapstart(self) -> bool:
        """SnapStart restores only published versions and aliases, never $LATEST."""
        return self.spec.snapstart is not None and self.qualifier != LATEST


@dataclass
class RunResult:
    """What one run produced: records, summary and the tables built from them.

    Attributes:
        scenario: The scenario that ran.
        seed: The root seed used.
        records: Raw columns (see docs/results-schema.md).
        summary: The `summary.json` content.
    """

    scenario: schema.Scenario
    seed: int
    records: RunRecords
    summary: dict[str, Any]
    _timeseries: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def invocations(self) -> pd.DataFrame:
        """One row per invocation attempt."""
        return invocations_frame(self.records)

    @property
    def instances(self) -> pd.DataFrame:
        """One row per instance lifecycle."""
        return instances_frame(self.records)

    @property
    def timeseries(self) -> pd.DataFrame:
        """Levels and counts on the scenario's time step."""
        if self._timeseries is None:
            self._timeseries = timeseries(self.records, self.scenario.timeseries_step)
        return self._timeseries

    def write(self, directory: str | Path) -> list[Path]:
        """Write summary.json and the Parquet tables into `directory`."""
        return write_outputs(
            Path(directory), self.summary, self.records, self.timeseries
        )


def simulate(scenario: schema.Scenario, seed: int | None = None) -> RunResult:
    """Run a scenario and return its records and summary.

    Args:
        scenario: A validated scenario (`lambdasim.load_scenario`).
        seed: Root seed; defaults to the scenario's.

    Raises:
        ScenarioError: A problem only visible once traces are opened (a function
            name in a trace that the scenario does not define, say).
        TraceFormatError: A trace file is malformed.
    """
    seed = scenario.seed if seed is None else seed
    prices = check_prices(scenario)
    for message in scenario_warnings(scenario):
        logger.warning("%s", message)
    functions, sources = _resolve(scenario, seed)
    account = _account(scenario.account)
    configs = [_function_config(f) for f in functions]
    logger.info(
        "scenario %s: %d functions, %d sources, horizon %.0f s, seed %d",
        scenario.name,
        len(configs),
        len(sources),
        scenario.horizon,
        seed,
    )
    simulation = Simulation(
        account,
        configs,
        seed=seed,
        horizon_s=scenario.horizon,
        database=_database_config(scenario),
        proxy=_proxy_config(scenario.proxy),
    )
    for index, function in enumerate(functions):
        event_source = _event_source(function)
        if event_source is not None:
            simulation.add_event_source(index, event_source)
    for source in sources:
        simulation.add_arrivals(source.chunks, source.client, source.key)
    records = simulation.run()
    logger.info("run finished: %d invocation attempts", records.invocation_count)
    run_bill = bill(records, functions, scenario, prices)
    summary = summarise(
        records,
        scenario=scenario.name,
        seed=seed,
        scenario_sha256=scenario_sha256(scenario),
        version=__version__,
        costs=run_bill.summary_blocks(),
    )
    summary["billing_date"] = scenario.billing_date.isoformat()
    summary["billing"] = run_bill.describe(scenario.horizon)
    if "database" in summary:
        _database_costs(summary["database"], records, scenario, run_bill, prices)
    return RunResult(scenario=scenario, seed=seed, records=records, summary=summary)


# -- functions --------------------------------------------------------------------


@dataclass(frozen=True)
class _ResolvedSource:
    chunks: Iterator[ArrivalChunk]
    client: ClientPolicy | None
    key: str


def _resolve(
    scenario: schema.Scenario, seed: int
) -> tuple[list[ResolvedFunction], list[_ResolvedSource]]:
    functions = []
    for name, spec in scenario.functions.items():
        duration = _declared_duration(spec)
        functions.append(ResolvedFunction(name, spec, duration))
        functions += [
            ResolvedFunction(f"{name}:{qualifier}", spec, duration, qualifier)
            for qualifier in spec.all_qualifiers
        ]
    index = {f.name: i for i, f in enumerate(functions)}
    # `name:$LATEST` is what plain `name` invokes.
    index.update(
        {f"{f.name}:{LATEST}": i for i, f in enumerate(functions) if ":" not in f.name}
    )
    sources: list[_ResolvedSource] = []
    keys: set[str] = set()
    warned = late_bursts(scenario)  # scenario_warnings has named them
    for position, source in enumerate(scenario.workload):
        key = _source_key(source, keys)
        rng = stream(seed, key, Purpose.ARRIVALS)
        made = _source(source, position, functions, index)
        chunks = made.chunks(scenario.horizon, rng)
        if position not in warned:
            chunks = _warn_if_empty(chunks, f"workload[{position}] ({source.type})")
        sources.append(_ResolvedSource(chunks, _client(source), key))
    return functions, sources


def _client(source: Any) -> ClientPolicy | None:
    """The caller's policy of a source, or None when it neither retries nor waits."""
    retry = getattr(source, "retry", None)
    upstream_timeout_s = getattr(source, "upstream_timeout", None)
    if retry is None and upstream_timeout_s is None:
        return None
    if retry is None:
        return ClientPolicy(upstream_timeout_s=upstream_timeout_s)
    return ClientPolicy(
        max_attempts=retry.max_attempts,
        base_delay_s=retry.base_delay,
        max_delay_s=retry.max_delay,
        has_jitter=retry.jitter == "full",
        upstream_timeout_s=upstream_timeout_s,
    )


def _warn_if_empty(
    chunks: Iterator[ArrivalChunk], label: str
) -> Iterator[ArrivalChunk]:
    """Pass chunks through; warn if the source yields no arrival in the horizon.

    A trace in the wrong time unit or a rate of 0 runs without error but simulates
    nothing, which is rarely what the user meant.
    """
    count = 0
    for chunk in chunks:
        count += len(chunk)
        yield chunk
    if count == 0:
        logger.warning("%s produced no arrival before the horizon", label)


def _declared_duration(spec: schema.FunctionSpec) -> Sampler:
    return _scaled_duration(spec, spec.duration)


def _scaled_duration(
    spec: schema.FunctionSpec, duration: schema.DurationSpec
) -> Sampler:
    """A duration at the function's memory, scaled from its reference memory."""
    reference_mb = duration.reference_memory_mb or spec.memory_mb
    factor = memory_scale_factor(
        reference_mb, spec.memory_mb, duration.cpu_fraction, duration.threads
    )
    sampler = duration.distribution.sampler()
    return sampler if factor == 1.0 else sampler.scaled(factor)


def _source_key(source: Any, taken: set[str]) -> str:
    """A stable name for a source's random stream (its own name, else type:target)."""
    base = source.name or f"{source.type}:{getattr(source, 'function', None) or ''}"
    key = base
    suffix = 2
    while key in taken:
        key = f"{base}#{suffix}"
        suffix += 1
    taken.add(key)
    return key


def _add_function(
    functions: list[ResolvedFunction],
    index: dict[str, int],
    function: ResolvedFunction,
    position: int,
) -> int:
    if function.name in index:
        raise ScenarioError(
            f"workload[{position}] creates function {function.name!r}, which already "
            "exists; rename the declared function"
        )
    index[function.name] = len(functions)
    functions.append(function)
    return index[function.name]


def _from_defaults(
    defaults: schema.FunctionDefaults, memory_mb: int
) -> schema.FunctionSpec:
    values = defaults.model_dump(exclude={"duration"})
    values["memory_mb"] = defaults.memory_mb or memory_mb
    values["duration"] = {"distribution": ConstantSpec(value=0.0)}
    return schema.FunctionSpec.model_validate(values)


def _source(
    source: Any,
    position: int,
    functions: list[ResolvedFunction],
    index: dict[str, int],
) -> Any:
    invocation_type = _INVOCATION_TYPES[getattr(source, "invocation_type", "sync")]
    match source:
        case schema.PoissonSpec():
            return PoissonSource(
                index[source.function], source.rate_per_s, source.start, invocation_type
            )
        case schema.PiecewiseSpec():
            return PiecewiseRateSource(
                index[source.function],
                [(t, rate) for t, rate in source.points],
                source.shape,
                invocation_type,
            )
        case schema.SineSpec():
            return SineRateSource(
                index[source.function],
                source.mean_rate_per_s,
                source.amplitude_per_s,
                source.period,
                source.phase,
                invocation_type,
            )
        case schema.BurstSpec():
            return BurstSource(
                index[source.function],
                source.at,
                source.count,
                source.window,
                invocation_type,
            )
        case schema.ReplaySpec():
            return _replay_source(source, position, index, invocation_type)
        case schema.Azure2019Spec():
            return _azure2019_source(source, position, functions, index)
        case schema.Azure2021Spec():
            return _azure2021_source(source, position, functions, index)
    raise TypeError(f"unknown source {source!r}")


_INVOCATION_TYPES = {
    "sync": InvocationType.SYNC,
    "async": InvocationType.ASYNC,
    # Messages to the target's SQS queue; its pollers invoke (lambdasim.model.sqs).
    "sqs": InvocationType.POLL,
}


def _replay_source(
    source: schema.ReplaySpec,
    position: int,
    index: dict[str, int],
    invocation_type: InvocationType,
) -> ReplaySource:
    if source.function_column is None and source.function is None:
        raise ScenarioError(
            f"workload[{position}] (replay) needs 'function' (the target) or "
            "'function_column' (a column naming the function of each row)"
        )
    return ReplaySource(
        source.path,
        time_column=source.time_column,
        function_column=source.function_column,
        duration_column=source.duration_column,
        function_names=index if source.function_column is not None else None,
        default_function_index=index[source.function] if source.function else 0,
        time_unit=source.time_unit,
        duration_unit=source.duration_unit,
        invocation_type=invocation_type,
    )


def _azure2019_source(
    source: schema.Azure2019Spec,
    position: int,
    functions: list[ResolvedFunction],
    index: dict[str, int],
) -> Any:
    trace = Azure2019Trace(source.path)
    rows = trace.functions()
    first = len(functions)
    for row in rows:
        spec = _from_defaults(source.function_defaults, row.memory_mb)
        if row.duration_percentiles_s:
            duration = EmpiricalSpec(percentiles=row.duration_percentiles_s).sampler()
        elif source.function_defaults.duration is not None:
            duration = source.function_defaults.duration.distribution.sampler()
        else:
            raise ScenarioError(
                f"workload[{position}]: function {row.name} has no durations in the "
                "trace; give function_defaults.duration"
            )
        _add_function(
            functions, index, ResolvedFunction(row.name, spec, duration), position
        )
    return _Offset(trace.source(), first)


def _azure2021_source(
    source: schema.Azure2021Spec,
    position: int,
    functions: list[ResolvedFunction],
    index: dict[str, int],
) -> Azure2021Source:
    names = azure2021_functions(source.path)
    mapping = {}
    for name in names:
        spec = _from_defaults(source.function_defaults, _AZURE_2021_MEMORY_MB)
        duration = _UNUSED_DURATION.sampler()
        mapping[name] = _add_function(
            functions, index, ResolvedFunction(name, spec, duration), position
        )
    return Azure2021Source(source.path, function_names=mapping)


class _Offset:
    """Shift a source's function indices (a trace's rows start after earlier ones)."""

    def __init__(self, source: Any, offset: int) -> None:
        self._source = source
        self._offset = offset

    def chunks(
        self, horizon_s: float, rng: np.random.Generator
    ) -> Iterator[ArrivalChunk]:
        for chunk in self._source.chunks(horizon_s, rng):
            yield ArrivalChunk(
                chunk.time_s,
                (chunk.function_index + self._offset).astype(np.int32),
                chunk.duration_s,
                chunk.invocation_type,
            )


# -- model configuration ----------------------------------------------------------


def _account(spec: schema.AccountSpec) -> AccountConfig:
    scaling = spec.scaling
    rule: ScaleUpRule | None
    if scaling.rule == "none":
        rule = None
    else:
        rule = (
            legacy_scale_up_rule(spec.region)
            if scaling.rule == "account-legacy"
            else ScaleUpRule()
        )
        rule = replace(
            rule,
            burst=float(scaling.burst) if scaling.burst is not None else rule.burst,
            refill_per_s=scaling.refill_per_s or rule.refill_per_s,
        )
    quota = spec.request_rate_quota
    return AccountConfig(
        concurrency_limit=spec.concurrency_limit,
        unreserved_minimum=spec.unreserved_minimum,
        scale_up=rule,
        # AWS: invoke requests per second per Region = 10 x the concurrency quota.
        request_rate_per_s=(
            10.0 * spec.concurrency_limit
            if quota == "auto"
            else (None if quota == "none" else float(quota))
        ),
    )


def _function_config(function: ResolvedFunction) -> FunctionConfig:
    spec = function.spec
    return FunctionConfig(
        name=function.function_name,
        qualifier=function.qualifier,
        provisioned=_provisioned(spec.provisioned_concurrency.get(function.qualifier)),
        memory_mb=spec.memory_mb,
        timeout_s=spec.timeout_s,
        duration=function.duration,
        init=_init_sampler(function),
        platform_overhead=_overhead_sampler(spec),
        keep_alive=spec.keep_alive.sampler(),
        max_lifetime=spec.max_lifetime.sampler() if spec.max_lifetime else None,
        reserved_concurrency=spec.reserved_concurrency,
        dispatch=spec.dispatch,
        error_probability=spec.error_probability,
        crash_probability=spec.crash_probability,
        max_event_age_s=spec.async_max_event_age,
        max_retry_attempts=spec.async_max_retry_attempts,
        database=_database_usage(spec.database),
    )


# -- database ---------------------------------------------------------------------


def _database_config(scenario: schema.Scenario) -> DatabaseConfig | None:
    spec = scenario.database
    if spec is None:
        return None
    failovers = tuple(
        Failover(at_s=event.at, duration_s=event.duration)
        for event in sorted(scenario.events, key=lambda event: event.at)
        if isinstance(event, schema.DatabaseFailoverSpec)
    )
    return DatabaseConfig(
        max_connections=spec.effective_max_connections,
        reserved_connections=spec.effective_reserved_connections,
        vcpus=spec.effective_vcpus,
        query_time=spec.query_time.sampler(),
        failovers=failovers,
    )


def _proxy_config(spec: schema.ProxySpec | None) -> ProxyConfig | None:
    if spec is None:
        return None
    return ProxyConfig(
        max_connections_percent=spec.max_connections_percent,
        max_idle_connections_percent=spec.max_idle_connections_percent,
        reserved_connections=spec.reserved_connections,
        connection_borrow_timeout_s=spec.connection_borrow_timeout,
        idle_client_timeout_s=spec.idle_client_timeout,
        query_latency_s=spec.query_latency,
        failover_reduction=spec.failover_reduction,
    )


def _database_usage(spec: schema.DatabaseUsageSpec | None) -> DatabaseUsage | None:
    if spec is None:
        return None
    return DatabaseUsage(
        connect=ConnectMode(spec.connect),
        pool_size=spec.pool_size,
        queries_per_invocation=spec.queries_per_invocation,
        is_transaction=spec.transaction,
        pinned_fraction=spec.pinned_fraction,
        connect_retries=spec.connect_retries,
        connect_retry_delay_s=spec.connect_retry_delay,
    )


def _provisioned(spec: schema.ProvisionedSpec | None) -> ProvisionedConfig | None:
    if spec is None:
        return None
    tracking = spec.target_tracking
    schedule = [ScheduledChange(a.at, a.concurrency) for a in spec.schedule or []]
    if spec.concurrency is not None:
        initial = spec.concurrency
    elif tracking is not None:
        initial = tracking.min  # AAS raises the allocation to the minimum at once
    elif schedule and schedule[0].at_s == 0.0:
        initial = schedule.pop(0).concurrency
    else:
        initial = 0
    return ProvisionedConfig(
        initial=initial,
        recycle_interval=spec.recycle_interval.sampler(),
        schedule=tuple(schedule),
        target_tracking=(
            TargetTracking(
                target=tracking.target,
                min_capacity=tracking.min,
                max_capacity=tracking.max,
                scale_out_minutes=tracking.scale_out_minutes,
                scale_in_minutes=tracking.scale_in_minutes,
            )
            if tracking is not None
            else None
        ),
        allocation_delay_s=spec.allocation_delay,
        allocation_rate_per_s=spec.allocation_rate_per_min / 60.0,
    )


def _event_source(function: ResolvedFunction) -> EventSourceConfig | None:
    """The SQS event source mapping of a function, or None if it has none."""
    spec = function.spec
    sqs = spec.sqs
    if sqs is None:
        return None
    # Assumption A-36: AWS's advice, 6 x the function timeout plus the window.
    visibility_s = sqs.visibility_timeout_s
    if visibility_s is None:
        visibility_s = 6.0 * spec.timeout_s + sqs.batching_window_s
    limit = spec.downstream_rate_limit
    return EventSourceConfig(
        batch_size=sqs.batch_size,
        batching_window_s=sqs.batching_window_s,
        maximum_concurrency=sqs.maximum_concurrency,
        visibility_timeout_s=visibility_s,
        max_receive_count=sqs.max_receive_count,
        scaling=(
            LEGACY_POLLER_SCALING
            if sqs.poller_scaling == "legacy"
            else CURRENT_POLLER_SCALING
        ),
        per_message_duration=(
            _scaled_duration(spec, sqs.per_message_duration)
            if sqs.per_message_duration is not None
            else None
        ),
        downstream=(
            DownstreamLimit(
                burst=float(limit.burst),
                refill_per_s=limit.refill_per_s,
                failure_duration_s=limit.failure_duration_s,
            )
            if limit is not None
            else None
        ),
    )


def _init_sampler(function: ResolvedFunction) -> Sampler:
    spec = function.spec
    if function.uses_snapstart and spec.snapstart is not None:
        # A SnapStart cold start restores a snapshot instead of running INIT; the
        # model's INIT phase stands for the Restore Duration.
        return spec.snapstart.restore.sampler()
    init = spec.init
    if init is not None and init.distribution is not None:
        return init.distribution.sampler()
    name = init.preset if init is not None and init.preset else spec.runtime
    preset = find_init_preset(name, spec.package_type.value, spec.architecture.value)
    return LognormalSpec(mu=preset.mu_log_s, sigma=preset.sigma_log).sampler()


def _overhead_sampler(spec: schema.FunctionSpec) -> Sampler:
    if spec.platform_overhead is not None:
        distribution: SpecBase = spec.platform_overhead
        return distribution.sampler()
    mu, sigma = platform_overhead(spec.package_type.value)
    return LognormalSpec(mu=mu, sigma=sigma).sampler()


# -- billing ----------------------------------------------------------------------


def bill(
    records: RunRecords,
    functions: list[ResolvedFunction],
    scenario: schema.Scenario,
    prices: pricing.PriceTable,
) -> billing.RunBill:
    """Bill a run and add the per-invocation billing columns to its records.

    Throttled and dropped attempts are not billed. INIT is billed as AWS bills it
    on the scenario's `billing_date` (pricing.is_init_billed); SnapStart cold starts
    bill their Billed Restore Duration instead. The model's `served_by` column, when
    present, marks invocations served by provisioned concurrency.
    """
    inv = records.invocations
    run_bill = billing.bill_run(
        inv["function_index"],
        has_run(inv["status"]),
        inv["duration_s"],
        inv["init_s"],
        [_function_billing(f, scenario.billing_date) for f in functions],
        prices,
        billing_date=scenario.billing_date,
        horizon_s=records.horizon_s,
        options=billing.BillingOptions(
            free_tier=scenario.billing.free_tier,
            project_to_month=scenario.billing.project_to_month,
        ),
        served_by=inv.get("served_by"),
        provisioned=_provisioned_usage(records),
        proxy_usd=_proxy_usd(records, functions, scenario, prices),
    )
    for name in BILLING_COLUMNS:
        inv[name] = run_bill.columns[name]
    return run_bill


def _database_costs(
    block: dict[str, Any],
    records: RunRecords,
    scenario: schema.Scenario,
    run_bill: billing.RunBill,
    prices: pricing.PriceTable,
) -> None:
    """Add the proxy's charge (from the bill), the capacity and the database's cost.

    A provisioned instance costs what the scenario says (`usd_per_hour`, if any);
    Aurora Serverless v2 its ACU-hours at the price table's rate.
    """
    spec = scenario.database
    assert spec is not None  # a run with a database block
    proxy_usd = float(run_bill.breakdown["proxy"][-1])
    unpriced = _proxy_unpriced(scenario, prices)
    block["proxy_cost_usd"] = None if unpriced else proxy_usd
    block["serverless_acu"] = None
    hours = scenario.horizon / 3600.0
    cost = None if spec.usd_per_hour is None else spec.usd_per_hour * hours
    if spec.is_serverless:
        acu, widths = _serverless_acu(records, spec)
        acu_hours = float(np.dot(acu, widths)) / 3600.0
        block["serverless_acu"] = {
            "min": spec.capacity_min_acu,
            "max": spec.max_acu,
            "mean": acu_hours / hours if hours > 0 else 0.0,
            "peak": float(acu.max()) if acu.size else spec.capacity_min_acu,
            "acu_hours": acu_hours,
        }
        cost = pricing.aurora_serverless_usd(acu_hours, prices)
    block["database_cost_usd"] = cost
    block["database_monthly_usd"] = (
        None if cost is None or hours <= 0 else cost * billing.MONTH_S / 3600.0 / hours
    )


def _proxy_usd(
    records: RunRecords,
    functions: list[ResolvedFunction],
    scenario: schema.Scenario,
    prices: pricing.PriceTable,
) -> npt.NDArray[np.float64] | None:
    """RDS Proxy's charge for the run, shared among the functions that use it.

    Assumption A-60: the proxy runs for the whole horizon and is priced on the vCPUs
    of the database's instance class; its charge is shared among the functions (and
    qualifiers) with a `database` usage in proportion to their invocations that ran,
    equally if none ran, and equally among all functions if none uses the database.
    """
    spec = scenario.database
    if scenario.proxy is None or spec is None:
        return None
    if spec.is_serverless:
        # Per ACU-hour of the capacity at each second, at least the minimum ACUs.
        if _proxy_unpriced(scenario, prices):
            logger.warning(
                "RDS Proxy in front of Aurora Serverless v2 is not priced: the price "
                "table's rds_proxy.usd_per_acu_hour is null (AWS's per-ACU rate is "
                "unverified); set it in a price table of your own (billing.price_table)"
            )
            return None
        acu, widths = _serverless_acu(records, spec)
        total = float(
            pricing.rds_proxy_usd(
                acu, widths / 3600.0, pricing.ProxyTarget.ACU, prices
            ).sum()
        )
    else:
        vcpus = spec.effective_vcpus
        total = float(
            pricing.rds_proxy_usd(
                vcpus, records.horizon_s / 3600.0, pricing.ProxyTarget.VCPU, prices
            )
        )
    users = np.array([f.spec.database is not None for f in functions])
    inv = records.invocations
    ran = has_run(inv["status"])
    runs = np.bincount(inv["function_index"][ran], minlength=len(functions)).astype(
        np.float64
    )
    weights = np.where(users, runs, 0.0)
    if weights.sum() == 0.0:
        # Nobody used it (or nobody ran): equally among the users, or among all.
        weights = users.astype(np.float64) if users.any() else np.ones(len(users))
    return np.asarray(total * weights / weights.sum(), dtype=np.float64)


def _proxy_unpriced(scenario: schema.Scenario, prices: pricing.PriceTable) -> bool:
    """Whether the proxy is unpriced (Serverless v2 and no per-ACU rate)."""
    spec = scenario.database
    return (
        scenario.proxy is not None
        and spec is not None
        and spec.is_serverless
        and (prices.rds_proxy is None or prices.rds_proxy.usd_per_acu_hour is None)
    )


def _serverless_acu(
    records: RunRecords, spec: schema.DatabaseSpec
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    assert spec.max_acu is not None  # checked by the schema for serverless
    return serverless_acu(records, spec.capacity_min_acu, spec.max_acu, VCPUS_PER_ACU)


def _provisioned_usage(records: RunRecords) -> billing.ProvisionedUsage | None:
    """The allocation steps and PC INITs of a run, or None if it had no PC."""
    allocations, instances = records.allocations, records.instances
    if not allocations or allocations["time_s"].shape[0] == 0:
        return None
    is_pc = instances["is_provisioned"].astype(bool)
    return billing.ProvisionedUsage(
        function_index=allocations["function_index"],
        time_s=allocations["time_s"],
        allocated=allocations["allocated"],
        init_function_index=instances["function_index"][is_pc],
        init_ms=instances["init_s"][is_pc] * 1000.0,
    )


def check_prices(scenario: schema.Scenario) -> pricing.PriceTable:
    """Return the run's price table, checked to have every price the scenario needs.

    Run before the model so that a long run is not wasted on a table without, say,
    arm64 or provisioned concurrency prices (`lambdasim validate` runs it too).

    Raises:
        ScenarioError: Naming, for each missing price, the table, its key and the
            function (or block) that needs it.
    """
    prices = _price_table(scenario)
    where = prices.where or f"price table {prices.region}"
    settings: list[tuple[str, schema.FunctionSpec | schema.FunctionDefaults]] = [
        (f"functions.{name}", spec) for name, spec in scenario.functions.items()
    ]
    settings += [
        (f"workload[{index}].function_defaults", source.function_defaults)
        for index, source in enumerate(scenario.workload)
        if isinstance(source, schema.Azure2019Spec | schema.Azure2021Spec)
    ]
    problems = []
    for key, spec in settings:
        architecture = str(spec.architecture)
        if all(a.architecture.value != architecture for a in prices.architectures):
            problems.append(
                f"{where}: architectures.{architecture} is missing; {key} runs on "
                f"{architecture}"
            )
            continue
        rates = prices.for_architecture(architecture).rates
        for name, reason in _needed_rates(spec):
            if name not in rates:
                problems.append(
                    f"{where}: architectures.{architecture}.{name.value} is missing; "
                    f"{key} needs it ({reason})"
                )
    database = scenario.database
    if scenario.proxy is not None and prices.rds_proxy is None:
        problems.append(f"{where}: rds_proxy is missing; the scenario's proxy needs it")
    is_serverless = database is not None and database.is_serverless
    if is_serverless and prices.aurora_serverless_v2 is None:
        problems.append(
            f"{where}: aurora_serverless_v2 is missing; the scenario's "
            "aurora-serverless-v2 database needs it"
        )
    if problems and scenario.billing.price_table is None:
        # The shipped table has only the prices a source gives (no arm64 SnapStart).
        problems[-1] += (
            "; the shipped table has no such price: give it in a table of your "
            "own (billing.price_table)"
        )
    if problems:
        raise ScenarioError(problems)
    return prices


def _needed_rates(
    spec: schema.FunctionSpec | schema.FunctionDefaults,
) -> list[tuple[pricing.RateName, str]]:
    """The optional prices a function's settings make its bill need."""
    needed = []
    if getattr(spec, "provisioned_concurrency", None):
        reason = "provisioned concurrency"
        needed += [
            (pricing.RateName.PROVISIONED_ALLOCATED, reason),
            (pricing.RateName.PROVISIONED_DURATION, reason),
        ]
    if spec.ephemeral_storage_mb > pricing.FREE_EPHEMERAL_STORAGE_MB:
        needed.append((pricing.RateName.EPHEMERAL_STORAGE, "ephemeral_storage_mb"))
    # Only a version or alias restores (ResolvedFunction.uses_snapstart): a
    # function without qualifiers, like every trace function, pays no SnapStart.
    has_qualifiers = bool(getattr(spec, "all_qualifiers", []))
    if (
        spec.snapstart is not None
        and has_qualifiers
        and _pays_snapstart_charges(spec.runtime)
    ):
        needed += [
            (pricing.RateName.SNAPSTART_CACHE, "snapstart"),
            (pricing.RateName.SNAPSTART_RESTORE, "snapstart"),
        ]
    return needed


def _pays_snapstart_charges(runtime: str) -> bool:
    """Python and .NET SnapStart pay cache and restore charges; Java does not."""
    return runtime.strip().lower().startswith(("python", "dotnet"))


def _price_table(scenario: schema.Scenario) -> pricing.PriceTable:
    region = scenario.account.region
    if scenario.billing.price_table is not None:
        table = pricing.load_price_table_file(scenario.billing.price_table)
        if table.region != region:
            logger.warning(
                "the price table %s is for %s, the scenario's account is in %s: "
                "costs use the table's prices",
                scenario.billing.price_table,
                table.region,
                region,
            )
        return table
    if region in pricing.price_table_regions():
        return pricing.load_price_table(region)
    # Assumption A-17: a Region without a price table is priced as us-east-1.
    logger.warning(
        "no price table for %s: costs use %s prices", region, pricing.DEFAULT_REGION
    )
    return pricing.load_price_table(pricing.DEFAULT_REGION)


def _function_billing(
    function: ResolvedFunction, billing_date: datetime.date
) -> billing.FunctionBilling:
    spec = function.spec
    snapstart = None
    if function.uses_snapstart and spec.snapstart is not None:
        snapstart = billing.SnapStartBilling(
            billed_restore_fraction=spec.snapstart.billed_restore_fraction,
            has_snapstart_charges=_pays_snapstart_charges(spec.runtime),
        )
    return billing.FunctionBilling(
        name=function.name,
        memory_mb=float(spec.memory_mb),
        architecture=spec.architecture,
        ephemeral_storage_mb=float(spec.ephemeral_storage_mb),
        is_init_billed=pricing.is_init_billed(
            runtime_kind(spec.runtime).value, spec.package_type.value, billing_date
        ),
        snapstart=snapstart,
    )
