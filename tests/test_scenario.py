"""Bad-input tests for scenario loading: schema, line numbers, overrides, hashing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from lambdasim.errors import ScenarioError
from lambdasim.scenario import (
    Scenario,
    load_scenario,
    scenario_sha256,
    validate_scenario,
)
from tests.conftest import REPO_ROOT, SHARED_DATA

BASE_YAML = """\
name: tiny
seed: 7
horizon: 10m
billing_date: 2026-12-01
functions:
  api:
    runtime: python3.12
    memory_mb: 512
    timeout_s: 10
    duration: {kind: lognormal, median: 60ms, p99: 450ms}
workload:
  - type: poisson
    function: api
    rate_per_s: 0.5
"""

BASE_TOML = """\
name = "tiny"
seed = 7
horizon = "10m"
billing_date = 2026-12-01

[functions.api]
runtime = "python3.12"
memory_mb = 512
timeout_s = 10
duration = { kind = "lognormal", median = "60ms", p99 = "450ms" }

[[workload]]
type = "poisson"
function = "api"
rate_per_s = 0.5
"""

AZURE_2019 = SHARED_DATA / "azure-functions-2019-sample-500fn"


def write(folder: Path, text: str, name: str = "s.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, fragment: str) -> int:
    """Return the 1-based number of the first line of `text` containing `fragment`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in the text")


def edited(old: str, new: str, text: str = BASE_YAML) -> str:
    assert old in text
    return text.replace(old, new, 1)


# -- valid files --------------------------------------------------------------------


def test_load_minimal_yaml_gives_scenario(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE_YAML))

    assert isinstance(scenario, Scenario)
    assert scenario.name == "tiny"
    assert scenario.seed == 7
    assert scenario.horizon == 600.0
    assert scenario.functions["api"].memory_mb == 512
    assert scenario.functions["api"].timeout_s == 10.0
    assert scenario.workload[0].rate_per_s == 0.5


def test_load_same_scenario_in_toml_gives_equal_model(tmp_path: Path) -> None:
    from_yaml = load_scenario(write(tmp_path, BASE_YAML, "s.yaml"))
    from_toml = load_scenario(write(tmp_path, BASE_TOML, "s.toml"))

    assert from_toml == from_yaml


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("2h", 7200.0), ("90m", 5400.0), ("3600s", 3600.0), ("3600", 3600.0)],
)
def test_load_horizon_forms_give_seconds(
    tmp_path: Path, written: str, seconds: float
) -> None:
    text = edited("horizon: 10m", f"horizon: {written}")

    assert load_scenario(write(tmp_path, text)).horizon == seconds


def test_validate_scenario_dict_gives_scenario() -> None:
    scenario = validate_scenario(yaml.safe_load(BASE_YAML))

    assert scenario.name == "tiny"
    assert scenario.functions["api"].runtime == "python3.12"


def test_validate_scenario_bad_dict_names_key_path() -> None:
    raw = yaml.safe_load(BASE_YAML)
    raw["functions"]["api"]["memory_mb"] = 64

    with pytest.raises(
        ScenarioError,
        match=r"^<scenario>: functions\.api\.memory_mb is 64; expected an integer "
        r"from 128 to 10240$",
    ):
        validate_scenario(raw)


@pytest.mark.parametrize(
    "path",
    sorted((REPO_ROOT / "scenarios").glob("*.yaml")),
    ids=lambda path: path.name,
)
def test_load_shipped_scenario_validates(path: Path) -> None:
    if "azure" in path.name and not AZURE_2019.is_dir():
        pytest.skip(f"needs the Azure 2019 sample at {AZURE_2019}")

    scenario = load_scenario(path)

    assert scenario.name == path.stem


# -- one mistake at a time: message and line ----------------------------------------

