"""The server half of `io.modelcontextprotocol/tasks` (SEP-2663): generate_frames as a native MCP task.

When a 2026-07-28 client declares the extension on a `tools/call` of generate_frames (or of get_task with
a wait), the call runs in a worker owned by the server's lifespan. The handle (`CreateTaskResult`) goes out
only once the useapi task exists and the handle is recorded, so a call that creates nothing answers exactly
as it does today. From then on the worker waits with no 50 s budget, writing what a person should read
into the handle; `tasks/get` answers from the record on any replica, and a replica that finds a record
whose owner went quiet (it stopped, or crashed) takes the wait over. Everything else passes through.

The tool handlers stay the same code for both paths: they ask `background()` whether they run as a task,
and if so report their events to it instead of sending progress notifications (which tasks do not carry).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup
from mcp import MCPError
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.inbound import MCP_NAME_HEADER, decode_header_value
from mcp.types import CallToolRequestParams
from mcp_types.jsonrpc import HEADER_MISMATCH, INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from frames_mcp.jobs.durations import Durations
from frames_mcp.jobs.polling import PollSchedule
from frames_mcp.server.task_handles import Handle, Handles
from frames_mcp.server.task_worker import Background, Resume, TaskTuning, background, principal_of
from frames_mcp.server.tasks_wire import (
    EXTENSION_ID,
    CreateTaskResult,
    DetailedTask,
    TaskIdParams,
    UpdateTaskParams,
    wire,
)

__all__ = ["Background", "McpTasks", "TaskTuning", "background"]

log = logging.getLogger(__name__)

MODERN = frozenset(MODERN_PROTOCOL_VERSIONS)


CANCELLED = (
    "Cancelled: this server stopped waiting for Runway task {upstream}. Runway cannot cancel a task, so the "
    "generation may still finish (and be charged); get_task with that taskId can still read it and its images."
)


class McpTasks(Extension):
    """`io.modelcontextprotocol/tasks` for generate_frames, and for get_task when it is asked to wait."""

    identifier = EXTENSION_ID

    def __init__(self, resume: Resume, *, tuning: TaskTuning | None = None) -> None:
        self._resume = resume
        self._schedule = PollSchedule()  # the session's, and its observed durations, once `running`
        self._durations: Durations | None = None
        self.tuning = tuning or TaskTuning()
        self._me = secrets.token_hex(8)  # this process, as a handle's owner
        self._tg: TaskGroup | None = None
        self._handles: Handles | None = None
        self._live: dict[str, Background] = {}

    def settings(self) -> dict[str, Any]:
        return {}

    def methods(self) -> Sequence[MethodBinding]:
        return [
            MethodBinding("tasks/get", TaskIdParams, self._get, protocol_versions=MODERN),
            MethodBinding("tasks/update", UpdateTaskParams, self._update, protocol_versions=MODERN),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel, protocol_versions=MODERN),
        ]

    @asynccontextmanager
    async def running(
        self, handles: Handles, schedule: PollSchedule, durations: Durations | None = None
    ) -> AsyncIterator[None]:
        """The worker, for the server's lifespan: MCP tasks wait in its task group and end with it. `schedule` and
        `durations` are the session's own poll schedule (the demo's is shorter) and what it learned of run
        times, so the `pollIntervalMs` a client is told points just after the owner's real next look."""
        self._schedule, self._durations = schedule, durations
        async with anyio.create_task_group() as tg:
            self._tg, self._handles = tg, handles
            try:
                yield
            finally:
                self._tg = None
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    for call in list(self._live.values()):
                        await call.orphan()
                tg.cancel_scope.cancel()

    # ---- tools/call ----------------------------------------------------------------------------------

    def _runs_as_task(self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any]) -> bool:
        if self._tg is None or ctx.protocol_version not in MODERN:
            return False
        caps = ctx.session.client_capabilities  # this request's own declaration on 2026-07-28
        if caps is None or EXTENSION_ID not in (caps.extensions or {}):
            return False
        args = params.arguments or {}
        return params.name == "generate_frames" or (params.name == "get_task" and bool(args.get("wait_seconds")))

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if not self._runs_as_task(params, ctx):
            return await call_next(ctx)
        assert self._tg is not None and self._handles is not None
        now = time.time()
        handle = Handle(
            id=secrets.token_urlsafe(18),
            principal=principal_of(ctx),
            tool=params.name,
            created=now,
            updated=now,
            ttl=self.tuning.ttl,
            args=dict(params.arguments or {}),
        )
        call = Background(handle, self._handles, self.tuning, self._schedule, self._me, self._durations)
        self._start(call, lambda: call_next(ctx))
        try:
            await call.decided.wait()
        except anyio.get_cancelled_exc_class():
            if not call.published:  # the caller gave up before anything was created: nothing is left to follow
                call.scope.cancel()
            raise
        if call.published:
            return wire(self._task_of(handle, CreateTaskResult))
        if isinstance(call.outcome, BaseException):
            raise call.outcome
        return call.outcome  # answered as today: the very result the tool gave

    def _start(self, call: Background, work: Callable[[], Awaitable[HandlerResult]]) -> None:
        """Run `call` in the lifespan's task group; it counts as live here from now (no second take-over)."""
        assert self._tg is not None
        self._live[call.handle.id] = call

        async def run() -> None:
            try:
                await call.run(work)
            finally:
                self._live.pop(call.handle.id, None)

        self._tg.start_soon(run)

    # ---- tasks/* -------------------------------------------------------------------------------------

    async def _find(self, ctx: ServerRequestContext[Any, Any], task_id: str) -> Handle:
        require_client_extension(ctx, EXTENSION_ID)  # -32021 for a client that did not declare it
        request = ctx.request
        named = request.headers.get(MCP_NAME_HEADER) if request is not None else None
        if named is not None and decode_header_value(named) != task_id:
            raise MCPError(HEADER_MISMATCH, f"The {MCP_NAME_HEADER} header does not match the request's taskId.")
        handle = await self._handles.get(task_id) if self._handles is not None else None
        if handle is None or handle.principal != principal_of(ctx) or handle.expires <= time.time():
            # Another caller's task is answered exactly like one that never existed.
            raise MCPError(
                INVALID_PARAMS,
                f"Unknown or expired taskId {task_id[:200]!r}: MCP tasks are kept {self.tuning.ttl / 3600:g} h. "
                "A generation's images can still be read with get_task and its Runway taskId (list_tasks lists them).",
            )
        return handle

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        handle = await self._find(ctx, params.task_id)
        if handle.status == "working" and handle.id not in self._live and self._owner_gone(handle):
            self._adopt(ctx, handle)
        return wire(self._task_of(handle, DetailedTask, result=handle.result, error=handle.error))

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> dict[str, Any]:
        await self._find(ctx, params.task_id)  # no frames-mcp task asks for input: nothing to deliver
        return {}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        handle = await self._find(ctx, params.task_id)
        if handle.final:
            return {}
        local = self._live.get(handle.id)
        if local is not None:
            local.cancelled = True
            local.scope.cancel()
        now = time.time()
        handle.status, handle.updated, handle.next_update = "cancelled", now, None
        handle.message = CANCELLED.format(upstream=handle.upstream)
        assert self._handles is not None
        await self._handles.put(handle)
        return {}

    def _owner_gone(self, handle: Handle) -> bool:
        return handle.owner is None or time.time() - handle.beat > self.tuning.stale

    def _adopt(self, ctx: ServerRequestContext[Any, Any], handle: Handle) -> None:
        """Take over the wait of a handle whose owner stopped: follow its useapi task here, to the same result."""
        if self._tg is None or self._handles is None or handle.upstream is None:
            return
        log.info("taking over MCP task %s (Runway task %s)", handle.id, handle.upstream)
        call = Background(handle, self._handles, self.tuning, self._schedule, self._me, self._durations)
        state = ctx.lifespan_context
        self._start(call, lambda: self._resume(state, handle, call))

    def _task_of(self, handle: Handle, shape: type[CreateTaskResult] | type[DetailedTask], **extra: Any) -> Any:
        return shape(
            **extra,
            task_id=handle.id,
            status=handle.status,
            status_message=handle.message,
            created_at=_iso(handle.created),
            last_updated_at=_iso(handle.updated),
            ttl_ms=int(handle.ttl * 1000),
            poll_interval_ms=self._poll_ms(handle) if handle.status == "working" else None,
        )

    def _poll_ms(self, handle: Handle) -> int:
        """Come back just after the owner's next look at useapi: polling sooner would only read the same state."""
        t = self.tuning
        wait = t.poll_min if handle.next_update is None else handle.next_update - time.time() + t.poll_margin
        return int(min(max(wait, t.poll_min), t.poll_max) * 1000)


def _iso(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
