"""The ledger: the one record of the tasks this server knows. Every task it created (so a cancelled or timed-out
call's task can always be found again: list_tasks), and the taskIds it handed to callers lately (completions).
In memory, newest last, bounded. No MCP types here."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from frames_mcp.useapi.ids import TASK_ID_RE, account_of
from frames_mcp.useapi.models import TERMINAL_STATUSES, Task

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


class Ledger:
    def __init__(self, size: int = 500, *, wall: Callable[[], float] = time.time, handed_max: int = 50) -> None:
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._handed: OrderedDict[str, None] = OrderedDict()  # taskIds returned to callers, newest last
        self._size = size
        self._handed_max = handed_max
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
            progress=task.fraction_done,
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
            entry.status, entry.progress, entry.updated = task.status, task.fraction_done, self._wall()

    def handed(self, task_id: str) -> None:
        """A call returned this taskId to its caller (created here or not): offer it in completions."""
        if TASK_ID_RE.fullmatch(task_id):
            self._handed.pop(task_id, None)
            self._handed[task_id] = None
            while len(self._handed) > self._handed_max:
                self._handed.popitem(last=False)

    def handed_ids(self) -> list[str]:
        """The taskIds returned to callers lately, newest first."""
        return list(reversed(self._handed))

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
