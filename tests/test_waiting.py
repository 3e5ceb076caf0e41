"""When to poll and how long to wait: the predictor, the budgeted wait, and a whole call's budget.

The promises are those of the README's "Long-running tasks" section. The predictor is a pure function
of what the task said and when; the waits run on virtual time (tests/_virtual.py) with the real-sized
defaults, so a 50 s budget costs milliseconds and every time read here is exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from frames_mcp.jobs.events import Event, Run
from frames_mcp.jobs.polling import PollSchedule, Predictor
from frames_mcp.jobs.service import Jobs, Tuning
from frames_mcp.jobs.wait import wait_for_task
from frames_mcp.simulator import Fault
from frames_mcp.useapi.errors import TransportError
from frames_mcp.useapi.models import FramesRequest, Task

from ._virtual import Upstream, in_process, now, virtual_backend

pytestmark = pytest.mark.anyio

TASK_ID = "user:1-runwayml:me@frames.local-task:0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10"
DEFAULTS = PollSchedule()  # the real schedule: 0.25 s .. 12 s


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return virtual_backend()


def task(status: str, ratio: float | None = None, eta: float | None = None) -> Task:
    return Task(taskId=TASK_ID, status=status, progressRatio=ratio, estimatedTimeToStartSeconds=eta)


def predictor(*seen: tuple[float, Task]) -> Predictor:
    """A predictor that has read the task at these times."""
    p = Predictor(DEFAULTS)
    for at, t in seen:
        p.record(t, at)
    return p


# ---- the predictor ------------------------------------------------------------------------------------------


def test_the_first_poll_after_create_comes_soon() -> None:
    # Only the create answer is known: look within `first` seconds, whatever it said (here a 30 s queue).
    p = predictor((0.0, task("PENDING", eta=30)))
    assert p.next_poll(0.0) == pytest.approx(DEFAULTS.first)


def test_an_unsure_prediction_reads_again_before_the_predicted_finish() -> None:
    # 0.10 -> 0.30 in 2 s says "ends at 9 s" only roughly: measure again well before, not after.
    p = predictor((0.0, task("RUNNING", 0.10)), (2.0, task("RUNNING", 0.30)))
    finish = p.finish()
    assert finish is not None and finish.end == pytest.approx(9.0)
    assert 2.0 < p.next_poll(2.0) < finish.end


def test_a_queue_without_news_makes_the_next_interval_longer() -> None:
    # A stuck queue without an estimate: each answer that changes nothing stretches the wait by `growth`, up to
    # `maximum`, instead of polling on at the same beat. (A plateau while running no longer backs off: it must not
    # push a poll past the window the run is likely to end in; test_polling.py holds that.)
    state = task("PENDING")
    p = predictor((0.0, state))
    at, intervals = 0.0, []
    for _ in range(9):
        p.record(state, at)
        nxt = p.next_poll(at)
        intervals.append(nxt - at)
        at = nxt
    growing = intervals[:6]  # 1 s, 1.6 s, 2.56 s ... until the maximum cuts in
    assert all(b == pytest.approx(a * DEFAULTS.growth) for a, b in itertools.pairwise(growing))
    assert intervals[-1] == pytest.approx(DEFAULTS.maximum)


def test_a_finish_predicted_any_moment_is_not_polled_sooner_than_the_minimum() -> None:
    # 0.995 after 10 s: the finish is due in 0.06 s; still one task is never polled more often than 4/s.
    p = predictor((0.0, task("RUNNING", 0.10)), (10.0, task("RUNNING", 0.995)))
    assert p.next_poll(10.0) == pytest.approx(10.0 + DEFAULTS.minimum)


def test_a_long_queue_is_still_polled_within_the_maximum() -> None:
    # Queued for 100 s more: the estimate can be wrong, so the task is looked at every `maximum` at least.
    p = predictor((0.0, task("PENDING", eta=100)), (1.0, task("PENDING", eta=99)))
    assert p.next_poll(1.0) == pytest.approx(1.0 + DEFAULTS.maximum)


# ---- the budgeted wait ------------------------------------------------------------------------------------


@dataclass
class Scripted:
    """A task as a function of time, as `wait_for_task` reads it: each read takes `latency` to answer and,
    like a request with a timeout, fails when its deadline comes first."""

    state: Callable[[float], Task]
    latency: float = 0.2
    polls: list[tuple[float, float]] = field(default_factory=list)  # (sent at, deadline it was given)

    async def __call__(self, task_id: str, deadline: float) -> Task:
        sent = now()
        self.polls.append((sent, deadline))
        if sent + self.latency > deadline:
            await anyio.sleep(max(0.0, deadline - sent))
            raise TransportError("useapi.net did not answer in time (ReadTimeout).", sent=True)
        await anyio.sleep(self.latency)
        return self.state(now())


def queued_until(t_done: float) -> Callable[[float], Task]:
    """Queued with no start estimate (nothing to aim at), then done at once at `t_done`."""
    return lambda t: task("SUCCEEDED") if t >= t_done else task("PENDING")


async def test_every_poll_is_given_the_calls_deadline() -> None:
    # Each poll is cut to the time the call has left, so no answer can arrive past the budget.
    start = now()
    reads = Scripted(queued_until(1e9))
    outcome = await wait_for_task(reads, task("PENDING"), start + 20, clock=now)
    assert outcome.task.status == "PENDING" and len(reads.polls) >= 4
    assert all(deadline <= start + 20 for _, deadline in reads.polls)
    assert now() <= start + 20


async def test_the_last_poll_is_sent_early_enough_to_be_answered_before_the_budget_ends() -> None:
    # The task finishes 0.3 s before the budget ends, unannounced. A last poll sent at the very end would
    # time out; the one sent `final_lead` before the end is answered in time and brings the images.
    start = now()
    reads = Scripted(queued_until(start + 19.7), latency=0.2)
    outcome = await wait_for_task(reads, task("PENDING"), start + 20, clock=now)
    assert outcome.task.status == "SUCCEEDED" and outcome.error is None
    last_sent, _ = reads.polls[-1]
    assert start + 20 - DEFAULTS.final_lead - DEFAULTS.minimum <= last_sent <= start + 20 - DEFAULTS.final_lead


async def test_nothing_polls_after_the_wait_returns() -> None:
    # The wait owns all polling of its task: once it has returned, the task is never read again.
    reads = Scripted(queued_until(1e9))
    await wait_for_task(reads, task("PENDING"), now() + 5, clock=now)
    polls = len(reads.polls)
    await anyio.sleep(60)
    assert len(reads.polls) == polls


# ---- a whole call's budget, with the real timeouts ------------------------------------------------------------


async def _generate(up: Upstream, wait_seconds: float) -> tuple[Jobs, list[Event], Run]:
    jobs = Jobs(up.client, Tuning(), clock=now)  # the real-sized timeouts: 10 s reads, a 10 s request floor
    events: list[Event] = []

    async def on_event(event: Event) -> None:
        events.append(event)

    run = await jobs.generate(FramesRequest(text_prompt="a heron at dawn"), wait_seconds, on_event)
    return jobs, events, run


async def test_a_task_is_seen_finished_right_after_it_ends_with_few_polls() -> None:
    # A 23 s task (3 s queued, 20 s running) within a 50 s budget: the polls follow the prediction, so the
    # end is noticed within half a second, with a handful of reads instead of one per second.
    async with in_process(queue_seconds=3, run_seconds=20, image_px=32) as up:
        start = now()
        _, _, run = await _generate(up, 50)
        finished = up.sim.finish_time(run.task.taskId)
        polls = [s for s in up.sent if s.method == "GET" and "/tasks/" in s.path]
    assert run.task.status == "SUCCEEDED" and finished is not None
    assert finished <= now() <= finished + 0.5
    # A fresh server knows no run durations yet, so it polls the documented 8-60 s window densely.
    assert len(polls) <= 10, [round(s.at - start, 2) for s in polls]


async def test_a_2_s_call_returns_within_2_s_while_its_task_runs_on() -> None:
    # wait_seconds 2 against a 30 s task: the call comes back at its budget with the running task, and no
    # poll was allowed to outlive that budget (the request floor covers the create only).
    async with in_process(queue_seconds=1, run_seconds=30, image_px=32) as up:
        start = now()
        _, _, run = await _generate(up, 2)
        polls = [s for s in up.sent if s.method == "GET" and "/tasks/" in s.path]
    assert not run.task.is_terminal and now() - start <= 2.0
    assert polls and all(s.gives_up_at <= start + 2.0 + 0.05 for s in polls)  # 0.05: the smallest timeout


async def test_a_hanging_upstream_cannot_hold_a_2_s_call_past_its_budget() -> None:
    # Every poll hangs for a minute. With 10 s read timeouts, an uncut request would hold the call ~10 s;
    # each is cut to the time left, so the call returns at 2 s with its taskId.
    async with in_process(queue_seconds=1, run_seconds=30, image_px=32) as up:
        up.sim.inject(Fault(kind="read_timeout", method="GET", path="/tasks/user:", delay=60, times=0))
        start = now()
        _, _, run = await _generate(up, 2)
    assert run.task.taskId.startswith("user:") and isinstance(run.error, TransportError)
    assert now() - start <= 2.0 + 0.05


async def test_get_task_polls_are_cut_to_its_budget() -> None:
    # get_task with wait_seconds 2 on a hanging upstream: its first read may use the request floor (the
    # task must be read once), but once read, the polls end with the 2 s budget.
    async with in_process(queue_seconds=1, run_seconds=30, image_px=32) as up:
        jobs, _, run = await _generate(up, 0)
        up.sim.inject(Fault(kind="slow", method="GET", path="/tasks/user:", delay=0.5, times=1))
        up.sim.inject(Fault(kind="read_timeout", method="GET", path="/tasks/user:", delay=60, times=0))
        start = now()

        async def ignore(event: Event) -> None:
            pass

        followed = await jobs.follow(run.task.taskId, 2, ignore)
    assert not followed.task.is_terminal and isinstance(followed.error, TransportError)
    assert now() - start <= 2.0 + 0.05
