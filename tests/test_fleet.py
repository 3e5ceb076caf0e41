"""Admission shared through the store, through real clients and real server processes: two stdio processes on
one SQLite file and two HTTP replicas on one real redis-server stay within the account's maxJobs together and
keep one first-in first-out line; a process killed with SIGKILL gives its slot back when its lease ends, a live
one keeps it past the lease; a store that fails mid-run costs no call its result. The simulator's account has
maxJobs 1 and 0.3 s tasks.

The processes are the module's, started once (each pair at the same time) with a 1.5 s lease, on one simulator:
every test waits for all of its calls, so the next one finds the line empty, and each counts only what the
simulator saw since it began (`Since`). The processes the SIGKILL test kills are its own."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from frames_mcp.simulator import Simulator
from frames_mcp.useapi.transport import shared_tls

from ._redis import RedisServer, running_redis
from ._tools import HttpServer, all_entered, entered_together, http_server, http_servers, mcp_over_http, stdio_server
from .conftest import connect, creates, running_sim, sim_task_ids, text_of

pytestmark = pytest.mark.anyio
TOKEN = "fleet-test-token"
ONE_SLOT = {"queue_seconds": 0.05, "run_seconds": 0.25, "image_px": 32, "accounts": {"solo@frames.local": 1}}
LEASE = "1.5"  # seconds: a process renews it every third of that


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module-wide: the module's stdio clients live across its tests, on one event loop


@pytest.fixture(scope="module")
def one_slot() -> Iterator[Simulator]:
    """The simulator every process of the module talks to."""
    with running_sim(**ONE_SLOT) as sim:
        yield sim


def env_for(sim: Simulator, store: str, **extra: str) -> dict[str, str]:
    return {
        "USEAPI_TOKEN": sim.config.token,
        "USEAPI_BASE_URL": sim.base_url,  # type: ignore[attr-defined]
        "FRAMES_MCP_STORE": store,
        "FRAMES_MCP_PREVIEW": "false",
        "FRAMES_MCP_AUTH_TOKEN": TOKEN,
        "FRAMES_MCP_LEASE_SECONDS": LEASE,
        **extra,
    }


def stdio(env: dict[str, str]) -> Client:
    return Client(stdio_server(env))


@pytest.fixture(scope="module")
def sqlite_env(one_slot: Simulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return env_for(one_slot, f"sqlite:///{tmp_path_factory.mktemp('fleet') / 'state.db'}")


@pytest.fixture(scope="module")
async def pair(sqlite_env: dict[str, str]) -> AsyncIterator[list[Client]]:
    """Two stdio processes on one SQLite file (Claude Desktop and Cursor on one machine), started together."""
    async with entered_together(stdio(sqlite_env), stdio(sqlite_env)) as clients:
        yield clients


@pytest.fixture(scope="module")
def fleet_redis() -> Iterator[RedisServer]:
    """A redis-server of the module's: the session's is flushed for each test, which would take the leases of
    the replicas' line from under them."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="module")
def redis_env(one_slot: Simulator, fleet_redis: RedisServer) -> dict[str, str]:
    return env_for(one_slot, fleet_redis.url)


@pytest.fixture(scope="module")
def redis_replicas(redis_env: dict[str, str]) -> Iterator[list[HttpServer]]:
    """Two HTTP replicas (--stateless) on one Redis, behind an imagined load balancer, started together."""
    with http_servers(2, ["--stateless"], redis_env) as servers:
        yield servers


@pytest.fixture(scope="module")
def doomed(sqlite_env: dict[str, str], redis_env: dict[str, str]) -> Iterator[dict[str, HttpServer]]:
    """For the SIGKILL test, an HTTP replica on each store, started together; each is killed once."""
    replicas = (http_server(["--stateless"], sqlite_env), http_server(["--stateless"], redis_env))
    with all_entered(*replicas) as (on_sqlite, on_redis):
        yield {"sqlite": on_sqlite, "redis": on_redis}


