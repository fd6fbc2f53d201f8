"""Built-in init-duration presets, fitted to the lambda-perf cold-start benchmark.

An *init duration* is the ``Init Duration`` of a REPORT line: the INIT phase only
(extension, runtime and function init). Each preset is a lognormal fitted to the forced
cold starts of a hello-world function for one (runtime, package type, architecture),
measured on `MEASURED_ON` (`SOURCE`). Draw an init duration in seconds with
``rng.lognormal(preset.mu_log_s, preset.sigma_log)``.

How the table was fitted (``scripts/fit_init_presets.py`` prints it; rerun it on a
newer ``cold_starts_long_<date>.csv`` to refresh):

- Memory sizes are pooled. The benchmark runs 128, 256, 512 and 1024 MB, 10 cold starts
  each, and memory barely moves Init Duration (per-memory medians differ by a few
  percent with no trend; aws-lambda-facts.md section 3), so each preset has about 40
  samples. What memory does change is the first invoke's handler duration, which is
  not an init duration.
- ``mu_log_s`` is the median of log(init seconds) and ``sigma_log`` the standard
  deviation of log(init seconds), ddof=1. The median rather than the mean of the logs,
  because the samples are a tight body plus rare outliers 3-10x slower (mostly
  container images): the mean of the logs would put the median of 19 of the 108
  presets 10-18% above the measured median. ``sigma_log`` keeps the outliers, so the
  tail stays wide; the lognormal still has a lighter tail than the data, and its mean
  is about 8% below the sample mean for images (about 2% for zip).
- Hello-world functions carry no dependencies or SDK clients: real functions init
  slower (aws-lambda-facts.md section 3, production P50/P99 table).

Runtime names are Lambda's identifiers for managed runtimes (``nodejs22.x``,
``python3.12``, ``java21``, ``java8.al2``, ``dotnet8``, ``ruby3.4``). Custom runtimes
are named ``<language>-provided.al2023``: ``go-provided.al2023``,
``rust-provided.al2023``, ``dotnet8-aot-provided.al2023`` (.NET native AOT),
``graalvm-java21-provided.al2023`` (GraalVM native image) and ``llrt-provided.al2023``
(AWS's low-latency JavaScript runtime). The benchmark's provided.al2 builds, other
languages (c++, swift, shell, bun, quarkus) and SnapStart (a Restore Duration, not an
init duration; absent from this day's data) are not in the table.

`find_init_preset` also takes these spellings (case-insensitive):

- a family name, meaning the newest version measured: see `FAMILY_DEFAULTS`;
- lambda-perf's short forms: ``python312``, ``nodejs22``/``nodejs22x``, ``ruby34``,
  ``java8`` (for ``java8.al2``);
- a custom runtime without its suffix: ``go``, ``rust``, ``dotnet8-aot``,
  ``graalvm-java21``, ``llrt``.

There is no fallback between package types or architectures: every runtime has all
four combinations, and a missing one raises rather than quietly substituting another
distribution.
"""

from __future__ import annotations

import datetime
import difflib
import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from types import MappingProxyType
from typing import Final

from lambdasim.errors import ScenarioError

SOURCE: Final = (
    "maxday/lambda-perf data/2026-08-22.json (commit 6070b79, Apache-2.0): 10 forced "
    "cold starts of a hello-world function per runtime x memory (128-1024 MB) x "
    "architecture x package type, us-east-1; Init Duration from the REPORT lines"
)
MEASURED_ON: Final = datetime.date(2026, 8, 22)

PACKAGE_TYPES: Final = ("zip", "image")
ARCHITECTURES: Final = ("x86_64", "arm64")

_ARCHITECTURE_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "x86_64": "x86_64",
        "x86-64": "x86_64",
        "amd64": "x86_64",
        "arm64": "arm64",
        "aarch64": "arm64",
    }
)

_Z_99: Final = NormalDist().inv_cdf(0.99)


class RuntimeKind(enum.StrEnum):
    """Whether Lambda manages the runtime or the function brings it (``provided.*``).

    Compares equal to the strings ``"managed"`` and ``"custom"``.
    """

    MANAGED = "managed"
    CUSTOM = "custom"


