"""The scenario file's schema: pydantic models, validated before anything runs.

Times accept a bare number of seconds or a number with a unit (``250ms``, ``90m``,
``2h``); sizes are integers in MB. Unknown keys are errors. docs/scenario.md shows
every key with an example.
"""

from __future__ import annotations

import datetime
import difflib
import enum
import itertools
import math
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WrapValidator,
    field_validator,
    model_validator,
)

from lambdasim.distributions import (
    DistributionField,
    LognormalSpec,
    Seconds,
    UniformSpec,
)
from lambdasim.errors import ScenarioError
from lambdasim.init_presets import find_init_preset
from lambdasim.model.config import DispatchPolicy
from lambdasim.model.db_classes import (
    ACU_STEP,
    MAX_ACU,
    RESERVED_CONNECTIONS,
    VCPUS_PER_ACU,
    default_max_connections,
    instance_class,
    serverless_v2_max_connections,
)
from lambdasim.pricing import (
    Architecture,
    PackageType,
    load_price_table,
    price_table_regions,
)
from lambdasim.units import DURATION_HINT, parse_duration_s
from lambdasim.workload.synthetic import PiecewiseRateSource

MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10240

# Idle keep-alive is not documented by AWS and has changed repeatedly (45-60 min in
# 2017, exactly 10 min from mid-2019, 5-7 min in a later revision); see docs/
# Assumption A-03. The default spans the recent observations.
DEFAULT_KEEP_ALIVE = UniformSpec(low=300.0, high=900.0)
# Environments are recycled even when busy: about every 2 h (xebia.com), median
# lifetime 6.2 h in 2018 (Wang et al., ATC'18). Assumption A-04.
DEFAULT_MAX_LIFETIME = UniformSpec(low=2 * 3600.0, high=6 * 3600.0)


def _positive_time(value: object) -> float:
    try:
        seconds = parse_duration_s(value)
    except ValueError as error:
        # parse_duration_s allows 0; here the least is above it.
        raise ValueError(
            str(error).replace("expected a time >= 0", "expected a positive time")
        ) from None
    if seconds <= 0:
        raise ValueError(f"expected a positive time: {DURATION_HINT}")
    return seconds


PositiveSeconds = Annotated[float, BeforeValidator(_positive_time)]


# AWS Regions by name (commercial, GovCloud, China) as listed in the AWS General
# Reference, 2025. A name close to one of these but not equal is a typo, which would
# otherwise silently pick the smallest legacy burst (500); a name like none of them
# may be a newer Region and is accepted.
KNOWN_REGIONS = (
    *("us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1"),
    *("ca-west-1", "mx-central-1", "sa-east-1", "af-south-1", "il-central-1"),
    *("me-south-1", "me-central-1", "eu-central-1", "eu-central-2", "eu-west-1"),
    *("eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1"),
    *("ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2", "ap-northeast-1"),
    *("ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2"),
    *("ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7"),
    *("us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1"),
)
_REGION_NAME = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_number(cls, data: Any) -> Any:
        # pydantic takes true as 1 for a number; a user who wrote `pool_size: yes`
        # or `pinned_fraction: true` meant something else. As text, the value fails
        # its field's own check, at its own key (the loader words the message).
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: (
                str(value).lower()
                if isinstance(value, bool)
                and key in fields
                and not _admits_bool(fields[key].annotation, fields[key].metadata)
                else value
            )
            for key, value in data.items()
        }


def _admits_bool(annotation: Any, metadata: Sequence[Any] = ()) -> bool:
    """Whether a field's type takes true/false."""
    # A type with a validator of its own (times, `snapstart: true`) decides.
    if any(
        isinstance(m, BeforeValidator | PlainValidator | WrapValidator)
        for m in metadata
    ):
        return True
    if annotation in (bool, Any, object):
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _admits_bool(args[0], args[1:])
    if origin in (types.UnionType, typing.Union):
        return any(_admits_bool(arg) for arg in args)
    if origin is Literal:
        return any(isinstance(arg, bool) for arg in args)
    return False


class InvocationTypeName(enum.StrEnum):
    """How a workload source invokes its function."""

    SYNC = "sync"
    ASYNC = "async"
    # Messages sent to the target function's SQS queue (its `sqs` block).
    SQS = "sqs"


class ScalingRule(_Strict):
    """How fast new instances may appear (the scale-up rule).

    Attributes:
        rule: ``per-function``: each function gets `burst` new instances at once
            and `refill_per_s` more per second (the rule since 2023-11-26: 1,000
            per 10 s). ``account-legacy``: the rule from 2017 to 2023-11, one
            budget shared by the whole account: a burst of 3,000, 1,000 or 500 by
            Region, then +500 per minute. ``none``: no limit on the rate of new
            instances.
        burst: Bucket size; defaults to the rule's (1,000, or the Region's burst).
        refill_per_s: Refill rate; defaults to the rule's (100/s, or 500/min).
    """

    rule: Literal["per-function", "account-legacy", "none"] = "per-function"
    burst: int | None = Field(default=None, ge=1)
    refill_per_s: float | None = Field(default=None, gt=0)


class AccountSpec(_Strict):
    """Account-wide settings of one Region."""

    region: str = "us-east-1"
    concurrency_limit: int = Field(default=1000, ge=1)
    unreserved_minimum: int = Field(default=100, ge=0)
    scaling: ScalingRule = ScalingRule()
    # Invoke requests per second for the Region; "auto" is AWS's 10 x the
    # concurrency limit, "none" turns the quota off.
    request_rate_quota: Literal["auto", "none"] | Annotated[float, Field(gt=0)] = "auto"

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        # A Region without a price table is priced at us-east-1's (Assumption A-17,
        # with a warning at run time); a string that is no Region name is an error.
        if region in price_table_regions() or region in KNOWN_REGIONS:
            return region
        close = difflib.get_close_matches(region, KNOWN_REGIONS, n=2, cutoff=0.85)
        if close:
            raise ValueError(
                f"{region!r} is not an AWS Region (did you mean "
                f"{' or '.join(map(repr, close))}?)"
            )
        if _REGION_NAME.match(region):
            return region  # a Region newer than KNOWN_REGIONS
        try:
            load_price_table(region)
        except ScenarioError as error:
            raise ValueError(
                "; ".join(error.problems) + "; or an AWS Region name like eu-west-1"
            ) from None
        return region


class DurationSpec(_Strict):
    """Handler duration: a distribution at a reference memory, and how it scales.

    Written inline with the distribution, e.g. ``{kind: lognormal, median: 80ms,
    p99: 600ms, reference_memory_mb: 1024, cpu_fraction: 0.5}``.

    Attributes:
        distribution: Duration at `reference_memory_mb`.
        reference_memory_mb: Memory the distribution was measured at; defaults to
            the function's own memory (no scaling).
        cpu_fraction: Share of the duration that is CPU-bound (0..1). Assumption A-05.
        threads: Threads the handler keeps busy; caps the useful vCPUs.
    """

    distribution: DistributionField
    reference_memory_mb: int | None = Field(
        default=None, ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB
    )
    cpu_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    threads: float = Field(default=1.0, ge=1.0, le=6.0)

    @model_validator(mode="before")
    @classmethod
    def _split_inline(cls, value: Any) -> Any:
        scaling_keys = {"reference_memory_mb", "cpu_fraction", "threads"}
        if isinstance(value, dict) and "distribution" not in value:
            scaling = {k: v for k, v in value.items() if k in scaling_keys}
            rest = {k: v for k, v in value.items() if k not in scaling_keys}
            return {"distribution": rest, **scaling}
        if not isinstance(value, dict):
            return {"distribution": value}
        return value


