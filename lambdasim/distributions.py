"""Distribution specs written in scenario files, and the fast samplers built from them.

Every value here is a time in seconds. A scenario writes times with units (``120ms``,
``2s``, ``10m``); the `Seconds` type converts them at load time with
`lambdasim.units.parse_duration_s`, so nothing downstream sees a unit.

A spec is a frozen pydantic model picked by its ``kind`` key::

    duration: {kind: lognormal, median: 120ms, p99: 1s}
    init_duration: {kind: gamma, mean: 400ms, cv: 0.3}
    think_time: {kind: exponential, mean: 2s}
    duration_from_trace:
      kind: empirical
      percentiles: {0: 5ms, 25: 40ms, 50: 80ms, 75: 150ms, 99: 900ms, 100: 3s}
    keep_alive: 10m      # shorthand for {kind: constant, value: 10m}

Fields typed `DistributionField` accept the shorthand; `DistributionSpec` insists on a
mapping. Each spec offers `mean_s()`, `median_s()` and `sampler()`. A `Sampler` draws
numpy blocks; the model wraps it in a `BlockSampler` to take one value at a time.

All samplers draw through numpy ``Generator`` methods in a way that consumes the
stream draw by draw, so drawing n values in blocks gives the same sequence as one call
for n. Common random numbers across scenarios rely on this.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Annotated, Any, Literal, Self, get_args

import numpy as np
import numpy.typing as npt
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from scipy import special

from lambdasim.units import parse_duration_s

__all__ = [
    "KINDS",
    "BlockSampler",
    "ConstantSpec",
    "DistributionField",
    "DistributionSpec",
    "EmpiricalSpec",
    "ExponentialSpec",
    "GammaSpec",
    "LognormalSpec",
    "NormalSpec",
    "Sampler",
    "Seconds",
    "SpecBase",
    "UniformSpec",
    "WeibullSpec",
    "parse_distribution",
]

FloatArray = npt.NDArray[np.float64]
Draw = Callable[[np.random.Generator, int], FloatArray]

_STANDARD_NORMAL = NormalDist()
_Z_99 = _STANDARD_NORMAL.inv_cdf(0.99)


def _parse_seconds(value: object) -> float:
    """Convert a time written with or without a unit to seconds for pydantic."""
    try:
        return parse_duration_s(value)
    except ValueError as error:
        # Re-raised so pydantic reports it as a value_error carrying this message.
        raise ValueError(str(error)) from None


Seconds = Annotated[float, BeforeValidator(_parse_seconds)]
"""A non-negative time in seconds, written as a number or with a unit (``250ms``)."""

PositiveSeconds = Annotated[Seconds, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Sampler:
    """Draw vectorised blocks of times (seconds) from one distribution.

    Args:
        draw: Function ``(rng, n) -> array`` of ``n`` float64 draws from ``rng``.
        label: Human-readable description used in ``repr`` (and hence in logs).
    """

    __slots__ = ("_draw", "_label")

    def __init__(self, draw: Draw, label: str) -> None:
        self._draw = draw
        self._label = label

    def __repr__(self) -> str:
        return f"Sampler({self._label})"

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        """Return ``n`` independent draws in seconds as a float64 array.

        Raises:
            ValueError: If ``n`` is negative.
        """
        if n < 0:
            raise ValueError(f"cannot draw {n} values; n must be >= 0")
        return self._draw(rng, n)

    def scaled(self, factor: float) -> Sampler:
        """Return a sampler whose every draw is this one's times ``factor``.

        Used, for example, to stretch a CPU-bound duration when memory (and with it
        the CPU share) is lowered. The random stream is consumed exactly as here.

        Raises:
            ValueError: If ``factor`` is negative or not finite.
        """
        if not math.isfinite(factor) or factor < 0:
            raise ValueError(f"scale factor {factor!r} must be finite and >= 0")
        draw = self._draw

        def draw_scaled(rng: np.random.Generator, n: int) -> FloatArray:
            return draw(rng, n) * factor

        return Sampler(draw_scaled, f"{self._label} x {factor:g}")


class BlockSampler:
    """Hand out one draw at a time from blocks drawn by a `Sampler`.

    The simulator asks for single durations in its hot loop; numpy is fast per block
    but slow per scalar call, so draws are made a block at a time and kept as a
    Python list. Blocks start small and double up to ``block``: a run with hundreds
    of rarely invoked functions (each with several samplers) must not hold thousands
    of pre-drawn floats per sampler (4,096 floats as Python objects are 130 KB). The
    sequence equals ``sampler.sample(rng, n)`` for any ``n``.

    Args:
        sampler: Where the draws come from.
        rng: The stream this sampler owns; nothing else should draw from it.
        block: The largest number of values drawn per refill.

    Raises:
        ValueError: If ``block`` is not positive.
    """

    __slots__ = ("_block", "_index", "_next_block", "_rng", "_sampler", "_values")

    _FIRST_BLOCK = 16

    def __init__(
        self, sampler: Sampler, rng: np.random.Generator, block: int = 4096
    ) -> None:
        if block < 1:
            raise ValueError(f"block size {block} must be >= 1")
        self._sampler = sampler
        self._rng = rng
        self._block = block
        self._next_block = min(self._FIRST_BLOCK, block)
        self._values: list[float] = []
        self._index = 0

    def next(self) -> float:
        """Return the next draw in seconds.

        Measured at about 90 ns per call, refills included (timeit, best of 7 x 2M
        calls; block 4096, lognormal; CPython 3.11.7, x86-64; 110-170 ns inside a
        ``for`` loop on a loaded 2-core box). A scalar ``rng.lognormal()`` costs about
        600 ns. The zero-cost ``try`` beats an explicit bounds check by some 40 ns.
        """
        try:
            value = self._values[self._index]
        except IndexError:
            size = self._next_block
            self._next_block = min(2 * size, self._block)
            self._values = self._sampler.sample(self._rng, size).tolist()
            self._index = 0
            value = self._values[0]
        self._index += 1
        return value


def _require_one_pair(kind: str, given: dict[str, float | None], example: str) -> None:
    """Check that exactly one of two alternative parameter pairs is given.

    Args:
        kind: The distribution kind, for the message.
        given: Four parameters in order: the first pair, then the second pair.
        example: A valid example shown in the message.

    Raises:
        ValueError: If anything other than one complete pair is given.
    """
    names = list(given)
    present = [name for name in names if given[name] is not None]
    if present in (names[:2], names[2:]):
        return
    got = ", ".join(present) if present else "none of them"
    raise ValueError(
        f"{kind} needs exactly one pair: {names[0]} and {names[1]}, or {names[2]}"
        f" and {names[3]} (e.g. {example}); got {got}"
    )


class SpecBase(BaseModel):
    """Common interface of every distribution spec: times in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def mean_s(self) -> float:
        """Return the mean in seconds (closed form)."""
        raise NotImplementedError

    def median_s(self) -> float:
        """Return the median in seconds."""
        raise NotImplementedError

    def sampler(self) -> Sampler:
        """Return a vectorised sampler of this distribution."""
        raise NotImplementedError


