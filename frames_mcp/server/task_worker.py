"""One MCP task at work in this process: the tool's events become writes to its handle.

`background()` tells a tool handler whether its call runs as an MCP task; if so it reports its events to
the `Background` instead of sending progress notifications (tasks carry none), and may wait past its
wait_seconds. The worker also beats (so other replicas know it is alive) and records how the call ended.
Who may read a handle is decided here too (`principal_of`).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import MCPError
from mcp.server.context import HandlerResult, ServerRequestContext
from mcp.types import CallToolResult
from mcp_types.jsonrpc import INTERNAL_ERROR
from pydantic import BaseModel

from frames_mcp.jobs.durations import Durations
from frames_mcp.jobs.events import Event, OnEvent
from frames_mcp.jobs.polling import PollSchedule, Predictor
from frames_mcp.server.task_handles import Handle, Handles
from frames_mcp.useapi.models import Task

log = logging.getLogger(__name__)

Describe = Callable[[Event], tuple[float, str]]  # an event -> (progress 0..1, what a person reads)


@dataclass(frozen=True)
class TaskTuning:
    """How long handles live and how the worker reports; tests shrink the times."""

    # Handles live 24 h from creation: the signed image links in a finished result last 24-48 h from when they
    # were read, so a result served from its handle never holds a link that has already expired.
    ttl: float = 24 * 3600.0
    wait: float = 3600.0  # the longest a task waits for Runway; then it completes as "still running, use get_task"
    heartbeat: float = 10.0  # the owner writes a sign of life this often
    stale: float = 35.0  # a working handle whose owner was silent this long is taken over by whoever reads it
    poll_margin: float = 0.3  # ask the client to come back this long after the owner's next poll of useapi
    poll_min: float = 0.25
    poll_max: float = 30.0
    write_every: float = 1.0  # estimated progress is written at most this often


Resume = Callable[[Any, Handle, "Background"], Awaitable[CallToolResult]]  # (app state, handle, background) -> result


def _digest(text: str) -> str:
    return hashlib.sha256(f"frames-mcp/principal\0{text}".encode()).hexdigest()[:32]


def _process_principal() -> str:
    """stdio and in-memory callers: the client process that started this server (its pid and start time)."""
    ppid = os.getppid()
    try:  # field 22 of /proc/PID/stat, after the parenthesised command name: tells a reused pid apart
        started = Path(f"/proc/{ppid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        started = ""
    return _digest(f"process:{ppid}:{started}")


PROCESS_PRINCIPAL = _process_principal()


def principal_of(ctx: ServerRequestContext[Any, Any]) -> str:
    """Who is asking: the bearer credential's digest over HTTP (never the credential), else the client process."""
    request = ctx.request
    if request is None:
        return PROCESS_PRINCIPAL
    scheme, _, credential = str(request.headers.get("authorization") or "").strip().partition(" ")
    return _digest(f"bearer:{credential.strip()}") if scheme.lower() == "bearer" else _digest("http:anonymous")


_current: contextvars.ContextVar[Background | None] = contextvars.ContextVar("frames_mcp_task", default=None)


def background() -> Background | None:
    """The MCP task this tool call runs as, or None when it answers synchronously."""
    return _current.get()


