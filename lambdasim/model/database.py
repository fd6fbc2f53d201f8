"""A relational database behind the functions: connections, queries, failover.

What a function's instances do to the database (aws-lambda-facts.md section 7):

- Without a proxy, each instance opens its own client pool (`pool_size` connections)
  at INIT or at first use and holds it for its whole life, busy or idle, until it is
  reaped or reset. A connection past the usable `max_connections` is refused ("too
  many connections") and the invocation ends as `db_error`.
- Queries run on the database's vCPUs under processor sharing: with `n` queries in
  flight on `c` vCPUs each progresses at `min(1, c / n)` of its unloaded speed, so an
  overloaded database lengthens every invocation that waits on it.
- With RDS Proxy (`lambdasim.model.proxy`), instances hold client connections to the
  proxy and borrow a pooled database connection per transaction.

An invocation that queries the database cannot know its end at dispatch, so it runs
here as a short chain of callbacks on the engine's queue (`DatabaseInvocation`),
instead of the single completion callback of the platform's hot path.

Processor sharing uses virtual time: `V(t)` grows at the rate each query is served,
`dV/dt = min(1, c / n(t))`. A query entering at `V_a` with demand `s` finishes when
`V` reaches `V_a + s`; finish tags sit in a heap and only the earliest one has a
timer. Every arrival, departure or cancellation costs O(log n), never a scan.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from lambdasim.distributions import BlockSampler, Sampler
from lambdasim.model.engine import Call, Engine
from lambdasim.model.proxy import Backend, Proxy, ProxyConfig, Waiter
from lambdasim.results import (
    DB_BORROW_COLUMNS,
    DB_CONNECTION_COLUMNS,
    DB_ERROR_COLUMNS,
    DB_QUERY_COLUMNS,
    ColumnRecorder,
    ConnectionKind,
    DbErrorReason,
    Status,
)

if TYPE_CHECKING:
    from lambdasim.model.platform import Function, Instance

# Two virtual times closer than this (relative) are equal: a timer computed from a
# rate may land an ulp short of the finish tag it aims at.
_VIRTUAL_EPS = 1e-12


class ConnectMode(enum.Enum):
    """When an instance opens its connections."""

    INIT = "init"
    FIRST_USE = "first_use"


@dataclass(frozen=True)
class Failover:
    """A failover of the database's writer.

    Attributes:
        at_s: When the writer fails.
        duration_s: How long clients that connect directly (through the DNS name)
            cannot reach a writer: detection, promotion and DNS propagation.
    """

    at_s: float
    duration_s: float


@dataclass(frozen=True)
class DatabaseConfig:
    """The database instance as the model sees it.

    Attributes:
        max_connections: The engine's `max_connections` (from the instance class's
            memory by the engine's default formula, or set explicitly).
        reserved_connections: Of those, slots applications cannot use (PostgreSQL's
            `superuser_reserved_connections`).
        vcpus: vCPUs that serve queries (processor sharing).
        query_time: Time one query takes on an unloaded database (seconds).
        failovers: Writer failovers, in time order.
    """

    max_connections: int
    vcpus: float
    query_time: Sampler
    reserved_connections: int = 0
    failovers: tuple[Failover, ...] = ()

    @property
    def usable_connections(self) -> int:
        """Connections applications may open."""
        return max(self.max_connections - self.reserved_connections, 0)


@dataclass(frozen=True)
class DatabaseUsage:
    """How a function's invocations use the database.

    Attributes:
        connect: Open the instance's connections during INIT or at the first query.
        pool_size: Connections each instance opens (its client pool).
        queries_per_invocation: Queries each invocation runs, one after the other,
            before the rest of its handler.
        is_transaction: All queries of an invocation in one transaction (True), or
            each query its own transaction (autocommit).
        pinned_fraction: Share of client sessions that pin their proxy connection
            (prepared statements, `SET`, temporary tables); only with a proxy.
        connect_retries: Further attempts after a refused connection (in INIT or
            in the handler), before the invocation ends as `db_error`.
        connect_retry_delay_s: Wait before each of those attempts.
    """

    connect: ConnectMode = ConnectMode.INIT
    pool_size: int = 1
    queries_per_invocation: int = 1
    is_transaction: bool = True
    pinned_fraction: float = 0.0
    connect_retries: int = 0
    connect_retry_delay_s: float = 0.1


class Session:
    """An instance's connections: its own pool, or its client connections to a proxy.

    Attributes:
        instance: The instance that owns it.
        usage: Its function's database usage.
        is_connected: Its connections are open (they may still have been lost).
        opened_s: When they were opened.
        last_used_s: When its last transaction ended (proxy idle client timeout).
        is_pinned: Its proxy session pins a database connection once it borrows one.
        pinned: The database connection it holds pinned, if any.
        use_count: Borrows and releases so far (tags idle-client checks).
    """

    __slots__ = (
        "instance",
        "function_index",
        "usage",
        "is_connected",
        "opened_s",
        "last_used_s",
        "is_pinned",
        "pinned",
        "pinned_s",
        "use_count",
    )

    def __init__(self, instance: Instance, usage: DatabaseUsage) -> None:
        self.instance = instance
        self.function_index = instance.function.index
        self.usage = usage
        self.is_connected = False
        self.opened_s = math.nan
        self.last_used_s = math.nan
        self.is_pinned = False
        self.pinned: Backend | None = None
        self.pinned_s = math.nan
        self.use_count = 0


class Query:
    """One query under processor sharing."""

    __slots__ = ("finish_v", "callback", "is_cancelled")

    def __init__(self, finish_v: float, callback: Callable[[], None]) -> None:
        self.finish_v = finish_v
        self.callback = callback
        self.is_cancelled = False


class QueryServer:
    """Egalitarian processor sharing of queries over the database's vCPUs.

    With `n` queries in flight on `c` vCPUs, each is served at `min(1, c / n)`
    (Assumption A-52). Arrivals, departures and cancellations are O(log n).

    Args:
        env: The engine.
        vcpus: Number of vCPUs, > 0.
    """

    def __init__(self, env: Engine, vcpus: float) -> None:
        if not vcpus > 0:
            raise ValueError(f"vcpus is {vcpus}; expected > 0")
        self._env = env
        self.vcpus = vcpus
        self.active = 0
        self._virtual = 0.0
        self._updated_s = 0.0
        self._heap: list[tuple[float, int, Query]] = []
        self._order = itertools.count()
        self._timer = 0

    def submit(self, demand_s: float, callback: Callable[[], None]) -> Query:
        """Start a query needing `demand_s` of one vCPU; call `callback` when done."""
        now = self._env.now
        self._advance(now)
        query = Query(self._virtual + max(demand_s, 0.0), callback)
        heapq.heappush(self._heap, (query.finish_v, next(self._order), query))
        self.active += 1
        self._arm(now)
        return query

    def cancel(self, query: Query) -> None:
        """Withdraw a query in flight (its callback is never called)."""
        if query.is_cancelled:
            return
        now = self._env.now
        self._advance(now)
        query.is_cancelled = True
        self.active -= 1
        self._arm(now)

    def _rate(self) -> float:
        return min(1.0, self.vcpus / self.active) if self.active else 0.0

    def _advance(self, now: float) -> None:
        self._virtual += (now - self._updated_s) * self._rate()
        self._updated_s = now

    def _arm(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][2].is_cancelled:
            heapq.heappop(heap)
        self._timer += 1
        if not heap:
            return
        due_s = now + max(heap[0][0] - self._virtual, 0.0) / self._rate()
        self._env.call_at(due_s, self._on_timer, self._timer)

    def _on_timer(self, event: Call) -> None:
        if event.value != self._timer:
            return  # superseded by a later arrival or departure
        now = self._env.now
        self._advance(now)
        heap = self._heap
        # The timer aimed at the earliest tag: it is done, and so is every tag equal
        # to it up to rounding.
        self._virtual = max(self._virtual, heap[0][0])
        limit = self._virtual * (1.0 + _VIRTUAL_EPS) + _VIRTUAL_EPS
        finished = []
        while heap and heap[0][0] <= limit:
            query = heapq.heappop(heap)[2]
            if not query.is_cancelled:
                query.is_cancelled = True
                self.active -= 1
                finished.append(query)
        self._arm(now)
        for query in finished:
            query.callback()


class Broker(Protocol):
    """How an invocation gets a database connection: direct, or through a proxy."""

    query_latency_s: float

    def connect(self, session: Session, now: float) -> int:
        """Open the session's connections if needed; return a `DbErrorReason`."""

    def acquire(self, invocation: DatabaseInvocation) -> None:
        """Get a connection for a transaction; call back `on_acquired` or `fail`."""

    def release(self, invocation: DatabaseInvocation, now: float) -> None:
        """Give back the transaction's connection (if it holds one)."""

    def abandon(self, invocation: DatabaseInvocation, now: float) -> None:
        """Stop waiting for a connection, or give it back, on a failed invocation."""

    def drop(self, session: Session, now: float) -> None:
        """Close the session's connections (instance reaped or reset)."""

    def fail_over(self, now: float, duration_s: float) -> None:
        """React to a writer failover starting now."""

    def close_out(self) -> None:
        """Record every connection still open at the end of the run."""


