"""lambdasim: a discrete-event simulator of AWS Lambda scaling, cold starts and cost.

The public API for notebooks and scripts::

    import lambdasim
    scenario = lambdasim.load_scenario("scenarios/quickstart.yaml")
    result = lambdasim.simulate(scenario)
    result.summary, result.invocations, result.timeseries
"""

import logging

from lambdasim._version import __version__
from lambdasim.errors import ScenarioError, SimulatorError, TraceFormatError
from lambdasim.runner import RunResult, simulate
from lambdasim.scenario import Scenario, load_scenario, validate_scenario

# A library adds only a NullHandler; the CLI (or the user) configures logging.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SimulatorError",
    "TraceFormatError",
    "__version__",
    "load_scenario",
    "simulate",
    "validate_scenario",
]
