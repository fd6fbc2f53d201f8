"""Scenario files: schema, loading, overrides and error messages."""

from lambdasim.scenario.loader import (
    apply_overrides,
    load_scenario,
    scenario_sha256,
    validate_scenario,
)
from lambdasim.scenario.schema import FunctionSpec, Scenario

__all__ = [
    "FunctionSpec",
    "Scenario",
    "apply_overrides",
    "load_scenario",
    "scenario_sha256",
    "validate_scenario",
]
