"""The run durations the poll schedule learns, kept in the durable store (jobs/durations.py): what a restart, a
second process or another replica finds there, what a store that fails costs, and a restarted server's first
call through a real MCP client. Real stores only: a SQLite file, a real redis-server (tests/_redis.py), the
memory backend where one store object stands for one process's."""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from frames_mcp.jobs.durations import TTL, Durations, Key
from frames_mcp.jobs.guard import StoreGuard
from frames_mcp.server.app import build_server
from frames_mcp.server.results.schemas import TaskResult
from frames_mcp.simulator import Simulator
from frames_mcp.store import JsonObject, Store, open_store
from frames_mcp.store.memory import MemoryRecords
from frames_mcp.store.redis import RETRIES, TIMEOUT
from frames_mcp.useapi.ids import account_of

from ._redis import RedisServer
from ._tools import clean_env
from .conftest import FAST_TUNING, ManualClock, connect, running_sim, settings_for

pytestmark = pytest.mark.anyio

UPSTREAM = "https://api.useapi.net"
ACCOUNT = "demo@frames.local"
KEY = Key(ACCOUNT, 4, False)


async def test_durations_written_to_a_sqlite_file_set_the_window_after_a_restart(tmp_path: Path) -> None:
    # The restart a stdio client makes all the time: the new process polls with the runs the old one saw finish.
    url = f"sqlite://{tmp_path / 'state.db'}"
    store = open_store(url)
    before = Durations()
    before.use(store.records, UPSTREAM)
    before.record(KEY, 11.0, 12.0)
    before.record(KEY, 11.5, 12.5)
    await before.save()
    await store.close()

    store = open_store(url)
    try:
        after = Durations()
        after.use(store.records, UPSTREAM)
        assert after.window(KEY) is None  # nothing is read until a wait on the key asks
        await after.refresh(KEY)
        assert after.window(KEY) == before.window(KEY) is not None
    finally:
        await store.close()


# A second process of the store: records one run on the key after reading what the store has, and prints the window.
_OTHER_PROCESS = """
import sys, anyio
from frames_mcp.jobs.durations import TTL, Durations, Key
from frames_mcp.server.app import build_server
from frames_mcp.store import JsonObject, Store, open_store

async def main(url, upstream, account):
    store = open_store(url)
    durations = Durations()
    durations.use(store.records, upstream)
    key = Key(account, 4, False)
    await durations.refresh(key)
    durations.record(key, 12.0, 13.0)
    await durations.save()
    print(durations.window(key) is not None, len(durations))
    await store.close()

anyio.run(main, *sys.argv[1:])
"""


async def test_two_processes_on_one_redis_learn_each_others_runs(redis_url: str) -> None:
    # Two replicas of a fleet: each saw one run finish, too few alone for a window (two are needed), so a window on
    # either side proves it holds the other's run too, and that neither write replaced the other's.
    store = open_store(redis_url)
    try:
        here = Durations(refresh_every=0.0)  # read the store before every wait (the default is every 30 s)
        here.use(store.records, UPSTREAM)
        here.record(KEY, 11.0, 12.0)
        await here.save()
        assert here.window(KEY) is None

        other = await anyio.run_process(
            [sys.executable, "-c", _OTHER_PROCESS, redis_url, UPSTREAM, ACCOUNT], env=clean_env()
        )
        assert other.stdout.decode().split() == ["True", "2"]  # its run and ours

        await here.refresh(KEY)
        assert len(here) == 2 and here.window(KEY) is not None  # ours and its
    finally:
        await store.close()


async def test_runs_through_another_upstream_never_set_the_window() -> None:
    # A demo simulator's seconds-long runs must not teach the schedule of the real useapi.net, on a shared store.
    records = MemoryRecords()
    demo = Durations()
    demo.use(records, "http://127.0.0.1:8765")
    demo.record(KEY, 0.4, 0.6)
    demo.record(KEY, 0.5, 0.7)
    await demo.save()

    real, again = Durations(), Durations()
    real.use(records, UPSTREAM)
    again.use(records, "http://127.0.0.1:8765")
    await real.refresh(KEY)
    await again.refresh(KEY)
    assert real.window(KEY) is None
    assert again.window(KEY) is not None  # what was written is there, for its own upstream


async def test_runs_older_than_the_records_lifetime_no_longer_count() -> None:
    # Runway's speed changes: a month-old run says little of today's, so past TTL the prior applies again, even for
    # runs a long-lived process still holds in memory.
    wall = ManualClock()
    records = MemoryRecords(wall=wall)
    durations = Durations(wall=wall)
    durations.use(records, UPSTREAM)
    durations.record(KEY, 11.0, 12.0)
    durations.record(KEY, 11.5, 12.5)
    await durations.save()
    wall.advance(TTL - 1.0)
    assert durations.window(KEY) is not None
    wall.advance(2.0)
    assert durations.window(KEY) is None


async def test_a_store_that_is_down_leaves_polling_cold_and_learning_in_memory(own_redis: RedisServer) -> None:
    # Redis gone: reading and writing fail at once, raise nothing, and the schedule goes on as with no store: the
    # documented prior first (no window), then the runs this process saw.
    store = open_store(own_redis.url)
    own_redis.stop()
    try:
        durations = Durations()
        durations.use(store.records, UPSTREAM)
        with anyio.fail_after(TIMEOUT):
            await durations.refresh(KEY)
        assert durations.window(KEY) is None
        durations.record(KEY, 11.0, 12.0)
        durations.record(KEY, 11.5, 12.5)
        with anyio.fail_after(TIMEOUT):
            await durations.save()
        assert durations.window(KEY) is not None
    finally:
        await store.close()


