"""Analytic checks: closed forms the model must reproduce.

With scale-up and keep-alive out of the way, Lambda with a concurrency limit c and
Poisson arrivals is an M/G/c/c loss system: the throttled fraction is Erlang's B
formula, whatever the duration distribution (insensitivity). Without a limit, mean
concurrency obeys Little's law, L = lambda * E[S].
"""

from __future__ import annotations

import numpy as np
import pytest

from lambdasim.distributions import ExponentialSpec, LognormalSpec
from lambdasim.model import AccountConfig, ScaleUpRule
from lambdasim.report.summary import summarise
from lambdasim.results import Status
from lambdasim.workload.synthetic import PoissonSource
from tests.conftest import arrivals, function, run_model


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/G/c/c by the standard recursion."""
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def _summary(records):
    return summarise(records, scenario="t", seed=1, scenario_sha256="", version="")


def _poisson(rate_per_s: float, horizon_s: float, seed: int = 7):
    return PoissonSource(0, rate_per_s).chunks(horizon_s, np.random.default_rng(seed))


def test_erlang_b_recursion_matches_textbook_value():
    # B(10, 8) = 0.12166 (Erlang B tables).
    assert erlang_b(10, 8.0) == pytest.approx(0.12166, abs=1e-5)


@pytest.mark.parametrize(
    "duration",
    [
        ExponentialSpec(mean=1.0),
        # Same mean (exp(mu + sigma^2/2) = 1) and much heavier tail.
        LognormalSpec(mu=-0.5, sigma=1.0),
    ],
    ids=["exponential", "lognormal"],
)
def test_throttle_rate_at_concurrency_limit_matches_erlang_b(duration):
    servers, rate_per_s, horizon_s = 10, 8.0, 20_000.0
    account = AccountConfig(
        concurrency_limit=servers, unreserved_minimum=0, scale_up=None
    )
    fn = function(duration_s=duration.sampler(), keep_alive_s=1e9)
    records = run_model(
        [fn], _poisson(rate_per_s, horizon_s), horizon_s=horizon_s, account=account
    )
    summary = _summary(records)
    # 160,000 arrivals: the estimate's standard error is about 0.002 (with the
    # autocorrelation of a loss system); 0.01 absolute is about 8 % of B.
    assert summary["total"]["throttle_rate"] == pytest.approx(
        erlang_b(servers, rate_per_s * 1.0), abs=0.01
    )


def test_mean_concurrency_without_limit_obeys_littles_law():
    rate_per_s, mean_s, horizon_s = 50.0, 0.2, 4_000.0
    account = AccountConfig(concurrency_limit=100_000, scale_up=None)
    fn = function(duration_s=ExponentialSpec(mean=mean_s).sampler(), keep_alive_s=1e9)
    records = run_model(
        [fn], _poisson(rate_per_s, horizon_s), horizon_s=horizon_s, account=account
    )
    summary = _summary(records)
    assert summary["total"]["throttles"] == 0
    # L = 50/s x 0.2 s = 10; 200,000 arrivals put the estimate within about 1 %.
    assert summary["total"]["mean_concurrency"] == pytest.approx(10.0, rel=0.03)


def test_keep_alive_zero_makes_every_invocation_cold():
    fn = function(duration_s=0.05, init_s=0.1, keep_alive_s=0.0)
    records = run_model(
        [fn],
        _poisson(20.0, 500.0),
        horizon_s=500.0,
        account=AccountConfig(concurrency_limit=100_000, scale_up=None),
    )
    summary = _summary(records)
    assert summary["total"]["invocations"] > 9_000
    assert summary["total"]["cold_starts"] == summary["total"]["invocations"]
    assert summary["total"]["instances_created"] == summary["total"]["invocations"]


def test_scale_up_rule_serves_1000_new_instances_per_10_s():
    # 2,000 req/s of 10-minute requests: demand outruns the rule from t ~ 0.5 s, so
    # served(t) = 1,000 (the initial budget) + 100/s * t, within one token.
    account = AccountConfig(concurrency_limit=10_000, scale_up=ScaleUpRule())
    fn = function(duration_s=600.0)
    horizon_s = 60.0
    times = np.arange(0.0, horizon_s, 1 / 2000.0)
    from tests.conftest import arrivals

    records = run_model([fn], arrivals(times), horizon_s=horizon_s, account=account)
    inv = records.invocations
    served_arrivals = inv["arrival_s"][inv["status"] == 0]
    for t in (10.0, 20.0, 30.0, 40.0, 50.0):
        served = np.count_nonzero(served_arrivals <= t)
        assert served == pytest.approx(1000 + 100 * t, abs=2), t
    # The rest are throttled for the scale-up rate, never for concurrency.
    assert set(inv["throttle_reason"][inv["status"] == 1]) == {3}


def test_step_of_5000_reaches_5000_instances_within_one_refill_step_of_40_s():
    # cases.md A1: 0 -> 5,000 demand (long requests, account limit 10,000).
    account = AccountConfig(concurrency_limit=10_000, scale_up=ScaleUpRule())
    fn = function(duration_s=900.0, timeout_s=900.0)
    times = np.arange(0.0, 120.0, 1 / 1000.0)
    from tests.conftest import arrivals

    records = run_model([fn], arrivals(times), horizon_s=120.0, account=account)
    created = np.sort(records.instances["created_s"])
    assert created.size > 5000
    # The 5,000th instance appears at (5000 - 1000) / 100 = 40 s (+- one token).
    assert created[4999] == pytest.approx(40.0, abs=0.02)
    assert created[999] == pytest.approx(1.0, abs=0.01)  # demand-bound: 1000/s


def test_error_and_crash_probabilities_give_their_share_of_errors():
    # 10 % errors + 5 % crashes over ~20,000 calls: 15 % errors, within 4 standard
    # deviations of a binomial proportion (4 * sqrt(0.15 * 0.85 / 20000) = 0.01).
    from dataclasses import replace

    fn = replace(
        function(duration_s=0.05, keep_alive_s=1e6),
        error_probability=0.10,
        crash_probability=0.05,
    )
    records = run_model(
        [fn],
        _poisson(20.0, 1000.0),
        horizon_s=1000.0,
        account=AccountConfig(concurrency_limit=1000, scale_up=None),
    )
    summary = _summary(records)["total"]
    share = summary["errors"] / summary["invocations"]
    assert summary["invocations"] > 19_000
    assert share == pytest.approx(0.15, abs=0.01)
    # Crashes reset instances: about 5 % of calls find their instance cold again.
    assert summary["cold_starts"] / summary["invocations"] == pytest.approx(
        0.05, abs=0.01
    )


def test_error_striking_before_the_timeout_ends_the_invocation_as_an_error():
    # Handler 5 s against a 3 s timeout, error probability 1 at a uniform point of
    # the handler: the error strikes before 3 s with probability 3/5, else the
    # timeout comes first. 4 sd of a proportion over 4,000 calls: 4 * sqrt(0.24 /
    # 4000) = 0.031.
    from dataclasses import replace

    fn = replace(
        function(duration_s=5.0, timeout_s=3.0, keep_alive_s=1e6),
        error_probability=1.0,
    )
    records = run_model(
        [fn],
        arrivals(np.arange(4000) * 10.0),
        horizon_s=40_000.0,
        account=AccountConfig(concurrency_limit=1000, scale_up=None),
    )
    status = records.invocations["status"]
    errors = float(np.mean(status == Status.ERROR))
    assert errors == pytest.approx(0.6, abs=0.031)
    assert np.all((status == Status.ERROR) | (status == Status.TIMEOUT))
    ended_ms = records.invocations["duration_s"][status == Status.ERROR] * 1000.0
    assert np.all(ended_ms < 3000.0)