class ConstantSpec(SpecBase):
    """Always the same time; ``{kind: constant, value: 120ms}`` or just ``120ms``."""

    kind: Literal["constant"] = "constant"
    value: Seconds

    def mean_s(self) -> float:
        """Return the value."""
        return self.value

    def median_s(self) -> float:
        """Return the value."""
        return self.value

    def sampler(self) -> Sampler:
        """Return a sampler that consumes no random numbers."""
        value = self.value

        def draw(rng: np.random.Generator, n: int) -> FloatArray:
            return np.full(n, value, dtype=np.float64)

        return Sampler(draw, f"constant(value={value:g})")


class ExponentialSpec(SpecBase):
    """Exponential times with the given mean: ``{kind: exponential, mean: 2s}``."""

    kind: Literal["exponential"] = "exponential"
    mean: PositiveSeconds

    def mean_s(self) -> float:
        """Return the mean."""
        return self.mean

    def median_s(self) -> float:
        """Return ``mean * ln 2``."""
        return self.mean * math.log(2.0)

    def sampler(self) -> Sampler:
        """Return a sampler using ``Generator.exponential``."""
        mean = self.mean

        def draw(rng: np.random.Generator, n: int) -> FloatArray:
            return rng.exponential(mean, n)

        return Sampler(draw, f"exponential(mean={mean:g})")