MISTAKES = {
    "memory_too_small": (
        ("memory_mb: 512", "memory_mb: 64"),
        "memory_mb: 64",
        r"functions\.api\.memory_mb is 64; expected an integer from 128 to 10240",
    ),
    "memory_too_large": (
        ("memory_mb: 512", "memory_mb: 20000"),
        "memory_mb: 20000",
        r"functions\.api\.memory_mb is 20000; expected an integer from 128 to 10240",
    ),
    "memory_with_unit": (
        ("memory_mb: 512", "memory_mb: 1GB"),
        "memory_mb: 1GB",
        r"functions\.api\.memory_mb is '1GB'; expected a whole number of MB, "
        r"without a unit \(e\.g\. 1024\)",
    ),
    "timeout_too_long": (
        ("timeout_s: 10", "timeout_s: 1000"),
        "timeout_s: 1000",
        r"functions\.api\.timeout_s is 1000; expected a time from 1 to 900 s",
    ),
    "timeout_too_short": (
        ("timeout_s: 10", "timeout_s: 500ms"),
        "timeout_s: 500ms",
        r"functions\.api\.timeout_s is '500ms' \(= 0\.5 s\); "
        r"expected a time from 1 to 900 s",
    ),
    "timeout_unknown_unit": (
        ("timeout_s: 10", "timeout_s: 5 fortnights"),
        "timeout_s: 5 fortnights",
        r"functions\.api\.timeout_s is '5 fortnights'; .*unknown unit 'fortnights'; "
        r"expected a number of seconds or a number with a unit: ms, s, m, h or d",
    ),
    "ephemeral_storage_too_small": (
        ("timeout_s: 10", "timeout_s: 10\n    ephemeral_storage_mb: 256"),
        "ephemeral_storage_mb: 256",
        r"functions\.api\.ephemeral_storage_mb is 256; "
        r"expected an integer from 512 to 10240",
    ),
    "horizon_unknown_unit": (
        ("horizon: 10m", "horizon: 2 weeks"),
        "horizon: 2 weeks",
        r"horizon is '2 weeks'; '2 weeks' has unknown unit 'weeks'",
    ),
    "horizon_zero": (
        ("horizon: 10m", "horizon: 0"),
        "horizon: 0",
        r"horizon is 0; expected a positive time",
    ),
    "reserved_leaves_too_little": (
        ("timeout_s: 10", "timeout_s: 10\n    reserved_concurrency: 950"),
        "reserved_concurrency: 950",
        r"functions: reserved_concurrency adds up to 950 \(api=950\); at most 900 "
        r"may be reserved \(account\.concurrency_limit 1000 minus "
        r"account\.unreserved_minimum 100\)",
    ),
    "unknown_runtime": (
        ("runtime: python3.12", "runtime: cobol9"),
        "runtime: cobol9",
        r"functions\.api\.runtime: unknown runtime 'cobol9'; expected one of: "
        r".*python3\.12",
    ),
    "unknown_init_preset": (
        ("timeout_s: 10", "timeout_s: 10\n    init: fortran77"),
        "init: fortran77",
        r"functions\.api\.init: unknown runtime 'fortran77'",
    ),
    "source_targets_undefined_function": (
        ("function: api", "function: checkout"),
        "function: checkout",
        r"workload\[0\]\.function is 'checkout'; expected one of the functions "
        r"defined under 'functions': api",
    ),
    "unknown_source_type": (
        ("type: poisson", "type: poison"),
        "type: poison",
        r"workload\[0\]\.type is 'poison' \(did you mean 'poisson'\?\); expected "
        r"one of: poisson, piecewise, sine, burst, replay, azure2019, azure2021",
    ),
    "unknown_distribution_kind": (
        ("kind: lognormal", "kind: lognormol"),
        "kind: lognormol",
        r"functions\.api\.duration: unknown distribution kind 'lognormol'; "
        r"expected one of: constant, exponential, lognormal",
    ),
    "negative_rate": (
        ("rate_per_s: 0.5", "rate_per_s: -1"),
        "rate_per_s: -1",
        r"workload\[0\]\.rate_per_s is -1; expected a number >= 0",
    ),
    "missing_required_key": (
        ("    rate_per_s: 0.5\n", ""),
        "- type: poisson",
        r"workload\[0\]\.rate_per_s is missing \(required\)",
    ),
    "provisioned_on_latest": (
        (
            "timeout_s: 10",
            "timeout_s: 10\n    provisioned_concurrency:\n      $LATEST: 2",
        ),
        "$LATEST: 2",
        r"functions\.api\.provisioned_concurrency: '\$LATEST' is what .*applies "
        r"only to a version or an alias, never to \$LATEST",
    ),
    "provisioned_above_reservation": (
        (
            "timeout_s: 10",
            "timeout_s: 10\n    reserved_concurrency: 5\n"
            "    provisioned_concurrency: {live: 8}",
        ),
        "provisioned_concurrency: {live: 8}",
        r"functions\.api: provisioned concurrency adds up to 8 at its peak, above its "
        r"reserved_concurrency 5",
    ),
    "provisioned_two_modes": (
        (
            "timeout_s: 10",
            "timeout_s: 10\n    provisioned_concurrency:\n"
            "      live: {concurrency: 2, target_tracking: {min: 1, max: 4}}",
        ),
        "live: {concurrency: 2",
        r"functions\.api\.provisioned_concurrency\.live: give exactly one of "
        r"concurrency, schedule and target_tracking; found concurrency, "
        r"target_tracking",
    ),
    "source_targets_undeclared_qualifier": (
        ("function: api", "function: api:lvie"),
        "function: api:lvie",
        r"workload\[0\]\.function is 'api:lvie', but 'api' has no qualifier 'lvie' "
        r"\(qualifiers: none declared\); add it to functions\.api\.qualifiers",
    ),
    "unknown_key": (
        ("timeout_s: 10", "timeout_s: 10\n    keepalive_s: 10m"),
        "keepalive_s: 10m",
        r"unknown key 'keepalive_s' in functions\.api \(did you mean 'keep_alive'\?\); "
        r"allowed: architecture, async_max_event_age, async_max_retry_attempts, "
        r"crash_probability, database, dispatch, downstream_rate_limit, duration, ",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_load_single_mistake_reports_line_and_message(
    tmp_path: Path, mistake: tuple[tuple[str, str], str, str]
) -> None:
    (old, new), located_at, pattern = mistake
    text = edited(old, new)
    line = line_of(text, located_at)

    with pytest.raises(ScenarioError, match=rf"/s\.yaml:{line}: {pattern}") as caught:
        load_scenario(write(tmp_path, text), ())

    assert len(caught.value.problems) == 1


def test_load_missing_trace_file_reports_path_and_override(tmp_path: Path) -> None:
    text = edited(
        "  - type: poisson\n    function: api\n    rate_per_s: 0.5\n",
        "  - type: replay\n    function: api\n    path: traces/missing.csv\n",
    )
    missing = re.escape(str(tmp_path / "traces" / "missing.csv"))

    with pytest.raises(
        ScenarioError,
        match=rf"/s\.yaml:{line_of(text, 'path:')}: workload\[0\]\.path is "
        rf"'{missing}': no such file \(override with --set workload\.0\.path=FILE\)$",
    ):
        load_scenario(write(tmp_path, text))


def test_load_missing_azure_folder_reports_expected_files(tmp_path: Path) -> None:
    text = edited(
        "  - type: poisson\n    function: api\n    rate_per_s: 0.5\n",
        "  - type: azure2019\n    path: no-such-folder\n",
    )

    with pytest.raises(
        ScenarioError,
        match=rf"/s\.yaml:{line_of(text, 'path:')}: workload\[0\]\.path is .*"
        r"no-such-folder': no such folder; expected the Azure 2019 folder with "
        r"invocations\.csv, durations\.csv and memory\.csv",
    ):
        load_scenario(write(tmp_path, text))


def test_load_unknown_key_in_nested_table_suggests_close_key(tmp_path: Path) -> None:
    text = BASE_YAML + "account:\n  concurrency_limt: 50\n"

    with pytest.raises(
        ScenarioError,
        match=rf"/s\.yaml:{line_of(text, 'concurrency_limt')}: unknown key "
        r"'concurrency_limt' in account \(did you mean 'concurrency_limit'\?\)",
    ):
        load_scenario(write(tmp_path, text))


def test_load_unknown_top_level_key_suggests_close_key(tmp_path: Path) -> None:
    text = BASE_YAML + "horizn: 1h\n"

    with pytest.raises(
        ScenarioError,
        match=rf"/s\.yaml:{line_of(text, 'horizn')}: unknown key 'horizn' in "
        r"\(top level\) \(did you mean 'horizon'\?\); allowed: account, "
        r"billing, billing_date, database, events, functions, horizon, name, proxy, "
        r"seed, timeseries_step, workload$",
    ):
        load_scenario(write(tmp_path, text))


def test_load_unreserved_minimum_above_limit_reports_account(tmp_path: Path) -> None:
    text = BASE_YAML + "account:\n  concurrency_limit: 50\n  unreserved_minimum: 100\n"

    with pytest.raises(
        ScenarioError,
        match=rf"/s\.yaml:{line_of(text, 'unreserved_minimum')}: "
        r"account\.unreserved_minimum is 100; expected at most "
        r"account\.concurrency_limit \(50\)$",
    ):
        load_scenario(write(tmp_path, text))


def test_load_toml_mistake_reports_line(tmp_path: Path) -> None:
    text = edited("memory_mb = 512", "memory_mb = 64", BASE_TOML)
    text += '\n[[workload]]\ntype = "burst"\nfunction = "api"\nat = "1m"\ncount = 0\n'

    path = write(tmp_path, text, "s.toml")

    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)

    assert caught.value.problems == [
        f"{path}:{line_of(text, 'memory_mb')}: functions.api.memory_mb is 64; "
        "expected an integer from 128 to 10240",
        f"{path}:{line_of(text, 'count = 0')}: workload[1].count is 0; "
        "expected an integer >= 1",
    ]


# -- many mistakes at once ----------------------------------------------------------

MANY_MISTAKES = """\
name: tiny
horizon: 2 weeks
functions:
  api:
    runtime: cobol9
    memory_mb: 64
    timeout_s: 1000
    ephemeral_storage_mb: 100
    keepalive_s: 10m
    reserved_concurrency: 950
    duration: {kind: gaussian, mean: 1s}
workload:
  - type: poisson
    function: nope
    rate_per_s: 1
  - type: poison
    function: api
  - type: replay
    function: api
    path: missing.csv
"""


def test_load_many_mistakes_reports_all_in_one_error(tmp_path: Path) -> None:
    text = MANY_MISTAKES
    expected = {
        "horizon: 2 weeks": "horizon is '2 weeks'",
        "runtime: cobol9": "functions.api.runtime: unknown runtime 'cobol9'",
        "memory_mb: 64": "functions.api.memory_mb is 64",
        "timeout_s: 1000": "functions.api.timeout_s is 1000;",
        "ephemeral_storage_mb: 100": "functions.api.ephemeral_storage_mb is 100",
        "keepalive_s": "unknown key 'keepalive_s'",
        "reserved_concurrency: 950": "functions: reserved_concurrency adds up to 950",
        "kind: gaussian": "unknown distribution kind 'gaussian'",
        "function: nope": "workload[0].function is 'nope'",
        "type: poison": "workload[1].type is 'poison'",
        "path: missing.csv": "workload[2].path is",
    }

    path = write(tmp_path, text)

    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)

    problems = caught.value.problems
    assert len(problems) == len(expected)
    rendered = str(caught.value).splitlines()
    assert rendered[0] == f"{len(expected)} problems in the scenario:"
    assert len(rendered) == len(expected) + 1
    for fragment, message in expected.items():
        prefix = f"{path}:{line_of(text, fragment)}: "
        assert any(p.startswith(prefix) and message in p for p in problems), (
            f"no problem {prefix}...{message} in {problems}"
        )


