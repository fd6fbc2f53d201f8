"""Regenerate the golden tables in tests/golden/ (review the diff before committing).

python scripts/regenerate_golden.py
"""

from __future__ import annotations

from pathlib import Path

import lambdasim

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"

# Columns compared by tests/test_golden.py; floats are written with full precision.
INVOCATION_COLUMNS = [
    "function",
    "arrival_s",
    "start_s",
    "end_s",
    "is_cold",
    "status",
    "throttle_reason",
    "instance_id",
    "duration_ms",
    "billed_ms",
]


def golden_tables() -> dict[str, object]:
    scenario = lambdasim.load_scenario(GOLDEN / "small.yaml")
    result = lambdasim.simulate(scenario)
    invocations = result.invocations[INVOCATION_COLUMNS].astype(
        {"function": str, "status": str, "throttle_reason": str}
    )
    return {"small_invocations.csv": invocations}


def main() -> None:
    for name, table in golden_tables().items():
        table.to_csv(GOLDEN / name, index=False, float_format="%.9f")  # type: ignore[attr-defined]
        print(f"wrote {GOLDEN / name}")


if __name__ == "__main__":
    main()
