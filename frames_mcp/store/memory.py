"""The memory backend: today's behaviour, for tests and for people who want nothing on disk. Bounded like
the old in-process ledger; nothing survives the process."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from frames_mcp.store.records import (
    JsonObject,
    PendingCreate,
    TaskRecord,
    TaskUpdate,
    matches,
    merge_files,
)

TASKS_KEPT = 500


class MemoryRecords:
    def __init__(self, size: int = TASKS_KEPT, *, wall: Callable[[], float] = time.time) -> None:
        self._tasks: OrderedDict[str, TaskRecord] = OrderedDict()  # insertion order: oldest first
        self._pending: dict[str, PendingCreate] = {}
        self._records: dict[tuple[str, str], tuple[float | None, float, JsonObject]] = {}  # expires, stored, value
        self._size = size
        self._wall = wall

    # ---- tasks ---------------------------------------------------------------------------------------

    async def add_task(self, record: TaskRecord, settles: str | None = None) -> None:
        if settles is not None:
            self._pending.pop(settles, None)
        self._tasks[record.taskId] = record.model_copy(deep=True)
        self._tasks.move_to_end(record.taskId)
        while len(self._tasks) > self._size:
            # Drop the oldest finished task; if none is finished, the oldest of all.
            oldest = next((k for k, r in self._tasks.items() if r.done), next(iter(self._tasks)))
            del self._tasks[oldest]

    async def get_task(self, task_id: str) -> TaskRecord | None:
        found = self._tasks.get(task_id)
        return None if found is None else found.model_copy(deep=True)

    async def update_task(self, task_id: str, update: TaskUpdate) -> TaskRecord | None:
        found = self._tasks.get(task_id)
        if found is None:
            return None
        self._tasks[task_id] = update.apply(found)
        return self._tasks[task_id].model_copy(deep=True)

    async def add_files(self, task_id: str, paths: Sequence[str]) -> None:
        found = self._tasks.get(task_id)
        if found is not None:
            found.files = merge_files(found.files, paths)

    async def list_tasks(
        self,
        *,
        statuses: Sequence[str] | None = None,
        done: bool | None = None,
        text: str | None = None,
        upstream: str | None = None,
        limit: int = 20,
    ) -> list[TaskRecord]:
        newest = sorted(reversed(self._tasks.values()), key=lambda r: r.created, reverse=True)  # stable
        picked = [r for r in newest if matches(r, statuses, done, text, upstream)][:limit]
        return [r.model_copy(deep=True) for r in picked]

    # ---- pending creates -----------------------------------------------------------------------------

    async def put_pending(self, pending: PendingCreate) -> None:
        self._pending[pending.id] = pending.model_copy(deep=True)

    async def delete_pending(self, pending_id: str) -> None:
        self._pending.pop(pending_id, None)

    async def claim_pending(
        self, now: float, hold: float, limit: int = 20, upstream: str | None = None
    ) -> list[PendingCreate]:
        free = sorted(
            (p for p in self._pending.values() if p.held_until <= now and upstream in (None, p.upstream)),
            key=lambda p: p.since,
        )[:limit]
        for p in free:
            p.held_until = now + hold
        return [p.model_copy(deep=True) for p in free]

    # ---- keyed records with a lifetime ---------------------------------------------------------------

    async def put_record(self, kind: str, key: str, value: JsonObject, ttl: float | None = None) -> None:
        now = self._wall()
        self._records[kind, key] = (None if ttl is None else now + ttl, now, dict(value))
        self._expire(now)

    async def get_record(self, kind: str, key: str) -> JsonObject | None:
        found = self._records.get((kind, key))
        if found is None or _expired(found[0], self._wall()):
            return None
        return dict(found[2])

    async def delete_record(self, kind: str, key: str) -> bool:
        found = self._records.pop((kind, key), None)
        return found is not None and not _expired(found[0], self._wall())

    async def list_records(self, kind: str, limit: int = 100) -> list[tuple[str, JsonObject]]:
        now = self._wall()
        live = [(k, v) for (kd, k), v in self._records.items() if kd == kind and not _expired(v[0], now)]
        live.sort(key=lambda item: item[1][1], reverse=True)
        return [(k, dict(v[2])) for k, v in live[:limit]]

    def _expire(self, now: float) -> None:
        for k in [k for k, v in self._records.items() if _expired(v[0], now)]:
            del self._records[k]


def _expired(expires: float | None, now: float) -> bool:
    return expires is not None and expires <= now