# -- reading the file ---------------------------------------------------------------


def test_load_invalid_yaml_syntax_reports_line(tmp_path: Path) -> None:
    text = "name: tiny\nhorizon: 10m\nfunctions:\n  api: {runtime: python3.12\n"

    with pytest.raises(ScenarioError, match=r"/s\.yaml:\d+: not valid YAML: "):
        load_scenario(write(tmp_path, text))


def test_load_yaml_bad_indentation_reports_its_line(tmp_path: Path) -> None:
    text = "name: tiny\nhorizon: 10m\n  seed: 3\n"

    with pytest.raises(
        ScenarioError,
        match=rf"/s\.yaml:{line_of(text, 'seed')}: not valid YAML: "
        r"mapping values are not allowed here",
    ):
        load_scenario(write(tmp_path, text))


def test_load_invalid_toml_syntax_reports_line(tmp_path: Path) -> None:
    text = 'name = "tiny"\nhorizon = \n'

    with pytest.raises(
        ScenarioError, match=r"/s\.toml:2: not valid TOML: Invalid value"
    ):
        load_scenario(write(tmp_path, text, "s.toml"))


def test_load_list_at_top_level_reports_mapping_expected(tmp_path: Path) -> None:
    text = "# a list, not a mapping\n- name: tiny\n- horizon: 1h\n"

    with pytest.raises(
        ScenarioError,
        match=r"/s\.yaml:2: expected a mapping of scenario keys .* at the top level, "
        r"found \[",
    ):
        load_scenario(write(tmp_path, text))


