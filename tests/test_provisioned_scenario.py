"""The shipped provisioned-concurrency scenario, run in full."""

from __future__ import annotations

import pytest

from lambdasim import load_scenario, simulate
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def summary():
    scenario = load_scenario(REPO_ROOT / "scenarios" / "provisioned-concurrency.yaml")
    return simulate(scenario).summary


def test_schedule_allocates_forty_from_0755_to_1800(summary):
    live = summary["functions"]["api:live"]
    # 40 instances from 475 min (28,500 s) to 18 h (64,800 s) of a 24 h run:
    # 40 x 36,300 / 86,400 = 16.8056 on average.
    assert live["max_provisioned_concurrency"] == 40
    assert live["mean_provisioned_concurrency"] == pytest.approx(40 * 36300 / 86400)


def test_pc_removes_most_cold_starts_of_the_same_traffic(summary):
    live = summary["functions"]["api:live"]
    on_demand = summary["functions"]["api-on-demand"]
    # Same traffic model (different draws): the on-demand copy cold-starts on
    # every push (about 20 new instances at 150 req/s x 0.12 s, more while they
    # initialise); with PC, only spillover and night traffic cold-start.
    assert on_demand["provisioned_invocations"] == 0
    assert live["cold_starts"] < on_demand["cold_starts"] / 10
    assert live["provisioned_invocations"] > 0.9 * live["invocations"]
    assert live["spillover_invocations"] > 0
    served = live["provisioned_invocations"] + live["spillover_invocations"]
    # Outside business hours there is no PC: those invocations are plain on-demand.
    assert served < live["invocations"]
    assert 0.0 < live["pc_utilisation"] < 1.0
    # The PC instances' own INITs (allocation and recycling) are not cold starts.
    assert live["provisioned_inits"] >= 40


def test_printed_table_shows_pc_inits_and_utilisation(summary):
    from lambdasim.report.table import format_summary

    lines = format_summary(summary).splitlines()
    header = lines[0]
    live = next(line for line in lines if line.startswith("api:live"))
    # Cells are right-aligned under their headers.
    for title in ("PC inits", "PC util %"):
        end = header.index(title) + len(title)
        cell = live[:end].split()[-1]
        assert cell != "-"
    end = header.index("PC inits") + len("PC inits")
    assert int(live[:end].split()[-1].replace(",", "")) >= 40  # 40 allocated at 07:55