class InitSpec(_Strict):
    """Init Duration of a cold start: a runtime preset or a distribution.

    Written as a preset name (``init: python3.12``), a time (``init: 400ms``, a
    constant) or a distribution mapping. Omitted, the function's runtime preset is
    used.
    """

    preset: str | None = None
    distribution: DistributionField | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                parse_duration_s(value)
            except ValueError:
                return {"preset": value}
            return {"distribution": value}
        if isinstance(value, int | float):
            return {"distribution": value}
        if isinstance(value, dict) and "kind" in value:
            return {"distribution": value}
        return value

    @model_validator(mode="after")
    def _one_of(self) -> InitSpec:
        if (self.preset is None) == (self.distribution is None):
            raise ValueError("give either a preset name or a distribution, not both")
        return self


# SnapStart Restore Duration when a scenario gives none: Kotlin JVM + SnapStart cold
# starts at 128 MB (meex28/aws-lambda-performance-master-thesis cold-starts.csv, May
# 2025) restored in 0.40-0.77 s, median about 0.64 s; a Java sample (cloudwatch-samples
# S07) in 0.45 s. Assumption A-47.
DEFAULT_RESTORE = LognormalSpec(median=0.6, p99=0.95)
# Billed Restore Duration / Restore Duration: median 0.27 over the same rows
# (0.21-0.37); 83 / 450.46 = 0.18 in S07. Assumption A-46.
DEFAULT_BILLED_RESTORE_FRACTION = 0.27


class SnapStartSpec(_Strict):
    """SnapStart: a cold start restores a snapshot instead of running INIT.

    Written as ``snapstart: true`` for the defaults, or as a mapping. Only as far as
    billing needs it: the restore takes the place of the INIT duration of a cold
    start, and Billed Restore Duration is billed on top of Duration; Python and .NET
    also pay SnapStart cache and restore charges (Java does not).

    Attributes:
        restore: Restore Duration of a cold start (Assumption A-47 for the default).
        billed_restore_fraction: Billed Restore Duration as a share of Restore
            Duration (the runtime load and after-restore hooks; Assumption A-46).
    """

    restore: DistributionField = DEFAULT_RESTORE
    billed_restore_fraction: float = Field(
        default=DEFAULT_BILLED_RESTORE_FRACTION, ge=0.0, le=1.0
    )


def _snapstart_shorthand(value: Any) -> Any:
    if value is True:
        return {}
    if value is False:
        return None
    return value


class _FunctionSettings(_Strict):
    """Settings shared by a declared function and the defaults of trace functions."""

    runtime: str
    package_type: PackageType = PackageType.ZIP
    architecture: Architecture = Architecture.X86_64
    timeout_s: Annotated[
        float, Field(ge=1.0, le=900.0), BeforeValidator(parse_duration_s)
    ] = 3.0
    # /tmp size; the 512 MB included, above it billed per GB-s.
    ephemeral_storage_mb: int = Field(default=512, ge=512, le=10240)
    snapstart: Annotated[
        SnapStartSpec | None, BeforeValidator(_snapstart_shorthand)
    ] = None
    init: InitSpec | None = None
    platform_overhead: DistributionField | None = None
    keep_alive: DistributionField = DEFAULT_KEEP_ALIVE
    max_lifetime: DistributionField | None = DEFAULT_MAX_LIFETIME
    dispatch: DispatchPolicy = DispatchPolicy.MRU
    error_probability: float = Field(default=0.0, ge=0.0, le=1.0)
    crash_probability: float = Field(default=0.0, ge=0.0, le=1.0)
    # Asynchronous invocation config (MaximumEventAgeInSeconds 60-21600 s,
    # MaximumRetryAttempts 0-2).
    async_max_event_age: Annotated[
        float, Field(ge=60.0, le=21600.0), BeforeValidator(parse_duration_s)
    ] = 21600.0
    async_max_retry_attempts: int = Field(default=2, ge=0, le=2)

    @model_validator(mode="after")
    def _known_init(self) -> _FunctionSettings:
        _check_init(self.runtime, self.package_type, self.architecture, self.init)
        if self.snapstart is not None:
            problem = snapstart_problem(self.runtime, self.package_type.value)
            if problem is not None:
                # Reported by cross_check_problems at the snapstart key.
                raise CrossCheckError(problem)
        failure_probability = self.error_probability + self.crash_probability
        if failure_probability > 1.0:
            raise ValueError(
                "error_probability + crash_probability is "
                f"{failure_probability:g}; expected at most 1"
            )
        return self


# Lambda's qualifier syntax: an alias name or a version number.
_QUALIFIER = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _qualifier(value: object) -> object:
    if value == "$LATEST":
        raise ValueError(
            "'$LATEST' is what plain 'function: name' invokes, not a version or "
            "an alias; provisioned concurrency applies only to a version or an "
            "alias, never to $LATEST"
        )
    if isinstance(value, str) and not _QUALIFIER.match(value):
        raise ValueError(
            f"qualifier {value!r} is not an alias name or version number; use 1-128 "
            "letters, digits, '-' or '_'"
        )
    return value


def _version_number(value: object) -> object:
    """A YAML key or item `7` is version 7: Lambda versions are numbers."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return str(value)
    if not isinstance(value, str):
        raise ValueError(
            f"qualifier {yaml_text(value)} is not an alias name or version number; "
            "write an alias name or a version number (1, 2, ...)"
        )
    return value


def yaml_text(value: object) -> str:
    """A scalar as YAML writes it: null, true, false; others as their repr."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


def _qualifier_names(values: Iterable[Any]) -> list[str]:
    """Qualifiers as the schema reads them (version numbers as text), others out."""
    names = []
    for value in values:
        try:
            names.append(str(_version_number(value)))
        except ValueError:
            continue  # reported by the field validators
    return names


Qualifier = Annotated[str, BeforeValidator(_version_number), AfterValidator(_qualifier)]
# PC environments are recycled "every few hours" (AWS Lambda docs); busy
# environments live about 2 h (xebia.com). Assumption A-20.
DEFAULT_RECYCLE_INTERVAL = UniformSpec(low=2 * 3600.0, high=4 * 3600.0)


class ScheduledActionSpec(_Strict):
    """One scheduled change of provisioned concurrency."""

    at: Seconds = Field(ge=0)
    concurrency: int = Field(ge=0)