class Background:
    """One MCP task being worked on in this process: turns the tool's events into handle writes."""

    def __init__(
        self,
        handle: Handle,
        handles: Handles,
        tuning: TaskTuning,
        schedule: PollSchedule,
        me: str,
        durations: Durations | None = None,
    ) -> None:
        self.handle = handle
        self.wait_seconds = tuning.wait
        self.published = handle.upstream is not None  # a resumed handle is out already
        self.cancelled = False
        self.decided = anyio.Event()  # set once the caller can be answered: with the handle, or with the result
        self.outcome: HandlerResult | BaseException | None = None
        self.scope = anyio.CancelScope()
        self._handles = handles
        self._tuning = tuning
        self._predictor = Predictor(schedule, durations)  # what the owner's wait loop decides, to hint it
        self._me = me
        self._written = 0.0

    def events(self, describe: Describe, before: OnEvent | None = None) -> OnEvent:
        """The tool's event sink. Until the handle is out the call is an ordinary request still waiting (in the
        local line, or on a busy account), so `before` (its progress notifications) hears those events."""

        async def on_event(event: Event) -> None:
            if not self.published and before is not None and not isinstance(event, Task):
                await before(event)
                return
            _, message = describe(event)
            if isinstance(event, Task):
                await self._on_task(event, message)
            elif self.published and time.time() - self._written >= self._tuning.write_every:
                await self._write(message=f"{message} (Runway taskId {self.handle.upstream})")

        return on_event

    async def _on_task(self, task: Task, message: str) -> None:
        now, mono = time.time(), time.monotonic()
        self._predictor.record(task, mono)
        self.handle.upstream = task.taskId
        self.handle.next_update = now + (self._predictor.next_poll(mono) - mono)
        text = f"{message} (Runway taskId {task.taskId})"
        if self.published:
            await self._write(message=text)
        elif not task.is_terminal:  # created and recorded upstream: now the handle, then the answer
            self.handle.message = text
            try:
                await self._write()
            except Exception:  # no handle without its record: the call goes on and answers synchronously
                log.exception("could not record MCP task %s; answering synchronously", self.handle.id)
                return
            self.published = True
            self.decided.set()

    async def _write(self, **changes: Any) -> None:
        if self.cancelled:
            return
        if not self.published:
            await self._put(changes)
            return
        try:
            await self._put_unless_cancelled(changes)
        except Exception:  # the wait goes on; the record catches up at the next write
            log.exception("could not update MCP task %s", self.handle.id)

    async def _put_unless_cancelled(self, changes: dict[str, Any]) -> None:
        stored = await self._handles.get(self.handle.id)  # another replica may have cancelled it
        if stored is not None and stored.status == "cancelled":
            self.cancelled = True
            self.scope.cancel()
            return
        await self._put(changes)

    async def _put(self, changes: dict[str, Any]) -> None:
        now = time.time()
        for key, value in changes.items():
            setattr(self.handle, key, value)
        if changes:  # a bare heartbeat is not an update a client should see
            self.handle.updated = self._written = now
        self.handle.beat = now
        self.handle.owner = self._me
        await self._handles.put(self.handle)

    async def run(self, work: Callable[[], Awaitable[HandlerResult]]) -> None:
        """Run the tool (or a resumed wait) to its end, beating while it waits, and record how it ended."""
        _current.set(self)
        error: Exception | None = None
        with self.scope:
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._beat)
                    try:
                        result = await work()
                    except Exception as e:  # kept out of the group, so it reaches the caller unwrapped
                        error = e
                    tg.cancel_scope.cancel()
                if error is None:
                    await self._finish(result)
                elif not self.published:  # before the handle: the caller's own error, as without tasks
                    self.outcome = error
                else:  # a protocol-level failure of a task: `failed`, with a JSON-RPC error
                    log.error("MCP task %s failed", self.handle.id, exc_info=error)
                    code = error.error.code if isinstance(error, MCPError) else INTERNAL_ERROR
                    text = error.error.message if isinstance(error, MCPError) else "The tool failed unexpectedly."
                    await self._write(status="failed", error={"code": code, "message": text}, message=text)
            finally:
                self.decided.set()

    async def _finish(self, result: HandlerResult) -> None:
        if not self.published:
            self.outcome = result
            return
        dumped = (
            result.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(result, BaseModel)
            else dict(result or {})
        )
        first = next((c.get("text") for c in dumped.get("content", []) if c.get("type") == "text"), None)
        summary = (first or "Done.").split("\n", 1)[0][:500]
        await self._write(status="completed", result=dumped, message=summary, next_update=None)

    async def _beat(self) -> None:
        while True:
            await anyio.sleep(self._tuning.heartbeat)
            if self.published:
                await self._write()

    async def orphan(self) -> None:
        """This process stops: say so, so another replica takes the wait over at once, not after `stale`."""
        if self.published and not self.cancelled and not self.handle.final:
            self.cancelled = True  # and write nothing more: a later beat would undo this
            self.handle.owner, self.handle.beat = None, 0.0
            await self._handles.put(self.handle)