@dataclass(frozen=True)
class InitPreset:
    """A lognormal init duration for one runtime, package type and architecture.

    Attributes:
        runtime: Runtime name, e.g. ``"python3.12"`` or ``"go-provided.al2023"``.
        package_type: ``"zip"`` or ``"image"``.
        architecture: ``"x86_64"`` or ``"arm64"``.
        mu_log_s: Mean of the normal distribution of log(init duration in seconds).
        sigma_log: Standard deviation of log(init duration); dimensionless.
        samples: Number of cold starts the fit used.
    """

    runtime: str
    package_type: str
    architecture: str
    mu_log_s: float
    sigma_log: float
    samples: int

    @property
    def median_s(self) -> float:
        """Median init duration in seconds, exp(mu)."""
        return math.exp(self.mu_log_s)

    @property
    def p99_s(self) -> float:
        """99th-percentile init duration in seconds, exp(mu + 2.326 sigma)."""
        return math.exp(self.mu_log_s + _Z_99 * self.sigma_log)


# Fitted by scripts/fit_init_presets.py from cold_starts_long_2026-08-22.csv.
# Assumption A-02: pooled over memory sizes, mu = median of log(init seconds).
INIT_PRESETS: Final[tuple[InitPreset, ...]] = (
    InitPreset("nodejs20.x", "zip", "x86_64", -1.9751, 0.068, 40),
    InitPreset("nodejs20.x", "zip", "arm64", -2.0280, 0.105, 40),
    InitPreset("nodejs20.x", "image", "x86_64", -1.4251, 0.256, 40),
    InitPreset("nodejs20.x", "image", "arm64", -1.4858, 0.279, 40),
    InitPreset("nodejs22.x", "zip", "x86_64", -1.9724, 0.094, 40),
    InitPreset("nodejs22.x", "zip", "arm64", -2.0385, 0.117, 40),
    InitPreset("nodejs22.x", "image", "x86_64", -1.2609, 0.299, 39),
    InitPreset("nodejs22.x", "image", "arm64", -1.4680, 0.378, 40),
    InitPreset("nodejs24.x", "zip", "x86_64", -2.0117, 0.102, 40),
    InitPreset("nodejs24.x", "zip", "arm64", -2.1097, 0.124, 40),
    InitPreset("nodejs24.x", "image", "x86_64", -1.4004, 0.316, 40),
    InitPreset("nodejs24.x", "image", "arm64", -1.4855, 0.355, 40),
    InitPreset("python3.9", "zip", "x86_64", -2.6011, 0.082, 40),
    InitPreset("python3.9", "zip", "arm64", -2.5877, 0.114, 40),
    InitPreset("python3.9", "image", "x86_64", -1.9711, 0.203, 40),
    InitPreset("python3.9", "image", "arm64", -2.0561, 0.343, 40),
    InitPreset("python3.10", "zip", "x86_64", -2.5861, 0.100, 40),
    InitPreset("python3.10", "zip", "arm64", -2.5989, 0.166, 40),
    InitPreset("python3.10", "image", "x86_64", -2.0118, 0.271, 40),
    InitPreset("python3.10", "image", "arm64", -2.1234, 0.279, 40),
    InitPreset("python3.11", "zip", "x86_64", -2.5731, 0.081, 40),
    InitPreset("python3.11", "zip", "arm64", -2.6015, 0.119, 40),
    InitPreset("python3.11", "image", "x86_64", -1.8987, 0.316, 40),
    InitPreset("python3.11", "image", "arm64", -2.0845, 0.346, 40),
    InitPreset("python3.12", "zip", "x86_64", -2.4907, 0.087, 40),
    InitPreset("python3.12", "zip", "arm64", -2.5045, 0.148, 40),
    InitPreset("python3.12", "image", "x86_64", -1.8711, 0.350, 40),
    InitPreset("python3.12", "image", "arm64", -2.0271, 0.376, 40),
    InitPreset("python3.13", "zip", "x86_64", -2.4649, 0.084, 40),
    InitPreset("python3.13", "zip", "arm64", -2.5173, 0.146, 40),
    InitPreset("python3.13", "image", "x86_64", -1.9076, 0.292, 40),
    InitPreset("python3.13", "image", "arm64", -2.0203, 0.319, 40),
    InitPreset("python3.14", "zip", "x86_64", -2.2731, 0.086, 40),
    InitPreset("python3.14", "zip", "arm64", -2.2996, 0.124, 40),
    InitPreset("python3.14", "image", "x86_64", -1.8003, 0.257, 40),
    InitPreset("python3.14", "image", "arm64", -1.8485, 0.276, 40),
    InitPreset("java8.al2", "zip", "x86_64", -1.4125, 0.186, 40),
    InitPreset("java8.al2", "zip", "arm64", -1.1549, 0.313, 40),
    InitPreset("java8.al2", "image", "x86_64", -1.1392, 0.190, 40),
    InitPreset("java8.al2", "image", "arm64", -1.1547, 0.345, 40),
    InitPreset("java11", "zip", "x86_64", -1.2858, 0.081, 40),
    InitPreset("java11", "zip", "arm64", -1.1816, 0.292, 40),
    InitPreset("java11", "image", "x86_64", -1.0739, 0.252, 40),
    InitPreset("java11", "image", "arm64", -1.1176, 0.256, 40),
    InitPreset("java17", "zip", "x86_64", -1.5924, 0.084, 40),
    InitPreset("java17", "zip", "arm64", -1.5141, 0.089, 40),
    InitPreset("java17", "image", "x86_64", -1.1667, 0.263, 40),
    InitPreset("java17", "image", "arm64", -1.1660, 0.237, 40),
    InitPreset("java21", "zip", "x86_64", -1.4381, 0.056, 40),
    InitPreset("java21", "zip", "arm64", -1.3611, 0.135, 40),
    InitPreset("java21", "image", "x86_64", -1.1026, 0.249, 40),
    InitPreset("java21", "image", "arm64", -1.1365, 0.302, 40),
    InitPreset("java25", "zip", "x86_64", -1.6934, 0.113, 40),
    InitPreset("java25", "zip", "arm64", -1.6151, 0.164, 40),
    InitPreset("java25", "image", "x86_64", -1.4904, 0.263, 40),
    InitPreset("java25", "image", "arm64", -1.3884, 0.285, 40),
    InitPreset("dotnet8", "zip", "x86_64", -1.3999, 0.118, 40),
    InitPreset("dotnet8", "zip", "arm64", -1.2220, 0.166, 40),
    InitPreset("dotnet8", "image", "x86_64", -0.8907, 0.265, 40),
    InitPreset("dotnet8", "image", "arm64", -0.7515, 0.203, 40),
    InitPreset("dotnet10", "zip", "x86_64", -1.4239, 0.097, 40),
    InitPreset("dotnet10", "zip", "arm64", -1.3864, 0.141, 40),
    InitPreset("dotnet10", "image", "x86_64", -1.0176, 0.174, 40),
    InitPreset("dotnet10", "image", "arm64", -0.9780, 0.341, 40),
    InitPreset("dotnet8-aot-provided.al2023", "zip", "x86_64", -2.4405, 0.065, 40),
    InitPreset("dotnet8-aot-provided.al2023", "zip", "arm64", -2.5512, 0.073, 40),
    InitPreset("dotnet8-aot-provided.al2023", "image", "x86_64", -2.8618, 0.228, 40),
    InitPreset("dotnet8-aot-provided.al2023", "image", "arm64", -2.8665, 0.484, 40),
    InitPreset("dotnet9-aot-provided.al2023", "zip", "x86_64", -2.4837, 0.051, 40),
    InitPreset("dotnet9-aot-provided.al2023", "zip", "arm64", -2.5805, 0.092, 40),
    InitPreset("dotnet9-aot-provided.al2023", "image", "x86_64", -2.8153, 0.386, 40),
    InitPreset("dotnet9-aot-provided.al2023", "image", "arm64", -2.9318, 0.481, 40),
    InitPreset("dotnet10-aot-provided.al2023", "zip", "x86_64", -2.6258, 0.073, 40),
    InitPreset("dotnet10-aot-provided.al2023", "zip", "arm64", -2.7635, 0.077, 40),
    InitPreset("dotnet10-aot-provided.al2023", "image", "x86_64", -2.8793, 0.369, 40),
    InitPreset("dotnet10-aot-provided.al2023", "image", "arm64", -3.0033, 0.349, 40),
    InitPreset("ruby3.2", "zip", "x86_64", -1.5261, 0.141, 40),
    InitPreset("ruby3.2", "zip", "arm64", -1.3239, 0.215, 40),
    InitPreset("ruby3.2", "image", "x86_64", -1.3766, 0.174, 40),
    InitPreset("ruby3.2", "image", "arm64", -1.1983, 0.202, 40),
    InitPreset("ruby3.3", "zip", "x86_64", -1.4600, 0.164, 40),
    InitPreset("ruby3.3", "zip", "arm64", -1.3381, 0.247, 40),
    InitPreset("ruby3.3", "image", "x86_64", -1.3167, 0.161, 40),
    InitPreset("ruby3.3", "image", "arm64", -1.2470, 0.192, 40),
    InitPreset("ruby3.4", "zip", "x86_64", -1.4704, 0.183, 40),
    InitPreset("ruby3.4", "zip", "arm64", -1.4566, 0.250, 40),
    InitPreset("ruby3.4", "image", "x86_64", -1.3499, 0.166, 40),
    InitPreset("ruby3.4", "image", "arm64", -1.3023, 0.206, 40),
    InitPreset("go-provided.al2023", "zip", "x86_64", -3.0035, 0.059, 40),
    InitPreset("go-provided.al2023", "zip", "arm64", -3.1381, 0.059, 40),
    InitPreset("go-provided.al2023", "image", "x86_64", -3.0468, 0.341, 40),
    InitPreset("go-provided.al2023", "image", "arm64", -3.2004, 0.251, 40),
    InitPreset("rust-provided.al2023", "zip", "x86_64", -4.1718, 0.177, 40),
    InitPreset("rust-provided.al2023", "zip", "arm64", -4.2904, 0.111, 40),
    InitPreset("rust-provided.al2023", "image", "x86_64", -3.3530, 0.291, 40),
    InitPreset("rust-provided.al2023", "image", "arm64", -3.5153, 0.275, 40),
    InitPreset("graalvm-java21-provided.al2023", "zip", "x86_64", -1.8856, 0.071, 40),
    InitPreset("graalvm-java21-provided.al2023", "zip", "arm64", -2.0843, 0.099, 40),
    InitPreset("graalvm-java21-provided.al2023", "image", "x86_64", -2.4998, 0.458, 40),
    InitPreset("graalvm-java21-provided.al2023", "image", "arm64", -2.5204, 0.399, 40),
    InitPreset("graalvm-java23-provided.al2023", "zip", "x86_64", -1.8737, 0.037, 40),
    InitPreset("graalvm-java23-provided.al2023", "zip", "arm64", -1.9929, 0.063, 40),
    InitPreset("graalvm-java23-provided.al2023", "image", "x86_64", -2.4137, 0.454, 40),
    InitPreset("graalvm-java23-provided.al2023", "image", "arm64", -2.5478, 0.298, 40),
    InitPreset("llrt-provided.al2023", "zip", "x86_64", -2.6822, 0.083, 40),
    InitPreset("llrt-provided.al2023", "zip", "arm64", -2.7622, 0.173, 40),
    InitPreset("llrt-provided.al2023", "image", "x86_64", -2.7976, 0.360, 40),
    InitPreset("llrt-provided.al2023", "image", "arm64", -3.0404, 0.377, 40),
)

