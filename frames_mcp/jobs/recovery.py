"""Recovery of an ambiguous create: a frames/create whose outcome is unknown (its answer was lost or garbled, or
the process died while it was out) is looked for in the account's own task list, and noted in the store until
that look can tell.

The task found is the newest one listed with the same prompt, created just now (since the create was sent,
give or take the clocks' skew) and not already held by another call (the ledger knows every task a call has
taken). On useapi, the store's records and the ledger; no mcp, no media, no server, and not service.py, which
calls it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

from frames_mcp.jobs.events import ANY_ACCOUNT, MaybeCreatedError, NotCreatedError
from frames_mcp.jobs.ledger import Ledger, summarize
from frames_mcp.store import PendingCreate
from frames_mcp.useapi.client import UseapiClient
from frames_mcp.useapi.errors import FramesError
from frames_mcp.useapi.models import FramesRequest, Task

log = logging.getLogger(__name__)

LISTED = 20  # how many of the account's newest tasks a check of an ambiguous create reads
CLOCK_SKEW = 60.0  # seconds of disagreement allowed between this machine's clock and useapi's createdAt


class Recovery:
    """The checks of one service's creates whose outcome is unknown, and their pending records in the store.

    `window`: how long a look at the account's list may take; `read_timeout`: one GET's longest wait (a call
    holds its note that much past its budget); `recheck_after`: when a check that could not tell is tried
    again; `max_age`: when a create still unchecked is given up on (logged)."""

    def __init__(
        self,
        client: UseapiClient,
        ledger: Ledger,
        *,
        window: float,
        read_timeout: float,
        recheck_after: float,
        max_age: float,
        clock: Callable[[], float],
        wall: Callable[[], float],
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.window = window
        self.read_timeout = read_timeout
        self.recheck_after = recheck_after
        self.max_age = max_age
        self._clock = clock
        self._wall = wall
        self._resume_lock: anyio.Lock | None = None

    @asynccontextmanager
    async def noted(
        self, request: FramesRequest, account: str, since: float, hard: float
    ) -> AsyncIterator[PendingCreate | None]:
        """A create's pending record while it is out: written before it is sent, so a process that dies
        mid-create leaves the check to whoever comes next, and held while the call (budget `hard`) can still
        settle it itself. Settled when the create proves not created; left to be checked again when its fate
        could not be told; kept when the call is cancelled (the create may have run, the note is checked once
        its hold passes). A create that succeeds settles it with the task's record (`Ledger.add(settles=)`)."""
        hold = hard - self._clock() + self.window + self.read_timeout
        pending = await self.ledger.pending(request, None if account == ANY_ACCOUNT else account, since, hold)
        try:
            yield pending
        except MaybeCreatedError:
            await self.ledger.unsettled(pending, self.recheck_after)  # list_tasks or a restart resumes it
            raise
        except FramesError:
            await self.ledger.settle(pending)  # not created: a 4xx, a 429 all along, or proven by the listing
            raise

    async def recover(
        self, request: FramesRequest, account: str, since: float, cause: FramesError, hard: float
    ) -> tuple[Task, str]:
        """After a create that may have run: look for the task in the account's own task list (within the
        call's budget, but always with a moment for the look). Returns the task and a note saying it was
        recovered; NotCreatedError when the list shows none, MaybeCreatedError when it cannot be read."""
        email = None if account == ANY_ACCOUNT else account
        now = self._clock()
        deadline = min(now + self.window, max(hard, now + 0.5))
        try:
            task = await self.find(request.text_prompt, email, since, deadline)
        except FramesError:
            raise MaybeCreatedError(
                f"{cause.describe()} The task may have been created anyway, and the account's task list could not "
                "be read to tell. Do not call generate_frames again yet: call list_tasks in a minute (this server "
                "checks again and lists the task if it exists), or list_tasks with account=true and look for a "
                f'task with the prompt "{summarize(request.text_prompt)}".'
            ) from None
        if task is None:
            raise NotCreatedError(
                f"{cause.describe()} The account's task list shows no new task with this prompt, so it was most "
                "likely not created and nothing was charged: calling generate_frames again is safe."
            )
        log.info("create failed (%s) but task %s exists; following it", type(cause).__name__, task.taskId)
        return task, (
            f"The create call failed ({cause.message}), but the task was created: it was found in the "
            "account's task list (same prompt, just created)."
        )

    async def find(self, prompt: str, email: str | None, since: float, deadline: float | None = None) -> Task | None:
        """The task a create that may have run made: the newest in the account's own list with the same prompt,
        created since it was sent, that no other call holds; None when the list shows there is none.
        FramesError when the list cannot be read, or does not reach back to `since` (a busy account, a late
        check): then absence proves nothing."""
        if deadline is None:
            deadline = self._clock() + self.window
        listed = await self.client.list_tasks(limit=LISTED, email=email, deadline=deadline)
        for task in listed:  # newest first
            if (task.options or {}).get("text_prompt") != prompt or await self.ledger.knows(task.taskId):
                continue
            created = _parse_time(task.createdAt)
            if created is None or created >= since - CLOCK_SKEW:
                return task
        oldest = _parse_time(listed[-1].createdAt) if listed else None
        if len(listed) >= LISTED and (oldest is None or oldest > since - CLOCK_SKEW):
            raise FramesError(f"The account's newest {LISTED} tasks were all created after this create was sent.")
        return None

    async def resume_pending(self) -> int:
        """Finish the checks of creates whose outcome is not known: left by a call whose check could not tell,
        or by a process that died mid-create (any process of the store, once their hold has passed). A task
        found is recorded like any other. Returns how many were found."""
        if self._resume_lock is None:
            self._resume_lock = anyio.Lock()
        found = 0
        async with self._resume_lock:  # a list_tasks during the start's sweep waits for it, then sees its finds
            for p in await self.ledger.claim(self.window + self.read_timeout):
                found += await self._resume(p)
        return found

    async def _resume(self, p: PendingCreate) -> int:
        try:
            task = await self.find(p.prompt, p.account, p.since)
        except FramesError as e:
            if self._wall() - p.since > self.max_age:
                log.warning("gave up checking create %s (%s): it may have created a task", p.id, summarize(p.prompt))
                await self.ledger.settle(p)
            else:
                log.info("create %s still cannot be checked (%s)", p.id, type(e).__name__)
                await self.ledger.unsettled(p, self.recheck_after)
            return 0
        if task is not None:
            log.info("a create left unchecked did run: task %s", task.taskId)
            await self.ledger.add(task, p.prompt, p.options, recovered=True, created=p.since, settles=p)
            return 1
        await self.ledger.settle(p)
        return 0


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):  # 0001-01-01T00:00:00+01:00 is a valid date with no timestamp
        return None
