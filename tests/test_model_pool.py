"""The warm pool: dispatch order by policy, lazy removal of reaped instances."""

from __future__ import annotations

import numpy as np
import pytest

from lambdasim.model import DispatchPolicy
from lambdasim.model.platform import Instance, InstanceState, WarmPool


def idle_instances(count: int) -> list[Instance]:
    instances = []
    for number in range(count):
        instance = Instance(number, None, float(number), np.inf)  # type: ignore[arg-type]
        instance.state = InstanceState.IDLE
        instances.append(instance)
    return instances


def drain(pool: WarmPool) -> list[int]:
    taken = []
    while (instance := pool.pop()) is not None:
        taken.append(instance.id)
    return taken


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # Pushed (went idle) in the order 2, 0, 1; created in the order 0, 1, 2.
        (DispatchPolicy.MRU, [1, 0, 2]),  # most recently idle first
        (DispatchPolicy.LRU, [2, 0, 1]),  # longest idle first
        (DispatchPolicy.NEWEST, [2, 1, 0]),  # most recently created first
    ],
)
def test_pool_policy_order(policy, expected):
    pool = WarmPool(policy, np.random.default_rng(0))
    instances = idle_instances(3)
    for number in (2, 0, 1):
        pool.push(instances[number])
    assert drain(pool) == expected


def test_pool_random_policy_returns_each_idle_instance_once():
    pool = WarmPool(DispatchPolicy.RANDOM, np.random.default_rng(3))
    for instance in idle_instances(50):
        pool.push(instance)
    taken = drain(pool)
    assert sorted(taken) == list(range(50))
    assert taken != list(range(50))[::-1]  # not simply LIFO


@pytest.mark.parametrize("policy", list(DispatchPolicy))
def test_pool_skips_reaped_instances_and_compacts(policy):
    pool = WarmPool(policy, np.random.default_rng(1))
    instances = idle_instances(300)
    for instance in instances:
        pool.push(instance)
    # Reap all but every tenth: 270 stale entries exceed the 30 idle, so the pool
    # compacts; what remains must be exactly the idle ones.
    for instance in instances:
        if instance.id % 10:
            instance.state = InstanceState.REAPED
            pool.discard(instance)
    assert pool.idle == 30
    assert sorted(drain(pool)) == list(range(0, 300, 10))
    assert pool.pop() is None
