import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lambdasim.errors import ScenarioError
from lambdasim.init_presets import (
    FAMILY_DEFAULTS,
    INIT_PRESETS,
    PLATFORM_OVERHEAD_S,
    InitPreset,
    RuntimeKind,
    find_init_preset,
    platform_overhead,
    runtime_kind,
    runtimes,
)

COLD_STARTS_CSV = (
    Path(__file__).parents[2]
    / "shared"
    / "data"
    / "lambda-perf-cold-starts"
    / "cold_starts_long_2026-08-22.csv"
)

# The measured median may differ from the lognormal median by this much (relative).
MEDIAN_TOLERANCE = 0.10

# lambda-perf runtime labels the table must cover, written out independently of
# scripts/fit_init_presets.py.
IN_SCOPE_LABEL = re.compile(
    r"^(nodejs\d+\.x|python3\.\d+|java\d+(\.al2)?|dotnet\d+|ruby3\.\d+"
    r"|(go|rust|dotnet\d+ aot|graalvm java\d+|llrt) \(prov\.al2023\))$"
)


def data_label(runtime: str) -> str:
    """Map a preset runtime name back to the lambda-perf `runtime` column."""
    suffix = "-provided.al2023"
    if runtime.endswith(suffix):
        return runtime.removesuffix(suffix).replace("-", " ") + " (prov.al2023)"
    return runtime


@pytest.fixture(scope="module")
def cold_starts() -> pd.DataFrame:
    if not COLD_STARTS_CSV.exists():
        pytest.skip(f"lambda-perf data not found at {COLD_STARTS_CSV}")
    return pd.read_csv(COLD_STARTS_CSV)


@pytest.mark.parametrize(
    "preset",
    INIT_PRESETS,
    ids=lambda p: f"{p.runtime}-{p.package_type}-{p.architecture}",
)
def test_preset_median_for_each_configuration_within_10_percent_of_measured(
    preset: InitPreset, cold_starts: pd.DataFrame
) -> None:
    rows = cold_starts[
        (cold_starts["runtime"] == data_label(preset.runtime))
        & (cold_starts["package_type"] == preset.package_type)
        & (cold_starts["arch"] == preset.architecture)
    ]
    measured_median_s = float(np.median(rows["init_duration_ms"])) / 1000.0

    assert len(rows) == preset.samples
    assert preset.median_s == pytest.approx(measured_median_s, rel=MEDIAN_TOLERANCE)


def test_presets_for_in_scope_data_cover_every_configuration(
    cold_starts: pd.DataFrame,
) -> None:
    in_scope = cold_starts[cold_starts["runtime"].str.match(IN_SCOPE_LABEL)]
    measured = set(
        in_scope[["runtime", "package_type", "arch"]].itertuples(index=False, name=None)
    )
    table = {
        (data_label(p.runtime), p.package_type, p.architecture) for p in INIT_PRESETS
    }

    assert table == measured


def test_presets_table_has_no_duplicate_configurations() -> None:
    keys = [(p.runtime, p.package_type, p.architecture) for p in INIT_PRESETS]

    assert len(keys) == len(set(keys))


def test_preset_p99_for_known_parameters_matches_closed_form() -> None:
    preset = InitPreset(
        "x", "zip", "x86_64", mu_log_s=math.log(0.1), sigma_log=0.5, samples=1
    )

    assert preset.median_s == pytest.approx(0.1)
    assert preset.p99_s == pytest.approx(0.1 * math.exp(2.3263478740 * 0.5))


def test_runtimes_for_table_lists_each_runtime_once_including_go_and_rust() -> None:
    names = runtimes()

    assert len(names) == len(set(names))
    assert {"python3.12", "nodejs22.x", "java21", "dotnet8", "ruby3.4"} <= set(names)
    assert {"go-provided.al2023", "rust-provided.al2023"} <= set(names)


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("python3.12", "python3.12"),
        ("  Python3.12 ", "python3.12"),
        ("python312", "python3.12"),
        ("nodejs22", "nodejs22.x"),
        ("nodejs22x", "nodejs22.x"),
        ("ruby34", "ruby3.4"),
        ("java8", "java8.al2"),
        ("go", "go-provided.al2023"),
        ("rust", "rust-provided.al2023"),
        ("dotnet8-aot", "dotnet8-aot-provided.al2023"),
        ("graalvm-java21", "graalvm-java21-provided.al2023"),
        ("python", "python3.14"),
        ("nodejs", "nodejs24.x"),
        ("java", "java25"),
    ],
)
def test_find_init_preset_for_alias_returns_canonical_runtime(
    alias: str, expected: str
) -> None:
    assert find_init_preset(alias).runtime == expected


