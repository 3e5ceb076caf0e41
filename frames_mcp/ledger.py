"""The task ledger: every task this server process created, so a cancelled or timed-out call's task can
always be found again (list_tasks). In memory, newest last, bounded. No MCP types here."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from frames_mcp.models import TERMINAL_STATUSES, Task

PROMPT_SUMMARY = 80


def summarize(prompt: str, limit: int = PROMPT_SUMMARY) -> str:
    flat = " ".join(prompt.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass
class Entry:
    taskId: str
    account: str | None  # the Runway account the task runs on, from its taskId
    prompt: str  # a summary of text_prompt
    created: float  # wall-clock seconds (time.time())
    status: str
    progress: float | None
    updated: float  # wall-clock seconds of the last observation
    recovered: bool = False  # found in the account's task list after an ambiguous create

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


def account_of(task_id: str) -> str | None:
    """`user:1-runwayml:me@example.com-task:<uuid>` -> `me@example.com`."""
    head, sep, _ = task_id.rpartition("-task:")
    _, found, email = head.partition("-runwayml:")
    return email if sep and found else None


class Ledger:
    def __init__(self, size: int = 500, *, wall: Callable[[], float] = time.time) -> None:
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._size = size
        self._wall = wall

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._entries

    def get(self, task_id: str) -> Entry | None:
        return self._entries.get(task_id)

    def add(self, task: Task, prompt: str, *, recovered: bool = False) -> Entry:
        now = self._wall()
        entry = Entry(
            taskId=task.taskId,
            account=account_of(task.taskId),
            prompt=summarize(prompt),
            created=now,
            status=task.status,
            progress=progress_of(task),
            updated=now,
            recovered=recovered,
        )
        self._entries[task.taskId] = entry
        self._entries.move_to_end(task.taskId)
        self._trim()
        return entry

    def update(self, task: Task) -> None:
        """Record a fresh observation of a task this server created; other tasks are ignored."""
        entry = self._entries.get(task.taskId)
        if entry is not None:
            entry.status, entry.progress, entry.updated = task.status, progress_of(task), self._wall()

    def recent(self, *, statuses: Iterable[str] | None = None, limit: int = 20) -> list[Entry]:
        """Newest first, optionally only those whose last known status is in `statuses`."""
        wanted = {s.upper() for s in statuses} if statuses else None
        picked = [e for e in reversed(self._entries.values()) if wanted is None or e.status in wanted]
        return picked[:limit]

    def _trim(self) -> None:
        while len(self._entries) > self._size:
            # Drop the oldest finished task; if none is finished, the oldest of all.
            oldest = next((k for k, e in self._entries.items() if e.done), next(iter(self._entries)))
            del self._entries[oldest]


def progress_of(task: Task) -> float | None:
    if task.succeeded:
        return 1.0
    return None if task.progressRatio is None else min(1.0, max(0.0, task.progressRatio))
