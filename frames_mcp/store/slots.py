"""Admission shared through the store: per account, a first-in first-out line of waiting calls and the
slots held by admitted ones, seen alike by every process on the same store.

The model, the same in every backend:
- A call *joins* the line with a ticket; tickets are ordered by when they joined, across processes. Ticket
  and slot ids are chosen by the caller (`new_id`), so a call whose answer was lost can still give back
  whatever the store did for it (a lost join or take must not leave a place or a slot behind, renewed
  for as long as the process lives).
- It *takes* a slot when fewer than `limit - held` tickets are ahead of it (so nobody overtakes an
  earlier caller, and several free slots fill at once). Its standing says how many calls are ahead
  (every process's) and how many slots are held.
- A slot is *abandoned* with its task when its call ends while the task still runs (it stays counted;
  waiters read the task from `check_at` on, and whoever sees the task final frees it: `finished`), and
  *released* when its call sees the task final, or none was created.
- Tickets and slots are leases of the process holding them: its one owner lease, renewed by the server's
  lifespan every `lease / 3`. A process that dies (kill -9) stops renewing; when its lease ends, every
  backend sweeps its tickets and slots away on the next operation, so the line moves on.
- Every change that can move someone's standing bumps a version (joining at the end does not); `wait`
  returns once the version passed the one a standing was read at (in the SQLite and Redis backends a single
  poller per process watches for other processes' changes).
  A lease that ends changes nothing by itself, so a standing also says when the next one of another
  process ends (`lapse_in`): a waiter looks again then, and its `take` sweeps.
Times in the store are wall-clock seconds (the same on every process of one machine; Redis uses its own
clock for leases). No MCP types, nothing of the useapi token.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

import anyio

from frames_mcp.store.base import Store, StoreError

log = logging.getLogger(__name__)

DEFAULT_LEASE = 30.0  # seconds a dead process's slots stay counted; renewed every third of it
WATCH_EVERY = 0.02  # how often a process with waiting calls looks for other processes' changes


# A NamedTuple, not a frozen dataclass: the class is made at every start, and a dataclass costs 4x as much to make.
class Standing(NamedTuple):
    """Where a ticket stands after `take`."""

    slot: str | None  # the slot taken, or None: still waiting
    ahead: int  # calls ahead in line, every process's (0 once taken)
    held: int  # slots held on the account, every process's, this one's included once taken
    placed: bool  # False: the ticket is no longer in line (its lease lapsed): join again
    next_check: float | None  # wall time of the earliest orphan check due on the account
    # The line's version this standing was read at (for `wait`). Each place or slot that goes (a leave, a
    # release, each one a sweep removes) adds at least one, so a caller n steps from its turn need not look
    # again before the version moved n.
    version: int
    lapse_in: float | None = None  # seconds until another process's lease ends (a sweep may then free slots)


class SlotLine(Protocol):
    """The lease/line model above; one instance per server process (one event loop)."""

    lease: float

    async def join(self, account: str, ticket: str) -> None:
        """A place for `ticket` at the end of `account`'s line."""
        ...

    async def take(self, account: str, ticket: str, limit: int, slot: str, *, join: bool = False) -> Standing:
        """Take a slot (named `slot`) if the ticket's turn has come (the ticket then leaves the line), else
        the ticket's standing. `join`: put the ticket at the end of the line first, in the same operation
        (a call that finds a free slot costs the store one round trip)."""
        ...

    async def leave(self, account: str, ticket: str) -> None:
        """Give up a place in line (cancelled, or the budget ended); a no-op if already gone."""
        ...

    async def abandon(self, account: str, slot: str, task_id: str, check_at: float) -> None:
        """The call ended while its task `task_id` runs: the slot stays counted; waiters read the task from
        `check_at`, and whoever sees it final frees the slot (`finished`)."""
        ...

    async def release(self, account: str, slot: str) -> None:
        """The slot is free (its task is final, or none was created)."""
        ...

    async def finished(self, task_id: str) -> bool:
        """`task_id` was seen final by anyone: free the slot bound to it, whichever process holds it."""
        ...

    async def due(self, account: str, now: float, later: float) -> list[str]:
        """Claim the orphaned tasks whose check is due at `now` (their next check moves to `later`, so two
        processes do not read the same task at once); their taskIds."""
        ...

    async def counts(self, account: str) -> tuple[int, int]:
        """(slots held, calls waiting) on `account`, every process's."""
        ...

    async def renew(self) -> None:
        """Extend this process's lease, and with it every ticket and slot it holds."""
        ...

    async def wait(self, version: int, within: float) -> None:
        """Until the line changed after `version`, or `within` seconds."""
        ...

    async def aclose(self) -> None:
        """Stop (the lease is left to lapse: abandoned tasks may still run upstream)."""
        ...