class TargetTrackingSpec(_Strict):
    """Application Auto Scaling target tracking on PC utilisation."""

    target: float = Field(default=0.7, gt=0.0, le=1.0)
    min: int = Field(ge=1)
    max: int = Field(ge=1)
    scale_out_minutes: int = Field(default=3, ge=1, le=60)
    scale_in_minutes: int = Field(default=15, ge=1, le=60)

    @model_validator(mode="after")
    def _ordered(self) -> TargetTrackingSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class ProvisionedSpec(_Strict):
    """Provisioned concurrency on one qualifier: fixed, scheduled or tracked.

    Written as a number for a fixed allocation (``live: 10``), or as a mapping with
    exactly one of `concurrency`, `schedule` and `target_tracking`.
    """

    concurrency: int | None = Field(default=None, ge=0)
    schedule: list[ScheduledActionSpec] | None = Field(default=None, min_length=1)
    target_tracking: TargetTrackingSpec | None = None
    # "Allocation starts after a minute or two" (LDG-2023); up to 6,000 instances
    # per minute per function (current docs). Assumption A-19.
    allocation_delay: Seconds = Field(default=60.0, ge=0)
    allocation_rate_per_min: float = Field(default=6000.0, gt=0)
    recycle_interval: DistributionField = DEFAULT_RECYCLE_INTERVAL

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"concurrency": value}
        if not isinstance(value, dict):
            raise ValueError(
                "expected a whole number of provisioned instances (>= 0), or a "
                "mapping with one of concurrency, schedule and target_tracking"
            )
        return value

    @field_validator("schedule")
    @classmethod
    def _in_order(
        cls, schedule: list[ScheduledActionSpec] | None
    ) -> list[ScheduledActionSpec] | None:
        times = [action.at for action in schedule or []]
        for position, (earlier, later) in enumerate(itertools.pairwise(times)):
            if later <= earlier:
                raise ValueError(
                    f"schedule times must be strictly increasing; entry "
                    f"{position + 1} at {later:g} s does not come after entry "
                    f"{position} at {earlier:g} s"
                )
        return schedule

    @field_validator("recycle_interval")
    @classmethod
    def _recycle_positive(cls, interval: Any) -> Any:
        # Assumption A-20: a replacement must have time to initialise first.
        if interval.median_s() < 60.0:
            raise ValueError(
                f"recycle_interval has a median of {interval.median_s():g} s; "
                "expected at least 60 s (AWS recycles PC every few hours)"
            )
        return interval

    @model_validator(mode="after")
    def _one_mode(self) -> ProvisionedSpec:
        modes = [
            name
            for name in ("concurrency", "schedule", "target_tracking")
            if getattr(self, name) is not None
        ]
        if len(modes) != 1:
            found = ", ".join(modes) if modes else "none"
            raise ValueError(
                "give exactly one of concurrency, schedule and target_tracking; "
                f"found {found}"
            )
        return self

    @property
    def peak(self) -> int:
        """The most this spec ever allocates."""
        if self.concurrency is not None:
            return self.concurrency
        if self.schedule is not None:
            return max(action.concurrency for action in self.schedule)
        assert self.target_tracking is not None  # one mode is set
        return self.target_tracking.max


# SQS limits (Lambda Developer Guide, "Lambda parameters for Amazon SQS event source
# mappings"; SQS Developer Guide, visibility timeout and redrive policy).
MAX_BATCH_SIZE = 10_000
MAX_UNWINDOWED_BATCH_SIZE = 10
MAX_BATCHING_WINDOW_S = 300.0
MAX_VISIBILITY_TIMEOUT_S = 43_200.0


class SqsSpec(_Strict):
    """An SQS event source mapping: the function's queue and how Lambda polls it.

    Workload sources with ``invocation_type: sqs`` send messages to this queue.

    Attributes:
        batch_size: Most messages per batch (1 to 10,000; above 10 needs a
            batching window of at least 1 s).
        batching_window_s: How long a poller gathers a batch once a message is
            visible (0 to 300 s).
        maximum_concurrency: Most concurrent batches of this mapping (2 to
            1,000); AWS advises not to set it above the reserved concurrency.
        visibility_timeout_s: The queue's visibility timeout (at least the
            function timeout, as Lambda requires; at most 12 h). Defaults to 6 x
            the function timeout plus the batching window, as AWS recommends.
        max_receive_count: The redrive policy's maxReceiveCount (1 to 1,000);
            omitted, the queue has no dead-letter queue.
        poller_scaling: ``current`` (since 2023-11-06: 5 concurrent batches, then
            +300 per minute while messages remain, up to 1,250) or ``legacy``
            (+60 per minute up to 1,000).
        per_message_duration: Handler time added per message of a batch, drawn
            per message; a batch of n runs the function's `duration` plus n
            draws. Omitted, a batch runs for `duration` whatever its size.
    """

    batch_size: int = Field(default=10, ge=1, le=MAX_BATCH_SIZE)
    batching_window_s: Annotated[
        float,
        Field(ge=0.0, le=MAX_BATCHING_WINDOW_S),
        BeforeValidator(parse_duration_s),
    ] = 0.0
    maximum_concurrency: int | None = Field(default=None, ge=2, le=1000)
    visibility_timeout_s: (
        Annotated[
            float,
            Field(ge=0.0, le=MAX_VISIBILITY_TIMEOUT_S),
            BeforeValidator(parse_duration_s),
        ]
        | None
    ) = None
    max_receive_count: int | None = Field(default=None, ge=1, le=1000)
    poller_scaling: Literal["current", "legacy"] = "current"
    per_message_duration: DurationSpec | None = None


class DownstreamRateLimitSpec(_Strict):
    """A downstream API's token bucket that each message's call must pass.

    One call per message of a batch, one token per call. A batch whose call finds
    no token fails (status ``error``) after `failure_duration_s` and is redelivered
    by its queue. Applies to batches of the function's SQS event source mapping.

    Attributes:
        burst: Bucket size: calls possible at once after a quiet period.
        refill_per_s: Tokens added per second.
        failure_duration_s: How long an invocation with a refused call runs.
    """

    burst: int = Field(ge=1)
    refill_per_s: float = Field(gt=0)
    failure_duration_s: Annotated[
        float, Field(ge=0.0, le=900.0), BeforeValidator(parse_duration_s)
    ] = 0.1


class DatabaseUsageSpec(_Strict):
    """How a function's invocations use the scenario's `database`.

    Attributes:
        connect: ``init``: each instance opens its pool during INIT (code outside
            the handler); a refused connection fails the INIT: the invocation ends
            as `db_error` and the instance is reset. ``first_use``: at the first
            query.
        pool_size: Connections each instance opens and holds until it is reaped.
        queries_per_invocation: Queries each invocation runs, one after the other,
            before the rest of its handler (`duration`).
        transaction: All queries of an invocation in one transaction (``true``),
            or each its own (``false``, autocommit). With a proxy, a transaction
            borrows one pooled connection.
        pinned_fraction: Share of proxy client sessions pinned to their database
            connection (prepared statements, ``SET``, temporary tables).
        connect_retries: Further attempts after a refused connection, in INIT
            (``init``) or in the handler (``first_use``, or reconnecting after a
            failover); the waits count against the function timeout.
        connect_retry_delay: Wait before each of those attempts.
    """

    connect: Literal["init", "first_use"] = "init"
    pool_size: int = Field(default=1, ge=1, le=1000)
    queries_per_invocation: int = Field(default=1, ge=0, le=10000)
    transaction: bool = True
    pinned_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    connect_retries: int = Field(default=0, ge=0, le=100)
    connect_retry_delay: PositiveSeconds = 0.1


