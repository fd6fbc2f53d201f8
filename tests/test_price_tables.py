"""Price tables: the shipped us-east-1 table against the facts, strict reading."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lambdasim.errors import ScenarioError
from lambdasim.price_tables import (
    Architecture,
    RateName,
    load_price_table,
    load_price_table_file,
    parse_price_table,
)

US_EAST_1 = Path(__file__).parents[1] / "lambdasim" / "prices" / "us-east-1.json"


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(US_EAST_1.read_text(encoding="utf-8"))
    return data


def test_load_price_table_us_east_1_has_facts_prices_and_skus() -> None:
    # aws-lambda-facts.md section 5, PRICE-API rows.
    table = load_price_table()
    x86 = table.for_architecture("x86_64")
    arm = table.for_architecture(Architecture.ARM64)

    assert (table.region, table.currency) == ("us-east-1", "USD")
    assert x86.requests.usd_per_million == 0.20
    assert x86.requests.sku == "GU2ZS9HVP6QTQ7KE"
    assert arm.requests.sku == "K7BX6567RJ67A2KE"
    assert [(t.up_to_gb_s_per_month, t.usd_per_gb_s) for t in x86.duration.tiers] == [
        (6e9, 0.0000166667),
        (15e9, 0.0000150000),
        (None, 0.0000133334),
    ]
    assert [(t.up_to_gb_s_per_month, t.usd_per_gb_s) for t in arm.duration.tiers] == [
        (7.5e9, 0.0000133334),
        (18.75e9, 0.0000120001),
        (None, 0.0000106667),
    ]
    assert x86.rate(RateName.PROVISIONED_ALLOCATED).usd == 0.0000041667
    assert arm.rate(RateName.PROVISIONED_ALLOCATED).sku == "MV7PTBS82AVCMXJJ"
    assert x86.rate(RateName.PROVISIONED_DURATION).usd == 0.0000097222
    assert arm.rate(RateName.PROVISIONED_DURATION).usd == 0.0000077778
    assert x86.rate(RateName.EPHEMERAL_STORAGE).usd == 0.0000000309
    assert x86.rate(RateName.SNAPSTART_CACHE).usd == 0.0000015046
    assert x86.rate(RateName.SNAPSTART_RESTORE).usd == 0.0001397998
    assert x86.duration.effective == date(2025, 10, 1)
    assert (table.free_tier.requests_per_month, table.free_tier.gb_s_per_month) == (
        1_000_000,
        400_000,
    )
    assert table.rds_proxy is not None
    assert (table.rds_proxy.usd_per_vcpu_hour, table.rds_proxy.minimum_vcpus) == (
        0.015,
        2,
    )
    # The per-ACU rate is unverified: left out, with the 8-ACU minimum kept.
    assert table.rds_proxy.usd_per_acu_hour is None
    assert table.rds_proxy.minimum_acus == 8


def test_arm64_snapstart_price_missing_names_table_and_key() -> None:
    arm = load_price_table().for_architecture("arm64")

    with pytest.raises(
        ScenarioError,
        match=r"us-east-1\.json: architectures\.arm64\.snapstart_restore is missing",
    ):
        arm.rate(RateName.SNAPSTART_RESTORE)


def test_load_price_table_unknown_region_lists_available() -> None:
    with pytest.raises(ScenarioError, match=r"'us-east-9'.*us-east-1"):
        load_price_table("us-east-9")


def test_price_table_unknown_architecture_raises() -> None:
    with pytest.raises(ScenarioError, match=r"architecture 'riscv' .*x86_64, arm64"):
        load_price_table().for_architecture("riscv")


def test_parse_price_table_without_arm64_prices_raises_at_use() -> None:
    data = shipped()
    del data["architectures"]["arm64"]
    table = parse_price_table(data, "mine.json")

    with pytest.raises(ScenarioError, match="us-east-1: no prices for arm64"):
        table.for_architecture("arm64")


def test_parse_price_table_format_version_1_is_refused_with_version() -> None:
    data = shipped()
    data["format_version"] = 1

    with pytest.raises(
        ScenarioError, match=r"^mine\.json: format_version is 1; expected 2"
    ):
        parse_price_table(data, "mine.json")


def problems_of(data: Any) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_price_table(data, "mine.json")
    return caught.value.problems


def test_parse_price_table_reports_every_problem_with_file_and_key() -> None:
    data = shipped()
    x86 = data["architectures"]["x86_64"]
    x86["requests"]["usd_per_milion"] = x86["requests"].pop("usd_per_million")
    x86["provisioned_allocated"]["usd_per_gb_s"] = -1
    x86["duration"]["effective"] = "2025-13-01"
    del data["free_tier"]["gb_s_per_month"]

    problems = problems_of(data)

    assert problems == [
        "mine.json: architectures.x86_64.requests.usd_per_milion is an unknown key "
        "(did you mean 'usd_per_million'?); expected one of: sku, effective, "
        "usd_per_million",
        "mine.json: architectures.x86_64.requests.usd_per_million is missing "
        "(required)",
        "mine.json: architectures.x86_64.duration.effective is '2025-13-01'; "
        "expected a date as YYYY-MM-DD",
        "mine.json: architectures.x86_64.provisioned_allocated.usd_per_gb_s is -1; "
        "expected a number >= 0",
        "mine.json: free_tier.gb_s_per_month is missing (required)",
    ]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], r"duration\.tiers is \[\]; expected a list of >= 1 tier"),
        (
            [{"up_to_gb_s_per_month": 6e9, "usd_per_gb_s": 1e-5}],
            r"tiers\[0\]\.up_to_gb_s_per_month is 6e\+09; expected null",
        ),
        (
            [
                {"up_to_gb_s_per_month": 6e9, "usd_per_gb_s": 1e-5},
                {"up_to_gb_s_per_month": 5e9, "usd_per_gb_s": 1e-5},
                {"up_to_gb_s_per_month": None, "usd_per_gb_s": 1e-5},
            ],
            r"bounds \[6000000000\.0, 5000000000\.0\] are not strictly increasing",
        ),
        (
            [{"up_to_gb_s_per_month": None, "usd_per_gb_s": "cheap"}],
            r"tiers\[0\]\.usd_per_gb_s is 'cheap'; expected a number >= 0",
        ),
    ],
)
def test_parse_price_table_bad_tiers_raise(tiers: Any, message: str) -> None:
    data = shipped()
    data["architectures"]["arm64"]["duration"]["tiers"] = tiers

    problems = problems_of(data)

    assert len(problems) == 1
    assert problems[0].startswith("mine.json: architectures.arm64.duration")
    assert re.search(message, problems[0]), problems[0]


def test_parse_price_table_duration_without_tiers_key_is_one_missing_key() -> None:
    data = shipped()
    del data["architectures"]["x86_64"]["duration"]["tiers"]

    assert problems_of(data) == [
        "mine.json: architectures.x86_64.duration.tiers is missing (required)"
    ]


def test_parse_price_table_not_an_object_raises() -> None:
    assert problems_of([1, 2]) == [
        "mine.json: the file is a list; expected an object {...}"
    ]


def test_load_price_table_file_negotiated_prices_are_used(tmp_path: Path) -> None:
    data = copy.deepcopy(shipped())
    data["architectures"]["x86_64"]["duration"]["tiers"][0]["usd_per_gb_s"] = 1e-5
    path = tmp_path / "negotiated.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    table = load_price_table_file(path)

    assert table.for_architecture("x86_64").duration.tiers[0].usd_per_gb_s == 1e-5
    assert table.where == str(path)


def test_load_price_table_file_invalid_json_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "format_version": 2,\n  "region": \n}\n', encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"broken\.json:4: not valid JSON"):
        load_price_table_file(path)


def test_load_price_table_file_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.json: price table file not found"):
        load_price_table_file(tmp_path / "nope.json")


def test_parse_price_table_other_currency_refused_and_headed_as_a_price_table() -> None:
    data = shipped()
    data["currency"] = "EUR"
    del data["free_tier"]["source"]

    with pytest.raises(ScenarioError) as caught:
        parse_price_table(data, "mine.json")

    assert str(caught.value).startswith("2 problems in the price table:")
    assert caught.value.problems[-1] == (
        "mine.json: currency is 'EUR'; expected 'USD' (lambdasim reports every cost "
        "in US dollars: convert the prices)"
    )
