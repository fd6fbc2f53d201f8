"""The SimPy model of the Lambda platform; no file I/O, no pandas."""

from lambdasim.model.config import (
    AccountConfig,
    ClientPolicy,
    DispatchPolicy,
    FunctionConfig,
    ScaleUpRule,
    ScaleUpScope,
)
from lambdasim.model.simulation import Simulation

__all__ = [
    "AccountConfig",
    "ClientPolicy",
    "DispatchPolicy",
    "FunctionConfig",
    "ScaleUpRule",
    "ScaleUpScope",
    "Simulation",
]
