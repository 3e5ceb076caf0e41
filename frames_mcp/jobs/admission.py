"""Per-account admission: never more than maxJobs of this server's own tasks in flight on one account.

useapi answers 429 when an account already runs maxJobs tasks. Rather than hammer it, calls take a
slot here first, from just before frames/create until their task is seen in a final state; calls beyond
the limit wait in a first-in, first-out queue per account, within their own budget, and are told how
many calls are ahead of them.

A call whose budget ends while its task still runs leaves its slot *orphaned*: the task still holds a
useapi slot, so the slot stays counted, but nobody polls it. Calls waiting in that account's queue check
orphaned tasks themselves (the head of the queue does, through the `refresh` callback, no more often
than each orphan's `check_at`), and any read of the task elsewhere (get_task, list_tasks) releases the
slot through `finished()`. So the limit holds without background polling and without deadlock.
No MCP types here.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

OnQueued = Callable[[int, int, int], Awaitable[None]]  # (calls ahead, slots in use, limit)
Refresh = Callable[[list[str], float], Awaitable[None]]  # (orphaned taskIds, deadline): read them, report finished


@dataclass(eq=False)
class Slot:
    """One admitted call's claim on an account; bound to its task once created."""

    account: str
    lane: _Lane
    task_id: str | None = None
    orphan: bool = False
    check_at: float = 0.0
    released: bool = False

    def bind(self, task_id: str) -> None:
        self.task_id = task_id
        self.lane.by_task[task_id] = self

    def release(self) -> None:
        """The task is final, or was never created: the slot is free."""
        if self.released:
            return
        self.released = True
        self.lane.held.discard(self)
        if self.task_id is not None:
            self.lane.by_task.pop(self.task_id, None)
        self.lane.changed()

    def abandon(self, check_at: float) -> None:
        """The call ends while its task runs: keep counting the slot; waiters check it from `check_at`."""
        if self.released:
            return
        if self.task_id is None:  # nothing was created: nothing holds a useapi slot
            self.release()
            return
        self.orphan = True
        self.check_at = check_at
        self.lane.changed()


@dataclass(eq=False)
class _Lane:
    held: set[Slot] = field(default_factory=set)
    queue: deque[int] = field(default_factory=deque)  # waiter tickets, first come first
    by_task: dict[str, Slot] = field(default_factory=dict)
    event: anyio.Event = field(default_factory=anyio.Event)
    refreshing: bool = False

    def changed(self) -> None:
        self.event.set()
        self.event = anyio.Event()

    def orphans_due(self, now: float) -> list[Slot]:
        return [s for s in self.held if s.orphan and s.check_at <= now and s.task_id is not None]

    def next_check(self) -> float | None:
        times = [s.check_at for s in self.held if s.orphan]
        return min(times) if times else None


class Admission:
    """FIFO admission per account key. One instance per server process (one event loop)."""

    def __init__(self, *, orphan_check_every: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lanes: dict[str, _Lane] = {}
        self._tickets = itertools.count()
        self._clock = clock
        self.orphan_check_every = orphan_check_every

    def _lane(self, account: str) -> _Lane:
        return self._lanes.setdefault(account, _Lane())

    def finished(self, task_id: str) -> None:
        """A task was seen in a final state (by anyone): free its slot, if it holds one."""
        for lane in self._lanes.values():
            slot = lane.by_task.get(task_id)
            if slot is not None:
                slot.release()
                return

    async def acquire(
        self,
        account: str,
        limit: int,
        deadline: float,
        *,
        on_queued: OnQueued | None = None,
        refresh: Refresh | None = None,
    ) -> Slot | None:
        """A slot on `account` once this call is first in line and fewer than `limit` are held; None if
        `deadline` comes first. Cancellation leaves the queue at once."""
        lane = self._lane(account)
        ticket = next(self._tickets)
        lane.queue.append(ticket)
        told: tuple[int, int] | None = None
        try:
            while True:
                ahead = lane.queue.index(ticket)
                if ahead == 0 and len(lane.held) < limit:
                    slot = Slot(account, lane)
                    lane.held.add(slot)
                    return slot
                now = self._clock()
                if now >= deadline:
                    return None
                if on_queued is not None and told != (ahead, len(lane.held)):
                    told = (ahead, len(lane.held))
                    await on_queued(ahead, len(lane.held), limit)
                    continue  # the queue may have moved meanwhile
                if ahead == 0 and refresh is not None and not lane.refreshing and lane.orphans_due(now):
                    await self._refresh(lane, refresh, deadline)
                    continue
                wake = deadline
                check = lane.next_check() if ahead == 0 else None
                if check is not None:
                    wake = min(wake, max(check, now + 0.05))
                event = lane.event
                with anyio.move_on_after(wake - now):
                    await event.wait()
        finally:
            lane.queue.remove(ticket)
            lane.changed()

    async def _refresh(self, lane: _Lane, refresh: Refresh, deadline: float) -> None:
        due = lane.orphans_due(self._clock())
        lane.refreshing = True
        try:
            await refresh([s.task_id for s in due if s.task_id is not None], deadline)
        finally:
            lane.refreshing = False
            later = self._clock() + self.orphan_check_every
            for slot in due:
                slot.check_at = max(slot.check_at, later)
