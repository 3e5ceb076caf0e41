"""Waiting on a task within a budget: the loop that polls it when the schedule (`polling`) says, polls through
transient errors, and reports progress. Nothing polls outside `wait_for_task`: when it returns or is cancelled,
polling is over. No MCP types here."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from frames_mcp.jobs.durations import Durations
from frames_mcp.jobs.events import Run
from frames_mcp.jobs.polling import PollSchedule, Predictor
from frames_mcp.useapi.errors import FramesError, InvalidResponseError, TransportError, UpstreamError
from frames_mcp.useapi.models import Task

OnUpdate = Callable[[Task], Awaitable[None]]
OnEstimate = Callable[[float], Awaitable[None]]
ReadTask = Callable[[str, float], Awaitable[Task]]  # (taskId, deadline) -> the task now

# Poll errors worth polling through: the next poll may well succeed. Anything else (404, 401, ...) ends the wait.
TRANSIENT_ERRORS: tuple[type[FramesError], ...] = (UpstreamError, TransportError, InvalidResponseError)


async def wait_for_task(
    read: ReadTask,
    task: Task,
    deadline: float,
    *,
    on_update: OnUpdate | None = None,
    on_estimate: OnEstimate | None = None,
    schedule: PollSchedule | None = None,
    durations: Durations | None = None,
    seen_at: float | None = None,
    contended: Callable[[], Awaitable[bool]] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Run:
    """Poll until the task is final or the deadline comes; never sleeps past it, and the last poll is
    sent early enough to be answered before it.

    A transient poll error (5xx, garbled answer, timeout, reset) is polled through, backing off; another
    error ends the wait at once. `contended`, asked before each poll: a call waits in line for this task's slot
    (gaps may then shrink to `schedule.contended`). A task seen to succeed adds its run to `durations`. Cancellation
    propagates at once: nothing polls on afterwards.
    """
    schedule = schedule or PollSchedule()
    predictor = Predictor(schedule, durations)
    predictor.record(task, clock() if seen_at is None else seen_at)
    error: FramesError | None = None
    last_poll = clock()
    while not task.is_terminal:
        now = clock()
        target = predictor.next_poll(now, contended is not None and await contended())
        last_call = deadline - min(schedule.final_lead, max(0.0, deadline - now) / 2)
        if target > last_call:  # one last poll, answered before the budget ends, unless one just happened
            if last_call - last_poll < schedule.minimum or last_call <= now:
                return Run(task, error, next_poll=target)
            target = last_call
        await _sleep_until(target, clock, predictor if on_estimate else None, on_estimate, schedule)
        sent = last_poll = clock()
        try:
            task = await read(task.taskId, deadline)
        except TRANSIENT_ERRORS as e:
            error = e
            predictor.failed()
            continue
        except FramesError as e:
            return Run(task, e, None)
        error = None
        predictor.record(task, (sent + clock()) / 2)
        if on_update is not None:
            await on_update(task)
    return Run(task, None, None)


async def _sleep_until(
    target: float,
    clock: Callable[[], float],
    predictor: Predictor | None,
    on_estimate: OnEstimate | None,
    schedule: PollSchedule,
) -> None:
    """Sleep until `target`; on a long sleep, report the estimated progress every `estimate_every` s."""
    while (left := target - clock()) > 0:
        step = left if predictor is None else min(left, schedule.estimate_every)
        await anyio.sleep(step)
        if predictor is not None and on_estimate is not None and target - clock() > 0:
            ratio = predictor.ratio_at(clock())
            if ratio is not None:
                await on_estimate(ratio)