FAMILY_DEFAULTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "nodejs": "nodejs24.x",
        "python": "python3.14",
        "java": "java25",
        "dotnet": "dotnet10",
        "ruby": "ruby3.4",
        "go": "go-provided.al2023",
        "rust": "rust-provided.al2023",
        "dotnet-aot": "dotnet10-aot-provided.al2023",
        "graalvm": "graalvm-java23-provided.al2023",
        "llrt": "llrt-provided.al2023",
    }
)
"""Family name -> the newest runtime of that family in the table.

Newest, not most used: ``java`` means ``java25`` and ``python`` means ``python3.14``,
whose init is about 20% slower than ``python3.12``'s. Name the version to pin it.
"""

_BY_KEY: Final[Mapping[tuple[str, str, str], InitPreset]] = MappingProxyType(
    {(p.runtime, p.package_type, p.architecture): p for p in INIT_PRESETS}
)
_RUNTIMES: Final = tuple(dict.fromkeys(p.runtime for p in INIT_PRESETS))

_CUSTOM_SUFFIX: Final = "-provided.al2023"


def runtimes() -> list[str]:
    """Return the runtime names in the table, grouped by family, oldest first."""
    return list(_RUNTIMES)


def _resolve_runtime(runtime: str) -> str | None:
    """Return the table name for `runtime` or an accepted spelling, else None."""
    key = runtime.strip().lower()
    candidates = (
        key,
        FAMILY_DEFAULTS.get(key, ""),
        key + ".x",
        key + ".al2",
        key + _CUSTOM_SUFFIX,
        re.sub(r"^(nodejs\d+)x$", r"\1.x", key),
        re.sub(r"^(python|ruby)3(\d+)$", r"\g<1>3.\2", key),
    )
    return next((name for name in candidates if name in _RUNTIMES), None)