class LognormalSpec(SpecBase):
    """Lognormal times, given by median and p99 or by ``mu`` and ``sigma``.

    Give exactly one pair. ``median``/``p99`` are times (``p99 > median``);
    ``mu``/``sigma`` are the mean and standard deviation of ``ln(seconds)``, plain
    numbers without units. Example: ``{kind: lognormal, median: 120ms, p99: 1s}``.
    """

    kind: Literal["lognormal"] = "lognormal"
    median: PositiveSeconds | None = None
    p99: PositiveSeconds | None = None
    mu: Annotated[float, Field(allow_inf_nan=False)] | None = None
    sigma: PositiveFloat | None = None

    @model_validator(mode="after")
    def _check_one_pair(self) -> Self:
        given = {"median": self.median, "p99": self.p99}
        given |= {"mu": self.mu, "sigma": self.sigma}
        _require_one_pair("lognormal", given, "median: 120ms, p99: 1s")
        median, p99 = self.median, self.p99
        if median is not None and p99 is not None and p99 <= median:
            raise ValueError(
                f"lognormal p99 ({p99:g} s) must be greater than median ({median:g} s)"
            )
        return self

    def log_params(self) -> tuple[float, float]:
        """Return ``(mu, sigma)`` of ``ln(seconds)``."""
        if self.mu is not None and self.sigma is not None:
            return self.mu, self.sigma
        median, p99 = float(self.median or 0.0), float(self.p99 or 0.0)
        return math.log(median), math.log(p99 / median) / _Z_99

    def mean_s(self) -> float:
        """Return ``exp(mu + sigma**2 / 2)``."""
        mu, sigma = self.log_params()
        return math.exp(mu + sigma * sigma / 2.0)

    def median_s(self) -> float:
        """Return ``exp(mu)``."""
        return math.exp(self.log_params()[0])

    def sampler(self) -> Sampler:
        """Return a sampler using ``Generator.lognormal``."""
        mu, sigma = self.log_params()

        def draw(rng: np.random.Generator, n: int) -> FloatArray:
            return rng.lognormal(mu, sigma, n)

        return Sampler(draw, f"lognormal(mu={mu:.6g}, sigma={sigma:.6g})")


class GammaSpec(SpecBase):
    """Gamma times, given by ``shape`` and ``scale`` or by ``mean`` and ``cv``.

    Give exactly one pair. ``scale`` and ``mean`` are times; ``shape`` and ``cv``
    (coefficient of variation, std / mean) are plain numbers. ``shape = 1 / cv**2``
    and ``scale = mean * cv**2``. Example: ``{kind: gamma, mean: 400ms, cv: 0.3}``.
    """

    kind: Literal["gamma"] = "gamma"
    shape: PositiveFloat | None = None
    scale: PositiveSeconds | None = None
    mean: PositiveSeconds | None = None
    cv: PositiveFloat | None = None

    @model_validator(mode="after")
    def _check_one_pair(self) -> Self:
        given = {"shape": self.shape, "scale": self.scale}
        given |= {"mean": self.mean, "cv": self.cv}
        _require_one_pair("gamma", given, "mean: 400ms, cv: 0.3")
        return self

    def shape_scale(self) -> tuple[float, float]:
        """Return ``(shape, scale)``, scale in seconds."""
        if self.shape is not None and self.scale is not None:
            return self.shape, self.scale
        mean, cv = float(self.mean or 0.0), float(self.cv or 0.0)
        return 1.0 / (cv * cv), mean * cv * cv

    def mean_s(self) -> float:
        """Return ``shape * scale``."""
        shape, scale = self.shape_scale()
        return shape * scale

    def median_s(self) -> float:
        """Return the median (no closed form; inverse regularised gamma function)."""
        shape, scale = self.shape_scale()
        return float(special.gammaincinv(shape, 0.5)) * scale

    def sampler(self) -> Sampler:
        """Return a sampler using ``Generator.gamma``."""
        shape, scale = self.shape_scale()

        def draw(rng: np.random.Generator, n: int) -> FloatArray:
            return rng.gamma(shape, scale, n)

        return Sampler(draw, f"gamma(shape={shape:.6g}, scale={scale:.6g})")


class WeibullSpec(SpecBase):
    """Weibull times: ``{kind: weibull, shape: 1.5, scale: 300ms}``.

    ``shape`` is a plain number (below 1: heavy tail; 1: exponential), ``scale`` a time.
    """

    kind: Literal["weibull"] = "weibull"
    shape: PositiveFloat
    scale: PositiveSeconds

    def mean_s(self) -> float:
        """Return ``scale * Gamma(1 + 1 / shape)``."""
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)

    def median_s(self) -> float:
        """Return ``scale * ln(2) ** (1 / shape)``."""
        return self.scale * float(math.log(2.0) ** (1.0 / self.shape))

    def sampler(self) -> Sampler:
        """Return a sampler using ``Generator.weibull`` times ``scale``."""
        shape, scale = self.shape, self.scale

        def draw(rng: np.random.Generator, n: int) -> FloatArray:
            return rng.weibull(shape, n) * scale

        return Sampler(draw, f"weibull(shape={shape:g}, scale={scale:g})")


