"""The simulator's progress curves, read over real loopback HTTP on a hand-driven clock.

The poll schedule is held to these curves (tests and bench), so their shapes are pinned here: each curve
does what its name says, and progressRatio stays what useapi sends (a string of at most two decimals,
"0".."0.99" while RUNNING, "1" when SUCCEEDED).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx2
import pytest

from frames_mcp.simulator import Simulator, SimulatorConfig, serve
from frames_mcp.useapi.transport import shared_tls

from .conftest import ManualClock

pytestmark = pytest.mark.anyio

API = "/v1/runwayml"
RATIO = re.compile(r"0|1|0\.\d{1,2}")  # "0", "0.3", "0.42", "1": as ratio strings come from useapi


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _readings(prompt: str, **config: Any) -> list[tuple[str, str | None]]:
    """(status, progressRatio) of one task read at 0.5 s steps through its 1 s queue and 10 s run."""
    clock = ManualClock()
    sim = Simulator(SimulatorConfig(queue_seconds=1.0, run_seconds=10.0, clock=clock, **config))
    seen: list[tuple[str, str | None]] = []
    async with serve(sim) as url, httpx2.AsyncClient(verify=shared_tls(), base_url=url, headers=_auth(sim)) as client:
        r = await client.post(f"{API}/frames/create", json={"text_prompt": prompt, "seed": 7})
        task_id = r.json()["taskId"]
        for _ in range(24):
            task = (await client.get(f"{API}/tasks/{task_id}")).json()
            seen.append((task["status"], task["progressRatio"]))
            clock.now += 0.5
    return seen


def _auth(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.config.token}"}


def _running(seen: list[tuple[str, str | None]]) -> list[float]:
    for status, ratio in seen:
        if status == "RUNNING":
            assert ratio is not None and RATIO.fullmatch(ratio), ratio  # the documented string shape
    return [float(ratio) for status, ratio in seen if status == "RUNNING" and ratio is not None]


def _ends_succeeded(seen: list[tuple[str, str | None]]) -> None:
    assert seen[-1] == ("SUCCEEDED", "1")


async def test_the_default_curve_is_the_straight_line() -> None:
    # Existing tests rely on it: 0.5 s into a 10 s run reads 0.05, 5 s reads 0.5.
    ratios = _running(await _readings("a lighthouse"))
    assert ratios[:3] == [0.0, 0.05, 0.1] and 0.5 in ratios


async def test_stall_stays_near_zero_for_half_the_run_then_rises_fast() -> None:
    seen = await _readings("a lighthouse", progress_curve="stall")
    ratios = _running(seen)
    assert max(ratios[:10]) <= 0.02  # the first 5 s
    assert ratios[-1] >= 0.9
    _ends_succeeded(seen)


async def test_a_prompt_picks_its_curve_over_the_config() -> None:
    # "[curve:plateaus]" in the prompt: flat stretches broken by jumps, whatever the config says.
    seen = await _readings("a lighthouse [Curve:Plateaus]", progress_curve="stall")
    ratios = _running(seen)
    steps = [b - a for a, b in itertools.pairwise(ratios)]
    assert sum(1 for s in steps if s == 0) >= 10  # plateaus
    assert sum(1 for s in steps if s >= 0.1) >= 3  # jumps
    assert ratios[-1] == 0.9  # the last plateau holds to the end of the run
    _ends_succeeded(seen)


async def test_slow_tail_is_fast_to_0_9_then_crawls() -> None:
    seen = await _readings("a lighthouse", progress_curve="slow-tail")
    ratios = _running(seen)
    assert ratios[4] >= 0.9  # 2 s into the 10 s run
    assert ratios[-1] <= 0.99 and len(set(ratios[4:])) >= 8  # still moving, slowly
    _ends_succeeded(seen)


async def test_noisy_steps_around_the_line_and_sometimes_back() -> None:
    seen = await _readings("a lighthouse", progress_curve="noisy")
    ratios = _running(seen)
    steps = [b - a for a, b in itertools.pairwise(ratios)]
    assert any(s < 0 for s in steps)  # an occasional step back
    assert all(abs(s) <= 0.15 for s in steps)  # small steps
    assert all(0 <= r <= 0.99 for r in ratios)
    _ends_succeeded(seen)


def test_an_unknown_curve_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="stall, plateaus, slow-tail, noisy"):
        SimulatorConfig(progress_curve="sine")
