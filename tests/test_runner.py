"""End-to-end runs through the public API: pricing, memory scaling, traces."""

from __future__ import annotations

import datetime

import pandas as pd
import pytest

import lambdasim
from tests.conftest import REPO_ROOT, SHARED_DATA

AZURE_2019 = SHARED_DATA / "azure-functions-2019-sample-500fn"
AZURE_2021 = SHARED_DATA / "azure-functions-2021-invocation-head"
needs_azure_2019 = pytest.mark.skipif(
    not AZURE_2019.is_dir(), reason="../shared/data Azure 2019 sample not present"
)


def scenario(**changes):
    base = {
        "name": "t",
        "seed": 3,
        "horizon": 60,
        "billing_date": "2025-07-01",
        "account": {"scaling": {"rule": "none"}},
        "functions": {
            "fn": {
                "runtime": "python3.12",
                "memory_mb": 1024,
                "duration": "100ms",
                "init": "200ms",
                "platform_overhead": 0,
                "keep_alive": "1h",
                "max_lifetime": None,
            }
        },
        "workload": [{"type": "burst", "function": "fn", "at": 1, "count": 10}],
    }
    for key, value in changes.items():
        if key.startswith("fn_"):
            base["functions"]["fn"][key[3:]] = value
        else:
            base[key] = value
    return lambdasim.validate_scenario(base)


@pytest.mark.parametrize(
    ("billing_date", "runtime", "package_type", "billed_ms"),
    [
        # Managed runtime, zip, before 2025-08-01: INIT not billed -> ceil(100).
        ("2025-07-01", "python3.12", "zip", 100),
        # Same function after 2025-08-01: ceil(100 + 200).
        ("2025-08-01", "python3.12", "zip", 300),
        # Custom runtime (provided.al2023): INIT always billed.
        ("2025-07-01", "go", "zip", 300),
        # Container image: INIT always billed.
        ("2025-07-01", "python3.12", "image", 300),
    ],
)
def test_cost_ten_cold_starts_matches_hand_calculation(
    billing_date, runtime, package_type, billed_ms
):
    result = lambdasim.simulate(
        scenario(
            billing_date=billing_date,
            fn_runtime=runtime,
            fn_package_type=package_type,
            billing={"free_tier": False},
        )
    )
    total = result.summary["total"]
    assert total["cold_starts"] == 10
    assert list(result.invocations["billed_ms"]) == [billed_ms] * 10
    # 10 requests x $0.20 per million; 10 x billed s x 1 GB x $0.0000166667 (x86_64),
    # of which 10 x 0.1 s is the handler (compute) and the rest INIT.
    gb_seconds = 10 * billed_ms / 1000 * 1024 / 1024
    assert total["gb_seconds"] == pytest.approx(gb_seconds)
    assert total["cost_usd"]["requests"] == pytest.approx(10 * 0.20 / 1e6)
    assert total["cost_usd"]["compute"] == pytest.approx(1.0 * 0.0000166667)
    assert total["cost_usd"]["init"] == pytest.approx((gb_seconds - 1.0) * 0.0000166667)
    assert total["cost_usd"]["total"] == pytest.approx(
        10 * 0.20 / 1e6 + gb_seconds * 0.0000166667
    )


def test_cost_arm64_uses_arm_gb_second_price():
    result = lambdasim.simulate(
        scenario(fn_architecture="arm64", billing={"free_tier": False})
    )
    # 10 x 0.1 s x 1 GB x $0.0000133334.
    assert result.summary["total"]["cost_usd"]["compute"] == pytest.approx(
        1.0 * 0.0000133334
    )


def test_cost_before_december_2020_rounds_to_100_ms():
    result = lambdasim.simulate(
        scenario(billing_date="2020-11-30", fn_duration="101ms")
    )
    assert set(result.invocations["billed_ms"]) == {200}


@pytest.mark.parametrize(
    ("memory_mb", "cpu_fraction", "expected_s"),
    [
        (512, 1.0, 2.0),  # half the CPU: a CPU-bound handler takes twice as long
        (512, 0.5, 1.5),  # half of it CPU-bound: 0.5 x 2 + 0.5
        # 2048 MB is 1.16 vCPUs, but one thread uses at most 1: 1024/1769 s.
        (2048, 1.0, 1024 / 1769),
        (3538, 1.0, 1024 / 1769),  # 2 vCPUs, 1 thread: the same
    ],
)
def test_duration_scales_with_memory_from_reference(
    memory_mb, cpu_fraction, expected_s
):
    duration = {
        "kind": "constant",
        "value": 1.0,
        "reference_memory_mb": 1024,
        "cpu_fraction": cpu_fraction,
        "threads": 1,
    }
    result = lambdasim.simulate(scenario(fn_memory_mb=memory_mb, fn_duration=duration))
    assert result.invocations["duration_ms"].iloc[0] == pytest.approx(expected_s * 1000)


