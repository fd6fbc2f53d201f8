"""Fit the built-in init-duration presets to one day of lambda-perf cold starts.

Reads ``cold_starts_long_<date>.csv`` (one row per forced cold start, 10 per
runtime x memory x architecture x package type; see the data folder's README.md) and
prints the ``INIT_PRESETS`` tuple literal that ``lambdasim/init_presets.py`` holds.
Regenerate the table with::

    python scripts/fit_init_presets.py [path/to/cold_starts_long_YYYY-MM-DD.csv]

then paste the output over the table and run ``ruff format``.

Method. One lognormal per (runtime, package type, architecture), pooling the four
memory sizes (128, 256, 512 and 1024 MB): for these hello-world functions memory
barely moves Init Duration (per-memory medians differ by a few percent, with no
trend), so pooling gives 40 samples instead of 10 at no cost in bias.

- ``mu_log_s`` is the *median* of log(init seconds), not the mean. The samples are a
  tight body plus rare slow outliers (3-10x the median, mostly for container images),
  which drag the mean of the logs up: with the mean, 19 of the 108 fitted
  configurations (all but one of them images) put the lognormal median more than 10%
  above the sample median, by up to 18%. The median of the logs is the same
  estimate when the data really are lognormal and ignores the outliers when not.
- ``sigma_log`` is the standard deviation of log(init seconds) (ddof=1), outliers
  included, so the slow tail still widens the distribution.

Scope: the managed runtimes of the nodejs, python, java, dotnet and ruby families,
and the provided.al2023 (custom runtime) builds of go, rust, .NET native AOT,
GraalVM native-image Java and LLRT. Left out: provided.al2 builds (Amazon Linux 2,
superseded by provided.al2023 for the same languages), other languages (c++, swift,
shell, bun, quarkus) and SnapStart rows, whose number is a Restore Duration, not an
Init Duration (the 2026-08-22 file has none).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = (
    REPO_ROOT.parent
    / "shared"
    / "data"
    / "lambda-perf-cold-starts"
    / "cold_starts_long_2026-08-22.csv"
)

_MANAGED = re.compile(
    r"^(nodejs\d+\.x|python3\.\d+|java\d+(\.al2)?|dotnet\d+|ruby3\.\d+)$"
)
_CUSTOM = re.compile(
    r"^(?P<name>go|rust|dotnet\d+ aot|graalvm java\d+|llrt) \(prov\.al2023\)$"
)
_PACKAGE_ORDER = {"zip": 0, "image": 1}
_ARCH_ORDER = {"x86_64": 0, "arm64": 1}
_FAMILY_ORDER = ["nodejs", "python", "java", "dotnet", "ruby", "go", "rust", "graalvm"]


def preset_runtime_name(label: str) -> str | None:
    """Return the preset name for a lambda-perf runtime label, or None to skip it.

    ``python3.12`` stays as is; ``go (prov.al2023)`` becomes ``go-provided.al2023``
    and ``dotnet8 aot (prov.al2023)`` becomes ``dotnet8-aot-provided.al2023``.
    """
    if "snapstart" in label.lower():
        return None
    if _MANAGED.match(label):
        return label
    match = _CUSTOM.match(label)
    if match is None:
        return None
    return match.group("name").replace(" ", "-") + "-provided.al2023"


def _sort_key(runtime: str) -> tuple[int, str, tuple[int, ...]]:
    family = re.match(r"[a-z]+", runtime)
    family_name = family.group(0) if family else runtime
    rank = (
        _FAMILY_ORDER.index(family_name)
        if family_name in _FAMILY_ORDER
        else len(_FAMILY_ORDER)
    )
    custom_last = "provided" in runtime
    numbers = tuple(int(n) for n in re.findall(r"\d+", runtime.split("-provided")[0]))
    return rank, str(custom_last), numbers


def fit_presets(
    cold_starts: pd.DataFrame,
) -> list[tuple[str, str, str, float, float, int]]:
    """Fit one lognormal per (runtime, package type, architecture).

    Args:
        cold_starts: Rows of the long CSV (``runtime``, ``package_type``, ``arch``,
            ``init_duration_ms``).

    Returns:
        ``(runtime, package_type, architecture, mu_log_s, sigma_log, samples)`` rows in
        table order.
    """
    named = cold_starts.assign(preset=cold_starts["runtime"].map(preset_runtime_name))
    named = named.dropna(subset=["preset"])
    rows = []
    for (runtime, package, arch), group in named.groupby(
        ["preset", "package_type", "arch"]
    ):
        log_s = np.log(group["init_duration_ms"].to_numpy(dtype=float) / 1000.0)
        mu = float(np.median(log_s))
        sigma = float(np.std(log_s, ddof=1))
        rows.append((str(runtime), str(package), str(arch), mu, sigma, len(log_s)))
    rows.sort(key=lambda r: (_sort_key(r[0]), _PACKAGE_ORDER[r[1]], _ARCH_ORDER[r[2]]))
    return rows


def render_table(rows: list[tuple[str, str, str, float, float, int]]) -> str:
    """Return the ``INIT_PRESETS`` literal as Python source."""
    lines = ["INIT_PRESETS: Final[tuple[InitPreset, ...]] = ("]
    for runtime, package, arch, mu, sigma, samples in rows:
        lines.append(
            f'    InitPreset("{runtime}", "{package}", "{arch}", '
            f"{mu:.4f}, {sigma:.3f}, {samples}),"
        )
    lines.append(")")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, fit, print the table; report skipped labels on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args(argv)

    cold_starts = pd.read_csv(args.csv)
    skipped = sorted(
        label
        for label in cold_starts["runtime"].unique()
        if preset_runtime_name(label) is None
    )
    print("skipped runtime labels: " + ", ".join(skipped), file=sys.stderr)
    print(render_table(fit_presets(cold_starts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
