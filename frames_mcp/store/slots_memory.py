"""The admission line in this process's memory (FRAMES_MCP_STORE=memory): the lease/line model of
slots.py for one process, so leases never lapse and changes wake waiters directly."""

from __future__ import annotations

from dataclasses import dataclass, field

from frames_mcp.store.slots import DEFAULT_LEASE, Standing, Versioned


@dataclass
class _Held:
    task_id: str | None = None
    check_at: float | None = None  # set once abandoned: an orphan, checked from then on


@dataclass
class _Account:
    line: dict[str, None] = field(default_factory=dict)  # tickets in the order they joined
    held: dict[str, _Held] = field(default_factory=dict)


class MemorySlots:
    def __init__(self, lease: float = DEFAULT_LEASE) -> None:
        self.lease = lease
        self._accounts: dict[str, _Account] = {}
        self._by_task: dict[str, tuple[str, str]] = {}  # taskId -> (account, slot)
        self._version = 0
        self._watch = Versioned()

    def _account(self, account: str) -> _Account:
        return self._accounts.setdefault(account, _Account())

    def _changed(self) -> None:
        self._version += 1
        self._watch.bump(self._version)

    async def join(self, account: str, ticket: str) -> None:
        self._account(account).line[ticket] = None  # the end of the line: nobody's standing changes

    async def take(self, account: str, ticket: str, limit: int, slot: str, *, join: bool = False) -> Standing:
        acc = self._account(account)
        if join:
            acc.line[ticket] = None
        if ticket not in acc.line:
            return Standing(None, 0, len(acc.held), False, None, self._version)
        ahead = list(acc.line).index(ticket)
        if ahead < limit - len(acc.held):
            del acc.line[ticket]
            acc.held[slot] = _Held()
            self._changed()
            return Standing(slot, 0, len(acc.held), True, None, self._version)
        checks = [h.check_at for h in acc.held.values() if h.check_at is not None]
        return Standing(None, ahead, len(acc.held), True, min(checks, default=None), self._version)

    async def leave(self, account: str, ticket: str) -> None:
        line = self._account(account).line
        if ticket in line:
            del line[ticket]
            self._changed()

    async def abandon(self, account: str, slot: str, task_id: str, check_at: float) -> None:
        held = self._account(account).held.get(slot)
        if held is not None:
            held.task_id, held.check_at = task_id, check_at
            self._by_task[task_id] = (account, slot)
            self._changed()

    async def release(self, account: str, slot: str) -> None:
        held = self._account(account).held.pop(slot, None)
        if held is not None:
            if held.task_id is not None:
                self._by_task.pop(held.task_id, None)
            self._changed()

    async def finished(self, task_id: str) -> bool:
        found = self._by_task.get(task_id)
        if found is None:
            return False
        await self.release(*found)
        return True

    async def due(self, account: str, now: float, later: float) -> list[str]:
        due = []
        for held in self._account(account).held.values():
            if held.check_at is not None and held.check_at <= now and held.task_id is not None:
                held.check_at = later
                due.append(held.task_id)
        return due

    async def counts(self, account: str) -> tuple[int, int]:
        acc = self._account(account)
        return len(acc.held), len(acc.line)

    async def renew(self) -> None:
        """Nothing to renew: the line lives and dies with this process."""

    async def wait(self, version: int, within: float) -> None:
        await self._watch.wait(version, within)

    async def aclose(self) -> None:
        """Nothing to close."""