def test_load_empty_file_reports_mapping_expected(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"found nothing \(the file is empty\)$"):
        load_scenario(write(tmp_path, "# only a comment\n"))


def test_load_nonexistent_file_reports_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(
        ScenarioError, match=rf"^{re.escape(str(missing))}: scenario file not found$"
    ):
        load_scenario(missing)


def test_load_wrong_suffix_reports_allowed_types(tmp_path: Path) -> None:
    path = write(tmp_path, "{}", "s.json")

    with pytest.raises(
        ScenarioError,
        match=r"s\.json: unsupported scenario file type '\.json'; "
        r"expected \.yaml, \.yml or \.toml$",
    ):
        load_scenario(path)


# -- overrides ----------------------------------------------------------------------


def test_override_nested_value_replaces_it(tmp_path: Path) -> None:
    path = write(tmp_path, BASE_YAML)

    scenario = load_scenario(path, ["functions.api.memory_mb=1024", "horizon=2h"])

    assert scenario.functions["api"].memory_mb == 1024
    assert scenario.horizon == 7200.0


def test_override_missing_mapping_creates_it(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE_YAML), ["account.scaling.burst=10"])

    assert scenario.account.scaling.burst == 10


def test_override_list_index_replaces_item_value(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE_YAML), ["workload.0.rate_per_s=5"])

    assert scenario.workload[0].rate_per_s == 5.0