class DatabaseRecorder:
    """Columns of the database tables (see `lambdasim.results`)."""

    def __init__(self) -> None:
        self.connections = ColumnRecorder(DB_CONNECTION_COLUMNS)
        self.queries = ColumnRecorder(DB_QUERY_COLUMNS)
        self.borrows = ColumnRecorder(DB_BORROW_COLUMNS)
        self.errors = ColumnRecorder(DB_ERROR_COLUMNS)

    def connection(
        self,
        kind: ConnectionKind,
        function_index: int,
        count: int,
        opened_s: float,
        closed_s: float,
    ) -> None:
        """Record `count` connections open over `[opened_s, closed_s)`."""
        columns = self.connections.columns
        columns["kind"].append(int(kind))
        columns["function_index"].append(function_index)
        columns["count"].append(count)
        columns["opened_s"].append(opened_s)
        columns["closed_s"].append(closed_s)

    def query(self, function_index: int, start_s: float, end_s: float) -> None:
        """Record a query that ran over `[start_s, end_s)`."""
        columns = self.queries.columns
        columns["function_index"].append(function_index)
        columns["start_s"].append(start_s)
        columns["end_s"].append(end_s)

    def borrow(self, function_index: int, requested_s: float, wait_s: float) -> None:
        """Record a borrow from the proxy's pool (wait until served or failed)."""
        columns = self.borrows.columns
        columns["function_index"].append(function_index)
        columns["requested_s"].append(requested_s)
        columns["wait_s"].append(wait_s)

    def error(self, row: int, reason: int) -> None:
        """Record why invocation row `row` ended as `db_error`."""
        columns = self.errors.columns
        columns["row"].append(row)
        columns["reason"].append(reason)

    def tables(self) -> dict[str, dict[str, npt.NDArray[Any]]]:
        """Return every table as numpy columns (call once, after the run)."""
        return {
            "connections": self.connections.to_arrays(),
            "queries": self.queries.to_arrays(),
            "borrows": self.borrows.to_arrays(),
            "errors": self.errors.to_arrays(),
        }


