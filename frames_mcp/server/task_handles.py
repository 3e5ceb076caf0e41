"""The records behind MCP task handles: what `tasks/get` answers from, on whichever replica receives it.

A handle is a small JSON document keyed by its MCP taskId and kept for a TTL. It names the caller it
belongs to (a principal digest, never a credential), the useapi task it follows, the state a person
reads, when the owning process expects news, and, once the tool has finished, its whole `CallToolResult`.
`Handles` is the narrow protocol the extension needs; `StoreHandles` keeps them in the durable store's keyed
records with their TTL.
"""

# No `from __future__ import annotations` here: pydantic evaluates every string annotation of a model when
# the class is made, and these are made at each start (startup, BENCHMARKS.md).
import time
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from frames_mcp.server.tasks_wire import TaskStatus
from frames_mcp.store.records import TaskRecords

KIND = "mcp-task"  # the record kind in the store


class Handle(BaseModel):
    """One MCP task as stored. Times are wall-clock seconds (shared by every replica)."""

    model_config = ConfigDict(defer_build=True)  # built at the first task call, not at every start

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


class StoreHandles:
    """Handles as the store's keyed records (kind `mcp-task`), so every process of one store sees them: memory
    for one process, SQLite for one machine's processes, Redis for a fleet. The store drops them at expiry."""

    def __init__(self, records: TaskRecords, wall: Callable[[], float] = time.time) -> None:
        self._records = records
        self._wall = wall

    async def put(self, handle: Handle) -> None:
        ttl = max(0.001, handle.expires - self._wall())
        await self._records.put_record(KIND, handle.id, handle.model_dump(mode="json"), ttl=ttl)

    async def get(self, handle_id: str) -> Handle | None:
        found = await self._records.get_record(KIND, handle_id)
        return None if found is None else Handle.model_validate(found)
