"""Admission shared through the store, through real clients and real server processes: two stdio processes on
one SQLite file and two HTTP replicas on one real redis-server stay within the account's maxJobs together and
keep one first-in first-out line; a process killed with SIGKILL gives its slot back when its lease ends; a store
that fails mid-run costs no call its result. The simulator's account has maxJobs 1 and 0.6 s tasks."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters

from frames_mcp.simulator import Simulator

from ._redis import RedisServer
from ._tools import HttpServer, http_server, mcp_over_http
from .conftest import console_script, creates, running_sim, sim_task_ids, text_of

pytestmark = pytest.mark.anyio
TOKEN = "fleet-test-token"


@pytest.fixture
def one_slot() -> Iterator[Simulator]:
    with running_sim(queue_seconds=0.1, run_seconds=0.5, image_px=32, accounts={"solo@frames.local": 1}) as sim:
        yield sim


def env_for(sim: Simulator, store: str, **extra: str) -> dict[str, str]:
    return {
        "USEAPI_TOKEN": sim.config.token,
        "USEAPI_BASE_URL": sim.base_url,  # type: ignore[attr-defined]
        "FRAMES_MCP_STORE": store,
        "FRAMES_MCP_PREVIEW": "false",
        "FRAMES_MCP_AUTH_TOKEN": TOKEN,
        **extra,
    }


def stdio(env: dict[str, str]) -> Client:
    return Client(StdioServerParameters(command=console_script(), args=[], env=env))


@asynccontextmanager
async def replicas(env: dict[str, str], count: int) -> AsyncIterator[list[HttpServer]]:
    """`count` HTTP replicas (--stateless) on one store."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(http_server(["--stateless"], env)) for _ in range(count)]


def client_of(server: HttpServer) -> AbstractAsyncContextManager[Client]:
    return mcp_over_http(server, token=TOKEN, http_timeout=5.0)  # httpx2's default timeout


async def until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await anyio.sleep(0.02)


def generate(prompt: str, **args: Any) -> dict[str, Any]:
    return {"text_prompt": prompt, "num_images": 1, "wait_seconds": 15, **args}


async def queued_second(first: Client, second: Client, sim: Simulator) -> tuple[Any, list[str]]:
    """`first` starts a task; once it is created, `second` asks for one on the same account: its result and
    the progress messages it heard."""
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with anyio.create_task_group() as tg:
        tg.start_soon(first.call_tool, "generate_frames", generate("first"))
        await until(lambda: creates(sim) == 1)
        result = await second.call_tool("generate_frames", generate("second"), progress_callback=on_progress)
    return result, messages


async def test_two_stdio_processes_on_one_sqlite_file_share_the_accounts_slots(
    one_slot: Simulator, tmp_path: Path
) -> None:
    # Claude Desktop and Cursor each start a frames-mcp on the same account: the second process waits for the
    # first one's task instead of overrunning maxJobs into useapi's 429s.
    env = env_for(one_slot, f"sqlite:///{tmp_path}/state.db")
    async with stdio(env) as a, stdio(env) as b:
        second, messages = await queued_second(a, b, one_slot)
    assert not second.is_error, text_of(second)
    assert messages[0].startswith("Queued locally")
    assert one_slot.counts()["429s"] == 0 and creates(one_slot) == 2


async def test_the_line_is_first_in_first_out_across_processes(one_slot: Simulator, tmp_path: Path) -> None:
    # A call that joined the line in another process earlier goes before this process's later call.
    env = env_for(one_slot, f"sqlite:///{tmp_path}/state.db")
    heard = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if (message or "").startswith("Queued"):
            heard.set()

    async with stdio(env) as a, stdio(env) as b, anyio.create_task_group() as tg:
        tg.start_soon(a.call_tool, "generate_frames", generate("first"))
        await until(lambda: creates(one_slot) == 1)
        tg.start_soon(lambda: b.call_tool("generate_frames", generate("second"), progress_callback=on_progress))
        await heard.wait()
        tg.start_soon(a.call_tool, "generate_frames", generate("third"))
    assert await _prompts_oldest_first(one_slot) == ["first", "second", "third"]
    assert one_slot.counts()["429s"] == 0


async def _prompts_oldest_first(sim: Simulator) -> list[str]:
    async with httpx2.AsyncClient(base_url=sim.base_url) as http:  # type: ignore[attr-defined]
        r = await http.get(
            "/v1/runwayml/tasks/", params={"limit": 100}, headers={"Authorization": f"Bearer {sim.config.token}"}
        )
    return [t["options"]["text_prompt"] for t in reversed(r.json())]


