"""Exceptions raised by lambdasim.

Every error caused by user input derives from `SimulatorError`; the CLI prints such an
error on one line and exits with status 2. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class of errors that a user's input caused."""


class ScenarioError(SimulatorError, ValueError):
    """A scenario file, override or parameter is invalid.

    Attributes:
        problems: One line per problem found, each saying where, what was found and
            what is allowed.
    """

    def __init__(
        self,
        problems: list[str] | str,
        source: str | None = None,
        subject: str = "the scenario",
    ) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        self.subject = subject
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        count = len(self.problems)
        lines = [f"{count} problems in {self.subject}:"]
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(lines)


class TraceFormatError(SimulatorError, ValueError):
    """A workload trace file cannot be read or has the wrong columns or values."""


class OutputError(SimulatorError, OSError):
    """Results or logs cannot be written where the user asked."""