def test_override_null_clears_value(tmp_path: Path) -> None:
    text = edited("timeout_s: 10", "timeout_s: 10\n    reserved_concurrency: 5")
    path = write(tmp_path, text)
    assert load_scenario(path).functions["api"].reserved_concurrency == 5

    scenario = load_scenario(path, ["functions.api.reserved_concurrency=null"])

    assert scenario.functions["api"].reserved_concurrency is None


def test_override_bad_value_reports_error(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"functions\.api\.memory_mb is 64; expected an integer from 128",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["functions.api.memory_mb=64"])


def test_override_unknown_key_reports_suggestion(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"unknown key 'memory' in functions\.api \(did you mean 'memory_mb'\?\)",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["functions.api.memory=1024"])


def test_override_without_equals_reports_syntax(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"^--set 'functions\.api\.memory_mb': expected key\.path=value, "
        r"e\.g\. functions\.api\.memory_mb=1024$",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["functions.api.memory_mb"])


def test_override_index_out_of_range_reports_valid_range(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"^--set workload\.3\.rate_per_s: '3' is not an index of the list at "
        r"workload \(0\.\.0\)$",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["workload.3.rate_per_s=5"])


def test_override_into_scalar_reports_not_mapping(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"^--set name\.first: name holds a value, not a mapping; to make it "
        r"one, set it whole: --set 'name=\{\.\.\.\}'$",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["name.first=x"])


def test_override_several_bad_reports_all(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^2 problems in the scenario:") as caught:
        load_scenario(write(tmp_path, BASE_YAML), ["seed", "workload.9.function=x"])

    assert len(caught.value.problems) == 2


# -- relative paths -----------------------------------------------------------------

REPLAY_YAML = edited(
    "  - type: poisson\n    function: api\n    rate_per_s: 0.5\n",
    "  - type: replay\n    function: api\n    path: traces/calls.csv\n",
)


def test_load_relative_trace_path_resolves_against_scenario_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "scenario"
    write(folder, "timestamp\n0.5\n1.0\n", "traces/calls.csv")
    path = write(folder, REPLAY_YAML)
    monkeypatch.chdir(tmp_path)

    scenario = load_scenario(path)

    assert Path(scenario.workload[0].path) == folder / "traces" / "calls.csv"


def test_override_relative_path_resolves_against_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "scenario"
    write(folder, "timestamp\n0.5\n", "traces/calls.csv")
    here = tmp_path / "here"
    write(here, "timestamp\n2.0\n", "other.csv")
    path = write(folder, REPLAY_YAML)
    monkeypatch.chdir(here)

    scenario = load_scenario(path, ["workload.0.path=other.csv"])

    assert Path(scenario.workload[0].path) == here / "other.csv"


def test_override_relative_path_missing_in_current_folder_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "scenario"
    write(folder, "timestamp\n0.5\n", "traces/calls.csv")
    here = tmp_path / "here"
    here.mkdir()
    path = write(folder, REPLAY_YAML)
    monkeypatch.chdir(here)

    # The file exists beside the scenario, but override paths are read from here.
    with pytest.raises(
        ScenarioError,
        match=rf"workload\[0\]\.path is '{re.escape(str(here))}/traces/calls\.csv': "
        r"no such file",
    ):
        load_scenario(path, ["workload.0.path=traces/calls.csv"])


# -- hashing ------------------------------------------------------------------------


def test_scenario_sha256_same_content_written_differently_is_equal(
    tmp_path: Path,
) -> None:
    reordered = """\
workload:
  - rate_per_s: 0.5
    function: api
    type: poisson
functions:
  api:
    duration: {p99: 450ms, median: 60ms, kind: lognormal}
    timeout_s: 10s
    memory_mb: 512
    runtime: python3.12
billing_date: 2026-12-01
horizon: 600
seed: 7
name: tiny
"""
    hashes = {
        scenario_sha256(load_scenario(write(tmp_path, BASE_YAML, "a.yaml"))),
        scenario_sha256(load_scenario(write(tmp_path, BASE_TOML, "b.toml"))),
        scenario_sha256(load_scenario(write(tmp_path, reordered, "c.yml"))),
    }

    assert len(hashes) == 1
    assert re.fullmatch(r"[0-9a-f]{64}", hashes.pop())


def test_scenario_sha256_changed_value_differs(tmp_path: Path) -> None:
    path = write(tmp_path, BASE_YAML)

    original = scenario_sha256(load_scenario(path))
    changed = scenario_sha256(load_scenario(path, ["workload.0.rate_per_s=0.6"]))

    assert changed != original


def test_function_named_total_is_rejected(tmp_path: Path) -> None:
    text = BASE_YAML.replace("  api:", "  total:").replace(
        "function: api", "function: total"
    )
    with pytest.raises(ScenarioError, match=r"the name 'total' is reserved"):
        load_scenario(write(tmp_path, text))


def test_override_problem_is_located_at_the_override_not_the_file(
    tmp_path: Path,
) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, BASE_YAML), ["functions.api.memroy_mb=1024"])
    (problem,) = caught.value.problems
    assert problem.startswith(
        f"{tmp_path / 's.yaml'} (--set functions.api.memroy_mb=1024): "
    )
    assert "did you mean 'memory_mb'?" in problem


