"""Database scenarios end to end: schema, defaults, reports and the shipped files.

Expected numbers are worked out here from the engines' documented formulas
(aws-lambda-facts.md section 7) and from the scenario's own settings.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lambdasim
from lambdasim.errors import ScenarioError
from lambdasim.model.db_classes import default_max_connections, instance_class
from lambdasim.report.table import format_summary
from lambdasim.runner import _database_config
from tests.conftest import REPO_ROOT


def scenario(**changes):
    base = {
        "name": "db",
        "seed": 3,
        "horizon": 200,
        "billing_date": "2026-12-01",
        "account": {"scaling": {"rule": "none"}},
        "database": {
            "engine": "postgres",
            "instance_class": "db.t3.micro",
            "max_connections": 10,
            "reserved_connections": 0,
            "query_time": "100ms",
        },
        "functions": {
            "fn": {
                "runtime": "python3.12",
                "memory_mb": 1024,
                "duration": "500ms",
                "init": "0ms",
                "platform_overhead": 0,
                "keep_alive": "100s",
                "max_lifetime": None,
                "database": {"pool_size": 2},
            }
        },
        "workload": [{"type": "burst", "function": "fn", "at": 0, "count": 8}],
    }
    for key, value in changes.items():
        base[key] = value
    return lambdasim.validate_scenario(base)


# -- max_connections from the instance class


@pytest.mark.parametrize(
    ("service", "engine", "name", "published"),
    [
        # Aurora PostgreSQL recommended values (AUR-2023) and the often quoted 87 for
        # db.t3.micro on PostgreSQL: within 2 %.
        ("rds", "postgres", "db.t3.micro", 87),
        ("aurora", "postgres", "db.t3.medium", 420),
        ("aurora", "postgres", "db.t3.large", 844),
        ("aurora", "postgres", "db.r6g.large", 1722),
        ("aurora", "postgres", "db.r6g.xlarge", 3479),
        ("aurora", "postgres", "db.r6g.2xlarge", 5000),
    ],
)
def test_postgres_default_max_connections_near_published_values(
    service, engine, name, published
):
    found = default_max_connections(engine, service, instance_class(name))
    assert found == pytest.approx(published, rel=0.02)


@pytest.mark.parametrize(
    ("name", "published"),
    [
        ("db.t3.small", 45),
        ("db.t3.medium", 90),
        ("db.t4g.large", 135),
        ("db.r5.large", 1000),
        ("db.r6g.xlarge", 2000),
        ("db.r5.2xlarge", 3000),
        ("db.r5.4xlarge", 4000),
        ("db.r5.8xlarge", 5000),
    ],
)
def test_aurora_mysql_default_max_connections_match_aws_table(name, published):
    assert default_max_connections("mysql", "aurora", instance_class(name)) == published


def test_rds_mysql_t3_micro_is_below_the_formula_on_the_whole_gib():
    # 1 GiB / 12582880 = 85 is the ceiling; the OS reservation lowers it.
    found = default_max_connections("mysql", "rds", instance_class("db.t3.micro"))
    assert 60 <= found < 85


def test_scenario_database_defaults_come_from_class_and_engine():
    loaded = scenario(database={"instance_class": "db.r6g.large", "query_time": "2ms"})
    config = _database_config(loaded)
    assert config is not None
    cls = instance_class("db.r6g.large")
    assert config.max_connections == default_max_connections("postgres", "rds", cls)
    # PostgreSQL's superuser_reserved_connections default is 3; r6g.large: 2 vCPUs.
    assert (config.reserved_connections, config.vcpus) == (3, 2.0)


# -- bad input


@pytest.mark.parametrize(
    ("database", "message"),
    [
        (
            {"engine": "mysql", "service": "aurora", "query_time": "2ms"},
            r"database: an aurora database needs instance_class \(the db\.t3\.micro "
            r"default is not an Aurora class; the smallest is db\.t3\.small",
        ),
        (
            {"engine": "mysql", "service": "aurora", "instance_class": "db.t3.micro"},
            r"database: instance_class 'db\.t3\.micro' is not offered by Aurora "
            r"MySQL; the smallest class is db\.t3\.small",
        ),
        (
            {
                "engine": "postgres",
                "service": "aurora",
                "instance_class": "db.t3.small",
            },
            r"not offered by Aurora PostgreSQL; the smallest class is db\.t3\.medium",
        ),
        (
            {
                "engine": "mysql",
                "service": "aurora",
                "instance_class": "db.r6g.large",
                "max_connections": 50000,
            },
            r"max_connections 50000 is above Aurora MySQL's maximum of 16000",
        ),
        (
            {"engine": "postgres", "instance_class": "db.serverless"},
            r"db\.serverless is Aurora Serverless v2's class: use service: "
            "aurora-serverless-v2",
        ),
        (
            {"engine": "postgres", "instance_class": "r6g.large"},
            r"unknown instance class 'r6g\.large' \(did you mean 'db\.r6g\.large'\?\)",
        ),
    ],
)
def test_database_size_aurora_does_not_offer_is_refused(database, message):
    # Aurora MySQL's smallest class is db.t3.small (45 connections), Aurora
    # PostgreSQL's db.t3.medium; Aurora MySQL's max_connections can be set up to
    # 16,000 (aws-lambda-facts.md section 7).
    with pytest.raises(ScenarioError, match=message):
        scenario(database={"query_time": "2ms", **database})


def test_aurora_without_class_but_with_its_numbers_is_accepted():
    spec = scenario(
        database={
            "engine": "mysql",
            "service": "aurora",
            "max_connections": 300,
            "vcpus": 4,
            "query_time": "2ms",
        }
    ).database
    assert (spec.effective_max_connections, spec.effective_vcpus) == (300, 4.0)


def test_unknown_instance_class_is_a_scenario_error():
    with pytest.raises(ScenarioError, match=r"unknown instance class 'db\.t3\.tiny'"):
        scenario(database={"instance_class": "db.t3.tiny", "query_time": "2ms"})


@pytest.mark.parametrize(
    ("database", "proxy", "message"),
    [
        # PostgreSQL keeps 3 of max_connections for superusers.
        ({"max_connections": 3}, None, "max_connections 3 minus reserved_conn"),
        ({"reserved_connections": 10}, None, "leaves the functions no connection"),
        # 10 % of 10 is 1, minus the proxy's own 1: nothing left.
        (
            {},
            {"max_connections_percent": 10, "reserved_connections": 1},
            "10 % of max_connections 10 is 1",
        ),
        (
            {},
            {"max_connections_percent": 10, "max_idle_connections_percent": 50},
            r"max_idle_connections_percent \(50\) is above max_connections_percent",
        ),
    ],
)
def test_settings_that_leave_no_connection_are_scenario_errors(
    database, proxy, message
):
    base = {"max_connections": 10, "reserved_connections": 0, "query_time": "2ms"}
    merged = {**base, **database}
    if "reserved_connections" not in database and "max_connections" in database:
        del merged["reserved_connections"]
    with pytest.raises(ScenarioError, match=message):
        scenario(database=merged, proxy=proxy)


@pytest.mark.parametrize(
    ("name", "vcpus"), [("db.t2.micro", 1), ("db.t2.small", 1), ("db.t3.micro", 2)]
)
def test_burstable_class_vcpus(name, vcpus):
    # AWS instance types: t2.micro and t2.small have 1 vCPU, t3 and t4g at least 2.
    assert instance_class(name).vcpus == vcpus


def test_a_size_rds_does_not_offer_is_refused():
    with pytest.raises(ValueError, match="unknown instance class 'db.r6g.3xlarge'"):
        instance_class("db.r6g.3xlarge")


def test_proxy_priced_on_the_vcpus_given_without_a_class():
    # No instance_class, vcpus 4 given: the proxy costs 4 x $0.015 an hour, 200 s.
    database = {"max_connections": 200, "vcpus": 4, "query_time": "2ms"}
    summary = lambdasim.simulate(scenario(database=database, proxy={})).summary
    expected = 4 * 0.015 * 200 / 3600
    assert summary["database"]["proxy_cost_usd"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"type": "database_failover", "at": 10, "duraton": 5},
            r"unknown key 'duraton' in events\[0\] \(did you mean 'duration'\?\)",
        ),
        (
            {"type": "database_failover", "at": 10, "duration": "-5s"},
            r"events\[0\]\.duration is '-5s'; '-5s' is negative",
        ),
        (
            {"type": "db_failover", "at": 10},
            r"events\[0\]\.type is 'db_failover' \(did you mean 'database_failover'"
            r"\?\); expected one of: database_failover$",
        ),
    ],
)
def test_event_mistakes_name_the_event_key(event, message):
    with pytest.raises(ScenarioError, match=message):
        scenario(events=[event])


def test_query_time_is_required():
    with pytest.raises(ScenarioError, match=r"database\.query_time"):
        scenario(database={"instance_class": "db.t3.micro"})


def test_function_database_without_database_block_is_a_scenario_error():
    with pytest.raises(
        ScenarioError,
        match=r"functions\.fn\.database is set but the scenario has no database",
    ):
        scenario(database=None)


def test_proxy_and_failover_without_database_are_scenario_errors():
    functions = scenario().model_dump(mode="json")["functions"]
    functions["fn"]["database"] = None
    with pytest.raises(ScenarioError) as raised:
        scenario(
            database=None,
            functions=functions,
            proxy={},
            events=[{"type": "database_failover", "at": 10}],
        )
    message = str(raised.value)
    assert "events[0] is a database_failover but the scenario has no database" in (
        message
    )
    assert "proxy is set but the scenario has no database" in message


def test_pinned_fraction_above_one_is_a_scenario_error():
    functions = scenario().model_dump(mode="json")["functions"]
    functions["fn"]["database"]["pinned_fraction"] = 1.5
    with pytest.raises(ScenarioError, match=r"pinned_fraction"):
        scenario(functions=functions)


# -- reports


def test_summary_without_proxy_hand_worked():
    # max_connections 10, pool of 2: of 8 instances at 0, 5 connect (10
    # connections) and 3 are refused. The 5 queries of 0.1 s share 2 vCPUs
    # (db.t3.micro) and end at 0.25 s; the handlers end at 0.75 s; the instances
    # idle until reaped at 100.75 s. Mean connections over 200 s: 10 x 100.75 / 200.
    summary = lambdasim.simulate(scenario()).summary
    database = summary["database"]
    assert database["peak_connections"] == 10
    assert database["mean_connections"] == pytest.approx(10 * 100.75 / 200)
    assert database["db_errors"]["too_many_connections"] == 3
    assert summary["total"]["db_errors"] == 3
    assert database["peak_queries_in_flight"] == 5
    assert database["query_ms"]["p50"] == pytest.approx(250.0)
    assert (database["has_proxy"], database["proxy_cost_usd"]) == (False, 0.0)


def test_invocation_rows_say_why_each_db_error_failed():
    # The hand-worked run above: 3 of 8 arrivals at 0 are refused a connection.
    rows = lambdasim.simulate(scenario()).invocations
    reasons = rows.groupby(["status", "db_error_reason"], observed=True).size()

    assert reasons.to_dict() == {
        ("ok", "none"): 5,
        ("db_error", "too_many_connections"): 3,
    }


def test_summary_with_proxy_hand_worked():
    # Cap 30 % of 10 = 3. Borrow waits (see test_model_database): three of 0, three
    # of 0.15 s, two of 0.30 s: p50 150 ms (between the 4th and 5th of 8), p99 and
    # max 300 ms. Every instance keeps 2 client connections: 16. The proxy costs
    # 2 vCPUs x $0.015 per hour for 200 s.
    result = lambdasim.simulate(
        scenario(proxy={"max_connections_percent": 30, "query_latency": 0})
    )
    database = result.summary["database"]
    assert database["peak_connections"] == 3
    assert database["proxy_connection_cap"] == 3
    assert database["peak_client_connections"] == 16
    assert database["borrow_wait_ms"] == pytest.approx(
        {"p50": 150.0, "p99": 300.0, "max": 300.0}
    )
    assert database["peak_borrows_waiting"] == 5
    assert database["proxy_cost_usd"] == pytest.approx(2 * 0.015 * 200 / 3600)
    assert sum(database["db_errors"].values()) == 0


def test_timeseries_db_connections_hand_worked():
    # 10 connections from 0 to 100.75 s, steps of 50 s: 10, 10, 10 x 0.75 / 50, 0.
    result = lambdasim.simulate(scenario(timeseries_step=50))
    series = result.timeseries
    total = series[series["function"] == "total"]
    assert total["db_connections"].tolist() == pytest.approx([10, 10, 0.15, 0])
    assert total["db_errors"].tolist() == [3, 0, 0, 0]
    function_rows = series[series["function"] == "fn"]
    assert function_rows["db_connections"].tolist()[:2] == pytest.approx([10, 10])


def test_timeseries_borrow_waits_and_errors_by_reason_hand_worked():
    # Through a proxy capped at 3 (see test_summary_with_proxy_hand_worked), the 8
    # borrows at 0 wait 0, 0, 0, 0.15, 0.15, 0.15, 0.30, 0.30 s: in the first 50 s
    # step p50 is 150 ms (between the 4th and 5th) and p99 0.30 s (linear between
    # the 7th and 8th, both 300 ms); later steps have no borrow (NaN). Without the
    # proxy the 3 refused connections are all too_many_connections in step 0.
    proxied = lambdasim.simulate(
        scenario(
            timeseries_step=50,
            proxy={"max_connections_percent": 30, "query_latency": 0},
        )
    ).timeseries
    total = proxied[proxied["function"] == "total"]
    assert total["db_borrow_wait_p50_ms"].iloc[0] == pytest.approx(150.0)
    assert total["db_borrow_wait_p99_ms"].iloc[0] == pytest.approx(300.0)
    assert total["db_borrow_wait_p50_ms"].iloc[1:].isna().all()
    direct = lambdasim.simulate(scenario(timeseries_step=50)).timeseries
    total = direct[direct["function"] == "total"]
    assert total["db_errors_too_many_connections"].tolist() == [3, 0, 0, 0]
    assert total["db_errors_borrow_timeout"].sum() == 0


def test_table_shows_database_lines_and_db_error_column():
    text = format_summary(lambdasim.simulate(scenario()).summary)
    assert "db err" in text.splitlines()[0]
    assert "database: peak 10 connections of 10 usable (no proxy)" in text
    assert "db errors: too_many_connections 3" in text


def test_database_summary_keys_and_columns_are_documented(tmp_path: Path):
    doc = (REPO_ROOT / "docs" / "results-schema.md").read_text(encoding="utf-8")
    result = lambdasim.simulate(scenario(proxy={}))
    result.write(tmp_path)
    database = result.summary["database"]
    keys = set(database) | {
        k for value in database.values() if isinstance(value, dict) for k in value
    }
    columns = pd.read_parquet(tmp_path / "timeseries.parquet").columns
    undocumented = sorted(k for k in [*keys, *columns] if f"`{k}`" not in doc)
    assert undocumented == []


# -- the shipped scenarios


def run_shipped(name: str, *overrides: str) -> lambdasim.RunResult:
    path = REPO_ROOT / "scenarios" / f"{name}.yaml"
    return lambdasim.simulate(lambdasim.load_scenario(path, ["horizon=6m", *overrides]))


def test_shipped_burst_without_proxy_fails_with_too_many_connections():
    # db.t3.micro PostgreSQL: 86 by the formula, 83 usable; the burst needs more.
    database = run_shipped("rds-without-proxy").summary["database"]
    assert database["max_connections"] == 86
    assert database["peak_connections"] == database["usable_connections"] == 83
    assert database["db_errors"]["too_many_connections"] > 100


def test_shipped_burst_with_proxy_holds_with_bounded_waits():
    # The same traffic through a proxy capped at 10 % of 86 = 8: never more than 8
    # database connections, the burst fills them (some transactions wait), no
    # db_error, waits far below the 120 s timeout.
    summary = run_shipped("rds-with-proxy").summary
    database = summary["database"]
    assert database["proxy_connection_cap"] == 8
    assert database["peak_connections"] == 8
    assert database["peak_borrows_waiting"] > 0
    assert sum(database["db_errors"].values()) == 0
    assert summary["total"]["failed_requests"] == 0
    assert 0.0 < database["borrow_wait_ms"]["max"] < 1000.0


def test_shipped_failover_recovers_sooner_with_proxy():
    # Failover at 300 s for 35 s. Directly connected, requests during the outage
    # are refused: about 100/s x 35 s = 3,500 (Poisson: within 5 %), and the first
    # success after it arrives only once DNS points at the new writer (335 s).
    # With the proxy nobody is refused; the longest borrow waits the proxy's
    # shorter outage, 35 x (1 - 0.66) = 11.9 s, or a little less.
    direct = run_shipped("rds-failover")
    errors = direct.summary["database"]["db_errors"]
    assert errors["unavailable"] == pytest.approx(3500, rel=0.05)
    inv = direct.invocations
    after = inv[inv["arrival_s"] >= 300.0]
    first_ok_s = after.loc[after["status"] == "ok", "arrival_s"].min()
    assert 335.0 <= first_ok_s < 335.5
    proxied = run_shipped("rds-failover", "proxy={}").summary["database"]
    assert proxied["db_errors"]["unavailable"] == 0
    assert proxied["borrow_wait_ms"]["max"] == pytest.approx(11_900.0, rel=0.01)
    assert np.isfinite(proxied["mean_borrows_waiting"])


def test_case_d12_borrow_timeout_wait_is_billed():
    # Case D12: the database is unreachable (a failover at 0 lasting an hour), the
    # proxy's borrow timeout is 60 s and the function's 900 s: each invocation
    # fails after exactly 60 s of waiting, and Lambda bills those 60,000 ms.
    functions = scenario().model_dump(mode="json")["functions"]
    functions["fn"]["timeout_s"] = 900
    result = lambdasim.simulate(
        scenario(
            functions=functions,
            proxy={"connection_borrow_timeout": "60s"},
            events=[{"type": "database_failover", "at": 0, "duration": "1h"}],
            workload=[{"type": "burst", "function": "fn", "at": 1, "count": 2}],
        )
    )
    inv = result.invocations
    assert inv["status"].tolist() == ["db_error", "db_error"]
    assert inv["billed_ms"].tolist() == [60_000, 60_000]
    assert result.summary["database"]["db_errors"]["borrow_timeout"] == 2


# -- the database with provisioned concurrency, SQS and the bill


def test_provisioned_instances_connect_when_initialised():
    # 4 PC instances on alias live, allocated before the run, each open its
    # pool of 2 at INIT: 8 connections from t = 0 to the horizon, without
    # traffic. The one invocation at 10 s runs on a PC instance (no cold start, no
    # new connection).
    functions = scenario().functions
    spec = functions["fn"].model_dump()
    spec["provisioned_concurrency"] = {"live": 4}
    result = lambdasim.simulate(
        scenario(
            functions={"fn": spec},
            workload=[{"type": "burst", "function": "fn:live", "at": 10, "count": 1}],
        )
    )
    database = result.summary["database"]
    assert database["peak_connections"] == 8
    assert database["mean_connections"] == pytest.approx(8.0)
    block = result.summary["functions"]["fn:live"]
    assert (block["provisioned_invocations"], block["cold_starts"]) == (1, 0)


def test_provisioned_instance_refused_at_init_stays_out_until_it_connects():
    # max_connections 10, pool 2, PC 6: five PC instances connect at INIT, the sixth
    # is refused: it stays out of the pool and runs INIT again later. A
    # burst of 6 at 10 s finds 5 ready PC instances; the sixth request spills over
    # to an on-demand instance whose INIT connection is refused too: one db_error.
    spec = scenario().functions["fn"].model_dump()
    spec["provisioned_concurrency"] = {"live": 6}
    spec["init"] = "1s"
    result = lambdasim.simulate(
        scenario(
            functions={"fn": spec},
            workload=[{"type": "burst", "function": "fn:live", "at": 10, "count": 6}],
        )
    )
    database = result.summary["database"]
    assert database["peak_connections"] == 10
    assert database["db_errors"]["too_many_connections"] == 1
    block = result.summary["functions"]["fn:live"]
    assert (block["provisioned_invocations"], block["spillover_invocations"]) == (5, 1)
    assert block["cold_starts"] == 1


def test_provisioned_init_refused_in_a_failover_runs_again_and_connects():
    # PC 6 allocated at 5 s (no delay) at 6,000 a minute: the k-th starts INIT at
    # 5 + k / 100 s and is ready 1 s later, while a failover (5 s to 7.5 s) keeps the
    # database unreachable: all six are refused and run INIT again 1 s later,
    # ready at 8 + k / 100 s, when they connect 2 connections each until the 200 s
    # horizon: 2 x (6 x 192 - 0.15) connection-seconds. The burst at 20 s runs on
    # them.
    spec = scenario().functions["fn"].model_dump()
    spec["init"] = "1s"
    spec["provisioned_concurrency"] = {
        "live": {
            "schedule": [{"at": 0, "concurrency": 0}, {"at": 5, "concurrency": 6}],
            "allocation_delay": 0,
        }
    }
    database = scenario().database.model_dump()
    database["max_connections"] = 20
    result = lambdasim.simulate(
        scenario(
            functions={"fn": spec},
            database=database,
            events=[{"type": "database_failover", "at": 5, "duration": 2.5}],
            workload=[{"type": "burst", "function": "fn:live", "at": 20, "count": 6}],
        )
    )
    summary = result.summary
    assert summary["database"]["peak_connections"] == 12
    assert summary["database"]["mean_connections"] == pytest.approx(
        2 * (6 * 192 - 0.15) / 200
    )
    block = summary["functions"]["fn:live"]
    assert (block["provisioned_invocations"], block["cold_starts"]) == (6, 0)
    assert sum(summary["database"]["db_errors"].values()) == 0


# 20 messages sent at 0 to fn's queue.
SQS_BURST = [
    {"type": "burst", "function": "fn", "at": 0, "count": 20, "invocation_type": "sqs"}
]


def test_sqs_batches_that_query_the_database_are_delivered():
    # 20 messages at 0 into a queue; batches of 10 without a window: pollers take
    # two batches at once. Each batch runs one 0.1 s query (two share 2 vCPUs: both
    # end at 0.1 s), then the 0.5 s handler: both batches are deleted at 0.6 s.
    spec = scenario().functions["fn"].model_dump()
    spec["sqs"] = {"batch_size": 10}
    result = lambdasim.simulate(
        scenario(
            functions={"fn": spec},
            workload=SQS_BURST,
        )
    )
    block = result.summary["functions"]["fn"]
    assert (block["messages_delivered"], block["invocations"]) == (20, 2)
    assert block["delivery_latency_ms"]["max"] == pytest.approx(600.0)
    assert result.summary["database"]["queries"] == 2


def test_sqs_batch_refused_a_connection_returns_to_the_queue():
    # max_connections 2, pool 2: the first batch's instance connects, the second's
    # is refused (db_error, a failed batch): its 10 messages return after the
    # visibility timeout (60 s), are received again by the first, warm instance and
    # delivered.
    spec = scenario().functions["fn"].model_dump()
    spec["sqs"] = {"batch_size": 10, "visibility_timeout_s": 60}
    database = scenario().database.model_dump()
    database["max_connections"] = 2
    result = lambdasim.simulate(
        scenario(
            functions={"fn": spec},
            database=database,
            workload=SQS_BURST,
        )
    )
    block = result.summary["functions"]["fn"]
    assert block["db_errors"] == 1
    assert block["messages_delivered"] == 20
    assert block["message_receives"] == 30
    assert block["delivery_latency_ms"]["max"] == pytest.approx(60_600.0)


def test_proxy_charge_is_in_the_bill_shared_by_database_users():
    # db.t3.micro has 2 vCPUs: $0.015 x 2 per hour for the 200 s horizon. Two
    # functions use the database with 8 and 2 invocations: 80 % and 20 % of the
    # charge; a third without a database pays none. The month projects it x 730 h.
    functions = scenario().functions
    fn = functions["fn"].model_dump()
    plain = {**fn, "database": None}
    result = lambdasim.simulate(
        scenario(
            proxy={},
            functions={"a": fn, "b": fn, "c": plain},
            workload=[
                {"type": "burst", "function": "a", "at": 0, "count": 8},
                {"type": "burst", "function": "b", "at": 0, "count": 2},
                {"type": "burst", "function": "c", "at": 0, "count": 5},
            ],
        )
    )
    charge = 2 * 0.015 * 200 / 3600
    blocks = result.summary["functions"]
    assert blocks["a"]["cost_usd"]["proxy"] == pytest.approx(0.8 * charge)
    assert blocks["b"]["cost_usd"]["proxy"] == pytest.approx(0.2 * charge)
    assert blocks["c"]["cost_usd"]["proxy"] == 0.0
    assert result.summary["total"]["cost_usd"]["proxy"] == pytest.approx(charge)
    assert result.summary["database"]["proxy_cost_usd"] == pytest.approx(charge)


def test_database_priced_by_the_scenario():
    # $0.018 an hour: 200 s is 0.018 x 200 / 3600 = $0.001; a 730-hour month $13.14.
    # Unpriced, both are null; the instance is never in Lambda's cost_usd.
    database = scenario().database.model_dump()
    database["usd_per_hour"] = 0.018
    priced = lambdasim.simulate(scenario(database=database)).summary
    assert priced["database"]["database_cost_usd"] == pytest.approx(0.001)
    assert priced["database"]["database_monthly_usd"] == pytest.approx(13.14)
    plain = lambdasim.simulate(scenario()).summary
    assert plain["database"]["database_cost_usd"] is None
    assert priced["total"]["cost_usd"] == plain["total"]["cost_usd"]
    assert "database instance: $0.0010 for the run, $13.14 a month" in format_summary(
        priced
    )


# -- Aurora Serverless v2


def serverless(**changes):
    database = {
        "engine": "postgres",
        "service": "aurora-serverless-v2",
        "max_acu": 16,
        "query_time": "1s",
    }
    database.update(changes)
    return database


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"instance_class": "db.r6g.large"}, "remove instance_class"),
        ({"max_acu": None}, "needs max_acu"),
        ({"min_acu": 8, "max_acu": 4}, r"min_acu \(8\) is above max_acu \(4\)"),
        ({"max_acu": 2.25}, "2.25 ACU is not a multiple of 0.5"),
        ({"usd_per_hour": 0.5}, "priced per ACU-hour"),
        ({"service": "rds", "min_acu": 1}, "min_acu and max_acu are for service"),
    ],
)
def test_serverless_v2_mistakes_are_scenario_errors(changes, message):
    database = {k: v for k, v in serverless(**changes).items() if v is not None}
    with pytest.raises(ScenarioError, match=message):
        scenario(database=database)


def test_serverless_v2_max_connections_from_the_maximum_capacity():
    # The Aurora PostgreSQL formula on max_acu x 2 GiB: 8 ACU is 16 GiB, of which
    # A-51 leaves 0.97 x 16 - 0.2 = 15.32 GiB = 16,449,724,743 bytes; / 9,531,392 is
    # 1,725. With the default 0.5 ACU minimum, PostgreSQL caps it at 2,000 (64 ACU
    # would give 5,000). Queries run on 0.25 vCPU per ACU of the maximum.
    config = _database_config(scenario(database=serverless(min_acu=1, max_acu=8)))
    assert (config.max_connections, config.vcpus) == (1725, 2.0)
    config = _database_config(scenario(database=serverless(max_acu=64)))
    assert (config.max_connections, config.vcpus) == (2000, 16.0)


def test_serverless_v2_capacity_and_cost_hand_worked():
    # One invocation at 10 s runs one 1 s query (no INIT, no overhead): one query in
    # flight over [10, 11) needs 1 / 0.25 = 4 ACU; the other 99 s of the
    # 100 s run sit at the 0.5 ACU minimum. ACU-seconds 99 x 0.5 + 4 = 53.5: 53.5 /
    # 3600 ACU-hours at $0.12. The month projects the run x 730 h / 100 s.
    result = lambdasim.simulate(
        scenario(
            horizon=100,
            database=serverless(),
            workload=[{"type": "burst", "function": "fn", "at": 10, "count": 1}],
        )
    )
    database = result.summary["database"]
    acu = database["serverless_acu"]
    assert acu == pytest.approx(
        {"min": 0.5, "max": 16.0, "mean": 0.535, "peak": 4.0, "acu_hours": 53.5 / 3600}
    )
    assert database["database_cost_usd"] == pytest.approx(0.12 * 53.5 / 3600)
    assert database["database_monthly_usd"] == pytest.approx(
        0.12 * 53.5 / 3600 * 730 * 3600 / 100
    )


def test_serverless_v2_proxy_priced_per_acu_with_its_minimum(tmp_path, caplog):
    # The shipped table has no per-ACU proxy rate (unverified): not priced, said so.
    # With a rate of $0.01 per ACU-hour in one's own table, the 8 ACU minimum holds
    # every second (the capacity peaks at 4): 100 s x 8 ACU = 800 ACU-s.
    burst = [{"type": "burst", "function": "fn", "at": 10, "count": 1}]
    base = dict(horizon=100, database=serverless(), proxy={}, workload=burst)
    unpriced = lambdasim.simulate(scenario(**base)).summary
    assert unpriced["database"]["proxy_cost_usd"] is None
    assert unpriced["total"]["cost_usd"]["proxy"] == 0.0
    assert "usd_per_acu_hour is null" in caplog.text
    table = json.loads((REPO_ROOT / "lambdasim/prices/us-east-1.json").read_text())
    table["rds_proxy"]["usd_per_acu_hour"] = 0.01
    own = tmp_path / "prices.json"
    own.write_text(json.dumps(table))
    priced = lambdasim.simulate(
        scenario(**base, billing={"price_table": str(own)})
    ).summary
    assert priced["database"]["proxy_cost_usd"] == pytest.approx(0.01 * 800 / 3600)
    assert priced["total"]["cost_usd"]["proxy"] == pytest.approx(0.01 * 800 / 3600)


def test_case_d10_provisioned_100_against_50_connections():
    # Case D10: PC 100 on an alias, one connection per environment, PostgreSQL
    # limited to 50. The PC environments connect at INIT, before traffic: 50 hold
    # the 50 slots, 50 are refused. A launch burst of 100 takes all 100 PC
    # environments; the 50 without a connection run INIT again (1 s), are refused
    # again and fail: 50 db_errors. Through a proxy capped at 50 nobody fails: 100
    # client connections share 50 pooled ones and the excess waits its turn.
    spec = scenario().functions["fn"].model_dump()
    spec.update(provisioned_concurrency={"launch": 100}, init="1s")
    spec["database"] = {"pool_size": 1}
    database = scenario().database.model_dump()
    database["max_connections"] = 50
    launch = [{"type": "burst", "function": "fn:launch", "at": 10, "count": 100}]
    direct = lambdasim.simulate(
        scenario(functions={"fn": spec}, database=database, workload=launch)
    ).summary
    assert direct["database"]["db_errors"]["too_many_connections"] == 50
    assert direct["database"]["peak_connections"] == 50
    proxied = lambdasim.simulate(
        scenario(
            functions={"fn": spec},
            database=database,
            proxy={"max_connections_percent": 100},
            workload=launch,
        )
    ).summary
    assert sum(proxied["database"]["db_errors"].values()) == 0
    assert proxied["database"]["peak_connections"] == 50
    assert proxied["database"]["peak_client_connections"] == 100
    assert proxied["database"]["peak_borrows_waiting"] == 50


def test_proxy_nobody_uses_is_billed_to_all_functions():
    # A proxy in front of a database no function queries still runs: 2 vCPUs x
    # $0.015 for the 200 s horizon, shared equally by the two functions.
    plain = {**scenario().functions["fn"].model_dump(), "database": None}
    summary = lambdasim.simulate(
        scenario(
            proxy={},
            functions={"a": plain, "b": plain},
            workload=[{"type": "burst", "function": "a", "at": 0, "count": 3}],
        )
    ).summary
    charge = 2 * 0.015 * 200 / 3600
    assert summary["total"]["cost_usd"]["proxy"] == pytest.approx(charge)
    assert summary["functions"]["b"]["cost_usd"]["proxy"] == pytest.approx(charge / 2)
    assert summary["database"]["proxy_cost_usd"] == pytest.approx(charge)


def test_failover_after_the_horizon_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="lambdasim.runner"):
        lambdasim.simulate(
            scenario(events=[{"type": "database_failover", "at": 300, "duration": 5}])
        )
    assert "events[0]: the database_failover at 300 s is at or after the horizon" in (
        caplog.text
    )


def test_a_block_given_as_a_value_is_called_a_mapping_not_a_class():
    with pytest.raises(ScenarioError) as raised:
        scenario(proxy=5)
    assert "proxy is 5; expected a mapping of its keys" in str(raised.value)
    assert "Spec" not in str(raised.value)
