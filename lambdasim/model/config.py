"""Plain configuration objects the model is built from.

The scenario layer validates a file and turns it into these; tests build them directly
in Python. Times are seconds. Nothing here reads files.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lambdasim.distributions import Sampler

if TYPE_CHECKING:
    from lambdasim.model.database import DatabaseUsage

# The unit of CPU share: a function with this much memory gets one vCPU-second of CPU
# credit per second (AWS Lambda docs, "Memory and computing power", since 2020-12).
MB_PER_VCPU = 1769.0
MAX_VCPUS = 6.0


class DispatchPolicy(enum.Enum):
    """Which idle instance serves the next warm start."""

    MRU = "mru"
    NEWEST = "newest"
    LRU = "lru"
    RANDOM = "random"


class ScaleUpScope(enum.Enum):
    """Whether the scale-up budget belongs to each function or to the whole account."""

    FUNCTION = "function"
    ACCOUNT = "account"


# The rule in force from 2017 to 2023-11: an account-wide burst, by Region, then
# +500 instances per minute (Lambda Developer Guide, "Lambda function scaling",
# 2023-10 snapshot; us-east-2 joined the 1,000 group in later versions).
LEGACY_BURST_BY_REGION: dict[str, int] = {
    "us-west-2": 3000,
    "us-east-1": 3000,
    "eu-west-1": 3000,
    "ap-northeast-1": 1000,
    "eu-central-1": 1000,
    "us-east-2": 1000,
}
LEGACY_BURST_OTHER_REGIONS = 500
LEGACY_REFILL_PER_S = 500.0 / 60.0


@dataclass(frozen=True)
class ScaleUpRule:
    """A token bucket that limits how fast new instances appear.

    The current rule (since 2023-11-26) gives each function 1,000 new execution
    environments every 10 s, refilled continuously, with unused budget capped at
    1,000 (AWS Lambda docs, "Lambda scaling behavior"). The legacy rule shares one
    bucket across the account (`legacy_scale_up_rule`).

    Attributes:
        burst: Bucket size: new instances available at once after a quiet period.
        refill_per_s: New-instance tokens added per second.
        scope: Who owns the bucket.
    """

    burst: float = 1000.0
    refill_per_s: float = 100.0
    scope: ScaleUpScope = ScaleUpScope.FUNCTION


@dataclass(frozen=True)
class ClientPolicy:
    """How the caller of one workload source retries throttles and waits.

    A throttled (429) attempt is retried after an exponential backoff with jitter,
    as the AWS SDKs' standard retry mode does: the n-th retry waits
    ``min(max_delay_s, base_delay_s * 2**(n - 1))``, times a uniform draw in [0, 1)
    with full jitter. Function errors and timeouts come back as a response, not a
    throttle, and are not retried. API Gateway does not retry (``max_attempts=1``)
    but stops waiting at its integration timeout (29 s): the function runs on and
    is billed.

    Attributes:
        max_attempts: Attempts in all, the first included (the SDKs' default is 3).
        base_delay_s: Backoff base (the SDKs' standard mode: 1 s).
        max_delay_s: Backoff cap (the SDKs' standard mode: 20 s).
        has_jitter: Full jitter (True) or the plain exponential delay.
        upstream_timeout_s: How long the caller waits for a response from the
            first attempt on, or None for as long as the function runs.
    """

    max_attempts: int = 1
    base_delay_s: float = 1.0
    max_delay_s: float = 20.0
    has_jitter: bool = True
    upstream_timeout_s: float | None = None

    def backoff_s(self, failed_attempt: int, draw: float) -> float:
        """Return the wait after attempt `failed_attempt` (1-based) was throttled.

        >>> ClientPolicy(max_attempts=3, has_jitter=False).backoff_s(2, draw=0.5)
        2.0
        """
        delay_s = min(self.max_delay_s, self.base_delay_s * 2.0 ** (failed_attempt - 1))
        return delay_s * draw if self.has_jitter else delay_s


@dataclass(frozen=True)
class AccountConfig:
    """Region-wide limits shared by all functions of one account.

    Attributes:
        concurrency_limit: Invocations in flight (initialising or busy) allowed.
        unreserved_minimum: Concurrency that reservations may not take away.
        scale_up: The scale-up rule, or None for instant scaling.
        request_rate_per_s: The Region's invoke request-rate quota (AWS: 10 x the
            concurrency quota per second), or None for no quota. Enforced as a
            bucket of one second's worth of requests, refilled continuously.
    """

    concurrency_limit: int = 1000
    unreserved_minimum: int = 100
    scale_up: ScaleUpRule | None = field(default_factory=ScaleUpRule)
    request_rate_per_s: float | None = None


# Lambda's name for the unpublished version; provisioned concurrency never applies
# to it (AWS Lambda docs, "Configuring provisioned concurrency").
LATEST = "$LATEST"


@dataclass(frozen=True)
class ScheduledChange:
    """A scheduled action: from `at_s` on, `concurrency` is provisioned."""

    at_s: float
    concurrency: int


@dataclass(frozen=True)
class TargetTracking:
    """Application Auto Scaling target tracking on PC utilisation.

    AAS keeps two CloudWatch alarms on the one-minute Average of
    `ProvisionedConcurrencyUtilization`: scale out when `scale_out_minutes`
    datapoints in a row are above the target, scale in when `scale_in_minutes` in a
    row are below `scale_in_ratio` x target (AWS Lambda docs, "Configuring
    provisioned concurrency": 3 datapoints, and 90 % of the target for scale-in).
    Either way the wanted allocation is ceil(allocated x utilisation / target),
    kept within [min_capacity, max_capacity]; a scale-in removes at most
    `scale_in_max_fraction` of the allocation (at least one instance), and a
    scaling action resets both alarms, so scale-out comes in one large step and
    scale-in in small steps at most every `scale_in_minutes` (the docs' "smaller
    periodic steps"; Assumption A-21). Lambda's default cooldowns are 0 s (AWS CDK
    `UtilizationScalingOptions`).

    Attributes:
        target: Target utilisation, 0..1 (AWS's example: 0.7).
        min_capacity: Lowest allocation the policy sets (at least 1: with nothing
            allocated there is no utilisation to track).
        max_capacity: Highest allocation the policy sets.
        scale_out_minutes: Datapoints above target that trigger a scale-out.
        scale_in_minutes: Datapoints below the scale-in threshold that trigger a
            scale-in (Assumption A-21).
        scale_in_ratio: Scale-in threshold as a fraction of the target.
        scale_in_max_fraction: Largest share of the allocation one scale-in
            removes (Assumption A-21).
    """

    target: float
    min_capacity: int
    max_capacity: int
    scale_out_minutes: int = 3
    scale_in_minutes: int = 15
    scale_in_ratio: float = 0.9
    scale_in_max_fraction: float = 0.1


@dataclass(frozen=True)
class ProvisionedConfig:
    """Provisioned concurrency (PC) on one function qualifier (alias or version).

    PC instances are initialised before they serve, are never reaped for idleness,
    and are recycled (re-initialised in the background) every `recycle_interval`.
    Invocations of the qualifier use an idle PC instance first and spill over to
    on-demand instances when all are busy or the qualifier is past its request-rate
    quota of `requests_per_s_per_unit` x allocated per second.

    Attributes:
        initial: Allocated at t = 0, already initialised (configured before the run).
        schedule: Scheduled changes of the allocation, in time order.
        target_tracking: Auto scaling on utilisation, or None.
        allocation_delay_s: From a change of the allocation to the first new
            instance starting its INIT ("a minute or two", Assumption A-19).
        allocation_rate_per_s: New PC instances started per second after the delay
            (Assumption A-19).
        recycle_interval: Time from a PC instance's ready moment to its replacement
            starting ("every few hours", Assumption A-20).
        requests_per_s_per_unit: Request-rate quota per allocated unit (AWS: 10).
    """

    initial: int
    recycle_interval: Sampler
    schedule: tuple[ScheduledChange, ...] = ()
    target_tracking: TargetTracking | None = None
    allocation_delay_s: float = 60.0
    allocation_rate_per_s: float = 100.0
    requests_per_s_per_unit: float = 10.0


@dataclass(frozen=True)
class FunctionConfig:
    """One Lambda function qualifier as the model sees it.

    Qualifiers (aliases or versions) of one function have instances of their own but
    share the function's reserved concurrency and scale-up budget.

    Attributes:
        name: Function name (shared by its qualifiers).
        memory_mb: Configured memory.
        timeout_s: Function timeout: a handler running longer ends as `timeout`.
        duration: Handler duration at this function's memory (already scaled).
        init: Init Duration of a cold start (the INIT phase Lambda reports).
        platform_overhead: Cold-start time before INIT that Lambda neither reports
            nor bills (placement, code download, microVM boot).
        keep_alive: Idle time after which an idle instance is reaped, drawn afresh
            each time the instance goes idle.
        max_lifetime: Age at which an instance is retired, or None for no cap.
        reserved_concurrency: Reserved concurrency (floor and cap), or None.
        dispatch: Which idle instance takes a warm start.
        error_probability: Chance that an invocation fails (status error) part way
            through its handler; the instance survives.
        crash_probability: Chance that an invocation crashes its instance part way
            through (status error); the instance is reset, so the next invocation
            on it re-initialises within its own timeout.
        init_limit_s: Cap on an on-demand INIT phase (10 s on AWS): an INIT that
            runs longer fails at the cap and is run again inside the first invoke,
            bounded by the function timeout (a "suppressed" init).
        max_event_age_s: How long Lambda keeps retrying a throttled asynchronous
            event (MaximumEventAgeInSeconds, 60 s to 6 h; default 6 h).
        max_retry_attempts: Retries of an asynchronous event after a function
            error or timeout (MaximumRetryAttempts, 0 to 2; default 2).
        qualifier: The version or alias invoked (``$LATEST`` by default).
        provisioned: Provisioned concurrency on this qualifier, or None.
        database: How its invocations use the run's database, or None if they
            do not.
    """

    name: str
    memory_mb: int
    timeout_s: float
    duration: Sampler
    init: Sampler
    platform_overhead: Sampler
    keep_alive: Sampler
    max_lifetime: Sampler | None = None
    reserved_concurrency: int | None = None
    dispatch: DispatchPolicy = DispatchPolicy.MRU
    error_probability: float = 0.0
    crash_probability: float = 0.0
    init_limit_s: float = 10.0
    max_event_age_s: float = 21600.0
    max_retry_attempts: int = 2
    qualifier: str = LATEST
    provisioned: ProvisionedConfig | None = None

    @property
    def label(self) -> str:
        """Unique name of this qualifier: ``name``, or ``name:qualifier``."""
        return (
            self.name if self.qualifier == LATEST else f"{self.name}:{self.qualifier}"
        )

    database: DatabaseUsage | None = None


def cpu_share_vcpus(memory_mb: float) -> float:
    """Return the vCPU share Lambda gives a function of `memory_mb`.

    >>> cpu_share_vcpus(1769)
    1.0
    >>> round(cpu_share_vcpus(10240), 3)
    5.789
    """
    return min(memory_mb / MB_PER_VCPU, MAX_VCPUS)


def memory_scale_factor(
    reference_memory_mb: float, memory_mb: float, cpu_fraction: float, threads: float
) -> float:
    """Return the factor from a duration at the reference memory to one at `memory_mb`.

    The CPU-bound part of the handler runs at a speed proportional to the CPU it can
    use, min(vCPU share, threads); the rest (waiting on I/O) does not change.

    Args:
        reference_memory_mb: Memory at which the duration was measured.
        memory_mb: Memory of the simulated function.
        cpu_fraction: Share of the reference duration that is CPU-bound, 0..1.
        threads: How many threads the handler can keep busy (at least 1).

    >>> memory_scale_factor(128, 256, cpu_fraction=1.0, threads=1)
    0.5
    >>> memory_scale_factor(1769, 3538, cpu_fraction=1.0, threads=1)
    1.0
    """
    speed_reference = min(cpu_share_vcpus(reference_memory_mb), threads)
    speed = min(cpu_share_vcpus(memory_mb), threads)
    return cpu_fraction * speed_reference / speed + (1.0 - cpu_fraction)


def legacy_scale_up_rule(region: str) -> ScaleUpRule:
    """Return the pre-2023-11 account-wide scale-up rule of `region`.

    >>> legacy_scale_up_rule("eu-west-3").burst
    500.0
    """
    burst = LEGACY_BURST_BY_REGION.get(region, LEGACY_BURST_OTHER_REGIONS)
    return ScaleUpRule(
        burst=float(burst), refill_per_s=LEGACY_REFILL_PER_S, scope=ScaleUpScope.ACCOUNT
    )
