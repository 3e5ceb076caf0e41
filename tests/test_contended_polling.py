"""The poll schedule while a call waits in line for the task's slot (jobs/polling.py, `contended`): a slot left
idle after its task ended is that call's time, so the task is looked at sooner near its end. On a fake clock,
with the fake tasks of test_polling; 2 s tasks (0.5 s queued), as the concurrency and fleet benchmarks run."""

from __future__ import annotations

import random
import statistics
import time

import anyio
import pytest

from frames_mcp.jobs.durations import Durations, Key
from frames_mcp.jobs.polling import PollSchedule, Predictor
from frames_mcp.jobs.service import Tuning
from frames_mcp.simulator import Fault, Simulator
from frames_mcp.simulator._curves import curve

from .conftest import connect
from .test_polling import ACCOUNT, FakeTask, follow

SIMULATOR = {"queue_seconds": 0.05, "run_seconds": 0.35, "image_px": 32}  # the `sim` fixture's: 0.4 s tasks

QUEUE, RUN = 0.5, 1.5


def fast_runs(name: str) -> list[tuple[FakeTask, float]]:
    """20 runs of about 2 s (+-5%) along a curve, with request latencies of 10-50 ms; fixed seeds."""
    out = []
    for i in range(20):
        rng = random.Random(i)
        task = FakeTask(QUEUE, RUN * rng.uniform(0.95, 1.05), curve(name, i), num_images=1)
        out.append((task, 0.01 + 0.04 * rng.random()))
    return out


def test_while_a_call_waits_a_sure_finish_is_polled_sooner_than_the_minimum_gap() -> None:
    # Three readings of a straight run predict its end 0.1 s after the last one: with a call in line the poll is
    # aimed there; with nobody waiting the minimum gap (0.25 s) still holds.
    durations = Durations()
    for _ in range(2):
        durations.record(Key(ACCOUNT, 1, False), RUN - 0.1, RUN + 0.1)
    task = FakeTask(QUEUE, RUN, curve("linear", 1), num_images=1)

    def gap(contended: bool) -> float:
        predictor = Predictor(PollSchedule(), durations)
        for t in (0.0, 1.0, 1.7, 1.9):
            predictor.record(task.at(t), t)
        return predictor.next_poll(1.9, contended) - 1.9

    assert gap(True) < PollSchedule().minimum
    assert gap(False) == pytest.approx(PollSchedule().minimum)


def test_while_a_call_waits_a_run_far_faster_than_the_prior_is_seen_soon_after_it_ends() -> None:
    # A fresh server (the 8-60 s prior): a 2 s run is looked at once just after the finish its progress
    # predicts, from its start's estimate (error +-0.15 s): about 0.35 s late. With a call in line, one more
    # reading first makes that look land within a tenth of a second, for one GET more.
    runs = fast_runs("linear")
    alone = [follow(Predictor(PollSchedule()), t, latency, False) for t, latency in runs]
    waited = [follow(Predictor(PollSchedule()), t, latency, True) for t, latency in runs]
    assert statistics.median(d for d, _ in waited) <= 0.15 < statistics.median(d for d, _ in alone)
    assert max(g for _, g in waited) <= max(g for _, g in alone) + 1


@pytest.mark.parametrize("name", ["plateaus", "noisy"])
def test_the_extra_reading_never_makes_a_fast_run_later_to_be_seen(name: str) -> None:
    # The extra reading may land on a plateau or a jump (no sure rate then): the look planned before it still
    # comes, so no run is found later than without a call in line (not at the prior window's start, 8 s in).
    runs = fast_runs(name)
    for task, latency in runs:
        alone = follow(Predictor(PollSchedule()), task, latency, False)[0]
        waited = follow(Predictor(PollSchedule()), task, latency, True)[0]
        assert waited <= alone + 0.05, (waited, alone)


@pytest.mark.anyio
async def test_a_call_in_line_gets_the_running_task_polled_sooner_through_a_real_client(sim: Simulator) -> None:
    # A schedule that never polls a task more often than once a second unless a call waits for its slot: the
    # first call's 0.4 s task is seen finished well before a second has passed, as the second call waits behind
    # it (maxJobs 1). Its create is answered 0.3 s late, so the second call is in line by then.
    schedule = PollSchedule(first=1.0, minimum=1.0, contended=0.05, shortest=0.2, longest=3.0, dense=0.1)
    args = {"text_prompt": "a dune", "num_images": 1, "maxJobs": 1, "wait_seconds": 10}
    took: list[float] = []
    async with connect(sim, "auto", Tuning(schedule=schedule)) as client:
        await client.call_tool("generate_frames", args)  # a first call loads what calls use, so the next is prompt
        sim.inject(Fault("slow", method="POST", path="/frames/create", delay=0.3))

        async def first() -> None:
            began = time.monotonic()
            await client.call_tool("generate_frames", args)
            took.append(time.monotonic() - began)

        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await anyio.sleep(0.15)  # it holds the slot; its create is on its way (answered at 0.3 s at the soonest)
            tg.start_soon(client.call_tool, "generate_frames", args)
    assert took[0] < 0.3 + 0.4 + 0.5, took  # the create, the task, and no poll a second late
