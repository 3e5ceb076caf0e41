"""The client half of `io.modelcontextprotocol/tasks` for Python users of the mcp SDK (2.3).

    async with Client(server_or_url, extensions=[TasksClient()]) as client:
        result = await client.call_tool("generate_frames", {...})  # polls tasks/get itself, returns the result

Declaring the extension lets a 2026-07-28 server answer a long call with a task handle; the claim below
turns that handle back into the tool's `CallToolResult`, polling `tasks/get` at the pace the server asks
(`pollIntervalMs`). For the handle itself: `client.session.call_tool(..., allow_claimed=True)` returns a
`CreateTaskResult`, then `get_task`, `wait_for` and `cancel_task` drive it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import anyio
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp.types import CallToolResult, Result
from mcp_types import Request
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from frames_mcp.server.tasks_wire import (
    EXTENSION_ID,
    TERMINAL_STATUSES,
    CreateTaskResult,
    DetailedTask,
    TaskIdParams,
)

DEFAULT_POLL_SECONDS = 1.0  # when a server names no pollIntervalMs
MIN_POLL_SECONDS = 0.05  # a server asking for 0 must not make the client spin


class GetTaskRequest(Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: TaskIdParams
    name_param = "taskId"  # the SDK mirrors it into the Mcp-Name header over HTTP, as SEP-2663 requires


class CancelTaskRequest(Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: TaskIdParams
    name_param = "taskId"


class TaskFailed(RuntimeError):
    """The task ended `failed` (a protocol-level error) or `cancelled`; `task` is its last state."""

    def __init__(self, task: DetailedTask) -> None:
        error = task.error or {}
        super().__init__(f"Task {task.task_id} {task.status}: {error.get('message') or task.status_message or ''}")
        self.task = task


async def get_task(session: ClientSession, task_id: str) -> DetailedTask:
    """One `tasks/get` (over HTTP the SDK sends the taskId as the Mcp-Name header)."""
    return await session.send_request(GetTaskRequest(params=TaskIdParams(task_id=task_id)), DetailedTask)


async def cancel_task(session: ClientSession, task_id: str) -> None:
    await session.send_request(CancelTaskRequest(params=TaskIdParams(task_id=task_id)), Result)


async def wait_for(session: ClientSession, handle: CreateTaskResult | DetailedTask) -> DetailedTask:
    """Poll until the task is completed, failed or cancelled, waiting what the server asks between polls."""
    task = handle if isinstance(handle, DetailedTask) else None
    interval = handle.poll_interval_ms
    while task is None or task.status not in TERMINAL_STATUSES:
        seconds = DEFAULT_POLL_SECONDS if interval is None else max(MIN_POLL_SECONDS, interval / 1000)
        await anyio.sleep(seconds)
        task = await get_task(session, handle.task_id)
        interval = task.poll_interval_ms
    return task


class TasksClient(ClientExtension):
    """Declare the tasks extension and resolve task handles transparently in `Client.call_tool`."""

    identifier = EXTENSION_ID

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return [
            ResultClaim(
                result_type="task",
                model=CreateTaskResult,
                resolve=self._resolve,
                protocol_versions=frozenset(MODERN_PROTOCOL_VERSIONS),
            )
        ]

    async def _resolve(self, handle: CreateTaskResult, ctx: ClaimContext) -> CallToolResult:
        final = await wait_for(ctx.session, handle)
        if final.status == "completed":
            return CallToolResult.model_validate(final.result or {})
        raise TaskFailed(final)
