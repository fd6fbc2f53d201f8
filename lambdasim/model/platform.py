"""The Lambda platform: account limits, functions, their instances and warm pools.

This module holds state and the O(1) operations on it; `simulation.py` drives it with
SimPy events. Concurrency is the number of instances that are initialising or busy;
idle instances do not count (AWS Lambda docs, "Lambda function scaling").
"""

from __future__ import annotations

import enum
import heapq
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from lambdasim.distributions import BlockSampler, UniformSpec
from lambdasim.model.config import (
    AccountConfig,
    DispatchPolicy,
    FunctionConfig,
    ScaleUpRule,
)

if TYPE_CHECKING:
    from lambdasim.model.provisioned import ProvisionedConcurrency


class InstanceState(enum.IntEnum):
    """Lifecycle of an execution environment."""

    INITIALISING = 0
    BUSY = 1
    IDLE = 2
    REAPED = 3


_IDLE = InstanceState.IDLE
# Draws in [0, 1): failures, where they strike, and retry jitter.
UNIT_UNIFORM = UniformSpec(low=0.0, high=1.0).sampler()


class Instance:
    """One execution environment of one function.

    Attributes:
        id: Run-wide instance number, in order of creation.
        function: The function it belongs to.
        state: Current `InstanceState`.
        created_s: When the cold start that created it began.
        ready_s: When its first INIT finished (NaN until then).
        reap_at_s: While idle: when its keep-alive runs out.
        retire_at_s: When it reaches its maximum lifetime (inf without a cap).
        needs_init: True until its first INIT, and after a timeout or crash reset:
            the next invocation on it runs INIT (after a reset, inside the invoke).
        is_broken: Its INIT never completed within the limits: it is reaped when
            the invocation that tried ends.
        reap_timer_s: When its effective reap-check event fires (inf if none).
        invocations: Invocations it has served (or is serving).
        init_s: Length of its INIT phase at creation (0 until it ran).
        is_provisioned: It is a provisioned-concurrency instance.
        is_retiring: A PC instance being replaced: it leaves once idle.
    """

    __slots__ = (
        "id",
        "function",
        "state",
        "created_s",
        "ready_s",
        "reap_at_s",
        "retire_at_s",
        "needs_init",
        "is_broken",
        "reap_timer_s",
        "invocations",
        "init_s",
        "is_provisioned",
        "is_retiring",
    )

    def __init__(
        self, instance_id: int, function: Function, now_s: float, retire_at_s: float
    ) -> None:
        self.id = instance_id
        self.function = function
        self.state = InstanceState.INITIALISING
        self.created_s = now_s
        self.ready_s = math.nan
        self.reap_at_s = math.inf
        self.retire_at_s = retire_at_s
        self.needs_init = True
        self.is_broken = False
        self.reap_timer_s = math.inf
        self.invocations = 0
        self.init_s = 0.0
        self.is_provisioned = False
        self.is_retiring = False