def test_override_of_undefined_function_refused_with_suggestion(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"--set functions\.apx\.memory_mb: no function 'apx' "
        r"\(did you mean 'api'\?\)",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["functions.apx.memory_mb=1024"])


def test_override_with_whole_mapping_may_add_a_function(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(tmp_path, BASE_YAML),
        ["functions.worker={runtime: go, duration: 20ms}"],
    )
    assert set(scenario.functions) == {"api", "worker"}


def test_impossible_date_reported_with_line_not_a_crash(tmp_path: Path) -> None:
    text = BASE_YAML.replace("billing_date: 2026-12-01", "billing_date: 2026-13-01")
    with pytest.raises(
        ScenarioError,
        match=r"s\.yaml:4: billing_date is '2026-13-01'; expected a date as YYYY-MM-DD",
    ):
        load_scenario(write(tmp_path, text))


def test_time_written_with_unit_shown_as_written_and_in_seconds(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"timeout_s is '20m' \(= 1200 s\); expected a time from 1 to 900 s",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["functions.api.timeout_s=20m"])


def test_region_must_look_like_an_aws_region(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"account\.region is 'europe'; no Lambda price table for region "
        r"'europe'; price tables exist for: us-east-1; or an AWS Region name",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["account.region=europe"])


def test_region_without_price_table_accepted(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE_YAML), ["account.region=eu-west-1"])
    assert scenario.account.region == "eu-west-1"


def test_timeseries_step_too_fine_for_horizon_rejected(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"into 5,256,000 steps; at most 1,000,000"):
        load_scenario(write(tmp_path, BASE_YAML), ["horizon=3650d"])


def test_scenario_path_that_is_a_folder_reported_as_such(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"a folder; expected a scenario file"):
        load_scenario(tmp_path)


def test_replay_path_that_is_a_folder_reported_as_such(tmp_path: Path) -> None:
    (tmp_path / "traces").mkdir()
    text = BASE_YAML.replace(
        "  - type: poisson\n    function: api\n    rate_per_s: 0.5\n",
        "  - type: replay\n    function: api\n    path: traces\n",
    )
    with pytest.raises(
        ScenarioError, match=r"a folder; expected a trace file \(CSV or Parquet\)"
    ):
        load_scenario(write(tmp_path, text))


