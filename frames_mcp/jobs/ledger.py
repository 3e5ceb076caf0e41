"""The ledger: the one record of the tasks this server knows. Every task this install created lives in the store
(frames_mcp.store: this process's, earlier runs', other processes' of the same store), with every create whose
outcome is not known yet, so a cancelled or timed-out call's task can always be found again (list_tasks) and a
restart resumes an unfinished check. The taskIds handed to callers lately (completions) stay in this process.
No MCP types here.

A store that fails mid-run never fails a call: each write is tried, a failure is logged, and `add` says the task
was not recorded so the result can tell the caller. After a failure the store is left alone for a few seconds
(`guard.StoreGuard`: every operation fails at once), so a store that hangs costs a call one timeout, not one per
poll."""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from frames_mcp.jobs.guard import StoreGuard
from frames_mcp.store import (
    ArtifactRecord,
    FailureRecord,
    JsonObject,
    PendingCreate,
    StoreError,
    TaskRecord,
    TaskRecords,
    TaskUpdate,
)
from frames_mcp.store.memory import MemoryRecords
from frames_mcp.useapi.ids import TASK_ID_RE, account_of
from frames_mcp.useapi.models import FramesRequest, Task

log = logging.getLogger(__name__)

T = TypeVar("T")
PROMPT_SUMMARY = 80


def summarize(prompt: str, limit: int = PROMPT_SUMMARY) -> str:
    flat = " ".join(prompt.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class Ledger:
    def __init__(
        self, records: TaskRecords | None = None, *, rest: float = 5.0, wall: Callable[[], float] = time.time
    ) -> None:
        self.records: TaskRecords = records or MemoryRecords(wall=wall)
        self.upstream = ""  # the useapi base URL: the store's records of other upstreams are not ours
        self._handed: OrderedDict[str, None] = OrderedDict()  # taskIds returned to callers, newest last
        self._handed_max = 50
        self._wall = wall
        # After a store failure, operations fail at once for `rest` s. The durations record shares it.
        self.guard = StoreGuard(rest, wall=wall)

    def use(self, records: TaskRecords, upstream: str) -> None:
        """Point the ledger at the store the lifespan opened (the ledger exists before it, for completions)."""
        self.records, self.upstream = records, upstream

    # ---- tasks ----------------------------------------------------------------------------------------

    async def add(
        self,
        task: Task,
        prompt: str,
        options: JsonObject,
        *,
        recovered: bool = False,
        created: float | None = None,
        settles: PendingCreate | None = None,
    ) -> str | None:
        """Record a task just created (or found), clearing the pending create it answers. None when recorded,
        else why not (already logged)."""
        now = self._wall()
        record = TaskRecord(
            taskId=task.taskId,
            upstream=self.upstream,
            account=account_of(task.taskId),
            prompt=prompt,
            options=options,
            created=created or now,
            status=task.status,
            done=task.is_terminal,
            progress=task.fraction_done,
            updated=now,
            recovered=recovered,
            artifacts=artifacts_of(task),
            error=failure_of(task),
        )
        try:
            await self._store(self.records.add_task, record, settles.id if settles else None)
        except StoreError as e:
            log.error("task %s was created but could not be recorded: %s", task.taskId, e.message)
            return e.message
        return None

    async def knows(self, task_id: str) -> bool:
        """Whether the store holds this task (an unreadable store knows nothing)."""
        try:
            return await self._store(self.records.get_task, task_id) is not None
        except StoreError as e:
            log.warning("could not read the record of %s: %s", task_id, e.message)
            return False

    async def update(self, task: Task) -> None:
        """Record a fresh observation of a task this install created; other tasks are ignored."""
        seen = TaskUpdate(
            status=task.status,
            done=task.is_terminal,
            progress=task.fraction_done,
            updated=self._wall(),
            artifacts=artifacts_of(task) if task.artifacts else None,
            error=failure_of(task),
        )
        try:
            await self._store(self.records.update_task, task.taskId, seen)
        except StoreError as e:
            log.warning("could not record what was seen of %s: %s", task.taskId, e.message)

    async def saved(self, task_id: str, paths: Sequence[str]) -> None:
        try:
            await self._store(self.records.add_files, task_id, paths)
        except StoreError as e:
            log.warning("could not record the files saved from %s: %s", task_id, e.message)

    async def recent(
        self,
        *,
        statuses: Sequence[str] | None = None,
        text: str | None = None,
        done: bool | None = None,
        limit: int = 20,
    ) -> list[TaskRecord]:
        """Newest first. Raises StoreError (the caller says the records could not be read)."""
        return await self._store(
            self.records.list_tasks, statuses=statuses, done=done, text=text, upstream=self.upstream, limit=limit
        )

    # ---- creates whose outcome is not known yet -------------------------------------------------------

    async def pending(
        self, request: FramesRequest, email: str | None, since: float, hold: float
    ) -> PendingCreate | None:
        """Note a create about to be sent to `email`'s account (None: useapi picks), held by its call for `hold`
        seconds; None when the store failed."""
        p = PendingCreate(
            id=uuid.uuid4().hex,
            upstream=self.upstream,
            account=email,
            prompt=request.text_prompt,
            options=options_of(request),
            since=since,
            held_until=self._wall() + hold,
        )
        try:
            await self._store(self.records.put_pending, p)
        except StoreError as e:
            log.warning("could not note the create before sending it: %s", e.message)
            return None
        return p

    async def settle(self, pending: PendingCreate | None) -> None:
        """The create's outcome is known: a taskId, or proof that it did not run."""
        if pending is not None:
            try:
                await self._store(self.records.delete_pending, pending.id)
            except StoreError as e:
                log.warning("could not clear pending create %s: %s", pending.id, e.message)

    async def unsettled(self, pending: PendingCreate | None, retry_in: float) -> None:
        """The check could not tell: any process of the store may resume it `retry_in` seconds from now."""
        if pending is not None:
            later = pending.model_copy(update={"held_until": self._wall() + retry_in, "checks": pending.checks + 1})
            try:
                await self._store(self.records.put_pending, later)
            except StoreError as e:
                log.warning("could not keep pending create %s: %s", pending.id, e.message)

    async def claim(self, hold: float, limit: int = 10) -> list[PendingCreate]:
        try:
            return await self._store(self.records.claim_pending, self._wall(), hold, limit, self.upstream)
        except StoreError as e:
            log.warning("could not read the pending creates: %s", e.message)
            return []

    async def _store(self, op: Callable[..., Awaitable[T]], *args: object, **kwargs: object) -> T:
        """One store operation, unless the store failed moments ago (then StoreError at once)."""
        return await self.guard(op, *args, **kwargs)

    # ---- handed out lately (completions) --------------------------------------------------------------

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


def options_of(request: FramesRequest) -> JsonObject:
    """The request's options besides the prompt, as sent (JSON)."""
    dumped: JsonObject = request.model_dump(mode="json", exclude={"text_prompt"}, exclude_none=True)
    return dumped


def artifacts_of(task: Task) -> list[ArtifactRecord]:
    out = []
    for i, a in enumerate(task.artifacts):
        width, height = a.dimensions()
        preview = a.previewUrls[0] if a.previewUrls else None
        out.append(
            ArtifactRecord(index=i, url=a.url, previewUrl=preview, assetId=a.assetId, width=width, height=height)
        )
    return out


def failure_of(task: Task) -> FailureRecord | None:
    e = task.error
    if e is None:
        return None
    return FailureRecord(
        reason=e.reason, moderation_category=e.moderation_category, message=e.message or e.errorMessage
    )