class UniformSpec(SpecBase):
    """Uniform times on ``[low, high)``: ``{kind: uniform, low: 50ms, high: 150ms}``."""

    kind: Literal["uniform"] = "uniform"
    low: Seconds
    high: Seconds

    @model_validator(mode="after")
    def _check_order(self) -> Self:
        if self.low >= self.high:
            raise ValueError(
                f"uniform low ({self.low:g} s) must be less than high ({self.high:g} s)"
            )
        return self

    def mean_s(self) -> float:
        """Return ``(low + high) / 2``."""
        return (self.low + self.high) / 2.0

    def median_s(self) -> float:
        """Return ``(low + high) / 2``."""
        return (self.low + self.high) / 2.0

    def sampler(self) -> Sampler:
        """Return a sampler using ``Generator.uniform``."""
        low, high = self.low, self.high

        def draw(rng: np.random.Generator, n: int) -> FloatArray:
            return rng.uniform(low, high, n)

        return Sampler(draw, f"uniform(low={low:g}, high={high:g})")


class NormalSpec(SpecBase):
    """Normal times truncated at zero: ``{kind: normal, mean: 200ms, std: 50ms}``.

    ``mean`` and ``std`` are those of the normal *before* truncation; a time cannot be
    negative, so the law is conditioned on ``X >= 0`` (the law of
    ``scipy.stats.truncnorm`` with ``a = -mean / std``, ``b = inf``). `mean_s` and
    `median_s` return the truncated moments, which exceed ``mean`` when ``std`` is
    not small next to it.

    Draws use the inverse CDF of the truncated law rather than resampling negatives:
    each draw consumes exactly one uniform, which keeps block draws identical to one
    large draw.
    """

    kind: Literal["normal"] = "normal"
    mean: Seconds
    std: PositiveSeconds

    def _mass_above_zero(self) -> float:
        return _STANDARD_NORMAL.cdf(self.mean / self.std)

    def mean_s(self) -> float:
        """Return ``mean + std * pdf(a) / (1 - cdf(a))`` with ``a = -mean / std``."""
        alpha = -self.mean / self.std
        return (
            self.mean + self.std * _STANDARD_NORMAL.pdf(alpha) / self._mass_above_zero()
        )

    def median_s(self) -> float:
        """Return the median of the truncated law."""
        return self.mean - self.std * _STANDARD_NORMAL.inv_cdf(
            0.5 * self._mass_above_zero()
        )

    def sampler(self) -> Sampler:
        """Return an inverse-CDF sampler of the truncated normal."""
        mean, std, mass = self.mean, self.std, self._mass_above_zero()

        def draw(rng: np.random.Generator, n: int) -> FloatArray:
            # 1 - random() lies in (0, 1]: the lower-tail ndtri stays finite and exact,
            # where the upper tail would round to 1.0 and return inf.
            survival = (1.0 - rng.random(n)) * mass
            values: FloatArray = mean - std * special.ndtri(survival)
            return np.maximum(values, 0.0)

        return Sampler(draw, f"normal(mean={mean:g}, std={std:g}, truncated at 0)")


def _strip_percentile_prefix(value: object) -> object:
    """Let percentile keys be written ``p50`` (Azure column style) as well as ``50``."""
    if not isinstance(value, dict):
        return value
    return {
        key[1:] if isinstance(key, str) and key[:1] in ("p", "P") else key: item
        for key, item in value.items()
    }


