"""One generation, end to end: admission, create, the wait, the ledger; an ambiguous create is handed to
`Recovery` (recovery.py), which looks for its task and keeps its pending record.

No MCP types here (nor media, nor server): the server turns `Event`s into progress notifications and `Run`s or
errors into tool results. Outcomes of `Jobs.generate`:
- a `Run`: the task was created (its taskId is in the ledger, unless the store failed: `Run.unrecorded`);
  it finished, or still runs when the budget ended, or its last poll failed (`Run.error`);
- `NotCreatedError`: no task exists and nothing was charged (the local queue or a 429 outlasted the
  budget, or a create that failed was checked and is not in the account's task list);
- `MaybeCreatedError`: create failed in a way that may have run, and the account's task list could
  not be read to tell;
- any other `FramesError`: useapi refused the request (4xx): nothing was created.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio

from frames_mcp.jobs.admission import Admission, Slot
from frames_mcp.jobs.durations import Durations, Key
from frames_mcp.jobs.events import (
    ANY_ACCOUNT,
    Estimate,
    LocalQueue,
    NotCreatedError,
    OnEvent,
    Run,
    UpstreamBusy,
)
from frames_mcp.jobs.ledger import Ledger, options_of
from frames_mcp.jobs.polling import PollSchedule
from frames_mcp.jobs.recovery import Recovery
from frames_mcp.jobs.wait import wait_for_task
from frames_mcp.store import TaskRecord
from frames_mcp.store.slots import SlotLine
from frames_mcp.useapi.client import RetryPolicy, UseapiClient
from frames_mcp.useapi.errors import (
    BusyError,
    FramesError,
    InvalidResponseError,
    NotFoundError,
    TransportError,
    UpstreamError,
)
from frames_mcp.useapi.ids import account_of
from frames_mcp.useapi.models import FramesRequest, Task

log = logging.getLogger(__name__)

# The account in an assetId: `user:1234-runwayml:<email>-asset:<uuid>` or `user:1234-runwayml:<email>:<uuid>`.
_ASSET_ACCOUNT = re.compile(r"^user:\d+-runwayml:([^:@]+@[^:]+?)(?:-asset:|:)")


@dataclass(frozen=True)
class Tuning:
    """Timings and limits; the defaults suit real useapi. Tests and benchmarks shrink them."""

    schedule: PollSchedule = field(default_factory=PollSchedule)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    request_floor: float = 10.0  # a call's requests get this long even with wait_seconds 0
    recovery_seconds: float = 5.0  # after an ambiguous create, time to look for the task in the account listing
    orphan_check_every: float = 2.0  # queued calls read an orphaned task at most this often
    default_max_jobs: int = 5  # when neither the call nor the account says
    limit_ttl: float = 300.0  # re-read an account's maxJobs after this long
    refresh_max: int = 20  # list_tasks refreshes at most this many unfinished tasks
    recheck_after: float = 20.0  # a create whose fate could not be told is checked again after this long
    pending_max_age: float = 86_400.0  # and given up on (logged) once it is this old
    store_rest: float = 5.0  # after a store failure, the ledger leaves the store alone this long


# ---- the service --------------------------------------------------------------------------------------


class Jobs:
    """The generation service of one server process: owns the admission queues and the ledger."""

    def __init__(
        self,
        client: UseapiClient,
        tuning: Tuning | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        ledger: Ledger | None = None,
        durations: Durations | None = None,
        slots: SlotLine | None = None,
    ) -> None:
        self.client = client
        self.tuning = tuning or Tuning()
        self.ledger = ledger or Ledger(rest=self.tuning.store_rest, wall=wall)
        # How long runs take here, the poll schedule's window: in this process until `durations.use` gives it the
        # store (the session does).
        self.durations = durations if durations is not None else Durations()
        self.admission = Admission(slots, orphan_check_every=self.tuning.orphan_check_every, clock=clock, wall=wall)
        self._clock = clock
        self._wall = wall
        self._limits: dict[str, tuple[int, float]] = {}  # account -> (maxJobs, read at)
        self._limit_lock: anyio.Lock | None = None
        self.recovery = Recovery(
            client,
            self.ledger,
            window=self.tuning.recovery_seconds,
            read_timeout=self.tuning.retry.read_timeout,
            recheck_after=self.tuning.recheck_after,
            max_age=self.tuning.pending_max_age,
            clock=clock,
            wall=wall,
        )

    # ---- generate_frames ---------------------------------------------------------------------------

    async def generate(self, request: FramesRequest, wait_seconds: float, on_event: OnEvent) -> Run:
        start = self._clock()
        wait_until = start + wait_seconds
        hard = max(wait_until, start + self.tuning.request_floor)
        account = account_key(request)
        limit = request.maxJobs or await self._limit(account, hard)
        queued: list[LocalQueue] = []

        async def on_queued(ahead: int, in_use: int, limit: int) -> None:
            queued.append(LocalQueue(ahead, in_use, limit, account))
            await on_event(queued[-1])

        slot = await self.admission.acquire(account, limit, wait_until, on_queued=on_queued, refresh=self._refresh)
        if slot is None:
            raise NotCreatedError(_queue_message(queued[-1] if queued else None, account, limit, wait_seconds))
        next_poll: float | None = None
        try:
            run = await self._create(request, account, slot, start, wait_until, hard, on_event)
            self.ledger.handed(run.task.taskId)
            outcome = await self._wait(run.task, self._clock(), wait_until, on_event, account)
            next_poll = outcome.next_poll
            # Only the create answer carries `features` (the plan credits): the last poll keeps them.
            task = (
                outcome.task
                if outcome.task.features
                else outcome.task.model_copy(update={"features": run.task.features})
            )
            return outcome._replace(task=task, note=run.note, unrecorded=run.unrecorded)
        finally:
            # Released if the task is final (or was never created); otherwise it stays counted.
            await slot.abandon(next_poll or self._clock() + self.tuning.orphan_check_every)

    async def _create(
        self,
        request: FramesRequest,
        account: str,
        slot: Slot,
        start: float,
        wait_until: float,
        hard: float,
        on_event: OnEvent,
    ) -> Run:
        since = self._wall() - (self._clock() - start)

        async def on_busy(_: BusyError, delay: float) -> None:
            await on_event(UpstreamBusy(delay))

        note = None
        # The create's answer must come in time for a look at the account's list if it is garbled or lost.
        reserve = min(self.tuning.recovery_seconds, (hard - start) / 4)
        async with self.recovery.noted(request, account, since, hard) as pending:
            try:
                task = await self.client.create_frames(
                    request, deadline=hard - reserve, retry_until=wait_until, on_busy=on_busy
                )
            except BusyError as e:
                raise NotCreatedError(
                    f"The Runway account stayed busy for the whole wait: useapi.net answered 429 ({e.message}). "
                    "No task was created and nothing was charged. Call generate_frames again in a minute, or with "
                    "a larger wait_seconds."
                ) from None
            except TransportError as e:
                if not e.sent:
                    raise NotCreatedError(f"{e.describe()} No task was created and nothing was charged.") from None
                task, note = await self.recovery.recover(request, account, since, e, hard)
            except (UpstreamError, InvalidResponseError) as e:
                task, note = await self.recovery.recover(request, account, since, e, hard)
        # Recorded and the note cleared in one write. If the store fails it, the note (if it was written) stays,
        # and a later check records the task after all.
        options = options_of(request)
        unrecorded = await self.ledger.add(
            task, request.text_prompt, options, recovered=note is not None, settles=pending
        )
        slot.bind(task.taskId)
        await self._seen(task, recorded=True)  # a task already final (failed at once) frees its slot here
        log.info("created task %s", task.taskId)
        return Run(task, note=note, unrecorded=unrecorded)

    async def resume_pending(self) -> int:
        """Finish the checks of creates whose outcome is not known (see `Recovery.resume_pending`). Returns how
        many found a task."""
        return await self.recovery.resume_pending()

    # ---- get_task ------------------------------------------------------------------------------------

    async def follow(self, task_id: str, wait_seconds: float, on_event: OnEvent) -> Run:
        """Read a task, then wait for it within `wait_seconds`. The first read's errors propagate."""
        start = self._clock()
        wait_until = start + wait_seconds
        task = await self.read(task_id, max(wait_until, start + self.tuning.request_floor))
        self.ledger.handed(task_id)
        line = account_of(task_id)
        return await self._wait(task, (start + self._clock()) / 2, wait_until, on_event, line and line.lower())

    # ---- list_tasks ----------------------------------------------------------------------------------

    async def recent(self, statuses: Sequence[str] | None, text: str | None, limit: int) -> list[TaskRecord]:
        """The store's recent tasks, newest first; creates left unchecked are checked first, and unfinished
        tasks read again (a bounded number, concurrently, each within the read timeout), so the statuses are
        current. StoreError when the store cannot be read."""
        await self.resume_pending()
        stale = await self.ledger.recent(done=False, limit=self.tuning.refresh_max)
        if stale:
            await self._refresh([r.taskId for r in stale], self._clock() + self.tuning.retry.read_timeout)
        return await self.ledger.recent(statuses=statuses, text=text, limit=limit)

    async def account_tasks(
        self, *, offset: int, limit: int, statuses: list[str] | None, email: str | None
    ) -> list[Task]:
        """GET tasks/: the account's own listing (other clients' and the web app's tasks included)."""
        deadline = self._clock() + self.tuning.request_floor
        tasks = await self.client.list_tasks(
            offset=offset, limit=limit, statuses=statuses, email=email, deadline=deadline
        )
        for task in tasks:
            await self._seen(task)
        return tasks

    # ---- plumbing ------------------------------------------------------------------------------------

    async def _wait(self, task: Task, seen: float, wait_until: float, on_event: OnEvent, line: str | None) -> Run:
        """Report the task as first seen (at `seen`), then poll it until it is final or the budget ends. The run
        durations other processes of the store observed are read before, and the ones this wait observed written
        after, in the session's background, so the result does not wait for the store (neither raises: a failing
        store leaves the schedule with what this process knows). `line`: the admission line holding the task's slot;
        while calls wait in it, the task is polled more densely near its end."""
        await on_event(task)
        if not task.is_terminal:
            await self.durations.refresh(Key.of(task))
        run = await wait_for_task(
            self.read,
            task,
            wait_until,
            on_update=on_event,
            on_estimate=lambda ratio: on_event(Estimate(ratio)),
            schedule=self.tuning.schedule,
            durations=self.durations,
            seen_at=seen,
            contended=None if line is None else lambda: self.admission.contended(line),
            clock=self._clock,
        )
        await self.durations.save()
        return run

    async def _seen(self, task: Task, *, recorded: bool = False) -> None:
        """Every fresh state of a task passes here: the ledger learns it, and a final task frees its slot (whichever
        process on the store holds it). So does a status useapi does not document (EXPLODED, null): nothing says
        it will ever turn final, and a slot held for it would refuse every later call; useapi's own 429 still
        guards the account. `recorded`: the ledger has just stored this very state (the create's answer), so the
        store is not written twice."""
        if task.is_terminal or not task.is_known:
            await self.admission.finished(task.taskId)
        if not recorded:
            await self.ledger.update(task)

    async def read(self, task_id: str, deadline: float | None = None) -> Task:
        """GET one task: the only way this service reads a task, so every read updates the ledger and admission."""
        task = await self.client.get_task(task_id, deadline=deadline)
        await self._seen(task)
        return task

    async def _refresh(self, task_ids: list[str], deadline: float) -> None:
        """Read tasks nobody is polling (orphaned slots, list_tasks), concurrently; errors are ignored."""

        async def one(task_id: str) -> None:
            try:
                await self.read(task_id, deadline)
            except NotFoundError:
                await self.admission.finished(task_id)  # useapi no longer knows it: it holds no slot there
            except FramesError as e:
                log.info("refresh of %s failed: %s", task_id, type(e).__name__)

        async with anyio.create_task_group() as tg:
            for task_id in task_ids:
                tg.start_soon(one, task_id)

    async def _limit(self, account: str, deadline: float) -> int:
        """maxJobs of the account as useapi has it configured (cached), else the default."""
        now = self._clock()
        cached = self._limits.get(account)
        if cached is not None and now - cached[1] < self.tuning.limit_ttl:
            return cached[0]
        if self._limit_lock is None:
            self._limit_lock = anyio.Lock()
        async with self._limit_lock:
            cached = self._limits.get(account)
            if cached is not None and self._clock() - cached[1] < self.tuning.limit_ttl:
                return cached[0]
            email = None if account == ANY_ACCOUNT else account
            try:
                found = await self.client.account_max_jobs(email, deadline=min(deadline, now + 5.0))
            except FramesError as e:
                log.info("could not read maxJobs of %s (%s); using %d", account, type(e).__name__, self._default())
                found = None
            self._limits[account] = (found or self._default(), self._clock())
            return self._limits[account][0]

    def _default(self) -> int:
        return self.tuning.default_max_jobs


def account_key(request: FramesRequest) -> str:
    """The account a request runs on, as far as it can be known before create: its email, else the account
    holding its reference images, else useapi's choice (ANY_ACCOUNT)."""
    if request.email:
        return request.email.lower()
    for asset_id in request.references.values():
        found = asset_account(asset_id)
        if found:
            return found
    return ANY_ACCOUNT


def asset_account(asset_id: str) -> str | None:
    """The Runway account an assetId names (useapi's upload answer documents no email of its own)."""
    match = _ASSET_ACCOUNT.match(asset_id)
    return match.group(1).lower() if match else None


def _queue_message(last: LocalQueue | None, account: str, limit: int, wait_seconds: float) -> str:
    where = "for calls that name no account" if account == ANY_ACCOUNT else f"on account {account}"
    ahead = f" with {last.ahead} earlier call(s) ahead in line" if last is not None and last.ahead else ""
    return (
        f"Not created: all {limit} slots {where} were busy for the whole {wait_seconds:g} s "
        f"wait{ahead}. No task was created and nothing was charged. Call generate_frames again once some "
        "tasks have finished (list_tasks shows them), or with a larger wait_seconds to wait longer in line."
    )