class DirectAccess:
    """Instances connect straight to the database, each with its own pool.

    A pool opens all `pool_size` connections at once, or none (Assumption A-53).
    """

    query_latency_s = 0.0

    def __init__(self, config: DatabaseConfig, recorder: DatabaseRecorder) -> None:
        self.config = config
        self.usable = config.usable_connections
        self.open_connections = 0
        self.reachable_at_s = -math.inf
        self._sessions: dict[int, Session] = {}
        self._recorder = recorder

    def connect(self, session: Session, now: float) -> int:
        """See `Broker.connect`."""
        if session.is_connected:
            return _NO_ERROR
        if now < self.reachable_at_s:
            return _UNAVAILABLE
        size = session.usage.pool_size
        if self.open_connections + size > self.usable:
            return _TOO_MANY
        self.open_connections += size
        session.is_connected = True
        session.opened_s = now
        self._sessions[session.instance.id] = session
        return _NO_ERROR

    def acquire(self, invocation: DatabaseInvocation) -> None:
        """See `Broker.acquire`."""
        # The instance runs one invocation at a time: its own connection is free.
        invocation.on_acquired()

    def release(self, invocation: DatabaseInvocation, now: float) -> None:
        """See `Broker.release`."""
        return None

    def abandon(self, invocation: DatabaseInvocation, now: float) -> None:
        """See `Broker.abandon`."""
        return None

    def drop(self, session: Session, now: float) -> None:
        """See `Broker.drop`."""
        if not session.is_connected:
            return
        session.is_connected = False
        self.open_connections -= session.usage.pool_size
        del self._sessions[session.instance.id]
        self._recorder.connection(
            ConnectionKind.DIRECT,
            session.function_index,
            session.usage.pool_size,
            session.opened_s,
            now,
        )

    def fail_over(self, now: float, duration_s: float) -> None:
        """See `Broker.fail_over`."""
        # Every connection drops; clients reach the new writer once DNS points there.
        for session in list(self._sessions.values()):
            self.drop(session, now)
        self.reachable_at_s = now + duration_s

    def close_out(self) -> None:
        """See `Broker.close_out`."""
        for session in self._sessions.values():
            self._recorder.connection(
                ConnectionKind.DIRECT,
                session.function_index,
                session.usage.pool_size,
                session.opened_s,
                math.nan,
            )


