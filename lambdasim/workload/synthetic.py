"""Synthetic arrival processes: Poisson, piecewise rates, daily sine and bursts.

Every source draws its random numbers only from the `rng` passed to `chunks`, in a
fixed order, so one seed gives one arrival sequence. Arrivals are generated with numpy
in blocks of `CHUNK_ROWS`; no Python object is made per arrival.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from lambdasim.errors import ScenarioError
from lambdasim.workload._blocks import (
    FloatArray,
    check_function_index,
    check_horizon,
    check_non_negative,
    single_function_chunks,
)
from lambdasim.workload.base import CHUNK_ROWS, ArrivalChunk, InvocationType

__all__ = [
    "BurstSource",
    "PiecewiseRateSource",
    "PoissonSource",
    "RateShape",
    "SineRateSource",
]


def _poisson_times(
    rate_per_s: float, start_s: float, end_s: float, rng: np.random.Generator
) -> Iterator[FloatArray]:
    """Yield sorted arrival times of a homogeneous Poisson process on [start_s, end_s).

    Each block holds `CHUNK_ROWS` exponential gaps (the last block fewer), so the
    process is exact and memory stays at one block whatever the horizon.
    """
    if rate_per_s <= 0 or start_s >= end_s:
        return
    mean_gap_s = 1.0 / rate_per_s
    last_s = start_s
    while True:
        times_s = last_s + np.cumsum(rng.exponential(mean_gap_s, CHUNK_ROWS))
        if times_s[-1] >= end_s:
            yield times_s[: int(np.searchsorted(times_s, end_s, side="left"))]
            return
        yield times_s
        last_s = float(times_s[-1])


class PoissonSource:
    """Homogeneous Poisson arrivals to one function.

    Args:
        function_index: Target function of every arrival.
        rate_per_s: Mean arrival rate (requests per second), >= 0.
        start_s: No arrival before this time (seconds from the start of the run).
        invocation_type: How every arrival is invoked.

    Raises:
        ScenarioError: If a parameter is out of range.
    """

    def __init__(
        self,
        function_index: int,
        rate_per_s: float,
        start_s: float = 0.0,
        invocation_type: InvocationType = InvocationType.SYNC,
    ) -> None:
        check_function_index("PoissonSource", function_index)
        self.function_index = function_index
        self.rate_per_s = check_non_negative("PoissonSource", "rate_per_s", rate_per_s)
        self.start_s = check_non_negative("PoissonSource", "start_s", start_s)
        self.invocation_type = InvocationType(invocation_type)

    def chunks(
        self, horizon_s: float, rng: np.random.Generator
    ) -> Iterator[ArrivalChunk]:
        """Yield arrivals in [start_s, horizon_s), in time order."""
        horizon = check_horizon(horizon_s)
        for times_s in _poisson_times(self.rate_per_s, self.start_s, horizon, rng):
            yield from single_function_chunks(
                times_s, self.function_index, self.invocation_type
            )


class RateShape(enum.Enum):
    """How a piecewise rate moves between its points."""

    STEP = "step"
    LINEAR = "linear"


class PiecewiseRateSource:
    """Non-homogeneous Poisson arrivals whose rate follows a list of points.

    With `shape="step"` the rate is `rate_i` on [time_i, time_{i+1}); with
    `shape="linear"` it ramps linearly from `rate_i` to `rate_{i+1}`. After the last
    point the rate holds the last value. The first point must be at time 0 so the rate
    is defined everywhere; put `(0, 0)` first for a silent start.

    Generation is exact: unit-rate Poisson points in cumulative-rate space
    Lambda(t) = integral of the rate from 0 to t are mapped back through the inverse of
    Lambda, which is linear (steps) or the root of a quadratic (ramps) per segment.

    Args:
        function_index: Target function of every arrival.
        points: `(time_s, rate_per_s)` pairs, times strictly increasing from 0,
            rates >= 0.
        shape: `"step"` or `"linear"` (or a `RateShape`).
        invocation_type: How every arrival is invoked.

    Raises:
        ScenarioError: If the points or shape are invalid; lists every problem.
    """

    def __init__(
        self,
        function_index: int,
        points: Sequence[tuple[float, float]],
        shape: RateShape | str = RateShape.STEP,
        invocation_type: InvocationType = InvocationType.SYNC,
    ) -> None:
        check_function_index("PiecewiseRateSource", function_index)
        self.function_index = function_index
        self.shape = _parse_shape(shape)
        self.invocation_type = InvocationType(invocation_type)
        self.points = _check_points(points)
        times_s = np.array([time for time, _ in self.points], dtype=np.float64)
        rates_per_s = np.array([rate for _, rate in self.points], dtype=np.float64)
        self._break_s = times_s
        self._rate_per_s = rates_per_s
        slopes = np.zeros_like(rates_per_s)
        if self.shape is RateShape.LINEAR:
            slopes[:-1] = np.diff(rates_per_s) / np.diff(times_s)
        self._slope_per_s2 = slopes
        widths_s = np.diff(times_s)
        masses = rates_per_s[:-1] * widths_s + 0.5 * slopes[:-1] * widths_s**2
        self._cumulative = np.concatenate(([0.0], np.cumsum(masses)))

    def rate_per_s(self, time_s: FloatArray) -> FloatArray:
        """Return the rate (requests per second) at each time in `time_s`."""
        segment = self._segment_of_time(time_s)
        offset_s = time_s - self._break_s[segment]
        return np.asarray(
            self._rate_per_s[segment] + self._slope_per_s2[segment] * offset_s,
            dtype=np.float64,
        )

    def expected_count(self, end_s: float) -> float:
        """Return the integral of the rate over [0, end_s): the mean arrival count."""
        return float(self._cumulative_at(np.array([float(end_s)]))[0])

    def chunks(
        self, horizon_s: float, rng: np.random.Generator
    ) -> Iterator[ArrivalChunk]:
        """Yield arrivals in [0, horizon_s), in time order."""
        horizon = check_horizon(horizon_s)
        total = self.expected_count(horizon) if horizon > 0 else 0.0
        for unit_times in _poisson_times(1.0, 0.0, total, rng):
            times_s = np.maximum.accumulate(self._invert(unit_times))
            times_s = times_s[times_s < horizon]
            yield from single_function_chunks(
                times_s, self.function_index, self.invocation_type
            )

    def _segment_of_time(self, time_s: FloatArray) -> npt.NDArray[np.intp]:
        segment = np.searchsorted(self._break_s, time_s, side="right") - 1
        return np.clip(segment, 0, None)

    def _cumulative_at(self, time_s: FloatArray) -> FloatArray:
        segment = self._segment_of_time(time_s)
        offset_s = time_s - self._break_s[segment]
        mass = (
            self._rate_per_s[segment] * offset_s
            + 0.5 * self._slope_per_s2[segment] * offset_s**2
        )
        return np.asarray(self._cumulative[segment] + mass, dtype=np.float64)

    def _invert(self, cumulative: FloatArray) -> FloatArray:
        # side="right" skips segments of zero mass: a point never lands where the
        # rate is zero, which also keeps the divisions below away from 0/0.
        segment = np.searchsorted(self._cumulative, cumulative, side="right") - 1
        excess = cumulative - self._cumulative[segment]
        rate = self._rate_per_s[segment]
        slope = self._slope_per_s2[segment]
        # Root of rate*x + slope*x**2/2 = excess in the cancellation-free form, which
        # also covers slope == 0 (a step) without a special case.
        # At the end of a ramp down to zero the discriminant is 0 and rounding can
        # make it slightly negative: clamp it, or the root would be NaN.
        discriminant = np.maximum(rate * rate + 2.0 * slope * excess, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            offset_s = 2.0 * excess / (rate + np.sqrt(discriminant))
        widths_s = np.append(np.diff(self._break_s), np.inf)
        offset_s = np.minimum(np.nan_to_num(offset_s), widths_s[segment])
        return np.asarray(self._break_s[segment] + offset_s, dtype=np.float64)


def _parse_shape(shape: RateShape | str) -> RateShape:
    try:
        return RateShape(shape)
    except ValueError:
        raise ScenarioError(
            f"PiecewiseRateSource: shape is {shape!r}; expected 'step' or 'linear'"
        ) from None


def _check_points(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    owner = "PiecewiseRateSource"
    if len(points) == 0:
        raise ScenarioError(f"{owner}: points is empty; expected at least (0, rate)")
    problems: list[str] = []
    checked: list[tuple[float, float]] = []
    for position, point in enumerate(points):
        try:
            time_s, rate_per_s = float(point[0]), float(point[1])
        except (TypeError, ValueError, IndexError):
            problems.append(
                f"{owner}: points[{position}] is {point!r}; "
                "expected a (time_s, rate_per_s) pair of numbers"
            )
            continue
        if not (math.isfinite(rate_per_s) and rate_per_s >= 0):
            problems.append(
                f"{owner}: points[{position}] rate is {point[1]!r}; expected >= 0"
            )
        if not math.isfinite(time_s) or (checked and time_s <= checked[-1][0]):
            problems.append(
                f"{owner}: points[{position}] time is {point[0]!r}; expected a "
                "finite time after the previous point's"
            )
        checked.append((time_s, rate_per_s))
    if checked and checked[0][0] != 0:
        problems.append(
            f"{owner}: points[0] time is {points[0][0]!r}; expected 0 "
            "(hint: add (0, 0) first for a silent start)"
        )
    if problems:
        raise ScenarioError(problems)
    return checked


class SineRateSource:
    """Poisson arrivals whose rate follows a sine wave, e.g. a daily cycle.

    The rate is ``max(0, mean_rate_per_s + amplitude_per_s * sin(2*pi*(t - phase_s)
    / period_s))``: it crosses the mean going up at ``t = phase_s`` and peaks a quarter
    period later. When the amplitude exceeds the mean the rate is clipped at zero, so
    the realised mean rate is then above `mean_rate_per_s`. Arrivals are generated by
    thinning a Poisson process at the peak rate, in numpy blocks.

    Args:
        function_index: Target function of every arrival.
        mean_rate_per_s: Mean of the (unclipped) rate, >= 0.
        amplitude_per_s: Amplitude of the sine, requests per second.
        period_s: Period of the cycle, > 0 (default one day).
        phase_s: Shift of the cycle in seconds.
        invocation_type: How every arrival is invoked.

    Raises:
        ScenarioError: If a parameter is out of range.
    """

    def __init__(
        self,
        function_index: int,
        mean_rate_per_s: float,
        amplitude_per_s: float,
        period_s: float = 86_400.0,
        phase_s: float = 0.0,
        invocation_type: InvocationType = InvocationType.SYNC,
    ) -> None:
        owner = "SineRateSource"
        check_function_index(owner, function_index)
        self.function_index = function_index
        self.mean_rate_per_s = check_non_negative(
            owner, "mean_rate_per_s", mean_rate_per_s
        )
        self.amplitude_per_s = float(amplitude_per_s)
        if not math.isfinite(self.amplitude_per_s):
            raise ScenarioError(
                f"{owner}: amplitude_per_s is {amplitude_per_s!r}; expected a number"
            )
        self.period_s = check_non_negative(owner, "period_s", period_s)
        if self.period_s == 0:
            raise ScenarioError(f"{owner}: period_s is 0; expected a time > 0")
        self.phase_s = float(phase_s)
        self.invocation_type = InvocationType(invocation_type)

    def rate_per_s(self, time_s: FloatArray) -> FloatArray:
        """Return the (clipped) rate in requests per second at each time."""
        angle = 2.0 * np.pi * (time_s - self.phase_s) / self.period_s
        rate = self.mean_rate_per_s + self.amplitude_per_s * np.sin(angle)
        return np.asarray(np.maximum(rate, 0.0), dtype=np.float64)

    def chunks(
        self, horizon_s: float, rng: np.random.Generator
    ) -> Iterator[ArrivalChunk]:
        """Yield arrivals in [0, horizon_s), in time order."""
        horizon = check_horizon(horizon_s)
        peak_per_s = self.mean_rate_per_s + abs(self.amplitude_per_s)
        for candidates_s in _poisson_times(peak_per_s, 0.0, horizon, rng):
            keep = rng.random(candidates_s.shape[0]) * peak_per_s < self.rate_per_s(
                candidates_s
            )
            yield from single_function_chunks(
                candidates_s[keep], self.function_index, self.invocation_type
            )


class BurstSource:
    """A burst of `count` requests at one instant or spread over a window.

    Args:
        function_index: Target function of every arrival.
        at_s: Time of the burst (seconds from the start of the run).
        count: Number of requests, >= 0.
        window_s: 0 puts every request at `at_s`; otherwise the requests are
            independent and uniform on [at_s, at_s + window_s).
        invocation_type: How every arrival is invoked.

    Raises:
        ScenarioError: If a parameter is out of range.
    """

    def __init__(
        self,
        function_index: int,
        at_s: float,
        count: int,
        window_s: float = 0.0,
        invocation_type: InvocationType = InvocationType.SYNC,
    ) -> None:
        owner = "BurstSource"
        check_function_index(owner, function_index)
        self.function_index = function_index
        self.at_s = check_non_negative(owner, "at_s", at_s)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ScenarioError(
                f"{owner}: count is {count!r}; expected a non-negative integer"
            )
        self.count = count
        self.window_s = check_non_negative(owner, "window_s", window_s)
        self.invocation_type = InvocationType(invocation_type)

    def chunks(
        self, horizon_s: float, rng: np.random.Generator
    ) -> Iterator[ArrivalChunk]:
        """Yield the burst's arrivals that fall in [0, horizon_s), in time order."""
        horizon = check_horizon(horizon_s)
        for times_s in self._times(rng):
            times_s = times_s[times_s < horizon]
            yield from single_function_chunks(
                times_s, self.function_index, self.invocation_type
            )

    def _times(self, rng: np.random.Generator) -> Iterator[FloatArray]:
        if self.window_s == 0:
            for start in range(0, self.count, CHUNK_ROWS):
                rows = min(CHUNK_ROWS, self.count - start)
                yield np.full(rows, self.at_s, dtype=np.float64)
            return
        # Equal sub-windows with multinomial counts give exactly the law of `count`
        # iid uniforms, sorted block by block without holding all of them at once.
        blocks = max(1, math.ceil(self.count / CHUNK_ROWS))
        per_block = rng.multinomial(self.count, np.full(blocks, 1.0 / blocks))
        block_s = self.window_s / blocks
        # Rounding must not put a request on the excluded end of the window.
        last_s = np.nextafter(self.at_s + self.window_s, -np.inf)
        for block, rows in enumerate(per_block):
            start_s = self.at_s + block * block_s
            offsets_s = np.sort(rng.random(int(rows))) * block_s
            yield np.minimum(start_s + offsets_s, last_s)