FAMILY_MEMBERS = {
    "nodejs": r"nodejs\d",
    "python": r"python\d",
    "java": r"java\d",
    "dotnet": r"dotnet\d+$",
    "ruby": r"ruby\d",
    "go": r"go-",
    "rust": r"rust-",
    "dotnet-aot": r"dotnet\d+-aot-",
    "graalvm": r"graalvm-",
    "llrt": r"llrt-",
}


def test_family_defaults_for_each_family_name_the_newest_version() -> None:
    def version(runtime: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", runtime.split("-provided")[0]))

    assert set(FAMILY_DEFAULTS) == set(FAMILY_MEMBERS)
    for family, pattern in FAMILY_MEMBERS.items():
        members = [r for r in runtimes() if re.match(pattern, r)]
        assert FAMILY_DEFAULTS[family] == max(members, key=version), family


def test_find_init_preset_for_package_and_architecture_returns_that_row() -> None:
    preset = find_init_preset(
        "python3.12", package_type="Image", architecture="aarch64"
    )

    assert (preset.package_type, preset.architecture) == ("image", "arm64")


def test_find_init_preset_for_misspelled_runtime_raises_with_suggestion() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"unknown runtime 'pyton3\.12' \(did you mean 'python3\.12'\?\); "
        r"expected one of: nodejs20\.x, .*python3\.12.*; or a family name: nodejs, ",
    ):
        find_init_preset("pyton3.12")


def test_find_init_preset_for_unrelated_runtime_raises_without_suggestion() -> None:
    with pytest.raises(
        ScenarioError, match=r"^unknown runtime 'cobol'; expected"
    ) as err:
        find_init_preset("cobol")

    assert "did you mean" not in str(err.value)


def test_find_init_preset_for_several_bad_arguments_lists_every_problem() -> None:
    with pytest.raises(ScenarioError, match=r"3 problems") as err:
        find_init_preset("cobol", package_type="oci", architecture="ppc64")

    assert (
        err.value.problems[1]
        == "unknown package_type 'oci'; expected one of: zip, image"
    )
    assert err.value.problems[2] == (
        "unknown architecture 'ppc64'; expected one of: x86_64, arm64"
    )


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [
        ("python3.12", "managed"),
        ("nodejs22.x", "managed"),
        ("java8.al2", "managed"),
        ("dotnet8", "managed"),
        ("go-provided.al2023", "custom"),
        ("rust", "custom"),
        ("dotnet8-aot", "custom"),
        ("provided.al2023", "custom"),
        ("provided.al2", "custom"),
    ],
)
def test_runtime_kind_for_runtime_returns_managed_or_custom(
    runtime: str, expected: str
) -> None:
    kind = runtime_kind(runtime)

    assert kind == expected
    assert isinstance(kind, RuntimeKind)


def test_runtime_kind_for_unknown_runtime_raises() -> None:
    with pytest.raises(ScenarioError, match=r"unknown runtime 'cobol'"):
        runtime_kind("cobol")


def test_platform_overhead_for_zip_and_image_returns_documented_lognormal() -> None:
    zip_mu, zip_sigma = platform_overhead("zip")
    image_mu, image_sigma = platform_overhead("IMAGE")

    assert math.exp(zip_mu) == pytest.approx(PLATFORM_OVERHEAD_S["zip"].median_s)
    assert 0.1 <= math.exp(zip_mu) <= 0.2
    assert math.exp(image_mu) > math.exp(zip_mu)
    assert zip_sigma > 0
    assert image_sigma > 0


def test_platform_overhead_for_unknown_package_type_raises() -> None:
    with pytest.raises(ScenarioError, match=r"unknown package_type 'oci'; expected"):
        platform_overhead("oci")