class Since:
    """What the module's simulator saw from the moment this was made on."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.mark = len(sim.request_log)

    def creates(self) -> int:
        """POST frames/create requests, answered or not (conftest's `creates`, from the mark on)."""
        return sum(
            1 for r in self.sim.request_log[self.mark :] if r.method == "POST" and r.path.endswith("/frames/create")
        )

    def busy(self) -> int:
        """Upstream 429s."""
        return sum(1 for r in self.sim.request_log[self.mark :] if r.status == 429)


def client_of(server: HttpServer) -> AbstractAsyncContextManager[Client]:
    return mcp_over_http(server, token=TOKEN, http_timeout=20.0)  # a call waits out a 3 s [slow] task, then its own


async def until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await anyio.sleep(0.02)


def generate(prompt: str, **args: Any) -> dict[str, Any]:
    return {"text_prompt": prompt, "num_images": 1, "wait_seconds": 15, **args}


async def queued_second(first: Client, second: Client, since: Since) -> tuple[Any, list[str]]:
    """`first` starts a task; once it is created, `second` asks for one on the same account: its result and
    the progress messages it heard. The first task is a slow one (3 s): a 0.3 s task could end before a loaded
    machine delivers the second call, which would then find the slot free and never queue."""
    messages: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with anyio.create_task_group() as tg:
        tg.start_soon(first.call_tool, "generate_frames", generate("first [slow]"))
        await until(lambda: since.creates() == 1)
        result = await second.call_tool("generate_frames", generate("second"), progress_callback=on_progress)
    return result, messages


async def test_two_stdio_processes_on_one_sqlite_file_share_the_accounts_slots(
    one_slot: Simulator, pair: list[Client]
) -> None:
    # Claude Desktop and Cursor each start a frames-mcp on the same account: the second process waits for the
    # first one's task instead of overrunning maxJobs into useapi's 429s.
    a, b = pair
    since = Since(one_slot)
    second, messages = await queued_second(a, b, since)
    assert not second.is_error, text_of(second)
    assert messages[0].startswith("Queued locally")
    assert since.busy() == 0 and since.creates() == 2


async def test_the_line_is_first_in_first_out_across_processes(one_slot: Simulator, pair: list[Client]) -> None:
    # A call that joined the line in another process earlier goes before this process's later call.
    a, b = pair
    before = set(await sim_task_ids(one_slot))
    since = Since(one_slot)
    heard = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if (message or "").startswith("Queued"):
            heard.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(a.call_tool, "generate_frames", generate("first"))
        await until(lambda: since.creates() == 1)
        tg.start_soon(lambda: b.call_tool("generate_frames", generate("second"), progress_callback=on_progress))
        with anyio.fail_after(10):  # a second call admitted at once is never queued: fail, do not hang
            await heard.wait()
        tg.start_soon(a.call_tool, "generate_frames", generate("third"))
    assert await _prompts_oldest_first(one_slot, before) == ["first", "second", "third"]
    assert since.busy() == 0


async def _prompts_oldest_first(sim: Simulator, before: set[str]) -> list[str]:
    """The prompts of the account's tasks not in `before`, oldest first."""
    async with httpx2.AsyncClient(verify=shared_tls(), base_url=sim.base_url) as http:  # type: ignore[attr-defined]
        r = await http.get(
            "/v1/runwayml/tasks/", params={"limit": 100}, headers={"Authorization": f"Bearer {sim.config.token}"}
        )
    return [t["options"]["text_prompt"] for t in reversed(r.json()) if t["taskId"] not in before]


async def test_two_http_replicas_on_one_redis_share_the_accounts_slots(
    one_slot: Simulator, redis_replicas: list[HttpServer]
) -> None:
    # Replicas behind a load balancer: a call on one replica waits for the other replica's task.
    since = Since(one_slot)
    one, two = redis_replicas
    async with client_of(one) as a, client_of(two) as b:
        second, messages = await queued_second(a, b, since)
    assert not second.is_error, text_of(second)
    assert messages[0].startswith("Queued locally")
    assert since.busy() == 0 and since.creates() == 2


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_killed_process_gives_its_slot_back_when_its_lease_ends(
    one_slot: Simulator, pair: list[Client], doomed: dict[str, HttpServer], kind: str, request: pytest.FixtureRequest
) -> None:
    # kill -9 leaves a slot nobody will release or renew: once its 1.5 s lease ends, the other process's waiting
    # call is admitted (without the lease it would wait out its whole budget and create nothing). The survivor
    # is the second of the module's pair on that store, the one the two-process tests give the second call: a
    # warm first and a cold second process (whose first call starts some 0.25 s late) would race the 0.3 s task.
    victim = doomed[kind]
    async with contextlib.AsyncExitStack() as stack:
        if kind == "sqlite":
            b = pair[1]
        else:
            b = await stack.enter_async_context(client_of(request.getfixturevalue("redis_replicas")[1]))
        since = Since(one_slot)
        async with anyio.create_task_group() as tg:

            async def first() -> None:
                with contextlib.suppress(Exception):  # its client fails with the connection when the process dies
                    async with client_of(victim) as a:
                        await a.call_tool("generate_frames", generate("first"))

            tg.start_soon(first)
            await until(lambda: since.creates() == 1)
            os.kill(victim.process.pid, signal.SIGKILL)
            began = time.monotonic()
            second = await b.call_tool("generate_frames", generate("second"))
            tg.cancel_scope.cancel()  # whatever the dead replica's client still waits for
    assert not second.is_error, text_of(second)
    assert time.monotonic() - began < 10  # the lease, not the 15 s budget, ended the wait
    assert since.busy() == 0 and since.creates() == 2


async def test_a_store_that_fails_mid_run_costs_no_call_its_result(own_redis: RedisServer) -> None:
    # Redis goes away after the server started: the call still runs (without the shared line; useapi's own
    # 429s still guard the account) and returns its task, instead of failing or hanging. (A server in this
    # process, with the settings and default timings a process would have: nothing here is about processes.)
    with running_sim(**ONE_SLOT) as sim:
        async with connect(sim, "auto", store=own_redis.url, preview=False) as c:
            own_redis.stop()
            r = await c.call_tool("generate_frames", generate("still works"))
        assert r.structured_content is not None and r.structured_content["status"] == "SUCCEEDED", text_of(r)
        assert len(await sim_task_ids(sim)) == 1 and creates(sim) == 1


async def test_calls_ahead_count_every_processes_callers(one_slot: Simulator, pair: list[Client]) -> None:
    # Process A runs one task and has a second call waiting; a call in process B is told one call is ahead of
    # it (A's), not that it is first because its own process has no one else waiting.
    a, b = pair
    since = Since(one_slot)
    heard: list[str] = []
    a_queued = anyio.Event()

    async def on_a(progress: float, total: float | None, message: str | None) -> None:
        if (message or "").startswith("Queued"):
            a_queued.set()

    async def on_b(progress: float, total: float | None, message: str | None) -> None:
        heard.append(message or "")

    async with anyio.create_task_group() as tg:
        tg.start_soon(a.call_tool, "generate_frames", generate("first"))
        await until(lambda: since.creates() == 1)
        tg.start_soon(lambda: a.call_tool("generate_frames", generate("second"), progress_callback=on_a))
        with anyio.fail_after(10):
            await a_queued.wait()
        await b.call_tool("generate_frames", generate("third"), progress_callback=on_b)
    assert heard[0] == "Queued locally, 1 ahead: 1 of 1 slots in use"


async def test_a_live_process_keeps_its_slot_past_the_lease(one_slot: Simulator, pair: list[Client]) -> None:
    # A task that runs 3 s holds its slot for all of it although the lease is 1.5 s: the server's lifespan renews
    # the lease, so the other process does not create early into useapi's 429.
    a, b = pair
    since = Since(one_slot)
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.call_tool, "generate_frames", generate("first [slow]"))
        await until(lambda: since.creates() == 1)
        second = await b.call_tool("generate_frames", generate("second"))
    assert not second.is_error, text_of(second)
    assert since.busy() == 0 and since.creates() == 2
