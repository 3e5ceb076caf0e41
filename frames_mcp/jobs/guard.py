"""Store operations that a failing store cannot slow down more than once: after a failure, the store is left
alone for a few seconds (every operation fails at once), so a store that hangs costs a call one timeout, not
one per poll. One guard per process, shared by the ledger and the durations record: whichever meets the
failure first spares the other the wait. No MCP types here."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from frames_mcp.store import StoreError

T = TypeVar("T")


class StoreGuard:
    def __init__(self, rest: float = 5.0, *, wall: Callable[[], float] = time.time) -> None:
        self.rest = rest  # after a store failure, operations fail at once for this long
        self._wall = wall
        self._rest_until = 0.0  # wall seconds: the store failed; leave it alone until then
        self._rest_why = ""

    @property
    def resting(self) -> bool:
        return self._wall() < self._rest_until

    async def __call__(self, op: Callable[..., Awaitable[T]], *args: object, **kwargs: object) -> T:
        """One store operation, unless the store failed moments ago (then StoreError at once)."""
        if self.resting:
            raise StoreError(self._rest_why)
        try:
            return await op(*args, **kwargs)
        except StoreError as e:
            self._rest_until = self._wall() + self.rest
            self._rest_why = f"{e.message} (left alone for {self.rest:g} s after that failure)"
            raise
