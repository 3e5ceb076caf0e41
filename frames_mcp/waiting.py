"""Waiting for a task within a budget: the polling schedule and progress updates. No MCP types here."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from frames_mcp.models import Task
from frames_mcp.useapi import UseapiClient

OnUpdate = Callable[[Task], Awaitable[None]]


@dataclass(frozen=True)
class PollSchedule:
    first: float = 1.0  # soon after create: a queued task often starts within a second or two
    minimum: float = 0.5
    maximum: float = 5.0
    growth: float = 1.5

    def next_interval(self, previous: float | None) -> float:
        if previous is None:
            return self.first
        return min(self.maximum, max(self.minimum, previous * self.growth))


async def wait_for_task(
    client: UseapiClient,
    task: Task,
    deadline: float,
    *,
    on_update: OnUpdate | None = None,
    schedule: PollSchedule | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Task:
    """Poll GET tasks/{taskId} until the task is final or the deadline comes; never sleeps past it.

    Returns the last task state seen. Cancellation propagates at once: nothing polls on afterwards.
    """
    schedule = schedule or PollSchedule()
    interval: float | None = None
    while not task.is_terminal:
        interval = schedule.next_interval(interval)
        remaining = deadline - clock()
        if remaining <= 0:
            break
        await anyio.sleep(min(interval, remaining))
        task = await client.get_task(task.taskId)
        if on_update is not None:
            await on_update(task)
    return task