def _unknown_runtime_problem(runtime: str) -> str:
    choices = [*_RUNTIMES, *FAMILY_DEFAULTS]
    close = difflib.get_close_matches(runtime.strip().lower(), choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown runtime {runtime!r}{hint}; expected one of: {', '.join(_RUNTIMES)}; "
        f"or a family name: {', '.join(FAMILY_DEFAULTS)}"
    )


def _normalise_package_type(package_type: str) -> str | None:
    key = package_type.strip().lower()
    return key if key in PACKAGE_TYPES else None


def find_init_preset(
    runtime: str, package_type: str = "zip", architecture: str = "x86_64"
) -> InitPreset:
    """Return the init-duration preset for a runtime, package type and architecture.

    Args:
        runtime: A runtime name from `runtimes`, a family name from `FAMILY_DEFAULTS`
            or another spelling the module docstring lists; case-insensitive.
        package_type: ``"zip"`` or ``"image"``; case-insensitive.
        architecture: ``"x86_64"`` (also ``"amd64"``, ``"x86-64"``) or ``"arm64"``
            (also ``"aarch64"``); case-insensitive.

    Raises:
        ScenarioError: If any argument is unknown (one problem per bad argument, with
            the allowed values and a 'did you mean' when a runtime name is close), or
            the combination was not measured.
    """
    problems = []
    name = _resolve_runtime(runtime)
    if name is None:
        problems.append(_unknown_runtime_problem(runtime))
    package = _normalise_package_type(package_type)
    if package is None:
        problems.append(
            f"unknown package_type {package_type!r}; expected one of: "
            + ", ".join(PACKAGE_TYPES)
        )
    arch = _ARCHITECTURE_ALIASES.get(architecture.strip().lower())
    if arch is None:
        problems.append(
            f"unknown architecture {architecture!r}; expected one of: "
            + ", ".join(ARCHITECTURES)
        )
    if name is None or package is None or arch is None:
        raise ScenarioError(problems)

    preset = _BY_KEY.get((name, package, arch))
    if preset is None:
        measured = sorted(f"{p}/{a}" for (r, p, a) in _BY_KEY if r == name)
        raise ScenarioError(
            f"no init-duration preset for {name} {package}/{arch}; measured for "
            f"{name}: {', '.join(measured)}"
        )
    return preset


