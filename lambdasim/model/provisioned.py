"""Provisioned concurrency (PC) on one function qualifier: allocation and recycling.

A `ProvisionedConcurrency` owns the PC instances of one qualifier. The hot path of
`Simulation.invoke` takes an idle one with `take` (a pop from a stack and a token
from the qualifier's request-rate bucket) and gives it back through `release`;
everything else here runs on timers, never per invocation:

- changes of the allocation (at t = 0, from a schedule, or from target tracking)
  start new instances after an allocation delay and at an allocation rate, or
  remove idle ones at once and busy ones when their invocation ends;
- each PC instance is recycled after a drawn interval: a replacement initialises in
  the background and the old instance leaves once the replacement is ready and the
  old one is idle, so the allocation never dips;
- target tracking evaluates utilisation once a minute, as CloudWatch does.

Counting: `pending` instances are scheduled to start, `starting` ones run INIT,
`ready` ones are initialised (idle or busy), of which `retiring` wait for their
replacement. The allocation is met when pending + starting + ready - retiring
equals `target`.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from lambdasim.distributions import BlockSampler
from lambdasim.model.config import DispatchPolicy, ProvisionedConfig
from lambdasim.model.engine import Call
from lambdasim.model.platform import (
    Function,
    Instance,
    InstanceState,
    TokenBucket,
    WarmPool,
)
from lambdasim.results import ReapReason

if TYPE_CHECKING:
    import numpy as np

    from lambdasim.model.simulation import Simulation

# CloudWatch publishes ProvisionedConcurrencyUtilization once a minute.
_DATAPOINT_S = 60.0
# Longest wait before a failed PC INIT runs again (Assumption A-61).
_MAX_INIT_RETRY_S = 300.0


class ProvisionedConcurrency:
    """The PC instances of one qualifier and the timers that manage them.

    Attributes:
        config: Its configuration.
        target: The allocation currently configured.
        pool: Idle, initialised PC instances.
        busy: PC instances serving an invocation.
        ready: PC instances initialised (idle or busy).
        requests: The qualifier's request-rate quota (10 per second per unit).
    """

    def __init__(
        self,
        sim: Simulation,
        function: Function,
        config: ProvisionedConfig,
        rng: np.random.Generator,
    ) -> None:
        self.config = config
        self._sim = sim
        self.function = function
        self.target = 0
        # PC dispatch order does not matter: every PC instance is initialised.
        self.pool = WarmPool(DispatchPolicy.MRU, rng)
        self.busy = 0
        self.ready = 0
        self.pending = 0
        self.starting = 0
        self.retiring = 0
        self.requests = TokenBucket(0.0, 0.0)
        self._recycle = BlockSampler(config.recycle_interval, rng)
        self._busy_area = 0.0
        self._ready_area = 0.0
        self._updated_s = 0.0
        self._datapoints: deque[float] = deque()
        self._last_areas = (0.0, 0.0)
        # Failed INITs in a row, by instance id (Assumption A-61).
        self._init_failures: dict[int, int] = {}

    # -- the hot path's side -------------------------------------------------------

    def take(self, now_s: float) -> Instance | None:
        """Return an idle PC instance for an invocation at `now_s`, or None.

        None when all are busy or the qualifier is past its request-rate quota: the
        invocation spills over to on-demand instances.
        """
        if not self.pool.idle or not self.requests.take(now_s):
            return None
        instance = self.pool.pop()
        assert instance is not None  # pool.idle > 0
        self._advance(now_s)
        self.busy += 1
        instance.state = InstanceState.BUSY
        return instance

    def release(self, instance: Instance, now_s: float) -> None:
        """Take back a PC instance whose invocation ended at `now_s`."""
        self._advance(now_s)
        self.busy -= 1
        if instance.is_broken:
            self._leave(instance, now_s, ReapReason.INIT_FAILED)
            self._start_missing(now_s, delay_s=0.0)
        elif instance.is_retiring:
            self.retiring -= 1
            self._leave(instance, now_s, ReapReason.PROVISIONED_RECYCLED)
        elif self._allocated > self.target:
            self._leave(instance, now_s, ReapReason.PROVISIONED_RELEASED)
        else:
            instance.state = InstanceState.IDLE
            self.pool.push(instance)

    # -- allocation ------------------------------------------------------------------

    @property
    def _allocated(self) -> int:
        return self.pending + self.starting + self.ready - self.retiring

    def start(self) -> None:
        """Allocate the initial PC and schedule the configured changes."""
        config = self.config
        env = self._sim.env
        horizon_s = self._sim.horizon_s
        if config.initial:
            self._set_target(config.initial, 0.0)
        for _ in range(config.initial):
            # Configured before the run: initialised already, its INIT billed.
            instance = self._new_instance(0.0)
            instance.init_s = self.function.init.next()
            instance.ready_s = 0.0
            self._become_ready(instance, 0.0)
        for change in config.schedule:
            if change.at_s < horizon_s:
                env.call_at(change.at_s, self._on_scheduled, change.concurrency)
        if config.target_tracking is not None:
            env.call_at(_DATAPOINT_S, self._on_datapoint)

    def _on_scheduled(self, event: Call) -> None:
        self.set_allocation(event.value, self._sim.env.now)

    def set_allocation(self, concurrency: int, now_s: float) -> None:
        """Change the allocation to `concurrency` at `now_s`."""
        if concurrency == self.target:
            return
        self._set_target(concurrency, now_s)
        if self._allocated < concurrency:
            self._start_missing(now_s, delay_s=self.config.allocation_delay_s)
            return
        # Fewer: cancel what has not started yet, then let idle instances go; busy
        # and initialising ones go when they finish (`release`, `_on_ready`).
        self.pending -= min(self.pending, self._allocated - concurrency)
        while self._allocated > concurrency and self.pool.idle:
            instance = self.pool.pop()
            assert instance is not None  # pool.idle > 0
            self._leave(instance, now_s, ReapReason.PROVISIONED_RELEASED)

    def _set_target(self, concurrency: int, now_s: float) -> None:
        function = self.function
        # PC is carved out of the reservation (or the account's unreserved pool).
        function.limit.capacity += self.target - concurrency
        self.target = concurrency
        rate_per_s = self.config.requests_per_s_per_unit * concurrency
        # Assumption A-16 applies per qualifier: one second's worth of requests.
        self.requests.resize(rate_per_s, rate_per_s, now_s)
        self._sim.record_allocation(function.index, now_s, concurrency)

    def _start_missing(self, now_s: float, delay_s: float) -> None:
        """Schedule INITs for the instances the allocation lacks.

        Assumption A-19: starts follow `allocation_delay_s` after the change, at
        `allocation_rate_per_s`; each instance serves as soon as its INIT ends.
        """
        missing = self.target - self._allocated
        rate_per_s = self.config.allocation_rate_per_s
        env = self._sim.env
        for position in range(missing):
            start_s = now_s + delay_s + position / rate_per_s
            if start_s >= self._sim.horizon_s:
                break  # the run is over before this one would start
            self.pending += 1
            env.call_at(start_s, self._on_start)

    def _on_start(self, event: Call) -> None:
        # Starts are cancelled by count, not one by one: after a decrease and a new
        # increase, a start left from the earlier increase may serve the later one
        # (a little before its allocation delay has passed).
        if self.pending == 0:
            return  # cancelled by a lower allocation
        self.pending -= 1
        now_s = self._sim.env.now
        self.starting += 1
        instance = self._new_instance(now_s)
        self._initialise(instance, now_s)

    def _new_instance(self, now_s: float) -> Instance:
        instance = self._sim.create_instance(self.function, now_s, retires=False)
        instance.is_provisioned = True
        instance.needs_init = False
        return instance

    def _initialise(self, instance: Instance, now_s: float) -> None:
        # The 10 s INIT limit does not apply to PC (AWS Lambda docs, "Lambda
        # execution environment"): INIT always completes.
        instance.init_s = self.function.init.next()
        instance.ready_s = now_s + instance.init_s
        self._sim.env.call_at(instance.ready_s, self._on_ready, instance)

    def _on_ready(self, event: Call) -> None:
        instance: Instance = event.value
        now_s = self._sim.env.now
        self.starting -= 1
        if self._allocated >= self.target:
            # Allocation lowered while it initialised; its INIT is still billed.
            self._sim.reap(instance, now_s, ReapReason.PROVISIONED_RELEASED)
            return
        self._become_ready(instance, now_s)

    def _become_ready(self, instance: Instance, now_s: float) -> None:
        if not self._sim.initialised(instance, now_s):
            self._retry_init(instance, now_s)
            return
        self._init_failures.pop(instance.id, None)
        self._advance(now_s)
        self.ready += 1
        instance.state = InstanceState.IDLE
        self.pool.push(instance)
        recycle_at_s = now_s + self._recycle.next()
        if recycle_at_s < self._sim.horizon_s:
            self._sim.env.call_at(recycle_at_s, self._on_recycle, instance)

    def _retry_init(self, instance: Instance, now_s: float) -> None:
        """Initialise again an instance whose INIT failed (Assumption A-61).

        It stays out of the pool, counted as starting, and runs INIT again after 1 s,
        2 s, 4 s ... at most 5 minutes after each failure.
        """
        failures = self._init_failures.get(instance.id, 0)
        self._init_failures[instance.id] = failures + 1
        self.starting += 1
        instance.state = InstanceState.INITIALISING
        retry_s = now_s + min(2.0**failures, _MAX_INIT_RETRY_S)
        if retry_s < self._sim.horizon_s:
            self._sim.env.call_at(retry_s, self._reinitialise, instance)

    def _reinitialise(self, event: Call) -> None:
        instance: Instance = event.value
        now_s = self._sim.env.now
        if self._allocated > self.target:
            # Allocation lowered meanwhile: this one goes.
            self.starting -= 1
            self._init_failures.pop(instance.id, None)
            self._sim.reap(instance, now_s, ReapReason.PROVISIONED_RELEASED)
            return
        self._initialise(instance, now_s)

    def _leave(self, instance: Instance, now_s: float, reason: ReapReason) -> None:
        """Remove a ready PC instance (idle and out of the pool, or just released)."""
        self._advance(now_s)
        self.ready -= 1
        self._sim.reap(instance, now_s, reason)

    # -- recycling -------------------------------------------------------------------

    def _on_recycle(self, event: Call) -> None:
        """Start the replacement of a PC instance (Assumption A-20)."""
        old: Instance = event.value
        if old.state is InstanceState.REAPED or old.is_retiring:
            return
        now_s = self._sim.env.now
        old.is_retiring = True
        self.retiring += 1
        self.starting += 1
        replacement = self._new_instance(now_s)
        replacement.init_s = self.function.init.next()
        replacement.ready_s = now_s + replacement.init_s
        self._sim.env.call_at(
            replacement.ready_s, self._on_replacement_ready, (replacement, old)
        )

    def _on_replacement_ready(self, event: Call) -> None:
        replacement, old = event.value
        now_s = self._sim.env.now
        if old.state is InstanceState.IDLE:
            old.state = InstanceState.REAPED  # so the pool skips it (lazy removal)
            self.pool.discard(old)
            self.retiring -= 1
            self._leave(old, now_s, ReapReason.PROVISIONED_RECYCLED)
        # A busy old instance leaves when its invocation ends (`release`).
        self.starting -= 1
        if self._allocated >= self.target:
            self._sim.reap(replacement, now_s, ReapReason.PROVISIONED_RELEASED)
            return
        self._become_ready(replacement, now_s)

    # -- target tracking -------------------------------------------------------------

    def _advance(self, now_s: float) -> None:
        elapsed_s = now_s - self._updated_s
        if elapsed_s > 0.0:
            self._busy_area += self.busy * elapsed_s
            self._ready_area += self.ready * elapsed_s
            self._updated_s = now_s

    def _on_datapoint(self, event: Call) -> None:
        """Take one minute's average utilisation and act as the AAS alarms would."""
        now_s = self._sim.env.now
        tracking = self.config.target_tracking
        assert tracking is not None  # scheduled only with target tracking
        self._advance(now_s)
        busy_area, ready_area = self._last_areas
        self._last_areas = (self._busy_area, self._ready_area)
        minute_ready = self._ready_area - ready_area
        if minute_ready > 0.0:
            self._datapoints.append((self._busy_area - busy_area) / minute_ready)
        points = self._datapoints
        wanted = self._tracked_allocation(list(points))
        if wanted is not None and wanted != self.target:
            points.clear()
            self.set_allocation(wanted, now_s)
        while len(points) > max(tracking.scale_out_minutes, tracking.scale_in_minutes):
            points.popleft()
        if now_s + _DATAPOINT_S < self._sim.horizon_s:
            self._sim.env.call_at(now_s + _DATAPOINT_S, self._on_datapoint)

    def _tracked_allocation(self, points: list[float]) -> int | None:
        """The allocation the scale-out or scale-in alarm asks for, or None."""
        tracking = self.config.target_tracking
        assert tracking is not None
        target = tracking.target
        recent_out = points[-tracking.scale_out_minutes :]
        recent_in = points[-tracking.scale_in_minutes :]
        if len(recent_out) == tracking.scale_out_minutes and min(recent_out) > target:
            wanted = math.ceil(self.target * recent_out[-1] / target - 1e-9)
        elif len(recent_in) == tracking.scale_in_minutes and max(recent_in) < (
            tracking.scale_in_ratio * target
        ):
            wanted = math.ceil(self.target * recent_in[-1] / target - 1e-9)
            # Assumption A-21: scale-in in small steps.
            step = max(1, math.floor(self.target * tracking.scale_in_max_fraction))
            wanted = max(wanted, self.target - step)
        else:
            return None
        return min(tracking.max_capacity, max(tracking.min_capacity, wanted))