class EmpiricalSpec(SpecBase):
    """Times given by percentiles, sampled by inverse-CDF linear interpolation.

    ``percentiles`` maps a percentile (0 to 100; keys ``50`` or ``p50``) to a time.
    At least two points; times must not decrease as the percentile grows. Between
    points the quantile function is linear. If 0 or 100 is missing, draws are clamped
    at the lowest or highest given time: an Azure Functions row with p1..p99 puts 1%
    of its mass exactly on p1 and on p99, and never goes beyond them. Example::

        {kind: empirical, percentiles: {0: 5ms, 50: 80ms, 99: 900ms, 100: 3s}}
    """

    kind: Literal["empirical"] = "empirical"
    percentiles: dict[Annotated[float, Field(ge=0, le=100)], Seconds]

    @field_validator("percentiles", mode="before")
    @classmethod
    def _accept_p_keys(cls, value: object) -> object:
        return _strip_percentile_prefix(value)

    @field_validator("percentiles")
    @classmethod
    def _check_points(cls, value: dict[float, float]) -> dict[float, float]:
        if len(value) < 2:
            raise ValueError(
                f"empirical needs at least two percentiles, got {len(value)}"
                " (e.g. {0: 5ms, 50: 80ms, 100: 3s})"
            )
        points = sorted(value.items())
        for (low_p, low_s), (high_p, high_s) in zip(points, points[1:], strict=False):
            if high_s < low_s:
                raise ValueError(
                    "empirical times must not decrease with the percentile:"
                    f" p{high_p:g} is {high_s:g} s but p{low_p:g} is {low_s:g} s"
                )
        return value

    def points(self) -> tuple[FloatArray, FloatArray]:
        """Return ``(probabilities in [0, 1], times in seconds)``, sorted."""
        ordered = sorted(self.percentiles.items())
        probabilities = np.array([p / 100.0 for p, _ in ordered], dtype=np.float64)
        times = np.array([t for _, t in ordered], dtype=np.float64)
        return probabilities, times

    def mean_s(self) -> float:
        """Return the mean of the piecewise-linear quantile function (with clamping)."""
        probabilities, times = self.points()
        inner = np.sum(np.diff(probabilities) * (times[:-1] + times[1:]) / 2.0)
        lower = probabilities[0] * times[0]
        upper = (1.0 - probabilities[-1]) * times[-1]
        return float(lower + inner + upper)

    def median_s(self) -> float:
        """Return the interpolated 50th percentile."""
        probabilities, times = self.points()
        return float(np.interp(0.5, probabilities, times))

    def sampler(self) -> Sampler:
        """Return an inverse-CDF sampler (``np.interp`` of uniforms)."""
        probabilities, times = self.points()

        def draw(rng: np.random.Generator, n: int) -> FloatArray:
            # np.interp clamps outside the given range, which is the documented choice.
            return np.interp(rng.random(n), probabilities, times)

        return Sampler(draw, f"empirical({len(times)} points)")


_AnySpec = (
    ConstantSpec
    | ExponentialSpec
    | LognormalSpec
    | GammaSpec
    | WeibullSpec
    | UniformSpec
    | NormalSpec
    | EmpiricalSpec
)

KINDS: tuple[str, ...] = tuple(
    spec.model_fields["kind"].default for spec in get_args(_AnySpec)
)
"""The allowed values of ``kind``, in the order error messages list them."""


def _check_kind(value: Any) -> Any:
    """Reject a missing or unknown ``kind`` with a message listing the allowed ones."""
    if isinstance(value, SpecBase):
        return value
    if not isinstance(value, dict):
        raise ValueError(
            "expected a distribution mapping such as {kind: exponential, mean: 2s};"
            f" got {type(value).__name__} {value!r}"
        )
    allowed = ", ".join(KINDS)
    if "kind" not in value:
        raise ValueError(f"missing key 'kind'; expected one of: {allowed}")
    kind = value["kind"]
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown distribution kind {kind!r}; expected one of: {allowed}{hint}"
        )
    return value


def _constant_shorthand(value: Any) -> Any:
    """Read a bare time (number or string) as ``{kind: constant, value: ...}``."""
    if isinstance(value, int | float | str):
        return {"kind": "constant", "value": value}
    return value


DistributionSpec = Annotated[
    _AnySpec, Field(discriminator="kind"), BeforeValidator(_check_kind)
]
"""Any distribution spec, written as a mapping with a ``kind`` key."""

DistributionField = Annotated[DistributionSpec, BeforeValidator(_constant_shorthand)]
"""A distribution spec or a bare time (``120ms``, ``600``) meaning a constant."""

_FIELD_ADAPTER: TypeAdapter[_AnySpec] = TypeAdapter(
    DistributionField, config=ConfigDict(title="distribution")
)


def parse_distribution(value: object) -> DistributionSpec:
    """Validate a spec as a scenario file gives it (mapping or bare time).

    Raises:
        pydantic.ValidationError: If the value is not a valid spec; the message says
            what was found and what is allowed.
    """
    return _FIELD_ADAPTER.validate_python(value)