async def keep_renewed(line: SlotLine, before: Callable[[], Awaitable[None]] | None = None) -> None:
    """The lifespan's renewal loop: renews the lease every third of it until cancelled; failures are
    logged and retried (a store that stays away past the lease lets other processes reuse the slots).
    `before` runs first each time (the admission gives back the slots whose release failed: renewing them
    would keep them counted for as long as this process lives)."""
    while True:
        await anyio.sleep(line.lease / 3)
        try:
            if before is not None:
                await before()
            await line.renew()
        except StoreError as e:
            log.warning("could not renew the admission lease: %s", e)


def attach(store: Store, lease: float = DEFAULT_LEASE) -> SlotLine:
    """The store's admission line (on the store's own connection), set as `store.slots` and returned."""
    from frames_mcp.store.opening import LateLine, OpeningStore  # which imports this module

    line: SlotLine
    if isinstance(store, OpeningStore):  # not open yet: the line is attached to the real store once it is
        line = LateLine(store, lease)
    elif store.backend == "sqlite":
        from frames_mcp.store.slots_sqlite import SqliteSlots

        line = SqliteSlots(store.connection, lease=lease)
    elif store.backend == "redis":
        from frames_mcp.store.slots_redis import RedisSlots

        line = RedisSlots(store.connection, lease=lease)
    else:
        from frames_mcp.store.slots_memory import MemorySlots

        line = MemorySlots(lease)
    store.slots = line
    return line


def new_id() -> str:
    """A fresh owner, ticket or slot id."""
    return uuid.uuid4().hex


class Versioned:
    """The version and wake-up half of a backend. `bump` records a version read from (or written to) the
    store; `wait` returns once it passes the caller's. Backends shared between processes give `poll`
    (read the store's version); then one waiter at a time polls it every `watch_every` seconds."""

    def __init__(self, poll: Callable[[], Awaitable[int]] | None = None, watch_every: float = WATCH_EVERY) -> None:
        self._known = 0
        self._event = anyio.Event()
        self._poll = poll
        self._polling = False
        self.watch_every = watch_every

    def bump(self, version: int) -> None:
        if version > self._known:
            self._known = version
            self._wake()

    def _wake(self) -> None:
        self._event.set()
        self._event = anyio.Event()

    async def wait(self, version: int, within: float) -> None:
        with anyio.move_on_after(max(0.0, within)):
            while self._known <= version:
                if self._poll is None or self._polling:
                    await self._event.wait()
                    continue
                self._polling = True  # this waiter watches for the whole process until it returns
                try:
                    while self._known <= version:
                        with anyio.move_on_after(self.watch_every):
                            await self._event.wait()
                        if self._known <= version:
                            await self._poll_once()
                finally:
                    self._polling = False
                    self._wake()  # another waiter takes the watch over

    async def _poll_once(self) -> None:
        assert self._poll is not None
        try:
            self.bump(await self._poll())
        except StoreError as e:
            log.info("could not read the admission line's version: %s", e)
            await anyio.sleep(self.watch_every * 10)  # the store is away: do not spin on it
