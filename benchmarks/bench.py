"""Benchmark the simulator: invocations per second of wall time and peak memory.

    python benchmarks/bench.py            # all cases
    python benchmarks/bench.py poisson    # one case

Cases:
- poisson-10 / poisson-2000: 1M Poisson invocations to one function, with about 10
  and about 2,000 live instances (same arrival count; the per-invocation cost must not
  depend on the pool size).
- azure-2019: the full 8-hour, 500-function Azure sample (3,037,902 invocations),
  through the same path as `lambdasim run` (scenario, model, pricing, summary), without
  writing files.

Wall time covers the model run; "end to end" adds loading, pricing and the summary.
Peak memory is the process's maximum resident set size (ru_maxrss), measured in a
fresh child process per case.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def poisson_case(
    rate_per_s: float, mean_duration_s: float, n: int, cold_start_s: float
) -> dict[str, float]:
    from lambdasim.distributions import ConstantSpec, ExponentialSpec
    from lambdasim.model import AccountConfig, FunctionConfig, Simulation
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
    "azure-2019": azure_case,
}


def _child(name: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    figures = CASES[name]()
    figures["peak_rss_mb"] = _peak_rss_mb()
    queue.put(figures)


def main(selected: list[str]) -> None:
    names = [n for n in CASES if not selected or any(s in n for s in selected)]
    print(
        f"{'case':<14}{'invocations':>12}{'instances':>11}{'wall s':>9}"
        f"{'inv/s':>11}{'peak MB':>9}"
    )
    for name in names:
        queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        process = multiprocessing.Process(target=_child, args=(name, queue))
        process.start()
        figures = queue.get()
        process.join()
        wall_s = figures.get("model_s", figures.get("end_to_end_s", 0.0))
        print(
            f"{name:<14}{int(figures['invocations']):>12,}"
            f"{int(figures['instances']):>11,}{wall_s:>9.1f}"
            f"{figures['invocations'] / wall_s:>11,.0f}{figures['peak_rss_mb']:>9.0f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
