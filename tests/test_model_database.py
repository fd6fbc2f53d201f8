"""The database, its connections and RDS Proxy against hand-worked numbers.

Every expected value is worked out in the test from the rules in
../shared/reference/aws-lambda-facts.md section 7 (and cases.md section D), never
copied from a run.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lambdasim.model import AccountConfig, Simulation
from lambdasim.model.database import (
    ConnectMode,
    DatabaseConfig,
    DatabaseUsage,
    Failover,
    QueryServer,
)
from lambdasim.model.engine import Engine
from lambdasim.model.proxy import ProxyConfig
from lambdasim.results import ConnectionKind, DbErrorReason, RunRecords, Status
from tests.conftest import arrivals, constant, function


def run(
    times_s,
    *,
    usage: DatabaseUsage | None = None,
    database: DatabaseConfig | None = None,
    proxy: ProxyConfig | None = None,
    horizon_s: float = 1000.0,
    **function_args,
) -> RunRecords:
    function_args.setdefault("duration_s", 0.5)
    fn = replace(function(**function_args), database=usage or DatabaseUsage())
    simulation = Simulation(
        AccountConfig(scale_up=None),
        [fn],
        seed=1,
        horizon_s=horizon_s,
        database=database or db(),
        proxy=proxy,
    )
    simulation.add_arrivals(arrivals(times_s))
    return simulation.run()


def db(
    max_connections: int = 100,
    vcpus: float = 2.0,
    query_s: float = 0.1,
    failovers: tuple[Failover, ...] = (),
) -> DatabaseConfig:
    return DatabaseConfig(
        max_connections=max_connections,
        vcpus=vcpus,
        query_time=constant(query_s),
        failovers=failovers,
    )


def level_at(records: RunRecords, kind: ConnectionKind, t_s: float) -> int:
    """Connections of `kind` open at `t_s` (intervals [opened, closed))."""
    table = records.database["connections"]
    closed = np.where(np.isnan(table["closed_s"]), np.inf, table["closed_s"])
    is_open = (table["kind"] == kind) & (table["opened_s"] <= t_s) & (closed > t_s)
    return int(table["count"][is_open].sum())


def statuses(records: RunRecords) -> list[int]:
    return records.invocations["status"].tolist()


def ends(records: RunRecords) -> list[float]:
    return records.invocations["end_s"].tolist()


# -- processor sharing ------------------------------------------------------------


def finish_times(demands_at: list[tuple[float, float]], vcpus: float) -> list[float]:
    env = Engine()
    server = QueryServer(env, vcpus)
    done: dict[int, float] = {}
    for index, (at_s, demand_s) in enumerate(demands_at):

        def submit(event, index=index, demand_s=demand_s):
            server.submit(demand_s, lambda: done.__setitem__(index, env.now))

        env.call_at(at_s, submit)
    env.run()
    return [done[i] for i in range(len(demands_at))]


@pytest.mark.parametrize(("n", "vcpus"), [(8, 2.0), (5, 4.0), (3, 1.0), (2, 2.0)])
def test_processor_sharing_n_equal_queries_finish_at_closed_form(n, vcpus):
    # n queries of t seconds on c vCPUs, all at once: each runs at min(1, c/n), so
    # all finish at t * max(1, n / c).
    t_s = 0.2
    expected = t_s * max(1.0, n / vcpus)
    assert finish_times([(0.0, t_s)] * n, vcpus) == pytest.approx([expected] * n)


def test_processor_sharing_staggered_arrivals_hand_worked():
    # One vCPU. A (1 s) alone from 0 to 0.5 does 0.5 s of work; then A and B (1 s)
    # share it at half speed: A's last 0.5 s takes 1 s, ending at 1.5, when B has
    # done 0.5 s; B finishes its last 0.5 s alone at 2.0. C (0.25 s) arrives at 3,
    # alone: 3.25.
    assert finish_times([(0.0, 1.0), (0.5, 1.0), (3.0, 0.25)], 1.0) == pytest.approx(
        [1.5, 2.0, 3.25]
    )


def test_processor_sharing_mean_response_time_matches_m_m_1_ps():
    # M/M/1-PS: mean response time is E[S] / (1 - rho) whatever the order of
    # service. rho = 0.5 with E[S] = 1 s gives 2 s (20,000 queries, 3 % tolerance).
    rng = np.random.default_rng(7)
    count = 20_000
    arrivals_s = np.cumsum(rng.exponential(2.0, count))
    demands_s = rng.exponential(1.0, count)
    finished = finish_times(list(zip(arrivals_s, demands_s, strict=True)), 1.0)
    response_s = np.asarray(finished) - arrivals_s
    assert response_s.mean() == pytest.approx(2.0, rel=0.03)


def test_overloaded_database_lengthens_invocations():
    # 8 invocations at once, 1 query of 0.1 s each on 2 vCPUs: the queries share
    # the vCPUs and all end at 8 x 0.1 / 2 = 0.4 s; the handler's other 0.5 s
    # follows, so each invocation lasts 0.9 s instead of 0.6 s.
    records = run([0.0] * 8, database=db(vcpus=2.0, query_s=0.1), duration_s=0.5)
    assert ends(records) == pytest.approx([0.9] * 8)


# -- connections without a proxy -----------------------------------------------------


def test_peak_connections_equal_live_instances_times_pool_size_idle_included():
    # 4 instances start at 0 (pool of 3 each); their 4 queries of 0.1 s share 2
    # vCPUs (0.2 s), then 0.5 s of handler: idle from 0.7 s with a keep-alive of
    # 100 s. At 50 s all are idle and still hold 4 x 3 = 12 connections; reaped at
    # 100.7 s, they hold none.
    records = run([0.0] * 4, usage=DatabaseUsage(pool_size=3), keep_alive_s=100.0)
    assert level_at(records, ConnectionKind.DIRECT, 0.3) == 12
    assert level_at(records, ConnectionKind.DIRECT, 50.0) == 12
    assert level_at(records, ConnectionKind.DIRECT, 101.0) == 0
    closed = records.database["connections"]["closed_s"]
    assert closed.tolist() == pytest.approx([100.7] * 4)


def test_connections_past_max_connections_fail_and_are_counted():
    # max_connections 10, pool of 2: 5 instances connect, the 6th to 8th are
    # refused ("too many connections") and end as db_error at once.
    records = run([0.0] * 8, usage=DatabaseUsage(pool_size=2), database=db(10))
    assert statuses(records) == [Status.OK] * 5 + [Status.DB_ERROR] * 3
    errors = records.database["errors"]
    assert errors["row"].tolist() == [5, 6, 7]
    assert set(errors["reason"].tolist()) == {DbErrorReason.TOO_MANY_CONNECTIONS}


def test_reserved_connections_are_not_usable():
    # PostgreSQL keeps superuser_reserved_connections (3) out of max_connections 10:
    # 7 usable, so 7 of 9 single-connection instances connect.
    database = replace(db(10), reserved_connections=3)
    records = run([0.0] * 9, database=database)
    assert statuses(records).count(Status.DB_ERROR) == 2


def test_refused_instance_at_init_is_reset_and_connects_once_slots_free():
    # max 1, keep-alive 10 s, each invocation 0.1 s of query then 20 s. A connects
    # at 0 and holds the slot; its instance idles from 20.1 and is reaped at 30.1.
    # B's INIT at 0 is refused: db_error, its instance reset. C at 1 reuses B's
    # instance, re-runs INIT (a cold start) and is refused again. D at 35 finds the
    # slot free and connects: it ends at 35 + 0.1 + 20.
    records = run(
        [0.0, 0.0, 1.0, 35.0], database=db(1), keep_alive_s=10.0, duration_s=20.0
    )
    assert statuses(records) == [
        Status.OK,
        Status.DB_ERROR,
        Status.DB_ERROR,
        Status.OK,
    ]
    inv = records.invocations
    assert inv["instance_id"][1] == inv["instance_id"][2]
    assert bool(inv["is_cold"][2])
    assert ends(records)[3] == pytest.approx(55.1)


@pytest.mark.parametrize("connect", [ConnectMode.FIRST_USE, ConnectMode.INIT])
def test_connection_retries_then_succeeds(connect):
    # max 1; A holds the slot until its instance is reaped at 0.6 + 0.9 = 1.5 s. B
    # connects at 0 s (at first use, or in its INIT), refused; it retries every
    # 0.6 s up to 4 times: refused at 0.6 and 1.2, connected at 1.8; its query
    # takes 0.1 s alone, then 0.5 s of handler: it ends at 2.4.
    usage = DatabaseUsage(connect=connect, connect_retries=4, connect_retry_delay_s=0.6)
    records = run(
        [0.0, 0.0], usage=usage, database=db(1), keep_alive_s=0.9, duration_s=0.5
    )
    assert statuses(records) == [Status.OK, Status.OK]
    assert ends(records)[1] == pytest.approx(2.4)


@pytest.mark.parametrize("connect", [ConnectMode.FIRST_USE, ConnectMode.INIT])
def test_connection_retries_exhausted_is_db_error(connect):
    # As above with one retry: refused at 0 and 0.6, db_error at 0.6. A refusal in
    # INIT fails the INIT: of two invocations at 5 s, which take both instances,
    # the one on B's runs INIT again; at first use both instances stay warm.
    usage = DatabaseUsage(connect=connect, connect_retries=1, connect_retry_delay_s=0.6)
    records = run([0.0, 0.0, 5.0, 5.0], usage=usage, database=db(1), keep_alive_s=9)
    assert statuses(records)[:2] == [Status.OK, Status.DB_ERROR]
    assert ends(records)[1] == pytest.approx(0.6)
    cold_again = int(records.invocations["is_cold"][2:].sum())
    assert cold_again == (1 if connect is ConnectMode.INIT else 0)


def test_case_d10_provisioned_100_against_50_connections_half_fail():
    # Case D10 (cases.md): 100 environments, one connection each, against a pool
    # limited to 50: the excess 50 connection attempts fail.
    records = run([0.0] * 100, database=db(50))
    assert statuses(records).count(Status.DB_ERROR) == 50


def test_timeout_while_querying_resets_instance_and_drops_connections():
    # Timeout 1 s; the query takes 5 s: the invocation ends as timeout at 1 s and
    # its reset environment loses its connection at once.
    records = run([0.0], database=db(query_s=5.0), timeout_s=1.0)
    assert statuses(records) == [Status.TIMEOUT]
    assert ends(records) == pytest.approx([1.0])
    assert records.database["connections"]["closed_s"].tolist() == pytest.approx([1.0])


# -- RDS Proxy ------------------------------------------------------------------------


def no_latency(**settings) -> ProxyConfig:
    return ProxyConfig(query_latency_s=0.0, **settings)


def test_proxy_same_traffic_never_exceeds_cap_and_excess_waits():
    # max_connections 10 at 30 %: a pool of 3. 8 invocations, one 0.1 s query each
    # on 2 vCPUs. Three borrow at once and share the vCPUs: 3 x 0.1 / 2 = 0.15 s;
    # the next three borrow at 0.15 and end at 0.30; the last two wait 0.30 s and
    # end at 0.30 + 2 x 0.1 / 2 = 0.40. Nobody fails.
    records = run(
        [0.0] * 8,
        usage=DatabaseUsage(pool_size=2),
        database=db(10),
        proxy=no_latency(max_connections_percent=30),
    )
    assert statuses(records) == [Status.OK] * 8
    waits = records.database["borrows"]["wait_s"].tolist()
    assert waits == pytest.approx([0.0] * 3 + [0.15] * 3 + [0.30] * 2)
    assert ends(records) == pytest.approx([0.65] * 3 + [0.80] * 3 + [0.90] * 2)
    backend = records.database["connections"]
    assert int((backend["kind"] == ConnectionKind.BACKEND).sum()) == 3
    # Every instance keeps its 2 client connections to the proxy.
    assert level_at(records, ConnectionKind.CLIENT, 0.5) == 16


def test_case_d10_with_proxy_capped_at_50_all_wait_none_fail():
    # Case D10 with a proxy capped at 50: the 100 environments queue for the 50
    # connections instead of failing. Queries of 0.1 s on 50 vCPUs: the first 50
    # end at 0.1, the next 50 borrow then and end at 0.2.
    records = run([0.0] * 100, database=db(50, vcpus=50.0), proxy=no_latency())
    assert statuses(records).count(Status.OK) == 100
    waits = np.sort(records.database["borrows"]["wait_s"])
    assert waits.tolist() == pytest.approx([0.0] * 50 + [0.1] * 50)


def test_proxy_adds_its_latency_to_each_query():
    # Two autocommit queries of 0.1 s, 5 ms of proxy latency each, then 0.5 s.
    usage = DatabaseUsage(queries_per_invocation=2, is_transaction=False)
    records = run([0.0], usage=usage, proxy=ProxyConfig(query_latency_s=0.005))
    assert ends(records) == pytest.approx([2 * (0.005 + 0.1) + 0.5])


def test_case_d12_borrow_timeout_errors_at_exactly_the_configured_wait():
    # Case D12: the database is unavailable (a failover at 0 lasting 1 h, so the
    # proxy cannot reach a writer for 0.34 h); borrow timeout 60 s; the client
    # library's own 4 s timeouts do not end the wait; the function timeout is
    # 900 s. The invocation fails after exactly 60 s and is billed for them.
    failover = (Failover(at_s=0.0, duration_s=3600.0),)
    records = run(
        [1.0],
        database=db(failovers=failover),
        proxy=no_latency(connection_borrow_timeout_s=60.0),
        timeout_s=900.0,
    )
    assert statuses(records) == [Status.DB_ERROR]
    assert ends(records) == pytest.approx([61.0])
    assert records.invocations["duration_s"].tolist() == pytest.approx([60.0])
    assert records.database["errors"]["reason"].tolist() == [
        DbErrorReason.BORROW_TIMEOUT
    ]


def test_borrow_timeout_default_is_120_s_capped_by_function_timeout():
    # The default borrow timeout is 120 s: with a 900 s function the invocation
    # fails at 120 s; with a 30 s function it times out at 30 s first.
    failover = (Failover(at_s=0.0, duration_s=3600.0),)
    long = run([0.0], database=db(failovers=failover), proxy=no_latency())
    short = run(
        [0.0], database=db(failovers=failover), proxy=no_latency(), timeout_s=30.0
    )
    assert (statuses(long), ends(long)) == ([Status.DB_ERROR], [120.0])
    assert (statuses(short), ends(short)) == ([Status.TIMEOUT], [30.0])


def test_case_d11_pinning_degrades_pooling_to_one_connection_per_session():
    # 10 invocations 1 s apart, each one 0.1 s query then 20 s of handler: 10
    # instances, all busy at 9.5 s. Unpinned, one pooled connection serves every
    # query (each is over before the next starts). All pinned: every session keeps
    # its own connection until its client disconnects, so the proxy holds 10
    # database connections, all pinned. Instances idle from 20.1 + i s and are
    # reaped 100 s later, when their clients disconnect and unpin.
    times = [float(i) for i in range(10)]
    common = dict(database=db(), keep_alive_s=100.0, duration_s=20.0)
    pooled = run(times, proxy=no_latency(), **common)
    pinned = run(
        times,
        usage=DatabaseUsage(pinned_fraction=1.0),
        proxy=no_latency(),
        **common,
    )
    assert level_at(pooled, ConnectionKind.BACKEND, 9.5) == 1
    assert level_at(pinned, ConnectionKind.BACKEND, 9.5) == 10
    assert level_at(pinned, ConnectionKind.PINNED, 9.5) == 10
    assert level_at(pinned, ConnectionKind.PINNED, 125.0) == 5
    assert level_at(pinned, ConnectionKind.PINNED, 130.0) == 0


def test_idle_client_timeout_unpins_session():
    # A pinned session idle for the idle client timeout (60 s here) is closed by
    # the proxy, which takes back its connection: pinned from 0 to 0.1 + 60.
    records = run(
        [0.0],
        usage=DatabaseUsage(pinned_fraction=1.0),
        proxy=no_latency(idle_client_timeout_s=60.0),
        keep_alive_s=500.0,
    )
    table = records.database["connections"]
    pinned = table["kind"] == ConnectionKind.PINNED
    assert table["closed_s"][pinned].tolist() == pytest.approx([60.1])


def test_idle_pooled_connections_above_idle_cap_close_after_5_minutes():
    # max 10 at 100 %, idle cap 10 % = 1 connection. 3 queries at once open 3
    # pooled connections, idle from 0.15 s (3 x 0.1 / 2 vCPUs). Above the idle cap,
    # two close after 5 minutes idle, at 300.15 s; one stays open.
    records = run(
        [0.0] * 3,
        database=db(10),
        proxy=no_latency(max_idle_connections_percent=10),
        keep_alive_s=1000.0,
        horizon_s=400.0,
    )
    table = records.database["connections"]
    backend = table["kind"] == ConnectionKind.BACKEND
    closed = np.sort(table["closed_s"][backend])
    assert closed[:2].tolist() == pytest.approx([300.15, 300.15])
    assert np.isnan(closed[2])


# -- failover ----------------------------------------------------------------------


def failover_run(proxy: ProxyConfig | None) -> RunRecords:
    # One request per second, 0.1 s query then 0.05 s of handler; the writer fails
    # at 10.05 s (during the query of the request of 10 s) for 30 s.
    times = [float(t) for t in range(60)]
    failover = (Failover(at_s=10.05, duration_s=30.0),)
    return run(
        times,
        database=db(failovers=failover),
        proxy=proxy,
        duration_s=0.05,
        usage=DatabaseUsage(connect=ConnectMode.FIRST_USE),
    )


def test_failover_without_proxy_drops_connections_until_dns_recovers():
    # The query in flight at 10.05 fails; every connection drops; requests from
    # 11 s to 40 s cannot reconnect (unavailable) until 10.05 + 30 = 40.05 s; from
    # 41 s on they succeed: recovery 30 s after the failover.
    records = failover_run(None)
    status = statuses(records)
    reasons = dict(
        zip(
            records.database["errors"]["row"].tolist(),
            records.database["errors"]["reason"].tolist(),
            strict=True,
        )
    )
    assert status[:10] == [Status.OK] * 10
    assert reasons[10] == DbErrorReason.FAILOVER
    assert all(reasons[t] == DbErrorReason.UNAVAILABLE for t in range(11, 41))
    assert status[41:] == [Status.OK] * 19


def test_failover_with_proxy_queues_new_transactions_and_recovers_sooner():
    # The transaction in flight at 10.05 fails. The proxy reaches the new writer
    # after 30 x (1 - 0.66) = 10.2 s, at 20.25 s: requests from 11 s to 20 s wait
    # in the borrow queue (well under 120 s) and all succeed; the one of 11 s waits
    # 9.25 s. Recovery: 10.2 s instead of 30 s.
    records = failover_run(no_latency())
    status = statuses(records)
    assert status.count(Status.DB_ERROR) == 1
    assert status[10] == Status.DB_ERROR
    borrows = records.database["borrows"]
    waits = dict(
        zip(borrows["requested_s"].tolist(), borrows["wait_s"].tolist(), strict=True)
    )
    assert waits[11.0] == pytest.approx(20.25 - 11.0)
    assert waits[20.0] == pytest.approx(0.25)
    assert waits[21.0] == pytest.approx(0.0)


def test_pinned_session_is_not_closed_as_idle_between_its_transactions():
    # Pool cap 1, one vCPU, pinned sessions, two autocommit queries of 1 s each,
    # idle client timeout 0.5 s. A's first transaction ends at 1.0; its second
    # runs 1.0-2.0 (the idle check due at 1.5 must not fire: A is busy). A's session
    # is idle from 2.0, closed at 2.5, and only then does its pinned connection go
    # back to the pool: B, arriving at 1.2, waits 1.3 s for it.
    usage = DatabaseUsage(
        queries_per_invocation=2, is_transaction=False, pinned_fraction=1.0
    )
    records = run(
        [0.0, 1.2],
        usage=usage,
        database=db(max_connections=1, vcpus=1.0, query_s=1.0),
        proxy=no_latency(idle_client_timeout_s=0.5),
        duration_s=0.0,
    )
    table = records.database["connections"]
    pinned = table["kind"] == ConnectionKind.PINNED
    assert table["opened_s"][pinned][0] == 0.0
    assert table["closed_s"][pinned][0] == pytest.approx(2.5)
    waits = records.database["borrows"]["wait_s"].tolist()
    assert waits == pytest.approx([0.0, 0.0, 1.3, 0.0])


def test_async_event_failing_on_database_is_retried_by_lambda():
    # An asynchronous event whose connection is refused (max 0 usable) fails as
    # db_error at once; Lambda retries function errors twice, 1 min and then 2 min
    # after the failed attempt: attempts at 0, 60 and 180 s, all refused. The
    # event then goes to the on-failure destination.
    from lambdasim.report.summary import summarise
    from lambdasim.workload.base import ArrivalChunk, InvocationType

    fn = replace(function(duration_s=0.5), database=DatabaseUsage())
    simulation = Simulation(
        AccountConfig(scale_up=None),
        [fn],
        seed=1,
        horizon_s=1000.0,
        database=replace(db(1), reserved_connections=1),
    )
    chunk = ArrivalChunk(
        np.array([0.0]),
        np.array([0], dtype=np.int32),
        None,
        np.array([InvocationType.ASYNC], dtype=np.int8),
    )
    simulation.add_arrivals([chunk])
    records = simulation.run()
    assert records.invocations["arrival_s"].tolist() == pytest.approx([0, 60, 180])
    assert statuses(records) == [Status.DB_ERROR] * 3
    summary = summarise(records, scenario="t", seed=1, scenario_sha256="", version="")
    assert summary["total"]["on_failure_destination"]["retries_exhausted"] == 1
