"""Tests for lambdasim.distributions: parsing, closed forms, sampling, streams."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pydantic
import pytest
import yaml
from scipy import stats

from lambdasim.distributions import (
    KINDS,
    BlockSampler,
    ConstantSpec,
    DistributionField,
    DistributionSpec,
    EmpiricalSpec,
    ExponentialSpec,
    GammaSpec,
    LognormalSpec,
    NormalSpec,
    Sampler,
    UniformSpec,
    WeibullSpec,
    parse_distribution,
)

SEED = 20240601
N_DRAWS = 200_000

# One valid spec per kind, written as a YAML file would give it.
SPEC_PER_KIND: dict[str, dict[str, Any]] = {
    "constant": {"kind": "constant", "value": "250ms"},
    "exponential": {"kind": "exponential", "mean": "2s"},
    "lognormal": {"kind": "lognormal", "median": "120ms", "p99": "1s"},
    "gamma": {"kind": "gamma", "mean": "400ms", "cv": 0.3},
    "weibull": {"kind": "weibull", "shape": 1.5, "scale": "300ms"},
    "uniform": {"kind": "uniform", "low": "50ms", "high": "150ms"},
    "normal": {"kind": "normal", "mean": "100ms", "std": "80ms"},
    "empirical": {
        "kind": "empirical",
        "percentiles": {0: "5ms", 25: "40ms", 50: "80ms", 75: "150ms", 100: "1s"},
    },
}


def draw(spec: dict[str, Any], n: int = N_DRAWS, seed: int = SEED) -> np.ndarray:
    return parse_distribution(spec).sampler().sample(np.random.default_rng(seed), n)


# --- parsing ----------------------------------------------------------------------


def test_spec_per_kind_covers_every_kind() -> None:
    assert set(SPEC_PER_KIND) == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_parse_distribution_each_kind_gives_matching_spec(kind: str) -> None:
    spec = parse_distribution(SPEC_PER_KIND[kind])

    assert spec.kind == kind


def test_parse_distribution_yaml_text_reads_units() -> None:
    text = "duration: {kind: lognormal, median: 120ms, p99: 1s}\n"

    spec = parse_distribution(yaml.safe_load(text)["duration"])

    assert spec == LognormalSpec(median=0.12, p99=1.0)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("120ms", 0.12), (600, 600.0), ("10m", 600.0), (0.5, 0.5), ("0", 0.0)],
)
def test_distribution_field_bare_time_gives_constant(
    written: object, seconds: float
) -> None:
    class Function(pydantic.BaseModel):
        keep_alive: DistributionField

    function = Function.model_validate({"keep_alive": written})

    assert function.keep_alive == ConstantSpec(value=seconds)


def test_distribution_field_mapping_gives_spec() -> None:
    class Function(pydantic.BaseModel):
        duration: DistributionField

    function = Function.model_validate({"duration": SPEC_PER_KIND["gamma"]})

    assert isinstance(function.duration, GammaSpec)


def test_distribution_spec_bare_time_rejected() -> None:
    class Function(pydantic.BaseModel):
        duration: DistributionSpec

    with pytest.raises(
        pydantic.ValidationError, match="expected a distribution mapping"
    ):
        Function.model_validate({"duration": "120ms"})


def test_distribution_spec_model_instance_accepted() -> None:
    class Function(pydantic.BaseModel):
        duration: DistributionSpec

    spec = ExponentialSpec(mean=2.0)

    assert Function(duration=spec).duration == spec


def test_empirical_p_prefixed_keys_read_as_percentiles() -> None:
    spec = parse_distribution(
        {"kind": "empirical", "percentiles": {"p1": "10ms", "p50": "80ms", "p99": "1s"}}
    )

    assert isinstance(spec, EmpiricalSpec)
    assert spec.percentiles == {1.0: 0.01, 50.0: 0.08, 99.0: 1.0}


def test_spec_assignment_frozen_raises() -> None:
    spec = ExponentialSpec(mean=2.0)

    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.mean = 3.0  # type: ignore[misc]


# --- bad input ----------------------------------------------------------------------

BAD_INPUT = [
    pytest.param(
        {"kind": "lognorm", "median": 1},
        r"unknown distribution kind 'lognorm'; expected one of: constant, "
        r"exponential, lognormal, gamma, weibull, uniform, normal, empirical "
        r"\(did you mean 'lognormal'\?\)",
        id="unknown-kind",
    ),
    pytest.param(
        {"mean": "2s"}, "missing key 'kind'; expected one of: constant", id="no-kind"
    ),
    pytest.param(
        {"kind": "lognormal", "p99": "1s"},
        r"lognormal needs exactly one pair: median and p99, or mu and sigma "
        r"\(e.g. median: 120ms, p99: 1s\); got p99",
        id="missing-median",
    ),
    pytest.param(
        {"kind": "lognormal", "median": "1s", "p99": 2, "mu": 0.0, "sigma": 1.0},
        "exactly one pair.*got median, p99, mu, sigma",
        id="both-lognormal-pairs",
    ),
    pytest.param(
        {"kind": "lognormal", "median": "1s", "p99": "100ms"},
        r"lognormal p99 \(0.1 s\) must be greater than median \(1 s\)",
        id="p99-below-median",
    ),
    pytest.param(
        {"kind": "exponential", "mean": "-2s"},
        "'-2s' is negative; expected a time >= 0",
        id="negative-time",
    ),
    pytest.param(
        {"kind": "constant", "value": -1},
        "-1 is negative; expected a time >= 0",
        id="negative-number",
    ),
    pytest.param(
        "5 parsecs",
        "'5 parsecs' has unknown unit 'parsecs'; expected a number of seconds",
        id="unknown-unit",
    ),
    pytest.param(
        {"kind": "empirical", "percentiles": {0: "100ms", 50: "50ms", 100: "1s"}},
        "empirical times must not decrease with the percentile: "
        "p50 is 0.05 s but p0 is 0.1 s",
        id="non-monotonic-empirical",
    ),
    pytest.param(
        {"kind": "empirical", "percentiles": {50: "50ms"}},
        "empirical needs at least two percentiles, got 1",
        id="one-point-empirical",
    ),
    pytest.param(
        {"kind": "empirical", "percentiles": {50: "50ms", 101: "1s"}},
        "less than or equal to 100",
        id="percentile-above-100",
    ),
    pytest.param(
        {"kind": "gamma", "mean": "1s"},
        "gamma needs exactly one pair: shape and scale, or mean and cv.*got mean",
        id="gamma-half-pair",
    ),
    pytest.param(
        {"kind": "uniform", "low": "2s", "high": "1s"},
        r"uniform low \(2 s\) must be less than high \(1 s\)",
        id="uniform-reversed",
    ),
    pytest.param(
        {"kind": "exponential", "mean": 0},
        "greater than 0",
        id="zero-mean",
    ),
    pytest.param(
        {"kind": "weibull", "shape": 1.5, "scale": "1s", "mean": "1s"},
        "Extra inputs are not permitted",
        id="unknown-key",
    ),
    pytest.param(
        [1, 2], "expected a distribution mapping.*got list", id="not-a-mapping"
    ),
]


@pytest.mark.parametrize(("value", "message"), BAD_INPUT)
def test_parse_distribution_bad_input_raises_with_message(
    value: object, message: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        parse_distribution(value)


# --- closed forms and sample statistics ---------------------------------------------


def test_constant_sampler_returns_value_without_consuming_stream() -> None:
    rng = np.random.default_rng(SEED)
    sampler = parse_distribution("250ms").sampler()

    values = sampler.sample(rng, 10)

    assert values.tolist() == [0.25] * 10
    assert rng.random() == np.random.default_rng(SEED).random()


def test_exponential_mean_closed_form_and_sample_agree() -> None:
    spec = parse_distribution(SPEC_PER_KIND["exponential"])
    values = draw(SPEC_PER_KIND["exponential"])

    assert spec.mean_s() == 2.0
    assert spec.median_s() == pytest.approx(2.0 * math.log(2.0), rel=1e-12)
    # Standard error of the mean is 2 s / sqrt(200k) = 0.22%; 1% is > 4 SE.
    assert values.mean() == pytest.approx(2.0, rel=0.01)


def test_lognormal_median_p99_closed_form_matches_independent_sigma() -> None:
    spec = parse_distribution(SPEC_PER_KIND["lognormal"])
    sigma = math.log(1.0 / 0.12) / stats.norm.ppf(0.99)

    assert spec.median_s() == pytest.approx(0.12, rel=1e-12)
    assert spec.mean_s() == pytest.approx(0.12 * math.exp(sigma**2 / 2), rel=1e-9)


def test_lognormal_median_p99_sample_quantiles_within_2_percent() -> None:
    values = draw(SPEC_PER_KIND["lognormal"])

    median, p99 = np.quantile(values, [0.5, 0.99])

    assert median == pytest.approx(0.12, rel=0.02)
    assert p99 == pytest.approx(1.0, rel=0.02)


def test_lognormal_mu_sigma_matches_closed_form_and_sample() -> None:
    written = {"kind": "lognormal", "mu": -1.0, "sigma": 0.5}
    spec = parse_distribution(written)
    values = draw(written)

    assert spec.median_s() == pytest.approx(math.exp(-1.0), rel=1e-12)
    assert spec.mean_s() == pytest.approx(math.exp(-1.0 + 0.125), rel=1e-12)
    assert values.mean() == pytest.approx(math.exp(-0.875), rel=0.01)


def test_gamma_shape_scale_mean_is_shape_times_scale() -> None:
    written = {"kind": "gamma", "shape": 2.5, "scale": "200ms"}
    spec = parse_distribution(written)
    values = draw(written)

    assert spec.mean_s() == pytest.approx(0.5, rel=1e-12)
    assert spec.median_s() == pytest.approx(stats.gamma(2.5, scale=0.2).median())
    assert values.mean() == pytest.approx(0.5, rel=0.01)


def test_gamma_mean_cv_converts_to_shape_and_scale() -> None:
    spec = parse_distribution(SPEC_PER_KIND["gamma"])
    values = draw(SPEC_PER_KIND["gamma"])

    assert isinstance(spec, GammaSpec)
    assert spec.shape_scale() == pytest.approx((1 / 0.09, 0.4 * 0.09))
    assert spec.mean_s() == pytest.approx(0.4, rel=1e-12)
    assert values.mean() == pytest.approx(0.4, rel=0.01)
    assert values.std() / values.mean() == pytest.approx(0.3, rel=0.02)


def test_weibull_mean_is_scale_times_gamma_function() -> None:
    spec = parse_distribution(SPEC_PER_KIND["weibull"])
    values = draw(SPEC_PER_KIND["weibull"])
    reference = stats.weibull_min(1.5, scale=0.3)

    assert spec.mean_s() == pytest.approx(0.3 * math.gamma(1 + 1 / 1.5), rel=1e-12)
    assert spec.median_s() == pytest.approx(reference.median(), rel=1e-12)
    assert values.mean() == pytest.approx(reference.mean(), rel=0.01)


def test_uniform_draws_stay_in_bounds_with_midpoint_mean() -> None:
    spec = parse_distribution(SPEC_PER_KIND["uniform"])
    values = draw(SPEC_PER_KIND["uniform"])

    assert spec.mean_s() == pytest.approx(0.1)
    assert spec.median_s() == pytest.approx(0.1)
    assert values.min() >= 0.05
    assert values.max() < 0.15
    assert values.mean() == pytest.approx(0.1, rel=0.01)


def test_normal_truncated_moments_match_scipy_truncnorm() -> None:
    spec = parse_distribution(SPEC_PER_KIND["normal"])
    values = draw(SPEC_PER_KIND["normal"])
    reference = stats.truncnorm(-0.1 / 0.08, np.inf, loc=0.1, scale=0.08)

    assert spec.mean_s() == pytest.approx(reference.mean(), rel=1e-9)
    assert spec.median_s() == pytest.approx(reference.median(), rel=1e-9)
    assert spec.mean_s() > 0.1
    assert values.min() >= 0.0
    assert values.mean() == pytest.approx(reference.mean(), rel=0.01)
    assert np.median(values) == pytest.approx(reference.median(), rel=0.01)


def test_normal_far_from_zero_mean_is_untruncated() -> None:
    spec = NormalSpec(mean=1.0, std=0.01)

    assert spec.mean_s() == pytest.approx(1.0, rel=1e-12)
    assert spec.median_s() == pytest.approx(1.0, rel=1e-12)


def test_empirical_sample_quantiles_match_given_percentiles() -> None:
    written = SPEC_PER_KIND["empirical"]
    values = draw(written)
    given = {0.25: 0.04, 0.5: 0.08, 0.75: 0.15}

    quantiles = np.quantile(values, list(given))

    assert quantiles == pytest.approx(list(given.values()), rel=0.02)
    assert values.min() >= 0.005
    assert values.max() <= 1.0


def test_empirical_missing_extremes_clamps_draws() -> None:
    written = {"kind": "empirical", "percentiles": {"p1": "10ms", "p99": "1s"}}
    values = draw(written)

    assert values.min() == 0.01
    assert values.max() == 1.0
    # 1% of the mass sits exactly on each extreme.
    assert np.mean(values == 0.01) == pytest.approx(0.01, abs=0.001)
    assert np.mean(values == 1.0) == pytest.approx(0.01, abs=0.001)


def test_empirical_mean_and_median_match_hand_computation() -> None:
    # Quantile function: 0 -> 1 s on [0, 0.5], then 1 -> 3 s on [0.5, 1].
    spec = EmpiricalSpec(percentiles={0: 0.0, 50: 1.0, 100: 3.0})
    values = spec.sampler().sample(np.random.default_rng(SEED), N_DRAWS)

    assert spec.mean_s() == pytest.approx(0.5 * 0.5 + 0.5 * 2.0)
    assert spec.median_s() == pytest.approx(1.0)
    assert values.mean() == pytest.approx(1.25, rel=0.01)


def test_empirical_clamped_mean_counts_extreme_mass() -> None:
    spec = EmpiricalSpec(percentiles={10: 1.0, 90: 2.0})

    assert spec.mean_s() == pytest.approx(0.1 * 1.0 + 0.8 * 1.5 + 0.1 * 2.0)


@pytest.mark.parametrize("kind", KINDS)
def test_sampler_sample_mean_matches_mean_s(kind: str) -> None:
    spec = parse_distribution(SPEC_PER_KIND[kind])

    values = draw(SPEC_PER_KIND[kind])

    assert values.dtype == np.float64
    assert values.shape == (N_DRAWS,)
    assert values.mean() == pytest.approx(spec.mean_s(), rel=0.015)


# --- streams and reproducibility ----------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sampler_same_seed_same_draws(kind: str) -> None:
    first = draw(SPEC_PER_KIND[kind], n=1000, seed=7)
    second = draw(SPEC_PER_KIND[kind], n=1000, seed=7)

    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind != "constant"])
def test_sampler_other_seed_other_draws(kind: str) -> None:
    first = draw(SPEC_PER_KIND[kind], n=1000, seed=7)
    second = draw(SPEC_PER_KIND[kind], n=1000, seed=8)

    assert not np.array_equal(first, second)


@pytest.mark.parametrize("kind", KINDS)
def test_block_sampler_sequence_equals_one_big_sample(kind: str) -> None:
    sampler = parse_distribution(SPEC_PER_KIND[kind]).sampler()
    blocks = BlockSampler(sampler, np.random.default_rng(SEED), block=1000)

    one_at_a_time = [blocks.next() for _ in range(2500)]
    expected = sampler.sample(np.random.default_rng(SEED), 2500)

    assert one_at_a_time == expected.tolist()


def test_block_sampler_returns_python_floats() -> None:
    sampler = parse_distribution(SPEC_PER_KIND["exponential"]).sampler()
    blocks = BlockSampler(sampler, np.random.default_rng(SEED))

    assert type(blocks.next()) is float


def test_block_sampler_zero_block_raises() -> None:
    sampler = ExponentialSpec(mean=1.0).sampler()

    with pytest.raises(ValueError, match="block size 0 must be >= 1"):
        BlockSampler(sampler, np.random.default_rng(SEED), block=0)


def test_sampler_scaled_multiplies_every_draw() -> None:
    sampler = parse_distribution(SPEC_PER_KIND["lognormal"]).sampler()

    plain = sampler.sample(np.random.default_rng(SEED), 1000)
    doubled = sampler.scaled(2.0).sample(np.random.default_rng(SEED), 1000)

    np.testing.assert_allclose(doubled, plain * 2.0, rtol=0, atol=0)


def test_sampler_scaled_twice_composes() -> None:
    sampler = UniformSpec(low=1.0, high=2.0).sampler()

    plain = sampler.sample(np.random.default_rng(SEED), 100)
    scaled = sampler.scaled(2.0).scaled(0.25).sample(np.random.default_rng(SEED), 100)

    np.testing.assert_allclose(scaled, plain * 0.5)


@pytest.mark.parametrize("factor", [-1.0, math.inf, math.nan])
def test_sampler_scaled_bad_factor_raises(factor: float) -> None:
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        ExponentialSpec(mean=1.0).sampler().scaled(factor)


def test_sampler_negative_count_raises() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        ConstantSpec(value=1.0).sampler().sample(np.random.default_rng(SEED), -1)


def test_sampler_repr_names_parameters_without_address() -> None:
    sampler = WeibullSpec(shape=1.5, scale=0.3).sampler().scaled(2.0)

    assert repr(sampler) == "Sampler(weibull(shape=1.5, scale=0.3) x 2)"


def test_sampler_is_not_a_pydantic_model() -> None:
    sampler = ConstantSpec(value=1.0).sampler()

    assert isinstance(sampler, Sampler)
    assert not isinstance(sampler, pydantic.BaseModel)
