"""Invariants of database runs over small random scenarios (hypothesis).

Whatever the traffic, settings and failovers: the database never holds more
connections than it allows, the proxy never more than its cap, every `db_error` has
exactly one reason, nothing waits longer than the borrow timeout, and every
invocation ends no later than its timeout allows.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdasim.distributions import ExponentialSpec
from lambdasim.model import AccountConfig, Simulation
from lambdasim.model.database import (
    ConnectMode,
    DatabaseConfig,
    DatabaseUsage,
    Failover,
)
from lambdasim.model.proxy import ProxyConfig
from lambdasim.report._levels import group_max, sweep
from lambdasim.results import ConnectionKind, RunRecords, Status
from tests.conftest import arrivals, function

_FAST = settings(max_examples=60, deadline=None)


@st.composite
def database_runs(draw):
    usage = DatabaseUsage(
        connect=draw(st.sampled_from(list(ConnectMode))),
        pool_size=draw(st.integers(1, 3)),
        queries_per_invocation=draw(st.integers(0, 3)),
        is_transaction=draw(st.booleans()),
        pinned_fraction=draw(st.sampled_from([0.0, 0.5, 1.0])),
        connect_retries=draw(st.integers(0, 2)),
        connect_retry_delay_s=0.3,
    )
    fn = replace(
        function(
            duration_s=ExponentialSpec(mean=draw(st.floats(0.1, 2.0))).sampler(),
            init_s=draw(st.sampled_from([0.0, 0.5])),
            keep_alive_s=draw(st.sampled_from([0.5, 5.0, 50.0])),
            timeout_s=draw(st.sampled_from([1.0, 3.0, 900.0])),
        ),
        database=usage,
    )
    failovers = tuple(
        Failover(at_s=at_s, duration_s=draw(st.floats(0.5, 10.0)))
        for at_s in sorted(draw(st.lists(st.floats(0.0, 30.0), max_size=2)))
    )
    database = DatabaseConfig(
        max_connections=draw(st.integers(1, 12)),
        reserved_connections=draw(st.integers(0, 1)),
        vcpus=draw(st.sampled_from([0.5, 1.0, 2.0])),
        query_time=ExponentialSpec(mean=draw(st.floats(0.01, 0.5))).sampler(),
        failovers=failovers,
    )
    proxy = draw(
        st.one_of(
            st.none(),
            st.builds(
                ProxyConfig,
                max_connections_percent=st.sampled_from([20.0, 50.0, 100.0]),
                connection_borrow_timeout_s=st.sampled_from([0.5, 2.0, 120.0]),
                idle_client_timeout_s=st.sampled_from([1.0, 1800.0]),
                idle_connection_close_s=st.sampled_from([1.0, 300.0]),
            ),
        )
    )
    times = sorted(draw(st.lists(st.floats(0.0, 30.0), min_size=1, max_size=40)))
    # Some events asynchronous: Lambda retries those that fail.
    types = draw(st.lists(st.sampled_from([0, 1]), min_size=1, max_size=1))
    return fn, database, proxy, (times, types[0])


def _run(fn, database, proxy, arrival) -> RunRecords:
    times, invocation_type = arrival
    simulation = Simulation(
        AccountConfig(concurrency_limit=20, scale_up=None),
        [fn],
        seed=3,
        horizon_s=31.0,
        database=database,
        proxy=proxy,
    )
    (chunk,) = arrivals(times)
    types = np.full(len(times), invocation_type, dtype=np.int8)
    simulation.add_arrivals([replace(chunk, invocation_type=types)])
    return simulation.run()


def _peak(records: RunRecords, kinds: tuple[ConnectionKind, ...]) -> int:
    table = records.database["connections"]
    rows = np.isin(table["kind"], [int(k) for k in kinds])
    count = table["count"][rows].astype(np.int64)
    start = np.repeat(table["opened_s"][rows], count)
    end = np.repeat(table["closed_s"][rows], count)
    _, total = sweep(start, end, np.zeros(start.shape, np.int64), 1)
    return int(group_max(total)[0])


@_FAST
@given(database_runs())
def test_connections_never_exceed_what_database_and_proxy_allow(run):
    fn, database, proxy, times = run
    records = _run(fn, database, proxy, times)
    peak = _peak(records, (ConnectionKind.DIRECT, ConnectionKind.BACKEND))
    assert peak <= database.usable_connections
    if proxy is not None:
        assert peak <= proxy.pool_cap(database)
        pinned = _peak(records, (ConnectionKind.PINNED,))
        assert pinned <= peak


@_FAST
@given(database_runs())
def test_every_db_error_has_one_reason_and_every_invocation_ends(run):
    fn, database, proxy, times = run
    records = _run(fn, database, proxy, times)
    inv = records.invocations
    failed = np.flatnonzero(inv["status"] == Status.DB_ERROR)
    assert sorted(records.database["errors"]["row"].tolist()) == failed.tolist()
    ran = inv["status"] != Status.THROTTLED
    duration = inv["duration_s"][ran]
    assert np.all(duration >= 0.0)
    assert np.all(duration <= fn.timeout_s + 1e-9)
    waits = records.database["borrows"]["wait_s"]
    if proxy is not None and waits.size:
        assert waits.max() <= proxy.connection_borrow_timeout_s + 1e-9
    queries = records.database["queries"]
    assert np.all(queries["end_s"] >= queries["start_s"])


@_FAST
@given(database_runs())
def test_database_with_room_for_every_pool_refuses_nobody(run):
    # Without a proxy and without failovers, a database with a slot for every
    # connection any instance could open (at most one instance per attempt, and an
    # asynchronous event makes at most 3 attempts) never refuses one.
    fn, database, _, times = run
    roomy = replace(
        database,
        max_connections=database.reserved_connections + 9 * len(times[0]),
        failovers=(),
    )
    records = _run(fn, roomy, None, times)
    assert int((records.invocations["status"] == Status.DB_ERROR).sum()) == 0