async def test_two_http_replicas_on_one_redis_share_the_accounts_slots(
    one_slot: Simulator,
    redis_url: str,
) -> None:
    # Replicas behind a load balancer: a call on one replica waits for the other replica's task.
    async with replicas(env_for(one_slot, redis_url), 2) as (one, two), client_of(one) as a, client_of(two) as b:
        second, messages = await queued_second(a, b, one_slot)
    assert not second.is_error, text_of(second)
    assert messages[0].startswith("Queued locally")
    assert one_slot.counts()["429s"] == 0 and creates(one_slot) == 2


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_killed_process_gives_its_slot_back_when_its_lease_ends(
    one_slot: Simulator, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    # kill -9 leaves a slot nobody will release or renew: once its 2 s lease ends, the other process's waiting
    # call is admitted (without the lease it would wait out its whole budget and create nothing).
    store = f"sqlite:///{tmp_path}/state.db" if kind == "sqlite" else request.getfixturevalue("redis_url")
    env = env_for(one_slot, store, FRAMES_MCP_LEASE_SECONDS="2")
    async with replicas(env, 2) as (doomed, survivor), client_of(survivor) as b, anyio.create_task_group() as tg:

        async def first() -> None:
            with contextlib.suppress(Exception):  # its client fails with the connection when the process dies
                async with client_of(doomed) as a:
                    await a.call_tool("generate_frames", generate("first"))

        tg.start_soon(first)
        await until(lambda: creates(one_slot) == 1)
        os.kill(doomed.process.pid, signal.SIGKILL)
        began = time.monotonic()
        second = await b.call_tool("generate_frames", generate("second"))
        tg.cancel_scope.cancel()  # whatever the dead replica's client still waits for
    assert not second.is_error, text_of(second)
    assert time.monotonic() - began < 10  # the lease, not the 15 s budget, ended the wait
    assert one_slot.counts()["429s"] == 0 and creates(one_slot) == 2


async def test_a_store_that_fails_mid_run_costs_no_call_its_result(
    one_slot: Simulator,
    own_redis: RedisServer,
) -> None:
    # Redis goes away after the server started: the call still runs (without the shared line; useapi's own
    # 429s still guard the account) and returns its task, instead of failing or hanging.
    async with stdio(env_for(one_slot, own_redis.url)) as c:
        own_redis.stop()
        r = await c.call_tool("generate_frames", generate("still works"))
    assert r.structured_content is not None and r.structured_content["status"] == "SUCCEEDED", text_of(r)
    assert len(await sim_task_ids(one_slot)) == 1 and creates(one_slot) == 1


async def test_calls_ahead_count_every_processes_callers(one_slot: Simulator, tmp_path: Path) -> None:
    # Process A runs one task and has a second call waiting; a call in process B is told one call is ahead of
    # it (A's), not that it is first because its own process has no one else waiting.
    env = env_for(one_slot, f"sqlite:///{tmp_path}/state.db")
    heard: list[str] = []
    a_queued = anyio.Event()

    async def on_a(progress: float, total: float | None, message: str | None) -> None:
        if (message or "").startswith("Queued"):
            a_queued.set()

    async def on_b(progress: float, total: float | None, message: str | None) -> None:
        heard.append(message or "")

    async with stdio(env) as a, stdio(env) as b, anyio.create_task_group() as tg:
        tg.start_soon(a.call_tool, "generate_frames", generate("first"))
        await until(lambda: creates(one_slot) == 1)
        tg.start_soon(lambda: a.call_tool("generate_frames", generate("second"), progress_callback=on_a))
        await a_queued.wait()
        await b.call_tool("generate_frames", generate("third"), progress_callback=on_b)
    assert heard[0] == "Queued locally, 1 ahead: 1 of 1 slots in use"


async def test_a_live_process_keeps_its_slot_past_the_lease(one_slot: Simulator, tmp_path: Path) -> None:
    # A task that runs 5 s holds its slot for all of it although the lease is 2 s: the server's lifespan renews
    # the lease, so the other process does not create early into useapi's 429.
    env = env_for(one_slot, f"sqlite:///{tmp_path}/state.db", FRAMES_MCP_LEASE_SECONDS="2")
    async with stdio(env) as a, stdio(env) as b, anyio.create_task_group() as tg:
        tg.start_soon(a.call_tool, "generate_frames", generate("first [slow]"))
        await until(lambda: creates(one_slot) == 1)
        second = await b.call_tool("generate_frames", generate("second"))
    assert not second.is_error, text_of(second)
    assert one_slot.counts()["429s"] == 0 and creates(one_slot) == 2
