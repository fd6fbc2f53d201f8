"""The whole bill end to end: scenario fields, the CLI, summary.json and the rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lambdasim
from lambdasim.billing import COMPONENTS, MONTH_S
from lambdasim.cli import main
from tests.conftest import REPO_ROOT

SCENARIO = """\
name: bill
seed: 11
horizon: 30m
billing_date: 2026-02-01
billing:
  price_table: prices/mine.json
account:
  scaling: {rule: none}
functions:
  api:
    runtime: python3.12
    memory_mb: 1024
    duration: {kind: lognormal, median: 80ms, p99: 400ms}
    init: 300ms
    keep_alive: 2m
  batch:
    runtime: nodejs22.x
    architecture: arm64
    memory_mb: 2048
    ephemeral_storage_mb: 4096
    duration: 1.5s
    keep_alive: 1m
  snap:
    runtime: python3.13
    qualifiers: [live]
    memory_mb: 512
    snapstart: {restore: 400ms, billed_restore_fraction: 0.25}
    duration: 50ms
    keep_alive: 30s
  legacy:
    runtime: java21
    qualifiers: [live]
    memory_mb: 256
    snapstart: true
    duration: 20ms
    keep_alive: 30s
workload:
  - {type: poisson, function: api, rate_per_s: 20}
  - {type: poisson, function: batch, rate_per_s: 1}
  - {type: poisson, function: "snap:live", rate_per_s: 0.05}
  - {type: poisson, function: "legacy:live", rate_per_s: 0.05}
