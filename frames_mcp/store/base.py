"""The store: where tasks outlive the call, the process and the machine. One interface, three backends
(memory, SQLite, Redis), chosen by URL (see open_store in this package)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from frames_mcp.store.records import TaskRecords

Backend = Literal["memory", "sqlite", "redis"]


class StoreError(Exception):
    """The store could not be opened, read or written. The message says what, in words a person can act on,
    and never carries a password."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Store:
    """An open store. `records` holds tasks and pending creates; `slots` holds the shared admission line
    (issue 11b plugs it in); `connection` is the backend's own connection object (None for memory, the
    sqlite `Database`, or a `redis.asyncio.Redis` client) so the slots half can share it."""

    def __init__(
        self,
        backend: Backend,
        where: str,
        records: TaskRecords,
        *,
        connection: Any = None,
        closer: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.backend: Backend = backend
        self.where = where  # for logs: a path, or a Redis address without its password
        self.records = records
        self.connection = connection
        self.slots: Any = None  # a SlotLine (frames_mcp.store.slots) once the admission half is wired in
        self._closer = closer
        self._closed = False

    def describe(self) -> str:
        return self.backend if self.backend == "memory" else f"{self.backend} at {self.where}"

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._closer is not None:
            await self._closer()

    def __repr__(self) -> str:
        return f"<Store {self.describe()}>"
