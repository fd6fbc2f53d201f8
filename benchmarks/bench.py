"""Benchmark the simulator: invocations per second of wall time and peak memory.

    python benchmarks/bench.py                 # all cases, 3 repeats each
    python benchmarks/bench.py poisson -r 5    # matching cases, 5 repeats

Cases:
- poisson-10 / poisson-2000: 1M Poisson invocations to one function, with about 10
  and about 2,000 live instances (same arrival count; the per-invocation cost must not
  depend on the pool size).
- pc-1500: the poisson-2000 load on a qualifier with 1,500 provisioned instances
  (most invocations on PC, the rest spill over).
- sqs: 1M messages (Poisson, 10,000/s) into one function's SQS queue; pollers take
  batches of up to 10 (1 s batching window) and invoke once per batch (20 ms plus
  2 ms per message). Shows messages per second as well as invocations.
- pc-sqs: an API at 2,000/s on an alias with 100 provisioned instances beside an SQS
  worker fed 2,000 messages/s, for 500 s, end to end (scenario, model, pricing,
  summary): 1M API invocations plus 1M messages in about 100k batches.
- database: 200k Poisson invocations, each running two 2 ms queries in one
  transaction through RDS Proxy on an 8-vCPU database (about 60 pooled
  connections busy at once; the per-invocation cost must not depend on how many
  connections and instances there are).
- azure-2019: the full 8-hour, 500-function Azure sample (3,037,902 invocations),
  through the same path as `lambdasim run` (scenario, model, pricing, summary), without
  writing files.

Wall time covers the model run; "end to end" adds loading, pricing and the summary.
Each case runs in a fresh child process per repeat; the table shows the best and the
median wall time of the repeats (a shared 2-core machine varies by 20 % or more from
run to run) and the largest peak resident set size (ru_maxrss).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def poisson_case(
    rate_per_s: float,
    mean_duration_s: float,
    n: int,
    cold_start_s: float,
    provisioned: int = 0,
) -> dict[str, float]:
    from dataclasses import replace

    from lambdasim.distributions import ConstantSpec, ExponentialSpec
    from lambdasim.model import AccountConfig, FunctionConfig, Simulation
    from lambdasim.model.config import ProvisionedConfig
    from lambdasim.workload.synthetic import PoissonSource

    function = FunctionConfig(
        name="api",
        memory_mb=1024,
        timeout_s=900.0,
        duration=ExponentialSpec(mean=mean_duration_s).sampler(),
        init=ConstantSpec(value=cold_start_s).sampler(),
        platform_overhead=ConstantSpec(value=0.0).sampler(),
        keep_alive=ConstantSpec(value=600.0).sampler(),
    )
    if provisioned:
        pc = ProvisionedConfig(
            initial=provisioned,
            recycle_interval=ConstantSpec(value=3 * 3600.0).sampler(),
            # No request-rate quota in the way: this times the dispatch path.
            requests_per_s_per_unit=1e9,
        )
        function = replace(function, qualifier="live", provisioned=pc)
    horizon_s = n / rate_per_s
    simulation = Simulation(
        AccountConfig(concurrency_limit=100_000, scale_up=None),
        [function],
        seed=1,
        horizon_s=horizon_s,
    )
    simulation.add_arrivals(
        PoissonSource(0, rate_per_s).chunks(horizon_s, np.random.default_rng(1))
    )
    started = time.perf_counter()
    records = simulation.run()
    elapsed_s = time.perf_counter() - started
    return {
        "invocations": records.invocation_count,
        "model_s": elapsed_s,
        "instances": len(records.instances["instance_id"]),
    }


def sqs_case(rate_per_s: float, n: int) -> dict[str, float]:
    from lambdasim.distributions import ConstantSpec
    from lambdasim.model import AccountConfig, FunctionConfig, Simulation
    from lambdasim.model.sqs import EventSourceConfig
    from lambdasim.workload.base import InvocationType
    from lambdasim.workload.synthetic import PoissonSource

    function = FunctionConfig(
        name="worker",
        memory_mb=1024,
        timeout_s=900.0,
        duration=ConstantSpec(value=0.02).sampler(),
        init=ConstantSpec(value=0.1).sampler(),
        platform_overhead=ConstantSpec(value=0.0).sampler(),
        keep_alive=ConstantSpec(value=600.0).sampler(),
    )
    horizon_s = n / rate_per_s
    simulation = Simulation(
        AccountConfig(concurrency_limit=100_000, scale_up=None),
        [function],
        seed=1,
        horizon_s=horizon_s,
    )
    simulation.add_event_source(
        0,
        EventSourceConfig(
            batch_size=10,
            batching_window_s=1.0,
            per_message_duration=ConstantSpec(value=0.002).sampler(),
        ),
    )
    source = PoissonSource(0, rate_per_s, invocation_type=InvocationType.POLL)
    simulation.add_arrivals(source.chunks(horizon_s, np.random.default_rng(1)))
    started = time.perf_counter()
    records = simulation.run()
    elapsed_s = time.perf_counter() - started
    return {
        "invocations": records.invocation_count,
        "messages": len(records.sqs_messages["sent_s"]),
        "model_s": elapsed_s,
        "instances": len(records.instances["instance_id"]),
    }


def database_case(n: int) -> dict[str, float]:
    from dataclasses import replace

    from lambdasim.distributions import ConstantSpec, ExponentialSpec
    from lambdasim.model import AccountConfig, FunctionConfig, Simulation
    from lambdasim.model.database import DatabaseConfig, DatabaseUsage
    from lambdasim.model.proxy import ProxyConfig
    from lambdasim.workload.synthetic import PoissonSource

    rate_per_s = 1000.0
    function = FunctionConfig(
        name="api",
        memory_mb=1024,
        timeout_s=30.0,
        duration=ExponentialSpec(mean=0.05).sampler(),
        init=ConstantSpec(value=0.2).sampler(),
        platform_overhead=ConstantSpec(value=0.0).sampler(),
        keep_alive=ConstantSpec(value=600.0).sampler(),
    )
    function = replace(function, database=DatabaseUsage(queries_per_invocation=2))
    database = DatabaseConfig(
        max_connections=1000,
        vcpus=8.0,
        query_time=ExponentialSpec(mean=0.002).sampler(),
    )
    horizon_s = n / rate_per_s
    simulation = Simulation(
        AccountConfig(concurrency_limit=100_000, scale_up=None),
        [function],
        seed=1,
        horizon_s=horizon_s,
        database=database,
        proxy=ProxyConfig(),
    )
    simulation.add_arrivals(
        PoissonSource(0, rate_per_s).chunks(horizon_s, np.random.default_rng(1))
    )
    started = time.perf_counter()
    records = simulation.run()
    elapsed_s = time.perf_counter() - started
    return {
        "invocations": records.invocation_count,
        "model_s": elapsed_s,
        "instances": len(records.instances["instance_id"]),
    }


def pc_sqs_case() -> dict[str, float]:
    """An API on provisioned concurrency beside an SQS worker, end to end."""
    import lambdasim

    scenario = lambdasim.validate_scenario(
        {
            "name": "pc-sqs",
            "horizon": "500s",
            "billing_date": "2026-12-01",
            "account": {"concurrency_limit": 10_000},
            "functions": {
                "api": {
                    "runtime": "python3.12",
                    "memory_mb": 1024,
                    "duration": {"kind": "exponential", "mean": "50ms"},
                    # About 100 busy: most on PC, bursts spill over.
                    "provisioned_concurrency": {"live": 100},
                },
                "worker": {
                    "runtime": "python3.12",
                    "memory_mb": 1024,
                    "timeout_s": 60,
                    "duration": "20ms",
                    "sqs": {
                        "batch_size": 10,
                        "batching_window_s": 1,
                        "per_message_duration": "2ms",
                    },
                },
            },
            "workload": [
                {"type": "poisson", "function": "api:live", "rate_per_s": 2000},
                {
                    "type": "poisson",
                    "function": "worker",
                    "rate_per_s": 2000,
                    "invocation_type": "sqs",
                },
            ],
        }
    )
    started = time.perf_counter()
    result = lambdasim.simulate(scenario)
    elapsed_s = time.perf_counter() - started
    return {
        "invocations": result.records.invocation_count,
        "messages": len(result.records.sqs_messages["sent_s"]),
        "end_to_end_s": elapsed_s,
        "instances": len(result.records.instances["instance_id"]),
    }


def azure_case() -> dict[str, float]:
    import lambdasim

    started = time.perf_counter()
    scenario = lambdasim.load_scenario(REPO / "scenarios" / "azure-2019-sample.yaml")
    result = lambdasim.simulate(scenario)
    elapsed_s = time.perf_counter() - started
    return {
        "invocations": result.records.invocation_count,
        "end_to_end_s": elapsed_s,
        "instances": len(result.records.instances["instance_id"]),
    }


CASES = {
    # 10,000/s x 1 ms keeps about 10 busy; with a 1 ms cold start few more are
    # created, and keep-alive 600 s keeps them all alive.
    "poisson-10": lambda: poisson_case(10_000.0, 0.001, 1_000_000, 0.001),
    # 10,000/s x 0.2 s keeps about 2,000 busy (plus the 0.2 s cold-start wave).
    "poisson-2000": lambda: poisson_case(10_000.0, 0.2, 1_000_000, 0.2),
    # The same 2,000 busy, 1,500 of them on provisioned concurrency: the PC path
    # and spillover to on-demand instances.
    "pc-1500": lambda: poisson_case(10_000.0, 0.2, 1_000_000, 0.2, provisioned=1500),
    "sqs": lambda: sqs_case(10_000.0, 1_000_000),
    # 1M API invocations (100 PC instances) and 1M SQS messages, end to end.
    "pc-sqs": pc_sqs_case,
    "database": lambda: database_case(200_000),
    "azure-2019": azure_case,
}


def _child(name: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    figures = CASES[name]()
    figures["peak_rss_mb"] = _peak_rss_mb()
    queue.put(figures)


def _run_once(name: str) -> dict[str, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    process = multiprocessing.Process(target=_child, args=(name, queue))
    process.start()
    figures: dict[str, float] = queue.get()
    process.join()
    figures["wall_s"] = figures.get("model_s", figures.get("end_to_end_s", 0.0))
    return figures


def main(selected: list[str], repeats: int) -> None:
    names = [n for n in CASES if not selected or any(s in n for s in selected)]
    print(
        f"{'case':<14}{'invocations':>12}{'instances':>11}{'best s':>8}"
        f"{'best inv/s':>12}{'median inv/s':>14}{'peak MB':>9}"
    )
    for name in names:
        runs = [_run_once(name) for _ in range(repeats)]
        walls = sorted(run["wall_s"] for run in runs)
        count = runs[0]["invocations"]
        median_s = statistics.median(walls)
        print(
            f"{name:<14}{int(count):>12,}{int(runs[0]['instances']):>11,}"
            f"{walls[0]:>8.1f}{count / walls[0]:>12,.0f}{count / median_s:>14,.0f}"
            f"{max(run['peak_rss_mb'] for run in runs):>9.0f}"
        )
        if "messages" in runs[0]:
            messages = runs[0]["messages"]
            print(
                f"{'':<14}{int(messages):>12,} messages: best "
                f"{messages / walls[0]:,.0f}/s, median {messages / median_s:,.0f}/s"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="substrings of case names")
    parser.add_argument("-r", "--repeats", type=int, default=3)
    arguments = parser.parse_args()
    main(arguments.cases, arguments.repeats)