class FunctionSpec(_FunctionSettings):
    """One Lambda function.

    `qualifiers` lists the aliases or versions that workload sources invoke as
    ``function: name:qualifier`` besides ``$LATEST`` (plain ``name``); each has
    instances of its own. Qualifiers with `provisioned_concurrency` need not be
    listed. PC never applies to ``$LATEST``. `sqs` gives it an SQS queue and event
    source mapping; `downstream_rate_limit` a rate-limited dependency its SQS
    batches call.
    """

    memory_mb: int = Field(default=128, ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)
    reserved_concurrency: int | None = Field(default=None, ge=0)
    duration: DurationSpec
    qualifiers: list[Qualifier] = Field(default_factory=list)
    provisioned_concurrency: dict[Qualifier, ProvisionedSpec] = Field(
        default_factory=dict
    )
    sqs: SqsSpec | None = None
    downstream_rate_limit: DownstreamRateLimitSpec | None = None
    # How its handler uses the scenario's database (None: it does not).
    database: DatabaseUsageSpec | None = None

    @field_validator("qualifiers")
    @classmethod
    def _unique_qualifiers(cls, qualifiers: list[str]) -> list[str]:
        repeated = sorted({q for q in qualifiers if qualifiers.count(q) > 1})
        if repeated:
            raise ValueError(
                f"qualifier {', '.join(map(repr, repeated))} is listed more than once; "
                "list each alias or version once"
            )
        return qualifiers

    @field_validator("provisioned_concurrency", mode="before")
    @classmethod
    def _drop_cleared(cls, value: Any) -> Any:
        # `--set functions.api.provisioned_concurrency.live=null` removes the PC.
        if isinstance(value, dict):
            settings = list(ProvisionedSpec.model_fields)
            for key in value:
                close = difflib.get_close_matches(str(key), settings, n=1, cutoff=0.85)
                if close:
                    # A setting of one qualifier's PC written beside the qualifiers.
                    named = (
                        repr(key)
                        if key == close[0]
                        else f"{key!r} (did you mean {close[0]!r}?)"
                    )
                    raise ValueError(
                        f"{named} is a setting of one qualifier's provisioned "
                        "concurrency, not a qualifier: write it inside the "
                        f"qualifier's mapping, e.g. live: {{concurrency: 10, "
                        f"{close[0]}: ...}}"
                    )
            return {key: spec for key, spec in value.items() if spec is not None}
        return {} if value is None else value

    @property
    def all_qualifiers(self) -> list[str]:
        """Listed qualifiers, then those with PC, each once, in order."""
        return list(dict.fromkeys([*self.qualifiers, *self.provisioned_concurrency]))


def snapstart_problem(runtime: Any, package_type: Any) -> str | None:
    """Say why a function cannot have SnapStart, or None when it can.

    SnapStart exists for zip functions on Java (11+), Python (3.12+) and .NET (8+).
    """
    if package_type != PackageType.ZIP.value:
        return (
            "set on an image function; SnapStart supports zip packages only: remove "
            "snapstart or use package_type: zip"
        )
    if isinstance(runtime, str) and not _has_snapstart(runtime.strip().lower()):
        return (
            f"runtime {runtime!r} has no SnapStart; expected a Java (11+), Python "
            "(3.12+) or .NET (8+) runtime"
        )
    return None


# The first version of each runtime family with SnapStart (AWS Lambda docs,
# "Improving startup performance with Lambda SnapStart").
_SNAPSTART_VERSIONS = (
    (re.compile(r"^java(\d+)"), (11,)),
    (re.compile(r"^python(\d+)\.(\d+)"), (3, 12)),
    (re.compile(r"^dotnet(\d+)"), (8,)),
)


def _has_snapstart(runtime: str) -> bool:
    if "provided" in runtime:
        return False  # custom runtimes (.NET AOT, GraalVM) have no SnapStart
    if runtime in ("java", "python", "dotnet"):
        return True  # a family name: its newest preset
    for pattern, first in _SNAPSTART_VERSIONS:
        found = pattern.match(runtime)
        if found is not None:
            return tuple(int(part) for part in found.groups()) >= first
    return False


def _check_init(
    runtime: str,
    package_type: PackageType,
    architecture: Architecture,
    init: InitSpec | None,
) -> None:
    """Check that an init-duration model exists: a preset, or an explicit one."""
    if init is not None and init.distribution is not None:
        return
    name = init.preset if init is not None and init.preset is not None else runtime
    try:
        find_init_preset(name, package_type.value, architecture.value)
    except ScenarioError as error:
        hint = "" if init is not None else "; or give init as a distribution"
        raise InitPresetError("; ".join(error.problems) + hint) from None


class InitPresetError(ValueError):
    """No init-duration preset fits a function's runtime (or ``init`` name).

    The loader reports these from `cross_check_problems`, located at the runtime or
    init key, so it skips the copy pydantic raises for the whole function.
    """


class FunctionDefaults(_FunctionSettings):
    """Settings applied to every function a trace source creates.

    The trace supplies what it knows (memory, duration percentiles); these fill in
    the rest. `duration` here is used only when the trace has no durations.
    """

    runtime: str = "nodejs22.x"
    memory_mb: int | None = Field(default=None, ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)
    timeout_s: Annotated[
        float, Field(ge=1.0, le=900.0), BeforeValidator(parse_duration_s)
    ] = 900.0
    duration: DurationSpec | None = None


class RetrySpec(_Strict):
    """How a synchronous caller retries throttled (429) attempts.

    The defaults are the AWS SDKs' standard retry mode: 3 attempts in all, waits of
    up to 1 s, 2 s, 4 s ... (capped at 20 s) with full jitter. Written as a mapping,
    or ``retry: sdk`` for these defaults.
    """

    max_attempts: int = Field(default=3, ge=1, le=100)
    base_delay: PositiveSeconds = 1.0
    max_delay: PositiveSeconds = 20.0
    jitter: Literal["full", "none"] = "full"

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        if value == "sdk":
            return {}
        if isinstance(value, str):
            raise ValueError(
                f"{value!r} is not a retry policy; expected 'sdk' or a mapping"
            )
        return value


class _Source(_Strict):
    name: str | None = None


class _CallerSettings(_Strict):
    invocation_type: InvocationTypeName = InvocationTypeName.SYNC
    # The caller: retries of throttles, and how long it waits (API Gateway: 29 s).
    retry: RetrySpec | None = None
    upstream_timeout: PositiveSeconds | None = None

    @model_validator(mode="after")
    def _sync_only(self) -> _CallerSettings:
        is_sync = self.invocation_type is InvocationTypeName.SYNC
        if not is_sync and (
            self.retry is not None or self.upstream_timeout is not None
        ):
            why = (
                "an async caller gets its 202 at once and Lambda retries the event "
                "itself"
                if self.invocation_type is InvocationTypeName.ASYNC
                else "a message sent to SQS is retried by its queue"
            )
            raise ValueError(
                "retry and upstream_timeout describe a synchronous caller; "
                f"{why}: remove them or use invocation_type: sync"
            )
        return self


class _TargetedSource(_Source, _CallerSettings):
    function: str


class PoissonSpec(_TargetedSource):
    """Poisson arrivals at a constant rate."""

    type: Literal["poisson"]
    rate_per_s: float = Field(ge=0)
    start: Seconds = 0.0