def runtime_kind(runtime: str) -> RuntimeKind:
    """Return whether `runtime` is a managed or a custom (``provided.*``) runtime.

    Pricing needs this for the INIT billing rules in force before 2025-08-01.

    Args:
        runtime: Any name `find_init_preset` accepts, or a bare ``provided.*`` runtime
            identifier such as ``"provided.al2023"``.

    Raises:
        ScenarioError: If the runtime is unknown.
    """
    key = runtime.strip().lower()
    if key.startswith("provided."):
        return RuntimeKind.CUSTOM
    name = _resolve_runtime(runtime)
    if name is None:
        raise ScenarioError(_unknown_runtime_problem(runtime))
    return RuntimeKind.CUSTOM if name.endswith(_CUSTOM_SUFFIX) else RuntimeKind.MANAGED


@dataclass(frozen=True)
class PlatformOverhead:
    """A lognormal for the part of a cold start that Init Duration leaves out.

    Attributes:
        package_type: ``"zip"`` or ``"image"``.
        median_s: Median overhead in seconds.
        sigma_log: Standard deviation of log(overhead); dimensionless.
    """

    package_type: str
    median_s: float
    sigma_log: float

    @property
    def mu_log_s(self) -> float:
        """Mean of log(overhead in seconds), log(median)."""
        return math.log(self.median_s)


