"""A store opened beside a stdio server's handshake instead of before it.

A client that spawns a stdio server waits for its answers to initialize and tools/list, and neither needs the
store; opening it (importing redis-py or sqlite3, connecting, checking the layout) is work the handshake would
otherwise wait for. `OpeningStore` stands in for the store from the start: `opening()` opens the real one in a
worker thread while the event loop serves, and every records or slots operation waits until it is open (the
first call that needs the store waits for it), then goes to the real store's. A store that cannot be opened is
handed to `on_failure` (the command line ends the process with exit 2), and every operation waiting or to come
raises StoreError: none hangs on it.

An HTTP server opens its store before it serves (`open_store`): a replica must not answer before its store is open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread

from frames_mcp.store import backend_of, open_store
from frames_mcp.store.base import Store, StoreError
from frames_mcp.store.records import JsonObject, PendingCreate, TaskRecord, TaskRecords, TaskUpdate
from frames_mcp.store.slots import SlotLine, Standing, attach

log = logging.getLogger(__name__)


class OpeningStore(Store):
    """The store at `url`, opened by `opening()`. `on_open` runs on the event loop once it is open;
    `on_failure` gets the StoreError of an open that failed (before any waiting operation sees it)."""

    def __init__(
        self,
        url: str,
        *,
        on_failure: Callable[[StoreError], None],
        on_open: Callable[[Store], None] | None = None,
        opener: Callable[[str], Store] = open_store,
    ) -> None:
        super().__init__(backend_of(url), "", LateRecords(self))
        self._url = url
        self._opener = opener
        self._on_open = on_open
        self._on_failure = on_failure
        self._real: Store | None = None
        self._failure: StoreError | None = None
        self._settled: anyio.Event | None = None  # made in the event loop, at first need

    async def ready(self) -> Store:
        """The open store, once it is; StoreError if it could not be opened."""
        if self._real is None and self._failure is None:
            await self._event().wait()
        if self._failure is not None:
            raise StoreError(self._failure.message)
        assert self._real is not None
        return self._real

    @asynccontextmanager
    async def opening(self) -> AsyncIterator[None]:
        """Open the store in the background for as long as this lasts; at the end, wait for the opening to be
        over (so a failure is reported even when the client left first), then close the store."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._open)
                yield
        finally:
            await self.close()

    async def close(self) -> None:
        if self._real is not None:
            await self._real.close()

    async def _open(self) -> None:
        began = time.perf_counter()
        try:
            with anyio.CancelScope(shield=True):  # a thread cannot be stopped: its store must not be lost
                real = await anyio.to_thread.run_sync(self._opener, self._url)
            log.debug(
                "the %s store opened in %.0f ms, beside the serving", real.backend, 1000 * (time.perf_counter() - began)
            )
        except StoreError as e:
            self._failure = e
            self._on_failure(e)
        else:
            self._use(real)
        finally:
            self._event().set()

    def _use(self, real: Store) -> None:
        self.backend, self.where, self.connection = real.backend, real.where, real.connection
        if isinstance(self.slots, LateLine):
            self.slots.use(attach(real, self.slots.lease))
        self._real = real
        if self._on_open is not None:
            self._on_open(self)

    def _event(self) -> anyio.Event:
        if self._settled is None:
            self._settled = anyio.Event()
        return self._settled


class LateRecords:
    """TaskRecords of an OpeningStore: each operation waits until the store is open."""

    def __init__(self, store: OpeningStore) -> None:
        self._store = store

    async def _records(self) -> TaskRecords:
        return (await self._store.ready()).records

    async def add_task(self, record: TaskRecord, settles: str | None = None) -> None:
        await (await self._records()).add_task(record, settles)

    async def get_task(self, task_id: str) -> TaskRecord | None:
        return await (await self._records()).get_task(task_id)

    async def update_task(self, task_id: str, update: TaskUpdate) -> TaskRecord | None:
        return await (await self._records()).update_task(task_id, update)

    async def add_files(self, task_id: str, paths: Sequence[str]) -> None:
        await (await self._records()).add_files(task_id, paths)

    async def list_tasks(
        self,
        *,
        statuses: Sequence[str] | None = None,
        done: bool | None = None,
        text: str | None = None,
        upstream: str | None = None,
        limit: int = 20,
    ) -> list[TaskRecord]:
        records = await self._records()
        return await records.list_tasks(statuses=statuses, done=done, text=text, upstream=upstream, limit=limit)

    async def put_pending(self, pending: PendingCreate) -> None:
        await (await self._records()).put_pending(pending)

    async def delete_pending(self, pending_id: str) -> None:
        await (await self._records()).delete_pending(pending_id)

    async def claim_pending(
        self, now: float, hold: float, limit: int = 20, upstream: str | None = None
    ) -> list[PendingCreate]:
        return await (await self._records()).claim_pending(now, hold, limit, upstream)

    async def put_record(self, kind: str, key: str, value: JsonObject, ttl: float | None = None) -> None:
        await (await self._records()).put_record(kind, key, value, ttl)

    async def get_record(self, kind: str, key: str) -> JsonObject | None:
        return await (await self._records()).get_record(kind, key)

    async def delete_record(self, kind: str, key: str) -> bool:
        return await (await self._records()).delete_record(kind, key)

    async def list_records(self, kind: str, limit: int = 100) -> list[tuple[str, JsonObject]]:
        return await (await self._records()).list_records(kind, limit)


class LateLine:
    """The SlotLine of an OpeningStore (slots.attach makes it): each operation waits until the store is open,
    then goes to the line attached to it."""

    def __init__(self, store: OpeningStore, lease: float) -> None:
        self._store = store
        self.lease = lease
        self._line: SlotLine | None = None

    def use(self, line: SlotLine) -> None:
        self._line = line

    async def _opened(self) -> SlotLine:
        await self._store.ready()
        assert self._line is not None
        return self._line

    async def join(self, account: str, ticket: str) -> None:
        await (await self._opened()).join(account, ticket)

    async def take(self, account: str, ticket: str, limit: int, slot: str, *, join: bool = False) -> Standing:
        return await (await self._opened()).take(account, ticket, limit, slot, join=join)

    async def leave(self, account: str, ticket: str) -> None:
        await (await self._opened()).leave(account, ticket)

    async def abandon(self, account: str, slot: str, task_id: str, check_at: float) -> None:
        await (await self._opened()).abandon(account, slot, task_id, check_at)

    async def release(self, account: str, slot: str) -> None:
        await (await self._opened()).release(account, slot)

    async def finished(self, task_id: str) -> bool:
        return await (await self._opened()).finished(task_id)

    async def due(self, account: str, now: float, later: float) -> list[str]:
        return await (await self._opened()).due(account, now, later)

    async def counts(self, account: str) -> tuple[int, int]:
        return await (await self._opened()).counts(account)

    async def renew(self) -> None:
        await (await self._opened()).renew()

    async def wait(self, version: int, within: float) -> None:
        await (await self._opened()).wait(version, within)

    async def aclose(self) -> None:
        if self._line is not None:
            await self._line.aclose()
