"""A call's `Event`s (jobs/events.py) as MCP progress notifications: total 1.0, never going backwards."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context

from frames_mcp.jobs.events import ANY_ACCOUNT, Estimate, Event, LocalQueue, UpstreamBusy


class Progress:
    """Maps what a call waits for to MCP progress notifications (total 1.0); progress never goes backwards."""

    def __init__(self, ctx: Context[Any]) -> None:
        self._ctx = ctx
        self._last = -1.0

    async def __call__(self, event: Event) -> None:
        value, message = progress_of(event)
        value = max(value, self._last + 1e-6) if value <= self._last else value
        self._last = value
        await self._ctx.report_progress(value, 1.0, message)


def progress_of(event: Event) -> tuple[float, str]:
    """The progress value and the message a person reads for one event."""
    if isinstance(event, LocalQueue):
        where = "" if event.account == ANY_ACCOUNT else f" on {event.account}"
        return 0.0, (
            f"Queued locally, {event.ahead} ahead: {event.in_use} of {event.limit} slots{where} in use"
            if event.ahead
            else f"Queued locally, next in line: waiting for one of {event.limit} running tasks{where} to finish"
        )
    if isinstance(event, UpstreamBusy):
        return 0.0, f"Account busy at useapi.net (429): retrying in {event.delay:.0f} s"
    if isinstance(event, Estimate):
        return min(0.99, max(0.01, event.ratio)), f"RUNNING: about {event.ratio:.0%} generated (estimated)"
    task = event
    if task.status in ("PENDING", "THROTTLED"):
        message = f"{task.status}: queued at Runway"
        if task.estimatedTimeToStartSeconds:
            message += f", starting in about {max(1, round(task.estimatedTimeToStartSeconds))} s"
        return 0.0, message
    if task.is_terminal:
        return 1.0, task.status
    if not task.is_known:
        return 0.0, f"{task.status}: a status useapi.net does not document; still looking"
    ratio = task.progressRatio or 0.0
    return min(0.99, max(0.01, ratio)), f"{task.status}: {ratio:.0%} generated"


async def ignore(_: object) -> None:
    """For calls that do not wait, so have no progress to report."""
