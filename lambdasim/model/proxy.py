"""RDS Proxy: client connections multiplexed onto a capped pool of database connections.

As documented (RDS user guide, rds-proxy-managing and rds-proxy.howitworks; see
aws-lambda-facts.md section 7):

- The pool holds at most `max_connections_percent` of the database's
  `max_connections` (minus the proxy's own reserve); connections open lazily.
- A transaction borrows a pooled connection and gives it back at its end. When none
  is free it waits in the proxy's queue, first come first served, up to
  `connection_borrow_timeout` (default 120 s), then fails. The client library's own,
  shorter, timeouts do not end that wait (cases.md D12).
- A pinned session keeps its connection from its first borrow until the client
  disconnects (instance gone, or idle past `idle_client_timeout`, default 1,800 s).
- A pooled connection idle for 5 minutes is closed while more than
  `max_idle_connections_percent` of `max_connections` are idle.
- On failover, client connections survive, transactions in flight fail, and new
  ones queue until the proxy reaches the new writer.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lambdasim.model.engine import Call, Engine
from lambdasim.results import ConnectionKind, DbErrorReason

if TYPE_CHECKING:
    from lambdasim.model.database import (
        DatabaseConfig,
        DatabaseInvocation,
        DatabaseRecorder,
        Session,
    )

_NO_ERROR = int(DbErrorReason.NONE)
_BORROW_TIMEOUT = int(DbErrorReason.BORROW_TIMEOUT)


@dataclass(frozen=True)
class ProxyConfig:
    """RDS Proxy settings (the target group's connection pool configuration).

    Attributes:
        max_connections_percent: Pool cap as a percentage of `max_connections`
            (MaxConnectionsPercent, default 100).
        max_idle_connections_percent: Idle connections kept open, as a percentage
            of `max_connections` (MaxIdleConnectionsPercent); None for AWS's
            default, half of `max_connections_percent`.
        reserved_connections: Connections the proxy keeps for itself (monitoring,
            failover) out of its cap. Assumption A-57.
        connection_borrow_timeout_s: Longest wait for a pooled connection
            (ConnectionBorrowTimeout, default 120 s).
        idle_client_timeout_s: Idle time after which the proxy closes a client
            connection (IdleClientTimeout, default 1,800 s).
        idle_connection_close_s: Idle time after which a pooled connection above
            the idle cap is closed (5 minutes).
        query_latency_s: Time the proxy adds to each query. Assumption A-58.
        failover_reduction: Share of a failover's client-visible outage the proxy
            saves (AWS: "up to 66%"). Assumption A-59.
    """

    max_connections_percent: float = 100.0
    max_idle_connections_percent: float | None = None
    reserved_connections: int = 0
    connection_borrow_timeout_s: float = 120.0
    idle_client_timeout_s: float = 1800.0
    idle_connection_close_s: float = 300.0
    query_latency_s: float = 0.001
    failover_reduction: float = 0.66

    def pool_cap(self, database: DatabaseConfig) -> int:
        """Return the most database connections the proxy opens.

        >>> from lambdasim.model.database import DatabaseConfig
        >>> from lambdasim.distributions import ConstantSpec
        >>> db = DatabaseConfig(1000, 2.0, ConstantSpec(value=0.01).sampler())
        >>> ProxyConfig(max_connections_percent=95).pool_cap(db)
        950
        """
        share = math.floor(
            database.max_connections * self.max_connections_percent / 100
        )
        return max(
            min(share - self.reserved_connections, database.usable_connections), 0
        )

    def idle_cap(self, database: DatabaseConfig) -> int:
        """Return how many idle pooled connections are kept without closing."""
        percent = self.max_idle_connections_percent
        if percent is None:
            percent = self.max_connections_percent / 2
        percent = min(percent, self.max_connections_percent)
        return math.floor(database.max_connections * percent / 100)


class Backend:
    """One database connection the proxy opened."""

    __slots__ = ("opened_s", "idle_since_s", "is_open")

    def __init__(self, opened_s: float) -> None:
        self.opened_s = opened_s
        self.idle_since_s = math.nan
        self.is_open = True


class Waiter:
    """A transaction waiting in the proxy's queue for a pooled connection."""

    __slots__ = ("invocation", "is_waiting")

    def __init__(self, invocation: DatabaseInvocation) -> None:
        self.invocation = invocation
        self.is_waiting = True


class Proxy:
    """The proxy's pool, borrow queue, pinned sessions and client connections.

    Args:
        env: The engine.
        database: The target database.
        config: The proxy's settings.
        recorder: Where connection intervals and borrows are recorded.
        pin_rng: Stream that decides which client sessions pin.
    """

    def __init__(
        self,
        env: Engine,
        database: DatabaseConfig,
        config: ProxyConfig,
        recorder: DatabaseRecorder,
        pin_rng: np.random.Generator,
    ) -> None:
        self.env = env
        self.config = config
        self.cap = config.pool_cap(database)
        self.idle_cap = config.idle_cap(database)
        self.query_latency_s = config.query_latency_s
        self.open_connections = 0
        self.reachable_at_s = -math.inf
        self._idle: list[Backend] = []
        self._idle_count = 0
        self._queue: deque[Waiter] = deque()
        self._backends: set[Backend] = set()
        self._sessions: dict[int, Session] = {}
        self._recorder = recorder
        self._pin_rng = pin_rng

    # -- client connections ------------------------------------------------------

    def connect(self, session: Session, now: float) -> int:
        """See `Broker.connect`."""
        if session.is_connected and now >= self._client_closes_s(session):
            self._close_client(session, self._client_closes_s(session))
        if session.is_connected:
            return _NO_ERROR
        # The proxy's endpoint stays up through a failover: connecting never fails.
        session.is_connected = True
        session.opened_s = now
        session.last_used_s = now
        # Assumption A-56: whether a session pins is drawn once per client session.
        session.is_pinned = bool(self._pin_rng.random() < session.usage.pinned_fraction)
        self._sessions[session.instance.id] = session
        return _NO_ERROR

    def _client_closes_s(self, session: Session) -> float:
        return session.last_used_s + self.config.idle_client_timeout_s

    def _close_client(self, session: Session, when_s: float) -> None:
        session.is_connected = False
        del self._sessions[session.instance.id]
        self._recorder.connection(
            ConnectionKind.CLIENT,
            session.function_index,
            session.usage.pool_size,
            session.opened_s,
            when_s,
        )
        self._unpin(session, when_s)

    def drop(self, session: Session, now: float) -> None:
        """See `Broker.drop`."""
        if session.is_connected:
            self._close_client(session, min(now, self._client_closes_s(session)))

    def _check_idle_client(self, event: Call) -> None:
        session, use_count = event.value
        if session.is_connected and session.use_count == use_count:
            self._close_client(session, self.env.now)

    # -- borrowing ---------------------------------------------------------------

    def acquire(self, invocation: DatabaseInvocation) -> None:
        """See `Broker.acquire`."""
        session = invocation.session
        now = self.env.now
        if session.pinned is not None:
            self._give(invocation, session.pinned, now)
            return
        queue = self._queue
        while queue and not queue[0].is_waiting:
            queue.popleft()  # withdrawn borrows, removed lazily
        # A waiter ahead means no connection is free: join the queue behind it.
        if not queue and now >= self.reachable_at_s:
            backend = self._take(now)
            if backend is not None:
                self._give(invocation, backend, now)
                return
        waiter = Waiter(invocation)
        invocation.waiter = waiter
        self._queue.append(waiter)
        self.env.call_at(
            now + self.config.connection_borrow_timeout_s, self._borrow_timeout, waiter
        )

    def _take(self, now: float) -> Backend | None:
        """Return an idle pooled connection, or a new one under the cap, or None."""
        while self._idle:
            backend = self._idle.pop()
            if backend.is_open:
                self._idle_count -= 1
                return backend
        if self.open_connections < self.cap:
            self.open_connections += 1
            backend = Backend(now)
            self._backends.add(backend)
            return backend
        return None

    def _give(
        self, invocation: DatabaseInvocation, backend: Backend, now: float
    ) -> None:
        session = invocation.session
        session.use_count += 1  # busy: a pending idle-client check must not fire
        invocation.holds = backend
        invocation.waiter = None
        backend.idle_since_s = math.nan
        self._recorder.borrow(
            session.function_index,
            invocation.borrow_requested_s,
            now - invocation.borrow_requested_s,
        )
        if session.is_pinned and session.pinned is None:
            session.pinned = backend
            session.pinned_s = now
        invocation.on_acquired()

    def _borrow_timeout(self, event: Call) -> None:
        waiter: Waiter = event.value
        if not waiter.is_waiting:
            return
        waiter.is_waiting = False
        invocation = waiter.invocation
        invocation.waiter = None
        now = self.env.now
        self._recorder.borrow(
            invocation.session.function_index,
            invocation.borrow_requested_s,
            now - invocation.borrow_requested_s,
        )
        invocation.fail(_BORROW_TIMEOUT)

    def release(self, invocation: DatabaseInvocation, now: float) -> None:
        """See `Broker.release`."""
        backend = invocation.holds
        invocation.holds = None
        session = invocation.session
        session.last_used_s = now
        session.use_count += 1
        if backend is None:
            return
        if backend is session.pinned:
            self.env.call_at(
                now + self.config.idle_client_timeout_s,
                self._check_idle_client,
                (session, session.use_count),
            )
            return
        self._put_back(backend, now)

    def abandon(self, invocation: DatabaseInvocation, now: float) -> None:
        """See `Broker.abandon`."""
        waiter = invocation.waiter
        if waiter is not None:
            # The function timed out while waiting: the borrow is withdrawn.
            waiter.is_waiting = False
            invocation.waiter = None
            self._recorder.borrow(
                invocation.session.function_index,
                invocation.borrow_requested_s,
                now - invocation.borrow_requested_s,
            )
        if invocation.holds is not None:
            self.release(invocation, now)

    def _put_back(self, backend: Backend, now: float) -> None:
        """Hand a free connection to the first waiter, or keep it idle in the pool."""
        if not backend.is_open:
            return
        if now >= self.reachable_at_s:
            while self._queue:
                waiter = self._queue.popleft()
                if waiter.is_waiting:
                    waiter.is_waiting = False
                    self._give(waiter.invocation, backend, now)
                    return
        backend.idle_since_s = now
        self._idle.append(backend)
        self._idle_count += 1
        if self._idle_count > self.idle_cap:
            self.env.call_at(
                now + self.config.idle_connection_close_s,
                self._close_if_idle,
                (backend, now),
            )

    def _close_if_idle(self, event: Call) -> None:
        backend, idle_since_s = event.value
        if not backend.is_open or backend.idle_since_s != idle_since_s:
            return  # closed by a failover, or borrowed since
        if self._idle_count <= self.idle_cap:
            return
        self._idle_count -= 1  # lazily removed from the idle stack
        self._close_backend(backend, self.env.now)

    def _close_backend(self, backend: Backend, now: float) -> None:
        backend.is_open = False
        self.open_connections -= 1
        self._backends.discard(backend)
        self._recorder.connection(ConnectionKind.BACKEND, -1, 1, backend.opened_s, now)

    def _unpin(self, session: Session, now: float) -> None:
        backend = session.pinned
        if backend is None:
            return
        session.pinned = None
        self._recorder.connection(
            ConnectionKind.PINNED, session.function_index, 1, session.pinned_s, now
        )
        self._put_back(backend, now)

    def _serve_queue(self, event: Call | None = None) -> None:
        now = self.env.now
        while self._queue and now >= self.reachable_at_s:
            waiter = self._queue[0]
            if not waiter.is_waiting:
                self._queue.popleft()
                continue
            backend = self._take(now)
            if backend is None:
                return
            self._queue.popleft()
            waiter.is_waiting = False
            self._give(waiter.invocation, backend, now)

    # -- failover and close-out --------------------------------------------------

    def fail_over(self, now: float, duration_s: float) -> None:
        """See `Broker.fail_over`."""
        # Assumption A-59: the proxy reaches the new writer sooner than DNS clients.
        outage_s = duration_s * (1.0 - self.config.failover_reduction)
        self.reachable_at_s = now + outage_s
        for session in self._sessions.values():
            if session.pinned is not None:
                self._recorder.connection(
                    ConnectionKind.PINNED,
                    session.function_index,
                    1,
                    session.pinned_s,
                    now,
                )
                session.pinned = None
        for backend in list(self._backends):
            self._close_backend(backend, now)
        self._idle.clear()
        self._idle_count = 0
        self.env.call_at(self.reachable_at_s, self._serve_queue)

    def close_out(self) -> None:
        """See `Broker.close_out`."""
        for session in self._sessions.values():
            closes_s = self._client_closes_s(session)
            self._recorder.connection(
                ConnectionKind.CLIENT,
                session.function_index,
                session.usage.pool_size,
                session.opened_s,
                closes_s if closes_s <= self.env.now else math.nan,
            )
            if session.pinned is not None:
                self._recorder.connection(
                    ConnectionKind.PINNED,
                    session.function_index,
                    1,
                    session.pinned_s,
                    math.nan,
                )
        for backend in self._backends:
            self._recorder.connection(
                ConnectionKind.BACKEND, -1, 1, backend.opened_s, math.nan
            )