def test_common_random_numbers_same_arrivals_when_memory_changes():
    poisson = [{"type": "poisson", "function": "fn", "rate_per_s": 5}]
    small = lambdasim.simulate(scenario(workload=poisson, fn_memory_mb=512))
    large = lambdasim.simulate(scenario(workload=poisson, fn_memory_mb=2048))
    pd.testing.assert_series_equal(
        small.invocations["arrival_s"], large.invocations["arrival_s"]
    )


def test_seed_changes_arrivals():
    poisson = [{"type": "poisson", "function": "fn", "rate_per_s": 5}]
    one = lambdasim.simulate(scenario(workload=poisson), seed=1)
    two = lambdasim.simulate(scenario(workload=poisson), seed=2)
    assert not one.invocations["arrival_s"].equals(two.invocations["arrival_s"])
    assert one.summary["seed"] == 1


def test_billing_date_defaults_to_today():
    raw = scenario().model_dump()
    raw.pop("billing_date")
    assert lambdasim.validate_scenario(raw).billing_date == datetime.date.today()


def _azure_counts(minutes: int) -> pd.Series:
    table = pd.read_csv(AZURE_2019 / "invocations.csv")
    minute_columns = [c for c in table.columns if c.isdigit()][:minutes]
    return table[minute_columns].sum(axis=1)


@needs_azure_2019
def test_azure_2019_sample_30_minutes_totals_match_trace_counts(tmp_path):
    loaded = lambdasim.load_scenario(
        REPO_ROOT / "scenarios" / "azure-2019-sample.yaml", ["horizon=30m"]
    )
    result = lambdasim.simulate(loaded)
    expected = _azure_counts(30)
    assert result.summary["total"]["invocations"] == int(expected.sum())
    per_function = [f["invocations"] for f in result.summary["functions"].values()]
    assert per_function == expected.tolist()
    written = result.write(tmp_path)
    assert {p.name for p in written} >= {
        "summary.json",
        "invocations.parquet",
        "timeseries.parquet",
    }


@pytest.mark.slow
@needs_azure_2019
def test_azure_2019_full_8h_replay_counts_3037902_invocations():
    loaded = lambdasim.load_scenario(REPO_ROOT / "scenarios" / "azure-2019-sample.yaml")
    result = lambdasim.simulate(loaded)
    # The README of the sample gives 3,037,902 invocations over the 8 hours.
    assert result.summary["total"]["invocations"] == 3_037_902
    assert result.summary["total"]["invocations"] == int(_azure_counts(480).sum())


@pytest.mark.skipif(not AZURE_2021.is_dir(), reason="../shared/data Azure 2021 absent")
def test_azure_2021_head_replays_every_invocation_with_its_duration():
    path = AZURE_2021 / "AzureFunctionsInvocationTrace2021_head998.csv"
    raw = scenario(
        horizon="2h",
        functions={},
        workload=[
            {
                "type": "azure2021",
                "path": str(path),
                "function_defaults": {"runtime": "python3.12"},
            }
        ],
    ).model_dump()
    result = lambdasim.simulate(lambdasim.validate_scenario(raw))
    trace = pd.read_csv(path)
    assert result.summary["total"]["invocations"] == len(trace) == 998
    assert len(result.summary["functions"]) == 49
    # Durations come from the trace (capped by the 900 s default timeout).
    assert sorted(result.invocations["duration_ms"].round(3)) == pytest.approx(
        sorted((trace["duration"].clip(upper=900) * 1000).round(3))
    )