class WarmPool:
    """Idle instances of one function, ordered by the dispatch policy.

    Removal of reaped instances is lazy: a reaped instance stays in the container
    until it is popped (and skipped) or a compaction drops it, so reaping never scans
    the pool. Compaction runs when stale entries outnumber live ones, which keeps the
    container within twice the number of idle instances at amortised O(1) per reap.
    The policy picks the container and its push and pop once, at construction.
    """

    __slots__ = (
        "policy",
        "_stack",
        "_queue",
        "_heap",
        "_rng",
        "idle",
        "_stale",
        "_put",
        "_take",
    )

    def __init__(self, policy: DispatchPolicy, rng: np.random.Generator) -> None:
        self.policy = policy
        self._stack: list[Instance] = []
        self._queue: deque[Instance] = deque()
        self._heap: list[tuple[int, Instance]] = []
        self._rng = rng
        self.idle = 0
        self._stale = 0
        self._put: Callable[[Instance], None]
        self._take: Callable[[], Instance]
        if policy is DispatchPolicy.MRU:
            self._put, self._take = self._stack.append, self._stack.pop
        elif policy is DispatchPolicy.LRU:
            self._put, self._take = self._queue.append, self._queue.popleft
        elif policy is DispatchPolicy.NEWEST:
            self._put, self._take = self._put_newest, self._take_newest
        else:
            self._put, self._take = self._stack.append, self._take_random

    def push(self, instance: Instance) -> None:
        """Add an instance that just went idle."""
        self.idle += 1
        self._put(instance)

    def pop(self) -> Instance | None:
        """Remove and return the idle instance the policy picks, or None."""
        if not self.idle:
            return None
        take = self._take
        instance = take()
        while instance.state is not _IDLE:
            self._stale -= 1
            instance = take()
        self.idle -= 1
        return instance

    def _put_newest(self, instance: Instance) -> None:
        # Newest first: the highest instance id is the most recently created.
        heapq.heappush(self._heap, (-instance.id, instance))

    def _take_newest(self) -> Instance:
        return heapq.heappop(self._heap)[1]

    def _take_random(self) -> Instance:
        stack = self._stack
        index = int(self._rng.integers(len(stack)))
        stack[index], stack[-1] = stack[-1], stack[index]
        return stack.pop()

    def discard(self, instance: Instance) -> None:
        """Note that an idle instance in the pool was reaped (lazy removal)."""
        self.idle -= 1
        self._stale += 1
        if self._stale > 64 and self._stale > self.idle:
            self._compact()

    def _compact(self) -> None:
        # In place: the bound `_put`/`_take` refer to these containers.
        self._stack[:] = [i for i in self._stack if i.state is _IDLE]
        kept = [i for i in self._queue if i.state is _IDLE]
        self._queue.clear()
        self._queue.extend(kept)
        self._heap[:] = [entry for entry in self._heap if entry[1].state is _IDLE]
        heapq.heapify(self._heap)
        self._stale = 0


class TokenBucket:
    """A continuously refilled budget: new instances, or invoke requests."""

    __slots__ = ("burst", "refill_per_s", "tokens", "updated_s")

    def __init__(self, burst: float, refill_per_s: float) -> None:
        self.burst = burst
        self.refill_per_s = refill_per_s
        self.tokens = burst  # Assumption A-10: full after a quiet period
        self.updated_s = 0.0

    @classmethod
    def for_rule(cls, rule: ScaleUpRule) -> TokenBucket:
        """Return a full bucket for a scale-up rule."""
        return cls(rule.burst, rule.refill_per_s)

    def take(self, now_s: float) -> bool:
        """Take one token if there is one at `now_s`."""
        tokens = self.tokens
        if tokens < 1.0:
            tokens = min(
                self.burst, tokens + (now_s - self.updated_s) * self.refill_per_s
            )
            self.updated_s = now_s
            if tokens < 1.0:
                self.tokens = tokens
                return False
        elif tokens < self.burst:
            tokens = min(
                self.burst, tokens + (now_s - self.updated_s) * self.refill_per_s
            )
            self.updated_s = now_s
        else:
            self.updated_s = now_s
        self.tokens = tokens - 1.0
        return True

    def resize(self, burst: float, refill_per_s: float, now_s: float) -> None:
        """Change size and rate at `now_s`; a larger bucket gets its extra room full.

        >>> bucket = TokenBucket(10.0, 10.0)
        >>> bucket.resize(30.0, 30.0, now_s=0.0)
        >>> bucket.tokens
        30.0
        """
        tokens = min(
            self.burst, self.tokens + (now_s - self.updated_s) * self.refill_per_s
        )
        self.tokens = min(burst, tokens + max(0.0, burst - self.burst))
        self.burst = burst
        self.refill_per_s = refill_per_s
        self.updated_s = now_s


