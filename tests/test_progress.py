"""Progress notifications never go backwards, whatever order the waiting reports things in.

MCP requires each progress value to be greater than the last. The estimate between polls can run ahead
of what the next poll reads (0.6 estimated, then 0.5 read), and several events map to 0 (queued locally,
queued at Runway, each answer while queued): the server's progress reporter must still only ever climb.
It (server/progress.py) is driven here with the events `Jobs` emits; its context records what would go to the client.
"""

from __future__ import annotations

import itertools

import pytest

from frames_mcp.jobs.events import Estimate, Event, LocalQueue, UpstreamBusy
from frames_mcp.server.progress import Progress
from frames_mcp.useapi.models import Task

pytestmark = pytest.mark.anyio

TASK_ID = "user:1-runwayml:me@frames.local-task:0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10"


class Recorder:
    """The part of the tool's Context the reporter uses: report_progress, recorded."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, float | None, str | None]] = []

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self.sent.append((progress, total, message))


async def report(*events: Event) -> list[tuple[float, float | None, str | None]]:
    ctx = Recorder()
    progress = Progress(ctx)  # type: ignore[arg-type]
    for event in events:
        await progress(event)
    return ctx.sent


def running(ratio: float) -> Task:
    return Task(taskId=TASK_ID, status="RUNNING", progressRatio=ratio)


async def test_a_reading_below_the_last_estimate_does_not_send_progress_back() -> None:
    # 0.6 was estimated between polls; the poll then reads 0.5. The value sent must still exceed 0.6,
    # while the message tells the truth the poll read.
    sent = await report(Estimate(0.6), running(0.5))
    (first, _, _), (second, total, message) = sent
    assert first == pytest.approx(0.6) and second > first
    assert total == 1.0 and message == "RUNNING: 50% generated"


async def test_every_notification_of_a_whole_wait_is_greater_than_the_one_before() -> None:
    # A realistic wait: in line, busy upstream, queued at Runway (twice), running, an estimate that runs
    # ahead, a reading behind it, done. Equal values count as going backwards too: MCP wants an increase.
    sent = await report(
        LocalQueue(ahead=1, in_use=5, limit=5, account="me@frames.local"),
        UpstreamBusy(12.0),
        Task(taskId=TASK_ID, status="PENDING", estimatedTimeToStartSeconds=4),
        Task(taskId=TASK_ID, status="PENDING", estimatedTimeToStartSeconds=2),
        running(0.3),
        Estimate(0.55),
        running(0.5),
        Task(taskId=TASK_ID, status="SUCCEEDED"),
    )
    values = [value for value, _, _ in sent]
    assert all(b > a for a, b in itertools.pairwise(values)), values
    assert values[-1] == 1.0