def test_replay_csv_with_function_column_targets_named_functions(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp,fn,duration\n0.5,a,0.1\n1.0,b,0.2\n1.5,a,0.3\n")
    fn = scenario().functions["fn"].model_dump()
    raw = scenario().model_dump()
    raw["functions"] = {"a": fn, "b": fn}
    raw["workload"] = [
        {
            "type": "replay",
            "path": str(trace),
            "function_column": "fn",
            "duration_column": "duration",
        }
    ]
    result = lambdasim.simulate(lambdasim.validate_scenario(raw))
    assert result.summary["functions"]["a"]["invocations"] == 2
    assert result.summary["functions"]["b"]["invocations"] == 1
    assert list(result.invocations["duration_ms"].round(6)) == [100.0, 200.0, 300.0]


def test_source_without_arrivals_in_horizon_warns(caplog):
    burst_late = [
        {"type": "burst", "function": "fn", "at": 1, "count": 2},
        {"type": "burst", "function": "fn", "at": 120, "count": 5},
    ]
    with caplog.at_level("WARNING", logger="lambdasim"):
        result = lambdasim.simulate(scenario(workload=burst_late))
    assert result.summary["total"]["invocations"] == 2
    assert [r.getMessage() for r in caplog.records] == [
        "workload[1] (burst) at 120 s is at or after the horizon (60 s): it sends "
        "nothing"
    ]


def test_source_that_yields_nothing_in_the_horizon_warns_after_reading(caplog):
    # A rate that is zero until after the horizon: known only once generated.
    late = [
        {"type": "burst", "function": "fn", "at": 1, "count": 2},
        {
            "type": "piecewise",
            "function": "fn",
            "shape": "step",
            "points": [[0, 0], [120, 5]],
        },
    ]
    with caplog.at_level("WARNING", logger="lambdasim"):
        lambdasim.simulate(scenario(workload=late))
    assert "workload[1] (piecewise) produced no arrival before the horizon" in (
        caplog.text
    )


def test_scaling_rule_account_legacy_uses_region_burst_unless_given():
    from lambdasim.runner import _account

    legacy = scenario(account={"scaling": {"rule": "account-legacy"}})
    assert _account(legacy.account).scale_up.burst == 3000
    custom = scenario(account={"scaling": {"rule": "account-legacy", "burst": 42}})
    assert _account(custom.account).scale_up.burst == 42
    current = scenario(account={"scaling": {"rule": "per-function"}})
    assert _account(current.account).scale_up.burst == 1000


def test_request_rate_quota_defaults_to_ten_times_the_concurrency_limit():
    from lambdasim.runner import _account

    assert _account(scenario().account).request_rate_per_s == 10_000
    limited = scenario(account={"concurrency_limit": 300, "scaling": {"rule": "none"}})
    assert _account(limited.account).request_rate_per_s == 3_000
    off = scenario(account={"request_rate_quota": "none"})
    assert _account(off.account).request_rate_per_s is None


def test_retry_sdk_shorthand_and_upstream_timeout_reach_the_model():
    from lambdasim.runner import _client

    loaded = scenario(
        workload=[
            {"type": "poisson", "function": "fn", "rate_per_s": 1, "retry": "sdk"},
            {
                "type": "burst",
                "function": "fn",
                "at": 1,
                "count": 1,
                "upstream_timeout": "29s",
            },
        ]
    )
    sdk, gateway = (_client(source) for source in loaded.workload)
    assert (sdk.max_attempts, sdk.base_delay_s, sdk.max_delay_s) == (3, 1.0, 20.0)
    assert sdk.has_jitter and sdk.upstream_timeout_s is None
    assert (gateway.max_attempts, gateway.upstream_timeout_s) == (1, 29.0)


def test_retry_policy_misspelt_is_a_scenario_error():
    with pytest.raises(lambdasim.ScenarioError, match=r"is not a retry policy"):
        scenario(
            workload=[
                {"type": "poisson", "function": "fn", "rate_per_s": 1, "retry": "sdkk"}
            ]
        )


def test_retry_on_async_source_is_a_scenario_error():
    with pytest.raises(lambdasim.ScenarioError, match=r"describe a synchronous caller"):
        scenario(
            workload=[
                {
                    "type": "poisson",
                    "function": "fn",
                    "rate_per_s": 1,
                    "invocation_type": "async",
                    "upstream_timeout": "29s",
                }
            ]
        )


def test_region_without_price_table_priced_as_us_east_1_with_warning(caplog):
    with caplog.at_level("WARNING", logger="lambdasim"):
        result = lambdasim.simulate(scenario(account={"region": "eu-west-1"}))
    reference = lambdasim.simulate(scenario())
    assert "no price table for eu-west-1" in caplog.text
    assert result.summary["total"]["cost_usd"] == reference.summary["total"]["cost_usd"]


def test_every_output_column_and_summary_key_is_documented(tmp_path):
    # docs/results-schema.md is the one place the outputs are described.
    doc = (REPO_ROOT / "docs" / "results-schema.md").read_text(encoding="utf-8")
    result = lambdasim.simulate(scenario())
    result.write(tmp_path)
    summary = result.summary
    keys = set(summary) | set(summary["total"])
    keys |= {
        k
        for value in summary["total"].values()
        if isinstance(value, dict)
        for k in value
    }
    undocumented = sorted(k for k in keys if f"`{k}`" not in doc)
    for name in ("invocations", "instances", "timeseries"):
        columns = pd.read_parquet(tmp_path / f"{name}.parquet").columns
        undocumented += [f"{name}.{c}" for c in columns if f"`{c}`" not in doc]
    assert undocumented == []


def test_qualified_source_latest_is_the_plain_function():
    # `fn:$LATEST` is what `fn` invokes: the 10 burst invocations land on `fn`.
    run = lambdasim.simulate(
        scenario(
            workload=[{"type": "burst", "function": "fn:$LATEST", "at": 1, "count": 10}]
        )
    )
    assert run.summary["functions"]["fn"]["invocations"] == 10


def test_provisioned_alias_serves_burst_warm_and_latest_absent():
    # PC 10 on `live`, a burst of 10 at t=1 (at one instant): every invocation
    # takes one of the 10 PC instances, none is cold.
    run = lambdasim.simulate(
        scenario(
            fn_provisioned_concurrency={"live": 10},
            workload=[{"type": "burst", "function": "fn:live", "at": 1, "count": 10}],
        )
    )
    live = run.summary["functions"]["fn:live"]
    assert live["provisioned_invocations"] == 10
    assert live["cold_starts"] == 0
    assert run.summary["functions"]["fn"]["invocations"] == 0
    assert (run.invocations["served_by"] == "provisioned").all()


def test_provisioned_cleared_with_null_and_late_schedule_warns(caplog):
    cleared = scenario(
        fn_provisioned_concurrency={"live": None}, fn_qualifiers=["live"]
    )
    assert cleared.functions["fn"].provisioned_concurrency == {}
    late = scenario(
        fn_provisioned_concurrency={
            "live": {"schedule": [{"at": "2m", "concurrency": 1}]}
        }
    )
    lambdasim.simulate(late)
    assert "never take effect" in caplog.text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"live": "ten"}, "expected a whole number of provisioned instances"),
        (
            {"live": {"concurrency": 1, "recycle_interval": "10s"}},
            "recycle_interval has a median of 10 s; expected at least 60 s",
        ),
        (
            {
                "live": {
                    "schedule": [
                        {"at": "1h", "concurrency": 1},
                        {"at": "30m", "concurrency": 0},
                    ]
                }
            },
            "entry 1 at 1800 s does not come after entry 0 at 3600 s",
        ),
    ],
)
def test_provisioned_spec_mistakes_are_scenario_errors(settings, message):
    with pytest.raises(lambdasim.ScenarioError, match=message):
        scenario(fn_provisioned_concurrency=settings)


