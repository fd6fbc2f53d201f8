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
import pandas as pd

from lambdasim import pricing
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
from lambdasim.model.config import legacy_scale_up_rule, memory_scale_factor
from lambdasim.model.database import (
    ConnectMode,
    DatabaseConfig,
    DatabaseUsage,
    Failover,
)
from lambdasim.model.db_classes import default_max_connections, instance_class
from lambdasim.model.proxy import ProxyConfig
from lambdasim.randomness import Purpose, stream
from lambdasim.report.summary import summarise
from lambdasim.report.timeseries import timeseries
from lambdasim.results import (
    RunRecords,
    has_run,
    instances_frame,
    invocations_frame,
    write_outputs,
)
from lambdasim.scenario import schema
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
        name: Unique function name.
        spec: Its settings (declared, or trace data merged into defaults).
        duration: Handler duration at its own memory.
    """

    name: str
    spec: schema.FunctionSpec
    duration: Sampler


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
    for source in sources:
        simulation.add_arrivals(source.chunks, source.client, source.key)
    records = simulation.run()
    logger.info("run finished: %d invocation attempts", records.invocation_count)
    add_billing_columns(
        records, functions, scenario.billing_date, scenario.account.region
    )
    summary = summarise(
        records,
        scenario=scenario.name,
        seed=seed,
        scenario_sha256=scenario_sha256(scenario),
        version=__version__,
    )
    summary["billing_date"] = scenario.billing_date.isoformat()
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
    functions = [
        ResolvedFunction(name, spec, _declared_duration(spec))
        for name, spec in scenario.functions.items()
    ]
    index = {f.name: i for i, f in enumerate(functions)}
    sources: list[_ResolvedSource] = []
    keys: set[str] = set()
    for position, source in enumerate(scenario.workload):
        key = _source_key(source, keys)
        rng = stream(seed, key, Purpose.ARRIVALS)
        made = _source(source, position, functions, index)
        label = f"workload[{position}] ({source.type})"
        chunks = _warn_if_empty(made.chunks(scenario.horizon, rng), label)
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
    duration = spec.duration
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
    invocation_type = (
        InvocationType.ASYNC
        if getattr(source, "invocation_type", "sync") == "async"
        else InvocationType.SYNC
    )
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
        name=function.name,
        memory_mb=spec.memory_mb,
        timeout_s=spec.timeout_s,
        duration=function.duration,
        init=_init_sampler(spec),
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

# Assumption A-55: PostgreSQL's default superuser_reserved_connections (PostgreSQL
# docs, "Connections and Authentication"); MySQL keeps its extra SUPER slot on top of
# max_connections.
_RESERVED_CONNECTIONS = {"postgres": 3, "mysql": 0}


def _database_config(scenario: schema.Scenario) -> DatabaseConfig | None:
    spec = scenario.database
    if spec is None:
        return None
    cls = instance_class(spec.instance_class)
    failovers = tuple(
        Failover(at_s=event.at, duration_s=event.duration)
        for event in sorted(scenario.events, key=lambda event: event.at)
        if isinstance(event, schema.DatabaseFailoverSpec)
    )
    return DatabaseConfig(
        max_connections=(
            spec.max_connections
            if spec.max_connections is not None
            else default_max_connections(spec.engine, spec.service, cls)
        ),
        reserved_connections=(
            spec.reserved_connections
            if spec.reserved_connections is not None
            else _RESERVED_CONNECTIONS[spec.engine]
        ),
        vcpus=spec.vcpus if spec.vcpus is not None else float(cls.vcpus),
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


def _init_sampler(spec: schema.FunctionSpec) -> Sampler:
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


def add_billing_columns(
    records: RunRecords,
    functions: list[ResolvedFunction],
    billing_date: datetime.date,
    region: str,
) -> None:
    """Add `billed_ms`, `gb_seconds`, `request_usd` and `compute_usd` per attempt.

    Throttled and dropped attempts are not billed. INIT is billed as AWS bills it
    on `billing_date` (pricing.is_init_billed).
    """
    if region in pricing.price_table_regions():
        prices = pricing.load_price_table(region)
    else:
        # Assumption A-17: a Region without a price table is priced as us-east-1.
        logger.warning(
            "no price table for %s: costs use %s prices",
            region,
            pricing.DEFAULT_REGION,
        )
        prices = pricing.load_price_table(pricing.DEFAULT_REGION)
    inv = records.invocations
    function_index = inv["function_index"].astype(np.intp)
    is_billed = has_run(inv["status"])
    init_billed = np.array(
        [
            pricing.is_init_billed(
                runtime_kind(f.spec.runtime).value,
                f.spec.package_type.value,
                billing_date,
            )
            for f in functions
        ],
        dtype=bool,
    )
    memory_mb = np.array([f.spec.memory_mb for f in functions], dtype=np.float64)
    billed_ms = pricing.billed_duration_ms(
        inv["duration_s"] * 1000.0,
        inv["init_s"] * 1000.0,
        init_billed=init_billed[function_index],
        billing_date=billing_date,
    )
    billed_ms = np.where(is_billed, billed_ms, 0)
    row_memory_mb = memory_mb[function_index]
    request_usd = np.zeros(billed_ms.shape)
    compute_usd = np.zeros(billed_ms.shape)
    architectures = np.array([f.spec.architecture.value for f in functions])
    for architecture in np.unique(architectures):
        rows = (architectures[function_index] == architecture) & is_billed
        request, compute = pricing.invocation_cost_usd(
            billed_ms[rows], row_memory_mb[rows], str(architecture), prices
        )
        request_usd[rows] = request
        compute_usd[rows] = compute
    inv["billed_ms"] = billed_ms
    inv["gb_seconds"] = np.where(
        is_billed, pricing.gb_seconds(billed_ms, row_memory_mb), 0.0
    )
    inv["request_usd"] = request_usd
    inv["compute_usd"] = compute_usd