def test_override_inside_a_block_is_named_by_the_blocks_error(tmp_path: Path) -> None:
    # min above max is a problem of the target_tracking block, found at its line;
    # the override that caused it is named too.
    text = edited(
        "timeout_s: 10",
        "timeout_s: 10\n    provisioned_concurrency:\n"
        "      live: {target_tracking: {min: 1, max: 4}}",
    )
    override = "functions.api.provisioned_concurrency.live.target_tracking.min=500"
    line = line_of(text, "live: {target_tracking")
    with pytest.raises(
        ScenarioError,
        match=rf"s\.yaml:{line} \(--set {re.escape(override)}\): .*min \(500\) is "
        r"above max \(4\)",
    ):
        load_scenario(write(tmp_path, text), [override])


def test_key_given_twice_in_yaml_refused_with_both_lines(tmp_path: Path) -> None:
    text = edited("    memory_mb: 512\n", "    memory_mb: 512\n    memory_mb: 1024\n")
    first = line_of(text, "memory_mb: 512")
    with pytest.raises(
        ScenarioError,
        match=rf"s\.yaml:{first + 1}: not valid YAML: key 'memory_mb' is given twice "
        rf"in one mapping \(lines {first} and {first + 1}\); keep one",
    ):
        load_scenario(write(tmp_path, text))


def test_yaml_merge_key_may_be_given_again_after_the_merge(tmp_path: Path) -> None:
    # `<<: *api` brings memory_mb 512; worker's own memory_mb 1024 is no repeat.
    text = edited("  api:\n", "  api: &api\n").replace(
        "workload:\n", "  worker:\n    <<: *api\n    memory_mb: 1024\nworkload:\n"
    )

    functions = load_scenario(write(tmp_path, text)).functions

    assert (functions["api"].memory_mb, functions["worker"].memory_mb) == (512, 1024)
    assert functions["worker"].timeout_s == 10


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("functions.api.memory_mb=yes", "functions.api.memory_mb"),
        ("functions.api.error_probability=true", "functions.api.error_probability"),
        ("workload.0.rate_per_s=false", r"workload\[0\]\.rate_per_s"),
    ],
)
def test_yes_or_true_for_a_number_refused_at_its_key(
    tmp_path: Path, override: str, key: str
) -> None:
    with pytest.raises(
        ScenarioError,
        match=rf"\(--set {re.escape(override)}\): {key} is (true|false); expected a "
        "number, not a yes/no value",
    ):
        load_scenario(write(tmp_path, BASE_YAML), [override])


def test_version_number_written_as_a_yaml_integer_is_a_qualifier(
    tmp_path: Path,
) -> None:
    text = edited("timeout_s: 10", "timeout_s: 10\n    provisioned_concurrency: {7: 2}")
    text = text.replace("function: api\n", "function: 'api:7'\n")

    scenario = load_scenario(write(tmp_path, text))

    assert list(scenario.functions["api"].provisioned_concurrency) == ["7"]
    assert scenario.workload[0].function == "api:7"


@pytest.mark.parametrize("key", ["null", "true", "1.5"])
def test_qualifier_key_neither_name_nor_version_refused(
    tmp_path: Path, key: str
) -> None:
    override = f"functions.api.provisioned_concurrency={{{key}: 5}}"
    with pytest.raises(
        ScenarioError,
        match=rf"functions\.api\.provisioned_concurrency: qualifier {re.escape(key)} "
        r"is not an alias name or version number",
    ):
        load_scenario(write(tmp_path, BASE_YAML), [override])


def test_override_that_creates_a_block_locates_its_problems_at_the_override(
    tmp_path: Path,
) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"s\.yaml \(--set database\.engine=mysql\): database\.query_time is "
        r"missing \(required\)",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["database.engine=mysql"])


def test_override_indexing_a_missing_list_says_to_set_the_whole_list(
    tmp_path: Path,
) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"^--set events\.0\.at: the scenario has no events list to index; set "
        r"the whole list, e\.g\. --set 'events=\[\.\.\.\]'$",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["events.0.at=1m"])


def test_override_with_broken_flow_yaml_says_it_is_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"^--set functions\.api\.duration: the value '\{kind: lognormal' is "
        r"not valid YAML",
    ):
        load_scenario(
            write(tmp_path, BASE_YAML), ["functions.api.duration={kind: lognormal"]
        )


def test_region_close_to_a_known_one_is_a_typo(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError,
        match=r"account\.region is 'us-esat-1'; 'us-esat-1' is not an AWS Region "
        r"\(did you mean .*'us-east-1'",
    ):
        load_scenario(write(tmp_path, BASE_YAML), ["account.region=us-esat-1"])