def test_source_with_empty_qualifier_is_a_scenario_error():
    with pytest.raises(lambdasim.ScenarioError, match="nothing after ':'"):
        scenario(workload=[{"type": "burst", "function": "fn:", "at": 1, "count": 1}])


def test_a_qualifier_listed_twice_is_a_scenario_error():
    message = "'live' is listed more than once"
    with pytest.raises(lambdasim.ScenarioError, match=message):
        scenario(fn_qualifiers=["live", "blue", "live"])


@pytest.mark.parametrize("duration", ["-5ms", -0.5, " -2 s"])
def test_a_negative_time_is_called_negative(duration):
    message = "is negative; expected a time >= 0"
    with pytest.raises(lambdasim.ScenarioError, match=message):
        scenario(fn_duration=duration)


def test_provisioned_concurrency_bill_allocated_executing_and_init():
    # PC 1 on `live`, 1,024 MB (1 GB), for the whole 1-hour run (12 blocks of 5 min):
    # allocated 1 GB x 3,600 s x $0.0000041667 = $0.01500012. One invocation of
    # 100 ms on it: 0.1 GB-s at the executing rate $0.0000097222 plus $0.20 per
    # million requests. The PC instance's INIT (200 ms) is billed at the same
    # executing rate: 0.2 GB-s.
    run = lambdasim.simulate(
        scenario(
            horizon=3600,
            billing={"free_tier": False, "project_to_month": False},
            fn_provisioned_concurrency={"live": 1},
            workload=[{"type": "burst", "function": "fn:live", "at": 1, "count": 1}],
        )
    )
    cost = run.summary["functions"]["fn:live"]["cost_usd"]
    assert cost["provisioned_allocated"] == pytest.approx(3600 * 0.0000041667)
    assert cost["provisioned_executing"] == pytest.approx(0.3 * 0.0000097222)
    assert cost["requests"] == pytest.approx(0.2e-6)
    assert cost["compute"] == 0.0
    assert cost["total"] == pytest.approx(
        3600 * 0.0000041667 + 0.3 * 0.0000097222 + 0.2e-6
    )