async def test_a_store_failure_is_logged_once_until_the_store_answers_again(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A store that is down fails every read and write: the log says so once, not once per wait.
    store = open_store(own_redis.url)
    durations = Durations(refresh_every=0.0)
    durations.use(store.records, UPSTREAM, StoreGuard(rest=0.0))  # no rest: every operation really tries
    caplog.set_level(logging.INFO, logger="frames_mcp.jobs.durations")

    def warnings() -> int:
        return sum(1 for r in caplog.records if r.levelno == logging.WARNING)

    try:
        own_redis.stop()
        for images in (1, 2, 4):
            await durations.refresh(Key(ACCOUNT, images, False))
        durations.record(KEY, 11.0, 12.0)
        await durations.save()
        assert warnings() == 1
        own_redis.start()
        await durations.save()  # written now: the next outage is a new one, logged again
        own_redis.stop()
        await durations.refresh(KEY)
        assert warnings() == 2
    finally:
        await store.close()


async def test_a_store_that_stops_answering_costs_one_timeout_then_is_left_alone(own_redis: RedisServer) -> None:
    # Redis frozen (SIGSTOP): the first read gives up after the client's timeout, and the write after the wait
    # does not wait again: the rest after a failure, shared with the ledger (whose guard the session passes).
    store = open_store(own_redis.url)
    durations = Durations()
    durations.use(store.records, UPSTREAM, StoreGuard(rest=5.0))
    assert own_redis.process is not None
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        await durations.refresh(KEY)
        assert time.monotonic() - started < TIMEOUT * (RETRIES + 1) + 1.0
        durations.record(KEY, 11.0, 12.0)
        started = time.monotonic()
        await durations.save()
        await durations.refresh(Key(ACCOUNT, 1, False))
        assert time.monotonic() - started < 0.1
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
        await store.close()


# ---- through a real MCP client ------------------------------------------------------------------------------


def _gets(sim: Simulator, task_id: str) -> int:
    return sum(1 for r in sim.request_log if r.method == "GET" and r.path.endswith(task_id))


async def _generate(client: Client, args: dict[str, Any]) -> TaskResult:
    return TaskResult.model_validate((await client.call_tool("generate_frames", args)).structured_content)


async def test_a_server_restarted_on_its_sqlite_file_polls_its_first_call_with_the_learned_window(
    tmp_path: Path,
) -> None:
    # Runs of 2 s that stall near 0 for half their time: a fresh server (the prior: 0.2-3 s) cannot tell when they
    # end and polls all along (13 GETs); one that knows how long they take polls where they end (3-4). At 1 s runs
    # the counts were 6-7 and 3-4, and a loaded machine made them equal. The first server sees two
    # finish (both cold), the restarted one's first call polls with them, from the SQLite file alone.
    url = f"sqlite://{tmp_path / 'state.db'}"
    args = {"text_prompt": "a kite over the dunes", "num_images": 1, "preview": False, "wait_seconds": 10}
    with running_sim(queue_seconds=0.05, run_seconds=2.0, image_px=32, progress_curve="stall") as sim:
        cold: list[TaskResult] = []
        async with connect(sim, "auto", FAST_TUNING, store=url) as first:

            async def one() -> None:
                cold.append(await _generate(first, args))

            async with anyio.create_task_group() as tg:
                tg.start_soon(one)
                tg.start_soon(one)
        async with connect(sim, "auto", FAST_TUNING, store=url) as restarted:
            warm = await _generate(restarted, args)
    assert warm.status == "SUCCEEDED" and all(c.status == "SUCCEEDED" for c in cold)
    polled = [_gets(sim, c.taskId) for c in cold]
    assert _gets(sim, warm.taskId) < min(polled), (polled, _gets(sim, warm.taskId))


class _SlowDurationWrites(MemoryRecords):
    """The memory store, but a write of run durations takes `delay` s (a store slow to write, or a busy one)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def put_record(self, kind: str, key: str, value: JsonObject, ttl: float | None = None) -> None:
        if kind.startswith("durations"):
            await anyio.sleep(self.delay)
        await super().put_record(kind, key, value, ttl)


async def test_a_result_does_not_wait_for_its_run_durations_to_be_written() -> None:
    # The write of the run a call saw finish is the server's own business: the result is on its way first, and
    # the write still lands before the server stops (here a write takes 3 s, the whole call well under that).
    records = _SlowDurationWrites(delay=3.0)
    args = {"text_prompt": "a kite over the dunes", "num_images": 1, "preview": False, "wait_seconds": 10}
    with running_sim(queue_seconds=0.05, run_seconds=0.3, image_px=32) as sim:
        server = build_server(settings_for(sim), FAST_TUNING, store=Store("memory", "memory", records))
        async with Client(server, mode="auto") as client:  # type: ignore[arg-type]
            started = time.monotonic()
            result = await _generate(client, args)
            took = time.monotonic() - started
    assert result.status == "SUCCEEDED" and took < 2.5, took
    reader = Durations()
    reader.use(records, sim.base_url)  # type: ignore[attr-defined]
    await reader.refresh(Key(account_of(result.taskId) or "", 1, False))
    assert len(reader) == 1