_NO_ERROR = int(DbErrorReason.NONE)
_TOO_MANY = int(DbErrorReason.TOO_MANY_CONNECTIONS)
_UNAVAILABLE = int(DbErrorReason.UNAVAILABLE)
_FAILOVER = int(DbErrorReason.FAILOVER)
_BORROW_TIMEOUT = int(DbErrorReason.BORROW_TIMEOUT)
_OK = int(Status.OK)
_DB_ERROR = int(Status.DB_ERROR)
_TIMEOUT = int(Status.TIMEOUT)

# Finish an invocation: (invocation, status), called at its end.
Finisher = Callable[["DatabaseInvocation", int], None]


class DatabaseInvocation:
    """One invocation of a function that uses the database, as a chain of callbacks.

    Steps, from the start of the handler: make sure the session is connected
    (retrying a refused connection `connect_retries` times), then per transaction
    acquire a connection, run its queries one after the other (each: the proxy's
    latency, then service under processor sharing), release it; then the rest of
    the handler. The function timeout cuts any step short.
    """

    __slots__ = (
        "model",
        "function",
        "instance",
        "session",
        "row",
        "start_s",
        "deadline_s",
        "handler_s",
        "final_status",
        "queries_left",
        "in_transaction",
        "connect_attempts",
        "connect_failure",
        "is_init_refused",
        "query",
        "query_start_s",
        "holds",
        "waiter",
        "borrow_requested_s",
        "step",
        "is_done",
    )

    def __init__(
        self,
        model: DatabaseModel,
        function: Function,
        instance: Instance,
        row: int,
        start_s: float,
        handler_s: float,
        final_status: int,
    ) -> None:
        self.model = model
        self.function = function
        self.instance = instance
        self.session = model.session_of(instance)
        self.row = row
        self.start_s = start_s
        self.deadline_s = start_s + function.timeout_s
        self.handler_s = handler_s
        self.final_status = final_status
        self.queries_left = self.session.usage.queries_per_invocation
        self.in_transaction = 0
        self.connect_attempts = 0
        self.connect_failure = _NO_ERROR
        self.is_init_refused = False
        self.query: Query | None = None
        self.query_start_s = math.nan
        self.holds: Backend | None = None
        self.waiter: Waiter | None = None
        self.borrow_requested_s = math.nan
        self.step = 0
        self.is_done = False

    # -- scheduling helpers ---------------------------------------------------------

    def _after(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Run `callback` after `delay_s` unless the invocation has ended by then."""
        self.step += 1
        self.model.env.call_at(
            self.model.env.now + delay_s, self._resume, (self.step, callback)
        )

    def _resume(self, event: Call) -> None:
        step, callback = event.value
        if not self.is_done and step == self.step:
            callback()

    # -- the steps ---------------------------------------------------------------------

    def begin(self, handler_start_s: float) -> None:
        """Schedule the handler's start and the function timeout."""
        env = self.model.env
        env.call_at(self.deadline_s, self._on_deadline)
        delay_s = handler_start_s - env.now
        if delay_s > 0.0 or not self.session.is_connected:
            # Scheduled even at zero delay: a refused connection must not end the
            # invocation inside its own dispatch (callers look at it afterwards).
            self._after(max(delay_s, 0.0), self._connect)
        else:
            self._connect()  # a warm start on open connections: nothing ends now

    def _connect(self) -> None:
        usage = self.session.usage
        if self.connect_failure != _NO_ERROR:
            # The connection at INIT was refused. The INIT code retries it if the
            # scenario says so (Assumption A-50); else INIT failed.
            self.is_init_refused = True
            if self.connect_attempts < usage.connect_retries:
                self.connect_attempts += 1
                self.connect_failure = _NO_ERROR
                self._after(usage.connect_retry_delay_s, self._connect)
                return
            self._fail_init(self.connect_failure)
            return
        # Assumption A-50: a connection lost in a failover is reopened here.
        reason = self.model.broker.connect(self.session, self.model.env.now)
        if reason == _NO_ERROR:
            self._next_transaction()
        elif self.connect_attempts < usage.connect_retries:
            self.connect_attempts += 1
            self._after(usage.connect_retry_delay_s, self._connect)
        elif self.is_init_refused:
            self._fail_init(reason)
        else:
            self.fail(reason)

    def _fail_init(self, reason: int) -> None:
        """Fail an invocation whose INIT could not connect; reset its environment.

        The next invocation on it runs INIT (and connects) again.
        """
        self.instance.needs_init = True
        self.fail(reason)

    def _next_transaction(self) -> None:
        if self.queries_left == 0:
            self._after(self.handler_s, self._handler_done)
            return
        usage = self.session.usage
        self.in_transaction = self.queries_left if usage.is_transaction else 1
        self.borrow_requested_s = self.model.env.now
        self.model.broker.acquire(self)

    def on_acquired(self) -> None:
        """The transaction has a connection: run its first query."""
        self._run_query()

    def _run_query(self) -> None:
        latency_s = self.model.broker.query_latency_s
        if latency_s > 0.0:
            self._after(latency_s, self._submit)
        else:
            self._submit()

    def _submit(self) -> None:
        self.query_start_s = self.model.env.now
        demand_s = self.model.query_time.next()
        self.query = self.model.server.submit(demand_s, self._query_done)

    def _query_done(self) -> None:
        model = self.model
        now = model.env.now
        model.recorder.query(self.function.index, self.query_start_s, now)
        self.query = None
        self.queries_left -= 1
        self.in_transaction -= 1
        if self.in_transaction > 0:
            self._run_query()
            return
        model.broker.release(self, now)
        self._next_transaction()

    def _handler_done(self) -> None:
        self._end(self.final_status)

    def _on_deadline(self, event: Call) -> None:
        if not self.is_done:
            self._end(_TIMEOUT)

    # -- endings ---------------------------------------------------------------------

    def fail(self, reason: int) -> None:
        """End as `db_error` now, for `reason` (a `DbErrorReason`)."""
        if self.is_done:
            return
        self.model.recorder.error(self.row, reason)
        self._end(_DB_ERROR)

    def _end(self, status: int) -> None:
        model = self.model
        now = model.env.now
        self.is_done = True
        if self.query is not None:
            model.server.cancel(self.query)
            self.query = None
        model.broker.abandon(self, now)
        model.finish(self, status)


class DatabaseModel:
    """The database, its clients' sessions and (optionally) the proxy between them.

    Args:
        env: The engine.
        config: The database.
        query_rng: Stream of query-time draws.
        pin_rng: Stream of pinning draws (one per proxy session).
        finish: Called when an invocation ends, with its final status.
        proxy: The proxy's settings, or None for direct connections.
    """

    def __init__(
        self,
        env: Engine,
        config: DatabaseConfig,
        query_rng: np.random.Generator,
        pin_rng: np.random.Generator,
        finish: Finisher,
        proxy: ProxyConfig | None = None,
    ) -> None:
        self.env = env
        self.config = config
        self.recorder = DatabaseRecorder()
        self.server = QueryServer(env, config.vcpus)
        self.query_time = BlockSampler(config.query_time, query_rng)
        self.finish = finish
        self.broker: Broker = (
            Proxy(env, config, proxy, self.recorder, pin_rng)
            if proxy is not None
            else DirectAccess(config, self.recorder)
        )
        self._sessions: dict[int, Session] = {}
        self._running: dict[int, DatabaseInvocation] = {}
        for failover in config.failovers:
            env.call_at(failover.at_s, self._fail_over, failover)

    def session_of(self, instance: Instance) -> Session:
        """Return the instance's session, creating it on first use."""
        session = self._sessions.get(instance.id)
        if session is None:
            usage = instance.function.database
            if usage is None:
                raise ValueError(
                    f"function {instance.function.config.name} has no usage"
                )
            session = self._sessions[instance.id] = Session(instance, usage)
        return session

    def start(
        self,
        function: Function,
        instance: Instance,
        row: int,
        start_s: float,
        reinit_s: float,
        handler_s: float,
        final_status: int,
        is_initialising: bool,
    ) -> None:
        """Start serving an invocation dispatched now.

        Args:
            function: Its function.
            instance: The instance it runs on.
            row: Its row in the invocations table.
            start_s: Start of its invoke phase.
            reinit_s: INIT run again inside the invoke phase, before the handler.
            handler_s: The handler's own time besides the queries (already cut short
                by an error drawn for it).
            final_status: Its status if nothing in the database fails.
            is_initialising: Its instance runs INIT for it (a cold start).
        """
        invocation = DatabaseInvocation(
            self, function, instance, row, start_s, handler_s, final_status
        )
        if is_initialising:
            # Assumption A-50: connected at INIT, counted from the arrival.
            invocation.connect_failure = self.on_initialised(instance, self.env.now)
        self._running[instance.id] = invocation
        invocation.begin(start_s + reinit_s)

    def on_initialised(self, instance: Instance, now: float) -> int:
        """Open an instance's connections at INIT if its function does so.

        Returns:
            A `DbErrorReason` (0 when connected or when it connects at first use).
        """
        usage = instance.function.database
        if usage is None or usage.connect is not ConnectMode.INIT:
            return _NO_ERROR
        return self.broker.connect(self.session_of(instance), now)

    def on_ended(self, invocation: DatabaseInvocation) -> None:
        """Forget a finished invocation; drop the session of a reset instance."""
        instance = invocation.instance
        del self._running[instance.id]
        if instance.needs_init:
            # Assumption A-54: a reset environment restarts its runtime, so its
            # connections are gone.
            self.on_reaped(instance, self.env.now)

    def on_reaped(self, instance: Instance, now: float) -> None:
        """Close the connections of an instance that is reaped (or reset).

        Assumption A-54: at once, as if the server noticed.
        """
        session = self._sessions.pop(instance.id, None)
        if session is not None:
            self.broker.drop(session, now)

    def _fail_over(self, event: Call) -> None:
        failover: Failover = event.value
        # First the connections go (so that no connection given back by a failed
        # transaction is handed on), then every transaction in flight fails:
        # without a proxy its connection dropped; with one, the proxy cancels the
        # transactions on the failed writer. Waiting borrows stay queued.
        self.broker.fail_over(self.env.now, failover.duration_s)
        for invocation in list(self._running.values()):
            if invocation.query is not None or invocation.holds is not None:
                invocation.fail(_FAILOVER)

    def close_out(self) -> None:
        """Record the connections still open at the end of the run."""
        self.broker.close_out()