class PiecewiseSpec(_TargetedSource):
    """Poisson arrivals whose rate steps or ramps through (time, rate) points."""

    type: Literal["piecewise"]
    shape: Literal["step", "linear"] = "step"
    points: list[tuple[Seconds, Annotated[float, Field(ge=0)]]] = Field(min_length=1)

    @field_validator("points")
    @classmethod
    def _sorted(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        times = [t for t, _ in points]
        if times != sorted(times):
            raise ValueError("points must be in increasing time order")
        return points


class SineSpec(_TargetedSource):
    """Poisson arrivals with a sinusoidal (daily by default) rate."""

    type: Literal["sine"]
    mean_rate_per_s: float = Field(ge=0)
    amplitude_per_s: float = Field(ge=0)
    period: PositiveSeconds = 86400.0
    phase: Seconds = 0.0


class BurstSpec(_TargetedSource):
    """`count` requests at once, or spread uniformly over `window`."""

    type: Literal["burst"]
    at: Seconds
    count: int = Field(ge=1)
    window: Seconds = 0.0


class ReplaySpec(_Source, _CallerSettings):
    """Replay a CSV or Parquet file with a timestamp column."""

    type: Literal["replay"]
    path: str
    time_column: str = "timestamp"
    time_unit: Literal["s", "ms"] = "s"
    function_column: str | None = None
    duration_column: str | None = None
    duration_unit: Literal["s", "ms"] = "s"
    function: str | None = None


class Azure2019Spec(_Source):
    """Replay the Azure Functions 2019 per-minute counts (one function per row)."""

    type: Literal["azure2019"]
    path: str
    function_defaults: FunctionDefaults = FunctionDefaults()


class Azure2021Spec(_Source):
    """Replay the Azure Functions 2021 per-invocation trace."""

    type: Literal["azure2021"]
    path: str
    function_defaults: FunctionDefaults = FunctionDefaults()


SourceSpec = Annotated[
    PoissonSpec
    | PiecewiseSpec
    | SineSpec
    | BurstSpec
    | ReplaySpec
    | Azure2019Spec
    | Azure2021Spec,
    Field(discriminator="type"),
]

SOURCE_TYPES = (
    "poisson",
    "piecewise",
    "sine",
    "burst",
    "replay",
    "azure2019",
    "azure2021",
)


class BillingSpec(_Strict):
    """How a run is billed, besides the `billing_date` whose rules apply.

    Attributes:
        free_tier: Apply Lambda's monthly free tier (1 M requests, 400,000 GB-s).
            It is per account: turn it off when other functions use it up.
        project_to_month: Project a run to a 730-hour month before volume tiers
            and the free tier apply (Assumption A-40); off, the run is taken as the
            month's whole usage.
        price_table: A price table file of your own (JSON, the format of
            lambdasim/prices/us-east-1.json), e.g. with negotiated prices; relative
            to the scenario file. Default: the package's table for the Region.
    """

    free_tier: bool = True
    project_to_month: bool = True
    price_table: str | None = None


_ENGINE_NAMES = {"mysql": "MySQL", "postgres": "PostgreSQL"}


class DatabaseSpec(_Strict):
    """The database behind the functions (one RDS or Aurora instance, the writer).

    Attributes:
        engine: ``postgres`` or ``mysql``.
        service: ``rds``, ``aurora`` or ``aurora-serverless-v2``.
        instance_class: e.g. ``db.t3.micro`` (the default), ``db.r6g.large``: gives
            the vCPUs and the default `max_connections` (the engine's formula on
            the class's memory). Not for Aurora Serverless v2.
        min_acu: Aurora Serverless v2 minimum capacity (0.5 to 256 ACU, in steps
            of 0.5; default 0.5).
        max_acu: Aurora Serverless v2 maximum capacity (1 to 256 ACU, in steps of
            0.5; required): gives `max_connections` and the vCPUs.
        max_connections: Set explicitly instead of the engine's default.
        reserved_connections: Slots applications cannot use; defaults to
            PostgreSQL's `superuser_reserved_connections` (3), 0 for MySQL.
        vcpus: vCPUs that serve queries; defaults to the class's.
        query_time: Time one query takes on an unloaded database (required: it
            depends on the application; take it from pg_stat_statements or
            Performance Insights). Queries share the vCPUs (processor sharing), so
            past `vcpus` queries in flight each one slows down (Assumption A-52).
        usd_per_hour: The instance's price per hour, to report what the database
            costs beside Lambda's bill; lambdasim ships no RDS instance prices
            (they vary by engine, class, Region and Multi-AZ), so none by default.
    """

    engine: Literal["postgres", "mysql"] = "postgres"
    service: Literal["rds", "aurora", "aurora-serverless-v2"] = "rds"
    instance_class: str | None = None
    min_acu: float | None = Field(default=None, ge=ACU_STEP, le=MAX_ACU)
    max_acu: float | None = Field(default=None, ge=1.0, le=MAX_ACU)
    max_connections: int | None = Field(default=None, ge=1, le=262143)
    reserved_connections: int | None = Field(default=None, ge=0)
    vcpus: float | None = Field(default=None, gt=0, le=256)
    query_time: DistributionField
    usd_per_hour: float | None = Field(default=None, ge=0.0)

    @field_validator("instance_class")
    @classmethod
    def _known_class(cls, name: str | None) -> str | None:
        if name == "db.serverless":
            raise ValueError(
                "db.serverless is Aurora Serverless v2's class: use service: "
                "aurora-serverless-v2 with min_acu and max_acu instead"
            )
        if name is not None and not name.startswith("db."):
            try:
                instance_class(f"db.{name}")
            except ValueError:
                pass
            else:
                raise ValueError(
                    f"unknown instance class {name!r} (did you mean 'db.{name}'?)"
                )
        if name is not None:
            instance_class(name)  # raises ValueError with the classes it knows
        return name

    @field_validator("min_acu", "max_acu")
    @classmethod
    def _in_steps(cls, acu: float | None) -> float | None:
        if acu is not None and not float(acu / ACU_STEP).is_integer():
            raise ValueError(
                f"{acu:g} ACU is not a multiple of {ACU_STEP:g}; Aurora Serverless v2 "
                "capacity moves in steps of 0.5 ACU"
            )
        return acu

    @model_validator(mode="after")
    def _sized_once(self) -> DatabaseSpec:
        if not self.is_serverless:
            if self.min_acu is not None or self.max_acu is not None:
                raise ValueError(
                    f"min_acu and max_acu are for service: aurora-serverless-v2; a "
                    f"{self.service} database's size is its instance_class"
                )
            if self.service == "aurora":
                self._check_aurora_class()
            return self
        if self.instance_class is not None:
            raise ValueError(
                f"instance_class {self.instance_class!r} is set on an "
                "aurora-serverless-v2 database, whose size is min_acu to max_acu; "
                "remove instance_class, or use service: aurora"
            )
        if self.max_acu is None:
            raise ValueError(
                "an aurora-serverless-v2 database needs max_acu (1 to 256 ACU, in "
                "steps of 0.5)"
            )
        if self.capacity_min_acu > self.max_acu:
            raise ValueError(
                f"min_acu ({self.capacity_min_acu:g}) is above max_acu "
                f"({self.max_acu:g})"
            )
        if self.usd_per_hour is not None:
            raise ValueError(
                "usd_per_hour is set on an aurora-serverless-v2 database, which is "
                "priced per ACU-hour from the price table; remove usd_per_hour"
            )
        return self

    def _check_aurora_class(self) -> None:
        """Aurora offers no micro classes (nor small ones for PostgreSQL)."""
        smallest = "db.t3.medium" if self.engine == "postgres" else "db.t3.small"
        if self.engine == "mysql" and (self.max_connections or 0) > 16000:
            raise ValueError(
                f"max_connections {self.max_connections} is above Aurora MySQL's "
                "maximum of 16000"
            )
        if self.instance_class is None:
            if self.max_connections is None or self.vcpus is None:
                raise ValueError(
                    "an aurora database needs instance_class (the db.t3.micro "
                    f"default is not an Aurora class; the smallest is {smallest}, "
                    "e.g. db.r6g.large), or max_connections and vcpus"
                )
            return
        size = self.instance_class.rsplit(".", 1)[-1]
        if size == "micro" or (self.engine == "postgres" and size == "small"):
            raise ValueError(
                f"instance_class {self.instance_class!r} is not offered by Aurora "
                f"{_ENGINE_NAMES[self.engine]}; the smallest class is {smallest}"
            )

    @property
    def is_serverless(self) -> bool:
        """Whether this is an Aurora Serverless v2 writer."""
        return self.service == "aurora-serverless-v2"

    @property
    def class_name(self) -> str:
        """The instance class of a provisioned instance (``db.t3.micro`` if unset)."""
        return self.instance_class or "db.t3.micro"

    @property
    def capacity_min_acu(self) -> float:
        """Aurora Serverless v2 minimum capacity (0.5 ACU if unset)."""
        return self.min_acu if self.min_acu is not None else ACU_STEP

    @property
    def effective_max_connections(self) -> int:
        """`max_connections` as set, or the engine's default for the size."""
        if self.max_connections is not None:
            return self.max_connections
        if self.is_serverless:
            assert self.max_acu is not None  # checked above
            return serverless_v2_max_connections(
                self.engine, self.capacity_min_acu, self.max_acu
            )
        cls = instance_class(self.class_name)
        return default_max_connections(self.engine, self.service, cls)

    @property
    def effective_reserved_connections(self) -> int:
        """Slots the functions cannot use, as set or the engine's default (A-55)."""
        if self.reserved_connections is not None:
            return self.reserved_connections
        return RESERVED_CONNECTIONS[self.engine]

    @property
    def effective_vcpus(self) -> float:
        """VCPUs serving queries, as set or the size's (Serverless v2: A-62)."""
        if self.vcpus is not None:
            return self.vcpus
        if self.is_serverless:
            assert self.max_acu is not None  # checked above
            return self.max_acu * VCPUS_PER_ACU
        return float(instance_class(self.class_name).vcpus)


class ProxySpec(_Strict):
    """RDS Proxy in front of the database; every function with a `database` uses it.

    Attributes:
        max_connections_percent: Pool cap, % of the database's `max_connections`.
        max_idle_connections_percent: Idle pooled connections kept, % of
            `max_connections`; default half of `max_connections_percent`.
        reserved_connections: Connections kept out of the cap by the proxy
            (monitoring, failover); AWS gives no number (Assumption A-57).
        connection_borrow_timeout: Longest wait for a pooled connection.
        idle_client_timeout: Idle time after which a client connection is closed.
        query_latency: Time the proxy adds to each query (Assumption A-58).
        failover_reduction: Share of a failover's outage the proxy saves
            (Assumption A-59; AWS: "up to 66%").
    """

    max_connections_percent: float = Field(default=100.0, ge=1.0, le=100.0)
    max_idle_connections_percent: float | None = Field(default=None, ge=0.0, le=100.0)
    reserved_connections: int = Field(default=0, ge=0)
    connection_borrow_timeout: Annotated[
        float, Field(ge=1.0, le=3600.0), BeforeValidator(parse_duration_s)
    ] = 120.0
    idle_client_timeout: Annotated[
        float, Field(ge=1.0, le=28800.0), BeforeValidator(parse_duration_s)
    ] = 1800.0
    query_latency: Seconds = 0.001
    failover_reduction: float = Field(default=0.66, ge=0.0, le=1.0)


class DatabaseFailoverSpec(_Strict):
    """The database's writer fails over at `at`.

    Clients that connect directly lose their connections and cannot reconnect for
    `duration` (detection, promotion, DNS propagation); with a proxy, transactions
    in flight fail, client connections survive and new transactions wait for
    `duration x (1 - proxy.failover_reduction)`.
    """

    type: Literal["database_failover"]
    at: Seconds
    duration: PositiveSeconds = 30.0


EventSpec = Annotated[DatabaseFailoverSpec, Field(discriminator="type")]
EVENT_TYPES = ("database_failover",)


class Scenario(_Strict):
    """A whole scenario: account, functions and the traffic aimed at them."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    seed: int = Field(default=0, ge=0)
    horizon: PositiveSeconds
    billing_date: datetime.date = Field(default_factory=datetime.date.today)
    billing: BillingSpec = BillingSpec()
    timeseries_step: PositiveSeconds = 60.0
    account: AccountSpec = AccountSpec()
    functions: dict[str, FunctionSpec] = Field(default_factory=dict)
    workload: list[SourceSpec] = Field(min_length=1)
    # The database behind the functions, the proxy in front of it, and events
    # such as its failovers.
    database: DatabaseSpec | None = None
    proxy: ProxySpec | None = None
    events: list[EventSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        problems = cross_check_problems(self.model_dump(mode="python"))
        if problems:
            raise CrossCheckError("; ".join(message for _, message in problems))
        return self


class CrossCheckError(ValueError):
    """Fields that are valid one by one do not fit together.

    The loader reports these from `cross_check_problems` (one line each, at the key
    concerned), so it skips the combined copy pydantic raises for the whole scenario.
    """


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# Reports put account-wide totals under this name.
RESERVED_NAME = "total"


Problem = tuple[tuple[str | int, ...], str]


def cross_check_problems(raw: Any) -> list[Problem]:
    """Return (key path, message) for problems that involve more than one field.

    Works on the raw scenario data as well as on a validated scenario's dump, so the
    loader can report these together with field errors.
    """
    if not isinstance(raw, dict):
        return []
    functions: dict[str, Any] = _mapping(raw.get("functions"))
    workload = raw["workload"] if isinstance(raw.get("workload"), list) else []
    problems: list[Problem] = [
        (
            ("functions", name),
            f"functions.{name}: the name {RESERVED_NAME!r} is "
            "reserved for the totals in reports; rename the function",
        )
        for name in functions
        if name == RESERVED_NAME
    ]
    problems += _reservation_problems(functions, _mapping(raw.get("account")))
    problems += _provisioned_problems(functions, _mapping(raw.get("account")))
    problems += _connection_problems(raw.get("database"), raw.get("proxy"))
    for name, spec in functions.items():
        problems += _init_problems(("functions", name), spec, default_runtime=None)
        problems += _snapstart_problems(("functions", name), spec, None)
    for index, source in enumerate(workload):
        if isinstance(source, dict) and "function_defaults" in source:
            key = ("workload", index, "function_defaults")
            defaults = source["function_defaults"]
            runtime = FunctionDefaults().runtime
            problems += _init_problems(key, defaults, default_runtime=runtime)
            problems += _snapstart_problems(key, defaults, runtime)
    problems += _target_problems(functions, workload)
    problems += _time_problems(raw)
    problems += _sqs_problems(functions, workload)
    problems += _database_problems(raw, functions)
    return problems


def _database_problems(raw: dict[str, Any], functions: dict[str, Any]) -> list[Problem]:
    """A database usage, a proxy or a failover needs a `database` block."""
    if raw.get("database") is not None:
        return []
    hint = "; add a top-level 'database' block (engine, instance_class, query_time)"
    problems: list[Problem] = [
        (
            ("functions", name, "database"),
            f"functions.{name}.database is set but the scenario has no database{hint}",
        )
        for name, spec in functions.items()
        if isinstance(spec, dict) and spec.get("database") is not None
    ]
    if raw.get("proxy") is not None:
        problems.append(
            (("proxy",), f"proxy is set but the scenario has no database{hint}")
        )
    events = raw["events"] if isinstance(raw.get("events"), list) else []
    for index, event in enumerate(events):
        if isinstance(event, dict) and event.get("type") == "database_failover":
            problems.append(
                (
                    ("events", index),
                    f"events[{index}] is a database_failover but the scenario has "
                    f"no database{hint}",
                )
            )
    return problems


def _connection_problems(database: Any, proxy: Any) -> list[Problem]:
    """A database and proxy must leave the functions some connections."""
    try:
        spec = DatabaseSpec.model_validate(database)
        proxy_spec = ProxySpec.model_validate(proxy) if proxy is not None else None
    except (ValidationError, ValueError):
        return []  # not a valid block: its own errors say why
    maximum = spec.effective_max_connections
    reserved = spec.effective_reserved_connections
    if reserved >= maximum:
        key = "reserved_connections" if spec.reserved_connections else "max_connections"
        return [
            (
                ("database", key),
                f"database: max_connections {maximum} minus reserved_connections "
                f"{reserved} leaves the functions no connection; expected "
                f"max_connections above reserved_connections ({spec.engine} reserves "
                f"{RESERVED_CONNECTIONS[spec.engine]} by default)",
            )
        ]
    if proxy_spec is None:
        return []
    problems: list[Problem] = []
    percent = proxy_spec.max_connections_percent
    share = math.floor(maximum * percent / 100)
    if share - proxy_spec.reserved_connections <= 0:
        problems.append(
            (
                (
                    "proxy",
                    "reserved_connections"
                    if proxy_spec.reserved_connections
                    else "max_connections_percent",
                ),
                f"proxy: {percent:g} % of max_connections {maximum} is {share}, minus "
                f"reserved_connections {proxy_spec.reserved_connections} leaves the "
                "proxy no database connection; raise max_connections_percent or lower "
                "proxy.reserved_connections",
            )
        )
    idle = proxy_spec.max_idle_connections_percent
    if idle is not None and idle > percent:
        problems.append(
            (
                ("proxy", "max_idle_connections_percent"),
                f"proxy.max_idle_connections_percent ({idle:g}) is above "
                f"max_connections_percent ({percent:g}); RDS Proxy caps it there: "
                f"expected at most {percent:g}",
            )
        )
    return problems


def _reservation_problems(
    functions: dict[str, Any], account: dict[str, Any]
) -> list[Problem]:
    """Reservations may not eat into the unreserved minimum."""
    reserved = {
        name: spec["reserved_concurrency"]
        for name, spec in functions.items()
        if isinstance(spec, dict) and _int_or(spec.get("reserved_concurrency"), -1) >= 0
    }
    limit = _int_or(account.get("concurrency_limit"), 1000)
    minimum = _int_or(account.get("unreserved_minimum"), 100)
    total = sum(reserved.values())
    if minimum > limit:
        return [
            (
                ("account", "unreserved_minimum"),
                f"account.unreserved_minimum is {minimum}; expected at most "
                f"account.concurrency_limit ({limit})",
            )
        ]
    if total <= limit - minimum:
        return []
    listed = ", ".join(f"{name}={value}" for name, value in reserved.items())
    # Placed at the largest reservation: the likeliest one to lower.
    largest = max(reserved, key=reserved.__getitem__)
    return [
        (
            ("functions", largest, "reserved_concurrency"),
            f"functions: reserved_concurrency adds up to {total} ({listed}); "
            f"at most {limit - minimum} may be reserved (account.concurrency_limit "
            f"{limit} minus account.unreserved_minimum {minimum})",
        )
    ]


def _target_problems(functions: dict[str, Any], workload: list[Any]) -> list[Problem]:
    """Every source aims at a function (and qualifier) the scenario defines."""
    known = ", ".join(sorted(functions)) or "none"
    problems: list[Problem] = []
    for index, source in enumerate(workload):
        target = source.get("function") if isinstance(source, dict) else None
        if not isinstance(target, str):
            continue
        name, _, qualifier = target.partition(":")
        if name not in functions:
            problems.append(
                (
                    ("workload", index, "function"),
                    f"workload[{index}].function is {target!r}; expected one of the "
                    f"functions defined under 'functions': {known}",
                )
            )
            continue
        qualifiers = _declared_qualifiers(functions[name])
        if target.endswith(":"):
            problems.append(
                (
                    ("workload", index, "function"),
                    f"workload[{index}].function is {target!r}: nothing after ':'; "
                    f"write {name!r} for $LATEST or '{name}:ALIAS' for an alias",
                )
            )
        elif qualifier and qualifier != "$LATEST" and qualifier not in qualifiers:
            listed = ", ".join(qualifiers) or "none declared"
            close = difflib.get_close_matches(qualifier, qualifiers, n=1)
            hint = f"did you mean '{name}:{close[0]}'? " if close else ""
            problems.append(
                (
                    ("workload", index, "function"),
                    f"workload[{index}].function is {target!r}, but {name!r} has no "
                    f"qualifier {qualifier!r} (qualifiers: {listed}); {hint}add it "
                    f"to functions.{name}.qualifiers or give it "
                    "provisioned_concurrency",
                )
            )
    return problems


def _declared_qualifiers(spec: Any) -> list[str]:
    if not isinstance(spec, dict):
        return []
    listed = spec.get("qualifiers")
    names = _qualifier_names(listed) if isinstance(listed, list) else []
    names += _qualifier_names(_mapping(spec.get("provisioned_concurrency")))
    return [name for name in dict.fromkeys(names) if name != "$LATEST"]


def _provisioned_peaks(spec: Any) -> dict[str, int]:
    """Qualifier -> the most PC it is ever given, for well-formed entries only."""
    peaks: dict[str, int] = {}
    for qualifier, value in _mapping(
        _mapping(spec).get("provisioned_concurrency")
    ).items():
        names = _qualifier_names([qualifier])
        try:
            if names:
                peaks[names[0]] = ProvisionedSpec.model_validate(value).peak
        except ValueError:
            continue  # reported by the field validators
    return peaks


def _provisioned_problems(
    functions: dict[str, Any], account: dict[str, Any]
) -> list[Problem]:
    """PC fits in the reservation, and in the account beside the reservations.

    AWS: PC counts against the function's reserved concurrency (it may not exceed
    it), or else against the account's unreserved concurrency, of which
    `unreserved_minimum` must stay free.
    """
    problems: list[Problem] = []
    unreserved_pc = 0
    for name, spec in functions.items():
        peaks = _provisioned_peaks(spec)
        total = sum(peaks.values())
        reserved = _int_or(_mapping(spec).get("reserved_concurrency"), -1)
        if reserved < 0:
            unreserved_pc += total
        elif total > reserved:
            problems.append(
                (
                    ("functions", name, "provisioned_concurrency"),
                    f"functions.{name}: provisioned concurrency adds up to {total} "
                    f"at its peak, above its reserved_concurrency {reserved}; PC "
                    "counts against the reservation and may not exceed it",
                )
            )
    reserved_total = sum(
        max(0, _int_or(_mapping(spec).get("reserved_concurrency"), 0))
        for spec in functions.values()
    )
    limit = _int_or(account.get("concurrency_limit"), 1000)
    minimum = _int_or(account.get("unreserved_minimum"), 100)
    if unreserved_pc and reserved_total + unreserved_pc > limit - minimum:
        problems.append(
            (
                ("functions",),
                f"functions: provisioned concurrency of functions without a "
                f"reservation peaks at {unreserved_pc}; with {reserved_total} "
                f"reserved, at most {limit - minimum - reserved_total} fits "
                f"(account.concurrency_limit {limit} minus "
                f"account.unreserved_minimum {minimum})",
            )
        )
    return problems


# More steps than this make a time series of millions of rows per function.
MAX_TIMESERIES_STEPS = 1_000_000


def _seconds_or_none(value: Any, default: float | None = None) -> float | None:
    if value is None:
        return default
    try:
        return parse_duration_s(value)
    except ValueError:
        return None


# A run holds every invocation in memory: about 500 bytes each at peak with the bill
# (the Azure sample: 3M invocations in 1.4 GB), so 10^8 need about 50 GB.
MAX_EXPECTED_ARRIVALS = 100_000_000


def expected_arrivals(source: Any, horizon_s: float) -> float | None:
    """Mean number of arrivals of a synthetic source in [0, horizon_s), or None.

    None for traces, whose size is only known once read.
    """
    if isinstance(source, PoissonSpec):
        return source.rate_per_s * horizon_s
    if isinstance(source, SineSpec):
        return source.mean_rate_per_s * horizon_s
    if isinstance(source, BurstSpec):
        return float(source.count)
    if isinstance(source, PiecewiseSpec):
        try:
            rate = PiecewiseRateSource(0, source.points, source.shape)
        except ScenarioError:
            return None  # points the source refuses: its own error says why
        return rate.expected_count(horizon_s)
    return None


def _time_problems(raw: dict[str, Any]) -> list[Problem]:
    """Times that are valid alone but make no sense against the horizon.

    A source with no arrival before the horizon (a burst after it, say) is not an
    error: shortening the horizon of a shipped scenario is a common quick look. The
    run warns about it instead.
    """
    problems: list[Problem] = []
    horizon_s = _seconds_or_none(raw.get("horizon"))
    step_s = _seconds_or_none(raw.get("timeseries_step"), default=60.0)
    if not horizon_s:
        return problems
    if step_s and horizon_s / step_s > MAX_TIMESERIES_STEPS:
        problems.append(
            (
                ("timeseries_step",),
                f"timeseries_step of {step_s:g} s cuts the horizon of {horizon_s:g} s "
                f"into {horizon_s / step_s:,.0f} steps; at most "
                f"{MAX_TIMESERIES_STEPS:,}: raise timeseries_step",
            )
        )
    return problems


def _snapstart_problems(
    key: tuple[str | int, ...], spec: Any, default_runtime: str | None
) -> list[Problem]:
    """SnapStart only where Lambda offers it (checked on raw data, at its key)."""
    if not isinstance(spec, dict) or spec.get("snapstart") in (None, False):
        return []
    runtime = spec.get("runtime", default_runtime)
    problem = snapstart_problem(
        runtime, spec.get("package_type", PackageType.ZIP.value)
    )
    problems = []
    if problem is not None:
        problems.append(
            ((*key, "snapstart"), _init_message(key, "snapstart", [problem], ""))
        )
    # AWS: SnapStart does not support provisioned concurrency, nor ephemeral
    # storage above 512 MB (Lambda docs, SnapStart's supported features).
    unsupported = []
    if spec.get("provisioned_concurrency"):
        unsupported.append(
            "set with provisioned_concurrency, which Lambda does not support "
            "together with SnapStart: remove one"
        )
    storage = spec.get("ephemeral_storage_mb")
    if isinstance(storage, int) and not isinstance(storage, bool) and storage > 512:
        unsupported.append(
            f"set with ephemeral_storage_mb {storage}; SnapStart supports only the "
            "default 512 MB of /tmp"
        )
    problems += [
        ((*key, "snapstart"), _init_message(key, "snapstart", [text], ""))
        for text in unsupported
    ]
    return problems


def _init_problems(
    key: tuple[str | int, ...], spec: Any, default_runtime: str | None
) -> list[Problem]:
    """Check the raw runtime (or init preset name) of one function against presets.

    Runs on raw data so that an unknown runtime is reported even when other fields
    of the same function are invalid too (pydantic skips model validators then).
    Values of the wrong type are left to the field validators.
    """
    if not isinstance(spec, dict):
        return []
    runtime = spec.get("runtime", default_runtime)
    package_type = spec.get("package_type", PackageType.ZIP.value)
    architecture = spec.get("architecture", Architecture.X86_64.value)
    if package_type not in {p.value for p in PackageType}:
        return []
    if architecture not in {a.value for a in Architecture}:
        return []
    init = spec.get("init")
    if init is None:
        field, name, hint = "runtime", runtime, "; or give init as a distribution"
    elif isinstance(init, str) and not _is_duration(init):
        field, name, hint = "init", init, ""
    elif isinstance(init, dict) and set(init) == {"preset"}:
        field, name, hint = "init", init["preset"], ""
    else:
        return []
    if not isinstance(name, str):
        return []
    try:
        find_init_preset(name, package_type, architecture)
    except ScenarioError as error:
        return [((*key, field), _init_message(key, field, error.problems, hint))]
    return []


def _init_message(
    key: tuple[str | int, ...], field: str, found: list[str], hint: str
) -> str:
    where = ""
    for part in (*key, field):
        where += (
            f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
        )
    return f"{where}: " + "; ".join(found) + hint


def _is_duration(text: str) -> bool:
    try:
        parse_duration_s(text)
    except ValueError:
        return False
    return True


def _sqs_problems(functions: dict[str, Any], workload: list[Any]) -> list[Problem]:
    """SQS settings that do not fit together or with their function and sources."""
    problems: list[Problem] = []
    for name, spec in functions.items():
        if isinstance(spec, dict):
            problems += _mapping_problems(name, spec)
    for index, source in enumerate(workload):
        if isinstance(source, dict) and source.get("invocation_type") == "sqs":
            problems += _sqs_source_problems(index, source, functions)
    return problems


def _mapping_problems(name: str, spec: dict[str, Any]) -> list[Problem]:
    """Batch size against window, visibility timeout against function timeout."""
    sqs = spec.get("sqs")
    key = ("functions", name)
    if sqs is None:
        if spec.get("downstream_rate_limit") is not None:
            return [
                (
                    (*key, "downstream_rate_limit"),
                    f"functions.{name}.downstream_rate_limit applies to the batches "
                    "of an SQS event source mapping, and the function has none: add "
                    "an 'sqs' block or remove it",
                )
            ]
        return []
    if not isinstance(sqs, dict):
        return []
    problems: list[Problem] = []
    where = f"functions.{name}.sqs"
    batch_size = _int_or(sqs.get("batch_size"), 10)
    window_s = _seconds_or_none(sqs.get("batching_window_s"), default=0.0)
    if (
        MAX_UNWINDOWED_BATCH_SIZE < batch_size <= MAX_BATCH_SIZE
        and window_s is not None
        and window_s < 1.0
    ):
        problems.append(
            (
                (*key, "sqs", "batch_size"),
                f"{where}.batch_size is {batch_size}; a batch size above "
                f"{MAX_UNWINDOWED_BATCH_SIZE} needs batching_window_s of at least "
                f"1 s (found {window_s:g} s): set batching_window_s or lower "
                "batch_size",
            )
        )
    visibility_s = _seconds_or_none(sqs.get("visibility_timeout_s"))
    timeout_s = _seconds_or_none(spec.get("timeout_s"), default=3.0)
    if visibility_s is not None and timeout_s is not None and visibility_s < timeout_s:
        problems.append(
            (
                (*key, "sqs", "visibility_timeout_s"),
                f"{where}.visibility_timeout_s is {visibility_s:g} s; Lambda refuses "
                f"a queue whose visibility timeout is below the function timeout "
                f"(timeout_s {timeout_s:g} s); AWS advises 6 x the timeout",
            )
        )
    return problems


def _sqs_source_problems(
    index: int, source: dict[str, Any], functions: dict[str, Any]
) -> list[Problem]:
    """A source sending to SQS names one function, which has a queue."""
    where = f"workload[{index}]"
    target = source.get("function")
    if source.get("function_column") is not None or source.get("duration_column"):
        return [
            (
                ("workload", index, "invocation_type"),
                f"{where}: invocation_type sqs sends every row to the queue of "
                "'function'; function_column and duration_column are not supported "
                "with it",
            )
        ]
    spec = functions.get(target) if isinstance(target, str) else None
    if isinstance(spec, dict) and spec.get("sqs") is None:
        return [
            (
                ("workload", index, "invocation_type"),
                f"{where}.invocation_type is 'sqs', but function {target!r} has no "
                f"SQS queue: add an 'sqs' block to functions.{target}",
            )
        ]
    return []
