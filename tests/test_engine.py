"""The Engine's plain callbacks share one clock and event order with SimPy events."""

from __future__ import annotations

import pytest

from lambdasim.model.engine import Engine


def test_call_at_interleaves_with_timeouts_and_processes_in_time_order():
    env = Engine()
    seen: list[tuple[float, str]] = []

    def process(env):
        yield env.timeout(1.5)
        seen.append((env.now, "process"))

    env.process(process(env))
    env.call_at(2.0, lambda event: seen.append((env.now, f"call {event.value}")), "b")
    env.call_at(1.0, lambda event: seen.append((env.now, f"call {event.value}")), "a")
    env.timeout(1.75).callbacks.append(lambda event: seen.append((env.now, "timeout")))
    env.run()
    assert seen == [
        (1.0, "call a"),
        (1.5, "process"),
        (1.75, "timeout"),
        (2.0, "call b"),
    ]


def test_call_at_equal_times_run_in_scheduling_order():
    env = Engine()
    seen: list[str] = []
    for name in "xyz":
        env.call_at(3.0, lambda event: seen.append(event.value), name)
    env.run()
    assert seen == ["x", "y", "z"]


def test_call_at_in_the_past_raises():
    env = Engine()
    env.call_at(2.0, lambda event: None)
    env.run()
    with pytest.raises(ValueError, match="before now"):
        env.call_at(1.0, lambda event: None)


def test_advance_to_refuses_when_an_event_is_due_first():
    env = Engine()
    env.call_at(5.0, lambda event: None)
    assert env.advance_to(4.0) is True
    assert env.now == 4.0
    # An event at 5.0 is due at or before 5.0: the caller must schedule instead.
    assert env.advance_to(5.0) is False
    assert env.now == 4.0
    with pytest.raises(ValueError, match="back"):
        env.advance_to(3.0)
