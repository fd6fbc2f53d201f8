"""A SimPy environment with a cheaper way to schedule plain callbacks.

Most of what happens to an invocation is a straight line (arrive, run, finish), so
the model schedules callbacks rather than processes. A SimPy `Timeout` costs an
`Event` with several attributes plus the generic `schedule`; at millions of
invocations that overhead is a third of the run time. `Engine.call_at` puts a tiny
slotted event on SimPy's own queue instead: `Environment.step` pops it like any other
event, runs its callback and so keeps the one clock and the one event order shared
with ordinary SimPy processes and timeouts (which later parts of the model use).

This leans on SimPy 4's queue layout `(time, priority, id, event)` and on `step()`
touching only `callbacks` and `_ok` of a successful event; pyproject pins SimPy 4,
and tests/test_engine.py checks the interleaving with ordinary SimPy events.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL

# Priority of arrivals on the queue: after every ordinary event (SimPy's URGENT 0 and
# NORMAL 1) due at the same instant. An invocation that ends, or an instance whose
# keep-alive runs out, at the very instant a request arrives is gone before that
# request is dispatched, whatever order they were scheduled in (intervals are
# half-open, as in the reports).
ARRIVAL = 2


class Call:
    """An event that only runs callbacks: what `Engine.call_at` schedules.

    Attributes:
        callbacks: Functions called with this event when it is processed.
        value: Whatever the scheduler attached (an instance, say).
    """

    __slots__ = ("callbacks", "_ok", "value")

    def __init__(self, callback: Callable[[Call], None], value: Any) -> None:
        self.callbacks: list[Callable[[Call], None]] | None = [callback]
        self._ok = True
        self.value = value


class Engine(simpy.Environment):
    """The simulation clock and event queue of one run (seconds)."""

    def call_at(
        self,
        time_s: float,
        callback: Callable[[Call], None],
        value: Any = None,
        priority: int = NORMAL,
    ) -> None:
        """Run `callback(event)` at absolute time `time_s` (not before now).

        At equal times, lower `priority` runs first, then first scheduled first.
        """
        if time_s < self._now:
            raise ValueError(f"cannot schedule at {time_s} before now {self._now}")
        # SimPy types its queue entries as Events; a Call quacks like one (above).
        entry: Any = (time_s, priority, next(self._eid), Call(callback, value))
        heappush(self._queue, entry)

    def advance_to(self, time_s: float) -> bool:
        """Move the clock to `time_s` if no scheduled event comes first.

        Returns:
            True if the clock now reads `time_s`; False if an event is due at or
            before `time_s` (the caller must schedule instead, at `ARRIVAL`
            priority, so that event runs first).
        """
        queue = self._queue
        if queue and queue[0][0] <= time_s:
            return False
        if time_s < self._now:
            raise ValueError(f"cannot move the clock back from {self._now} to {time_s}")
        self._now = time_s
        return True