# Platform overhead: Lambda's own work before INIT starts -- placing the instance,
# fetching the code or image, booting the microVM -- plus the round trip from the
# client. It is not billed and not in Init Duration, but a cold invocation's client
# sees it (aws-lambda-facts.md section 3, citing the Operator Guide). No source
# measures it directly; these are client-side cold-start latencies minus the
# Init Duration of comparable hello-world functions:
#
# - zip: Wang et al., USENIX ATC'18, measured a mean AWS cold-start latency of
#   265 ms at 128 MB and 246 ms at 2048 MB; Shilkov (mikhail.io/serverless/coldstarts/
#   aws/) finds JS, Python, Go, Ruby and Java cold starts "mostly within 400 ms" and
#   "almost always within 700 ms" end to end. Hello-world Init Durations (LPERF) are
#   about 80-140 ms for Python and Node, say 100 ms. Typical: 250 - 100 = 150 ms
#   (median). Reading "mostly within 400 ms" as a p90: 400 - 100 = 300 ms = 2x the
#   median, so sigma = ln 2 / 1.28 = 0.54, rounded to 0.5. Check: p99 overhead 480 ms
#   + 100 ms init stays under the 700 ms "almost always".
# - image: Shilkov's basic Node container image takes 0.6-1.4 s end to end; Node
#   image Init Durations (LPERF) are about 0.25 s. Reading 0.6 and 1.4 s as p10 and
#   p90 leaves 0.35 and 1.15 s of overhead: median sqrt(0.35 * 1.15) = 0.63 s, rounded
#   to 0.6 s; sigma = ln(1.15 / 0.35) / (2 * 1.28) = 0.46, rounded to 0.45.
#
# These are order-of-magnitude defaults, not measurements: the 2017-18 and undated
# page numbers include older, slower runtime inits (which makes the zip figure
# conservative-low) and the client's network round trip (so a model that adds
# network latency separately counts it twice).
# TODO: the image overhead rests on one undated source; if it predates AWS's lazy
# image loading it overstates image cold starts by up to about half a second.
# Assumption A-01.
PLATFORM_OVERHEAD_S: Final[Mapping[str, PlatformOverhead]] = MappingProxyType(
    {
        "zip": PlatformOverhead("zip", median_s=0.150, sigma_log=0.5),
        "image": PlatformOverhead("image", median_s=0.600, sigma_log=0.45),
    }
)


def platform_overhead(package_type: str) -> tuple[float, float]:
    """Return ``(mu_log_s, sigma_log)`` of the platform overhead of a cold start.

    Draw seconds with ``rng.lognormal(mu_log_s, sigma_log)`` and add them to the
    client-observed latency of a cold invocation, not to the billed duration. The
    derivation is in the comment above `PLATFORM_OVERHEAD_S`.

    Args:
        package_type: ``"zip"`` or ``"image"``; case-insensitive.

    Raises:
        ScenarioError: If the package type is unknown.
    """
    package = _normalise_package_type(package_type)
    if package is None:
        raise ScenarioError(
            f"unknown package_type {package_type!r}; expected one of: "
            + ", ".join(PACKAGE_TYPES)
        )
    overhead = PLATFORM_OVERHEAD_S[package]
    return overhead.mu_log_s, overhead.sigma_log
