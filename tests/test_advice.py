"""Warnings about valid scenarios: what `validate` and `run` both say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lambdasim
from lambdasim.cli import main
from lambdasim.scenario.advice import scenario_warnings


def scenario(**changes: Any) -> lambdasim.Scenario:
    base: dict[str, Any] = {
        "name": "advice",
        "horizon": 600,
        "functions": {
            "api": {"runtime": "python3.12", "duration": "100ms"},
        },
        "workload": [{"type": "poisson", "function": "api", "rate_per_s": 1}],
    }
    base.update(changes)
    return lambdasim.validate_scenario(base)


def test_plain_scenario_gets_no_warning() -> None:
    assert scenario_warnings(scenario()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {
                "functions": {
                    "api": {
                        "runtime": "python3.12",
                        "duration": "100ms",
                        "provisioned_concurrency": {
                            "live": {
                                "schedule": [
                                    {"at": 0, "concurrency": 2},
                                    {"at": 700, "concurrency": 0},
                                ]
                            }
                        },
                    }
                },
                "workload": [
                    {"type": "poisson", "function": "api:live", "rate_per_s": 1}
                ],
            },
            "functions.api.provisioned_concurrency.live: 1 scheduled change(s) at or "
            "after the horizon (600 s) never take effect",
        ),
        (
            {
                "functions": {
                    "api": {
                        "runtime": "python3.12",
                        "duration": "100ms",
                        "provisioned_concurrency": {"live": 5},
                    }
                },
            },
            "functions.api.provisioned_concurrency.live: no workload source invokes "
            "'api:live'; its 5 provisioned instances are billed and taken out of the "
            "concurrency the other qualifiers can use",
        ),
        (
            {
                "functions": {
                    "api": {
                        "runtime": "python3.12",
                        "duration": "100ms",
                        "reserved_concurrency": 10,
                        "sqs": {"maximum_concurrency": 50},
                    }
                },
                "workload": [
                    {
                        "type": "poisson",
                        "function": "api",
                        "rate_per_s": 1,
                        "invocation_type": "sqs",
                    }
                ],
            },
            "functions.api.sqs.maximum_concurrency (50) is above its "
            "reserved_concurrency (10): batches beyond 10 are throttled, and "
            "throttles count as receives",
        ),
        (
            {
                "functions": {
                    "api": {
                        "runtime": "python3.12",
                        "duration": "100ms",
                        "reserved_concurrency": 3,
                        "provisioned_concurrency": {"live": 3},
                    }
                },
                "workload": [
                    {"type": "poisson", "function": "api", "rate_per_s": 1},
                    {"type": "poisson", "function": "api:live", "rate_per_s": 1},
                ],
            },
            "functions.api: provisioned concurrency (3) takes all of its "
            "reserved_concurrency (3), so invocations of 'api' ($LATEST) are "
            "throttled whenever it is allocated",
        ),
        (
            {
                "functions": {
                    "api": {"runtime": "python3.12", "duration": "100ms", "sqs": {}}
                },
            },
            "functions.api.sqs: no workload source sends to this queue "
            "(invocation_type: sqs), so its mapping never invokes the function",
        ),
        (
            {
                "database": {"engine": "postgres", "query_time": "2ms"},
                "functions": {
                    "api": {
                        "runtime": "python3.12",
                        "duration": "100ms",
                        "database": {"pinned_fraction": 0.5},
                    }
                },
            },
            "functions.api.database.pinned_fraction (0.5) has no effect without a "
            "proxy: pinning is RDS Proxy's",
        ),
        (
            {
                "database": {"engine": "postgres", "query_time": "2ms"},
                "events": [{"type": "database_failover", "at": 900, "duration": 30}],
            },
            "events[0]: the database_failover at 900 s is at or after the horizon "
            "(600 s): it never happens",
        ),
        (
            {
                "workload": [
                    {"type": "poisson", "function": "api", "rate_per_s": 1},
                    {"type": "burst", "function": "api", "at": 1200, "count": 10},
                ]
            },
            "workload[1] (burst) at 1200 s is at or after the horizon (600 s): it "
            "sends nothing",
        ),
        (
            {
                "workload": [
                    {
                        "type": "poisson",
                        "function": "api",
                        "rate_per_s": 1,
                        "retry": {"base_delay": "30s", "max_delay": "1s"},
                    }
                ]
            },
            "workload[0].retry.base_delay (30 s) is above max_delay (1 s): every wait "
            "is capped at max_delay",
        ),
    ],
)
def test_suspicious_setting_warned_with_its_key(
    changes: dict[str, Any], expected: str
) -> None:
    assert scenario_warnings(scenario(**changes)) == [expected]


def test_validate_prints_the_warnings_run_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nhorizon: 10m\nfunctions:\n  api: {runtime: python3.12, duration: "
        "100ms}\nworkload:\n  - {type: burst, function: api, at: 20m, count: 5}\n",
        encoding="utf-8",
    )

    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "workload[0] (burst) at 1200 s is at or after the horizon (600 s)" in err
