"""Admission per account on virtual time: the line is first-in first-out, waits end with the budget, and
orphaned slots are checked by the head of the line, no more often than allowed.

`Admission` is driven directly, the way `Jobs.generate` uses it: acquire before create, bind the taskId,
release when the task is seen final, abandon when the call ends while the task runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from frames_mcp.jobs.admission import Admission, Slot

from ._virtual import now, virtual_backend

pytestmark = pytest.mark.anyio

ACCOUNT = "solo@frames.local"


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return virtual_backend()


def admission() -> Admission:
    return Admission(orphan_check_every=2.0, clock=now, wall=now)  # the lease and check times are wall times


async def settle() -> None:
    """Let every started call run until it waits (is in line, or holds its slot)."""
    await anyio.wait_all_tasks_blocked()


def call(
    adm: Admission, name: str, admitted: list[tuple[str, float]], *, hold: float = 1.0, budget: float = 50.0
) -> Callable[[], Awaitable[None]]:
    """One generate_frames call: waits for a slot, records when it got one, runs `hold` s, gives it back."""

    async def run() -> None:
        slot = await adm.acquire(ACCOUNT, 1, now() + budget)
        if slot is None:
            admitted.append((f"{name}: budget ended", now()))
            return
        admitted.append((name, now()))
        await anyio.sleep(hold)
        await slot.release()

    return run


async def test_a_late_caller_cannot_jump_a_waiter_when_the_slot_frees() -> None:
    # A call arriving the very instant a slot frees goes behind the call that was already waiting.
    adm, admitted = admission(), []
    first = await adm.acquire(ACCOUNT, 1, now() + 50)
    assert first is not None
    async with anyio.create_task_group() as tg:
        tg.start_soon(call(adm, "waiter", admitted, hold=5))
        await settle()
        freed = now()
        await first.release()
        late = await adm.acquire(ACCOUNT, 1, now() + 1)
        assert late is None  # its 1 s budget ended while the waiter held the slot
        assert admitted == [("waiter", freed)]


async def test_calls_get_slots_in_the_order_they_arrived() -> None:
    # Five calls queue behind a full account: as slots free one by one, they are served first come first.
    adm, admitted = admission(), []
    holder = await adm.acquire(ACCOUNT, 1, now() + 50)
    assert holder is not None
    async with anyio.create_task_group() as tg:
        for name in "abcde":
            tg.start_soon(call(adm, name, admitted))
            await settle()  # each one in line before the next arrives
        await holder.release()
    assert [name for name, _ in admitted] == list("abcde")


async def test_a_queued_call_hears_how_many_are_ahead_as_the_line_moves() -> None:
    # The progress message "Queued locally, n ahead" counts down as the calls ahead get their slots (a waiter
    # n steps from its turn looks again only when the line has moved n, so a step may be skipped, never undone).
    adm, admitted, heard = admission(), [], []

    async def on_queued(ahead: int, in_use: int, limit: int) -> None:
        heard.append((ahead, in_use, limit))

    async def last() -> None:
        slot = await adm.acquire(ACCOUNT, 1, now() + 50, on_queued=on_queued)
        assert slot is not None
        await slot.release()

    holder = await adm.acquire(ACCOUNT, 1, now() + 50)
    assert holder is not None
    async with anyio.create_task_group() as tg:
        for name in "ab":
            tg.start_soon(call(adm, name, admitted))
            await settle()
        tg.start_soon(last)
        await settle()
        await holder.release()
    ahead = [n for n, _, _ in heard]
    assert heard[0] == (2, 1, 1) and ahead == sorted(ahead, reverse=True)
    assert ahead[-1] == 0


async def test_a_call_whose_budget_ends_in_line_gets_no_slot_then_and_the_line_moves_up() -> None:
    # A 3 s budget ends in line exactly at 3 s (not sooner, not later); the call behind it is next.
    adm, admitted = admission(), []
    holder = await adm.acquire(ACCOUNT, 1, now() + 50)
    assert holder is not None
    start = now()
    async with anyio.create_task_group() as tg:
        tg.start_soon(call(adm, "short", admitted, budget=3))
        await settle()
        tg.start_soon(call(adm, "patient", admitted))
        await settle()
        await anyio.sleep(5)
        await holder.release()
    assert admitted == [("short: budget ended", start + 3), ("patient", start + 5)]


async def test_a_call_cancelled_in_line_leaves_it() -> None:
    # A cancelled call's ticket must not stay at the head of the line and block everyone behind it.
    adm, admitted = admission(), []
    holder = await adm.acquire(ACCOUNT, 1, now() + 50)
    assert holder is not None
    with anyio.fail_after(30):  # a stuck line would otherwise wait out the 50 s budgets
        async with anyio.create_task_group() as tg:
            async with anyio.create_task_group() as doomed:
                doomed.start_soon(call(adm, "cancelled", admitted))
                await settle()
                tg.start_soon(call(adm, "next", admitted))
                await settle()
                doomed.cancel_scope.cancel()
            await holder.release()
    assert [name for name, _ in admitted] == ["next"]


async def test_accounts_do_not_share_a_line() -> None:
    # maxJobs is per Runway account: a full account does not hold up a call on another one.
    adm = admission()
    full = await adm.acquire(ACCOUNT, 1, now() + 50)
    other = await adm.acquire("other@frames.local", 1, now() + 50)
    assert full is not None and other is not None


async def test_a_slot_whose_create_never_happened_is_free_at_once() -> None:
    # A call that ends without creating a task (refused, not created) holds no useapi slot: nothing waits on it.
    adm, admitted = admission(), []
    holder = await adm.acquire(ACCOUNT, 1, now() + 50)
    assert holder is not None
    async with anyio.create_task_group() as tg:
        tg.start_soon(call(adm, "waiter", admitted))
        await settle()
        gone = now()
        await holder.abandon(check_at=gone + 100)
    assert admitted == [("waiter", gone)]


async def test_an_orphaned_slot_is_freed_when_its_task_is_seen_final_elsewhere() -> None:
    # The call that made the task is gone; get_task or list_tasks reads it final: the waiter goes at once.
    adm, admitted = admission(), []
    holder = await _orphan(adm, "task-1", check_at=now() + 100)
    async with anyio.create_task_group() as tg:
        tg.start_soon(call(adm, "waiter", admitted))
        await anyio.sleep(3)
        await adm.finished("task-1")
        seen = now()
    assert admitted == [("waiter", seen)] and holder.task_id == "task-1"


async def test_the_head_of_the_line_checks_an_orphan_from_its_check_time_and_then_every_interval() -> None:
    # Nobody polls an abandoned task, so the first call in line reads it itself: not before `check_at`
    # (when the task could first be done), then at most every `orphan_check_every`; the calls behind it
    # never read it, and the head goes as soon as a read finds it final.
    adm, admitted, reads = admission(), [], []
    start = now()
    await _orphan(adm, "task-1", check_at=start + 4)

    async def refresh(task_ids: list[str], deadline: float) -> None:
        reads.append((now() - start, tuple(task_ids)))
        if len(reads) == 3:
            await adm.finished("task-1")  # the third read finds it final

    async def head() -> None:
        slot = await adm.acquire(ACCOUNT, 1, start + 50, refresh=refresh)
        assert slot is not None
        admitted.append(("head", now() - start))
        await slot.release()

    async def second() -> None:
        slot = await adm.acquire(ACCOUNT, 1, start + 50, refresh=_must_not_refresh)
        assert slot is not None
        admitted.append(("second", now() - start))
        await slot.release()

    async with anyio.create_task_group() as tg:
        tg.start_soon(head)
        await settle()
        tg.start_soon(second)
    assert reads == [(4.0, ("task-1",)), (6.0, ("task-1",)), (8.0, ("task-1",))]
    assert admitted == [("head", 8.0), ("second", 8.0)]


async def _must_not_refresh(task_ids: list[str], deadline: float) -> None:
    raise AssertionError("only the head of the line reads orphaned tasks")


async def _orphan(adm: Admission, task_id: str, *, check_at: float) -> Slot:
    """A slot whose call created `task_id` and then ended while the task ran."""
    slot = await adm.acquire(ACCOUNT, 1, now() + 50)
    assert slot is not None
    slot.bind(task_id)
    await slot.abandon(check_at)
    return slot


async def test_an_account_is_contended_while_a_call_waits_in_its_line() -> None:
    # The poll schedule asks this of a slot's task: with nobody in line it is not; with a call waiting it is.
    adm = admission()
    holder = await adm.acquire(ACCOUNT, 1, now() + 50)
    assert holder is not None
    assert not await adm.contended(ACCOUNT)
    async with anyio.create_task_group() as tg:
        tg.start_soon(call(adm, "waiter", []))
        await settle()
        assert await adm.contended(ACCOUNT)
        await holder.release()
