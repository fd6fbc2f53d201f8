"""lambdasim: a discrete-event simulator of AWS Lambda scaling, cold starts and cost.

The public API for notebooks and scripts::

    import lambdasim
    scenario = lambdasim.load_scenario("scenarios/quickstart.yaml")
    result = lambdasim.simulate(scenario)
    result.summary, result.invocations, result.timeseries
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

from lambdasim.errors import ScenarioError, SimulatorError, TraceFormatError  # noqa: E402
from lambdasim.runner import RunResult, simulate  # noqa: E402
from lambdasim.scenario import Scenario, load_scenario, validate_scenario  # noqa: E402

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
