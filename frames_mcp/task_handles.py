"""The records behind MCP task handles: what `tasks/get` answers from, on whichever replica receives it.

A handle is a small JSON document keyed by its MCP taskId and kept for a TTL. It names the caller it
belongs to (a principal digest, never a credential), the useapi task it follows, the state a person
reads, when the owning process expects news, and, once the tool has finished, its whole `CallToolResult`.
`Handles` is the narrow protocol the extension needs; `MemoryHandles` serves one process, and the durable
store's keyed records serve a fleet through the same protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, Field

from frames_mcp.tasks_wire import TaskStatus

KIND = "mcp-task"  # the record kind in the store


class Handle(BaseModel):
    """One MCP task as stored. Times are wall-clock seconds (shared by every replica)."""

    id: str
    principal: str  # digest of who created it: the bearer identity over HTTP, the client process over stdio
    tool: str
    status: TaskStatus = "working"
    message: str | None = None
    created: float
    updated: float
    ttl: float  # seconds from `created`
    upstream: str | None = None  # the useapi taskId it follows
    args: dict[str, Any] = Field(default_factory=dict)  # what a replica needs to resume it (preview, save, ...)
    owner: str | None = None  # the process waiting for it
    beat: float = 0.0  # the owner's last sign of life
    next_update: float | None = None  # when the owner expects to poll useapi next
    result: dict[str, Any] | None = None  # the CallToolResult (wire JSON) once completed
    error: dict[str, Any] | None = None  # a JSON-RPC error object once failed

    @property
    def expires(self) -> float:
        return self.created + self.ttl

    @property
    def final(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")


class Handles(Protocol):
    """Where handles live. `put` replaces the whole record; records vanish at their expiry."""

    async def put(self, handle: Handle) -> None: ...

    async def get(self, handle_id: str) -> Handle | None: ...


class MemoryHandles:
    """Handles of one process (and of servers sharing this object in one process, as tests do)."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._records: dict[str, tuple[float, str]] = {}  # id -> (expiry, JSON): a copy, as a real store keeps
        self._wall = wall

    async def put(self, handle: Handle) -> None:
        self._sweep()
        self._records[handle.id] = (handle.expires, handle.model_dump_json())

    async def get(self, handle_id: str) -> Handle | None:
        self._sweep()
        found = self._records.get(handle_id)
        return None if found is None else Handle.model_validate_json(found[1])

    def _sweep(self) -> None:
        now = self._wall()
        for key in [k for k, (expiry, _) in self._records.items() if expiry <= now]:
            del self._records[key]
