"""Wire shapes of the `io.modelcontextprotocol/tasks` extension (SEP-2663, protocol 2026-07-28).

mcp 2.3.0 ships only the 2025-11-25 task types (nested `task`, `ttl`), so the 2026 shapes are defined here,
once, for both halves: the server (`mcp_tasks`) dumps them, the client (`tasks_client`) reads them. The
requests only a client sends are in tasks_client.py, so a server's start does not build them.
A `CreateTaskResult` is flat (`resultType: "task"` beside the task's fields); `tasks/get` answers a
`DetailedTask` (`resultType: "complete"`) that inlines the tool's `CallToolResult` once `completed`.
"""

# No `from __future__ import annotations` here: pydantic evaluates every string annotation of a model when
# the class is made, and these are made at each start (startup, BENCHMARKS.md).
from typing import Any, Literal

from mcp_types import RequestParams, Result
from pydantic import ConfigDict, Field

EXTENSION_ID = "io.modelcontextprotocol/tasks"

TaskStatus = Literal["working", "input_required", "completed", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class TaskFields(Result):
    """The fields every task shape carries (camelCase on the wire; `ttlMs` is required but may be null)."""

    model_config = ConfigDict(defer_build=True)  # built at a client's first task call, not at every start

    task_id: str
    status: TaskStatus
    status_message: str | None = None
    created_at: str  # ISO 8601
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class CreateTaskResult(TaskFields):
    """What `tools/call` answers when the server runs the call as a task."""

    result_type: Literal["task"] = "task"


class DetailedTask(TaskFields):
    """What `tasks/get` answers: the task, plus the tool's result once completed or the JSON-RPC error once failed."""

    result_type: Literal["complete"] = "complete"
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    input_requests: dict[str, Any] | None = Field(default=None, alias="inputRequests")


class TaskIdParams(RequestParams):
    """Params of `tasks/get` and `tasks/cancel`."""

    model_config = ConfigDict(defer_build=True)

    task_id: str = Field(max_length=200)


class UpdateTaskParams(TaskIdParams):
    """Params of `tasks/update` (no frames-mcp task ever asks for input, so it is only acknowledged)."""

    input_responses: dict[str, Any] = Field(default_factory=dict)


def wire(fields: TaskFields) -> dict[str, Any]:
    """A task shape as a JSON-ready dict that keeps `ttlMs: null` (the runner's own dump drops None values)."""
    out = fields.model_dump(mode="json", by_alias=True, exclude_none=True)
    out["ttlMs"] = fields.ttl_ms
    return out
