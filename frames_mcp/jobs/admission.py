"""Per-account admission: never more than maxJobs tasks in flight on one account, counting every process
that shares the store (frames_mcp.store.slots: a line and leased slots per account, in memory, SQLite or Redis).

useapi answers 429 when an account already runs maxJobs tasks. Rather than hammer it, calls take a
slot first, from just before frames/create until their task is seen in a final state; calls beyond
the limit wait in a first-in, first-out line per account (across processes), within their own budget,
and are told how many calls are ahead of them (every process's).

A call whose budget ends while its task still runs leaves its slot *orphaned*: the task still holds a
useapi slot, so the slot stays counted, but nobody polls it. The first caller in line checks orphaned
tasks itself (through the `refresh` callback, no more often than each orphan's next check; the check is
claimed in the store, so two processes never read the same task at once), and any read of the task
elsewhere (get_task, list_tasks, in any process) releases the slot through `finished()`. So the limit
holds without background polling and without deadlock. A process that dies loses its slots when its
lease ends; `keep_renewed` (run by the server's lifespan) renews it while the process lives, first giving
back the slots and places whose release failed (`retry_releases`).

The store failing never costs a call: a call that cannot reach the line goes ahead without a shared slot
(useapi's 429s, which the client retries, still guard the account), and bookkeeping failures are logged.
No MCP types here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from frames_mcp.store.base import StoreError
from frames_mcp.store.slots import SlotLine, Standing, new_id

log = logging.getLogger(__name__)

OnQueued = Callable[[int, int, int], Awaitable[None]]  # (calls ahead, slots in use, limit)
Refresh = Callable[[list[str], float], Awaitable[None]]  # (orphaned taskIds, deadline): read them, report finished
CLEANUP_SECONDS = 5.0  # bookkeeping in a `finally` (a cancelled call's) gets this long, shielded
LINE_TTL = 1.0  # seconds the store's count of an account's waiting calls is trusted (`contended`)


@dataclass(eq=False)
class Slot:
    """One admitted call's claim on an account; bound to its task once created. `id` None: admitted without
    the shared line (the store was unreachable), so there is nothing to give back."""

    account: str
    id: str | None
    admission: Admission
    task_id: str | None = None
    released: bool = False

    def bind(self, task_id: str) -> None:
        """The call created `task_id` (known here only: the store learns it if the call abandons the slot)."""
        self.task_id = task_id
        self.admission._bound[task_id] = self

    async def release(self) -> None:
        """The task is final, or was never created: the slot is free."""
        if self.released:
            return
        self.released = True
        if self.task_id is not None:
            self.admission._bound.pop(self.task_id, None)
        if self.id is not None:
            await self.admission._give_back("release", self.account, self.id)

    async def abandon(self, check_at: float) -> None:
        """The call ends while its task runs (`check_at` on this process's monotonic clock): keep counting
        the slot; waiters check the task from `check_at`."""
        if self.released:
            return
        if self.task_id is None:  # nothing was created: nothing holds a useapi slot
            await self.release()
            return
        self.admission._bound.pop(self.task_id, None)  # from now on the store knows the task: `finished`
        if self.id is not None:
            at = self.admission.to_wall(check_at)
            op = self.admission.line.abandon(self.account, self.id, self.task_id, at)
            await self.admission._safely("abandon", op)


class Admission:
    """FIFO admission per account key, through a shared line. One instance per server process."""

    def __init__(
        self,
        line: SlotLine | None = None,
        *,
        orphan_check_every: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if line is None:  # here: a process on SQLite or Redis never needs the in-process line
            from frames_mcp.store.slots_memory import MemorySlots

            line = MemorySlots()
        self.line: SlotLine = line
        self.orphan_check_every = orphan_check_every
        self._clock = clock
        self._wall = wall
        self._bound: dict[str, Slot] = {}  # taskId -> the slot of a call still waiting on it, in this process
        self._undone: set[tuple[str, str, str]] = set()  # ("release" | "leave", account, id) that failed
        self._waiting: dict[str, int] = {}  # account -> this process's calls in `acquire`
        self._line_read: dict[str, tuple[float, int]] = {}  # account -> (clock time, calls waiting in the store)

    def to_wall(self, at: float) -> float:
        """A time on the monotonic clock as wall-clock seconds (what the store keeps)."""
        return self._wall() + (at - self._clock())

    async def counts(self, account: str) -> tuple[int, int]:
        """(slots held, calls waiting) on `account`, every process's."""
        return await self.line.counts(account)

    async def contended(self, account: str) -> bool:
        """Whether a call waits in line on `account`: this process's at once, another's as the store counted them
        at most `LINE_TTL` ago (one read per account at most that often, however many tasks ask). A slot's task
        is then worth seeing finish sooner: the time its slot sits idle is that call's. Never raises."""
        if self._waiting.get(account):
            return True
        now = self._clock()
        at, waiting = self._line_read.get(account, (-math.inf, 0))
        if now - at < LINE_TTL:
            return waiting > 0
        self._line_read[account] = (now, waiting)  # the reads that ask meanwhile take the last count
        with anyio.move_on_after(LINE_TTL):  # a slow store must not hold a poll back: the last count stands
            try:
                waiting = (await self.line.counts(account))[1]
            except StoreError as e:
                log.debug("could not count the calls in line: %s", e)
                waiting = 0
            self._line_read[account] = (now, waiting)
        return waiting > 0

    async def finished(self, task_id: str) -> None:
        """A task was seen in a final state (by anyone): free its slot, whichever process holds it."""
        slot = self._bound.get(task_id)
        if slot is not None:  # a call of this process waits on it: no need to look it up in the store
            await slot.release()
            return
        await self._safely("finished", self.line.finished(task_id))

    async def acquire(
        self,
        account: str,
        limit: int,
        deadline: float,
        *,
        on_queued: OnQueued | None = None,
        refresh: Refresh | None = None,
    ) -> Slot | None:
        """A slot on `account` once fewer than `limit - held` callers are ahead in line; None if `deadline`
        comes first. Cancellation leaves the line at once."""
        ticket, slot, in_line, join = new_id(), new_id(), True, True
        self._waiting[account] = self._waiting.get(account, 0) + 1
        try:
            told: tuple[int, int] | None = None
            while True:
                standing = await self._take(account, ticket, limit, slot, join)
                join = False
                if standing.slot is not None:
                    in_line = False  # taken: the ticket left the line
                    return Slot(account, slot, self)
                if not standing.placed:  # our lease lapsed (a long store outage): back in line
                    join = True
                    continue
                now = self._clock()
                if now >= deadline:
                    return None
                if on_queued is not None and told != (standing.ahead, standing.held):
                    told = (standing.ahead, standing.held)
                    await on_queued(standing.ahead, standing.held, limit)
                    continue  # the line may have moved meanwhile
                check = standing.next_check if standing.ahead == 0 and refresh is not None else None
                if check is not None and check <= self._wall() and refresh is not None:
                    due = await self.line.due(account, self._wall(), self._wall() + self.orphan_check_every)
                    if due:  # none: another process's waiter claimed the check; wait below
                        await refresh(due, deadline)
                        continue
                wake = deadline if check is None else min(deadline, now + max(check - self._wall(), 0.05))
                if standing.lapse_in is not None:  # another process's lease ends: its slots may come back
                    wake = min(wake, now + standing.lapse_in + 0.05)
                # Admissions ahead do not bring our turn nearer (one place and one free slot fewer); each
                # place or slot that goes does, and moves the version at least one: no look before then.
                steps = max(1, standing.ahead - (limit - standing.held) + 1)
                await self.line.wait(standing.version + steps - 1, wake - now)
        except StoreError as e:
            log.warning("the shared admission line failed (%s): admitting this call without it", e)
            await self._give_back("release", account, slot)  # if the lost answer had taken it
            return Slot(account, None, self)
        finally:
            self._waiting[account] -= 1
            if in_line:
                await self._give_back("leave", account, ticket)

    async def _take(self, account: str, ticket: str, limit: int, slot: str, join: bool) -> Standing:
        """Shielded: a slot taken in the store must reach the caller (whose `finally` gives it back), or it
        would stay counted, renewed, for as long as this process lives."""
        standing = None
        with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
            standing = await self.line.take(account, ticket, limit, slot, join=join)
        if standing is None:
            raise StoreError("the admission line did not answer in time")
        return standing

    async def retry_releases(self) -> None:
        """Give back the slots and places whose release or leave failed (run before each lease renewal, which
        would otherwise keep them counted for as long as this process lives); StoreError if it still fails."""
        for what, account, id_ in list(self._undone):
            await (self.line.release if what == "release" else self.line.leave)(account, id_)
            self._undone.discard((what, account, id_))

    async def _give_back(self, what: str, account: str, id_: str) -> None:
        op = (self.line.release if what == "release" else self.line.leave)(account, id_)
        if not await self._safely(what, op):
            self._undone.add((what, account, id_))

    async def _safely(self, what: str, op: Awaitable[object]) -> bool:
        """Bookkeeping that must neither fail a call nor be cut short by its cancellation; False if it failed."""
        with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
            try:
                await op
                return True
            except StoreError as e:
                log.warning("admission %s failed: %s", what, e)
        return False