class ConcurrencyLimit:
    """A cap on on-demand concurrency: a reservation, or the unreserved pool.

    A function's reservation is its own; functions without one share the account's
    unreserved concurrency.

    Provisioned concurrency is carved out of it while allocated (AWS counts PC
    against the reservation, or against the account's unreserved concurrency), so
    invocations served by PC instances never count here.

    Attributes:
        capacity: On-demand invocations allowed in flight.
        in_use: On-demand invocations in flight (initialising or busy).
        throttle_reason: The `ThrottleReason` recorded when it refuses one.
    """

    __slots__ = ("capacity", "in_use", "throttle_reason")

    def __init__(self, capacity: float, throttle_reason: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.throttle_reason = throttle_reason


class Account:
    """Concurrency shared by the functions of one account in one Region.

    Reserved concurrency is carved out of the account limit: functions without a
    reservation share what is left (the unreserved pool).
    """

    __slots__ = ("config", "unreserved")

    def __init__(
        self, config: AccountConfig, total_reserved: int, throttle_reason: int
    ) -> None:
        self.config = config
        self.unreserved = ConcurrencyLimit(
            config.concurrency_limit - total_reserved, throttle_reason
        )


class Function:
    """Runtime state of one function: its pool, concurrency and random draws.

    Attributes:
        index: Position in the run's function list (the `function_index` column).
        config: Its configuration.
        concurrency: Its instances that are initialising or busy.
        limit: The cap its on-demand invocations count against (shared by the
            qualifiers of one function, or by all unreserved functions).
        pool: Its idle on-demand instances.
        bucket: Its scale-up budget, or None when scaling is instant.
        provisioned: Its provisioned-concurrency state, or None without PC.
        database: How its invocations use the database, or None (the common case:
            they take the platform's fast path).
    """

    __slots__ = (
        "index",
        "config",
        "concurrency",
        "limit",
        "pool",
        "bucket",
        "duration",
        "init",
        "platform_overhead",
        "keep_alive",
        "max_lifetime",
        "timeout_s",
        "init_limit_s",
        "has_failures",
        "crash_probability",
        "failure_probability",
        "failures",
        "retry_jitter",
        "provisioned",
        "database",
        "_live",
    )

    def __init__(
        self,
        index: int,
        config: FunctionConfig,
        streams: dict[str, np.random.Generator],
        bucket: TokenBucket | None,
        limit: ConcurrencyLimit,
    ) -> None:
        self.index = index
        self.config = config
        self.concurrency = 0
        self.limit = limit
        self.provisioned: ProvisionedConcurrency | None = None
        self._live: dict[int, Instance] = {}
        self.pool = WarmPool(config.dispatch, streams["dispatch"])
        self.bucket = bucket
        self.timeout_s = config.timeout_s
        self.init_limit_s = config.init_limit_s
        self.crash_probability = config.crash_probability
        self.failure_probability = config.crash_probability + config.error_probability
        self.has_failures = self.failure_probability > 0.0
        self.failures = BlockSampler(UNIT_UNIFORM, streams["errors"])
        self.retry_jitter = BlockSampler(UNIT_UNIFORM, streams["retries"])
        self.database = config.database
        self.duration = BlockSampler(config.duration, streams["duration"])
        self.init = BlockSampler(config.init, streams["init"])
        self.platform_overhead = BlockSampler(
            config.platform_overhead, streams["platform_overhead"]
        )
        self.keep_alive = BlockSampler(config.keep_alive, streams["keep_alive"])
        self.max_lifetime = (
            BlockSampler(config.max_lifetime, streams["lifetime"])
            if config.max_lifetime is not None
            else None
        )

    def register(self, instance: Instance) -> None:
        """Note a new instance of this function."""
        self._live[instance.id] = instance

    def unregister(self, instance: Instance) -> None:
        """Note that an instance was reaped."""
        del self._live[instance.id]

    @property
    def instances_alive(self) -> int:
        """Instances created and not yet reaped."""
        return len(self._live)

    def live_instances(self) -> list[Instance]:
        """Return the instances not yet reaped, oldest first."""
        return sorted(self._live.values(), key=lambda instance: instance.id)
