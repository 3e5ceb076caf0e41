"""The shared admission line, each backend directly: first-in first-out across processes, slots freed by
whoever sees the task final, orphan checks claimed once, leases that lapse with a dead process, wake-ups
across processes. SQLite runs two line instances on one file (two processes' worth of connections); Redis
runs them on one real redis-server. Through-a-client tests of the same are in test_fleet.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from redis.asyncio import Redis

from frames_mcp.jobs.admission import Admission
from frames_mcp.store import StoreError
from frames_mcp.store.slots import SlotLine, Standing, new_id
from frames_mcp.store.slots_memory import MemorySlots
from frames_mcp.store.slots_redis import RedisSlots
from frames_mcp.store.slots_sqlite import SqliteSlots
from frames_mcp.store.sqlite import Database

pytestmark = pytest.mark.anyio
A = "a@frames.local"

Lines = Callable[..., Any]  # (lease=...) -> async context manager yielding a new SlotLine on the shared store


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lines(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Lines:
    """A factory of line instances on one store: each instance is what one server process would open."""
    memory = MemorySlots()
    url = request.getfixturevalue("redis_url") if backend == "redis" else ""

    @asynccontextmanager
    async def open_line(lease: float = 30.0) -> AsyncIterator[SlotLine]:
        if backend == "memory":
            memory.lease = lease
            yield memory  # one process: every "instance" is the same line
            return
        line: SlotLine
        if backend == "sqlite":
            db = Database(tmp_path / "state.db")
            line = SqliteSlots(db, lease=lease)
        else:
            line = RedisSlots(Redis.from_url(url), lease=lease, owns_connection=True)
        try:
            yield line
        finally:
            await line.aclose()
            if backend == "sqlite":
                db.close()

    return open_line


async def join(line: SlotLine) -> str:
    """A new ticket at the end of the line."""
    ticket = new_id()
    await line.join(A, ticket)
    return ticket


async def take(line: SlotLine, ticket: str, limit: int) -> Standing:
    return await line.take(A, ticket, limit, new_id())


# The memory line lives in one process: what only a shared line does is tested on the other two.
SHARED = pytest.mark.parametrize("backend", ["sqlite", "redis"])


async def test_the_line_is_first_in_first_out_and_counts_every_callers_place(lines: Lines) -> None:
    # With one slot, the first caller takes it and the others stand in the order they came, each told
    # how many are ahead of it, whichever process they are in.
    async with lines() as one, lines() as two:
        t1, t2, t3 = await join(one), await join(two), await join(one)
        first = await take(one, t1, 1)
        assert first.slot is not None and first.held == 1
        assert (await take(one, t3, 1)).ahead == 1
        second = await take(two, t2, 1)
        assert second.slot is None and second.ahead == 0 and second.held == 1
        await one.release(A, first.slot)
        assert (await take(one, t3, 1)).slot is None  # t2 came first
        assert (await take(two, t2, 1)).slot is not None


async def test_joining_and_taking_is_one_operation_when_a_slot_is_free(lines: Lines) -> None:
    # The common case, a free slot, costs the store one round trip: the place and the slot in one operation.
    async with lines() as one:
        standing = await one.take(A, new_id(), 1, "slot-1", join=True)
        assert standing.slot == "slot-1" and standing.held == 1
        assert await one.counts(A) == (1, 0)


async def test_free_slots_fill_at_once_without_overtaking(lines: Lines) -> None:
    # Three free slots admit the first three callers together; the fourth waits with three held.
    async with lines() as one, lines() as two:
        tickets = [await join(one if i % 2 else two) for i in range(4)]
        taken = [await take(one, t, 3) for t in reversed(tickets)]
    assert [s.slot is not None for s in reversed(taken)] == [True, True, True, False]


async def test_an_abandoned_slot_is_freed_by_whoever_sees_its_task_final(lines: Lines) -> None:
    # get_task in another process sees the task final: the slot comes back for everyone.
    async with lines() as one, lines() as two:
        slot = (await take(one, await join(one), 1)).slot
        assert slot is not None
        await one.abandon(A, slot, "task-1", time.time() + 60)
        assert await one.counts(A) == (1, 0)
        assert await two.finished("task-1") is True
        assert await one.counts(A) == (0, 0)
        assert await two.finished("task-1") is False


async def test_an_orphans_check_is_claimed_by_one_waiter_at_a_time(lines: Lines) -> None:
    # Two processes' head waiters must not both read the same orphaned task: the claim moves its next check.
    async with lines() as one, lines() as two:
        slot = (await take(one, await join(one), 1)).slot
        assert slot is not None
        now = time.time()
        await one.abandon(A, slot, "task-1", now + 0.5)
        waiting = await take(two, await join(two), 1)
        assert waiting.next_check == pytest.approx(now + 0.5)
        assert await two.due(A, now, now + 5) == []
        assert await two.due(A, now + 1, now + 5) == ["task-1"]
        assert await one.due(A, now + 1, now + 5) == []
        assert await one.due(A, now + 6, now + 9) == ["task-1"]


async def test_leaving_the_line_moves_the_callers_behind(lines: Lines) -> None:
    # A cancelled caller gives its place up at once.
    async with lines() as one, lines() as two:
        busy = (await take(one, await join(one), 1)).slot
        gone, stays = await join(one), await join(two)
        assert (await take(two, stays, 1)).ahead == 1
        await one.leave(A, gone)
        assert (await take(two, stays, 1)).ahead == 0
        assert busy is not None and await one.counts(A) == (1, 1)


@SHARED
async def test_a_dead_processes_slots_and_places_lapse_with_its_lease(backend: str, lines: Lines) -> None:
    # kill -9: the process stops renewing; when its lease ends the others sweep its slot and its place.
    async with lines(lease=1.0) as dead, lines() as alive:
        assert (await take(dead, await join(dead), 1)).slot is not None
        await join(dead)
        mine = await join(alive)
        waiting = await take(alive, mine, 1)
        assert waiting.ahead == 1
        assert waiting.lapse_in is not None and 0 <= waiting.lapse_in <= 1.0  # when to look again
        await anyio.sleep(1.2)
        taken = await take(alive, mine, 1)
    assert taken.slot is not None and taken.held == 1


@SHARED
async def test_renewing_keeps_a_processes_slots_past_the_lease(backend: str, lines: Lines) -> None:
    # A live process renews every third of its lease: its slots stay counted however long its tasks run.
    async with lines(lease=1.0) as holder, lines() as other:
        assert (await take(holder, await join(holder), 1)).slot is not None
        for _ in range(6):
            await anyio.sleep(0.25)
            await holder.renew()
        assert await other.counts(A) == (1, 0)


@SHARED
async def test_a_ticket_swept_away_says_so(backend: str, lines: Lines) -> None:
    # A process whose lease lapsed (a long store outage) learns its place is gone and can join again.
    async with lines(lease=0.5) as slow, lines() as other:
        ticket = await join(slow)
        await anyio.sleep(0.7)
        await other.counts(A)  # anyone's next operation sweeps
        standing = await take(slow, ticket, 1)
    assert standing.placed is False and standing.slot is None


@SHARED
async def test_a_change_in_another_process_wakes_a_waiter_promptly(backend: str, lines: Lines) -> None:
    # The waiter's process polls the line's version, so a release elsewhere is seen within tens of ms,
    # not at the waiter's deadline.
    async with lines() as one, lines() as two:
        slot = (await take(one, await join(one), 1)).slot
        assert slot is not None
        standing = await take(two, await join(two), 1)
        assert standing.slot is None
        began = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(two.wait, standing.version, 10.0)
            await anyio.sleep(0.1)
            await one.release(A, slot)
        assert time.monotonic() - began < 5.0  # woken by the change, not by the 10 s timeout


@SHARED
async def test_a_call_waiting_in_another_process_makes_the_account_contended(backend: str, lines: Lines) -> None:
    # A process whose own calls all hold slots still learns from the store that another process's call waits,
    # so it polls its tasks as one with a call in line would.
    async with lines() as one, lines() as two:
        mine, theirs = Admission(one), Admission(two)
        slot = await mine.acquire(A, 1, time.monotonic() + 10)
        assert slot is not None
        async with anyio.create_task_group() as tg:
            tg.start_soon(theirs.acquire, A, 1, time.monotonic() + 10)
            await anyio.sleep(0.3)  # in line
            assert await mine.contended(A)
            tg.cancel_scope.cancel()
        await slot.release()


async def test_wait_ends_at_its_timeout_when_nothing_changes(lines: Lines) -> None:
    # A waiter with nothing to wake it still returns at its own deadline.
    async with lines() as one:
        standing = await take(one, await join(one), 0)
        began = time.monotonic()
        await one.wait(standing.version, 0.2)
    assert 0.15 < time.monotonic() - began < 2.0


async def test_an_unreachable_redis_is_a_slots_error() -> None:
    # A store failure surfaces as one error type the admission can log and work around.
    line = RedisSlots(Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1), owns_connection=True)
    with pytest.raises(StoreError, match="Redis"):
        await join(line)
    await line.aclose()


class LostAnswers(MemorySlots):
    """A real line whose join and take run but whose answers are lost on the way back (a Redis reply that
    times out after the script ran)."""

    async def take(self, account: str, ticket: str, limit: int, slot: str, *, join: bool = False) -> Standing:
        await super().take(account, ticket, limit, slot, join=join)
        raise StoreError("the answer was lost")


async def test_a_lost_answer_leaves_no_slot_or_place_behind() -> None:
    # The call goes ahead without the shared line, and gives back the slot and the place the store did take:
    # a live process renews its leases, so anything left behind would be counted for as long as it lives.
    line = LostAnswers()
    slot = await Admission(line).acquire(A, 1, time.monotonic() + 5)
    assert slot is not None and slot.id is None
    assert await line.counts(A) == (0, 0)


class FailingReleases(MemorySlots):
    """A real line whose releases fail while `down` (a store blip)."""

    down = True

    async def release(self, account: str, slot: str) -> None:
        if self.down:
            raise StoreError("the store is away")
        await super().release(account, slot)


async def test_a_release_that_failed_is_given_back_before_the_next_renewal() -> None:
    # The process lives on and renews its lease, so a slot whose release failed would stay counted for good;
    # the renewal loop gives it back first once the store answers again.
    line = FailingReleases()
    admission = Admission(line)
    slot = await admission.acquire(A, 1, time.monotonic() + 5)
    assert slot is not None
    await slot.release()
    assert await line.counts(A) == (1, 0)
    line.down = False
    await admission.retry_releases()
    assert await line.counts(A) == (0, 0)
