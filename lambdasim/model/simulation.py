"""Drive the platform with SimPy: arrivals, cold and warm starts, completion, reaping.

One invocation costs at most two events on SimPy's queue: its arrival (skipped when
no other event comes first, see `Engine.advance_to`) and its completion (a callback
that frees the instance). Everything else an invocation needs is known at dispatch,
so its row is recorded then. Reaping uses at most one pending timer per instance in
the common case, so the event heap never grows with the arrival rate. No
per-invocation `Process`, no scan of the pool.

On top of that path: callers that retry throttles (`request`), Lambda's own
retries of asynchronous events (`invoke_async`), both scheduled as arrivals, and
messages for SQS event source mappings (`send_message`, `lambdasim.model.sqs`),
whose pollers call `invoke` once per batch. Invocations of functions that query a
database cannot know their end at dispatch: after one attribute check they leave
for `lambdasim.model.database` (docs/decisions/0002-database-invocations.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial

import numpy as np

from lambdasim.distributions import BlockSampler
from lambdasim.model.config import (
    AccountConfig,
    ClientPolicy,
    FunctionConfig,
    ScaleUpScope,
)
from lambdasim.model.database import (
    DatabaseConfig,
    DatabaseInvocation,
    DatabaseModel,
)
from lambdasim.model.engine import ARRIVAL, Call, Engine
from lambdasim.model.platform import (
    UNIT_UNIFORM,
    Account,
    ConcurrencyLimit,
    Function,
    Instance,
    InstanceState,
    TokenBucket,
)
from lambdasim.model.provisioned import ProvisionedConcurrency
from lambdasim.model.proxy import ProxyConfig
from lambdasim.model.sqs import EventSourceConfig, EventSourceMapping
from lambdasim.randomness import Purpose, stream
from lambdasim.results import (
    ALLOCATION_COLUMNS,
    ATTEMPT_COLUMNS,
    INSTANCE_COLUMNS,
    INVOCATION_COLUMNS,
    SQS_BATCH_COLUMNS,
    SQS_MESSAGE_COLUMNS,
    SQS_POLLER_COLUMNS,
    ColumnRecorder,
    ReapReason,
    RunRecords,
    ServedBy,
    Status,
    ThrottleReason,
)
from lambdasim.workload.base import ArrivalChunk, InvocationType

logger = logging.getLogger(__name__)

# Two times closer than this are the same instant (a retirement age is a sum of
# floats and may miss the completion time it equals by an ulp).
_TIME_EPS_S = 1e-9

Observer = Callable[[float, str, int], None]
# An asynchronous event between attempts: (function, duration from a trace or None,
# request id, attempt, first arrival, error retries so far).
_AsyncEvent = tuple["Function", float | None, int, int, float, int]


class Simulation:
    """One run of the Lambda model over a fixed horizon.

    Build it from configuration objects, add arrival sources, call `run()` once.

    Args:
        account: Account-wide limits.
        functions: The functions, in `function_index` order; names must be unique.
        seed: Root seed of every random stream of the run.
        horizon_s: Arrivals at or after this time are ignored; invocations in flight
            at the horizon run to completion.
        observer: Optional callback `(t_s, event, entity_id)` for every model event
            (arrival, throttle, cold_start, warm_start, end, timeout, reaped; for
            SQS, receive and dead_letter). Meant for tests and debugging; it slows
            the run down.
        database: The database the functions with a `database` usage query, or
            None.
        proxy: RDS Proxy between those functions and the database, or None.
    """

    def __init__(
        self,
        account: AccountConfig,
        functions: Sequence[FunctionConfig],
        *,
        seed: int,
        horizon_s: float,
        observer: Observer | None = None,
        database: DatabaseConfig | None = None,
        proxy: ProxyConfig | None = None,
    ) -> None:
        labels = [config.label for config in functions]
        if len(set(labels)) != len(labels):
            raise ValueError(f"function names must be unique, got {labels}")
        users = [config.label for config in functions if config.database is not None]
        if (users or proxy is not None) and database is None:
            raise ValueError(f"{users or 'the proxy'} need a database; none given")
        self.env = Engine()
        self.horizon_s = horizon_s
        self.seed = seed
        self.account = Account(account, _reserved_total(functions), _ACCOUNT)
        rate = account.request_rate_per_s
        # Assumption A-16: one second's worth of requests, refilled continuously.
        self._requests = TokenBucket(rate, rate) if rate is not None else None
        self.functions = self._build_functions(account, functions)
        self.in_flight = 0
        self._next_instance_id = 0
        self._sources: list[tuple[Iterator[ArrivalChunk], _Client | None]] = []
        self._clients: list[_Client] = []
        self.pending_retries = 0
        self._observer = observer
        self._is_tracing = observer is not None or logger.isEnabledFor(logging.DEBUG)
        self.invocations = ColumnRecorder(INVOCATION_COLUMNS)
        self.instances = ColumnRecorder(INSTANCE_COLUMNS)
        self.attempts = ColumnRecorder(ATTEMPT_COLUMNS)
        self.allocations = ColumnRecorder(ALLOCATION_COLUMNS)
        # SQS event source mappings by function index (lambdasim.model.sqs).
        self._event_sources: dict[int, EventSourceMapping] = {}
        self.sqs_messages = ColumnRecorder(SQS_MESSAGE_COLUMNS)
        self.sqs_batches = ColumnRecorder(SQS_BATCH_COLUMNS)
        self.sqs_pollers = ColumnRecorder(SQS_POLLER_COLUMNS)
        self._bind_recorders()
        self._database = (
            DatabaseModel(
                self.env,
                database,
                stream(seed, "database", Purpose.QUERIES),
                stream(seed, "proxy", Purpose.PINNING),
                self._finish_with_database,
                proxy,
            )
            if database is not None
            else None
        )
        self._database_info = _database_info(database, proxy)
        # Asynchronous events whose database invocation is still running, by row.
        self._async_pending: dict[int, _AsyncEvent] = {}
        # Callers told of a database invocation's end (`on_end`), by row.
        self._end_callbacks: dict[int, Callable[[int], None]] = {}
        self._provisioned = [
            ProvisionedConcurrency(
                self,
                function,
                function.config.provisioned,
                stream(seed, function.config.label, Purpose.PROVISIONED),
            )
            for function in self.functions
            if function.config.provisioned is not None
        ]
        for pc in self._provisioned:
            pc.function.provisioned = pc

    def _build_functions(
        self, account: AccountConfig, configs: Sequence[FunctionConfig]
    ) -> list[Function]:
        """Make the runtime functions; qualifiers of one function share its limits.

        The reservation (or the account's unreserved pool) and the scale-up budget
        are per function: its qualifiers draw on the same ones.
        """
        rule = account.scale_up
        # The legacy rule's budget is one bucket shared by every function.
        shared = (
            TokenBucket.for_rule(rule)
            if rule is not None and rule.scope is ScaleUpScope.ACCOUNT
            else None
        )
        limits: dict[str, ConcurrencyLimit] = {}
        buckets: dict[str, TokenBucket | None] = {}
        functions = []
        for index, config in enumerate(configs):
            name = config.name
            if name not in limits:
                reserved = config.reserved_concurrency
                limits[name] = (
                    ConcurrencyLimit(reserved, _RESERVED)
                    if reserved is not None
                    else self.account.unreserved
                )
                buckets[name] = shared or (
                    TokenBucket.for_rule(rule) if rule is not None else None
                )
            function = Function(
                index,
                config,
                self._streams(config.label),
                buckets[name],
                limits[name],
            )
            functions.append(function)
        return functions

    def _streams(self, name: str) -> dict[str, np.random.Generator]:
        seed = self.seed
        return {
            "duration": stream(seed, name, Purpose.DURATION),
            "init": stream(seed, name, Purpose.INIT),
            "platform_overhead": stream(seed, name, Purpose.PLATFORM_OVERHEAD),
            "keep_alive": stream(seed, name, Purpose.KEEP_ALIVE),
            "lifetime": stream(seed, name, Purpose.LIFETIME),
            "dispatch": stream(seed, name, Purpose.DISPATCH),
            "errors": stream(seed, name, Purpose.ERRORS),
            "retries": stream(seed, name, Purpose.RETRIES),
        }

    def _bind_recorders(self) -> None:
        # Bound `append`s of the columns, looked up once: recording is on the hot path.
        inv = self.invocations.columns
        self._rec_function = inv["function_index"].append
        self._rec_type = inv["invocation_type"].append
        self._rec_arrival = inv["arrival_s"].append
        self._rec_cold = inv["is_cold"].append
        self._rec_overhead = inv["platform_overhead_s"].append
        self._rec_init = inv["init_s"].append
        self._rec_duration = inv["duration_s"].append
        self._rec_status = inv["status"].append
        self._statuses = inv["status"]
        self._throttle_reasons = inv["throttle_reason"]
        self._rec_throttle = inv["throttle_reason"].append
        self._rec_instance = inv["instance_id"].append
        self._rec_served_by = inv["served_by"].append

    def add_arrivals(
        self,
        chunks: Iterable[ArrivalChunk],
        client: ClientPolicy | None = None,
        name: str = "",
    ) -> None:
        """Register a source of arrival chunks (time-sorted) before `run()`.

        Args:
            chunks: The arrivals.
            client: How its caller retries throttles and how long it waits; None
                for a caller that neither retries nor gives up.
            name: A stable name for the source, keying its random stream.
        """
        runtime_client = None
        if client is not None:
            rng = stream(self.seed, f"client:{name}", Purpose.RETRIES)
            runtime_client = _Client(len(self._clients), client, rng)
            self._clients.append(runtime_client)
        self._sources.append((iter(chunks), runtime_client))

    def add_event_source(self, function_index: int, config: EventSourceConfig) -> None:
        """Give a function an SQS queue and event source mapping before `run()`.

        Arrivals of type `InvocationType.POLL` for that function are then messages
        sent to its queue (see `lambdasim.model.sqs`).
        """
        function = self.functions[function_index]
        if function_index in self._event_sources:
            raise ValueError(f"{function.config.name} already has an event source")
        self._event_sources[function_index] = EventSourceMapping(self, function, config)

    def send_message(self, function: Function) -> None:
        """Send one message now to the queue of `function`'s event source mapping."""
        mapping = self._event_sources.get(function.index)
        if mapping is None:
            raise ValueError(
                f"a message for {function.config.name}, which has no SQS event source"
            )
        mapping.send()

    def run(self) -> RunRecords:
        """Run to the horizon, let in-flight invocations finish, return the records."""
        for pc in self._provisioned:
            pc.start()
        for chunks, client in self._sources:
            _ArrivalDriver(self, chunks, client).start()
        env = self.env
        env.run(until=self.horizon_s)  # Assumption A-12
        # Drain: requests that arrived before the horizon run to their end,
        # retries included.
        while self.in_flight > 0 or self.pending_retries > 0:
            env.step()
        self._close_out()
        for mapping in self._event_sources.values():
            mapping.close_out()
        return RunRecords(
            function_names=tuple(f.config.label for f in self.functions),
            invocations=self.invocations.to_arrays(),
            instances=self.instances.to_arrays(),
            horizon_s=self.horizon_s,
            attempts=self.attempts.to_arrays(),
            upstream_timeouts_s=tuple(
                math.inf
                if c.policy.upstream_timeout_s is None
                else c.policy.upstream_timeout_s
                for c in self._clients
            ),
            allocations=self.allocations.to_arrays(),
            sqs_messages=self.sqs_messages.to_arrays(),
            sqs_batches=self.sqs_batches.to_arrays(),
            sqs_pollers=self.sqs_pollers.to_arrays(),
            database=(
                self._database.recorder.tables() if self._database is not None else {}
            ),
            database_info=self._database_info,
        )

    def _close_out(self) -> None:
        """Record every instance still alive at the end (reap_reason ALIVE)."""
        for function in self.functions:
            for instance in function.live_instances():
                self._record_instance(instance, math.nan, ReapReason.ALIVE)
        if self._database is not None:
            self._database.close_out()

    # -- dispatch -----------------------------------------------------------------

    def invoke(
        self, function: Function, duration_s: float | None, invocation_type: int
    ) -> float:
        """Serve, or throttle, one invocation arriving now.

        This is the per-invocation hot path, kept in one function on purpose: the
        admission checks, dispatch and recording are inline because a call per step
        costs measurably at millions of invocations (benchmarks/bench.py). Cold
        starts, failures and throttles, the rarer branches, are helpers.

        Returns:
            When the invocation will end, -1.0 if it was throttled, or NaN if it
            queries the database (its end is known only when it comes).
        """
        now = self.env.now
        requests = self._requests
        if requests is not None and not requests.take(now):
            self._throttle(function, now, invocation_type, _REQUEST_RATE)
            return -1.0
        pc = function.provisioned
        instance = pc.take(now) if pc is not None else None
        if instance is not None:
            served_by = _PROVISIONED
            overhead_s = 0.0
        else:
            limit = function.limit
            if limit.in_use >= limit.capacity:
                self._throttle(function, now, invocation_type, limit.throttle_reason)
                return -1.0
            instance = function.pool.pop() if function.pool.idle else None
            if instance is None:
                bucket = function.bucket
                if bucket is not None and not bucket.take(now):
                    self._throttle(function, now, invocation_type, _SCALE_UP)
                    return -1.0
                instance = self.create_instance(function, now)
                overhead_s = function.platform_overhead.next()
            else:
                overhead_s = 0.0
            limit.in_use += 1
            served_by = _ON_DEMAND if pc is None or not pc.target else _SPILLOVER
        if duration_s is None:
            duration_s = function.duration.next()
        if instance.needs_init:
            is_cold = True
            init_s, reinit_s = self._initialise(function, instance, now + overhead_s)
        else:
            is_cold = False
            init_s = reinit_s = 0.0
            instance.state = _BUSY
        start_s = now + overhead_s + init_s
        if function.database is not None and reinit_s < function.timeout_s:
            # Its end depends on the database: served by callbacks, not known now.
            return self._invoke_with_database(
                function,
                instance,
                now,
                is_cold,
                overhead_s,
                init_s,
                reinit_s,
                duration_s,
                invocation_type,
                served_by,
            )

        # The invoke phase (what REPORT calls Duration): a suppressed INIT, if any,
        # then the handler, all bounded by the function timeout.
        run_s = reinit_s + duration_s
        status = _OK
        if function.has_failures and reinit_s < function.timeout_s:
            # An error that strikes before the timeout ends the invocation first.
            status, run_s = self._draw_failure(function, instance, reinit_s, duration_s)
        if run_s > function.timeout_s:
            # Assumption A-06: stopped at the timeout, the environment is reset.
            status = _INIT_ERROR if reinit_s >= function.timeout_s else _TIMEOUT
            run_s = function.timeout_s
            instance.needs_init = True
            instance.is_broken = status == _INIT_ERROR
        duration_s = run_s
        end_s = start_s + duration_s

        function.concurrency += 1
        self.in_flight += 1
        instance.invocations += 1
        self._rec_function(function.index)
        self._rec_type(invocation_type)
        self._rec_arrival(now)
        self._rec_cold(is_cold)
        self._rec_overhead(overhead_s)
        self._rec_init(init_s)
        self._rec_duration(duration_s)
        self._rec_status(status)
        self._rec_throttle(0)
        self._rec_instance(instance.id)
        self._rec_served_by(served_by)
        self.env.call_at(end_s, self._complete, instance)
        if self._is_tracing:
            self._trace(now, "cold_start" if is_cold else "warm_start", instance.id)
        return end_s

    def _invoke_with_database(
        self,
        function: Function,
        instance: Instance,
        now: float,
        is_cold: bool,
        overhead_s: float,
        init_s: float,
        reinit_s: float,
        handler_s: float,
        invocation_type: int,
        served_by: int,
    ) -> float:
        """Dispatch an invocation whose handler queries the database.

        Its row is recorded now with the invoke phase unknown (0) and status `ok`;
        `_finish_with_database` fills both in when it ends. An error or crash drawn
        for it cuts the handler's own time short, after its queries.

        Returns:
            NaN: the end is not known at dispatch.
        """
        status = _OK
        if function.has_failures:
            status, handler_s = self._draw_failure(function, instance, 0.0, handler_s)
        row = len(self._statuses)
        function.concurrency += 1
        self.in_flight += 1
        instance.invocations += 1
        self._rec_function(function.index)
        self._rec_type(invocation_type)
        self._rec_arrival(now)
        self._rec_cold(is_cold)
        self._rec_overhead(overhead_s)
        self._rec_init(init_s)
        self._rec_duration(0.0)
        self._rec_status(_OK)
        self._rec_throttle(0)
        self._rec_instance(instance.id)
        self._rec_served_by(served_by)
        if self._is_tracing:
            self._trace(now, "cold_start" if is_cold else "warm_start", instance.id)
        database = self._database
        if database is None:
            raise ValueError(f"function {function.config.name} has no database")
        start_s = now + overhead_s + init_s
        database.start(
            function, instance, row, start_s, reinit_s, handler_s, status, is_cold
        )
        return math.nan

    def _finish_with_database(
        self, invocation: DatabaseInvocation, status: int
    ) -> None:
        """Record the end of a database invocation and free its instance."""
        now = self.env.now
        row = invocation.row
        columns = self.invocations.columns
        columns["duration_s"][row] = now - invocation.start_s
        self._statuses[row] = status
        if status == _TIMEOUT:
            invocation.instance.needs_init = True  # Assumption A-06
        if self._database is not None:
            self._database.on_ended(invocation)
        if self._async_pending:
            pending = self._async_pending.pop(row, None)
            if pending is not None:
                self._retry_failed_async(pending, status, now)
        self._complete(Call(self._complete, invocation.instance))
        if self._end_callbacks:
            callback = self._end_callbacks.pop(row, None)
            if callback is not None:
                callback(status)

    def on_end(self, row: int, callback: Callable[[int], None]) -> None:
        """Call `callback(status)` when the database invocation at `row` ends.

        For callers of `invoke` that got NaN (an SQS poller waiting for its batch);
        the instance is free again by then.
        """
        self._end_callbacks[row] = callback

    def _retry_failed_async(
        self, event: _AsyncEvent, status: int, end_s: float
    ) -> None:
        """Retry a failed asynchronous event that ran on the database path.

        Lambda retries function errors and timeouts as in `invoke_async`; a
        `db_error` is a function error to Lambda.
        """
        function, duration_s, request_id, attempt, first_arrival_s, retries = event
        if (
            status not in _RETRIED_ERRORS
            or retries >= function.config.max_retry_attempts
        ):
            return
        self.pending_retries += 1
        retry = (
            function,
            duration_s,
            request_id,
            attempt,
            first_arrival_s,
            retries + 1,
        )
        retry_at_s, callback = self._error_retry_plan(
            function, end_s, retries, first_arrival_s
        )
        self.env.call_at(retry_at_s, callback, retry, priority=ARRIVAL)

    def request(
        self,
        function: Function,
        duration_s: float | None,
        invocation_type: int,
        client: _Client,
        request_id: int = -1,
        attempt: int = 1,
    ) -> None:
        """Invoke for a caller with a client policy; schedule its retry if throttled.

        Args:
            function: The target.
            duration_s: Handler duration from a trace, or None to draw one.
            invocation_type: How it is invoked.
            client: The caller's policy and backoff draws.
            request_id: Row of the request's first attempt (-1: this is it).
            attempt: 1 for the first attempt, then 2, 3, ...
        """
        row = len(self._statuses)
        end_s = self.invoke(function, duration_s, invocation_type)
        request_id = row if request_id < 0 else request_id
        if attempt > 1 or client.policy.upstream_timeout_s is not None:
            self._link_attempt(row, request_id, attempt, client.index)
        if end_s < 0.0 and attempt < client.policy.max_attempts:
            delay_s = client.policy.backoff_s(attempt, client.draws.next())
            self.pending_retries += 1
            retry = (function, duration_s, invocation_type, client, request_id, attempt)
            self.env.call_at(
                self.env.now + delay_s, self._retry, retry, priority=ARRIVAL
            )

    def _link_attempt(
        self, row: int, request_id: int, attempt: int, client_index: int
    ) -> None:
        columns = self.attempts.columns
        columns["row"].append(row)
        columns["request_id"].append(request_id)
        columns["attempt"].append(attempt)
        columns["client_index"].append(client_index)

    def invoke_async(
        self,
        function: Function,
        duration_s: float | None,
        request_id: int = -1,
        attempt: int = 1,
        first_arrival_s: float = 0.0,
        error_retries: int = 0,
    ) -> None:
        """Invoke for an asynchronous event and retry it as Lambda's queue does.

        A throttled event goes back to Lambda's internal queue and is retried after
        1 s, 2 s, 4 s ... up to 5 min between attempts, until it is older than the
        function's maximum event age; then it is dropped (a `dropped` row at that
        age). A function error or timeout is retried at most `max_retry_attempts`
        times, 1 min and then 2 min after the failed attempt ends; an event that
        fails them all goes to the on-failure destination.
        """
        status = self._statuses
        row = len(status)
        end_s = self.invoke(function, duration_s, _ASYNC)
        if request_id < 0:
            if end_s >= 0.0 and status[row] == _OK:
                return  # the common case: served at once, nothing to link or retry
            request_id, first_arrival_s = row, self.env.now
        else:
            self._link_attempt(row, request_id, attempt, -1)
        if end_s < 0.0:
            # Attempts so far are this one, earlier throttles and error retries.
            throttles = attempt - error_retries
            plan = self._requeue_throttled(function, row, throttles, first_arrival_s)
        elif end_s != end_s:
            # A database invocation (end NaN): its fate is known only at its end.
            self._async_pending[row] = (
                function,
                duration_s,
                request_id,
                attempt,
                first_arrival_s,
                error_retries,
            )
            return
        elif (
            status[row] in _RETRIED_ERRORS
            and error_retries < function.config.max_retry_attempts
        ):
            plan = self._error_retry_plan(
                function, end_s, error_retries, first_arrival_s
            )
            error_retries += 1
        else:
            plan = None
        if plan is None:
            return
        retry_at_s, callback = plan
        self.pending_retries += 1
        retry = (
            function,
            duration_s,
            request_id,
            attempt,
            first_arrival_s,
            error_retries,
        )
        self.env.call_at(retry_at_s, callback, retry, priority=ARRIVAL)

    def _requeue_throttled(
        self, function: Function, row: int, throttles: int, first_arrival_s: float
    ) -> tuple[float, Callable[[Call], None]] | None:
        """Return when a throttled event is retried, or dropped; None if refused.

        `throttles` counts the event's throttled attempts, this one included: the
        backoff grows with them, not with retries after function errors.
        """
        if self._throttle_reasons[row] == _REQUEST_RATE:
            # Assumption A-16: over the request-rate quota the Invoke call itself is
            # refused (429): the event never enters Lambda's queue.
            return None
        # Assumption A-15: throttle retries double from 1 s to at most 5 min, each
        # drawn between half and all of that interval.
        interval_s = min(
            _ASYNC_MAX_DELAY_S, _ASYNC_FIRST_DELAY_S * 2.0 ** (throttles - 1)
        )
        retry_at_s = self.env.now + interval_s * (
            0.5 + 0.5 * function.retry_jitter.next()
        )
        expires_s = first_arrival_s + function.config.max_event_age_s
        if retry_at_s > expires_s:
            return expires_s, self._drop_async
        return retry_at_s, self._retry_async

    def _error_retry_plan(
        self,
        function: Function,
        end_s: float,
        error_retries: int,
        first_arrival_s: float,
    ) -> tuple[float, Callable[[Call], None]]:
        """Return when a failed event is retried, or dropped at its maximum age.

        The maximum event age bounds error retries too: an event that would be
        older than it at its retry is discarded when it reaches that age.
        """
        retry_at_s = end_s + _ASYNC_ERROR_DELAYS_S[error_retries]
        expires_s = first_arrival_s + function.config.max_event_age_s
        if retry_at_s > expires_s:
            return max(expires_s, end_s), self._drop_async
        return retry_at_s, self._retry_async

    def _retry_async(self, event: Call) -> None:
        function, duration_s, request_id, attempt, first_s, error_retries = event.value
        self.pending_retries -= 1
        self.invoke_async(
            function, duration_s, request_id, attempt + 1, first_s, error_retries
        )

    def _drop_async(self, event: Call) -> None:
        function, _, request_id, attempt, _, _ = event.value
        self.pending_retries -= 1
        row = len(self._statuses)
        self._record_unserved(function, self.env.now, _ASYNC, _DROPPED, _NO_REASON)
        self._link_attempt(row, request_id, attempt + 1, -1)

    def _retry(self, event: Call) -> None:
        function, duration_s, invocation_type, client, request_id, attempt = event.value
        self.pending_retries -= 1
        self.request(
            function, duration_s, invocation_type, client, request_id, attempt + 1
        )

    def _initialise(
        self, function: Function, instance: Instance, init_start_s: float
    ) -> tuple[float, float]:
        """Run INIT for a cold start; return (INIT phase, INIT inside the invoke).

        A new instance runs the INIT phase, capped at the INIT limit: one that runs
        longer fails at the limit and INIT runs again at the start of the invoke
        phase, where it counts against the function timeout (Lambda's suppressed
        init). An instance reset by a timeout or crash re-initialises inside the
        invoke phase too.
        """
        instance.needs_init = False
        instance.state = _INITIALISING
        if instance.invocations:
            return 0.0, function.init.next()
        init_s = function.init.next()
        if init_s <= function.init_limit_s:
            instance.ready_s = init_start_s + init_s
            instance.init_s = init_s
            return init_s, 0.0
        reinit_s = function.init.next()
        if reinit_s < function.timeout_s:
            # Ready once the INIT inside the invoke finishes (else never: A-07).
            instance.ready_s = init_start_s + function.init_limit_s + reinit_s
        instance.init_s = function.init_limit_s
        return function.init_limit_s, reinit_s

    def _draw_failure(
        self,
        function: Function,
        instance: Instance,
        reinit_s: float,
        duration_s: float,
    ) -> tuple[int, float]:
        """Decide whether the handler fails; return (status, invoke-phase time).

        A failure happens at a uniformly drawn point of the handler's duration. A
        crash also resets the instance; a plain error leaves it warm.
        """
        draw = function.failures.next()
        if draw >= function.failure_probability:
            return _OK, reinit_s + duration_s
        if draw < function.crash_probability:
            instance.needs_init = True
        return _ERROR, reinit_s + duration_s * function.failures.next()

    def _throttle(
        self, function: Function, now: float, invocation_type: int, reason: int
    ) -> None:
        # Assumption A-08: a 429 at once; nothing runs, nothing is billed.
        self._record_unserved(function, now, invocation_type, _THROTTLED, reason)

    def _record_unserved(
        self,
        function: Function,
        now: float,
        invocation_type: int,
        status: int,
        reason: int,
    ) -> None:
        """Record an attempt that never ran: a throttle, or a dropped event."""
        self._rec_function(function.index)
        self._rec_type(invocation_type)
        self._rec_arrival(now)
        self._rec_cold(False)
        self._rec_overhead(0.0)
        self._rec_init(0.0)
        self._rec_duration(0.0)
        self._rec_status(status)
        self._rec_throttle(reason)
        self._rec_instance(-1)
        self._rec_served_by(_ON_DEMAND)
        if self._is_tracing:
            event = "throttle" if status == _THROTTLED else "dropped"
            self._trace(now, event, function.index)

    def create_instance(
        self, function: Function, now: float, retires: bool = True
    ) -> Instance:
        """Make a new instance of `function` at `now` and count it as live.

        Args:
            function: Its function.
            now: Its creation time.
            retires: Whether it gets a maximum lifetime (PC instances are recycled
                instead).
        """
        lifetime = function.max_lifetime
        retire_at_s = (
            now + lifetime.next() if lifetime is not None and retires else math.inf
        )
        instance = Instance(self._next_instance_id, function, now, retire_at_s)
        self._next_instance_id += 1
        function.register(instance)
        return instance

    # -- completion and reaping ---------------------------------------------------

    def _complete(self, event: Call) -> None:
        instance: Instance = event.value
        function = instance.function
        function.concurrency -= 1
        self.in_flight -= 1
        now = self.env.now
        if self._is_tracing:
            self._trace(now, "end", instance.id)
        if instance.is_provisioned:
            assert function.provisioned is not None  # it has PC instances
            function.provisioned.release(instance, now)
            return
        function.limit.in_use -= 1
        if instance.is_broken:
            self.reap(instance, now, ReapReason.INIT_FAILED)
            return
        if now >= instance.retire_at_s - _TIME_EPS_S:
            self.reap(instance, now, ReapReason.MAX_LIFETIME)
            return
        keep_alive_s = function.keep_alive.next()
        if keep_alive_s <= 0.0:
            self.reap(instance, now, ReapReason.KEEP_ALIVE)
            return
        instance.state = _IDLE
        reap_at_s = instance.reap_at_s = now + keep_alive_s
        function.pool.push(instance)
        if reap_at_s < instance.reap_timer_s:
            self._arm_reap_timer(instance, now)

    def _arm_reap_timer(self, instance: Instance, now: float) -> None:
        """Make sure a reap check fires at the instance's next deadline.

        An instance keeps at most one effective timer, at `reap_timer_s`. A deadline
        later than that timer is handled when it fires (it re-arms); an earlier one
        (keep-alive is random) gets a new timer and the old one is ignored when it
        fires.
        """
        deadline_s = min(instance.reap_at_s, instance.retire_at_s)
        if deadline_s < instance.reap_timer_s:
            instance.reap_timer_s = max(deadline_s, now)
            self.env.call_at(instance.reap_timer_s, self._check_reap, instance)

    def _check_reap(self, event: Call) -> None:
        instance: Instance = event.value
        now = self.env.now
        if now != instance.reap_timer_s:
            return  # superseded by an earlier timer
        instance.reap_timer_s = math.inf
        if instance.state is not InstanceState.IDLE:
            return  # busy again; its next release re-arms
        if now >= instance.retire_at_s - _TIME_EPS_S:
            reason = ReapReason.MAX_LIFETIME
        elif now >= instance.reap_at_s - _TIME_EPS_S:
            reason = ReapReason.KEEP_ALIVE
        else:
            self._arm_reap_timer(instance, now)
            return
        instance.function.pool.discard(instance)
        self.reap(instance, now, reason)

    def initialised(self, instance: Instance, now: float) -> bool:
        """Finish the INIT of a provisioned instance, outside any invocation.

        A function that connects to its database at INIT opens its connections now.

        Returns:
            Whether the INIT succeeded: False if the database refused the
            connections (the caller runs INIT again, Assumption A-61).
        """
        database = self._database
        return database is None or not database.on_initialised(instance, now)

    def reap(self, instance: Instance, now: float, reason: ReapReason) -> None:
        """End an instance's life at `now` and record it."""
        instance.state = InstanceState.REAPED
        instance.function.unregister(instance)
        if self._database is not None:
            self._database.on_reaped(instance, now)
        self._record_instance(instance, now, reason)
        if self._is_tracing:
            self._trace(now, "reaped", instance.id)

    def _record_instance(
        self, instance: Instance, reaped_s: float, reason: ReapReason
    ) -> None:
        columns = self.instances.columns
        columns["instance_id"].append(instance.id)
        columns["function_index"].append(instance.function.index)
        columns["created_s"].append(instance.created_s)
        columns["ready_s"].append(instance.ready_s)
        columns["reaped_s"].append(reaped_s)
        columns["reap_reason"].append(int(reason))
        columns["invocations"].append(instance.invocations)
        columns["init_s"].append(instance.init_s)
        columns["is_provisioned"].append(instance.is_provisioned)

    def record_allocation(
        self, function_index: int, now: float, allocated: int
    ) -> None:
        """Record that `allocated` PC is configured on a qualifier from `now` on."""
        columns = self.allocations.columns
        columns["function_index"].append(function_index)
        columns["time_s"].append(now)
        columns["allocated"].append(allocated)

    @property
    def is_tracing(self) -> bool:
        """Whether model events are logged or observed (`trace` does something)."""
        return self._is_tracing

    def trace(self, now: float, event: str, entity_id: int) -> None:
        """Log a model event at DEBUG and pass it to the observer, if any."""
        self._trace(now, event, entity_id)

    def _trace(self, now: float, event: str, entity_id: int) -> None:
        # Most events name an instance; a throttle, drop or receive names the
        # function, a dead-letter move the message.
        entity = _TRACED_ENTITY.get(event, "instance")
        logger.debug("t=%.6f %s=%d event=%s", now, entity, entity_id, event)
        if self._observer is not None:
            self._observer(now, event, entity_id)


# Module-level aliases for the hot path (enum member lookups cost a global and an
# attribute access each time).
_IDLE = InstanceState.IDLE
_BUSY = InstanceState.BUSY
_INITIALISING = InstanceState.INITIALISING
_OK = int(Status.OK)
_ERROR = int(Status.ERROR)
_INIT_ERROR = int(Status.INIT_ERROR)
_TIMEOUT = int(Status.TIMEOUT)
_THROTTLED = int(Status.THROTTLED)
_ON_DEMAND = int(ServedBy.ON_DEMAND)
_PROVISIONED = int(ServedBy.PROVISIONED)
_SPILLOVER = int(ServedBy.SPILLOVER)
_ACCOUNT = int(ThrottleReason.ACCOUNT_CONCURRENCY)
_RESERVED = int(ThrottleReason.RESERVED_CONCURRENCY)
_SCALE_UP = int(ThrottleReason.SCALE_UP_RATE)
_REQUEST_RATE = int(ThrottleReason.REQUEST_RATE)
_DROPPED = int(Status.DROPPED)
_NO_REASON = int(ThrottleReason.NONE)
_ASYNC = int(InvocationType.ASYNC)
_TRACED_ENTITY = {
    "throttle": "function",
    "dropped": "function",
    "receive": "function",
    "dead_letter": "message",
}
_RETRIED_ERRORS = frozenset({_ERROR, _TIMEOUT, _INIT_ERROR, int(Status.DB_ERROR)})
# Lambda's retries of asynchronous events (AWS Lambda docs, "Error handling and
# automatic retries"): throttles from 1 s doubling to at most 5 min; function errors
# 1 min, then 2 min after the failed attempt.
_ASYNC_FIRST_DELAY_S = 1.0
_ASYNC_MAX_DELAY_S = 300.0
_ASYNC_ERROR_DELAYS_S = (60.0, 120.0)


def _reserved_total(configs: Sequence[FunctionConfig]) -> int:
    """Concurrency reserved by all functions (once per function, not per qualifier)."""
    reserved = {c.name: c.reserved_concurrency or 0 for c in configs}
    return sum(reserved.values())


def _database_info(
    database: DatabaseConfig | None, proxy: ProxyConfig | None
) -> dict[str, float]:
    """The database settings the reports need (empty without a database)."""
    if database is None:
        return {}
    info = {
        "max_connections": float(database.max_connections),
        "usable_connections": float(database.usable_connections),
        "vcpus": float(database.vcpus),
    }
    if proxy is not None:
        info["proxy_connection_cap"] = float(proxy.pool_cap(database))
    return info


class _ArrivalDriver:
    """Feed one source's arrivals into the model.

    While no other event is due before the next arrival, the driver moves the clock
    and serves it inline; otherwise it schedules itself at the arrival time, so
    arrivals and completions keep their time order.
    """

    __slots__ = (
        "_sim",
        "_chunks",
        "_times",
        "_functions",
        "_durations",
        "_types",
        "_next",
        "_client",
    )

    def __init__(
        self,
        sim: Simulation,
        chunks: Iterator[ArrivalChunk],
        client: _Client | None = None,
    ) -> None:
        self._sim = sim
        self._chunks = chunks
        self._client = client
        self._times: list[float] = []
        self._functions: list[int] = []
        self._durations: list[float] | None = None
        self._types: list[int] | None = None
        self._next = 0

    def start(self) -> None:
        """Schedule the first arrival."""
        if self._load() and self._times[0] < self._sim.horizon_s:
            self._sim.env.call_at(self._times[0], self._fire, priority=ARRIVAL)

    def _load(self) -> bool:
        for chunk in self._chunks:
            if len(chunk) == 0:
                continue
            self._times = chunk.time_s.tolist()
            self._functions = chunk.function_index.tolist()
            self._durations = (
                chunk.duration_s.tolist() if chunk.duration_s is not None else None
            )
            self._types = (
                chunk.invocation_type.tolist()
                if chunk.invocation_type is not None
                else None
            )
            self._next = 0
            return True
        return False

    def _fire(self, event: Call) -> None:
        sim = self._sim
        env = sim.env
        client = self._client
        invoke = sim.invoke if client is None else partial(sim.request, client=client)
        functions = sim.functions
        horizon_s = sim.horizon_s
        times = self._times
        function_indices = self._functions
        durations = self._durations
        types = self._types
        index = self._next
        invoke_async = sim.invoke_async
        send_message = sim.send_message
        while True:
            kind = types[index] if types is not None else 0
            if kind == 0:
                invoke(
                    functions[function_indices[index]],
                    durations[index] if durations is not None else None,
                    0,
                )
            elif kind == _ASYNC:
                invoke_async(
                    functions[function_indices[index]],
                    durations[index] if durations is not None else None,
                )
            else:  # a message for the function's SQS queue (_POLL)
                send_message(functions[function_indices[index]])
            index += 1
            if index == len(times):
                if not self._load():
                    return
                times = self._times
                function_indices = self._functions
                durations = self._durations
                types = self._types
                index = 0
            arrival_s = times[index]
            if arrival_s >= horizon_s:
                return
            if not env.advance_to(arrival_s):
                self._next = index
                env.call_at(arrival_s, self._fire, priority=ARRIVAL)
                return


class _Client:
    """A source's client policy with its own stream of backoff draws."""

    __slots__ = ("index", "policy", "draws")

    def __init__(
        self, index: int, policy: ClientPolicy, rng: np.random.Generator
    ) -> None:
        self.index = index
        self.policy = policy
        self.draws = BlockSampler(UNIT_UNIFORM, rng)