def test_empty_value_and_date_as_number_shown_as_written(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(
            write(tmp_path, BASE_YAML),
            ["functions.api.memory_mb=", "billing_date=20250101"],
        )
    text = str(caught.value)
    assert "functions.api.memory_mb is null; expected a whole number of MB" in text
    assert "billing_date is 20250101; expected a date as YYYY-MM-DD\n" in text + "\n"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "account.request_rate_quota=-3",
            "account.request_rate_quota is -3; expected 'auto' or 'none', or a "
            "number > 0",
        ),
        (
            "horizon=-1h",
            "horizon is '-1h'; '-1h' is negative; expected a positive time",
        ),
        ("workload=[]", "workload is []; expected at least 1 item"),
        (
            "workload.0=5",
            "workload[0] is 5; expected a mapping of its keys (see the README)",
        ),
        (
            "workload.0.function=api:",
            "workload[0].function is {api: null}; expected a string (YAML reads a "
            "value ending in ':' as a mapping: quote it)",
        ),
    ],
)
def test_type_mistakes_read_in_the_files_words_one_line_each(
    tmp_path: Path, override: str, expected: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(tmp_path, BASE_YAML), [override])

    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].endswith(expected)


def test_scenario_file_not_in_utf8_named_with_the_offending_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\nhorizon: 1h\n")
    with pytest.raises(
        ScenarioError, match=r"latin1\.yaml:1: byte 0xe9 is not UTF-8 text; expected"
    ):
        load_scenario(path)


@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("allocation_delay", "'allocation_delay'"),
        (
            "allocation_dealy",
            "'allocation_dealy' \\(did you mean 'allocation_delay'\\?\\)",
        ),
    ],
)
def test_pc_setting_beside_the_qualifiers_says_where_it_goes(
    tmp_path: Path, key: str, named: str
) -> None:
    override = f"functions.api.provisioned_concurrency={{live: 2, {key}: 5s}}"
    with pytest.raises(
        ScenarioError,
        match=rf"functions\.api\.provisioned_concurrency: {named} is a setting of one "
        r"qualifier's provisioned concurrency, not a qualifier: write it inside the "
        r"qualifier's mapping, e\.g\. live: \{concurrency: 10, allocation_delay: ",
    ):
        load_scenario(write(tmp_path, BASE_YAML), [override])


@pytest.mark.parametrize(
    ("override", "count"),
    [
        # 10 minutes at 10^6 per second: 6 x 10^8 arrivals.
        ("workload.0.rate_per_s=1e6", "600,000,000"),
        # A ramp from 0 to 10^6 per second over the 600 s: 3 x 10^8.
        (
            "workload.0={type: piecewise, function: api, shape: linear, "
            "points: [[0, 0], [600, 1000000]]}",
            "300,000,000",
        ),
    ],
)
def test_source_too_large_to_hold_in_memory_refused_before_the_run(
    tmp_path: Path, override: str, count: str
) -> None:
    with pytest.raises(
        ScenarioError,
        match=rf"the workload makes about {count} arrivals in the horizon "
        rf"\(workload\[0\] about {count}\); at most 100,000,000",
    ):
        load_scenario(write(tmp_path, BASE_YAML), [override])


def test_sources_too_large_together_refused_at_the_largest(tmp_path: Path) -> None:
    # 600 s at 10^5/s (6 x 10^7) plus a burst of 5 x 10^7: 1.1 x 10^8 in all.
    overrides = [
        "workload.0.rate_per_s=1e5",
        "workload=[{type: poisson, function: api, rate_per_s: 1e5}, "
        "{type: burst, function: api, at: 1, count: 50000000}]",
    ]
    with pytest.raises(
        ScenarioError,
        match=r"the workload makes about 110,000,000 arrivals in the horizon "
        r"\(workload\[0\] about 60,000,000\)",
    ):
        load_scenario(write(tmp_path, BASE_YAML), overrides)


def test_replay_column_the_file_lacks_found_without_running(tmp_path: Path) -> None:
    write(tmp_path, "timestamp,fn\n0.5,api\n1.0,api\n", "traces/calls.csv")
    path = write(tmp_path, REPLAY_YAML)
    with pytest.raises(
        ScenarioError,
        match=r"\(--set workload\.0\.time_column=ts\): workload\[0\]: .*calls\.csv: "
        r"missing column\(s\) 'ts'; the file has 'timestamp', 'fn'",
    ):
        load_scenario(path, ["workload.0.time_column=ts"])