"""


def write_scenario(tmp_path: Path, text: str = SCENARIO) -> Path:
    (tmp_path / "prices").mkdir(exist_ok=True)
    shipped = REPO_ROOT / "lambdasim" / "prices" / "us-east-1.json"
    (tmp_path / "prices" / "mine.json").write_text(
        shipped.read_text(encoding="utf-8"), encoding="utf-8"
    )
    path = tmp_path / "bill.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_run_summary_breakdown_sums_to_total_and_rows_agree(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(write_scenario(tmp_path)), "-o", str(out), "-q"]) == 0

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = pd.read_parquet(out / "invocations.parquet")
    blocks = {**summary["functions"], "total": summary["total"]}
    factor = MONTH_S / 1800
    assert summary["billing"]["projection_factor"] == pytest.approx(factor)
    for name, block in blocks.items():
        cost = block["cost_usd"]
        assert set(cost) == {*COMPONENTS, "total"}
        assert sum(cost[c] for c in COMPONENTS) == pytest.approx(cost["total"]), name
        assert block["monthly_usd"] == pytest.approx(cost["total"] * factor), name
    for component in (*COMPONENTS, "total"):
        assert summary["total"]["cost_usd"][component] == pytest.approx(
            sum(
                summary["functions"][f]["cost_usd"][component]
                for f in ["api", "batch", "snap", "snap:live", "legacy", "legacy:live"]
            )
        )
    # Per-invocation charges add up to the per-invocation components.
    by_function = rows.groupby("function", observed=True)
    for name, column in (
        ("requests", "request_usd"),
        ("compute", "compute_usd"),
        ("init", "init_usd"),
        ("storage", "storage_usd"),
    ):
        for function, value in by_function[column].sum().items():
            assert summary["functions"][function]["cost_usd"][name] == pytest.approx(
                value
            )
    # Only batch has storage above 512 MB; only snap:live (Python, a version or
    # alias) pays SnapStart charges: Java's SnapStart is free.
    assert summary["functions"]["batch"]["cost_usd"]["storage"] > 0
    assert summary["functions"]["api"]["cost_usd"]["storage"] == 0
    assert summary["functions"]["snap:live"]["cost_usd"]["snapstart"] > 0
    assert summary["functions"]["legacy:live"]["cost_usd"]["snapstart"] == 0
    # Python 3.12 zip on 2026-02-01 bills INIT: ceil(duration + 300 ms) on colds.
    api = rows[(rows["function"] == "api") & rows["is_cold"]]
    assert (api["billed_init_ms"] == 300).all()
    ran = rows["status"] != "throttled"
    assert (rows["cost_usd"][ran] > 0).all()
    rate = summary["total"]["cost_per_million_invocations"]
    assert rate == pytest.approx(
        summary["total"]["cost_usd"]["total"] / ran.sum() * 1e6
    )


def test_snapstart_cold_start_uses_restore_and_bills_its_billed_part(
    tmp_path: Path,
) -> None:
    scenario = lambdasim.load_scenario(write_scenario(tmp_path))
    result = lambdasim.simulate(scenario)
    rows = result.invocations
    snap = rows[(rows["function"] == "snap:live") & rows["is_cold"]]

    assert len(snap) > 0
    # Restore Duration 400 ms in place of INIT; billed: ceil(50 + 0.25 x 400) = 150.
    assert np.allclose(snap["init_ms"], 400.0)
    assert (snap["billed_ms"] == 150).all()
    assert (snap["billed_init_ms"] == 100).all()
    # Restore charge per cold start: 0.5 GB x $0.0001397998.
    assert np.allclose(snap["snapstart_usd"], 0.5 * 0.0001397998, rtol=1e-12)
    # Java SnapStart (defaults): restore drawn from the default, billed share 0.27.
    legacy = rows[(rows["function"] == "legacy:live") & rows["is_cold"]]
    assert (legacy["snapstart_usd"] == 0).all()
    assert (legacy["billed_init_ms"] > 0).all()


def test_snapstart_cache_charged_once_per_function_whatever_its_qualifiers(
    tmp_path: Path,
) -> None:
    # snap is invoked as snap:live and snap:blue. One snapshot of 0.5 GB for the
    # 30-minute run, 0.5 x 1800 x $0.0000015046, shared by the two, plus one restore
    # charge (0.5 GB x $0.0001397998) per cold start of either.
    overrides = [
        "functions.snap.qualifiers=[live, blue]",
        "workload.3.function=snap:blue",
        "billing.project_to_month=false",
        "billing.free_tier=false",
    ]
    result = lambdasim.simulate(
        lambdasim.load_scenario(write_scenario(tmp_path), overrides)
    )
    functions = result.summary["functions"]
    rows = result.invocations
    qualifiers = ["snap:live", "snap:blue"]
    cold = int((rows["is_cold"] & rows["function"].isin(qualifiers)).sum())

    assert cold > 0
    assert functions["snap"]["cost_usd"]["snapstart"] == 0
    assert sum(functions[q]["cost_usd"]["snapstart"] for q in qualifiers) == (
        pytest.approx(0.5 * 1800 * 0.0000015046 + cold * 0.5 * 0.0001397998, rel=1e-9)
    )


def test_snapstart_never_restores_latest_whose_cold_starts_run_init(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # AWS: SnapStart works on published versions and aliases only. snap invoked by
    # its plain name cold-starts with its own INIT (250 ms here), never the 400 ms
    # restore, and pays no SnapStart charge.
    overrides = ["workload.2.function=snap", "functions.snap.init=250ms"]
    with caplog.at_level("WARNING", logger="lambdasim.runner"):
        result = lambdasim.simulate(
            lambdasim.load_scenario(write_scenario(tmp_path), overrides)
        )
    rows = result.invocations
    cold = rows[(rows["function"] == "snap") & rows["is_cold"]]

    assert len(cold) > 0
    assert (cold["init_ms"] == 250.0).all()
    assert result.summary["functions"]["snap"]["cost_usd"]["snapstart"] == 0
    assert "functions.snap.snapstart: workload[2] invokes 'snap' ($LATEST)" in (
        caplog.text
    )


def test_free_tier_off_and_no_projection_by_override(tmp_path: Path) -> None:
    path = write_scenario(tmp_path)
    on = lambdasim.simulate(lambdasim.load_scenario(path))
    off = lambdasim.simulate(
        lambdasim.load_scenario(
            path, ["billing.free_tier=false", "billing.project_to_month=false"]
        )
    )

    assert on.summary["total"]["cost_usd"]["free_tier_credit"] < 0
    assert off.summary["total"]["cost_usd"]["free_tier_credit"] == 0
    assert off.summary["billing"]["projection_factor"] == 1.0
    assert off.summary["total"]["monthly_usd"] == pytest.approx(
        off.summary["total"]["cost_usd"]["total"]
    )
    assert "taken as the whole month" in off.summary["billing"]["method"]


def test_run_prints_cost_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(write_scenario(tmp_path)), "-o", str(tmp_path / "o")]) == 0

    out = capsys.readouterr().out
    assert "cost: the 1800 s run is projected to a 730-hour month (x 1460)" in out
    assert "free tier on" in out
    assert "storage $" in out and "snapstart $" in out and "month $" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (
                "    runtime: python3.13\n",
                "    runtime: python3.13\n    package_type: image\n",
            ),
            r"bill\.yaml:\d+: functions\.snap\.snapstart: set on an image function; "
            "SnapStart supports zip packages only",
        ),
        (
            (
                "    runtime: nodejs22.x\n",
                "    runtime: nodejs22.x\n    snapstart: true\n",
            ),
            r"bill\.yaml:\d+: functions\.batch\.snapstart: runtime 'nodejs22\.x' has "
            "no SnapStart; expected a Java",
        ),
        (
            ("    runtime: python3.13\n", "    runtime: python3.11\n"),
            r"functions\.snap\.snapstart: runtime 'python3\.11' has no SnapStart; "
            r"expected a Java \(11\+\), Python \(3\.12\+\) or \.NET \(8\+\)",
        ),
        (
            ("    runtime: java21\n", "    runtime: java8.al2\n"),
            r"functions\.legacy\.snapstart: runtime 'java8\.al2' has no SnapStart",
        ),
        (
            (
                "    runtime: java21\n",
                "    runtime: graalvm-java21-provided.al2023\n",
            ),
            r"functions\.legacy\.snapstart: runtime 'graalvm-java21-provided\.al2023'"
            " has no SnapStart",
        ),
        (
            (
                "    runtime: java21\n",
                "    runtime: java21\n    provisioned_concurrency: {live: 2}\n",
            ),
            r"functions\.legacy\.snapstart: set with provisioned_concurrency, which "
            "Lambda does not support together with SnapStart",
        ),
        (
            (
                "    runtime: java21\n",
                "    runtime: java21\n    ephemeral_storage_mb: 1024\n",
            ),
            r"functions\.legacy\.snapstart: set with ephemeral_storage_mb 1024; "
            "SnapStart supports only the default 512 MB",
        ),
        (
            ("billed_restore_fraction: 0.25", "billed_restore_fraction: 2"),
            r"billed_restore_fraction is 2",
        ),
        (
            ("  price_table: prices/mine.json\n", "  price_table: prices/none.json\n"),
            r"bill\.yaml:6: billing\.price_table: .*none\.json: price table file not "
            "found",
        ),
        (
            ("  price_table: prices/mine.json\n", "  free_tier: maybe\n"),
            r"billing\.free_tier",
        ),
    ],
)
def test_bad_billing_fields_are_scenario_errors(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = SCENARIO.replace(*change)
    assert text != SCENARIO
    with pytest.raises(lambdasim.ScenarioError, match=message):
        lambdasim.load_scenario(write_scenario(tmp_path, text))


def test_bad_price_table_key_reported_by_validate_with_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario(tmp_path)
    table = tmp_path / "prices" / "mine.json"
    table.write_text(
        table.read_text(encoding="utf-8").replace(
            '"usd_per_million"', '"usd_per_M"', 1
        ),
        encoding="utf-8",
    )

    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "billing.price_table: " in err
    assert "mine.json: architectures.x86_64.requests.usd_per_M is an unknown key" in err


def test_prices_the_scenario_needs_missing_from_its_table_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The scenario runs batch on arm64 and SnapStart on Python (cache and restore
    # charges); a table without them cannot price the run, so it must not start.
    path = write_scenario(tmp_path)
    table_path = tmp_path / "prices" / "mine.json"
    table = json.loads(table_path.read_text(encoding="utf-8"))
    del table["architectures"]["arm64"]
    del table["architectures"]["x86_64"]["snapstart_restore"]
    table_path.write_text(json.dumps(table), encoding="utf-8")
    results = tmp_path / "out"

    assert main(["run", str(path), "-o", str(results)]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err
    assert (
        "mine.json: architectures.arm64 is missing; functions.batch runs on arm64"
        in err
    )
    assert (
        "mine.json: architectures.x86_64.snapstart_restore is missing; "
        "functions.snap needs it (snapstart)" in err
    )
    assert "functions.legacy" not in err  # Java SnapStart has no SnapStart charges
    assert not (results / "summary.json").exists()
    assert main(["validate", str(path)]) == 2


def test_price_table_of_another_region_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scenario = lambdasim.load_scenario(
        write_scenario(tmp_path), ["account.region=eu-west-1", "horizon=1m"]
    )
    with caplog.at_level("WARNING", logger="lambdasim.runner"):
        lambdasim.simulate(scenario)

    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    table = tmp_path / "prices" / "mine.json"
    assert warnings == [
        f"the price table {table} is for us-east-1, the scenario's account is in "
        "eu-west-1: costs use the table's prices"
    ]


def test_arm64_python_snapstart_needs_a_price_the_shipped_table_lacks(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # aws-lambda-facts.md section 5 gives SnapStart prices for x86_64 only.
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nhorizon: 10m\nfunctions:\n  py: {runtime: python3.12, "
        "architecture: arm64, duration: 100ms, snapstart: true, qualifiers: [live]}"
        "\nworkload:\n  - {type: poisson, function: 'py:live', rate_per_s: 1}\n",
        encoding="utf-8",
    )

    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        "architectures.arm64.snapstart_cache is missing; functions.py needs it" in err
    )
    assert err.rstrip().endswith(
        "the shipped table has no such price: give it in a table of your own "
        "(billing.price_table)"
    )


def test_snapstart_prices_not_needed_where_nothing_restores(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # No version or alias: Lambda never restores $LATEST, so no SnapStart charge
    # and no SnapStart price is needed.
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nhorizon: 10m\nfunctions:\n  py: {runtime: python3.12, "
        "architecture: arm64, duration: 100ms, snapstart: true}\nworkload:\n"
        "  - {type: poisson, function: py, rate_per_s: 1}\n",
        encoding="utf-8",
    )

    assert main(["validate", str(path)]) == 0
