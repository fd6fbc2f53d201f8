"""SQS event source mappings: a standard queue, its pollers and their batches.

A function with an event source mapping (ESM) owns one queue. Workload arrivals of
type `InvocationType.POLL` are messages sent to that queue; Lambda's pollers take
them in batches and invoke the function synchronously, one invocation per batch
(AWS Lambda docs, "Using Lambda with Amazon SQS" and the pages it links):

- A batch holds up to `batch_size` messages. Without a batching window a free poller
  takes whatever is visible at once; with one it waits until `batch_size` messages
  are visible or the window has run since the first of them.
- A received message is invisible for the queue's visibility timeout and its
  receive count grows by one. A batch whose invocation ends `ok` is deleted. A
  batch that fails (error, timeout, a refused downstream call) becomes visible again
  when its visibility timeout ends, counted from its receive.
- A throttled invocation is retried by the poller, which holds the batch, after
  1 s, 2 s, 4 s ... while the retry still falls inside the visibility timeout
  (Assumption A-32); then the poller lets go and the messages reappear when the
  timeout ends. Throttles count as receives, so with `max_receive_count` 1 a
  throttled batch goes to the dead-letter queue.
- A message that becomes visible again having been received `max_receive_count`
  times moves to the dead-letter queue (Assumption A-33).
- Pollers: the mapping runs `initial` concurrent batches (5) and, once a second,
  adds `increase_per_min` / 60 of them while messages remain visible, up to its
  maximum (1,250 today, 1,000 before 2023-11-06; capped by `maximum_concurrency`).
  Each throttle or function error takes one away, and a second in which one
  happened adds none; a second with no message visible takes the increase away
  again, down to the batches in hand (at least `initial`) (Assumption A-31).

Costs: no process per message or batch. A message is an index into the message
records, kept in a deque while visible and in its batch's list while invisible;
each batch costs its invocation's events plus one callback when it ends, and each
mapping a timer a second while it has work. Nothing scans the queue.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambdasim.distributions import BlockSampler, Sampler
from lambdasim.model.engine import ARRIVAL, Call
from lambdasim.model.platform import Function, TokenBucket
from lambdasim.randomness import Purpose, stream
from lambdasim.results import BatchOutcome, MessageFate, Status
from lambdasim.workload.base import InvocationType

if TYPE_CHECKING:
    from lambdasim.model.simulation import Simulation

logger = logging.getLogger(__name__)

# Assumption A-31: the poller count is re-evaluated once a second.
SCALING_TICK_S = 1.0
# Assumption A-32: retries of a throttled batch, doubling from 1 s.
THROTTLE_FIRST_RETRY_S = 1.0
# Pollers receive after every arrival of the same instant is in the queue, so that
# messages sent together leave in full batches (SimPy runs lower values first).
RECEIVE = ARRIVAL + 1


@dataclass(frozen=True)
class PollerScaling:
    """How the pollers of a standard-queue mapping scale (concurrent batches).

    Attributes:
        initial: Concurrent batches when messages appear, and the floor when
            traffic is low (AWS: 5).
        increase_per_min: Batches added per minute while messages remain.
        maximum: Most concurrent batches of one mapping.
    """

    initial: int = 5
    increase_per_min: int = 300
    maximum: int = 1250


# Since 2023-11-06: +300 per minute, up to 1,250 (AWS What's New 2023-11, "Lambda
# polling scale rate for SQS"; AWS Compute Blog on the faster scale-up).
CURRENT_POLLER_SCALING = PollerScaling()
# 2018 to 2023-11: +60 per minute, up to 1,000 (Lambda Developer Guide, 2023).
LEGACY_POLLER_SCALING = PollerScaling(initial=5, increase_per_min=60, maximum=1000)


@dataclass(frozen=True)
class DownstreamLimit:
    """A rate limit the handler meets downstream (an API's token bucket).

    Each message of a batch makes one call, which takes one token. A batch that
    finds a call without a token fails (status `error`) `failure_duration_s` after
    its handler starts; the tokens its earlier calls took stay spent (Assumption
    A-34).

    Attributes:
        burst: Bucket size (tokens available at once after a quiet period).
        refill_per_s: Tokens added per second.
        failure_duration_s: How long an invocation with a refused call runs.
    """

    burst: float
    refill_per_s: float
    failure_duration_s: float = 0.1


@dataclass(frozen=True)
class EventSourceConfig:
    """An SQS event source mapping of one function, and its queue.

    Attributes:
        batch_size: Most messages per batch (AWS: 1 to 10,000, default 10).
        batching_window_s: MaximumBatchingWindowInSeconds (0 to 300).
        maximum_concurrency: ScalingConfig.MaximumConcurrency (2 to 1,000), or None.
        visibility_timeout_s: The queue's visibility timeout.
        max_receive_count: The redrive policy's maxReceiveCount, or None for a
            queue without a dead-letter queue.
        scaling: The poller scaling rule.
        per_message_duration: Handler time added per message of a batch, drawn
            per message, or None for none: a batch of n runs the function's
            duration plus n such draws (Assumption A-30).
        downstream: A downstream rate limit the handler calls, or None.
    """

    batch_size: int = 10
    batching_window_s: float = 0.0
    maximum_concurrency: int | None = None
    visibility_timeout_s: float = 30.0
    max_receive_count: int | None = None
    scaling: PollerScaling = CURRENT_POLLER_SCALING
    per_message_duration: Sampler | None = None
    downstream: DownstreamLimit | None = None


class _Batch:
    """Messages one poller received together."""

    __slots__ = ("messages", "receive_s", "duration_s", "attempts")

    def __init__(
        self, messages: list[int], receive_s: float, duration_s: float
    ) -> None:
        self.messages = messages
        self.receive_s = receive_s
        self.duration_s = duration_s
        self.attempts = 0


class EventSourceMapping:
    """The queue and pollers of one function's SQS event source mapping.

    Built by `Simulation.add_event_source`; the simulation calls `send` for each
    message and `close_out` once at the end.

    Attributes:
        pollers: Concurrent batches the mapping may run now.
        busy: Batches pollers hold (invoking, or retrying a throttle).
    """

    def __init__(
        self, sim: Simulation, function: Function, config: EventSourceConfig
    ) -> None:
        self._sim = sim
        self._env = sim.env
        self._function = function
        self._config = config
        scaling = config.scaling
        cap = scaling.maximum
        if config.maximum_concurrency is not None:
            cap = min(cap, config.maximum_concurrency)
        self._cap = cap
        self._floor = min(scaling.initial, cap)
        self._step = max(1, round(scaling.increase_per_min * SCALING_TICK_S / 60.0))
        self.pollers = 0  # no poller counted before the first message
        self.busy = 0
        self._visible: deque[int] = deque()
        self._is_ticking = False
        self._is_receive_due = False
        self._had_setback = False
        self._window_due_s = math.inf
        self._window_expired = False
        self._held: set[_Batch] = set()
        self._bucket = (
            TokenBucket(config.downstream.burst, config.downstream.refill_per_s)
            if config.downstream is not None
            else None
        )
        self._per_message = (
            BlockSampler(
                config.per_message_duration,
                stream(sim.seed, f"sqs:{function.config.name}", Purpose.DURATION),
            )
            if config.per_message_duration is not None
            else None
        )
        messages = sim.sqs_messages.columns
        self._message_function = messages["function_index"].append
        self._message_sent = messages["sent_s"].append
        self._message_gone = messages["gone_s"]
        self._message_receives = messages["receives"]
        self._message_fate = messages["fate"]

    # -- messages in --------------------------------------------------------------

    def send(self) -> None:
        """Put one message into the queue now and let a free poller take it."""
        now = self._env.now
        message = len(self._message_fate)
        self._message_function(self._function.index)
        self._message_sent(now)
        self._message_gone.append(math.nan)
        self._message_receives.append(0)
        self._message_fate.append(_QUEUED)
        self._visible.append(message)
        if not self._is_ticking:
            self._start_ticking(now)
        if self.busy >= self.pollers or self._is_receive_due:
            return
        if self._is_gathering():
            self._open_window(now)
            return
        # Assumption A-37: received at once, after this instant's other messages.
        self._is_receive_due = True
        self._env.call_at(now, self._receive_sent, priority=RECEIVE)

    def _is_gathering(self) -> bool:
        """Tell whether a free poller waits for its batching window to fill a batch."""
        config = self._config
        return (
            config.batching_window_s > 0.0
            and not self._window_expired
            and len(self._visible) < config.batch_size
        )

    def _open_window(self, now: float) -> None:
        """Start the batching window, unless one is already running."""
        if self._window_due_s == math.inf:
            self._window_due_s = now + self._config.batching_window_s
            self._env.call_at(
                self._window_due_s, self._close_window, self._window_due_s
            )

    def _receive_sent(self, event: Call) -> None:
        self._is_receive_due = False
        self._receive(self._env.now)

    def _start_ticking(self, now: float) -> None:
        self._is_ticking = True
        if self.pollers < self._floor:
            self._set_pollers(now, self._floor)
        self._env.call_at(now + SCALING_TICK_S, self._tick)

    # -- pollers ------------------------------------------------------------------

    def _receive(self, now: float) -> None:
        """Let free pollers take batches of the visible messages."""
        if now >= self._sim.horizon_s:
            return  # Assumption A-35: the mapping stops receiving at the horizon.
        config = self._config
        visible = self._visible
        while self.busy < self.pollers and visible:
            if self._is_gathering():
                self._open_window(now)
                return
            take = min(len(visible), config.batch_size)
            messages = [visible.popleft() for _ in range(take)]
            self._dispatch(messages, now)
        if not visible:
            self._window_due_s = math.inf
            self._window_expired = False

    def _close_window(self, event: Call) -> None:
        if event.value != self._window_due_s:
            return  # the queue emptied since; a newer window may be open
        self._window_due_s = math.inf
        self._window_expired = True
        self._receive(self._env.now)

    def _dispatch(self, messages: list[int], now: float) -> None:
        receives = self._message_receives
        for message in messages:
            receives[message] += 1
        self.busy += 1
        function = self._function
        duration_s = function.duration.next()
        per_message = self._per_message
        if per_message is not None:  # Assumption A-30
            for _ in messages:
                duration_s += per_message.next()
        batch = _Batch(messages, now, duration_s)
        if self._sim.is_tracing:
            self._sim.trace(now, "receive", function.index)
        self._attempt(batch, now)

    def _attempt(self, batch: _Batch, now: float) -> None:
        """Invoke the function with a batch (again, after a throttle)."""
        sim = self._sim
        batch.attempts += 1
        granted, is_refused = self._call_downstream(len(batch.messages), now)
        duration_s = batch.duration_s
        if is_refused and self._config.downstream is not None:
            duration_s = self._config.downstream.failure_duration_s
        statuses = sim.invocations.columns["status"]
        row = len(statuses)
        end_s = sim.invoke(self._function, duration_s, _POLL)
        if end_s < 0.0:
            if self._bucket is not None:
                # Nothing ran: the calls were never made. Tokens taken at this
                # very instant go back exactly (the bucket was refilled to now).
                self._bucket.tokens += granted
            self._throttled(batch, now)
            return
        self._held.discard(batch)
        sim.pending_retries += 1  # the run drains until this batch is let go
        if end_s != end_s:
            # A handler that queries the database: its end and status come later.
            sim.on_end(row, lambda status: self._ended(batch, row, status, is_refused))
            return
        outcome = self._outcome(row, statuses[row], is_refused)
        self._env.call_at(end_s, self._finish, (batch, outcome))

    def _outcome(self, row: int, status: int, is_refused: bool) -> int:
        """What became of a batch whose invocation (at `row`) ended `status`."""
        if is_refused:
            if status == _OK:
                self._sim.invocations.columns["status"][row] = _ERROR
            return _DOWNSTREAM_THROTTLED
        return _DELIVERED if status == _OK else _FAILED

    def _ended(self, batch: _Batch, row: int, status: int, is_refused: bool) -> None:
        outcome = self._outcome(row, status, is_refused)
        self._finish(Call(self._finish, (batch, outcome)))

    def _call_downstream(self, calls: int, now: float) -> tuple[int, bool]:
        """Take a token per call; return (tokens taken, whether one was refused)."""
        # Assumption A-34: one call per message, at dispatch, until one is refused.
        bucket = self._bucket
        if bucket is None:
            return 0, False
        granted = 0
        while granted < calls and bucket.take(now):
            granted += 1
        return granted, granted < calls

    def _throttled(self, batch: _Batch, now: float) -> None:
        """Retry a throttled batch inside its visibility timeout, else let it go."""
        self._setback(now)
        visible_again_s = batch.receive_s + self._config.visibility_timeout_s
        retry_s = now + THROTTLE_FIRST_RETRY_S * 2.0 ** (batch.attempts - 1)
        if retry_s < visible_again_s and retry_s < self._sim.horizon_s:
            self._held.add(batch)
            self._env.call_at(retry_s, self._retry, batch, priority=ARRIVAL)
            return
        self._held.discard(batch)
        self._let_go(batch, now, _THROTTLED_OUTCOME)

    def _retry(self, event: Call) -> None:
        self._attempt(event.value, self._env.now)

    def _finish(self, event: Call) -> None:
        batch, outcome = event.value
        self._sim.pending_retries -= 1
        now = self._env.now
        if outcome == _DELIVERED:
            gone = self._message_gone
            fate = self._message_fate
            for message in batch.messages:
                gone[message] = now
                fate[message] = _DELIVERED_FATE
        else:
            self._setback(now)
        self._let_go(batch, now, outcome)

    def _let_go(self, batch: _Batch, now: float, outcome: int) -> None:
        """Free the batch's poller; failed messages reappear after the timeout."""
        self.busy -= 1
        self._record_batch(batch, now, outcome)
        if outcome != _DELIVERED:
            visible_again_s = batch.receive_s + self._config.visibility_timeout_s
            self._env.call_at(max(visible_again_s, now), self._reappear, batch)
        self._receive(now)

    def _reappear(self, event: Call) -> None:
        """Make a failed batch's messages visible, or dead-letter them."""
        now = self._env.now
        if now >= self._sim.horizon_s:
            return  # Assumption A-35: they stay in the queue, counted as left.
        batch: _Batch = event.value
        limit = self._config.max_receive_count
        receives = self._message_receives
        for message in batch.messages:
            # Assumption A-33: dead-lettered as it becomes visible again.
            if limit is not None and receives[message] >= limit:
                self._message_gone[message] = now
                self._message_fate[message] = _DEAD_LETTERED
                if self._sim.is_tracing:
                    self._sim.trace(now, "dead_letter", message)
            else:
                self._visible.append(message)
        if not self._is_ticking and self._visible:
            self._start_ticking(now)
        self._receive(now)

    # -- scaling ------------------------------------------------------------------

    def _setback(self, now: float) -> None:
        """A throttle or failed batch: one poller fewer, no increase this second."""
        self._had_setback = True
        if self.pollers > self._floor:
            self._set_pollers(now, self.pollers - 1)

    def _tick(self, event: Call) -> None:
        """Scale the pollers once a second while the mapping has work."""
        now = self._env.now
        if now >= self._sim.horizon_s:
            self._is_ticking = False
            return
        if self._visible:
            if not self._had_setback:
                self._set_pollers(now, min(self._cap, self.pollers + self._step))
        else:
            lowered = max(self._floor, self.busy, self.pollers - self._step)
            self._set_pollers(now, min(self.pollers, lowered))
        self._had_setback = False
        if self._visible or self.busy or self.pollers > self._floor:
            self._env.call_at(now + SCALING_TICK_S, self._tick)
        else:
            self._is_ticking = False
        self._receive(now)

    def _set_pollers(self, now: float, pollers: int) -> None:
        if pollers == self.pollers:
            return
        self.pollers = pollers
        columns = self._sim.sqs_pollers.columns
        columns["function_index"].append(self._function.index)
        columns["time_s"].append(now)
        columns["pollers"].append(pollers)

    # -- records ------------------------------------------------------------------

    def _record_batch(self, batch: _Batch, end_s: float, outcome: int) -> None:
        columns = self._sim.sqs_batches.columns
        columns["function_index"].append(self._function.index)
        columns["receive_s"].append(batch.receive_s)
        columns["end_s"].append(end_s)
        columns["messages"].append(len(batch.messages))
        columns["attempts"].append(batch.attempts)
        columns["outcome"].append(outcome)

    def close_out(self) -> None:
        """Record batches still held for a throttle retry when the run ended."""
        for batch in sorted(self._held, key=lambda held: held.receive_s):
            self._record_batch(batch, math.nan, _UNFINISHED)
        self._held.clear()


_POLL = int(InvocationType.POLL)
_OK = int(Status.OK)
_ERROR = int(Status.ERROR)
_QUEUED = int(MessageFate.QUEUED)
_DELIVERED_FATE = int(MessageFate.DELIVERED)
_DEAD_LETTERED = int(MessageFate.DEAD_LETTERED)
_DELIVERED = int(BatchOutcome.DELIVERED)
_FAILED = int(BatchOutcome.FAILED)
_THROTTLED_OUTCOME = int(BatchOutcome.THROTTLED)
_DOWNSTREAM_THROTTLED = int(BatchOutcome.DOWNSTREAM_THROTTLED)
_UNFINISHED = int(BatchOutcome.UNFINISHED)
